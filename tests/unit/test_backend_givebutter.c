/*
 * The Givebutter backend without a network (backend_table.h): the exact requests it builds from
 * sample sales (paths with their query strings, headers and bodies, byte for byte), the look-up
 * of a sale in doubt among its contact's activities (across pages, bounded), and the verdicts the
 * delivery engine reaches on every kind of answer.
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

#define CONFIG                                                                                     \
    "{\"name\":\"gb\",\"kind\":\"givebutter\",\"base_url\":\"https://api.givebutter.example\","    \
    "\"api_key_file\":\"$DIR/api.key\",\"source\":\"till\"}"
#define AUTH "Authorization: Bearer test-api-key"

#define SALE                                                                                       \
    "{\"txn\":\"000123\",\"at\":\"2026-04-07T19:45:00+01:00\",\"total\":12750,\"currency\":"       \
    "\"GBP\",\"customer\":{\"email\":\"jane@example.com\",\"phone\":\"+447700900123\","            \
    "\"first_name\":\"Jane\",\"last_name\":\"Doe\"}}"
#define REF "T042:000123"

#define FIND "GET /v1/contacts?email=jane%40example.com"
#define NONE "{\"data\":[],\"links\":{\"next\":null},\"meta\":{\"current_page\":1}}"
#define CONTACT                                                                                    \
    "{\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"emails\":[\"jane@example.com\"],"            \
    "\"phones\":[\"+447700900123\"]}"
#define ACT_OF(subject_ref, note, utc, tz)                                                         \
    "{\"type\":\"note\",\"subject\":\"POS sale " subject_ref "\",\"note\":\"" note                 \
    "\",\"occurred_at\":\"" utc "\",\"timezone\":\"" tz "\"}"
#define ACT ACT_OF(REF, "GBP 127.50, source till, ref " REF, "2026-04-07T18:45:00Z", "+01:00")
#define ACT_NO_TZ                                                                                  \
    "{\"type\":\"note\",\"subject\":\"POS sale " REF "\",\"note\":\"GBP 127.50, source till, "     \
    "ref " REF "\",\"occurred_at\":\"2026-04-07T18:45:00Z\"}"
#define CREATED_ACT      "{\"id\":\"5000\",\"type\":\"note\",\"source\":\"api\",\"data\":\"\"}"
#define LOOKUP(id, page) "GET /v1/contacts/" id "/activities?type=note&page=" page
/* An activity as the list shows it: the texts it was sent with in `data` (the mock's choice). */
#define LISTED(id, ref)                                                                            \
    "{\"id\":\"" id "\",\"type\":\"note\",\"source\":\"api\",\"data\":\"{\\\"subject\\\":"         \
    "\\\"POS sale " ref "\\\"}\",\"resource\":null,\"resource_type\":null}"
#define PAGE(items, next)                                                                          \
    "{\"data\":[" items "],\"links\":{\"next\":" next "},\"meta\":{\"per_page\":20}}"

/* The look-up by email, finding nothing; the contact created as 1042; the activity. */
#define X_FIND_NONE                                                                                \
    {                                                                                              \
        FIND, AUTH, NULL, 200, NONE, BACKEND_SEND, NULL                                            \
    }
#define X_CREATE_1042                                                                              \
    {                                                                                              \
        "POST /v1/contacts", AUTH, CONTACT, 200, "{\"id\":1042,\"first_name\":\"Jane\"}",          \
            BACKEND_SEND, NULL                                                                     \
    }
#define X_ACT(id, status, body, verdict, why)                                                      \
    {                                                                                              \
        "POST /v1/contacts/" id "/activities", AUTH, ACT, status, body, verdict, why               \
    }
#define X_LOOKUP(id, page, status, body, verdict)                                                  \
    {                                                                                              \
        LOOKUP(id, page), AUTH, NULL, status, body, verdict, NULL                                  \
    }
#define THEN(request, body)                                                                        \
    {                                                                                              \
        request, AUTH, body, BT_UNANSWERED, NULL, 0, NULL                                          \
    }

