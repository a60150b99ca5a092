/*
 * Every backend against arbitrary answers, through the engine's classification, as delivery
 * drives a sale: start(), then up to 8 answers, each a status or a network error, with
 * unanswered() after every retry. Input: byte 0 picks the backend (glu, gleantap, givebutter)
 * and the sale (with a customer or a phone only) and whether it starts in doubt; then answers
 * separated by NUL, each a status byte (0: no answer; else 200 + its value mod 40, or from a
 * table of 1xx-5xx) and a body.
 *
 * Invariants: every verdict is one of the engine's; a request to send names a path and is
 * a GET without a body or a POST with a JSON object; a verdict other than SEND and DONE says why;
 * neither a path as logged (without its query) nor a reason carries the customer's email or
 * phone, even where the server's answer did; nothing leaks (ASan) and nothing is undefined
 * (UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "config.h"
#include "delivery.h"
#include "fuzz_check.h"

#define EMAIL "jane.doe@example.com"
#define PHONE "+447700900123"

static const char *const sales[] = {
    "{\"txn\":\"000123\",\"at\":\"2026-04-08T00:30:00+02:00\",\"total\":12750,\"currency\":"
    "\"GBP\",\"customer\":{\"email\":\"" EMAIL "\",\"first_name\":\"Jane\",\"last_name\":\"Doe\"},"
    "\"items\":[{\"sku\":\"A1\",\"name\":\"Latte\",\"qty\":2,\"unit_price\":375}]}",
    "{\"txn\":\"9\",\"at\":\"2026-04-07T23:59:59.5-07:00\",\"total\":1,\"currency\":\"JPY\","
    "\"customer\":{\"phone\":\"" PHONE "\"}}",
};

static const char *const kinds[] = {"glu", "gleantap", "givebutter"};
static struct backend_config configs[3];
static void *states[3], *sale_states[3];
static cJSON *parsed[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_key(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs("fuzz-key\n", f) < 0 || fclose(f) != 0 || chmod(path, 0600) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/tillsync-fuzz-XXXXXX", key[64], secret[64], conf[512], err[256];
    if (!mkdtemp(dir))
        abort();
    snprintf(key, sizeof key, "%s/api.key", dir);
    snprintf(secret, sizeof secret, "%s/secret.key", dir);
    write_key(key);
    write_key(secret);
    for (int k = 0; k < 3; k++) {
        snprintf(conf, sizeof conf,
                 "{\"name\":\"%s\",\"kind\":\"%s\",\"base_url\":\"https://api.example.com\","
                 "\"api_key_file\":\"%s\"%s%s%s}",
                 kinds[k], kinds[k], key,
                 k == 1 ? ",\"app_id\":\"app-1\",\"secret_key_file\":\"" : "", k == 1 ? secret : "",
                 k == 1 ? "\"" : "");
        cJSON *o = cJSON_Parse(conf);
        if (!o || config_parse_backend(o, 0, &configs[k], err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", kinds[k], err);
            abort();
        }
        cJSON_Delete(o);
        const struct backend_ops *ops = configs[k].ops;
        states[k] = calloc(1, ops->state_size ? ops->state_size : 1);
        sale_states[k] = calloc(1, ops->sale_state_size ? ops->sale_state_size : 1);
        if (!states[k] || !sale_states[k] || (ops->open && ops->open(&configs[k], states[k])))
            abort();
    }
    unlink(key);
    unlink(secret);
    rmdir(dir);
    for (int i = 0; i < 2; i++)
        if (!(parsed[i] = cJSON_Parse(sales[i])))
            abort();
    return 0;
}

static void check_request(const struct http_request *r)
{
    char logged[BACKEND_PATH_MAX];
    snprintf(logged, sizeof logged, "%.*s", (int)strcspn(r->path, "?"), r->path);
    FUZZ_CHECK(r->path[0] == '/', "a request for no path: \"%s\"", r->path);
    FUZZ_CHECK(!strstr(logged, EMAIL) && !strstr(logged, PHONE),
               "a customer's email or phone in a logged path: %s", r->path);
    if (r->method == HTTP_GET) {
        FUZZ_CHECK(r->body == NULL, "a GET with a body");
    } else {
        FUZZ_CHECK(r->method == HTTP_POST, "method %d", (int)r->method);
        cJSON *o = r->body ? cJSON_Parse(r->body) : NULL;
        FUZZ_CHECK(cJSON_IsObject(o), "a POST body that is not a JSON object: %s",
                   r->body ? r->body : "(none)");
        cJSON_Delete(o);
    }
}

/* A reason goes to logs, status and dead letters: never the customer's email or phone, even
 * when it quotes a server's answer that held them (the engine replaces them). */
