/*
 * An ESC/POS print stream decoded into receipts: the text a receipt printer prints, as UTF-8
 * lines, and where the paper is cut. For a tap on the line between a POS and its printer: bytes
 * arrive in any chunking (a byte at a time gives what the whole stream at once gives) and the
 * decoder interprets them as the printer does, so it knows each command's length and skips what
 * it carries (raster images, barcodes, QR codes, downloaded characters) without reading it as text.
 *
 * Memory is fixed at escpos_new: a receipt's text is capped at ESCPOS_TEXT_MAX bytes. A longer
 * one keeps its first ESCPOS_HEAD_MAX bytes (the header: shop, till, often the receipt number)
 * and its last ESCPOS_TAIL_MAX (the footer: total, payment, time), whole lines only; the middle
 * (item lines) is left out and counted in `dropped`.
 */
#ifndef TILLSYNC_ESCPOS_H
#define TILLSYNC_ESCPOS_H

#include <stddef.h>
#include <stdint.h>

#define ESCPOS_LINE_MAX 512 /* bytes of UTF-8 a line keeps; an 80 mm printer prints 48-64 chars */
#define ESCPOS_HEAD_MAX 4096
#define ESCPOS_TAIL_MAX 12288
#define ESCPOS_TEXT_MAX (ESCPOS_HEAD_MAX + ESCPOS_TAIL_MAX)

/* One receipt, from the previous cut to this one. Valid during the callback only. */
struct escpos_receipt {
    const char *text; /* its lines, each ending in '\n', trailing blanks and empty lines gone;
                         NUL-terminated */
    size_t len;
    size_t dropped; /* bytes of text left out to stay within ESCPOS_TEXT_MAX */
    unsigned lines, images, barcodes, codes2d, unknown_commands;
    int partial_cut;
};

typedef void (*escpos_receipt_fn)(void *ctx, const struct escpos_receipt *r);

struct escpos_stats {
    uint64_t bytes;
    uint64_t receipts;
    uint64_t empty_cuts;        /* cuts with nothing printed since the previous one */
    uint64_t unknown_commands;  /* commands this decoder does not know, skipped conservatively */
    uint64_t unknown_codepages; /* ESC t of a code page it has no table for: text reads U+FFFD */
    uint64_t images, barcodes, codes2d;
    uint64_t text_dropped; /* bytes, see `dropped` */
};

struct escpos;

/* A decoder whose printer starts in (and returns to, at ESC @) code page default_codepage, an
 * ESC t number (escpos_codepage.h). NULL when out of memory. */
struct escpos *escpos_new(int default_codepage);
void escpos_free(struct escpos *d);

/* Decodes the next n bytes of the stream; calls fn for each receipt a cut ends. */
void escpos_feed(struct escpos *d, const uint8_t *p, size_t n, escpos_receipt_fn fn, void *ctx);

/* Ends the receipt in progress as if the paper had been cut (for printers that never cut: the
 * caller decides, e.g. after the line has been idle a while). Calls fn if anything was printed. */
void escpos_end_receipt(struct escpos *d, escpos_receipt_fn fn, void *ctx);

const struct escpos_stats *escpos_stats(const struct escpos *d);

#endif
