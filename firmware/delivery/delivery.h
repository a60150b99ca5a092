/*
 * Delivery: moves sales from the journal to every backend, in journal order, over libcurl's multi
 * interface inside the daemon's one event loop. Nothing here ever blocks: a dead network only
 * means a timer further away.
 *
 * Outcome classes, the same for every backend:
 *   network error, timeout, 1xx, 3xx, 5xx, 408, 429
 *                                    -> retry with capped exponential backoff and full jitter,
 *                                       at least Retry-After when the server sends one, never
 *                                       longer than retry_max_s. A redirect is never followed (a
 *                                       captive portal or a proxy in the way: sales are kept)
 *   401, 403                         -> the backend is paused (its key is wrong, the sale is
 *                                       fine): retried at the backoff cap, reported in status
 *   404, 405 on a fixed endpoint     -> paused likewise: base_url is wrong, not the sale
 *   other 4xx (400, 422 ...)         -> the backend may repair it (a stale cached id: look up
 *                                       again); else dead-lettered with the server's reason
 *   2xx                              -> the backend decides: next step, delivered, or retry
 *                                       when it cannot understand the answer
 * A retry resends under the same externalReference, so an answer lost in flight costs nothing.
 */
#ifndef TILLSYNC_DELIVERY_H
#define TILLSYNC_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "hal/loop.h"
#include "journal.h"

struct delivery;

#define DELIVERY_MAX_BACKENDS JOURNAL_MAX_BACKENDS

/* Delivers the journal's sales to each backend (journal index = position in backends), under
 * references "<terminal_id>:<txn>". backends must outlive the delivery. */
struct delivery *delivery_new(const char *terminal_id, const struct backend_config *backends,
                              unsigned nbackends, struct journal *j, struct loop *loop, char *err,
                              size_t errlen);
void delivery_free(struct delivery *d);

/* Handles finished transfers, starts what is due, and arms the loop for the next due time.
 * libcurl's sockets and timers run on the loop by themselves; call this after every turn of
 * the loop (a new sale may be waiting) as Redis calls beforeSleep. */
void delivery_run(struct delivery *d);
/* The network may be back: every backend waiting out a network backoff tries again now. */
void delivery_wake(struct delivery *d);
/* A technician's drain: every backend waiting out a backoff, for whatever reason (network,
 * server error, Retry-After, a paused key), tries again now. Returns how many were waiting; the
 * sales queued over all backends in *queued. Never waits. */
unsigned delivery_drain_now(struct delivery *d, uint64_t *queued);
/* The till's clock minus a server's (from its answers' Date header), seconds, as last measured
 * on any backend, and that backend's name. Returns 0 while no answer had a Date. */
int delivery_server_skew(const struct delivery *d, int64_t *skew_s, const char **from);
/* The sales stored from seq lo up to hi (excluded) are copies of sales stored before (a
 * technician's retry-dead): a backend may have the original already, so they go out in doubt
 * (backend_job.in_doubt), which lets a backend without an idempotency key look before it sends. */
void delivery_copies_stored(struct delivery *d, uint64_t lo, uint64_t hi);
/* Writes pending delivery marks now. */
int delivery_flush(struct delivery *d);

/* Appends one status object per backend to arr (its "state": uploading, idle, waiting after
 * a server's error, offline after a failure below HTTP, paused on a wrong key or base_url);
 * returns the oldest queued sale's accept time (wall ms) or 0. */
uint64_t delivery_status(struct delivery *d, cJSON *arr);

/*
 * What one HTTP answer to the request sent means: the backend's verdict when it claims the
 * answer, else the classes above. The next request in *next (BACKEND_SEND), DONE, SKIP, DEAD
 * (why: the reason kept with the dead letter), RETRY or PAUSE (why: what status shows as
 * last_error). No network, no journal: a test can drive it with canned answers.
 */
enum backend_verdict delivery_decide(const struct backend_ops *ops, struct backend_job *job,
                                     const struct http_request *sent, const struct http_answer *ans,
                                     struct http_request *next, char *why, size_t whylen);
/* The request sent will be retried without an answer to trust (status 0: a network error): the
 * sale is in doubt, and the backend may put another request in *next (else *next stays empty
 * and the same request goes again). */
void delivery_unanswered(const struct backend_ops *ops, struct backend_job *job,
                         const struct http_request *sent, long status, struct http_request *next);

/* The wait before the next attempt after a failure: the backoff ceiling doubles per attempt up to
 * retry_max_s, full jitter from random above a floor; paused waits the cap; Retry-After (seconds,
 * <= 0: none) lengthens it, and nothing ever exceeds retry_max_s. */
uint64_t delivery_backoff_ms(const struct backend_config *bc, unsigned attempts,
                             int64_t retry_after_s, int paused, uint32_t random);

#endif
