/*
 * Givebutter: a sale becomes a "note" activity on the customer's contact.
 *   GET  /v1/contacts?email=E              the contact by email (the list's documented filter)
 *   POST /v1/contacts                      else created; Givebutter merges it into a contact with
 *                                          the same first and last name and the same email or
 *                                          phone, so a resend or a phone-only customer finds the
 *                                          contact it made before
 *   POST /v1/contacts/{id}/activities      type "note", subject and note carrying the reference
 *   GET  /v1/contacts/{id}/activities?type=note&page=N
 *                                          only for a sale in doubt: Givebutter keeps no
 *                                          idempotency key, so an activity whose earlier POST may
 *                                          have landed is looked for before it is sent again
 * The activity resource echoes neither subject nor note by name: the look-up finds the reference
 * as a whole token in any string of an activity (its free-text `data` among them). Should the
 * platform echo it nowhere, the look-up misses and the sale is sent again: a duplicate, never a
 * loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "civil_date.h"
#include "contact_cache.h"

#define GB_NAME_MAX     255 /* characters, StoreContactRequest's maxLength for either name */
#define GB_LOOKUP_PAGES 50  /* 20 activities a page: 1000 notes looked through, then sent */
#define GB_KEY_MAX      2400

/* For a customer without one: Givebutter requires both names for an individual. */
#define GB_NO_FIRST_NAME "Till"
#define GB_NO_LAST_NAME  "Customer"

struct gb_conf {
    char api_key[512]; /* from api_key_file; only ever written into the Authorization header */
};

struct gb_state {
    struct contact_cache contacts;
    int timezone_refused; /* a 422 on `timezone` alone: sent without it for the rest of the run */
};

enum gb_step { GB_FIND, GB_CREATE, GB_LOOKUP, GB_ACTIVITY };

struct gb_sale {
    enum gb_step step; /* what the request sent last was */
    char contact_id[BACKEND_ID_TEXT];
    int from_cache;     /* contact_id came from the cache: a 404 may mean it went stale */
    int resolved_again; /* a 404 on the contact's activities was answered by resolving once */
    int need_lookup;    /* an activity POST may have landed: look before sending */
    unsigned page;      /* the activities page asked for */
};

static const char *const gb_keys[] = {"api_key_file", NULL};

static int gb_configure(struct backend_config *bc, void *conf, const cJSON *obj, struct conf_ctx *c)
{
    (void)bc;
    struct gb_conf *g = conf;
    return conf_secret_file(c, obj, c->prefix, "api_key_file", g->api_key, sizeof g->api_key) < 0
               ? -1
               : 0;
}

/* The customer as Givebutter is asked about it. */
struct gb_customer {
    const char *email, *phone;
    char first[GB_NAME_MAX * 4 + 1], last[GB_NAME_MAX * 4 + 1];
};

static int blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

