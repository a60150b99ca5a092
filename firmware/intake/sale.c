#include "sale.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "card.h"

#define MAX_TOTAL  1e12
#define MAX_ITEMS  500
#define MAX_TEXT   256 /* customer fields, item sku and name */
#define MAX_SOURCE 64

int sale_valid_txn(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > SALE_MAX_TXN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

int sale_valid_rfc3339(const char *s)
{
    /* full-date "T" full-time, RFC 3339 section 5.6 */
    int y, mo, d, h, mi, se, oh, om;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        se > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return 0;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 1;
    return (*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' &&
           digits(p + 4, 2, &om) && p[6] == '\0' && oh <= 23 && om <= 59;
}

int sale_valid_currency(const char *s)
{
    /* ISO 4217 alphabetic codes in use (XXX, "no currency", is not a sale's currency). */
    static const char codes[] =
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD "
        "BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP "
        "DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR "
        "IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD "
        "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB "
        "PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD "
        "SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS "
        "VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA "
        "YER ZAR ZMW ZWG ZWL";
    if (strlen(s) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    for (size_t i = 0; i + 3 < sizeof codes; i += 4) /* codes[i] starts a code; NUL at the end */
        if (memcmp(codes + i, s, 3) == 0)
            return 1;
    return 0;
}

int sale_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        int more;
        uint32_t cp, min;
        if (c < 0x80)
            continue;
        else if ((c & 0xE0) == 0xC0)
            more = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            more = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            more = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (end - p < more)
            return 0;
        while (more--) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (*p++ & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

/* ---- validation ---- */

struct check {
    char *err;
    size_t errlen;
    int failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct check *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        c->failed = 1;
    }
    return -1;
}

/*
 * The raw line, walked once more after cJSON accepted it, for what cJSON's tree cannot show: a
 * \u0000 (cJSON decodes it into a NUL that silently cuts the string) and a card number in a
 * number's text (a double cannot hold 17-19 digits, nor keep a notation). Keys and strings are
 * checked decoded, so escapes hide nothing.
 */
#define SCAN_DEPTH 1000 /* cJSON's own nesting limit */

struct scan {
    const char *p, *end;
    char path[128]; /* the field being read, as errors name it: customer.email, items[0].sku */
    size_t pathlen;
    char *text; /* the string being read, decoded */
    struct check *c;
};

static void skip_ws(struct scan *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\r' || *sc->p == '\n'))
        sc->p++;
}

static int hex4(const char *p, const char *end, uint32_t *v)
{
    *v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3F)),
           o[2] = (char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

/* Decodes the string at sc->p into sc->text; *nul set if it holds U+0000. */
static int scan_string(struct scan *sc, size_t *n, int *nul)
{
    size_t o = 0;
    *nul = 0;
    if (sc->p >= sc->end || *sc->p != '"')
        return -1;
    sc->p++;
    while (sc->p < sc->end && *sc->p != '"') {
        if (*sc->p != '\\') {
            sc->text[o++] = *sc->p++;
            continue;
        }
        if (sc->end - sc->p < 2)
            return -1;
        char e = sc->p[1];
        sc->p += 2;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            sc->text[o++] = to[k - from];
            continue;
        }
        uint32_t cp, lo;
        if (e != 'u' || hex4(sc->p, sc->end, &cp))
            return -1;
        sc->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && sc->end - sc->p >= 6 && sc->p[0] == '\\' &&
            sc->p[1] == 'u' && !hex4(sc->p + 2, sc->end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            sc->p += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD; /* cJSON refuses a lone surrogate before this is reached */
        }
        *nul |= cp == 0;
        o += put_utf8(sc->text + o, cp); /* never longer than its escape */
    }
    if (sc->p >= sc->end)
        return -1;
    sc->p++;
    *n = o;
    return 0;
}

/* The field an error names. Keys are the POS's own text: a path joined from them with dots, or cut
 * short inside a digit run, can spell a card number no key held whole, and an error never shows
 * one. */
static const char *field_or_request(const struct scan *sc)
{
    return sc->pathlen && !card_number_in(sc->path, sc->pathlen) ? sc->path : "request";
}

static void path_grew(struct scan *sc, int n)
{
    size_t room = sizeof sc->path - sc->pathlen;
    if (n >= 0 && (size_t)n < room) {
        sc->pathlen += (size_t)n;
        return;
    }
    /* cut short: no half character at the end, the error must stay valid UTF-8 */
    size_t end = sizeof sc->path - 1, lead = end;
    while (lead > 0 && ((unsigned char)sc->path[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead > 0 && (unsigned char)sc->path[lead - 1] >= 0xC0) {
        unsigned char c = (unsigned char)sc->path[lead - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (lead - 1 + need > end)
            end = lead - 1;
    }
    sc->path[end] = '\0';
    sc->pathlen = end;
}

static void path_push_key(struct scan *sc, const char *key)
{
    path_grew(sc, snprintf(sc->path + sc->pathlen, sizeof sc->path - sc->pathlen, "%s%s",
                           sc->pathlen ? "." : "", key));
}

static void path_push_index(struct scan *sc, int i)
{
    path_grew(sc, snprintf(sc->path + sc->pathlen, sizeof sc->path - sc->pathlen, "[%d]", i));
}

/* items[<n>].sku, the one place an item code is expected */
static int at_sku(const struct scan *sc)
{
    const char *p = sc->path;
    if (strncmp(p, "items[", 6) != 0)
        return 0;
    p += 6;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strcmp(p, "].sku") == 0;
}

static int scan_value(struct scan *sc, int depth);

/* After a member or element: drops its path and reads "," (1: another follows) or close (0). */
static int next_member(struct scan *sc, size_t saved, char close)
{
    sc->pathlen = saved;
    sc->path[saved] = '\0';
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == ',')
        return sc->p++, 1;
    if (sc->p < sc->end && *sc->p == close)
        return sc->p++, 0;
    return -1;
}

static int scan_object(struct scan *sc, int depth)
{
    sc->p++;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == '}')
        return sc->p++, 0;
    for (;;) {
        size_t n;
        int nul;
        skip_ws(sc);
        if (scan_string(sc, &n, &nul))
            return -1;
        if (nul)
            return fail(sc->c, "%s: a key must not contain U+0000", field_or_request(sc));
        if (card_number_in(sc->text, n))
            return fail(sc->c, "%s: a key is a payment card number; card data is never stored",
                        field_or_request(sc));
        sc->text[n] = '\0';
        size_t saved = sc->pathlen;
        path_push_key(sc, sc->text);
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p++ != ':')
            return -1;
        if (scan_value(sc, depth + 1))
            return -1;
        int more = next_member(sc, saved, '}');
        if (more <= 0)
            return more;
    }
}

static int scan_array(struct scan *sc, int depth)
{
    sc->p++;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == ']')
        return sc->p++, 0;
    for (int i = 0;; i++) {
        size_t saved = sc->pathlen;
        path_push_index(sc, i);
        if (scan_value(sc, depth + 1))
            return -1;
        int more = next_member(sc, saved, ']');
        if (more <= 0)
            return more;
    }
}

static int scan_value(struct scan *sc, int depth)
{
    skip_ws(sc);
    if (sc->p >= sc->end || depth > SCAN_DEPTH)
        return -1;
    if (*sc->p == '{')
        return scan_object(sc, depth);
    if (*sc->p == '[')
        return scan_array(sc, depth);
    if (*sc->p == '"') {
        size_t n;
        int nul;
        if (scan_string(sc, &n, &nul))
            return -1;
        if (nul)
            return fail(sc->c, "%s: must not contain U+0000", field_or_request(sc));
        if (at_sku(sc) ? card_number_in_sku(sc->text, n) : card_number_in(sc->text, n))
            return fail(sc->c, "%s: is a payment card number; card data is never stored",
                        field_or_request(sc));
        return 0;
    }
    const char *start = sc->p;
    while (sc->p < sc->end && strchr("+-0123456789.eE", *sc->p) && *sc->p)
        sc->p++;
    if (sc->p > start) {
        if (card_number_in_json_number(start, (size_t)(sc->p - start)))
            return fail(sc->c, "%s: is a payment card number; card data is never stored",
                        field_or_request(sc));
        return 0;
    }
    while (sc->p < sc->end && *sc->p >= 'a' && *sc->p <= 'z') /* true, false, null */
        sc->p++;
    return sc->p > start ? 0 : -1;
}

/* 0, or -1 with the error set: U+0000 or a card number, named by field. */
static int scan_line(struct check *c, const char *line, size_t len)
{
    struct scan sc = {.p = line, .end = line + len, .pathlen = 0, .c = c};
    sc.path[0] = '\0';
    sc.text = malloc(len + 1);
    if (!sc.text)
        return fail(c, "request: out of memory");
    int rc = scan_value(&sc, 0);
    free(sc.text);
    if (rc && !c->failed)
        fail(c, "request: not valid JSON");
    return rc;
}

static int is_integer(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

/* Rejects a second occurrence of a key: which one the POS meant is anybody's guess. */
static int once(struct check *c, const cJSON *obj, const char *key, const char *path)
{
    int n = 0;
    for (const cJSON *it = obj->child; it; it = it->next)
        n += it->string && strcmp(it->string, key) == 0;
    if (n > 1)
        return fail(c, "%s%s: given more than once", path, key);
    return 0;
}

static const cJSON *text(struct check *c, const cJSON *obj, const char *key, const char *path,
                         int required, size_t maxlen)
{
    if (once(c, obj, key, path))
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required)
            fail(c, "%s%s: required", path, key);
        return NULL;
    }
    if (!cJSON_IsString(v))
        return fail(c, "%s%s: must be a string", path, key), NULL;
    size_t n = strlen(v->valuestring);
    if (n == 0 && required)
        return fail(c, "%s%s: must not be empty", path, key), NULL;
    if (n > maxlen)
        return fail(c, "%s%s: longer than %zu bytes", path, key, maxlen), NULL;
    return v;
}

