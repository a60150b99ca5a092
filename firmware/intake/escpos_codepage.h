/*
 * The character tables an ESC/POS printer prints text with: code pages selected by ESC t n and
 * international character sets selected by ESC R n, as Unicode code points.
 */
#ifndef TILLSYNC_ESCPOS_CODEPAGE_H
#define TILLSYNC_ESCPOS_CODEPAGE_H

#include <stdint.h>

/* The upper half (bytes 0x80-0xFF) of the code page ESC t escpos_n selects, or NULL if it is not
 * one this decoder has: 0 (CP437), 2 (CP850), 16 (CP1252), 19 (CP858). */
const uint16_t *escpos_codepage_table(int escpos_n);

/* The ESC t number of "cp437", "cp850", "cp858" or "cp1252"; -1 for any other name. */
int escpos_codepage_by_name(const char *name);

/* Byte c (below 0x80) as the international character set ESC R set prints it. */
uint32_t escpos_intl_char(int set, uint8_t c);

#endif
