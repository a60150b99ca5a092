/*
 * Glu: a sale becomes a "Purchase" activity on the customer's contact.
 *   POST /contacts   create-or-update by email, answers the contact with its id
 *   POST /activities contact, type, source, happenedAt, spend, currencyCode, externalReference
 * Glu deduplicates activities by type + externalReference, so a resend answers the existing one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backend.h"

static struct curl_slist *glu_auth(const struct backend_config *bc, struct curl_slist *h)
{
    char line[600];
    snprintf(line, sizeof line, "x-api-key: %s", bc->api_key);
    return curl_slist_append(h, line);
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Both of Glu's endpoints are fixed paths: the ids travel in the bodies. */
static enum backend_verdict send_json(cJSON *o, const char *path, struct http_request *req)
{
    snprintf(req->path, sizeof req->path, "%s", path);
    req->fixed_endpoint = 1;
    req->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return BACKEND_SEND;
}

static enum backend_verdict post_activity(const struct backend_config *bc, struct backend_job *job,
                                          struct http_request *req)
{
    const cJSON *s = job->sale;
    char id[24];
    /* Printed as the integer it is: cJSON would print a double, 1e+15 for 10^15. */
    snprintf(id, sizeof id, "%" PRId64, job->contact_id);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddRawToObject(a, "contact", id);
    cJSON_AddStringToObject(a, "type", "Purchase");
    cJSON_AddStringToObject(a, "source", str(s, "source") ? str(s, "source") : bc->source);
    cJSON_AddStringToObject(a, "happenedAt", str(s, "at"));
    cJSON_AddNumberToObject(a, "spend", cJSON_GetObjectItemCaseSensitive(s, "total")->valuedouble);
    cJSON_AddStringToObject(a, "currencyCode", str(s, "currency"));
    cJSON_AddStringToObject(a, "externalReference", job->ref);
    job->step = 1;
    return send_json(a, "/activities", req);
}

static enum backend_verdict glu_start(const struct backend_config *bc, struct backend_job *job,
                                      struct http_request *req, char *why, size_t whylen)
{
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(job->sale, "customer");
    const char *email = str(cust, "email"), *phone = str(cust, "phone");
    cJSON *o = cJSON_CreateObject();
    if (email || phone) {
        if (email)
            cJSON_AddStringToObject(o, "emailAddress", email);
        if (phone)
            cJSON_AddStringToObject(o, "phoneNumber", phone);
        if (str(cust, "first_name"))
            cJSON_AddStringToObject(o, "firstName", str(cust, "first_name"));
        if (str(cust, "last_name"))
            cJSON_AddStringToObject(o, "lastName", str(cust, "last_name"));
    } else if (bc->anonymous == ANON_CONTACT) {
        cJSON_AddStringToObject(o, "emailAddress", bc->anonymous_email);
    } else {
        cJSON_Delete(o);
        snprintf(why, whylen, "no customer email or phone (anonymous_sales: skip)");
        return BACKEND_SKIP;
    }
    job->step = 0;
    send_json(o, "/contacts", req);
    /* The same contact, unchanged, was answered before: a backlog of regulars then costs one
     * request a sale. The key is the very request, so any new detail still goes out. */
    job->contact_key[0] = '\0';
    job->contact_from_cache = 0;
    if (req->body && strlen(req->body) < sizeof job->contact_key) {
        strcpy(job->contact_key, req->body);
        job->contact_from_cache =
            contact_cache_get(job->contacts, job->contact_key, &job->contact_id);
        if (job->contact_from_cache) {
            free(req->body);
            req->body = NULL;
            return post_activity(bc, job, req);
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

static enum backend_verdict glu_answered(const struct backend_config *bc, struct backend_job *job,
                                         long status, const char *body, struct http_request *req,
                                         char *why, size_t whylen)
{
    (void)status;
    cJSON *answer;
    int64_t id;
    int ok = answer_id(body, job->step == 1 ? "activity" : "contact", &id, &answer, why, whylen);
    if (ok && job->step == 1) {
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
    if (job->step == 1)
        return BACKEND_DONE;
    job->contact_id = id;
    contact_cache_put(job->contacts, job->contact_key, job->contact_id);
    return post_activity(bc, job, req);
}

static enum backend_verdict glu_refused(const struct backend_config *bc, struct backend_job *job,
                                        long status, const char *body, struct http_request *req,
                                        char *why, size_t whylen)
{
    (void)status;
    (void)body;
    if (!job->contact_from_cache)
        return BACKEND_DEAD;
    /* Perhaps the contact was merged or deleted since we cached it: ask again. */
    contact_cache_evict(job->contacts, job->contact_key);
    return glu_start(bc, job, req, why, whylen);
}

const struct backend_ops backend_glu = {.kind = "glu",
                                        .auth_headers = glu_auth,
                                        .start = glu_start,
                                        .answered = glu_answered,
                                        .refused = glu_refused};
