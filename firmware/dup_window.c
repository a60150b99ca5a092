#include "dup_window.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "journal.h"

#define INDEX_SLOTS 16384 /* power of two, > JOURNAL_DUP_WINDOW / 0.7 */
#define EMPTY       0xFFFF

struct entry {
    uint64_t hash;
    struct dup_hit where;
};

struct dup_window {
    struct entry ring[JOURNAL_DUP_WINDOW];
    uint32_t count, next;        /* ring fill and the slot the next entry takes */
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
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return h;
}

static uint32_t home(uint64_t hash)
{
    return (uint32_t)(hash & (INDEX_SLOTS - 1));
}

/* Removes ring position pos from the index, shifting later probes back (no tombstones). */
static void index_remove(struct dup_window *w, uint32_t pos)
{
    uint32_t i = home(w->ring[pos].hash);
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
            uint32_t h = home(w->ring[w->index[j]].hash);
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

void dup_window_add(struct dup_window *w, uint64_t hash, struct dup_hit where)
{
    uint32_t pos = w->next;
    if (w->count == JOURNAL_DUP_WINDOW)
        index_remove(w, pos);
    else
        w->count++;
    w->ring[pos] = (struct entry){hash, where};
    uint32_t i = home(hash);
    while (w->index[i] != EMPTY)
        i = (i + 1) & (INDEX_SLOTS - 1);
    w->index[i] = (uint16_t)pos;
    w->next = (pos + 1) % JOURNAL_DUP_WINDOW;
}

int dup_window_find(const struct dup_window *w, uint64_t hash,
                    int (*check)(void *ctx, struct dup_hit where), void *ctx)
{
    for (uint32_t i = home(hash); w->index[i] != EMPTY; i = (i + 1) & (INDEX_SLOTS - 1)) {
        const struct entry *e = &w->ring[w->index[i]];
        if (e->hash == hash && check(ctx, e->where))
            return 1;
    }
    return 0;
}
