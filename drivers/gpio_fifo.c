/*
 * The HAL fake of a GPIO input line: a FIFO that tests (and a developer at a shell) write '1' and
 * '0' to. It stands in for drivers/gpio_line.c on machines without /dev/gpiochip* or gpio-sim.
 *
 * A FIFO reports end-of-file once its last writer closes it, and from then on stays readable (a
 * level-triggered loop would call us every turn). So on end-of-file the FIFO is closed and opened
 * again: a fresh read end waits quietly for the next writer.
 */
#define _GNU_SOURCE
#include "drivers/gpio_fifo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX        64   /* bytes, hence edges, handled per loop call */
#define REOPEN_RETRY_MS 1000 /* the FIFO vanished: look for it again this often */

struct gpio_fifo {
    struct hal_source src;
    struct loop *loop;
    struct loop_timer *retry;
    char path[108];
    int fd;
};

static void on_readable(void *ctx, int fd, unsigned events);

static int fifo_attach(struct gpio_fifo *f)
{
    f->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->fd < 0)
        return -errno;
    int rc = loop_add_fd(f->loop, f->fd, LOOP_IN, on_readable, f);
    if (rc) {
        close(f->fd);
        f->fd = -1;
    }
    return rc;
}

static void fifo_detach(struct gpio_fifo *f)
{
    if (f->fd < 0)
        return;
    loop_del_fd(f->loop, f->fd);
    close(f->fd);
    f->fd = -1;
}

static void on_retry(void *ctx)
{
    struct gpio_fifo *f = ctx;
    if (fifo_attach(f) != 0)
        loop_timer_set(f->retry, REOPEN_RETRY_MS);
}

static void reopen(struct gpio_fifo *f)
{
    fifo_detach(f);
    if (fifo_attach(f) != 0)
        loop_timer_set(f->retry, REOPEN_RETRY_MS);
}

static void on_readable(void *ctx, int fd, unsigned events)
{
    struct gpio_fifo *f = ctx;
    (void)events;
    char buf[READ_MAX];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        reopen(f);
        return;
    }
    uint64_t at = loop_now_ms();
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '0' && buf[i] != '1')
            continue;
        struct hal_event ev = {
            .kind = HAL_EVENT_EDGE, .src = &f->src, .value = buf[i] == '1', .at_mono_ms = at};
        hal_source_emit(&f->src, &ev);
    }
}

static void fifo_close(struct hal_source *src)
{
    struct gpio_fifo *f = (struct gpio_fifo *)src;
    fifo_detach(f);
    if (f->retry)
        loop_del_timer(f->retry);
    free(f);
}

static const struct hal_source_api fifo_api = {.close = fifo_close};

int gpio_fifo_open(const struct gpio_fifo_params *p, enum hal_role role, const char *name,
                   struct loop *loop, hal_event_fn emit, void *ctx, struct hal_source **out,
                   char *err, size_t errlen)
{
    struct stat st;
    if (stat(p->path, &st) != 0) {
        if (errno != ENOENT || mkfifo(p->path, 0600) != 0) {
            int e = errno;
            snprintf(err, errlen, "cannot make FIFO %s: %s", p->path, strerror(e));
            return -e;
        }
    } else if (!S_ISFIFO(st.st_mode)) {
        snprintf(err, errlen, "%s is not a FIFO", p->path);
        return -EINVAL;
    }
    struct gpio_fifo *f = calloc(1, sizeof *f);
    if (f && snprintf(f->path, sizeof f->path, "%s", p->path) >= (int)sizeof f->path) {
        free(f);
        snprintf(err, errlen, "FIFO path too long: %s", p->path);
        return -ENAMETOOLONG;
    }
    if (!f || !(f->retry = loop_add_timer(loop, on_retry, f))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->src = (struct hal_source){.api = &fifo_api, .role = role, .emit = emit, .ctx = ctx};
    snprintf(f->src.name, sizeof f->src.name, "%s", name);
    f->loop = loop;
    int rc = fifo_attach(f);
    if (rc) {
        snprintf(err, errlen, "cannot open FIFO %s: %s", p->path, strerror(-rc));
        loop_del_timer(f->retry);
        free(f);
        return rc;
    }
    *out = &f->src;
    return 0;
}
