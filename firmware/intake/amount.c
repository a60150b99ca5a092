#include "amount.h"

#include <stdio.h>
#include <string.h>

int amount_exponent(const char *currency)
{
    static const char zero[] =
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    static const char four[] = "CLF UYW";
    if (strlen(currency) != 3)
        return 2;
    for (const char *p = zero; *p; p += p[3] ? 4 : 3)
        if (memcmp(p, currency, 3) == 0)
            return 0;
    for (const char *p = three; *p; p += p[3] ? 4 : 3)
        if (memcmp(p, currency, 3) == 0)
            return 3;
    for (const char *p = four; *p; p += p[3] ? 4 : 3)
        if (memcmp(p, currency, 3) == 0)
            return 4;
    return 2;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int amount_parse(const char *s, size_t len, char decimal_sep, int exponent, int64_t *minor,
                 char *why, size_t whylen)
{
    char group_sep = decimal_sep == '.' ? ',' : '.';
    size_t a = 0, b = len;
    while (a < b && !is_digit(s[a]))
        a++;
    while (b > a && !is_digit(s[b - 1]))
        b--;
    if (a == b) {
        snprintf(why, whylen, "no digits in \"%.*s\"", (int)len, s);
        return -1;
    }
    if (a > 0 && s[a - 1] == decimal_sep) /* ".50" */
        a--;
    if ((a > 0 && memchr(s, '-', a)) || (b < len && s[b] == '-')) {
        snprintf(why, whylen, "\"%.*s\" is negative", (int)len, s);
        return -1;
    }
    /* The number proper: s[a..b), from its first digit to its last. */
    const char *dec = NULL;
    for (size_t i = a; i < b; i++)
        if (s[i] == decimal_sep) {
            if (dec)
                goto bad;
            dec = s + i;
        }
    const char *int_end = dec ? dec : s + b;
    int64_t value = 0;
    int ndigits = 0, group_len = 0, groups = 0;
    char sep_seen = 0;
    for (const char *p = s + a; p < int_end; p++) {
        if (is_digit(*p)) {
            if (++ndigits > 13)
                goto too_big;
            value = value * 10 + (*p - '0');
            group_len++;
            continue;
        }
        if (*p != group_sep && *p != '\'' && *p != ' ')
            goto bad;
        /* one kind of grouping separator; a group before it of 1-3 digits (3 after the first) */
        if ((sep_seen && *p != sep_seen) || group_len == 0 || group_len > 3 ||
            (groups > 0 && group_len != 3))
            goto bad;
        sep_seen = *p;
        groups++;
        group_len = 0;
    }
    if (groups > 0 && group_len != 3)
        goto bad;
    int frac_digits = 0;
    if (dec) {
        for (const char *p = dec + 1; p < s + b; p++) {
            if (!is_digit(*p))
                goto bad;
            if (++frac_digits > exponent) {
                snprintf(why, whylen, "\"%.*s\" has more than %d decimals", (int)len, s, exponent);
                return -1;
            }
            value = value * 10 + (*p - '0');
        }
    }
    for (int k = frac_digits; k < exponent; k++)
        value *= 10;
    if (value > AMOUNT_MAX)
        goto too_big;
    *minor = value;
    return 0;
bad:
    snprintf(why, whylen, "\"%.*s\" is not an amount with decimal separator '%c'", (int)len, s,
             decimal_sep);
    return -1;
too_big:
    snprintf(why, whylen, "\"%.*s\" is more than the largest total", (int)len, s);
    return -1;
}
