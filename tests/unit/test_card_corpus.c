/*
 * The card rule measured on both sides, through sale_parse() as the POS reaches it:
 *
 *  - false refusals: corpora of what tills really carry, generated here from a fixed seed (no
 *    data files): GS1 item codes in items[].sku, loyalty ids in customer.id, txns. A value that
 *    holds a card number by its network's rules, however its digits are grouped (ref_holds_card
 *    below, written from the networks' tables independently of card.c), is rightly refused and
 *    counted apart; any other refusal is a false one. A GTIN in sku is never rightly refused.
 *  - misses: the test card numbers the payment providers publish, each in every field and in
 *    every notation (plain, grouped by each separator, JSON number forms).
 *
 * Both figures are printed; both must be 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sale.h"

/* ---- deterministic generator (splitmix64) ---- */

static uint64_t rng_state = 0x7111c0de2026ull;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rng() % n);
}

/* n random digits appended at p */
static char *put_digits(char *p, int n)
{
    for (int i = 0; i < n; i++)
        *p++ = (char)('0' + below(10));
    *p = '\0';
    return p;
}

static int luhn_ok(const char *d)
{
    int n = (int)strlen(d), sum = 0;
    for (int i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i & 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

/* GS1 check digit of the digits before it (GS1 General Specifications 7.9.1) */
static char gs1_check(const char *d, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += (d[n - 1 - i] - '0') * (i % 2 == 0 ? 3 : 1);
    return (char)('0' + (10 - sum % 10) % 10);
}

/*
 * The reference: a card number by its network's rules (issuer prefix, a length it issues, Luhn).
 * Written from Wikipedia's "Payment card number" table and the networks' pages, independently of
 * card.c; only for all-digit values.
 */
static int ref_is_card(const char *d)
{
    static const struct {
        const char *lo, *hi;
        int minlen, maxlen;
    } ranges[] = {
        {"1", "1", 15, 15},       {"1800", "1800", 15, 19}, /* UATP; JCB legacy */
        {"1946", "1946", 16, 19}, {"2131", "2131", 15, 19}, /* GPN; JCB legacy */
        {"2200", "2205", 16, 19}, {"2221", "2720", 16, 16}, /* Mir, Borica; Mastercard */
        {"300", "305", 14, 19},   {"3088", "3094", 16, 19}, /* Diners; JCB legacy */
        {"3095", "3095", 14, 19}, {"3096", "3102", 16, 19}, {"31", "31", 19, 19},
        {"3112", "3120", 16, 19}, /* China T-Union; JCB legacy */
        {"3158", "3159", 16, 19}, {"3337", "3349", 16, 19}, {"34", "34", 15, 15},
        {"37", "37", 15, 15}, /* Amex */
        {"3528", "3589", 16, 19}, {"36", "36", 14, 19},     {"38", "39", 14, 19},
        {"4", "4", 13, 13},       {"4", "4", 16, 16},       {"4", "4", 18, 19}, /* Visa */
        {"50", "50", 12, 19},     {"51", "55", 16, 16},     {"56", "69", 12, 19},
        {"8100", "8171", 16, 19},                           /* Maestro, UnionPay */
        {"81", "82", 16, 16},     {"8600", "8600", 16, 16}, /* RuPay; Uzcard */
        {"9704", "9704", 16, 19}, {"9792", "9792", 16, 16}, /* Napas; Troy */
        {"9860", "9860", 16, 16},                           /* Humo */
    };
    int n = (int)strlen(d);
    if (!luhn_ok(d))
        return 0;
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++) {
        size_t k = strlen(ranges[i].lo);
        if (n >= ranges[i].minlen && n <= ranges[i].maxlen && strncmp(d, ranges[i].lo, k) >= 0 &&
            strncmp(d, ranges[i].hi, k) <= 0)
            return 1;
    }
    return 0;
}

/*
 * The same, however the value's digits are grouped: any run of whole digit groups joined by
 * grouping characters (the corpora use - . _ / and spaces) that is a card number, no group
 * longer than 6 digits where there are three or more (card.h).
 */
static int ref_holds_card(const char *v)
{
    char groups[32][24];
    int ng = 0;
    for (const char *p = v;;) {
        if (*p >= '0' && *p <= '9') {
            size_t n = strspn(p, "0123456789");
            if (n < 24 && ng < 32) {
                memcpy(groups[ng], p, n);
                groups[ng++][n] = '\0';
            } else {
                ng = 0;
            }
            p += n;
            for (int first = 0; first < ng; first++) {
                char d[64] = "";
                size_t longest = 0;
                for (int k = first; k < ng && strlen(d) + strlen(groups[k]) < sizeof d; k++) {
                    strcat(d, groups[k]);
                    longest = strlen(groups[k]) > longest ? strlen(groups[k]) : longest;
                }
                /* three groups or more: as cards are written, none longer than 6 digits */
                if ((ng - first < 3 || longest <= 6) && ref_is_card(d))
                    return 1;
            }
            continue;
        }
        if (!*p)
            return 0;
        if (!strchr(" -._/", *p))
            ng = 0;
        p++;
    }
}

/* ---- request lines ---- */

/* Each field as JSON text; one of them replaced by the value under test. */
struct fields {
    const char *txn, *total, *source, *email, *phone, *first, *last, *id, *sku, *name, *qty, *price,
        *extra_top, *extra_cust;
};

static const struct fields DEFAULTS = {"\"000123\"",
                                       "12750",
                                       "\"till-3\"",
                                       "\"jane@example.com\"",
                                       "\"+447700900123\"",
                                       "\"Jane\"",
                                       "\"Doe\"",
                                       "\"LOYAL-889\"",
                                       "\"A1\"",
                                       "\"Latte\"",
                                       "2",
                                       "375",
                                       "",
                                       ""};

static char *line_of(const struct fields *f)
{
    static char buf[4096];
    int n =
        snprintf(buf, sizeof buf,
                 "{\"event\":\"sale.completed\",\"txn\":%s,\"at\":\"2026-04-07T19:45:00+01:00\","
                 "\"total\":%s,\"currency\":\"GBP\",\"source\":%s,\"customer\":{\"email\":%s,"
                 "\"phone\":%s,\"first_name\":%s,\"last_name\":%s,\"id\":%s%s},\"items\":[{"
                 "\"sku\":%s,\"name\":%s,\"qty\":%s,\"unit_price\":%s}]%s}",
                 f->txn, f->total, f->source, f->email, f->phone, f->first, f->last, f->id,
                 f->extra_cust, f->sku, f->name, f->qty, f->price, f->extra_top);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return buf;
}

static char err[512];

/* 0 accepted, 1 refused as a card, -1 refused for something else */
static int verdict(const char *line)
{
    struct sale s;
    memset(err, 0, sizeof err);
    if (sale_parse(line, strlen(line), &s, err, sizeof err) == 0) {
        sale_free(&s);
        return 0;
    }
    return strstr(err, "payment card number") ? 1 : -1;
}

static char *quoted(const char *v)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "\"%s\"", v);
    return buf;
}

