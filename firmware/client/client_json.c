#include "client_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static const char *const short_escape[] = {
    ['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
    ['\n'] = "\\n", ['\r'] = "\\r",  ['\t'] = "\\t",
};

/* Bytes from 0x80 up pass unchanged: UTF-8 is the daemon's to validate, not ours to mangle. */
static void put_string(struct buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *e = *p <= '\\' ? short_escape[*p] : NULL;
        if (!e && *p < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", *p), e = esc;
        if (e)
            puts_(b, e);
        else
            put(b, (const char *)p, 1);
    }
    put(b, "\"", 1);
}

static void put_key_string(struct buf *b, int *first, const char *key, const char *v)
{
    if (!v)
        return;
    puts_(b, *first ? "\"" : ",\"");
    *first = 0;
    puts_(b, key);
    puts_(b, "\":");
    put_string(b, v);
}

/* By hand, not %g: a POS that called setlocale() would get "0,5", which is not JSON. */
static void put_qty(struct buf *b, double q)
{
    char num[48];
    if (!(q > 0)) {
        snprintf(num, sizeof num, "0"); /* NaN too: the daemon names the field */
    } else if (q > 1e9) {
        snprintf(num, sizeof num, "%.0f", q); /* out of range: the daemon names the field */
    } else {
        long long micro = (long long)(q * 1e6 + 0.5);
        int n = snprintf(num, sizeof num, "%lld.%06lld", micro / 1000000, micro % 1000000);
        while (num[n - 1] == '0')
            num[--n] = '\0';
        if (num[n - 1] == '.')
            num[n - 1] = '\0';
    }
    puts_(b, num);
}

int client_format_sale(const struct tillsync_sale *s, char **line, size_t *len)
{
    struct buf b = {0};
    char num[32];
    int first = 0;
    puts_(&b, "{\"event\":\"sale.completed\"");
    put_key_string(&b, &first, "txn", s->txn);
    put_key_string(&b, &first, "at", s->at);
    snprintf(num, sizeof num, ",\"total\":%lld", s->total);
    puts_(&b, num);
    put_key_string(&b, &first, "currency", s->currency);
    if (s->customer) {
        const struct tillsync_customer *cu = s->customer;
        int cfirst = 1;
        puts_(&b, ",\"customer\":{");
        put_key_string(&b, &cfirst, "email", cu->email);
        put_key_string(&b, &cfirst, "phone", cu->phone);
        put_key_string(&b, &cfirst, "first_name", cu->first_name);
        put_key_string(&b, &cfirst, "last_name", cu->last_name);
        put_key_string(&b, &cfirst, "id", cu->id);
        puts_(&b, "}");
    }
    if (s->nitems) {
        puts_(&b, ",\"items\":[");
        for (size_t i = 0; i < s->nitems; i++) {
            const struct tillsync_item *it = &s->items[i];
            int ifirst = 1;
            puts_(&b, i ? ",{" : "{");
            put_key_string(&b, &ifirst, "sku", it->sku);
            put_key_string(&b, &ifirst, "name", it->name);
            puts_(&b, ifirst ? "\"qty\":" : ",\"qty\":");
            put_qty(&b, it->qty);
            snprintf(num, sizeof num, ",\"unit_price\":%lld}", it->unit_price);
            puts_(&b, num);
        }
        puts_(&b, "]");
    }
    put_key_string(&b, &first, "source", s->source);
    puts_(&b, "}\n");
    if (b.oom) {
        free(b.p);
        return -1;
    }
    *line = b.p;
    *len = b.len;
    return 0;
}

/*
 * A raw line break is JSON whitespace between tokens, where a space says the same; inside a
 * string it is invalid JSON, and sent as it is it would split the request into two lines and pair
 * every later reply with the wrong request.
 */
int client_line_from_json(const char *json, char **line, size_t *len, char *err, size_t errlen)
{
    size_t n = strlen(json);
    char *out = malloc(n + 2);
    if (!out)
        return -1;
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = json[i];
        if (in_string) {
            if ((unsigned char)ch < 0x20) {
                snprintf(err, errlen, "request: a control character inside a string at byte %zu",
                         i);
                free(out);
                return -2;
            }
            if (escaped)
                escaped = 0;
            else if (ch == '\\')
                escaped = 1;
            else if (ch == '"')
                in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '\n' || ch == '\r') {
            ch = ' ';
        }
        out[i] = ch;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *line = out;
    *len = n + 1;
    return 0;
}

/* ---- the reply: one object of known keys; an unknown key's scalar value is skipped ---- */

struct rd {
    const char *p, *end;
};

static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static int lit(struct rd *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return 0;
    r->p += n;
    return 1;
}

static int hex4(struct rd *r, unsigned *out)
{
    if (r->end - r->p < 4)
        return -1;
    *out = 0;
    for (int i = 0; i < 4; i++) {
        char h = *r->p++;
        unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                            : 16;
        if (d == 16)
            return -1;
        *out = *out << 4 | d;
    }
    return 0;
}

