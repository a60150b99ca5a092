/*
 * Gleantap: a sale becomes a "purchase" event on the customer's contact.
 *   POST /v2/ExternalApi/newContact  create or update (same email & first name, or phone & first
 *                                    name), answers {"status":"success","_id":"..."}
 *   POST /v2/ExternalApi/newEvent    user_id = that _id, id = the sale's reference
 * Gleantap keeps one event per id, so a request in doubt is simply sent again. Both requests carry
 * app_id in the body and the two keys as headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "contact_cache.h"

#define PATH_CONTACT "/v2/ExternalApi/newContact"
#define PATH_EVENT   "/v2/ExternalApi/newEvent"

struct gleantap_conf {
    /* From the key files; only ever written into the X-API-KEY and X-SECRET-KEY headers. */
    char api_key[512];
    char secret_key[512];
    char app_id[129];
    /* Sent for a name the till does not have (Gleantap requires both). */
    char first_name_placeholder[65];
    char last_name_placeholder[65];
    int partial_names_keep; /* a lone first or last name is sent, its partner a placeholder */
    int time_12h;           /* event_time "HH:MM AM/PM" instead of "HH:MM:SS" */
};
_Static_assert(sizeof(struct gleantap_conf) <= BACKEND_CONF_MAX, "gleantap_conf too large");

struct gleantap_state {
    struct contact_cache contacts;
};

struct gleantap_sale {
    int step;               /* 0: newContact went last; 1: newEvent */
    int contact_from_cache; /* a refused event may mean the cached _id went stale */
    char user_id[BACKEND_ID_TEXT];
};

static const char *const gleantap_keys[] = {"api_key_file",
                                            "secret_key_file",
                                            "app_id",
                                            "event_time_format",
                                            "partial_names",
                                            "first_name_placeholder",
                                            "last_name_placeholder",
                                            NULL};

/* An optional key that must be one of two words; *second set when it is the second. */
static int choice(struct conf_ctx *c, const cJSON *obj, const char *key, const char *first,
                  const char *second, int *is_second)
{
    char v[16];
    int r = conf_str(c, obj, c->prefix, key, v, sizeof v, 0);
    if (r < 0)
        return -1;
    *is_second = r > 0 && strcmp(v, second) == 0;
    if (r > 0 && !*is_second && strcmp(v, first) != 0)
        return conf_fail(c, "%s%s: must be \"%s\" or \"%s\"", c->prefix, key, first, second);
    return 0;
}

static int gleantap_configure(struct backend_config *bc, void *conf, const cJSON *obj,
                              struct conf_ctx *c)
{
    (void)bc;
    struct gleantap_conf *g = conf;
    snprintf(g->first_name_placeholder, sizeof g->first_name_placeholder, "Guest");
    snprintf(g->last_name_placeholder, sizeof g->last_name_placeholder, "Customer");
    if (conf_str(c, obj, c->prefix, "app_id", g->app_id, sizeof g->app_id, 1) < 0 ||
        conf_secret_file(c, obj, c->prefix, "api_key_file", g->api_key, sizeof g->api_key) < 0 ||
        conf_secret_file(c, obj, c->prefix, "secret_key_file", g->secret_key,
                         sizeof g->secret_key) < 0 ||
        choice(c, obj, "event_time_format", "24h", "12h", &g->time_12h) < 0 ||
        choice(c, obj, "partial_names", "replace", "keep", &g->partial_names_keep) < 0 ||
        conf_str(c, obj, c->prefix, "first_name_placeholder", g->first_name_placeholder,
                 sizeof g->first_name_placeholder, 0) < 0 ||
        conf_str(c, obj, c->prefix, "last_name_placeholder", g->last_name_placeholder,
                 sizeof g->last_name_placeholder, 0) < 0)
        return -1;
    return 0;
}

/* A customer field with something in it: Gleantap takes blank as "not given". */
static const char *given(const cJSON *cust, const char *key)
{
    const char *v = backend_json_str(cust, key);
    return v && v[strspn(v, " \t")] ? v : NULL;
}