static void copy_text(cJSON *dst, const char *key, const cJSON *v)
{
    if (v)
        cJSON_AddStringToObject(dst, key, v->valuestring);
}

static cJSON *check_customer(struct check *c, const cJSON *cust)
{
    static const char *const keys[] = {"email", "phone", "first_name", "last_name", "id"};
    if (!cJSON_IsObject(cust))
        return fail(c, "customer: must be an object"), NULL;
    cJSON *out = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = text(c, cust, keys[i], "customer.", 0, MAX_TEXT);
        if (v && i == 0) {
            const char *at = strchr(v->valuestring, '@');
            if (!at || at == v->valuestring || !at[1] || strchr(at + 1, '@') ||
                strpbrk(v->valuestring, " \t\r\n"))
                fail(c, "customer.email: not an email address");
        }
        copy_text(out, keys[i], v);
    }
    return out;
}

static cJSON *check_items(struct check *c, const cJSON *items)
{
    if (!cJSON_IsArray(items))
        return fail(c, "items: must be an array"), NULL;
    if (cJSON_GetArraySize(items) > MAX_ITEMS)
        return fail(c, "items: more than %d", MAX_ITEMS), NULL;
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *it = items->child; it && !c->failed; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof path, "items[%d].", i);
        if (!cJSON_IsObject(it)) {
            fail(c, "items[%d]: must be an object", i);
            break;
        }
        const cJSON *sku = text(c, it, "sku", path, 1, MAX_TEXT);
        const cJSON *name = text(c, it, "name", path, 1, MAX_TEXT);
        const cJSON *qty = cJSON_GetObjectItemCaseSensitive(it, "qty");
        const cJSON *price = cJSON_GetObjectItemCaseSensitive(it, "unit_price");
        once(c, it, "qty", path);
        once(c, it, "unit_price", path);
        if (c->failed)
            break;
        if (!qty || !cJSON_IsNumber(qty) || !(qty->valuedouble > 0) || qty->valuedouble > 1e9)
            fail(c, "%sqty: %s", path, qty ? "must be a number greater than 0" : "required");
        else if (!price || !is_integer(price, -MAX_TOTAL, MAX_TOTAL))
            fail(c, "%sunit_price: %s", path,
                 price ? "must be an integer in minor currency units" : "required");
        if (c->failed)
            break;
        cJSON *o = cJSON_CreateObject();
        copy_text(o, "sku", sku);
        copy_text(o, "name", name);
        cJSON_AddNumberToObject(o, "qty", qty->valuedouble);
        cJSON_AddNumberToObject(o, "unit_price", price->valuedouble);
        cJSON_AddItemToArray(out, o);
    }
    return out;
}

