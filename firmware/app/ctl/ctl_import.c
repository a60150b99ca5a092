/*
 * tillsyncctl import FILE: after a reflash, what `export` saved goes back into the journal
 * (fresh or not), each sale under its own txn (so the same externalReference) and its own
 * accepted time, its customer sealed again under this device's key; then each backend's
 * progress: what a platform had is not sent to it again, a dead letter stays one with its reason.
 *
 * Idempotent: a sale whose txn the journal already holds (anywhere in it, not only in the
 * duplicate window) is not stored again, so a second import adds nothing, and one after an
 * interrupted first adds what is missing. Nothing is written before the file has
 * authenticated and parsed whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "ctl_reflash.h"
#include "ctl_trial_flash.h"
#include "customer_seal.h"
#include "device_key.h"

enum { DELIVERED = 0, PENDING = 1, DEAD = 2 };

struct sale_in {
    const char *txn, *body, *reason[CONFIG_MAX_BACKENDS];
    uint64_t accepted_ms;
    uint8_t state[CONFIG_MAX_BACKENDS]; /* per backend of the file */
    uint64_t seq;                       /* in this journal, if this import stored it */
    int here, stored;
};

struct file_in {
    cJSON *root;
    const char *terminal_id, *exported_at, *source_key_id;
    unsigned nb;
    const char *names[CONFIG_MAX_BACKENDS];
    uint64_t delivered_total[CONFIG_MAX_BACKENDS], dead_total[CONFIG_MAX_BACKENDS];
    struct sale_in *sales;
    size_t nsales;
};

static int file_backend(const struct file_in *f, const char *name)
{
    for (unsigned i = 0; i < f->nb; i++)
        if (strcmp(f->names[i], name) == 0)
            return (int)i;
    return -1;
}

static int bad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -1;
}

/* The payload, checked whole before the journal is touched. Only tillsync writes it (it has
 * authenticated), so a failure here is a writer's bug or a newer payload. */
static int parse_payload(const char *text, size_t len, struct file_in *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->root = cJSON_ParseWithLength(text, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->root, "tillsync_export");
    if (!cJSON_IsNumber(v) || v->valuedouble != EXPORT_VERSION)
        return bad(err, errlen, "tillsync_export: not a version 1 payload");
    f->terminal_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f->root, "terminal_id"));
    f->exported_at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f->root, "exported_at"));
    f->source_key_id =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f->root, "source_key_id"));
    if (!f->terminal_id || !f->exported_at)
        return bad(err, errlen, "terminal_id, exported_at: missing");
    const cJSON *b, *bs = cJSON_GetObjectItemCaseSensitive(f->root, "backends");
    if (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) > CONFIG_MAX_BACKENDS)
        return bad(err, errlen, "backends: not an array of at most 8");
    cJSON_ArrayForEach(b, bs)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
        if (!name || file_backend(f, name) >= 0)
            return bad(err, errlen, "backends[].name: missing or repeated");
        f->names[f->nb] = name;
        f->delivered_total[f->nb] = (uint64_t)ctl_num(b, "delivered_total");
        f->dead_total[f->nb] = (uint64_t)ctl_num(b, "dead_total");
        f->nb++;
    }
    const cJSON *s, *ss = cJSON_GetObjectItemCaseSensitive(f->root, "sales");
    if (!cJSON_IsArray(ss))
        return bad(err, errlen, "sales: not an array");
    f->sales = calloc((size_t)cJSON_GetArraySize(ss) + 1, sizeof *f->sales);
    if (!f->sales)
        return bad(err, errlen, "out of memory");
    cJSON_ArrayForEach(s, ss)
    {
        struct sale_in *si = &f->sales[f->nsales];
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(s, "accepted_ms");
        si->txn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "txn"));
        si->body = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "body"));
        if (!si->txn || !*si->txn || strlen(si->txn) > JOURNAL_MAX_TXN || !si->body ||
            !cJSON_IsNumber(at) || at->valuedouble < 0)
            return bad(err, errlen, "sales[]: txn, body or accepted_ms missing or out of range");
        si->accepted_ms = (uint64_t)at->valuedouble;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, "pending"))
        {
            int fb = file_backend(f, cJSON_GetStringValue(p) ? p->valuestring : "");
            if (fb < 0)
                return bad(err, errlen, "sales[].pending: a backend not in backends");
            si->state[fb] = PENDING;
        }
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, "dead"))
        {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "backend"));
            const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "reason"));
            int fb = file_backend(f, name ? name : "");
            if (fb < 0 || !why)
                return bad(err, errlen, "sales[].dead: a backend not in backends, or no reason");
            si->state[fb] = DEAD;
            si->reason[fb] = why;
        }
        f->nsales++;
    }
    return 0;
}

