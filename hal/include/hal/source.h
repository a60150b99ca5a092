/*
 * Event sources: everything outside the daemon that tells it something. A POS application on a
 * socket, the line between a POS and its receipt printer, a GPIO line, the network. Each is a
 * driver that registers its descriptors with the event loop (hal/loop.h) and reports what
 * happened as a hal_event; firmware decides what an event means. Which sources a terminal has is
 * the board's to say (board/<name>/board.json).
 *
 * Answering is a separate idea: an event that can be answered carries a reply channel (a socket
 * client waits for one line per request); one that cannot (a tap on a printer line, a GPIO edge)
 * carries none, and firmware must not need one to do its job.
 */
#ifndef HAL_SOURCE_H
#define HAL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/* What a source is for; the board gives each source its role. */
enum hal_role {
    HAL_ROLE_POS,         /* requests from the POS application (the intake protocol) */
    HAL_ROLE_CONTROL,     /* requests from tillsyncctl */
    HAL_ROLE_RECEIPT,     /* the print stream a POS sends its receipt printer */
    HAL_ROLE_POWER_FAIL,  /* power is about to go: a few milliseconds are left */
    HAL_ROLE_SALE_SIGNAL, /* a line that pulses once per sale (cash drawer, sale-done output) */
    HAL_ROLE_NETWORK,     /* the network changed */
};

enum hal_event_kind {
    HAL_EVENT_REQUEST,    /* one request line; answer through reply (exactly once, in order) */
    HAL_EVENT_PRINT_DATA, /* bytes on their way to the printer, already passed through */
    HAL_EVENT_EDGE,       /* the line went active (value 1) or inactive (value 0) */
    HAL_EVENT_LINK_UP,    /* an interface came up or got an address or route: worth a retry */
};

/* A way back to whoever sent a request. conn says which client of the source. */
struct hal_reply;
struct hal_reply_api {
    /* Queues one reply line (without newline). 0, or -ENOTCONN if the client is gone. */
    int (*send)(struct hal_reply *ch, uint32_t conn, const char *line, size_t len);
};
struct hal_reply {
    const struct hal_reply_api *api;
};

struct hal_source;

struct hal_event {
    enum hal_event_kind kind;
    struct hal_source *src;
    /* REQUEST: the line without its newline, or NULL when it was longer than len bytes (the
     * source's limit) and was discarded. PRINT_DATA: the bytes. Valid during the call only. */
    const char *data;
    size_t len;
    int value;               /* EDGE */
    uint64_t at_mono_ms;     /* when the driver saw it (CLOCK_MONOTONIC) */
    struct hal_reply *reply; /* REQUEST only; NULL: no one to answer */
    uint32_t conn;
};

typedef void (*hal_event_fn)(void *ctx, const struct hal_event *ev);

struct hal_source_api {
    /* Unregisters from the loop and closes. Replies already queued are flushed if they can be
     * without waiting. */
    void (*close)(struct hal_source *src);
};

/* Drivers embed this as their first member. */
struct hal_source {
    const struct hal_source_api *api;
    enum hal_role role;
    char name[32]; /* for logs and status: "pos_socket", "receipt_tap", "power_fail" */
    hal_event_fn emit;
    void *ctx;
};

static inline void hal_source_emit(struct hal_source *src, const struct hal_event *ev)
{
    src->emit(src->ctx, ev);
}

static inline void hal_source_close(struct hal_source *src)
{
    if (src)
        src->api->close(src);
}

#endif
