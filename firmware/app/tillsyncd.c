/*
 * tillsyncd: the daemon. One thread, one event loop (hal/loop.h) that every source registers with:
 *   the board's sources -> HAL events -> (by role) validation -> journal (synced) -> reply
 *   journal -> delivery (libcurl's sockets and timers on the same loop) -> backends
 *   control socket -> status
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "board/board.h"
#include "clock.h"
#include "clock_check.h"
#include "config.h"
#include "delivery.h"
#include "device_key.h"
#include "hal/loop.h"
#include "hal/source.h"
#include "journal.h"
#include "log.h"
#include "pos_intake.h"
#include "power_fail.h"
#include "receipt_store.h"
#include "receipt_tap.h"
#include "service_notify.h"

#define MAX_SOURCES 8

struct daemon {
    const char *config_path;
    struct config cfg;
    struct hal_flash *flash;
    struct journal journal;
    uint64_t journal_size; /* the device's, as opened: mtd's is not in the config */
    struct loop *loop;
    struct delivery *delivery;
    struct pos_intake intake;
    struct device_key key; /* intake seals under it, delivery opens with it (daemon_load_key) */
    struct power_fail power;
    struct receipt_tap *receipts; /* the printer line's reader, when the board has a tap */
    struct hal_source *sources[MAX_SOURCES];
    unsigned nsources;
    int signal_fd;
    struct loop_timer *watchdog; /* feeds the service manager's watchdog from the loop */
    uint64_t watchdog_ms;
    int running, reload_requested;
    int syslog; /* --syslog: stderr may go nowhere (an init script's start-stop-daemon) */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tillsyncd --config PATH [--syslog]\n"
               "       tillsyncd --help | --version\n"
               "Runs in the foreground until SIGTERM or SIGINT; SIGHUP reloads the configuration.\n"
               "--syslog: log to syslog (LOG_DAEMON) instead of stderr. See README.md.\n");
}

/* The till's clock as the servers and the POS's sale times show it: reported, never corrected. */
static void clock_status(struct daemon *d, cJSON *o)
{
    cJSON *c = cJSON_AddObjectToObject(o, "clock");
    int64_t skew;
    const char *from;
    if (delivery_server_skew(d->delivery, &skew, &from)) {
        cJSON_AddNumberToObject(c, "server_skew_s", (double)skew);
        cJSON_AddStringToObject(c, "measured_from", from);
    } else {
        cJSON_AddNullToObject(c, "server_skew_s");
        cJSON_AddNullToObject(c, "measured_from");
    }
    cJSON_AddNumberToObject(c, "implausible_sales", (double)d->intake.implausible_at);
    if (d->intake.implausible_at)
        cJSON_AddStringToObject(c, "last_implausible", d->intake.last_implausible);
    else
        cJSON_AddNullToObject(c, "last_implausible");
    cJSON_AddNumberToObject(c, "firmware_built_s", (double)clock_build_epoch());
}

