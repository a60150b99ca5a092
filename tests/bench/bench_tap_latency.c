/*
 * bench_tap_latency: the latency the receipt-printer tap adds between a POS and its printer.
 *
 * A writer thread plays the POS: it writes receipts (ESC/POS, as a POS writes them: a command or
 * a text line or a raster row per write) into a pty master, each write at the time the wire would
 * let it go at the configured baud (115200: 11,520 bytes/s, 8N1). A reader thread plays the
 * printer on the far end and timestamps the arrival of each write's last byte. The latency of a
 * write is arrival minus write time.
 *
 *   baseline: the POS wired straight to the printer: one pty pair, the printer reads its slave.
 *   tap:      the POS's pty slave and the printer's pty slave opened by tap_serial, run on the
 *             event loop in a third thread as tillsyncd runs it; the printer reads its master.
 *
 * The added latency is the tap's percentile minus the baseline's (p50, p99, max), once per kind
 * of emit callback, i.e. of what the daemon does with the PRINT_DATA it is handed:
 *
 *   none           returns at once (the receipt parser's cost is microseconds);
 *   fsync-receipt  one 512-byte pwrite + fdatasync per receipt, when its last byte is reported:
 *                  the journal's append of the sale the receipt becomes (the sale path's cost);
 *   fsync-event    the same on every event: an upper bound no real journal pays;
 *   sleep          sleeps 20 ms per event: a journal that blocks. Not allowed in the daemon, shown
 *                  to make the point: the loop is one thread, so whatever emit takes is added to
 *                  every byte behind it. The bytes still all arrive (the kernel's tty queues and
 *                  the tap's 4 KiB carry them over), late.
 *
 * ptys have no wire: on real UARTs add what a UART adds to any forwarding (the receive FIFO's
 * trigger level or its 4-character timeout, 0.35 ms at 115200). Not a test: nothing is asserted,
 * ctest does not run it. See tests/bench/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "drivers/tap_serial.h"
#include "hal/loop.h"

#define TARGET_P99_MS 5.0

static unsigned baud = 115200;
static unsigned receipts = 30;
static const char *dir = ".";
static const char *only; /* one emit kind */

/* ---- the POS's writes ---- */

struct stream {
    unsigned char *p;
    size_t len, cap;
    size_t *chunk_end; /* offset after each write */
    size_t nchunks, chunk_cap;
    size_t *receipt_end; /* offset after each receipt */
    size_t nreceipts;
};

static void put(struct stream *s, const void *data, size_t len)
{
    if (s->len + len > s->cap) {
        s->cap = (s->cap + len) * 2;
        s->p = realloc(s->p, s->cap);
    }
    memcpy(s->p + s->len, data, len);
    s->len += len;
}

/* Ends one write of the POS. */
static void write_done(struct stream *s)
{
    if (s->nchunks == s->chunk_cap) {
        s->chunk_cap = s->chunk_cap ? 2 * s->chunk_cap : 1024;
        s->chunk_end = realloc(s->chunk_end, s->chunk_cap * sizeof *s->chunk_end);
    }
    s->chunk_end[s->nchunks++] = s->len;
}

static void cmd(struct stream *s, const void *bytes, size_t len)
{
    put(s, bytes, len);
    write_done(s);
}

static void line(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct stream *s, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    buf[n++] = '\n';
    cmd(s, buf, (size_t)n);
}

/* A 48-column receipt: logo on every fifth (GS v 0, 384 x 64 dots, a row a write), header, 8-24
 * items, total, CODE128 barcode, QR code, feed and partial cut. About 1.5-5 KiB. */
