#include "delivery.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <curl/header.h>

#include "backend.h"
#include "clock.h"
#include "clock_check.h"
#include "hal/loop.h"
#include "log.h"

#define RESPONSE_DEFAULT 16384 /* a backend may ask for more (backend_ops.response_max) */
#define BACKOFF_FLOOR_MS 250   /* full jitter, but never a burst: at most 4 attempts a second */
#define MARK_BATCH       64    /* deliveries per mark record, at most */
#define MARK_DELAY_MS    1000  /* and a mark at least this soon after a delivery */

enum slot_state {
    SLOT_FREE,
    SLOT_READY, /* holds a request to send: first attempt, or after a failure */
    SLOT_IN_FLIGHT,
    SLOT_DEAD, /* refused for good; its dead letter waits for room in the journal (dead_why) */
};

struct lane;

/* One sale on its way: its request, and the transfer carrying it. */
struct slot {
    struct lane *lane;
    CURL *easy; /* kept across transfers; connections live in the multi handle's pool */
    enum slot_state state;
    struct journal_sale sale; /* body points into the owned copy below */
    char *body;
    cJSON *sale_json;
    char ref[128];
    struct backend_job job;
    struct http_request req;
    struct curl_slist *sent_headers; /* the engine's and the request's, for the transfer */
    unsigned sends;                  /* times libcurl was about to send the request this transfer */
    char *resp; /* the answer's body: response_max + 1 bytes, allocated at start */
    size_t resp_max;
    int resp_cut; /* the answer was longer than resp_max: its tail was dropped */
    char dead_why[256];
    size_t resp_len;
};

/*
 * One backend. Up to max_in_flight sales go out at once. After a failure the lane backs off as a
 * whole, and only one request probes at each attempt: a dead server sees the backoff schedule,
 * not max_in_flight times it.
 */
struct lane {
    const struct backend_config *bc;
    const struct backend_ops *ops;
    unsigned index; /* in the journal's backend table */
    void *state;    /* the backend's own (ops->state_size) */
    struct slot *slots;
    unsigned nslots;
    int failing;      /* the last answer was a failure: probe with one request */
    int network_down; /* ... and it failed below HTTP: worth retrying on a netlink event */
    int paused;       /* ... and the answer said the key or base_url is wrong */
    /* A health probe for when no netlink event says the way is clear again (the till's link
     * never dropped; the shop's router or the ISP did): a TLS connect, nothing sent. */
    CURL *probe;
    int probing;
    uint64_t probe_due_ms;
    uint64_t next_attempt_ms;
    unsigned attempts;
    unsigned probe_turn; /* the slot to try first while failing */
    char last_error[256];
    char last_dead[512]; /* why the last dead-lettered sale was refused */
    uint64_t skipped;
    uint64_t dead_retry_ms; /* when SLOT_DEAD slots try the journal again */
    /* The till's clock minus the server's (its Date header), from the last answer carrying one:
     * reported, never used to change a sale's time. */
    int64_t skew_s;
    uint64_t skew_at_ms; /* monotonic; 0: never measured */
};

struct delivery {
    char terminal_id[33];
    struct journal *journal;
    /* Sales below this were stored by an earlier run: one may have reached a platform just
     * before a crash or power cut kept its mark from the journal (backend_job.in_doubt). */
    uint64_t first_seq_this_run;
    /* Copies stored in this run (delivery_copies_stored), as ranges of seqs: in doubt too. */
    struct {
        uint64_t lo, hi;
    } copies[8];
    unsigned ncopies;
    CURLM *multi;
    struct loop *loop;
    struct loop_timer *curl_timer; /* libcurl's own timeout (CURLMOPT_TIMERFUNCTION) */
    struct loop_timer *due_timer;  /* the next backoff, dead-letter retry or mark write */
    struct lane lanes[DELIVERY_MAX_BACKENDS];
    unsigned nlanes;
    unsigned marks_pending;
    uint64_t marks_due_ms;
    /* The last write of the marks failed: the journal is full (a backend that is down holds its
     * tail while the others deliver). The watermarks stay in RAM, where reclaim reads them, and
     * the write is tried again MARK_DELAY_MS later, not on every turn of the loop. */
    int marks_failing;
    uint32_t rng;
    uint64_t corrupt_logged; /* journal.report.corrupt_records when last logged */
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
    struct slot *s = userp;
    size_t n = size * nmemb, room = s->resp_max - s->resp_len;
    s->resp_cut |= n > room;
    memcpy(s->resp + s->resp_len, data, n < room ? n : room); /* a huge answer's tail: dropped */
    s->resp_len += n < room ? n : room;
    s->resp[s->resp_len] = '\0';
    return n;
}

static void slot_clear(struct slot *s)
{
    free(s->body);
    cJSON_Delete(s->sale_json);
    http_request_clear(&s->req);
    curl_slist_free_all(s->sent_headers);
    s->sent_headers = NULL;
    s->body = NULL;
    s->sale_json = NULL;
    s->state = SLOT_FREE;
}

