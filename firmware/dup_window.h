/*
 * The duplicate window: the most recent JOURNAL_DUP_WINDOW sales' txn, so a POS resend of a sale
 * it got no reply for is answered "duplicate" instead of being stored twice.
 *
 * Fixed size (16 bytes a sale plus a 32 KiB index). Entries keep a SHA-256 prefix of the txn and
 * where the record lies, so a hit can be confirmed against flash while the record is still there.
 */
#ifndef TILLSYNC_DUP_WINDOW_H
#define TILLSYNC_DUP_WINDOW_H

#include <stdint.h>

struct dup_window;

struct dup_hit {
    uint32_t addr;         /* record start, bytes from the start of the partition */
    uint32_t block_seq_lo; /* low bits of the block's sequence when it was written */
};

struct dup_window *dup_window_new(void);
void dup_window_free(struct dup_window *w);
uint64_t dup_window_hash(const char *txn);
void dup_window_add(struct dup_window *w, uint64_t hash, struct dup_hit where);
/* Calls check(ctx, where) for each entry with that hash; returns 1 at the first check that
 * returns 1, else 0. */
int dup_window_find(const struct dup_window *w, uint64_t hash,
                    int (*check)(void *ctx, struct dup_hit where), void *ctx);

#endif
