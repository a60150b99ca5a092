/*
 * Network changes from the kernel (rtnetlink): an interface that comes up, an address or a route
 * added. Each is worth an upload retry now rather than at the end of a backoff. Losing an event
 * (the socket's buffer overran) costs only that: the backoff still runs.
 */
#define _DEFAULT_SOURCE /* IFF_RUNNING */
#include "drivers/link_netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct link_netlink {
    struct hal_source src;
    struct loop *loop;
    int fd;
    char interface[IF_NAMESIZE]; /* empty: every interface */
};

static int concerns(const struct link_netlink *n, const struct nlmsghdr *h)
{
    unsigned index;
    if (h->nlmsg_type == RTM_NEWADDR)
        index = ((const struct ifaddrmsg *)NLMSG_DATA(h))->ifa_index;
    else if (h->nlmsg_type == RTM_NEWLINK) {
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        if (!(ifi->ifi_flags & IFF_RUNNING))
            return 0;
        index = (unsigned)ifi->ifi_index;
    } else
        return h->nlmsg_type == RTM_NEWROUTE; /* a route is not tied to one interface here */
    /* By name, at the event: an interface may appear after the start (a USB modem plugged in). */
    char name[IF_NAMESIZE];
    return !n->interface[0] || (if_indextoname(index, name) && strcmp(name, n->interface) == 0);
}

static void on_readable(void *ctx, int fd, unsigned events)
{
    struct link_netlink *n = ctx;
    char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
    int up = 0;
    ssize_t got;
    (void)events;
    /* Bounded: at most a few buffers a turn, so a storm of events cannot hold the loop. */
    for (int i = 0; i < 4 && (got = recv(fd, buf, sizeof buf, 0)) > 0; i++)
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got);
             h = NLMSG_NEXT(h, got))
            up |= concerns(n, h);
    if (up) {
        struct hal_event ev = {
            .kind = HAL_EVENT_LINK_UP, .src = &n->src, .at_mono_ms = loop_now_ms()};
        hal_source_emit(&n->src, &ev);
    }
}

static void ln_close(struct hal_source *src)
{
    struct link_netlink *n = (struct link_netlink *)src;
    loop_del_fd(n->loop, n->fd);
    close(n->fd);
    free(n);
}

static const struct hal_source_api link_netlink_api = {.close = ln_close};

int link_netlink_open(const char *interface, struct loop *loop, hal_event_fn emit, void *ctx,
                      struct hal_source **out, char *err, size_t errlen)
{
    if (interface && strlen(interface) >= IF_NAMESIZE) {
        snprintf(err, errlen, "network interface name \"%.32s...\" too long", interface);
        return -EINVAL;
    }
    struct link_netlink *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    n->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
                             .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                                          RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE};
    int rc = 0;
    if (n->fd < 0 || bind(n->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        rc = -errno;
    else
        rc = loop_add_fd(loop, n->fd, LOOP_IN, on_readable, n);
    if (rc) {
        snprintf(err, errlen, "netlink: %s", strerror(-rc));
        if (n->fd >= 0)
            close(n->fd);
        free(n);
        return rc;
    }
    n->src = (struct hal_source){
        .api = &link_netlink_api, .role = HAL_ROLE_NETWORK, .emit = emit, .ctx = ctx};
    snprintf(n->src.name, sizeof n->src.name, "network");
    n->loop = loop;
    snprintf(n->interface, sizeof n->interface, "%s", interface ? interface : "");
    *out = &n->src;
    return 0;
}