static int is_copy(const struct delivery *d, uint64_t seq)
{
    for (unsigned i = 0; i < d->ncopies; i++)
        if (seq >= d->copies[i].lo && seq < d->copies[i].hi)
            return 1;
    return 0;
}

/* Takes the lane's next sale out of the journal into a free slot. Returns 1 if there was one. */
static int slot_fill(struct delivery *d, struct lane *l, struct slot *s)
{
    struct journal_sale js;
    int rc = journal_next_sale(d->journal, l->index, &js);
    uint64_t corrupt = d->journal->report.corrupt_records;
    if (corrupt > d->corrupt_logged) {
        /* The walk passed over records failing their CRC: they cannot be sent, the rest can. */
        log_warn("journal: %llu corrupt record(s) passed over (CRC), %llu in all since start; "
                 "the other sales are kept; stop the daemon and run tillsyncctl verify",
                 (unsigned long long)(corrupt - d->corrupt_logged), (unsigned long long)corrupt);
        d->corrupt_logged = corrupt;
    }
    if (rc <= 0) {
        if (rc < 0)
            snprintf(l->last_error, sizeof l->last_error, "journal read failed: %s", strerror(-rc));
        return 0;
    }
    s->sale = js;
    s->body = malloc(js.body_len + 1);
    if (s->body)
        memcpy(s->body, js.body, js.body_len + 1);
    s->sale.body = s->body;
    s->sale.txn = NULL;
    snprintf(s->ref, sizeof s->ref, "%s:%s", d->terminal_id, js.txn);
    s->sale_json = s->body ? cJSON_Parse(s->body) : NULL;
    void *sale_state = s->job.sale_state;
    if (sale_state)
        memset(sale_state, 0, l->ops->sale_state_size);
    s->job = (struct backend_job){.bc = l->bc,
                                  .state = l->state,
                                  .sale_state = sale_state,
                                  .sale = s->sale_json,
                                  .ref = s->ref,
                                  .in_doubt = js.seq < d->first_seq_this_run || is_copy(d, js.seq)};
    return 1;
}

void delivery_copies_stored(struct delivery *d, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return;
    /* Ranges every backend has passed are done with; the rest are kept. */
    uint64_t passed = UINT64_MAX;
    for (unsigned i = 0; i < d->nlanes; i++)
        if (d->journal->backends[d->lanes[i].index].watermark < passed)
            passed = d->journal->backends[d->lanes[i].index].watermark;
    unsigned n = 0;
    for (unsigned i = 0; i < d->ncopies; i++)
        if (d->copies[i].hi > passed)
            d->copies[n++] = d->copies[i];
    d->ncopies = n;
    if (n == sizeof d->copies / sizeof *d->copies) {
        /* Full: one range over them all. The sales between go out in doubt too, which costs a
         * look-up, never a duplicate. */
        for (unsigned i = 1; i < n; i++) {
            if (d->copies[i].lo < d->copies[0].lo)
                d->copies[0].lo = d->copies[i].lo;
            if (d->copies[i].hi > d->copies[0].hi)
                d->copies[0].hi = d->copies[i].hi;
        }
        d->ncopies = 1;
    }
    d->copies[d->ncopies].lo = lo;
    d->copies[d->ncopies].hi = hi;
    d->ncopies++;
}

static void finish(struct delivery *d, struct slot *s, const char *dead_reason)
{
    struct lane *l = s->lane;
    int rc = journal_sale_done(d->journal, l->index, &s->sale, dead_reason);
    if (rc) {
        /*
         * No room for the dead letter: the journal is full, typically held by another backend
         * that is down. The sale stays this lane's, and the journal's pending, until its dead
         * letter is written: dropped here, it was never handed out again, and this backend's
         * watermark stopped below it for good (the journal filled with every platform up).
         */
        if (s->state != SLOT_DEAD)
            log_warn("%s: could not write the dead letter of %s (%s); kept, tried again every "
                     "second",
                     l->bc->name, s->ref, strerror(-rc));
        if (dead_reason != s->dead_why)
            snprintf(s->dead_why, sizeof s->dead_why, "%s", dead_reason);
        snprintf(l->last_error, sizeof l->last_error, "could not write the dead letter of %s: %s",
                 s->ref, strerror(-rc));
        s->state = SLOT_DEAD;
        l->dead_retry_ms = clock_mono_ms() + MARK_DELAY_MS;
        return;
    }
    if (s->state == SLOT_DEAD && strncmp(l->last_error, "could not write the dead letter", 31) == 0)
        l->last_error[0] = '\0';
    if (dead_reason) {
        log_warn("%s: sale %s dead-lettered: %s", l->bc->name, s->ref, dead_reason);
        snprintf(l->last_dead, sizeof l->last_dead, "%s: %s", s->ref, dead_reason);
    }
    if (!dead_reason && d->marks_pending++ == 0)
        d->marks_due_ms = clock_mono_ms() + MARK_DELAY_MS;
    slot_clear(s);
}

