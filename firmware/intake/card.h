/*
 * Payment card number detection. Card data must never reach the journal, so every key, string
 * and number in a request is checked before anything is stored.
 *
 * A card number is what its network would issue: an issuer prefix (IIN range) of a network, a
 * length that network issues for it, and the Luhn check. card.c holds the table and its sources.
 *
 * Item codes in items[].sku: a sku that is exactly a GS1 item code (GTIN-8, -12, -13 or -14, all
 * digits, valid GS1 check digit) is an item code, even where its digits also meet a network's
 * rule. Only 12-14-digit card numbers can collide with one, and those are lengths the networks
 * have left: Visa's 13 (not issued for years; Braintree's table lists 16, 18, 19 only),
 * Maestro's 12-15 (Mastercard's rules still allow them, its issuers use 16-19) and Diners
 * Club's 14 (its older cards). Refusing them instead would refuse one GTIN in ten from those
 * prefixes, the ones that also pass Luhn: German and Japanese EAN-13s (4...), British and
 * Chinese ones (50..., 69...), case GTIN-14s (3..., 5..., 6...) - a grocery till about one sale
 * in ten. The price: a card number of such a length typed alone into sku whose digits also pass
 * the GS1 check (one in ten of them) is stored. The published test numbers that are also GTINs
 * (4012888818888, Authorize.net's 13-digit Visa) are refused all the same: they are the card
 * numbers an integrator types.
 */
#ifndef TILLSYNC_CARD_H
#define TILLSYNC_CARD_H

#include <stddef.h>

/* True if the n ASCII digits at d are a payment card number by its network's rules. */
int card_pan_valid(const char *d, size_t n);

/*
 * True if the UTF-8 text s (len bytes, no NUL needed) holds a card number: a run of whole digit
 * groups (ASCII, fullwidth or other decimal digits) joined by grouping characters (spaces of
 * every kind, tabs, line breaks, dashes, dots, slashes, underscores, commas, invisible format
 * characters, any number of them) that is a card number. Groups are tried in every contiguous
 * combination, so "order 12 4111 1111 1111 1111" is caught as well; a card's digits inside a
 * longer digit run are not a card. A combination of three or more groups holds none longer than
 * 6 digits, the longest in the layouts cards are printed and written in (4-4-4-4, 4-6-5, 4-6-4,
 * 4-4-4-4-3, a digit a group): identifiers that carry a date would otherwise spell a card number
 * now and then (txn "S305-20240922-6820" joins into 305202409226820, a Luhn-valid 15-digit
 * number in Diners Club's range; about 4 in 100 txns of that shape). Any split into two groups is
 * still tried ("41111111 11111111").
 */
int card_number_in(const char *s, size_t len);

/* As card_number_in, for the value of items[].sku: an exact GTIN is an item code (see above). */
int card_number_in_sku(const char *s, size_t len);

/*
 * True if the JSON number text s (len bytes, as written in the request) hides a card number:
 * its digits as written (leading zeros, and trailing zeros after the point, dropped), or, if its
 * value is an integer, that integer's digits. So 378282246310005e0, 3.78282246310005e-1,
 * 0.378282246310005, 51051051051051e2 and 19-digit integers no double can hold are all caught.
 */
int card_number_in_json_number(const char *s, size_t len);

/* True if the n bytes at s are an exact GTIN-8, -12, -13 or -14 with a valid GS1 check digit. */
int card_is_gtin(const char *s, size_t n);

#endif