/* ---- the ordinary side ---- */

/* GS1 prefixes tills see on shelves: member organisations' ranges and in-store ones. */
static const char *const gs1_prefixes[] = {
    "000", "001", "006", "008", "030", "036", "040", "050", "070", "076", "080", "089", "200",
    "210", "220", "250", "270", "290", "300", "325", "350", "379", "380", "383", "385", "387",
    "400", "401", "405", "410", "421", "426", "440", "450", "456", "460", "471", "477", "489",
    "490", "495", "500", "501", "503", "506", "509", "520", "529", "535", "539", "540", "545",
    "560", "569", "570", "578", "590", "594", "599", "600", "601", "616", "619", "622", "628",
    "629", "640", "643", "649", "680", "690", "692", "695", "699", "700", "705", "729", "730",
    "735", "740", "750", "759", "760", "768", "770", "779", "786", "789", "790", "800", "803",
    "809", "822", "838", "840", "843", "858", "859", "860", "865", "869", "870", "871", "876",
    "880", "885", "888", "890", "893", "899", "900", "905", "909", "930", "934", "940", "955",
    "958", "977", "978", "979"};

static void gen_gtin(char *out)
{
    char d[15];
    int len;
    unsigned k = below(100);
    if (k < 45) { /* EAN-13: GS1 prefix, company prefix and item reference */
        len = 13;
        memcpy(d, gs1_prefixes[below(sizeof gs1_prefixes / sizeof *gs1_prefixes)], 3);
        put_digits(d + 3, 9);
    } else if (k < 75) { /* UPC-A: number systems 0, 1, 6-9 (company), 2 (in-store), 3 (drugs) */
        static const char systems[] = "0016789923";
        len = 12;
        d[0] = systems[below(sizeof systems - 1)];
        put_digits(d + 1, 10);
    } else if (k < 88) { /* EAN-8 */
        len = 8;
        memcpy(d, gs1_prefixes[below(sizeof gs1_prefixes / sizeof *gs1_prefixes)], 3);
        put_digits(d + 3, 4);
    } else { /* GTIN-14 of a case: packaging indicator 1-8, then a GTIN-13's first 12 digits */
        len = 14;
        d[0] = (char)('1' + below(8));
        memcpy(d + 1, gs1_prefixes[below(sizeof gs1_prefixes / sizeof *gs1_prefixes)], 3);
        put_digits(d + 4, 9);
    }
    d[len - 1] = gs1_check(d, len - 1);
    d[len] = '\0';
    memcpy(out, d, (size_t)len + 1);
}

