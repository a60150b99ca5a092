#define _GNU_SOURCE /* strptime, tm_gmtoff */
#include "receipt.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "amount.h"
#include "card.h"
#include "escpos.h"

#define VALUE_MAX 256

enum pattern_id {
    P_TXN,
    P_TOTAL,
    P_CURRENCY,
    P_LOYALTY,
    P_EMAIL,
    P_TIME,
    P_REPRINT,
    P_IGNORE,
    P_N
};

static const char *const pattern_key[P_N] = {
    "txn_pattern",   "total_pattern", "currency_pattern", "loyalty_pattern",
    "email_pattern", "time_pattern",  "reprint_pattern",  "ignore_pattern",
};

struct receipt_rules {
    regex_t re[P_N];
    int on[P_N];
    char currency[4];
    char time_format[64];
    char decimal_separator;
    char kept[ESCPOS_TEXT_MAX + 2]; /* the text without reprint lines */
    char line[ESCPOS_LINE_MAX + 1];
};

static const char *pattern_of(const struct receipt_conf *c, int id)
{
    switch (id) {
    case P_TXN:
        return c->txn_pattern;
    case P_TOTAL:
        return c->total_pattern;
    case P_CURRENCY:
        return c->currency_pattern;
    case P_LOYALTY:
        return c->loyalty_pattern;
    case P_EMAIL:
        return c->email_pattern;
    case P_TIME:
        return c->time_pattern;
    case P_REPRINT:
        return c->reprint_pattern;
    default:
        return c->ignore_pattern;
    }
}

struct receipt_rules *receipt_rules_new(const struct receipt_conf *conf, char *err, size_t errlen)
{
    struct receipt_rules *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < P_N; i++) {
        const char *p = pattern_of(conf, i);
        if (!p[0])
            continue;
        int rc = regcomp(&r->re[i], p, RECEIPT_REGEX_FLAGS);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &r->re[i], msg, sizeof msg);
            snprintf(err, errlen, "%s: %s", pattern_key[i], msg);
            receipt_rules_free(r);
            return NULL;
        }
        r->on[i] = 1;
    }
    memcpy(r->currency, conf->currency, sizeof r->currency);
    snprintf(r->time_format, sizeof r->time_format, "%s", conf->time_format);
    r->decimal_separator = conf->decimal_separator;
    return r;
}

void receipt_rules_free(struct receipt_rules *r)
{
    if (!r)
        return;
    for (int i = 0; i < P_N; i++)
        if (r->on[i])
            regfree(&r->re[i]);
    free(r);
}

/* The first capture group of pattern id's first match in text, trimmed, into v. 1: found;
 * 0: no match; -1: it matched but its first group took no part (why says so). */
static int find(struct receipt_rules *r, int id, const char *text, char *v, size_t cap, char *why,
                size_t whylen)
{
    regmatch_t m[2];
    if (!r->on[id] || regexec(&r->re[id], text, 2, m, 0) != 0)
        return 0;
    if (m[1].rm_so < 0) {
        snprintf(why, whylen, "%s: matched, but its first group took no part", pattern_key[id]);
        return -1;
    }
    const char *s = text + m[1].rm_so, *e = text + m[1].rm_eo;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    memcpy(v, s, n);
    v[n] = '\0';
    return 1;
}

/* Copies text into r->kept without the lines reprint_pattern matches. */
static size_t keep_sale_lines(struct receipt_rules *r, const char *text, size_t len)
{
    size_t out = 0;
    if (len > ESCPOS_TEXT_MAX)
        len = ESCPOS_TEXT_MAX;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        size_t ln = n < ESCPOS_LINE_MAX ? n : ESCPOS_LINE_MAX;
        memcpy(r->line, text + i, ln);
        r->line[ln] = '\0';
        if (!r->on[P_REPRINT] || regexec(&r->re[P_REPRINT], r->line, 0, NULL, 0) != 0) {
            memcpy(r->kept + out, text + i, n);
            out += n;
            r->kept[out++] = '\n';
        }
        i += n + 1;
    }
    r->kept[out] = '\0';
    return out;
}