/* Both endpoints are fixed paths: the ids travel in the bodies. */
static enum backend_verdict post(const struct backend_job *job, const char *path, cJSON *body,
                                 struct http_request *req, char *why, size_t whylen)
{
    const struct gleantap_conf *g = (const void *)job->bc->conf;
    http_request_init(req, HTTP_POST, "%s", path);
    req->fixed_endpoint = 1;
    if (http_request_json(req, body) != 0 ||
        http_request_header(req, "X-API-KEY: %s", g->api_key) != 0 ||
        http_request_header(req, "X-SECRET-KEY: %s", g->secret_key) != 0) {
        http_request_clear(req);
        snprintf(why, whylen, "out of memory building POST %s", path);
        return BACKEND_RETRY;
    }
    return BACKEND_SEND;
}

/* Who the sale is booked to: the customer's email and/or phone, else the walk-in contact (names
 * NULL then: the placeholders). Returns 0 when the sale is skipped. */
static int identity(const struct backend_job *job, const char **email, const char **phone,
                    const char **first, const char **last)
{
    const struct gleantap_conf *g = (const void *)job->bc->conf;
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(job->sale, "customer");
    *email = given(cust, "email");
    *phone = given(cust, "phone");
    *first = given(cust, "first_name");
    *last = given(cust, "last_name");
    if (!*email && !*phone) {
        if (job->bc->anonymous != ANON_CONTACT)
            return 0;
        *email = job->bc->anonymous_email;
        *first = *last = NULL;
    }
    /* Gleantap updates the contact with the same email (or phone) and first name: a lone real
     * first name beside a placeholder last name would overwrite that contact's real last name.
     * So by default names go as a pair or not at all (see the README). */
    if (!g->partial_names_keep && !(*first && *last))
        *first = *last = NULL;
    if (!*first)
        *first = g->first_name_placeholder;
    if (!*last)
        *last = g->last_name_placeholder;
    return 1;
}

/*
 * event_date and event_time: `at` as written, in the store's local time (its own offset), never
 * converted. Seconds dropped in 12h form (Gleantap's "HH:MM AM/PM"), fractions always; a leap
 * second (:60) is sent as :59, which a time of day can hold. Returns 0 if at is not a date-time.
 */
static int local_date_time(const char *at, int time_12h, char date[11], char time[12])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (!at || strlen(at) < sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? at[i] < '0' || at[i] > '9'
                            : at[i] != shape[i] && !(shape[i] == 'T' && at[i] == 't'))
            return 0;
    memcpy(date, at, 10);
    date[10] = '\0';
    int hour = (at[11] - '0') * 10 + (at[12] - '0');
    if (time_12h)
        snprintf(time, 12, "%02d:%.2s %s", hour % 12 ? hour % 12 : 12, at + 14,
                 hour < 12 ? "AM" : "PM");
    else
        snprintf(time, 12, "%.2s:%.2s:%.2s", at + 11, at + 14,
                 strncmp(at + 17, "60", 2) == 0 ? "59" : at + 17);
    return 1;
}

static enum backend_verdict post_event(struct backend_job *job, struct http_request *req, char *why,
                                       size_t whylen)
{
    const struct gleantap_conf *g = (const void *)job->bc->conf;
    struct gleantap_sale *gs = job->sale_state;
    const cJSON *s = job->sale;
    const char *email, *phone, *first, *last, *source = backend_json_str(s, "source");
    char date[11], time[12];
    identity(job, &email, &phone, &first, &last);
    if (!local_date_time(backend_json_str(s, "at"), g->time_12h, date, time)) {
        snprintf(why, whylen, "stored sale: at is not an RFC 3339 date-time");
        return BACKEND_DEAD;
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "app_id", g->app_id);
    cJSON_AddStringToObject(e, "user_id", gs->user_id);
    if (email)
        cJSON_AddStringToObject(e, "email", email);
    if (phone)
        cJSON_AddStringToObject(e, "phone", phone);
    cJSON_AddStringToObject(e, "event_type", "purchase");
    cJSON_AddStringToObject(e, "event_date", date);
    cJSON_AddStringToObject(e, "event_time", time);
    cJSON_AddStringToObject(e, "id", job->ref);
    cJSON_AddTrueToObject(e, "is_purchase");
    /* One object of custom fields, as the seed's example has it (its table's "object[]" would
     * make a list of field sets for one event; see the README). */
    cJSON *d = cJSON_AddObjectToObject(e, "event_data");
    cJSON_AddNumberToObject(d, "total", cJSON_GetObjectItemCaseSensitive(s, "total")->valuedouble);
    cJSON_AddStringToObject(d, "currency", backend_json_str(s, "currency"));
    cJSON_AddStringToObject(d, "txn", backend_json_str(s, "txn"));
    cJSON_AddStringToObject(d, "source", source ? source : job->bc->source);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    cJSON_AddItemToObject(d, "items", items ? cJSON_Duplicate(items, 1) : cJSON_CreateArray());
    gs->step = 1;
    return post(job, PATH_EVENT, e, req, why, whylen);
}

