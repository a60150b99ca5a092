/*
 * What the receipt tap costs the loop that also passes the bytes through: the decoder's
 * throughput, the time a cut takes (reading the receipt: patterns, hash, the sale line checked
 * by sale_parse), and the time a dead letter takes (a file written and fsynced). Prints
 * figures; asserts nothing.
 * usage: bench_receipt_tap [DATA_DIR [DEAD_LETTER_DIR]]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escpos.h"
#include "receipt_tap.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    if (fread(b, 1, *len, f) != *len)
        exit(1);
    fclose(f);
    return b;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned sales, dead;
static void on_sale(void *ctx, const char *line, size_t len)
{
    (void)ctx, (void)line, (void)len;
    sales++;
}
static void on_dead(void *ctx, const char *text, const char *why)
{
    (void)ctx, (void)text, (void)why;
    dead++;
}

static void percentiles(const char *what, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp);
    printf("%-44s n=%zu  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, n, v[n / 2] / 1e6,
           v[n * 99 / 100] / 1e6, v[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : ESCPOS_DATA;
    const char *deaddir = argc > 2 ? argv[2] : "/tmp/bench_receipt_tap.dead";
    static const char *const names[] = {"cp437_cafe", "cp858_bistro", "cp1252_boutique",
                                        "cp850_german", "reprint"};
    uint8_t *s[5];
    size_t len[5], total = 0;
    char path[512];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s.bin", data, names[i]);
        s[i] = slurp(path, &len[i]);
        total += len[i];
    }
    struct receipt_conf conf;
    receipt_conf_defaults(&conf);
    strcpy(conf.currency, "GBP");
    strcpy(conf.txn_pattern, "(Receipt #[[:space:]]*[0-9]+|Bon-Nr: [A-Z0-9-]+)");
    conf.unreadable_dir[0] = '\0';
    char err[256];

    /* decoder alone */
    struct escpos *d = escpos_new(0);
    enum { ROUNDS = 2000 };
    uint64_t t0 = now_ns();
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < 5; i++)
            escpos_feed(d, s[i], len[i], NULL, NULL);
    double secs = (now_ns() - t0) / 1e9;
    printf("decoder: %.1f MB/s (%zu bytes x %d); 115200 baud is 0.0115 MB/s\n",
           (double)total * ROUNDS / secs / 1e6, total, ROUNDS);
    escpos_free(d);

    /* a cut: each stream fed in 64-byte writes (a UART FIFO's worth), timing the write that
     * holds the cut apart from the others */
    struct receipt_tap *t = receipt_tap_new(&conf, err, sizeof err);
    if (!t) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static uint64_t cut_ns[ROUNDS * 8], other_ns[ROUNDS * 200];
    size_t ncut = 0, nother = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < 5; i++)
            for (size_t off = 0; off < len[i]; off += 64) {
                size_t n = len[i] - off < 64 ? len[i] - off : 64;
                unsigned before = sales + dead;
                uint64_t a = now_ns();
                receipt_tap_feed(t, s[i] + off, n, 1796053500000ull, on_sale, on_dead, NULL);
                uint64_t b = now_ns() - a;
                if (sales + dead != before) {
                    if (ncut < sizeof cut_ns / sizeof *cut_ns)
                        cut_ns[ncut++] = b;
                } else if (nother < sizeof other_ns / sizeof *other_ns) {
                    other_ns[nother++] = b;
                }
            }
    percentiles("64-byte write without a cut", other_ns, nother);
    percentiles("64-byte write ending a receipt (read+sale)", cut_ns, ncut);
    receipt_tap_free(t);

    /* a dead letter: written, fsynced, renamed */
    snprintf(conf.unreadable_dir, sizeof conf.unreadable_dir, "%s", deaddir);
    strcpy(conf.total_pattern, "^NEVER([0-9])");
    t = receipt_tap_new(&conf, err, sizeof err);
    static uint64_t dead_ns[200];
    for (int r = 0; r < 200; r++) {
        uint64_t a = now_ns();
        receipt_tap_feed(t, s[0], len[0], 1796053500000ull + (uint64_t)r, on_sale, on_dead, NULL);
        dead_ns[r] = now_ns() - a;
    }
    char what[128];
    snprintf(what, sizeof what, "dead letter (fsync) in %.20s", deaddir);
    percentiles(what, dead_ns, 200);
    receipt_tap_free(t);
    printf("sales %u, dead letters %u\n", sales, dead);
    return 0;
}