static void receipt(struct stream *s, unsigned r)
{
    cmd(s, "\x1b@", 2);
    cmd(s, "\x1bt\x13", 3); /* code page 858 */
    if (r % 5 == 0) {
        cmd(s,
            "\x1b"
            "a\x01",
            3);
        cmd(s, "\x1dv0\x00\x30\x00\x40\x00", 8);
        unsigned char row[48];
        for (unsigned y = 0; y < 64; y++) {
            for (unsigned x = 0; x < sizeof row; x++)
                row[x] = (unsigned char)((x * 7 + y * 13) ^ (x >> 2));
            cmd(s, row, sizeof row);
        }
    }
    cmd(s,
        "\x1b"
        "a\x01\x1d!\x11",
        6);
    line(s, "CORNER CAFE");
    cmd(s, "\x1d!\x00", 3);
    line(s, "12 High Street, Bristol BS1 4DJ");
    cmd(s,
        "\x1b"
        "a\x00",
        3);
    line(s, "Till 3   Receipt %06u   30/11/2026 14:%02u", 100000 + r, r % 60);
    unsigned items = 8 + (r * 7) % 17, total = 0;
    for (unsigned i = 0; i < items; i++) {
        unsigned price = 150 + (r * 31 + i * 17) % 900;
        total += price;
        line(s, "%-36s %8u,%02u \xd5", i % 3 ? "Flat white (oat)" : "Almond croissant", price / 100,
             price % 100);
    }
    cmd(s,
        "\x1b"
        "E\x01",
        3);
    line(s, "%-36s %8u,%02u \xd5", "TOTAL", total / 100, total % 100);
    cmd(s,
        "\x1b"
        "E\x00",
        3);
    line(s, "Loyalty 4242-%04u  jane.doe@example.com", r);
    cmd(s, "\x1dh\x50\x1dw\x02", 6);
    char bc[32];
    int n = snprintf(bc, sizeof bc, "\x1dk\x49\x0c{B%010u", 3000000000u + r);
    cmd(s, bc, (size_t)n);
    const char *url = "https://example.com/r/T042-000000";
    char qr[64];
    size_t ql = strlen(url) + 3;
    cmd(s, "\x1d(k\x04\x00\x31\x41\x32\x00", 9);
    n = snprintf(qr, sizeof qr, "\x1d(k%c%c1P0%s", (char)(ql & 0xff), (char)(ql >> 8), url);
    cmd(s, qr, (size_t)n);
    cmd(s, "\x1d(k\x03\x00\x31\x51\x30", 8);
    cmd(s, "\x1dVB\x03", 4); /* feed and partial cut */
    s->receipt_end = realloc(s->receipt_end, (s->nreceipts + 1) * sizeof *s->receipt_end);
    s->receipt_end[s->nreceipts++] = s->len;
}

/* ---- timing ---- */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
    struct timespec t = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct figures {
    double p50, p99, max; /* ms */
};

static struct figures percentiles(const uint64_t *lat_ns, size_t n)
{
    uint64_t *v = malloc(n * sizeof *v);
    memcpy(v, lat_ns, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_u64);
    struct figures f = {v[n / 2] / 1e6, v[(n * 99) / 100] / 1e6, v[n - 1] / 1e6};
    free(v);
    return f;
}

static struct figures percentiles_signed(const int64_t *v_in, size_t n)
{
    int64_t *v = malloc(n * sizeof *v);
    memcpy(v, v_in, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_i64);
    struct figures f = {v[n / 2] / 1e6, v[(n * 99) / 100] / 1e6, v[n - 1] / 1e6};
    free(v);
    return f;
}

/* ---- one run: the same writes down both lines at once ---- */

/* One line from a POS to a printer: the baseline (a pty pair) or the tap (two, and tap_serial). */
struct line {
    const struct stream *s;
    int pos_fd;                  /* the POS writes here */
    int printer_fd;              /* the printer reads here */
    uint64_t *written, *arrived; /* per write */
    unsigned char *got;
    size_t got_len;
};

/*
 * Both lines get each write at its wire time, taking turns to go first; both run under the same
 * load, so each write's added latency is its tap latency minus its baseline latency.
 */
static void *pos_thread(void *arg)
{
    struct line **lines = arg;
    const struct stream *s = lines[0]->s;
    double ns_per_byte = 1e9 * 10.0 / baud; /* 8N1: 10 bits a byte */
    uint64_t t0 = now_ns() + 20000000u;
    size_t start = 0;
    for (size_t i = 0; i < s->nchunks; i++) {
        sleep_until(t0 + (uint64_t)(start * ns_per_byte));
        for (int k = 0; k < 2; k++) {
            struct line *l = lines[(i + (size_t)k) % 2];
            l->written[i] = now_ns();
            for (size_t off = start; off < s->chunk_end[i];) {
                ssize_t n = write(l->pos_fd, s->p + off, s->chunk_end[i] - off);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    perror("bench: POS write");
                    exit(1);
                }
                off += (size_t)n;
            }
        }
        start = s->chunk_end[i];
    }
    return NULL;
}

static void *printer_thread(void *arg)
{
    struct line *l = arg;
    const struct stream *s = l->s;
    size_t chunk = 0;
    while (l->got_len < s->len) {
        ssize_t n = read(l->printer_fd, l->got + l->got_len, s->len - l->got_len);
        uint64_t at = now_ns();
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("bench: printer read");
            exit(1);
        }
        l->got_len += (size_t)n;
        while (chunk < s->nchunks && s->chunk_end[chunk] <= l->got_len)
            l->arrived[chunk++] = at;
    }
    return NULL;
}

