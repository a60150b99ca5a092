/*
 * sale_parse() against the contract's POS intake rules: the normalised record, one error per
 * rule (named by field), malformed requests, and card numbers refused wherever they appear
 * without the error ever repeating them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sale.h"

/* The contract's example request. */
#define EXAMPLE                                                                                    \
    "{\"event\": \"sale.completed\", \"txn\": \"000123\", \"at\": \"2026-04-07T19:45:00+01:00\","  \
    " \"total\": 12750, \"currency\": \"GBP\","                                                    \
    " \"customer\": {\"email\": \"jane@example.com\", \"phone\": \"+447700900123\","               \
    " \"first_name\": \"Jane\", \"last_name\": \"Doe\", \"id\": \"LOYAL-889\"},"                   \
    " \"items\": [{\"sku\": \"A1\", \"name\": \"Latte\", \"qty\": 2, \"unit_price\": 375}]}"

#define S10   "abcdefghij"
#define TXN64 S10 S10 S10 S10 S10 S10 "ABCD"

static char err[512];

static int parse_str(const char *line, struct sale *s)
{
    memset(err, 0, sizeof err);
    return sale_parse(line, strlen(line), s, err, sizeof err);
}

/*
 * The example with one change: the value at path (dot-separated, array indexes as numbers,
 * e.g. "items.0.qty") replaced by, or added as, the JSON text value; value NULL removes it.
 * Returns a malloc'd request line.
 */
static char *example_with(const char *path, const char *value)
{
    cJSON *root = cJSON_Parse(EXAMPLE);
    assert_non_null(root);
    if (path)
        json_edit(root, path, value);
    char *line = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(line);
    return line;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the valid sale and its normalised record ---- */

static void assert_string_member(const cJSON *obj, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v))
        fail_msg("normalised body: %s missing or not a string", key);
    assert_string_equal(v->valuestring, want);
}

static void assert_number_member(const cJSON *obj, const char *key, double want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        fail_msg("normalised body: %s missing or not a number", key);
    assert_true(v->valuedouble == want);
}

static void test_example_normalised(void **state)
{
    (void)state;
    /* the example plus a source, unknown top-level fields and unknown nested ones */
    char *line = example_with("source", "\"till-3\"");
    cJSON *req = cJSON_Parse(line);
    free(line);
    cJSON_AddStringToObject(req, "note", "leave by the door");
    cJSON_AddNumberToObject(req, "tip", 100);
    cJSON_AddItemToObject(req, "loyalty", cJSON_Parse("{\"points\": 12}"));
    cJSON_AddStringToObject(cJSON_GetObjectItem(req, "customer"), "nickname", "JD");
    cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(req, "items"), 0), "colour",
                            "blue");
    line = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);

    struct sale s;
    int rc = parse_str(line, &s);
    free(line);
    if (rc != 0)
        fail_msg("example refused: %s", err);
    assert_string_equal(s.txn, "000123");
    assert_non_null(s.body);
    assert_int_equal(s.body_len, strlen(s.body));

    cJSON *body = cJSON_Parse(s.body);
    assert_non_null(body);
    assert_true(cJSON_IsObject(body));
    /* exactly the contract's fields, the event implied by the record */
    static const char *const want_keys[] = {"txn",      "at",    "total", "currency",
                                            "customer", "items", "source"};
    assert_int_equal(cJSON_GetArraySize(body), 7);
    for (size_t i = 0; i < sizeof want_keys / sizeof *want_keys; i++)
        if (!cJSON_GetObjectItemCaseSensitive(body, want_keys[i]))
            fail_msg("normalised body lacks %s: %s", want_keys[i], s.body);
    assert_string_member(body, "txn", "000123");
    assert_string_member(body, "at", "2026-04-07T19:45:00+01:00");
    assert_number_member(body, "total", 12750);
    assert_string_member(body, "currency", "GBP");
    assert_string_member(body, "source", "till-3");

    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(body, "customer");
    assert_true(cJSON_IsObject(cust));
    assert_int_equal(cJSON_GetArraySize(cust), 5); /* "nickname" dropped */
    assert_string_member(cust, "email", "jane@example.com");
    assert_string_member(cust, "phone", "+447700900123");
    assert_string_member(cust, "first_name", "Jane");
    assert_string_member(cust, "last_name", "Doe");
    assert_string_member(cust, "id", "LOYAL-889");

    const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
    assert_true(cJSON_IsArray(items));
    assert_int_equal(cJSON_GetArraySize(items), 1);
    const cJSON *item = cJSON_GetArrayItem(items, 0);
    assert_int_equal(cJSON_GetArraySize(item), 4); /* "colour" dropped */
    assert_string_member(item, "sku", "A1");
    assert_string_member(item, "name", "Latte");
    assert_number_member(item, "qty", 2);
    assert_number_member(item, "unit_price", 375);

    assert_null(strstr(s.body, "leave by the door"));
    assert_null(strstr(s.body, "loyalty"));
    assert_null(strstr(s.body, "sale.completed"));
    cJSON_Delete(body);
    sale_free(&s);
    assert_null(s.body);
}

