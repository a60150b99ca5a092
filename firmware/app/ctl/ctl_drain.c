/*
 * tillsyncctl drain [--timeout S]: the daemon uploads now (every backoff cut short), and the
 * technician watches the queue empty: on a terminal one progress line redrawn in place, else (a
 * pipe, CI) a plain line every few seconds; --json one object at the end.
 *
 * "Sales left" is the sum of every backend's queue: a sale for two backends counts twice, as it
 * is uploaded twice. Dead letters are not queued: they wait for a technician (retry-dead).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"

#define POLL_MS        300
#define PLAIN_EVERY_MS 3000 /* a plain line this often: a CI log stays readable */
#define WINDOW_MS      5000 /* the rate is over this much of the recent past */
#define RESEND_MIN_MS  2000 /* "drain" again for a backend back in a backoff, at most this often */
#define SAMPLES        64   /* > WINDOW_MS / POLL_MS */

struct progress {
    double t0;
    double done0; /* delivered + dead-lettered over all backends when the drain began */
    double t[SAMPLES], done[SAMPLES];
    unsigned n, head;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct totals {
    double queued, done, dead, delivered;
    int backoff; /* a backend is waiting out a backoff a drain can cut short */
};

static struct totals sum(const cJSON *st)
{
    struct totals t = {0};
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(st, "backends"))
    {
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "state"));
        t.queued += ctl_num(b, "queued");
        t.dead += ctl_num(b, "dead_letter");
        t.delivered += ctl_num(b, "delivered");
        t.done += ctl_num(b, "delivered") + ctl_num(b, "dead_letter");
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "last_error"));
        /* Not a paused one: its key or URL was tried once; trying it every two seconds changes
         * nothing until someone fixes the configuration. Nor one the server rate-limits (429):
         * the first drain cut its wait once; hammering it would only prolong the limit. */
        if (state && (!strcmp(state, "waiting") || !strcmp(state, "offline")) &&
            !(err && strstr(err, "HTTP 429")) &&
            ctl_num(b, "next_attempt_in_s") >= RESEND_MIN_MS / 1000)
            t.backoff = 1;
    }
    return t;
}

/* Sales per second over the last WINDOW_MS; -1 until two samples span some time. */
static double rate(struct progress *p, double t, double done)
{
    p->t[p->head] = t;
    p->done[p->head] = done;
    p->head = (p->head + 1) % SAMPLES;
    if (p->n < SAMPLES)
        p->n++;
    unsigned oldest = (p->head + SAMPLES - p->n) % SAMPLES;
    while (p->n > 2 && t - p->t[oldest] > WINDOW_MS / 1000.0) {
        oldest = (oldest + 1) % SAMPLES;
        p->n--;
    }
    double span = t - p->t[oldest];
    return span > 0.2 ? (done - p->done[oldest]) / span : -1;
}

static void eta_words(char *out, size_t cap, double left, double r)
{
    if (r > 0) {
        char d[32];
        ctl_duration(d, sizeof d, left / r);
        snprintf(out, cap, "ETA %s", d);
    } else {
        snprintf(out, cap, r < 0 ? "ETA --" : "ETA unknown (nothing moving)");
    }
}

static void show(const struct ctl *c, int tty, double elapsed, double left, double done, double r)
{
    char eta[64], rt[32];
    eta_words(eta, sizeof eta, left, r);
    if (r >= 0)
        snprintf(rt, sizeof rt, "%.1f sales/s", r);
    else
        snprintf(rt, sizeof rt, "-- sales/s");
    if (!tty) {
        printf("draining: %.0f sales left, %.0f done, %s, %s (%.0f s)\n", left, done, rt, eta,
               elapsed);
        fflush(stdout);
        return;
    }
    char bar[21];
    double frac = left + done > 0 ? done / (left + done) : 1;
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[20] = '\0';
    printf("\r%sdraining%s [%s] %3.0f%%  %.0f sales left  %s  %s\033[K", ctl_colour(c, CTL_NOTE),
           ctl_reset(c), bar, 100 * frac, left, rt, eta);
    fflush(stdout);
}

/* Each backend that still holds sales, and why, in words. */
static void print_reasons(const struct ctl *c, const cJSON *st, cJSON *out)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(st, "backends"))
    {
        const char *state, *name = cJSON_GetStringValue(cJSON_GetObjectItem(b, "name"));
        char why[768];
        ctl_backend_words(c, b, &state, why, sizeof why);
        if (out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", name ? name : "?");
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddNumberToObject(o, "queued", ctl_num(b, "queued"));
            cJSON_AddNumberToObject(o, "dead_letter", ctl_num(b, "dead_letter"));
            const cJSON *err = cJSON_GetObjectItem(b, "last_error");
            cJSON_AddItemToObject(o, "last_error",
                                  cJSON_IsString(err) ? cJSON_CreateString(err->valuestring)
                                                      : cJSON_CreateNull());
            cJSON_AddStringToObject(o, "why", why);
            cJSON_AddItemToArray(out, o);
        } else if (ctl_num(b, "queued") > 0) {
            printf("  %s: %.0f queued, %s — %s\n", name ? name : "?", ctl_num(b, "queued"), state,
                   why);
        }
    }
}

