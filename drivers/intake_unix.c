/*
 * POS intake over a Unix stream socket. Requests are newline-terminated lines of at most
 * INTAKE_UNIX_MAX_LINE bytes; each gets exactly one reply line, in order.
 *
 * Sockets are non-blocking: a POS application that stops reading its replies must not stall the
 * daemon. Such a connection simply stops being read once its unsent replies pass a limit.
 *
 * Connections are a fixed number of slots, and no number of idle, leaked or slow connections may
 * keep a new one out: when every slot is taken (or the process is out of descriptors), the
 * connection idle longest with no request in progress is closed to make room. Its POS has no
 * reply owed on it; at worst it finds the connection closed and reconnects, which the contract
 * allows. Only when every connection is busy with a request does a new one wait in the backlog;
 * a request that has not moved a byte for STALLED_MS no longer counts as busy.
 *
 * The control socket is this same server with one request per connection: the connection closes
 * once its reply is sent, as tillsyncctl expects.
 */
#define _GNU_SOURCE
#include "drivers/intake_unix.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/unix_listener.h"
#include "hal/loop.h"

#define MAX_CONNS     32
#define OUT_HIGH_MARK 65536 /* stop reading a connection with this much unsent */
#define STALLED_MS    10000 /* a request with no byte in or out this long may be closed for room */
#define FULL_PAUSE_MS 1000  /* every connection busy: look again after this long */
#define IN_BUF        (INTAKE_UNIX_MAX_LINE + 1) /* the longest line and its newline */
#define QUOTA         1 /* requests served per connection per turn of the loop (serve()) */

struct intake_unix;

struct conn {
    struct intake_unix *owner;
    int fd;
    unsigned watching; /* the events registered with the loop */
    uint32_t id;
    uint64_t active_ms;     /* last byte received or sent */
    uint64_t line_start_ms; /* when the partial line in `in` began */
    uint64_t out_since_ms;  /* when the oldest unsent reply was queued */
    char *in;               /* IN_BUF bytes, allocated on first use */
    size_t in_len;
    int discarding; /* inside an over-long line: drop bytes up to the next newline */
    int eof;
    char *out;
    size_t out_len, out_cap;
};

struct intake_unix {
    struct hal_source src;
    struct hal_reply reply;
    struct loop *loop;
    struct loop_timer *resume; /* the listener paused (every slot busy, out of descriptors) */
    struct loop_timer *more;   /* connections have requests waiting in their buffers */
    unsigned listen_watching;
    int one_request;
    struct unix_listener listener;
    struct conn conns[MAX_CONNS];
    uint32_t next_id;
};

static void conn_close(struct intake_unix *u, struct conn *c)
{
    if (c->fd >= 0) {
        loop_del_fd(u->loop, c->fd);
        unix_listener_release(&u->listener, c->fd);
    }
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* What each descriptor waits for follows from the state: asked after every change. */
static void watch(struct intake_unix *u)
{
    unsigned want = unix_listener_poll_fd(&u->listener) >= 0 ? LOOP_IN : 0;
    if (want != u->listen_watching && loop_mod_fd(u->loop, u->listener.fd, want) == 0)
        u->listen_watching = want;
    loop_timer_set_at(u->resume, want ? LOOP_NEVER : u->listener.resume_ms);
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd < 0)
            continue;
        want = (!c->eof && c->out_len < OUT_HIGH_MARK ? LOOP_IN : 0) | (c->out_len ? LOOP_OUT : 0);
        if (want != c->watching && loop_mod_fd(u->loop, c->fd, want) == 0)
            c->watching = want;
    }
}

static void conn_flush(struct conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* peer gone: its replies have nowhere to go */
            c->out_len = 0;
            c->eof = 1;
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
        c->active_ms = loop_now_ms();
    }
}

static struct conn *conn_by_id(struct intake_unix *u, uint32_t id)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (u->conns[i].fd >= 0 && u->conns[i].id == id)
            return &u->conns[i];
    return NULL;
}

