/*
 * The daemon's one event loop, which every event source registers with (as Redis's ae and
 * Fluent Bit's input collectors do): a descriptor with the events it waits for, or a timer, and a
 * callback with its context. Drivers and firmware both use it; the implementation (epoll and a
 * timer heap on CLOCK_MONOTONIC) is common/loop.c.
 *
 * Fairness: a callback is called at most once per turn with what its descriptor reported, and is
 * expected to do a bounded amount of work before returning (read one buffer, serve a few
 * requests). A source with more to do stays ready and is called again next turn, after every other
 * ready source has had its call: a busy source delays the others by one call, never starves them.
 *
 * Sources may be added and removed at any time, from inside any callback included: a descriptor
 * removed during a turn gets no further call in that turn, even if it was reported ready.
 */
#ifndef HAL_LOOP_H
#define HAL_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;

/* Event bits, as epoll's: LOOP_ERR and LOOP_HUP are reported whether asked for or not. */
#define LOOP_IN  0x001u
#define LOOP_OUT 0x004u
#define LOOP_ERR 0x008u
#define LOOP_HUP 0x010u

#define LOOP_NEVER UINT64_MAX

typedef void (*loop_fd_fn)(void *ctx, int fd, unsigned events);
typedef void (*loop_timer_fn)(void *ctx);

/* The loop's clock (CLOCK_MONOTONIC, in ms): timers run on it, and sources stamp their events
 * with it (hal_event.at_mono_ms). The same clock as firmware's clock_mono_ms. */
uint64_t loop_now_ms(void);

struct loop *loop_new(void);
/* Closes nothing: every source closes its own descriptors. */
void loop_free(struct loop *l);

/* One call of fn per turn while fd reports any of `events` (level-triggered). 0 or -errno;
 * -EEXIST if fd is registered already. */
int loop_add_fd(struct loop *l, int fd, unsigned events, loop_fd_fn fn, void *ctx);
/* Changes what a registered fd waits for; 0 waits for nothing (still reports ERR/HUP). */
int loop_mod_fd(struct loop *l, int fd, unsigned events);
/* Call before closing fd. */
int loop_del_fd(struct loop *l, int fd);

/* A timer, disarmed until loop_timer_set. NULL when out of memory. */
struct loop_timer *loop_add_timer(struct loop *l, loop_timer_fn fn, void *ctx);
/* Fires once, delay_ms from now (0: next turn); LOOP_NEVER disarms. Re-arming replaces. */
void loop_timer_set(struct loop_timer *t, uint64_t delay_ms);
/* Fires once at the monotonic time at_ms (clock_mono_ms's clock). */
void loop_timer_set_at(struct loop_timer *t, uint64_t at_ms);
void loop_del_timer(struct loop_timer *t);

/* One turn: waits at most max_wait_ms (0: do not wait; -1: until something happens), then calls
 * every ready descriptor's callback once and every due timer. Returns the number of callbacks
 * made, or -errno. */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Run-time figures for status and tests: turns taken, callbacks made, registered descriptors and
 * timers. */
struct loop_stats {
    uint64_t turns, fd_calls, timer_calls;
    unsigned fds, timers;
};
void loop_get_stats(const struct loop *l, struct loop_stats *out);

#endif
