/*
 * Receipts that could not be read, kept for the technician: one file each in a directory, the
 * reason on top and the text below, card numbers masked. Bounded: at most `max` files, the
 * oldest removed first. Each file is written whole (a temporary, fsync, rename, fsync of the
 * directory), so a power cut leaves the old set or the new one.
 */
#ifndef TILLSYNC_RECEIPT_STORE_H
#define TILLSYNC_RECEIPT_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Keeps one receipt in dir (created if missing, not its parents). wall_ms: when it was cut.
 * Returns 0, or -1 with err saying what failed. */
int receipt_store_put(const char *dir, unsigned max, uint64_t wall_ms, const char *why,
                      size_t dropped, const char *text, size_t len, char *err, size_t errlen);

/* Calls fn for each kept receipt, oldest first, with its file name and content. fn returning
 * non-zero stops the walk. Returns the number listed, or -1 (errno set) if dir cannot be read. */
typedef int (*receipt_store_fn)(void *ctx, const char *name, const char *content, size_t len);
int receipt_store_list(const char *dir, receipt_store_fn fn, void *ctx);

#endif
