/*
 * sd_notify(3)'s wire protocol: the state string as one datagram to the AF_UNIX socket named by
 * NOTIFY_SOCKET; a name starting with '@' is in the abstract namespace (a leading NUL byte).
 * The manager reads the sender's credentials, so nothing else is needed.
 */
#define _GNU_SOURCE
#include "service_notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int service_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len > sizeof sa.sun_path)
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    /* An abstract name has no terminating NUL: its length is the address's. */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '/' && len < sizeof sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}

int service_notifyf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return service_notify(buf);
}

uint64_t service_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || !usec[0])
        return 0;
    /* Set for a child the daemon started, not for the daemon: not ours to feed. */
    if (pid && pid[0] && strtoll(pid, NULL, 10) != (long long)getpid())
        return 0;
    char *end;
    errno = 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (errno || *end || us == 0)
        return 0;
    return us / 1000 ? us / 1000 : 1;
}
