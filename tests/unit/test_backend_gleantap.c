/*
 * The Gleantap backend without a network (backend_table.h): the exact requests it builds from
 * sample sales (headers and bodies, byte for byte) and the verdicts the delivery engine reaches
 * on every kind of answer to newContact and to newEvent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_table.h"
#include "config.h"

#define CONFIG_WITH(extra)                                                                         \
    "{\"name\":\"gt\",\"kind\":\"gleantap\",\"base_url\":\"https://api.gleantap.example\","        \
    "\"api_key_file\":\"$DIR/api.key\",\"secret_key_file\":\"$DIR/secret.key\",\"app_id\":"        \
    "\"app-1\",\"source\":\"till\"" extra "}"
#define CONFIG CONFIG_WITH("")
#define AUTH   "X-API-KEY: test-api-key\nX-SECRET-KEY: test-secret-key"

#define NEW_CONTACT "POST /v2/ExternalApi/newContact"
#define NEW_EVENT   "POST /v2/ExternalApi/newEvent"
#define UID         "64c000000000000000000001"
#define CONTACT_OK  "{\"status\":\"success\",\"_id\":\"" UID "\"}"
#define EVENT_OK    "{\"result\":\"success\"}"

/* A sale of txn at at, for customer (a JSON object's members), with items (an array, or none). */
#define SALE_OF(txn, at, customer)                                                                 \
    "{\"txn\":\"" txn "\",\"at\":\"" at "\",\"total\":12750,\"currency\":\"GBP\","                 \
    "\"customer\":{" customer "},\"items\":[{\"sku\":\"A1\",\"name\":\"Latte\",\"qty\":2,"         \
    "\"unit_price\":375}]}"
#define JANE                                                                                       \
    "\"email\":\"jane@example.com\",\"phone\":\"+447700900123\",\"first_name\":\"Jane\","          \
    "\"last_name\":\"Doe\",\"id\":\"LOYAL-889\""
#define SALE                             SALE_OF("000123", "2026-04-07T19:45:00+01:00", JANE)
#define JANE_IDENT                       "\"email\":\"jane@example.com\",\"phone\":\"+447700900123\""
#define CONTACT_BODY(names_and_identity) "{\"app_id\":\"app-1\"," names_and_identity "}"
#define JANE_CONTACT                     CONTACT_BODY("\"first_name\":\"Jane\",\"last_name\":\"Doe\"," JANE_IDENT)
#define ITEMS                            "[{\"sku\":\"A1\",\"name\":\"Latte\",\"qty\":2,\"unit_price\":375}]"
/* The event for user uid, identity (email and/or phone members), date, time, txn. */
#define EVENT_OF(uid, identity, date, time, txn)                                                   \
    "{\"app_id\":\"app-1\",\"user_id\":\"" uid "\"," identity ",\"event_type\":\"purchase\","      \
    "\"event_date\":\"" date "\",\"event_time\":\"" time "\",\"id\":\"T042:" txn "\","             \
    "\"is_purchase\":true,\"event_data\":{\"total\":12750,\"currency\":\"GBP\",\"txn\":\"" txn     \
    "\",\"source\":\"till\",\"items\":" ITEMS "}}"
#define JANE_EVENT(uid) EVENT_OF(uid, JANE_IDENT, "2026-04-07", "19:45:00", "000123")

/* Jane's contact answered (status, body) -> verdict, why. */
#define CONTACT(status, body, verdict, why)                                                        \
    {                                                                                              \
        NEW_CONTACT, AUTH, JANE_CONTACT, status, body, verdict, why                                \
    }
#define CONTACT_SENT CONTACT(200, CONTACT_OK, BACKEND_SEND, NULL)
#define EVENT(uid, status, body, verdict, why)                                                     \
    {                                                                                              \
        NEW_EVENT, AUTH, JANE_EVENT(uid), status, body, verdict, why                               \
    }
