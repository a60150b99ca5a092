/*
 * The Glu backend's answer handling, and the delivery engine's outcome classes around it, without
 * a network: a canned sale, a canned answer (status and body) to a request, and the verdict with
 * the next request built (path and body) or the reason given. Also the backoff's arithmetic at its
 * extremes (Retry-After: 999999999, any number of attempts).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "delivery.h"

#define SALE                                                                                       \
    "{\"txn\":\"000123\",\"at\":\"2026-04-07T19:45:00+01:00\",\"total\":12750,\"currency\":"       \
    "\"GBP\",\"customer\":{\"email\":\"jane@example.com\",\"first_name\":\"Jane\"}}"
#define REF             "T042:000123"
#define CONTACT_REQUEST "{\"emailAddress\":\"jane@example.com\",\"firstName\":\"Jane\"}"
#define ACTIVITY(id)                                                                               \
    "{\"contact\":" id                                                                             \
    ",\"type\":\"Purchase\",\"source\":\"till\",\"happenedAt\":\"2026-04-07T19:"                   \
    "45:00+01:00\",\"spend\":12750,\"currencyCode\":\"GBP\",\"externalReference\":\"" REF "\"}"

enum sent_request {
    SENT_CONTACTS,     /* the first request: POST /contacts */
    SENT_ACTIVITIES,   /* POST /activities with the contact Glu answered (1042) */
    SENT_CACHED,       /* POST /activities with a contact id taken from the cache (1042) */
    SENT_PATH_WITH_ID, /* a request whose path names an object (a future backend's) */
};

struct row {
    const char *name;
    enum sent_request sent;
    long status;
    const char *body;
    enum backend_verdict want;
    const char *want_path; /* SEND: the next request */
    const char *want_body;
    const char *want_why; /* a part of why (RETRY, PAUSE: last_error; DEAD: the reason) */
};