static int iu_reply(struct hal_reply *ch, uint32_t id, const char *line, size_t len)
{
    struct intake_unix *u =
        (struct intake_unix *)((char *)ch - offsetof(struct intake_unix, reply));
    struct conn *c = conn_by_id(u, id);
    if (!c)
        return -ENOTCONN;
    if (c->out_len == 0)
        c->out_since_ms = loop_now_ms();
    if (c->out_len + len + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + len + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -ENOMEM;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, line, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
    if (u->one_request)
        c->eof = 1; /* answered: nothing more is read, and it closes once the reply is out */
    conn_flush(c);
    unix_listener_pause(&u->listener, 0); /* a request is done: its connection may give way */
    watch(u);
    return 0;
}

/* No request in progress: no partial line, no reply unsent, nothing sent and not yet read. */
static int conn_idle(const struct conn *c)
{
    char byte;
    return c->in_len == 0 && !c->discarding && c->out_len == 0 &&
           recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* Since when the connection has been holding its slot without finishing: a client dribbling a
 * byte at a time keeps active_ms fresh, but not the start of its line or of its unread reply. */
static uint64_t busy_since(const struct conn *c)
{
    uint64_t t = c->active_ms;
    if ((c->in_len || c->discarding) && c->line_start_ms < t)
        t = c->line_start_ms;
    if (c->out_len && c->out_since_ms < t)
        t = c->out_since_ms;
    return t;
}

/*
 * Closes the connection idle longest with no request in progress or, failing that, the one whose
 * request has been stalled longest past STALLED_MS (no byte moved, or its line or reply pending
 * that long). Returns its freed slot, or NULL: every
 * connection is busy with a request.
 */
static struct conn *make_room(struct intake_unix *u, uint64_t now)
{
    struct conn *idle = NULL, *stalled = NULL;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd < 0)
            continue;
        if (conn_idle(c)) {
            if (!idle || c->active_ms < idle->active_ms)
                idle = c;
        } else if (now - busy_since(c) >= STALLED_MS) {
            if (!stalled || busy_since(c) < busy_since(stalled))
                stalled = c;
        }
    }
    struct conn *victim = idle ? idle : stalled;
    if (victim)
        conn_close(u, victim);
    return victim;
}

static struct conn *free_slot(struct intake_unix *u)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (u->conns[i].fd < 0)
            return &u->conns[i];
    return NULL;
}

static void on_conn(void *ctx, int fd, unsigned events);

/* Bounded per call so that a flood of connections cannot hold the event loop here. */
static void accept_waiting(struct intake_unix *u)
{
    for (int taken = 0; taken < 2 * MAX_CONNS && unix_listener_pending(&u->listener);) {
        uint64_t now = loop_now_ms();
        struct conn *c = free_slot(u);
        if (!c && !(c = make_room(u, now))) {
            unix_listener_pause(&u->listener, FULL_PAUSE_MS); /* they wait in the backlog */
            return;
        }
        int fd = unix_listener_accept(&u->listener);
        if (fd < 0) {
            int e = errno;
            if ((e == EMFILE || e == ENFILE) && make_room(u, now))
                continue; /* that freed a descriptor too */
            if (e != EAGAIN)
                unix_listener_pause(&u->listener, FULL_PAUSE_MS); /* not a spin on poll */
            return;
        }
        if (loop_add_fd(u->loop, fd, LOOP_IN, on_conn, c) != 0) {
            unix_listener_release(&u->listener, fd);
            return;
        }
        c->owner = u;
        c->fd = fd;
        c->watching = LOOP_IN;
        c->id = ++u->next_id;
        c->active_ms = c->line_start_ms = c->out_since_ms = now;
        taken++;
    }
}

static void request(struct intake_unix *u, struct conn *c, const char *line, size_t len)
{
    struct hal_event ev = {.kind = HAL_EVENT_REQUEST,
                           .src = &u->src,
                           .data = line,
                           .len = len,
                           .at_mono_ms = loop_now_ms(),
                           .reply = &u->reply,
                           .conn = c->id};
    hal_source_emit(&u->src, &ev);
}

static int has_line(const struct conn *c)
{
    return c->in_len && memchr(c->in, '\n', c->in_len);
}

/* Hands up to max complete lines to firmware, as long as replies can be queued. */
static void deliver_lines(struct intake_unix *u, struct conn *c, int max)
{
    size_t start = 0;
    int taken = 0;
    while (taken < max && c->out_len < OUT_HIGH_MARK && c->fd >= 0) {
        char *nl = memchr(c->in + start, '\n', c->in_len - start);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (c->in + start));
        if (c->discarding) {
            c->discarding = 0; /* the over-long line ends here; it was already answered */
        } else {
            if (len > 0 && c->in[start + len - 1] == '\r')
                len--;
            c->in[start + len] = '\0';
            request(u, c, c->in + start, len);
            taken++;
        }
        start = (size_t)(nl - c->in) + 1;
    }
    if (c->fd < 0)
        return;
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (start && c->in_len)
        c->line_start_ms = loop_now_ms(); /* what is left is the next line, begun by now */
    /* A full buffer without a newline: the line is at least one byte over the limit. */
    if (c->in_len == IN_BUF && !memchr(c->in, '\n', c->in_len)) {
        if (!c->discarding)
            request(u, c, NULL, INTAKE_UNIX_MAX_LINE);
        c->discarding = 1;
        c->in_len = 0;
    }
}

