/*
 * The event loop (common/loop.c): descriptors and timers added and removed at run time, from
 * inside callbacks too, and fairness: a source that always has work cannot starve another.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hal/loop.h"

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct pipe_src {
    struct loop *loop;
    int rd, wr;
    unsigned calls;
    unsigned last_events;
    struct pipe_src *victim; /* removed (and closed) by this one's callback */
    int drain;               /* read what is there */
};

static void pipe_open(struct pipe_src *p, struct loop *l)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    memset(p, 0, sizeof *p);
    p->loop = l;
    p->rd = fds[0];
    p->wr = fds[1];
}

static void pipe_close(struct pipe_src *p)
{
    if (p->rd >= 0)
        close(p->rd);
    if (p->wr >= 0)
        close(p->wr);
    p->rd = p->wr = -1;
}

static void on_pipe(void *ctx, int fd, unsigned events)
{
    struct pipe_src *p = ctx;
    assert_int_equal(fd, p->rd);
    p->calls++;
    p->last_events = events;
    if (p->drain) {
        char buf[256];
        while (read(fd, buf, sizeof buf) > 0)
            ;
    }
    if (p->victim && p->victim->rd >= 0) {
        assert_int_equal(loop_del_fd(p->loop, p->victim->rd), 0);
        pipe_close(p->victim);
    }
}

