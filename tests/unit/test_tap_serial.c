/*
 * The receipt-printer tap over pseudo-terminal pairs: the driver opens two pty slaves (through
 * symbolic links, as a udev by-id name would be, so a test can unplug a port and plug a new one
 * under the same name) while the test plays the POS on one master and the printer on the other,
 * driving the event loop itself. What the printer master reads must be what the POS master wrote,
 * byte for byte, and so must the PRINT_DATA events put together; status bytes flow back the same
 * way.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "drivers/tap_serial.h"
#include "hal/loop.h"

#ifndef ESCPOS_DATA_DIR
#define ESCPOS_DATA_DIR "tests/data/escpos"
#endif

/* Turns in a row with nothing moving before a test gives up: a hang guard, not a timing check
 * (each turn waits up to TURN_WAIT_MS for something to happen). */
#define STUCK_TURNS  1000
#define TURN_WAIT_MS 5

/* A growable byte buffer. */
struct bytes {
    unsigned char *p;
    size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

struct fixture {
    char dir[64], pos_link[96], printer_link[96];
    int pos_master, printer_master;
    struct loop *loop;
    struct hal_source *tap;
    struct bytes at_printer;         /* read from the printer master */
    struct bytes at_pos;             /* read from the POS master */
    struct bytes reported;           /* PRINT_DATA, put together */
    size_t pos_wrote, printer_wrote; /* into the masters, in all */
    size_t printer_base;             /* of pos_wrote, what the printer master now open missed */
    unsigned events;
    unsigned emit_sleep_us;  /* a journal that takes its time */
    int check_written_first; /* in emit, the reported bytes must already be at the printer */
};

static int read_master(int fd, struct bytes *into)
{
    unsigned char buf[8192];
    int got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) /* EAGAIN; EIO while no slave is open */
            return got;
        bytes_add(into, buf, (size_t)n);
        got = 1;
    }
}

static void on_event(void *ctx, const struct hal_event *ev)
{
    struct fixture *f = ctx;
    assert_int_equal(ev->kind, HAL_EVENT_PRINT_DATA);
    assert_ptr_equal(ev->src, f->tap);
    assert_null(ev->reply);
    assert_true(ev->len > 0);
    bytes_add(&f->reported, ev->data, ev->len);
    f->events++;
    if (f->emit_sleep_us)
        usleep(f->emit_sleep_us);
    if (f->check_written_first) {
        read_master(f->printer_master, &f->at_printer);
        assert_true(f->at_printer.len >= f->reported.len);
    }
}

/* A new pty pair; the slave's name is linked at `link` (replacing what was there). */
static int new_pty(const char *link)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    char name[64], tmp[128];
    assert_int_equal(ptsname_r(m, name, sizeof name), 0);
    snprintf(tmp, sizeof tmp, "%s.new", link);
    unlink(tmp);
    assert_int_equal(symlink(name, tmp), 0);
    assert_int_equal(rename(tmp, link), 0);
    return m;
}

static struct tap_serial_params params(const struct fixture *f, const char *flow)
{
    struct tap_serial_params p = {.baud = 115200, .reopen_ms = 10};
    snprintf(p.pos_port, sizeof p.pos_port, "%s", f->pos_link);
    snprintf(p.printer_port, sizeof p.printer_port, "%s", f->printer_link);
    snprintf(p.flow_control, sizeof p.flow_control, "%s", flow);
    return p;
}

static int setup_flow(void **state, const char *flow)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tillsync-test-tap-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->pos_link, sizeof f->pos_link, "%s/pos", f->dir);
    snprintf(f->printer_link, sizeof f->printer_link, "%s/printer", f->dir);
    f->pos_master = new_pty(f->pos_link);
    f->printer_master = new_pty(f->printer_link);
    f->loop = loop_new();
    assert_non_null(f->loop);
    struct tap_serial_params p = params(f, flow);
    char err[256] = "";
    int rc = tap_serial_open(&p, f->loop, on_event, f, &f->tap, err, sizeof err);
    if (rc != 0)
        fail_msg("tap_serial_open: %s", err);
    assert_int_equal(f->tap->role, HAL_ROLE_RECEIPT);
    assert_string_equal(f->tap->name, "receipt_tap");
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_flow(state, "none");
}

