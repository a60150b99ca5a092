#define _GNU_SOURCE
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "common/unix_listener.h"

/*
 * A client sends one short line and gets one reply, so a slot is normally held for a moment. One
 * that holds it longer (idle, or not reading its reply) gives way to a new client: a technician's
 * tillsyncctl is never locked out by connections left open.
 */
#define MAX_CLIENTS   4
#define MAX_REQUEST   256
#define FULL_PAUSE_MS 1000

struct client {
    int fd;
    uint64_t since_ms; /* accepted at */
    char in[MAX_REQUEST];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
};

struct control {
    struct unix_listener listener;
    control_handler_fn fn;
    void *ctx;
    struct client clients[MAX_CLIENTS];
};

static void client_close(struct control *c, struct client *cl)
{
    unix_listener_release(&c->listener, cl->fd);
    free(cl->out);
    memset(cl, 0, sizeof *cl);
    cl->fd = -1;
}

struct control *control_open(const char *path, control_handler_fn fn, void *ctx, char *err,
                             size_t errlen)
{
    struct control *c = calloc(1, sizeof *c);
    char why[400];
    if (!c) {
        snprintf(err, errlen, "control_socket: out of memory");
        return NULL;
    }
    if (unix_listener_open(&c->listener, path, 8, 0, why, sizeof why) != 0) {
        snprintf(err, errlen, "control_socket: %s", why);
        free(c);
        return NULL;
    }
    c->fn = fn;
    c->ctx = ctx;
    for (int i = 0; i < MAX_CLIENTS; i++)
        c->clients[i].fd = -1;
    return c;
}

int control_poll_fds(struct control *c, struct pollfd *fds, int max)
{
    int n = 0;
    int listen_fd = unix_listener_poll_fd(&c->listener);
    if (listen_fd >= 0 && n < max)
        fds[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS && n < max; i++)
        if (c->clients[i].fd >= 0)
            fds[n++] = (struct pollfd){.fd = c->clients[i].fd,
                                       .events = c->clients[i].out ? POLLOUT : POLLIN};
    return n;
}

static void serve(struct control *c, struct client *cl)
{
    if (!cl->out) {
        ssize_t r = recv(cl->fd, cl->in + cl->in_len, sizeof cl->in - 1 - cl->in_len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            client_close(c, cl);
            return;
        }
        cl->in_len += (size_t)r;
        cl->in[cl->in_len] = '\0';
        char *nl = strchr(cl->in, '\n');
        if (!nl && cl->in_len < sizeof cl->in - 1)
            return;
        if (nl)
            *nl = '\0';
        char *body = c->fn(c->ctx, cl->in);
        size_t n = body ? strlen(body) : 0;
        cl->out = malloc(n + 1);
        if (!cl->out) {
            free(body);
            client_close(c, cl);
            return;
        }
        memcpy(cl->out, body ? body : "", n);
        cl->out[n] = '\n';
        cl->out_len = n + 1;
        free(body);
    }
    while (cl->out_off < cl->out_len) {
        ssize_t w = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w <= 0)
            break;
        cl->out_off += (size_t)w;
    }
    client_close(c, cl);
}

/* A free slot, else the oldest client's, preferring one that has not been answered yet. */
static struct client *make_room(struct control *c)
{
    struct client *oldest = NULL;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *cl = &c->clients[i];
        if (cl->fd < 0)
            return cl;
        int answered = cl->out != NULL, oldest_answered = oldest && oldest->out != NULL;
        if (!oldest || answered < oldest_answered ||
            (answered == oldest_answered && cl->since_ms < oldest->since_ms))
            oldest = cl;
    }
    client_close(c, oldest);
    return oldest;
}

/* Bounded per call so that a flood of connections cannot hold the event loop here; fewer than
 * MAX_CLIENTS a pass, so a client accepted in this pass is never closed for one after it. A client
 * gives way only once a new connection is in hand. */
static void accept_waiting(struct control *c)
{
    for (int taken = 0; taken < MAX_CLIENTS - 1 && unix_listener_pending(&c->listener);) {
        int fd = unix_listener_accept(&c->listener);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* Out of descriptors even with the reserve: the oldest client gives way. */
            make_room(c);
            fd = unix_listener_accept(&c->listener);
        }
        if (fd < 0) {
            if (errno != EAGAIN)
                unix_listener_pause(&c->listener, FULL_PAUSE_MS); /* not a spin on poll */
            return;
        }
        struct client *cl = make_room(c);
        cl->fd = fd;
        cl->since_ms = clock_mono_ms();
        taken++;
    }
}

void control_dispatch(struct control *c, const struct pollfd *fds, int n)
{
    int listen_ready = 0;
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == c->listener.fd) {
            listen_ready = 1;
            continue;
        }
        for (int k = 0; k < MAX_CLIENTS; k++)
            if (c->clients[k].fd == fds[i].fd) {
                serve(c, &c->clients[k]);
                unix_listener_pause(&c->listener, 0); /* a descriptor may be free again */
                break;
            }
    }
    /* Last, so that no descriptor polled above is closed and reused by a new client first. */
    if (listen_ready)
        accept_waiting(c);
}

void control_close(struct control *c)
{
    if (!c)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (c->clients[i].fd >= 0)
            client_close(c, &c->clients[i]);
    unix_listener_close(&c->listener);
    free(c);
}
