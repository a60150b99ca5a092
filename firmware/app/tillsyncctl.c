/*
 * tillsyncctl: the technician's tool. Talks to the running daemon over its control socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <stdint.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "board/board.h"
#include "config.h"
#include "journal.h"
#include "tillsync/client.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tillsyncctl --config PATH status [--json]\n"
            "       tillsyncctl --config PATH verify\n"
            "       tillsyncctl --config PATH dead-letters\n"
            "       tillsyncctl --config PATH retry-dead BACKEND\n"
            "       tillsyncctl --config PATH sale [JSON|-]\n"
            "       tillsyncctl --help | --version\n"
            "\n"
            "  status   what the running daemon holds and where delivery stands\n"
            "  verify   read the journal offline (daemon stopped): records by state, corruption,\n"
            "           free space, wear per block. Exit 0 healthy, 1 not, 2 cannot check\n"
            "  dead-letters  sales a backend refused for good, with the server's reason\n"
            "  retry-dead    send a backend's dead letters again (same references)\n"
            "  sale     send one sale (a JSON object: the argument, or stdin) to the POS socket,\n"
            "           print its ref. Exit 0 stored, 1 rejected (stderr names the field),\n"
            "           75 not stored for now: send it again later with the same txn\n");
}

/* Reads only a socket's path (section NULL: a top-level key): a technician may check status, and
 * a shell integration send a sale, without the daemon's secrets. */
static int socket_path(const char *config_path, const char *section, const char *key, char *out,
                       size_t cap)
{
    FILE *f = fopen(config_path, "r");
    if (!f) {
        fprintf(stderr, "tillsyncctl: cannot open %s: %s\n", config_path, strerror(errno));
        return -1;
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        section ? cJSON_GetObjectItemCaseSensitive(root, section) : root, key);
    int ok = cJSON_IsString(v) && strlen(v->valuestring) < cap;
    if (ok)
        strcpy(out, v->valuestring);
    else
        fprintf(stderr, "tillsyncctl: %s: %s%s%s: missing\n", config_path, section ? section : "",
                section ? "." : "", key);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

#define ASK_TIMEOUT_S 10

static char *ask(const char *path, const char *request)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A stopped or wedged daemon must not hang the technician's tool: connect (a full backlog),
     * send and every read give up after ASK_TIMEOUT_S. */
    struct timeval tv = {.tv_sec = ASK_TIMEOUT_S};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EAGAIN)
            fprintf(stderr,
                    "tillsyncctl: no answer from the daemon at %s within %d s: it is not "
                    "accepting connections (stopped or overloaded?)\n",
                    path, ASK_TIMEOUT_S);
        else
            fprintf(stderr, "tillsyncctl: daemon not reachable at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    /* MSG_NOSIGNAL: a daemon that closed first is reported, not a silent death by SIGPIPE. */
    char line[160];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "tillsyncctl: daemon at %s closed the connection: %s\n", path,
                strerror(errno));
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tillsyncctl: no answer from the daemon at %s within %d s%s\n", path,
                    ASK_TIMEOUT_S, errno == EAGAIN ? " (stopped or overloaded?)" : "");
            free(buf);
            buf = NULL;
            break;
        }
        len += (size_t)r;
        if (len == cap - 1) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* One sale through libtillsync, as a POS application would send it. */
static int sale(const char *config_path, const char *json)
{
    char path[108];
    if (socket_path(config_path, "intake", "pos_socket", path, sizeof path) != 0)
        return 2;
    static char text[2 * 65536];
    if (!json || strcmp(json, "-") == 0) {
        size_t n = fread(text, 1, sizeof text - 1, stdin);
        if (!feof(stdin)) {
            fprintf(stderr, "tillsyncctl: request: stdin holds more than one sale can\n");
            return 1;
        }
        text[n] = '\0';
        json = text;
    }
    struct tillsync_client *c = tillsync_open(path, NULL);
    if (!c) {
        fprintf(stderr, "tillsyncctl: %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct tillsync_result res;
    enum tillsync_outcome o = tillsync_sale_completed_json(c, json, &res);
    tillsync_close(c);
    if (o == TILLSYNC_STORED) {
        printf("%s\n", res.ref);
        if (res.duplicate)
            fprintf(stderr, "tillsyncctl: stored before (a duplicate); nothing new stored\n");
        return 0;
    }
    fprintf(stderr, "tillsyncctl: %s: %s\n", o == TILLSYNC_RETRY ? "not stored" : "rejected",
            res.error);
    return o == TILLSYNC_RETRY ? EX_TEMPFAIL : 1;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_human(const cJSON *s)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, "journal");
    printf("terminal   %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(s, "terminal_id")));
    printf("journal    %.0f of %.0f bytes used\n", num(j, "used_bytes"), num(j, "size_bytes"));
    printf("oldest     %.0f s queued\n", num(s, "oldest_queued_age_s"));
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(s, "backends"))
    {
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(b, "last_error"));
        printf("backend    %s: %.0f queued, %.0f in flight, %.0f delivered, %.0f dead-lettered, "
               "next attempt in %.0f s%s%s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")), num(b, "queued"),
               num(b, "in_flight"), num(b, "delivered"), num(b, "dead_letter"),
               num(b, "next_attempt_in_s"), err ? ", last error: " : "", err ? err : "");
    }
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(s, "power_fail");
    if (pf) {
        printf("power      %s, %.0f power-fail edges",
               cJSON_IsTrue(cJSON_GetObjectItem(pf, "failing")) ? "FAILING (intake stopped)" : "ok",
               num(pf, "edges"));
        if (num(pf, "edges"))
            printf(", last synced in %.2f ms, max %.2f ms (budget %.0f ms)", num(pf, "last_ms"),
                   num(pf, "max_ms"), num(pf, "budget_ms"));
        printf("\n");
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "intake");
    if (cJSON_GetObjectItemCaseSensitive(in, "sale_signals"))
        printf("signals    %.0f sale signals for %.0f sales accepted: %.0f sales without a signal, "
               "%.0f signals without a sale\n",
               num(in, "sale_signals"), num(in, "accepted"), num(in, "sales_without_signal"),
               num(in, "signals_without_sale"));
}

