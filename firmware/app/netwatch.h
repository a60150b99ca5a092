/*
 * Notices connectivity coming back: the kernel's rtnetlink link, address and route events. When
 * a till's Wi-Fi or LTE returns after an hour, the uploader is woken at once instead of sleeping
 * out a backoff sized for a dead network.
 */
#ifndef TILLSYNC_NETWATCH_H
#define TILLSYNC_NETWATCH_H

/* A non-blocking netlink socket subscribed to the events, or -1 (then backoff alone applies). */
int netwatch_open(void);
/* Drains pending events; returns 1 if any says a link, address or route appeared. */
int netwatch_read(int fd);

#endif
