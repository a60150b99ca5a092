/*
 * escpos.h: the recorded streams decode to exactly their receipts' text however they are cut
 * into writes; code pages to UTF-8 byte for byte; command payloads (images, barcodes, QR)
 * skipped by length, never read as text or cuts; memory fixed however long the stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos.h"
#include "escpos_codepage.h"
#include "escpos_streams.h"

/* Allocations while the decoder runs, counted through the linker's --wrap. */
static int counting;
static unsigned long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
    allocations += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    allocations += counting;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    allocations += counting;
    return __real_realloc(p, n);
}

#define MAX_RECEIPTS 16

struct got {
    int n;
    char *text[MAX_RECEIPTS];
    size_t dropped[MAX_RECEIPTS];
    unsigned images[MAX_RECEIPTS], barcodes[MAX_RECEIPTS], codes2d[MAX_RECEIPTS];
    int partial[MAX_RECEIPTS];
};

static void collect(void *ctx, const struct escpos_receipt *r)
{
    struct got *g = ctx;
    assert_true(g->n < MAX_RECEIPTS);
    assert_int_equal(strlen(r->text), r->len);
    g->text[g->n] = strdup(r->text);
    g->dropped[g->n] = r->dropped;
    g->images[g->n] = r->images;
    g->barcodes[g->n] = r->barcodes;
    g->codes2d[g->n] = r->codes2d;
    g->partial[g->n] = r->partial_cut;
    g->n++;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->text[i]);
    memset(g, 0, sizeof *g);
}

static struct escpos *decoder_for(const cJSON *expect)
{
    const cJSON *cp = cJSON_GetObjectItem(cJSON_GetObjectItem(expect, "config"), "codepage");
    struct escpos *d = escpos_new(escpos_codepage_by_name(cp ? cp->valuestring : "cp437"));
    assert_non_null(d);
    return d;
}

static void decode(const uint8_t *p, size_t len, int codepage, struct got *g)
{
    struct escpos *d = escpos_new(codepage);
    escpos_feed(d, p, len, collect, g);
    escpos_free(d);
}

static void test_recorded_streams(void **state)
{
    (void)state;
    for (const char *const *name = escpos_stream_names; *name; name++) {
        struct escpos_stream s;
        escpos_stream_load(*name, &s);
        const cJSON *receipts = cJSON_GetObjectItem(s.expect, "receipts");
        for (int how = 0; how < CHUNKINGS; how++) {
            struct escpos *d = decoder_for(s.expect);
            struct got g = {0};
            uint32_t seed = 42;
            for (size_t off = 0, n; off < s.len; off += n) {
                n = chunk_next((enum chunking)how, off, s.len, &seed);
                escpos_feed(d, s.bytes + off, n, collect, &g);
            }
            if (g.n != cJSON_GetArraySize(receipts))
                fail_msg("%s, %s: %d receipts, expected %d", *name, chunking_names[how], g.n,
                         cJSON_GetArraySize(receipts));
            for (int i = 0; i < g.n; i++) {
                const char *want =
                    cJSON_GetObjectItem(cJSON_GetArrayItem(receipts, i), "text")->valuestring;
                if (strcmp(g.text[i], want) != 0)
                    fail_msg("%s, %s, receipt %d:\n--- got\n%s--- expected\n%s", *name,
                             chunking_names[how], i, g.text[i], want);
            }
            const struct escpos_stats *st = escpos_stats(d);
            assert_int_equal(st->bytes, s.len);
            assert_int_equal(st->unknown_commands,
                             cJSON_GetObjectItem(s.expect, "unknown_commands")->valueint);
            got_free(&g);
            escpos_free(d);
        }
        escpos_stream_free(&s);
    }
}

/* What the cafe's stream holds besides text: the logo, the CODE128, the QR, a partial cut. */
static void test_payloads_counted(void **state)
{
    (void)state;
    struct escpos_stream s;
    escpos_stream_load("cp437_cafe", &s);
    struct got g = {0};
    decode(s.bytes, s.len, 0, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.images[0], 1);
    assert_int_equal(g.barcodes[0], 1);
    assert_int_equal(g.codes2d[0], 5); /* model, size, error level, store, print */
    assert_true(g.partial[0]);
    assert_null(strstr(g.text[0], "99.99")); /* the text hidden in the logo's bitmap */
    got_free(&g);
    escpos_stream_free(&s);
}