/* "rcpt-" and 24 hex digits of SHA-256 over the lines with blanks collapsed, and the time. */
static void made_txn(const char *kept, size_t len, const char *printed_time, char *txn)
{
    mbedtls_sha256_context ctx;
    unsigned char d[32];
    static const char tag[] = "tillsync receipt txn v1\n";
    mbedtls_sha256_init(&ctx);
#if MBEDTLS_VERSION_MAJOR >= 3
#define SHA(f, ...) mbedtls_sha256_##f(__VA_ARGS__)
#else
#define SHA(f, ...) mbedtls_sha256_##f##_ret(__VA_ARGS__)
#endif
    SHA(starts, &ctx, 0);
    SHA(update, &ctx, (const unsigned char *)tag, sizeof tag - 1);
    char buf[256];
    size_t n = 0;
    int space = 0, line_has = 0;
    for (size_t i = 0; i < len; i++) {
        char c = kept[i];
        if (c == ' ' || c == '\t') {
            space = line_has;
            continue;
        }
        if (c == '\n') {
            if (line_has)
                buf[n++] = '\n';
            space = line_has = 0;
        } else {
            if (space)
                buf[n++] = ' ';
            buf[n++] = c;
            space = 0;
            line_has = 1;
        }
        if (n >= sizeof buf - 2) {
            SHA(update, &ctx, (const unsigned char *)buf, n);
            n = 0;
        }
    }
    SHA(update, &ctx, (const unsigned char *)buf, n);
    SHA(update, &ctx, (const unsigned char *)"@", 1);
    SHA(update, &ctx, (const unsigned char *)printed_time, strlen(printed_time));
    SHA(finish, &ctx, d);
#undef SHA
    mbedtls_sha256_free(&ctx);
    memcpy(txn, "rcpt-", 5);
    for (int i = 0; i < 12; i++)
        snprintf(txn + 5 + 2 * i, 3, "%02x", d[i]);
}

/* A printed txn as the contract allows one: other characters (a UTF-8 sequence counted once)
 * become '_'. Returns 0, or -1 when too long. */
static int clean_txn(const char *v, char *txn)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '_' || *p == ':' || *p == '-';
        if (n == SALE_MAX_TXN)
            return -1;
        txn[n++] = ok ? (char)*p : '_';
    }
    txn[n] = '\0';
    return 0;
}

static void rfc3339(time_t t, char *out, size_t cap)
{
    struct tm tm;
    localtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, "%c%02ld:%02ld", sign, off / 60, off % 60);
}

/* The printed local time v read with the format; fields it lacks come from the cut's date. */
static int printed_time(const char *v, const char *fmt, time_t cut, char *at, size_t cap)
{
    struct tm tm;
    localtime_r(&cut, &tm);
    tm.tm_sec = 0;
    const char *end = strptime(v, fmt, &tm);
    if (!end || *end)
        return -1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    rfc3339(t, at, cap);
    return 0;
}