static int setup_xonxoff(void **state)
{
    return setup_flow(state, "xonxoff");
}

static int setup_rtscts(void **state)
{
    return setup_flow(state, "rtscts");
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    hal_source_close(f->tap);
    loop_free(f->loop);
    close(f->pos_master);
    close(f->printer_master);
    unlink(f->pos_link);
    unlink(f->printer_link);
    rmdir(f->dir);
    bytes_free(&f->at_printer);
    bytes_free(&f->at_pos);
    bytes_free(&f->reported);
    free(f);
    return 0;
}

static struct tap_serial_stats stats(const struct fixture *f)
{
    struct tap_serial_stats s;
    tap_serial_get_stats(f->tap, &s);
    return s;
}

/* Writes up to len bytes into a master; returns how many it took. */
static size_t write_some(int fd, const unsigned char *p, size_t len)
{
    ssize_t n = write(fd, p, len);
    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    return (size_t)n;
}

static size_t pos_writes(struct fixture *f, const unsigned char *p, size_t len)
{
    size_t n = write_some(f->pos_master, p, len);
    f->pos_wrote += n;
    return n;
}

static size_t printer_writes(struct fixture *f, const unsigned char *p, size_t len)
{
    size_t n = write_some(f->printer_master, p, len);
    f->printer_wrote += n;
    return n;
}

/*
 * Plays the POS writing `data` in writes of at most `chunk` bytes (one write per loop turn) and
 * the printer reading everything, until the printer has it all. Also passes `status` the other
 * way, from the printer to the POS, at the same time.
 */
static void pump(struct fixture *f, const unsigned char *data, size_t len, size_t chunk,
                 const unsigned char *status, size_t status_len)
{
    size_t sent = 0, status_sent = 0;
    size_t want_printer = f->pos_wrote - f->printer_base + len;
    size_t want_pos = f->printer_wrote + status_len;
    unsigned stuck = 0;
    while (f->at_printer.len < want_printer || f->at_pos.len < want_pos) {
        size_t before = f->at_printer.len + f->at_pos.len + sent + status_sent;
        if (sent < len)
            sent += pos_writes(f, data + sent, len - sent < chunk ? len - sent : chunk);
        if (status_sent < status_len)
            status_sent +=
                printer_writes(f, status + status_sent,
                               status_len - status_sent < chunk ? status_len - status_sent : chunk);
        assert_true(loop_run_once(f->loop, TURN_WAIT_MS) >= 0);
        read_master(f->printer_master, &f->at_printer);
        read_master(f->pos_master, &f->at_pos);
        size_t after = f->at_printer.len + f->at_pos.len + sent + status_sent;
        stuck = after == before ? stuck + 1 : 0;
        if (stuck >= STUCK_TURNS)
            fail_msg("no progress: POS wrote %zu of %zu, printer read %zu; printer wrote %zu of "
                     "%zu, POS read %zu",
                     sent, len, f->at_printer.len, status_sent, status_len, f->at_pos.len);
    }
    assert_int_equal(f->at_printer.len, want_printer);
    assert_int_equal(f->at_pos.len, want_pos);
}

/* What the printer got, and what was reported, is exactly `expect`. */
static void assert_passed(const struct fixture *f, const unsigned char *expect, size_t len)
{
    assert_int_equal(f->at_printer.len, len);
    assert_memory_equal(f->at_printer.p, expect, len);
    assert_int_equal(f->reported.len, len);
    assert_memory_equal(f->reported.p, expect, len);
    struct tap_serial_stats s = stats(f);
    assert_int_equal(s.pos_to_printer, len);
    assert_int_equal(s.buffered, 0);
    assert_true(s.max_buffered <= 2 * TAP_SERIAL_BUF);
}

