/*
 * tillsyncctl verify: the journal read offline, as the daemon left it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "board/board.h"
#include "config.h"
#include "ctl.h"
#include "customer_seal.h"
#include "device_key.h"
#include "journal.h"

static const char *const block_states[] = {"in use", "free", "erased", "unreadable header",
                                           "in use, bad header"};

#define KEY_IDS_SHOWN 8
#define REFS_SHOWN    10

/* What the seals of the journal's sales say (docs/FORMAT.md section 5.4). */
struct seal_tally {
    const struct device_key *key; /* NULL: the key file could not be read */
    /* SALE records (their dead-letter copies repeat them): sealed, plain (a customer stored by
     * firmware before format 4), without a customer */
    uint64_t sealed, plain, anonymous;
    struct {
        uint32_t id;
        uint64_t n;
    } by_key[KEY_IDS_SHOWN]; /* sealed sales per key id, first seen first */
    unsigned nkeys;
    uint64_t other_keys; /* sealed under ids past the table */
    /* txns whose record (a sale or a dead letter's copy) does not open: tag, or damaged, or
     * (no_key) sealed under a key the file lacks. Several records of one sale count once. */
    char (*failed)[JOURNAL_MAX_TXN + 1], (*no_key)[JOURNAL_MAX_TXN + 1];
    size_t nfailed, nno_key, cap_failed, cap_no_key;
    int oom;
};

static void add_txn(struct seal_tally *t, char (**arr)[JOURNAL_MAX_TXN + 1], size_t *n, size_t *cap,
                    const char *txn)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void *p = realloc(*arr, c * sizeof **arr);
        if (!p) {
            t->oom = 1;
            return;
        }
        *arr = p;
        *cap = c;
    }
    snprintf((*arr)[(*n)++], sizeof **arr, "%s", txn);
}

static int tally_sale(void *ctx, const struct journal_sale *s, int dead, const char *reason)
{
    struct seal_tally *t = ctx;
    (void)reason;
    uint32_t id = 0;
    int sealed = customer_sealed_key_id(s->body, s->body_len, &id);
    if (sealed == 0) {
        if (dead < 0) {
            cJSON *root = cJSON_ParseWithLength(s->body, s->body_len);
            if (cJSON_GetObjectItemCaseSensitive(root, "customer"))
                t->plain++;
            else
                t->anonymous++;
            cJSON_Delete(root);
        }
        return 0;
    }
    enum customer_open_result r = CUSTOMER_BROKEN;
    if (sealed > 0) {
        char *out = NULL, why[256];
        size_t outlen;
        r = customer_open(t->key, s->txn, s->body, s->body_len, &out, &outlen, why, sizeof why);
        free(out);
    }
    if (r == CUSTOMER_BAD_TAG || r == CUSTOMER_BROKEN)
        add_txn(t, &t->failed, &t->nfailed, &t->cap_failed, s->txn);
    else if (r == CUSTOMER_NO_KEY && t->key)
        add_txn(t, &t->no_key, &t->nno_key, &t->cap_no_key, s->txn);
    if (dead >= 0 || sealed < 0)
        return 0; /* a copy repeats its sale; a damaged seal names no key */
    t->sealed++;
    for (unsigned i = 0; i < t->nkeys; i++)
        if (t->by_key[i].id == id) {
            t->by_key[i].n++;
            return 0;
        }
    if (t->nkeys < KEY_IDS_SHOWN) {
        t->by_key[t->nkeys].id = id;
        t->by_key[t->nkeys++].n = 1;
    } else {
        t->other_keys++;
    }
    return 0;
}

static int txn_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* How many different txns arr holds (it is sorted in place). */
static size_t distinct(char (*arr)[JOURNAL_MAX_TXN + 1], size_t n)
{
    if (!n)
        return 0;
    qsort(arr, n, sizeof *arr, txn_cmp);
    size_t d = 1;
    for (size_t i = 1; i < n; i++)
        d += strcmp(arr[i], arr[i - 1]) != 0;
    return d;
}

/*
 * The "customer" lines: how the sales' customers are sealed, and which do not open. Returns 1 if
 * some sale will never be delivered for it (a tag that fails, a seal damaged, a key the file
 * lacks, or no key file at all while sealed sales wait).
 */