/* The sale this import stored as seq: they were stored in file order, so their seqs ascend. */
static struct sale_in *stored_at(struct file_in *f, const size_t *stored, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct sale_in *s = &f->sales[stored[mid]];
        if (s->seq == seq)
            return s;
        if (s->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Every txn the journal holds, sales and dead letters' copies, read whole: the duplicate
 * window (journal_find_txn) knows only the most recent 10,000, and a file may hold more. */
struct txn_set {
    char (*txns)[JOURNAL_MAX_TXN + 1];
    size_t n, cap;
};

static int collect_txn(void *ctx, const struct journal_sale *s, int dead, const char *reason)
{
    struct txn_set *t = ctx;
    (void)dead;
    (void)reason;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        void *p = realloc(t->txns, cap * sizeof *t->txns);
        if (!p)
            return -ENOMEM;
        t->txns = p;
        t->cap = cap;
    }
    snprintf(t->txns[t->n++], sizeof *t->txns, "%s", s->txn);
    return 0;
}

static int by_txn(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Marks the file's sales the journal already holds. Returns 0, or a negative errno. */
static int mark_here(struct file_in *f, struct journal *j)
{
    struct txn_set t = {0};
    int rc = journal_walk_sales(j, collect_txn, &t);
    if (rc >= 0 && t.n)
        qsort(t.txns, t.n, sizeof *t.txns, by_txn);
    for (size_t i = 0; rc >= 0 && i < f->nsales; i++)
        f->sales[i].here = t.n && bsearch(f->sales[i].txn, t.txns, t.n, sizeof *t.txns, by_txn);
    free(t.txns);
    return rc < 0 ? rc : 0;
}

/*
 * A watermark passes only a finished prefix: if the journal already holds sales a backend has
 * not been sent (the daemon ran on this board before the import), the imported sales it had
 * come after them, and it would be sent those again. Refused unless --resend, before anything
 * is written. Marks which sales are already here. Returns 0, or -1 after saying why.
 */
static int owed_first(const struct config *cfg, struct file_in *f, struct journal *j)
{
    int conflict = 0;
    for (unsigned b = 0; b < cfg->nbackends; b++) {
        int fb = file_backend(f, cfg->backends[b].name);
        unsigned long long had = 0;
        for (size_t i = 0; fb >= 0 && i < f->nsales; i++)
            had += !f->sales[i].here && f->sales[i].state[fb] != PENDING;
        struct journal_sale js;
        if (!had || journal_next_sale(j, b, &js) != 1)
            continue;
        unsigned long long owed = j->backends[b].queued;
        if (!conflict)
            fprintf(stderr, "tillsyncctl: refused: nothing imported.\n");
        conflict = 1;
        fprintf(stderr,
                "tillsyncctl: %s: this journal already holds sales not yet sent to it (about "
                "%llu): the %llu the file says it has finished (delivered or dead letters) would "
                "come after them and be sent to it again\n",
                cfg->backends[b].name, owed, had);
    }
    if (conflict)
        fprintf(stderr, "tillsyncctl: let the daemon send them first (start it, tillsyncctl drain, "
                        "stop it) and import again; or --resend to import now and send those "
                        "again (a platform keeps one per reference where it can)\n");
    return conflict ? -1 : 0;
}

/* What one run stored and restored, or why it stopped. */
struct outcome {
    size_t imported, here;
    unsigned long long kept[CONFIG_MAX_BACKENDS], dead[CONFIG_MAX_BACKENDS],
        again[CONFIG_MAX_BACKENDS], todo[CONFIG_MAX_BACKENDS];
    char why[512];
};

/*
 * Stores the file's sales the journal does not hold (mark_here), in file order, then restores
 * each backend's progress. The same code runs on the dry run's view and on the device. Returns
 * 0, or -1 with o->why.
 */
static int import_into(struct journal *j, const struct config *cfg, struct file_in *f,
                       const struct device_key *key, int fresh, size_t *stored, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    size_t nstored = 0;
    for (size_t i = 0; i < f->nsales; i++) {
        struct sale_in *s = &f->sales[i];
        s->stored = 0;
        if (s->here || journal_find_txn(j, s->txn) == 1) { /* or twice in the file */
            o->here++;
            continue;
        }
        char *body = NULL, err[256];
        size_t body_len = 0;
        if (customer_seal(key, s->txn, s->body, strlen(s->body), &body, &body_len, err,
                          sizeof err) != 0) {
            snprintf(o->why, sizeof o->why, "sale %s: %s", s->txn, err);
            return -1;
        }
        int a = journal_append_sale(j, s->txn, body, body_len, s->accepted_ms, &s->seq);
        free(body);
        if (a != 0) {
            size_t left = 0;
            for (size_t k = i; k < f->nsales; k++)
                left += !f->sales[k].here;
            snprintf(o->why, sizeof o->why,
                     a == -ENOSPC ? "the journal has room for %zu of the %zu sales to import "
                                    "(%s does not fit): make journal.size larger, or let the "
                                    "daemon deliver what the journal holds first"
                                  : "%zu of %zu stored, then the journal refused %s: %s",
                     o->imported, o->imported + left, s->txn, strerror(-a));
            return -1;
        }
        s->stored = 1;
        stored[nstored++] = i;
        o->imported++;
    }

    /* Progress, by the journal's own means: each backend is handed the stored sales in order
     * and told what the file says of them, up to the first it still needs. A watermark only
     * passes a finished prefix, so a sale the journal already held undelivered ends the walk. */
    for (unsigned b = 0; b < cfg->nbackends; b++) {
        int fb = file_backend(f, cfg->backends[b].name);
        if (fb < 0)
            continue;
        unsigned long long done = 0, dead_done = 0;
        for (size_t i = 0; i < f->nsales; i++)
            if (f->sales[i].stored) {
                done += f->sales[i].state[fb] == DELIVERED;
                dead_done += f->sales[i].state[fb] == DEAD;
                o->todo[b] += f->sales[i].state[fb] == PENDING;
            }
        struct journal_backend *jb = &j->backends[b];
        if (fresh) {
            /* The totals go on from the old board's: the marks written below carry them. */
            jb->delivered_total = f->delivered_total[fb] > done ? f->delivered_total[fb] - done : 0;
            jb->dead_total = f->dead_total[fb] > dead_done ? f->dead_total[fb] - dead_done : 0;
        }
        struct journal_sale js;
        int n;
        while ((n = journal_next_sale(j, b, &js)) == 1) {
            struct sale_in *s = stored_at(f, stored, nstored, js.seq);
            if (!s || s->state[fb] == PENDING)
                break;
            n = journal_sale_done(j, b, &js, s->state[fb] == DEAD ? s->reason[fb] : NULL);
            if (n != 0)
                break;
            o->kept[b] += s->state[fb] == DELIVERED;
            o->dead[b] += s->state[fb] == DEAD;
        }
        if (n < 0) {
            snprintf(o->why, sizeof o->why,
                     "the sales are stored; writing %s's progress failed (%s): it will be sent "
                     "some again",
                     cfg->backends[b].name, strerror(-n));
            return -1;
        }
        o->again[b] = done + dead_done - o->kept[b] - o->dead[b];
    }
    int rc = journal_flush_marks(j);
    if (rc == 0)
        rc = journal_sync(j);
    if (rc != 0) {
        snprintf(o->why, sizeof o->why,
                 "the sales are stored; writing their progress failed (%s): some will be sent "
                 "again",
                 strerror(-rc));
        return -1;
    }
    return 0;
}

/*
 * The whole import first on a copy-on-write view of the device (ctl_trial_flash.h): a journal
 * too full for the file is found before anything is written, so an import is all or nothing.
 * (Stored in part, the sales delivered and reclaimed before the next run would be stored again:
 * the journal forgets a txn once its record is reclaimed.) Without a device key yet, a random
 * one seals: the sizes are the same. Returns 0, or -1 with o->why.
 */
static int dry_run(const struct config *cfg, struct file_in *f, struct hal_flash *flash,
                   const struct device_key *key, int fresh, size_t *stored, struct outcome *o)
{
    static struct journal tj;
    static struct device_key scratch;
    if (!key) {
        scratch.n = 1;
        if (device_random(scratch.keys[0], DEVICE_KEY_BYTES) != 0) {
            snprintf(o->why, sizeof o->why, "no randomness from the kernel");
            return -1;
        }
        scratch.ids[0] = device_key_id(scratch.keys[0]);
        key = &scratch;
    }
    struct hal_flash *view = trial_flash_over(flash);
    int rc = -1;
    snprintf(o->why, sizeof o->why, "out of memory for the dry run");
    if (view && reflash_mount_on(cfg, view, &tj) == 0) {
        rc = mark_here(f, &tj) == 0 ? import_into(&tj, cfg, f, key, fresh, stored, o) : -1;
        journal_unmount(&tj);
    }
    if (view)
        hal_flash_close(view);
    device_key_clear(&scratch);
    return rc;
}

static int run_import(struct ctl *ctl, int argc, char **argv)
{
    static struct config cfg;
    static struct journal j;
    static struct device_key key;
    static struct reflash_args ra; /* the passphrase: wiped once used */
    int arc = reflash_args(
        ctl, argc, argv, 1,
        "import FILE [--passphrase-file F] [--key DEVICE_KEY_FILE] [--force-terminal] [--resend]",
        &cfg, &ra);
    if (arc != 0)
        return arc;
    const char *file = ra.file, *pass_file = ra.pass_file;
    char *key_path = ra.key_path, *passphrase = ra.passphrase, err[512];
    int force_terminal = ra.force_terminal, resend = ra.resend;
    struct stat st;
    int have_key = stat(key_path, &st) == 0;
    if (have_key && device_key_load(key_path, 0, &key, err, sizeof err) < 0) {
        fprintf(stderr, "tillsyncctl: %s\n", err);
        return CTL_EXIT_USAGE;
    }

    uint8_t *raw = NULL, *payload = NULL;
    size_t raw_len = 0, payload_len = 0;
    struct export_header h;
    if (reflash_read(file, &raw, &raw_len, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncctl: %s: %s\n", file, err);
        return CTL_EXIT_FAIL;
    }
    enum export_open_result o = export_open(raw, raw_len, &key, pass_file ? passphrase : NULL,
                                            &payload, &payload_len, &h, err, sizeof err);
    free(raw);
    memset(ra.passphrase, 0, sizeof ra.passphrase);
    if (o != EXPORT_OPENED) {
        fprintf(stderr, "tillsyncctl: %s: refused: %s; nothing imported\n", file, err);
        device_key_clear(&key);
        return CTL_EXIT_FAIL;
    }
    static struct file_in f;
    size_t *stored = NULL;
    int rc = CTL_EXIT_FAIL;
    int parsed = parse_payload((const char *)payload, payload_len, &f, err, sizeof err) == 0;
    if (parsed)
        stored = calloc(f.nsales + 1, sizeof *stored);
    if (!stored) {
        fprintf(stderr, "tillsyncctl: %s: refused: %s; nothing imported\n", file,
                parsed ? "out of memory" : err);
        goto out_payload;
    }
    if (strcmp(f.terminal_id, cfg.terminal_id) != 0 && !force_terminal) {
        fprintf(stderr,
                "tillsyncctl: %s: refused: it was exported by terminal %s, this is %s. Its sales "
                "would go out as %s's, under references the platforms have never seen (%s:<txn>), "
                "so what %s already delivered would be booked twice. Set terminal_id to %s if "
                "this board replaces that terminal; --force-terminal imports them anyway; "
                "nothing imported\n",
                file, f.terminal_id, cfg.terminal_id, cfg.terminal_id, cfg.terminal_id,
                f.terminal_id, f.terminal_id);
        goto out_payload;
    }

    struct hal_flash *flash;
    rc = reflash_mount(&cfg, 0, &flash, &j);
    if (rc)
        goto out_payload;
    int fresh = j.empty;
    int walked = mark_here(&f, &j);
    if (walked != 0) {
        fprintf(stderr, "tillsyncctl: reading the journal failed (%s); nothing imported\n",
                strerror(-walked));
        rc = CTL_EXIT_FAIL;
        goto out_journal;
    }
    if (!resend && owed_first(&cfg, &f, &j) != 0) {
        rc = CTL_EXIT_FAIL;
        goto out_journal;
    }
    static struct outcome run;
    rc = CTL_EXIT_FAIL;
    if (dry_run(&cfg, &f, flash, have_key ? &key : NULL, fresh, stored, &run) != 0) {
        fprintf(stderr, "tillsyncctl: %s: refused: %s; nothing imported\n", file, run.why);
        goto out_journal;
    }
    if (!have_key) {
        /* A new board: the key the daemon will open these customers with is made now. */
        if (device_key_load(key_path, 1, &key, err, sizeof err) < 0) {
            fprintf(stderr, "tillsyncctl: %s; nothing imported\n", err);
            rc = CTL_EXIT_USAGE;
            goto out_journal;
        }
        if (!ctl->json)
            ctl_line(ctl, "key", "created the device key %s (id %08" PRIx32 ")", key_path,
                     key.ids[0]);
    }
    if (import_into(&j, &cfg, &f, &key, fresh, stored, &run) != 0) {
        fprintf(stderr,
                "tillsyncctl: %s: %s; %zu of the sales were stored before it (a second import "
                "adds the rest; what it stores is sent again where its progress was lost, and "
                "each platform keeps one per reference where it can)\n",
                file, run.why, run.imported);
        goto out_journal;
    }
    rc = CTL_EXIT_OK;
    size_t imported = run.imported, here = run.here;
    const unsigned long long *kept = run.kept, *dead = run.dead, *again = run.again,
                             *todo = run.todo;

    char sealed_by[64];
    if (h.kdf == EXPORT_KDF_PASSPHRASE)
        snprintf(sealed_by, sizeof sealed_by, "passphrase");
    else
        snprintf(sealed_by, sizeof sealed_by, "device key %08" PRIx32, h.key_id);
    if (ctl->json) {
        cJSON *out = cJSON_CreateObject(), *ob = cJSON_AddArrayToObject(out, "backends");
        cJSON_AddStringToObject(out, "file", file);
        cJSON_AddStringToObject(out, "terminal_id", f.terminal_id);
        cJSON_AddStringToObject(out, "exported_at", f.exported_at);
        cJSON_AddStringToObject(out, "sealed_under", sealed_by);
        cJSON_AddNumberToObject(out, "imported", (double)imported);
        cJSON_AddNumberToObject(out, "already_here", (double)here);
        cJSON_AddBoolToObject(out, "device_key_created", !have_key);
        for (unsigned b = 0; b < cfg.nbackends; b++) {
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddStringToObject(o2, "name", cfg.backends[b].name);
            cJSON_AddBoolToObject(o2, "in_file", file_backend(&f, cfg.backends[b].name) >= 0);
            cJSON_AddNumberToObject(o2, "had", (double)kept[b]);
            cJSON_AddNumberToObject(o2, "dead_letters", (double)dead[b]);
            cJSON_AddNumberToObject(o2, "to_deliver", (double)todo[b]);
            cJSON_AddNumberToObject(o2, "sent_again", (double)again[b]);
            cJSON_AddItemToArray(ob, o2);
        }
        char *text = cJSON_Print(out);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(out);
    } else {
        ctl_line(ctl, "import",
                 "%s: %zu imported, %zu already here (terminal %s, exported %s, "
                 "sealed under the %s)",
                 file, imported, here, f.terminal_id, f.exported_at, sealed_by);
        for (unsigned b = 0; b < cfg.nbackends; b++) {
            if (file_backend(&f, cfg.backends[b].name) < 0) {
                ctl_check(ctl, CTL_NOTE, cfg.backends[b].name,
                          "not in the file: it is sent all %zu imported sales", imported);
                continue;
            }
            ctl_line(ctl, "backend",
                     "%s: %llu it had (not sent again), %llu dead letter%s kept, "
                     "%llu to deliver",
                     cfg.backends[b].name, kept[b], dead[b], dead[b] == 1 ? "" : "s", todo[b]);
            if (again[b])
                ctl_check(ctl, CTL_NOTE, cfg.backends[b].name,
                          "%llu it had will be sent again, after sales this journal already "
                          "held for it: the platform keeps one per reference",
                          again[b]);
        }
        for (unsigned fb = 0; fb < f.nb; fb++) {
            int known = 0;
            for (unsigned b = 0; b < cfg.nbackends; b++)
                known |= strcmp(cfg.backends[b].name, f.names[fb]) == 0;
            if (!known)
                ctl_check(ctl, CTL_WARN, f.names[fb],
                          "in the file, not configured here: what it still needed is not sent "
                          "to it");
        }
        if (imported)
            ctl_line(ctl, "next",
                     "start the daemon (systemctl start tillsync), then "
                     "tillsyncctl drain");
    }
out_journal:
    reflash_unmount(flash, &j);
out_payload:
    cJSON_Delete(f.root);
    free(f.sales);
    free(stored);
    if (payload) {
        memset(payload, 0, payload_len); /* the customers in the clear */
        free(payload);
    }
    device_key_clear(&key);
    return rc;
}

const struct ctl_command ctl_cmd_import = {
    "import", "FILE [--passphrase-file F] [--key DEVICE_KEY_FILE] [--force-terminal] [--resend]",
    "after a reflash (daemon stopped): the sales and dead letters of an export back into the\n"
    "journal, each once (a second import adds nothing), with each platform's progress; refuses\n"
    "a file changed since, sealed under another key, or from another terminal_id",
    1, run_import};