/* One read of what fits; the lines are served separately, QUOTA per turn. */
static void read_some(struct intake_unix *u, struct conn *c)
{
    if (!c->in && !(c->in = malloc(IN_BUF))) {
        conn_close(u, c);
        return;
    }
    size_t room = IN_BUF - c->in_len;
    if (c->eof || !room)
        return;
    ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        c->eof = 1;
        return;
    }
    c->active_ms = loop_now_ms();
    if (c->in_len == 0)
        c->line_start_ms = c->active_ms;
    c->in_len += (size_t)n;
}

/*
 * Serves at most QUOTA requests of the connection. Each is a synced append to flash: a POS that
 * pipelines hundreds would otherwise hold the loop for all of them while other connections, the
 * control socket and the printer line wait. What is left is served in the following turns
 * (the `more` timer), interleaved with everyone else's.
 */
static void serve(struct intake_unix *u, struct conn *c)
{
    deliver_lines(u, c, QUOTA);
    if (c->fd < 0)
        return;
    /* A last request without its newline still deserves an answer. */
    if (c->eof && c->in_len > 0 && !c->discarding && !has_line(c) && c->out_len < OUT_HIGH_MARK) {
        c->in[c->in_len] = '\0';
        size_t len = c->in_len;
        c->in_len = 0;
        request(u, c, c->in, len);
    }
    if (c->fd >= 0 && c->out_len < OUT_HIGH_MARK && has_line(c))
        loop_timer_set(u->more, 0);
}

static void finish(struct intake_unix *u, struct conn *c)
{
    if (c->fd >= 0 && c->eof && c->out_len == 0 && !has_line(c)) {
        conn_close(u, c);
        unix_listener_pause(&u->listener, 0); /* a slot and a descriptor are free */
    }
}

static void on_conn(void *ctx, int fd, unsigned events)
{
    struct conn *c = ctx;
    struct intake_unix *u = c->owner;
    (void)fd;
    if (events & LOOP_OUT)
        conn_flush(c);
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR))
        read_some(u, c);
    if (c->fd >= 0 && c->in)
        serve(u, c);
    finish(u, c);
    watch(u);
}

/* Connections with requests left from earlier turns. */
static void on_more(void *ctx)
{
    struct intake_unix *u = ctx;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd >= 0 && has_line(c) && c->out_len < OUT_HIGH_MARK)
            serve(u, c);
        finish(u, c);
    }
    watch(u);
}

static void on_listen(void *ctx, int fd, unsigned events)
{
    struct intake_unix *u = ctx;
    (void)fd;
    (void)events;
    accept_waiting(u);
    watch(u);
}

static void on_resume(void *ctx)
{
    watch(ctx);
}

static void iu_close(struct hal_source *src)
{
    struct intake_unix *u = (struct intake_unix *)src;
    loop_del_fd(u->loop, u->listener.fd);
    loop_del_timer(u->resume);
    loop_del_timer(u->more);
    unix_listener_close(&u->listener);
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd < 0)
            continue;
        /* Best effort: a reply already earned is worth one last blocking-free attempt. */
        conn_flush(c);
        conn_close(u, c);
    }
    free(u);
}

static const struct hal_source_api intake_unix_api = {.close = iu_close};
static const struct hal_reply_api intake_unix_reply_api = {.send = iu_reply};

int intake_unix_open(const struct intake_unix_params *p, struct loop *loop, hal_event_fn emit,
                     void *ctx, struct hal_source **out, char *err, size_t errlen)
{
    struct intake_unix *u = calloc(1, sizeof *u);
    if (!u || !(u->resume = loop_add_timer(loop, on_resume, u)) ||
        !(u->more = loop_add_timer(loop, on_more, u))) {
        if (u)
            loop_del_timer(u->resume);
        free(u);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = unix_listener_open(&u->listener, p->path, 64, p->mode, err, errlen);
    if (rc == 0 && (rc = loop_add_fd(loop, u->listener.fd, LOOP_IN, on_listen, u)) != 0) {
        snprintf(err, errlen, "%s: cannot watch: %s", p->path, strerror(-rc));
        unix_listener_close(&u->listener);
    }
    if (rc) {
        loop_del_timer(u->resume);
        loop_del_timer(u->more);
        free(u);
        return rc;
    }
    u->src =
        (struct hal_source){.api = &intake_unix_api, .role = p->role, .emit = emit, .ctx = ctx};
    snprintf(u->src.name, sizeof u->src.name, "%s", p->name);
    u->reply.api = &intake_unix_reply_api;
    u->loop = loop;
    u->listen_watching = LOOP_IN;
    u->one_request = p->one_request;
    for (int i = 0; i < MAX_CONNS; i++)
        u->conns[i].fd = -1;
    *out = &u->src;
    return 0;
}