static void test_minimal_sale(void **state)
{
    (void)state;
    /* no customer, items or source: none appear in the record */
    const char *line = "{\"event\":\"sale.completed\",\"txn\":\"A.b_c:d-1\","
                       "\"at\":\"2026-04-07T18:45:00Z\",\"total\":0,\"currency\":\"EUR\"}";
    struct sale s;
    if (parse_str(line, &s) != 0)
        fail_msg("minimal sale refused: %s", err);
    assert_string_equal(s.txn, "A.b_c:d-1");
    cJSON *body = cJSON_Parse(s.body);
    assert_non_null(body);
    assert_int_equal(cJSON_GetArraySize(body), 4);
    assert_string_member(body, "txn", "A.b_c:d-1");
    assert_string_member(body, "at", "2026-04-07T18:45:00Z");
    assert_number_member(body, "total", 0);
    assert_string_member(body, "currency", "EUR");
    assert_null(cJSON_GetObjectItem(body, "source"));
    assert_null(cJSON_GetObjectItem(body, "customer"));
    assert_null(cJSON_GetObjectItem(body, "items"));
    cJSON_Delete(body);
    sale_free(&s);
}

/* ---- accepted edge values ---- */

struct edit {
    const char *path;
    const char *value; /* JSON text; NULL removes the field */
};

static void test_edge_values_accepted(void **state)
{
    (void)state;
    static const struct edit cases[] = {
        {"total", "0"},
        {"total", "1000000000000"},
        {"total", "12750.0"},
        {"at", "\"2026-04-07T19:45:00.5+01:00\""},
        {"at", "\"2026-04-07T19:45:00.123456789Z\""},
        {"at", "\"2026-04-07t19:45:00z\""},
        {"at", "\"2026-04-07T19:45:00-05:30\""},
        {"at", "\"2028-02-29T12:00:00Z\""}, /* leap day */
        {"at", "\"2000-02-29T12:00:00Z\""}, /* divisible by 400: a leap year */
        {"at", "\"2026-12-31T23:59:59Z\""},
        {"txn", "\"0\""},
        {"txn", "\"" TXN64 "\""},
        {"txn", "\"A-z.0_9:\""},
        {"currency", "\"JPY\""},
        {"currency", "\"USD\""},
        {"customer", "{}"},
        {"customer", "{\"email\": \"a@b\"}"},
        {"items", "[]"},
        {"items.0.qty", "0.5"}, /* weighed goods */
        {"source", "\"kiosk\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *line = example_with(cases[i].path, cases[i].value);
        struct sale s;
        if (parse_str(line, &s) != 0)
            fail_msg("%s = %s refused: %s", cases[i].path, cases[i].value, err);
        /* the edited value reaches the record unchanged */
        cJSON *body = cJSON_Parse(s.body), *want = cJSON_Parse(cases[i].value);
        const cJSON *got = body;
        char buf[64], *tok, *save = NULL;
        snprintf(buf, sizeof buf, "%s", cases[i].path);
        for (tok = strtok_r(buf, ".", &save); tok && got; tok = strtok_r(NULL, ".", &save))
            got = cJSON_IsArray(got) ? cJSON_GetArrayItem(got, atoi(tok))
                                     : cJSON_GetObjectItemCaseSensitive(got, tok);
        if (!got || !cJSON_Compare(got, want, 1))
            fail_msg("%s = %s: record holds %s", cases[i].path, cases[i].value, s.body);
        cJSON_Delete(want);
        cJSON_Delete(body);
        sale_free(&s);
        free(line);
    }
}

static void test_500_items_accepted(void **state)
{
    (void)state;
    cJSON *req = cJSON_Parse(EXAMPLE);
    cJSON *items = cJSON_GetObjectItem(req, "items");
    for (int i = 1; i < 500; i++)
        cJSON_AddItemToArray(items, cJSON_Parse("{\"sku\":\"B\",\"name\":\"Bun\",\"qty\":1,"
                                                "\"unit_price\":150}"));
    assert_int_equal(cJSON_GetArraySize(items), 500);
    char *line = cJSON_PrintUnformatted(req);
    struct sale s;
    if (parse_str(line, &s) != 0)
        fail_msg("500 items refused: %s", err);
    cJSON *body = cJSON_Parse(s.body);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body, "items")), 500);
    cJSON_Delete(body);
    sale_free(&s);
    free(line);

    /* one more is one too many */
    cJSON_AddItemToArray(items, cJSON_Parse("{\"sku\":\"B\",\"name\":\"Bun\",\"qty\":1,"
                                            "\"unit_price\":150}"));
    line = cJSON_PrintUnformatted(req);
    assert_int_equal(parse_str(line, &s), -1);
    assert_null(s.body);
    assert_true(starts_with(err, "items:"));
    free(line);
    cJSON_Delete(req);
}