/*
 * Loyalty ids as retailers issue them: GS1 restricted-circulation numbers (prefix 20-29, the
 * range GS1 reserves for a company's own numbering, used for store cards) with a GS1 check digit,
 * retailer-lettered ids, and short member numbers.
 */
static void gen_loyalty(char *out)
{
    static const char *const letters[] = {"LOYAL", "CLUB", "MBR", "VIP", "REWARDS", "LC", "PTS"};
    unsigned k = below(100);
    if (k < 60) {
        char d[14];
        d[0] = '2';
        d[1] = (char)('0' + below(10));
        put_digits(d + 2, 10);
        d[12] = gs1_check(d, 12);
        d[13] = '\0';
        strcpy(out, d);
    } else if (k < 85) {
        char *p = out + sprintf(out, "%s-", letters[below(sizeof letters / sizeof *letters)]);
        put_digits(p, 4 + (int)below(9));
    } else {
        put_digits(out, 6 + (int)below(5));
    }
}

/* txns as tills number them */
static void gen_txn(char *out)
{
    unsigned k = below(100);
    int y = 2020 + (int)below(10), mo = 1 + (int)below(12), d = 1 + (int)below(28);
    int store = (int)below(1000), till = 1 + (int)below(40);
    unsigned seq = (unsigned)below(100000);
    if (k < 35) /* 16 digits: date, store, sequence */
        sprintf(out, "%04d%02d%02d%03d%05u", y, mo, d, store, seq);
    else if (k < 50) /* 16 digits: store, date, sequence */
        sprintf(out, "%04d%02d%02d%02d%06u", store, y % 100, mo, d, seq);
    else if (k < 60) /* 16 digits: a zero-padded counter */
        sprintf(out, "%016u", (unsigned)below(100000000));
    else if (k < 75)
        sprintf(out, "T%03d-%06u", store, seq);
    else if (k < 85)
        sprintf(out, "S%d-%04d%02d%02d-%04u", store, y, mo, d, seq % 10000);
    else if (k < 92)
        sprintf(out, "POS%d:%04d-%02d-%02d:%06u", till, y, mo, d, seq);
    else { /* a UUID: some tills key sales by one (drawn in order: arguments have none) */
        unsigned long long u1 = rng() & 0xffffffffu;
        unsigned u2 = below(0x10000), u3 = below(0x1000), u4 = 0x8000u | below(0x4000);
        unsigned long long u5 = rng() & 0xffffffffffffull;
        sprintf(out, "%08llx-%04x-4%03x-%04x-%012llx", u1, u2, u3, u4, u5);
    }
}

struct tally {
    int total, rightly, false_refusals, other;
};