/* s, cut after GB_NAME_MAX characters (UTF-8, checked at intake), or the placeholder. */
static void name_or(char *out, size_t cap, const char *s, const char *placeholder)
{
    if (blank(s))
        s = placeholder;
    size_t n = 0, chars = 0;
    while (s[n] && n + 4 < cap) {
        if (((unsigned char)s[n] & 0xC0) != 0x80 && chars++ == GB_NAME_MAX)
            break;
        n++;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Who the sale is booked to; SKIP when nobody and anonymous_sales says skip. */
static enum backend_verdict customer_of(const struct backend_job *job, struct gb_customer *cu,
                                        char *why, size_t whylen)
{
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(job->sale, "customer");
    const char *email = backend_json_str(cust, "email"), *phone = backend_json_str(cust, "phone");
    cu->email = email && *email ? email : NULL;
    cu->phone = phone && *phone ? phone : NULL;
    if (cu->email || cu->phone) {
        name_or(cu->first, sizeof cu->first, backend_json_str(cust, "first_name"),
                GB_NO_FIRST_NAME);
        name_or(cu->last, sizeof cu->last, backend_json_str(cust, "last_name"), GB_NO_LAST_NAME);
        return BACKEND_SEND;
    }
    if (job->bc->anonymous == ANON_CONTACT) {
        cu->email = job->bc->anonymous_email;
        name_or(cu->first, sizeof cu->first, NULL, GB_NO_FIRST_NAME);
        name_or(cu->last, sizeof cu->last, NULL, GB_NO_LAST_NAME);
        return BACKEND_SEND;
    }
    snprintf(why, whylen, "no customer email or phone (anonymous_sales: skip)");
    return BACKEND_SKIP;
}

/* The identity the contact was resolved by: by email, the email (the list answers for it
 * whatever the names); by phone alone, the phone and both names (the merge rule's identity). */
static void cache_key(const struct gb_customer *cu, char *key, size_t cap)
{
    if (cu->email)
        snprintf(key, cap, "email\n%s", cu->email);
    else
        snprintf(key, cap, "phone\n%s\n%s\n%s", cu->phone, cu->first, cu->last);
}

/* Takes body (may be NULL). Every request carries the key: Givebutter's only authentication. */
static enum backend_verdict request(const struct backend_job *job, struct http_request *req,
                                    enum http_method method, const char *path, cJSON *body,
                                    char *why, size_t whylen)
{
    const struct gb_conf *g = (const void *)job->bc->conf;
    int built = http_request_init(req, method, "%s", path) == 0;
    if (!built)
        cJSON_Delete(body); /* else http_request_json takes it, failing or not */
    if (!built || (body && http_request_json(req, body) != 0) ||
        http_request_header(req, "Authorization: Bearer %s", g->api_key) != 0) {
        http_request_clear(req);
        snprintf(why, whylen, "out of memory building a request");
        return BACKEND_RETRY;
    }
    return BACKEND_SEND;
}

/* ISO 4217 minor units: the digits after the decimal point of an amount. */
static int currency_exponent(const char *cur)
{
    static const char zero[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF "
                               "XPF XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    static const char four[] = "CLF UYW";
    if (strlen(cur) != 3)
        return 2;
    if (strstr(zero, cur))
        return 0;
    if (strstr(three, cur))
        return 3;
    if (strstr(four, cur))
        return 4;
    return 2;
}

/* "GBP 127.50" from 12750 minor units. */
static void amount_text(char *out, size_t cap, long long minor, const char *cur)
{
    int e = currency_exponent(cur);
    long long unit = 1;
    for (int i = 0; i < e; i++)
        unit *= 10;
    if (e == 0)
        snprintf(out, cap, "%s %lld", cur, minor);
    else
        snprintf(out, cap, "%s %lld.%0*lld", cur, minor / unit, e, minor % unit);
}

/*
 * The sale's `at` (RFC 3339, checked at intake) as occurred_at, in UTC to the second
 * ("2026-04-07T18:45:00Z"), and its offset as timezone ("+01:00"; "Z" is "+00:00"). Returns 0,
 * or -1 when it is not such a time or its UTC date leaves years 0000-9999.
 */
static int utc_of(const char *at, char *utc, size_t cap, char tz[7])
{
    if (!at || strlen(at) < 20)
        return -1;
    int y = civil_digits(at, 4), mo = civil_digits(at + 5, 2), d = civil_digits(at + 8, 2),
        h = civil_digits(at + 11, 2), mi = civil_digits(at + 14, 2), se = civil_digits(at + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || mi < 0 || se < 0)
        return -1;
    const char *p = at + 19;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ; /* fractions of a second: occurred_at carries whole seconds */
    long offset = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        strcpy(tz, "+00:00");
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = civil_digits(p + 1, 2), om = civil_digits(p + 4, 2);
        if (oh < 0 || om < 0)
            return -1;
        offset = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        memcpy(tz, p, 6);
        tz[6] = '\0';
    } else {
        return -1;
    }
    /* A leap second (:60) becomes the next minute's :00, as UTC arithmetic has it. */
    long long t = civil_days_from_date(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL +
                  mi * 60LL + se - offset;
    long long days = (t >= 0 ? t : t - 86399) / 86400, secs = t - days * 86400;
    int64_t uy;
    unsigned um, ud;
    civil_date_from_days(days, &uy, &um, &ud);
    if (uy < 0 || uy > 9999)
        return -1;
    snprintf(utc, cap, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)uy, um, ud, secs / 3600,
             secs / 60 % 60, secs % 60);
    return 0;
}

static enum backend_verdict post_activity(struct backend_job *job, struct http_request *req,
                                          char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    const struct gb_state *st = job->state;
    const cJSON *s = job->sale;
    const char *source = backend_json_str(s, "source"), *cur = backend_json_str(s, "currency");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(s, "total");
    char utc[48], tz[7], amount[64], subject[160], note[512];
    if (!cJSON_IsNumber(total) || !cur || utc_of(backend_json_str(s, "at"), utc, sizeof utc, tz)) {
        snprintf(why, whylen, "at, total or currency: not a sale Givebutter can be told of");
        return BACKEND_DEAD;
    }
    amount_text(amount, sizeof amount, (long long)total->valuedouble, cur);
    /* The reference in both texts, each time between spaces or at an end: the look-up of a sale
     * in doubt finds it as a whole token whichever of them the platform echoes. */
    snprintf(subject, sizeof subject, "POS sale %s", job->ref);
    snprintf(note, sizeof note, "%s, source %s, ref %s", amount, source ? source : job->bc->source,
             job->ref);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", "note");
    cJSON_AddStringToObject(a, "subject", subject);
    cJSON_AddStringToObject(a, "note", note);
    cJSON_AddStringToObject(a, "occurred_at", utc);
    if (!st->timezone_refused)
        cJSON_AddStringToObject(a, "timezone", tz);
    char path[BACKEND_ID_TEXT + 64];
    snprintf(path, sizeof path, "/v1/contacts/%s/activities", gs->contact_id);
    gs->step = GB_ACTIVITY;
    enum backend_verdict v = request(job, req, HTTP_POST, path, a, why, whylen);
    /* Only the backend may send it again, after looking: see http_request.no_replay. */
    req->no_replay = 1;
    return v;
}

static enum backend_verdict lookup_page(struct backend_job *job, struct http_request *req,
                                        unsigned page, char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    char path[BACKEND_ID_TEXT + 64];
    gs->step = GB_LOOKUP;
    gs->page = page;
    snprintf(path, sizeof path, "/v1/contacts/%s/activities?type=note&page=%u", gs->contact_id,
             page);
    return request(job, req, HTTP_GET, path, NULL, why, whylen);
}

/* The contact is known: the activity, or first the look-up when the sale is in doubt. */
static enum backend_verdict contact_known(struct backend_job *job, struct http_request *req,
                                          char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    return gs->need_lookup ? lookup_page(job, req, 1, why, whylen)
                           : post_activity(job, req, why, whylen);
}

static enum backend_verdict create_contact(struct backend_job *job, const struct gb_customer *cu,
                                           struct http_request *req, char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "first_name", cu->first);
    cJSON_AddStringToObject(o, "last_name", cu->last);
    if (cu->email) {
        cJSON *emails = cJSON_AddArrayToObject(o, "emails");
        cJSON_AddItemToArray(emails, cJSON_CreateString(cu->email));
    }
    if (cu->phone) {
        cJSON *phones = cJSON_AddArrayToObject(o, "phones");
        cJSON_AddItemToArray(phones, cJSON_CreateString(cu->phone));
    }
    gs->step = GB_CREATE;
    enum backend_verdict v = request(job, req, HTTP_POST, "/v1/contacts", o, why, whylen);
    req->fixed_endpoint = 1;
    return v;
}

/* The contact from the cache, by the email filter, or created (phone only: the merge rule finds
 * the one created before). */
static enum backend_verdict resolve(struct backend_job *job, struct http_request *req, char *why,
                                    size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    struct gb_state *st = job->state;
    struct gb_customer cu;
    char key[GB_KEY_MAX];
    enum backend_verdict v = customer_of(job, &cu, why, whylen);
    if (v != BACKEND_SEND)
        return v;
    cache_key(&cu, key, sizeof key);
    gs->from_cache = contact_cache_get(&st->contacts, key, gs->contact_id, sizeof gs->contact_id);
    if (gs->from_cache)
        return contact_known(job, req, why, whylen);
    char path[BACKEND_PATH_MAX] = "/v1/contacts?email=";
    if (cu.email && http_query_escape(path, sizeof path, cu.email) == 0) {
        gs->step = GB_FIND;
        v = request(job, req, HTTP_GET, path, NULL, why, whylen);
        req->fixed_endpoint = 1;
        return v;
    }
    /* No email, or one too long for a query: creating merges into the existing contact. */
    return create_contact(job, &cu, req, why, whylen);
}

static enum backend_verdict gb_start(struct backend_job *job, struct http_request *req, char *why,
                                     size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    gs->need_lookup = job->in_doubt;
    return resolve(job, req, why, whylen);
}

/* An object id: a whole number from 1 to 2^53 - 1, as a JSON number or (the reference types
 * resource ids as strings) a string of its decimal digits. Into out as digits; 1, or 0 with
 * what (e.g. "missing", "1000.9", "a string") saying what was there. */
static int answer_id(const cJSON *v, char *out, size_t cap, char *what, size_t whatlen)
{
    int64_t id;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strspn(s, "0123456789");
        if (n == 0 || n > 16 || s[n] || s[0] == '0' || strtoll(s, NULL, 10) > BACKEND_ID_MAX) {
            snprintf(what, whatlen, "a string that is not a positive integer");
            return 0;
        }
        snprintf(out, cap, "%s", s);
        return 1;
    }
    if (!backend_json_id(v, &id, what, whatlen))
        return 0;
    snprintf(out, cap, "%lld", (long long)id);
    return 1;
}

