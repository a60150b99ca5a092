/*
 * Customer data at rest (firmware/seal): the device key file as an installer or a secure element
 * leaves it, and the seal of a sale's customer against what flash damage, an attacker rewriting
 * flash, a moved record or a lost key can do to it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>

#include "customer_seal.h"
#include "device_key.h"
#include "journal.h"
#include "sale.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static const char *const LINE =
    "{\"event\":\"sale.completed\",\"txn\":\"T-1001\",\"at\":\"2026-04-07T19:45:00+01:00\","
    "\"total\":1250,\"currency\":\"EUR\",\"customer\":{\"email\":\"jane.doe@example.com\","
    "\"phone\":\"+44 7700 900123\",\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"id\":\"C-88\"},"
    "\"items\":[{\"sku\":\"A1\",\"name\":\"Flat white\",\"qty\":1,\"unit_price\":1250}]}";
static const char *const SECRETS[] = {"jane.doe@example.com", "7700 900123", "Jane", "Doe", "C-88"};

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_seal.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_in(const char *name)
{
    static char p[2][128];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void load_key(const char *text, struct device_key *k)
{
    const char *p = path_in("k.key");
    write_file(p, text, strlen(text), 0600);
    char err[512];
    if (device_key_load(p, 0, k, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static struct sale parsed(void)
{
    struct sale s;
    char err[256];
    if (sale_parse(LINE, strlen(LINE), &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    return s;
}

static char *seal(const struct device_key *k, const char *txn, const char *body, size_t len)
{
    char *out = NULL, err[256];
    size_t outlen = 0;
    if (customer_seal(k, txn, body, len, &out, &outlen, err, sizeof err) != 0)
        fail_msg("customer_seal: %s", err);
    assert_int_equal(strlen(out), outlen);
    return out;
}

static enum customer_open_result open_body(const struct device_key *k, const char *txn,
                                           const char *body, char **out, char *why, size_t whylen)
{
    size_t outlen = 0;
    enum customer_open_result r =
        customer_open(k, txn, body, strlen(body), out, &outlen, why, whylen);
    if (r == CUSTOMER_OPENED)
        assert_int_equal(strlen(*out), outlen);
    else
        assert_null(*out);
    return r;
}

/* The vector docs/FORMAT.md section 6.1.1 gives a reader: the key id and the HKDF output. */
static void test_format_vector(void **state)
{
    (void)state;
    struct device_key k;
    load_key(KEY_A "\n", &k);
    assert_int_equal(k.ids[0], 0x0C8F3AD0u);
    uint8_t sub[DEVICE_KEY_BYTES];
    assert_int_equal(device_key_derive(k.keys[0], "tillsync customer v1", sub), 0);
    static const uint8_t begins[] = {0x70, 0x66, 0xf4, 0x07, 0xed, 0x83, 0x43, 0xab};
    assert_memory_equal(sub, begins, sizeof begins);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct device_key k;
    load_key(KEY_A "\n", &k);
    struct sale s = parsed();
    char *sealed = seal(&k, s.txn, s.body, s.body_len);
    for (size_t i = 0; i < sizeof SECRETS / sizeof *SECRETS; i++)
        if (strstr(sealed, SECRETS[i]))
            fail_msg("\"%s\" is readable in the sealed body: %s", SECRETS[i], sealed);
    /* Everything else stays readable, in its place: the customer's place holds the seal. */
    assert_non_null(strstr(sealed, "{\"txn\":\"T-1001\",\"at\":\"2026-04-07T19:45:00+01:00\","
                                   "\"total\":1250,\"currency\":\"EUR\",\"customer_sealed\":\""));
    assert_non_null(strstr(sealed, "\",\"items\":[{\"sku\":\"A1\",\"name\":\"Flat white\""));
    uint32_t id = 0;
    assert_int_equal(customer_sealed_key_id(sealed, strlen(sealed), &id), 1);
    assert_int_equal(id, k.ids[0]);
    /* The stored length is what journal.h's bound says sealing adds at most. */
    assert_true(strlen(sealed) <= s.body_len + JOURNAL_SEAL_GROWTH);

    char *out = NULL, why[256];
    assert_int_equal(open_body(&k, s.txn, sealed, &out, why, sizeof why), CUSTOMER_OPENED);
    assert_string_equal(out, s.body); /* byte for byte what was sealed */
    free(out);
    /* Two seals of one sale differ (a fresh nonce each): equal ciphertexts would tell equal
     * customers apart from others on a stolen flash. */
    char *again = seal(&k, s.txn, s.body, s.body_len);
    assert_string_not_equal(again, sealed);
    free(again);
    free(sealed);
    sale_free(&s);
}

