/*
 * tillsyncctl status, dead-letters, retry-dead: what the running daemon answers on its control
 * socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"

static void print_human(const cJSON *s)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, "journal");
    printf("terminal   %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(s, "terminal_id")));
    printf("journal    %.0f of %.0f bytes used\n", ctl_num(j, "used_bytes"),
           ctl_num(j, "size_bytes"));
    printf("oldest     %.0f s queued\n", ctl_num(s, "oldest_queued_age_s"));
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(s, "backends"))
    {
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(b, "last_error"));
        printf("backend    %s: %.0f queued, %.0f in flight, %.0f delivered, %.0f dead-lettered, "
               "next attempt in %.0f s%s%s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")), ctl_num(b, "queued"),
               ctl_num(b, "in_flight"), ctl_num(b, "delivered"), ctl_num(b, "dead_letter"),
               ctl_num(b, "next_attempt_in_s"), err ? ", last error: " : "", err ? err : "");
    }
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(s, "power_fail");
    if (pf) {
        printf("power      %s, %.0f power-fail edges",
               cJSON_IsTrue(cJSON_GetObjectItem(pf, "failing")) ? "FAILING (intake stopped)" : "ok",
               ctl_num(pf, "edges"));
        if (ctl_num(pf, "edges"))
            printf(", last synced in %.2f ms, max %.2f ms (budget %.0f ms)", ctl_num(pf, "last_ms"),
                   ctl_num(pf, "max_ms"), ctl_num(pf, "budget_ms"));
        printf("\n");
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "intake");
    if (cJSON_GetObjectItemCaseSensitive(in, "sale_signals"))
        printf("signals    %.0f sale signals for %.0f sales accepted: %.0f sales without a signal, "
               "%.0f signals without a sale\n",
               ctl_num(in, "sale_signals"), ctl_num(in, "accepted"),
               ctl_num(in, "sales_without_signal"), ctl_num(in, "signals_without_sale"));
}

/* The daemon's answer as it came with --json; else printed by show (NULL: the JSON anyway). */
static int ask_and_show(struct ctl *c, const char *request, void (*show)(const cJSON *))
{
    if (c->json || !show) {
        char *reply = ctl_ask_raw(c, request);
        if (!reply)
            return CTL_EXIT_FAIL;
        cJSON *s = cJSON_Parse(reply);
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(s, "error");
        int failed = !s || cJSON_IsString(error);
        if (failed)
            fprintf(stderr, "tillsyncctl: %s\n",
                    cJSON_IsString(error) ? error->valuestring
                                          : "unreadable answer from the daemon");
        else
            printf("%s\n", reply);
        cJSON_Delete(s);
        free(reply);
        return failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    }
    cJSON *s = ctl_ask(c, request);
    if (!s)
        return CTL_EXIT_FAIL;
    show(s);
    cJSON_Delete(s);
    return CTL_EXIT_OK;
}

static int run_status(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "tillsyncctl: status takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    return ask_and_show(c, "status", print_human);
}

static int run_dead_letters(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "tillsyncctl: dead-letters takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    return ask_and_show(c, "dead-letters", NULL);
}

static int run_retry_dead(struct ctl *c, int argc, char **argv)
{
    char request[128];
    if (argc != 2 || strlen(argv[1]) >= 64) {
        fprintf(stderr, "tillsyncctl: retry-dead takes one backend's name\n");
        return CTL_EXIT_USAGE;
    }
    snprintf(request, sizeof request, "retry-dead %s", argv[1]);
    return ask_and_show(c, request, NULL);
}

const struct ctl_command ctl_cmd_status = {
    "status", "[--json]", "what the running daemon holds and where delivery stands", 1, run_status};
const struct ctl_command ctl_cmd_dead_letters = {
    "dead-letters", "", "sales a backend refused for good, with the server's reason (JSON)", 1,
    run_dead_letters};
const struct ctl_command ctl_cmd_retry_dead = {
    "retry-dead", "BACKEND", "send a backend's dead letters again (same references; JSON)", 1,
    run_retry_dead};
