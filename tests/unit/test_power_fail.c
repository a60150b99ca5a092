/*
 * What the daemon does on the power-fail and sale-signal lines, driven by fake edge events over a
 * journal on simulated flash that tracks what was synced: the active edge stops intake (retry,
 * the journal untouched), writes the delivery marks held in memory and syncs them; the inactive
 * edge resumes intake; sale signals are counted against accepted sales.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "drivers/flash_ram.h"
#include "delivery.h"
#include "hal/loop.h"
#include "journal.h"
#include "pos_intake.h"
#include "power_fail.h"

static const struct hal_flash_geometry geo = {16 * 4096, 4096, 16};
static const uint32_t ids[1] = {0x1111};
static char err[256];

/* Flash that knows whether every program and erase since the last sync was synced. */
struct sync_watch {
    struct hal_flash dev;
    struct hal_flash *ram;
    unsigned unsynced, syncs;
    int fail_sync;
};

static int sw_read(struct hal_flash *d, uint64_t off, void *buf, size_t len)
{
    return hal_flash_read(((struct sync_watch *)d)->ram, off, buf, len);
}
static int sw_prog(struct hal_flash *d, uint64_t off, const void *buf, size_t len)
{
    ((struct sync_watch *)d)->unsynced++;
    return hal_flash_prog(((struct sync_watch *)d)->ram, off, buf, len);
}
static int sw_erase(struct hal_flash *d, uint32_t block)
{
    ((struct sync_watch *)d)->unsynced++;
    return hal_flash_erase(((struct sync_watch *)d)->ram, block);
}
static int sw_sync(struct hal_flash *d)
{
    struct sync_watch *w = (struct sync_watch *)d;
    if (w->fail_sync)
        return -EIO;
    w->unsynced = 0;
    w->syncs++;
    return hal_flash_sync(w->ram);
}
static void sw_close(struct hal_flash *d)
{
    (void)d;
}
static const struct hal_flash_api sw_api = {sw_read, sw_prog, sw_erase, sw_sync, sw_close};

struct rig {
    struct sync_watch flash;
    struct journal j;
    struct delivery *d;
    struct pos_intake pi;
    struct power_fail pf;
    struct hal_source power, signal;
    struct loop *loop;
};

static void rig_mount(struct rig *r)
{
    int rc = journal_mount_blocks(&r->j, &r->flash.dev, geo.erase_size, ids, 1, err, sizeof err);
    if (rc)
        fail_msg("mount: %d %s", rc, err);
}

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof *r);
    r->flash = (struct sync_watch){.dev = {&sw_api, geo}, .ram = flash_ram_create(&geo)};
    rig_mount(r);
    /* No backend lanes: delivery_flush writes the journal's marks, which tests set directly. */
    r->loop = loop_new();
    r->d = delivery_new("T1", NULL, 0, &r->j, r->loop, err, sizeof err);
    assert_non_null(r->d);
    r->pi = (struct pos_intake){.terminal_id = "T1", .journal = &r->j};
    r->pf = (struct power_fail){.intake = &r->pi,
                                .delivery = r->d,
                                .journal = &r->j,
                                .budget_ms = POWER_FAIL_BUDGET_MS_DEFAULT,
                                .has_power_line = 1,
                                .has_signal_line = 1};
    r->power = (struct hal_source){.role = HAL_ROLE_POWER_FAIL, .name = "power_fail"};
    r->signal = (struct hal_source){.role = HAL_ROLE_SALE_SIGNAL, .name = "sale_signal"};
    return r;
}