static const char *const block_states[] = {"in use", "free", "erased", "unreadable header",
                                           "in use, bad header"};

/* Reads the journal without writing a byte: the image is opened read-only. */
static int verify(const char *config_path)
{
    static struct config cfg;
    static struct journal j;
    char err[512];
    if (config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncctl: %s\n", err);
        return 2;
    }
    /* Opened read-only under a shared lock: the running daemon's exclusive one refuses it. */
    struct board_flash_params fp = {cfg.journal_driver,     cfg.journal_path,      cfg.journal_size,
                                    cfg.journal_erase_size, cfg.journal_prog_size, 1};
    struct hal_flash *flash = NULL;
    int rc = board_flash_open(&fp, &flash, err, sizeof err);
    if (rc == -EBUSY) {
        fprintf(stderr,
                "tillsyncctl: journal: %s: tillsyncd is running; stop it first (verify "
                "reads the journal offline, as the daemon left it)\n",
                err);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "tillsyncctl: journal: %s\n", err);
        return 2;
    }
    uint32_t ids[CONFIG_MAX_BACKENDS];
    for (unsigned i = 0; i < cfg.nbackends; i++)
        ids[i] = journal_backend_id(cfg.backends[i].name);
    if (journal_mount(&j, flash, ids, cfg.nbackends, err, sizeof err) != 0) {
        printf("verdict   NOT HEALTHY: %s\n", err);
        hal_flash_close(flash);
        return 1;
    }
    uint64_t mount_read = j.report.mount_bytes_read;
    if (journal_check(&j) != 0) {
        printf("verdict   NOT HEALTHY: flash read failed while checking the journal\n");
        journal_unmount(&j);
        hal_flash_close(flash);
        return 1;
    }
    const struct journal_report *r = &j.report;
    printf("journal   %s: %u blocks of %u bytes (%u erase block(s) each), program unit %u\n",
           cfg.journal_path, j.nblocks, j.block_size, j.block_size / j.erase_size, j.prog_size);
    uint32_t fresh = journal_default_block_size(&flash->geo);
    if (j.max_body < JOURNAL_MAX_BODY && fresh > j.block_size)
        printf("limit     a sale longer than %u bytes normalised may be refused: firmware before "
               "format 3 made these blocks; once everything is delivered, erase the journal and "
               "the daemon starts it again with blocks of %u bytes, which hold any valid sale\n",
               j.max_body, fresh);
    else if (j.max_body < JOURNAL_MAX_BODY)
        printf("limit     a sale longer than %u bytes normalised may be refused: journal.size "
               "holds fewer than 4 blocks of %u bytes, which would hold any valid sale\n",
               j.max_body,
               journal_default_block_size(&(struct hal_flash_geometry){
                   UINT64_MAX, flash->geo.erase_size, flash->geo.prog_size}));
    printf("records   %llu sales, %llu delivery marks, %llu corrupt, %llu torn appends "
           "(cut by power loss, never acknowledged)\n",
           (unsigned long long)r->sales, (unsigned long long)r->marks,
           (unsigned long long)r->corrupt_records, (unsigned long long)r->torn_tail);
    printf("space     %llu of %llu bytes used, %u of %u blocks in use\n",
           (unsigned long long)journal_used_bytes(&j), (unsigned long long)flash->geo.size, j.used,
           j.nblocks);
    printf("mount     reads %llu bytes (block headers, the head block, OPEN records)\n",
           (unsigned long long)mount_read);
    for (unsigned i = 0; i < cfg.nbackends; i++)
        printf("backend   %s: %llu queued, %llu delivered, %llu dead-lettered\n",
               cfg.backends[i].name, (unsigned long long)j.backends[i].queued,
               (unsigned long long)j.backends[i].delivered_total,
               (unsigned long long)j.backends[i].dead_total);
    uint32_t min = UINT32_MAX, max = 0, known = 0;
    uint64_t sum = 0;
    unsigned unreadable = 0;
    for (uint32_t b = 0; b < j.nblocks; b++) {
        uint32_t ec;
        enum journal_block_state st = journal_block_info(&j, b, &ec);
        int lost = ec == JOURNAL_ERASES_UNKNOWN;
        char count[32];
        snprintf(count, sizeof count, lost ? "unknown" : "%u", ec);
        printf("block     %4u: %-18s erase count %s%s%s\n", b, block_states[st], count,
               b == j.head && !j.empty ? " (head)" : "", b == j.tail && !j.empty ? " (tail)" : "");
        unreadable += st == JOURNAL_BLOCK_UNREADABLE;
        if (lost)
            continue; /* its count went with its header: left out of the wear figures */
        known++;
        min = ec < min ? ec : min;
        max = ec > max ? ec : max;
        sum += ec;
    }
    if (known)
        printf("wear      erase counts: min %u, max %u, mean %.2f (over the %u blocks whose count "
               "is known)\n",
               min, max, (double)sum / known, known);
    /* A power cut interrupts one erase at most, that of the block opened next; any other
     * header that is neither valid nor erased is damage, or not a journal at all. */
    uint32_t next_open = j.empty ? 0 : (j.head + 1) % j.nblocks;
    int stray = unreadable > 1 ||
                (unreadable == 1 &&
                 journal_block_info(&j, next_open, &(uint32_t){0}) != JOURNAL_BLOCK_UNREADABLE);
    int healthy = r->corrupt_records == 0 && r->damaged_headers == 0 && !stray;
    if (r->damaged_headers)
        printf("damage    %u block header(s) inside the journal are damaged: failing their CRC (a "
               "bit flip; the block's records were still read) or left from an older lap by a "
               "worn block the journal passes over\n",
               r->damaged_headers);
    if (stray)
        printf("damage    %u block(s) outside the journal hold a header that is neither valid nor "
               "erased%s: more than a power cut leaves (it interrupts one erase, of block %u); "
               "worn flash, a stray write, or not a journal\n",
               unreadable, unreadable == 1 ? ", not the block opened next" : "", next_open);
    printf("verdict   %s\n", healthy ? "healthy" : "NOT HEALTHY: corruption found");
    if (unreadable && !stray)
        printf("note      block %u has an unreadable header: an erase cut by power loss; it is "
               "erased again before reuse\n",
               next_open);
    journal_unmount(&j);
    hal_flash_close(flash);
    return healthy ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *cmd = NULL, *arg = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tillsyncctl %s\n", TILLSYNC_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (!cmd) {
            cmd = argv[i];
        } else if (!arg) {
            arg = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (config_path && cmd && strcmp(cmd, "verify") == 0)
        return verify(config_path);
    if (config_path && cmd && strcmp(cmd, "sale") == 0)
        return sale(config_path, arg);
    char request[128];
    if (config_path && cmd && strcmp(cmd, "status") == 0 && !arg)
        snprintf(request, sizeof request, "status");
    else if (config_path && cmd && strcmp(cmd, "dead-letters") == 0 && !arg)
        snprintf(request, sizeof request, "dead-letters");
    else if (config_path && cmd && strcmp(cmd, "retry-dead") == 0 && arg && strlen(arg) < 64)
        snprintf(request, sizeof request, "retry-dead %s", arg);
    else {
        usage(stderr);
        return 2;
    }
    char path[108];
    if (socket_path(config_path, NULL, "control_socket", path, sizeof path) != 0)
        return 2;
    char *reply = ask(path, request);
    if (!reply)
        return 1;
    cJSON *s = cJSON_Parse(reply);
    if (!s) {
        fprintf(stderr, "tillsyncctl: unreadable answer from the daemon\n");
        free(reply);
        return 1;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(s, "error");
    if (cJSON_IsString(error)) {
        fprintf(stderr, "tillsyncctl: %s\n", error->valuestring);
        cJSON_Delete(s);
        free(reply);
        return 1;
    }
    if (json || strcmp(request, "status") != 0)
        fputs(reply, stdout); /* dead-letters and retry-dead answer in JSON */
    else
        print_human(s);
    cJSON_Delete(s);
    free(reply);
    return 0;
}
