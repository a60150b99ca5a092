/*
 * The FIFO fake of a GPIO line, on the real event loop: bytes become edges in order, writers may
 * come and go (the FIFO is reopened after each, and a reopened FIFO does not keep the loop busy),
 * and what is not a FIFO is refused.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drivers/gpio_fifo.h"
#include "hal/loop.h"

#define MAX_SEEN 64

struct seen {
    unsigned n;
    int value[MAX_SEEN];
    uint64_t at[MAX_SEEN];
    struct hal_source *src[MAX_SEEN];
};

static char dir[64], path[128], err[256];

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
    assert_true(s->n < MAX_SEEN);
    s->value[s->n] = ev->value;
    s->at[s->n] = ev->at_mono_ms;
    s->src[s->n++] = ev->src;
}

/* Turns the loop until `want` edges have come; a loop that stops reporting fails the test
 * (through the ctest timeout) rather than a clock in here. */
static void run_until(struct loop *l, struct seen *s, unsigned want)
{
    while (s->n < want)
        assert_true(loop_run_once(l, -1) >= 0);
}

static int writer(void)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void put(int fd, const char *bytes)
{
    assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tillsync-test-gpio-fifo-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/line", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct hal_source *open_line(struct loop *l, struct seen *s)
{
    struct gpio_fifo_params p = {.path = path};
    struct hal_source *src = NULL;
    assert_int_equal(
        gpio_fifo_open(&p, HAL_ROLE_POWER_FAIL, "power_fail", l, record, s, &src, err, sizeof err),
        0);
    assert_non_null(src);
    return src;
}

static void test_bytes_are_edges_in_order(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct seen s = {0};
    struct hal_source *src = open_line(l, &s);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode)); /* made, since it was missing */
    assert_int_equal(src->role, HAL_ROLE_POWER_FAIL);
    assert_string_equal(src->name, "power_fail");

    int w = writer();
    uint64_t before = now_ms();
    put(w, "1");
    run_until(l, &s, 1);
    assert_int_equal(s.value[0], 1);
    assert_ptr_equal(s.src[0], src);
    assert_true(s.at[0] >= before && s.at[0] <= now_ms());

    /* Anything but '0' and '1' (a newline from echo) is not an edge. */
    put(w, "0\n1 x0");
    run_until(l, &s, 4);
    assert_int_equal(s.value[1], 0);
    assert_int_equal(s.value[2], 1);
    assert_int_equal(s.value[3], 0);
    close(w);
    hal_source_close(src);
    struct loop_stats ls;
    loop_get_stats(l, &ls);
    assert_int_equal(ls.fds, 0);
    assert_int_equal(ls.timers, 0);
    loop_free(l);
}

static void test_writers_come_and_go(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct seen s = {0};
    struct hal_source *src = open_line(l, &s);
    for (unsigned i = 0; i < 5; i++) {
        int w = writer();
        put(w, i % 2 ? "0" : "1");
        close(w); /* the edge and the end of the FIFO in one read or two */
        run_until(l, &s, i + 1);
        assert_int_equal(s.value[i], i % 2 ? 0 : 1);
        /* Whatever is left of end-of-file is consumed and the FIFO reopened ... */
        for (int k = 0; k < 10 && loop_run_once(l, 0) > 0; k++)
            ;
        /* ... so an idle FIFO with no writer makes no calls. */
        assert_int_equal(loop_run_once(l, 0), 0);
    }
    assert_int_equal(s.n, 5);
    hal_source_close(src);
    loop_free(l);
}

static void test_not_a_fifo_is_refused(void **state)
{
    (void)state;
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct loop *l = loop_new();
    struct gpio_fifo_params p = {.path = path};
    struct hal_source *src = NULL;
    int rc = gpio_fifo_open(&p, HAL_ROLE_SALE_SIGNAL, "sale_signal", l, record, NULL, &src, err,
                            sizeof err);
    assert_int_equal(rc, -EINVAL);
    assert_null(src);
    assert_non_null(strstr(err, "not a FIFO"));

    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/dir/line", dir);
    p.path = missing;
    rc = gpio_fifo_open(&p, HAL_ROLE_SALE_SIGNAL, "sale_signal", l, record, NULL, &src, err,
                        sizeof err);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, "no/such/dir"));
    struct loop_stats ls;
    loop_get_stats(l, &ls);
    assert_int_equal(ls.fds, 0);
    assert_int_equal(ls.timers, 0);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bytes_are_edges_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_come_and_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_fifo_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