static void test_fd_ready_and_not(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct pipe_src p;
    pipe_open(&p, l);
    p.drain = 1;
    assert_int_equal(loop_add_fd(l, p.rd, LOOP_IN, on_pipe, &p), 0);
    assert_int_equal(loop_add_fd(l, p.rd, LOOP_IN, on_pipe, &p), -EEXIST);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(write(p.wr, "x", 1), 1);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(p.calls, 1);
    assert_true(p.last_events & LOOP_IN);
    assert_int_equal(loop_run_once(l, 0), 0); /* drained: level-triggered, nothing more */
    /* Waiting for nothing: data is there, no call. */
    assert_int_equal(write(p.wr, "y", 1), 1);
    assert_int_equal(loop_mod_fd(l, p.rd, 0), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(loop_mod_fd(l, p.rd, LOOP_IN), 0);
    assert_int_equal(loop_run_once(l, 0), 1);
    /* The writer gone: HUP is reported though not asked for. */
    close(p.wr);
    p.wr = -1;
    assert_int_equal(loop_mod_fd(l, p.rd, 0), 0);
    assert_int_equal(loop_run_once(l, 0), 1);
    assert_true(p.last_events & LOOP_HUP);
    assert_int_equal(loop_del_fd(l, p.rd), 0);
    assert_int_equal(loop_del_fd(l, p.rd), -ENOENT);
    assert_int_equal(loop_run_once(l, 0), 0);
    pipe_close(&p);
    loop_free(l);
}

/* Two ready sources, each removing the other when called: only the first called runs. */
static void test_remove_from_callback(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct pipe_src a, b;
    pipe_open(&a, l);
    pipe_open(&b, l);
    a.victim = &b;
    b.victim = &a;
    assert_int_equal(loop_add_fd(l, a.rd, LOOP_IN, on_pipe, &a), 0);
    assert_int_equal(loop_add_fd(l, b.rd, LOOP_IN, on_pipe, &b), 0);
    assert_int_equal(write(a.wr, "x", 1), 1);
    assert_int_equal(write(b.wr, "x", 1), 1);
    assert_int_equal(loop_run_once(l, 1000), 1);
    assert_int_equal(a.calls + b.calls, 1);
    struct loop_stats st;
    loop_get_stats(l, &st);
    assert_int_equal(st.fds, 1);
    struct pipe_src *left = a.calls ? &a : &b;
    assert_int_equal(loop_del_fd(l, left->rd), 0);
    pipe_close(&a);
    pipe_close(&b);
    loop_free(l);
}

/*
 * A source removed and its descriptor number reused by a new registration within one turn: the
 * old registration's event, already returned by epoll, must not reach the new source.
 */
struct reuser {
    struct loop *loop;
    struct pipe_src *victim, *fresh;
    unsigned calls;
};

static void on_reuser(void *ctx, int fd, unsigned events)
{
    struct reuser *r = ctx;
    (void)fd, (void)events;
    r->calls++;
    if (r->calls > 1)
        return;
    int old = r->victim->rd;
    assert_int_equal(loop_del_fd(r->loop, old), 0);
    pipe_close(r->victim);
    pipe_open(r->fresh, r->loop);
    r->fresh->drain = 1;
    assert_int_equal(loop_add_fd(r->loop, r->fresh->rd, LOOP_IN, on_pipe, r->fresh), 0);
}

static void test_reused_descriptor(void **state)
{
    (void)state;
    for (int order = 0; order < 8; order++) {
        struct loop *l = loop_new();
        struct pipe_src first, victim, fresh;
        struct reuser r = {l, &victim, &fresh, 0};
        pipe_open(&first, l);
        pipe_open(&victim, l);
        victim.drain = 1;
        assert_int_equal(loop_add_fd(l, first.rd, LOOP_IN, on_reuser, &r), 0);
        assert_int_equal(loop_add_fd(l, victim.rd, LOOP_IN, on_pipe, &victim), 0);
        assert_int_equal(write(first.wr, "x", 1), 1);
        assert_int_equal(write(victim.wr, "x", 1), 1);
        loop_run_once(l, 1000);
        if (r.calls == 0) { /* the victim came first this time: nothing to check */
            loop_del_fd(l, first.rd), loop_del_fd(l, victim.rd);
            pipe_close(&first), pipe_close(&victim), loop_free(l);
            continue;
        }
        assert_int_equal(fresh.calls, 0); /* not called with the victim's event */
        assert_int_equal(write(fresh.wr, "x", 1), 1);
        char c;
        assert_int_equal(read(first.rd, &c, 1), 1);
        loop_run_once(l, 1000);
        assert_int_equal(fresh.calls, 1);
        loop_del_fd(l, first.rd), loop_del_fd(l, fresh.rd);
        pipe_close(&first), pipe_close(&fresh), loop_free(l);
    }
}

struct tick {
    struct loop_timer *t;
    unsigned fired;
    unsigned order;
    unsigned *clock;
    int rearm; /* re-arm for 0 from the callback */
};

static void on_tick(void *ctx)
{
    struct tick *k = ctx;
    k->fired++;
    k->order = ++*k->clock;
    if (k->rearm)
        loop_timer_set(k->t, 0);
}

static void test_timers(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    unsigned clock = 0;
    enum { N = 1000 };
    static struct tick ticks[N];
    uint64_t now;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    }
    /* Deadlines in a scrambled order, all already due: they fire in deadline order. */
    for (unsigned i = 0; i < N; i++) {
        ticks[i] = (struct tick){.clock = &clock};
        ticks[i].t = loop_add_timer(l, on_tick, &ticks[i]);
        assert_non_null(ticks[i].t);
        loop_timer_set_at(ticks[i].t, now - 5000 + (i * 7919u) % N);
    }
    /* Some re-armed (replacing), some disarmed, some deleted. */
    for (unsigned i = 0; i < N; i += 10)
        loop_timer_set_at(ticks[i].t, now - 6000 + i);
    for (unsigned i = 5; i < N; i += 50)
        loop_timer_set(ticks[i].t, LOOP_NEVER);
    for (unsigned i = 7; i < N; i += 50) {
        loop_del_timer(ticks[i].t);
        ticks[i].t = NULL;
    }
    loop_run_once(l, 0);
    uint64_t prev_at = 0;
    unsigned fired = 0;
    for (unsigned o = 1; o <= clock; o++)
        for (unsigned i = 0; i < N; i++)
            if (ticks[i].order == o) {
                uint64_t at = i % 10 == 0 ? now - 6000 + i : now - 5000 + (i * 7919u) % N;
                assert_true(at >= prev_at);
                prev_at = at;
                fired++;
            }
    assert_int_equal(fired, N - N / 50 - N / 50);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(ticks[i].fired, (i % 50 == 5 || i % 50 == 7) ? 0u : 1u);
        loop_del_timer(ticks[i].t);
    }
    /* A timer re-armed for 0 in its callback fires once per turn, not in a spin. */
    struct tick k = {.clock = &clock, .rearm = 1};
    k.t = loop_add_timer(l, on_tick, &k);
    loop_timer_set(k.t, 0);
    for (int i = 0; i < 5; i++)
        loop_run_once(l, 1000);
    assert_int_equal(k.fired, 5);
    loop_del_timer(k.t);
    /* A wait is cut short by the next deadline. */
    struct tick w = {.clock = &clock};
    w.t = loop_add_timer(l, on_tick, &w);
    loop_timer_set(w.t, 20);
    uint64_t t0 = mono_us();
    while (!w.fired)
        loop_run_once(l, 10000);
    printf("a 20 ms timer under a 10 s wait fired after %.1f ms\n", (mono_us() - t0) / 1000.0);
    loop_del_timer(w.t);
    struct loop_stats st;
    loop_get_stats(l, &st);
    assert_int_equal(st.timers, 0);
    loop_free(l);
}