static int open_pty(int *master, char *slave, size_t len)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0 || grantpt(*master) || unlockpt(*master) || ptsname_r(*master, slave, len)) {
        perror("bench: pty");
        return -1;
    }
    return 0;
}

static int raw_open(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (fd < 0 || tcgetattr(fd, &t)) {
        perror(path);
        exit(1);
    }
    cfmakeraw(&t);
    tcsetattr(fd, TCSANOW, &t);
    return fd;
}

static void line_init(struct line *l, const struct stream *s)
{
    *l = (struct line){.s = s};
    l->written = calloc(s->nchunks, sizeof *l->written);
    l->arrived = calloc(s->nchunks, sizeof *l->arrived);
    l->got = malloc(s->len);
    if (!l->written || !l->arrived || !l->got) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
}

static void line_check(const struct line *l, const char *name)
{
    if (l->got_len != l->s->len || memcmp(l->got, l->s->p, l->s->len) != 0) {
        fprintf(stderr, "bench: %s: the printer did not get the bytes the POS wrote\n", name);
        exit(1);
    }
}

static void line_free(struct line *l)
{
    free(l->written);
    free(l->arrived);
    free(l->got);
}

/* ---- what the daemon does with PRINT_DATA ---- */

enum emit_kind { EMIT_NONE, EMIT_FSYNC_RECEIPT, EMIT_FSYNC_EVENT, EMIT_SLEEP };
static const char *const emit_names[] = {"none", "fsync-receipt", "fsync-event", "sleep"};
static const char *const emit_what[] = {
    "emit returns at once",
    "emit fdatasyncs once per receipt (the sale's journal append)",
    "emit fdatasyncs every event (upper bound)",
    "emit sleeps 20 ms per event (a journal that blocks: not allowed)",
};

struct journal_stub {
    enum emit_kind kind;
    const struct stream *s;
    int fd;
    size_t reported;
    size_t next_receipt;
    unsigned events, syncs;
    uint64_t sync_ns;
};

static void sync_one(struct journal_stub *j)
{
    static char rec[512];
    uint64_t t = now_ns();
    memset(rec, 'S', sizeof rec);
    if (pwrite(j->fd, rec, sizeof rec, (off_t)(j->syncs % 2048) * (off_t)sizeof rec) !=
            (ssize_t)sizeof rec ||
        fdatasync(j->fd) != 0) {
        perror("bench: journal stub");
        exit(1);
    }
    j->syncs++;
    j->sync_ns += now_ns() - t;
}

static void on_print_data(void *ctx, const struct hal_event *ev)
{
    struct journal_stub *j = ctx;
    j->reported += ev->len;
    j->events++;
    switch (j->kind) {
    case EMIT_NONE:
        break;
    case EMIT_FSYNC_RECEIPT:
        while (j->next_receipt < j->s->nreceipts &&
               j->s->receipt_end[j->next_receipt] <= j->reported) {
            j->next_receipt++;
            sync_one(j);
        }
        break;
    case EMIT_FSYNC_EVENT:
        sync_one(j);
        break;
    case EMIT_SLEEP:
        sleep_until(now_ns() + 20000000u);
        break;
    }
}

struct loop_runner {
    struct loop *loop;
    volatile int stop;
};

static void *loop_thread(void *arg)
{
    struct loop_runner *lr = arg;
    while (!lr->stop)
        if (loop_run_once(lr->loop, 20) < 0) {
            perror("bench: loop");
            exit(1);
        }
    return NULL;
}

struct result {
    struct figures base, tap, added;
    struct tap_serial_stats st;
};

static struct result run(const struct stream *s, enum emit_kind kind, struct journal_stub *j)
{
    struct line base, tap;
    line_init(&base, s);
    line_init(&tap, s);

    char slave[64];
    int base_master;
    if (open_pty(&base_master, slave, sizeof slave))
        exit(1);
    base.pos_fd = base_master;
    base.printer_fd = raw_open(slave);

    struct tap_serial_params p = {.baud = baud};
    int pos_master, printer_master;
    if (open_pty(&pos_master, p.pos_port, sizeof p.pos_port) ||
        open_pty(&printer_master, p.printer_port, sizeof p.printer_port))
        exit(1);
    snprintf(p.flow_control, sizeof p.flow_control, "none");
    tap.pos_fd = pos_master;
    tap.printer_fd = printer_master;

    char path[512];
    snprintf(path, sizeof path, "%s/bench_tap_journal.XXXXXX", dir);
    *j = (struct journal_stub){.kind = kind, .s = s, .fd = mkstemp(path)};
    if (j->fd < 0 || posix_fallocate(j->fd, 0, 2048 * 512) != 0) {
        perror(path);
        exit(1);
    }
    unlink(path);
    fdatasync(j->fd);

