/*
 * Runs a deterministic mixed workload on the real journal (RAM flash), writes the raw image to a
 * file, mounts a copy of it again and prints what the journal's public API says about it, as
 * JSON, for check_reader.py to compare with read_journal.py (a reader written from FORMAT.md
 * alone). Uses only journal.h's API and flash_ram.h.
 *
 *   dump_state IMAGE SEED NSALES NBACKENDS ERASE_SIZE PROG_SIZE NBLOCKS CUT_AT TORN CONTINUE
 *              [MOUNT_PROG_SIZE [WORN_BLOCK WORN_FROM WORN_TO]]
 *
 * CUT_AT > 0 cuts power when the CUT_AT-th program or erase starts (TORN: that operation lands
 * partly). With CONTINUE the workload then remounts and carries on; without, the image is the
 * flash as the cut left it. MOUNT_PROG_SIZE (0: the same) mounts the copy with another program
 * size (to be refused). WORN_BLOCK's programs and erases fail with -EROFS from sale WORN_FROM to
 * sale WORN_TO.
 *
 *   dump_state -m IMAGE NBACKENDS ERASE_SIZE PROG_SIZE NBLOCKS
 *
 * only mounts a copy of IMAGE (e.g. one check_reader.py has damaged) and reports. NBLOCKS counts
 * erase blocks; $DUMP_STATE_BLOCK_SIZE, if set, is the block size a blank device gets (blocks
 * spanning several erase blocks), else the journal's default.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/flash_ram.h"
#include "journal.h"

#define MAX_FLIGHT 8

static const char *const names[] = {"glu", "crm"};

static uint64_t rng_state;

static int mount_journal(struct journal *j, struct hal_flash *f, const uint32_t *ids, unsigned nb,
                         char *err, size_t errlen)
{
    const char *fresh = getenv("DUMP_STATE_BLOCK_SIZE");
    return journal_mount_blocks(j, f, fresh ? (uint32_t)strtoul(fresh, NULL, 0) : 0, ids, nb, err,
                                errlen);
}

static uint32_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static unsigned chance(unsigned one_in)
{
    return rnd() % one_in == 0;
}

struct workload {
    unsigned appended, enospc, failed;
    uint64_t last_seq, gaps;
    struct hal_flash *f;
    struct journal j;
    int mounted;
    uint32_t ids[2];
    unsigned nb;
    struct journal_sale flight[2][MAX_FLIGHT];
    unsigned nflight[2];
    int stalled[2];
    uint64_t last_dead[2];
    int have_dead[2];
};

static int mount(struct workload *w)
{
    char err[256];
    memset(w->nflight, 0, sizeof w->nflight);
    memset(w->have_dead, 0, sizeof w->have_dead);
    if (mount_journal(&w->j, w->f, w->ids, w->nb, err, sizeof err) != 0) {
        fprintf(stderr, "dump_state: mount: %s\n", err);
        return -1;
    }
    w->mounted = 1;
    return 0;
}

/* Fetches and completes some sales of backend b. */
static void deliver(struct workload *w, unsigned b, unsigned want)
{
    unsigned k;
    while (want-- > 0 && w->nflight[b] < MAX_FLIGHT) {
        struct journal_sale s;
        if (journal_next_sale(&w->j, b, &s) != 1)
            break;
        w->flight[b][w->nflight[b]++] = s;
    }
    /* Complete a random number of them, in random order. */
    k = w->nflight[b] ? rnd() % (w->nflight[b] + 1) : 0;
    while (k-- > 0 && w->nflight[b] > 0) {
        unsigned i = rnd() % w->nflight[b];
        struct journal_sale s = w->flight[b][i];
        const char *reason = NULL;
        w->flight[b][i] = w->flight[b][--w->nflight[b]];
        if (chance(40)) {
            reason = "HTTP 422 from POST /activities: {\"error\":\"rejected\"}";
            w->last_dead[b] = s.seq;
            w->have_dead[b] = 1;
        }
        journal_sale_done(&w->j, b, &s, reason);
    }
}

