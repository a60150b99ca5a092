#include "clock_check.h"

#include "civil_date.h"

#include <stdio.h>
#include <string.h>

#ifndef TILLSYNC_BUILD_EPOCH
#error "TILLSYNC_BUILD_EPOCH comes from CMake (firmware/base/CMakeLists.txt)"
#endif

static int valid_civil(int y, int mo, int d, int h, int mi, int se)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] + (mo == 2 && leap) &&
           h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && se >= 0 && se <= 60;
}

static int64_t epoch_of(int y, int mo, int d, int h, int mi, int se)
{
    /* a leap second (:60) is the next minute's :00, as UTC arithmetic has it */
    return civil_days_from_date(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
}

int clock_parse_rfc3339(const char *s, int64_t *out)
{
    if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    int y = civil_digits(s, 4), mo = civil_digits(s + 5, 2), d = civil_digits(s + 8, 2),
        h = civil_digits(s + 11, 2), mi = civil_digits(s + 14, 2), se = civil_digits(s + 17, 2);
    if (!valid_civil(y, mo, d, h, mi, se))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return -1;
    }
    int64_t offset = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        offset = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = civil_digits(p + 1, 2), om = civil_digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    *out = epoch_of(y, mo, d, h, mi, se) - offset;
    return 0;
}

static int month_of(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (strncmp(s, names + 3 * i, 3) == 0)
            return i + 1;
    return -1;
}

/* "08:49:37" */
static int time_of(const char *s, int *h, int *mi, int *se)
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    *h = civil_digits(s, 2), *mi = civil_digits(s + 3, 2), *se = civil_digits(s + 6, 2);
    return *h < 0 || *mi < 0 || *se < 0 ? -1 : 0;
}

int clock_parse_http_date(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (!s)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *comma = strchr(s, ',');
    size_t len = strlen(s);
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (comma && comma - s == 3 && len == 29) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        const char *p = comma + 1;
        if (p[0] != ' ' || p[3] != ' ' || p[7] != ' ' || p[12] != ' ' || p[21] != ' ' ||
            strncmp(p + 22, "GMT", 3) != 0)
            return -1;
        d = civil_digits(p + 1, 2), mo = month_of(p + 4), y = civil_digits(p + 8, 4);
        if (time_of(p + 13, &h, &mi, &se) != 0)
            return -1;
    } else if (comma && comma - s >= 6 && comma - s <= 9) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years within 50 years of now are
         * what RFC 9110 asks for, and a server's clock is in this century */
        const char *p = comma + 1;
        if ((size_t)(p - s) + 23 != len || p[0] != ' ' || p[3] != '-' || p[7] != '-' ||
            p[10] != ' ' || p[19] != ' ' || strncmp(p + 20, "GMT", 3) != 0)
            return -1;
        d = civil_digits(p + 1, 2), mo = month_of(p + 4), y = civil_digits(p + 8, 2);
        if (y < 0 || time_of(p + 11, &h, &mi, &se) != 0)
            return -1;
        y += y < 70 ? 2000 : 1900;
    } else if (!comma && len == 24) {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
            return -1;
        mo = month_of(s + 4);
        d = s[8] == ' ' ? civil_digits(s + 9, 1) : civil_digits(s + 8, 2);
        y = civil_digits(s + 20, 4);
        if (time_of(s + 11, &h, &mi, &se) != 0)
            return -1;
    } else {
        return -1;
    }
    if (!valid_civil(y, mo, d, h, mi, se))
        return -1;
    *out = epoch_of(y, mo, d, h, mi, se);
    return 0;
}

int64_t clock_build_epoch(void)
{
    return (int64_t)TILLSYNC_BUILD_EPOCH;
}

enum clock_verdict clock_judge_sale(int64_t at_s, int64_t now_s, int64_t built_s)
{
    if (at_s < built_s)
        return CLOCK_BEFORE_BUILD;
    if (at_s > now_s + CLOCK_AHEAD_MAX_S)
        return CLOCK_AHEAD;
    return CLOCK_PLAUSIBLE;
}

void clock_describe_sale(char *out, size_t cap, const char *ref, const char *at,
                         enum clock_verdict v, int64_t built_s)
{
    int64_t y;
    unsigned m, d;
    civil_date_from_days(built_s / 86400, &y, &m, &d);
    if (v == CLOCK_BEFORE_BUILD)
        snprintf(out, cap, "%s at %s is before this firmware was built (%04lld-%02u-%02u)", ref, at,
                 (long long)y, m, d);
    else if (v == CLOCK_AHEAD)
        snprintf(out, cap, "%s at %s is more than a day ahead of the till's clock", ref, at);
    else
        snprintf(out, cap, "%s at %s is plausible", ref, at);
}

void clock_describe_skew(char *out, size_t cap, int64_t skew_s)
{
    const char *way = skew_s < 0 ? "slow" : "fast";
    uint64_t a = skew_s < 0 ? (uint64_t)-skew_s : (uint64_t)skew_s;
    if (a <= 1) /* the Date header's own resolution */
        snprintf(out, cap, "in step");
    else if (a < 120)
        snprintf(out, cap, "%llu s %s", (unsigned long long)a, way);
    else if (a < 2 * 3600)
        snprintf(out, cap, "%llu min %s", (unsigned long long)((a + 30) / 60), way);
    else if (a < 2 * 86400)
        snprintf(out, cap, "%llu h %s", (unsigned long long)((a + 1800) / 3600), way);
    else
        snprintf(out, cap, "%llu days %s", (unsigned long long)((a + 43200) / 86400), way);
}
