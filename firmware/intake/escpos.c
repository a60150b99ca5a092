#include "escpos.h"

#include <stdlib.h>
#include <string.h>

#include "escpos_codepage.h"

#define DLE 0x10
#define ESC 0x1B
#define FS  0x1C
#define GS  0x1D

#define HDR_MAX 16

enum state {
    ST_TEXT,
    ST_HEADER,    /* a command's fixed part, until classify() knows its length */
    ST_SKIP,      /* the data a command carries */
    ST_UNTIL_NUL, /* data ended by NUL (barcodes of GS k m<=6, ESC D tab stops) */
    ST_RECORD,    /* the per-record header of a command carrying several (ESC &, FS q) */
};

enum action {
    ACT_NONE,
    ACT_LINE, /* prints the line buffer (ESC d, ESC J, ESC FF) */
    ACT_CUT_FULL,
    ACT_CUT_PARTIAL,
    ACT_CODEPAGE,
    ACT_INTL,
    ACT_INIT,
    ACT_IMAGE,
    ACT_BARCODE,
    ACT_CODE2D,
    ACT_UNKNOWN,
};

enum record_kind { REC_DEFCHAR, REC_NV_IMAGE };

struct cmd {
    enum action act;
    uint64_t skip;      /* data bytes after the header */
    unsigned until_nul; /* >0: data ends at a NUL, at most this many bytes */
    unsigned records;   /* >0: that many records follow, each with its own header */
    enum record_kind rec_kind;
    int refeed; /* the last header byte is not the command's: read it again as a stream byte */
};

struct escpos {
    int default_cp, intl;
    const uint16_t *upper; /* the current code page's 0x80-0xFF; NULL: one without a table */
    enum state st;
    uint8_t hdr[HDR_MAX];
    size_t hdr_n;
    uint64_t skip;
    unsigned nul_left;
    unsigned records, rec_y;
    enum record_kind rec_kind;
    uint8_t rec_hdr[4];
    size_t rec_n;

    char line[ESCPOS_LINE_MAX];
    size_t line_len;

    /* The receipt's text: the head at text[0..head_len), then a ring of the most recent lines
     * at text[ESCPOS_HEAD_MAX..] once the head is full. */
    char text[ESCPOS_TEXT_MAX + 1];
    size_t head_len, tail_start, tail_len;
    int tail_overwritten;
    size_t dropped;
    unsigned lines, images, barcodes, codes2d, unknown;

    struct escpos_stats stats;
};

struct escpos *escpos_new(int default_codepage)
{
    struct escpos *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->default_cp = default_codepage;
    d->upper = escpos_codepage_table(default_codepage);
    return d;
}

void escpos_free(struct escpos *d)
{
    free(d);
}

const struct escpos_stats *escpos_stats(const struct escpos *d)
{
    return &d->stats;
}

/* ---- text ---- */

static void tail_put(struct escpos *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        d->text[ESCPOS_HEAD_MAX + (d->tail_start + d->tail_len) % ESCPOS_TAIL_MAX] = s[i];
        if (d->tail_len == ESCPOS_TAIL_MAX) {
            d->tail_start = (d->tail_start + 1) % ESCPOS_TAIL_MAX;
            d->tail_overwritten = 1;
            d->dropped++;
        } else {
            d->tail_len++;
        }
    }
}

static void end_line(struct escpos *d)
{
    while (d->line_len > 0 && d->line[d->line_len - 1] == ' ')
        d->line_len--;
    if (d->line_len == 0)
        return;
    d->line[d->line_len++] = '\n'; /* line[] keeps room for it */
    if (d->tail_len == 0 && d->head_len + d->line_len <= ESCPOS_HEAD_MAX) {
        memcpy(d->text + d->head_len, d->line, d->line_len);
        d->head_len += d->line_len;
    } else {
        tail_put(d, d->line, d->line_len);
    }
    d->lines++;
    d->line_len = 0;
}

static void put_cp(struct escpos *d, uint32_t cp)
{
    char u[3];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    if (d->line_len + n >= ESCPOS_LINE_MAX) { /* one byte stays free for the '\n' */
        d->dropped += n;
        return;
    }
    memcpy(d->line + d->line_len, u, n);
    d->line_len += n;
}

static void text_byte(struct escpos *d, uint8_t b)
{
    if (b == '\n' || b == '\r' || b == '\f')
        end_line(d);
    else if (b == '\t')
        put_cp(d, ' ');
    else if (b >= 0x20 && b < 0x7F)
        put_cp(d, escpos_intl_char(d->intl, b));
    else if (b >= 0x80)
        put_cp(d, d->upper ? d->upper[b - 0x80] : 0xFFFD);
    /* other control bytes (NUL, CAN, DEL ...) print nothing */
}

