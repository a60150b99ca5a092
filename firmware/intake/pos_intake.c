#include "pos_intake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "clock_check.h"
#include "log.h"
#include "sale.h"

static char *reply_error(const char *error, int retry)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddFalseToObject(o, "ok");
    cJSON_AddStringToObject(o, "error", error);
    if (retry)
        cJSON_AddTrueToObject(o, "retry");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return line;
}

static char *reply_ok(const char *ref, int duplicate)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddStringToObject(o, "ref", ref);
    if (duplicate)
        cJSON_AddTrueToObject(o, "duplicate");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return line;
}

/* The POS's `at` is its truth and goes out as given; an implausible one is only noticed. */
static void check_sale_time(struct pos_intake *pi, const char *ref, const char *at)
{
    int64_t at_s, built = clock_build_epoch();
    if (clock_parse_rfc3339(at, &at_s) != 0)
        return;
    enum clock_verdict v = clock_judge_sale(at_s, (int64_t)(clock_wall_ms() / 1000), built);
    if (v == CLOCK_PLAUSIBLE)
        return;
    clock_describe_sale(pi->last_implausible, sizeof pi->last_implausible, ref, at, v, built);
    /* a till whose clock is off sends every sale so: the log gets the 1st, 2nd, 4th, 8th ... */
    uint64_t n = ++pi->implausible_at;
    if ((n & (n - 1)) == 0)
        log_warn("sale time: %s (stored and sent as given; %llu such sales since start)",
                 pi->last_implausible, (unsigned long long)pi->implausible_at);
}

enum pos_outcome pos_intake_sale(struct pos_intake *pi, const char *req, size_t len, char **reply)
{
    char err[256];
    if (pi->paused) {
        pi->refused++;
        *reply = reply_error(pi->paused, 1);
        return POS_RETRY;
    }
    if (!req) {
        pi->rejected++;
        snprintf(err, sizeof err, "request: longer than %zu bytes", len);
        *reply = reply_error(err, 0);
        return POS_REJECTED;
    }
    struct sale s;
    if (sale_parse(req, len, &s, err, sizeof err) != 0) {
        pi->rejected++;
        *reply = reply_error(err, 0);
        return POS_REJECTED;
    }
    char ref[128];
    snprintf(ref, sizeof ref, "%s:%s", pi->terminal_id, s.txn);
    uint64_t seq;
    if (journal_find_txn(pi->journal, s.txn)) {
        pi->duplicates++;
        sale_free(&s);
        *reply = reply_ok(ref, 1);
        return POS_DUPLICATE;
    }
    int rc = journal_append_sale(pi->journal, s.txn, s.body, s.body_len, clock_wall_ms(), &seq);
    sale_free(&s);
    if (rc == 0) {
        pi->accepted++;
        check_sale_time(pi, ref, s.at);
        *reply = reply_ok(ref, 0);
        return POS_STORED;
    }
    if (rc == -EMSGSIZE) {
        pi->rejected++;
        *reply = reply_error("items: sale too large for one journal record", 0);
        return POS_REJECTED;
    }
    pi->refused++;
    if (rc == -ENOSPC) {
        *reply = reply_error("journal full: sales are waiting for delivery; keep this sale and "
                             "retry",
                             1);
    } else {
        log_error("journal append failed: %s", strerror(-rc));
        snprintf(err, sizeof err, "flash failure (%s); keep this sale and retry", strerror(-rc));
        *reply = reply_error(err, 1);
    }
    return POS_RETRY;
}

void pos_intake_on_request(struct pos_intake *pi, const struct hal_event *ev)
{
    char *line = NULL;
    pos_intake_sale(pi, ev->data, ev->len, &line);
    if (line && ev->reply)
        ev->reply->api->send(ev->reply, ev->conn, line, strlen(line));
    free(line);
}