static int cut(const struct workload *w)
{
    return flash_ram_power_is_cut(w->f);
}

static void crash_and_remount(struct workload *w)
{
    journal_unmount(&w->j);
    w->mounted = 0;
    flash_ram_power_on(w->f);
    if (mount(w) != 0)
        exit(1);
}

/* One operation of the workload; returns 1 if power was cut during it. */
static int step(struct workload *w, uint64_t seed, unsigned i)
{
    char txn[64], body[700];
    unsigned pad = rnd() % 400, b;
    uint64_t seq;
    int rc;
    snprintf(txn, sizeof txn, "S%" PRIu64 "-%u", seed, i);
    rc = snprintf(body, sizeof body,
                  "{\"txn\":\"%s\",\"at\":\"2024-06-10T09:30:00Z\",\"total\":%u,"
                  "\"currency\":\"EUR\",\"source\":\"%.*s\"}",
                  txn, rnd() % 100000, (int)(pad % 64 + 1),
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    /* Longer bodies now and then. */
    if (pad > 200) {
        size_t len = (size_t)rc - 2;
        memset(body + len, 'y', pad);
        memcpy(body + len + pad, "\"}", 3);
        rc += (int)pad;
    }
    rc = journal_append_sale(&w->j, txn, body, (size_t)rc, 1718011800123ull + i, &seq);
    if (rc == 0) {
        if (w->appended++ && seq > w->last_seq + 1)
            w->gaps += seq - w->last_seq - 1;
        w->last_seq = seq;
    } else if (rc == -ENOSPC) {
        w->enospc++;
    } else {
        w->failed++;
    }
    if (cut(w))
        return 1;
    if (rc == -ENOSPC) {
        /* Full: the stalled backends come back. */
        for (b = 0; b < w->nb; b++)
            w->stalled[b] = 0;
    }
    for (b = 0; b < w->nb; b++) {
        if (w->stalled[b]) {
            if (chance(60))
                w->stalled[b] = 0;
            continue;
        }
        if (chance(150)) {
            w->stalled[b] = 1;
            continue;
        }
        if (chance(2))
            deliver(w, b, rc == -ENOSPC ? MAX_FLIGHT : rnd() % 4);
        if (cut(w))
            return 1;
        if (w->have_dead[b] && chance(8)) {
            w->have_dead[b] = 0;
            journal_requeue(&w->j, b, w->last_dead[b]);
            if (cut(w))
                return 1;
        }
    }
    if (chance(25))
        journal_flush_marks(&w->j);
    return cut(w);
}

static void print_sales(struct journal *j, unsigned b)
{
    struct journal_sale s;
    int first = 1;
    printf("[");
    while (journal_next_sale(j, b, &s) == 1) {
        printf("%s[%" PRIu64 ",\"%s\"]", first ? "" : ",", s.seq, s.txn);
        first = 0;
        journal_sale_done(j, b, &s, NULL);
    }
    printf("]");
}

/* A new RAM flash holding the image; programs only the units that are not erased. */
static struct hal_flash *load(const unsigned char *img, const struct hal_flash_geometry *geo)
{
    struct hal_flash *f = flash_ram_create(geo);
    uint64_t off;
    uint32_t i;
    for (off = 0; f && off < geo->size; off += geo->prog_size) {
        for (i = 0; i < geo->prog_size && img[off + i] == 0xFF; i++)
            ;
        if (i < geo->prog_size && hal_flash_prog(f, off, img + off, geo->prog_size) != 0) {
            fprintf(stderr, "dump_state: cannot load the image\n");
            exit(1);
        }
    }
    return f;
}

/*
 * Mounts a copy of the image and prints what the API says about it: the rest of a JSON object
 * whose "{" has been printed.
 */
static int report(const unsigned char *img, const struct hal_flash_geometry *mgeo,
                  const uint32_t *ids, unsigned nb)
{
    struct hal_flash *f2, *f3;
    struct journal j;
    uint32_t ids3[3];
    char err[256];
    unsigned b;

    f2 = load(img, mgeo);
    if (mount_journal(&j, f2, ids, nb, err, sizeof err) != 0) {
        printf("\"refused\":\"%s\"}\n", err);
        hal_flash_close(f2);
        return 0;
    }
    printf("\"torn_at_mount\":%" PRIu64 ",\"corrupt_at_mount\":%" PRIu64 ",", j.report.torn_tail,
           j.report.corrupt_records);
    journal_check(&j);
    printf("\"refused\":null,\"head\":%" PRIu32 ",\"tail\":%" PRIu32 ",\"used\":%" PRIu32
           ",\"next_seq\":%" PRIu64 ",\"empty\":%d",
           j.head, j.tail, j.used, j.next_seq, j.empty);
    printf(",\"corrupt_records\":%" PRIu64 ",\"torn\":%" PRIu64 ",\"damaged_headers\":%" PRIu32
           ",\"head_sealed\":%d",
           j.report.corrupt_records, j.report.torn_tail, j.report.damaged_headers, j.head_sealed);
    printf(",\"backends\":{");
    for (b = 0; b < nb; b++)
        printf("%s\"%s\":{\"watermark\":%" PRIu64 ",\"delivered_total\":%" PRIu64
               ",\"dead_total\":%" PRIu64 ",\"queued\":%" PRIu64 "}",
               b ? "," : "", names[b], j.backends[b].watermark, j.backends[b].delivered_total,
               j.backends[b].dead_total, j.backends[b].queued);
    printf("},\"owed\":{");
    for (b = 0; b < nb; b++) {
        printf("%s\"%s\":", b ? "," : "", names[b]);
        print_sales(&j, b);
    }
    printf("},\"queued_after_drain\":[");
    for (b = 0; b < nb; b++)
        printf("%s%" PRIu64, b ? "," : "", j.backends[b].queued);
    printf("]");
    journal_unmount(&j);
    hal_flash_close(f2);

    /*
     * Every sale of the ring as placed before the mount's reclaim: a backend that has no mark
     * owes everything from the tail block's first_seq (FORMAT.md 7.2), and holds reclaim back to
     * blocks without sales.
     */
    for (b = 0; b < nb; b++)
        ids3[b] = ids[b];
    ids3[nb] = journal_backend_id("never-marked");
    f3 = load(img, mgeo);
    if (mount_journal(&j, f3, ids3, nb + 1, err, sizeof err) != 0)
        return 1;
    printf(",\"sales_before_reclaim\":");
    print_sales(&j, nb);
    printf("}\n");
    journal_unmount(&j);
    hal_flash_close(f3);
    return 0;
}

/* dump_state -m IMAGE NBACKENDS ERASE_SIZE PROG_SIZE NBLOCKS: report on an existing image. */
static int mount_only(char **argv)
{
    struct hal_flash_geometry geo;
    uint32_t ids[2];
    unsigned nb = (unsigned)strtoul(argv[3], NULL, 0), b;
    unsigned char *img;
    FILE *in;
    int rc;
    geo.erase_size = (uint32_t)strtoul(argv[4], NULL, 0);
    geo.prog_size = (uint32_t)strtoul(argv[5], NULL, 0);
    geo.size = (uint64_t)geo.erase_size * strtoul(argv[6], NULL, 0);
    if (nb < 1 || nb > 2)
        return 2;
    for (b = 0; b < nb; b++)
        ids[b] = journal_backend_id(names[b]);
    img = malloc(geo.size);
    in = fopen(argv[2], "rb");
    if (!img || !in || fread(img, 1, geo.size, in) != geo.size)
        return 1;
    fclose(in);
    printf("{");
    rc = report(img, &geo, ids, nb);
    free(img);
    return rc;
}

int main(int argc, char **argv)
{
    struct workload w;
    struct hal_flash_geometry geo, mgeo;
    unsigned char *img;
    uint64_t seed, cut_at;
    unsigned nsales, i, b, torn, cont, mount_prog, worn_block = 0, worn_from = 0, worn_to = 0;
    int rc;
    FILE *out;

    if (argc == 7 && strcmp(argv[1], "-m") == 0)
        return mount_only(argv);

    if (argc < 11) {
        fprintf(stderr,
                "usage: dump_state IMAGE SEED NSALES NBACKENDS ERASE_SIZE PROG_SIZE "
                "NBLOCKS CUT_AT TORN CONTINUE [MOUNT_PROG_SIZE [WORN_BLOCK WORN_FROM WORN_TO]]\n");
        return 2;
    }
    memset(&w, 0, sizeof w);
    seed = strtoull(argv[2], NULL, 0);
    nsales = (unsigned)strtoul(argv[3], NULL, 0);
    w.nb = (unsigned)strtoul(argv[4], NULL, 0);
    geo.erase_size = (uint32_t)strtoul(argv[5], NULL, 0);
    geo.prog_size = (uint32_t)strtoul(argv[6], NULL, 0);
    geo.size = (uint64_t)geo.erase_size * strtoul(argv[7], NULL, 0);
    cut_at = strtoull(argv[8], NULL, 0);
    torn = (unsigned)strtoul(argv[9], NULL, 0);
    cont = (unsigned)strtoul(argv[10], NULL, 0);
    mount_prog = argc > 11 ? (unsigned)strtoul(argv[11], NULL, 0) : 0;
    if (!mount_prog)
        mount_prog = geo.prog_size;
    if (argc > 14) {
        worn_block = (unsigned)strtoul(argv[12], NULL, 0);
        worn_from = (unsigned)strtoul(argv[13], NULL, 0);
        worn_to = (unsigned)strtoul(argv[14], NULL, 0);
    }
    if (w.nb < 1 || w.nb > 2)
        return 2;
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (b = 0; b < w.nb; b++)
        w.ids[b] = journal_backend_id(names[b]);

    w.f = flash_ram_create(&geo);
    if (!w.f || mount(&w) != 0)
        return 1;
    if (cut_at)
        flash_ram_cut_power_at(w.f, cut_at, (int)torn, (uint32_t)seed);
    for (i = 0; i < nsales; i++) {
        if (worn_to && (i == worn_from || i == worn_to))
            flash_ram_fail_block(w.f, worn_block, i == worn_from);
        if (step(&w, seed, i)) {
            if (!cont)
                break;
            crash_and_remount(&w);
        }
    }
    if (!cut(&w) && chance(2))
        journal_flush_marks(&w.j);
    /* The image as the flash holds it now (as if power went here). */
    flash_ram_power_on(w.f);
    img = malloc(geo.size);
    if (!img || hal_flash_read(w.f, 0, img, geo.size) != 0)
        return 1;
    out = fopen(argv[1], "wb");
    if (!out || fwrite(img, 1, geo.size, out) != geo.size || fclose(out) != 0)
        return 1;
    printf("{\"ops\":%" PRIu64 ",\"live_watermarks\":[", flash_ram_ops(w.f));
    for (b = 0; b < w.nb; b++)
        printf("%s%" PRIu64, b ? "," : "", w.j.backends[b].watermark);
    printf("],\"appends\":{\"ok\":%u,\"enospc\":%u,\"failed\":%u,\"seq_gaps\":%" PRIu64 "},",
           w.appended, w.enospc, w.failed, w.gaps);
    journal_unmount(&w.j);
    hal_flash_close(w.f);

    mgeo = geo;
    mgeo.prog_size = mount_prog;
    rc = report(img, &mgeo, w.ids, w.nb);
    free(img);
    return rc;
}