static void every_byte_value(unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i < 256 ? i : 255 - (i % 256));
}

/* The settings the tap leaves on its ports (a pty master reads its slave's): raw 8-bit, the baud,
 * CRTSCTS only for rtscts, the kernel never acting on XON/XOFF, no carrier dependence, DTR not
 * dropped on close. */
static void check_settings(const struct fixture *f, int want_crtscts)
{
    int masters[2] = {f->pos_master, f->printer_master};
    for (int i = 0; i < 2; i++) {
        struct termios t;
        assert_int_equal(tcgetattr(masters[i], &t), 0);
        assert_int_equal(cfgetospeed(&t), B115200);
        assert_int_equal(cfgetispeed(&t), B115200);
        assert_int_equal(!!(t.c_cflag & CRTSCTS), want_crtscts);
        assert_int_equal(t.c_iflag & (IXON | IXOFF | IXANY | ISTRIP | INLCR | ICRNL | IGNCR), 0);
        assert_int_equal(t.c_oflag & OPOST, 0);
        assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
        assert_int_equal(t.c_cflag & (CSIZE | PARENB | HUPCL | CLOCAL | CREAD),
                         CS8 | CLOCAL | CREAD);
    }
}

static void test_settings_none(void **state)
{
    check_settings(*state, 0);
}

static void test_settings_rtscts(void **state)
{
    check_settings(*state, 1);
}

static void test_settings_xonxoff(void **state)
{
    check_settings(*state, 0);
}

/* All 256 values, each on its own and in runs, survive the line both ways: nothing of the tty
 * layer (CR/LF mapping, XON/XOFF, signals, echo, the 8th bit) touches them. */
static void test_every_byte_value(void **state)
{
    struct fixture *f = *state;
    unsigned char data[1024];
    every_byte_value(data, sizeof data);
    f->check_written_first = 1;
    pump(f, data, sizeof data, 1, data, sizeof data);
    pump(f, data, sizeof data, sizeof data, data, sizeof data);
    unsigned char twice[2 * sizeof data];
    memcpy(twice, data, sizeof data);
    memcpy(twice + sizeof data, data, sizeof data);
    assert_passed(f, twice, sizeof twice);
    assert_memory_equal(f->at_pos.p, twice, sizeof twice);
    assert_int_equal(stats(f).printer_to_pos, sizeof twice);
}

static unsigned char *random_stream(size_t len, uint32_t seed)
{
    unsigned char *p = malloc(len);
    assert_non_null(p);
    uint32_t x = seed;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; /* xorshift32: the same stream on every machine */
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

/* 1 MiB of every value in no order, in 4 KiB writes; the write-then-report order is checked on
 * every event. */
static void test_random_mib(void **state)
{
    struct fixture *f = *state;
    size_t len = 1024 * 1024;
    unsigned char *data = random_stream(len, 20261130u);
    f->check_written_first = 1;
    pump(f, data, len, 4096, NULL, 0);
    assert_passed(f, data, len);
    free(data);
}

/* The recorded ESC/POS streams (tests/data/escpos/ *.bin), when the tree has them. */
static void test_recorded_streams(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(ESCPOS_DATA_DIR);
    if (!d) {
        print_message("no %s: recorded streams skipped (the random stream stands in)\n",
                      ESCPOS_DATA_DIR);
        skip();
    }
    struct bytes all = {0};
    unsigned files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", ESCPOS_DATA_DIR, e->d_name);
        struct stat st;
        size_t nlen = strlen(e->d_name);
        if (nlen < 5 || strcmp(e->d_name + nlen - 4, ".bin") != 0 || stat(path, &st) != 0 ||
            !S_ISREG(st.st_mode) || st.st_size == 0)
            continue;
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        unsigned char *buf = malloc((size_t)st.st_size);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
        fclose(fp);
        /* Alternate chunkings: how a POS's writes fall must not matter. */
        pump(f, buf, (size_t)st.st_size, files % 2 ? 7 : 512, NULL, 0);
        bytes_add(&all, buf, (size_t)st.st_size);
        free(buf);
        files++;
    }
    closedir(d);
    print_message("%u recorded streams, %zu bytes\n", files, all.len);
    assert_passed(f, all.p, all.len);
    bytes_free(&all);
}

