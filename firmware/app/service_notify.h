/*
 * The service manager's readiness and watchdog protocol (sd_notify(3)), without libsystemd: a
 * till's image may have no systemd at all, and the protocol is one datagram. Without
 * NOTIFY_SOCKET in the environment (BusyBox init, a shell, the tests) every call does nothing.
 */
#ifndef TILLSYNC_SERVICE_NOTIFY_H
#define TILLSYNC_SERVICE_NOTIFY_H

#include <stdint.h>

/* Sends one state string ("READY=1\nSTATUS=..."). Returns 1 sent, 0 no manager, <0 -errno. */
int service_notify(const char *state);
int service_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the manager expects WATCHDOG=1 within, in ms, or 0 when none is
 * configured for this process (WATCHDOG_USEC unset, or WATCHDOG_PID names another process). */
uint64_t service_watchdog_ms(void);

#endif
