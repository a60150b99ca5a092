/*
 * The reflash export envelope (firmware/seal/export_seal.h): what it seals opens under the same
 * device key or passphrase and nothing else; any one byte changed anywhere in the file, a
 * truncated or extended file, an unknown version or key derivation is refused, never opened.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "export_seal.h"

static const char payload[] = "{\"tillsync_export\":1,\"terminal_id\":\"T042\",\"sales\":[]}";

static struct device_key key_of(uint8_t fill)
{
    struct device_key k = {.n = 1};
    memset(k.keys[0], fill, DEVICE_KEY_BYTES);
    k.ids[0] = device_key_id(k.keys[0]);
    return k;
}

static uint8_t *seal_with_key(const struct device_key *k, size_t *len)
{
    struct export_secret s = {EXPORT_KDF_DEVICE_KEY, k->keys[0], k->ids[0], NULL, 0};
    uint8_t *f;
    char err[256];
    assert_int_equal(export_seal(&s, payload, strlen(payload), &f, len, err, sizeof err), 0);
    return f;
}

static enum export_open_result open_it(const uint8_t *f, size_t len, const struct device_key *k,
                                       const char *pass, char *err, size_t errlen)
{
    uint8_t *out = NULL;
    size_t outlen = 0;
    struct export_header h;
    enum export_open_result r = export_open(f, len, k, pass, &out, &outlen, &h, err, errlen);
    if (r == EXPORT_OPENED) {
        assert_int_equal(outlen, strlen(payload));
        assert_memory_equal(out, payload, outlen);
        assert_int_equal(out[outlen], 0);
    } else {
        assert_null(out);
    }
    free(out);
    return r;
}

static void device_key_round_trip(void **state)
{
    (void)state;
    struct device_key k = key_of(7);
    size_t len;
    uint8_t *f = seal_with_key(&k, &len);
    char err[256];
    assert_int_equal(len, EXPORT_HEADER_BYTES + strlen(payload) + EXPORT_TAG_BYTES);
    assert_memory_equal(f, "TSEXPORT", 8);
    assert_int_equal(f[8], EXPORT_VERSION);
    assert_int_equal(f[9], EXPORT_KDF_DEVICE_KEY);
    assert_null(memmem(f, len, "T042", 4)); /* sealed, not encoded */
    assert_int_equal(open_it(f, len, &k, NULL, err, sizeof err), EXPORT_OPENED);
    /* An older key of this device (rotated since) still opens it. */
    struct device_key rotated = key_of(9);
    rotated.n = 2;
    memcpy(rotated.keys[1], k.keys[0], DEVICE_KEY_BYTES);
    rotated.ids[1] = k.ids[0];
    assert_int_equal(open_it(f, len, &rotated, NULL, err, sizeof err), EXPORT_OPENED);
    free(f);
}

static void every_byte_changed_is_refused(void **state)
{
    (void)state;
    struct device_key k = key_of(7);
    size_t len;
    uint8_t *f = seal_with_key(&k, &len);
    char err[256];
    for (size_t i = 0; i < len; i++)
        for (unsigned bit = 0; bit < 8; bit += 7) {
            f[i] ^= (uint8_t)(1u << bit);
            enum export_open_result r = open_it(f, len, &k, NULL, err, sizeof err);
            if (r == EXPORT_OPENED)
                fail_msg("byte %zu bit %u changed and the file still opened", i, bit);
            f[i] ^= (uint8_t)(1u << bit);
        }
    assert_int_equal(open_it(f, len, &k, NULL, err, sizeof err), EXPORT_OPENED);
    free(f);
}

