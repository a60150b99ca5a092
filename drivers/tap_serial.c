/*
 * The receipt-printer tap: two ttys, the one the POS writes to and the one the printer is on, and
 * the bytes between them passed through unchanged, in order, both ways.
 *
 * Holding: one fixed buffer per direction, filled by one read only when it is empty and the port
 * it drains to is open, then written at once. While the printer port takes nothing (its tty
 * output queue is full: the printer holds CTS down with rtscts, or is simply slower than the POS),
 * the buffer stays full, the POS port is not read, and the POS is held back by the kernel: its
 * input queue fills, and with rtscts the serial driver drops RTS to the POS. So the daemon holds
 * at most TAP_SERIAL_BUF bytes a direction whatever the printer does.
 *
 * Order of work: write to the printer first, then report what it took. The report (firmware's
 * receipt parser and the journal) may take milliseconds: it must never delay a byte the printer
 * could already have, and a byte is reported once the printer has it, never before.
 *
 * XON/XOFF is left to the two ends (IXON, IXOFF, IXANY off on both ports): a printer in xonxoff
 * mode sends XOFF to the POS, not to the tap. If the kernel acted on it, it would stop the tap's
 * output to the POS (not the POS) and eat the byte, so the POS would keep sending; and POS->printer
 * data is binary (raster images, barcodes) in which 0x11 and 0x13 are ordinary bytes that a kernel
 * with IXON would take for flow control. Passed through, XOFF reaches the POS a few tens of
 * microseconds later than on a plain cable, which the printer's margin (it asks to stop well before
 * its buffer is full) absorbs.
 *
 * A port that hangs up (USB-serial unplugged: reads return 0 or EIO, poll reports HUP; a pty
 * whose other end closed) is closed, logged once, and reopened every reopen_ms by a loop timer:
 * never a spin on a descriptor that reports HUP forever.
 */
#define _GNU_SOURCE
#include "drivers/tap_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { POS, PRINTER };
enum flow { FLOW_NONE, FLOW_RTSCTS, FLOW_XONXOFF };

struct tap;

struct port {
    struct tap *tap;
    int index;       /* POS or PRINTER */
    const char *key; /* the configuration key, for logs and errors */
    char path[108];
    int fd;              /* -1 while the port is away */
    unsigned events;     /* what the loop waits for on fd */
    int last_err;        /* the failure last logged, so a retry that fails alike logs nothing */
    uint64_t down_since; /* monotonic ms */
};

/* Bytes read from one port, on their way to the other. */
struct held {
    unsigned char buf[TAP_SERIAL_BUF];
    size_t off, len;
};

struct tap {
    struct hal_source src; /* first: the HAL hands this back */
    struct loop *loop;
    struct loop_timer *reopen;
    unsigned reopen_ms;
    speed_t speed;
    enum flow flow;
    struct port port[2];
    struct held to[2]; /* to[i]: waiting to be written to port[i] */
    struct tap_serial_stats stats;
};

static const struct hal_source_api tap_api;

/* The daemon's log format (firmware's log.h is out of a driver's reach). */
__attribute__((format(printf, 2, 3))) static void tap_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: %s: receipt_tap: ", program_invocation_short_name, level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int other(int i)
{
    return i == POS ? PRINTER : POS;
}