/* A GTIN in sku is an item code even where its digits satisfy a card rule (card.h says why). */
static void count(struct tally *t, const char *kind, const char *value, const char *line)
{
    int v = verdict(line);
    t->total++;
    if (v == 0)
        return;
    if (v == 1 && strcmp(kind, "sku") != 0 && ref_holds_card(value)) {
        t->rightly++;
        return;
    }
    if (v == 1)
        t->false_refusals++;
    else
        t->other++;
    if (t->false_refusals + t->other <= 5)
        print_message("  %s %s refused: %s\n", kind, value, err);
}

static void add(struct tally *sum, const struct tally *t, const char *what)
{
    print_message("card corpus: %s: false refusals %d of %d (%d card numbers by network rules, "
                  "rightly refused)\n",
                  what, t->false_refusals + t->other, t->total, t->rightly);
    sum->total += t->total;
    sum->rightly += t->rightly;
    sum->false_refusals += t->false_refusals;
    sum->other += t->other;
}

static struct tally ordinary_side(void)
{
    struct tally sum = {0}, t;
    const int n = 10000;
    struct fields f;
    char v[80];
    t = (struct tally){0};
    for (int i = 0; i < n; i++) {
        f = DEFAULTS;
        gen_gtin(v);
        f.sku = quoted(v);
        count(&t, "sku", v, line_of(&f));
    }
    add(&sum, &t, "GTINs in items[].sku");
    t = (struct tally){0};
    for (int i = 0; i < n; i++) {
        f = DEFAULTS;
        gen_loyalty(v);
        f.id = quoted(v);
        count(&t, "customer.id", v, line_of(&f));
    }
    add(&sum, &t, "loyalty ids in customer.id");
    t = (struct tally){0};
    for (int i = 0; i < n; i++) {
        f = DEFAULTS;
        gen_txn(v);
        f.txn = quoted(v);
        count(&t, "txn", v, line_of(&f));
    }
    add(&sum, &t, "txns");
    return sum;
}

/* ---- the card side ---- */

/* Test card numbers published by payment providers' developer documentation. */
static const char *const published[] = {
    /* Visa: Stripe, Braintree, PayPal Payflow, Authorize.net (13 digits), Mastercard Gateway,
     * Adyen */
    "4111111111111111", "4012888888881881", "4222222222222", "4242424242424242", "4000056655665556",
    "4005519200000004", "4009348888881881", "4012000033330026", "4012000077777777",
    "4217651111111119", "4500600000000061", "4007000000027", "4012888818888", "4508750015741019",
    "4000000000003220", "4988438843884305", "4166676667666746", "4646464646464644",
    "4035501000000008",
    /* Mastercard, 51-55 and 2221-2720 */
    "5555555555554444", "5105105105105100", "2223003122003222", "5200828282828210",
    "5454545454545454", "2223000048400011", "5123450000000008", "2223000000000007",
    "5111111111111118", "2222420000001113", "2222630000001125", "5424000000000015",
    /* American Express */
    "378282246310005", "371449635398431", "378734493671000", "371881634498004", "370000000000002",
    "371881127160004",
    /* Discover */
    "6011111111111117", "6011000990139424", "6011000991300009", "6011601160116611",
    "6011000000000012", "6011981111111113", "6445644564456445", "6011003179988686",
    /* Diners Club */
    "30569309025904", "38520000023237", "36227206271667", "36259600000004", "3056930009020004",
    "38000000000006", "30123400000000", "36259600000012", "36006666333344",
    /* JCB */
    "3530111333300000", "3566002020360505", "3566111111111113", "3088000000000017",
    "3528000000000007", "3569990010095841",
    /* UnionPay, 62 and 81 */
    "6200000000000005", "6250941006528599", "6205500000000000004", "6243030000000001",
    "6221261111117766", "6223164991230014", "8171999927660000", "8171999900000000021",
    "6212345678901265", "6212345678900000003", "6250946000000016",
    /* Maestro (international and UK, 14 to 19 digits), Switch/Solo, BankCard */
    "6759649826438453", "6799990100000000019", "6304000000000000", "6759411100000008",
    "6759560045005727054", "5641821111166669", "50339619890917", "586824160825533338",
    "5000000000000000005", "6771798021000008", "5610591081018250", "6331101999990016",
    /* Mir */
    "2200000000000004", "2201382000000013", "2200000000000053",
    /* Troy */
    "9792075482365454", "6587619825149656", "9792395412651264",
    /* Verve (Paystack, Flutterwave) */
    "5060666666666666666", "5061460410120223210", "5078036246600381",
    /* RuPay */
    "6073849700004947", "6074825972083818",
    /* Elo, Hipercard, Bancontact, Dankort, Cabal, Hiper, UATP */
    "5066991111111118", "6062828888666688", "6703444444444449", "5019555544445555",
    "5019717010103742", "6035227716427021", "6370950000000005", "6362970000457013",
    "135412345678911", "135410014004955"};