static void test_no_customer_stays_plain(void **state)
{
    (void)state;
    struct device_key k;
    load_key(KEY_A, &k);
    static const char body[] = "{\"txn\":\"T-1\",\"at\":\"2026-04-07T19:45:00Z\",\"total\":5,"
                               "\"currency\":\"EUR\"}";
    char *sealed = seal(&k, "T-1", body, strlen(body));
    assert_string_equal(sealed, body);
    uint32_t id;
    assert_int_equal(customer_sealed_key_id(sealed, strlen(sealed), &id), 0);
    char *out = NULL, why[256];
    assert_int_equal(open_body(&k, "T-1", sealed, &out, why, sizeof why), CUSTOMER_PLAIN);
    free(sealed);
    /* A customer with no key to seal it under is refused, never stored plain. */
    char err[256];
    size_t outlen;
    static const char with[] = "{\"txn\":\"T-2\",\"customer\":{\"email\":\"a@b\"}}";
    assert_int_equal(customer_seal(NULL, "T-2", with, strlen(with), &out, &outlen, err, sizeof err),
                     -1);
    assert_null(out);
}

/* The sealed body with bit `bit` of byte `at` of the decoded seal flipped, re-encoded: what an
 * attacker who rewrites flash (and fixes the record's CRC) can do. */
static char *tamper(const char *sealed, size_t at, unsigned bit)
{
    cJSON *root = cJSON_Parse(sealed);
    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "customer_sealed");
    const char *b64 = cJSON_GetStringValue(m);
    assert_non_null(b64);
    unsigned char raw[1024], enc[1400];
    size_t rawlen, enclen;
    assert_int_equal(
        mbedtls_base64_decode(raw, sizeof raw, &rawlen, (const unsigned char *)b64, strlen(b64)),
        0);
    assert_true(at < rawlen);
    raw[at] ^= (unsigned char)(1u << bit);
    assert_int_equal(mbedtls_base64_encode(enc, sizeof enc, &enclen, raw, rawlen), 0);
    cJSON_SetValuestring(m, (const char *)enc);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_int_equal(strlen(out), strlen(sealed)); /* the same record length: only bits moved */
    return out;
}

static void test_flipped_bits_fail_the_tag(void **state)
{
    (void)state;
    struct device_key k;
    load_key(KEY_A, &k);
    struct sale s = parsed();
    char *sealed = seal(&k, s.txn, s.body, s.body_len);
    cJSON *root = cJSON_Parse(sealed);
    size_t rawlen =
        strlen(cJSON_GetStringValue(cJSON_GetObjectItem(root, "customer_sealed"))) / 4 * 3;
    cJSON_Delete(root);
    const struct {
        const char *what;
        size_t at;
        enum customer_open_result want;
    } cases[] = {
        {"version", 0, CUSTOMER_BROKEN},        {"key id", 2, CUSTOMER_NO_KEY},
        {"nonce", 5, CUSTOMER_BAD_TAG},         {"nonce, last byte", 16, CUSTOMER_BAD_TAG},
        {"ciphertext", 17, CUSTOMER_BAD_TAG},   {"ciphertext, middle", 40, CUSTOMER_BAD_TAG},
        {"tag", rawlen - 16, CUSTOMER_BAD_TAG}, {"tag, last byte", rawlen - 1, CUSTOMER_BAD_TAG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            char *bad = tamper(sealed, cases[i].at, bit);
            char *out = NULL, why[256] = "";
            enum customer_open_result r = open_body(&k, s.txn, bad, &out, why, sizeof why);
            if (r != cases[i].want)
                fail_msg("%s, bit %u: %d, expected %d (%s)", cases[i].what, bit, r, cases[i].want,
                         why);
            assert_true(why[0]);
            for (size_t n = 0; n < sizeof SECRETS / sizeof *SECRETS; n++)
                assert_null(strstr(why, SECRETS[n]));
            free(bad);
        }
    }
    char *out = NULL, why[256];
    /* Moved to another sale (its record copied over one with another txn): the AAD differs. */
    assert_int_equal(open_body(&k, "T-1002", sealed, &out, why, sizeof why), CUSTOMER_BAD_TAG);
    assert_non_null(strstr(why, "authentication tag"));
    /* The seal's text itself damaged (not base64), or two customers in one body. */
    char *broken = strdup(sealed);
    char *p = strstr(broken, "customer_sealed\":\"") + 18;
    p[3] = '*';
    assert_int_equal(open_body(&k, s.txn, broken, &out, why, sizeof why), CUSTOMER_BROKEN);
    free(broken);
    free(sealed);
    sale_free(&s);
}