static int speed_of(unsigned baud, speed_t *out)
{
    static const struct {
        unsigned baud;
        speed_t speed;
    } rates[] = {
        {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
        {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
        {230400, B230400}, {460800, B460800}, {921600, B921600},
    };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rates[i].baud == baud) {
            *out = rates[i].speed;
            return 0;
        }
    return -EINVAL;
}

static int flow_of(const char *name, enum flow *out)
{
    if (!name[0] || !strcmp(name, "none"))
        *out = FLOW_NONE;
    else if (!strcmp(name, "rtscts"))
        *out = FLOW_RTSCTS;
    else if (!strcmp(name, "xonxoff"))
        *out = FLOW_XONXOFF;
    else
        return -EINVAL;
    return 0;
}

/* Raw 8N1 at the configured speed. CLOCAL: the tap must not depend on (or hang up on) a carrier
 * line that POS printer cables rarely wire; HUPCL off: reopening must not pulse DTR at the
 * printer. The settings are read back, because tcsetattr succeeds if any one of them was taken. */
static int port_configure(const struct tap *t, int fd, char *why, size_t whylen)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        int e = errno;
        snprintf(why, whylen, "%s%s", e == ENOTTY ? "not a tty: " : "", strerror(e));
        return -e;
    }
    cfmakeraw(&tio);
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)HUPCL;
    if (t->flow == FLOW_RTSCTS)
        tio.c_cflag |= CRTSCTS;
    else
        tio.c_cflag &= ~(tcflag_t)CRTSCTS;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    cfsetispeed(&tio, t->speed);
    cfsetospeed(&tio, t->speed);
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        int e = errno;
        snprintf(why, whylen, "settings refused: %s", strerror(e));
        return -e;
    }
    struct termios got;
    if (tcgetattr(fd, &got) != 0) {
        int e = errno;
        snprintf(why, whylen, "settings unreadable: %s", strerror(e));
        return -e;
    }
    if (cfgetospeed(&got) != t->speed || cfgetispeed(&got) != t->speed) {
        snprintf(why, whylen, "does not take the baud rate");
        return -EINVAL;
    }
    if ((got.c_cflag & CRTSCTS) != (tio.c_cflag & CRTSCTS)) {
        snprintf(why, whylen, "does not take flow_control %s",
                 t->flow == FLOW_RTSCTS ? "rtscts" : "off");
        return -EINVAL;
    }
    if ((got.c_cflag & CSIZE) != CS8 || (got.c_cflag & PARENB) || (got.c_lflag & ICANON) ||
        (got.c_iflag & (IXON | IXOFF | ISTRIP | INLCR | ICRNL)) || (got.c_oflag & OPOST)) {
        snprintf(why, whylen, "does not take raw 8-bit mode");
        return -EINVAL;
    }
    return 0;
}

static void set_events(struct tap *t, int i)
{
    struct port *p = &t->port[i];
    if (p->fd < 0)
        return;
    unsigned ev = 0;
    /* Read only into an empty buffer, and only when its bytes have somewhere to go. */
    if (t->to[other(i)].len == 0 && t->port[other(i)].fd >= 0)
        ev |= LOOP_IN;
    if (t->to[i].len)
        ev |= LOOP_OUT;
    if (ev != p->events && loop_mod_fd(t->loop, p->fd, ev) == 0)
        p->events = ev;
}

static void update_events(struct tap *t)
{
    set_events(t, POS);
    set_events(t, PRINTER);
}

static void port_fd_ready(void *ctx, int fd, unsigned events);

static void port_lost(struct tap *t, int i, const char *why)
{
    struct port *p = &t->port[i];
    loop_del_fd(t->loop, p->fd);
    close(p->fd);
    p->fd = -1;
    p->events = 0;
    p->down_since = loop_now_ms();
    p->last_err = 0;
    tap_log("warn", "%s %s lost (%s); trying again every %u ms", p->key, p->path, why,
            t->reopen_ms);
    loop_timer_set(t->reopen, t->reopen_ms);
    update_events(t);
}

/* 0: open and registered. Otherwise the port stays down; *fatal says whether the failure is one
 * that retrying the same settings cannot mend (not a tty, settings refused). */
static int port_open(struct tap *t, int i, char *why, size_t whylen, int *fatal)
{
    struct port *p = &t->port[i];
    *fatal = 0;
    int fd = open(p->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "%s", strerror(e));
        return -e;
    }
    int rc = port_configure(t, fd, why, whylen);
    if (rc == 0) {
        /* Nothing else may open the port while the tap has it (a getty, a modem manager probing
         * serial ports): its reads would take bytes off the line. Root is not kept out. */
        ioctl(fd, TIOCEXCL);
        rc = loop_add_fd(t->loop, fd, 0, port_fd_ready, p);
        if (rc != 0)
            snprintf(why, whylen, "cannot watch it: %s", strerror(-rc));
    } else {
        /* Not a tty, or a tty that will not take the settings; an error (EIO: unplugged
         * between open and tcsetattr) is for the next try. */
        *fatal = rc == -ENOTTY || rc == -EINVAL;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    p->fd = fd;
    p->events = 0;
    return 0;
}