uint64_t delivery_backoff_ms(const struct backend_config *bc, unsigned attempts,
                             int64_t retry_after_s, int paused, uint32_t random)
{
    uint64_t cap = (uint64_t)(bc->retry_max_s > 0 ? bc->retry_max_s : 1) * 1000;
    uint64_t base = (uint64_t)(bc->retry_base_s > 0 ? bc->retry_base_s : 1) * 1000;
    unsigned shift = attempts < 20 ? attempts : 20;
    /* Compared before shifting: no base or number of attempts can overflow the ceiling. */
    uint64_t ceiling = base > cap >> shift ? cap : base << shift;
    /* Full jitter spreads a street of tills that all came back online at the same moment. */
    uint64_t delay = paused ? cap : BACKOFF_FLOOR_MS + random % (ceiling + 1);
    /* A server may ask for more time, never for more than the cap: Retry-After: 999999999 (or a
     * date in 9999) would otherwise stop uploads until someone restarts the daemon. */
    if (retry_after_s > 0) {
        uint64_t asked =
            (uint64_t)retry_after_s >= cap / 1000 ? cap : (uint64_t)retry_after_s * 1000;
        if (asked > delay)
            delay = asked;
    }
    return delay < cap ? delay : cap;
}

static void back_off(struct delivery *d, struct lane *l, int64_t retry_after_s, int paused)
{
    uint64_t delay = delivery_backoff_ms(l->bc, l->attempts, retry_after_s, paused, rnd(d));
    if (l->attempts < 1000) /* it only needs to pass 20 */
        l->attempts++;
    l->failing = 1;
    l->paused = paused;
    l->next_attempt_ms = clock_mono_ms() + delay;
}

/*
 * libcurl sends a request again on a new connection, on its own, when a reused connection dies
 * before any byte of the answer (7.88 has no option against it). For a request the platform may
 * already have applied and cannot recognise (no_replay), that is a duplicate the backend never
 * hears of: the second send is refused here instead, so the transfer fails like any unanswered
 * request and the backend looks before it sends again. Connections stay reused.
 */
static int before_send(void *userp, char *primary_ip, char *local_ip, int primary_port,
                       int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    struct slot *s = userp;
    return ++s->sends > 1 && s->req.no_replay ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static void send_request(struct delivery *d, struct slot *s)
{
    char url[sizeof s->lane->bc->base_url + BACKEND_PATH_MAX];
    snprintf(url, sizeof url, "%s%s", s->lane->bc->base_url, s->req.path);
    s->resp_len = 0;
    s->resp_cut = 0;
    s->resp[0] = '\0';
    /* The engine's headers, then the backend's (its authentication among them). */
    curl_slist_free_all(s->sent_headers);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h && s->req.method == HTTP_POST)
        h = curl_slist_append(h, "Content-Type: application/json");
    for (const struct curl_slist *it = s->req.headers; h && it; it = it->next)
        h = curl_slist_append(h, it->data);
    s->sent_headers = h;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->sent_headers);
    s->sends = 0;
    if (s->req.method == HTTP_POST) {
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->req.body ? s->req.body : "");
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE,
                         (long)(s->req.body ? strlen(s->req.body) : 0));
    } else {
        curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    }
    if (!h || curl_multi_add_handle(d->multi, s->easy) != CURLM_OK) {
        snprintf(s->lane->last_error, sizeof s->lane->last_error, "cannot start a transfer");
        back_off(d, s->lane, 0, 0);
        s->state = SLOT_READY;
        return;
    }
    s->state = SLOT_IN_FLIGHT;
}

static void step(struct delivery *d, struct slot *s, enum backend_verdict v, const char *why)
{
    switch (v) {
    case BACKEND_SEND:
        s->state = SLOT_READY; /* sent by the lane, which knows whether it may */
        break;
    case BACKEND_DONE:
        finish(d, s, NULL);
        break;
    case BACKEND_SKIP:
        s->lane->skipped++;
        finish(d, s, NULL);
        break;
    case BACKEND_DEAD:
        finish(d, s, why);
        break;
    case BACKEND_RETRY:
    case BACKEND_PAUSE:
    case BACKEND_UNCLAIMED:
        break; /* only an answer can say so, and completed() acts on it */
    }
}

