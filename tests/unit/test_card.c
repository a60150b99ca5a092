/*
 * card.h: what counts as a payment card number (a network's issuer prefix, a length it issues,
 * Luhn), however its digits are grouped or its number written, and what must not, so ordinary
 * sales get through. The corpus measurement is test_card_corpus.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "card.h"

struct card_case {
    const char *s;
    int expected;
};

static void run_table(const struct card_case *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int got = card_number_in(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].expected) {
            print_error("card_number_in(\"%s\") = %d, expected %d\n", cases[i].s, got,
                        cases[i].expected);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_known_test_pans(void **state)
{
    (void)state;
    static const struct card_case cases[] = {
        {"4111111111111111", 1},    /* Visa, 16 */
        {"5555555555554444", 1},    /* Mastercard, 16 */
        {"378282246310005", 1},     /* Amex, 15 */
        {"6011111111111117", 1},    /* Discover, 16 */
        {"6011000990139424", 1},    /* Discover, 16 */
        {"4222222222222", 1},       /* Visa, 13: the shortest */
        {"4111111111111111110", 1}, /* Visa, 19 */
        {"4000000000000000006", 1}, /* Visa, 19 */
        {"6799990100000000019", 1}, /* Maestro, 19: the longest */
        {"50339619890917", 1},      /* Maestro, 14 */
        {"36227206271667", 1},      /* Diners Club, 14 */
        {"2223003122003222", 1},    /* Mastercard 2-series */
        {"2200000000000004", 1},    /* Mir */
        {"6200000000000005", 1},    /* UnionPay */
        {"3530111333300000", 1},    /* JCB */
        {"135410014004955", 1},     /* UATP */
        {"9792075482365454", 1},    /* Troy */
    };
    run_table(cases, sizeof cases / sizeof *cases);
}

static void test_grouped(void **state)
{
    (void)state;
    static const struct card_case cases[] = {
        {"4111 1111 1111 1111", 1},
        {"4111-1111-1111-1111", 1},
        {"4111-1111 1111-1111", 1}, /* mixed separators */
        {"3782 822463 10005", 1},   /* Amex 4-6-5 grouping */
        {"5555 5555 5555 4444", 1},
        {"4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", 1}, /* one digit a group */
        /* any grouping characters, any number of them (issue 9 observation 5: all stored) */
        {"4111  1111 1111 1111", 1},
        {"4111--1111-1111-1111", 1},
        {"4111 - 1111 1111 1111", 1},
        {"4111 -1111-1111-1111", 1},
        {"4111.1111.1111.1111", 1},
        {"4111/1111/1111/1111", 1},
        {"4111_1111_1111_1111", 1},
        {"4111\t1111\t1111\t1111", 1},
        {"4111\n1111\r\n1111\n1111", 1},
        {"4111\xc2\xa0"
         "1111\xc2\xa0"
         "1111\xc2\xa0"
         "1111",
         1}, /* NBSP */
        {"4111\xe2\x80\xaf"
         "1111\xe2\x80\x89"
         "1111\xe3\x80\x80"
         "1111",
         1}, /* narrow, thin,
                 ideographic */
        {"4111\xe2\x80\x8b"
         "1111\xe2\x80\x93"
         "1111\xe2\x88\x92"
         "1111",
         1},                                                                    /* ZWSP, en dash,
                                                                                    minus */
        {"\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91 1111 1111 1111", 1}, /* fullwidth */
        {"\xd9\xa4\xd9\xa1\xd9\xa1\xd9\xa1 1111 1111 1111", 1}, /* Arabic-Indic digits */
        {"41111111 11111111", 1},                               /* any split into two groups */
        {"411111111111 1111", 1},
        {"4111 111111 111111", 1}, /* three groups of up to 6 digits */
        /* three groups or more with one longer than 6: not how cards are written, but how
         * identifiers carrying a date are (305202409226820 is a Diners-range Luhn-valid 15) */
        {"S305-20240922-6820", 0},
        {"4111 11111111 1111", 0},
        {"4111:1111:1111:1111", 0}, /* a colon is no grouping character: times are */
        {"4111 x 1111 1111 1111", 0},
    };
    run_table(cases, sizeof cases / sizeof *cases);
}

static void test_in_text(void **state)
{
    (void)state;
    static const struct card_case cases[] = {
        {"card 4111111111111111 thanks", 1},
        {"x4111111111111111y", 1},
        {"card: 4111 1111 1111 1111, exp 12/30", 1},
        {"ref 12 4111 1111 1111 1111", 1}, /* a card after another digit group */
        {"order 12 4111 1111 1111 1111", 1},
        {"12 34 4111111111111111 5", 1},   /* groups on both sides */
        {"4111111111111111 0000 0000", 1}, /* the card first, more groups after */
        {"paid 10.00 with 5555-5555-5555-4444", 1},
        /* more than 19 groups before it: the oldest groups are dropped, the card still seen */
        {"0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 4111 1111 1111 1111", 1},
        {"123456789012345678901234 4111111111111111", 1}, /* a too-long run, then a card */
    };
    run_table(cases, sizeof cases / sizeof *cases);
}