static void wrong_key_truncated_extended_newer(void **state)
{
    (void)state;
    struct device_key k = key_of(7), other = key_of(8), none = {0};
    size_t len;
    uint8_t *f = seal_with_key(&k, &len);
    char err[256];
    assert_int_equal(open_it(f, len, &other, NULL, err, sizeof err), EXPORT_NO_SUCH_KEY);
    assert_non_null(strstr(err, "not for this device key"));
    assert_int_equal(open_it(f, len, &none, NULL, err, sizeof err), EXPORT_NEED_SECRET);
    /* Another key that claims this key's id: the tag tells. */
    other.ids[0] = k.ids[0];
    assert_int_equal(open_it(f, len, &other, NULL, err, sizeof err), EXPORT_BAD_TAG);
    assert_non_null(strstr(err, "changed since it was exported"));
    assert_int_equal(open_it(f, len - 1, &k, NULL, err, sizeof err), EXPORT_TRUNCATED);
    assert_int_equal(open_it(f, 20, &k, NULL, err, sizeof err), EXPORT_TRUNCATED);
    assert_int_equal(open_it(f, 5, &k, NULL, err, sizeof err), EXPORT_NOT_EXPORT);
    uint8_t *longer = calloc(1, len + 1);
    memcpy(longer, f, len);
    assert_int_equal(open_it(longer, len + 1, &k, NULL, err, sizeof err), EXPORT_TRUNCATED);
    free(longer);
    f[8] = 2;
    assert_int_equal(open_it(f, len, &k, NULL, err, sizeof err), EXPORT_BAD_VERSION);
    assert_non_null(strstr(err, "version 2"));
    f[8] = EXPORT_VERSION;
    f[9] = 3;
    assert_int_equal(open_it(f, len, &k, NULL, err, sizeof err), EXPORT_BAD_VERSION);
    free(f);
}

static void passphrase(void **state)
{
    (void)state;
    struct export_secret s = {EXPORT_KDF_PASSPHRASE, NULL, 0, "correct horse battery staple",
                              EXPORT_PBKDF2_MIN};
    uint8_t *f;
    size_t len;
    char err[256];
    assert_int_equal(export_seal(&s, payload, strlen(payload), &f, &len, err, sizeof err), 0);
    assert_int_equal(f[9], EXPORT_KDF_PASSPHRASE);
    struct export_header h;
    assert_int_equal(export_parse_header(f, len, &h, err, sizeof err), EXPORT_OPENED);
    assert_int_equal(h.iterations, EXPORT_PBKDF2_MIN);
    struct device_key k = key_of(7);
    /* No device key is needed, and none opens it without the passphrase. */
    assert_int_equal(open_it(f, len, NULL, s.passphrase, err, sizeof err), EXPORT_OPENED);
    assert_int_equal(open_it(f, len, &k, NULL, err, sizeof err), EXPORT_NEED_SECRET);
    assert_non_null(strstr(err, "--passphrase-file"));
    assert_int_equal(open_it(f, len, NULL, "correct horse battery stapl", err, sizeof err),
                     EXPORT_BAD_TAG);
    /* The salt is covered too; iterations outside what tillsync writes are refused unworked. */
    f[20] ^= 1;
    assert_int_equal(open_it(f, len, NULL, s.passphrase, err, sizeof err), EXPORT_BAD_TAG);
    f[20] ^= 1;
    f[16] = 0xff;
    assert_int_equal(open_it(f, len, NULL, s.passphrase, err, sizeof err), EXPORT_BAD_TAG);
    assert_non_null(strstr(err, "PBKDF2 iterations"));
    free(f);
    /* The default work factor is what the file says. */
    s.iterations = 0;
    assert_int_equal(export_seal(&s, payload, strlen(payload), &f, &len, err, sizeof err), 0);
    assert_int_equal(export_parse_header(f, len, &h, err, sizeof err), EXPORT_OPENED);
    assert_int_equal(h.iterations, EXPORT_PBKDF2_ITERATIONS);
    free(f);
}

static void fresh_nonce_each_time(void **state)
{
    (void)state;
    struct device_key k = key_of(7);
    size_t len1, len2;
    uint8_t *a = seal_with_key(&k, &len1), *b = seal_with_key(&k, &len2);
    assert_int_equal(len1, len2);
    assert_memory_not_equal(a + 36, b + 36, 12);
    assert_memory_not_equal(a + EXPORT_HEADER_BYTES, b + EXPORT_HEADER_BYTES, len1 - 56);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(device_key_round_trip),
        cmocka_unit_test(every_byte_changed_is_refused),
        cmocka_unit_test(wrong_key_truncated_extended_newer),
        cmocka_unit_test(passphrase),
        cmocka_unit_test(fresh_nonce_each_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