static void rig_free(struct rig *r)
{
    delivery_free(r->d);
    loop_free(r->loop);
    journal_unmount(&r->j);
    hal_flash_close(r->flash.ram);
    free(r);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void edge(struct rig *r, struct hal_source *src, int value, uint64_t at)
{
    struct hal_event ev = {.kind = HAL_EVENT_EDGE, .src = src, .value = value, .at_mono_ms = at};
    power_fail_on_event(&r->pf, &ev);
}

static cJSON *sale(struct rig *r, unsigned i)
{
    char line[256];
    int n =
        snprintf(line, sizeof line,
                 "{\"event\":\"sale.completed\",\"txn\":\"t%u\",\"at\":\"2026-04-07T19:45:00Z\","
                 "\"total\":%u,\"currency\":\"GBP\"}",
                 i, 100 + i);
    char *reply = NULL;
    pos_intake_sale(&r->pi, line, (size_t)n, &reply);
    assert_non_null(reply);
    cJSON *o = cJSON_Parse(reply);
    free(reply);
    assert_non_null(o);
    return o;
}

static void sale_ok(struct rig *r, unsigned i)
{
    cJSON *o = sale(r, i);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
    cJSON_Delete(o);
}

/* Delivers every stored sale, in memory only: the marks wait, as the engine's do. */
static unsigned deliver_all(struct rig *r)
{
    struct journal_sale s;
    unsigned n = 0;
    while (journal_next_sale(&r->j, 0, &s) == 1) {
        assert_int_equal(journal_sale_done(&r->j, 0, &s, NULL), 0);
        n++;
    }
    return n;
}

static void test_active_edge_writes_and_syncs_marks(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    for (unsigned i = 0; i < 5; i++)
        sale_ok(r, i);
    assert_int_equal(r->flash.unsynced, 0); /* the sale path syncs before it answers */
    assert_int_equal(deliver_all(r), 5);
    assert_int_equal(r->j.backends[0].persisted_watermark, 0); /* the marks wait in memory */
    unsigned syncs = r->flash.syncs;

    uint64_t at = mono_ms();
    edge(r, &r->power, 1, at);
    assert_true(r->pf.failing);
    assert_non_null(r->pi.paused);
    assert_int_equal(r->pf.edges, 1);
    assert_int_equal(r->pf.last_marks, 5);
    assert_int_equal(r->pf.last_unmarked, 0);
    assert_int_equal(r->pf.last_error, 0);
    assert_int_equal(r->j.backends[0].persisted_watermark, r->j.backends[0].watermark);
    assert_int_equal(r->flash.unsynced, 0); /* the marks' programs were synced */
    assert_true(r->flash.syncs > syncs);
    assert_true(r->pf.last_ms >= r->pf.last_work_ms && r->pf.last_work_ms >= 0);

    /* What the flash holds now, a restart finds: every sale delivered, none to send again. */
    journal_unmount(&r->j);
    rig_mount(r);
    assert_int_equal(r->j.backends[0].watermark, r->j.next_seq);
    assert_int_equal(r->j.backends[0].queued, 0);

    /* Three more stored and handed out; the first and the third finish, the second is still in
     * flight: the mark moves over the first only, and the third, finished after one still out,
     * is above it with the second, as a restart finds them (journal's own queued says 1). */
    edge(r, &r->power, 0, mono_ms());
    struct journal_sale s[3];
    for (unsigned i = 0; i < 3; i++) {
        sale_ok(r, 5 + i);
        assert_int_equal(journal_next_sale(&r->j, 0, &s[i]), 1);
        s[i].txn = s[i].body = NULL; /* valid until the next journal call only */
    }
    assert_int_equal(journal_sale_done(&r->j, 0, &s[0], NULL), 0);
    assert_int_equal(journal_sale_done(&r->j, 0, &s[2], NULL), 0);
    assert_int_equal(r->j.backends[0].queued, 1);
    edge(r, &r->power, 1, mono_ms());
    assert_int_equal(r->pf.last_marks, 1);
    assert_int_equal(r->pf.last_unmarked, 2);
    journal_unmount(&r->j);
    rig_mount(r);
    assert_int_equal(r->j.backends[0].queued, 2);
    rig_free(r);
}

static void test_stopped_intake_answers_retry_and_stores_nothing(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    sale_ok(r, 1);
    edge(r, &r->power, 1, mono_ms());
    uint64_t next = r->j.next_seq;
    unsigned progs = r->flash.unsynced, syncs = r->flash.syncs;
    for (unsigned i = 2; i < 5; i++) {
        cJSON *o = sale(r, i);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "retry")));
        assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring,
                            "power failing: keep this sale and retry");
        cJSON_Delete(o);
    }
    /* A resend of a sale stored before is answered the same: nothing is looked up either. */
    cJSON *o = sale(r, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "retry")));
    cJSON_Delete(o);
    assert_int_equal(r->j.next_seq, next);
    assert_int_equal(r->flash.unsynced, progs);
    assert_int_equal(r->flash.syncs, syncs);
    assert_int_equal(r->pi.accepted, 1);
    assert_int_equal(r->pi.refused, 4);

    /* A brownout: the line goes inactive and intake resumes; a second outage stops it again. */
    edge(r, &r->power, 0, mono_ms());
    assert_false(r->pf.failing);
    assert_null(r->pi.paused);
    sale_ok(r, 2);
    edge(r, &r->power, 1, mono_ms());
    assert_int_equal(r->pf.edges, 2);
    o = sale(r, 3);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "retry")));
    cJSON_Delete(o);
    rig_free(r);
}

