/*
 * What the daemon does on the power-fail line and counts on the sale-signal line.
 *
 * A till with a supercapacitor raises its power-fail line a few milliseconds before the lights
 * go out. Every acknowledged sale is on flash already (the sale path syncs before it answers),
 * so what those milliseconds are for is: take no sale that could not be kept (intake answers
 * retry), and write the delivery marks held in memory, synced, so that what was delivered is not
 * sent again after the restart. The time from the edge to synced is measured against a budget
 * (intake.power_fail.budget_ms), reported, never enforced: there is nothing to do if it is late.
 * When the line goes inactive again (a brownout, not an outage), intake resumes.
 *
 * The sale-signal line (a sale-done output, a cash drawer) pulses once per sale. Counted against
 * the sales accepted since start both ways: sales without a signal (a line that is miswired, or a
 * drawer that card sales do not open) and signals without a sale (sales the POS completed that
 * never reached tillsyncd: the broken integration this line is there to show).
 */
#ifndef TILLSYNC_POWER_FAIL_H
#define TILLSYNC_POWER_FAIL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "delivery.h"
#include "hal/source.h"
#include "journal.h"
#include "pos_intake.h"

#define POWER_FAIL_BUDGET_MS_DEFAULT 10.0

struct power_fail {
    /* Set by the daemon. */
    struct pos_intake *intake;
    struct delivery *delivery; /* its pending marks are written through it */
    struct journal *journal;
    double budget_ms;
    int has_power_line, has_signal_line; /* what status shows */

    /* Figures, for logs and status. */
    int failing;            /* the line is active: intake is stopped */
    uint64_t edges;         /* active power-fail edges since start */
    uint64_t failing_since; /* monotonic ms of the last active edge */
    double last_ms;         /* edge to synced, the last time (an upper bound: see .c) */
    double last_work_ms;    /* of which here: stopping, writing, syncing */
    double max_ms;
    uint64_t over_budget;
    uint64_t last_marks;    /* sales whose delivery marks the last edge wrote */
    uint64_t last_unmarked; /* sales at or above the marks then, summed over backends: what a
                               restart delivers, unless more is marked before the power goes */
    int last_error;         /* 0, or the errno of a write or sync that failed */
    uint64_t sale_signals;  /* active sale-signal edges since start */
};

/* An EDGE event from a POWER_FAIL or SALE_SIGNAL source; others are ignored. */
void power_fail_on_event(struct power_fail *pf, const struct hal_event *ev);

/* Adds "power_fail": {...} (if the terminal has the line) and, next to intake.accepted,
 * "sale_signals", "sales_without_signal" and "signals_without_sale" (if it has the sale-signal
 * line) to status. */
void power_fail_status(struct power_fail *pf, cJSON *status);

#endif