/* Reverses text[a..b) in place. */
static void reverse(char *s, size_t a, size_t b)
{
    while (a + 1 < b) {
        char t = s[a];
        s[a++] = s[--b];
        s[b] = t;
    }
}

static void reset_receipt(struct escpos *d)
{
    d->head_len = d->tail_start = d->tail_len = 0;
    d->tail_overwritten = 0;
    d->dropped = 0;
    d->lines = d->images = d->barcodes = d->codes2d = d->unknown = 0;
}

static void emit(struct escpos *d, int partial, escpos_receipt_fn fn, void *ctx)
{
    end_line(d);
    if (d->lines == 0 && d->images == 0 && d->barcodes == 0 && d->codes2d == 0) {
        d->stats.empty_cuts++;
        reset_receipt(d);
        return;
    }
    /* The ring, made one run from its oldest byte, follows the head; a line the ring cut into
     * is left out whole. */
    char *tail = d->text + ESCPOS_HEAD_MAX;
    size_t start = d->tail_start, len = d->tail_len;
    if (start) {
        reverse(tail, 0, start);
        reverse(tail, start, ESCPOS_TAIL_MAX);
        reverse(tail, 0, ESCPOS_TAIL_MAX);
    }
    size_t from = 0;
    if (d->tail_overwritten) {
        while (from < len && tail[from] != '\n')
            from++;
        from = from < len ? from + 1 : len;
        d->dropped += from;
    }
    memmove(d->text + d->head_len, tail + from, len - from);
    size_t total = d->head_len + len - from;
    d->text[total] = '\0';

    struct escpos_receipt r = {
        .text = d->text,
        .len = total,
        .dropped = d->dropped,
        .lines = d->lines,
        .images = d->images,
        .barcodes = d->barcodes,
        .codes2d = d->codes2d,
        .unknown_commands = d->unknown,
        .partial_cut = partial,
    };
    d->stats.receipts++;
    d->stats.text_dropped += d->dropped;
    reset_receipt(d);
    if (fn)
        fn(ctx, &r);
}

void escpos_end_receipt(struct escpos *d, escpos_receipt_fn fn, void *ctx)
{
    emit(d, 0, fn, ctx);
}

/* ---- commands ---- */

static uint64_t u16le(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8;
}

/* A command the decoder does not know: its introducer and, if it can be one, the next byte.
 * A control byte is read again as a stream byte: a stray ESC must not swallow the LF or the
 * GS V that follows it. */
static int unknown(struct cmd *c, uint8_t second)
{
    c->act = ACT_UNKNOWN;
    c->refeed = second < 0x20;
    return 1;
}

/* Sets *c and returns 1 once the header h[0..n) is a whole command's fixed part; 0 while it
 * needs more bytes. Lengths are Epson's (ESC/POS Application Programming Guide, TM-T88). */
