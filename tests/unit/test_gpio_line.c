/*
 * The libgpiod line driver against a fake libgpiod (its calls wrapped at link time; no GPIO chip
 * or gpio-sim is needed): the polarity handed to the kernel, edges and their times, a line
 * already active at open, and what is released on close or failure.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/gpio_line.h"
#include "hal/loop.h"

/* ---- the fake libgpiod ---- */

static struct {
    char chip_name[64];
    unsigned nlines;
    int busy;
    int value; /* logical, as gpiod_line_get_value reports it */
    int flags; /* of the last request */
    char consumer[32];
    int pipe[2]; /* readable while events are queued */
    struct gpiod_line_event queue[8];
    unsigned head, tail;
    unsigned chips_open, lines_requested;
} fake;

static char chip_token, line_token; /* what the opaque pointers point to */

struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr)
{
    if (strcmp(descr, fake.chip_name) != 0) {
        errno = ENOENT;
        return NULL;
    }
    fake.chips_open++;
    return (struct gpiod_chip *)&chip_token;
}

void __wrap_gpiod_chip_close(struct gpiod_chip *chip)
{
    assert_ptr_equal(chip, &chip_token);
    fake.chips_open--;
}

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset)
{
    assert_ptr_equal(chip, &chip_token);
    if (offset >= fake.nlines) {
        errno = EINVAL;
        return NULL;
    }
    return (struct gpiod_line *)&line_token;
}

int __wrap_gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer,
                                                      int flags)
{
    assert_ptr_equal(line, &line_token);
    if (fake.busy) {
        errno = EBUSY;
        return -1;
    }
    fake.flags = flags;
    snprintf(fake.consumer, sizeof fake.consumer, "%s", consumer);
    fake.lines_requested++;
    return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line)
{
    assert_ptr_equal(line, &line_token);
    fake.lines_requested--;
}

int __wrap_gpiod_line_get_value(struct gpiod_line *line)
{
    assert_ptr_equal(line, &line_token);
    return fake.value;
}

int __wrap_gpiod_line_event_get_fd(struct gpiod_line *line)
{
    assert_ptr_equal(line, &line_token);
    return fake.pipe[0];
}

int __wrap_gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event)
{
    char b;
    assert_ptr_equal(line, &line_token);
    assert_int_equal(read(fake.pipe[0], &b, 1), 1);
    assert_true(fake.head != fake.tail);
    *event = fake.queue[fake.head++ % 8];
    return 0;
}

static void queue_event(int type, clockid_t clock, uint64_t ago_ms)
{
    struct gpiod_line_event e = {.event_type = type};
    clock_gettime(clock, &e.ts);
    uint64_t ns = (uint64_t)e.ts.tv_sec * 1000000000u + (uint64_t)e.ts.tv_nsec - ago_ms * 1000000u;
    e.ts.tv_sec = (time_t)(ns / 1000000000u);
    e.ts.tv_nsec = (long)(ns % 1000000000u);
    fake.queue[fake.tail++ % 8] = e;
    assert_int_equal(write(fake.pipe[1], "e", 1), 1);
}

/* ---- the tests ---- */

#define MAX_SEEN 16
struct seen {
    unsigned n;
    int value[MAX_SEEN];
    uint64_t at[MAX_SEEN];
};
static char err[256];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void record(void *ctx, const struct hal_event *ev)
{
    struct seen *s = ctx;
    assert_int_equal(ev->kind, HAL_EVENT_EDGE);
    assert_int_equal(ev->src->role, HAL_ROLE_POWER_FAIL);
    assert_true(s->n < MAX_SEEN);
    s->value[s->n] = ev->value;
    s->at[s->n++] = ev->at_mono_ms;
}

static void run_until(struct loop *l, struct seen *s, unsigned want)
{
    while (s->n < want)
        assert_true(loop_run_once(l, -1) >= 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof fake);
    snprintf(fake.chip_name, sizeof fake.chip_name, "gpiochip0");
    fake.nlines = 32;
    assert_int_equal(pipe(fake.pipe), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fake.pipe[0]);
    close(fake.pipe[1]);
    assert_int_equal(fake.chips_open, 0);
    assert_int_equal(fake.lines_requested, 0);
    return 0;
}

