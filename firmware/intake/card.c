#include "card.h"

#include <stdint.h>
#include <string.h>

#define CARD_MIN  12 /* Maestro's shortest */
#define CARD_MAX  19
#define GROUP_MAX 6 /* the longest group of a printed card layout (4-6-5, 4-6-4) */

#define LEN(n)       (1u << (n))
#define LENS(lo, hi) ((LEN((hi) + 1) - 1) & ~(LEN(lo) - 1))

/*
 * Issuer prefixes (IIN ranges) and the lengths each network issues. Where networks share a
 * prefix, or sources differ (Diners Club: 14-19 by Wikipedia, 14, 16 and 19 by Braintree), the
 * union is taken. Sources: ISO/IEC 7812 and Wikipedia's "Payment card number" IIN
 * table; Mastercard's rules for Maestro (50, 56-69, 12-19 digits, which covers Switch/Solo,
 * Bancontact, Dankort, Elo, Hipercard, Cabal, Verve and RuPay numbers in those ranges) and for
 * the 2-series (2221-2720); Braintree's credit-card-type table (Visa 16, 18, 19; legacy JCB 1800
 * and 2131; Diners 14, 16, 19); Discover's Diners Club/JCB acceptance ranges; Mir (NSPK), Troy
 * (BKM), UnionPay International, RuPay (NPCI), Verve, Napas, Uzcard, Humo, GPN and UATP pages;
 * and the providers' published test numbers (Stripe, Adyen, Braintree, PayPal, Authorize.net,
 * Cybersource, Mastercard Gateway, Paystack), each of which this table must match.
 */
struct iin_range {
    uint32_t lo, hi; /* the first `digits` digits, as a number */
    uint8_t digits;
    uint32_t lengths; /* bit n: n digits are issued */
};

static const struct iin_range networks[] = {
    {1, 1, 1, LEN(15)},                          /* UATP */
    {1800, 1800, 4, LENS(15, 19)},               /* JCB, legacy */
    {1946, 1946, 4, LEN(16) | LENS(18, 19)},     /* GPN (Indonesia) */
    {2131, 2131, 4, LENS(15, 19)},               /* JCB, legacy */
    {2200, 2204, 4, LENS(16, 19)},               /* Mir */
    {2205, 2205, 4, LEN(16)},                    /* Borica */
    {2221, 2720, 4, LEN(16)},                    /* Mastercard 2-series */
    {300, 305, 3, LENS(14, 19)},                 /* Diners Club (Carte Blanche) */
    {3088, 3094, 4, LENS(16, 19)},               /* JCB, legacy ranges */
    {3095, 3095, 4, LENS(14, 19)},               /* Diners Club */
    {3096, 3102, 4, LENS(16, 19)},               /* JCB */
    {31, 31, 2, LEN(19)},                        /* China T-Union */
    {3112, 3120, 4, LENS(16, 19)},               /* JCB */
    {3158, 3159, 4, LENS(16, 19)},               /* JCB */
    {3337, 3349, 4, LENS(16, 19)},               /* JCB */
    {34, 34, 2, LEN(15)},                        /* American Express */
    {3528, 3589, 4, LENS(16, 19)},               /* JCB; RuPay-JCB 353, 356 */
    {36, 36, 2, LENS(14, 19)},                   /* Diners Club International */
    {37, 37, 2, LEN(15)},                        /* American Express */
    {38, 39, 2, LENS(14, 19)},                   /* Diners Club; Hipercard 3841 */
    {4, 4, 1, LEN(13) | LEN(16) | LENS(18, 19)}, /* Visa, Visa Electron, Elo, co-brands */
    {50, 50, 2, LENS(12, 19)},                   /* Maestro; Verve, RuPay 508, Dankort */
    {51, 55, 2, LEN(16)},                        /* Mastercard */
    {56, 69, 2, LENS(12, 19)},                   /* Maestro; also covers the rows below */
    {6011, 6011, 4, LENS(16, 19)},               /* Discover */
    {62, 62, 2, LENS(16, 19)},                   /* UnionPay */
    {644, 649, 3, LENS(16, 19)},                 /* Discover */
    {65, 65, 2, LENS(16, 19)},                   /* Discover, RuPay, Troy */
    {81, 82, 2, LEN(16)},                        /* RuPay */
    {8100, 8171, 4, LENS(16, 19)},               /* UnionPay */
    {8600, 8600, 4, LEN(16)},                    /* Uzcard */
    {9704, 9704, 4, LEN(16) | LEN(19)},          /* Napas */
    {9792, 9792, 4, LEN(16)},                    /* Troy */
    {9860, 9860, 4, LEN(16)},                    /* Humo */
};

