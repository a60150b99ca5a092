/*
 * Glu: a sale becomes a "Purchase" activity on the customer's contact.
 *   POST /contacts   create-or-update by email (or phone), answers the contact with its id
 *   POST /activities contact, type, source, happenedAt, spend, currencyCode, externalReference
 * Glu deduplicates activities by type + externalReference, so a resend answers the existing one:
 * a request in doubt is simply sent again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "contact_cache.h"

struct glu_conf {
    char api_key[512]; /* from api_key_file; only ever written into the x-api-key header */
};

struct glu_state {
    struct contact_cache contacts;
};

struct glu_sale {
    int step; /* 0: the contact request went last; 1: the activity */
    char contact_id[BACKEND_ID_TEXT];
    /* The contact request, as sent: the cache key (longer ones are not cached) */
    char contact_key[160];
    int contact_from_cache; /* a refusal may mean the cached id went stale */
};

static const char *const glu_keys[] = {"api_key_file", NULL};

static int glu_configure(struct backend_config *bc, void *conf, const cJSON *obj,
                         struct conf_ctx *c)
{
    (void)bc;
    struct glu_conf *g = conf;
    return conf_secret_file(c, obj, c->prefix, "api_key_file", g->api_key, sizeof g->api_key) < 0
               ? -1
               : 0;
}

/* Both of Glu's endpoints are fixed paths: the ids travel in the bodies. */
static enum backend_verdict post(const struct backend_job *job, const char *path, cJSON *body,
                                 struct http_request *req, char *why, size_t whylen)
{
    const struct glu_conf *g = (const void *)job->bc->conf;
    http_request_init(req, HTTP_POST, "%s", path);
    req->fixed_endpoint = 1;
    if (http_request_json(req, body) != 0 ||
        http_request_header(req, "x-api-key: %s", g->api_key) != 0) {
        http_request_clear(req);
        snprintf(why, whylen, "out of memory building POST %s", path);
        return BACKEND_RETRY;
    }
    return BACKEND_SEND;
}

static enum backend_verdict post_activity(struct backend_job *job, struct http_request *req,
                                          char *why, size_t whylen)
{
    struct glu_sale *gs = job->sale_state;
    const cJSON *s = job->sale;
    const char *source = backend_json_str(s, "source");
    cJSON *a = cJSON_CreateObject();
    /* The id as the integer Glu gave: printed from its digits, never through a double. */
    cJSON_AddRawToObject(a, "contact", gs->contact_id);
    cJSON_AddStringToObject(a, "type", "Purchase");
    cJSON_AddStringToObject(a, "source", source ? source : job->bc->source);
    cJSON_AddStringToObject(a, "happenedAt", backend_json_str(s, "at"));
    cJSON_AddNumberToObject(a, "spend", cJSON_GetObjectItemCaseSensitive(s, "total")->valuedouble);
    cJSON_AddStringToObject(a, "currencyCode", backend_json_str(s, "currency"));
    cJSON_AddStringToObject(a, "externalReference", job->ref);
    gs->step = 1;
    return post(job, "/activities", a, req, why, whylen);
}

static enum backend_verdict glu_start(struct backend_job *job, struct http_request *req, char *why,
                                      size_t whylen)
{
    struct glu_sale *gs = job->sale_state;
    struct glu_state *st = job->state;
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(job->sale, "customer");
    const char *email = backend_json_str(cust, "email"), *phone = backend_json_str(cust, "phone");
    cJSON *o = cJSON_CreateObject();
    if (email || phone) {
        if (email)
            cJSON_AddStringToObject(o, "emailAddress", email);
        if (phone)
            cJSON_AddStringToObject(o, "phoneNumber", phone);
        if (backend_json_str(cust, "first_name"))
            cJSON_AddStringToObject(o, "firstName", backend_json_str(cust, "first_name"));
        if (backend_json_str(cust, "last_name"))
            cJSON_AddStringToObject(o, "lastName", backend_json_str(cust, "last_name"));
    } else if (job->bc->anonymous == ANON_CONTACT) {
        cJSON_AddStringToObject(o, "emailAddress", job->bc->anonymous_email);
    } else {
        cJSON_Delete(o);
        snprintf(why, whylen, "no customer email or phone (anonymous_sales: skip)");
        return BACKEND_SKIP;
    }
    gs->step = 0;
    enum backend_verdict v = post(job, "/contacts", o, req, why, whylen);
    if (v != BACKEND_SEND)
        return v;
    /* The same contact, unchanged, was answered before: a backlog of regulars then costs one
     * request a sale. The key is the very request, so any new detail still goes out. */
    gs->contact_key[0] = '\0';
    gs->contact_from_cache = 0;
    if (strlen(req->body) < sizeof gs->contact_key) {
        strcpy(gs->contact_key, req->body);
        gs->contact_from_cache = contact_cache_get(&st->contacts, gs->contact_key, gs->contact_id,
                                                   sizeof gs->contact_id);
        if (gs->contact_from_cache) {
            http_request_clear(req);
            return post_activity(job, req, why, whylen);
        }
    }
    return BACKEND_SEND;
}

