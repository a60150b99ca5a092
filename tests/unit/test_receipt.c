/*
 * receipt_tap.h and what it is made of: every recorded stream, whole, byte by byte and in
 * random chunks, gives its sales (txn, total, currency, time) and dead letters; a reprint gets
 * the original's txn; amounts per locale exactly; card numbers never leave unmasked; the
 * configuration's keys and refusals; the dead-letter directory's bound.
 */
#define _GNU_SOURCE          /* mkdtemp, setenv */
#define _FILE_OFFSET_BITS 64 /* readdir under qemu-arm */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amount.h"
#include "card.h"
#include "card_mask.h"
#include "escpos_streams.h"
#include "receipt.h"
#include "receipt_store.h"
#include "receipt_tap.h"
#include "sale.h"

#define MAX_EVENTS 16

struct event {
    int sale;
    char *line; /* sale: the request line; unreadable: the reason */
    char *text;
};

struct events {
    int n;
    struct event ev[MAX_EVENTS];
};

static void on_sale(void *ctx, const char *line, size_t len)
{
    struct events *e = ctx;
    assert_true(e->n < MAX_EVENTS);
    assert_int_equal(strlen(line), len);
    e->ev[e->n++] = (struct event){1, strdup(line), NULL};
}

static void on_unreadable(void *ctx, const char *text, const char *why)
{
    struct events *e = ctx;
    assert_true(e->n < MAX_EVENTS);
    e->ev[e->n++] = (struct event){0, strdup(why), strdup(text)};
}

static void events_free(struct events *e)
{
    for (int i = 0; i < e->n; i++) {
        free(e->ev[i].line);
        free(e->ev[i].text);
    }
    e->n = 0;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    char path[512];
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' && (!ent->d_name[1] || ent->d_name[1] == '.'))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "Europe/London", 1);
    tzset();
    return 0;
}

static void conf_from(const cJSON *obj, struct receipt_conf *out)
{
    char err[256] = "";
    struct conf_ctx c = {err, sizeof err, 0, ""};
    if (receipt_conf_parse(&c, obj, "intake.receipt_tap.", out) != 0)
        fail_msg("configuration refused: %s", err);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL)
        n += ent->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Feeds a recorded stream through a tap; checks every receipt against its expectation. */
static void run_stream(const char *name, enum chunking how, struct events *got)
{
    struct escpos_stream s;
    escpos_stream_load(name, &s);
    char dir[] = "/tmp/test_receipt.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct receipt_conf conf;
    conf_from(cJSON_GetObjectItem(s.expect, "config"), &conf);
    snprintf(conf.unreadable_dir, sizeof conf.unreadable_dir, "%s/dead", dir);
    char err[256];
    struct receipt_tap *t = receipt_tap_new(&conf, err, sizeof err);
    assert_non_null(t);
    uint64_t wall = (uint64_t)cJSON_GetObjectItem(s.expect, "cut_wall_ms")->valuedouble;
    uint32_t seed = 7;
    for (size_t off = 0, n; off < s.len; off += n) {
        n = chunk_next(how, off, s.len, &seed);
        receipt_tap_feed(t, s.bytes + off, n, wall, on_sale, on_unreadable, got);
    }
    const cJSON *want = cJSON_GetObjectItem(s.expect, "receipts");
    if (got->n != cJSON_GetArraySize(want))
        fail_msg("%s, %s: %d receipts read, expected %d", name, chunking_names[how], got->n,
                 cJSON_GetArraySize(want));
    int unreadable = 0;
    for (int i = 0; i < got->n; i++) {
        const cJSON *w = cJSON_GetArrayItem(want, i);
        const struct event *e = &got->ev[i];
        if (strcmp(str(w, "outcome"), "sale") == 0) {
            if (!e->sale)
                fail_msg("%s, %s, receipt %d: unreadable (%s), expected a sale", name,
                         chunking_names[how], i, e->line);
            cJSON *req = cJSON_Parse(e->line);
            assert_non_null(req);
            assert_string_equal(str(req, "event"), "sale.completed");
            assert_string_equal(str(req, "txn"), str(w, "txn"));
            assert_int_equal((int64_t)cJSON_GetObjectItem(req, "total")->valuedouble,
                             (int64_t)cJSON_GetObjectItem(w, "total")->valuedouble);
            assert_string_equal(str(req, "currency"), str(w, "currency"));
            assert_string_equal(str(req, "at"), str(w, "at"));
            assert_string_equal(str(req, "source"), "receipt");
            const cJSON *cust = cJSON_GetObjectItem(req, "customer");
            if (str(w, "customer_id"))
                assert_string_equal(str(cust, "id"), str(w, "customer_id"));
            if (str(w, "email"))
                assert_string_equal(str(cust, "email"), str(w, "email"));
            if (!str(w, "customer_id") && !str(w, "email"))
                assert_null(cust);
            struct sale sale;
            char serr[160];
            assert_int_equal(sale_parse(e->line, strlen(e->line), &sale, serr, sizeof serr), 0);
            sale_free(&sale);
            cJSON_Delete(req);
        } else {
            if (e->sale)
                fail_msg("%s, %s, receipt %d: a sale (%s), expected unreadable", name,
                         chunking_names[how], i, e->line);
            if (strncmp(e->line, str(w, "why"), strlen(str(w, "why"))) != 0)
                fail_msg("%s, receipt %d: why \"%s\", expected \"%s...\"", name, i, e->line,
                         str(w, "why"));
            if (str(w, "masked"))
                assert_non_null(strstr(e->text, str(w, "masked")));
            assert_false(card_number_in(e->text, strlen(e->text)));
            unreadable++;
        }
    }
    struct receipt_tap_stats st;
    receipt_tap_stats(t, &st);
    assert_int_equal(st.bytes, s.len);
    assert_int_equal(st.receipts, (uint64_t)got->n);
    assert_int_equal(st.unreadable, (uint64_t)unreadable);
    assert_int_equal(st.sales, (uint64_t)(got->n - unreadable));
    assert_int_equal(st.not_kept, 0);
    assert_int_equal(st.unknown_commands,
                     (uint64_t)cJSON_GetObjectItem(s.expect, "unknown_commands")->valueint);
    assert_int_equal(count_files(conf.unreadable_dir), unreadable);
    receipt_tap_free(t);
    rm_dir(conf.unreadable_dir);
    rm_dir(dir);
    escpos_stream_free(&s);
}

