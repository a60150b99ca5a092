/*
 * A backend turns one journal sale into the HTTP requests its platform wants, one step at a time
 * (Glu: find-or-create the contact, then post the activity). Transport, retries and outcome
 * classes common to every platform live in delivery.c; only what differs lives behind this.
 */
#ifndef TILLSYNC_BACKEND_H
#define TILLSYNC_BACKEND_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "contact_cache.h"

struct curl_slist;

struct http_request {
    char path[128]; /* appended to base_url */
    char *body;     /* JSON, malloc'd; the delivery engine frees it */
};

/* The sale being delivered, as the backend sees it. */
struct backend_job {
    const cJSON *sale;              /* the normalised sale record */
    const char *ref;                /* externalReference: the same for every attempt, forever */
    int step;                       /* 0 for the first request; the backend advances it */
    long contact_id;                /* Glu: the contact resolved in step 0 */
    struct contact_cache *contacts; /* the lane's; a backend may skip a look-up with it */
    char contact_key[CONTACT_CACHE_KEY];
    int contact_from_cache; /* a refusal may mean the cached id went stale */
};

enum backend_verdict {
    BACKEND_SEND, /* send *req next */
    BACKEND_DONE, /* the platform has the sale */
    BACKEND_SKIP, /* policy says this sale does not go to this backend */
    BACKEND_DEAD, /* the platform will never take it: dead-letter with why */
};

struct backend_ops {
    const char *kind;
    /* Sets the authentication headers. The key is never printed anywhere else. */
    struct curl_slist *(*auth_headers)(const struct backend_config *bc, struct curl_slist *h);
    enum backend_verdict (*start)(const struct backend_config *bc, struct backend_job *job,
                                  struct http_request *req, char *why, size_t whylen);
    /* A 2xx answer to the last request. */
    enum backend_verdict (*answered)(const struct backend_config *bc, struct backend_job *job,
                                     long status, const char *body, struct http_request *req,
                                     char *why, size_t whylen);
};

const struct backend_ops *backend_ops_for(const char *kind);

#endif