    struct loop_runner lr = {.loop = loop_new()};
    struct hal_source *src;
    char err[256];
    if (!lr.loop || tap_serial_open(&p, lr.loop, on_print_data, j, &src, err, sizeof err)) {
        fprintf(stderr, "bench: tap_serial_open: %s\n", err);
        exit(1);
    }
    pthread_t lt, pos, base_printer, tap_printer;
    struct line *lines[2] = {&base, &tap};
    pthread_create(&lt, NULL, loop_thread, &lr);
    pthread_create(&base_printer, NULL, printer_thread, &base);
    pthread_create(&tap_printer, NULL, printer_thread, &tap);
    pthread_create(&pos, NULL, pos_thread, lines);
    pthread_join(pos, NULL);
    pthread_join(base_printer, NULL);
    pthread_join(tap_printer, NULL);
    lr.stop = 1;
    pthread_join(lt, NULL);
    line_check(&base, "baseline");
    line_check(&tap, "tap");

    struct result res;
    tap_serial_get_stats(src, &res.st);
    if (j->reported != s->len) {
        fprintf(stderr, "bench: PRINT_DATA reported %zu of %zu bytes\n", j->reported, s->len);
        exit(1);
    }
    hal_source_close(src);
    loop_free(lr.loop);
    close(j->fd);
    close(pos_master);
    close(printer_master);
    close(base.printer_fd);
    close(base_master);

    uint64_t *lb = malloc(s->nchunks * sizeof *lb), *lt_ = malloc(s->nchunks * sizeof *lt_);
    int64_t *added = malloc(s->nchunks * sizeof *added);
    for (size_t i = 0; i < s->nchunks; i++) {
        lb[i] = base.arrived[i] - base.written[i];
        lt_[i] = tap.arrived[i] - tap.written[i];
        added[i] = (int64_t)lt_[i] - (int64_t)lb[i];
    }
    res.base = percentiles(lb, s->nchunks);
    res.tap = percentiles(lt_, s->nchunks);
    res.added = percentiles_signed(added, s->nchunks);
    free(lb);
    free(lt_);
    free(added);
    line_free(&base);
    line_free(&tap);
    return res;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_tap_latency [--baud N] [--receipts N] [--dir DIR] [--only "
                    "none|fsync-receipt|fsync-event|sleep]\n");
    exit(2);
}

static void print_load(const char *when)
{
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f (2 cores: other work skews every figure)\n", when,
               l[0], l[1], l[2]);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--baud") && i + 1 < argc)
            baud = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--receipts") && i + 1 < argc)
            receipts = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else
            usage();
    }
    if (!baud || !receipts)
        usage();
    struct stream s = {0};
    for (unsigned r = 0; r < receipts; r++)
        receipt(&s, r);
    printf("bench_tap_latency: %u receipts, %zu bytes in %zu POS writes, paced at %u baud "
           "(%.0f bytes/s, %.1f s a run)\n",
           receipts, s.len, s.nchunks, baud, baud / 10.0, s.len * 10.0 / baud);
    printf("latency of a write: its last byte at the printer minus the time the POS wrote it; each "
           "write goes down both lines at once,\nthe baseline (the POS wired to the printer: one "
           "pty pair) and the tap; added = tap minus baseline, write by write\n");
    print_load("at start");
    for (int k = EMIT_NONE; k <= EMIT_SLEEP; k++) {
        if (only && strcmp(only, emit_names[k]))
            continue;
        struct journal_stub j;
        struct result r = run(&s, (enum emit_kind)k, &j);
        printf("== %s\n", emit_what[k]);
        printf("  %-9s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", "baseline", r.base.p50,
               r.base.p99, r.base.max);
        printf("  %-9s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", "tap", r.tap.p50, r.tap.p99,
               r.tap.max);
        printf("  %-9s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms", "added", r.added.p50, r.added.p99,
               r.added.max);
        if (k == EMIT_SLEEP)
            printf("  (no target: not allowed)\n");
        else
            printf("  target p99 < %.0f ms: %s\n", TARGET_P99_MS,
                   r.added.p99 < TARGET_P99_MS ? "PASS" : "MISSED");
        printf("  %u PRINT_DATA events, all %zu bytes through in order; the tap held at most %zu "
               "bytes",
               j.events, s.len, r.st.max_buffered);
        if (j.syncs)
            printf("; %u fdatasyncs, mean %.3f ms", j.syncs, j.sync_ns / 1e6 / j.syncs);
        printf("\n");
    }
    print_load("at end");
    free(s.p);
    free(s.chunk_end);
    free(s.receipt_end);
    return 0;
}
