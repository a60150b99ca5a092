/*
 * tillsyncctl status, dead-letters, retry-dead: what the running daemon answers on its control
 * socket.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock_check.h"
#include "ctl.h"

/* The till's clock: a warning when a server's Date or the POS's sale times say it is wrong. */
static void print_clock(const struct ctl *c, const cJSON *s)
{
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(s, "clock");
    const cJSON *skew = cJSON_GetObjectItemCaseSensitive(ck, "server_skew_s");
    const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ck, "measured_from"));
    double implausible = ctl_num(ck, "implausible_sales");
    const char *last =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ck, "last_implausible"));
    int skewed = cJSON_IsNumber(skew) && fabs(skew->valuedouble) > CLOCK_SKEW_WARN_S;
    char words[64];
    if (!ck)
        return;
    if (cJSON_IsNumber(skew))
        clock_describe_skew(words, sizeof words, (int64_t)skew->valuedouble);
    if (!skewed && !implausible) {
        printf("clock      %s\n", cJSON_IsNumber(skew) ? "in step with the servers"
                                                       : "not yet compared with a server");
        return;
    }
    if (skewed)
        printf("clock      %swarn%s the till's clock is %s (against %s's Date); sales keep the "
               "POS's own times: check NTP\n",
               ctl_colour(c, CTL_WARN), ctl_reset(c), words, from ? from : "a server");
    if (implausible)
        printf("%s%swarn%s %.0f sale time%s cannot be true, stored and sent as given; the last: "
               "%s\n",
               skewed ? "           " : "clock      ", ctl_colour(c, CTL_WARN), ctl_reset(c),
               implausible, implausible == 1 ? "" : "s", last ? last : "?");
}

static void print_backend(const struct ctl *c, const cJSON *b)
{
    const char *state, *name = cJSON_GetStringValue(cJSON_GetObjectItem(b, "name"));
    char why[768], age[32];
    enum ctl_mark m = ctl_backend_words(c, b, &state, why, sizeof why);
    printf("%-10s %s%s%s — %s\n", name ? name : "?", ctl_colour(c, m), state, ctl_reset(c), why);
    double queued = ctl_num(b, "queued"), dead = ctl_num(b, "dead_letter");
    printf("           %.0f queued", queued);
    if (ctl_num(b, "in_flight"))
        printf(" (%.0f in flight)", ctl_num(b, "in_flight"));
    if (queued) {
        ctl_duration(age, sizeof age, ctl_num(b, "oldest_queued_age_s"));
        printf(", the oldest for %s", age);
    }
    printf("; %.0f delivered; ", ctl_num(b, "delivered"));
    if (dead)
        printf("%s%.0f dead letter%s%s (tillsyncctl dead-letters)\n", ctl_colour(c, CTL_WARN), dead,
               dead == 1 ? "" : "s", ctl_reset(c));
    else
        printf("no dead letters\n");
    /* an error the state words did not already give: the last attempt's, now behind it */
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(b, "last_error"));
    if (err && m == CTL_OK)
        printf("           last error: %s\n", err);
    const char *last_dead = cJSON_GetStringValue(cJSON_GetObjectItem(b, "last_dead_letter"));
    if (dead && last_dead)
        printf("           last dead letter: %s\n", last_dead);
}

static void print_human(const struct ctl *c, const cJSON *s)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, "journal");
    const char *version = cJSON_GetStringValue(cJSON_GetObjectItem(s, "version"));
    const char *board = cJSON_GetStringValue(cJSON_GetObjectItem(s, "board"));
    printf("terminal   %s", cJSON_GetStringValue(cJSON_GetObjectItem(s, "terminal_id")));
    if (version && board)
        printf(" (tillsync %s, board %s)", version, board);
    printf("\n");
    double used = ctl_num(j, "used_bytes"), size = ctl_num(j, "size_bytes");
    double pct = size > 0 ? 100 * used / size : 0;
    printf("journal    %s%.*f%% used%s (%.0f of %.0f bytes)\n",
           ctl_colour(c, pct >= 90   ? CTL_FAIL
                         : pct >= 75 ? CTL_WARN
                                     : CTL_OK),
           pct < 10 ? 1 : 0, pct, ctl_reset(c), used, size);
    if (ctl_num(s, "oldest_queued_age_s") > 0) {
        char age[32];
        ctl_duration(age, sizeof age, ctl_num(s, "oldest_queued_age_s"));
        printf("oldest     a sale has waited %s to be delivered\n", age);
    }
    print_clock(c, s);
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(s, "backends")) print_backend(c, b);
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
static int ask_and_show(struct ctl *c, const char *request,
                        void (*show)(const struct ctl *, const cJSON *))
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
    show(c, s);
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