#define THEN_EVENT(uid) EVENT(uid, BT_UNANSWERED, NULL, 0, NULL)
#define THEN_CONTACT    CONTACT(BT_UNANSWERED, NULL, 0, NULL)

/* A case: the sale's customer, then its exchanges (contact, event). */
#define CASE(name, sale, ...)                                                                      \
    {                                                                                              \
        name, sale, NULL, 0, 0, BACKEND_SEND, NULL,                                                \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define GUEST "\"first_name\":\"Guest\",\"last_name\":\"Customer\""

static const struct bt_case golden[] = {
    CASE("a full customer: contact, then the event on its _id", SALE, CONTACT_SENT,
         EVENT(UID, 200, EVENT_OK, BACKEND_DONE, NULL)),
    {"the same customer's next sale: the contact from the cache, one request",
     SALE_OF("000124", "2026-04-07T19:50:00+01:00", JANE),
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {{NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, "2026-04-07", "19:50:00", "000124"), 200,
       EVENT_OK, BACKEND_DONE, NULL}}},
    CASE("local date after UTC's: 2026-04-08 00:30 at +02:00 (UTC: the 7th, 22:30)",
         SALE_OF("A-7", "2026-04-08T00:30:00+02:00", JANE), CONTACT_SENT,
         {NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, "2026-04-08", "00:30:00", "A-7"),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("local date before UTC's: 21:15:30.123 at -07:00 (UTC: the 8th, 04:15), fraction dropped",
         SALE_OF("A-8", "2026-04-07T21:15:30.123-07:00", JANE), CONTACT_SENT,
         {NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, "2026-04-07", "21:15:30", "A-8"),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("Z and a lower-case t: as written", SALE_OF("A-9", "2026-12-31t23:59:59Z", JANE),
         CONTACT_SENT,
         {NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, "2026-12-31", "23:59:59", "A-9"),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("a leap second: :59, a time of day Gleantap can hold",
         SALE_OF("A-10", "2016-12-31T23:59:60Z", JANE), CONTACT_SENT,
         {NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, "2016-12-31", "23:59:59", "A-10"),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("non-ASCII names, sent as UTF-8",
         SALE_OF("N-1", "2026-04-07T10:00:00+01:00",
                 "\"email\":\"zoe@example.de\",\"first_name\":\"Zoë\",\"last_name\":"
                 "\"Müller-Łukasz\""),
         {NEW_CONTACT, AUTH,
          CONTACT_BODY("\"first_name\":\"Zoë\",\"last_name\":\"Müller-Łukasz\",\"email\":"
                       "\"zoe@example.de\""),
          200, "{\"status\":\"success\",\"_id\":\"64c0000000000000000000aa\"}", BACKEND_SEND, NULL},
         {NEW_EVENT, AUTH,
          EVENT_OF("64c0000000000000000000aa", "\"email\":\"zoe@example.de\"", "2026-04-07",
                   "10:00:00", "N-1"),
          200, EVENT_OK, BACKEND_DONE, NULL}),
    CASE("email only: no names, so both placeholders",
         SALE_OF("E-1", "2026-04-07T10:00:00Z", "\"email\":\"a@b.example\""),
         {NEW_CONTACT, AUTH, CONTACT_BODY(GUEST ",\"email\":\"a@b.example\""), 200, CONTACT_OK,
          BACKEND_SEND, NULL},
         {NEW_EVENT, AUTH,
          EVENT_OF(UID, "\"email\":\"a@b.example\"", "2026-04-07", "10:00:00", "E-1"),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("phone only, with names",
         SALE_OF("P-1", "2026-04-07T10:00:00Z",
                 "\"phone\":\"+15550100\",\"first_name\":\"Sam\",\"last_name\":\"Lee\""),
         {NEW_CONTACT, AUTH,
          CONTACT_BODY("\"first_name\":\"Sam\",\"last_name\":\"Lee\",\"phone\":\"+15550100\""), 200,
          CONTACT_OK, BACKEND_SEND, NULL},
         {NEW_EVENT, AUTH,
          EVENT_OF(UID, "\"phone\":\"+15550100\"", "2026-04-07", "10:00:00", "P-1"), 200, EVENT_OK,
          BACKEND_DONE, NULL}),
    CASE("a first name alone: both placeholders, so no real last name is overwritten",
         SALE_OF("F-1", "2026-04-07T10:00:00Z",
                 "\"email\":\"jane@example.com\",\"first_name\":\"Jane\""),
         {NEW_CONTACT, AUTH, CONTACT_BODY(GUEST ",\"email\":\"jane@example.com\""), BT_UNANSWERED,
          NULL, 0, NULL}),
    CASE("a last name alone, blank first name, blank phone: placeholders, email",
         SALE_OF("F-2", "2026-04-07T10:00:00Z",
                 "\"email\":\"jane@example.com\",\"phone\":\" \",\"first_name\":\"  \","
                 "\"last_name\":\"Doe\""),
         {NEW_CONTACT, AUTH, CONTACT_BODY(GUEST ",\"email\":\"jane@example.com\""), BT_UNANSWERED,
          NULL, 0, NULL}),
    {"anonymous: skipped (anonymous_sales: skip)",
     "{\"txn\":\"11\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\"}",
     NULL,
     0,
     0,
     BACKEND_SKIP,
     "anonymous_sales: skip",
     {{.request = NULL}}},
    {"names and a loyalty id without email or phone: anonymous",
     SALE_OF("12", "2026-04-07T10:00:00Z", "\"first_name\":\"Jane\",\"id\":\"LOYAL-1\""),
     NULL,
     0,
     0,
     BACKEND_SKIP,
     "anonymous_sales: skip",
     {{.request = NULL}}},
    {"no items: an empty list",
     "{\"txn\":\"13\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":0,\"currency\":\"EUR\","
     "\"source\":\"kiosk\",\"customer\":{\"phone\":\"+15550100\"}}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{NEW_CONTACT, AUTH, CONTACT_BODY(GUEST ",\"phone\":\"+15550100\""), 200, CONTACT_OK,
       BACKEND_SEND, NULL},
      {NEW_EVENT, AUTH,
       "{\"app_id\":\"app-1\",\"user_id\":\"" UID "\",\"phone\":\"+15550100\",\"event_type\":"
       "\"purchase\",\"event_date\":\"2026-04-07\",\"event_time\":\"10:00:00\",\"id\":"
       "\"T042:13\",\"is_purchase\":true,\"event_data\":{\"total\":0,\"currency\":\"EUR\","
       "\"txn\":\"13\",\"source\":\"kiosk\",\"items\":[]}}",
       BT_UNANSWERED, NULL, 0, NULL}}},
    {"in doubt: Gleantap keeps one event per id, so the same requests",
     SALE,
     NULL,
     0,
     1,
     BACKEND_SEND,
     NULL,
     {CONTACT_SENT, EVENT(UID, 200, EVENT_OK, BACKEND_DONE, NULL)}},
    CASE("a reset after the event went out: the same event again", SALE, CONTACT_SENT,
         EVENT(UID, BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL),
         EVENT(UID, 503, "", BACKEND_RETRY, "HTTP 503"),
         EVENT(UID, 200, EVENT_OK, BACKEND_DONE, NULL)),
    CASE("a reset after the contact went out: the same contact again", SALE,
         CONTACT(BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL), CONTACT_SENT, THEN_EVENT(UID)),
};

/* anonymous_sales: contact, and placeholders of the merchant's choosing. */
static const struct bt_case walk_in[] = {
    {"anonymous: booked to the walk-in contact, with the placeholder names",
     "{\"txn\":\"11\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":12750,\"currency\":\"GBP\","
     "\"items\":" ITEMS "}",
     NULL,
     0,
     0,
     BACKEND_SEND,
     NULL,
     {{NEW_CONTACT, AUTH,
       CONTACT_BODY("\"first_name\":\"Walk-in\",\"last_name\":\"Kunde\",\"email\":\"walk-in@shop."
                    "example\""),
       200, CONTACT_OK, BACKEND_SEND, NULL},
      {NEW_EVENT, AUTH,
       EVENT_OF(UID, "\"email\":\"walk-in@shop.example\"", "2026-04-07", "10:00:00", "11"), 200,
       EVENT_OK, BACKEND_DONE, NULL}}},
    {"the next anonymous sale: the walk-in contact from the cache",
     "{\"txn\":\"12\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":12750,\"currency\":\"GBP\","
     "\"items\":" ITEMS "}",
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {{NEW_EVENT, AUTH,
       EVENT_OF(UID, "\"email\":\"walk-in@shop.example\"", "2026-04-07", "10:00:00", "12"),
       BT_UNANSWERED, NULL, 0, NULL}}},
    CASE("partial_names: keep: the first name kept, the last one a placeholder",
         SALE_OF("K-1", "2026-04-07T10:00:00Z",
                 "\"email\":\"jane@example.com\",\"first_name\":\"Jane\""),
         {NEW_CONTACT, AUTH,
          CONTACT_BODY("\"first_name\":\"Jane\",\"last_name\":\"Kunde\",\"email\":\"jane@example."
                       "com\""),
          BT_UNANSWERED, NULL, 0, NULL}),
    CASE("partial_names: keep: a last name alone",
         SALE_OF("K-2", "2026-04-07T10:00:00Z", "\"phone\":\"+15550100\",\"last_name\":\"Doe\""),
         {NEW_CONTACT, AUTH,
          CONTACT_BODY("\"first_name\":\"Walk-in\",\"last_name\":\"Doe\",\"phone\":\"+15550100\""),
          BT_UNANSWERED, NULL, 0, NULL}),
};

/* event_time_format: 12h, "HH:MM AM/PM" as the seed's text says: seconds dropped. */
#define TIME_12H(name, at, date, time)                                                             \
    CASE(name, SALE_OF("H", at, JANE), CONTACT_SENT,                                               \
         {NEW_EVENT, AUTH, EVENT_OF(UID, JANE_IDENT, date, time, "H"), BT_UNANSWERED, NULL, 0,     \
          NULL})
static const struct bt_case twelve_hour[] = {
    TIME_12H("afternoon", "2025-05-21T16:29:10+01:00", "2025-05-21", "04:29 PM"),
    TIME_12H("half past midnight, local date after UTC's", "2026-04-08T00:30:00+02:00",
             "2026-04-08", "12:30 AM"),
    TIME_12H("noon", "2026-04-07T12:05:59Z", "2026-04-07", "12:05 PM"),
    TIME_12H("morning, negative offset", "2026-04-07T09:00:00.5-05:00", "2026-04-07", "09:00 AM"),
    TIME_12H("last minute", "2026-04-07T23:59:60-11:30", "2026-04-07", "11:59 PM"),
};

/* Answers to newContact. */
#define C(name, status, body, verdict, why) CASE(name, SALE, CONTACT(status, body, verdict, why))
/* Answers to newEvent. */
#define E(name, status, body, verdict, why)                                                        \
    CASE(name, SALE, CONTACT_SENT, EVENT(UID, status, body, verdict, why))
#define EVENT_PATH "HTTP 400 from POST /v2/ExternalApi/newEvent: "

static const struct bt_case answers[] = {
    /* 2xx to newContact: only "success" with a usable _id moves the sale on. */
    CASE("contact: success", SALE, CONTACT_SENT, THEN_EVENT(UID)),
    CASE("contact: more fields than the seed's", SALE,
         CONTACT(200, "{\"status\":\"success\",\"_id\":\"x1\",\"message\":\"Contact updated\"}",
                 BACKEND_SEND, NULL),
         THEN_EVENT("x1")),
    CASE("contact: a whole-number _id, sent as a string", SALE,
         CONTACT(200, "{\"status\":\"success\",\"_id\":1042}", BACKEND_SEND, NULL),
         THEN_EVENT("1042")),
    C("contact: status error in a 200", 200,
      "{\"status\":\"error\",\"message\":\"App is not active\"}", BACKEND_RETRY,
      "HTTP 200 from POST /v2/ExternalApi/newContact: Gleantap answered \"error\": App is not "
      "active"),
    C("contact: status error without a message", 200, "{\"status\":\"failed\"}", BACKEND_RETRY,
      "answered \"failed\": (no message)"),
    C("contact: success without _id", 200, "{\"status\":\"success\"}", BACKEND_RETRY,
      "answer without a valid contact _id (_id: missing)"),
    C("contact: _id without status", 200, "{\"_id\":\"" UID "\"}", BACKEND_RETRY,
      "without \"status\": \"success\""),
    C("contact: empty _id", 200, "{\"status\":\"success\",\"_id\":\"\"}", BACKEND_RETRY,
      "(_id: empty)"),
    C("contact: null _id", 200, "{\"status\":\"success\",\"_id\":null}", BACKEND_RETRY,
      "(_id: null)"),
    C("contact: an object as _id", 200, "{\"status\":\"success\",\"_id\":{\"$oid\":\"1\"}}",
      BACKEND_RETRY, "(_id: an object)"),
    C("contact: _id 1000.9", 200, "{\"status\":\"success\",\"_id\":1000.9}", BACKEND_RETRY,
      "(_id: 1000.9)"),
    C("contact: _id with a quote and a space", 200, "{\"status\":\"success\",\"_id\":\"a\\\" b\"}",
      BACKEND_RETRY, "(_id: a string with spaces or control characters)"),
    C("contact: _id of 64 bytes", 200,
      "{\"status\":\"success\",\"_id\":\"0123456789012345678901234567890123456789012345678901234"
      "567890123\"}",
      BACKEND_RETRY, "(_id: longer than 63 bytes)"),
    C("contact: a captive portal's 200", 200, "<html>Sign in</html>", BACKEND_RETRY,
      "HTTP 200 from POST /v2/ExternalApi/newContact: not a JSON object"),
    C("contact: empty 200", 200, "", BACKEND_RETRY, "not a JSON object"),
    C("contact: a JSON array", 200, "[" CONTACT_OK "]", BACKEND_RETRY, "not a JSON object"),
    /* 2xx to newEvent: "success" (the seed's "result", or "status") is delivered. */
    E("event: the seed's answer", 200, EVENT_OK, BACKEND_DONE, NULL),
    E("event: status success", 200, "{\"status\":\"success\"}", BACKEND_DONE, NULL),
    E("event: 201", 201, "{\"result\":\"success\",\"event_id\":\"9\"}", BACKEND_DONE, NULL),
    E("event: result error in a 200", 200,
      "{\"result\":\"error\",\"message\":\"Event could not be saved\"}", BACKEND_RETRY,
      "HTTP 200 from POST /v2/ExternalApi/newEvent: Gleantap answered \"error\": Event could not "
      "be saved"),
    E("event: status error beside result success", 200,
      "{\"result\":\"success\",\"status\":\"error\"}", BACKEND_RETRY, "answered \"error\""),
    E("event: result error beside status success", 200,
      "{\"status\":\"success\",\"result\":\"failed\"}", BACKEND_RETRY, "answered \"failed\""),
    E("event: an empty object", 200, "{}", BACKEND_RETRY, "without \"result\": \"success\""),
    E("event: a captive portal's 200", 200, "<html>Welcome</html>", BACKEND_RETRY,
      "not a JSON object"),
    /* Not an answer about the sale: the same request after a backoff. */
    C("contact: 302", 302, "<html>moved</html>", BACKEND_RETRY, "a redirect, not followed"),
    C("contact: 408", 408, "", BACKEND_RETRY, "HTTP 408"),
    E("event: 429", 429, "", BACKEND_RETRY, "HTTP 429"),
    C("contact: 500", 500, "{\"status\":\"error\"}", BACKEND_RETRY, "HTTP 500"),
    E("event: 503", 503, "", BACKEND_RETRY, "HTTP 503"),
    E("event: no answer", BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL),
    /* The configuration, not the sale: paused. */
    C("contact: 401 (a key or app_id)", 401,
      "{\"status\":\"error\",\"message\":\"X-SECRET-KEY is invalid\"}", BACKEND_PAUSE,
      "HTTP 401 from POST /v2/ExternalApi/newContact: check api_key_file, secret_key_file and "
      "app_id (X-SECRET-KEY is invalid)"),
    E("event: 403", 403, "", BACKEND_PAUSE, "check api_key_file, secret_key_file and app_id"),
    C("contact: 404 (base_url with a path)", 404, "{\"status\":\"error\"}", BACKEND_PAUSE,
      "HTTP 404 from POST /v2/ExternalApi/newContact: check base_url"),
    E("event: 405", 405, "", BACKEND_PAUSE,
      "HTTP 405 from POST /v2/ExternalApi/newEvent: check "
      "base_url"),
    /* Validation errors: the message is the dead letter's reason. */
    C("contact: 400 with a message", 400,
      "{\"status\":\"error\",\"message\":\"email is not a valid email address\"}", BACKEND_DEAD,
      "HTTP 400 from POST /v2/ExternalApi/newContact: email is not a valid email address"),
    E("event: 400 with a message", 400,
      "{\"status\":\"error\",\"message\":\"event_date must be a date\"}", BACKEND_DEAD,
      EVENT_PATH "event_date must be a date"),
    E("event: 400 without JSON: the body", 400, "Bad\nRequest", BACKEND_DEAD,
      EVENT_PATH "Bad Request"),
    E("event: 422", 422, "{\"message\":\"rejected\"}", BACKEND_DEAD,
      "HTTP 422 from POST /v2/ExternalApi/newEvent: rejected"),
    E("event: 413", 413, "", BACKEND_DEAD, "HTTP 413 from POST /v2/ExternalApi/newEvent"),
    /* A cached _id refused: perhaps merged away, so the contact is asked for again and the fresh
     * _id is what the event carries; refused again with a fresh _id, it is the sale's. */
    CASE("prime the cache", SALE, CONTACT_SENT, EVENT(UID, 200, EVENT_OK, BACKEND_DONE, NULL)),
    {"400 to a cached _id: the contact asked for again",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {EVENT(UID, 400,
            "{\"status\":\"error\",\"message\":\"user_id does not name an existing "
            "contact\"}",
            BACKEND_SEND, NULL),
      CONTACT(200, "{\"status\":\"success\",\"_id\":\"fresh2\"}", BACKEND_SEND, NULL),
      EVENT("fresh2", 400, "{\"message\":\"user_id does not name an existing contact\"}",
            BACKEND_DEAD, EVENT_PATH "user_id does not name an existing contact")}},
    {"a 401 to a cached _id: paused, not looked up",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {EVENT("fresh2", 401, "", BACKEND_PAUSE, "check api_key_file"),
      EVENT("fresh2", 200, EVENT_OK, BACKEND_DONE, NULL)}},
    {"the fresh _id was cached",
     SALE,
     NULL,
     1,
     0,
     BACKEND_SEND,
     NULL,
     {EVENT("fresh2", 422, "{}", BACKEND_SEND, NULL), THEN_CONTACT}},
    /* An answer not understood leaves nothing cached. */
    C("unusable contact answer", 200, "{\"status\":\"success\",\"_id\":1000.9}", BACKEND_RETRY,
      NULL),
    {"... so the next sale asks again", SALE, NULL, 1, 0, BACKEND_SEND, NULL, {THEN_CONTACT}},
};

static void run(const char *config, const struct bt_case *cases, size_t n)
{
    assert_int_equal(bt_run_config(config, cases, n), 0);
}

static void test_golden_requests(void **state)
{
    (void)state;
    run(CONFIG, golden, sizeof golden / sizeof *golden);
    run(CONFIG_WITH(",\"anonymous_sales\":\"contact\",\"anonymous_contact_email\":\"walk-in@shop."
                    "example\",\"partial_names\":\"keep\",\"first_name_placeholder\":\"Walk-in\","
                    "\"last_name_placeholder\":\"Kunde\""),
        walk_in, sizeof walk_in / sizeof *walk_in);
    run(CONFIG_WITH(",\"event_time_format\":\"12h\""), twelve_hour,
        sizeof twelve_hour / sizeof *twelve_hour);
}

static void test_answers(void **state)
{
    (void)state;
    run(CONFIG, answers, sizeof answers / sizeof *answers);
}

/* The backend's own keys: each refusal names its key; a secret file readable by others is
 * refused like the API key's. */
static void test_configuration(void **state)
{
    (void)state;
    static const struct {
        const char *members, *error;
    } rows[] = {
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\"", NULL},
        {"\"secret_key_file\":\"K\"", "backends[0].app_id: required"},
        {"\"secret_key_file\":\"K\",\"app_id\":\"\"", "backends[0].app_id: must be a non-empty"},
        {"\"secret_key_file\":\"K\",\"app_id\":7", "backends[0].app_id: must be a non-empty"},
        {"\"app_id\":\"a\"", "backends[0].secret_key_file: required"},
        {"\"secret_key_file\":\"OPEN\",\"app_id\":\"a\"", "backends[0].secret_key_file:"},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"event_time_format\":\"12h\"", NULL},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"event_time_format\":\"am/pm\"",
         "backends[0].event_time_format: must be \"24h\" or \"12h\""},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"partial_names\":\"drop\"",
         "backends[0].partial_names: must be \"replace\" or \"keep\""},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"first_name_placeholder\":\"\"",
         "backends[0].first_name_placeholder: must be a non-empty string"},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"last_name_placeholder\":"
         "\"0123456789012345678901234567890123456789012345678901234567890123456789\"",
         "backends[0].last_name_placeholder: longer than 64 bytes"},
        {"\"secret_key_file\":\"K\",\"app_id\":\"a\",\"api_key\":\"x\"", "api_key"},
    };
    char dir[] = "/tmp/tillsync-gt-XXXXXX", key[64], open_key[64];
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/key", dir);
    snprintf(open_key, sizeof open_key, "%s/open", dir);
    const char *files[] = {key, open_key};
    const mode_t modes[] = {0600, 0644};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "w");
        assert_non_null(f);
        fputs("s3cret\n", f);
        fclose(f);
        assert_int_equal(chmod(files[i], modes[i]), 0);
    }
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char text[1024], members[512], err[512] = "";
        const char *m = rows[i].members;
        size_t n = 0;
        for (; *m && n < sizeof members - 64; m++) /* K and OPEN: the two files */
            if (m[0] == 'K' && m[1] == '"')
                n += (size_t)snprintf(members + n, sizeof members - n, "%s", key);
            else if (strncmp(m, "OPEN\"", 5) == 0)
                n += (size_t)snprintf(members + n, sizeof members - n, "%s", open_key), m += 3;
            else
                members[n++] = *m;
        members[n] = '\0';
        snprintf(text, sizeof text,
                 "{\"name\":\"gt\",\"kind\":\"gleantap\",\"base_url\":\"https://g.example\","
                 "\"api_key_file\":\"%s\",%s}",
                 key, members);
        cJSON *obj = cJSON_Parse(text);
        assert_non_null(obj);
        struct backend_config bc;
        int rc = config_parse_backend(obj, 0, &bc, err, sizeof err);
        cJSON_Delete(obj);
        if (rows[i].error ? rc == 0 || !strstr(err, rows[i].error) : rc != 0)
            fail_msg("row %zu: rc %d \"%s\", wanted %s", i, rc, err,
                     rows[i].error ? rows[i].error : "accepted");
        if (strstr(err, "s3cret"))
            fail_msg("row %zu: the secret in the message: %s", i, err);
    }
    unlink(key);
    unlink(open_key);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_requests),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