/* A POS that writes a byte at a time, each on its own loop turn. */
static void test_many_tiny_writes(void **state)
{
    struct fixture *f = *state;
    size_t len = 20000;
    unsigned char *data = random_stream(len, 7u);
    f->check_written_first = 1;
    pump(f, data, len, 1, NULL, 0);
    assert_passed(f, data, len);
    free(data);
}

/* One write as large as the pty takes, then the rest as it drains. */
static void test_one_big_write(void **state)
{
    struct fixture *f = *state;
    size_t len = 256 * 1024;
    unsigned char *data = random_stream(len, 99u);
    pump(f, data, len, len, NULL, 0);
    assert_passed(f, data, len);
    free(data);
}

/* A report that takes 5 ms a call: the bytes behind it wait in the kernel's queues meanwhile.
 * Nothing is lost or reordered, status still flows back, and the tap holds no more. */
static void test_slow_report(void **state)
{
    struct fixture *f = *state;
    size_t len = 64 * 1024;
    unsigned char *data = random_stream(len, 5u);
    f->emit_sleep_us = 5000;
    pump(f, data, len, 512, data, 4096);
    assert_passed(f, data, len);
    assert_memory_equal(f->at_pos.p, data, 4096);
    assert_true(stats(f).max_buffered <= 2 * TAP_SERIAL_BUF);
    free(data);
}

/* The printer's answers (real-time status DLE EOT, automatic status back) reach the POS as sent,
 * while a receipt goes the other way. */
static void test_printer_status_to_pos(void **state)
{
    struct fixture *f = *state;
    static const unsigned char receipt[] = "\x1b@Coffee        2.50\n\x1dV\x42\x00";
    static const unsigned char status[] = {0x12, 0x16, 0x10, 0x0f, /* DLE EOT 1-4 answers */
                                           0x14, 0x00, 0x00, 0x0f, /* ASB: 4 bytes */
                                           0x13, 0x11, 0x00, 0xff};
    pump(f, receipt, sizeof receipt - 1, 3, status, sizeof status);
    assert_passed(f, receipt, sizeof receipt - 1);
    assert_int_equal(f->at_pos.len, sizeof status);
    assert_memory_equal(f->at_pos.p, status, sizeof status);
    assert_int_equal(stats(f).printer_to_pos, sizeof status);
}

/* Runs turns until the loop has nothing to do for a few turns in a row. */
static void settle(struct fixture *f)
{
    for (int idle = 0; idle < 5;)
        idle = loop_run_once(f->loop, TURN_WAIT_MS) == 0 ? idle + 1 : 0;
}

/*
 * A printer that stops reading: the POS keeps writing until the kernel refuses it more; the tap
 * holds no more than its buffer meanwhile, loses nothing, and everything arrives once the
 * printer reads again.
 */