static char *status_json(struct daemon *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "terminal_id", d->cfg.terminal_id);
    cJSON_AddStringToObject(o, "version", TILLSYNC_VERSION);
    cJSON_AddStringToObject(o, "board", board_name());
    cJSON *j = cJSON_AddObjectToObject(o, "journal");
    cJSON_AddNumberToObject(j, "size_bytes", (double)d->journal_size);
    cJSON_AddNumberToObject(j, "used_bytes", (double)journal_used_bytes(&d->journal));
    cJSON_AddNumberToObject(j, "corrupt_records", (double)d->journal.report.corrupt_records);
    cJSON_AddNumberToObject(j, "damaged_headers", d->journal.report.damaged_headers);
    cJSON_AddNumberToObject(j, "worn_blocks_skipped", d->journal.report.bad_blocks);
    cJSON *in = cJSON_AddObjectToObject(o, "intake");
    cJSON_AddNumberToObject(in, "accepted", (double)d->intake.accepted);
    cJSON_AddNumberToObject(in, "duplicates", (double)d->intake.duplicates);
    cJSON_AddNumberToObject(in, "rejected", (double)d->intake.rejected);
    cJSON_AddNumberToObject(in, "refused_retry", (double)d->intake.refused);
    power_fail_status(&d->power, o);
    char key_id[9];
    snprintf(key_id, sizeof key_id, "%08x", d->key.n ? d->key.ids[0] : 0);
    cJSON *k = cJSON_AddObjectToObject(o, "device_key"); /* its public name only */
    cJSON_AddStringToObject(k, "id", key_id);
    cJSON_AddNumberToObject(k, "keys", d->key.n);
    static const char *const roles[] = {"pos",        "control",     "receipt",
                                        "power_fail", "sale_signal", "network"};
    cJSON *srcs = cJSON_AddArrayToObject(o, "sources");
    for (unsigned i = 0; i < d->nsources; i++) {
        cJSON *so = cJSON_CreateObject();
        cJSON_AddStringToObject(so, "name", d->sources[i]->name);
        cJSON_AddStringToObject(so, "role", roles[d->sources[i]->role]);
        cJSON_AddItemToArray(srcs, so);
    }
    if (d->receipts) {
        struct receipt_tap_stats rs;
        receipt_tap_stats(d->receipts, &rs);
        cJSON *ro = cJSON_AddObjectToObject(o, "receipt_tap");
        cJSON_AddNumberToObject(ro, "bytes", (double)rs.bytes);
        cJSON_AddNumberToObject(ro, "receipts", (double)rs.receipts);
        cJSON_AddNumberToObject(ro, "sales", (double)rs.sales);
        cJSON_AddNumberToObject(ro, "unreadable", (double)rs.unreadable);
        cJSON_AddNumberToObject(ro, "ignored", (double)rs.ignored);
        cJSON_AddNumberToObject(ro, "unknown_commands", (double)rs.unknown_commands);
    }
    struct loop_stats ls;
    loop_get_stats(d->loop, &ls);
    cJSON *lo = cJSON_AddObjectToObject(o, "loop");
    cJSON_AddNumberToObject(lo, "descriptors", ls.fds);
    cJSON_AddNumberToObject(lo, "timers", ls.timers);
    cJSON_AddNumberToObject(lo, "turns", (double)ls.turns);
    cJSON *arr = cJSON_AddArrayToObject(o, "backends");
    uint64_t oldest = delivery_status(d->delivery, arr);
    uint64_t now = clock_wall_ms();
    cJSON_AddNumberToObject(o, "oldest_queued_age_s",
                            oldest && now > oldest ? (double)((now - oldest) / 1000) : 0);
    clock_status(d, o);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

#define DEAD_LIST_MAX 100

struct dead_list {
    unsigned n, more;
    uint64_t seq[DEAD_LIST_MAX];
    char reason[DEAD_LIST_MAX][160];
};

static int collect_dead(void *ctx, uint64_t seq, const char *reason)
{
    struct dead_list *l = ctx;
    if (l->n == DEAD_LIST_MAX) {
        l->more++;
        return 0;
    }
    l->seq[l->n] = seq;
    snprintf(l->reason[l->n++], sizeof l->reason[0], "%s", reason);
    return 0;
}

/* Dead letters per backend, oldest first: what a technician looks at before retrying them. */
static char *dead_letters_json(struct daemon *d)
{
    static struct dead_list l;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "backends");
    for (unsigned b = 0; b < d->cfg.nbackends; b++) {
        memset(&l, 0, sizeof l);
        journal_dead_letters(&d->journal, b, collect_dead, &l);
        cJSON *bo = cJSON_CreateObject();
        cJSON_AddStringToObject(bo, "name", d->cfg.backends[b].name);
        cJSON *list = cJSON_AddArrayToObject(bo, "dead_letters");
        static char txns[DEAD_LIST_MAX][JOURNAL_MAX_TXN + 1];
        journal_sale_txns(&d->journal, l.seq, l.n, txns);
        for (unsigned i = 0; i < l.n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "seq", (double)l.seq[i]);
            if (txns[i][0]) {
                char ref[128];
                snprintf(ref, sizeof ref, "%.32s:%.64s", d->cfg.terminal_id, txns[i]);
                cJSON_AddStringToObject(e, "ref", ref);
            } else {
                cJSON_AddNullToObject(e, "ref"); /* reclaimed: gone with its block */
            }
            cJSON_AddStringToObject(e, "reason", l.reason[i]);
            cJSON_AddItemToArray(list, e);
        }
        cJSON_AddNumberToObject(bo, "more", l.more);
        cJSON_AddItemToArray(arr, bo);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Sends a backend's dead letters again (up to DEAD_LIST_MAX at a time). */
