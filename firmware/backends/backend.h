/*
 * The backend plugin interface. A backend is one folder, firmware/backends/<kind>/, exporting one
 * `const struct backend_ops backend_<kind>`; the registry (backends/CMakeLists.txt) is the only
 * place that lists the kinds. A backend turns one journal sale into the HTTP requests its
 * platform wants, one at a time, and classifies its platform's answers. Transport, retries,
 * backoff, pausing and dead letters belong to the delivery engine; the backend never sees the
 * journal (its library does not link it) nor the network.
 *
 * The engine applies its common classes (delivery/delivery.h) to every answer the backend leaves
 * unclaimed (BACKEND_UNCLAIMED): so a backend only writes down what its platform does that
 * differs: what a 2xx answer means, a conflict that means "already there", a look-up miss that
 * means "create it next", a refusal of a stale cached id that means "look it up again".
 */
#ifndef TILLSYNC_BACKEND_H
#define TILLSYNC_BACKEND_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "conf_read.h"

struct curl_slist;

#define BACKEND_PATH_MAX 1024 /* a path with its query string, after base_url */
#define BACKEND_CONF_MAX 2048 /* room for a backend's own parsed keys (its secrets included) */
#define BACKEND_ID_TEXT  64   /* an object id as text, NUL included */

enum http_method { HTTP_GET, HTTP_POST };

struct http_request {
    enum http_method method;
    /* Appended to base_url; any query string percent-encoded by the backend. It may carry a
     * customer's email: logs and status show http_request_describe(), which drops the query. */
    char path[BACKEND_PATH_MAX];
    char *body;                 /* POST: JSON, malloc'd; NULL for GET */
    struct curl_slist *headers; /* the backend's own, authentication included */
    /* The path names no object (no id in it, e.g. POST /contacts): a 404 or 405 there says the
     * base_url (or the platform's API) is wrong, which no sale can be blamed for. */
    int fixed_endpoint;
    /* Never to be sent twice unless the backend asks: libcurl's own resend of a request whose
     * reused connection died before the answer is refused, and the request ends unanswered
     * (unanswered() is called; the connection pool is kept). For a POST the platform may have
     * applied and cannot recognise again. */
    int no_replay;
};

/* Sets up *r as an empty request of that method and path (printf-style); headers and body come
 * after. Returns 0, or -1 when the path does not fit (nothing is sent then). */
__attribute__((format(printf, 3, 4))) int
http_request_init(struct http_request *r, enum http_method method, const char *fmt, ...);
/* Adds one header line, "Name: value" (printf-style). Returns 0 or -1 (out of memory). */
__attribute__((format(printf, 2, 3))) int http_request_header(struct http_request *r,
                                                              const char *fmt, ...);
/* Takes ownership of a cJSON object: printed as the body, then deleted. Returns 0 or -1. */
int http_request_json(struct http_request *r, cJSON *body);
/* Frees body and headers; the request is empty afterwards. */
void http_request_clear(struct http_request *r);
/* "GET /v1/contacts": method and path without the query string, for logs and status. */
void http_request_describe(const struct http_request *r, char *out, size_t cap);
/* Appends s to out percent-encoded for a query value (RFC 3986 unreserved kept). Returns 0, or
 * -1 when it does not fit. */
int http_query_escape(char *out, size_t cap, const char *s);

struct http_answer {
    long status;      /* 100 ... 599 */
    const char *body; /* NUL-terminated, at most backend_ops.response_max bytes of it */
    int cut;          /* the body was longer: its tail was dropped (it will not parse) */
};

enum anonymous_policy {
    ANON_SKIP,    /* a sale without an identifiable customer is not sent to this backend */
    ANON_CONTACT, /* it is booked to one configured contact (a "walk-in" customer) */
};

struct backend_ops;

/* A configured backend: the keys every kind has, and the backend's own, parsed by its
 * configure(). */
struct backend_config {
    const struct backend_ops *ops;
    char name[33];
    char kind[16];
    char base_url[512];
    char source[65];
    char ca_file[PATH_MAX];
    enum anonymous_policy anonymous;
    char anonymous_email[257];
    long timeout_s;
    unsigned max_in_flight; /* sales uploading at once (HTTP/2 streams or connections) */
    long probe_interval_s;  /* while the network seems down: a TLS connect this often */
    long retry_base_s;      /* first backoff ceiling; doubles per failure */
    long retry_max_s;
    _Alignas(max_align_t) unsigned char conf[BACKEND_CONF_MAX]; /* ops->conf_size bytes of it */
};