static void start_sale(struct delivery *d, struct slot *s)
{
    char why[256] = "";
    http_request_clear(&s->req);
    if (!s->sale_json) { /* the journal's CRC passed, so this is a bug, not bad flash */
        step(d, s, BACKEND_DEAD, "stored sale is not valid JSON");
        return;
    }
    enum backend_verdict v = s->lane->ops->start(&s->job, &s->req, why, sizeof why);
    if (v != BACKEND_SEND && v != BACKEND_SKIP && v != BACKEND_DEAD) {
        /* No request to send, nor an answer to wait for: kept as a dead letter, which a
         * technician can send again, rather than a slot that never moves. */
        char dead[300];
        snprintf(dead, sizeof dead, "the backend built no request: %s", why[0] ? why : "?");
        http_request_clear(&s->req);
        step(d, s, BACKEND_DEAD, dead);
        return;
    }
    step(d, s, v, why);
}

static unsigned in_flight(const struct lane *l)
{
    unsigned n = 0;
    for (unsigned i = 0; i < l->nslots; i++)
        n += l->slots[i].state == SLOT_IN_FLIGHT;
    return n;
}

/*
 * When the lane's health probe goes out (UINT64_MAX: not before its next attempt): at its due
 * time, if the attempt is more than an interval later then; else the attempt itself will tell.
 * The due timer is armed for this, never until a due time that starts nothing: the loop would
 * spin until the attempt.
 */
static uint64_t probe_start_ms(const struct lane *l, uint64_t now)
{
    uint64_t interval = (uint64_t)l->bc->probe_interval_s * 1000;
    uint64_t at = l->probe_due_ms > now ? l->probe_due_ms : now;
    if (!l->failing || !l->network_down || l->probing || !l->probe ||
        l->next_attempt_ms <= at + interval)
        return UINT64_MAX;
    return at;
}

static void probe_if_due(struct delivery *d, struct lane *l, uint64_t now)
{
    if (probe_start_ms(l, now) > now)
        return;
    if (curl_multi_add_handle(d->multi, l->probe) == CURLM_OK)
        l->probing = 1;
}

static void probe_done(struct delivery *d, struct lane *l, CURLcode result)
{
    uint64_t now = clock_mono_ms();
    curl_multi_remove_handle(d->multi, l->probe);
    l->probing = 0;
    l->probe_due_ms = now + (uint64_t)l->bc->probe_interval_s * 1000;
    if (result == CURLE_OK && l->failing) {
        log_info("%s: health probe: the server answers again; retrying now", l->bc->name);
        l->next_attempt_ms = now;
        l->attempts = 0;
    }
}

static int dead_waiting(const struct lane *l)
{
    for (unsigned i = 0; i < l->nslots; i++)
        if (l->slots[i].state == SLOT_DEAD)
            return 1;
    return 0;
}

static void lane_run(struct delivery *d, struct lane *l, uint64_t now)
{
    if (now >= l->dead_retry_ms)
        for (unsigned i = 0; i < l->nslots; i++)
            if (l->slots[i].state == SLOT_DEAD)
                finish(d, &l->slots[i], l->slots[i].dead_why);
    probe_if_due(d, l, now);
    if (l->failing) {
        /* One probe at a time, when the backoff says so. */
        if (now < l->next_attempt_ms || in_flight(l))
            return;
        /* Each slot in turn, a waiting sale or a new one: a sale whose answers are never
         * understood (a page always cut, an error a 2xx keeps naming) must not be the only one
         * ever tried while the others wait behind it. */
        for (unsigned k = 0; k < l->nslots; k++) {
            unsigned i = (l->probe_turn + k) % l->nslots;
            struct slot *s = &l->slots[i];
            if (s->state == SLOT_FREE && slot_fill(d, l, s))
                start_sale(d, s);
            if (s->state == SLOT_READY) {
                l->probe_turn = i + 1;
                send_request(d, s);
                return;
            }
        }
        return;
    }
    for (unsigned i = 0; i < l->nslots && !l->failing; i++) {
        struct slot *s = &l->slots[i];
        /* Skipped sales free their slot at once: keep filling it. */
        while (s->state == SLOT_FREE && slot_fill(d, l, s))
            start_sale(d, s);
        if (s->state == SLOT_READY)
            send_request(d, s);
    }
}

static int email_char(char c)
{
    return c && !strchr(" \t\"'<>(),;:[]{}", c);
}

/*
 * A reason goes to logs, status and the dead letter, and may quote a server's answer, which may
 * quote the customer ("jane@example.com is invalid"). So it is made one line (whatever a server
 * sent), and what looks like an email address (a token with an @) or a phone number (a run of
 * digits, spaces and +, holding 7 digits or more) is replaced.
 */
