/*
 * The Glu backend without a network (backend_table.h): the exact requests it builds from sample
 * sales (headers and bodies, byte for byte), and the verdicts the delivery engine reaches on
 * every kind of answer, the engine's common classes among them. Also the backoff's arithmetic at
 * its extremes (Retry-After: 999999999, any number of attempts).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_table.h"
#include "delivery.h"

#define CONFIG                                                                                     \
    "{\"name\":\"glu\",\"kind\":\"glu\",\"base_url\":\"https://api.glu.example\","                 \
    "\"api_key_file\":\"$DIR/api.key\",\"source\":\"till\"}"
#define AUTH "x-api-key: test-api-key"

#define SALE                                                                                       \
    "{\"txn\":\"000123\",\"at\":\"2026-04-07T19:45:00+01:00\",\"total\":12750,\"currency\":"       \
    "\"GBP\",\"customer\":{\"email\":\"jane@example.com\",\"first_name\":\"Jane\"}}"
#define REF             "T042:000123"
#define CONTACT_REQUEST "{\"emailAddress\":\"jane@example.com\",\"firstName\":\"Jane\"}"
#define ACTIVITY_OF(id, at, spend, cur, ref)                                                       \
    "{\"contact\":" id ",\"type\":\"Purchase\",\"source\":\"till\",\"happenedAt\":\"" at           \
    "\",\"spend\":" spend ",\"currencyCode\":\"" cur "\",\"externalReference\":\"" ref "\"}"
#define ACTIVITY(id) ACTIVITY_OF(id, "2026-04-07T19:45:00+01:00", "12750", "GBP", REF)

/* The contact request, answered with contact 1042. */
#define CONTACT_1042                                                                               \
    {                                                                                              \
        "POST /contacts", AUTH, CONTACT_REQUEST, 201, "{\"id\":1042}", BACKEND_SEND, NULL          \
    }
/* The activity for contact 1042, answered with (status, body) -> verdict, why. */
#define ACTIVITY_1042(status, body, verdict, why)                                                  \
    {                                                                                              \
        "POST /activities", AUTH, ACTIVITY("1042"), status, body, verdict, why                     \
    }
/* A contact answer (status, body) -> verdict, why; the case ends there. */
#define CONTACT_ANSWER(status, body, verdict, why)                                                 \
    {                                                                                              \
        "POST /contacts", AUTH, CONTACT_REQUEST, status, body, verdict, why                        \
    }
#define THEN_ACTIVITY(id)                                                                          \
    {                                                                                              \
        "POST /activities", AUTH, ACTIVITY(id), BT_UNANSWERED, NULL, 0, NULL                       \
    }
#define THEN_CONTACT                                                                               \
    {                                                                                              \
        "POST /contacts", AUTH, CONTACT_REQUEST, BT_UNANSWERED, NULL, 0, NULL                      \
    }

