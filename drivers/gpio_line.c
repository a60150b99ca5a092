/*
 * A GPIO input line through libgpiod v1 (Debian 12: 1.6). Both edges are requested with the
 * line's polarity given to the kernel (GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW), so what the kernel
 * reports is already logical: with both edges watched it reads the line's value as each event
 * fires and calls a 1 a rising edge, whatever the wire does. Rising is "active" here.
 *
 * Event times: kernels since 5.7 stamp line events with CLOCK_MONOTONIC, older ones with
 * CLOCK_REALTIME. The two are decades apart, so the nearer one is the one used; a realtime stamp
 * is not comparable with the loop's clock and is replaced by the time the event was read.
 */
#define _GNU_SOURCE
#include "drivers/gpio_line.h"

#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONSUMER "tillsyncd"

struct gpio_line {
    struct hal_source src;
    struct loop *loop;
    struct loop_timer *initial; /* reports a line found active at open, on the first turn */
    struct gpiod_chip *chip;
    struct gpiod_line *line;
    int fd;
    int initial_due; /* the line was active at open and that is not reported yet */
    uint64_t opened_ms;
};

static uint64_t ts_ms(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts_ms(&ts);
}

static uint64_t distance(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

/* The event's own time if the kernel stamped it on the monotonic clock, else now. */
static uint64_t event_mono_ms(const struct timespec *ts)
{
    uint64_t at = ts_ms(ts), mono = clock_ms(CLOCK_MONOTONIC), real = clock_ms(CLOCK_REALTIME);
    if (distance(at, mono) < distance(at, real) && at <= mono)
        return at;
    return mono;
}

static void emit_edge(struct gpio_line *g, int value, uint64_t at)
{
    struct hal_event ev = {
        .kind = HAL_EVENT_EDGE, .src = &g->src, .value = value, .at_mono_ms = at};
    hal_source_emit(&g->src, &ev);
}

static void emit_initial(struct gpio_line *g)
{
    g->initial_due = 0;
    loop_timer_set(g->initial, LOOP_NEVER);
    emit_edge(g, 1, g->opened_ms);
}

static void on_event(void *ctx, int fd, unsigned events)
{
    struct gpio_line *g = ctx;
    (void)fd;
    (void)events;
    /* The line's state at open comes before any later edge, whichever the loop calls first. */
    if (g->initial_due)
        emit_initial(g);
    struct gpiod_line_event e;
    /* One event per call: the descriptor stays readable while the kernel holds more. */
    if (gpiod_line_event_read(g->line, &e) != 0)
        return;
    emit_edge(g, e.event_type == GPIOD_LINE_EVENT_RISING_EDGE, event_mono_ms(&e.ts));
}

static void on_initial(void *ctx)
{
    struct gpio_line *g = ctx;
    if (g->initial_due)
        emit_initial(g);
}

static void line_close(struct hal_source *src)
{
    struct gpio_line *g = (struct gpio_line *)src;
    if (g->fd >= 0)
        loop_del_fd(g->loop, g->fd);
    if (g->initial)
        loop_del_timer(g->initial);
    if (g->line)
        gpiod_line_release(g->line);
    if (g->chip)
        gpiod_chip_close(g->chip);
    free(g);
}

static const struct hal_source_api line_api = {.close = line_close};

int gpio_line_open(const struct gpio_line_params *p, enum hal_role role, const char *name,
                   struct loop *loop, hal_event_fn emit, void *ctx, struct hal_source **out,
                   char *err, size_t errlen)
{
    struct gpio_line *g = calloc(1, sizeof *g);
    if (!g || !(g->initial = loop_add_timer(loop, on_initial, g))) {
        free(g);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    g->src = (struct hal_source){.api = &line_api, .role = role, .emit = emit, .ctx = ctx};
    snprintf(g->src.name, sizeof g->src.name, "%s", name);
    g->loop = loop;
    g->fd = -1;
    int rc;
    if (!(g->chip = gpiod_chip_open_lookup(p->chip))) {
        rc = -errno;
        snprintf(err, errlen, "cannot open GPIO chip %s: %s", p->chip, strerror(errno));
        goto fail;
    }
    if (!(g->line = gpiod_chip_get_line(g->chip, p->line))) {
        rc = -errno;
        snprintf(err, errlen, "GPIO chip %s has no line %u: %s", p->chip, p->line, strerror(errno));
        goto fail;
    }
    int flags = p->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_both_edges_events_flags(g->line, CONSUMER, flags) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot watch line %u of GPIO chip %s: %s", p->line, p->chip,
                 strerror(errno));
        g->line = NULL; /* not requested: nothing to release */
        goto fail;
    }
    /* Read after the request: an edge between the two is then an event, not lost. */
    int value = gpiod_line_get_value(g->line);
    if (value < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot read line %u of GPIO chip %s: %s", p->line, p->chip,
                 strerror(errno));
        goto fail;
    }
    g->fd = gpiod_line_event_get_fd(g->line);
    if (g->fd < 0 || (rc = loop_add_fd(loop, g->fd, LOOP_IN, on_event, g)) != 0) {
        rc = g->fd < 0 ? -errno : rc;
        g->fd = -1;
        snprintf(err, errlen, "cannot watch line %u of GPIO chip %s: %s", p->line, p->chip,
                 strerror(-rc));
        goto fail;
    }
    g->opened_ms = clock_ms(CLOCK_MONOTONIC);
    if (value == 1) {
        g->initial_due = 1;
        loop_timer_set(g->initial, 0);
    }
    *out = &g->src;
    return 0;
fail:
    if (rc == 0)
        rc = -EIO;
    line_close(&g->src);
    return rc;
}