static const struct row rows[] = {
    /* 2xx to POST /contacts: only a valid id moves the sale on. */
    {"contact created", SENT_CONTACTS, 201, "{\"id\":1042,\"emailAddress\":\"jane@example.com\"}",
     BACKEND_SEND, "/activities", ACTIVITY("1042"), NULL},
    {"contact updated", SENT_CONTACTS, 200, "{\"id\":1042}", BACKEND_SEND, "/activities",
     ACTIVITY("1042"), NULL},
    {"id in exponent notation, a whole number", SENT_CONTACTS, 200, "{\"id\":1.042e3}",
     BACKEND_SEND, "/activities", ACTIVITY("1042"), NULL},
    {"largest exact id, printed as an integer", SENT_CONTACTS, 200, "{\"id\":9007199254740991}",
     BACKEND_SEND, "/activities", ACTIVITY("9007199254740991"), NULL},
    {"id 10^15 printed as an integer, not 1e+15", SENT_CONTACTS, 200, "{\"id\":1000000000000000}",
     BACKEND_SEND, "/activities", ACTIVITY("1000000000000000"), NULL},
    {"invalid JSON (a captive portal's page)", SENT_CONTACTS, 200, "<html>Sign in</html>",
     BACKEND_RETRY, NULL, NULL,
     "HTTP 200 from POST /contacts: answer without a valid contact id (not a JSON object)"},
    {"empty body", SENT_CONTACTS, 200, "", BACKEND_RETRY, NULL, NULL, "valid contact id"},
    {"a JSON array", SENT_CONTACTS, 200, "[{\"id\":1042}]", BACKEND_RETRY, NULL, NULL,
     "(not a JSON object)"},
    {"string id", SENT_CONTACTS, 200, "{\"id\":\"1000\"}", BACKEND_RETRY, NULL, NULL,
     "answer without a valid contact id (id: a string)"},
    {"no id", SENT_CONTACTS, 201, "{\"emailAddress\":\"jane@example.com\"}", BACKEND_RETRY, NULL,
     NULL, "(id: missing)"},
    {"null id", SENT_CONTACTS, 200, "{\"id\":null}", BACKEND_RETRY, NULL, NULL, "(id: null)"},
    {"id 1e300 (undefined behaviour as a long)", SENT_CONTACTS, 200, "{\"id\":1e300}",
     BACKEND_RETRY, NULL, NULL, "(id: 1e+300)"},
    {"id -1e300", SENT_CONTACTS, 200, "{\"id\":-1e300}", BACKEND_RETRY, NULL, NULL,
     "(id: -1e+300)"},
    {"id 1000.9 (would book to contact 1000)", SENT_CONTACTS, 200, "{\"id\":1000.9}", BACKEND_RETRY,
     NULL, NULL, "(id: 1000.9)"},
    {"negative id", SENT_CONTACTS, 200, "{\"id\":-5}", BACKEND_RETRY, NULL, NULL, "(id: -5)"},
    {"id 0", SENT_CONTACTS, 200, "{\"id\":0}", BACKEND_RETRY, NULL, NULL, "(id: 0)"},
    {"id 2^53, beyond a double's exact integers", SENT_CONTACTS, 200, "{\"id\":9007199254740992}",
     BACKEND_RETRY, NULL, NULL, "valid contact id"},

    /* 2xx to POST /activities: delivered only when it is the activity. */
    {"activity created", SENT_ACTIVITIES, 201, "{\"id\":5000,\"externalReference\":\"" REF "\"}",
     BACKEND_DONE, NULL, NULL, NULL},
    {"the existing duplicate", SENT_ACTIVITIES, 200, "{\"id\":5000,\"type\":\"Purchase\"}",
     BACKEND_DONE, NULL, NULL, NULL},
    {"activity: a captive portal's 200", SENT_CACHED, 200, "<html>Welcome</html>", BACKEND_RETRY,
     NULL, NULL, "HTTP 200 from POST /activities: answer without a valid activity id"},
    {"activity: another sale's activity", SENT_ACTIVITIES, 200,
     "{\"id\":5000,\"externalReference\":\"T042:000124\"}", BACKEND_RETRY, NULL, NULL,
     "another externalReference"},
    {"activity: id 5000.5", SENT_ACTIVITIES, 201, "{\"id\":5000.5}", BACKEND_RETRY, NULL, NULL,
     "(id: 5000.5)"},

    /* Not an answer about the sale: the same request again after a backoff. */
    {"302 (a captive portal)", SENT_CONTACTS, 302, "<html>moved</html>", BACKEND_RETRY, NULL, NULL,
     "HTTP 302 from POST /contacts: a redirect, not followed"},
    {"301", SENT_ACTIVITIES, 301, "", BACKEND_RETRY, NULL, NULL, "HTTP 301"},
    {"307", SENT_CONTACTS, 307, "", BACKEND_RETRY, NULL, NULL, "HTTP 307"},
    {"304", SENT_CONTACTS, 304, "", BACKEND_RETRY, NULL, NULL, "HTTP 304"},
    {"1xx as a final answer", SENT_CONTACTS, 101, "", BACKEND_RETRY, NULL, NULL, "HTTP 101"},
    {"408", SENT_CONTACTS, 408, "", BACKEND_RETRY, NULL, NULL, "HTTP 408 from POST /contacts"},
    {"429", SENT_ACTIVITIES, 429, "", BACKEND_RETRY, NULL, NULL, "HTTP 429"},
    {"500", SENT_CONTACTS, 500, "", BACKEND_RETRY, NULL, NULL, "HTTP 500"},
    {"503", SENT_CONTACTS, 503, "", BACKEND_RETRY, NULL, NULL, "HTTP 503"},
    {"a status beyond 599", SENT_CONTACTS, 600, "", BACKEND_RETRY, NULL, NULL, "HTTP 600"},

    /* The configuration, not the sale: paused, the sale kept. */
    {"401", SENT_CONTACTS, 401, "{\"error\":\"x-api-key: invalid\"}", BACKEND_PAUSE, NULL, NULL,
     "HTTP 401 from POST /contacts: check the API key"},
    {"403", SENT_ACTIVITIES, 403, "", BACKEND_PAUSE, NULL, NULL, "check the API key"},
    {"404 on POST /contacts (base_url with an extra /v1)", SENT_CONTACTS, 404,
     "{\"error\":\"path: no such resource: /v1/contacts\"}", BACKEND_PAUSE, NULL, NULL,
     "HTTP 404 from POST /contacts: check base_url"},
    {"405 on POST /contacts", SENT_CONTACTS, 405, "", BACKEND_PAUSE, NULL, NULL,
     "HTTP 405 from POST /contacts: check base_url"},
    {"404 on POST /activities", SENT_ACTIVITIES, 404, "", BACKEND_PAUSE, NULL, NULL,
     "HTTP 404 from POST /activities: check base_url"},
    {"404 on a path naming an object: that object's refusal", SENT_PATH_WITH_ID, 404,
     "{\"error\":\"id: no contact with id 1042\"}", BACKEND_DEAD, NULL, NULL,
     "HTTP 404 from POST /contacts/1042/activities: {\"error\":\"id: no contact with id 1042\"}"},

    /* Definitive refusals. */
    {"422 to the activity", SENT_ACTIVITIES, 422, "{\"error\":\"spend: rejected\"}", BACKEND_DEAD,
     NULL, NULL, "HTTP 422 from POST /activities: {\"error\":\"spend: rejected\"}"},
    {"400 to the contact", SENT_CONTACTS, 400, "{\"error\":\"body: invalid JSON\"}", BACKEND_DEAD,
     NULL, NULL, "HTTP 400 from POST /contacts: {\"error\":\"body: invalid JSON\"}"},
    {"a reason on one line, whatever the server sent", SENT_ACTIVITIES, 409, "a\nb\r\tc",
     BACKEND_DEAD, NULL, NULL, "HTTP 409 from POST /activities: a b  c"},

    /* A cached contact id refused: perhaps stale, so the contact is looked up again. */
    {"422 to a cached contact id", SENT_CACHED, 422, "{\"error\":\"contact: no contact\"}",
     BACKEND_SEND, "/contacts", CONTACT_REQUEST, NULL},
    {"404 to a cached contact id", SENT_CACHED, 404, "", BACKEND_SEND, "/contacts", CONTACT_REQUEST,
     NULL},
};