static void held_add_max(struct tap *t)
{
    t->stats.buffered = t->to[POS].len + t->to[PRINTER].len;
    if (t->stats.buffered > t->stats.max_buffered)
        t->stats.max_buffered = t->stats.buffered;
}

/* Writes what is held for port i; reports the printer's share once written. Returns -1 if the
 * port was lost. */
static int flush_to(struct tap *t, int i)
{
    struct port *p = &t->port[i];
    struct held *h = &t->to[i];
    while (p->fd >= 0 && h->len) {
        ssize_t n = write(p->fd, h->buf + h->off, h->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            port_lost(t, i, n < 0 ? strerror(errno) : "write took nothing");
            return -1;
        }
        const unsigned char *sent = h->buf + h->off;
        h->off += (size_t)n;
        h->len -= (size_t)n;
        if (h->len == 0)
            h->off = 0;
        t->stats.buffered -= (size_t)n;
        if (i == PRINTER) {
            t->stats.pos_to_printer += (uint64_t)n;
            /* The buffer is not touched again before this returns: emit only reads it. */
            struct hal_event ev = {.kind = HAL_EVENT_PRINT_DATA,
                                   .src = &t->src,
                                   .data = (const char *)sent,
                                   .len = (size_t)n,
                                   .at_mono_ms = loop_now_ms()};
            hal_source_emit(&t->src, &ev);
        } else {
            t->stats.printer_to_pos += (uint64_t)n;
        }
    }
    return 0;
}

/* One read from port i into the empty buffer towards the other port, written through at once.
 * Returns -1 if port i was lost, 0 if nothing was there, 1 if bytes moved. */
static int pass_from(struct tap *t, int i)
{
    struct port *p = &t->port[i];
    struct held *h = &t->to[other(i)];
    ssize_t n;
    do
        n = read(p->fd, h->buf, sizeof h->buf);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0) { /* a hung-up tty reads 0 or fails with EIO */
        port_lost(t, i, n < 0 ? strerror(errno) : "hung up");
        return -1;
    }
    h->off = 0;
    h->len = (size_t)n;
    held_add_max(t);
    flush_to(t, other(i));
    return 1;
}

static void port_fd_ready(void *ctx, int fd, unsigned events)
{
    struct port *p = ctx;
    struct tap *t = p->tap;
    int i = p->index;
    (void)fd;
    if (t->to[i].len && flush_to(t, i) < 0)
        return;
    int hangup = (events & (LOOP_HUP | LOOP_ERR)) != 0;
    if ((events & LOOP_IN) || hangup) {
        int can_read = t->to[other(i)].len == 0 && t->port[other(i)].fd >= 0;
        int moved = can_read ? pass_from(t, i) : 0;
        if (moved < 0)
            return;
        /* Data still queued is read first; a hangup with nothing left to read is the end. */
        if (hangup && moved == 0 && t->port[i].fd >= 0) {
            port_lost(t, i, events & LOOP_HUP ? "hung up" : "error");
            return;
        }
    }
    update_events(t);
}

static void reopen_due(void *ctx)
{
    struct tap *t = ctx;
    int still_down = 0;
    for (int i = POS; i <= PRINTER; i++) {
        struct port *p = &t->port[i];
        if (p->fd >= 0)
            continue;
        char why[160];
        int fatal;
        int rc = port_open(t, i, why, sizeof why, &fatal);
        if (rc != 0) {
            if (rc != p->last_err)
                tap_log("warn", "%s %s: %s; trying again every %u ms", p->key, p->path, why,
                        t->reopen_ms);
            p->last_err = rc;
            still_down = 1;
            continue;
        }
        t->stats.reopens++;
        p->last_err = 0;
        uint64_t down = loop_now_ms() - p->down_since;
        tap_log("info", "%s %s open again after %llu.%03llu s", p->key, p->path,
                (unsigned long long)(down / 1000), (unsigned long long)(down % 1000));
    }
    /* What was held for a port that came back goes out now. */
    for (int i = POS; i <= PRINTER; i++)
        if (t->port[i].fd >= 0 && t->to[i].len)
            flush_to(t, i);
    update_events(t);
    if (still_down || t->port[POS].fd < 0 || t->port[PRINTER].fd < 0)
        loop_timer_set(t->reopen, t->reopen_ms);
}

