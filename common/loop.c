/*
 * The event loop: epoll for descriptors, a binary min-heap of monotonic deadlines for timers.
 *
 * A descriptor's registration is an entry that epoll hands back as its data pointer. Removing one
 * during a turn cannot free the entry at once (epoll may already have reported it in this turn's
 * batch), so it is disarmed and parked on a list freed when the turn ends.
 */
#define _GNU_SOURCE
#include "hal/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct fd_entry {
    int fd;
    loop_fd_fn fn; /* NULL once removed */
    void *ctx;
    struct fd_entry *next; /* registered list, or the removed list */
};

struct loop_timer {
    struct loop *loop;
    loop_timer_fn fn;
    void *ctx;
    uint64_t at_ms;
    size_t heap_index; /* SIZE_MAX when not armed */
};

struct loop {
    int epfd;
    struct fd_entry *fds, *removed;
    struct loop_timer **heap;
    size_t nheap, heap_cap;
    struct loop_stats stats;
};

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static void free_list(struct fd_entry *e)
{
    while (e) {
        struct fd_entry *next = e->next;
        free(e);
        e = next;
    }
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    free_list(l->fds);
    free_list(l->removed);
    for (size_t i = 0; i < l->nheap; i++)
        l->heap[i]->heap_index = SIZE_MAX;
    free(l->heap);
    close(l->epfd);
    free(l);
}

static struct fd_entry *find(struct loop *l, int fd, struct fd_entry ***link)
{
    for (struct fd_entry **p = &l->fds; *p; p = &(*p)->next)
        if ((*p)->fd == fd) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

int loop_add_fd(struct loop *l, int fd, unsigned events, loop_fd_fn fn, void *ctx)
{
    if (fd < 0 || !fn)
        return -EINVAL;
    if (find(l, fd, NULL))
        return -EEXIST;
    struct fd_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    *e = (struct fd_entry){.fd = fd, .fn = fn, .ctx = ctx, .next = l->fds};
    struct epoll_event ev = {.events = events, .data.ptr = e};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int rc = -errno;
        free(e);
        return rc;
    }
    l->fds = e;
    l->stats.fds++;
    return 0;
}

int loop_mod_fd(struct loop *l, int fd, unsigned events)
{
    struct fd_entry *e = find(l, fd, NULL);
    if (!e)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = e};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
}

int loop_del_fd(struct loop *l, int fd)
{
    struct fd_entry **link, *e = find(l, fd, &link);
    if (!e)
        return -ENOENT;
    /* The descriptor may already be closed (then the kernel dropped it from the set itself). */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    *link = e->next;
    e->fn = NULL;
    e->next = l->removed;
    l->removed = e;
    l->stats.fds--;
    return 0;
}

/* The timer heap, ordered by at_ms. */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void heap_up(struct loop *l, size_t i)
{
    while (i > 0 && l->heap[(i - 1) / 2]->at_ms > l->heap[i]->at_ms) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct loop *l, size_t i)
{
    for (;;) {
        size_t least = i, a = 2 * i + 1, b = a + 1;
        if (a < l->nheap && l->heap[a]->at_ms < l->heap[least]->at_ms)
            least = a;
        if (b < l->nheap && l->heap[b]->at_ms < l->heap[least]->at_ms)
            least = b;
        if (least == i)
            return;
        heap_swap(l, i, least);
        i = least;
    }
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
    size_t i = t->heap_index;
    if (i == SIZE_MAX)
        return;
    t->heap_index = SIZE_MAX;
    l->nheap--;
    if (i == l->nheap)
        return;
    l->heap[i] = l->heap[l->nheap];
    l->heap[i]->heap_index = i;
    heap_down(l, i);
    heap_up(l, i);
}

struct loop_timer *loop_add_timer(struct loop *l, loop_timer_fn fn, void *ctx)
{
    struct loop_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    /* Room in the heap for every timer armed at once, reserved now: arming never fails. */
    if (l->stats.timers + 1 > l->heap_cap) {
        size_t want = l->heap_cap ? l->heap_cap * 2 : 8;
        struct loop_timer **h = realloc(l->heap, want * sizeof *h);
        if (!h) {
            free(t);
            return NULL;
        }
        l->heap = h;
        l->heap_cap = want;
    }
    *t = (struct loop_timer){.loop = l, .fn = fn, .ctx = ctx, .heap_index = SIZE_MAX};
    l->stats.timers++;
    return t;
}

void loop_timer_set_at(struct loop_timer *t, uint64_t at_ms)
{
    struct loop *l = t->loop;
    heap_remove(l, t);
    if (at_ms == LOOP_NEVER)
        return;
    t->at_ms = at_ms;
    t->heap_index = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_index);
}

void loop_timer_set(struct loop_timer *t, uint64_t delay_ms)
{
    loop_timer_set_at(t, delay_ms == LOOP_NEVER ? LOOP_NEVER : loop_now_ms() + delay_ms);
}

void loop_del_timer(struct loop_timer *t)
{
    if (!t)
        return;
    heap_remove(t->loop, t);
    t->loop->stats.timers--;
    free(t);
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
    int wait = max_wait_ms;
    if (l->nheap) {
        uint64_t now = loop_now_ms(), at = l->heap[0]->at_ms;
        uint64_t until = at > now ? at - now : 0;
        if (wait < 0 || until < (uint64_t)wait)
            wait = until > INT32_MAX ? INT32_MAX : (int)until;
    }
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, wait);
    if (n < 0 && errno != EINTR)
        return -errno;
    l->stats.turns++;
    int calls = 0;
    for (int i = 0; i < n; i++) {
        struct fd_entry *e = evs[i].data.ptr;
        if (!e->fn) /* removed earlier in this turn */
            continue;
        calls++;
        e->fn(e->ctx, e->fd, evs[i].events);
    }
    l->stats.fd_calls += (uint64_t)calls;
    /* Timers due now, each once: one re-armed for 0 from its callback waits for the next turn. */
    uint64_t now = loop_now_ms();
    unsigned due = 0;
    for (size_t i = 0; i < l->nheap; i++)
        due += l->heap[i]->at_ms <= now;
    while (due-- && l->nheap && l->heap[0]->at_ms <= now) {
        struct loop_timer *t = l->heap[0];
        heap_remove(l, t);
        calls++;
        l->stats.timer_calls++;
        t->fn(t->ctx);
    }
    free_list(l->removed);
    l->removed = NULL;
    return calls;
}

void loop_get_stats(const struct loop *l, struct loop_stats *out)
{
    *out = l->stats;
}
