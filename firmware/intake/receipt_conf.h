/*
 * The receipt tap's parsing keys, under "intake": {"receipt_tap": {...}} next to the serial
 * ones (pos_port, printer_port, baud, flow_control), which the board's tap driver reads.
 *
 * Patterns are POSIX extended regular expressions, matched case-insensitively against the
 * receipt's text with ^ and $ at line boundaries; the first line that matches counts, and the
 * value is the pattern's first capture group. A pattern key set to null turns that pattern off.
 */
#ifndef TILLSYNC_RECEIPT_CONF_H
#define TILLSYNC_RECEIPT_CONF_H

#include <regex.h>

#include <cjson/cJSON.h>

#include "conf_read.h"

#define RECEIPT_PATTERN_MAX 512

struct receipt_conf {
    char codepage[8]; /* the printer's code page until ESC t: cp437, cp850, cp858, cp1252 */
    char txn_pattern[RECEIPT_PATTERN_MAX];   /* empty: every txn is made from the text */
    char total_pattern[RECEIPT_PATTERN_MAX]; /* required (has a default) */
    char currency[4];                        /* used when currency_pattern is off or misses */
    char currency_pattern[RECEIPT_PATTERN_MAX];
    char loyalty_pattern[RECEIPT_PATTERN_MAX]; /* customer.id */
    char email_pattern[RECEIPT_PATTERN_MAX];   /* customer.email */
    char time_pattern[RECEIPT_PATTERN_MAX];    /* the printed time, read with time_format */
    char time_format[64];                      /* strptime(3) */
    char reprint_pattern[RECEIPT_PATTERN_MAX]; /* lines a reprint adds: not part of the sale */
    char ignore_pattern[RECEIPT_PATTERN_MAX];  /* receipts that are no sale (reports, refunds) */
    char decimal_separator;                    /* '.' or ',' */
    char unreadable_dir[256];                  /* dead letters; empty: kept nowhere (tests) */
    unsigned unreadable_max;
};

/* The keys receipt_conf_parse reads, NULL-terminated. */
extern const char *const receipt_conf_keys[];

/* Fills *out with the defaults (what an empty "receipt_tap" object means, but for currency,
 * which has none). */
void receipt_conf_defaults(struct receipt_conf *out);

/*
 * Reads receipt_conf_keys from obj (path: the object's place, e.g. "intake.receipt_tap.") over
 * the defaults. Does not refuse other keys (the caller checks the union with the serial keys).
 * Returns 0, or -1 after conf_fail naming the key: a pattern that does not compile (with
 * regerror's text), a value pattern without a capture group, neither currency nor
 * currency_pattern, an unknown code page.
 */
int receipt_conf_parse(struct conf_ctx *c, const cJSON *obj, const char *path,
                       struct receipt_conf *out);

/* The flags every pattern is compiled with. */
#define RECEIPT_REGEX_FLAGS (REG_EXTENDED | REG_ICASE | REG_NEWLINE)

#endif