static char *retry_dead(struct daemon *d, const char *backend)
{
    static struct dead_list l;
    char buf[160];
    unsigned b = 0;
    while (b < d->cfg.nbackends && strcmp(d->cfg.backends[b].name, backend) != 0)
        b++;
    if (b == d->cfg.nbackends) {
        snprintf(buf, sizeof buf, "{\"error\":\"no backend named %.64s\"}", backend);
        return strdup(buf);
    }
    memset(&l, 0, sizeof l);
    journal_dead_letters(&d->journal, b, collect_dead, &l);
    unsigned requeued = 0, gone = 0, failed = 0;
    uint64_t first = d->journal.next_seq;
    for (unsigned i = 0; i < l.n; i++) {
        int rc = journal_requeue(&d->journal, b, l.seq[i]);
        requeued += rc == 0;
        gone += rc == -ENOENT;
        failed += rc != 0 && rc != -ENOENT;
    }
    /* Every backend delivers the copies; the others may have the sale already. */
    delivery_copies_stored(d->delivery, first, d->journal.next_seq);
    log_info("%s: technician retry of dead letters: %u requeued, %u reclaimed, %u failed", backend,
             requeued, gone, failed);
    snprintf(buf, sizeof buf, "{\"requeued\":%u,\"reclaimed\":%u,\"failed\":%u,\"more\":%u}",
             requeued, gone, failed, l.more);
    return strdup(buf);
}

static char *control_reply(struct daemon *d, const char *request)
{
    if (!request)
        return strdup("{\"error\":\"request too long\"}");
    if (strcmp(request, "status") == 0)
        return status_json(d);
    if (strcmp(request, "dead-letters") == 0)
        return dead_letters_json(d);
    if (strncmp(request, "retry-dead ", 11) == 0)
        return retry_dead(d, request + 11);
    if (strcmp(request, "drain") == 0) {
        uint64_t queued;
        unsigned cut = delivery_drain_now(d->delivery, &queued);
        log_info("technician drain: %llu sales queued; %u backend(s) retrying now",
                 (unsigned long long)queued, cut);
        char buf[96];
        snprintf(buf, sizeof buf, "{\"ok\":true,\"queued\":%llu,\"retrying\":%u}",
                 (unsigned long long)queued, cut);
        return strdup(buf);
    }
    return strdup("{\"error\":\"unknown command\"}");
}

/*
 * A sale read from a printed receipt goes the socket's way (validation, journal), but no one is
 * there to retry it: one the journal cannot take now is kept with the unreadable receipts, where
 * the technician finds it, rather than dropped.
 */
static void on_receipt_sale(void *ctx, const char *line, size_t len)
{
    struct daemon *d = ctx;
    char *reply = NULL;
    enum pos_outcome out = pos_intake_sale(&d->intake, line, len, &reply);
    if (out == POS_REJECTED || out == POS_RETRY) {
        char err[256];
        log_warn("receipt_tap: a receipt's sale was not stored: %s", reply ? reply : "no memory");
        const struct receipt_conf *rc = &d->cfg.receipt;
        if (rc->unreadable_dir[0] &&
            receipt_store_put(rc->unreadable_dir, rc->unreadable_max, clock_wall_ms(),
                              reply ? reply : "not stored", 0, line, len, err, sizeof err) != 0)
            log_error("receipt_tap: could not keep it either: %s", err);
    }
    free(reply);
}

static void on_receipt_unreadable(void *ctx, const char *text, const char *why)
{
    (void)ctx, (void)text;
    log_warn("receipt_tap: a receipt could not be read (%s); kept for the technician", why);
}

