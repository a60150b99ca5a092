/*
 * The Glu backend's handling of what the platform answers, on arbitrary answers to both steps:
 * POST /contacts (the contact's id) and POST /activities. Input: one byte each for the two
 * answers' 2xx statuses, then the /contacts body, a NUL, the /activities body (a body is a C
 * string by the time the backend sees it: delivery.c ends it at the first NUL).
 *
 * Invariants: a verdict is one of the backend's; a request to send is a JSON object for a path;
 * any other verdict but DONE says why; a contact id goes on only as the integer the platform
 * answered, in range, and is what the cache then books the customer's next sale to.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "config.h"
#include "delivery.h"
#include "fuzz_check.h"

#define BODY_MAX 4096

/* A normalised sale with a customer, so the first step is the contact. */
static const char sale_json[] =
    "{\"txn\":\"000123\",\"at\":\"2026-04-07T19:45:00+01:00\",\"total\":12750,\"currency\":\"GBP\","
    "\"customer\":{\"email\":\"jane@example.com\",\"first_name\":\"Jane\"},"
    "\"items\":[{\"sku\":\"A1\",\"name\":\"Latte\",\"qty\":2,\"unit_price\":375}]}";

static const struct backend_ops *glu;
static struct backend_config bc;
static cJSON *sale;
static void *glu_state, *sale_state;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The backend as the loader configures it: its key comes from a file of mode 600. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/tillsync-fuzz-XXXXXX", key[64], conf[256], err[256];
    if (!mkdtemp(dir))
        abort();
    snprintf(key, sizeof key, "%s/api.key", dir);
    FILE *f = fopen(key, "w");
    if (!f || fputs("fuzz-key\n", f) < 0 || fclose(f) != 0 || chmod(key, 0600) != 0)
        abort();
    snprintf(conf, sizeof conf,
             "{\"name\":\"glu\",\"kind\":\"glu\",\"base_url\":\"https://api.glu.io\","
             "\"api_key_file\":\"%s\"}",
             key);
    cJSON *o = cJSON_Parse(conf);
    if (config_parse_backend(o, 0, &bc, err, sizeof err) != 0)
        abort();
    cJSON_Delete(o);
    unlink(key);
    rmdir(dir);
    glu = bc.ops;
    sale = cJSON_Parse(sale_json);
    glu_state = calloc(1, glu->state_size);
    sale_state = calloc(1, glu->sale_state_size);
    if (!sale || !glu_state || !sale_state)
        abort();
    return 0;
}

/* What a backend hands delivery must be usable as it is. */
static void check_verdict(enum backend_verdict v, const struct http_request *req, const char *why)
{
    switch (v) {
    case BACKEND_SEND: {
        FUZZ_CHECK(req->body != NULL, "a request without a body");
        FUZZ_CHECK(req->path[0] == '/' && memchr(req->path, '\0', sizeof req->path),
                   "a request for no path");
        cJSON *o = cJSON_Parse(req->body);
        FUZZ_CHECK(cJSON_IsObject(o), "a request body that is not a JSON object: %s", req->body);
        cJSON_Delete(o);
        break;
    }
    case BACKEND_DEAD:
    case BACKEND_SKIP:
    case BACKEND_RETRY:
    case BACKEND_PAUSE:
        FUZZ_CHECK(why[0] != '\0', "verdict %d without a reason", (int)v);
        break;
    case BACKEND_DONE:
        break;
    default:
        FUZZ_CHECK(0, "verdict %d is none of the engine's", (int)v);
    }
}

/* The contact id in an answer to /contacts, if it is one a platform can mean: an integer from 1
 * to 2^53 - 1 (beyond, a double no longer holds every integer). Worked out here, not with the
 * firmware's backend_json_id: the harness checks that function too. */
static int answered_id(const char *body, int64_t *id)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");
    int ok = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740991.0 &&
             v->valuedouble == floor(v->valuedouble);
    if (ok)
        *id = (int64_t)v->valuedouble;
    cJSON_Delete(o);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char body[2][BODY_MAX + 1];
    if (size < 2 || size > BODY_MAX + 2)
        return 0;
    long status[2] = {200 + data[0] % 100, 200 + data[1] % 100};
    const uint8_t *rest = data + 2, *end = data + size;
    const uint8_t *nul = memchr(rest, '\0', (size_t)(end - rest));
    size_t n0 = (size_t)((nul ? nul : end) - rest);
    memcpy(body[0], rest, n0);
    body[0][n0] = '\0';
    size_t n1 = nul ? (size_t)(end - nul - 1) : 0;
    memcpy(body[1], nul ? nul + 1 : rest, n1);
    body[1][n1] = '\0';

    /* A fresh cache each time: the first request is the contact's. */
    if (glu->close)
        glu->close(&bc, glu_state);
    memset(glu_state, 0, glu->state_size);
    if (glu->open && glu->open(&bc, glu_state) != 0)
        abort();
    memset(sale_state, 0, glu->sale_state_size);
    struct backend_job job = {.bc = &bc,
                              .state = glu_state,
                              .sale_state = sale_state,
                              .sale = sale,
                              .ref = "T042:000123"};
    struct http_request req = {.body = NULL}, next = {.body = NULL};
    char why[512] = "";
    enum backend_verdict v = glu->start(&job, &req, why, sizeof why);
    FUZZ_CHECK(v == BACKEND_SEND && strcmp(req.path, "/contacts") == 0,
               "the sale does not start with its contact");

    /* Step 0: the contact. */
    struct http_answer ans = {status[0], body[0], 0};
    v = delivery_decide(glu, &job, &req, &ans, &next, why, sizeof why);
    check_verdict(v, &next, why);
    int64_t id = 0;
    int valid = answered_id(body[0], &id);
    if (v == BACKEND_SEND) {
        FUZZ_CHECK(valid, "a contact id was taken from: %s", body[0]);
        FUZZ_CHECK(strcmp(next.path, "/activities") == 0, "after the contact: %s", next.path);
        cJSON *a = cJSON_Parse(next.body);
        const cJSON *contact = cJSON_GetObjectItemCaseSensitive(a, "contact");
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "externalReference");
        FUZZ_CHECK(cJSON_IsNumber(contact) && contact->valuedouble == (double)id &&
                       cJSON_IsString(ref) && strcmp(ref->valuestring, job.ref) == 0,
                   "the activity is not the sale's for contact %lld: %s", (long long)id, next.body);
        cJSON_Delete(a);
        /* The cache now books the same customer's next sale to that contact, and only it. */
        struct http_request again = {.body = NULL};
        memset(sale_state, 0, glu->sale_state_size);
        FUZZ_CHECK(glu->start(&job, &again, why, sizeof why) == BACKEND_SEND && again.body &&
                       strcmp(again.body, next.body) == 0,
                   "the cached contact books %s, not %s", again.body ? again.body : "nothing",
                   next.body);
        http_request_clear(&again);
    } else {
        FUZZ_CHECK(!next.path[0], "a request built with verdict %d", (int)v);
    }
    http_request_clear(&req);
    if (v != BACKEND_SEND) {
        http_request_clear(&next);
        return 0;
    }
    req = next;
    next = (struct http_request){.body = NULL};

    /* Step 1: the activity. */
    why[0] = '\0';
    ans = (struct http_answer){status[1], body[1], 0};
    v = delivery_decide(glu, &job, &req, &ans, &next, why, sizeof why);
    check_verdict(v, &next, why);
    http_request_clear(&req);
    http_request_clear(&next);
    return 0;
}