static const char *const verdict_name[] = {"SEND", "DONE", "SKIP", "DEAD", "RETRY", "PAUSE"};

struct fixture {
    struct backend_config bc;
    struct contact_cache *contacts;
    cJSON *sale;
    struct backend_job job;
    struct http_request sent;
};

static const struct backend_ops *glu(void)
{
    const struct backend_ops *ops = backend_ops_for("glu");
    assert_non_null(ops);
    return ops;
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->bc.name, sizeof f->bc.name, "glu");
    snprintf(f->bc.kind, sizeof f->bc.kind, "glu");
    snprintf(f->bc.base_url, sizeof f->bc.base_url, "https://api.glu.example");
    snprintf(f->bc.source, sizeof f->bc.source, "till");
    f->bc.retry_base_s = 1;
    f->bc.retry_max_s = 300;
    f->contacts = calloc(1, sizeof *f->contacts);
    assert_non_null(f->contacts);
    f->sale = cJSON_Parse(SALE);
    assert_non_null(f->sale);
    f->job = (struct backend_job){.sale = f->sale, .ref = REF, .contacts = f->contacts};
}

static void fixture_free(struct fixture *f)
{
    free(f->sent.body);
    cJSON_Delete(f->sale);
    free(f->contacts);
}

/* Brings the job to the point where the row's request was sent, as delivery would. */
static void send_up_to(struct fixture *f, enum sent_request sent)
{
    char why[256] = "";
    const struct backend_ops *ops = glu();
    if (sent == SENT_CACHED)
        contact_cache_put(f->contacts, CONTACT_REQUEST, 1042);
    assert_int_equal(ops->start(&f->bc, &f->job, &f->sent, why, sizeof why), BACKEND_SEND);
    if (sent == SENT_CACHED) {
        assert_string_equal(f->sent.path, "/activities");
        assert_string_equal(f->sent.body, ACTIVITY("1042"));
        assert_int_equal(f->job.contact_from_cache, 1);
        return;
    }
    assert_string_equal(f->sent.path, "/contacts");
    assert_string_equal(f->sent.body, CONTACT_REQUEST);
    assert_int_equal(f->sent.fixed_endpoint, 1);
    if (sent == SENT_ACTIVITIES) {
        struct http_request next = {.body = NULL};
        assert_int_equal(delivery_decide(ops, &f->bc, &f->job, &f->sent, 201, "{\"id\":1042}",
                                         &next, why, sizeof why),
                         BACKEND_SEND);
        free(f->sent.body);
        f->sent = next;
        assert_string_equal(f->sent.path, "/activities");
        assert_int_equal(f->sent.fixed_endpoint, 1);
    }
    if (sent == SENT_PATH_WITH_ID) {
        snprintf(f->sent.path, sizeof f->sent.path, "/contacts/1042/activities");
        f->sent.fixed_endpoint = 0;
    }
}

