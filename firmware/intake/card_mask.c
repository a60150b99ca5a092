#include "card_mask.h"

#include "card.h"

#define GROUPS_MAX 19 /* a card's digits in as many groups as it has digits, at most */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Masks the digits of s[a..b) but the last four. */
static void mask_range(char *s, size_t a, size_t b)
{
    unsigned keep = 4;
    for (size_t i = b; i > a; i--)
        if (is_digit(s[i - 1])) {
            if (keep)
                keep--;
            else
                s[i - 1] = '*';
        }
}

unsigned card_mask(char *s, size_t len)
{
    /* The digit groups seen so far that a later one may still join: their starts. */
    size_t start[GROUPS_MAX];
    unsigned ndigits[GROUPS_MAX];
    int ng = 0;
    unsigned masked = 0;
    size_t i = 0;
    while (i < len) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        size_t gs = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (ng == GROUPS_MAX) {
            for (int k = 1; k < ng; k++) {
                start[k - 1] = start[k];
                ndigits[k - 1] = ndigits[k];
            }
            ng--;
        }
        start[ng] = gs;
        ndigits[ng] = (unsigned)(i - gs);
        ng++;
        /* The shortest run of groups ending here that holds a card number: card_number_in()
         * decides, so the grouping rules stay card.c's alone. */
        unsigned digits = 0;
        for (int k = ng - 1; k >= 0; k--) {
            digits += ndigits[k];
            if (digits > 19 * 2) /* no card's digits and a run before them */
                break;
            if (card_number_in(s + start[k], i - start[k])) {
                mask_range(s, start[k], i);
                masked++;
                ng = 0;
                break;
            }
        }
    }
    /* What the runs above miss (digits of other scripts, groups split oddly): no digit is left
     * readable rather than a card number kept. */
    if (card_number_in(s, len)) {
        masked++;
        for (size_t k = 0; k < len; k++)
            if (is_digit(s[k]))
                s[k] = '*';
        if (card_number_in(s, len))
            for (size_t k = 0; k < len; k++)
                if ((unsigned char)s[k] >= 0x80)
                    s[k] = '?';
    }
    return masked;
}
