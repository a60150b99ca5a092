/*
 * The control socket: the technician's tool asks the running daemon questions here. One request
 * line, one reply line, then the daemon closes the connection.
 */
#ifndef TILLSYNC_CONTROL_H
#define TILLSYNC_CONTROL_H

#include <poll.h>
#include <stddef.h>

struct control;

/* Produces the reply (malloc'd, without newline) for one request line. */
typedef char *(*control_handler_fn)(void *ctx, const char *request);

struct control *control_open(const char *path, control_handler_fn fn, void *ctx, char *err,
                             size_t errlen);
int control_poll_fds(struct control *c, struct pollfd *fds, int max);
void control_dispatch(struct control *c, const struct pollfd *fds, int n);
void control_close(struct control *c);

#endif