/* Golden requests: what each kind of customer becomes. */
static const struct bt_case golden[] = {
    {"email and first name",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_1042,
      ACTIVITY_1042(201, "{\"id\":5000,\"externalReference\":\"" REF "\"}", BACKEND_DONE, NULL)}},
    {"the same customer again: the contact from the cache, one request",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {ACTIVITY_1042(201, "{\"id\":5001}", BACKEND_DONE, NULL)}},
    {"non-ASCII names, phone and email, a local date after UTC's",
     "{\"txn\":\"A-7\",\"at\":\"2026-04-08T00:30:00+02:00\",\"total\":0,\"currency\":\"EUR\","
     "\"customer\":{\"email\":\"zoe@example.de\",\"phone\":\"+4915112345678\",\"first_name\":"
     "\"Zoë\",\"last_name\":\"Müller-Łukasz\"},\"items\":[{\"sku\":\"A1\",\"name\":\"Brötchen\","
     "\"qty\":2,\"unit_price\":0}]}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{"POST /contacts", AUTH,
       "{\"emailAddress\":\"zoe@example.de\",\"phoneNumber\":\"+4915112345678\",\"firstName\":"
       "\"Zoë\",\"lastName\":\"Müller-Łukasz\"}",
       200, "{\"id\":77}", BACKEND_SEND, NULL},
      {"POST /activities", AUTH,
       ACTIVITY_OF("77", "2026-04-08T00:30:00+02:00", "0", "EUR", "T042:A-7"), 201, "{\"id\":1}",
       BACKEND_DONE, NULL}}},
    {"phone only",
     "{\"txn\":\"9\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":500,\"currency\":\"USD\","
     "\"customer\":{\"phone\":\"+15550100\"}}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{"POST /contacts", AUTH, "{\"phoneNumber\":\"+15550100\"}", 201, "{\"id\":8}", BACKEND_SEND,
       NULL},
      {"POST /activities", AUTH, ACTIVITY_OF("8", "2026-04-07T10:00:00Z", "500", "USD", "T042:9"),
       BT_UNANSWERED, NULL, 0, NULL}}},
    {"email only, the sale's own source",
     "{\"txn\":\"10\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\","
     "\"source\":\"kiosk\",\"customer\":{\"email\":\"a@b.example\"}}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{"POST /contacts", AUTH, "{\"emailAddress\":\"a@b.example\"}", 201, "{\"id\":9}",
       BACKEND_SEND, NULL},
      {"POST /activities", AUTH,
       "{\"contact\":9,\"type\":\"Purchase\",\"source\":\"kiosk\",\"happenedAt\":\"2026-04-07T10:"
       "00:00Z\",\"spend\":1,\"currencyCode\":\"GBP\",\"externalReference\":\"T042:10\"}",
       BT_UNANSWERED, NULL, 0, NULL}}},
    {"anonymous: skipped (anonymous_sales: skip)",
     "{\"txn\":\"11\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\"}",
     NULL,
     0,
     0,
     BACKEND_SKIP,
     "anonymous_sales: skip",
     {{.request = NULL}}},
    {"names without email or phone: anonymous",
     "{\"txn\":\"12\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\","
     "\"customer\":{\"first_name\":\"Jane\",\"id\":\"LOYAL-1\"}}",
     NULL,
     0,
     0,
     BACKEND_SKIP,
     NULL,
     {{.request = NULL}}},
    {"in doubt: Glu deduplicates by externalReference, so the same requests",
     SALE,
     NULL,
     0,
     1,
     BACKEND_SEND,
     NULL,
     {CONTACT_1042, ACTIVITY_1042(200, "{\"id\":5000}", BACKEND_DONE, NULL)}},
    {"a reset after the activity went out: the same activity again",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_1042, ACTIVITY_1042(BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL),
      ACTIVITY_1042(200, "{\"id\":5000}", BACKEND_DONE, NULL)}},
};

static const struct bt_case anonymous_contact[] = {
    {"anonymous, booked to the walk-in contact",
     "{\"txn\":\"11\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\"}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{"POST /contacts", AUTH, "{\"emailAddress\":\"walk-in@shop.example\"}", BT_UNANSWERED, NULL,
       0, NULL}}},
};

#define C(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        name, SALE, NULL, 0, 0, BACKEND_SEND, NULL,                                                \
        {                                                                                          \
            CONTACT_ANSWER(status, body, verdict, why)                                             \
        }                                                                                          \
    }
#define A(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        name, SALE, NULL, 0, 0, BACKEND_SEND, NULL,                                                \
        {                                                                                          \
            CONTACT_1042, ACTIVITY_1042(status, body, verdict, why)                                \
        }                                                                                          \
    }

