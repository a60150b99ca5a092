/*
 * The POS line parser on arbitrary bytes, as a POS could send them. Beyond "no crash, no
 * sanitizer report", every answer must keep the intake rules:
 *   - a refusal names a field ("<field path>: " or "request: "; a field the contract does not
 *     know is named by the request's own key, even an empty one), repeats no card number, and
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

/* Whether err begins with a key of the request, as a path does (sale.c cuts a path at 127
 * bytes; under an empty key a path begins with the key inside it). */
static int begins_with_key(const char *err, const cJSON *it)
{
    for (; it; it = it->next) {
        if (it->string) {
            size_t n = strlen(it->string);
            if (strncmp(err, it->string, n) == 0 && err[n] && strchr(".[:", err[n]) &&
                strstr(err + n, ": "))
                return 1;
            if (n >= 127 && strncmp(err, it->string, 64) == 0)
                return 1;
        }
        if (begins_with_key(err, it->child))
            return 1;
    }
    return 0;
}

static int names_request_key(const char *err, const uint8_t *line, size_t len)
{
    cJSON *req = cJSON_ParseWithLength((const char *)line, len);
    int found = req && begins_with_key(err, req->child);
    cJSON_Delete(req);
    return found;
}

static void check_refusal(int rc, const struct sale *s, const char *err, const uint8_t *line,
                          size_t len)
{
    FUZZ_CHECK(rc == -1, "rc %d", rc);
    FUZZ_CHECK(s->body == NULL, "a refused sale left a body");
    FUZZ_CHECK(memchr(err, '\0', ERRLEN) != NULL, "error not terminated");
    FUZZ_CHECK(regexec(&field_error, err, 0, NULL, 0) == 0 || strncmp(err, "request: ", 9) == 0 ||
                   names_request_key(err, line, len),
               "the error names no field: \"%s\"", err);
    FUZZ_CHECK(!card_number_in(err, strlen(err)), "the error repeats a card number: \"%s\"", err);
}

/*
 * No card number anywhere in a stored body, by the rule sale.c applies to a request: every key
 * and string (an exact GTIN in items[].sku is an item code), every number as written.
 */
static void check_no_card(const cJSON *it, int in_item)
{
    for (; it; it = it->next) {
        if (it->string)
            FUZZ_CHECK(!card_number_in(it->string, strlen(it->string)), "a card number as a key");
        if (cJSON_IsString(it)) {
            const char *v = it->valuestring;
            int sku = in_item && strcmp(it->string, "sku") == 0;
            FUZZ_CHECK(!(sku ? card_number_in_sku(v, strlen(v)) : card_number_in(v, strlen(v))),
                       "a card number stored in %s", it->string ? it->string : "an array");
        } else if (cJSON_IsNumber(it)) {
            char *text = cJSON_PrintUnformatted(it);
            FUZZ_CHECK(text && !card_number_in_json_number(text, strlen(text)),
                       "a card number stored as the number %s", text ? text : "?");
            free(text);
        }
        int items = it->string && strcmp(it->string, "items") == 0 && cJSON_IsArray(it);
        if (items)
            for (const cJSON *o = it->child; o; o = o->next)
                check_no_card(o->child, 1);
        else if (cJSON_IsObject(it) || cJSON_IsArray(it))
            check_no_card(it->child, 0);
    }
}

static void check_body(const uint8_t *line, size_t len, const struct sale *s)
{
    FUZZ_CHECK(s->body != NULL, "accepted without a body");
    FUZZ_CHECK(memchr(s->body, '\0', s->body_len) == NULL && s->body[s->body_len] == '\0',
               "body_len %zu is not the body's length %zu", s->body_len, strlen(s->body));
    FUZZ_CHECK(!has_escaped_nul((const char *)line, len), "a string with U+0000 was accepted");

    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(s->body, s->body_len, &end, 0);
    FUZZ_CHECK(cJSON_IsObject(body) && end == s->body + s->body_len,
               "the body is not one JSON object: %s", s->body);
    check_no_card(body->child, 0);
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
        check_refusal(rc, &s, err, data, size);
        return 0;
    }
    check_body(data, size, &s);
    sale_free(&s);
    return 0;
}
