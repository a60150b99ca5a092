#include "delivery.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backend.h"
#include "clock.h"
#include "log.h"

#define RESPONSE_MAX     65536
#define BACKOFF_FLOOR_MS 250 /* full jitter, but never a burst: at most 4 attempts a second */
#define MARK_BATCH       64   /* deliveries per mark record, at most */
#define MARK_DELAY_MS    1000 /* and a mark at least this soon after a delivery */

enum lane_state { LANE_IDLE, LANE_WAITING, LANE_IN_FLIGHT };

/* One backend's queue: the sale at its head, and the transfer carrying it. */
struct lane {
    const struct backend_config *bc;
    const struct backend_ops *ops;
    unsigned index; /* in the journal's backend table */
    CURL *easy;     /* kept across transfers: its connection is reused */
    struct curl_slist *headers;
    enum lane_state state;

    int loaded;
    struct journal_sale sale; /* body/txn point into owned copies below */
    char *body;
    cJSON *sale_json;
    char ref[128];
    struct backend_job job;
    struct http_request req;
    struct contact_cache contacts;

    char *resp;
    size_t resp_len;
    uint64_t next_attempt_ms;
    unsigned attempts;
    char last_error[256];
    char last_dead[512]; /* why the last dead-lettered sale was refused */
    int network_down;    /* the last attempt failed below HTTP: worth retrying on a netlink event */
    uint64_t skipped;
};

struct delivery {
    const struct config *cfg;
    struct journal *journal;
    CURLM *multi;
    struct lane lanes[CONFIG_MAX_BACKENDS];
    unsigned nlanes;
    unsigned marks_pending;
    uint64_t marks_due_ms;
    uint32_t rng;
};

static uint32_t rnd(struct delivery *d)
{
    uint32_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return d->rng = x;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct lane *l = userp;
    size_t n = size * nmemb, room = RESPONSE_MAX - l->resp_len;
    memcpy(l->resp + l->resp_len, data, n < room ? n : room); /* the tail of a huge answer: dropped */
    l->resp_len += n < room ? n : room;
    l->resp[l->resp_len] = '\0';
    return n;
}

static void unload(struct lane *l)
{
    free(l->body);
    cJSON_Delete(l->sale_json);
    free(l->req.body);
    l->body = NULL;
    l->sale_json = NULL;
    l->req.body = NULL;
    l->loaded = 0;
}

/* Copies the lane's next sale out of the journal's buffer. Returns 1 if there is one. */
static int load(struct delivery *d, struct lane *l)
{
    if (l->loaded)
        return 1;
    struct journal_sale s;
    int rc = journal_next_sale(d->journal, l->index, &s);
    if (rc <= 0) {
        if (rc < 0)
            snprintf(l->last_error, sizeof l->last_error, "journal read failed: %s",
                     strerror(-rc));
        return 0;
    }
    l->sale = s;
    l->body = malloc(s.body_len + 1);
    if (!l->body)
        return 0;
    memcpy(l->body, s.body, s.body_len + 1);
    l->sale.body = l->body;
    l->sale.txn = NULL;
    snprintf(l->ref, sizeof l->ref, "%s:%s", d->cfg->terminal_id, s.txn);
    l->sale_json = cJSON_Parse(l->body);
    l->job = (struct backend_job){.sale = l->sale_json, .ref = l->ref, .contacts = &l->contacts};
    l->loaded = 1;
    return 1;
}

static void finish(struct delivery *d, struct lane *l, const char *dead_reason)
{
    int rc = journal_sale_done(d->journal, l->index, &l->sale, dead_reason);
    if (rc)
        log_warn("%s: could not write a dead-letter mark: %s", l->bc->name, strerror(-rc));
    if (dead_reason) {
        log_warn("%s: sale %s dead-lettered: %s", l->bc->name, l->ref, dead_reason);
        snprintf(l->last_dead, sizeof l->last_dead, "%s: %s", l->ref, dead_reason);
    }
    if (!dead_reason && d->marks_pending++ == 0)
        d->marks_due_ms = clock_mono_ms() + MARK_DELAY_MS;
    unload(l);
    l->attempts = 0;
    l->state = LANE_IDLE;
}

static void retry_later(struct delivery *d, struct lane *l, long retry_after_s, int paused)
{
    uint64_t cap = (uint64_t)l->bc->retry_max_s * 1000;
    uint64_t ceiling = (uint64_t)l->bc->retry_base_s * 1000 << (l->attempts < 20 ? l->attempts : 20);
    if (ceiling > cap)
        ceiling = cap;
    /* Full jitter spreads a street of tills that all came back online at the same moment. */
    uint64_t delay = paused ? cap : BACKOFF_FLOOR_MS + rnd(d) % (ceiling + 1);
    if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > delay)
        delay = (uint64_t)retry_after_s * 1000;
    l->attempts++;
    l->next_attempt_ms = clock_mono_ms() + delay;
    l->state = LANE_WAITING;
}

