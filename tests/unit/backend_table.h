/*
 * Table-driven tests of a backend plugin, without a network: canned sales and canned HTTP
 * answers go in; the exact requests the backend builds (method, path with query, its headers,
 * body) and the verdicts the delivery engine reaches (delivery_decide, delivery_unanswered) are
 * checked, step by step, as delivery would drive them.
 */
#ifndef TILLSYNC_TEST_BACKEND_TABLE_H
#define TILLSYNC_TEST_BACKEND_TABLE_H

#include <stddef.h>

#include "backend.h"

#define BT_NO_ANSWER  0L  /* the exchange's request fails below HTTP (reset, timeout) */
#define BT_UNANSWERED -1L /* the request is checked; the case ends there */

/* One request the backend must build, and what happens to it. */
struct bt_exchange {
    const char *request; /* "POST /contacts", the path with its query string, exactly */
    const char *headers; /* the backend's own headers, "\n"-joined, exactly; NULL: not checked */
    const char *body;    /* exactly; NULL: no body (a GET) */
    long status;         /* the canned answer's status, or BT_NO_ANSWER, BT_UNANSWERED */
    const char *answer;  /* the canned answer's body */
    enum backend_verdict verdict; /* what the engine makes of it (a network error: RETRY) */
    const char *why;              /* a part of the reason given, or NULL */
};

struct bt_case {
    const char *name;
    const char *sale;           /* the normalised sale record, as the journal holds it */
    const char *ref;            /* NULL: "T042:" + the sale's txn */
    int keep_state;             /* keep the backend's state (its caches) from the case before */
    int in_doubt;               /* the sale was handed out by an earlier run */
    enum backend_verdict start; /* start()'s verdict: SEND, or SKIP/DEAD with no exchanges */
    const char *start_why;
    struct bt_exchange ex[10]; /* until one with request NULL */
};

struct bt_backend;

/*
 * A backend configured from a JSON object as it would appear in "backends" (its own keys
 * included). "$DIR" in it stands for a directory holding api.key ("test-api-key") and
 * secret.key ("test-secret-key"), both mode 600. Fails the test if the loader refuses it.
 */
struct bt_backend *bt_backend_new(const char *config_json);
void bt_backend_free(struct bt_backend *b);
const struct backend_config *bt_config(const struct bt_backend *b);

/* Runs the cases in order; prints each mismatch; returns how many cases failed. */
unsigned bt_run(struct bt_backend *b, const struct bt_case *cases, size_t n);
/* The same on a backend configured for them alone (bt_backend_new, then freed). */
unsigned bt_run_config(const char *config_json, const struct bt_case *cases, size_t n);

/* For tests that drive a sale by hand: start(), then answers one by one. */
struct bt_job;
struct bt_job *bt_job_start(struct bt_backend *b, const char *sale, int in_doubt,
                            enum backend_verdict *v, char *why, size_t whylen);
/* The request to send now ("METHOD path\nheader...\n\nbody"), valid until the next call. */
const char *bt_job_request(struct bt_job *j);
/* An answer (BT_NO_ANSWER: a network error) to the request; returns the verdict. */
enum backend_verdict bt_job_answer(struct bt_job *j, long status, const char *body, char *why,
                                   size_t whylen);
void bt_job_free(struct bt_job *j);
/* Forgets the backend's state (its caches), as a restart would. */
void bt_backend_restart(struct bt_backend *b);

#endif
