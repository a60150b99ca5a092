/*
 * tillsyncctl export FILE: before a reflash, everything the journal still owes a platform (each
 * sale some backend has not finished, each outstanding dead letter) and each backend's progress,
 * into one sealed file that `import` takes back (docs/FORMAT.md, "Reflash export file").
 *
 * The customer data goes into the file opened: the new board seals it again under its own key,
 * and the file's own seal protects it meanwhile.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "ctl_reflash.h"
#include "customer_seal.h"
#include "device_key.h"

enum { DELIVERED = 0, PENDING = 1, DEAD = 2 };

struct dead_letter {
    unsigned b;
    uint64_t seq;
    char reason[256];
};

/* A sale record read from the journal (a sale, or a dead letter's copy of one). */
struct rec {
    uint64_t seq, accepted_ms;
    char txn[JOURNAL_MAX_TXN + 1];
    char *body;
    size_t body_len;
};

struct collect {
    const struct journal *j;
    unsigned nb;
    uint64_t min_watermark;
    struct dead_letter *dead;
    size_t ndead, dead_cap;
    struct rec *recs;
    size_t nrecs, cap;
    int oom;
};

static int by_seq_then_backend(const void *a, const void *b)
{
    const struct dead_letter *x = a, *y = b;
    if (x->seq != y->seq)
        return (x->seq > y->seq) - (x->seq < y->seq);
    return (x->b > y->b) - (x->b < y->b);
}

/* The outstanding dead letter of backend b for seq (c->dead sorted), or -1. */
static int dead_of(const struct collect *c, unsigned b, uint64_t seq)
{
    struct dead_letter key = {.b = b, .seq = seq};
    if (!c->ndead)
        return -1; /* and c->dead may be NULL, which bsearch must not get */
    const struct dead_letter *d =
        bsearch(&key, c->dead, c->ndead, sizeof *c->dead, by_seq_then_backend);
    return d ? (int)(d - c->dead) : -1;
}

static int dead_any(const struct collect *c, uint64_t seq)
{
    for (unsigned b = 0; b < c->nb; b++)
        if (dead_of(c, b, seq) >= 0)
            return 1;
    return 0;
}

struct dead_ctx {
    struct collect *c;
    unsigned b;
};

static int on_dead(void *ctx, uint64_t seq, const char *reason)
{
    struct dead_ctx *d = ctx;
    struct collect *c = d->c;
    if (c->ndead == c->dead_cap) {
        size_t cap = c->dead_cap ? 2 * c->dead_cap : 64;
        struct dead_letter *p = realloc(c->dead, cap * sizeof *p);
        if (!p)
            return c->oom = 1;
        c->dead = p;
        c->dead_cap = cap;
    }
    struct dead_letter *dl = &c->dead[c->ndead++];
    dl->b = d->b;
    dl->seq = seq;
    snprintf(dl->reason, sizeof dl->reason, "%s", reason);
    return 0;
}

static int wanted(const struct collect *c, uint64_t seq)
{
    return seq >= c->min_watermark || dead_any(c, seq);
}

static int on_sale(void *ctx, const struct journal_sale *s, int dead, const char *reason)
{
    struct collect *c = ctx;
    (void)
        reason; /* the outstanding dead letters and their reasons come from journal_dead_letters */
    if (dead < 0 ? !wanted(c, s->seq) : dead_of(c, (unsigned)dead, s->seq) < 0)
        return 0;
    for (size_t i = c->nrecs; i-- > 0 && c->recs[i].seq >= s->seq;)
        if (c->recs[i].seq == s->seq)
            return 0; /* a dead letter's copy, copied forward, or beside its sale */
    if (c->nrecs == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        struct rec *p = realloc(c->recs, cap * sizeof *p);
        if (!p)
            return c->oom = 1;
        c->recs = p;
        c->cap = cap;
    }
    struct rec *r = &c->recs[c->nrecs];
    r->body = malloc(s->body_len + 1);
    if (!r->body)
        return c->oom = 1;
    memcpy(r->body, s->body, s->body_len);
    r->body[s->body_len] = '\0';
    r->body_len = s->body_len;
    r->seq = s->seq;
    r->accepted_ms = s->accepted_ms;
    snprintf(r->txn, sizeof r->txn, "%s", s->txn);
    c->nrecs++;
    return 0;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int by_txn_then_seq(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    int t = strcmp(x->txn, y->txn);
    return t ? t : (x->seq > y->seq) - (x->seq < y->seq);
}

/* One sale of the file: the records of one txn (a requeued dead letter, a resend stored again)
 * merged, so that importing cannot keep one and drop the other's progress. */
struct entry {
    const struct rec *latest; /* its body goes into the file; its seq orders the file */
    uint8_t state[CONFIG_MAX_BACKENDS];
    const char *reason[CONFIG_MAX_BACKENDS];
};

static int by_seq(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->latest->seq > y->latest->seq) - (x->latest->seq < y->latest->seq);
}

