#include "backend_table.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "delivery.h"

struct bt_backend {
    struct backend_config bc;
    void *state;
    char dir[64];
};

struct bt_job {
    struct bt_backend *b;
    struct backend_job job;
    cJSON *sale;
    char ref[128];
    struct http_request req;
    char text[16384];
};

static const char *const verdict_names[] = {"SEND",  "DONE",  "SKIP",     "DEAD",
                                            "RETRY", "PAUSE", "UNCLAIMED"};

static void write_secret(const char *dir, const char *name, const char *secret)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", secret);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
}

static void state_open(struct bt_backend *b)
{
    const struct backend_ops *ops = b->bc.ops;
    b->state = calloc(1, ops->state_size ? ops->state_size : 1);
    assert_non_null(b->state);
    if (ops->open)
        assert_int_equal(ops->open(&b->bc, b->state), 0);
}

static void state_close(struct bt_backend *b)
{
    if (b->state && b->bc.ops->close)
        b->bc.ops->close(&b->bc, b->state);
    free(b->state);
    b->state = NULL;
}

struct bt_backend *bt_backend_new(const char *config_json)
{
    struct bt_backend *b = calloc(1, sizeof *b);
    assert_non_null(b);
    snprintf(b->dir, sizeof b->dir, "/tmp/tillsync-bt-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    write_secret(b->dir, "api.key", "test-api-key");
    write_secret(b->dir, "secret.key", "test-secret-key");
    /* "$DIR" -> the directory */
    char text[4096];
    size_t n = 0;
    for (const char *p = config_json; *p && n < sizeof text - 80; p++) {
        if (strncmp(p, "$DIR", 4) == 0) {
            n += (size_t)snprintf(text + n, sizeof text - n, "%s", b->dir);
            p += 3;
        } else {
            text[n++] = *p;
        }
    }
    text[n] = '\0';
    cJSON *obj = cJSON_Parse(text);
    assert_non_null(obj);
    char err[512];
    if (config_parse_backend(obj, 0, &b->bc, err, sizeof err) != 0)
        fail_msg("backend configuration refused: %s", err);
    cJSON_Delete(obj);
    state_open(b);
    return b;
}

void bt_backend_restart(struct bt_backend *b)
{
    state_close(b);
    state_open(b);
}

void bt_backend_free(struct bt_backend *b)
{
    char path[128];
    state_close(b);
    snprintf(path, sizeof path, "%s/api.key", b->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/secret.key", b->dir);
    unlink(path);
    rmdir(b->dir);
    free(b);
}

const struct backend_config *bt_config(const struct bt_backend *b)
{
    return &b->bc;
}

struct bt_job *bt_job_start(struct bt_backend *b, const char *sale, int in_doubt,
                            enum backend_verdict *v, char *why, size_t whylen)
{
    struct bt_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->b = b;
    j->sale = cJSON_Parse(sale);
    if (!j->sale)
        fail_msg("the test's sale is not JSON: %s", sale);
    const char *txn = backend_json_str(j->sale, "txn");
    snprintf(j->ref, sizeof j->ref, "T042:%s", txn ? txn : "?");
    size_t size = b->bc.ops->sale_state_size;
    j->job = (struct backend_job){.bc = &b->bc,
                                  .state = b->state,
                                  .sale_state = calloc(1, size ? size : 1),
                                  .sale = j->sale,
                                  .ref = j->ref,
                                  .in_doubt = in_doubt};
    assert_non_null(j->job.sale_state);
    why[0] = '\0';
    *v = b->bc.ops->start(&j->job, &j->req, why, whylen);
    return j;
}

static const char *describe(struct bt_job *j, const struct http_request *r)
{
    size_t n = (size_t)snprintf(j->text, sizeof j->text, "%s %s\n",
                                r->method == HTTP_POST ? "POST" : "GET", r->path);
    for (const struct curl_slist *h = r->headers; h && n < sizeof j->text; h = h->next)
        n += (size_t)snprintf(j->text + n, sizeof j->text - n, "%s\n", h->data);
    if (n < sizeof j->text)
        snprintf(j->text + n, sizeof j->text - n, "\n%s", r->body ? r->body : "");
    return j->text;
}

const char *bt_job_request(struct bt_job *j)
{
    return describe(j, &j->req);
}

enum backend_verdict bt_job_answer(struct bt_job *j, long status, const char *body, char *why,
                                   size_t whylen)
{
    const struct backend_ops *ops = j->b->bc.ops;
    struct http_request next = {.body = NULL};
    enum backend_verdict v = BACKEND_RETRY;
    why[0] = '\0';
    if (status != BT_NO_ANSWER) {
        struct http_answer ans = {status, body ? body : "", 0};
        v = delivery_decide(ops, &j->job, &j->req, &ans, &next, why, whylen);
    }
    if (v == BACKEND_RETRY) {
        /* As the engine does: the backend may choose what goes next. */
        http_request_clear(&next);
        delivery_unanswered(ops, &j->job, &j->req, status, &next);
    }
    if (next.path[0]) {
        http_request_clear(&j->req);
        j->req = next;
    } else {
        http_request_clear(&next);
        if (v == BACKEND_DONE || v == BACKEND_SKIP || v == BACKEND_DEAD)
            http_request_clear(&j->req);
    }
    return v;
}

void bt_job_free(struct bt_job *j)
{
    if (!j)
        return;
    http_request_clear(&j->req);
    cJSON_Delete(j->sale);
    free(j->job.sale_state);
    free(j);
}

/* Compares the request to the exchange's; returns 1 if equal, else prints and returns 0. */
static int request_matches(const struct bt_case *c, unsigned k, const struct http_request *r)
{
    const struct bt_exchange *x = &c->ex[k];
    char line[BACKEND_PATH_MAX + 8], headers[4096] = "";
    snprintf(line, sizeof line, "%s %s", r->method == HTTP_POST ? "POST" : "GET", r->path);
    size_t n = 0;
    for (const struct curl_slist *h = r->headers; h && n < sizeof headers; h = h->next)
        n += (size_t)snprintf(headers + n, sizeof headers - n, "%s%s", n ? "\n" : "", h->data);
    int ok = strcmp(line, x->request) == 0 && (!x->headers || strcmp(headers, x->headers) == 0) &&
             (x->body ? r->body && strcmp(r->body, x->body) == 0 : r->body == NULL);
    if (!ok)
        printf("FAIL %s, request %u:\n  built   %s\n          [%s]\n          %s\n  wanted  %s\n"
               "          [%s]\n          %s\n",
               c->name, k + 1, line, headers, r->body ? r->body : "(no body)", x->request,
               x->headers ? x->headers : "(not checked)", x->body ? x->body : "(no body)");
    return ok;
}

static int run_case(struct bt_backend *b, const struct bt_case *c)
{
    char why[1024];
    enum backend_verdict v;
    if (!c->keep_state)
        bt_backend_restart(b);
    struct bt_job *j = bt_job_start(b, c->sale, c->in_doubt, &v, why, sizeof why);
    if (c->ref)
        snprintf(j->ref, sizeof j->ref, "%s", c->ref);
    int ok = 1;
    if (v != c->start || (c->start_why && !strstr(why, c->start_why))) {
        printf("FAIL %s: start %s \"%s\", wanted %s \"%s\"\n", c->name, verdict_names[v], why,
               verdict_names[c->start], c->start_why ? c->start_why : "");
        ok = 0;
    }
    for (unsigned k = 0; ok && v == BACKEND_SEND && k < 10 && c->ex[k].request; k++) {
        const struct bt_exchange *x = &c->ex[k];
        if (!request_matches(c, k, &j->req)) {
            ok = 0;
            break;
        }
        if (x->status == BT_UNANSWERED)
            break;
        enum backend_verdict got = bt_job_answer(j, x->status, x->answer, why, sizeof why);
        if (got != x->verdict || (x->why && !strstr(why, x->why))) {
            printf("FAIL %s, answer %u (HTTP %ld %.80s): %s \"%s\", wanted %s \"%s\"\n", c->name,
                   k + 1, x->status, x->answer ? x->answer : "", verdict_names[got], why,
                   verdict_names[x->verdict], x->why ? x->why : "");
            ok = 0;
        }
        if (ok && (got == BACKEND_DONE || got == BACKEND_SKIP || got == BACKEND_DEAD) &&
            k + 1 < 10 && c->ex[k + 1].request) {
            printf("FAIL %s: finished (%s) after answer %u, with requests left in the table\n",
                   c->name, verdict_names[got], k + 1);
            ok = 0;
        }
        if (ok && got == BACKEND_SEND && (k + 1 >= 10 || !c->ex[k + 1].request)) {
            /* a request built and not checked: end the table with a BT_UNANSWERED exchange */
            printf("FAIL %s: SEND after the last answer in the table (%s)\n", c->name,
                   bt_job_request(j));
            ok = 0;
        }
    }
    bt_job_free(j);
    return ok;
}

unsigned bt_run(struct bt_backend *b, const struct bt_case *cases, size_t n)
{
    unsigned failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += !run_case(b, &cases[i]);
    printf("%zu cases, %u failed\n", n, failed);
    return failed;
}

unsigned bt_run_config(const char *config_json, const struct bt_case *cases, size_t n)
{
    struct bt_backend *b = bt_backend_new(config_json);
    unsigned failed = bt_run(b, cases, n);
    bt_backend_free(b);
    return failed;
}
