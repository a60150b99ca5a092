/*
 * libtillsync: hands a completed sale from a POS application to tillsyncd over its POS socket
 * (docs/INTEGRATION.md). Depends on libc and pthreads only.
 *
 * The one rule a caller must keep: when a call answers TILLSYNC_RETRY, keep the sale and send it
 * again later with the same txn. The daemon deduplicates by txn, so a resend of a sale that was
 * in fact stored is answered ok with duplicate set, never stored twice.
 *
 * Threads: a client holds one connection and a mutex; calls on one client from several threads
 * are serialised (each waits for the one before it, up to that call's reply timeout). A POS that
 * wants its threads not to wait on each other opens one client per thread.
 */
#ifndef TILLSYNC_CLIENT_H
#define TILLSYNC_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TILLSYNC_API __attribute__((visibility("default")))
#else
#define TILLSYNC_API
#endif

#define TILLSYNC_DEFAULT_TIMEOUT_MS 5000

/* Do not resend inside a call after a lost reply; the call answers TILLSYNC_RETRY instead. */
#define TILLSYNC_NO_RESEND 0x1u

/* Zero-initialised, or NULL: every default. */
struct tillsync_options {
    int connect_timeout_ms; /* 0: TILLSYNC_DEFAULT_TIMEOUT_MS */
    int reply_timeout_ms;   /* per call, from sending to the reply; 0: the default */
    unsigned flags;         /* TILLSYNC_NO_RESEND */
};

struct tillsync_customer { /* NULL fields are left out */
    const char *email, *phone, *first_name, *last_name, *id;
};

struct tillsync_item {
    const char *sku, *name;
    double qty;           /* > 0, sent to 6 decimals: fractions for goods sold by weight */
    long long unit_price; /* minor currency units */
};

/* Strings are UTF-8 and sent as they are; the daemon validates every field (CONTRACT.md). */
struct tillsync_sale {
    const char *txn;                          /* 1-64 of [A-Za-z0-9._:-], unique per terminal */
    const char *at;                           /* RFC 3339, "2026-04-07T19:45:00+01:00" */
    long long total;                          /* minor currency units */
    const char *currency;                     /* ISO 4217, "GBP" */
    const struct tillsync_customer *customer; /* NULL: an anonymous sale */
    const struct tillsync_item *items;
    size_t nitems;
    const char *source; /* NULL: the backend's configured source */
};

enum tillsync_outcome {
    TILLSYNC_STORED = 0,   /* durable on the terminal; res->ref is set */
    TILLSYNC_REJECTED = 1, /* invalid: res->field names what; resending it will not help */
    TILLSYNC_RETRY = 2,    /* not stored, or no reply: resend later with the same txn */
};

struct tillsync_result {
    int ok;          /* 1: stored (now, or before: duplicate) */
    int duplicate;   /* the daemon had this txn already; nothing new stored */
    int retry;       /* the daemon said retry, or no reply came */
    char ref[128];   /* "terminal_id:txn", the same on every resend */
    char field[64];  /* the field the error names ("items[0].qty"), or "" */
    char error[512]; /* the daemon's error, or why no reply came */
};

/*
 * A client for the socket at socket_path. Connects on first use, not here: a POS may start
 * before the daemon. Returns NULL (errno set) only when out of memory or the path is too long.
 */
TILLSYNC_API struct tillsync_client *tillsync_open(const char *socket_path,
                                                   const struct tillsync_options *opt);
TILLSYNC_API void tillsync_close(struct tillsync_client *c);

/*
 * Sends one sale and waits for its reply. res (may be NULL) is filled in every case.
 * A connection found closed before sending is opened again. A connection lost after the request
 * was written (the daemon restarted) is opened again and the request resent once, unless
 * TILLSYNC_NO_RESEND: safe, as the contract makes resends duplicates; a sale stored by the first
 * attempt then answers ok with duplicate set. A reply timeout is never resent inside the call.
 */
TILLSYNC_API enum tillsync_outcome tillsync_sale_completed(struct tillsync_client *c,
                                                           const struct tillsync_sale *sale,
                                                           struct tillsync_result *res);

/*
 * The same with the request as a JSON object, the contract's request ("event" included). Line
 * breaks between tokens are sent as spaces, so a pretty-printed object is fine; one inside a
 * string is invalid JSON and rejected here (field "request").
 */
TILLSYNC_API enum tillsync_outcome tillsync_sale_completed_json(struct tillsync_client *c,
                                                                const char *json_object,
                                                                struct tillsync_result *res);

#ifdef __cplusplus
}
#endif

#endif
