#define _DEFAULT_SOURCE /* IFF_RUNNING */
#include "netwatch.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

int netwatch_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
                             .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                                          RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int netwatch_read(int fd)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
    int up = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_NEWROUTE)
                up = 1;
            else if (h->nlmsg_type == RTM_NEWLINK &&
                     (((struct ifinfomsg *)NLMSG_DATA(h))->ifi_flags & IFF_RUNNING))
                up = 1;
        }
    }
    return up; /* an overrun (ENOBUFS) loses events, not correctness: backoff still runs */
}