/* Every kind of answer, to either request. */
static const struct bt_case answers[] = {
    /* 2xx to POST /contacts: only a valid id moves the sale on. */
    {"contact created",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_ANSWER(201, "{\"id\":1042,\"emailAddress\":\"jane@example.com\"}", BACKEND_SEND,
                     NULL),
      THEN_ACTIVITY("1042")}},
    {"contact updated",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_ANSWER(200, "{\"id\":1042}", BACKEND_SEND, NULL), THEN_ACTIVITY("1042")}},
    {"id in exponent notation, a whole number",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_ANSWER(200, "{\"id\":1.042e3}", BACKEND_SEND, NULL), THEN_ACTIVITY("1042")}},
    {"largest exact id, printed as an integer",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_ANSWER(200, "{\"id\":9007199254740991}", BACKEND_SEND, NULL),
      THEN_ACTIVITY("9007199254740991")}},
    {"id 10^15 printed as an integer, not 1e+15",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_ANSWER(200, "{\"id\":1000000000000000}", BACKEND_SEND, NULL),
      THEN_ACTIVITY("1000000000000000")}},
    C("invalid JSON (a captive portal's page)", 200, "<html>Sign in</html>", BACKEND_RETRY,
      "HTTP 200 from POST /contacts: answer without a valid contact id (not a JSON object)"),
    C("empty body", 200, "", BACKEND_RETRY, "valid contact id"),
    C("a JSON array", 200, "[{\"id\":1042}]", BACKEND_RETRY, "(not a JSON object)"),
    C("string id", 200, "{\"id\":\"1000\"}", BACKEND_RETRY,
      "answer without a valid contact id (id: a string)"),
    C("no id", 201, "{\"emailAddress\":\"jane@example.com\"}", BACKEND_RETRY, "(id: missing)"),
    C("null id", 200, "{\"id\":null}", BACKEND_RETRY, "(id: null)"),
    C("id 1e300 (undefined behaviour as a long)", 200, "{\"id\":1e300}", BACKEND_RETRY,
      "(id: 1e+300)"),
    C("id -1e300", 200, "{\"id\":-1e300}", BACKEND_RETRY, "(id: -1e+300)"),
    C("id 1000.9 (would book to contact 1000)", 200, "{\"id\":1000.9}", BACKEND_RETRY,
      "(id: 1000.9)"),
    C("negative id", 200, "{\"id\":-5}", BACKEND_RETRY, "(id: -5)"),
    C("id 0", 200, "{\"id\":0}", BACKEND_RETRY, "(id: 0)"),
    C("id 2^53, beyond a double's exact integers", 200, "{\"id\":9007199254740992}", BACKEND_RETRY,
      "valid contact id"),
    /* 2xx to POST /activities: delivered only when it is the activity. */
    A("activity created", 201, "{\"id\":5000,\"externalReference\":\"" REF "\"}", BACKEND_DONE,
      NULL),
    A("the existing duplicate", 200, "{\"id\":5000,\"type\":\"Purchase\"}", BACKEND_DONE, NULL),
    A("activity: a captive portal's 200", 200, "<html>Welcome</html>", BACKEND_RETRY,
      "HTTP 200 from POST /activities: answer without a valid activity id"),
    A("activity: another sale's activity", 200,
      "{\"id\":5000,\"externalReference\":\"T042:000124\"}", BACKEND_RETRY,
      "another externalReference"),
    A("activity: id 5000.5", 201, "{\"id\":5000.5}", BACKEND_RETRY, "(id: 5000.5)"),
    /* Not an answer about the sale: the same request again after a backoff. */
    C("302 (a captive portal)", 302, "<html>moved</html>", BACKEND_RETRY,
      "HTTP 302 from POST /contacts: a redirect, not followed"),
    A("301", 301, "", BACKEND_RETRY, "HTTP 301"),
    C("307", 307, "", BACKEND_RETRY, "HTTP 307"),
    C("304", 304, "", BACKEND_RETRY, "HTTP 304"),
    C("1xx as a final answer", 101, "", BACKEND_RETRY, "HTTP 101"),
    C("408", 408, "", BACKEND_RETRY, "HTTP 408 from POST /contacts"),
    A("429", 429, "", BACKEND_RETRY, "HTTP 429"),
    C("500", 500, "", BACKEND_RETRY, "HTTP 500"),
    C("503", 503, "", BACKEND_RETRY, "HTTP 503"),
    C("a status beyond 599", 600, "", BACKEND_RETRY, "HTTP 600"),
    /* The configuration, not the sale: paused, the sale kept. */
    C("401", 401, "{\"error\":\"x-api-key: invalid\"}", BACKEND_PAUSE,
      "HTTP 401 from POST /contacts: check the API key"),
    A("403", 403, "", BACKEND_PAUSE, "check the API key"),
    C("404 on POST /contacts (base_url with an extra /v1)", 404,
      "{\"error\":\"path: no such resource: /v1/contacts\"}", BACKEND_PAUSE,
      "HTTP 404 from POST /contacts: check base_url"),
    C("405 on POST /contacts", 405, "", BACKEND_PAUSE,
      "HTTP 405 from POST /contacts: check base_url"),
    A("404 on POST /activities", 404, "", BACKEND_PAUSE,
      "HTTP 404 from POST /activities: check base_url"),
    /* Definitive refusals. */
    A("422 to the activity", 422, "{\"error\":\"spend: rejected\"}", BACKEND_DEAD,
      "HTTP 422 from POST /activities: {\"error\":\"spend: rejected\"}"),
    C("400 to the contact", 400, "{\"error\":\"body: invalid JSON\"}", BACKEND_DEAD,
      "HTTP 400 from POST /contacts: {\"error\":\"body: invalid JSON\"}"),
    /* A reason goes to logs and status: the customer a server quotes is not copied into it. */
    C("a refusal quoting the customer", 422,
      "{\"error\":\"emailAddress: jane@example.com is invalid; phone +44 7700 900123 too\"}",
      BACKEND_DEAD,
      "HTTP 422 from POST /contacts: {\"error\":\"emailAddress: <email> is invalid; phone "
      "<number> too\"}"),
    A("ids and dates are not phone numbers", 422, "{\"error\":\"contact 1042 on 2026-04-07\"}",
      BACKEND_DEAD, "{\"error\":\"contact 1042 on 2026-04-07\"}"),
    A("a reason on one line, whatever the server sent", 409, "a\nb\r\tc", BACKEND_DEAD,
      "HTTP 409 from POST /activities: a b  c"),
    /* A cached contact id refused: perhaps stale, so the contact is looked up again, and the
     * fresh id is what the activity carries; refused again with a fresh id, it is the sale's. */
    {"prime the cache",
     SALE,
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {CONTACT_1042, ACTIVITY_1042(201, "{\"id\":1}", BACKEND_DONE, NULL)}},
    {"422 to a cached contact id: looked up again",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {ACTIVITY_1042(422, "{\"error\":\"contact: no contact\"}", BACKEND_SEND, NULL),
      CONTACT_ANSWER(200, "{\"id\":2001}", BACKEND_SEND, NULL),
      {"POST /activities", AUTH, ACTIVITY("2001"), 422, "{}", BACKEND_DEAD, "HTTP 422"}}},
    {"the fresh id was cached",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {{"POST /activities", AUTH, ACTIVITY("2001"), 404, "", BACKEND_SEND, NULL}, THEN_CONTACT}},
    /* A contact answer that cannot be understood leaves nothing cached. */
    C("unusable contact answer", 200, "{\"id\":1000.9}", BACKEND_RETRY, NULL),
    {"... so the next sale asks again", SALE, NULL, 1, 0, BACKEND_SEND, NULL, {THEN_CONTACT}},
};