/* Published test numbers that are also valid GTINs: refused in sku all the same (card.h). */
static const char *const test_numbers_that_are_gtins[] = {
    "4012888818888", /* Authorize.net, Visa */
};

static int luhn_ok(const char *d, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i & 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

int card_pan_valid(const char *d, size_t n)
{
    if (n < CARD_MIN || n > CARD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    int issued = 0;
    for (size_t i = 0; i < sizeof networks / sizeof *networks && !issued; i++) {
        const struct iin_range *r = &networks[i];
        uint32_t prefix = 0;
        for (int k = 0; k < r->digits; k++)
            prefix = prefix * 10 + (uint32_t)(d[k] - '0');
        issued = prefix >= r->lo && prefix <= r->hi && (r->lengths & LEN(n));
    }
    return issued && luhn_ok(d, n);
}

int card_is_gtin(const char *s, size_t n)
{
    if (n != 8 && n != 12 && n != 13 && n != 14)
        return 0;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (i > 0) /* weights 3, 1, 3, ... from the digit before the check digit */
            sum += (s[n - 1 - i] - '0') * (i % 2 ? 3 : 1);
    }
    return (10 - sum % 10) % 10 == s[n - 1] - '0';
}

/* ---- text ---- */

/* Decodes one UTF-8 sequence at s (invalid bytes come back as themselves, one at a time). */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *used)
{
    uint32_t c = s[0];
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c < 0x80 || (size_t)more >= len) {
        *used = 1;
        return c;
    }
    uint32_t cp = c & (0x3Fu >> more);
    for (int i = 1; i <= more; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *used = 1;
            return c;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *used = (size_t)more + 1;
    return cp;
}

/* The value of a decimal digit of any common script, or -1. */
static int digit_value(uint32_t cp)
{
    /* the zero of each run of ten decimal digits (Unicode category Nd) */
    static const uint32_t zeros[] = {
        0x30,   0x660,   0x6F0,   0x7C0,   0x966,   0x9E6,   0xA66,   0xAE6,   0xB66,
        0xBE6,  0xC66,   0xCE6,   0xD66,   0xDE6,   0xE50,   0xED0,   0xF20,   0x1040,
        0x1090, 0x17E0,  0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,
        0x1C40, 0x1C50,  0xA620,  0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,
        0xFF10, 0x104A0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E950, 0x1FBF0,
    };
    for (size_t i = 0; i < sizeof zeros / sizeof *zeros; i++)
        if (cp >= zeros[i] && cp <= zeros[i] + 9)
            return (int)(cp - zeros[i]);
    return -1;
}

/* Characters people and programs put between digit groups, visible or not. */
static int is_grouping(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == '-' || cp == '.' || cp == '/' ||
               cp == '\\' || cp == '_' || cp == ',';
    return cp == 0xA0 || cp == 0xAD || cp == 0xB7 || cp == 0x1680 || cp == 0x180E ||
           (cp >= 0x2000 && cp <= 0x2015) || cp == 0x2022 || cp == 0x2024 || cp == 0x2027 ||
           (cp >= 0x2028 && cp <= 0x202F) || cp == 0x2044 || (cp >= 0x205F && cp <= 0x206F) ||
           cp == 0x2212 || cp == 0x2215 || cp == 0x3000 || cp == 0x30FB || cp == 0xFE58 ||
           cp == 0xFE63 || cp == 0xFEFF || cp == 0xFF0C || cp == 0xFF0D || cp == 0xFF0E ||
           cp == 0xFF0F || cp == 0xFF3F;
}

/* The last digit groups that can still be part of one card number, their digits concatenated. */
struct window {
    char d[CARD_MAX];
    uint8_t start[CARD_MAX];
    int ngroups, ndigits;
};