static void tap_close(struct hal_source *src)
{
    struct tap *t = (struct tap *)src;
    for (int i = POS; i <= PRINTER; i++)
        if (t->port[i].fd >= 0) {
            loop_del_fd(t->loop, t->port[i].fd);
            close(t->port[i].fd);
        }
    loop_del_timer(t->reopen);
    free(t);
}

static const struct hal_source_api tap_api = {.close = tap_close};

/* Two names for one device (a by-id link and its node) would make the tap its own loop. */
static int same_device(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISCHR(sa.st_mode) && S_ISCHR(sb.st_mode) &&
           sa.st_rdev == sb.st_rdev;
}

int tap_serial_open(const struct tap_serial_params *p, struct loop *loop, hal_event_fn emit,
                    void *ctx, struct hal_source **out, char *err, size_t errlen)
{
    *out = NULL;
    speed_t speed;
    enum flow flow;
    if (speed_of(p->baud, &speed) != 0) {
        snprintf(err, errlen,
                 "receipt_tap.baud: %u is not a standard rate (1200, 2400, 4800, 9600, 19200, "
                 "38400, 57600, 115200, 230400, 460800, 921600)",
                 p->baud);
        return -EINVAL;
    }
    if (flow_of(p->flow_control, &flow) != 0) {
        snprintf(err, errlen, "receipt_tap.flow_control: \"%.8s\" is not none, rtscts or xonxoff",
                 p->flow_control);
        return -EINVAL;
    }
    const char *paths[2] = {p->pos_port, p->printer_port};
    const char *keys[2] = {"receipt_tap.pos_port", "receipt_tap.printer_port"};
    for (int i = POS; i <= PRINTER; i++)
        if (!paths[i][0] || strnlen(paths[i], sizeof p->pos_port) == sizeof p->pos_port) {
            snprintf(err, errlen, "%s: missing or too long", keys[i]);
            return -EINVAL;
        }
    if (same_device(p->pos_port, p->printer_port)) {
        snprintf(err, errlen, "receipt_tap.printer_port: %s is the same device as pos_port %s",
                 p->printer_port, p->pos_port);
        return -EINVAL;
    }

    struct tap *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "receipt_tap: out of memory");
        return -ENOMEM;
    }
    t->src = (struct hal_source){
        .api = &tap_api, .role = HAL_ROLE_RECEIPT, .name = "receipt_tap", .emit = emit, .ctx = ctx};
    t->loop = loop;
    t->speed = speed;
    t->flow = flow;
    t->reopen_ms = p->reopen_ms ? p->reopen_ms : TAP_SERIAL_REOPEN_MS;
    t->reopen = loop_add_timer(loop, reopen_due, t);
    if (!t->reopen) {
        free(t);
        snprintf(err, errlen, "receipt_tap: out of memory");
        return -ENOMEM;
    }
    uint64_t now = loop_now_ms();
    for (int i = POS; i <= PRINTER; i++) {
        struct port *port = &t->port[i];
        port->tap = t;
        port->index = i;
        port->key = keys[i];
        port->fd = -1;
        port->down_since = now;
        snprintf(port->path, sizeof port->path, "%s", paths[i]);
    }
    for (int i = POS; i <= PRINTER; i++) {
        struct port *port = &t->port[i];
        char why[160];
        int fatal;
        int rc = port_open(t, i, why, sizeof why, &fatal);
        if (rc != 0 && fatal) {
            snprintf(err, errlen, "%s: %s: %s", keys[i], port->path, why);
            tap_close(&t->src);
            return rc;
        }
        if (rc != 0) {
            tap_log("warn", "%s %s: %s; trying again every %u ms", keys[i], port->path, why,
                    t->reopen_ms);
            port->last_err = rc;
            loop_timer_set(t->reopen, t->reopen_ms);
        }
    }
    update_events(t);
    *out = &t->src;
    return 0;
}

void tap_serial_get_stats(const struct hal_source *src, struct tap_serial_stats *out)
{
    const struct tap *t = (const struct tap *)src;
    *out = t->stats;
    out->pos_up = t->port[POS].fd >= 0;
    out->printer_up = t->port[PRINTER].fd >= 0;
}
