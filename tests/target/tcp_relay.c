/*
 * A relay for the booted image: what the terminal's network brings in (QEMU's hostfwd) is passed
 * to a local socket, and the daemon's uploads to "localhost" go out to QEMU's guestfwd address,
 * so the test CA's certificate for localhost matches. Bytes are copied both ways, unchanged, one
 * poll loop for every connection; a side that closes closes the pair.
 *
 *   tcp_relay PORT unix:/run/tillsync/pos.sock
 *   tcp_relay PORT tcp:10.0.2.100:443
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PAIRS 64

static int connect_target(const char *target)
{
    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", target + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char host[64];
    const char *colon = strrchr(target + 4, ':');
    if (strncmp(target, "tcp:", 4) != 0 || !colon || (size_t)(colon - target - 4) >= sizeof host)
        return -1;
    memcpy(host, target + 4, (size_t)(colon - target - 4));
    host[colon - target - 4] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tcp_relay PORT unix:PATH|tcp:ADDR:PORT\n");
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0) {
        perror("tcp_relay: listen");
        return 1;
    }
    /* pfd[0] listens; then pairs: pfd[1 + 2i] the accepted side, pfd[2 + 2i] the target. */
    struct pollfd pfd[1 + 2 * MAX_PAIRS];
    unsigned npairs = 0;
    pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (;;) {
        if (poll(pfd, 1 + 2 * npairs, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        for (unsigned i = 0; i < npairs;) {
            int closed = 0;
            for (unsigned side = 0; side < 2 && !closed; side++) {
                struct pollfd *from = &pfd[1 + 2 * i + side], *to = &pfd[1 + 2 * i + !side];
                if (!(from->revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char buf[16384];
                ssize_t n = read(from->fd, buf, sizeof buf);
                for (ssize_t off = 0; n > 0 && off < n;) {
                    ssize_t w = write(to->fd, buf + off, (size_t)(n - off));
                    if (w <= 0) {
                        n = -1;
                        break;
                    }
                    off += w;
                }
                closed = n <= 0;
            }
            if (closed) {
                close(pfd[1 + 2 * i].fd);
                close(pfd[2 + 2 * i].fd);
                npairs--;
                pfd[1 + 2 * i] = pfd[1 + 2 * npairs];
                pfd[2 + 2 * i] = pfd[2 + 2 * npairs];
                continue; /* the last pair moved here, its events with it: look at it now */
            }
            i++;
        }
        if (pfd[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            int t = c >= 0 ? connect_target(argv[2]) : -1;
            if (c >= 0 && (t < 0 || npairs == MAX_PAIRS)) {
                close(c); /* the target is not there (yet): the client sees the close */
                if (t >= 0)
                    close(t);
            } else if (c >= 0) {
                pfd[1 + 2 * npairs] = (struct pollfd){.fd = c, .events = POLLIN};
                pfd[2 + 2 * npairs] = (struct pollfd){.fd = t, .events = POLLIN};
                npairs++;
            }
        }
    }
}