/* One sale on its way to one backend. */
struct backend_job {
    const struct backend_config *bc;
    void *state;       /* the backend's (ops->state_size): caches kept across sales */
    void *sale_state;  /* this sale's (ops->sale_state_size), zeroed before start() */
    const cJSON *sale; /* the normalised sale record */
    const char *ref;   /* externalReference: the same for every attempt, forever */
    /* An earlier request for this sale may have reached the platform without us learning the
     * outcome: it was handed to a backend by an earlier run of the daemon (a crash or power cut
     * can fall between an answer and the journal's mark), or a request of this run got no clear
     * answer. A platform without an idempotency key looks before it creates again. */
    int in_doubt;
};

enum backend_verdict {
    BACKEND_SEND,  /* send *next (or *req from start()) */
    BACKEND_DONE,  /* the platform has the sale */
    BACKEND_SKIP,  /* policy says this sale does not go to this backend */
    BACKEND_DEAD,  /* the platform will never take it: dead-letter with why */
    BACKEND_RETRY, /* nothing is known (an answer not understood): the same request again after a
                      backoff; why says what was wrong */
    BACKEND_PAUSE, /* the configuration is wrong, not the sale: the same request again at the
                      backoff cap; why says what to check */
    BACKEND_UNCLAIMED, /* answer(): the engine's common class decides */
};

struct backend_ops {
    const char *kind;
    /* The backend's own configuration keys (NULL-terminated), beyond the common ones; any other
     * key is refused, named, by the loader. */
    const char *const *keys;
    size_t conf_size, state_size, sale_state_size;
    /* The longest answer body the backend reads (a page of a list); 0: 16 KiB. Allocated per
     * sale slot at start, so it bounds RAM, and a longer answer arrives cut (http_answer.cut). */
    size_t response_max;
    /* Parses the backend's own keys from its JSON object into conf (conf_size bytes, zeroed).
     * Errors through conf_fail() and friends, which name the key. Returns 0 or -1. */
    int (*configure)(struct backend_config *bc, void *conf, const cJSON *obj, struct conf_ctx *c);
    /* Sets up state (state_size bytes, zeroed) when the daemon starts; may be NULL. Returns 0 or
     * -1. close() releases it; may be NULL. */
    int (*open)(const struct backend_config *bc, void *state);
    void (*close)(const struct backend_config *bc, void *state);
    /* The first request for a sale in *req (SEND), or SKIP/DEAD with why. */
    enum backend_verdict (*start)(struct backend_job *job, struct http_request *req, char *why,
                                  size_t whylen);
    /* Every HTTP answer to the request sent: SEND (the next request in *next), DONE, SKIP,
     * DEAD, RETRY, PAUSE, or UNCLAIMED for the engine's common class. A 2xx must be claimed:
     * never DONE on a guess (that would lose the sale); RETRY when it cannot be understood. */
    enum backend_verdict (*answer)(struct backend_job *job, const struct http_request *sent,
                                   const struct http_answer *ans, struct http_request *next,
                                   char *why, size_t whylen);
    /* The request sent got no answer the platform stands by (network error, timeout, 5xx, 408,
     * 429, a redirect, a 2xx not understood) and will be retried; job->in_doubt is already set.
     * A backend may put another request in *next (a look-up before creating again); leaving
     * *next empty resends the same request. May be NULL. status is 0 for a network error. */
    void (*unanswered)(struct backend_job *job, const struct http_request *sent, long status,
                       struct http_request *next);
    /* For the technician's tools (tillsyncctl test-connection, provision), never the daemon: a
     * live request in *req that needs this backend's credentials and changes nothing on the
     * platform, so that its answer proves the key without a sale. The common classes judge the
     * answer: 2xx the key works, 401/403 it was refused, 404/405 on a fixed endpoint base_url is
     * wrong. state as open() left it. Returns 0, or -1 (out of memory). May be NULL: the
     * platform has no such request, and the key is proven by the first sale instead. */
    int (*probe)(const struct backend_config *bc, void *state, struct http_request *req);
    /* Whether an answer to the probe other than a 2xx proves the credentials were accepted (a
     * platform that can only be asked by a request it refuses, after authenticating it, for a
     * missing field). May be NULL: only a 2xx does. */
    int (*probe_accepted)(const struct backend_config *bc, const struct http_answer *ans);
};

/* The backend of that kind, or NULL. */
const struct backend_ops *backend_ops_for(const char *kind);
/* "a, b or c": the kinds this firmware has, for messages. */
const char *backend_kinds(void);

/* The largest id a JSON number carries exactly (2^53 - 1): beyond it a double skips integers. */
#define BACKEND_ID_MAX 9007199254740991LL

/*
 * An object id from a platform's answer: a JSON number that is a whole number from 1 to
 * BACKEND_ID_MAX. Returns 1 and the id, or 0 and in what (if given) a short description of what
 * was there instead ("missing", "a string", "1000.9"). Never converts an out-of-range double.
 */
int backend_json_id(const cJSON *v, int64_t *id, char *what, size_t whatlen);

/* A string member of obj, or NULL. */
const char *backend_json_str(const cJSON *obj, const char *key);

#endif