static int report_seals(const struct config *cfg, struct journal *j)
{
    struct device_key key;
    char kerr[512];
    int have_key = device_key_load(cfg->device_key_file, 0, &key, kerr, sizeof kerr) >= 0;
    struct seal_tally t = {.key = have_key ? &key : NULL};
    int rc = journal_walk_sales(j, tally_sale, &t);
    if (rc < 0 || t.oom) {
        device_key_clear(&key);
        printf("customer  could not read every sale: %s\n",
               rc < 0 ? strerror(-rc) : "out of memory");
        free(t.failed);
        free(t.no_key);
        return 1;
    }
    /* The listed refs, oldest first, before distinct() sorts the array. */
    char shown[REFS_SHOWN][JOURNAL_MAX_TXN + 1];
    unsigned nshown = 0;
    for (size_t i = 0; i < t.nfailed && nshown < REFS_SHOWN; i++) {
        unsigned k = 0;
        while (k < nshown && strcmp(shown[k], t.failed[i]) != 0)
            k++;
        if (k == nshown)
            snprintf(shown[nshown++], sizeof shown[0], "%s", t.failed[i]);
    }
    size_t nfailed = distinct(t.failed, t.nfailed), nno_key = distinct(t.no_key, t.nno_key);
    uint32_t current = have_key ? key.ids[0] : 0;
    uint64_t under_current = 0;
    for (unsigned i = 0; i < t.nkeys; i++)
        if (have_key && t.by_key[i].id == current)
            under_current = t.by_key[i].n;
    if (have_key)
        printf("customer  %llu sales sealed under key %08x, %llu plain (before format 4), %zu fail "
               "their tag: never delivered; %llu without a customer\n",
               (unsigned long long)under_current, current, (unsigned long long)t.plain, nfailed,
               (unsigned long long)t.anonymous);
    else
        printf("customer  no device key (%s): %llu sealed sales not checked, %llu plain (before "
               "format 4), %zu damaged; %llu without a customer\n",
               kerr, (unsigned long long)t.sealed, (unsigned long long)t.plain, nfailed,
               (unsigned long long)t.anonymous);
    for (unsigned i = 0; i < t.nkeys; i++) {
        if (have_key && t.by_key[i].id == current)
            continue;
        int known = 0;
        for (unsigned k = 1; have_key && k < key.n; k++)
            known |= key.ids[k] == t.by_key[i].id;
        if (known)
            printf("customer  %llu sales sealed under the older key %08x (keep its line in the key "
                   "file until none is left)\n",
                   (unsigned long long)t.by_key[i].n, t.by_key[i].id);
        else if (have_key)
            printf("customer  %llu sales sealed under key %08x, which the key file lacks: never "
                   "delivered unless its line is put back\n",
                   (unsigned long long)t.by_key[i].n, t.by_key[i].id);
        else
            printf("customer  %llu sales sealed under key %08x\n",
                   (unsigned long long)t.by_key[i].n, t.by_key[i].id);
    }
    if (t.other_keys)
        printf("customer  %llu sales sealed under still other keys\n",
               (unsigned long long)t.other_keys);
    for (unsigned i = 0; i < nshown; i++)
        printf("tag fails %s:%s\n", cfg->terminal_id, shown[i]);
    if (nfailed > nshown)
        printf("tag fails ... and %zu more\n", nfailed - nshown);
    free(t.failed);
    free(t.no_key);
    device_key_clear(&key);
    return nfailed > 0 || nno_key > 0 || (!have_key && t.sealed > 0);
}

/* Reads the journal without writing a byte: the image is opened read-only. */
static int run_verify(struct ctl *ctl, int argc, char **argv)
{
    static struct config cfg;
    static struct journal j;
    char err[512];
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "tillsyncctl: verify takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    if (ctl_load_config(ctl, &cfg) != 0)
        return CTL_EXIT_USAGE;
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
    int seals_bad = report_seals(&cfg, &j);
    int healthy = r->corrupt_records == 0 && r->damaged_headers == 0 && !stray && !seals_bad;
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
    printf("verdict   %s\n", healthy ? "healthy"
                             : r->corrupt_records || r->damaged_headers || stray
                                 ? "NOT HEALTHY: corruption found"
                                 : "NOT HEALTHY: sales whose customer data does not open");
    if (unreadable && !stray)
        printf("note      block %u has an unreadable header: an erase cut by power loss; it is "
               "erased again before reuse\n",
               next_open);
    journal_unmount(&j);
    hal_flash_close(flash);
    return healthy ? 0 : 1;
}

const struct ctl_command ctl_cmd_verify = {
    "verify", "",
    "read the journal offline (daemon stopped): records by state, corruption, free space, wear\n"
    "per block. Exit 0 healthy, 1 not, 2 cannot check",
    1, run_verify};