static int send_request(struct delivery *d, struct lane *l)
{
    char url[700];
    snprintf(url, sizeof url, "%s%s", l->bc->base_url, l->req.path);
    l->resp_len = 0;
    l->resp[0] = '\0';
    curl_easy_setopt(l->easy, CURLOPT_URL, url);
    curl_easy_setopt(l->easy, CURLOPT_POSTFIELDS, l->req.body);
    curl_easy_setopt(l->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(l->req.body));
    if (curl_multi_add_handle(d->multi, l->easy) != CURLM_OK) {
        snprintf(l->last_error, sizeof l->last_error, "cannot start a transfer");
        retry_later(d, l, 0, 0);
        return -1;
    }
    l->state = LANE_IN_FLIGHT;
    return 0;
}

static void step(struct delivery *d, struct lane *l, enum backend_verdict v, const char *why)
{
    switch (v) {
    case BACKEND_SEND:
        send_request(d, l);
        break;
    case BACKEND_DONE:
        finish(d, l, NULL);
        break;
    case BACKEND_SKIP:
        l->skipped++;
        finish(d, l, NULL);
        break;
    case BACKEND_DEAD:
        finish(d, l, why);
        break;
    }
}

static void start_due(struct delivery *d, struct lane *l, uint64_t now)
{
    while (l->state != LANE_IN_FLIGHT && (l->state == LANE_IDLE || now >= l->next_attempt_ms)) {
        if (!load(d, l)) {
            l->state = LANE_IDLE;
            return;
        }
        char why[256] = "";
        free(l->req.body);
        l->req.body = NULL;
        if (!l->sale_json) { /* the journal's CRC passed, so this is a bug, not bad flash */
            step(d, l, BACKEND_DEAD, "stored sale is not valid JSON");
            continue;
        }
        step(d, l, l->ops->start(l->bc, &l->job, &l->req, why, sizeof why), why);
    }
}

static const char *short_path(const struct lane *l)
{
    return l->req.path;
}

static void completed(struct delivery *d, struct lane *l, CURLcode result)
{
    long status = 0, retry_after = 0;
    curl_off_t ra = 0;
    curl_multi_remove_handle(d->multi, l->easy);
    curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(l->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        retry_after = (long)ra;

    l->network_down = result != CURLE_OK;
    if (result != CURLE_OK) {
        /* Includes answers lost after the request went out: resent under the same reference. */
        snprintf(l->last_error, sizeof l->last_error, "%s on POST %s", curl_easy_strerror(result),
                 short_path(l));
        retry_later(d, l, 0, 0);
        return;
    }
    if (status >= 200 && status < 300) {
        char why[256] = "";
        char *prev = l->req.body;
        l->req.body = NULL;
        enum backend_verdict v =
            l->ops->answered(l->bc, &l->job, status, l->resp, &l->req, why, sizeof why);
        free(prev);
        if (v == BACKEND_DONE)
            l->last_error[0] = '\0';
        step(d, l, v, why);
        return;
    }
    snprintf(l->last_error, sizeof l->last_error, "HTTP %ld from POST %s", status, short_path(l));
    if (status == 429 || status >= 500 || status == 408) {
        retry_later(d, l, retry_after, 0);
    } else if (status == 401 || status == 403) {
        log_warn("%s: %s: check the API key; the backend is paused, sales are kept", l->bc->name,
                 l->last_error);
        retry_later(d, l, retry_after, 1);
    } else if (l->job.contact_from_cache) {
        /* Perhaps the contact was merged or deleted since we cached it: ask again. */
        contact_cache_evict(&l->contacts, l->job.contact_key);
        l->job.contact_from_cache = 0;
        l->state = LANE_IDLE;
        l->next_attempt_ms = 0;
        free(l->req.body);
        l->req.body = NULL;
        char why[256] = "";
        step(d, l, l->ops->start(l->bc, &l->job, &l->req, why, sizeof why), why);
    } else {
        char reason[512];
        snprintf(reason, sizeof reason, "%.200s: %.200s", l->last_error, l->resp);
        for (char *p = reason; *p; p++) /* one line in logs and status, whatever the server sent */
            if ((unsigned char)*p < 0x20)
                *p = ' ';
        finish(d, l, reason);
    }
}

struct delivery *delivery_new(const struct config *cfg, struct journal *j, char *err,
                              size_t errlen)
{
    struct delivery *d = calloc(1, sizeof *d);
    if (!d || !(d->multi = curl_multi_init())) {
        snprintf(err, errlen, "out of memory");
        free(d);
        return NULL;
    }
    d->cfg = cfg;
    d->journal = j;
    d->rng = (uint32_t)clock_mono_ms() ^ (uint32_t)clock_wall_ms() ^ 0x2545F491u;
    curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    for (unsigned i = 0; i < cfg->nbackends; i++) {
        struct lane *l = &d->lanes[i];
        l->bc = &cfg->backends[i];
        l->ops = backend_ops_for(l->bc->kind);
        l->index = i;
        l->easy = curl_easy_init();
        l->resp = malloc(RESPONSE_MAX + 1);
        if (!l->ops || !l->easy || !l->resp) {
            d->nlanes = i + 1;
            delivery_free(d);
            snprintf(err, errlen, "backends[%u]: cannot set up (kind %s)", i, cfg->backends[i].kind);
            return NULL;
        }
        l->headers = curl_slist_append(NULL, "Content-Type: application/json");
        l->headers = curl_slist_append(l->headers, "Accept: application/json");
        l->headers = l->ops->auth_headers(l->bc, l->headers);
        CURL *e = l->easy;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (l->bc->ca_file[0])
            curl_easy_setopt(e, CURLOPT_CAINFO, l->bc->ca_file);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, l->bc->timeout_s);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, l->bc->timeout_s < 10 ? l->bc->timeout_s : 10L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "tillsync/" TILLSYNC_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
        curl_easy_setopt(e, CURLOPT_PRIVATE, l);
    }
    d->nlanes = cfg->nbackends;
    return d;
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        if (l->state == LANE_IN_FLIGHT)
            curl_multi_remove_handle(d->multi, l->easy);
        unload(l);
        curl_easy_cleanup(l->easy);
        curl_slist_free_all(l->headers);
        free(l->resp);
    }
    curl_multi_cleanup(d->multi);
    free(d);
}