/* Every byte of each code page's upper half, against the Unicode mapping (spot checks of the
 * bytes each page is chosen for, and the whole table's UTF-8 well-formed and in order). */
static void test_codepages_to_utf8(void **state)
{
    (void)state;
    static const struct {
        int n;
        uint8_t byte;
        const char *utf8;
    } cases[] = {
        {0, 0x9C, "£"},
        {0, 0xC9, "╔"},
        {0, 0xCD, "═"},
        {0, 0xBB, "╗"},
        {0, 0xAB, "½"},
        {0, 0x90, "É"},
        {0, 0xE1, "ß"},
        {0, 0xFF, "\u00A0"},
        {2, 0xD5, "ı"},
        {2, 0x9D, "Ø"},
        {2, 0x81, "ü"},
        {2, 0xE1, "ß"},
        {19, 0xD5, "€"},
        {19, 0x82, "é"},
        {19, 0x8A, "è"},
        {16, 0x80, "€"},
        {16, 0xE9, "é"},
        {16, 0x97, "—"},
        {16, 0x81, "\xEF\xBF\xBD"},
        {16, 0xAB, "«"},
        {16, 0xD8, "Ø"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t in[] = {0x1B, 't', (uint8_t)cases[i].n, 'a', cases[i].byte, 'b', '\n', 0x1B, 'i'};
        struct got g = {0};
        decode(in, sizeof in, 0, &g);
        char want[16];
        snprintf(want, sizeof want, "a%sb\n", cases[i].utf8);
        assert_int_equal(g.n, 1);
        if (strcmp(g.text[0], want) != 0)
            fail_msg("ESC t %d, byte 0x%02X: got \"%s\", expected \"%s\"", cases[i].n,
                     cases[i].byte, g.text[0], want);
        got_free(&g);
    }
    /* all 128 bytes of each page, one line: 128 characters of valid UTF-8 */
    const int pages[] = {0, 2, 16, 19};
    for (size_t p = 0; p < 4; p++) {
        uint8_t in[3 + 128 + 3] = {0x1B, 't', (uint8_t)pages[p]};
        for (int b = 0; b < 128; b++)
            in[3 + b] = (uint8_t)(0x80 + b);
        memcpy(in + 131, "\n\x1bi", 3);
        struct got g = {0};
        decode(in, sizeof in, 0, &g);
        assert_int_equal(g.n, 1);
        size_t chars = 0;
        for (const unsigned char *c = (const unsigned char *)g.text[0]; *c; c++)
            chars += (*c & 0xC0) != 0x80;
        /* 0xFF is NBSP in the DOS pages: kept (only ' ' is trimmed) */
        assert_int_equal(chars, 128 + 1);
        got_free(&g);
    }
    /* a page without a table: U+FFFD, counted; ESC @ returns to the default */
    const uint8_t other[] = "\x1bt\x11"
                            "a\xe9\n\x1b@b\x9c\n\x1bi";
    struct escpos *d = escpos_new(0);
    struct got g = {0};
    escpos_feed(d, other, sizeof other - 1, collect, &g);
    assert_string_equal(g.text[0], "a\xEF\xBF\xBD\nb£\n");
    assert_int_equal(escpos_stats(d)->unknown_codepages, 1);
    got_free(&g);
    escpos_free(d);
}

static void test_international_sets(void **state)
{
    (void)state;
    const uint8_t in[] = "\x1bR\x03#1\n\x1bR\x02[\\]{|}~@\n\x1bR\x00[\n\x1bi";
    struct got g = {0};
    decode(in, sizeof in - 1, 0, &g);
    assert_string_equal(g.text[0], "£1\nÄÖÜäöüß§\n[\n");
    got_free(&g);
}

/* Each cut form ends a receipt; GS V m n takes its n; what follows is the next receipt. */
static void test_cuts(void **state)
{
    (void)state;
    static const struct {
        const char *cut;
        size_t len;
        int partial;
    } cuts[] = {
        {"\x1dV\x00", 3, 0},  {"\x1dV\x01", 3, 1},  {"\x1dV0", 3, 0},     {"\x1dV1", 3, 1},
        {"\x1dVA\x0a", 4, 0}, {"\x1dVB\x41", 4, 1}, {"\x1dVa\x03", 4, 0}, {"\x1dVb\x03", 4, 1},
        {"\x1bi", 2, 0},      {"\x1bm", 2, 1},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        uint8_t in[32];
        size_t n = 0;
        memcpy(in, "one\n", 4);
        n = 4;
        memcpy(in + n, cuts[i].cut, cuts[i].len);
        n += cuts[i].len;
        memcpy(in + n, "two\x1bi", 5); /* unterminated line: the cut prints it */
        n += 5;
        struct got g = {0};
        decode(in, n, 0, &g);
        assert_int_equal(g.n, 2);
        assert_string_equal(g.text[0], "one\n");
        assert_string_equal(g.text[1], "two\n");
        assert_int_equal(g.partial[0], cuts[i].partial);
        got_free(&g);
    }
}

/* Payload bytes that look like commands, and commands whose parameters look like text. */
static void test_payloads_skipped(void **state)
{
    (void)state;
    const uint8_t in[] =
        "A\n"
        "\x1dv0\x00\x02\x00\x02\x00\x1dV\x00\x0a" /* 2x2 raster holding GS V 0 and LF */
        "\x1b*\x21\x02\x00\x1bi\x1bm\x0a\x0a"     /* ESC * 33, two columns of 3 bytes */
        "\x1dk\x49\x03\x1bi\n"                    /* CODE128 holding ESC i and LF */
        "\x1dk\x04*AB\n*\x00"                     /* CODE39, NUL-ended, LF inside */
        "\x1d(k\x05\x00"
        "1P0\x1bm" /* QR store holding ESC m */
        "\x1d(L\x03\x00"
        "\x1dV\x01" /* graphics holding GS V 1 */
        "\x1d"
        "8L\x02\x00\x00\x00\x1bi"                              /* GS 8 L */
        "\x1b&\x03\x41\x42\x02\x1bi\x1bm\x0a\x0a\x01\x1dV\x00" /* user chars A, B */
        "\x1cq\x01\x01\x00\x01\x00\x1bi\x1bm\x1bi\x1bm"        /* NV image 8x8 dots */
        "\x1b"
        "D\x08\x10\x18\x00" /* tab stops */
        "\x1bp\x00\x0a\x0a" /* drawer kick, its times are LFs */
        "\x10\x04\x01"
        "\x10\x14\x01\x00\x05" /* status request, real-time pulse */
        "\x1b!\x0a"
        "B\n" /* ESC ! 0x0A: a mode, not a line feed */
        "\x1bi";
    struct got g = {0};
    decode(in, sizeof in - 1, 0, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "A\nB\n");
    got_free(&g);
}

/* A stray ESC never swallows the LF or the cut behind it; unknown commands are counted. */
static void test_unknown_commands(void **state)
{
    (void)state;
    const uint8_t in[] = "a\x1b\nb\x1b\x1dV\x00"
                         "c\x1bz"
                         "d\x1cZ"
                         "e\x10x\n\x1bi";
    struct escpos *d = escpos_new(0);
    struct got g = {0};
    escpos_feed(d, in, sizeof in - 1, collect, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.text[0], "a\nb\n");
    assert_string_equal(g.text[1], "cdex\n");
    assert_int_equal(escpos_stats(d)->unknown_commands, 4); /* ESC LF, ESC GS, ESC z, FS Z */
    got_free(&g);
    escpos_free(d);
}

/* Cuts with nothing printed are no receipts; a receipt of images alone is one, without text. */
static void test_empty_cuts(void **state)
{
    (void)state;
    const uint8_t in[] = "\x1dV\x00\n\n\x1b@\x1dV\x00\x1bp\x00\x01\x01\x1bi"
                         "\x1dv0\x00\x01\x00\x01\x00\xff\x1dV\x00";
    struct escpos *d = escpos_new(0);
    struct got g = {0};
    escpos_feed(d, in, sizeof in - 1, collect, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "");
    assert_int_equal(g.images[0], 1);
    assert_int_equal(escpos_stats(d)->empty_cuts, 3);
    got_free(&g);
    escpos_free(d);
}

/* ESC @ discards the unprinted line, as the printer does. */
static void test_init_discards_line(void **state)
{
    (void)state;
    const uint8_t in[] = "lost\x1b@kept\n\x1bi";
    struct got g = {0};
    decode(in, sizeof in - 1, 0, &g);
    assert_string_equal(g.text[0], "kept\n");
    got_free(&g);
}

/*
 * Bounded memory: 10 MiB of text without a cut, then a cut. Nothing is allocated while it
 * runs; the receipt keeps its first ESCPOS_HEAD_MAX bytes and its last lines up to
 * ESCPOS_TAIL_MAX, whole lines only; an over-long line keeps ESCPOS_LINE_MAX - 1 bytes.
 */
static void test_bounded_memory(void **state)
{
    (void)state;
    allocations = 0;
    counting = 1;
    struct escpos *d = escpos_new(0);
    assert_int_equal(allocations, 1); /* the wrap sees the decoder's allocations */
    allocations = 0;
    struct got g = {0};
    char line[64];
    for (unsigned i = 0; i < 10u * 1024 * 1024 / 16; i++) {
        int n = snprintf(line, sizeof line, "line %09u\n", i); /* 15 bytes */
        escpos_feed(d, (const uint8_t *)line, (size_t)n, NULL, NULL);
    }
    uint8_t longline[4000];
    memset(longline, 'x', sizeof longline);
    escpos_feed(d, longline, sizeof longline, NULL, NULL);
    escpos_feed(d, (const uint8_t *)"\nTOTAL 1.00\n\x1bi", 15, collect, &g);
    counting = 0;
    assert_int_equal(allocations, 0); /* (collect()'s strdup allocates inside libc, unseen) */
    assert_int_equal(g.n, 1);
    const char *t = g.text[0];
    size_t len = strlen(t);
    assert_true(len <= ESCPOS_TEXT_MAX);
    assert_true(len > ESCPOS_TEXT_MAX - 2 * ESCPOS_LINE_MAX);
    assert_memory_equal(t, "line 000000000\nline 000000001\n", 30);
    const char *end = "\nTOTAL 1.00\n";
    assert_string_equal(t + len - strlen(end), end);
    /* the long line: 511 x's, whole */
    const char *x = strstr(t, "xxx");
    assert_non_null(x);
    assert_int_equal(strspn(x, "x"), ESCPOS_LINE_MAX - 1);
    assert_true(x == t || x[-1] == '\n');
    /* every kept line whole */
    for (const char *p = t; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(strncmp(p, "line ", 5) == 0 || *p == 'x' || *p == 'T');
        if (*p == 'l')
            assert_int_equal(nl - p, 14);
        p = nl + 1;
    }
    size_t fed = 10u * 1024 * 1024 / 16 * 15 + ESCPOS_LINE_MAX + 12;
    assert_true(g.dropped[0] >= fed - ESCPOS_TEXT_MAX);
    assert_int_equal(escpos_stats(d)->text_dropped, g.dropped[0]);
    got_free(&g);
    escpos_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_streams),
        cmocka_unit_test(test_payloads_counted),
        cmocka_unit_test(test_codepages_to_utf8),
        cmocka_unit_test(test_international_sets),
        cmocka_unit_test(test_cuts),
        cmocka_unit_test(test_payloads_skipped),
        cmocka_unit_test(test_unknown_commands),
        cmocka_unit_test(test_empty_cuts),
        cmocka_unit_test(test_init_discards_line),
        cmocka_unit_test(test_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
