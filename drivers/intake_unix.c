/*
 * POS intake over a Unix stream socket. Requests are newline-terminated lines of at most
 * INTAKE_UNIX_MAX_LINE bytes; each gets exactly one reply line, in order.
 *
 * Sockets are non-blocking: a POS application that stops reading its replies must not stall the
 * daemon. Such a connection simply stops being read once its unsent replies pass a limit.
 */
#define _GNU_SOURCE
#include "drivers/intake_unix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS     32
#define OUT_HIGH_MARK 65536 /* stop reading a connection with this much unsent */

struct conn {
    int fd;
    uint32_t id;
    char *in; /* MAX_LINE + 1 bytes, allocated on first use */
    size_t in_len;
    int discarding; /* inside an over-long line: drop bytes up to the next newline */
    int eof;
    char *out;
    size_t out_len, out_cap;
};

struct intake_unix {
    struct hal_intake src;
    int listen_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct conn conns[MAX_CONNS];
    uint32_t next_id;
};

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
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
    }
}

static struct conn *conn_by_id(struct intake_unix *u, uint32_t id)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (u->conns[i].fd >= 0 && u->conns[i].id == id)
            return &u->conns[i];
    return NULL;
}

static int iu_reply(struct hal_intake *src, uint32_t id, const char *line, size_t len)
{
    struct intake_unix *u = (struct intake_unix *)src;
    struct conn *c = conn_by_id(u, id);
    if (!c)
        return -ENOTCONN;
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
    conn_flush(c);
    return 0;
}

static int iu_poll_fds(struct hal_intake *src, struct pollfd *fds, int max)
{
    struct intake_unix *u = (struct intake_unix *)src;
    int n = 0;
    if (u->listen_fd >= 0 && n < max)
        fds[n++] = (struct pollfd){.fd = u->listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CONNS && n < max; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd < 0)
            continue;
        short ev = 0;
        if (!c->eof && c->out_len < OUT_HIGH_MARK)
            ev |= POLLIN;
        if (c->out_len)
            ev |= POLLOUT;
        fds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    return n;
}

static void accept_all(struct intake_unix *u)
{
    for (;;) {
        int fd = accept4(u->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = NULL;
        for (int i = 0; i < MAX_CONNS && !c; i++)
            if (u->conns[i].fd < 0)
                c = &u->conns[i];
        if (!c) { /* full: the POS application retries, which the contract allows */
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = ++u->next_id;
    }
}

/* Hands every complete line in the buffer to firmware, as long as replies can be queued. */
static void deliver_lines(struct intake_unix *u, struct conn *c)
{
    size_t start = 0;
    while (c->out_len < OUT_HIGH_MARK && c->fd >= 0) {
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
            u->src.on_request(u->src.ctx, &u->src, c->id, c->in + start, len);
        }
        start = (size_t)(nl - c->in) + 1;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len == INTAKE_UNIX_MAX_LINE && !memchr(c->in, '\n', c->in_len)) {
        if (!c->discarding)
            u->src.on_request(u->src.ctx, &u->src, c->id, NULL, c->in_len);
        c->discarding = 1;
        c->in_len = 0;
    }
}

static void read_conn(struct intake_unix *u, struct conn *c)
{
    if (!c->in && !(c->in = malloc(INTAKE_UNIX_MAX_LINE + 1))) {
        conn_close(c);
        return;
    }
    while (!c->eof && c->out_len < OUT_HIGH_MARK) {
        size_t room = INTAKE_UNIX_MAX_LINE - c->in_len;
        ssize_t n = room ? recv(c->fd, c->in + c->in_len, room, 0) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0 && room) {
            c->eof = 1;
            break;
        }
        c->in_len += (size_t)n;
        deliver_lines(u, c);
    }
    /* A last request without its newline still deserves an answer. */
    if (c->eof && c->in_len > 0 && !c->discarding && c->fd >= 0) {
        deliver_lines(u, c);
        if (c->in_len > 0 && c->out_len < OUT_HIGH_MARK) {
            c->in[c->in_len] = '\0';
            size_t len = c->in_len;
            c->in_len = 0;
            u->src.on_request(u->src.ctx, &u->src, c->id, c->in, len);
        }
    }
}

static void iu_dispatch(struct hal_intake *src, const struct pollfd *fds, int n)
{
    struct intake_unix *u = (struct intake_unix *)src;
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == u->listen_fd) {
            accept_all(u);
            continue;
        }
        for (int k = 0; k < MAX_CONNS; k++) {
            struct conn *c = &u->conns[k];
            if (c->fd != fds[i].fd)
                continue;
            if (fds[i].revents & POLLOUT)
                conn_flush(c);
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                read_conn(u, c);
            else if (c->in_len && c->out_len < OUT_HIGH_MARK)
                deliver_lines(u, c); /* lines held back while replies were pending */
            if (c->eof && c->out_len == 0)
                conn_close(c);
        }
    }
}

static void iu_close(struct hal_intake *src)
{
    struct intake_unix *u = (struct intake_unix *)src;
    if (u->listen_fd >= 0) {
        close(u->listen_fd);
        unlink(u->path);
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &u->conns[i];
        if (c->fd < 0)
            continue;
        /* Best effort: a reply already earned is worth one last blocking-free attempt. */
        conn_flush(c);
        conn_close(c);
    }
    free(u);
}

static const struct hal_intake_api intake_unix_api = {
    .poll_fds = iu_poll_fds, .dispatch = iu_dispatch, .reply = iu_reply, .close = iu_close};

int intake_unix_open(const char *path, hal_intake_request_fn on_request, void *ctx,
                     struct hal_intake **out, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path longer than %zu bytes", sizeof sa.sun_path - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    /* A socket file left by a crash is removed; one that answers belongs to a live daemon. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(fd);
        snprintf(err, errlen, "%s is in use by another process", path);
        return -EADDRINUSE;
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    chmod(path, 0660);
    struct intake_unix *u = calloc(1, sizeof *u);
    if (!u) {
        close(fd);
        return -ENOMEM;
    }
    u->src.api = &intake_unix_api;
    u->src.on_request = on_request;
    u->src.ctx = ctx;
    u->listen_fd = fd;
    strcpy(u->path, path);
    for (int i = 0; i < MAX_CONNS; i++)
        u->conns[i].fd = -1;
    *out = &u->src;
    return 0;
}