static void reason_text(char *text)
{
    char out[1024];
    size_t n = 0, len = strlen(text), i = 0;
    while (i < len && n < sizeof out - 16) {
        size_t end = i;
        if (email_char(text[i])) { /* a whole token: an address if it holds an @ */
            while (end < len && email_char(text[end]))
                end++;
            if (memchr(text + i, '@', end - i)) {
                n += (size_t)snprintf(out + n, sizeof out - n, "<email>");
                i = end;
                continue;
            }
        }
        /* within the token (or between tokens), up to its end: digit runs of 7 or more go */
        size_t stop = end > i ? end : i + 1;
        while (i < stop && n < sizeof out - 16) {
            unsigned digits = 0;
            size_t run = i;
            for (; run < len && strchr("0123456789+ ", text[run]); run++)
                digits += text[run] != '+' && text[run] != ' ';
            while (run > i && text[run - 1] == ' ')
                run--;
            if (digits >= 7 && text[i] != ' ') {
                n += (size_t)snprintf(out + n, sizeof out - n, "<number>");
                i = run;
                continue;
            }
            out[n++] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? ' ' : text[i];
            i++;
        }
    }
    /* never longer than it was: the caller's buffer held that */
    if (n > len)
        n = len;
    memcpy(text, out, n);
    text[n] = '\0';
}

enum backend_verdict delivery_decide(const struct backend_ops *ops, struct backend_job *job,
                                     const struct http_request *sent, const struct http_answer *ans,
                                     struct http_request *next, char *why, size_t whylen)
{
    char req[80], what[256] = "";
    long status = ans->status;
    http_request_describe(sent, req, sizeof req);
    why[0] = '\0';
    enum backend_verdict v = ops->answer(job, sent, ans, next, what, sizeof what);
    if (v != BACKEND_UNCLAIMED) {
        if (v == BACKEND_RETRY || v == BACKEND_PAUSE || (v == BACKEND_DEAD && what[0] == '\0'))
            snprintf(why, whylen, "HTTP %ld from %s: %s%s", status, req, what[0] ? what : "refused",
                     ans->cut ? " (the answer was longer than this backend reads, and cut)" : "");
        else
            snprintf(why, whylen, "%s", what);
        reason_text(why);
        return v;
    }
    if (status >= 200 && status < 300) {
        snprintf(why, whylen, "HTTP %ld from %s: an answer the backend does not understand", status,
                 req);
        return BACKEND_RETRY;
    }
    if (status == 401 || status == 403) {
        snprintf(why, whylen, "HTTP %ld from %s: check the API key", status, req);
        return BACKEND_PAUSE;
    }
    if (status >= 300 && status < 400) {
        /* Never followed: the request, key and all, would go wherever the portal or proxy says. */
        snprintf(why, whylen,
                 "HTTP %ld from %s: a redirect, not followed (a captive portal or a proxy in "
                 "the way?)",
                 status, req);
        return BACKEND_RETRY;
    }
    if (status < 400 || status >= 500 || status == 408 || status == 429) {
        snprintf(why, whylen, "HTTP %ld from %s", status, req);
        return BACKEND_RETRY;
    }
    if ((status == 404 || status == 405) && sent->fixed_endpoint) {
        /* No object named in the path is missing: the endpoint is. Every sale would be refused
         * alike, so none is: the backend waits for its configuration to be fixed. */
        snprintf(why, whylen, "HTTP %ld from %s: check base_url", status, req);
        return BACKEND_PAUSE;
    }
    snprintf(why, whylen, "HTTP %ld from %s: %.200s", status, req, ans->body);
    reason_text(why);
    return BACKEND_DEAD;
}

void delivery_unanswered(const struct backend_ops *ops, struct backend_job *job,
                         const struct http_request *sent, long status, struct http_request *next)
{
    job->in_doubt = 1;
    if (ops->unanswered)
        ops->unanswered(job, sent, status, next);
}

/* The request got no answer the platform stands by: the backend may choose what goes next (a
 * look-up before creating again); else the same request goes again. */
static void resend_later(struct slot *s, long status)
{
    struct http_request next = {.body = NULL};
    delivery_unanswered(s->lane->ops, &s->job, &s->req, status, &next);
    if (next.path[0]) {
        http_request_clear(&s->req);
        s->req = next;
    } else {
        http_request_clear(&next);
    }
}