/* Adds a finished group; true if it ends a card number. */
static int add_group(struct window *w, const char *g, int n)
{
    if (n > CARD_MAX) { /* longer than any card: nothing before it can join what follows */
        w->ngroups = w->ndigits = 0;
        return 0;
    }
    while (w->ndigits + n > CARD_MAX) {
        int drop = w->ngroups > 1 ? w->start[1] : w->ndigits;
        memmove(w->d, w->d + drop, (size_t)(w->ndigits - drop));
        for (int k = 1; k < w->ngroups; k++)
            w->start[k - 1] = (uint8_t)(w->start[k] - drop);
        w->ngroups--;
        w->ndigits -= drop;
    }
    w->start[w->ngroups++] = (uint8_t)w->ndigits;
    memcpy(w->d + w->ndigits, g, (size_t)n);
    w->ndigits += n;
    int longest = 0;
    for (int k = w->ngroups - 1; k >= 0; k--) {
        int len = w->ndigits - w->start[k];
        int glen = (k + 1 < w->ngroups ? w->start[k + 1] : w->ndigits) - w->start[k];
        longest = glen > longest ? glen : longest;
        if (w->ngroups - k >= 3 && longest > GROUP_MAX)
            break; /* card.h: "S305-20240922-6820" */
        if (len >= CARD_MIN && card_pan_valid(w->d + w->start[k], (size_t)len))
            return 1;
    }
    return 0;
}

int card_number_in(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    struct window w = {.ngroups = 0, .ndigits = 0};
    char group[CARD_MAX];
    int glen = 0, in_group = 0;
    size_t i = 0;
    while (i <= len) {
        size_t used = 1;
        uint32_t cp = i < len ? next_cp(p + i, len - i, &used) : 0;
        int v = i < len ? digit_value(cp) : -1;
        if (v >= 0) {
            if (glen < CARD_MAX)
                group[glen] = (char)('0' + v);
            glen++;
            in_group = 1;
        } else {
            if (in_group && add_group(&w, group, glen))
                return 1;
            in_group = 0;
            glen = 0;
            if (i < len && !is_grouping(cp))
                w.ngroups = w.ndigits = 0;
        }
        i += used;
    }
    return 0;
}

int card_number_in_sku(const char *s, size_t len)
{
    if (card_is_gtin(s, len)) {
        for (size_t i = 0;
             i < sizeof test_numbers_that_are_gtins / sizeof *test_numbers_that_are_gtins; i++)
            if (strlen(test_numbers_that_are_gtins[i]) == len &&
                memcmp(test_numbers_that_are_gtins[i], s, len) == 0)
                return 1;
        return 0;
    }
    return card_number_in(s, len);
}

/* ---- JSON numbers ---- */

/* Whether the digits head[0..n) followed by zeros zeros are a card number. */
static int candidate(const char *head, long n, long zeros)
{
    if (n < 1 || zeros < 0 || n + zeros < CARD_MIN || n + zeros > CARD_MAX)
        return 0;
    char d[CARD_MAX];
    memcpy(d, head, (size_t)n);
    memset(d + n, '0', (size_t)zeros);
    return card_pan_valid(d, (size_t)(n + zeros));
}

int card_number_in_json_number(const char *s, size_t len)
{
    /* S: the mantissa's digits from its first non-zero one; value = S * 10^(exp - nfrac) */
    char head[CARD_MAX];
    long nsig = 0, nfrac = 0, frac_in_sig = 0, trailing_zeros = 0, exp = 0;
    int in_frac = 0;
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.' && !in_frac) {
            in_frac = 1;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        nfrac += in_frac;
        if (nsig == 0 && c == '0')
            continue;
        if (nsig < CARD_MAX)
            head[nsig] = c;
        nsig++;
        frac_in_sig += in_frac;
        trailing_zeros = c == '0' ? trailing_zeros + 1 : 0;
    }
    if (nsig == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int neg = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            neg = s[i++] == '-';
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < 100000)
                exp = exp * 10 + (s[i] - '0');
        if (neg)
            exp = -exp;
    }
    long frac_zeros = trailing_zeros < frac_in_sig ? trailing_zeros : frac_in_sig;
    long shift = exp - nfrac; /* the value is an integer if S's last -shift digits are zeros */
    if (candidate(head, nsig, 0) || candidate(head, nsig - frac_zeros, 0))
        return 1;
    if (shift >= 0)
        return nsig <= CARD_MAX && candidate(head, nsig, shift);
    return trailing_zeros >= -shift && nsig + shift <= CARD_MAX && candidate(head, nsig + shift, 0);
}
