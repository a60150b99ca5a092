/*
 * The clock checks (firmware/base/clock_check.c): RFC 3339 sale times and HTTP Date headers to
 * seconds, which sale times cannot be true, and the words status prints for a skew.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "clock_check.h"

static int64_t http(const char *s)
{
    int64_t t = -12345;
    assert_int_equal(clock_parse_http_date(s, &t), 0);
    return t;
}

static void http_date_forms(void **state)
{
    (void)state;
    /* RFC 9110's example instant, in its three forms: 1994-11-06T08:49:37Z */
    assert_int_equal(http("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(http("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(http("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(http("  Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 784111777);
    assert_int_equal(http("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(http("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599);
    assert_int_equal(http("Fri, 31 Dec 2049 12:00:00 GMT"), 2524564800);
    /* two-digit years of the obsolete form: this century below 70 */
    assert_int_equal(http("Tuesday, 01-Dec-26 00:00:00 GMT"), 1796083200);
}

static void http_date_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",   /* IMF-fixdate is GMT, always */
        "Sun, 06 Nov 1994 08:49:37 +0000", /* an email date, not an HTTP one */
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 2027 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun Nov  6 08:49:37",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t t = 7;
        if (clock_parse_http_date(bad[i], &t) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(t, 7);
    }
    int64_t t;
    assert_int_equal(clock_parse_http_date(NULL, &t), -1);
}

static void rfc3339(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(clock_parse_rfc3339("2026-04-07T19:45:00+01:00", &t), 0);
    assert_int_equal(t, 1775587500); /* 18:45:00Z */
    assert_int_equal(clock_parse_rfc3339("2026-04-07T18:45:00Z", &t), 0);
    assert_int_equal(t, 1775587500);
    assert_int_equal(clock_parse_rfc3339("2026-04-07t13:15:00.123-05:30", &t), 0);
    assert_int_equal(t, 1775587500);
    assert_int_equal(clock_parse_rfc3339("2019-01-01T10:00:00Z", &t), 0);
    assert_int_equal(t, 1546336800);
    assert_int_equal(clock_parse_rfc3339("2016-12-31T23:59:60Z", &t), 0); /* a leap second */
    assert_int_equal(t, 1483228800);
    assert_int_equal(clock_parse_rfc3339("2026-04-07T19:45:00", &t), -1); /* no offset */
    assert_int_equal(clock_parse_rfc3339("2026-02-29T19:45:00Z", &t), -1);
    assert_int_equal(clock_parse_rfc3339("2026-04-07T19:45:00+1:00", &t), -1);
    assert_int_equal(clock_parse_rfc3339("2026-04-07T19:45:00.Z", &t), -1);
}

static void sale_verdicts(void **state)
{
    (void)state;
    const int64_t built = 1796083200, now = built + 30 * 86400; /* built 2026-12-01 */
    assert_int_equal(clock_judge_sale(now, now, built), CLOCK_PLAUSIBLE);
    assert_int_equal(clock_judge_sale(built, now, built), CLOCK_PLAUSIBLE);
    assert_int_equal(clock_judge_sale(built - 1, now, built), CLOCK_BEFORE_BUILD);
    assert_int_equal(clock_judge_sale(1546336800, now, built), CLOCK_BEFORE_BUILD);
    /* a day ahead is a time zone mistake at worst; more is a wrong clock */
    assert_int_equal(clock_judge_sale(now + CLOCK_AHEAD_MAX_S, now, built), CLOCK_PLAUSIBLE);
    assert_int_equal(clock_judge_sale(now + CLOCK_AHEAD_MAX_S + 1, now, built), CLOCK_AHEAD);
    /* the till's own clock before the build: every sale is judged against the build alone */
    assert_int_equal(clock_judge_sale(built + 5, built - 86400 * 400, built), CLOCK_AHEAD);
    char out[200];
    clock_describe_sale(out, sizeof out, "T042:A17", "2019-01-01T10:00:00Z", CLOCK_BEFORE_BUILD,
                        built);
    assert_string_equal(out, "T042:A17 at 2019-01-01T10:00:00Z is before this firmware was built "
                             "(2026-12-01)");
    clock_describe_sale(out, sizeof out, "T042:A18", "2027-01-01T10:00:00Z", CLOCK_AHEAD, built);
    assert_string_equal(out, "T042:A18 at 2027-01-01T10:00:00Z is more than a day ahead of the "
                             "till's clock");
}

static void skew_words(void **state)
{
    (void)state;
    static const struct {
        int64_t skew;
        const char *words;
    } cases[] = {
        {0, "in step"},
        {-1, "in step"},
        {1, "in step"},
        {-40, "40 s slow"},
        {90, "90 s fast"},
        {-600, "10 min slow"},
        {7000, "117 min fast"},
        {-7200, "2 h slow"},
        {-259200, "3 days slow"},
        {-259199, "3 days slow"},
        {86400 * 400, "400 days fast"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        clock_describe_skew(out, sizeof out, cases[i].skew);
        assert_string_equal(out, cases[i].words);
    }
}

static void build_date(void **state)
{
    (void)state;
    int64_t b = clock_build_epoch();
    assert_int_equal(b % 86400, 0); /* a day: rebuilding the same day changes nothing */
    assert_true(b >= 1767225600);   /* this code is from 2026 on */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_date_forms), cmocka_unit_test(http_date_refused),
        cmocka_unit_test(rfc3339),         cmocka_unit_test(sale_verdicts),
        cmocka_unit_test(skew_words),      cmocka_unit_test(build_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
