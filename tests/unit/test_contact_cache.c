/*
 * The contact cache: a shop's regulars all stay cached (a direct-mapped cache of 512 slots lost 19
 * of 100 to collisions), the least recently used goes first, an evicted or changed identity
 * misses, and ids are kept as text, whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contact_cache.h"

static void identity(char *out, size_t cap, unsigned i)
{
    snprintf(out, cap, "{\"emailAddress\":\"customer%u@example.com\"}", i);
}

static void test_regulars_all_stay(void **state)
{
    (void)state;
    struct contact_cache *c = calloc(1, sizeof *c);
    char key[96], id[BACKEND_ID_TEXT], want[32];
    for (unsigned i = 0; i < 100; i++) {
        identity(key, sizeof key, i);
        snprintf(want, sizeof want, "%u", 1000 + i);
        contact_cache_put(c, key, want);
    }
    unsigned hits = 0;
    for (unsigned i = 0; i < 100; i++) {
        identity(key, sizeof key, i);
        snprintf(want, sizeof want, "%u", 1000 + i);
        hits += contact_cache_get(c, key, id, sizeof id) && strcmp(id, want) == 0;
    }
    printf("100 regulars: %u cached\n", hits);
    assert_int_equal(hits, 100);
    /* Keys as Givebutter writes them, visited in rounds as a shop's regulars come back: with 4
     * ways, five of these shared a set and missed on every round. */
    memset(c, 0, sizeof *c);
    hits = 0;
    for (unsigned round = 0; round < 3; round++)
        for (unsigned i = 0; i < 100; i++) {
            snprintf(key, sizeof key, "email\ncustomer%03u@shop.example", i);
            if (contact_cache_get(c, key, id, sizeof id))
                hits++;
            else
                contact_cache_put(c, key, "77");
        }
    printf("100 regulars, 3 rounds: %u hits of 200 after the first round\n", hits);
    assert_int_equal(hits, 200);
    free(c);
}

static void test_least_recently_used_goes(void **state)
{
    (void)state;
    struct contact_cache *c = calloc(1, sizeof *c);
    char key[96], id[BACKEND_ID_TEXT];
    /* Far more identities than slots, one of them used all along: it is never the one replaced. */
    contact_cache_put(c, "{\"emailAddress\":\"regular@example.com\"}", "7");
    for (unsigned i = 0; i < 20 * CONTACT_CACHE_SLOTS; i++) {
        identity(key, sizeof key, i);
        contact_cache_put(c, key, "1");
        assert_int_equal(
            contact_cache_get(c, "{\"emailAddress\":\"regular@example.com\"}", id, sizeof id), 1);
    }
    assert_string_equal(id, "7");
    /* The most recent CONTACT_CACHE_WAYS - 1 of any set are still there: at least the last one. */
    identity(key, sizeof key, 20 * CONTACT_CACHE_SLOTS - 1);
    assert_int_equal(contact_cache_get(c, key, id, sizeof id), 1);
    free(c);
}

static void test_evicted_and_changed_miss(void **state)
{
    (void)state;
    struct contact_cache *c = calloc(1, sizeof *c);
    char id[BACKEND_ID_TEXT];
    const char *a = "{\"emailAddress\":\"jane@example.com\"}";
    contact_cache_put(c, a, "64c0ffee64c0ffee64c0ffee");
    assert_int_equal(contact_cache_get(c, a, id, sizeof id), 1);
    assert_string_equal(id, "64c0ffee64c0ffee64c0ffee");
    assert_int_equal(contact_cache_get(c,
                                       "{\"emailAddress\":\"jane@example.com\",\"firstName\":"
                                       "\"Jane\"}",
                                       id, sizeof id),
                     0);
    assert_int_equal(contact_cache_get(c, a, id, 10), 0); /* would not fit: not a cut id */
    contact_cache_evict(c, a);
    assert_int_equal(contact_cache_get(c, a, id, sizeof id), 0);
    /* an id too long to keep whole is not kept at all */
    char longid[BACKEND_ID_TEXT + 1];
    memset(longid, '9', BACKEND_ID_TEXT);
    longid[BACKEND_ID_TEXT] = '\0';
    contact_cache_put(c, a, longid);
    assert_int_equal(contact_cache_get(c, a, id, sizeof id), 0);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regulars_all_stay),
        cmocka_unit_test(test_least_recently_used_goes),
        cmocka_unit_test(test_evicted_and_changed_miss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