static int classify(const uint8_t *h, size_t n, struct cmd *c)
{
    memset(c, 0, sizeof *c);
    if (n < 2)
        return 0;
    uint8_t x = h[1];
    size_t want = 0;
    if (h[0] == DLE) {
        switch (x) {
        case 0x04: /* DLE EOT n [a]: real-time status */
            want = n >= 3 && (h[2] == 7 || h[2] == 8) ? 4 : 3;
            break;
        case 0x05: /* DLE ENQ n */
            want = 3;
            break;
        case 0x14: /* DLE DC4 fn ... */
            want = n < 3 ? 3 : h[2] == 7 ? 4 : h[2] == 8 ? 10 : 5;
            break;
        default: /* a DLE alone prints nothing */
            c->refeed = 1;
            return 1;
        }
        return n >= want;
    }
    if (h[0] == ESC) {
        switch (x) {
        case 0x0C: /* ESC FF: print in page mode */
            c->act = ACT_LINE;
            return 1;
        case '2':
        case '<':
        case 'L':
        case 'S':
            return 1;
        case '@':
            c->act = ACT_INIT;
            return 1;
        case 'i':
            c->act = ACT_CUT_FULL;
            return 1;
        case 'm':
            c->act = ACT_CUT_PARTIAL;
            return 1;
        case ' ':
        case '!':
        case '%':
        case '-':
        case '3':
        case '=':
        case '?':
        case 'E':
        case 'G':
        case 'M':
        case 'T':
        case 'U':
        case 'V':
        case 'a':
        case 'r':
        case 'u':
        case 'v':
        case '{':
            return n >= 3;
        case 'J': /* print and feed */
        case 'K': /* print and reverse feed */
        case 'd': /* print and feed n lines */
        case 'e': /* print and reverse feed n lines */
            c->act = ACT_LINE;
            return n >= 3;
        case 'R':
            c->act = ACT_INTL;
            return n >= 3;
        case 't':
            c->act = ACT_CODEPAGE;
            return n >= 3;
        case '$':
        case '\\':
        case 'c':
            return n >= 4;
        case 'p': /* drawer kick */
            return n >= 5;
        case 'W':
            return n >= 10;
        case '*': /* bit image: m nL nH, then columns of 1 or 3 bytes */
            if (n < 5)
                return 0;
            c->act = ACT_IMAGE;
            c->skip = u16le(h + 3) * (h[2] >= 32 ? 3 : 1);
            return 1;
        case '&': /* user-defined characters: y c1 c2, then per character x and y*x bytes */
            if (n < 5)
                return 0;
            c->records = h[4] >= h[3] ? (unsigned)(h[4] - h[3]) + 1 : 0;
            c->rec_kind = REC_DEFCHAR;
            return 1;
        case 'D': /* tab stops, up to 32, ended by NUL */
            c->until_nul = 33;
            return 1;
        case '(': /* ESC ( fn pL pH data */
            if (n < 5)
                return 0;
            c->skip = u16le(h + 3);
            return 1;
        default:
            return unknown(c, x);
        }
    }
    if (h[0] == GS) {
        switch (x) {
        case ':':
        case 'c':
            return 1;
        case '!':
        case '/':
        case 'B':
        case 'E':
        case 'H':
        case 'I':
        case 'T':
        case 'a':
        case 'b':
        case 'f':
        case 'h':
        case 'j':
        case 'r':
        case 'w':
            return n >= 3;
        case '$':
        case 'L':
        case 'P':
        case 'W':
        case '\\':
            return n >= 4;
        case '^':
            return n >= 5;
        case 'z':
            return n >= 5;
        case 'g':
            return n >= 6;
        case 'C': /* counter printing */
            if (n < 3)
                return 0;
            want = h[2] == '0' || h[2] == 0 ? 5 : h[2] == '1' || h[2] == 1 ? 9 : 5;
            return n >= want;
        case 'V': /* cut: m, or m n for the forms that feed first */
            if (n < 3)
                return 0;
            switch (h[2]) {
            case 0:
            case 48:
                c->act = ACT_CUT_FULL;
                return 1;
            case 1:
            case 49:
                c->act = ACT_CUT_PARTIAL;
                return 1;
            case 65:
            case 97:
            case 103:
                c->act = ACT_CUT_FULL;
                return n >= 4;
            case 66:
            case 98:
            case 104:
                c->act = ACT_CUT_PARTIAL;
                return n >= 4;
            default:
                c->act = ACT_UNKNOWN;
                return 1;
            }
        case '*': /* downloaded bit image: x y, then x*y*8 bytes */
            if (n < 4)
                return 0;
            c->act = ACT_IMAGE;
            c->skip = (uint64_t)h[2] * h[3] * 8;
            return 1;
        case '(': /* GS ( fn pL pH data: graphics (L), 2D codes (k) and the rest */
            if (n < 5)
                return 0;
            c->act = h[2] == 'k' ? ACT_CODE2D : h[2] == 'L' ? ACT_IMAGE : ACT_NONE;
            c->skip = u16le(h + 3);
            return 1;
        case '8': /* GS 8 L p1 p2 p3 p4: graphics with a 32-bit length */
            if (n < 3)
                return 0;
            if (h[2] != 'L')
                return unknown(c, x);
            if (n < 7)
                return 0;
            c->act = ACT_IMAGE;
            c->skip = u16le(h + 3) | u16le(h + 5) << 16;
            return 1;
        case 'v': /* GS v 0 m xL xH yL yH: raster image of x bytes by y rows */
        case 'Q': /* GS Q 0 m xL xH yL yH: variable vertical size image */
            if (n < 8)
                return 0;
            c->act = ACT_IMAGE;
            c->skip = u16le(h + 4) * u16le(h + 6);
            return 1;
        case 'k': /* barcode: m d... NUL (m 0-6), or m n d1..dn (m 65-79) */
            if (n < 3)
                return 0;
            c->act = ACT_BARCODE;
            if (h[2] <= 6) {
                c->until_nul = 256;
                return 1;
            }
            if (n < 4)
                return 0;
            c->skip = h[3];
            return 1;
        default:
            return unknown(c, x);
        }
    }
    /* FS: Kanji and NV images */
    switch (x) {
    case '&':
    case '.':
        return 1;
    case '!':
    case '-':
    case 'C':
    case 'W':
        return n >= 3;
    case 'S':
        return n >= 4;
    case 'p': /* print NV image n with mode m: the image itself was stored by FS q */
        c->act = ACT_IMAGE;
        return n >= 4;
    case '2': /* user-defined Kanji c1 c2 and 72 bytes */
        if (n < 4)
            return 0;
        c->skip = 72;
        return 1;
    case 'q': /* define NV images: n, then per image xL xH yL yH and x*y*8 bytes */
        if (n < 3)
            return 0;
        c->act = ACT_IMAGE;
        c->records = h[2];
        c->rec_kind = REC_NV_IMAGE;
        return 1;
    case '(':
        if (n < 5)
            return 0;
        c->skip = u16le(h + 3);
        return 1;
    default:
        return unknown(c, x);
    }
}

