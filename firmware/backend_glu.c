/*
 * Glu: a sale becomes a "Purchase" activity on the customer's contact.
 *   POST /contacts   create-or-update by email, answers the contact with its id
 *   POST /activities contact, type, source, happenedAt, spend, currencyCode, externalReference
 * Glu deduplicates activities by type + externalReference, so a resend answers the existing one.
 */
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

static enum backend_verdict send_json(cJSON *o, const char *path, struct http_request *req)
{
    snprintf(req->path, sizeof req->path, "%s", path);
    req->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return BACKEND_SEND;
}

static enum backend_verdict post_activity(const struct backend_config *bc, struct backend_job *job,
                                          struct http_request *req)
{
    const cJSON *s = job->sale;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "contact", (double)job->contact_id);
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
    snprintf(req->path, sizeof req->path, "/contacts");
    req->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* The same contact, unchanged, was answered before: a backlog of regulars then costs one
     * request a sale. The key is the very request, so any new detail still goes out. */
    job->contact_key[0] = '\0';
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

static enum backend_verdict glu_answered(const struct backend_config *bc, struct backend_job *job,
                                         long status, const char *body, struct http_request *req,
                                         char *why, size_t whylen)
{
    (void)status;
    if (job->step == 1)
        return BACKEND_DONE; /* created (201) or the existing duplicate (200): either way, there */
    cJSON *contact = cJSON_Parse(body);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(contact, "id");
    if (!cJSON_IsNumber(id)) {
        cJSON_Delete(contact);
        snprintf(why, whylen, "POST /contacts answered without a contact id");
        return BACKEND_DEAD;
    }
    job->contact_id = (long)id->valuedouble;
    cJSON_Delete(contact);
    contact_cache_put(job->contacts, job->contact_key, job->contact_id);
    return post_activity(bc, job, req);
}

const struct backend_ops backend_glu = {
    .kind = "glu", .auth_headers = glu_auth, .start = glu_start, .answered = glu_answered};