static void test_another_key(void **state)
{
    (void)state;
    struct device_key a, b;
    load_key(KEY_A, &a);
    load_key(KEY_B, &b);
    assert_int_not_equal(a.ids[0], b.ids[0]);
    struct sale s = parsed();
    char *sealed = seal(&a, s.txn, s.body, s.body_len);
    char *out = NULL, why[256], ida[9], idb[9];
    assert_int_equal(open_body(&b, s.txn, sealed, &out, why, sizeof why), CUSTOMER_NO_KEY);
    snprintf(ida, sizeof ida, "%08x", a.ids[0]);
    snprintf(idb, sizeof idb, "%08x", b.ids[0]);
    assert_non_null(strstr(why, ida)); /* the key it needs, and the one this terminal has */
    assert_non_null(strstr(why, idb));
    assert_int_equal(open_body(NULL, s.txn, sealed, &out, why, sizeof why), CUSTOMER_NO_KEY);
    assert_non_null(strstr(why, ida));
    free(sealed);
    sale_free(&s);
}

static void test_key_file_modes(void **state)
{
    (void)state;
    const mode_t refused[] = {0644, 0640, 0604, 0660, 0602};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const char *p = path_in("mode.key");
        write_file(p, KEY_A "\n", strlen(KEY_A) + 1, refused[i]);
        struct device_key k;
        char err[512], mode[8], fix[160];
        assert_int_equal(device_key_load(p, 1, &k, err, sizeof err), -1);
        snprintf(mode, sizeof mode, "%03o", (unsigned)refused[i]);
        snprintf(fix, sizeof fix, "chmod 600 %s", p);
        if (!strstr(err, mode) || !strstr(err, fix))
            fail_msg("mode %s: %s", mode, err);
        assert_null(strstr(err, "0001020304")); /* never a byte of the key */
        assert_int_equal(k.n, 0);
    }
    const char *p = path_in("dir.key");
    mkdir(p, 0700);
    struct device_key k;
    char err[512];
    assert_int_equal(device_key_load(p, 1, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "regular file"));
}