static void check_why(const char *why)
{
    FUZZ_CHECK(!strstr(why, EMAIL) && !strstr(why, PHONE), "a reason with the customer in it: %s",
               why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {100, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404,
                                    405, 408, 409, 410, 422, 429, 500, 502, 503, 504, 599};
    static char body[8192];
    if (size < 1 || size > sizeof body)
        return 0;
    int k = data[0] % 3, which = (data[0] >> 2) & 1, in_doubt = (data[0] >> 3) & 1;
    const struct backend_ops *ops = configs[k].ops;
    /* A fresh cache when asked (bit 4): else what earlier inputs cached stays, as in a run. */
    if (data[0] & 0x10) {
        if (ops->close)
            ops->close(&configs[k], states[k]);
        memset(states[k], 0, ops->state_size ? ops->state_size : 1);
        if (ops->open && ops->open(&configs[k], states[k]))
            abort();
    }
    memset(sale_states[k], 0, ops->sale_state_size ? ops->sale_state_size : 1);
    struct backend_job job = {.bc = &configs[k],
                              .state = states[k],
                              .sale_state = sale_states[k],
                              .sale = parsed[which],
                              .ref = which ? "T042:9" : "T042:000123",
                              .in_doubt = in_doubt};
    struct http_request req = {.body = NULL};
    char why[1024] = "";
    enum backend_verdict v = ops->start(&job, &req, why, sizeof why);
    FUZZ_CHECK(v == BACKEND_SEND, "start: %d (%s)", (int)v, why);
    const uint8_t *p = data + 1, *end = data + size;
    for (int n = 0; n < 8 && p < end && v != BACKEND_DONE && v != BACKEND_DEAD && v != BACKEND_SKIP;
         n++) {
        check_request(&req);
        uint8_t sb = *p++;
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = (size_t)((nul ? nul : end) - p);
        memcpy(body, p, len);
        body[len] = '\0';
        p += len + (nul != NULL);
        long status = sb == 0 ? 0 : sb < 128 ? 200 + sb % 40 : statuses[sb % 22];
        struct http_request next = {.body = NULL};
        why[0] = '\0';
        if (status == 0) {
            v = BACKEND_RETRY;
        } else {
            struct http_answer ans = {status, body, 0};
            v = delivery_decide(ops, &job, &req, &ans, &next, why, sizeof why);
            FUZZ_CHECK(v >= BACKEND_SEND && v <= BACKEND_PAUSE, "verdict %d", (int)v);
            check_why(why);
            if (v != BACKEND_SEND && v != BACKEND_DONE)
                FUZZ_CHECK(why[0] != '\0', "verdict %d without a reason", (int)v);
        }
        if (v == BACKEND_RETRY) {
            http_request_clear(&next);
            delivery_unanswered(ops, &job, &req, status, &next);
        }
        if (next.path[0]) {
            FUZZ_CHECK(v == BACKEND_SEND || v == BACKEND_RETRY, "a request built with verdict %d",
                       (int)v);
            http_request_clear(&req);
            req = next;
        } else {
            FUZZ_CHECK(v != BACKEND_SEND, "SEND without a request");
            http_request_clear(&next);
        }
    }
    http_request_clear(&req);
    return 0;
}