/* Any answer, error or not, carries the server's clock. */
static void note_server_date(struct lane *l, CURL *easy)
{
    struct curl_header *h;
    int64_t server_s;
    if (curl_easy_header(easy, "Date", 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        clock_parse_http_date(h->value, &server_s) != 0)
        return;
    l->skew_s = (int64_t)(clock_wall_ms() / 1000) - server_s;
    l->skew_at_ms = clock_mono_ms();
}

static void completed(struct delivery *d, struct slot *s, CURLcode result)
{
    struct lane *l = s->lane;
    long status = 0;
    curl_off_t retry_after = 0;
    char req[80];
    http_request_describe(&s->req, req, sizeof req);
    curl_multi_remove_handle(d->multi, s->easy);
    s->state = SLOT_READY; /* until decided otherwise: the same request, again */
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK)
        retry_after = 0;

    if (result == CURLE_OK)
        note_server_date(l, s->easy);
    if (result != CURLE_OK && !l->network_down) /* the first probe waits one interval */
        l->probe_due_ms = clock_mono_ms() + (uint64_t)l->bc->probe_interval_s * 1000;
    l->network_down = result != CURLE_OK;
    if (result != CURLE_OK) {
        /* Includes answers lost after the request went out: resent under the same reference. */
        snprintf(l->last_error, sizeof l->last_error, "%s on %s", curl_easy_strerror(result), req);
        resend_later(s, 0);
        back_off(d, l, 0, 0);
        return;
    }
    if (status < 200 || status >= 300)
        snprintf(l->last_error, sizeof l->last_error, "HTTP %ld from %s", status, req);
    char why[512];
    struct http_request next = {.body = NULL};
    struct http_answer ans = {status, s->resp, s->resp_cut};
    enum backend_verdict v =
        delivery_decide(l->ops, &s->job, &s->req, &ans, &next, why, sizeof why);
    if (v == BACKEND_RETRY || v == BACKEND_PAUSE) {
        http_request_clear(&next); /* s->req stays, unless the backend chooses another */
        snprintf(l->last_error, sizeof l->last_error, "%.255s", why);
        if (v == BACKEND_PAUSE)
            log_warn("%s: %s (base_url %s); the backend is paused, sales are kept", l->bc->name,
                     why, l->bc->base_url);
        else if (status >= 200 && status < 300)
            log_warn("%s: %s; sent again later", l->bc->name, why);
        if (v == BACKEND_RETRY)
            resend_later(s, status);
        back_off(d, l, (int64_t)retry_after, v == BACKEND_PAUSE);
        return;
    }
    /* An answer understood: the server works, whatever it said about this sale. */
    l->failing = 0;
    l->attempts = 0;
    http_request_clear(&s->req);
    if (v == BACKEND_SEND)
        s->req = next;
    else
        http_request_clear(&next);
    if (v == BACKEND_DONE)
        l->last_error[0] = '\0';
    step(d, s, v, why);
}

/* A transfer handle as every request of this backend needs it: HTTPS only, certificates
 * verified (never switchable off), bounded in time, no signals. */
static CURL *easy_new(const struct backend_config *bc)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (bc->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, bc->ca_file);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, bc->timeout_s);
    /* libcurl's default, said out loud: a redirect is an answer to report (see delivery.h). */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    return e;
}

static int lane_init(struct lane *l, const struct backend_config *bc, unsigned index)
{
    l->bc = bc;
    l->ops = bc->ops;
    l->index = index;
    l->nslots =
        bc->max_in_flight < JOURNAL_MAX_IN_FLIGHT ? bc->max_in_flight : JOURNAL_MAX_IN_FLIGHT;
    l->slots = calloc(l->nslots, sizeof *l->slots);
    if (!l->ops || !l->slots)
        return -1;
    l->state = calloc(1, l->ops->state_size ? l->ops->state_size : 1);
    if (!l->state || (l->ops->open && l->ops->open(bc, l->state) != 0)) {
        free(l->state);
        l->state = NULL;
        return -1;
    }
    for (unsigned i = 0; i < l->nslots; i++) {
        struct slot *s = &l->slots[i];
        CURL *e = s->easy = easy_new(bc);
        s->lane = l;
        s->job.sale_state = calloc(1, l->ops->sale_state_size ? l->ops->sale_state_size : 1);
        s->resp_max = l->ops->response_max ? l->ops->response_max : RESPONSE_DEFAULT;
        s->resp = malloc(s->resp_max + 1);
        if (!e || !s->job.sale_state || !s->resp)
            return -1;
        s->resp[0] = '\0';
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, bc->timeout_s < 10 ? bc->timeout_s : 10L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        /* HTTP/2 when the server offers it; new transfers wait to share its one connection. */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "tillsync/" TILLSYNC_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(e, CURLOPT_PRIVATE, s);
        curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, before_send);
        curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
    }
    CURL *p = l->probe = easy_new(bc);
    if (!p)
        return -1;
    curl_easy_setopt(p, CURLOPT_URL, bc->base_url);
    curl_easy_setopt(p, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(p, CURLOPT_FRESH_CONNECT, 1L); /* a pooled connection proves nothing */
    return 0;
}

/* libcurl's sockets on the loop: CURLMOPT_SOCKETFUNCTION says what each wants watched. */