static void test_recorded_streams(void **state)
{
    (void)state;
    for (const char *const *name = escpos_stream_names; *name; name++)
        for (int how = 0; how < CHUNKINGS; how++) {
            struct events got = {0};
            run_stream(*name, (enum chunking)how, &got);
            events_free(&got);
        }
}

/* The receipt, its reprint (a REPRINT line, a "Reprinted ... (COPY)" line) and another one. */
static void test_reprint_same_txn(void **state)
{
    (void)state;
    struct events got = {0};
    run_stream("reprint", CHUNK_RANDOM, &got);
    assert_int_equal(got.n, 3);
    char txn[3][80];
    for (int i = 0; i < 3; i++) {
        cJSON *req = cJSON_Parse(got.ev[i].line);
        snprintf(txn[i], sizeof txn[i], "%s", str(req, "txn"));
        cJSON_Delete(req);
        assert_true(strncmp(txn[i], "rcpt-", 5) == 0);
        assert_true(sale_valid_txn(txn[i]));
    }
    assert_string_equal(txn[0], txn[1]);
    assert_string_not_equal(txn[0], txn[2]);
    events_free(&got);
}

static void test_amounts(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        char dec;
        const char *cur;
        int64_t minor; /* -1: refused */
    } cases[] = {
        {"1.234,56", ',', "EUR", 123456},
        {"1,234.56", '.', "USD", 123456},
        {"1'234.56", '.', "CHF", 123456},
        {"1 234,56", ',', "EUR", 123456},
        {"12.5", '.', "GBP", 1250},
        {"12", '.', "GBP", 1200},
        {"0,99", ',', "EUR", 99},
        {".50", '.', "USD", 50},
        {"£12.50", '.', "GBP", 1250},
        {"12,50 €", ',', "EUR", 1250},
        {"EUR 1.234.567,89", ',', "EUR", 123456789},
        {"1,234", '.', "JPY", 1234},
        {"1.234", ',', "JPY", 1234},
        {"1,234", '.', "USD", 123400},
        {"12.345", '.', "KWD", 12345},
        {"9999999999.99", '.', "USD", 999999999999},
        {"10000000000.00", '.', "USD", 1000000000000},
        {"10000000000.01", '.', "USD", -1}, /* over the contract's 10^12 */
        {"12,50", '.', "GBP", -1},          /* a comma decimal read with '.' */
        {"1.23", ',', "EUR", -1},           /* a group of two */
        {"1,2345.00", '.', "USD", -1},
        {"12.505", '.', "GBP", -1}, /* three decimals for two */
        {"12.5", '.', "JPY", -1},
        {"1,234.56", ',', "EUR", -1}, /* the other locale */
        {"-12.50", '.', "GBP", -1},
        {"12.50-", '.', "GBP", -1},
        {"1.2.3", '.', "GBP", -1},
        {"TOTAL", '.', "GBP", -1},
        {"99999999999999999999", '.', "GBP", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = -7;
        char why[160] = "";
        int rc = amount_parse(cases[i].s, strlen(cases[i].s), cases[i].dec,
                              amount_exponent(cases[i].cur), &v, why, sizeof why);
        if (cases[i].minor < 0 ? rc == 0 : rc != 0 || v != cases[i].minor)
            fail_msg("\"%s\" (%c, %s): rc %d, %lld minor units (%s); expected %lld", cases[i].s,
                     cases[i].dec, cases[i].cur, rc, (long long)v, why, (long long)cases[i].minor);
        if (rc != 0)
            assert_true(why[0] != '\0');
    }
}

