/*
 * Amounts as a receipt prints them ("1.234,56", "1,234.56", "12.5", "1'234.00") read into minor
 * currency units exactly: integers all the way, no floating point.
 */
#ifndef TILLSYNC_AMOUNT_H
#define TILLSYNC_AMOUNT_H

#include <stddef.h>
#include <stdint.h>

#define AMOUNT_MAX 1000000000000LL /* the contract's largest total, in minor units */

/* Digits after the decimal point of an ISO 4217 currency: 0 (JPY, KRW ...), 3 (BHD, KWD ...),
 * 4 (CLF, UYW), 2 for the rest. */
int amount_exponent(const char *currency);

/*
 * Reads s[0..len): digits, one decimal separator (decimal_sep, '.' or ',') followed by at most
 * `exponent` digits, and the integer part either plain or grouped in threes by the other of '.'
 * and ',', an apostrophe or a space. Text around the number (a currency sign or code) is
 * ignored; a minus sign before it or right after it (a refund) is refused. Returns 0 with
 * *minor set, or -1 with why saying what is wrong.
 */
int amount_parse(const char *s, size_t len, char decimal_sep, int exponent, int64_t *minor,
                 char *why, size_t whylen);

#endif