static void emit(char *out, size_t cap, size_t *n, int *cut, const char *s, size_t len)
{
    if (*cut || *n + len >= cap) {
        *cut = 1; /* whole characters only: no UTF-8 sequence is left half-written */
        return;
    }
    memcpy(out + *n, s, len);
    *n += len;
}

static size_t utf8(unsigned cp, char *o)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3f)),
               o[2] = (char)(0x80 | (cp & 0x3f)), 3;
    return o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3f)),
           o[2] = (char)(0x80 | (cp >> 6 & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

/* A string into out (cap > 0), cut at cap - 1 bytes; *cut tells. Returns 0 or -1. */
static int str(struct rd *r, char *out, size_t cap, int *cut)
{
    size_t n = 0;
    *cut = 0;
    if (!lit(r, "\""))
        return -1;
    while (r->p < r->end && *r->p != '"') {
        unsigned char ch = (unsigned char)*r->p++;
        char enc[4];
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            /* a multi-byte character is copied whole or not at all */
            size_t len = ch < 0xc0 ? 1 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;
            if ((size_t)(r->end - r->p) < len - 1)
                return -1;
            for (size_t k = 0; k + 1 < len; k++)
                if (((unsigned char)r->p[k] & 0xc0) != 0x80)
                    return -1;
            emit(out, cap, &n, cut, r->p - 1, len);
            r->p += len - 1;
            continue;
        }
        if (r->p == r->end)
            return -1;
        char e = *r->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            enc[0] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            emit(out, cap, &n, cut, enc, 1);
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || hex4(r, &cp) != 0 || cp == 0)
            return -1;
        if (cp >= 0xd800 && cp < 0xdc00 && lit(r, "\\u")) {
            if (hex4(r, &lo) != 0)
                return -1;
            cp = lo >= 0xdc00 && lo < 0xe000 ? 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
                                             : 0xfffd;
        } else if (cp >= 0xd800 && cp < 0xe000) {
            cp = 0xfffd; /* a lone surrogate */
        }
        emit(out, cap, &n, cut, enc, utf8(cp, enc));
    }
    out[n] = '\0';
    return lit(r, "\"") ? 0 : -1;
}

static int boolean(struct rd *r, int *v)
{
    if (lit(r, "true"))
        return *v = 1, 0;
    if (lit(r, "false"))
        return *v = 0, 0;
    return -1;
}

static int skip_scalar(struct rd *r)
{
    char tmp[8];
    int cut;
    if (r->p < r->end && *r->p == '"')
        return str(r, tmp, sizeof tmp, &cut);
    if (lit(r, "true") || lit(r, "false") || lit(r, "null"))
        return 0;
    const char *start = r->p;
    while (r->p < r->end && *r->p && strchr("0123456789+-.eE", *r->p))
        r->p++;
    return r->p > start ? 0 : -1;
}

/* "items[0].qty: must be ..." names items[0].qty; a reason without a field name names none. */
static void error_field(const char *error, char *field, size_t cap)
{
    size_t n = strcspn(error, ":");
    field[0] = '\0';
    if (!error[n] || n == 0 || n >= cap ||
        strspn(error, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.[]") != n)
        return;
    memcpy(field, error, n);
    field[n] = '\0';
}

int client_parse_reply(const char *reply, size_t len, struct tillsync_result *res)
{
    struct rd r = {reply, reply + len};
    int have_ok = 0, cut;
    memset(res, 0, sizeof *res);
    ws(&r);
    if (!lit(&r, "{"))
        return -1;
    ws(&r);
    if (!lit(&r, "}")) {
        do {
            char key[16];
            ws(&r);
            if (str(&r, key, sizeof key, &cut) != 0)
                return -1;
            ws(&r);
            if (!lit(&r, ":"))
                return -1;
            ws(&r);
            int rc;
            if (cut)
                rc = skip_scalar(&r);
            else if (strcmp(key, "ok") == 0)
                rc = boolean(&r, &res->ok), have_ok = 1;
            else if (strcmp(key, "duplicate") == 0)
                rc = boolean(&r, &res->duplicate);
            else if (strcmp(key, "retry") == 0)
                rc = boolean(&r, &res->retry);
            else if (strcmp(key, "ref") == 0)
                rc = str(&r, res->ref, sizeof res->ref, &cut);
            else if (strcmp(key, "error") == 0)
                rc = str(&r, res->error, sizeof res->error, &cut);
            else
                rc = skip_scalar(&r);
            if (rc != 0)
                return -1;
            ws(&r);
        } while (lit(&r, ","));
        if (!lit(&r, "}"))
            return -1;
    }
    ws(&r);
    /* a stored sale without its ref, or a refusal without its reason, is no reply either */
    if (r.p != r.end || !have_ok || (res->ok && !res->ref[0]) || (!res->ok && !res->error[0]))
        return -1;
    if (res->ok)
        res->retry = 0;
    else if (!res->retry)
        error_field(res->error, res->field, sizeof res->field);
    return 0;
}