static void test_card_mask(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"VISA 4111 1111 1111 1111\n", "VISA **** **** **** 1111\n"},
        {"card 4111111111111111 ok", "card ************1111 ok"},
        {"AMEX 3782-822463-10005\n", "AMEX ****-******-*0005\n"},
        {"TOTAL 12.50\nCASH 20.00\n", "TOTAL 12.50\nCASH 20.00\n"},
        {"Receipt # 004217\n30/11/2026 14:35\n", "Receipt # 004217\n30/11/2026 14:35\n"},
        {"EAN 4006381333931\n", "EAN 4006381333931\n"},
        {"4111 1111\n1111 1111\n", "**** ****\n**** 1111\n"}, /* split over two lines */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        card_mask(buf, strlen(buf));
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("card_mask(\"%s\") = \"%s\", expected \"%s\"", cases[i].in, buf, cases[i].out);
        assert_false(card_number_in(buf, strlen(buf)));
    }
}

/* A card number where a value is read: the txn refuses the sale, a loyalty id is left out. */
static void test_card_in_values(void **state)
{
    (void)state;
    struct receipt_conf conf;
    receipt_conf_defaults(&conf);
    strcpy(conf.currency, "GBP");
    strcpy(conf.txn_pattern, "TXN ([0-9 ]+)");
    strcpy(conf.loyalty_pattern, "MEMBER ([0-9 ]+)");
    char err[128];
    struct receipt_rules *r = receipt_rules_new(&conf, err, sizeof err);
    assert_non_null(r);
    struct receipt_result res;
    const char *t1 = "TXN 4111 1111 1111 1111\nTOTAL 5.00\n";
    assert_int_equal(receipt_read(r, t1, strlen(t1), 0, &res), RECEIPT_UNREADABLE);
    assert_string_equal(res.why, "txn: what txn_pattern reads is a card number");
    assert_null(strstr(res.why, "4111"));
    const char *t2 = "TXN 77\nMEMBER 5555 5555 5555 4444\nTOTAL 5.00\n";
    assert_int_equal(receipt_read(r, t2, strlen(t2), 0, &res), RECEIPT_SALE);
    assert_null(strstr(res.line, "5555"));
    assert_null(strstr(res.line, "customer"));
    receipt_rules_free(r);
}

/* A printer without a cutter: the caller ends the receipt (after the line went idle). */
static void test_end_receipt(void **state)
{
    (void)state;
    struct receipt_conf conf;
    receipt_conf_defaults(&conf);
    strcpy(conf.currency, "GBP");
    conf.unreadable_dir[0] = '\0';
    char err[128];
    struct receipt_tap *t = receipt_tap_new(&conf, err, sizeof err);
    struct events got = {0};
    const char *s = "Receipt 5\nTOTAL 4.20\n\n\n\n";
    receipt_tap_feed(t, (const uint8_t *)s, strlen(s), 0, on_sale, on_unreadable, &got);
    assert_int_equal(got.n, 0);
    receipt_tap_end_receipt(t, 0, on_sale, on_unreadable, &got);
    assert_int_equal(got.n, 1);
    assert_true(got.ev[0].sale);
    assert_non_null(strstr(got.ev[0].line, "\"total\":420"));
    receipt_tap_end_receipt(t, 0, on_sale, on_unreadable, &got); /* nothing printed since */
    assert_int_equal(got.n, 1);
    struct receipt_tap_stats st;
    receipt_tap_stats(t, &st);
    assert_int_equal(st.empty_cuts, 1);
    events_free(&got);
    receipt_tap_free(t);
}