/* An ISO 4217 code from what currency_pattern read: a code, or £, € or ¥. */
static int currency_code(const char *v, char *code)
{
    static const struct {
        const char *sign, *code;
    } signs[] = {{"\xC2\xA3", "GBP"}, {"\xE2\x82\xAC", "EUR"}, {"\xC2\xA5", "JPY"}};
    for (size_t i = 0; i < sizeof signs / sizeof *signs; i++)
        if (strcmp(v, signs[i].sign) == 0) {
            memcpy(code, signs[i].code, 4);
            return 0;
        }
    if (strlen(v) != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        code[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
    code[3] = '\0';
    return sale_valid_currency(code) ? 0 : -1;
}

static enum receipt_outcome unreadable(struct receipt_result *out)
{
    out->outcome = RECEIPT_UNREADABLE;
    out->line_len = 0;
    out->line[0] = '\0';
    return out->outcome;
}

enum receipt_outcome receipt_read(struct receipt_rules *r, const char *text, size_t len,
                                  uint64_t cut_wall_ms, struct receipt_result *out)
{
    char v[VALUE_MAX], why[200];
    memset(out, 0, sizeof *out);
    size_t klen = keep_sale_lines(r, text, len);
    const char *k = r->kept;

    if (klen == 0) {
        snprintf(out->why, sizeof out->why, "text: no line but reprint lines");
        return unreadable(out);
    }
    if (r->on[P_IGNORE] && regexec(&r->re[P_IGNORE], k, 0, NULL, 0) == 0) {
        snprintf(out->why, sizeof out->why, "ignore_pattern matched: not a sale");
        out->outcome = RECEIPT_IGNORED;
        return out->outcome;
    }

    /* currency first: it says how many decimals the total has */
    int f = find(r, P_CURRENCY, k, v, sizeof v, out->why, sizeof out->why);
    if (f < 0)
        return unreadable(out);
    if (f == 1 && currency_code(v, out->currency) < 0) {
        snprintf(out->why, sizeof out->why,
                 "currency: \"%.16s\" (currency_pattern) is not an ISO 4217 code", v);
        return unreadable(out);
    }
    if (f == 0) {
        if (!r->currency[0]) {
            snprintf(out->why, sizeof out->why, "currency: no line matched currency_pattern");
            return unreadable(out);
        }
        memcpy(out->currency, r->currency, sizeof out->currency);
    }

    f = find(r, P_TOTAL, k, v, sizeof v, out->why, sizeof out->why);
    if (f <= 0) {
        if (f == 0)
            snprintf(out->why, sizeof out->why, "total: no line matched total_pattern");
        return unreadable(out);
    }
    if (card_number_in(v, strlen(v))) {
        snprintf(out->why, sizeof out->why, "total: what total_pattern reads is a card number");
        return unreadable(out);
    }
    if (amount_parse(v, strlen(v), r->decimal_separator, amount_exponent(out->currency),
                     &out->total, why, sizeof why) < 0) {
        snprintf(out->why, sizeof out->why, "total: %s", why);
        return unreadable(out);
    }

    time_t cut = (time_t)(cut_wall_ms / 1000);
    char when[VALUE_MAX] = "";
    f = find(r, P_TIME, k, when, sizeof when, out->why, sizeof out->why);
    if (f < 0)
        return unreadable(out);
    if (f == 0 || printed_time(when, r->time_format, cut, out->at, sizeof out->at) < 0)
        rfc3339(cut, out->at, sizeof out->at);

    f = find(r, P_TXN, k, v, sizeof v, out->why, sizeof out->why);
    if (f < 0)
        return unreadable(out);
    if (f == 1 && card_number_in(v, strlen(v))) {
        snprintf(out->why, sizeof out->why, "txn: what txn_pattern reads is a card number");
        return unreadable(out);
    }
    if (f == 1 && clean_txn(v, out->txn) < 0) {
        snprintf(out->why, sizeof out->why, "txn: \"%.40s...\" is longer than %d characters", v,
                 SALE_MAX_TXN);
        return unreadable(out);
    }
    if (f == 0 || !out->txn[0]) {
        made_txn(k, klen, when, out->txn);
        out->txn_made = 1;
    }

    cJSON *req = cJSON_CreateObject(), *cust = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "event", "sale.completed");
    cJSON_AddStringToObject(req, "txn", out->txn);
    cJSON_AddStringToObject(req, "at", out->at);
    cJSON_AddNumberToObject(req, "total", (double)out->total);
    cJSON_AddStringToObject(req, "currency", out->currency);
    /* A loyalty id or email that reads as a card number is left out, not the sale. */
    if (find(r, P_LOYALTY, k, v, sizeof v, why, sizeof why) == 1 && !card_number_in(v, strlen(v)))
        cJSON_AddStringToObject(cust, "id", v);
    if (find(r, P_EMAIL, k, v, sizeof v, why, sizeof why) == 1 && !card_number_in(v, strlen(v)))
        cJSON_AddStringToObject(cust, "email", v);
    if (cust->child)
        cJSON_AddItemToObject(req, "customer", cust);
    else
        cJSON_Delete(cust);
    cJSON_AddStringToObject(req, "source", "receipt");
    char *line = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!line || strlen(line) >= sizeof out->line) {
        free(line);
        snprintf(out->why, sizeof out->why, "sale: request longer than %zu bytes",
                 sizeof out->line - 1);
        return unreadable(out);
    }
    out->line_len = strlen(line);
    memcpy(out->line, line, out->line_len + 1);
    free(line);

    /* The contract's own rules decide, so a receipt never yields a line the intake refuses. */
    struct sale s;
    char err[160];
    if (sale_parse(out->line, out->line_len, &s, err, sizeof err) < 0) {
        snprintf(out->why, sizeof out->why, "sale refused: %s", err);
        return unreadable(out);
    }
    sale_free(&s);
    out->outcome = RECEIPT_SALE;
    return out->outcome;
}
