#include "power_fail.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define PAUSED_REASON "power failing: keep this sale and retry"

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Sales at or above each backend's watermark, summed: what a restart delivers (again, for the
 * ones finished after one still in flight) once these marks are on flash. Not journal's queued,
 * which counts those finished out of order as done. */
static uint64_t unmarked(const struct journal *j)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < j->nbackends; b++)
        n += j->next_seq - j->backends[b].watermark;
    return n;
}

/* Sales delivered in memory whose marks are not on flash yet: what a lost mark would resend. */
static uint64_t marks_pending(const struct journal *j)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < j->nbackends; b++)
        n += j->backends[b].watermark - j->backends[b].persisted_watermark;
    return n;
}

static void on_power_failing(struct power_fail *pf, uint64_t edge_ms)
{
    uint64_t start = mono_us();
    pf->intake->paused = PAUSED_REASON;
    uint64_t marks = marks_pending(pf->journal);
    int rc = delivery_flush(pf->delivery);
    const char *step = "writing the delivery marks";
    if (rc == 0) {
        rc = journal_sync(pf->journal);
        step = "syncing the journal";
    }
    uint64_t end = mono_us();

    /* The edge's time has millisecond resolution (hal_event), so edge-to-synced is an upper
     * bound, up to 1 ms over; the part spent here is exact. */
    uint64_t edge_us = edge_ms * 1000;
    if (edge_ms == 0 || edge_us > start)
        edge_us = start;
    pf->edges++;
    pf->failing = 1;
    pf->failing_since = edge_us / 1000;
    pf->last_ms = (double)(end - edge_us) / 1000.0;
    pf->last_work_ms = (double)(end - start) / 1000.0;
    if (pf->last_ms > pf->max_ms)
        pf->max_ms = pf->last_ms;
    if (pf->last_ms > pf->budget_ms)
        pf->over_budget++;
    pf->last_marks = rc == 0 ? marks : 0;
    pf->last_unmarked = unmarked(pf->journal);
    pf->last_error = -rc;

    if (rc)
        log_error("power failing: intake stopped, but %s failed (%s), %.2f ms after the edge "
                  "(budget %g ms)",
                  step, strerror(-rc), pf->last_ms, pf->budget_ms);
    else
        log_warn("power failing: intake stopped, marks written, journal synced in %.2f ms "
                 "(budget %g ms%s); at most that, the edge being timed to the ms: %.3f ms of it "
                 "here; marks for %llu sales written, %llu above them",
                 pf->last_ms, pf->budget_ms, pf->last_ms > pf->budget_ms ? ", OVER" : "",
                 pf->last_work_ms, (unsigned long long)marks,
                 (unsigned long long)pf->last_unmarked);
}

static void on_power_back(struct power_fail *pf, uint64_t at_ms)
{
    if (!pf->failing)
        return;
    pf->failing = 0;
    pf->intake->paused = NULL;
    uint64_t down = at_ms > pf->failing_since ? at_ms - pf->failing_since : 0;
    log_info("power back after %.3f s (a brownout): intake resumed", (double)down / 1000.0);
}

void power_fail_on_event(struct power_fail *pf, const struct hal_event *ev)
{
    if (ev->kind != HAL_EVENT_EDGE)
        return;
    switch (ev->src->role) {
    case HAL_ROLE_POWER_FAIL:
        if (ev->value)
            on_power_failing(pf, ev->at_mono_ms);
        else
            on_power_back(pf, ev->at_mono_ms);
        break;
    case HAL_ROLE_SALE_SIGNAL:
        if (ev->value)
            pf->sale_signals++;
        break;
    default:
        break;
    }
}

/* Microseconds are all a figure in milliseconds needs. */
static double ms3(double ms)
{
    return (double)(uint64_t)(ms * 1000.0 + 0.5) / 1000.0;
}

void power_fail_status(struct power_fail *pf, cJSON *status)
{
    if (pf->has_power_line) {
        cJSON *o = cJSON_AddObjectToObject(status, "power_fail");
        cJSON_AddBoolToObject(o, "failing", pf->failing);
        cJSON_AddNumberToObject(o, "edges", (double)pf->edges);
        cJSON_AddNumberToObject(o, "budget_ms", pf->budget_ms);
        if (pf->edges) {
            cJSON_AddNumberToObject(o, "last_ms", ms3(pf->last_ms));
            cJSON_AddNumberToObject(o, "last_work_ms", ms3(pf->last_work_ms));
            cJSON_AddNumberToObject(o, "max_ms", ms3(pf->max_ms));
            cJSON_AddNumberToObject(o, "last_marks_written", (double)pf->last_marks);
            cJSON_AddNumberToObject(o, "last_unmarked", (double)pf->last_unmarked);
        } else {
            cJSON_AddNullToObject(o, "last_ms");
            cJSON_AddNullToObject(o, "last_work_ms");
            cJSON_AddNullToObject(o, "max_ms");
            cJSON_AddNullToObject(o, "last_marks_written");
            cJSON_AddNullToObject(o, "last_unmarked");
        }
        cJSON_AddNumberToObject(o, "over_budget", (double)pf->over_budget);
        if (pf->last_error)
            cJSON_AddStringToObject(o, "last_error", strerror(pf->last_error));
        else
            cJSON_AddNullToObject(o, "last_error");
    }
    if (pf->has_signal_line) {
        cJSON *in = cJSON_GetObjectItemCaseSensitive(status, "intake");
        if (!in)
            in = cJSON_AddObjectToObject(status, "intake");
        uint64_t accepted = pf->intake->accepted, signals = pf->sale_signals;
        cJSON_AddNumberToObject(in, "sale_signals", (double)signals);
        cJSON_AddNumberToObject(in, "sales_without_signal",
                                (double)(accepted > signals ? accepted - signals : 0));
        cJSON_AddNumberToObject(in, "signals_without_sale",
                                (double)(signals > accepted ? signals - accepted : 0));
    }
}