/* The defaults read common receipts; without a printed time, the cut's time (local). */
static void test_defaults(void **state)
{
    (void)state;
    struct receipt_conf conf;
    cJSON *obj = cJSON_Parse("{\"currency\": \"GBP\"}");
    conf_from(obj, &conf);
    cJSON_Delete(obj);
    char err[128];
    struct receipt_rules *r = receipt_rules_new(&conf, err, sizeof err);
    assert_non_null(r);
    static const struct {
        const char *text;
        int64_t total;
    } cases[] = {
        {"SUBTOTAL 5.00\nTOTAL ITEMS 3\n  TOTAL 12.50\nTOTAL SAVED 1.00\n", 1250},
        {"Total: \xC2\xA3"
         "12.50\n",
         1250},
        {"TOTAL GBP 1,234.56\n", 123456},
        {"TOTAL DUE      7\n", 700},
    };
    struct receipt_result res;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(receipt_read(r, cases[i].text, strlen(cases[i].text), 1796053500000, &res),
                         RECEIPT_SALE);
        assert_int_equal(res.total, cases[i].total);
        assert_string_equal(res.at, "2026-11-30T15:45:00+00:00");
        assert_true(res.txn_made);
    }
    /* summer: the offset of the time printed, not of now */
    const char *t = "01/07/2026 09:30\nTOTAL 1.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 1796053500000, &res), RECEIPT_SALE);
    assert_string_equal(res.at, "2026-07-01T09:30:00+01:00");
    /* a printed time the format cannot read: the cut's time */
    t = "99/99/2026 10:00\nTOTAL 1.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 1796053500000, &res), RECEIPT_SALE);
    assert_string_equal(res.at, "2026-11-30T15:45:00+00:00");
    /* email read by the default pattern */
    t = "TOTAL 1.00\nE-receipt sent to jo.bloggs@example.co.uk\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_SALE);
    assert_non_null(strstr(res.line, "\"customer\":{\"email\":\"jo.bloggs@example.co.uk\"}"));
    /* the same text, another printed time: another txn */
    const char *a = "30/11/2026 10:00\nTOTAL 2.00\n", *b = "30/11/2026 10:01\nTOTAL 2.00\n";
    char ta[80];
    assert_int_equal(receipt_read(r, a, strlen(a), 0, &res), RECEIPT_SALE);
    strcpy(ta, res.txn);
    assert_int_equal(receipt_read(r, b, strlen(b), 0, &res), RECEIPT_SALE);
    assert_string_not_equal(ta, res.txn);
    receipt_rules_free(r);
}

static void test_ignore_and_currency(void **state)
{
    (void)state;
    struct receipt_conf conf;
    cJSON *obj = cJSON_Parse("{\"currency_pattern\": \"^CURRENCY ([^ ]+)\","
                             " \"ignore_pattern\": \"^Z-REPORT\"}");
    conf_from(obj, &conf);
    cJSON_Delete(obj);
    char err[128];
    struct receipt_rules *r = receipt_rules_new(&conf, err, sizeof err);
    struct receipt_result res;
    const char *t = "Z-REPORT\nTOTAL 5000.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_IGNORED);
    t = "CURRENCY \xE2\x82\xAC\nTOTAL 5.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_SALE);
    assert_string_equal(res.currency, "EUR");
    t = "CURRENCY jpy\nTOTAL 1,500\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_SALE);
    assert_string_equal(res.currency, "JPY");
    assert_int_equal(res.total, 1500);
    t = "CURRENCY XYZ\nTOTAL 5.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_UNREADABLE);
    assert_string_equal(res.why, "currency: \"XYZ\" (currency_pattern) is not an ISO 4217 code");
    t = "TOTAL 5.00\n";
    assert_int_equal(receipt_read(r, t, strlen(t), 0, &res), RECEIPT_UNREADABLE);
    assert_string_equal(res.why, "currency: no line matched currency_pattern");
    receipt_rules_free(r);
}

