/*
 * Masking card numbers in free text (a printed receipt) that is to be kept: every run of digit
 * groups that card_number_in() reads as a card number has its digits but the last four replaced
 * by '*'. What is left never holds a card number by card_number_in()'s rules.
 */
#ifndef TILLSYNC_CARD_MASK_H
#define TILLSYNC_CARD_MASK_H

#include <stddef.h>

/* Masks s[0..len) in place (the length does not change); returns how many numbers it masked. */
unsigned card_mask(char *s, size_t len);

#endif