static int email_is(const cJSON *v, const char *email)
{
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "value");
    return cJSON_IsString(v) && strcasecmp(v->valuestring, email) == 0;
}

/* The contact has this email: the filter is trusted to narrow, not to match exactly. */
static int contact_has_email(const cJSON *c, const char *email)
{
    const cJSON *e;
    if (email_is(cJSON_GetObjectItemCaseSensitive(c, "primary_email"), email) ||
        email_is(cJSON_GetObjectItemCaseSensitive(c, "email"), email))
        return 1;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "emails"))
    {
        if (email_is(e, email))
            return 1;
    }
    return 0;
}

static int ref_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

/* ref as a whole token in s: "T042:1" is not in "T042:10". */
static int has_token(const char *s, const char *ref)
{
    size_t n = strlen(ref);
    for (const char *p = strstr(s, ref); p; p = strstr(p + 1, ref))
        if ((p == s || !ref_char(p[-1])) && !ref_char(p[n]))
            return 1;
    return 0;
}

/* ref in any string of an activity, however deep (`data` may itself be structured text). */
static int activity_has(const cJSON *v, const char *ref)
{
    const cJSON *e;
    if (cJSON_IsString(v))
        return has_token(v->valuestring, ref);
    cJSON_ArrayForEach(e, v)
    {
        if (activity_has(e, ref))
            return 1;
    }
    return 0;
}

