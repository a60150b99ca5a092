/*
 * The receipt-printer tap's firmware side: the bytes a POS sent its printer (HAL_EVENT_PRINT_DATA,
 * already passed through) in, sales out. Decodes the stream (escpos.h), reads each receipt at
 * its cut (receipt.h) and keeps the ones it cannot read (receipt_store.h). The sale line goes to
 * on_sale, for the caller to validate and journal as a socket request; an unreadable receipt to
 * on_unreadable (after it is kept), its text with card numbers masked.
 *
 * Memory is fixed once created: about 95 KiB with the default patterns and a txn_pattern
 * (measured with mallinfo2 on x86-64: 52 KiB of buffers - the decoder's receipt, the reader's
 * copy, the masked copy - and glibc's compiled patterns); nothing grows with the stream.
 */
#ifndef TILLSYNC_RECEIPT_TAP_H
#define TILLSYNC_RECEIPT_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "receipt_conf.h"

typedef void (*receipt_sale_fn)(void *ctx, const char *line, size_t len);
typedef void (*receipt_unreadable_fn)(void *ctx, const char *text, const char *why);

/* For status. */
struct receipt_tap_stats {
    uint64_t bytes;
    uint64_t receipts;   /* cuts with something printed since the previous one */
    uint64_t sales;      /* lines given to on_sale (reprints included: the journal drops them) */
    uint64_t unreadable; /* receipts kept as dead letters */
    uint64_t ignored;    /* receipts ignore_pattern matched */
    uint64_t not_kept;   /* unreadable receipts the store failed to write */
    uint64_t empty_cuts;
    uint64_t unknown_commands; /* skipped conservatively: a sign of a printer dialect */
    uint64_t unknown_codepages;
    uint64_t images, barcodes, codes2d;
    uint64_t text_dropped; /* bytes of over-long receipts left out */
};

struct receipt_tap;

/* NULL with err if conf's patterns do not compile (receipt_conf_parse has checked them) or
 * memory is short. */
struct receipt_tap *receipt_tap_new(const struct receipt_conf *conf, char *err, size_t errlen);
void receipt_tap_free(struct receipt_tap *t);

/* The next bytes of the print stream, in any chunking; wall_ms: the wall clock now (ms since
 * the epoch), taken as the time of a cut among them. */
void receipt_tap_feed(struct receipt_tap *t, const uint8_t *data, size_t len, uint64_t wall_ms,
                      receipt_sale_fn on_sale, receipt_unreadable_fn on_unreadable, void *ctx);

/* Ends the receipt in progress as a cut would (a printer without a cutter: call it when the line
 * has been idle a while). */
void receipt_tap_end_receipt(struct receipt_tap *t, uint64_t wall_ms, receipt_sale_fn on_sale,
                             receipt_unreadable_fn on_unreadable, void *ctx);

void receipt_tap_stats(const struct receipt_tap *t, struct receipt_tap_stats *out);

#endif