static void on_curl_socket(void *ctx, int fd, unsigned events)
{
    struct delivery *d = ctx;
    int mask = (events & LOOP_IN ? CURL_CSELECT_IN : 0) |
               (events & LOOP_OUT ? CURL_CSELECT_OUT : 0) |
               (events & (LOOP_ERR | LOOP_HUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(d->multi, fd, mask, &running);
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct delivery *d = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        loop_del_fd(d->loop, fd);
        curl_multi_assign(d->multi, fd, NULL);
        return 0;
    }
    unsigned events = (what & CURL_POLL_IN ? LOOP_IN : 0) | (what & CURL_POLL_OUT ? LOOP_OUT : 0);
    if (socketp)
        return loop_mod_fd(d->loop, fd, events) == 0 ? 0 : -1;
    if (loop_add_fd(d->loop, fd, events, on_curl_socket, d) != 0)
        return -1;
    curl_multi_assign(d->multi, fd, d); /* non-NULL: registered */
    return 0;
}

static void on_curl_timer(void *ctx)
{
    struct delivery *d = ctx;
    int running;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct delivery *d = userp;
    (void)multi;
    loop_timer_set(d->curl_timer, timeout_ms < 0 ? LOOP_NEVER : (uint64_t)timeout_ms);
    return 0;
}

static void on_due(void *ctx)
{
    delivery_run(ctx);
}

struct delivery *delivery_new(const char *terminal_id, const struct backend_config *backends,
                              unsigned nbackends, struct journal *j, struct loop *loop, char *err,
                              size_t errlen)
{
    struct delivery *d = calloc(1, sizeof *d);
    if (!d || !(d->multi = curl_multi_init()) ||
        !(d->curl_timer = loop_add_timer(loop, on_curl_timer, d)) ||
        !(d->due_timer = loop_add_timer(loop, on_due, d))) {
        snprintf(err, errlen, "out of memory");
        if (d) {
            loop_del_timer(d->curl_timer);
            curl_multi_cleanup(d->multi);
        }
        free(d);
        return NULL;
    }
    d->loop = loop;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    snprintf(d->terminal_id, sizeof d->terminal_id, "%s", terminal_id);
    d->journal = j;
    d->first_seq_this_run = j->next_seq;
    d->rng = (uint32_t)clock_mono_ms() ^ (uint32_t)clock_wall_ms() ^ 0x2545F491u;
    unsigned transfers = 0;
    for (unsigned i = 0; i < nbackends && i < DELIVERY_MAX_BACKENDS; i++) {
        d->nlanes = i + 1;
        if (lane_init(&d->lanes[i], &backends[i], i) != 0) {
            delivery_free(d);
            snprintf(err, errlen, "backends[%u]: cannot set up (kind %s)", i, backends[i].kind);
            return NULL;
        }
        transfers += d->lanes[i].nslots + 1; /* its slots and its health probe */
    }
    curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* An HTTP/1.1 server gets one connection per request in flight; HTTP/2 shares one. Each
     * lane bounds its own transfers; libcurl's limit is per host and port, shared by every
     * backend there (two accounts on one platform), so it must never bind: set below the sum,
     * one backend's transfers would wait for another's connections. */
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)transfers);
    return d;
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        for (unsigned k = 0; l->slots && k < l->nslots; k++) {
            struct slot *s = &l->slots[k];
            if (s->state == SLOT_IN_FLIGHT)
                curl_multi_remove_handle(d->multi, s->easy);
            slot_clear(s);
            free(s->job.sale_state);
            free(s->resp);
            curl_easy_cleanup(s->easy);
        }
        free(l->slots);
        if (l->probing)
            curl_multi_remove_handle(d->multi, l->probe);
        curl_easy_cleanup(l->probe);
        if (l->state && l->ops->close)
            l->ops->close(l->bc, l->state);
        free(l->state);
    }
    curl_multi_cleanup(d->multi); /* removes its sockets from the loop through curl_socket_cb */
    loop_del_timer(d->curl_timer);
    loop_del_timer(d->due_timer);
    free(d);
}

/* How long until something of ours is due that no transfer or descriptor will announce. */
static uint64_t next_due_in_ms(const struct delivery *d)
{
    uint64_t now = clock_mono_ms(), timeout = LOOP_NEVER;
    for (unsigned i = 0; i < d->nlanes; i++) {
        const struct lane *l = &d->lanes[i];
        if (dead_waiting(l)) {
            uint64_t wait = l->dead_retry_ms > now ? l->dead_retry_ms - now : 0;
            if (wait < timeout)
                timeout = wait;
        }
        if (l->failing) {
            uint64_t due = l->next_attempt_ms, probe = probe_start_ms(l, now);
            if (probe < due)
                due = probe;
            uint64_t wait = due > now ? due - now : 0;
            if (wait < timeout)
                timeout = wait;
        }
    }
    if (d->marks_pending) {
        uint64_t wait = d->marks_due_ms > now ? d->marks_due_ms - now : 0;
        if (wait < timeout)
            timeout = wait;
    }
    return timeout;
}

