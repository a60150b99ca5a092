/*
 * Payment card number detection. Card data must never reach the journal, so every string and
 * number in a request is checked before anything is stored.
 */
#ifndef TILLSYNC_CARD_H
#define TILLSYNC_CARD_H

#include <stddef.h>

/*
 * True if s holds something that looks like a card number: 13-19 digits, optionally grouped by
 * single spaces or dashes, not starting with 0, passing the Luhn check. Groups are tried in every
 * contiguous combination, so "order 12 4111 1111 1111 1111" is caught as well.
 */
int card_number_in(const char *s, size_t len);

#endif