/* ---- one error per contract rule ---- */

struct rule_case {
    const char *path;
    const char *value;  /* JSON text; NULL removes the field */
    const char *prefix; /* the error starts with this */
};

static void test_rules(void **state)
{
    (void)state;
    static const struct rule_case cases[] = {
        /* event */
        {"event", NULL, "event:"},
        {"event", "5", "event:"},
        {"event", "null", "event:"},
        {"event", "\"sale.refunded\"", "event:"},
        {"event", "\"Sale.Completed\"", "event:"},
        {"event", "\"\"", "event:"},
        /* txn */
        {"txn", NULL, "txn:"},
        {"txn", "\"\"", "txn:"},
        {"txn", "123", "txn:"},
        {"txn", "\"" TXN64 "X\"", "txn:"}, /* 65 characters */
        {"txn", "\"a b\"", "txn:"},
        {"txn", "\"a/b\"", "txn:"},
        {"txn", "\"tx#1\"", "txn:"},
        {"txn", "\"caf\\u00e9\"", "txn:"},
        {"txn", "\"abc\\n\"", "txn:"},
        /* at */
        {"at", NULL, "at:"},
        {"at", "1775587500", "at:"},
        {"at", "\"yesterday\"", "at:"},
        {"at", "\"2026-02-30T10:00:00Z\"", "at:"}, /* Feb 30 */
        {"at", "\"2026-02-29T10:00:00Z\"", "at:"}, /* 2026 is no leap year */
        {"at", "\"2100-02-29T10:00:00Z\"", "at:"}, /* nor is 2100 */
        {"at", "\"2026-04-31T10:00:00Z\"", "at:"},
        {"at", "\"2026-13-01T10:00:00Z\"", "at:"},
        {"at", "\"2026-00-01T10:00:00Z\"", "at:"},
        {"at", "\"2026-04-00T10:00:00Z\"", "at:"},
        {"at", "\"2026-04-07T19:45:00\"", "at:"},     /* no offset */
        {"at", "\"2026-04-07T19:45:00.250\"", "at:"}, /* no offset, fraction */
        {"at", "\"2026-04-07T24:00:00Z\"", "at:"},    /* hour 24 */
        {"at", "\"2026-04-07T19:60:00Z\"", "at:"},
        {"at", "\"2026-04-07T19:45:61Z\"", "at:"},
        {"at", "\"2026-04-07T19:45:00.Z\"", "at:"}, /* empty fraction */
        {"at", "\"2026-04-07T19:45:00+0100\"", "at:"},
        {"at", "\"2026-04-07T19:45:00+01\"", "at:"},
        {"at", "\"2026-04-07T19:45:00+24:00\"", "at:"},
        {"at", "\"2026-04-07T19:45:00ZZ\"", "at:"},
        {"at", "\"2026-04-07\"", "at:"},
        {"at", "\"2026-4-7T19:45:00Z\"", "at:"},
        {"at", "\"2026-04-07X19:45:00Z\"", "at:"},
        /* total */
        {"total", NULL, "total:"},
        {"total", "127.5", "total:"},
        {"total", "-1", "total:"},
        {"total", "1000000000001", "total:"},
        {"total", "1e13", "total:"},
        {"total", "\"12750\"", "total:"},
        {"total", "true", "total:"},
        {"total", "null", "total:"},
        /* currency */
        {"currency", NULL, "currency:"},
        {"currency", "\"gbp\"", "currency:"},
        {"currency", "\"Gbp\"", "currency:"},
        {"currency", "\"ABC\"", "currency:"},
        {"currency", "\"XXX\"", "currency:"},
        {"currency", "\"GB\"", "currency:"},
        {"currency", "\"GBPX\"", "currency:"},
        {"currency", "\"\"", "currency:"},
        {"currency", "826", "currency:"},
        /* customer */
        {"customer", "\"jane@example.com\"", "customer:"},
        {"customer", "[]", "customer:"},
        {"customer", "42", "customer:"},
        {"customer.email", "\"jane.example.com\"", "customer.email:"},
        {"customer.email", "\"@example.com\"", "customer.email:"},
        {"customer.email", "\"jane@\"", "customer.email:"},
        {"customer.email", "\"jane@a@b\"", "customer.email:"},
        {"customer.email", "\"jane doe@example.com\"", "customer.email:"},
        {"customer.email", "\"\"", "customer.email:"},
        {"customer.email", "7", "customer.email:"},
        {"customer.phone", "447700900123", "customer.phone:"},
        {"customer.first_name", "null", "customer.first_name:"},
        {"customer.last_name", "[\"Doe\"]", "customer.last_name:"},
        {"customer.id", "889", "customer.id:"},
        /* items */
        {"items", "{}", "items:"},
        {"items", "\"Latte\"", "items:"},
        {"items", "2", "items:"},
        {"items.0", "\"Latte\"", "items[0]:"},
        {"items.0.qty", "0", "items[0].qty:"},
        {"items.0.qty", "-1", "items[0].qty:"},
        {"items.0.qty", "\"2\"", "items[0].qty:"},
        {"items.0.qty", NULL, "items[0].qty:"},
        {"items.0.unit_price", NULL, "items[0].unit_price:"},
        {"items.0.unit_price", "3.75", "items[0].unit_price:"},
        {"items.0.unit_price", "\"375\"", "items[0].unit_price:"},
        {"items.0.unit_price", "1000000000001", "items[0].unit_price:"},
        {"items.0.sku", NULL, "items[0].sku:"},
        {"items.0.name", NULL, "items[0].name:"},
        {"items.0.name", "5", "items[0].name:"},
        {"items.1", "{\"sku\":\"B\",\"name\":\"Bun\",\"qty\":0,\"unit_price\":1}", "items[1].qty:"},
        /* source */
        {"source", "\"\"", "source:"},
        {"source", "5", "source:"},
        {"source", "null", "source:"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct rule_case *c = &cases[i];
        char *line = example_with(c->path, c->value);
        struct sale s;
        int rc = parse_str(line, &s);
        const char *why = NULL;
        if (rc != -1)
            why = "accepted";
        else if (s.body)
            why = "refused, yet a body was produced";
        else if (!starts_with(err, c->prefix))
            why = "wrong field named";
        else if (strlen(err) <= strlen(c->prefix) + 1)
            why = "no reason given";
        /* the reason never repeats the offending value */
        else if (c->value && c->value[0] == '"' && strlen(c->value) > 5) {
            char raw[128];
            snprintf(raw, sizeof raw, "%.*s", (int)strlen(c->value) - 2, c->value + 1);
            if (strstr(err, raw))
                why = "error repeats the value";
        }
        if (why) {
            print_error("%s = %s: %s (rc %d, err \"%s\")\n", c->path,
                        c->value ? c->value : "(none)", why, rc, err);
            bad++;
        }
        if (rc == 0)
            sale_free(&s);
        free(line);
    }
    assert_int_equal(bad, 0);
}

/* ---- malformed requests ---- */

struct raw_case {
    const char *line;
    size_t len; /* 0: strlen */
    const char *prefix;
};

#define SALE_FIELDS                                                                                \
    "\"event\":\"sale.completed\",\"at\":\"2026-04-07T19:45:00Z\",\"total\":1,\"currency\":"       \
    "\"GBP\""

static void test_raw_requests_refused(void **state)
{
    (void)state;
    static const struct raw_case cases[] = {
        /* duplicate keys: which one the POS meant is anybody's guess */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"txn\":\"2\"}", 0, "txn:"},
        {"{\"txn\":\"1\",\"txn\":\"1\"," SALE_FIELDS "}", 0, "txn:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"total\":2}", 0, "total:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"currency\":\"EUR\"}", 0, "currency:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"event\":\"sale.completed\"}", 0, "event:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"source\":\"a\",\"source\":\"b\"}", 0, "source:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{},\"customer\":{}}", 0, "customer:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"email\":\"a@b\",\"email\":\"c@d\"}}", 0,
         "customer.email:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[],\"items\":[]}", 0, "items:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"sku\":\"B\",\"name\":\"N\","
         "\"qty\":1,\"unit_price\":1}]}",
         0, "items[0].sku:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\",\"qty\":1,"
         "\"qty\":1000,\"unit_price\":1}]}",
         0, "items[0].qty:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\",\"qty\":1,"
         "\"unit_price\":1,\"unit_price\":-1}]}",
         0, "items[0].unit_price:"},
        /* invalid UTF-8 */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\xff\"}", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"caf\xe9\"}", 0, "request:"},  /* Latin-1 */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\xc0\xaf\"}", 0, "request:"}, /* overlong */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\xed\xa0\x80\"}", 0,
         "request:"}, /* surrogate */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\xf4\x90\x80\x80\"}", 0,
         "request:"},                                                             /* > U+10FFFF */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\xe2\x82\"}", 0, "request:"}, /* truncated */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\x80\"}", 0, "request:"},
        /* raw control characters: invalid JSON that cJSON would pass, each growing 6x when stored
         */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"a\x01b\"}", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"first_name\":\"\x1f\"}}", 0, "request:"},
        /* not JSON, not one object */
        {"", 0, "request:"},
        {"hello", 0, "request:"},
        {"{", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS, 0, "request:"},
        {"{'txn':'1'}", 0, "request:"},
        {"[{\"txn\":\"1\"," SALE_FIELDS "}]", 0, "request:"},
        {"\"sale.completed\"", 0, "request:"},
        {"null", 0, "request:"},
        {"42", 0, "request:"},
        /* trailing garbage */
        {"{\"txn\":\"1\"," SALE_FIELDS "} x", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS "}}", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS "}{}", 0, "request:"},
        {"{\"txn\":\"1\"," SALE_FIELDS "} {\"txn\":\"2\"," SALE_FIELDS "}", 0, "request:"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct raw_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->line);
        struct sale s;
        memset(err, 0, sizeof err);
        int rc = sale_parse(c->line, len, &s, err, sizeof err);
        if (rc != -1 || s.body || !starts_with(err, c->prefix)) {
            print_error("case %zu (%s): rc %d, err \"%s\", expected \"%s ...\"\n", i, c->line, rc,
                        err, c->prefix);
            bad++;
        }
        if (rc == 0)
            sale_free(&s);
    }
    assert_int_equal(bad, 0);
}

