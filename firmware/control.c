#define _GNU_SOURCE
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 4
#define MAX_REQUEST 256

struct client {
    int fd;
    char in[MAX_REQUEST];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
};

struct control {
    int listen_fd;
    char path[108];
    control_handler_fn fn;
    void *ctx;
    struct client clients[MAX_CLIENTS];
};

static void client_close(struct client *cl)
{
    close(cl->fd);
    free(cl->out);
    memset(cl, 0, sizeof *cl);
    cl->fd = -1;
}

struct control *control_open(const char *path, control_handler_fn fn, void *ctx, char *err,
                             size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "control_socket: path too long");
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "control_socket: %s", strerror(errno));
        return NULL;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0) {
        snprintf(err, errlen, "control_socket: cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct control *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->listen_fd = fd;
    strcpy(c->path, path);
    c->fn = fn;
    c->ctx = ctx;
    for (int i = 0; i < MAX_CLIENTS; i++)
        c->clients[i].fd = -1;
    return c;
}

int control_poll_fds(struct control *c, struct pollfd *fds, int max)
{
    int n = 0;
    if (n < max)
        fds[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
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
            client_close(cl);
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
            client_close(cl);
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
    client_close(cl);
}

void control_dispatch(struct control *c, const struct pollfd *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == c->listen_fd) {
            int fd;
            while ((fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                struct client *cl = NULL;
                for (int k = 0; k < MAX_CLIENTS && !cl; k++)
                    if (c->clients[k].fd < 0)
                        cl = &c->clients[k];
                if (!cl) {
                    close(fd);
                    continue;
                }
                cl->fd = fd;
            }
            continue;
        }
        for (int k = 0; k < MAX_CLIENTS; k++)
            if (c->clients[k].fd == fds[i].fd) {
                serve(c, &c->clients[k]);
                break;
            }
    }
}

void control_close(struct control *c)
{
    if (!c)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (c->clients[i].fd >= 0)
            client_close(&c->clients[i]);
    close(c->listen_fd);
    unlink(c->path);
    free(c);
}
