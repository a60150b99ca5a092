/*
 * card_number_in(): what counts as a payment card number (contract: 13-19 digits, spaces or
 * dashes allowed, passing the Luhn check) and what must not, so ordinary sales get through.
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
        {"4111111111111111110", 1}, /* 19: the longest */
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
        {"4111  1111 1111 1111", 0},            /* double space splits: 4 + 12 digits */
        {"4111--1111-1111-1111", 0},            /* double dash splits */
        {"4111 - 1111 1111 1111", 0},           /* space, dash, space splits */
        {"4111 -1111-1111-1111", 0},
        {"4111.1111.1111.1111", 0}, /* only spaces and dashes join groups */
        {"4111/1111/1111/1111", 0},
        {"4111\t1111\t1111\t1111", 0},
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
        cmocka_unit_test(test_respects_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
