/*
 * The duplicate window: the most recent JOURNAL_DUP_WINDOW sales' txn, so a POS resend of a sale
 * it got no reply for is answered "duplicate" instead of being stored twice.
 *
 * Fixed size: 10 bytes a sale (a 48-bit SHA-256 prefix of the txn and the low bits of the
 * sequence number of the block holding the sale) plus a 32 KiB index. The same 48 bits are what
 * each block's OPEN record lists on flash (docs/FORMAT.md), so a mount rebuilds the window from
 * those lists without reading the sales. A hash hit is only a place to look: the journal answers
 * "duplicate" only when the sale reads back from that block with the same txn, byte for byte.
 */
#ifndef TILLSYNC_DUP_WINDOW_H
#define TILLSYNC_DUP_WINDOW_H

#include <stdint.h>

#define DUP_HASH_BYTES 6 /* on flash and in RAM */

struct dup_window;

struct dup_window *dup_window_new(void);
void dup_window_free(struct dup_window *w);
/* The first 48 bits of SHA-256(txn), as a little-endian number. */
uint64_t dup_window_hash(const char *txn);
/* Adds a sale as the newest entry, evicting the oldest once the window is full. */
void dup_window_add(struct dup_window *w, uint64_t hash, uint32_t block_seq_lo);
/* Adds a sale as the oldest entry (mount fills the window newest first). Returns 0, adding
 * nothing, if the window is full. */
int dup_window_add_older(struct dup_window *w, uint64_t hash, uint32_t block_seq_lo);
int dup_window_full(const struct dup_window *w);
unsigned dup_window_count(const struct dup_window *w);
/* The entry age places from the newest (0 is the newest), age < count. */
void dup_window_get(const struct dup_window *w, unsigned age, uint64_t *hash,
                    uint32_t *block_seq_lo);
/* Calls check(ctx, block_seq_lo) for each entry with that hash; returns 1 at the first check
 * that returns 1, else 0. */
int dup_window_find(const struct dup_window *w, uint64_t hash,
                    int (*check)(void *ctx, uint32_t block_seq_lo), void *ctx);

#endif