/*
 * Fairness. HOGS sources always have input and spend HOG_MS per call (a flood of sales, each
 * synced). One of them, each time it is called, gives a quiet source one byte of work (a status
 * request, a printer's bytes) stamped with the turn. The quiet source must take each byte in
 * that turn or the next: a busy source delays another by at most one turn of calls, never
 * starves it.
 */
#define HOGS   8
#define HOG_MS 1

static unsigned turn; /* the loop's turn, counted by the test */

struct hog {
    unsigned calls;
    int poke_fd; /* -1, or the quiet source's pipe */
    uint64_t *poked_us;
};

static void on_hog(void *ctx, int fd, unsigned events)
{
    struct hog *h = ctx;
    char c;
    (void)events;
    (void)!read(fd, &c, 1); /* one unit of work; plenty stays */
    uint64_t until = mono_us() + HOG_MS * 1000;
    while (mono_us() < until)
        ;
    if (h->poke_fd >= 0) {
        unsigned char stamp = (unsigned char)turn;
        assert_int_equal(write(h->poke_fd, &stamp, 1), 1);
        *h->poked_us = mono_us();
    }
    h->calls++;
}

struct quiet {
    unsigned calls, bytes, late;
    uint64_t poked_us, max_wait_us;
};

static void on_quiet(void *ctx, int fd, unsigned events)
{
    struct quiet *q = ctx;
    unsigned char buf[64];
    (void)events;
    ssize_t n = read(fd, buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++) {
        q->bytes++;
        q->late += (unsigned char)(turn - buf[i]) > 1;
    }
    uint64_t wait = mono_us() - q->poked_us;
    if (n > 0 && wait > q->max_wait_us)
        q->max_wait_us = wait;
    q->calls++;
}

static void test_busy_source_does_not_starve(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct pipe_src hogs[HOGS], quiet_pipe;
    struct hog hog[HOGS];
    struct quiet q = {0};
    static char fill[4096];
    pipe_open(&quiet_pipe, l);
    for (int i = 0; i < HOGS; i++) {
        pipe_open(&hogs[i], l);
        hog[i] = (struct hog){0, i == 0 ? quiet_pipe.wr : -1, &q.poked_us};
        assert_int_equal(write(hogs[i].wr, fill, sizeof fill), (ssize_t)sizeof fill);
        assert_int_equal(loop_add_fd(l, hogs[i].rd, LOOP_IN, on_hog, &hog[i]), 0);
    }
    assert_int_equal(loop_add_fd(l, quiet_pipe.rd, LOOP_IN, on_quiet, &q), 0);
    enum { TURNS = 200 };
    uint64_t t0 = mono_us();
    for (turn = 0; turn < TURNS; turn++)
        loop_run_once(l, 1000);
    double secs = (mono_us() - t0) / 1e6;
    loop_run_once(l, 0); /* the last turn's byte */
    assert_int_equal(q.bytes, TURNS);
    assert_int_equal(q.late, 0);
    for (int i = 0; i < HOGS; i++)
        assert_int_equal(hog[i].calls, TURNS + 1);
    printf("%d always-busy sources (%d ms a call) and one given a byte of work each turn: %d "
           "turns in %.2f s; every byte taken in its turn or the next (%u calls), at most %.1f "
           "ms after it arrived (a turn: %.1f ms on average)\n",
           HOGS, HOG_MS, (int)TURNS, secs, q.calls, q.max_wait_us / 1000.0, secs * 1000 / TURNS);
    loop_del_fd(l, quiet_pipe.rd);
    pipe_close(&quiet_pipe);
    for (int i = 0; i < HOGS; i++) {
        loop_del_fd(l, hogs[i].rd);
        pipe_close(&hogs[i]);
    }
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_ready_and_not),
        cmocka_unit_test(test_remove_from_callback),
        cmocka_unit_test(test_reused_descriptor),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_busy_source_does_not_starve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