/* Every source's events, by what the board says the source is for. */
static void on_event(void *ctx, const struct hal_event *ev)
{
    struct daemon *d = ctx;
    switch (ev->src->role) {
    case HAL_ROLE_POS:
        pos_intake_on_request(&d->intake, ev);
        break;
    case HAL_ROLE_CONTROL: {
        char *line = control_reply(d, ev->data);
        if (line && ev->reply)
            ev->reply->api->send(ev->reply, ev->conn, line, strlen(line));
        free(line);
        break;
    }
    case HAL_ROLE_NETWORK:
        log_info("network change: retrying uploads now");
        delivery_wake(d->delivery);
        break;
    case HAL_ROLE_POWER_FAIL:
    case HAL_ROLE_SALE_SIGNAL:
        power_fail_on_event(&d->power, ev);
        break;
    case HAL_ROLE_RECEIPT:
        if (ev->kind == HAL_EVENT_PRINT_DATA && d->receipts)
            receipt_tap_feed(d->receipts, (const uint8_t *)ev->data, ev->len, clock_wall_ms(),
                             on_receipt_sale, on_receipt_unreadable, d);
        break;
    }
}

/*
 * (Re)reads the device key file into d->key, which intake and delivery point at. create: a
 * missing file is made (first start). On failure d->key is left as it was and err says why (the
 * file's mode and how to fix it, or its shape; never a byte of the key). A reload keeps the
 * running key when the new file is refused, and takes a rotation (a new first line) at once.
 */
static int daemon_load_key(struct daemon *d, const char *path, int create, char *err, size_t errlen)
{
    struct device_key k;
    int rc = device_key_load(path, create, &k, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 1)
        log_info("device key created (id %08x) in %s", k.ids[0], path);
    else if (!d->key.n || d->key.ids[0] != k.ids[0] || d->key.n != k.n)
        log_info("device key %08x loaded (%u key(s): the first seals, every one opens)", k.ids[0],
                 k.n);
    d->key = k;
    device_key_clear(&k);
    return rc;
}

static void on_signal(void *ctx, int fd, unsigned events)
{
    struct daemon *d = ctx;
    struct signalfd_siginfo si;
    (void)events;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            d->reload_requested = 1; /* done between turns, outside every callback */
        } else {
            log_info("signal %u: stopping", si.ssi_signo);
            d->running = 0;
        }
    }
}

static int open_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Fed from a loop timer, so a loop that stops turning stops feeding it and is killed. */
static void on_watchdog(void *ctx)
{
    struct daemon *d = ctx;
    service_notify("WATCHDOG=1");
    loop_timer_set(d->watchdog, d->watchdog_ms / 2);
}

static int mount_journal(struct daemon *d, char *err, size_t errlen)
{
    uint32_t ids[CONFIG_MAX_BACKENDS];
    for (unsigned i = 0; i < d->cfg.nbackends; i++)
        ids[i] = journal_backend_id(d->cfg.backends[i].name);
    if (journal_mount(&d->journal, d->flash, ids, d->cfg.nbackends, err, errlen) != 0)
        return -1;
    const struct journal_report *r = &d->journal.report;
    log_info("journal mounted: next sale #%llu, %u of %u blocks in use, %llu bytes read, "
             "%llu corrupt records and %llu torn appends in the head, %u damaged block headers",
             (unsigned long long)d->journal.next_seq, d->journal.used, r->blocks,
             (unsigned long long)r->mount_bytes_read, (unsigned long long)r->corrupt_records,
             (unsigned long long)r->torn_tail, r->damaged_headers);
    return 0;
}

static int start_delivery(struct daemon *d, char *err, size_t errlen)
{
    d->delivery = delivery_new(d->cfg.terminal_id, d->cfg.backends, d->cfg.nbackends, &d->journal,
                               d->loop, err, errlen);
    d->power.delivery = d->delivery;
    if (d->delivery)
        delivery_set_key(d->delivery, &d->key);
    return d->delivery ? 0 : -1;
}