static void test_conf_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{}", "intake.receipt_tap.currency: required"},
        {"{\"currency\": \"GBPX\"}", "intake.receipt_tap.currency: not an ISO 4217"},
        {"{\"currency\": \"GBP\", \"total_pattern\": \"TOTAL ([0-9]\"}",
         "intake.receipt_tap.total_pattern: not a POSIX extended regular expression: "},
        {"{\"currency\": \"GBP\", \"txn_pattern\": \"TXN [0-9]+\"}",
         "intake.receipt_tap.txn_pattern: has no capture group"},
        {"{\"currency\": \"GBP\", \"total_pattern\": null}",
         "intake.receipt_tap.total_pattern: must be a non-empty string"},
        {"{\"currency\": \"GBP\", \"decimal_separator\": \";\"}",
         "intake.receipt_tap.decimal_separator: must be"},
        {"{\"currency\": \"GBP\", \"codepage\": \"cp1251\"}",
         "intake.receipt_tap.codepage: must be cp437, cp850, cp858 or cp1252"},
        {"{\"currency\": \"GBP\", \"unreadable_max\": 0}",
         "intake.receipt_tap.unreadable_max: must be an integer from 1 to 10000"},
        {"{\"currency\": \"GBP\", \"time_format\": \"dd/mm\"}",
         "intake.receipt_tap.time_format: holds no strptime conversion"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *obj = cJSON_Parse(cases[i].json);
        assert_non_null(obj);
        char err[256] = "";
        struct conf_ctx c = {err, sizeof err, 0, ""};
        struct receipt_conf conf;
        assert_int_equal(receipt_conf_parse(&c, obj, "intake.receipt_tap.", &conf), -1);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fail_msg("%s: \"%s\", expected \"%s...\"", cases[i].json, err, cases[i].err);
        cJSON_Delete(obj);
    }
    /* regerror's own words follow the key */
    cJSON *obj = cJSON_Parse("{\"currency\": \"GBP\", \"total_pattern\": \"TOTAL ([0-9]\"}");
    char err[256] = "";
    struct conf_ctx c = {err, sizeof err, 0, ""};
    struct receipt_conf conf;
    receipt_conf_parse(&c, obj, "", &conf);
    regex_t re;
    char want[128];
    int rc = regcomp(&re, "TOTAL ([0-9]", RECEIPT_REGEX_FLAGS);
    regerror(rc, &re, want, sizeof want);
    assert_non_null(strstr(err, want));
    cJSON_Delete(obj);
    /* null turns a pattern off; the keys list names every key read */
    obj = cJSON_Parse("{\"currency\": \"GBP\", \"email_pattern\": null, \"time_pattern\": null,"
                      " \"unreadable_dir\": null}");
    conf_from(obj, &conf);
    assert_string_equal(conf.email_pattern, "");
    assert_string_equal(conf.time_pattern, "");
    assert_string_equal(conf.unreadable_dir, "");
    assert_int_equal(conf.decimal_separator, '.');
    cJSON_Delete(obj);
    size_t nkeys = 0;
    while (receipt_conf_keys[nkeys])
        nkeys++;
    assert_int_equal(nkeys, 14);
}

struct listed {
    int n;
    char first[64], last[64];
    int masked_ok;
};

static int list_one(void *ctx, const char *name, const char *content, size_t len)
{
    struct listed *l = ctx;
    if (l->n == 0)
        snprintf(l->first, sizeof l->first, "%s", name);
    snprintf(l->last, sizeof l->last, "%s", name);
    l->masked_ok &= !card_number_in(content, len) && strstr(content, "why: total: no line") &&
                    strstr(content, "**** 1111");
    l->n++;
    return 0;
}

/* At most unreadable_max files, the oldest removed; listed oldest first; masked. */
static void test_store_bounded(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_receipt_store.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64], err[256];
    snprintf(sub, sizeof sub, "%s/dead", dir);
    const char *text = "Receipt 1\nVISA 4111 1111 1111 1111\n";
    for (unsigned i = 0; i < 105; i++)
        assert_int_equal(receipt_store_put(sub, 100, 1796053500000 + i * 1000,
                                           "total: no line matched total_pattern", 0, text,
                                           strlen(text), err, sizeof err),
                         0);
    /* two in the same millisecond are both kept */
    assert_int_equal(receipt_store_put(sub, 100, 1796053500000 + 104 * 1000,
                                       "total: no line matched total_pattern", 0, text,
                                       strlen(text), err, sizeof err),
                     0);
    struct listed l = {.masked_ok = 1};
    assert_int_equal(receipt_store_list(sub, list_one, &l), 100);
    assert_int_equal(l.n, 100);
    assert_true(l.masked_ok);
    assert_string_equal(l.first, "1796053506000-0.txt");
    assert_string_equal(l.last, "1796053604000-1.txt");
    assert_int_equal(receipt_store_list("/nonexistent/dir", list_one, &l), -1);
    rm_dir(sub);
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_streams),
        cmocka_unit_test(test_reprint_same_txn),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_card_mask),
        cmocka_unit_test(test_card_in_values),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_ignore_and_currency),
        cmocka_unit_test(test_conf_refusals),
        cmocka_unit_test(test_store_bounded),
        cmocka_unit_test(test_end_receipt),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