/* A 2xx of one request, by step. */
static enum backend_verdict answered(struct backend_job *job, const cJSON *a,
                                     struct http_request *next, char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    struct gb_state *st = job->state;
    static const char *const nouns[] = {"contact list", "contact", "activity list", "activity"};
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(a, "data"), *e;
    char what[48] = "not a JSON object", id[BACKEND_ID_TEXT], best[BACKEND_ID_TEXT] = "";
    struct gb_customer cu;
    char key[GB_KEY_MAX];
    if (!cJSON_IsObject(a))
        goto not_understood;
    switch (gs->step) {
    case GB_FIND:
        snprintf(what, sizeof what, "no data array");
        if (!cJSON_IsArray(data) || customer_of(job, &cu, why, whylen) != BACKEND_SEND)
            goto not_understood;
        cJSON_ArrayForEach(e, data)
        {
            if (!answer_id(cJSON_GetObjectItemCaseSensitive(e, "id"), id, sizeof id, what,
                           sizeof what)) {
                snprintf(what, sizeof what, "a contact without a valid id");
                goto not_understood;
            }
            /* Several contacts share the email: the lowest id, the same one every time. */
            if (contact_has_email(e, cu.email) &&
                (!best[0] || strlen(id) < strlen(best) ||
                 (strlen(id) == strlen(best) && strcmp(id, best) < 0)))
                strcpy(best, id);
        }
        if (!best[0])
            return create_contact(job, &cu, next, why, whylen);
        snprintf(gs->contact_id, sizeof gs->contact_id, "%s", best);
        break;
    case GB_CREATE:
        if (!answer_id(cJSON_GetObjectItemCaseSensitive(a, "id"), gs->contact_id,
                       sizeof gs->contact_id, what, sizeof what))
            goto not_understood;
        break;
    case GB_LOOKUP: {
        snprintf(what, sizeof what, "no data array");
        if (!cJSON_IsArray(data))
            goto not_understood;
        cJSON_ArrayForEach(e, data)
        {
            if (activity_has(e, job->ref))
                return BACKEND_DONE; /* an earlier attempt landed */
        }
        const cJSON *links = cJSON_GetObjectItemCaseSensitive(a, "links");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(a, "meta");
        const cJSON *more = cJSON_GetObjectItemCaseSensitive(links, "next");
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(meta, "current_page");
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(meta, "last_page");
        int next_page = cJSON_GetArraySize(data) > 0 &&
                        ((cJSON_IsString(more) && more->valuestring[0]) ||
                         (!links && cJSON_IsNumber(cur) && cJSON_IsNumber(last) &&
                          cur->valuedouble < last->valuedouble));
        /* Past the bound the sale is sent: a possible duplicate rather than a sale stuck. */
        if (next_page && gs->page < GB_LOOKUP_PAGES)
            return lookup_page(job, next, gs->page + 1, why, whylen);
        gs->need_lookup = 0;
        return post_activity(job, next, why, whylen);
    }
    case GB_ACTIVITY:
        if (!answer_id(cJSON_GetObjectItemCaseSensitive(a, "id"), id, sizeof id, what, sizeof what))
            goto not_understood;
        return BACKEND_DONE;
    }
    if (customer_of(job, &cu, why, whylen) == BACKEND_SEND) {
        cache_key(&cu, key, sizeof key);
        contact_cache_put(&st->contacts, key, gs->contact_id);
    }
    gs->from_cache = 0;
    return contact_known(job, next, why, whylen);

not_understood:
    /* A captive portal's page, a proxy's error, a wrong shape: proves nothing about the sale. */
    snprintf(why, whylen, "answer without a valid %s (%s)", nouns[gs->step], what);
    return BACKEND_RETRY;
}

