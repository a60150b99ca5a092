/*
 * The connection: one request line out, one reply line back, under the client's mutex, so that a
 * reply always belongs to the request before it. Any doubt about that pairing (a timeout, bytes
 * nobody asked for) closes the connection: a late reply read as the answer to the next sale would
 * hand the POS the wrong ref.
 */
#define _GNU_SOURCE
#include "tillsync/client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_json.h"

#define REPLY_MAX 4096 /* the daemon's replies are a few hundred bytes */

struct tillsync_client {
    pthread_mutex_t mu;
    struct sockaddr_un sa;
    int fd;
    int connect_ms, reply_ms;
    unsigned flags;
    char in[REPLY_MAX];
    size_t in_len;
};

enum io { IO_OK, IO_LOST, IO_TIMEOUT, IO_GARBLED };

static void set_timeout(int fd, int which, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, which, &tv, sizeof tv);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void disconnect(struct tillsync_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
}

/* A blocking connect gives up after SO_SNDTIMEO on Linux when the daemon's backlog is full. */
static int connect_daemon(struct tillsync_client *c)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeout(fd, SO_SNDTIMEO, c->connect_ms);
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)&c->sa, sizeof c->sa);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e == EAGAIN || e == EINPROGRESS ? ETIMEDOUT : e; /* backlog full that long */
        return -1;
    }
    set_timeout(fd, SO_SNDTIMEO, c->reply_ms);
    c->fd = fd;
    c->in_len = 0;
    return 0;
}

/* A connection the daemon closed while idle (a restart, or its slot given to another). */
static int still_open(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

/* MSG_NOSIGNAL: a daemon gone is an error returned here, never SIGPIPE in the POS process. */
static enum io send_line(struct tillsync_client *c, const char *line, size_t len, size_t *sent)
{
    while (*sent < len) {
        ssize_t n = send(c->fd, line + *sent, len - *sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? IO_TIMEOUT : IO_LOST;
        *sent += (size_t)n;
    }
    return IO_OK;
}

static enum io read_reply(struct tillsync_client *c, long long deadline, size_t *line_len)
{
    for (;;) {
        char *nl = memchr(c->in, '\n', c->in_len);
        if (nl) {
            *line_len = (size_t)(nl - c->in);
            return IO_OK;
        }
        if (c->in_len == sizeof c->in)
            return IO_GARBLED;
        long long left = deadline - now_ms();
        if (left <= 0)
            return IO_TIMEOUT;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR)
            return IO_LOST;
        if (pr <= 0)
            continue;
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return IO_LOST;
        c->in_len += (size_t)n;
    }
}

/* No reply to go by: the sale may or may not be stored, and a resend settles it. */
__attribute__((format(printf, 2, 3))) static enum tillsync_outcome
give_up(struct tillsync_result *res, const char *fmt, ...)
{
    memset(res, 0, sizeof *res);
    res->retry = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof res->error, fmt, ap);
    va_end(ap);
    return TILLSYNC_RETRY;
}

static enum tillsync_outcome outcome(const struct tillsync_result *res)
{
    return res->ok ? TILLSYNC_STORED : res->retry ? TILLSYNC_RETRY : TILLSYNC_REJECTED;
}

