#ifndef TILLSYNC_CLOCK_H
#define TILLSYNC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Timers run on the monotonic clock: a till's wall clock may jump when NTP finally answers. */
static inline uint64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wall clock, only for ages shown to people. */
static inline uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
