/*
 * The Glu backend's handling of what the platform answers, on arbitrary answers to both steps:
 * POST /contacts (the contact's id) and POST /activities. Input: one byte each for the two
 * answers' 2xx statuses, then the /contacts body, a NUL, the /activities body (a body is a C
 * string by the time the backend sees it: delivery.c ends it at the first NUL).
 *
 * Invariants: a verdict is one of the four; a request to send is a JSON object for a path; a
 * dead letter says why; a contact id goes on only as the integer the platform answered, in
 * range, and is what the cache then holds.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backend.h"
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
static struct contact_cache contacts;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    glu = backend_ops_for("glu");
    sale = cJSON_Parse(sale_json);
    if (!glu || !sale)
        abort();
    snprintf(bc.name, sizeof bc.name, "glu");
    snprintf(bc.kind, sizeof bc.kind, "glu");
    snprintf(bc.base_url, sizeof bc.base_url, "https://api.glu.io");
    snprintf(bc.source, sizeof bc.source, "tillsync");
    bc.anonymous = ANON_SKIP;
    bc.timeout_s = 15;
    bc.max_in_flight = 8;
    bc.probe_interval_s = 30;
    bc.retry_base_s = 1;
    bc.retry_max_s = 300;
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
        FUZZ_CHECK(why[0] != '\0', "verdict %d without a reason", (int)v);
        break;
    case BACKEND_DONE:
        break;
    default:
        FUZZ_CHECK(0, "verdict %d is none of the backend's", (int)v);
    }
}

/* The contact id in an answer to /contacts, if it is one a platform can mean: an integer from 1
 * to 2^53 (beyond, a double no longer holds every integer). */
static int answered_id(const char *body, long *id)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");
    int ok = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740992.0 &&
             v->valuedouble == floor(v->valuedouble);
    if (ok)
        *id = (long)v->valuedouble;
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

    memset(&contacts, 0, sizeof contacts);
    struct backend_job job = {.sale = sale, .ref = "T042:000123", .contacts = &contacts};
    struct http_request req = {0};
    char why[256] = "";
    enum backend_verdict v = glu->start(&bc, &job, &req, why, sizeof why);
    FUZZ_CHECK(v == BACKEND_SEND && job.step == 0 && strcmp(req.path, "/contacts") == 0,
               "the sale does not start with its contact");
    free(req.body);
    req.body = NULL;

    /* Step 0: the contact. */
    v = glu->answered(&bc, &job, status[0], body[0], &req, why, sizeof why);
    check_verdict(v, &req, why);
    long id = 0;
    int valid = answered_id(body[0], &id);
    if (v == BACKEND_SEND) {
        FUZZ_CHECK(valid, "a contact id was taken from: %s", body[0]);
        FUZZ_CHECK(job.contact_id == id, "contact %ld booked for id %ld", job.contact_id, id);
        long cached = 0;
        FUZZ_CHECK(!job.contact_key[0] ||
                       (contact_cache_get(&contacts, job.contact_key, &cached) && cached == id),
                   "the cache holds %ld for id %ld", cached, id);
        cJSON *a = cJSON_Parse(req.body);
        const cJSON *contact = cJSON_GetObjectItemCaseSensitive(a, "contact");
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "externalReference");
        FUZZ_CHECK(cJSON_IsNumber(contact) && contact->valuedouble == (double)id &&
                       cJSON_IsString(ref) && strcmp(ref->valuestring, job.ref) == 0,
                   "the activity is not the sale's for contact %ld: %s", id, req.body);
        cJSON_Delete(a);
    }
    free(req.body);
    req.body = NULL;
    if (v != BACKEND_SEND || job.step != 1)
        return 0;

    /* Step 1: the activity. */
    why[0] = '\0';
    v = glu->answered(&bc, &job, status[1], body[1], &req, why, sizeof why);
    check_verdict(v, &req, why);
    free(req.body);
    return 0;
}