static void after_data(struct escpos *d)
{
    d->st = d->records ? ST_RECORD : ST_TEXT;
    d->rec_n = 0;
}

/* Returns 1 when b was not the command's and must be read again as a stream byte. */
static int run_command(struct escpos *d, const struct cmd *c, escpos_receipt_fn fn, void *ctx)
{
    switch (c->act) {
    case ACT_LINE:
        end_line(d);
        break;
    case ACT_CUT_FULL:
    case ACT_CUT_PARTIAL:
        emit(d, c->act == ACT_CUT_PARTIAL, fn, ctx);
        break;
    case ACT_CODEPAGE:
        d->upper = escpos_codepage_table(d->hdr[2]);
        if (!d->upper)
            d->stats.unknown_codepages++;
        break;
    case ACT_INTL:
        d->intl = d->hdr[2];
        break;
    case ACT_INIT: /* the printer discards what it has not printed and returns to its defaults */
        d->line_len = 0;
        d->upper = escpos_codepage_table(d->default_cp);
        d->intl = 0;
        break;
    case ACT_IMAGE:
        d->images++;
        d->stats.images++;
        break;
    case ACT_BARCODE:
        d->barcodes++;
        d->stats.barcodes++;
        break;
    case ACT_CODE2D:
        d->codes2d++;
        d->stats.codes2d++;
        break;
    case ACT_UNKNOWN:
        d->unknown++;
        d->stats.unknown_commands++;
        break;
    case ACT_NONE:
        break;
    }
    d->records = c->records;
    d->rec_kind = c->rec_kind;
    d->rec_y = d->hdr[2];
    if (c->skip) {
        d->skip = c->skip;
        d->st = ST_SKIP;
    } else if (c->until_nul) {
        d->nul_left = c->until_nul;
        d->st = ST_UNTIL_NUL;
    } else {
        after_data(d);
    }
    return c->refeed;
}

static void record_byte(struct escpos *d, uint8_t b)
{
    size_t want = d->rec_kind == REC_DEFCHAR ? 1 : 4;
    d->rec_hdr[d->rec_n++] = b;
    if (d->rec_n < want)
        return;
    d->records--;
    d->rec_n = 0;
    uint64_t len = d->rec_kind == REC_DEFCHAR ? (uint64_t)d->rec_y * d->rec_hdr[0]
                                              : u16le(d->rec_hdr) * u16le(d->rec_hdr + 2) * 8;
    if (len) {
        d->skip = len;
        d->st = ST_SKIP;
    } else {
        after_data(d);
    }
}

static void feed_byte(struct escpos *d, uint8_t b, escpos_receipt_fn fn, void *ctx)
{
    for (;;) {
        switch (d->st) {
        case ST_SKIP:
            if (--d->skip == 0)
                after_data(d);
            return;
        case ST_UNTIL_NUL:
            if (b == 0 || --d->nul_left == 0)
                d->st = ST_TEXT;
            return;
        case ST_RECORD:
            record_byte(d, b);
            return;
        case ST_HEADER: {
            struct cmd c;
            d->hdr[d->hdr_n++] = b;
            if (!classify(d->hdr, d->hdr_n, &c) && d->hdr_n < HDR_MAX)
                return;
            if (run_command(d, &c, fn, ctx)) {
                d->st = ST_TEXT;
                continue; /* b again, as a stream byte */
            }
            return;
        }
        case ST_TEXT:
            if (b == ESC || b == GS || b == FS || b == DLE) {
                d->hdr[0] = b;
                d->hdr_n = 1;
                d->st = ST_HEADER;
            } else {
                text_byte(d, b);
            }
            return;
        }
    }
}

void escpos_feed(struct escpos *d, const uint8_t *p, size_t n, escpos_receipt_fn fn, void *ctx)
{
    d->stats.bytes += n;
    for (size_t i = 0; i < n; i++)
        feed_byte(d, p[i], fn, ctx);
}
