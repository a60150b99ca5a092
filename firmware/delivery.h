/*
 * Delivery: moves sales from the journal to every backend, in journal order, over libcurl's multi
 * interface inside the daemon's one event loop. Nothing here ever blocks: a dead network only
 * means a timer further away.
 *
 * Outcome classes, the same for every backend:
 *   network error, timeout, 5xx, 429 -> retry with capped exponential backoff and full jitter,
 *                                       at least Retry-After when the server sends one
 *   401, 403                         -> the backend is paused (its key is wrong, the sale is
 *                                       fine): retried at the backoff cap, reported in status
 *   other 4xx (400, 422 ...)         -> dead-lettered with the server's reason
 *   2xx                              -> the backend decides: next step, or delivered
 * A retry resends under the same externalReference, so an answer lost in flight costs nothing.
 */
#ifndef TILLSYNC_DELIVERY_H
#define TILLSYNC_DELIVERY_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "journal.h"

struct delivery;

struct delivery *delivery_new(const struct config *cfg, struct journal *j, char *err,
                              size_t errlen);
void delivery_free(struct delivery *d);

/* Waits for any of fds or a transfer, at most timeout_ms (bounded further by delivery timers). */
int delivery_wait(struct delivery *d, struct pollfd *fds, unsigned nfds, int timeout_ms);
/* Advances transfers, handles their outcomes, starts what is due. Call after every wait. */
void delivery_run(struct delivery *d);
/* The network may be back: every backend waiting out a network backoff tries again now. */
void delivery_wake(struct delivery *d);
/* Writes pending delivery marks now. */
int delivery_flush(struct delivery *d);

/* Appends one status object per backend to arr; returns the oldest queued sale's accept time
 * (wall ms) or 0. */
uint64_t delivery_status(struct delivery *d, cJSON *arr);

#endif