static int open_line(struct loop *l, struct seen *s, const char *chip, unsigned offset,
                     int active_low, struct hal_source **out)
{
    struct gpio_line_params p = {.line = offset, .active_low = active_low};
    snprintf(p.chip, sizeof p.chip, "%s", chip);
    return gpio_line_open(&p, HAL_ROLE_POWER_FAIL, "power_fail", l, record, s, out, err,
                          sizeof err);
}

static void assert_loop_empty(struct loop *l)
{
    struct loop_stats ls;
    loop_get_stats(l, &ls);
    assert_int_equal(ls.fds, 0);
    assert_int_equal(ls.timers, 0);
}

static void test_edges_and_their_times(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct seen s = {0};
    struct hal_source *src = NULL;
    assert_int_equal(open_line(l, &s, "gpiochip0", 17, 1, &src), 0);
    assert_int_equal(fake.flags, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
    assert_string_equal(fake.consumer, "tillsyncd");
    assert_string_equal(src->name, "power_fail");
    assert_int_equal(loop_run_once(l, 0), 0); /* inactive at open: nothing to report */

    /* A monotonic stamp (kernels since 5.7) is the edge's time. */
    queue_event(GPIOD_LINE_EVENT_RISING_EDGE, CLOCK_MONOTONIC, 3);
    uint64_t stamped = now_ms() - 3;
    run_until(l, &s, 1);
    assert_int_equal(s.value[0], 1);
    assert_true(s.at[0] <= stamped && s.at[0] + 1 >= stamped);

    /* A realtime stamp (older kernels) is not on the loop's clock: the time it was read is. */
    uint64_t before = now_ms();
    queue_event(GPIOD_LINE_EVENT_FALLING_EDGE, CLOCK_REALTIME, 3);
    run_until(l, &s, 2);
    assert_int_equal(s.value[1], 0);
    assert_true(s.at[1] >= before && s.at[1] <= now_ms());

    hal_source_close(src);
    assert_loop_empty(l);
    loop_free(l);
}

static void test_active_at_open_comes_first(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct seen s = {0};
    struct hal_source *src = NULL;
    fake.value = 1; /* power already failing when the daemon starts */
    uint64_t before = now_ms();
    assert_int_equal(open_line(l, &s, "gpiochip0", 3, 0, &src), 0);
    assert_int_equal(fake.flags, 0);
    assert_int_equal(s.n, 0); /* not during open: on the loop */
    /* The line goes inactive before the first turn: the state at open is still reported
     * first, whichever of the two the loop calls first. */
    queue_event(GPIOD_LINE_EVENT_FALLING_EDGE, CLOCK_MONOTONIC, 0);
    run_until(l, &s, 2);
    assert_int_equal(s.value[0], 1);
    assert_true(s.at[0] >= before);
    assert_int_equal(s.value[1], 0);
    for (int k = 0; k < 10 && loop_run_once(l, 0) > 0; k++)
        ;
    assert_int_equal(s.n, 2); /* reported once */
    hal_source_close(src);
    loop_free(l);
}

static void test_failures_release_everything(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct seen s = {0};
    struct hal_source *src = NULL;
    assert_int_equal(open_line(l, &s, "gpiochip9", 17, 0, &src), -ENOENT);
    assert_non_null(strstr(err, "gpiochip9"));
    assert_int_equal(open_line(l, &s, "gpiochip0", 99, 0, &src), -EINVAL);
    assert_non_null(strstr(err, "no line 99"));
    fake.busy = 1; /* another process holds the line */
    assert_int_equal(open_line(l, &s, "gpiochip0", 17, 0, &src), -EBUSY);
    assert_non_null(strstr(err, "line 17 of GPIO chip gpiochip0"));
    assert_null(src);
    assert_loop_empty(l);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edges_and_their_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active_at_open_comes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_release_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