int delivery_wait(struct delivery *d, struct pollfd *fds, unsigned nfds, int timeout_ms)
{
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < d->nlanes; i++) {
        const struct lane *l = &d->lanes[i];
        if (l->state == LANE_WAITING) {
            uint64_t wait = l->next_attempt_ms > now ? l->next_attempt_ms - now : 0;
            if (wait < (uint64_t)timeout_ms)
                timeout_ms = (int)wait;
        }
    }
    if (d->marks_pending) {
        uint64_t wait = d->marks_due_ms > now ? d->marks_due_ms - now : 0;
        if (wait < (uint64_t)timeout_ms)
            timeout_ms = (int)wait;
    }
    /* curl_multi_poll waits on our descriptors together with libcurl's own: one loop for all. */
    struct curl_waitfd w[64];
    unsigned n = nfds < 64 ? nfds : 64;
    for (unsigned i = 0; i < n; i++)
        w[i] = (struct curl_waitfd){.fd = fds[i].fd, .events = fds[i].events, .revents = 0};
    CURLMcode mc = curl_multi_poll(d->multi, w, n, timeout_ms, NULL);
    for (unsigned i = 0; i < n; i++)
        fds[i].revents = (short)w[i].revents;
    return mc == CURLM_OK ? 0 : -EIO;
}

void delivery_run(struct delivery *d)
{
    int running = 0;
    curl_multi_perform(d->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct lane *l = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
        completed(d, l, msg->data.result);
    }
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < d->nlanes; i++)
        start_due(d, &d->lanes[i], now);
    if (d->marks_pending &&
        (d->marks_pending >= MARK_BATCH || clock_mono_ms() >= d->marks_due_ms))
        delivery_flush(d);
}

void delivery_wake(struct delivery *d)
{
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        /* Not a paused backend (wrong key) nor one told to wait (Retry-After): only the ones
         * whose last failure was the network. */
        if (l->state == LANE_WAITING && l->network_down && l->next_attempt_ms > now) {
            l->next_attempt_ms = now;
            l->attempts = 0;
        }
    }
}

int delivery_flush(struct delivery *d)
{
    int rc = journal_flush_marks(d->journal);
    if (rc)
        log_warn("could not write delivery marks (%s); they are kept in memory",
                 strerror(-rc));
    else
        d->marks_pending = 0;
    return rc;
}

uint64_t delivery_status(struct delivery *d, cJSON *arr)
{
    uint64_t now = clock_mono_ms(), oldest = 0;
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        const struct journal_backend *jb = &d->journal->backends[l->index];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", l->bc->name);
        cJSON_AddStringToObject(o, "kind", l->bc->kind);
        cJSON_AddNumberToObject(o, "queued", (double)jb->queued);
        cJSON_AddNumberToObject(o, "in_flight", l->state == LANE_IN_FLIGHT);
        cJSON_AddNumberToObject(o, "delivered", (double)jb->delivered_total);
        cJSON_AddNumberToObject(o, "dead_letter", (double)jb->dead_total);
        cJSON_AddNumberToObject(o, "skipped_anonymous", (double)l->skipped);
        if (l->last_error[0])
            cJSON_AddStringToObject(o, "last_error", l->last_error);
        else
            cJSON_AddNullToObject(o, "last_error");
        uint64_t wait = l->state == LANE_WAITING && l->next_attempt_ms > now
                            ? (l->next_attempt_ms - now + 999) / 1000
                            : 0;
        cJSON_AddNumberToObject(o, "next_attempt_in_s", (double)wait);
        if (l->last_dead[0])
            cJSON_AddStringToObject(o, "last_dead_letter", l->last_dead);
        cJSON_AddItemToArray(arr, o);
        if (jb->queued && l->loaded && (!oldest || l->sale.accepted_ms < oldest))
            oldest = l->sale.accepted_ms;
    }
    return oldest;
}
