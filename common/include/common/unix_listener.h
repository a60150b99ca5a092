/*
 * A listening Unix stream socket for the POS intake and the control socket alike.
 *
 * The path comes from a configuration a technician typed, so taking it over is careful: a path
 * is removed only when it is a socket that nothing answers on (a crashed daemon's leftover).
 * Anything else refuses, naming the path: another kind of file (a journal image, a regular file,
 * a symlink), a live socket, or one whose owner is stopped with a full backlog.
 *
 * At the process's descriptor limit accept() fails with the connection still queued, and a
 * level-triggered poll loop would spin on it. A listener keeps one descriptor in reserve and gives
 * it up to take the connection; when even that is spent the caller frees a descriptor of its own
 * or pauses the listener for a moment.
 */
#ifndef COMMON_UNIX_LISTENER_H
#define COMMON_UNIX_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct unix_listener {
    int fd;
    int reserve; /* a dup of fd held only to be closed when accept() hits the limit */
    dev_t dev;   /* the socket file bound: removed at close only if still this one */
    ino_t ino;
    uint64_t resume_ms; /* paused until this monotonic time */
    char path[108];
};

/*
 * Binds and listens at path (mode: its permissions, 0 to leave them to the umask). On failure
 * returns a negative errno and writes a reason naming the path to err.
 */
int unix_listener_open(struct unix_listener *l, const char *path, int backlog, mode_t mode,
                       char *err, size_t errlen);

/* The descriptor to poll for a waiting connection, or -1 while paused. */
int unix_listener_poll_fd(struct unix_listener *l);

/* True if a connection is waiting (a poll with no wait). */
int unix_listener_pending(struct unix_listener *l);

/*
 * Accepts one connection, non-blocking and close-on-exec, spending the reserve at the descriptor
 * limit. Returns its descriptor, or -1 with errno: EAGAIN, nothing waiting; EMFILE or ENFILE,
 * still at the limit (free a descriptor and call again, or pause).
 */
int unix_listener_accept(struct unix_listener *l);

/*
 * Closes a connection accepted from l. If the reserve was spent, the descriptor just freed is
 * taken back for it at once, before anything else in the process can take it: a listener whose
 * connections are all closed always has its reserve again.
 */
void unix_listener_release(struct unix_listener *l, int fd);

/* Stops offering the socket to poll for ms milliseconds; 0 resumes now. */
void unix_listener_pause(struct unix_listener *l, unsigned ms);

/* Closes the socket and removes its file, unless the path now holds something else. */
void unix_listener_close(struct unix_listener *l);

#endif
