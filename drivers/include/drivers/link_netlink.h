/* Network changes from the kernel's rtnetlink: HAL_EVENT_LINK_UP when a link comes up or an
 * address or route is added. */
#ifndef DRIVERS_LINK_NETLINK_H
#define DRIVERS_LINK_NETLINK_H

#include <stddef.h>

#include "hal/loop.h"
#include "hal/source.h"

/* interface: only that one's links and addresses count; NULL or "": any. */
int link_netlink_open(const char *interface, struct loop *loop, hal_event_fn emit, void *ctx,
                      struct hal_source **out, char *err, size_t errlen);

#endif