static void test_printer_stops_reading(void **state)
{
    struct fixture *f = *state;
    size_t len = 1024 * 1024;
    unsigned char *data = random_stream(len, 3u);
    size_t sent = 0;
    for (;;) { /* the POS writes, the printer reads nothing */
        size_t n = pos_writes(f, data + sent, len - sent < 4096 ? len - sent : 4096);
        if (!n) { /* refused: let the tap do all it can, then try once more */
            settle(f);
            n = pos_writes(f, data + sent, len - sent < 4096 ? len - sent : 4096);
            if (!n)
                break;
        }
        sent += n;
        assert_true(sent < len);
        loop_run_once(f->loop, 0);
    }
    struct tap_serial_stats s = stats(f);
    print_message("printer not reading: POS got %zu bytes in before being held back; the tap "
                  "holds %zu (at most %zu at once), the printer's tty %llu\n",
                  sent, s.buffered, s.max_buffered, (unsigned long long)s.pos_to_printer);
    assert_true(sent < len); /* back-pressure reached the POS */
    assert_true(s.buffered <= TAP_SERIAL_BUF);
    assert_true(s.max_buffered <= TAP_SERIAL_BUF);
    assert_int_equal(f->reported.len, s.pos_to_printer); /* reported only what the printer has */

    pump(f, data + sent, len - sent, 4096, NULL, 0);
    assert_passed(f, data, len);
    assert_true(stats(f).max_buffered <= TAP_SERIAL_BUF);
    free(data);
}

/* Runs turns until cond(f) holds. */
static void run_until(struct fixture *f, int (*cond)(const struct fixture *), const char *what)
{
    for (unsigned turns = 0; !cond(f); turns++) {
        if (turns >= STUCK_TURNS)
            fail_msg("never happened: %s", what);
        assert_true(loop_run_once(f->loop, TURN_WAIT_MS) >= 0);
    }
}

static int pos_down(const struct fixture *f)
{
    return !stats(f).pos_up;
}

static int pos_up(const struct fixture *f)
{
    return stats(f).pos_up;
}

static int printer_down(const struct fixture *f)
{
    return !stats(f).printer_up;
}

static int printer_up(const struct fixture *f)
{
    return stats(f).printer_up;
}

/* The POS end goes away (its master closed: a USB-serial adapter pulled) and a new one appears
 * under the same name: the tap notices, reopens on its timer, and passes bytes again. */
static void test_pos_closes_and_reopens(void **state)
{
    struct fixture *f = *state;
    size_t len = 64 * 1024;
    unsigned char *data = random_stream(len, 11u);
    pump(f, data, len / 2, 4096, NULL, 0);

    close(f->pos_master);
    unlink(f->pos_link); /* unplugged: the name is gone too */
    f->pos_master = -1;
    run_until(f, pos_down, "the tap notices the POS port is gone");
    /* Retries are paced by the timer: no descriptor left reporting a hangup every turn. */
    struct loop_stats ls;
    loop_get_stats(f->loop, &ls);
    uint64_t fd_calls = ls.fd_calls;
    for (int i = 0; i < 20; i++)
        loop_run_once(f->loop, TURN_WAIT_MS);
    loop_get_stats(f->loop, &ls);
    assert_int_equal(ls.fd_calls, fd_calls);
    assert_int_equal(ls.fds, 1); /* the printer port only */

    f->pos_master = new_pty(f->pos_link);
    run_until(f, pos_up, "the tap reopens the POS port");
    pump(f, data + len / 2, len - len / 2, 4096, NULL, 0);
    assert_passed(f, data, len);
    assert_int_equal(stats(f).reopens, 1);
    free(data);
}

/* The printer goes away with bytes held for it: they are kept (bounded), and go out with the
 * rest when the printer is back. */