/* Writes digits d grouped as the groups list says (0-terminated), separated by sep. */
static void grouped(char *out, const char *d, const int *groups, const char *sep)
{
    size_t n = strlen(d), at = 0;
    out[0] = '\0';
    for (int g = 0; at < n; g++) {
        size_t len = groups[g] ? (size_t)groups[g] : n - at;
        if (len > n - at)
            len = n - at;
        if (at)
            strcat(out, sep);
        strncat(out, d + at, len);
        at += len;
    }
}

/* Separators as JSON string text (escapes and raw UTF-8 both). */
static const char *const seps[] = {"",
                                   " ",
                                   "  ",
                                   "-",
                                   " - ",
                                   "--",
                                   ".",
                                   "/",
                                   " / ",
                                   "_",
                                   "\\t",
                                   "\\t\\t",
                                   "\xc2\xa0",
                                   "\\u00a0",
                                   "\\u00A0 ",
                                   "\xe2\x80\x89",
                                   "\xe2\x80\xaf",
                                   "\xe3\x80\x80",
                                   "\\u2007",
                                   "\xe2\x80\x93",
                                   " \xe2\x80\x94 ",
                                   "\\u2212",
                                   "\\n",
                                   ". ",
                                   "- ",
                                   " _ ",
                                   "\\u200b"};
/* the characters a txn may hold */
static int txn_charset(const char *s)
{
    for (; *s; s++)
        if (!strchr("0123456789.-_", *s))
            return 0;
    return 1;
}

static const int group_4444[] = {4, 4, 4, 4, 0}, group_465[] = {4, 6, 5, 0},
                 group_464[] = {4, 6, 4, 0},
                 group_ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};

struct misses {
    int total, missed;
};

static void expect_card(struct misses *m, const char *what, const char *line)
{
    int v = verdict(line);
    m->total++;
    for (const char *p = err; v == 1 && *p; p++)
        if (strspn(p, "0123456789") >= 4)
            v = -1; /* the error repeats digits: never */
    if (v != 1) {
        m->missed++;
        if (m->missed <= 5)
            print_message("  missed: %s (%s)\n", what, v == 0 ? "accepted" : err);
    }
}

/* the number forms of one card number */
static int number_forms(const char *d, char forms[][64])
{
    int n = 0, len = (int)strlen(d);
    sprintf(forms[n++], "%s", d);
    sprintf(forms[n++], "-%s", d);
    sprintf(forms[n++], "%s.0", d);
    sprintf(forms[n++], "%se0", d);
    sprintf(forms[n++], "%sE+00", d);
    sprintf(forms[n++], "0.%s", d);
    sprintf(forms[n++], "0.%se-3", d);
    sprintf(forms[n++], "%c.%se%d", d[0], d + 1, len - 1); /* the integer, scientific */
    sprintf(forms[n++], "%c.%se-1", d[0], d + 1);          /* 3.78282246310005e-1 */
    sprintf(forms[n++], "%.*s.%s", len / 2, d, d + len / 2);
    sprintf(forms[n++], "%se-%d", d, len);
    sprintf(forms[n++], "00%s", d); /* leading zeros: cJSON reads them */
    int zeros = 0;
    while (zeros < len - 1 && d[len - 1 - zeros] == '0')
        zeros++;
    if (zeros) /* 51051051051051e2 */
        sprintf(forms[n++], "%.*se%d", len - zeros, d, zeros);
    return n;
}