void delivery_run(struct delivery *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct lane *probed = NULL;
        for (unsigned i = 0; i < d->nlanes && !probed; i++)
            if (msg->easy_handle == d->lanes[i].probe)
                probed = &d->lanes[i];
        if (probed) {
            probe_done(d, probed, msg->data.result);
            continue;
        }
        struct slot *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        completed(d, s, msg->data.result);
    }
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < d->nlanes; i++)
        lane_run(d, &d->lanes[i], now);
    if (d->marks_pending && ((d->marks_pending >= MARK_BATCH && !d->marks_failing) ||
                             clock_mono_ms() >= d->marks_due_ms))
        delivery_flush(d);
    /* Never a due time that starts nothing (probe_start_ms): the loop would spin until it. */
    loop_timer_set(d->due_timer, next_due_in_ms(d));
}

/* A failing lane's next attempt, now, from a fresh backoff schedule; 1 if it was waiting. */
static int retry_now(struct lane *l, uint64_t now)
{
    if (!l->failing || l->next_attempt_ms <= now)
        return 0;
    l->next_attempt_ms = now;
    l->attempts = 0;
    return 1;
}

void delivery_wake(struct delivery *d)
{
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        /* Not a paused backend (wrong key) nor one told to wait (Retry-After): only the ones
         * whose last failure was the network. */
        if (l->network_down)
            retry_now(l, now);
    }
}

unsigned delivery_drain_now(struct delivery *d, uint64_t *queued)
{
    uint64_t now = clock_mono_ms();
    unsigned cut = 0;
    *queued = 0;
    for (unsigned i = 0; i < d->nlanes; i++) {
        struct lane *l = &d->lanes[i];
        *queued += d->journal->backends[l->index].queued;
        /* Every kind of wait, a paused one too: a technician who just fixed the key asks. One
         * request goes out (a failing lane probes with one); if it fails, the lane backs off as
         * before, from the start of its schedule. */
        cut += (unsigned)retry_now(l, now);
    }
    return cut;
}

int delivery_server_skew(const struct delivery *d, int64_t *skew_s, const char **from)
{
    const struct lane *last = NULL;
    for (unsigned i = 0; i < d->nlanes; i++)
        if (d->lanes[i].skew_at_ms && (!last || d->lanes[i].skew_at_ms > last->skew_at_ms))
            last = &d->lanes[i];
    if (!last)
        return 0;
    *skew_s = last->skew_s;
    *from = last->bc->name;
    return 1;
}

int delivery_flush(struct delivery *d)
{
    int rc = journal_flush_marks(d->journal);
    if (rc) {
        if (!d->marks_failing)
            log_warn("could not write delivery marks (%s); they are kept in memory and written "
                     "when there is room",
                     strerror(-rc));
        d->marks_failing = 1;
        d->marks_due_ms = clock_mono_ms() + MARK_DELAY_MS;
        return rc;
    }
    if (d->marks_failing)
        log_info("delivery marks written again");
    d->marks_failing = 0;
    d->marks_pending = 0;
    return 0;
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
        cJSON_AddStringToObject(o, "state",
                                l->failing   ? (l->paused         ? "paused"
                                                : l->network_down ? "offline"
                                                                  : "waiting")
                                : jb->queued ? "uploading"
                                             : "idle");
        cJSON_AddNumberToObject(o, "queued", (double)jb->queued);
        cJSON_AddNumberToObject(o, "in_flight", in_flight(l));
        cJSON_AddNumberToObject(o, "delivered", (double)jb->delivered_total);
        cJSON_AddNumberToObject(o, "dead_letter", (double)jb->dead_total);
        cJSON_AddNumberToObject(o, "skipped_anonymous", (double)l->skipped);
        if (l->last_error[0])
            cJSON_AddStringToObject(o, "last_error", l->last_error);
        else
            cJSON_AddNullToObject(o, "last_error");
        uint64_t wait =
            l->failing && l->next_attempt_ms > now ? (l->next_attempt_ms - now + 999) / 1000 : 0;
        cJSON_AddNumberToObject(o, "next_attempt_in_s", (double)wait);
        if (l->last_dead[0])
            cJSON_AddStringToObject(o, "last_dead_letter", l->last_dead);
        if (l->skew_at_ms)
            cJSON_AddNumberToObject(o, "server_skew_s", (double)l->skew_s);
        cJSON_AddItemToArray(arr, o);
        /* A lane takes its sales in journal order: its slots hold its oldest. */
        uint64_t lane_oldest = 0, wall = clock_wall_ms();
        for (unsigned k = 0; k < l->nslots; k++) {
            const struct slot *s = &l->slots[k];
            if (s->state != SLOT_FREE && (!lane_oldest || s->sale.accepted_ms < lane_oldest))
                lane_oldest = s->sale.accepted_ms;
        }
        cJSON_AddNumberToObject(
            o, "oldest_queued_age_s",
            lane_oldest && wall > lane_oldest ? (double)((wall - lane_oldest) / 1000) : 0);
        if (lane_oldest && (!oldest || lane_oldest < oldest))
            oldest = lane_oldest;
    }
    return oldest;
}