static void test_create_makes_600(void **state)
{
    (void)state;
    const char *p = path_in("new.key");
    unlink(p);
    struct device_key k, again;
    char err[512];
    /* Without create (tillsyncctl verify), a missing file is said, and not made. */
    assert_int_equal(device_key_load(p, 0, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(access(p, F_OK), -1);
    mode_t old = umask(0);
    int rc = device_key_load(p, 1, &k, err, sizeof err);
    umask(old);
    if (rc != 1)
        fail_msg("%s", err);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65); /* one line of 64 hex digits */
    assert_int_equal(k.n, 1);
    assert_int_equal(device_key_load(p, 1, &again, err, sizeof err), 0); /* not made twice */
    assert_memory_equal(again.keys[0], k.keys[0], DEVICE_KEY_BYTES);
    assert_int_equal(again.ids[0], k.ids[0]);
    device_key_clear(&again);
    assert_int_equal(again.n, 0);
    static const uint8_t zero[DEVICE_KEY_BYTES];
    assert_memory_equal(again.keys[0], zero, DEVICE_KEY_BYTES);
}

static void test_raw_32_byte_file(void **state)
{
    (void)state;
    uint8_t raw[DEVICE_KEY_BYTES];
    for (unsigned i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 37 + 11); /* some bytes are '\n', ' ', hex digits: still raw */
    raw[3] = '\n';
    raw[4] = 'a';
    const char *p = path_in("raw.key");
    write_file(p, raw, sizeof raw, 0400);
    struct device_key k, hex;
    char err[512];
    if (device_key_load(p, 0, &k, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(k.n, 1);
    assert_memory_equal(k.keys[0], raw, sizeof raw);
    /* The same key as hex is the same key: same id. */
    char text[2 * DEVICE_KEY_BYTES + 2];
    for (unsigned i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02X", raw[i]);
    strcat(text, "\n");
    load_key(text, &hex);
    assert_int_equal(hex.ids[0], k.ids[0]);
}

static void test_malformed_files(void **state)
{
    (void)state;
    const char *const bad[] = {
        "",                                                                 /* empty */
        "0102",                                                             /* too short */
        KEY_A "0",                                                          /* 65 digits */
        "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", /* not hex */
        KEY_A "\n" KEY_B "\n" KEY_A "\n" KEY_B "\n" KEY_A "\n",             /* 5 keys */
        KEY_A " # a comment",                                               /* anything else */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *p = path_in("bad.key");
        write_file(p, bad[i], strlen(bad[i]), 0600);
        struct device_key k;
        char err[512];
        if (device_key_load(p, 1, &k, err, sizeof err) != -1)
            fail_msg("case %zu loaded", i);
        assert_non_null(strstr(err, "not a device key"));
        assert_null(strstr(err, "0102030405"));
    }
    /* Blank lines, CRLF and trailing spaces are not malformed. */
    struct device_key k;
    load_key("\n" KEY_A "  \r\n\r\n" KEY_B "\t\n", &k);
    assert_int_equal(k.n, 2);
}

static void test_rotation(void **state)
{
    (void)state;
    struct device_key a, rotated;
    load_key(KEY_A "\n", &a);
    struct sale s = parsed();
    char *old = seal(&a, s.txn, s.body, s.body_len);
    /* Rotation: a new first line, the old one kept below it. */
    load_key(KEY_B "\n" KEY_A "\n", &rotated);
    assert_int_equal(rotated.n, 2);
    assert_int_equal(rotated.ids[1], a.ids[0]);
    char *out = NULL, why[256];
    assert_int_equal(open_body(&rotated, s.txn, old, &out, why, sizeof why), CUSTOMER_OPENED);
    assert_string_equal(out, s.body);
    free(out);
    char *fresh = seal(&rotated, s.txn, s.body, s.body_len);
    uint32_t id;
    assert_int_equal(customer_sealed_key_id(fresh, strlen(fresh), &id), 1);
    assert_int_equal(id, rotated.ids[0]); /* the new key seals */
    assert_int_not_equal(id, a.ids[0]);
    out = NULL;
    assert_int_equal(open_body(&rotated, s.txn, fresh, &out, why, sizeof why), CUSTOMER_OPENED);
    free(out);
    /* The old line dropped too soon: what it sealed no longer opens, and says which key. */
    struct device_key only_b;
    load_key(KEY_B "\n", &only_b);
    assert_int_equal(open_body(&only_b, s.txn, old, &out, why, sizeof why), CUSTOMER_NO_KEY);
    char ida[9];
    snprintf(ida, sizeof ida, "%08x", a.ids[0]);
    assert_non_null(strstr(why, ida));
    free(old);
    free(fresh);
    sale_free(&s);
}

/* The largest customer a valid line can carry: the bound in journal.h holds for it. */
static void test_largest_customer_growth(void **state)
{
    (void)state;
    struct device_key k;
    load_key(KEY_A, &k);
    char u[6 * 256 + 1] = "", email[6 * 256 + 1] = "";
    for (int i = 0; i < 256; i++)
        strcat(u, "\\u0001");
    for (int i = 0; i < 255; i++)
        strcat(email, i == 127 ? "@" : "\\u0001");
    static char line[16384];
    snprintf(line, sizeof line,
             "{\"event\":\"sale.completed\",\"txn\":\"%.64s\",\"at\":\"2026-04-07T19:45:00Z\","
             "\"total\":1,\"currency\":\"EUR\",\"customer\":{\"email\":\"%s\",\"phone\":\"%s\","
             "\"first_name\":\"%s\",\"last_name\":\"%s\",\"id\":\"%s\"}}",
             "TXN-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT", email, u,
             u, u, u);
    struct sale s;
    char err[256];
    if (sale_parse(line, strlen(line), &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    char *sealed = seal(&k, s.txn, s.body, s.body_len);
    size_t growth = strlen(sealed) - s.body_len;
    printf("largest customer: body %zu bytes, sealed %zu (+%zu; bound +%u)\n", s.body_len,
           strlen(sealed), growth, JOURNAL_SEAL_GROWTH);
    assert_true(growth <= JOURNAL_SEAL_GROWTH);
    assert_true(growth + 10 >= JOURNAL_SEAL_GROWTH); /* and the bound is not loose */
    char *out = NULL, why[256];
    assert_int_equal(open_body(&k, s.txn, sealed, &out, why, sizeof why), CUSTOMER_OPENED);
    assert_string_equal(out, s.body);
    free(out);
    free(sealed);
    sale_free(&s);
}

int main(void)
{
    _Static_assert(JOURNAL_MAX_CUSTOMER == 7742, "journal.h: the customer bound");
    _Static_assert(JOURNAL_MAX_BODY == 85684 && JOURNAL_MAX_RECORD == 86053,
                   "journal.h: the figures its comment and docs/FORMAT.md give");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_vector),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_customer_stays_plain),
        cmocka_unit_test(test_flipped_bits_fail_the_tag),
        cmocka_unit_test(test_another_key),
        cmocka_unit_test(test_key_file_modes),
        cmocka_unit_test(test_create_makes_600),
        cmocka_unit_test(test_raw_32_byte_file),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_largest_customer_growth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
