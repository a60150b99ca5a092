/*
 * The receipt tap's decoder and reader on arbitrary print streams, as a POS (or line noise)
 * could send them. Beyond "no crash, no sanitizer report":
 *   - the chunking never matters: the stream fed whole and in the sizes the first byte picks
 *     gives the same receipts, byte for byte;
 *   - a receipt's text is valid UTF-8 within ESCPOS_TEXT_MAX, lines of at most ESCPOS_LINE_MAX
 *     bytes, no control character but '\n';
 *   - every sale line the tap gives is one sale_parse accepts and holds no card number, and an
 *     unreadable receipt's text holds none either (it is kept for people to read).
 */
#include <stdint.h>
#include <string.h>

#include "card.h"
#include "escpos.h"
#include "fuzz_check.h"
#include "receipt_tap.h"
#include "sale.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct receipt_tap *tap;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct receipt_conf conf;
    receipt_conf_defaults(&conf);
    strcpy(conf.currency, "GBP");
    strcpy(conf.txn_pattern, "TXN[^A-Z0-9]*([A-Z0-9 -]+)");
    strcpy(conf.loyalty_pattern, "MEMBER ([^ ]+)");
    conf.unreadable_dir[0] = '\0'; /* no I/O */
    char err[256];
    tap = receipt_tap_new(&conf, err, sizeof err);
    if (!tap)
        abort();
    return 0;
}

/* What a run produced: a digest of every receipt's text, in order. */
struct digest {
    uint64_t h;
    unsigned n;
};

static void add(void *ctx, const struct escpos_receipt *r)
{
    struct digest *d = ctx;
    FUZZ_CHECK(r->len <= ESCPOS_TEXT_MAX, "receipt of %zu bytes", r->len);
    FUZZ_CHECK(strlen(r->text) == r->len, "text holds a NUL");
    FUZZ_CHECK(sale_valid_utf8(r->text, r->len), "text is not UTF-8");
    size_t line = 0;
    for (size_t i = 0; i < r->len; i++) {
        unsigned char c = (unsigned char)r->text[i];
        FUZZ_CHECK(c >= 0x20 || c == '\n', "control byte 0x%02x in text", c);
        line = c == '\n' ? 0 : line + 1;
        FUZZ_CHECK(line < ESCPOS_LINE_MAX, "line longer than %d bytes", ESCPOS_LINE_MAX);
    }
    FUZZ_CHECK(r->len == 0 || r->text[r->len - 1] == '\n', "last line without its newline");
    for (size_t i = 0; i < r->len; i++)
        d->h = (d->h ^ (unsigned char)r->text[i]) * 1099511628211ull;
    d->h = (d->h ^ r->dropped ^ (uint64_t)r->images << 32) * 1099511628211ull;
    d->n++;
}

static void on_sale(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    struct sale s;
    char err[256];
    FUZZ_CHECK(sale_parse(line, len, &s, err, sizeof err) == 0, "sale line refused: %s", err);
    sale_free(&s);
    FUZZ_CHECK(!card_number_in(line, len), "card number in a sale line");
}

static void on_unreadable(void *ctx, const char *text, const char *why)
{
    (void)ctx;
    FUZZ_CHECK(!card_number_in(text, strlen(text)), "card number in a dead letter");
    FUZZ_CHECK(!card_number_in(why, strlen(why)), "card number in a reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned step = data[0] % 17 + 1;
    data++;
    size--;

    struct digest whole = {14695981039346656037ull, 0}, split = whole;
    struct escpos *a = escpos_new(0), *b = escpos_new(0);
    if (!a || !b)
        abort();
    escpos_feed(a, data, size, add, &whole);
    escpos_end_receipt(a, add, &whole);
    for (size_t off = 0; off < size; off += step)
        escpos_feed(b, data + off, size - off < step ? size - off : step, add, &split);
    escpos_end_receipt(b, add, &split);
    FUZZ_CHECK(whole.n == split.n && whole.h == split.h,
               "chunks of %u give other receipts (%u vs %u)", step, split.n, whole.n);
    FUZZ_CHECK(memcmp(escpos_stats(a), escpos_stats(b), sizeof(struct escpos_stats)) == 0,
               "chunks of %u give other counters", step);
    escpos_free(a);
    escpos_free(b);

    receipt_tap_feed(tap, data, size, 1796053500000ull, on_sale, on_unreadable, NULL);
    receipt_tap_end_receipt(tap, 1796053500000ull, on_sale, on_unreadable, NULL);
    return 0;
}
