#include "dup_window.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "journal.h"

#define INDEX_SLOTS 16384 /* power of two, > JOURNAL_DUP_WINDOW / 0.7 */
#define EMPTY       0xFFFF
#define HASH_MASK   0xFFFFFFFFFFFFull

/* Entries live in a ring, as three arrays so that an entry takes 10 bytes, not a padded 16. */
struct dup_window {
    uint32_t hash_lo[JOURNAL_DUP_WINDOW];
    uint16_t hash_hi[JOURNAL_DUP_WINDOW];
    uint32_t block_seq_lo[JOURNAL_DUP_WINDOW];
    uint32_t count, oldest;      /* ring fill and the position of the oldest entry */
    uint16_t index[INDEX_SLOTS]; /* open addressing, linear probing: slot -> ring position */
};

struct dup_window *dup_window_new(void)
{
    struct dup_window *w = calloc(1, sizeof *w);
    if (w)
        memset(w->index, 0xFF, sizeof w->index);
    return w;
}

void dup_window_free(struct dup_window *w)
{
    free(w);
}

uint64_t dup_window_hash(const char *txn)
{
    /* A cryptographic hash, so no txn pattern a POS produces can crowd one probe chain. */
    unsigned char d[32];
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_sha256((const unsigned char *)txn, strlen(txn), d, 0);
#else
    mbedtls_sha256_ret((const unsigned char *)txn, strlen(txn), d, 0);
#endif
    uint64_t h = 0;
    for (int i = DUP_HASH_BYTES - 1; i >= 0; i--)
        h = h << 8 | d[i];
    return h;
}

static uint64_t hash_at(const struct dup_window *w, uint32_t pos)
{
    return w->hash_lo[pos] | (uint64_t)w->hash_hi[pos] << 32;
}

static uint32_t home(uint64_t hash)
{
    return (uint32_t)(hash & (INDEX_SLOTS - 1));
}

/* Removes ring position pos from the index, shifting later probes back (no tombstones). */
static void index_remove(struct dup_window *w, uint32_t pos)
{
    uint32_t i = home(hash_at(w, pos));
    while (w->index[i] != pos) {
        if (w->index[i] == EMPTY)
            return;
        i = (i + 1) & (INDEX_SLOTS - 1);
    }
    for (;;) {
        w->index[i] = EMPTY;
        uint32_t j = i;
        for (;;) {
            j = (j + 1) & (INDEX_SLOTS - 1);
            if (w->index[j] == EMPTY)
                return;
            uint32_t h = home(hash_at(w, w->index[j]));
            /* Move j back to i unless its home lies cyclically in (i, j]. */
            int stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
            if (!stays) {
                w->index[i] = w->index[j];
                i = j;
                break;
            }
        }
    }
}

static void put(struct dup_window *w, uint32_t pos, uint64_t hash, uint32_t block_seq_lo)
{
    hash &= HASH_MASK;
    w->hash_lo[pos] = (uint32_t)hash;
    w->hash_hi[pos] = (uint16_t)(hash >> 32);
    w->block_seq_lo[pos] = block_seq_lo;
    uint32_t i = home(hash);
    while (w->index[i] != EMPTY)
        i = (i + 1) & (INDEX_SLOTS - 1);
    w->index[i] = (uint16_t)pos;
}

void dup_window_add(struct dup_window *w, uint64_t hash, uint32_t block_seq_lo)
{
    uint32_t pos = (w->oldest + w->count) % JOURNAL_DUP_WINDOW;
    if (w->count == JOURNAL_DUP_WINDOW) {
        index_remove(w, pos); /* pos is the oldest entry */
        w->oldest = (w->oldest + 1) % JOURNAL_DUP_WINDOW;
    } else {
        w->count++;
    }
    put(w, pos, hash, block_seq_lo);
}

int dup_window_add_older(struct dup_window *w, uint64_t hash, uint32_t block_seq_lo)
{
    if (w->count == JOURNAL_DUP_WINDOW)
        return 0;
    w->oldest = (w->oldest + JOURNAL_DUP_WINDOW - 1) % JOURNAL_DUP_WINDOW;
    w->count++;
    put(w, w->oldest, hash, block_seq_lo);
    return 1;
}

int dup_window_full(const struct dup_window *w)
{
    return w->count == JOURNAL_DUP_WINDOW;
}

unsigned dup_window_count(const struct dup_window *w)
{
    return w->count;
}

void dup_window_get(const struct dup_window *w, unsigned age, uint64_t *hash,
                    uint32_t *block_seq_lo)
{
    uint32_t pos = (w->oldest + w->count - 1 - age) % JOURNAL_DUP_WINDOW;
    *hash = hash_at(w, pos);
    *block_seq_lo = w->block_seq_lo[pos];
}

int dup_window_find(const struct dup_window *w, uint64_t hash,
                    int (*check)(void *ctx, uint32_t block_seq_lo), void *ctx)
{
    hash &= HASH_MASK;
    for (uint32_t i = home(hash); w->index[i] != EMPTY; i = (i + 1) & (INDEX_SLOTS - 1)) {
        uint32_t pos = w->index[i];
        if (hash_at(w, pos) == hash && check(ctx, w->block_seq_lo[pos]))
            return 1;
    }
    return 0;
}