static void test_late_edge_is_reported_over_budget(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    /* The edge came 50 ms before the daemon saw it (a loop held up): reported, nothing else. */
    edge(r, &r->power, 1, mono_ms() - 50);
    assert_true(r->pf.last_ms >= 50);
    assert_int_equal(r->pf.over_budget, 1);
    assert_true(r->pf.max_ms >= 50);
    assert_true(r->pf.failing);
    rig_free(r);
}

static void test_sync_failure_is_reported(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    sale_ok(r, 1);
    deliver_all(r);
    r->flash.fail_sync = 1;
    edge(r, &r->power, 1, mono_ms());
    assert_true(r->pf.failing);
    assert_non_null(r->pi.paused); /* intake stops whatever the flash does */
    assert_int_equal(r->pf.last_error, EIO);
    assert_int_equal(r->pf.last_marks, 0);
    cJSON *st = cJSON_CreateObject();
    power_fail_status(&r->pf, st);
    cJSON *pf = cJSON_GetObjectItem(st, "power_fail");
    assert_string_equal(cJSON_GetObjectItem(pf, "last_error")->valuestring, strerror(EIO));
    cJSON_Delete(st);
    r->flash.fail_sync = 0;
    rig_free(r);
}

static double num(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_sale_signals_counted_against_sales(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    for (unsigned i = 0; i < 4; i++)
        sale_ok(r, i);
    /* Three pulses (an inactive edge is the pulse's end, not a sale). */
    for (unsigned i = 0; i < 3; i++) {
        edge(r, &r->signal, 1, mono_ms());
        edge(r, &r->signal, 0, mono_ms());
    }
    assert_false(r->pf.failing); /* a sale signal is not the power line */
    cJSON *st = cJSON_CreateObject();
    cJSON *in = cJSON_AddObjectToObject(st, "intake");
    cJSON_AddNumberToObject(in, "accepted", (double)r->pi.accepted);
    power_fail_status(&r->pf, st);
    assert_int_equal(num(in, "sale_signals"), 3);
    assert_int_equal(num(in, "sales_without_signal"), 1);
    assert_int_equal(num(in, "signals_without_sale"), 0);
    cJSON *pf = cJSON_GetObjectItem(st, "power_fail");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(pf, "failing")));
    assert_int_equal(num(pf, "edges"), 0);
    assert_int_equal(num(pf, "budget_ms"), 10);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(pf, "last_ms")));
    cJSON_Delete(st);

    /* More signals than sales: sales the POS completed that never reached us. */
    for (unsigned i = 0; i < 3; i++)
        edge(r, &r->signal, 1, mono_ms());
    st = cJSON_CreateObject();
    r->pf.has_power_line = 0;
    power_fail_status(&r->pf, st);
    assert_null(cJSON_GetObjectItem(st, "power_fail")); /* no line, no figures */
    in = cJSON_GetObjectItem(st, "intake");
    assert_int_equal(num(in, "sales_without_signal"), 0);
    assert_int_equal(num(in, "signals_without_sale"), 2);
    cJSON_Delete(st);

    r->pf.has_signal_line = 0;
    st = cJSON_CreateObject();
    power_fail_status(&r->pf, st);
    assert_null(cJSON_GetObjectItem(st, "intake"));
    cJSON_Delete(st);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_active_edge_writes_and_syncs_marks),
        cmocka_unit_test(test_stopped_intake_answers_retry_and_stores_nothing),
        cmocka_unit_test(test_late_edge_is_reported_over_budget),
        cmocka_unit_test(test_sync_failure_is_reported),
        cmocka_unit_test(test_sale_signals_counted_against_sales),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