static void test_printer_closes_and_reopens(void **state)
{
    struct fixture *f = *state;
    size_t len = 32 * 1024;
    unsigned char *data = random_stream(len, 12u);
    pump(f, data, 1000, 100, NULL, 0);

    close(f->printer_master);
    unlink(f->printer_link);
    f->printer_master = -1;
    run_until(f, printer_down, "the tap notices the printer port is gone");
    size_t sent = 1000;
    for (int i = 0; i < 20; i++) { /* the POS carries on printing meanwhile */
        sent += pos_writes(f, data + sent, 500);
        loop_run_once(f->loop, TURN_WAIT_MS);
    }
    struct tap_serial_stats s = stats(f);
    assert_true(s.buffered <= TAP_SERIAL_BUF);
    assert_int_equal(f->reported.len, 1000); /* nothing reported that the printer did not get */

    f->printer_master = new_pty(f->printer_link);
    f->at_printer.len = 0; /* the new printer sees what follows */
    f->printer_base = 1000;
    run_until(f, printer_up, "the tap reopens the printer port");
    pump(f, data + sent, len - sent, 4096, NULL, 0);
    assert_int_equal(f->at_printer.len, len - 1000);
    assert_memory_equal(f->at_printer.p, data + 1000, len - 1000);
    assert_int_equal(f->reported.len, len);
    assert_memory_equal(f->reported.p, data, len);
    assert_int_equal(stats(f).reopens, 1);
    free(data);
}

/* A port missing at start is not fatal (the till must still take sales from its other sources):
 * it is opened when it appears. */
static void test_port_missing_at_start(void **state)
{
    struct fixture *f = *state;
    hal_source_close(f->tap);
    close(f->printer_master);
    unlink(f->printer_link);
    struct tap_serial_params p = params(f, "none");
    char err[256] = "";
    assert_int_equal(tap_serial_open(&p, f->loop, on_event, f, &f->tap, err, sizeof err), 0);
    assert_true(pos_up(f));
    assert_true(printer_down(f));
    f->printer_master = new_pty(f->printer_link);
    run_until(f, printer_up, "the printer port appears");
    static const unsigned char line[] = "\x1b@hello\n";
    pump(f, line, sizeof line - 1, 64, NULL, 0);
    assert_passed(f, line, sizeof line - 1);
}

static void expect_refused(struct fixture *f, struct tap_serial_params *p, const char *key)
{
    char err[256] = "";
    struct hal_source *src = (struct hal_source *)1;
    assert_true(tap_serial_open(p, f->loop, on_event, f, &src, err, sizeof err) < 0);
    assert_null(src);
    print_message("refused: %s\n", err);
    if (!strstr(err, key))
        fail_msg("\"%s\" does not name %s", err, key);
}

static void test_refused_settings(void **state)
{
    struct fixture *f = *state;
    struct tap_serial_params p = params(f, "none");
    p.baud = 115201;
    expect_refused(f, &p, "receipt_tap.baud");
    p = params(f, "dtrdsr");
    expect_refused(f, &p, "receipt_tap.flow_control");
    p = params(f, "none");
    snprintf(p.printer_port, sizeof p.printer_port, "%s", p.pos_port);
    expect_refused(f, &p, "receipt_tap.printer_port");
    p = params(f, "none");
    char target[64];
    ssize_t n = readlink(f->pos_link, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = 0;
    snprintf(p.printer_port, sizeof p.printer_port, "%s", target); /* the same device, renamed */
    expect_refused(f, &p, "receipt_tap.printer_port");
    p = params(f, "none");
    snprintf(p.printer_port, sizeof p.printer_port, "/dev/null");
    expect_refused(f, &p, "receipt_tap.printer_port");
    p = params(f, "none");
    p.pos_port[0] = 0;
    expect_refused(f, &p, "receipt_tap.pos_port");
    struct loop_stats ls;
    loop_get_stats(f->loop, &ls);
    assert_int_equal(ls.fds, 2); /* the fixture's tap only: nothing left behind */
    assert_int_equal(ls.timers, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_rtscts, setup_rtscts, teardown),
        cmocka_unit_test_setup_teardown(test_settings_xonxoff, setup_xonxoff, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_value, setup_xonxoff, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_value, setup_rtscts, teardown),
        cmocka_unit_test_setup_teardown(test_random_mib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recorded_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tiny_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_big_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_printer_status_to_pos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_printer_stops_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_printer_stops_reading, setup_rtscts, teardown),
        cmocka_unit_test_setup_teardown(test_pos_closes_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_printer_closes_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_missing_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