static enum tillsync_outcome exchange(struct tillsync_client *c, const char *line, size_t len,
                                      struct tillsync_result *res)
{
    const char *path = c->sa.sun_path;
    for (int attempt = 0;; attempt++) {
        if (c->fd >= 0 && !still_open(c->fd))
            disconnect(c);
        if (c->fd < 0 && connect_daemon(c) != 0)
            return give_up(res, "tillsyncd not reachable at %s: %s; resend with the same txn", path,
                           strerror(errno));
        size_t sent = 0, reply_len = 0;
        long long deadline = now_ms() + c->reply_ms;
        enum io io = send_line(c, line, len, &sent);
        if (io == IO_OK)
            io = read_reply(c, deadline, &reply_len);
        if (io == IO_OK) {
            int rc = client_parse_reply(c->in, reply_len, res);
            size_t rest = c->in_len - reply_len - 1;
            if (rc != 0 || rest != 0)
                disconnect(c); /* the pairing of requests and replies is in doubt */
            else
                c->in_len = 0;
            if (rc == 0)
                return outcome(res);
            return give_up(res, "unreadable reply from tillsyncd at %s; resend with the same txn",
                           path);
        }
        disconnect(c);
        if (io == IO_TIMEOUT)
            return give_up(res,
                           "no reply from tillsyncd at %s within %d ms; resend with the same txn",
                           path, c->reply_ms);
        if (io == IO_GARBLED)
            return give_up(res, "unreadable reply from tillsyncd at %s; resend with the same txn",
                           path);
        /* Lost: nothing written is safe to send again; something written is safe to resend too
         * (the daemon answers a stored txn as a duplicate), unless the caller said not to. */
        if (attempt > 0 || (sent > 0 && (c->flags & TILLSYNC_NO_RESEND)))
            return give_up(res,
                           "connection to tillsyncd at %s lost before its reply; resend with the "
                           "same txn",
                           path);
    }
}

struct tillsync_client *tillsync_open(const char *socket_path, const struct tillsync_options *opt)
{
    struct tillsync_client *c;
    if (!socket_path || strlen(socket_path) >= sizeof c->sa.sun_path) {
        errno = socket_path ? ENAMETOOLONG : EINVAL;
        return NULL;
    }
    if (!(c = calloc(1, sizeof *c)))
        return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->sa.sun_family = AF_UNIX;
    strcpy(c->sa.sun_path, socket_path);
    c->fd = -1;
    c->connect_ms =
        opt && opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : TILLSYNC_DEFAULT_TIMEOUT_MS;
    c->reply_ms =
        opt && opt->reply_timeout_ms > 0 ? opt->reply_timeout_ms : TILLSYNC_DEFAULT_TIMEOUT_MS;
    c->flags = opt ? opt->flags : 0;
    return c;
}

void tillsync_close(struct tillsync_client *c)
{
    if (!c)
        return;
    disconnect(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static enum tillsync_outcome refuse(struct tillsync_result *res, const char *why)
{
    memset(res, 0, sizeof *res);
    snprintf(res->field, sizeof res->field, "request");
    snprintf(res->error, sizeof res->error, "request: %s", why);
    return TILLSYNC_REJECTED;
}

static enum tillsync_outcome send_request(struct tillsync_client *c, char *line, size_t len,
                                          struct tillsync_result *res)
{
    pthread_mutex_lock(&c->mu);
    enum tillsync_outcome o = exchange(c, line, len, res);
    pthread_mutex_unlock(&c->mu);
    free(line);
    return o;
}

enum tillsync_outcome tillsync_sale_completed(struct tillsync_client *c,
                                              const struct tillsync_sale *sale,
                                              struct tillsync_result *res)
{
    struct tillsync_result scratch;
    char *line;
    size_t len;
    if (!res)
        res = &scratch;
    if (!c || !sale)
        return refuse(res, c ? "no sale given" : "no client given");
    if (client_format_sale(sale, &line, &len) != 0)
        return give_up(res, "out of memory; resend with the same txn");
    return send_request(c, line, len, res);
}

enum tillsync_outcome tillsync_sale_completed_json(struct tillsync_client *c,
                                                   const char *json_object,
                                                   struct tillsync_result *res)
{
    struct tillsync_result scratch;
    char *line, err[128];
    size_t len;
    if (!res)
        res = &scratch;
    if (!c || !json_object)
        return refuse(res, c ? "no sale given" : "no client given");
    int rc = client_line_from_json(json_object, &line, &len, err, sizeof err);
    if (rc == -2)
        return refuse(res, err + strlen("request: "));
    if (rc != 0)
        return give_up(res, "out of memory; resend with the same txn");
    return send_request(c, line, len, res);
}
