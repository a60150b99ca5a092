/*
 * Writes the seed corpus of fuzz_journal_mount: images the journal itself wrote on the fuzzing
 * geometry, in the states mount must recover (sales, delivery marks, dead letters, a requeue, a
 * wrapped ring, a full one, appends cut by power loss), laid out as the harness reads an input
 * (the first FUZZ_JOURNAL_CHUNK bytes of each block). Trailing erased bytes are left out.
 * usage: journal_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/flash_ram.h"
#include "fuzz_journal.h"
#include "journal.h"

static const char *dir;
static unsigned next_txn;

static void die(const char *what, int rc)
{
    fprintf(stderr, "journal_seeds: %s: %d\n", what, rc);
    exit(1);
}

static void mount(struct journal *j, struct hal_flash *f)
{
    char err[256];
    int rc = journal_mount(j, f, fuzz_journal_backends, 2, err, sizeof err);
    if (rc)
        die(err, rc);
}

static int append(struct journal *j)
{
    char txn[32], body[600];
    uint64_t seq;
    unsigned i = next_txn++;
    snprintf(txn, sizeof txn, "T%05u", i);
    snprintf(body, sizeof body,
             "{\"txn\":\"%s\",\"at\":\"2026-04-07T19:45:00+01:00\",\"total\":%u,\"currency\":"
             "\"GBP\",\"customer\":{\"email\":\"c%u@example.com\"},\"items\":[{\"sku\":\"A%u\","
             "\"name\":\"%.*s\",\"qty\":1,\"unit_price\":%u}]}",
             txn, i * 7, i % 5, i, (int)(i * 37 % 200),
             "Latte macchiato with oat milk and an extra shot, large, to go; "
             "Latte macchiato with oat milk and an extra shot, large, to go; "
             "Latte macchiato with oat milk and an extra shot, large, to go; ",
             i * 7);
    return journal_append_sale(j, txn, body, strlen(body), 1000 + i, &seq);
}

static unsigned deliver(struct journal *j, unsigned b, unsigned max, const char *dead_reason)
{
    struct journal_sale s;
    unsigned n = 0;
    while (n < max && journal_next_sale(j, b, &s) == 1) {
        int rc = journal_sale_done(j, b, &s, dead_reason);
        if (rc)
            die("sale_done", rc);
        n++;
    }
    return n;
}

static void save(struct hal_flash *f, const char *name)
{
    static uint8_t image[1 << 20];
    size_t n = 0;
    for (uint64_t block = 0; block < fuzz_journal_geometry.size; block += FUZZ_JOURNAL_BLOCK) {
        if (n + FUZZ_JOURNAL_CHUNK > sizeof image ||
            hal_flash_read(f, block, image + n, FUZZ_JOURNAL_CHUNK))
            die("read", 0);
        n += FUZZ_JOURNAL_CHUNK;
    }
    while (n > 0 && image[n - 1] == 0xFF)
        n--;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(image, 1, n, out) != n || fclose(out))
        die(path, errno);
}

static int collect_dead(void *ctx, uint64_t seq, const char *reason)
{
    (void)reason;
    *(uint64_t *)ctx = seq;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: journal_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    struct journal j;

    struct hal_flash *f = flash_ram_create(&fuzz_journal_geometry);
    mount(&j, f);
    append(&j);
    save(f, "one-sale");
    for (int i = 0; i < 9; i++)
        append(&j);
    save(f, "ten-sales");
    deliver(&j, 0, 6, NULL);
    deliver(&j, 1, 3, NULL);
    journal_flush_marks(&j);
    save(f, "delivered-some");
    deliver(&j, 1, 2, "HTTP 422 from POST /activities: {\"error\":\"invalid\"}");
    save(f, "dead-letters");
    uint64_t dead = 0;
    journal_dead_letters(&j, 1, collect_dead, &dead);
    if (journal_requeue(&j, 1, dead))
        die("requeue", 0);
    save(f, "requeued");
    journal_unmount(&j);
    hal_flash_close(f);

    /* Around the ring a few times, then a backlog. */
    f = flash_ram_create(&fuzz_journal_geometry);
    mount(&j, f);
    while (flash_ram_stats(f)->erases <
           3 * fuzz_journal_geometry.size / fuzz_journal_geometry.erase_size) {
        if (append(&j))
            die("append", 0);
        deliver(&j, 0, 100, NULL);
        deliver(&j, 1, 100, NULL);
        journal_flush_marks(&j);
    }
    save(f, "wrapped");
    for (int i = 0; i < 8; i++)
        append(&j);
    deliver(&j, 0, 3, NULL);
    journal_flush_marks(&j);
    save(f, "wrapped-backlog");
    while (append(&j) == 0)
        ;
    save(f, "full");
    journal_unmount(&j);
    hal_flash_close(f);

    /* Appends and block changes cut by power loss, whole and torn. */
    static const unsigned cuts[] = {3, 7, 12, 20};
    for (unsigned c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        f = flash_ram_create(&fuzz_journal_geometry);
        mount(&j, f);
        flash_ram_cut_power_at(f, cuts[c], c & 1, c + 1);
        while (!flash_ram_power_is_cut(f)) {
            append(&j);
            deliver(&j, 0, 2, NULL);
            journal_flush_marks(&j);
        }
        journal_unmount(&j);
        flash_ram_power_on(f);
        char name[32];
        snprintf(name, sizeof name, "power-cut-%u%s", cuts[c], c & 1 ? "-torn" : "");
        save(f, name);
        hal_flash_close(f);
    }
    return 0;
}
