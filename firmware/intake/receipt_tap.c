#include "receipt_tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card_mask.h"
#include "escpos.h"
#include "escpos_codepage.h"
#include "receipt.h"
#include "receipt_store.h"

struct receipt_tap {
    struct escpos *dec;
    struct receipt_rules *rules;
    char dir[256];
    unsigned max;
    struct receipt_tap_stats st;
    struct receipt_result res;
    char masked[ESCPOS_TEXT_MAX + 1];
    /* the call in progress */
    uint64_t wall_ms;
    receipt_sale_fn on_sale;
    receipt_unreadable_fn on_unreadable;
    void *ctx;
};

struct receipt_tap *receipt_tap_new(const struct receipt_conf *conf, char *err, size_t errlen)
{
    struct receipt_tap *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->dec = escpos_new(escpos_codepage_by_name(conf->codepage));
    t->rules = t->dec ? receipt_rules_new(conf, err, errlen) : NULL;
    if (!t->rules) {
        if (!t->dec)
            snprintf(err, errlen, "out of memory");
        receipt_tap_free(t);
        return NULL;
    }
    snprintf(t->dir, sizeof t->dir, "%s", conf->unreadable_dir);
    t->max = conf->unreadable_max ? conf->unreadable_max : 100;
    return t;
}

void receipt_tap_free(struct receipt_tap *t)
{
    if (!t)
        return;
    escpos_free(t->dec);
    receipt_rules_free(t->rules);
    free(t);
}

static void dead_letter(struct receipt_tap *t, const struct escpos_receipt *r, const char *why)
{
    memcpy(t->masked, r->text, r->len + 1);
    card_mask(t->masked, r->len);
    char reason[600], err[300];
    snprintf(reason, sizeof reason, "%s", why);
    card_mask(reason, strlen(reason)); /* it may quote what a pattern read */
    t->st.unreadable++;
    if (t->dir[0] && receipt_store_put(t->dir, t->max, t->wall_ms, reason, r->dropped, t->masked,
                                       r->len, err, sizeof err) != 0) {
        t->st.not_kept++;
        size_t n = strlen(reason);
        snprintf(reason + n, sizeof reason - n, " (not kept: %s)", err);
    }
    if (t->on_unreadable)
        t->on_unreadable(t->ctx, t->masked, reason);
}

static void on_receipt(void *ctx, const struct escpos_receipt *r)
{
    struct receipt_tap *t = ctx;
    t->st.receipts++;
    if (r->lines == 0) {
        char why[160];
        snprintf(why, sizeof why,
                 "text: none (%u images, %u barcodes, %u 2D-code commands): the POS prints "
                 "receipts as images",
                 r->images, r->barcodes, r->codes2d);
        dead_letter(t, r, why);
        return;
    }
    switch (receipt_read(t->rules, r->text, r->len, t->wall_ms, &t->res)) {
    case RECEIPT_SALE:
        t->st.sales++;
        if (t->on_sale)
            t->on_sale(t->ctx, t->res.line, t->res.line_len);
        break;
    case RECEIPT_IGNORED:
        t->st.ignored++;
        break;
    case RECEIPT_UNREADABLE:
        dead_letter(t, r, t->res.why);
        break;
    }
}

static void begin(struct receipt_tap *t, uint64_t wall_ms, receipt_sale_fn on_sale,
                  receipt_unreadable_fn on_unreadable, void *ctx)
{
    t->wall_ms = wall_ms;
    t->on_sale = on_sale;
    t->on_unreadable = on_unreadable;
    t->ctx = ctx;
}

void receipt_tap_feed(struct receipt_tap *t, const uint8_t *data, size_t len, uint64_t wall_ms,
                      receipt_sale_fn on_sale, receipt_unreadable_fn on_unreadable, void *ctx)
{
    begin(t, wall_ms, on_sale, on_unreadable, ctx);
    escpos_feed(t->dec, data, len, on_receipt, t);
}

void receipt_tap_end_receipt(struct receipt_tap *t, uint64_t wall_ms, receipt_sale_fn on_sale,
                             receipt_unreadable_fn on_unreadable, void *ctx)
{
    begin(t, wall_ms, on_sale, on_unreadable, ctx);
    escpos_end_receipt(t->dec, on_receipt, t);
}

void receipt_tap_stats(const struct receipt_tap *t, struct receipt_tap_stats *out)
{
    const struct escpos_stats *d = escpos_stats(t->dec);
    *out = t->st;
    out->bytes = d->bytes;
    out->empty_cuts = d->empty_cuts;
    out->unknown_commands = d->unknown_commands;
    out->unknown_codepages = d->unknown_codepages;
    out->images = d->images;
    out->barcodes = d->barcodes;
    out->codes2d = d->codes2d;
    out->text_dropped = d->text_dropped;
}
