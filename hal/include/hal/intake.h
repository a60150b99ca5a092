/*
 * Intake event source: where "sale completed" events come from.
 *
 * On the POS terminals we ship today the events arrive as JSON lines on a Unix socket (see the
 * contract); a terminal whose vendor SDK delivers them by callback gets its own driver. Either way
 * firmware sees the same thing: a request with a connection handle, answered exactly once, in
 * order, through reply().
 *
 * The source is driven by the daemon's single event loop: it lists the descriptors it wants
 * watched, and dispatch() is called with what poll() reported.
 */
#ifndef HAL_INTAKE_H
#define HAL_INTAKE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct hal_intake;

/* One request. The bytes are valid only during the call; len excludes the newline. */
typedef void (*hal_intake_request_fn)(void *ctx, struct hal_intake *src, uint32_t conn,
                                      const char *req, size_t len);

struct hal_intake_api {
    /* Fills at most max entries; returns how many. */
    int (*poll_fds)(struct hal_intake *src, struct pollfd *fds, int max);
    /* fds/n are what poll_fds filled, with revents set. Calls on_request for each request. */
    void (*dispatch)(struct hal_intake *src, const struct pollfd *fds, int n);
    /* Queues one reply line (without newline) for conn. */
    int (*reply)(struct hal_intake *src, uint32_t conn, const char *line, size_t len);
    /* Stops accepting new requests; replies already queued are still flushed by close(). */
    void (*close)(struct hal_intake *src);
};

struct hal_intake {
    const struct hal_intake_api *api;
    hal_intake_request_fn on_request;
    void *ctx;
};

#endif
