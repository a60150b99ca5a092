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
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "board/board.h"
#include "clock.h"
#include "clock_check.h"
#include "config.h"
#include "delivery.h"
#include "hal/loop.h"
#include "hal/source.h"
#include "journal.h"
#include "log.h"
#include "pos_intake.h"
#include "power_fail.h"
#include "receipt_store.h"
#include "receipt_tap.h"

#define MAX_SOURCES 8

struct daemon {
    struct config cfg;
    struct journal journal;
    uint64_t journal_size; /* the device's, as opened: mtd's is not in the config */
    struct loop *loop;
    struct delivery *delivery;
    struct pos_intake intake;
    struct power_fail power;
    struct receipt_tap *receipts; /* the printer line's reader, when the board has a tap */
    struct hal_source *sources[MAX_SOURCES];
    unsigned nsources;
    int running;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tillsyncd --config PATH\n"
               "       tillsyncd --help | --version\n"
               "Runs in the foreground until SIGTERM or SIGINT. See README.md.\n");
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

static void on_signal(void *ctx, int fd, unsigned events)
{
    struct daemon *d = ctx;
    struct signalfd_siginfo si;
    (void)events;
    if (read(fd, &si, sizeof si) > 0)
        log_info("signal %u: stopping", si.ssi_signo);
    d->running = 0;
}

static int open_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tillsyncd %s (board %s)\n", TILLSYNC_VERSION, board_name());
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }

    static struct daemon d;
    char err[512];
    if (config_load(config_path, &d.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncd: %s\n", err);
        return 2;
    }
    struct board_flash_params fp = {d.cfg.journal_driver,    d.cfg.journal_path,
                                    d.cfg.journal_size,      d.cfg.journal_erase_size,
                                    d.cfg.journal_prog_size, 0};
    struct hal_flash *flash = NULL;
    if (board_flash_open(&fp, &flash, err, sizeof err) != 0) {
        log_error("journal: %s", err);
        return 1;
    }
    d.journal_size = flash->geo.size;
    uint32_t ids[CONFIG_MAX_BACKENDS];
    for (unsigned i = 0; i < d.cfg.nbackends; i++)
        ids[i] = journal_backend_id(d.cfg.backends[i].name);
    if (journal_mount(&d.journal, flash, ids, d.cfg.nbackends, err, sizeof err) != 0) {
        log_error("journal: %s", err);
        return 1;
    }
    const struct journal_report *r = &d.journal.report;
    log_info("journal mounted: next sale #%llu, %u of %u blocks in use, %llu bytes read, "
             "%llu corrupt records and %llu torn appends in the head, %u damaged block headers",
             (unsigned long long)d.journal.next_seq, d.journal.used, r->blocks,
             (unsigned long long)r->mount_bytes_read, (unsigned long long)r->corrupt_records,
             (unsigned long long)r->torn_tail, r->damaged_headers);
    if (d.journal.max_body < JOURNAL_MAX_BODY)
        log_warn("journal: its blocks (%u bytes, written by firmware before format 3) hold sales "
                 "up to %u bytes normalised; a larger sale is refused. Drain it, then recreate "
                 "it at a size of at least 4 blocks of 128 KiB",
                 d.journal.block_size, d.journal.max_body);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(d.loop = loop_new())) {
        log_error("event loop: %s", strerror(errno));
        return 1;
    }
    d.delivery = delivery_new(d.cfg.terminal_id, d.cfg.backends, d.cfg.nbackends, &d.journal,
                              d.loop, err, sizeof err);
    if (!d.delivery) {
        log_error("%s", err);
        return 1;
    }
    d.intake = (struct pos_intake){.terminal_id = d.cfg.terminal_id, .journal = &d.journal};
    d.power = (struct power_fail){.intake = &d.intake,
                                  .delivery = d.delivery,
                                  .journal = &d.journal,
                                  .budget_ms = d.cfg.power_fail_budget_ms,
                                  .has_power_line = d.cfg.sources.has_power_fail,
                                  .has_signal_line = d.cfg.sources.has_sale_signal};
    int sfd = open_signals();
    if (sfd < 0 || loop_add_fd(d.loop, sfd, LOOP_IN, on_signal, &d) != 0) {
        log_error("signals: %s", strerror(errno));
        return 1;
    }
    if (d.cfg.sources.has_tap && !(d.receipts = receipt_tap_new(&d.cfg.receipt, err, sizeof err))) {
        log_error("intake.receipt_tap: %s", err);
        return 1;
    }
    if (board_sources_open(&d.cfg.sources, d.loop, on_event, &d, d.sources, MAX_SOURCES,
                           &d.nsources, err, sizeof err) != 0) {
        log_error("%s", err); /* nothing of ours is left behind for the next start */
        return 1;
    }
    int have_network = 0;
    for (unsigned i = 0; i < d.nsources; i++) {
        have_network |= d.sources[i]->role == HAL_ROLE_NETWORK;
        if (d.sources[i]->role != HAL_ROLE_CONTROL && d.sources[i]->role != HAL_ROLE_POS)
            log_info("source %s open", d.sources[i]->name);
    }
    if (!have_network)
        log_warn("no netlink events: connectivity return is noticed by backoff alone");
    log_info("ready: terminal %s, board %s, %u backend(s), POS socket %s", d.cfg.terminal_id,
             board_name(), d.cfg.nbackends, d.cfg.sources.pos_socket);

    /* After every turn, as Redis's beforeSleep: a sale just stored may start an upload. */
    for (d.running = 1; d.running;) {
        loop_run_once(d.loop, -1);
        delivery_run(d.delivery);
    }

    /* Every acknowledged sale is already synced; what is left is progress worth keeping. */
    while (d.nsources)
        hal_source_close(d.sources[--d.nsources]);
    loop_del_fd(d.loop, sfd);
    close(sfd);
    delivery_flush(d.delivery);
    journal_sync(&d.journal);
    delivery_free(d.delivery);
    receipt_tap_free(d.receipts);
    loop_free(d.loop);
    journal_unmount(&d.journal);
    hal_flash_close(flash);
    curl_global_cleanup();
    log_info("stopped");
    return 0;
}