static void test_length_is_respected(void **state)
{
    (void)state;
    /* The line is given by length: no NUL needed, bytes past it never read. */
    const char *full = "{\"txn\":\"1\"," SALE_FIELDS "}";
    size_t n = strlen(full);
    char *buf = malloc(n + 10);
    memcpy(buf, full, n);
    memcpy(buf + n, "GARBAGE!!!", 10); /* no NUL */
    struct sale s;
    memset(err, 0, sizeof err);
    if (sale_parse(buf, n, &s, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
    assert_string_equal(s.txn, "1");
    sale_free(&s);
    /* one byte short: the closing brace is missing */
    assert_int_equal(sale_parse(buf, n - 1, &s, err, sizeof err), -1);
    assert_true(starts_with(err, "request:"));
    free(buf);
}

/* ---- card numbers ---- */

struct card_case {
    const char *path;
    const char *value;
    const char *digits[3]; /* none of these may appear in the error */
};

static void assert_card_refused(const char *what, const char *line, const char *const *digits)
{
    struct sale s;
    int rc = parse_str(line, &s);
    if (rc != -1 || s.body)
        fail_msg("%s: accepted (rc %d)", what, rc);
    if (!strstr(err, "card"))
        fail_msg("%s: refused for another reason: %s", what, err);
    for (int k = 0; k < 3 && digits[k]; k++)
        if (strstr(err, digits[k]))
            fail_msg("%s: error repeats card digits: %s", what, err);
    /* and no run of 4+ digits at all */
    for (const char *p = err; *p; p++)
        if (strspn(p, "0123456789") >= 4)
            fail_msg("%s: error holds a digit run: %s", what, err);
}

static void test_card_numbers_refused(void **state)
{
    (void)state;
#define VISA                                                                                       \
    {                                                                                              \
        "4111", "1111", NULL                                                                       \
    }
    static const struct card_case cases[] = {
        {"customer.first_name", "\"4111111111111111\"", VISA},
        {"customer.last_name", "\"4111 1111 1111 1111\"", VISA},
        {"customer.phone", "\"4111-1111-1111-1111\"", VISA},
        {"customer.id", "\"card 4111111111111111 thanks\"", VISA},
        {"customer.email", "\"4111111111111111@example.com\"", VISA},
        {"items.0.name", "\"4111111111111111\"", VISA},
        {"items.0.sku", "\"378282246310005\"", {"3782", "8224", "6310"}},
        {"items.0.name", "\"Latte (paid 5555 5555 5555 4444)\"", {"5555", "4444", NULL}},
        {"note", "\"4111111111111111\"", VISA},             /* an unknown field */
        {"note", "\"card 4111111111111111 thanks\"", VISA}, /* embedded in text */
        {"note", "4111111111111111", VISA},                 /* a JSON number */
        {"note", "-4111111111111111", VISA},
        {"note", "4111111111111111.0", VISA},
        {"note", "[\"x\", \"6011111111111117\"]", {"6011", "1111", NULL}}, /* in an array */
        {"note", "{\"deep\": {\"pan\": \"4222222222222\"}}", {"4222", "2222", NULL}},
        {"customer.extra", "\"4111111111111111\"", VISA}, /* unknown nested field */
        {"items.0.pan", "4111111111111111", VISA},
        {"txn", "\"4111111111111111\"", VISA}, /* a valid txn by charset, still a card */
        {"source", "\"4111-1111-1111-1111\"", VISA},
        {"total", "4111111111111111", VISA}, /* refused as a card, not merely as > 10^12 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *line = example_with(cases[i].path, cases[i].value);
        char what[160];
        snprintf(what, sizeof what, "%s = %s", cases[i].path, cases[i].value);
        assert_card_refused(what, line, cases[i].digits);
        free(line);
    }

    /* a card number as a key, top level and nested */
    static const char *const keys[] = {
        "{\"4111111111111111\":\"x\",\"txn\":\"1\"," SALE_FIELDS "}",
        "{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"4111 1111 1111 1111\":\"x\"}}",
        "{\"txn\":\"1\"," SALE_FIELDS ",\"extra\":{\"card 4111-1111-1111-1111\":1}}",
    };
    static const char *const visa[] = VISA;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_card_refused(keys[i], keys[i], visa);

    /* 19 digits as a JSON number: a double cannot hold them, so the request text is checked */
    static const char *const long_pan[] = {"6212", "3456", NULL};
    const char *raw = "{\"txn\":\"1\"," SALE_FIELDS ",\"note\":6212345678901234569}";
    assert_card_refused(raw, raw, long_pan);
#undef VISA
}

static void test_other_digit_strings_accepted(void **state)
{
    (void)state;
    static const struct edit cases[] = {
        {"customer.phone", "\"+447700900123\""}, /* 12 digits */
        {"customer.phone", "\"+44 7700 900123\""},
        {"txn", "\"000123\""},
        {"txn", "\"0000000000000000\""}, /* 16 zeros pass Luhn, but no card */
        {"customer.id", "\"0000000000000000\""},
        {"customer.id", "\"4111111111111112\""}, /* Luhn fails */
        {"items.0.sku", "\"4111 1111 1111 1112\""},
        {"items.0.sku", "\"41111111111111111111\""}, /* 20 digits */
        {"items.0.name", "\"Latte 2026-04-07 12 34\""},
        {"note", "4111111111111112"}, /* a number, Luhn fails */
        {"total", "1000000000000"},   /* 13 digits, Luhn fails */
        {"items.0.unit_price", "999999999999"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *line = example_with(cases[i].path, cases[i].value);
        struct sale s;
        if (parse_str(line, &s) != 0)
            fail_msg("%s = %s refused: %s", cases[i].path, cases[i].value, err);
        sale_free(&s);
        free(line);
    }
}

/* ---- U+0000: cJSON decodes \u0000 into a NUL that silently cuts the string ---- */

static void test_nul_refused(void **state)
{
    (void)state;
    static const struct raw_case cases[] = {
        /* "a\u0000b" was acknowledged as a duplicate of txn "a" (issue 9 observation 4) */
        {"{\"txn\":\"a\\u0000b\"," SALE_FIELDS "}", 0, "txn: must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"first_name\":\"Bob\\u0000Smith\"}}", 0,
         "customer.first_name: must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"email\":\"a@b\\u0000.evil\"}}", 0,
         "customer.email: must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\",\"qty\":1,"
         "\"unit_price\":1},{\"sku\":\"A\\u0000\",\"name\":\"N\",\"qty\":1,\"unit_price\":1}]}",
         0, "items[1].sku: must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"source\":\"\\u0000\"}", 0,
         "source: must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":[\"x\",\"\\u0000\"]}", 0,
         "note[1]: must not contain U+0000"},
        /* an escaped backslash, then a real \u0000 */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"note\":\"\\\\\\u0000\"}", 0,
         "note: must not contain U+0000"},
        /* in keys: the key itself cannot be named, the object holding it is */
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"tx\\u0000n\":\"2\"}", 0,
         "request: a key must not contain U+0000"},
        {"{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"first_name\\u0000\":\"Bob\"}}", 0,
         "customer: a key must not contain U+0000"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct raw_case *c = &cases[i];
        struct sale s;
        memset(err, 0, sizeof err);
        int rc = sale_parse(c->line, strlen(c->line), &s, err, sizeof err);
        if (rc != -1 || s.body || strcmp(err, c->prefix) != 0) {
            print_error("case %zu (%s): rc %d, err \"%s\", expected \"%s\"\n", i, c->line, rc, err,
                        c->prefix);
            bad++;
        }
        if (rc == 0)
            sale_free(&s);
    }
    assert_int_equal(bad, 0);
}

static void test_long_field_name_cut_whole(void **state)
{
    (void)state;
    /* the error names an unknown field by its key; cut short, it keeps whole characters */
    char line[1024];
    char key[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(key, "\xc3\xa9"); /* e-acute, two bytes */
    snprintf(line, sizeof line, "{\"txn\":\"1\"," SALE_FIELDS ",\"xy%s\":\"\\u0000\"}", key);
    struct sale s;
    assert_int_equal(parse_str(line, &s), -1);
    assert_true(strstr(err, ": must not contain U+0000") != NULL);
    assert_true(sale_valid_utf8(err, strlen(err)));
}

static void test_escaped_backslash_is_not_nul(void **state)
{
    (void)state;
    /* "\\u0000" is a backslash followed by "u0000": six characters, no NUL */
    const char *line =
        "{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"first_name\":\"Bob\\\\u0000Smith\"}}";
    struct sale s;
    if (parse_str(line, &s) != 0)
        fail_msg("refused: %s", err);
    cJSON *body = cJSON_Parse(s.body);
    assert_string_member(cJSON_GetObjectItem(body, "customer"), "first_name", "Bob\\u0000Smith");
    cJSON_Delete(body);
    sale_free(&s);
}

/* ---- the card rule: a payment card number by its network's rules (issue 9 observation 5) ---- */

static void test_card_error_names_field(void **state)
{
    (void)state;
    static const struct edit cases[] = {
        {"customer.first_name", "\"4111111111111111\""},
        {"txn", "\"5555-5555-5555-4444\""},
        {"items.0.sku", "\"3782 822463 10005\""},
        {"items.0.qty", "3.78282246310005e-1"},
    };
    static const char *const want[] = {
        "customer.first_name: is a payment card number; card data is never stored",
        "txn: is a payment card number; card data is never stored",
        "items[0].sku: is a payment card number; card data is never stored",
        "items[0].qty: is a payment card number; card data is never stored",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* written raw: cJSON would reprint the number */
        char *line = example_with(cases[i].path, "\"@@\"");
        char *at = strstr(line, "\"@@\"");
        char *raw = malloc(strlen(line) + strlen(cases[i].value) + 1);
        sprintf(raw, "%.*s%s%s", (int)(at - line), line, cases[i].value, at + 4);
        struct sale s;
        if (parse_str(raw, &s) != -1)
            fail_msg("%s = %s accepted", cases[i].path, cases[i].value);
        assert_string_equal(err, want[i]);
        free(raw);
        free(line);
    }
    /* a key is refused by the object that holds it */
    struct sale s;
    const char *key = "{\"txn\":\"1\"," SALE_FIELDS ",\"customer\":{\"4111 1111 1111 1111\":1}}";
    assert_int_equal(parse_str(key, &s), -1);
    assert_string_equal(err, "customer: a key is a payment card number; card data is never stored");
}

static void test_card_hiding_refused(void **state)
{
    (void)state;
    /* what the issue saw stored */
    static const char *const values[] = {
        "\"qty\": 3.78282246310005e-1",
        "\"qty\": 378282246310005e0",
        "\"qty\": 0.378282246310005",
        "\"note\": 51051051051051e2",
        "\"note\": 6799990100000000019",
        "\"note\": \"4111  1111  1111  1111\"",
        "\"note\": \"4111 - 1111 - 1111 - 1111\"",
        "\"note\": \"4111.1111.1111.1111\"",
        "\"note\": \"4111/1111/1111/1111\"",
        "\"note\": \"4111_1111_1111_1111\"",
        "\"note\": \"4111\\t1111\\t1111\\t1111\"",
        "\"note\": \"4111\302\2401111\302\2401111\302\2401111\"", /* NBSP */
        "\"note\": \"4111\\u00a01111\\u00a01111\\u00a01111\"",
        "\"note\": \"4111\342\200\2571111 \342\200\223 1111.1111\"", /* U+202F, en dash */
        "\"note\": \"card: 5555 5555 5555 4444, exp 12/30\"",
    };
    static const char *const visa[] = {"4111", "1111", NULL};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char line[512];
        if (strncmp(values[i], "\"qty\"", 5) == 0)
            snprintf(line, sizeof line,
                     "{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\",%s,"
                     "\"unit_price\":1}]}",
                     values[i]);
        else
            snprintf(line, sizeof line, "{\"txn\":\"1\"," SALE_FIELDS ",%s}", values[i]);
        assert_card_refused(values[i], line, visa);
    }
}

static void test_stored_body_holds_no_card(void **state)
{
    (void)state;
    /* Not card numbers as sent; the stored record prints each back from its double, and those
     * digits are: 63395328994218259 (17) and 606839271198771 (15), Maestro's range, Luhn-valid. */
    static const char *const lines[] = {
        "{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\","
        "\"qty\":0.6339532899421826,\"unit_price\":1}]}",
        "{\"txn\":\"1\"," SALE_FIELDS ",\"items\":[{\"sku\":\"A\",\"name\":\"N\","
        "\"qty\":0.6068392711987709,\"unit_price\":1}]}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct sale s;
        if (parse_str(lines[i], &s) == 0) {
            fail_msg("accepted; stored as %s", s.body);
        }
        assert_null(s.body);
        assert_string_equal(err,
                            "items[0].qty: is a payment card number; card data is never stored");
    }
}

static void test_not_card_numbers_accepted(void **state)
{
    (void)state;
    static const struct edit cases[] = {
        /* GS1-valid item codes whose digits also pass Luhn: the old rule refused each */
        {"items.0.sku", "\"4006380000094\""},  /* EAN-13, Germany; Visa's prefix, 13 digits */
        {"items.0.sku", "\"5012340000041\""},  /* EAN-13, UK; Maestro's prefix */
        {"items.0.sku", "\"6901230000096\""},  /* EAN-13, China */
        {"items.0.sku", "\"30012345000011\""}, /* GTIN-14; Diners Club's prefix */
        {"items.0.sku", "\"036000000061\""},   /* UPC-A */
        /* Luhn-valid, but no network issues such a number */
        {"txn", "\"2026040704201005\""},                /* date, store, sequence: 16 digits */
        {"customer.id", "\"2900012000013\""},           /* 13-digit in-store loyalty number */
        {"customer.id", "\"0000000000000000\""},        /* no card starts with 0 */
        {"items.0.name", "\"Latte 2026-04-07 12 34\""}, /* digits across separators */
        {"customer.phone", "\"+44 7700 900123\""},
        {"items.0.qty", "0.5"},
        {"total", "1000000000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *line = example_with(cases[i].path, cases[i].value);
        struct sale s;
        if (parse_str(line, &s) != 0)
            fail_msg("%s = %s refused: %s", cases[i].path, cases[i].value, err);
        sale_free(&s);
        free(line);
    }
}

static void test_validators(void **state)
{
    (void)state;
    assert_true(sale_valid_txn("000123"));
    assert_true(sale_valid_txn(TXN64));
    assert_false(sale_valid_txn(TXN64 "X"));
    assert_false(sale_valid_txn(""));
    assert_false(sale_valid_txn("a,b"));

    assert_true(sale_valid_rfc3339("2026-04-07T19:45:00+01:00"));
    assert_true(sale_valid_rfc3339("2026-04-07T19:45:60Z")); /* a leap second */
    assert_true(sale_valid_rfc3339("2028-02-29t00:00:00.000z"));
    assert_false(sale_valid_rfc3339("2026-02-30T10:00:00Z"));
    assert_false(sale_valid_rfc3339("2026-04-07T24:00:00Z"));
    assert_false(sale_valid_rfc3339("2026-04-07T19:45:00"));
    assert_false(sale_valid_rfc3339(""));

    assert_true(sale_valid_currency("GBP"));
    assert_true(sale_valid_currency("ZWG"));
    assert_true(sale_valid_currency("ZWL")); /* the last in the table */
    assert_true(sale_valid_currency("AED"));
    assert_false(sale_valid_currency("XXX"));
    assert_false(sale_valid_currency("gbp"));
    assert_false(sale_valid_currency("GB"));
    assert_false(sale_valid_currency("AED "));

    assert_true(sale_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert_true(sale_valid_utf8("", 0));
    assert_false(sale_valid_utf8("caf\xe9", 4));
    assert_false(sale_valid_utf8("\xc0\x80", 2));
    assert_false(sale_valid_utf8("\xed\xbf\xbf", 3));
    assert_false(sale_valid_utf8("\xe2\x82\xac", 2)); /* cut by len */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_normalised),
        cmocka_unit_test(test_minimal_sale),
        cmocka_unit_test(test_edge_values_accepted),
        cmocka_unit_test(test_500_items_accepted),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_raw_requests_refused),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_card_numbers_refused),
        cmocka_unit_test(test_other_digit_strings_accepted),
        cmocka_unit_test(test_nul_refused),
        cmocka_unit_test(test_escaped_backslash_is_not_nul),
        cmocka_unit_test(test_long_field_name_cut_whole),
        cmocka_unit_test(test_card_error_names_field),
        cmocka_unit_test(test_card_hiding_refused),
        cmocka_unit_test(test_not_card_numbers_accepted),
        cmocka_unit_test(test_stored_body_holds_no_card),
        cmocka_unit_test(test_validators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