static struct misses card_side(void)
{
    struct misses m = {0};
    char what[512], v[256], key[400];
    static const char *const string_fields[] = {"txn", "email", "phone", "first",  "last",
                                                "id",  "sku",   "name",  "source", "extra",
                                                "key", "ckey",  "text"};
    for (size_t i = 0; i < sizeof published / sizeof *published; i++) {
        const char *d = published[i];
        assert_true(luhn_ok(d));
        int len = (int)strlen(d);
        const int *groupings[] = {group_4444, len == 15 ? group_465 : group_464, group_ones};
        for (size_t s = 0; s < sizeof seps / sizeof *seps; s++) {
            for (size_t g = 0; g < 3; g++) {
                if (g && !seps[s][0])
                    continue; /* ungrouped once is enough */
                grouped(v, d, groupings[g], seps[s]);
                for (size_t fi = 0; fi < sizeof string_fields / sizeof *string_fields; fi++) {
                    const char *field = string_fields[fi];
                    struct fields f = DEFAULTS;
                    char q[320];
                    snprintf(q, sizeof q, "\"%s\"", v);
                    if (!strcmp(field, "txn")) {
                        if (!txn_charset(v))
                            continue;
                        f.txn = q;
                    } else if (!strcmp(field, "email")) {
                        snprintf(q, sizeof q, "\"%s@example.com\"", v);
                        f.email = q;
                    } else if (!strcmp(field, "phone"))
                        f.phone = q;
                    else if (!strcmp(field, "first"))
                        f.first = q;
                    else if (!strcmp(field, "last"))
                        f.last = q;
                    else if (!strcmp(field, "id"))
                        f.id = q;
                    else if (!strcmp(field, "sku"))
                        f.sku = q;
                    else if (!strcmp(field, "name"))
                        f.name = q;
                    else if (!strcmp(field, "source")) {
                        if (strlen(v) > 64)
                            continue;
                        f.source = q;
                    } else if (!strcmp(field, "extra")) {
                        snprintf(key, sizeof key, ",\"note\":%s", q);
                        f.extra_top = key;
                    } else if (!strcmp(field, "key")) {
                        snprintf(key, sizeof key, ",%s:1", q);
                        f.extra_top = key;
                    } else if (!strcmp(field, "ckey")) {
                        snprintf(key, sizeof key, ",%s:\"x\"", q);
                        f.extra_cust = key;
                    } else {
                        snprintf(q, sizeof q, "\"paid with card %s, thanks\"", v);
                        f.name = q;
                    }
                    snprintf(what, sizeof what, "%s in %s", q, field);
                    expect_card(&m, what, line_of(&f));
                }
            }
        }
        static char forms[16][64];
        int nf = number_forms(d, forms);
        for (int k = 0; k < nf; k++) {
            static const char *const number_fields[] = {"qty", "price", "total", "note"};
            for (size_t fi = 0; fi < 4; fi++) {
                struct fields f = DEFAULTS;
                if (fi == 0)
                    f.qty = forms[k];
                else if (fi == 1)
                    f.price = forms[k];
                else if (fi == 2)
                    f.total = forms[k];
                else {
                    snprintf(key, sizeof key, ",\"note\":%.63s", forms[k]);
                    f.extra_top = key;
                }
                snprintf(what, sizeof what, "%.63s as %s", forms[k], number_fields[fi]);
                expect_card(&m, what, line_of(&f));
            }
        }
    }
    return m;
}

static void test_card_corpus(void **state)
{
    (void)state;
    struct tally t = ordinary_side();
    struct misses m = card_side();
    print_message("card corpus: false refusals %d of %d; misses %d of %d\n",
                  t.false_refusals + t.other, t.total, m.missed, m.total);
    print_message("card corpus: %d of the ordinary values are card numbers by network rules "
                  "(rightly refused)\n",
                  t.rightly);
    assert_int_equal(t.false_refusals + t.other, 0);
    assert_int_equal(m.missed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
