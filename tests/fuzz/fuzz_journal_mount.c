/*
 * journal_mount of an arbitrary flash image, through the RAM flash driver, then what the daemon
 * does next: verify (journal_check), deliver (next_sale, done, dead letters, a requeue), append.
 * The input is laid out on the device as fuzz_journal.h says: the first bytes of each block.
 *
 * Every header and payload carries a CRC, which random mutation breaks at once: alone, the
 * fuzzer would only ever show mount damaged records. So half of the mutations are followed by
 * repair_crcs(), which makes the block headers and records it can find valid again (docs/
 * FORMAT.md's layout): the journal then sees well-formed records holding wrong values.
 *
 * Invariants: no crash and no sanitizer report; a mount refused for another format or geometry
 * (-EPROTO) leaves the flash as it was; a mounted journal answers every call without a device
 * error (the RAM flash has none to give), and a sale it acknowledges survives a remount: found
 * as a duplicate, and handed out with its txn and body.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "drivers/flash_ram.h"
#include "fuzz_check.h"
#include "fuzz_journal.h"
#include "journal.h"

#define NEW_SALES 3
#define MAX_WALK  100000 /* more sales than the image can hold: a walk that long does not end */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* FORMAT.md: block header (magic "TSJL", CRC of its first 36 bytes at 36) in the first program
 * units of a block, then records (magic "TR" at 2, payload length at 4, payload CRC at 8, CRC
 * of the header's first 12 bytes at 12), each padded to whole program units. */
#define BLOCK_HDR   40u
#define BLOCK_MAGIC "TSJL"
#define REC_HDR     16u
#define REC_MAGIC   "TR"

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t round_up(uint32_t v, uint32_t unit)
{
    return (v + unit - 1) / unit * unit;
}

/* On an input: blocks' first FUZZ_JOURNAL_CHUNK bytes, one after the other. */
static void repair_crcs(uint8_t *input, size_t size)
{
    const uint32_t unit = fuzz_journal_geometry.prog_size;
    for (size_t chunk = 0; chunk < size; chunk += FUZZ_JOURNAL_CHUNK) {
        uint8_t *b = input + chunk;
        size_t avail = size - chunk < FUZZ_JOURNAL_CHUNK ? size - chunk : FUZZ_JOURNAL_CHUNK;
        if (avail >= BLOCK_HDR && memcmp(b, BLOCK_MAGIC, 4) == 0)
            put32(b + 36, crc32_update(0, b, 36));
        for (uint32_t off = round_up(BLOCK_HDR, unit); off + REC_HDR <= avail;) {
            uint8_t *h = b + off;
            uint32_t len = get32(h + 4);
            if (memcmp(h + 2, REC_MAGIC, 2) != 0 || len > avail - off - REC_HDR) {
                off += unit;
                continue;
            }
            put32(h + 8, crc32_update(0, h + REC_HDR, len));
            put32(h + 12, crc32_update(0, h, 12));
            off += round_up(REC_HDR + len, unit);
        }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed & 1)
        repair_crcs(data, size);
    return size;
}

static const char *const new_txn[NEW_SALES] = {"fuzz-new-1", "fuzz-new-2", "fuzz-new-3"};
static const char *const new_body[NEW_SALES] = {
    "{\"txn\":\"fuzz-new-1\",\"at\":\"2026-04-07T19:45:00Z\",\"total\":1,\"currency\":\"EUR\"}",
    "{\"txn\":\"fuzz-new-2\",\"at\":\"2026-04-07T19:45:01Z\",\"total\":2,\"currency\":\"EUR\"}",
    "{\"txn\":\"fuzz-new-3\",\"at\":\"2026-04-07T19:45:02Z\",\"total\":3,\"currency\":\"EUR\"}"};

static int first_dead(void *ctx, uint64_t seq, const char *reason)
{
    FUZZ_CHECK(reason != NULL, "a dead letter without a reason");
    *(uint64_t *)ctx = seq;
    return 1;
}

static void check_sale(const struct journal_sale *s)
{
    FUZZ_CHECK(s->txn && s->body && s->body[s->body_len] == '\0', "sale %llu is not whole",
               (unsigned long long)s->seq);
}

/* Hands out what backend b has, finishing each (every third a dead letter); returns how many. */
static unsigned deliver(struct journal *j, unsigned b)
{
    struct journal_sale s;
    unsigned n = 0;
    int rc;
    while ((rc = journal_next_sale(j, b, &s)) == 1) {
        check_sale(&s);
        FUZZ_CHECK(++n < MAX_WALK, "delivery does not end");
        rc = journal_sale_done(j, b, &s, n % 3 ? NULL : "HTTP 422 from POST /activities");
        FUZZ_CHECK(rc == 0 || rc == -ENOSPC, "sale_done: %d", rc);
    }
    FUZZ_CHECK(rc == 0, "next_sale: %d", rc);
    return n;
}

/* After a remount: backend 1 (never delivered to here) must be handed every new sale. */
static void read_back(struct journal *j, const uint64_t *seq, unsigned appended)
{
    unsigned found = 0;
    struct journal_sale s;
    int rc;
    for (unsigned n = 0; (rc = journal_next_sale(j, 1, &s)) == 1; n++) {
        check_sale(&s);
        FUZZ_CHECK(n < MAX_WALK, "delivery does not end");
        for (unsigned i = 0; i < appended; i++)
            if (s.seq == seq[i]) {
                FUZZ_CHECK(strcmp(s.txn, new_txn[i]) == 0 && strcmp(s.body, new_body[i]) == 0,
                           "sale %llu reads back as %s %s", (unsigned long long)s.seq, s.txn,
                           s.body);
                found++;
            }
        FUZZ_CHECK(journal_sale_done(j, 1, &s, NULL) == 0, "sale_done");
    }
    FUZZ_CHECK(rc == 0, "next_sale: %d", rc);
    FUZZ_CHECK(found == appended, "%u of %u acknowledged sales lost (backend 1 watermark %llu)",
               appended - found, appended, (unsigned long long)j->backends[1].watermark);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t image[8 << 20], after[8 << 20];
    const size_t n = (size_t)fuzz_journal_geometry.size;
    if (n > sizeof image || size > n / FUZZ_JOURNAL_BLOCK * FUZZ_JOURNAL_CHUNK)
        return 0;
    memset(image, 0xFF, n);
    for (size_t at = 0; at < size; at += FUZZ_JOURNAL_CHUNK)
        memcpy(image + at / FUZZ_JOURNAL_CHUNK * FUZZ_JOURNAL_BLOCK, data + at,
               size - at < FUZZ_JOURNAL_CHUNK ? size - at : FUZZ_JOURNAL_CHUNK);
    struct hal_flash *f = flash_ram_create(&fuzz_journal_geometry);
    if (!f || hal_flash_prog(f, 0, image, n) != 0)
        abort();

    struct journal j;
    char err[256] = "";
    int rc = journal_mount(&j, f, fuzz_journal_backends, 2, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err[0], "mount: %d without a reason", rc);
        if (rc == -EPROTO) {
            FUZZ_CHECK(hal_flash_read(f, 0, after, n) == 0 && memcmp(image, after, n) == 0,
                       "a journal refused as foreign (%s) was written to", err);
            FUZZ_CHECK(flash_ram_stats(f)->progs == 1 && flash_ram_stats(f)->erases == 0,
                       "a journal refused as foreign (%s) was written to", err);
        }
        hal_flash_close(f);
        return 0;
    }
    FUZZ_CHECK(journal_check(&j) == 0, "journal_check failed");
    deliver(&j, 0);
    uint64_t dead = UINT64_MAX;
    FUZZ_CHECK(journal_dead_letters(&j, 0, first_dead, &dead) >= 0, "dead_letters");
    if (dead != UINT64_MAX) {
        rc = journal_requeue(&j, 0, dead);
        FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -ENOSPC, "requeue: %d", rc);
    }
    rc = journal_flush_marks(&j);
    FUZZ_CHECK(rc == 0 || rc == -ENOSPC, "flush_marks: %d", rc);

    uint64_t seq[NEW_SALES];
    unsigned appended = 0;
    for (unsigned i = 0; i < NEW_SALES; i++) {
        if (journal_find_txn(&j, new_txn[i]))
            break; /* the image has it already: a resend, not a new sale */
        rc = journal_append_sale(&j, new_txn[i], new_body[i], strlen(new_body[i]), 1, &seq[i]);
        if (rc == -ENOSPC)
            break;
        FUZZ_CHECK(rc == 0, "append: %d", rc);
        FUZZ_CHECK(journal_find_txn(&j, new_txn[i]), "%s is not found just after", new_txn[i]);
        appended++;
    }
    journal_unmount(&j);

    rc = journal_mount(&j, f, fuzz_journal_backends, 2, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the journal does not mount again: %d %s", rc, err);
    for (unsigned i = 0; i < appended; i++)
        FUZZ_CHECK(journal_find_txn(&j, new_txn[i]), "%s is not found after a remount", new_txn[i]);
    read_back(&j, seq, appended);
    FUZZ_CHECK(journal_check(&j) == 0, "journal_check failed after a remount");
    journal_unmount(&j);
    hal_flash_close(f);
    return 0;
}