static void test_golden_requests(void **state)
{
    (void)state;
    assert_int_equal(bt_run_config(CONFIG, golden, sizeof golden / sizeof *golden), 0);
    assert_int_equal(
        bt_run_config("{\"name\":\"glu\",\"kind\":\"glu\",\"base_url\":\"https://api.glu.example\","
                      "\"api_key_file\":\"$DIR/api.key\",\"source\":\"till\",\"anonymous_sales\":"
                      "\"contact\",\"anonymous_contact_email\":\"walk-in@shop.example\"}",
                      anonymous_contact, 1),
        0);
}

static void test_answers(void **state)
{
    (void)state;
    assert_int_equal(bt_run_config(CONFIG, answers, sizeof answers / sizeof *answers), 0);
}

struct backoff_row {
    long base_s, max_s;
    unsigned attempts;
    int64_t retry_after_s;
    int paused;
    uint32_t random;
    uint64_t min_ms, max_ms;
};

static void test_backoff(void **state)
{
    (void)state;
    static const struct backoff_row rows_b[] = {
        {1, 300, 0, 0, 0, 0, 250, 250},           /* the floor */
        {1, 300, 0, 0, 0, UINT32_MAX, 250, 1250}, /* full jitter under the first ceiling */
        {1, 300, 3, 0, 0, UINT32_MAX, 250, 8250}, /* the ceiling doubled thrice */
        {1, 2, 0, 999999999, 0, 0, 2000, 2000},   /* Retry-After: up to the cap, no further */
        {1, 300, 0, 253402300799, 0, 0, 300000, 300000}, /* a date in 9999, in seconds */
        {1, 300, 0, INT64_MAX, 0, 7, 300000, 300000},
        {1, 300, 0, 3, 0, 0, 3000, 3000},       /* Retry-After below the cap: honoured */
        {1, 300, 0, -5, 0, 0, 250, 250},        /* a date in the past: none */
        {1, 2, 5, 0, 0, UINT32_MAX, 250, 2000}, /* jitter above the floor stays under it */
        {3600, 86400, 999, 0, 0, UINT32_MAX, 250, 86400000}, /* no overflow, however many */
        {3600, 86400, UINT32_MAX, 0, 0, 123456789, 250, 86400000},
        {1, 300, 0, 0, 1, 0, 300000, 300000}, /* paused: at the cap */
        {1, 300, 0, 999999999, 1, 0, 300000, 300000},
    };
    for (size_t i = 0; i < sizeof rows_b / sizeof *rows_b; i++) {
        const struct backoff_row *r = &rows_b[i];
        struct backend_config bc = {.retry_base_s = r->base_s, .retry_max_s = r->max_s};
        uint64_t ms = delivery_backoff_ms(&bc, r->attempts, r->retry_after_s, r->paused, r->random);
        if (ms < r->min_ms || ms > r->max_ms)
            fail_msg("row %zu: %llu ms, want %llu..%llu", i, (unsigned long long)ms,
                     (unsigned long long)r->min_ms, (unsigned long long)r->max_ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_requests),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
