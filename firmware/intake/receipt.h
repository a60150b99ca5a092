/*
 * A printed receipt's text read into a sale: the request line of the POS intake protocol
 * (docs: CONTRACT.md), as if the POS had sent it, with "source": "receipt". The caller feeds it
 * to the same validation and journal path as a socket request. Pure: no I/O.
 *
 * txn: txn_pattern's value, or, when it is off or misses, one made from the receipt: "rcpt-" and
 * 24 hex digits of SHA-256 over its text (lines matching reprint_pattern left out, blanks
 * collapsed) and its printed time (none when time_pattern misses: the text alone). A reprint (the
 * same receipt again, with a "REPRINT" or "COPY" line) gets the same txn, and the journal's
 * duplicate check makes it one sale. Two sales whose receipts print the same text and time, without
 * a number telling them apart, also get one txn: the price of not counting reprints.
 *
 * at: the printed time (time_pattern read with time_format, the till's local time, with the
 * offset the system's time zone gives it), else when the cut was seen.
 */
#ifndef TILLSYNC_RECEIPT_H
#define TILLSYNC_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "receipt_conf.h"
#include "sale.h"

enum receipt_outcome {
    RECEIPT_SALE,       /* line holds the request */
    RECEIPT_UNREADABLE, /* why says what failed: keep the receipt for the technician */
    RECEIPT_IGNORED,    /* ignore_pattern matched: not a sale */
};

struct receipt_result {
    enum receipt_outcome outcome;
    char line[2048];
    size_t line_len;
    char why[256]; /* "total: no line matched total_pattern"; never a card number */
    char txn[SALE_MAX_TXN + 1];
    int txn_made; /* txn is the hash, not read from the receipt */
    int64_t total;
    char currency[4];
    char at[32];
};

struct receipt_rules;

/* Compiles conf's patterns (receipt_conf_parse has checked them). NULL with err on failure. */
struct receipt_rules *receipt_rules_new(const struct receipt_conf *conf, char *err, size_t errlen);
void receipt_rules_free(struct receipt_rules *r);

/* Reads the receipt text[0..len) (NUL-terminated, lines ending in '\n'); cut_wall_ms is when its
 * cut was seen (ms since the epoch). Fills *out and returns its outcome. */
enum receipt_outcome receipt_read(struct receipt_rules *r, const char *text, size_t len,
                                  uint64_t cut_wall_ms, struct receipt_result *out);

#endif