static void utc_now(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int run_export(struct ctl *ctl, int argc, char **argv)
{
    static struct config cfg;
    static struct journal j;
    static struct reflash_args ra; /* the passphrase: wiped once used */
    int arc = reflash_args(ctl, argc, argv, 0,
                           "export FILE [--passphrase-file F] [--key DEVICE_KEY_FILE]", &cfg, &ra);
    if (arc != 0)
        return arc;
    const char *file = ra.file, *pass_file = ra.pass_file;
    char *key_path = ra.key_path, *passphrase = ra.passphrase, err[512];
    struct stat st;
    if (access(file, F_OK) == 0) {
        fprintf(stderr, "tillsyncctl: %s already exists: choose another name, or remove it first\n",
                file);
        return CTL_EXIT_FAIL;
    }
    /* The key opens sealed customers and, without a passphrase, seals the file. */
    static struct device_key key;
    int have_key = stat(key_path, &st) == 0;
    if (have_key && device_key_load(key_path, 0, &key, err, sizeof err) < 0) {
        fprintf(stderr, "tillsyncctl: %s\n", err);
        return CTL_EXIT_USAGE;
    }
    if (!have_key && !pass_file) {
        fprintf(stderr,
                "tillsyncctl: no device key at %s: the file could not be sealed under it; give "
                "--key FILE, or seal it with --passphrase-file F\n",
                key_path);
        return CTL_EXIT_USAGE;
    }

    struct hal_flash *flash;
    int rc = reflash_mount(&cfg, 1, &flash, &j);
    if (rc)
        return rc;
    struct collect c = {.j = &j, .nb = cfg.nbackends, .min_watermark = UINT64_MAX};
    for (unsigned b = 0; b < cfg.nbackends; b++) {
        if (j.backends[b].watermark < c.min_watermark)
            c.min_watermark = j.backends[b].watermark;
        struct dead_ctx d = {&c, b};
        if (journal_dead_letters(&j, b, on_dead, &d) < 0 || c.oom) {
            fprintf(stderr, "tillsyncctl: journal: reading the dead letters failed\n");
            reflash_unmount(flash, &j);
            return CTL_EXIT_FAIL;
        }
    }
    if (c.dead)
        qsort(c.dead, c.ndead, sizeof *c.dead, by_seq_then_backend);
    if (journal_walk_sales(&j, on_sale, &c) < 0 || c.oom) {
        fprintf(stderr, "tillsyncctl: journal: reading the sales failed%s\n",
                c.oom ? " (out of memory)" : "");
        reflash_unmount(flash, &j);
        return CTL_EXIT_FAIL;
    }

    /* A dead letter whose sale was damaged on flash keeps only its reason: nothing to carry. */
    uint64_t *seqs = malloc((c.nrecs ? c.nrecs : 1) * sizeof *seqs);
    size_t lost = 0;
    for (size_t i = 0; seqs && i < c.nrecs; i++)
        seqs[i] = c.recs[i].seq;
    if (seqs)
        qsort(seqs, c.nrecs, sizeof *seqs, by_u64);
    for (size_t i = 0; seqs && i < c.ndead; i++)
        lost += !bsearch(&c.dead[i].seq, seqs, c.nrecs, sizeof *seqs, by_u64);
    free(seqs);

    /* Each record's state per backend, then one entry per txn. */
    if (c.nrecs)
        qsort(c.recs, c.nrecs, sizeof *c.recs, by_txn_then_seq);
    struct entry *entries = calloc(c.nrecs ? c.nrecs : 1, sizeof *entries);
    size_t nentries = 0;
    if (!entries) {
        fprintf(stderr, "tillsyncctl: out of memory\n");
        reflash_unmount(flash, &j);
        return CTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < c.nrecs; i++) {
        struct entry *e = &entries[nentries];
        if (i == 0 || strcmp(c.recs[i].txn, c.recs[i - 1].txn) != 0)
            *e = (struct entry){0};
        else
            e = &entries[nentries - 1];
        e->latest = &c.recs[i];
        for (unsigned b = 0; b < cfg.nbackends; b++) {
            int d = dead_of(&c, b, c.recs[i].seq);
            if (c.recs[i].seq >= j.backends[b].watermark) {
                e->state[b] = PENDING;
            } else if (d >= 0 && e->state[b] != PENDING) {
                e->state[b] = DEAD;
                e->reason[b] = c.dead[d].reason;
            }
        }
        if (e == &entries[nentries])
            nentries++;
    }
    qsort(entries, nentries, sizeof *entries, by_seq);

    char when[32];
    utc_now(when, sizeof when);
    cJSON *root = cJSON_CreateObject(), *jb = cJSON_AddArrayToObject(root, "backends");
    cJSON_AddNumberToObject(root, "tillsync_export", EXPORT_VERSION);
    cJSON_AddStringToObject(root, "terminal_id", cfg.terminal_id);
    cJSON_AddStringToObject(root, "exported_at", when);
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%08" PRIx32, have_key ? key.ids[0] : 0);
    if (have_key)
        cJSON_AddStringToObject(root, "source_key_id", idtext);
    else
        cJSON_AddNullToObject(root, "source_key_id");
    unsigned long long to_deliver[CONFIG_MAX_BACKENDS] = {0}, dead[CONFIG_MAX_BACKENDS] = {0};
    cJSON *js = cJSON_AddArrayToObject(root, "sales");
    size_t unopened = 0;
    char why[256] = "";
    for (size_t i = 0; i < nentries; i++) {
        const struct rec *r = entries[i].latest;
        char *opened = NULL;
        size_t olen;
        char w[256];
        enum customer_open_result o =
            customer_open(&key, r->txn, r->body, r->body_len, &opened, &olen, w, sizeof w);
        if (o != CUSTOMER_PLAIN && o != CUSTOMER_OPENED) {
            unopened++; /* kept as stored: a board holding that key can still open it */
            snprintf(why, sizeof why, "%s", w);
        }
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "txn", r->txn);
        cJSON_AddNumberToObject(s, "accepted_ms", (double)r->accepted_ms);
        cJSON_AddStringToObject(s, "body", opened ? opened : r->body);
        free(opened);
        cJSON *pend = cJSON_AddArrayToObject(s, "pending"), *dl = cJSON_AddArrayToObject(s, "dead");
        for (unsigned b = 0; b < cfg.nbackends; b++) {
            if (entries[i].state[b] == PENDING) {
                cJSON_AddItemToArray(pend, cJSON_CreateString(cfg.backends[b].name));
                to_deliver[b]++;
            } else if (entries[i].state[b] == DEAD) {
                cJSON *d = cJSON_CreateObject();
                cJSON_AddStringToObject(d, "backend", cfg.backends[b].name);
                cJSON_AddStringToObject(d, "reason", entries[i].reason[b]);
                cJSON_AddItemToArray(dl, d);
                dead[b]++;
            }
        }
        cJSON_AddItemToArray(js, s);
    }
    for (unsigned b = 0; b < cfg.nbackends; b++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", cfg.backends[b].name);
        cJSON_AddNumberToObject(o, "delivered_total", (double)j.backends[b].delivered_total);
        cJSON_AddNumberToObject(o, "dead_total", (double)j.backends[b].dead_total);
        cJSON_AddItemToArray(jb, o);
    }
    uint64_t delivered_total[CONFIG_MAX_BACKENDS], dead_total[CONFIG_MAX_BACKENDS];
    for (unsigned b = 0; b < cfg.nbackends; b++) {
        delivered_total[b] = j.backends[b].delivered_total;
        dead_total[b] = j.backends[b].dead_total;
    }
    reflash_unmount(flash, &j);
    for (size_t i = 0; i < c.nrecs; i++)
        free(c.recs[i].body);
    free(c.recs);
    free(c.dead);
    free(entries);

    char *payload = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    struct export_secret secret = {pass_file ? EXPORT_KDF_PASSPHRASE : EXPORT_KDF_DEVICE_KEY,
                                   key.keys[0], key.ids[0], passphrase, 0};
    rc = !payload ||
         export_seal(&secret, payload, strlen(payload), &sealed, &sealed_len, err, sizeof err) != 0;
    if (payload) {
        memset(payload, 0, strlen(payload)); /* it held the customers in the clear */
        free(payload);
    }
    memset(ra.passphrase, 0, sizeof ra.passphrase);
    device_key_clear(&key);
    if (rc) {
        fprintf(stderr, "tillsyncctl: export: %s\n", payload ? err : "out of memory");
        return CTL_EXIT_FAIL;
    }
    rc = reflash_write(file, sealed, sealed_len, err, sizeof err);
    free(sealed);
    if (rc) {
        fprintf(stderr, "tillsyncctl: %s: %s\n", file, err);
        return CTL_EXIT_FAIL;
    }

    char sealed_by[64];
    if (pass_file)
        snprintf(sealed_by, sizeof sealed_by, "passphrase");
    else
        snprintf(sealed_by, sizeof sealed_by, "device key %s", idtext);
    if (ctl->json) {
        cJSON *out = cJSON_CreateObject(), *ob = cJSON_AddArrayToObject(out, "backends");
        cJSON_AddStringToObject(out, "file", file);
        cJSON_AddNumberToObject(out, "sales", (double)nentries);
        cJSON_AddNumberToObject(out, "bytes", (double)sealed_len);
        cJSON_AddStringToObject(out, "sealed_under", pass_file ? "passphrase" : "device key");
        if (!pass_file)
            cJSON_AddStringToObject(out, "key_id", idtext);
        cJSON_AddNumberToObject(out, "customer_not_opened", (double)unopened);
        cJSON_AddNumberToObject(out, "dead_letters_without_sale", (double)lost);
        for (unsigned b = 0; b < cfg.nbackends; b++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", cfg.backends[b].name);
            cJSON_AddNumberToObject(o, "to_deliver", (double)to_deliver[b]);
            cJSON_AddNumberToObject(o, "dead_letters", (double)dead[b]);
            cJSON_AddNumberToObject(o, "delivered_total", (double)delivered_total[b]);
            cJSON_AddNumberToObject(o, "dead_total", (double)dead_total[b]);
            cJSON_AddItemToArray(ob, o);
        }
        char *text = cJSON_Print(out);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(out);
    } else {
        ctl_line(ctl, "export", "%s: %zu sale%s, %zu bytes, sealed under the %s", file, nentries,
                 nentries == 1 ? "" : "s", sealed_len, sealed_by);
        for (unsigned b = 0; b < cfg.nbackends; b++)
            ctl_line(ctl, "backend", "%s: %llu still to deliver, %llu dead letter%s",
                     cfg.backends[b].name, to_deliver[b], dead[b], dead[b] == 1 ? "" : "s");
        if (unopened)
            ctl_check(ctl, CTL_WARN, "customer",
                      "%zu sale%s' customer data could not be opened and went into the file as "
                      "stored: %s",
                      unopened, unopened == 1 ? "" : "s", why);
        if (lost)
            ctl_check(ctl, CTL_WARN, "dead",
                      "%zu dead letter%s whose sale was damaged on flash (only the reason is "
                      "left): not in the file; tillsyncctl dead-letters lists them",
                      lost, lost == 1 ? "" : "s");
        ctl_line(ctl, "next", "keep %s off the till; after the reflash: tillsyncctl import %s%s",
                 file, file, pass_file ? " --passphrase-file F" : "");
    }
    return CTL_EXIT_OK;
}

const struct ctl_command ctl_cmd_export = {
    "export", "FILE [--passphrase-file F] [--key DEVICE_KEY_FILE]",
    "before a reflash (daemon stopped): every sale a platform still needs and every dead letter,\n"
    "with each platform's progress, into FILE (new, mode 600), sealed under the device key, or\n"
    "under a passphrase (a mode-600 file) when the board itself is replaced",
    1, run_export};
