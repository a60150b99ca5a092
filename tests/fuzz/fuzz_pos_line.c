/*
 * The POS line parser on arbitrary bytes, as a POS could send them. Beyond "no crash, no
 * sanitizer report", every answer must keep the intake rules:
 *   - a refusal names a field ("<field path>: " or "request: "), repeats no card number, and
 *     leaves no body;
 *   - an acceptance stores a body that is one JSON object without NUL, holds no payment card
 *     number, is accepted again by sale_parse with the same result (its fields are the
 *     parser's own), and carries the txn that was acknowledged;
 *   - a string holding U+0000 is never accepted (it would be cut where it is stored).
 */
#include <regex.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "card.h"
#include "fuzz_check.h"
#include "sale.h"

#define ERRLEN 256 /* what pos_intake.c gives */

static regex_t field_error;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (regcomp(&field_error, "^[a-z_]+(\\[[0-9]+\\])?(\\.[a-z_]+)*: ", REG_EXTENDED | REG_NOSUB))
        abort();
    return 0;
}

/* Whether a JSON text has a string with the escape \u0000 in it. Only called on valid JSON,
 * where a backslash occurs in strings alone. */
static int has_escaped_nul(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* the escaped character, which may be a backslash itself */
    }
    return 0;
}

static void check_refusal(int rc, const struct sale *s, const char *err)
{
    FUZZ_CHECK(rc == -1, "rc %d", rc);
    FUZZ_CHECK(s->body == NULL, "a refused sale left a body");
    FUZZ_CHECK(memchr(err, '\0', ERRLEN) != NULL, "error not terminated");
    FUZZ_CHECK(regexec(&field_error, err, 0, NULL, 0) == 0 || strncmp(err, "request: ", 9) == 0,
               "the error names no field: \"%s\"", err);
    FUZZ_CHECK(!card_number_in(err, strlen(err)), "the error repeats a card number: \"%s\"", err);
}

static void check_body(const uint8_t *line, size_t len, const struct sale *s)
{
    FUZZ_CHECK(s->body != NULL, "accepted without a body");
    FUZZ_CHECK(memchr(s->body, '\0', s->body_len) == NULL && s->body[s->body_len] == '\0',
               "body_len %zu is not the body's length %zu", s->body_len, strlen(s->body));
    FUZZ_CHECK(!card_number_in(s->body, s->body_len), "a card number in the stored body: %s",
               s->body);
    FUZZ_CHECK(!has_escaped_nul((const char *)line, len), "a string with U+0000 was accepted");

    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(s->body, s->body_len, &end, 0);
    FUZZ_CHECK(cJSON_IsObject(body) && end == s->body + s->body_len,
               "the body is not one JSON object: %s", s->body);
    const cJSON *txn = cJSON_GetObjectItemCaseSensitive(body, "txn");
    FUZZ_CHECK(cJSON_IsString(txn) && strcmp(txn->valuestring, s->txn) == 0,
               "the body's txn is not the acknowledged one (%s): %s", s->txn, s->body);

    /* The body is a request without its event: as one, it must come out unchanged. */
    FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(body, "event") == NULL, "event stored");
    cJSON_AddStringToObject(body, "event", "sale.completed");
    char *again = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    FUZZ_CHECK(again != NULL, "out of memory");
    struct sale s2;
    char err[ERRLEN] = "";
    int rc = sale_parse(again, strlen(again), &s2, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the stored body is refused as a request: %s: %s", err, again);
    FUZZ_CHECK(strcmp(s2.txn, s->txn) == 0 && s2.body_len == s->body_len &&
                   memcmp(s2.body, s->body, s->body_len) == 0,
               "normalising twice changed the body:\n%s\n%s", s->body, s2.body);
    sale_free(&s2);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sale s;
    char err[ERRLEN];
    memset(err, 0x55, sizeof err); /* an unterminated error must show */
    int rc = sale_parse((const char *)data, size, &s, err, sizeof err);
    if (rc != 0) {
        check_refusal(rc, &s, err);
        return 0;
    }
    check_body(data, size, &s);
    sale_free(&s);
    return 0;
}