/* A Laravel validation error: {"message": ..., "errors": {"field": ["why", ...]}}. The first
 * field and its first reason, or the message. Returns the number of fields named. */
static int validation_error(const cJSON *a, char *out, size_t cap)
{
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(a, "errors");
    const char *message = backend_json_str(a, "message");
    int n = cJSON_IsObject(errors) ? cJSON_GetArraySize(errors) : 0;
    if (n > 0) {
        const cJSON *f = errors->child, *first = cJSON_GetArrayItem(f, 0);
        snprintf(out, cap, "%s: %s", f->string,
                 cJSON_IsString(first) ? first->valuestring
                 : cJSON_IsString(f)   ? f->valuestring
                                       : "invalid");
    } else {
        snprintf(out, cap, "%s", message ? message : "refused (no reason given)");
    }
    return n;
}

static enum backend_verdict gb_answer(struct backend_job *job, const struct http_request *sent,
                                      const struct http_answer *ans, struct http_request *next,
                                      char *why, size_t whylen)
{
    struct gb_sale *gs = job->sale_state;
    struct gb_state *st = job->state;
    enum backend_verdict v = BACKEND_UNCLAIMED;
    cJSON *a = cJSON_Parse(ans->body);
    if (ans->status >= 200 && ans->status < 300) {
        v = answered(job, a, next, why, whylen);
    } else if (ans->status == 404 && (gs->step == GB_LOOKUP || gs->step == GB_ACTIVITY) &&
               !gs->resolved_again) {
        /* The contact is gone (merged or deleted since it was cached): resolved again, once.
         * An activity POST refused with 404 created nothing, so nothing new is in doubt. */
        struct gb_customer cu;
        char key[GB_KEY_MAX];
        if (customer_of(job, &cu, why, whylen) == BACKEND_SEND) {
            cache_key(&cu, key, sizeof key);
            contact_cache_evict(&st->contacts, key);
        }
        gs->resolved_again = 1;
        v = resolve(job, next, why, whylen);
    } else if (ans->status == 422) {
        char reason[256], req[96];
        int fields = validation_error(a, reason, sizeof reason);
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(a, "errors");
        if (gs->step == GB_ACTIVITY && fields == 1 && !st->timezone_refused &&
            cJSON_GetObjectItemCaseSensitive(errors, "timezone")) {
            /* Optional, and documented only as a string: the time itself is in occurred_at. */
            st->timezone_refused = 1;
            v = post_activity(job, next, why, whylen);
        } else {
            http_request_describe(sent, req, sizeof req);
            snprintf(why, whylen, "HTTP 422 from %s: %s", req, reason);
            v = BACKEND_DEAD;
        }
    }
    cJSON_Delete(a);
    return v;
}