/* The newContact request for this sale, whether or not it goes out. */
static enum backend_verdict contact_request(struct backend_job *job, struct http_request *req,
                                            char *why, size_t whylen)
{
    const struct gleantap_conf *g = (const void *)job->bc->conf;
    const char *email, *phone, *first, *last;
    if (!identity(job, &email, &phone, &first, &last)) {
        snprintf(why, whylen, "no customer email or phone (anonymous_sales: skip)");
        return BACKEND_SKIP;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "app_id", g->app_id);
    cJSON_AddStringToObject(o, "first_name", first);
    cJSON_AddStringToObject(o, "last_name", last);
    if (email)
        cJSON_AddStringToObject(o, "email", email);
    if (phone)
        cJSON_AddStringToObject(o, "phone", phone);
    ((struct gleantap_sale *)job->sale_state)->step = 0;
    return post(job, PATH_CONTACT, o, req, why, whylen);
}

static enum backend_verdict gleantap_start(struct backend_job *job, struct http_request *req,
                                           char *why, size_t whylen)
{
    struct gleantap_sale *gs = job->sale_state;
    struct gleantap_state *st = job->state;
    enum backend_verdict v = contact_request(job, req, why, whylen);
    if (v != BACKEND_SEND)
        return v;
    /* The same contact, unchanged, was answered before: a backlog of regulars then costs one
     * request a sale. The key is the very request, so any new detail still goes out. */
    gs->contact_from_cache =
        contact_cache_get(&st->contacts, req->body, gs->user_id, sizeof gs->user_id);
    if (!gs->contact_from_cache)
        return BACKEND_SEND;
    http_request_clear(req);
    return post_event(job, req, why, whylen);
}

/* A contact _id as Gleantap gives it (a string, e.g. 24 hex digits) or, tolerated, a whole
 * number; copied as text into id. Returns 0 with what describing anything else. */
static int contact_id(const cJSON *v, char *id, size_t cap, char *what, size_t whatlen)
{
    int64_t n;
    if (cJSON_IsString(v)) {
        const char *p = v->valuestring;
        size_t len = strlen(p);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
                snprintf(what, whatlen, "a string with spaces or control characters");
                return 0;
            }
        if (len == 0) {
            snprintf(what, whatlen, "empty");
            return 0;
        }
        if (len >= cap) {
            snprintf(what, whatlen, "longer than %zu bytes", cap - 1);
            return 0;
        }
        memcpy(id, p, len + 1);
        return 1;
    }
    if (!backend_json_id(v, &n, what, whatlen))
        return 0;
    snprintf(id, cap, "%lld", (long long)n);
    return 1;
}

/* A 2xx: newContact's _id (the event next), or newEvent's success (delivered). */
static enum backend_verdict answered(struct backend_job *job, const struct http_request *sent,
                                     const struct http_answer *ans, struct http_request *next,
                                     char *why, size_t whylen)
{
    struct gleantap_sale *gs = job->sale_state;
    struct gleantap_state *st = job->state;
    cJSON *a = cJSON_Parse(ans->body);
    const char *status = backend_json_str(a, "status"), *result = backend_json_str(a, "result");
    const char *message = backend_json_str(a, "message");
    char what[64];
    enum backend_verdict v = BACKEND_RETRY;
    if (!cJSON_IsObject(a)) {
        /* A captive portal's page, a proxy's error: nothing about the sale. */
        snprintf(why, whylen, "not a JSON object: an answer not understood");
    } else if ((status && strcmp(status, "success") != 0) ||
               (result && strcmp(result, "success") != 0)) {
        /* Undocumented (the seed's failures are 400s): perhaps the sale, perhaps the account or
         * a passing fault. The sale is kept and Gleantap's message shown (see the README). */
        snprintf(why, whylen, "Gleantap answered \"%s\": %.160s",
                 status && strcmp(status, "success") != 0 ? status : result,
                 message ? message : "(no message)");
    } else if (gs->step == 0 && !status) {
        snprintf(why, whylen, "answer without \"status\": \"success\"");
    } else if (gs->step == 0 && !contact_id(cJSON_GetObjectItemCaseSensitive(a, "_id"), gs->user_id,
                                            sizeof gs->user_id, what, sizeof what)) {
        snprintf(why, whylen, "answer without a valid contact _id (_id: %s)", what);
    } else if (gs->step == 1 && !status && !result) {
        snprintf(why, whylen, "answer without \"result\": \"success\"");
    } else if (gs->step == 1) {
        v = BACKEND_DONE;
    } else {
        contact_cache_put(&st->contacts, sent->body, gs->user_id);
        v = post_event(job, next, why, whylen);
    }
    cJSON_Delete(a);
    return v;
}