/* Returns the exit status to stop with, or 0 when the daemon runs. */
static int daemon_start(struct daemon *d)
{
    char err[512];
    /* Blocked from the first moment: a SIGHUP or SIGTERM during the mount waits for the loop
     * instead of killing the process half-started. */
    d->signal_fd = open_signals();
    if (config_load(d->config_path, &d->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncd: %s\n", err);
        if (d->syslog)
            log_error("%s", err);
        return 2;
    }
    struct board_flash_params fp = {d->cfg.journal_driver,    d->cfg.journal_path,
                                    d->cfg.journal_size,      d->cfg.journal_erase_size,
                                    d->cfg.journal_prog_size, 0};
    if (board_flash_open(&fp, &d->flash, err, sizeof err) != 0) {
        log_error("journal: %s", err);
        return 1;
    }
    d->journal_size = d->flash->geo.size;
    if (mount_journal(d, err, sizeof err) != 0) {
        log_error("journal: %s", err);
        return 1;
    }
    int created = daemon_load_key(d, d->cfg.device_key_file, 1, err, sizeof err);
    if (created < 0) {
        log_error("device_key_file: %s", err);
        return 1;
    }
    if (created && !d->journal.empty)
        log_warn("device key: there was none, so one was made, but the journal is not new: a "
                 "sale sealed under a missing key is dead-lettered, not sent (tillsyncctl verify "
                 "names the key it needs)");
    if (d->journal.max_body < JOURNAL_MAX_BODY)
        log_warn("journal: its blocks (%u bytes, written by firmware before format 3) hold sales "
                 "up to %u bytes normalised; a larger sale is refused. Drain it, then recreate "
                 "it at a size of at least 4 blocks of 128 KiB",
                 d->journal.block_size, d->journal.max_body);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(d->loop = loop_new())) {
        log_error("event loop: %s", strerror(errno));
        return 1;
    }
    d->intake = (struct pos_intake){
        .terminal_id = d->cfg.terminal_id, .journal = &d->journal, .key = &d->key};
    d->power = (struct power_fail){.intake = &d->intake,
                                   .journal = &d->journal,
                                   .budget_ms = d->cfg.power_fail_budget_ms,
                                   .has_power_line = d->cfg.sources.has_power_fail,
                                   .has_signal_line = d->cfg.sources.has_sale_signal};
    if (start_delivery(d, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (d->signal_fd < 0 || loop_add_fd(d->loop, d->signal_fd, LOOP_IN, on_signal, d) != 0) {
        log_error("signals: %s", strerror(errno));
        return 1;
    }
    if (d->cfg.sources.has_tap &&
        !(d->receipts = receipt_tap_new(&d->cfg.receipt, err, sizeof err))) {
        log_error("intake.receipt_tap: %s", err);
        return 1;
    }
    if (board_sources_open(&d->cfg.sources, d->loop, on_event, d, d->sources, MAX_SOURCES,
                           &d->nsources, err, sizeof err) != 0) {
        log_error("%s", err); /* nothing of ours is left behind for the next start */
        return 1;
    }
    int have_network = 0;
    for (unsigned i = 0; i < d->nsources; i++) {
        have_network |= d->sources[i]->role == HAL_ROLE_NETWORK;
        if (d->sources[i]->role != HAL_ROLE_CONTROL && d->sources[i]->role != HAL_ROLE_POS)
            log_info("source %s open", d->sources[i]->name);
    }
    if (!have_network)
        log_warn("no netlink events: connectivity return is noticed by backoff alone");
    if ((d->watchdog_ms = service_watchdog_ms()) != 0) {
        if (!(d->watchdog = loop_add_timer(d->loop, on_watchdog, d))) {
            log_error("watchdog timer: out of memory");
            return 1;
        }
        loop_timer_set(d->watchdog, 0);
    }
    log_info("ready: terminal %s, board %s, %u backend(s), POS socket %s", d->cfg.terminal_id,
             board_name(), d->cfg.nbackends, d->cfg.sources.pos_socket);
    /* Only now: the journal is mounted and every socket listens, so a client started after us
     * (systemd's After=) finds them. */
    service_notifyf("READY=1\nMAINPID=%ld\nSTATUS=ready: %u backend(s)", (long)getpid(),
                    d->cfg.nbackends);
    return 0;
}

/* What a reload cannot change in place: the sockets and journal are open, and the terminal id
 * is part of every stored sale's reference. Each changed part is named and the running one kept
 * until a restart. */
static void restart_required(const char *what)
{
    log_warn("reload: %s changed: restart required; the running one is kept", what);
}

static void keep_restart_only(const struct config *cur, struct config *next)
{
    if (strcmp(cur->terminal_id, next->terminal_id) != 0)
        restart_required("terminal_id");
    memcpy(next->terminal_id, cur->terminal_id, sizeof next->terminal_id);
    if (strcmp(cur->journal_driver, next->journal_driver) != 0 ||
        strcmp(cur->journal_path, next->journal_path) != 0 ||
        cur->journal_size != next->journal_size ||
        cur->journal_erase_size != next->journal_erase_size ||
        cur->journal_prog_size != next->journal_prog_size)
        restart_required("journal");
    memcpy(next->journal_driver, cur->journal_driver, sizeof next->journal_driver);
    memcpy(next->journal_path, cur->journal_path, sizeof next->journal_path);
    next->journal_size = cur->journal_size;
    next->journal_erase_size = cur->journal_erase_size;
    next->journal_prog_size = cur->journal_prog_size;
    if (memcmp(&cur->sources, &next->sources, sizeof next->sources) != 0 ||
        memcmp(&cur->receipt, &next->receipt, sizeof next->receipt) != 0 ||
        cur->power_fail_budget_ms != next->power_fail_budget_ms)
        restart_required("intake or control_socket");
    next->sources = cur->sources;
    next->receipt = cur->receipt;
    next->power_fail_budget_ms = cur->power_fail_budget_ms;
}

/* Logs each backend added, removed or changed (by name: never a key); returns how many. */
static unsigned backends_changed(const struct config *cur, const struct config *next)
{
    unsigned n = 0;
    for (unsigned i = 0; i < next->nbackends; i++) {
        const struct backend_config *nb = &next->backends[i];
        unsigned k = 0;
        while (k < cur->nbackends && strcmp(cur->backends[k].name, nb->name) != 0)
            k++;
        if (k == cur->nbackends) {
            log_info("reload: backend %s added (%s)", nb->name, nb->kind);
            n++;
        } else if (memcmp(&cur->backends[k], nb, sizeof *nb) != 0 || k != i) {
            log_info("reload: backend %s changed", nb->name);
            n++;
        }
    }
    for (unsigned k = 0; k < cur->nbackends; k++) {
        unsigned i = 0;
        while (i < next->nbackends && strcmp(cur->backends[k].name, next->backends[i].name) != 0)
            i++;
        if (i == next->nbackends) {
            log_info("reload: backend %s removed", cur->backends[k].name);
            n++;
        }
    }
    return n;
}

/*
 * The device key is read again (a rotation, a new first line, takes effect without a restart):
 * intake and delivery point at d->key. A file refused now (its mode, its shape) refuses the
 * whole reload, keeping the running key and configuration.
 */
static int reload_device_key(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
    return daemon_load_key(d, next->device_key_file, 0, err, errlen) < 0 ? -1 : 0;
}

/*
 * The journal's backend list is fixed at mount, so new backends mean a new mount: marks written,
 * journal synced, unmounted, mounted again with the new ids (mount reads the headers and OPEN
 * records: milliseconds), delivery rebuilt. Uploads in flight are abandoned and sent again later
 * under the same reference. Nothing here reads a socket: sales arriving meanwhile wait in it.
 */
static int rebuild_delivery(struct daemon *d, const struct config *next)
{
    static struct config old;
    char err[512];
    if (delivery_flush(d->delivery) != 0)
        log_warn("reload: delivery marks could not all be written; those sales go out again");
    journal_sync(&d->journal);
    delivery_free(d->delivery);
    d->delivery = d->power.delivery = NULL;
    journal_unmount(&d->journal);
    old = d->cfg;
    d->cfg = *next;
    if (mount_journal(d, err, sizeof err) == 0 && start_delivery(d, err, sizeof err) == 0) {
        memset(&old, 0, sizeof old); /* it held the old keys */
        return 0;
    }
    log_error("reload: %s; going back to the running configuration", err);
    if (d->delivery) {
        delivery_free(d->delivery);
        d->delivery = d->power.delivery = NULL;
    }
    journal_unmount(&d->journal);
    d->cfg = old;
    int rc = mount_journal(d, err, sizeof err) == 0 && start_delivery(d, err, sizeof err) == 0;
    memset(&old, 0, sizeof old);
    if (rc)
        return -1;
    log_error("reload: %s; stopping (the service manager restarts the daemon)", err);
    return -2;
}

/* SIGHUP: a new configuration, checked in full before anything running is touched. Returns 0,
 * or 1 when the daemon cannot go on (the exit status). */
static int daemon_reload(struct daemon *d)
{
    static struct config next;
    char err[512];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    service_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                    (unsigned long long)ts.tv_sec * 1000000ull +
                        (unsigned long long)ts.tv_nsec / 1000);
    log_info("reload: reading %s", d->config_path);
    int rc = 0;
    if (config_load(d->config_path, &next, err, sizeof err) != 0) {
        log_error("reload: %s; the running configuration is kept", err);
    } else if (reload_device_key(d, &next, err, sizeof err) != 0) {
        log_error("reload: %s; the running configuration is kept", err);
    } else {
        keep_restart_only(&d->cfg, &next);
        int r = 0, changed = backends_changed(&d->cfg, &next) != 0;
        if (!changed)
            d->cfg = next; /* what is left is the same, or adopted as is */
        else
            r = rebuild_delivery(d, &next);
        /* The time sales waited in their sockets. */
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        double ms =
            (double)(end.tv_sec - ts.tv_sec) * 1e3 + (double)(end.tv_nsec - ts.tv_nsec) / 1e6;
        if (r == 0)
            log_info("reload: done in %.1f ms, %u backend(s)%s", ms, d->cfg.nbackends,
                     changed ? ", journal mounted again, delivery rebuilt" : ", unchanged");
        rc = r == -2;
    }
    memset(&next, 0, sizeof next);
    service_notifyf("READY=1\nSTATUS=ready: %u backend(s)", d->cfg.nbackends);
    return rc;
}

/* Every acknowledged sale is already synced; what is left is progress worth keeping. */
static void daemon_stop(struct daemon *d)
{
    service_notify("STOPPING=1\nSTATUS=stopping");
    while (d->nsources)
        hal_source_close(d->sources[--d->nsources]);
    if (d->watchdog)
        loop_del_timer(d->watchdog);
    if (d->signal_fd >= 0 && d->loop) {
        loop_del_fd(d->loop, d->signal_fd);
        close(d->signal_fd);
    }
    if (d->delivery) {
        delivery_flush(d->delivery);
        journal_sync(&d->journal);
        delivery_free(d->delivery);
    }
    receipt_tap_free(d->receipts);
    if (d->loop)
        loop_free(d->loop);
    journal_unmount(&d->journal);
    if (d->flash)
        hal_flash_close(d->flash);
    curl_global_cleanup();
    device_key_clear(&d->key);
}

int main(int argc, char **argv)
{
    static struct daemon d = {.signal_fd = -1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tillsyncd %s (board %s)\n", TILLSYNC_VERSION, board_name());
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            d.config_path = argv[++i];
        } else if (strcmp(argv[i], "--syslog") == 0) {
            log_to_syslog("tillsyncd");
            d.syslog = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!d.config_path) {
        usage(stderr);
        return 2;
    }
    int rc = daemon_start(&d);
    if (rc != 0)
        return rc; /* as before: what start opened goes with the process */

    /* After every turn, as Redis's beforeSleep: a sale just stored may start an upload. */
    for (d.running = 1; d.running;) {
        loop_run_once(d.loop, -1);
        if (d.reload_requested) {
            d.reload_requested = 0;
            if ((rc = daemon_reload(&d)) != 0)
                break;
        }
        delivery_run(d.delivery);
    }
    daemon_stop(&d);
    log_info(rc ? "stopped after a failed reload" : "stopped");
    return rc;
}