int sale_parse(const char *line, size_t len, struct sale *out, char *err, size_t errlen)
{
    struct check c = {err, errlen, 0};
    memset(out, 0, sizeof *out);
    if (!sale_valid_utf8(line, len))
        return fail(&c, "request: not valid UTF-8");
    /* JSON forbids raw control characters (cJSON lets them through inside strings, where one
     * byte would become six in the stored record). Tabs between tokens are allowed. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t' && line[i] != '\r')
            return fail(&c, "request: raw control character (escape it as \\u00XX)");
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!req)
        return fail(&c, "request: not valid JSON");
    while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
        end++;
    if (end != line + len) {
        cJSON_Delete(req);
        return fail(&c, "request: one JSON object per line");
    }
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        return fail(&c, "request: must be a JSON object");
    }
    if (scan_line(&c, line, len)) {
        cJSON_Delete(req);
        return -1;
    }

    cJSON *norm = cJSON_CreateObject();
    const cJSON *event = text(&c, req, "event", "", 1, 64);
    if (event && strcmp(event->valuestring, "sale.completed") != 0)
        fail(&c, "event: unsupported (expected \"sale.completed\")");
    const cJSON *txn = c.failed ? NULL : text(&c, req, "txn", "", 1, SALE_MAX_TXN);
    if (txn && !sale_valid_txn(txn->valuestring))
        fail(&c, "txn: 1-64 characters of A-Z a-z 0-9 . _ : -");
    const cJSON *at = c.failed ? NULL : text(&c, req, "at", "", 1, 64);
    if (at && !sale_valid_rfc3339(at->valuestring))
        fail(&c, "at: must be an RFC 3339 date-time with Z or an offset");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(req, "total");
    if (!c.failed && !once(&c, req, "total", "") && !is_integer(total, 0, MAX_TOTAL))
        fail(&c, "total: %s",
             total ? "must be an integer from 0 to 10^12 (minor units)" : "required");
    const cJSON *currency = c.failed ? NULL : text(&c, req, "currency", "", 1, 3);
    if (!c.failed && !currency)
        fail(&c, "currency: required");
    if (currency && !sale_valid_currency(currency->valuestring))
        fail(&c, "currency: not an ISO 4217 currency code");
    const cJSON *source = c.failed ? NULL : text(&c, req, "source", "", 0, MAX_SOURCE);
    if (source && !source->valuestring[0])
        fail(&c, "source: must not be empty");
    if (!c.failed) {
        cJSON_AddStringToObject(norm, "txn", txn->valuestring);
        cJSON_AddStringToObject(norm, "at", at->valuestring);
        cJSON_AddNumberToObject(norm, "total", total->valuedouble);
        cJSON_AddStringToObject(norm, "currency", currency->valuestring);
        copy_text(norm, "source", source);
    }
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(req, "customer");
    if (!c.failed && cust && !once(&c, req, "customer", "")) {
        cJSON *o = check_customer(&c, cust);
        if (o)
            cJSON_AddItemToObject(norm, "customer", o);
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "items");
    if (!c.failed && items && !once(&c, req, "items", "")) {
        cJSON *o = check_items(&c, items);
        if (o)
            cJSON_AddItemToObject(norm, "items", o);
    }
    if (!c.failed) {
        snprintf(out->txn, sizeof out->txn, "%s", txn->valuestring);
        snprintf(out->at, sizeof out->at, "%s", at->valuestring);
        out->body = cJSON_PrintUnformatted(norm);
        if (!out->body)
            fail(&c, "request: out of memory");
        else
            out->body_len = strlen(out->body);
        /* What is stored, checked as stored: a number of 16 or 17 digits is printed back from
         * its double with other digits (0.6339532899421826 as 0.63395328994218259), which can
         * spell a card number the request did not. */
        if (out->body && scan_line(&c, out->body, out->body_len)) {
            free(out->body);
            out->body = NULL;
            out->body_len = 0;
        }
    }
    cJSON_Delete(norm);
    cJSON_Delete(req);
    return c.failed ? -1 : 0;
}

void sale_free(struct sale *s)
{
    free(s->body);
    s->body = NULL;
}
