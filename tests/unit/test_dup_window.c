/*
 * The duplicate window: lookups through the check callback, eviction of the oldest entry once
 * JOURNAL_DUP_WINDOW sales are held (backward-shift deletion in the index), and the txn hash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dup_window.h"
#include "journal.h"

/* The check callback: counts its calls and confirms only the expected location (the block
 * sequence number an entry carries; here any number that tells entries apart). */
struct probe {
    uint32_t want_addr;
    unsigned calls;
    uint32_t seen[8];
};

static int check_addr(void *ctx, uint32_t where)
{
    struct probe *p = ctx;
    if (p->calls < 8)
        p->seen[p->calls] = where;
    p->calls++;
    return where == p->want_addr;
}

static int check_never(void *ctx, uint32_t where)
{
    struct probe *p = ctx;
    (void)where;
    p->calls++;
    return 0;
}

static int found(const struct dup_window *w, uint64_t hash, uint32_t addr)
{
    struct probe p = {.want_addr = addr};
    return dup_window_find(w, hash, check_addr, &p);
}

static void test_empty(void **state)
{
    (void)state;
    struct dup_window *w = dup_window_new();
    assert_non_null(w);
    struct probe p = {.want_addr = 0};
    assert_int_equal(dup_window_find(w, dup_window_hash("000123"), check_addr, &p), 0);
    assert_int_equal(p.calls, 0);
    dup_window_free(w);
}

static void test_add_find(void **state)
{
    (void)state;
    struct dup_window *w = dup_window_new();
    assert_non_null(w);
    uint64_t a = dup_window_hash("000123"), b = dup_window_hash("000124");
    dup_window_add(w, a, 4096);

    /* found, and the callback sees which block holds the sale */
    struct probe p = {.want_addr = 4096};
    assert_int_equal(dup_window_find(w, a, check_addr, &p), 1);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.seen[0], 4096);

    /* the callback has the last word: a record no longer on flash is no duplicate */
    p = (struct probe){0};
    assert_int_equal(dup_window_find(w, a, check_never, &p), 0);
    assert_int_equal(p.calls, 1);

    /* another txn: not found, and the callback is not even asked */
    p = (struct probe){.want_addr = 4096};
    assert_int_equal(dup_window_find(w, b, check_addr, &p), 0);
    assert_int_equal(p.calls, 0);

    dup_window_add(w, b, 8192);
    assert_true(found(w, a, 4096));
    assert_true(found(w, b, 8192));
    assert_false(found(w, a, 8192));
    dup_window_free(w);
}

static void test_same_hash_twice(void **state)
{
    (void)state;
    /* A txn stored again (a resend older than the window, say): both entries are offered. */
    struct dup_window *w = dup_window_new();
    assert_non_null(w);
    uint64_t h = dup_window_hash("T-1");
    dup_window_add(w, h, 100);
    dup_window_add(w, dup_window_hash("T-2"), 200);
    dup_window_add(w, h, 300);

    struct probe p = {.want_addr = 0xFFFFFFFF};
    assert_int_equal(dup_window_find(w, h, check_addr, &p), 0);
    assert_int_equal(p.calls, 2);
    assert_true((p.seen[0] == 100 && p.seen[1] == 300) || (p.seen[0] == 300 && p.seen[1] == 100));

    assert_true(found(w, h, 100));
    assert_true(found(w, h, 300));
    assert_false(found(w, h, 200));
    dup_window_free(w);
}

/*
 * Adds JOURNAL_DUP_WINDOW + extra entries with hashes from hash_of(i) and addr i, checking on
 * the way that each add evicts exactly the oldest entry, then that the oldest `extra` are gone
 * and the newest JOURNAL_DUP_WINDOW all still found.
 */
static void fill_and_check(uint64_t (*hash_of)(uint32_t), uint32_t extra)
{
    const uint32_t total = JOURNAL_DUP_WINDOW + extra;
    struct dup_window *w = dup_window_new();
    assert_non_null(w);
    unsigned step_failures = 0;
    for (uint32_t i = 0; i < total; i++) {
        dup_window_add(w, hash_of(i), i);
        if (!found(w, hash_of(i), i))
            step_failures++;
        if (i >= JOURNAL_DUP_WINDOW) {
            /* i - WINDOW just left; i - WINDOW + 1 is now the oldest and must still be there */
            if (found(w, hash_of(i - JOURNAL_DUP_WINDOW), i - JOURNAL_DUP_WINDOW))
                step_failures++;
            if (!found(w, hash_of(i - JOURNAL_DUP_WINDOW + 1), i - JOURNAL_DUP_WINDOW + 1))
                step_failures++;
        }
    }
    assert_int_equal(step_failures, 0);

    unsigned stale_found = 0, recent_missing = 0;
    for (uint32_t i = 0; i < extra; i++) {
        struct probe p = {.want_addr = i};
        stale_found += dup_window_find(w, hash_of(i), check_never, &p) != 0;
        stale_found += found(w, hash_of(i), i);
    }
    for (uint32_t i = extra; i < total; i++)
        recent_missing += !found(w, hash_of(i), i);
    assert_int_equal(stale_found, 0);
    assert_int_equal(recent_missing, 0);
    dup_window_free(w);
}