/* The answer's object id, or 0 with why saying what was wrong. A 2xx that is not what Glu sends
 * (a captive portal's page, a proxy's error, a wrong id) proves nothing about the sale. */
static int answer_id(const char *body, const char *noun, int64_t *id, cJSON **parsed, char *why,
                     size_t whylen)
{
    char what[40];
    *parsed = cJSON_Parse(body);
    if (!cJSON_IsObject(*parsed)) {
        snprintf(why, whylen, "answer without a valid %s id (not a JSON object)", noun);
        return 0;
    }
    if (!backend_json_id(cJSON_GetObjectItemCaseSensitive(*parsed, "id"), id, what, sizeof what)) {
        snprintf(why, whylen, "answer without a valid %s id (id: %s)", noun, what);
        return 0;
    }
    return 1;
}

static enum backend_verdict answered(struct backend_job *job, const struct http_answer *ans,
                                     struct http_request *next, char *why, size_t whylen)
{
    struct glu_sale *gs = job->sale_state;
    struct glu_state *st = job->state;
    cJSON *answer;
    int64_t id;
    int ok =
        answer_id(ans->body, gs->step == 1 ? "activity" : "contact", &id, &answer, why, whylen);
    if (ok && gs->step == 1) {
        /* Created (201) or the existing duplicate (200): either way there, if it is ours. */
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(answer, "externalReference");
        if (ref && !(cJSON_IsString(ref) && strcmp(ref->valuestring, job->ref) == 0)) {
            snprintf(why, whylen, "answer for another externalReference");
            ok = 0;
        }
    }
    cJSON_Delete(answer);
    if (!ok)
        return BACKEND_RETRY;
    if (gs->step == 1)
        return BACKEND_DONE;
    snprintf(gs->contact_id, sizeof gs->contact_id, "%lld", (long long)id);
    contact_cache_put(&st->contacts, gs->contact_key, gs->contact_id);
    return post_activity(job, next, why, whylen);
}

static enum backend_verdict glu_answer(struct backend_job *job, const struct http_request *sent,
                                       const struct http_answer *ans, struct http_request *next,
                                       char *why, size_t whylen)
{
    (void)sent;
    struct glu_sale *gs = job->sale_state;
    if (ans->status >= 200 && ans->status < 300)
        return answered(job, ans, next, why, whylen);
    /* A definitive refusal of an activity booked to a cached contact: perhaps the contact was
     * merged or deleted since; ask for it again (once: the look-up is not from the cache). */
    if (ans->status >= 400 && ans->status < 500 && ans->status != 401 && ans->status != 403 &&
        ans->status != 408 && ans->status != 429 && gs->contact_from_cache) {
        struct glu_state *st = job->state;
        contact_cache_evict(&st->contacts, gs->contact_key);
        return glu_start(job, next, why, whylen);
    }
    return BACKEND_UNCLAIMED;
}

/* A contact look-up by an address no customer has (.invalid is reserved, RFC 2606): it needs the
 * key, changes nothing and brings no customer's data onto the till. The seed's form of the
 * filter, emailAddress[]. */
static int glu_probe(const struct backend_config *bc, void *state, struct http_request *req)
{
    (void)state;
    const struct glu_conf *g = (const void *)bc->conf;
    if (http_request_init(req, HTTP_GET,
                          "/contacts?emailAddress%%5B%%5D=probe%%40tillsync.invalid") != 0 ||
        http_request_header(req, "x-api-key: %s", g->api_key) != 0) {
        http_request_clear(req);
        return -1;
    }
    req->fixed_endpoint = 1;
    return 0;
}

const struct backend_ops backend_glu = {
    .kind = "glu",
    .keys = glu_keys,
    .conf_size = sizeof(struct glu_conf),
    .state_size = sizeof(struct glu_state),
    .sale_state_size = sizeof(struct glu_sale),
    .configure = glu_configure,
    .start = glu_start,
    .answer = glu_answer,
    .probe = glu_probe,
};