static enum backend_verdict gleantap_answer(struct backend_job *job,
                                            const struct http_request *sent,
                                            const struct http_answer *ans,
                                            struct http_request *next, char *why, size_t whylen)
{
    struct gleantap_sale *gs = job->sale_state;
    long st = ans->status;
    if (st >= 200 && st < 300)
        return answered(job, sent, ans, next, why, whylen);
    if (st < 400 || st >= 500 || st == 408 || st == 429 || st == 404 || st == 405)
        return BACKEND_UNCLAIMED; /* retried; 404/405 on these fixed paths: base_url */
    cJSON *a = cJSON_Parse(ans->body);
    const char *message = backend_json_str(a, "message");
    char msg[200], req[80];
    snprintf(msg, sizeof msg, "%s", message ? message : ans->body);
    cJSON_Delete(a);
    http_request_describe(sent, req, sizeof req);
    if (st == 401 || st == 403) {
        /* app_id is the third part of the credentials: a wrong one is refused alike. */
        snprintf(why, whylen, "check api_key_file, secret_key_file and app_id (%s)", msg);
        return BACKEND_PAUSE;
    }
    /* An event refused for a cached contact: perhaps merged or deleted since; ask for it again
     * (once: the answer is not from the cache). */
    if (gs->step == 1 && gs->contact_from_cache) {
        struct gleantap_state *cs = job->state;
        enum backend_verdict v = contact_request(job, next, why, whylen);
        if (v == BACKEND_SEND)
            contact_cache_evict(&cs->contacts, next->body);
        gs->contact_from_cache = 0;
        return v;
    }
    /* A validation error names the field: that is the dead letter's reason. */
    snprintf(why, whylen, "HTTP %ld from %s: %s", st, req, msg);
    return BACKEND_DEAD;
}

/*
 * Gleantap's documented API (the seeds, and the mock built from them) has no read request this
 * firmware knows the path of: both endpoints it uses create. So the probe is newContact with
 * app_id alone: the platform checks both keys and app_id first (401), then refuses the body for
 * its missing first_name (400) and creates nothing, since a contact needs a name and an email or
 * phone. That 400 is the proof; a guessed "fetch" path would answer 404 and blame base_url.
 */
static int gleantap_probe(const struct backend_config *bc, void *state, struct http_request *req)
{
    (void)state;
    const struct gleantap_conf *g = (const void *)bc->conf;
    cJSON *body = cJSON_CreateObject();
    if (!cJSON_AddStringToObject(body, "app_id", g->app_id)) {
        cJSON_Delete(body);
        return -1;
    }
    http_request_init(req, HTTP_POST, "%s", PATH_CONTACT);
    req->fixed_endpoint = 1;
    if (http_request_json(req, body) != 0 ||
        http_request_header(req, "X-API-KEY: %s", g->api_key) != 0 ||
        http_request_header(req, "X-SECRET-KEY: %s", g->secret_key) != 0) {
        http_request_clear(req);
        return -1;
    }
    return 0;
}

/* The refusal of the probe's body, and only that: a 400 naming first_name. Any other 400 (a proxy,
 * a changed API) proves nothing about the keys. */
static int gleantap_probe_accepted(const struct backend_config *bc, const struct http_answer *ans)
{
    (void)bc;
    return ans->status == 400 && strstr(ans->body, "first_name") != NULL;
}

const struct backend_ops backend_gleantap = {
    .kind = "gleantap",
    .keys = gleantap_keys,
    .conf_size = sizeof(struct gleantap_conf),
    .state_size = sizeof(struct gleantap_state),
    .sale_state_size = sizeof(struct gleantap_sale),
    .configure = gleantap_configure,
    .start = gleantap_start,
    .answer = gleantap_answer,
    .probe = gleantap_probe,
    .probe_accepted = gleantap_probe_accepted,
};