static void print_dead(const cJSON *st)
{
    const cJSON *b;
    int first = 1;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(st, "backends"))
    {
        if (ctl_num(b, "dead_letter") <= 0)
            continue;
        printf("%s%s %.0f",
               first ? "dead letters (not queued: refused for good, see tillsyncctl "
                       "dead-letters): "
                     : ", ",
               cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")), ctl_num(b, "dead_letter"));
        first = 0;
    }
    printf(first ? "no dead letters\n" : "\n");
}

static int usage_error(const char *why)
{
    fprintf(stderr,
            "tillsyncctl: drain: %s\nusage: tillsyncctl --config PATH drain [--timeout S]\n", why);
    return CTL_EXIT_USAGE;
}

static int run_drain(struct ctl *c, int argc, char **argv)
{
    double timeout = 0; /* 0: until drained */
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(timeout > 0) || timeout > 1e7)
                return usage_error("--timeout takes a number of seconds above 0");
        } else {
            return usage_error(argv[i][0] == '-' ? "unknown option" : "takes no arguments");
        }
    }
    cJSON *ans = ctl_ask(c, "drain");
    if (!ans)
        return CTL_EXIT_FAIL; /* not running, or too old to drain: ctl_ask said which */
    cJSON_Delete(ans);
    int tty = !c->json && isatty(STDOUT_FILENO);
    struct progress p = {.t0 = now_s()};
    double last_plain = -1e9, last_drain = p.t0, delivered0 = 0;
    cJSON *st = NULL;
    int drained = 0, first = 1;
    struct totals t = {0};
    double r = -1;
    for (;;) {
        cJSON_Delete(st);
        if (!(st = ctl_ask(c, "status"))) {
            if (tty)
                printf("\n");
            fprintf(stderr, "tillsyncctl: drain: the daemon stopped answering\n");
            return CTL_EXIT_FAIL;
        }
        double now = now_s(), elapsed = now - p.t0;
        t = sum(st);
        if (first) {
            p.done0 = t.done;
            delivered0 = t.delivered;
        }
        r = rate(&p, now, t.done);
        if (t.queued == 0) {
            drained = 1;
            break;
        }
        if (timeout && elapsed >= timeout)
            break;
        /* A backend went back into a backoff (its retry failed, or new sales met an outage):
         * the technician is still here, so it is not left to wait that backoff out. */
        if (t.backoff && (now - last_drain) * 1000 >= RESEND_MIN_MS) {
            cJSON_Delete(ctl_ask(c, "drain"));
            last_drain = now;
        }
        if (!c->json && (tty || (now - last_plain) * 1000 >= PLAIN_EVERY_MS)) {
            show(c, tty, elapsed, t.queued, t.done - p.done0, r);
            last_plain = now;
        }
        first = 0;
        usleep(POLL_MS * 1000);
    }
    double elapsed = now_s() - p.t0, done = t.done - p.done0, delivered = t.delivered - delivered0;
    double mean = elapsed > 0 ? done / elapsed : 0;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "drained", drained);
        cJSON_AddNumberToObject(o, "elapsed_s", round(elapsed * 10) / 10);
        cJSON_AddNumberToObject(o, "delivered", delivered);
        cJSON_AddNumberToObject(o, "rate_per_s", round(mean * 10) / 10);
        cJSON_AddNumberToObject(o, "queued", t.queued);
        cJSON_AddNumberToObject(o, "dead_letters", t.dead);
        print_reasons(c, st, cJSON_AddArrayToObject(o, "backends"));
        char *text = cJSON_PrintUnformatted(o);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(o);
    } else {
        if (tty)
            printf("\r\033[K");
        if (drained && first)
            printf("nothing to drain: every sale is delivered\n");
        else if (drained)
            printf("%sdrained%s: %.0f sales delivered in %.1f s (%.1f sales/s)\n",
                   ctl_colour(c, CTL_OK), ctl_reset(c), delivered, elapsed, mean);
        else
            printf("%snot drained%s after %.0f s: %.0f sales still queued, %.0f delivered\n",
                   ctl_colour(c, CTL_FAIL), ctl_reset(c), elapsed, t.queued, delivered);
        if (!drained)
            print_reasons(c, st, NULL);
        print_dead(st);
    }
    cJSON_Delete(st);
    return drained ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

const struct ctl_command ctl_cmd_drain = {
    "drain", "[--timeout S]",
    "upload now, cutting every backoff short (a paused backend is tried once), and show the\n"
    "queue emptying: sales left, rate, ETA. Exit 0 once nothing is queued (dead letters are not\n"
    "queued); 1 after --timeout S with each backend's reason, or if the daemon is not running",
    1, run_drain};