static void test_answers(void **state)
{
    (void)state;
    unsigned failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const struct row *r = &rows[i];
        struct fixture f;
        fixture_init(&f);
        send_up_to(&f, r->sent);
        struct http_request next = {.body = NULL};
        char why[512] = "";
        enum backend_verdict v = delivery_decide(glu(), &f.bc, &f.job, &f.sent, r->status, r->body,
                                                 &next, why, sizeof why);
        int ok = v == r->want;
        if (ok && r->want_path)
            ok = next.body && strcmp(next.path, r->want_path) == 0 &&
                 strcmp(next.body, r->want_body) == 0 && next.fixed_endpoint;
        if (ok && r->want_why)
            ok = strstr(why, r->want_why) != NULL;
        if (ok && (v == BACKEND_RETRY || v == BACKEND_PAUSE || v == BACKEND_DEAD))
            ok = next.body == NULL; /* nothing new to send: the same request goes again */
        if (!ok) {
            printf("FAIL %s: HTTP %ld %s -> %s (want %s), next %s %s, why \"%s\"\n", r->name,
                   r->status, r->body, verdict_name[v], verdict_name[r->want], next.path,
                   next.body ? next.body : "(none)", why);
            failures++;
        }
        free(next.body);
        fixture_free(&f);
    }
    printf("%zu answers, %u wrong\n", sizeof rows / sizeof *rows, failures);
    assert_int_equal(failures, 0);
}

/* A refused cached id is looked up again, and the fresh id is what the activity carries. */
static void test_stale_contact_looked_up_again(void **state)
{
    (void)state;
    struct fixture f;
    char why[512];
    int64_t id;
    fixture_init(&f);
    send_up_to(&f, SENT_CACHED);
    struct http_request next = {.body = NULL};
    assert_int_equal(
        delivery_decide(glu(), &f.bc, &f.job, &f.sent, 422, "{}", &next, why, sizeof why),
        BACKEND_SEND);
    assert_int_equal(contact_cache_get(f.contacts, CONTACT_REQUEST, &id), 0); /* evicted */
    free(f.sent.body);
    f.sent = next;
    next = (struct http_request){.body = NULL};
    assert_int_equal(delivery_decide(glu(), &f.bc, &f.job, &f.sent, 200, "{\"id\":2001}", &next,
                                     why, sizeof why),
                     BACKEND_SEND);
    assert_string_equal(next.body, ACTIVITY("2001"));
    assert_int_equal(contact_cache_get(f.contacts, CONTACT_REQUEST, &id), 1);
    assert_int_equal(id, 2001);
    /* Refused again, now that the id is fresh: the sale's own refusal. */
    free(f.sent.body);
    f.sent = next;
    next = (struct http_request){.body = NULL};
    assert_int_equal(
        delivery_decide(glu(), &f.bc, &f.job, &f.sent, 422, "{}", &next, why, sizeof why),
        BACKEND_DEAD);
    assert_null(next.body);
    fixture_free(&f);
}

/* A contact answer that cannot be understood leaves nothing behind: no cached id, no step. */
static void test_bad_contact_answer_changes_nothing(void **state)
{
    (void)state;
    static const char *const bodies[] = {"{\"id\":1000.9}", "{\"id\":1e300}", "{\"id\":\"1000\"}",
                                         "{}", "nonsense"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        struct fixture f;
        char why[512];
        int64_t id;
        fixture_init(&f);
        send_up_to(&f, SENT_CONTACTS);
        struct http_request next = {.body = NULL};
        assert_int_equal(
            delivery_decide(glu(), &f.bc, &f.job, &f.sent, 200, bodies[i], &next, why, sizeof why),
            BACKEND_RETRY);
        assert_null(next.body);
        assert_int_equal(f.job.step, 0);
        assert_int_equal(contact_cache_get(f.contacts, CONTACT_REQUEST, &id), 0);
        fixture_free(&f);
    }
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
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_stale_contact_looked_up_again),
        cmocka_unit_test(test_bad_contact_answer_changes_nothing),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