#define CASE(name, sale, keep, doubt, start, start_why)                                            \
    name, sale, NULL, keep, doubt, start, start_why

/* Golden requests: what each kind of customer and sale becomes. */
static const struct bt_case golden[] = {
    {CASE("full customer: looked up by email, created, the activity", SALE, 0, 0, BACKEND_SEND,
          NULL),
     {X_FIND_NONE, X_CREATE_1042, X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("the same customer again: the contact from the cache, exactly one request", SALE, 1, 0,
          BACKEND_SEND, NULL),
     {X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("found by email: the lowest id among the contacts that have it", SALE, 0, 0, BACKEND_SEND,
          NULL),
     {{FIND, AUTH, NULL, 200,
       "{\"data\":[{\"id\":900,\"emails\":[{\"type\":\"personal\",\"value\":\"jane@example.com\"}]}"
       ","
       "{\"id\":\"120\",\"primary_email\":\"JANE@example.com\"},"
       "{\"id\":35,\"emails\":[{\"type\":\"work\",\"value\":\"janet@example.com\"}]},"
       "{\"id\":1000,\"emails\":[\"jane@example.com\"]}],"
       "\"links\":{\"next\":null},\"meta\":{}}",
       BACKEND_SEND, NULL},
      X_ACT("120", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("local date after UTC's (Berlin just past midnight), non-ASCII names, EUR 0",
          "{\"txn\":\"A-7\",\"at\":\"2026-04-08T00:30:00+02:00\",\"total\":0,\"currency\":\"EUR\","
          "\"customer\":{\"email\":\"zoë+till@example.de\",\"first_name\":\"Zoë\",\"last_name\":"
          "\"Müller-Łukasz\"}}",
          0, 0, BACKEND_SEND, NULL),
     {{"GET /v1/contacts?email=zo%C3%AB%2Btill%40example.de", AUTH, NULL, 200, NONE, BACKEND_SEND,
       NULL},
      {"POST /v1/contacts", AUTH,
       "{\"first_name\":\"Zoë\",\"last_name\":\"Müller-Łukasz\",\"emails\":[\"zoë+till@example."
       "de\"]}",
       200, "{\"id\":77}", BACKEND_SEND, NULL},
      {"POST /v1/contacts/77/activities", AUTH,
       ACT_OF("T042:A-7", "EUR 0.00, source till, ref T042:A-7", "2026-04-07T22:30:00Z", "+02:00"),
       200, "{\"id\":1}", BACKEND_DONE, NULL}}},
    {CASE("local date before UTC's (New York evening), the sale's own source, JPY",
          "{\"txn\":\"9\",\"at\":\"2026-12-31T20:00:00-05:00\",\"total\":1500,\"currency\":\"JPY\","
          "\"source\":\"kiosk\",\"customer\":{\"email\":\"a@b.example\"}}",
          0, 0, BACKEND_SEND, NULL),
     {{"GET /v1/contacts?email=a%40b.example", AUTH, NULL, 200, NONE, BACKEND_SEND, NULL},
      {"POST /v1/contacts", AUTH,
       "{\"first_name\":\"Till\",\"last_name\":\"Customer\",\"emails\":[\"a@b.example\"]}", 200,
       "{\"id\":8}", BACKEND_SEND, NULL},
      THEN("POST /v1/contacts/8/activities", ACT_OF("T042:9", "JPY 1500, source kiosk, ref T042:9",
                                                    "2027-01-01T01:00:00Z", "-05:00"))}},
    {CASE("phone only, no names: created straight away (the merge rule finds it again), BHD",
          "{\"txn\":\"10\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":12345,\"currency\":\"BHD\","
          "\"customer\":{\"phone\":\"+97317000000\"}}",
          0, 0, BACKEND_SEND, NULL),
     {{"POST /v1/contacts", AUTH,
       "{\"first_name\":\"Till\",\"last_name\":\"Customer\",\"phones\":[\"+97317000000\"]}", 200,
       "{\"id\":\"31\"}", BACKEND_SEND, NULL},
      THEN("POST /v1/contacts/31/activities",
           ACT_OF("T042:10", "BHD 12.345, source till, ref T042:10", "2026-04-07T10:00:00Z",
                  "+00:00"))}},
    {CASE("the same phone, other names: another identity, not the cache's",
          "{\"txn\":\"11\",\"at\":\"2026-04-07T10:00:00.250+05:30\",\"total\":5,\"currency\":"
          "\"KWD\",\"customer\":{\"phone\":\"+97317000000\",\"first_name\":\"Ali\"}}",
          1, 0, BACKEND_SEND, NULL),
     {{"POST /v1/contacts", AUTH,
       "{\"first_name\":\"Ali\",\"last_name\":\"Customer\",\"phones\":[\"+97317000000\"]}", 200,
       "{\"id\":32}", BACKEND_SEND, NULL},
      THEN("POST /v1/contacts/32/activities",
           ACT_OF("T042:11", "KWD 0.005, source till, ref T042:11", "2026-04-07T04:30:00Z",
                  "+05:30"))}},
    {CASE("a leap second and blank names",
          "{\"txn\":\"12\",\"at\":\"2016-12-31T23:59:60Z\",\"total\":100,\"currency\":\"USD\","
          "\"customer\":{\"phone\":\"+15550100\",\"first_name\":\" \",\"last_name\":\"\"}}",
          0, 0, BACKEND_SEND, NULL),
     {{"POST /v1/contacts", AUTH,
       "{\"first_name\":\"Till\",\"last_name\":\"Customer\",\"phones\":[\"+15550100\"]}", 200,
       "{\"id\":33}", BACKEND_SEND, NULL},
      THEN("POST /v1/contacts/33/activities",
           ACT_OF("T042:12", "USD 1.00, source till, ref T042:12", "2017-01-01T00:00:00Z",
                  "+00:00"))}},
    {CASE("anonymous: skipped (anonymous_sales: skip)",
          "{\"txn\":\"13\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\"}", 0, 0,
          BACKEND_SKIP, "anonymous_sales: skip"),
     {{.request = NULL}}},
    {CASE("names and a loyalty id, no email or phone: anonymous",
          "{\"txn\":\"14\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\","
          "\"customer\":{\"first_name\":\"Jane\",\"id\":\"LOYAL-1\"}}",
          0, 0, BACKEND_SKIP, NULL),
     {{.request = NULL}}},
};

static const struct bt_case anonymous_contact[] = {
    {CASE("anonymous, booked to the walk-in contact",
          "{\"txn\":\"13\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\"}", 0, 0,
          BACKEND_SEND, NULL),
     {{"GET /v1/contacts?email=walk-in%40shop.example", AUTH, NULL, 200, NONE, BACKEND_SEND, NULL},
      THEN("POST /v1/contacts",
           "{\"first_name\":\"Till\",\"last_name\":\"Customer\",\"emails\":[\"walk-in@shop."
           "example\"]}")}},
};

/* The first attempt may have landed: looked for before it is sent again. */
static const struct bt_case in_doubt[] = {
    {CASE("prime the cache", SALE, 0, 0, BACKEND_SEND, NULL),
     {X_FIND_NONE, X_CREATE_1042, X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("in doubt at start, found: delivered without a POST", SALE, 1, 1, BACKEND_SEND, NULL),
     {X_LOOKUP("1042", "1", 200, PAGE(LISTED("7", "T042:000122") "," LISTED("8", REF), "null"),
               BACKEND_DONE)}},
    {CASE("in doubt at start, absent (T042:0001234 and T042:000123.5 are other sales): sent", SALE,
          1, 1, BACKEND_SEND, NULL),
     {X_LOOKUP("1042", "1", 200,
               PAGE(LISTED("7", "T042:0001234") "," LISTED("9", "T042:000123.5") "," LISTED(
                        "10", "XT042:000123"),
                    "null"),
               BACKEND_SEND),
      X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("in doubt at start, not cached: the contact first, then the look-up", SALE, 0, 1,
          BACKEND_SEND, NULL),
     {X_FIND_NONE, X_CREATE_1042, X_LOOKUP("1042", "1", 200, PAGE("", "null"), BACKEND_SEND),
      X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("reset after the POST: looked up, found", SALE, 1, 0, BACKEND_SEND, NULL),
     {X_ACT("1042", BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL),
      X_LOOKUP("1042", "1", 200, PAGE(LISTED("11", REF), "null"), BACKEND_DONE)}},
    {CASE("503 after the POST: looked up, absent, sent again", SALE, 1, 0, BACKEND_SEND, NULL),
     {X_ACT("1042", 503, "", BACKEND_RETRY, "HTTP 503"),
      X_LOOKUP("1042", "1", 200, PAGE("", "null"), BACKEND_SEND),
      X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("a captive portal's 200 to the POST: looked up, the look-up reset, asked again", SALE, 1,
          0, BACKEND_SEND, NULL),
     {X_ACT("1042", 200, "<html>Sign in</html>", BACKEND_RETRY,
            "HTTP 200 from POST /v1/contacts/1042/activities: answer without a valid activity"),
      X_LOOKUP("1042", "1", BT_NO_ANSWER, NULL, BACKEND_RETRY),
      X_LOOKUP("1042", "1", 429, "", BACKEND_RETRY),
      X_LOOKUP("1042", "1", 200, PAGE("", "null"), BACKEND_SEND),
      X_ACT("1042", BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL),
      X_LOOKUP("1042", "1", 200, PAGE(LISTED("12", REF), "null"), BACKEND_DONE)}},
    {CASE("the reference on page 2", SALE, 1, 1, BACKEND_SEND, NULL),
     {X_LOOKUP("1042", "1", 200,
               PAGE(LISTED("1", "T042:1") "," LISTED("2", "T042:2"),
                    "\"https://api.givebutter.com/v1/contacts/1042/activities?page=2\""),
               BACKEND_SEND),
      X_LOOKUP("1042", "2", 200, PAGE(LISTED("3", REF), "null"), BACKEND_DONE)}},
    {CASE("pages told by meta alone; an empty page ends the list", SALE, 1, 1, BACKEND_SEND, NULL),
     {X_LOOKUP("1042", "1", 200,
               "{\"data\":[" LISTED("1", "T042:1") "],\"meta\":{\"current_page\":1,\"last_page\":"
                                                   "3}}",
               BACKEND_SEND),
      X_LOOKUP("1042", "2", 200, "{\"data\":[],\"meta\":{\"current_page\":2,\"last_page\":3}}",
               BACKEND_SEND),
      X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("the reference in a string nested anywhere in the activity", SALE, 1, 1, BACKEND_SEND,
          NULL),
     {X_LOOKUP("1042", "1", 200,
               PAGE("{\"id\":5,\"data\":{\"note\":[\"GBP 127.50, ref " REF "\"]}}", "null"),
               BACKEND_DONE)}},
};

#define F(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        CASE(name, SALE, 0, 0, BACKEND_SEND, NULL),                                                \
        {                                                                                          \
            {                                                                                      \
                FIND, AUTH, NULL, status, body, verdict, why                                       \
            }                                                                                      \
        }                                                                                          \
    }
#define C(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        CASE(name, SALE, 0, 0, BACKEND_SEND, NULL),                                                \
        {                                                                                          \
            X_FIND_NONE,                                                                           \
            {                                                                                      \
                "POST /v1/contacts", AUTH, CONTACT, status, body, verdict, why                     \
            }                                                                                      \
        }                                                                                          \
    }
#define A(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        CASE(name, SALE, 0, 0, BACKEND_SEND, NULL),                                                \
        {                                                                                          \
            X_FIND_NONE, X_CREATE_1042, X_ACT("1042", status, body, verdict, why)                  \
        }                                                                                          \
    }
#define L(name, status, body, verdict, why)                                                        \
    {                                                                                              \
        CASE(name, SALE, 0, 1, BACKEND_SEND, NULL),                                                \
        {                                                                                          \
            X_FIND_NONE, X_CREATE_1042,                                                            \
            {                                                                                      \
                LOOKUP("1042", "1"), AUTH, NULL, status, body, verdict, why                        \
            }                                                                                      \
        }                                                                                          \
    }

/* Every kind of answer, to each request. */
static const struct bt_case answers[] = {
    F("contact list: a captive portal's 200", 200, "<html>Welcome</html>", BACKEND_RETRY,
      "HTTP 200 from GET /v1/contacts: answer without a valid contact list (not a JSON object)"),
    F("contact list: no data", 200, "{\"contacts\":[]}", BACKEND_RETRY, "(no data array)"),
    F("contact list: a contact with id 1000.9", 200,
      "{\"data\":[{\"id\":1000.9,\"primary_email\":\"jane@example.com\"}]}", BACKEND_RETRY,
      "a contact without a valid id"),
    F("contact list: a contact with id \"0042\"", 200,
      "{\"data\":[{\"id\":\"0042\",\"primary_email\":\"jane@example.com\"}]}", BACKEND_RETRY,
      "a contact without a valid id"),
    {CASE("contact list: only contacts without the email (a loose filter): created", SALE, 0, 0,
          BACKEND_SEND, NULL),
     {{FIND, AUTH, NULL, 200, "{\"data\":[{\"id\":3,\"primary_email\":\"jane@example.co\"}]}",
       BACKEND_SEND, NULL},
      THEN("POST /v1/contacts", CONTACT)}},
    {CASE("contact list: 503, the same look-up again", SALE, 0, 0, BACKEND_SEND, NULL),
     {{FIND, AUTH, NULL, 503, "", BACKEND_RETRY, "HTTP 503 from GET /v1/contacts"},
      {FIND, AUTH, NULL, BT_NO_ANSWER, NULL, BACKEND_RETRY, NULL},
      THEN(FIND, NULL)}},
    F("contact list: 401", 401, "{\"message\":\"Unauthenticated.\"}", BACKEND_PAUSE,
      "HTTP 401 from GET /v1/contacts: check the API key"),
    F("contact list: 404 (base_url wrong)", 404, "", BACKEND_PAUSE,
      "HTTP 404 from GET /v1/contacts: check base_url"),
    F("contact list: 422 names the field", 422,
      "{\"message\":\"The email field must be a valid email address.\",\"errors\":{\"email\":"
      "[\"The email field must be a valid email address.\"]}}",
      BACKEND_DEAD,
      "HTTP 422 from GET /v1/contacts: email: The email field must be a valid email address."),
    F("contact list: 302", 302, "", BACKEND_RETRY, "a redirect, not followed"),
    {CASE("contact: created with a string id", SALE, 0, 0, BACKEND_SEND, NULL),
     {X_FIND_NONE,
      {"POST /v1/contacts", AUTH, CONTACT, 200, "{\"id\":\"9007199254740991\"}", BACKEND_SEND,
       NULL},
      THEN("POST /v1/contacts/9007199254740991/activities", ACT)}},
    C("contact: no id", 200, "{\"first_name\":\"Jane\"}", BACKEND_RETRY,
      "answer without a valid contact (missing)"),
    C("contact: id -5", 200, "{\"id\":-5}", BACKEND_RETRY, "(-5)"),
    C("contact: id 2^53", 200, "{\"id\":\"9007199254740992\"}", BACKEND_RETRY,
      "valid contact (a string that is not a positive integer)"),
    C("contact: wrapped in data (not the reference's shape)", 200, "{\"data\":{\"id\":1042}}",
      BACKEND_RETRY, "valid contact"),
    C("contact: 422 names the field", 422,
      "{\"message\":\"The first name field is required.\",\"errors\":{\"first_name\":[\"The first "
      "name field is required.\"],\"last_name\":[\"x\"]}}",
      BACKEND_DEAD,
      "HTTP 422 from POST /v1/contacts: first_name: The first name field is required."),
    C("contact: 422 with a message only", 422, "{\"message\":\"Invalid contact.\"}", BACKEND_DEAD,
      "HTTP 422 from POST /v1/contacts: Invalid contact."),
    C("contact: 404 (base_url wrong)", 404, "", BACKEND_PAUSE, "check base_url"),
    C("contact: 400", 400, "{\"message\":\"bad\"}", BACKEND_DEAD,
      "HTTP 400 from POST /v1/contacts"),
    A("activity: created", 200, "{\"id\":5000}", BACKEND_DONE, NULL),
    A("activity: 201", 201, "{\"id\":\"5000\"}", BACKEND_DONE, NULL),
    A("activity: id \"abc\"", 200, "{\"id\":\"abc\"}", BACKEND_RETRY,
      "answer without a valid activity"),
    A("activity: an array", 200, "[{\"id\":1}]", BACKEND_RETRY, "(not a JSON object)"),
    A("activity: 422 names the field", 422,
      "{\"message\":\"The subject field must not be greater than 255 characters.\",\"errors\":{"
      "\"subject\":[\"The subject field must not be greater than 255 characters.\"]}}",
      BACKEND_DEAD,
      "HTTP 422 from POST /v1/contacts/1042/activities: subject: The subject field must not be "
      "greater than 255 characters."),
    A("activity: 403", 403, "{\"message\":\"This action is unauthorized.\"}", BACKEND_PAUSE,
      "check the API key"),
    A("activity: 409 (not Givebutter's)", 409, "x", BACKEND_DEAD,
      "HTTP 409 from POST /v1/contacts/1042/activities: x"),
    L("look-up: a captive portal's 200", 200, "<html/>", BACKEND_RETRY,
      "HTTP 200 from GET /v1/contacts/1042/activities: answer without a valid activity list"),
    L("look-up: data not an array", 200, "{\"data\":{}}", BACKEND_RETRY, "(no data array)"),
    L("look-up: 500", 500, "", BACKEND_RETRY, "HTTP 500"),
    L("look-up: 422 names the field", 422,
      "{\"message\":\"m\",\"errors\":{\"type\":[\"The selected type is invalid.\"]}}", BACKEND_DEAD,
      "type: The selected type is invalid."),
    /* A 422 on `timezone` alone: sent without it, and so for the rest of the run. */
    {CASE("activity: 422 on timezone alone: sent again without it", SALE, 0, 0, BACKEND_SEND, NULL),
     {X_FIND_NONE,
      X_CREATE_1042,
      X_ACT(
          "1042", 422,
          "{\"message\":\"The timezone field must be a valid timezone.\",\"errors\":{\"timezone\":"
          "[\"The timezone field must be a valid timezone.\"]}}",
          BACKEND_SEND, NULL),
      {"POST /v1/contacts/1042/activities", AUTH, ACT_NO_TZ, 422,
       "{\"message\":\"m\",\"errors\":{\"timezone\":[\"still\"]}}", BACKEND_DEAD,
       "timezone: still"}}},
    {CASE("... the next sale goes without it", SALE, 1, 0, BACKEND_SEND, NULL),
     {THEN("POST /v1/contacts/1042/activities", ACT_NO_TZ)}},
    /* A cached contact refused with 404: gone (merged or deleted), resolved again, once. */
    {CASE("prime the cache", SALE, 0, 0, BACKEND_SEND, NULL),
     {X_FIND_NONE, X_CREATE_1042, X_ACT("1042", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("404 to the activity of a cached contact: resolved again; a second 404 is the sale's",
          SALE, 1, 0, BACKEND_SEND, NULL),
     {X_ACT("1042", 404, "{\"message\":\"No query results for model [Contact] 1042\"}",
            BACKEND_SEND, NULL),
      {FIND, AUTH, NULL, 200, "{\"data\":[{\"id\":2001,\"primary_email\":\"jane@example.com\"}]}",
       BACKEND_SEND, NULL},
      X_ACT("2001", 404, "{\"message\":\"gone\"}", BACKEND_DEAD,
            "HTTP 404 from POST /v1/contacts/2001/activities")}},
    {CASE("the fresh id was cached", SALE, 1, 0, BACKEND_SEND, NULL),
     {X_ACT("2001", 200, CREATED_ACT, BACKEND_DONE, NULL)}},
    {CASE("404 to the look-up of a cached contact: resolved again, then looked up there", SALE, 1,
          1, BACKEND_SEND, NULL),
     {X_LOOKUP("2001", "1", 404, "{\"message\":\"gone\"}", BACKEND_SEND), X_FIND_NONE,
      X_CREATE_1042, X_LOOKUP("1042", "1", 200, PAGE(LISTED("1", REF), "null"), BACKEND_DONE)}},
    /* An answer that cannot be understood leaves nothing cached. */
    C("unusable contact answer", 200, "{\"id\":1000.9}", BACKEND_RETRY, NULL),
    {CASE("... so the next sale asks again", SALE, 1, 0, BACKEND_SEND, NULL), {THEN(FIND, NULL)}},
};

static void test_golden_requests(void **state)
{
    (void)state;
    assert_int_equal(bt_run_config(CONFIG, golden, sizeof golden / sizeof *golden), 0);
    assert_int_equal(
        bt_run_config("{\"name\":\"gb\",\"kind\":\"givebutter\",\"base_url\":\"https://"
                      "api.givebutter.example\",\"api_key_file\":\"$DIR/api.key\",\"source\":"
                      "\"till\",\"anonymous_sales\":\"contact\",\"anonymous_contact_email\":"
                      "\"walk-in@shop.example\"}",
                      anonymous_contact, 1),
        0);
}

static void test_in_doubt(void **state)
{
    (void)state;
    assert_int_equal(bt_run_config(CONFIG, in_doubt, sizeof in_doubt / sizeof *in_doubt), 0);
}

static void test_answers(void **state)
{
    (void)state;
    assert_int_equal(bt_run_config(CONFIG, answers, sizeof answers / sizeof *answers), 0);
}

/* A contact with more notes than the look-up reads: after 50 pages the sale is sent (a possible
 * duplicate, never a sale stuck behind a list it cannot finish). */
static void test_lookup_bound(void **state)
{
    (void)state;
    static const char *const phone_sale =
        "{\"txn\":\"1\",\"at\":\"2026-04-07T10:00:00Z\",\"total\":1,\"currency\":\"GBP\","
        "\"customer\":{\"phone\":\"+15550100\"}}";
    struct bt_backend *b = bt_backend_new(CONFIG);
    char why[512], want[128];
    enum backend_verdict v;
    struct bt_job *j = bt_job_start(b, phone_sale, 1, &v, why, sizeof why);
    assert_int_equal(v, BACKEND_SEND);
    assert_int_equal(bt_job_answer(j, 200, "{\"id\":5}", why, sizeof why), BACKEND_SEND);
    for (unsigned page = 1; page <= 50; page++) {
        snprintf(want, sizeof want, "GET /v1/contacts/5/activities?type=note&page=%u\n", page);
        assert_true(strncmp(bt_job_request(j), want, strlen(want)) == 0);
        v = bt_job_answer(j, 200,
                          PAGE(LISTED("1", "T042:2"), "\"https://api.givebutter.com/next\""), why,
                          sizeof why);
        assert_int_equal(v, BACKEND_SEND);
    }
    assert_true(strncmp(bt_job_request(j), "POST /v1/contacts/5/activities\n", 31) == 0);
    bt_job_free(j);
    bt_backend_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_requests),
        cmocka_unit_test(test_in_doubt),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_lookup_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