static void test_not_cards(void **state)
{
    (void)state;
    static const struct card_case cases[] = {
        {"", 0},
        {"hello world", 0},
        {"- - -", 0},
        {"Latte", 0},
        {"4111111111111112", 0},    /* Luhn fails */
        {"1234567890123456", 0},    /* Luhn fails */
        {"4111111111111111111", 0}, /* 19 digits, Luhn fails */
        {"4111 1111 1111 111", 0},  /* 15 digits, Luhn fails */
        {"0000000000000000", 0},    /* Luhn passes, but no card starts with 0 */
        {"2026040704201005", 0},    /* Luhn passes, but no network issues 2026... */
        {"7000000000000006", 0},    /* nor 7... */
        {"0111111111111111110", 0},
        {"411111111111", 0},              /* 12 digits */
        {"422222222222", 0},              /* 12 digits */
        {"+447700900123", 0},             /* a phone number */
        {"000123", 0},                    /* a txn */
        {"2026-04-07T19:45:00+01:00", 0}, /* a timestamp */
        {"2026-04-07 19:45:00 1234", 0},
        {"41111111111111111111", 0},      /* 20 digits: longer than any card */
        {"41111111111111111110", 0},      /* 20 digits */
        {"4111111111111111000000000", 0}, /* a card's digits inside a 25-digit run */
        {"1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", 0},
    };
    run_table(cases, sizeof cases / sizeof *cases);
}

static void test_pan_valid(void **state)
{
    (void)state;
    assert_true(card_pan_valid("4111111111111111", 16));
    assert_false(card_pan_valid("4111111111111112", 16)); /* Luhn */
    assert_false(card_pan_valid("411111111111111", 15));  /* Visa issues no 15 */
    assert_true(card_pan_valid("378282246310005", 15));
    assert_false(card_pan_valid("3782822463100050", 16)); /* nor Amex 16 */
    assert_false(card_pan_valid("5105105105105", 13));    /* Mastercard: 16 only */
    assert_false(card_pan_valid("2720999999999999", 16) && card_pan_valid("2721000000000006", 16));
    assert_false(card_pan_valid("2721000000000006", 16)); /* past the 2-series */
    assert_false(card_pan_valid("41111111111111a1", 16));
    assert_false(card_pan_valid("00000000000", 11));
}

static void test_json_numbers(void **state)
{
    (void)state;
    static const char *const cards[] = {
        "4111111111111111",     "-4111111111111111",     "4111111111111111.0",
        "4111111111111111.000", "378282246310005e0",     "3.78282246310005e-1",
        "3.78282246310005E14",  "0.378282246310005",     "0.0000378282246310005e+2",
        "51051051051051e2",     "5.1051051051051e15",    "510510510510510000e-2",
        "6799990100000000019",  "006799990100000000019", "4111111111111111e-400",
    };
    for (size_t i = 0; i < sizeof cards / sizeof *cards; i++)
        if (!card_number_in_json_number(cards[i], strlen(cards[i])))
            fail_msg("%s: missed", cards[i]);
    static const char *const numbers[] = {
        "0",
        "2",
        "0.5",
        "375",
        "12750",
        "1000000000000",
        "1e300",
        "-0",
        "4111111111111112",
        "41111111111111110",
        "0.1",
        "999999999999",
        "1.5e-7",

    };
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        if (card_number_in_json_number(numbers[i], strlen(numbers[i])))
            fail_msg("%s: taken for a card", numbers[i]);
}

static void test_gtin_in_sku(void **state)
{
    (void)state;
    assert_true(card_is_gtin("4006380000094", 13));
    assert_true(card_is_gtin("036000000061", 12));
    assert_true(card_is_gtin("96385074", 8));
    assert_true(card_is_gtin("30012345000011", 14));
    assert_false(card_is_gtin("4006380000095", 13));
    assert_false(card_is_gtin("4222222222222", 13)); /* a test card, not a GTIN */
    /* a GTIN whose digits are also a Visa number: an item code in sku, a card elsewhere */
    assert_false(card_number_in_sku("4006380000094", 13));
    assert_true(card_number_in("4006380000094", 13));
    /* a published test number that is also a GTIN: refused all the same */
    assert_true(card_number_in_sku("4012888818888", 13));
    /* grouped, it is no GTIN */
    assert_true(card_number_in_sku("4006 3800 0009 4", 16));
    assert_true(card_number_in_sku("4111111111111111", 16));
    assert_false(card_number_in_sku("A1", 2));
}

static void test_respects_len(void **state)
{
    (void)state;
    /* Only the first len bytes count: no NUL needed, none read beyond. */
    const char s[] = "4111111111111111";
    assert_int_equal(card_number_in(s, 16), 1);
    assert_int_equal(card_number_in(s, 15), 0);
    assert_int_equal(card_number_in(s, 0), 0);

    char buf[32];
    memcpy(buf, "ab 4222222222222 cd", 19); /* not NUL-terminated */
    assert_int_equal(card_number_in(buf, 19), 1);
    assert_int_equal(card_number_in(buf, 16), 1);
    assert_int_equal(card_number_in(buf, 15), 0); /* 12 digits left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_test_pans), cmocka_unit_test(test_grouped),
        cmocka_unit_test(test_in_text),         cmocka_unit_test(test_not_cards),
        cmocka_unit_test(test_respects_len),    cmocka_unit_test(test_pan_valid),
        cmocka_unit_test(test_json_numbers),    cmocka_unit_test(test_gtin_in_sku),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
