#include "card.h"

#include <stdint.h>

#define MAX_GROUPS 19 /* groups of one digit each, at most */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int luhn_ok(const char *digits, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

/* Checks every combination of consecutive groups that ends with the newest one. */
static int ends_with_card(const char *const *start, const int *ndigits, int ngroups)
{
    int n = 0;
    for (int i = ngroups - 1; i >= 0 && n + ndigits[i] <= 19; i--) {
        n += ndigits[i];
        if (n < 13)
            continue;
        char digits[19] = {0};
        int m = 0;
        for (int k = i; k < ngroups; k++)
            for (int d = 0; d < ndigits[k]; d++)
                digits[m++] = start[k][d];
        if (digits[0] != '0' && luhn_ok(digits, m))
            return 1;
    }
    return 0;
}

int card_number_in(const char *s, size_t len)
{
    /* Only the last groups can still be part of a 19-digit number; older ones are dropped. */
    const char *start[MAX_GROUPS];
    int ndigits[MAX_GROUPS];
    int ngroups = 0;
    size_t i = 0;
    while (i < len) {
        if (!is_digit(s[i])) {
            i++;
            ngroups = 0;
            continue;
        }
        size_t g = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (ngroups == MAX_GROUPS) {
            for (int k = 1; k < MAX_GROUPS; k++) {
                start[k - 1] = start[k];
                ndigits[k - 1] = ndigits[k];
            }
            ngroups--;
        }
        start[ngroups] = s + g;
        ndigits[ngroups] = (int)(i - g > 20 ? 20 : i - g); /* longer than a card: never one */
        ngroups++;
        if (ends_with_card(start, ndigits, ngroups))
            return 1;
        /* the run goes on over exactly one separator followed by a digit */
        if (i + 1 < len && (s[i] == ' ' || s[i] == '-') && is_digit(s[i + 1]))
            i++;
        else
            ngroups = 0;
    }
    return 0;
}
