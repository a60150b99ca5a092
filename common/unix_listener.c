#define _GNU_SOURCE /* accept4 */
#include "common/unix_listener.h"
#include "hal/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *file_kind(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a socket";
}

/*
 * Makes way for bind() at path. Only a socket nobody accepts on is removed: connect() is refused
 * (ECONNREFUSED) exactly when no process listens on it. A full backlog (EAGAIN) means a listener
 * that is stopped or overloaded, not gone, and every other failure leaves the question open, so
 * both refuse rather than take the path from a daemon that may still hold sales.
 */
static int clear_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is %s, not a socket; refusing to remove it", path,
                 file_kind(st.st_mode));
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket: %s", strerror(e));
        return -e;
    }
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(fd);
    if (rc == 0) {
        snprintf(err, errlen, "%s is in use: a process accepts connections on it", path);
        return -EADDRINUSE;
    }
    if (e == EAGAIN) {
        snprintf(err, errlen,
                 "%s is in use: its process is not accepting connections (stopped or "
                 "overloaded); refusing to take it over",
                 path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen,
                 "%s: cannot tell whether a process still owns it (connect: %s); refusing to "
                 "remove it",
                 path, strerror(e));
        return -e;
    }
    struct stat now;
    if (lstat(path, &now) == 0 && (now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
        snprintf(err, errlen, "%s was replaced while being checked; refusing to remove it", path);
        return -EADDRINUSE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        e = errno;
        snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int unix_listener_open(struct unix_listener *l, const char *path, int backlog, mode_t mode,
                       char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->fd = l->reserve = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path[0] == '\0') {
        snprintf(err, errlen, "socket path is empty");
        return -EINVAL;
    }
    if (strlen(path) >= sizeof sa.sun_path || strlen(path) >= sizeof l->path) {
        snprintf(err, errlen, "socket path longer than %zu bytes", sizeof sa.sun_path - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int rc = clear_stale(path, &sa, err, errlen);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0 ||
        lstat(path, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (mode)
        chmod(path, mode);
    l->fd = fd;
    l->reserve = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    strcpy(l->path, path);
    return 0;
}

int unix_listener_poll_fd(struct unix_listener *l)
{
    if (l->resume_ms && loop_now_ms() < l->resume_ms)
        return -1;
    l->resume_ms = 0;
    return l->fd;
}

int unix_listener_pending(struct unix_listener *l)
{
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int unix_listener_accept(struct unix_listener *l)
{
    if (l->reserve < 0)
        l->reserve = fcntl(l->fd, F_DUPFD_CLOEXEC, 0); /* back in reserve once descriptors allow */
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && l->reserve >= 0) {
            close(l->reserve);
            l->reserve = -1;
            continue;
        }
        return -1;
    }
}

void unix_listener_release(struct unix_listener *l, int fd)
{
    close(fd);
    if (l->reserve < 0 && l->fd >= 0)
        l->reserve = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
}

void unix_listener_pause(struct unix_listener *l, unsigned ms)
{
    l->resume_ms = ms ? loop_now_ms() + ms : 0;
}

void unix_listener_close(struct unix_listener *l)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    if (l->reserve >= 0)
        close(l->reserve);
    l->fd = l->reserve = -1;
    struct stat st;
    if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
        st.st_ino == l->ino)
        unlink(l->path);
}
