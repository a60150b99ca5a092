/*
 * A "sale completed" request from the POS: validated field by field and normalised into the
 * record the journal keeps. Pure functions, no I/O: the contract's rules live here alone.
 */
#ifndef TILLSYNC_SALE_H
#define TILLSYNC_SALE_H

#include <stddef.h>

#define SALE_MAX_TXN 64

struct sale {
    char txn[SALE_MAX_TXN + 1];
    char at[65]; /* as the POS gave it: what is sent; the clock check reads it (clock_check.h) */
    char *body;  /* normalised JSON (malloc'd): only the contract's fields, never unknown ones */
    size_t body_len;
};

/*
 * Parses one request line. Returns 0 with *out filled (free with sale_free), or -1 with err
 * holding "<field>: <reason>". The reason never repeats the offending value: it may be card data.
 */
int sale_parse(const char *line, size_t len, struct sale *out, char *err, size_t errlen);
void sale_free(struct sale *s);

/* Field rules, shared with the configuration and tests. */
int sale_valid_txn(const char *s);
int sale_valid_rfc3339(const char *s);
int sale_valid_currency(const char *s);
int sale_valid_utf8(const char *s, size_t len);

#endif
