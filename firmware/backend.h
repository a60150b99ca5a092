/*
 * A backend turns one journal sale into the HTTP requests its platform wants, one step at a time
 * (Glu: find-or-create the contact, then post the activity), and reads its platform's answers.
 * Transport, retries and the outcome classes common to every platform live in delivery.c; only
 * what differs lives behind this: what a 2xx answer means, and whether a refusal concerns the
 * sale or something the backend can repair (a stale cached id).
 */
#ifndef TILLSYNC_BACKEND_H
#define TILLSYNC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "contact_cache.h"

struct curl_slist;

struct http_request {
    char path[128]; /* appended to base_url */
    char *body;     /* JSON, malloc'd; the delivery engine frees it */
    /* The path names no object (no id in it, e.g. POST /contacts): a 404 or 405 there says the
     * base_url (or the platform's API) is wrong, which no sale can be blamed for. */
    int fixed_endpoint;
};

/* The sale being delivered, as the backend sees it. */
struct backend_job {
    const cJSON *sale;              /* the normalised sale record */
    const char *ref;                /* externalReference: the same for every attempt, forever */
    int step;                       /* 0 for the first request; the backend advances it */
    int64_t contact_id;             /* Glu: the contact resolved in step 0 */
    struct contact_cache *contacts; /* the lane's; a backend may skip a look-up with it */
    char contact_key[CONTACT_CACHE_KEY];
    int contact_from_cache; /* a refusal may mean the cached id went stale */
};

enum backend_verdict {
    BACKEND_SEND,  /* send *req next */
    BACKEND_DONE,  /* the platform has the sale */
    BACKEND_SKIP,  /* policy says this sale does not go to this backend */
    BACKEND_DEAD,  /* the platform will never take it: dead-letter with why */
    BACKEND_RETRY, /* nothing is known (an answer not understood): the same request again after a
                      backoff; why says what was wrong */
    BACKEND_PAUSE, /* the configuration is wrong, not the sale: the same request again at the
                      backoff cap; why says what to check */
};

struct backend_ops {
    const char *kind;
    /* Sets the authentication headers. The key is never printed anywhere else. */
    struct curl_slist *(*auth_headers)(const struct backend_config *bc, struct curl_slist *h);
    enum backend_verdict (*start)(const struct backend_config *bc, struct backend_job *job,
                                  struct http_request *req, char *why, size_t whylen);
    /* A 2xx answer to the last request: SEND (the next step in *req), DONE, or RETRY when the
     * answer cannot be understood (never DONE on a guess: that would lose the sale). */
    enum backend_verdict (*answered)(const struct backend_config *bc, struct backend_job *job,
                                     long status, const char *body, struct http_request *req,
                                     char *why, size_t whylen);
    /* A definitive 4xx refusal of the last request (not 401, 403, 408, 429): SEND when the
     * backend can repair it (a new request in *req), else DEAD. May be NULL: always DEAD. */
    enum backend_verdict (*refused)(const struct backend_config *bc, struct backend_job *job,
                                    long status, const char *body, struct http_request *req,
                                    char *why, size_t whylen);
};

const struct backend_ops *backend_ops_for(const char *kind);

/* The largest id a JSON number carries exactly (2^53 - 1): beyond it a double skips integers. */
#define BACKEND_ID_MAX 9007199254740991LL

/*
 * An object id from a platform's answer: a JSON number that is a whole number from 1 to
 * BACKEND_ID_MAX. Returns 1 and the id, or 0 and in what (if given) a short description of what
 * was there instead ("missing", "a string", "1000.9"). Never converts an out-of-range double.
 */
int backend_json_id(const cJSON *v, int64_t *id, char *what, size_t whatlen);

#endif