/* No answer to trust. An activity POST may have landed: look for it before sending it again.
 * Anything else is resent as it was (a look-up or a contact request changes nothing twice). */
static void gb_unanswered(struct backend_job *job, const struct http_request *sent, long status,
                          struct http_request *next)
{
    (void)sent;
    (void)status;
    struct gb_sale *gs = job->sale_state;
    char why[128];
    if (gs->step != GB_ACTIVITY)
        return;
    gs->need_lookup = 1;
    if (lookup_page(job, next, 1, why, sizeof why) != BACKEND_SEND) {
        /* Out of memory: the engine resends the activity as it was, and its answer is read as
         * the activity's. */
        http_request_clear(next);
        gs->step = GB_ACTIVITY;
    }
}

/* The contacts list filtered by an address no customer has (.invalid is reserved, RFC 2606), one
 * a page: it needs the key, changes nothing and brings no customer's data onto the till. */
static int gb_probe(const struct backend_config *bc, void *state, struct http_request *req)
{
    (void)state;
    const struct gb_conf *g = (const void *)bc->conf;
    if (http_request_init(req, HTTP_GET,
                          "/v1/contacts?email=probe%%40tillsync.invalid&per_page=1") != 0 ||
        http_request_header(req, "Authorization: Bearer %s", g->api_key) != 0) {
        http_request_clear(req);
        return -1;
    }
    req->fixed_endpoint = 1;
    return 0;
}

const struct backend_ops backend_givebutter = {
    .kind = "givebutter",
    .keys = gb_keys,
    .conf_size = sizeof(struct gb_conf),
    .state_size = sizeof(struct gb_state),
    .sale_state_size = sizeof(struct gb_sale),
    /* A page of 20 activities, each with its transaction resource and line items: the engine's
     * 16 KiB would cut real pages, and a cut page never parses. */
    .response_max = 128 * 1024,
    .configure = gb_configure,
    .start = gb_start,
    .answer = gb_answer,
    .unanswered = gb_unanswered,
    .probe = gb_probe,
};