static uint64_t txn_hash(uint32_t i)
{
    char txn[32];
    snprintf(txn, sizeof txn, "T042-%06u", (unsigned)i);
    return dup_window_hash(txn);
}

/* Adversarial hashes: the low bits (the probe start in any power-of-two index up to 2^16)
 * repeat every 37 entries and sit just below a multiple of 2^16, so probe chains are long,
 * interleaved and wrap around the end of the index. The high bits keep every hash unique. */
static uint64_t clustered_hash(uint32_t i)
{
    return ((uint64_t)(i + 1) << 32) | (0xFFF0u + i % 37u);
}

static void test_window_evicts_oldest(void **state)
{
    (void)state;
    fill_and_check(txn_hash, 5000);
}

static void test_window_evicts_oldest_clustered(void **state)
{
    (void)state;
    fill_and_check(clustered_hash, 5000);
}

static void test_window_wraps_many_times(void **state)
{
    (void)state;
    fill_and_check(txn_hash, 3 * JOURNAL_DUP_WINDOW + 17);
}

static void test_hash(void **state)
{
    (void)state;
    char a[] = "000123", b[] = "000123";
    assert_ptr_not_equal(a, b);
    assert_int_equal(dup_window_hash(a), dup_window_hash(b));
    assert_int_equal(dup_window_hash(""), dup_window_hash(""));

    static const char *const distinct[] = {"000123", "000124", "000132", "00123", "0001230",
                                           "T042-1", "t042-1", "",       "a",     "b"};
    const size_t n = sizeof distinct / sizeof *distinct;
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (dup_window_hash(distinct[i]) == dup_window_hash(distinct[k]))
                fail_msg("hash(\"%s\") == hash(\"%s\")", distinct[i], distinct[k]);

    /* The first 6 bytes of SHA-256 (FIPS 180-2 test vector for "abc": ba 78 16 bf 8f 01 ...),
     * little-endian, as FORMAT.md lists them in OPEN records. */
    assert_int_equal(dup_window_hash("abc"), 0x018FBF1678BAull);
}

/* Mount fills the window newest first: add_older puts entries behind the oldest, and the window
 * then evicts them first; get() sees them in log order. */
static void test_add_older(void **state)
{
    (void)state;
    struct dup_window *w = dup_window_new();
    assert_non_null(w);
    for (uint32_t i = JOURNAL_DUP_WINDOW; i-- > 100;)
        assert_int_equal(dup_window_add_older(w, txn_hash(i), i), 1);
    for (uint32_t i = 100; i-- > 0;)
        assert_int_equal(dup_window_add_older(w, txn_hash(i), i), 1);
    assert_true(dup_window_full(w));
    assert_int_equal(dup_window_add_older(w, txn_hash(123456), 1), 0); /* full: not added */
    assert_false(found(w, txn_hash(123456), 1));
    uint64_t h;
    uint32_t where;
    dup_window_get(w, 0, &h, &where);
    assert_int_equal(where, JOURNAL_DUP_WINDOW - 1);
    assert_int_equal(h, txn_hash(JOURNAL_DUP_WINDOW - 1));
    dup_window_get(w, JOURNAL_DUP_WINDOW - 1, &h, &where);
    assert_int_equal(where, 0);
    /* a new sale evicts entry 0, the oldest, and nothing else */
    dup_window_add(w, txn_hash(JOURNAL_DUP_WINDOW), JOURNAL_DUP_WINDOW);
    assert_false(found(w, txn_hash(0), 0));
    assert_true(found(w, txn_hash(1), 1));
    assert_true(found(w, txn_hash(JOURNAL_DUP_WINDOW), JOURNAL_DUP_WINDOW));
    assert_int_equal(dup_window_count(w), JOURNAL_DUP_WINDOW);
    dup_window_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_find),
        cmocka_unit_test(test_same_hash_twice),
        cmocka_unit_test(test_window_evicts_oldest),
        cmocka_unit_test(test_window_evicts_oldest_clustered),
        cmocka_unit_test(test_window_wraps_many_times),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_add_older),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
