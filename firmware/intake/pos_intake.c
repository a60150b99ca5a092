#include "pos_intake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "log.h"
#include "sale.h"

static void reply(struct hal_intake *src, uint32_t conn, cJSON *o)
{
    char *line = cJSON_PrintUnformatted(o);
    if (line) {
        src->api->reply(src, conn, line, strlen(line));
        free(line);
    }
    cJSON_Delete(o);
}

static void reply_error(struct hal_intake *src, uint32_t conn, const char *error, int retry)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddFalseToObject(o, "ok");
    cJSON_AddStringToObject(o, "error", error);
    if (retry)
        cJSON_AddTrueToObject(o, "retry");
    reply(src, conn, o);
}

static void reply_ok(struct hal_intake *src, uint32_t conn, const char *ref, int duplicate)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddStringToObject(o, "ref", ref);
    if (duplicate)
        cJSON_AddTrueToObject(o, "duplicate");
    reply(src, conn, o);
}

void pos_intake_on_request(void *ctx, struct hal_intake *src, uint32_t conn, const char *req,
                           size_t len)
{
    struct pos_intake *pi = ctx;
    char err[256];
    if (pi->stopped) {
        pi->refused++;
        reply_error(src, conn, pi->stopped, 1);
        return;
    }
    if (!req) {
        pi->rejected++;
        snprintf(err, sizeof err, "request: longer than %zu bytes", len);
        reply_error(src, conn, err, 0);
        return;
    }
    struct sale s;
    if (sale_parse(req, len, &s, err, sizeof err) != 0) {
        pi->rejected++;
        reply_error(src, conn, err, 0);
        return;
    }
    char ref[128];
    snprintf(ref, sizeof ref, "%s:%s", pi->terminal_id, s.txn);
    uint64_t seq;
    if (journal_find_txn(pi->journal, s.txn)) {
        pi->duplicates++;
        reply_ok(src, conn, ref, 1);
        sale_free(&s);
        return;
    }
    int rc = journal_append_sale(pi->journal, s.txn, s.body, s.body_len, clock_wall_ms(), &seq);
    sale_free(&s);
    if (rc == 0) {
        pi->accepted++;
        reply_ok(src, conn, ref, 0);
    } else if (rc == -ENOSPC) {
        pi->refused++;
        reply_error(src, conn,
                    "journal full: sales are waiting for delivery; keep this sale and "
                    "retry",
                    1);
    } else if (rc == -EMSGSIZE) {
        pi->rejected++;
        reply_error(src, conn, "items: sale too large for one journal record", 0);
    } else {
        pi->refused++;
        log_error("journal append failed: %s", strerror(-rc));
        snprintf(err, sizeof err, "flash failure (%s); keep this sale and retry", strerror(-rc));
        reply_error(src, conn, err, 1);
    }
}
