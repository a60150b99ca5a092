/*
 * The connection checks (diagnose.h). Each check proves one layer and says, when it cannot, what
 * a technician at the till can do about it; the next check needs the one before it.
 */
#define _GNU_SOURCE /* EAI_NODATA */
#include "diagnose.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http_send.h"

#define CONNECT_MAX_S 10 /* as the daemon's connects */
#define ADDRS_MAX     8
#define BODY_MAX      16384
#define SKEW_OK_S     60
#define SKEW_WARN_S   86400
#define EXPIRY_WARN_D 7 /* a platform renewing on time never gets this close */

/* OpenSSL's X509_V_ERR_* codes as CURLINFO_SSL_VERIFYRESULT reports them (libcurl here is built
 * on OpenSSL; these numbers are part of OpenSSL's stable API). */
#define X509_UNABLE_TO_GET_ISSUER_CERT       2
#define X509_CERT_NOT_YET_VALID              9
#define X509_CERT_HAS_EXPIRED                10
#define X509_DEPTH_ZERO_SELF_SIGNED          18
#define X509_SELF_SIGNED_IN_CHAIN            19
#define X509_UNABLE_TO_GET_ISSUER_LOCALLY    20
#define X509_UNABLE_TO_VERIFY_LEAF_SIGNATURE 21

__attribute__((format(printf, 3, 4))) static void add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return;
    if (n)
        buf[n++] = '\n', buf[n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

#define DETAIL(ck, ...) add((ck)->detail, sizeof(ck)->detail, __VA_ARGS__)
#define HINT(ck, ...)   add((ck)->hint, sizeof(ck)->hint, __VA_ARGS__)

static long connect_timeout_s(const struct backend_config *bc)
{
    return bc->timeout_s < CONNECT_MAX_S ? bc->timeout_s : CONNECT_MAX_S;
}

/* "3 days", "5 hours", "12 minutes", "40 seconds": a skew or an age in words. */
static void in_words(char *out, size_t cap, double seconds)
{
    double s = fabs(seconds);
    if (s >= 2 * 86400.0)
        snprintf(out, cap, "%.0f days", s / 86400);
    else if (s >= 2 * 3600.0)
        snprintf(out, cap, "%.0f hours", s / 3600);
    else if (s >= 120)
        snprintf(out, cap, "%.0f minutes", s / 60);
    else
        snprintf(out, cap, "%.0f seconds", s);
}

static void utc_text(char *out, size_t cap, time_t t)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, cap, "(unknown)");
}

/* ---- the host and port of base_url ---- */

struct target {
    char host[256]; /* without an IPv6 literal's brackets */
    char port[8];
};

static int target_of(const char *base_url, struct target *t)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        size_t n = strlen(host);
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
            snprintf(t->host, sizeof t->host, "%.*s", (int)(n - 2), host + 1);
        else
            snprintf(t->host, sizeof t->host, "%s", host);
        snprintf(t->port, sizeof t->port, "%s", port);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

/* ---- DNS ---- */

/*
 * getaddrinfo() has no timeout of its own (resolv.conf's, times its attempts, times its servers:
 * half a minute and more with a dead DNS server), so it runs in a thread the caller stops waiting
 * for. An abandoned look-up frees its own result when it ends; the tool exits soon after anyway.
 */
struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int done, abandoned, rc;
    struct target t;
    struct addrinfo *res;
};

static void lookup_free(struct lookup *l)
{
    if (l->res)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void *lookup_run(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->t.host, l->t.port, &hints, &res);
    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->res = rc == 0 ? res : NULL;
    l->done = 1;
    int abandoned = l->abandoned;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->lock);
    if (abandoned)
        lookup_free(l);
    return NULL;
}

/* Returns the addresses (freeaddrinfo them), or NULL with *rc an EAI_ code, or EAI_AGAIN and
 * *timed_out set. */
static struct addrinfo *resolve(const struct target *t, long timeout_s, int *rc, int *timed_out)
{
    *timed_out = 0;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l) {
        *rc = EAI_MEMORY;
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->t = *t;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, lookup_run, l) != 0) {
        pthread_attr_destroy(&attr);
        lookup_free(l);
        *rc = EAI_SYSTEM;
        return NULL;
    }
    pthread_attr_destroy(&attr);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&l->lock);
    while (!l->done && pthread_cond_timedwait(&l->cv, &l->lock, &deadline) != ETIMEDOUT)
        ;
    if (!l->done) {
        l->abandoned = 1;
        pthread_mutex_unlock(&l->lock);
        *rc = EAI_AGAIN;
        *timed_out = 1;
        return NULL;
    }
    pthread_mutex_unlock(&l->lock);
    struct addrinfo *res = l->res;
    *rc = l->rc;
    l->res = NULL;
    lookup_free(l);
    return res;
}

static void address_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

static struct addrinfo *check_dns(const struct backend_config *bc, const struct target *t,
                                  struct diag_check *ck)
{
    unsigned char probe[16];
    int literal =
        inet_pton(AF_INET, t->host, probe) == 1 || inet_pton(AF_INET6, t->host, probe) == 1;
    int rc, timed_out;
    struct addrinfo *res = resolve(t, connect_timeout_s(bc), &rc, &timed_out);
    if (!res) {
        ck->verdict = DIAG_FAIL;
        if (timed_out) {
            DETAIL(ck, "no answer from the DNS server for %s within %ld s", t->host,
                   connect_timeout_s(bc));
            HINT(ck, "the till cannot reach its DNS server: check the network cable or Wi-Fi, "
                     "and the DNS server in the till's network settings (/etc/resolv.conf)");
        } else if (rc == EAI_NONAME
#ifdef EAI_NODATA
                   || rc == EAI_NODATA
#endif
        ) {
            DETAIL(ck, "%s: no such host name (the DNS answered: %s)", t->host, gai_strerror(rc));
            HINT(ck,
                 "check the spelling of the host in base_url (%s) against the platform's API "
                 "documentation; if it is right, the shop's DNS does not know it (a filtering "
                 "DNS or router?)",
                 bc->base_url);
        } else if (rc == EAI_AGAIN) {
            DETAIL(ck, "%s: the DNS server could not answer now (%s)", t->host, gai_strerror(rc));
            HINT(ck, "the till's DNS server is unreachable or failing: check the network and "
                     "the DNS server in the till's settings (/etc/resolv.conf), then try again");
        } else {
            DETAIL(ck, "%s: look-up failed: %s", t->host,
                   rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
            HINT(ck, "check the till's network settings (DNS server in /etc/resolv.conf)");
        }
        return NULL;
    }
    char list[512] = "";
    unsigned n = 0, more = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN];
        address_text(a->ai_addr, text, sizeof text);
        if (strstr(list, text))
            continue; /* one address per socket type */
        if (n++ < 4)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n > 1 ? ", " : "",
                     text);
        else
            more++;
    }
    ck->verdict = DIAG_OK;
    if (literal)
        DETAIL(ck, "%s is an address: nothing to look up", t->host);
    else if (more)
        DETAIL(ck, "%s is %s and %u more", t->host, list, more);
    else
        DETAIL(ck, "%s is %s", t->host, list);
    return res;
}

/* ---- TCP ---- */

/* 0 connected, else the errno that says why (ETIMEDOUT for our own deadline). */
static int connect_one(const struct addrinfo *a, long timeout_s)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0)
        return errno;
    int err = 0;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r;
            do
                r = poll(&p, 1, (int)(timeout_s * 1000));
            while (r < 0 && errno == EINTR);
            socklen_t len = sizeof err;
            if (r == 0)
                err = ETIMEDOUT;
            else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    close(fd);
    return err;
}

static int check_tcp(const struct backend_config *bc, const struct target *t,
                     const struct addrinfo *res, struct diag_check *ck)
{
    int refused = 0, unreachable = 0, timed_out = 0, other = 0;
    unsigned tried = 0;
    for (const struct addrinfo *a = res; a && tried < ADDRS_MAX; a = a->ai_next, tried++) {
        char text[INET6_ADDRSTRLEN];
        address_text(a->ai_addr, text, sizeof text);
        int err = connect_one(a, connect_timeout_s(bc));
        if (err == 0) {
            ck->verdict = DIAG_OK;
            DETAIL(ck, "connected to %s port %s", text, t->port);
            return 0;
        }
        if (err == ECONNREFUSED) {
            refused++;
            DETAIL(ck, "%s port %s: refused (nothing listens there)", text, t->port);
        } else if (err == ENETUNREACH || err == EHOSTUNREACH || err == EADDRNOTAVAIL ||
                   err == EAFNOSUPPORT) {
            unreachable++;
            DETAIL(ck, "%s port %s: unreachable (%s)", text, t->port, strerror(err));
        } else if (err == ETIMEDOUT) {
            timed_out++;
            DETAIL(ck, "%s port %s: no answer within %ld s", text, t->port, connect_timeout_s(bc));
        } else {
            other++;
            DETAIL(ck, "%s port %s: %s", text, t->port, strerror(err));
        }
    }
    ck->verdict = DIAG_FAIL;
    if (refused)
        HINT(ck,
             "the host answers but nothing listens on port %s: check the port in base_url "
             "(%s; none means 443); if it is right, the platform's server is down: try "
             "again later",
             t->port, bc->base_url);
    else if (timed_out)
        HINT(ck,
             "nothing answers: a firewall drops the connection, or the shop's internet is "
             "down; check that outgoing HTTPS (port %s) is allowed from the till and the "
             "router is online",
             t->port);
    else if (unreachable)
        HINT(ck, "the till has no route to that address: check the network cable or Wi-Fi, the "
                 "till's IP address and its default gateway (router)");
    else
        HINT(ck, "the connection failed for the reason above: check the till's network settings");
    (void)other;
    return -1;
}

/* ---- TLS ---- */

struct cert_view {
    int present;
    char subject[256], issuer[256], names[512], start[64], expire[64];
    time_t not_before, not_after; /* -1 unknown */
};

static void field(const char *data, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (strncmp(data, name, n) == 0 && data[n] == ':')
        snprintf(out, cap, "%s", data + n + 1);
}

/* The leaf certificate as libcurl's TLS library read it (CURLOPT_CERTINFO). */
static void read_leaf(CURL *e, struct cert_view *v)
{
    struct curl_certinfo *ci = NULL;
    memset(v, 0, sizeof *v);
    v->not_before = v->not_after = -1;
    if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return;
    v->present = 1;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next) {
        field(s->data, "Subject", v->subject, sizeof v->subject);
        field(s->data, "Issuer", v->issuer, sizeof v->issuer);
        field(s->data, "X509v3 Subject Alternative Name", v->names, sizeof v->names);
        field(s->data, "Start date", v->start, sizeof v->start);
        field(s->data, "Expire date", v->expire, sizeof v->expire);
    }
    if (v->start[0])
        v->not_before = curl_getdate(v->start, NULL);
    if (v->expire[0])
        v->not_after = curl_getdate(v->expire, NULL);
}

/* Whether host is among the certificate's names ("DNS:a, IP Address:b" as OpenSSL prints them),
 * a wildcard standing for one left-most label. -1: the certificate lists no names. */
static int name_matches(const char *names, const char *host)
{
    if (!names[0])
        return -1;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", names);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        const char *value = strchr(tok, ':');
        if (!value)
            continue;
        value++;
        if (strncmp(tok, "IP Address:", 11) == 0 || strncmp(tok, "DNS:", 4) == 0) {
            if (strcasecmp(value, host) == 0)
                return 1;
            const char *dot = strchr(host, '.');
            if (strncmp(tok, "DNS:", 4) == 0 && value[0] == '*' && value[1] == '.' && dot &&
                strcasecmp(value + 1, dot) == 0)
                return 1;
        }
    }
    return 0;
}

static void describe_leaf(struct diag_check *ck, const struct cert_view *v, const char *host,
                          time_t now)
{
    char when[64];
    DETAIL(ck, "server   %s", v->subject[0] ? v->subject : "(no subject)");
    DETAIL(ck, "issuer   %s", v->issuer[0] ? v->issuer : "(unknown)");
    if (v->not_after != -1) {
        utc_text(when, sizeof when, v->not_after);
        double left = difftime(v->not_after, now);
        char words[32];
        in_words(words, sizeof words, left);
        DETAIL(ck, "expires  %s (%s %s)", when, words, left >= 0 ? "left" : "ago");
    } else if (v->expire[0]) {
        DETAIL(ck, "expires  %s", v->expire);
    }
    int m = name_matches(v->names, host);
    DETAIL(ck, "names    %s: %s", v->names[0] ? v->names : "(none listed)",
           m > 0    ? "matches the host"
           : m == 0 ? "the host is NOT among them"
                    : "not checked");
}

/* A TLS connection and nothing sent on it. verify 0 is the second look, only to read the
 * certificate the server presents after a verified connection failed: it carries no request and
 * no credentials, ever. */
static CURLcode tls_connect(const struct backend_config *bc, int verify, char *errbuf,
                            long *verify_result, char *ca_used, size_t ca_cap,
                            struct cert_view *leaf)
{
    CURL *e = http_easy_new(bc);
    if (!e)
        return CURLE_OUT_OF_MEMORY;
    errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, bc->base_url);
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_timeout_s(bc));
    if (!verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(e);
    if (verify_result) {
        long vr = 0;
        curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &vr);
        *verify_result = vr;
    }
    if (ca_used) {
        char *ca = NULL;
        if (bc->ca_file[0])
            snprintf(ca_used, ca_cap, "%s (the backend's ca_file)", bc->ca_file);
        else if (curl_easy_getinfo(e, CURLINFO_CAINFO, &ca) == CURLE_OK && ca)
            snprintf(ca_used, ca_cap, "%s (the system's CA store)", ca);
        else
            snprintf(ca_used, ca_cap, "the system's CA store");
    }
    read_leaf(e, leaf);
    curl_easy_cleanup(e);
    return rc;
}

/* Returns 0 when verified. *clock_slow_s: when the certificate is not valid yet, by how much the
 * till's clock is at least slow (else 0). */
static int check_tls(const struct backend_config *bc, const struct target *t, struct diag_check *ck,
                     double *clock_slow_s, time_t *cert_start)
{
    char errbuf[CURL_ERROR_SIZE], ca[PATH_MAX + 40];
    long vr = 0;
    struct cert_view leaf;
    time_t now = time(NULL);
    *clock_slow_s = 0;
    *cert_start = -1;
    CURLcode rc = tls_connect(bc, 1, errbuf, &vr, ca, sizeof ca, &leaf);
    if (rc == CURLE_OK) {
        ck->verdict = DIAG_OK;
        DETAIL(ck, "verified with %s", ca);
        if (leaf.present)
            describe_leaf(ck, &leaf, t->host, now);
        if (leaf.not_after != -1 && difftime(leaf.not_after, now) < EXPIRY_WARN_D * 86400.0) {
            ck->verdict = DIAG_WARN;
            HINT(ck, "the server's certificate expires soon; renewing it is the platform's job%s",
                 bc->ca_file[0] ? "; if the platform uses a private CA, you may need its new "
                                  "certificate in ca_file"
                                : "");
        }
        return 0;
    }
    ck->verdict = DIAG_FAIL;
    if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT_BADFILE) {
        DETAIL(ck, "the TLS handshake failed: %s%s%s", curl_easy_strerror(rc),
               errbuf[0] ? ": " : "", errbuf);
        if (rc == CURLE_OPERATION_TIMEDOUT)
            HINT(ck, "the server accepted the connection but did not complete TLS: a proxy or "
                     "firewall may be in the way; check the port in base_url");
        else
            HINT(ck,
                 "something on that port does not speak TLS as the platform does: check the "
                 "port in base_url (%s), and whether a proxy or firewall intercepts HTTPS",
                 bc->base_url);
        return -1;
    }
    if (rc == CURLE_SSL_CACERT_BADFILE) {
        DETAIL(ck, "cannot use the CA file %s: %s", ca, errbuf);
        HINT(ck, "ca_file must be a readable PEM file of the CA that signs the platform's "
                 "certificate; remove ca_file to use the system's CA store");
        return -1;
    }
    /* Verification failed: a second look, unverified, only to read the certificate. */
    char errbuf2[CURL_ERROR_SIZE];
    if (!leaf.present)
        tls_connect(bc, 0, errbuf2, NULL, NULL, 0, &leaf);
    char when[64], now_text[64], words[32];
    utc_text(now_text, sizeof now_text, now);
    if (vr == X509_CERT_HAS_EXPIRED) {
        utc_text(when, sizeof when, leaf.not_after);
        in_words(words, sizeof words, difftime(now, leaf.not_after));
        DETAIL(ck,
               "the server's certificate has expired: on %s, %s ago by the till's clock "
               "(%s)",
               when, words, now_text);
        HINT(ck,
             "if %s is not the date and time now, the till's clock is wrong: set it and check "
             "NTP. Otherwise the platform's certificate has lapsed: the platform must renew it "
             "(tell them); nothing on the till can fix that",
             now_text);
    } else if (vr == X509_CERT_NOT_YET_VALID) {
        utc_text(when, sizeof when, leaf.not_before);
        in_words(words, sizeof words, difftime(leaf.not_before, now));
        DETAIL(ck,
               "the server's certificate is not valid yet: it starts %s, %s after the till's "
               "clock (%s)",
               when, words, now_text);
        HINT(ck,
             "the till's clock is slow by at least %s: set the clock and check NTP "
             "(the certificate is very probably fine)",
             words);
        if (leaf.not_before != -1) {
            *clock_slow_s = difftime(leaf.not_before, now);
            *cert_start = leaf.not_before;
        }
    } else if (vr == X509_UNABLE_TO_GET_ISSUER_CERT || vr == X509_UNABLE_TO_GET_ISSUER_LOCALLY ||
               vr == X509_UNABLE_TO_VERIFY_LEAF_SIGNATURE || vr == X509_SELF_SIGNED_IN_CHAIN ||
               vr == X509_DEPTH_ZERO_SELF_SIGNED) {
        DETAIL(ck, "the server's certificate is not signed by a CA in %s (%s)", ca, errbuf);
        if (bc->ca_file[0])
            HINT(ck,
                 "ca_file holds another CA than the one that signed the platform's "
                 "certificate (issuer above): put that CA's certificate in %s, or remove "
                 "ca_file to use the system's CA store. If the issuer is a firewall or proxy, "
                 "HTTPS is being intercepted: ask the shop's IT to let the till through",
                 bc->ca_file);
        else
            HINT(ck, "the system's CA store does not know the issuer above: update the till's CA "
                     "certificates (ca-certificates), or name the platform's CA in ca_file. If the "
                     "issuer is a firewall or proxy, HTTPS is being intercepted: ask the shop's IT "
                     "to let the till through");
    } else if (vr == 0 || name_matches(leaf.names, t->host) == 0 || strstr(errbuf, "name")) {
        /* libcurl checks the name itself after OpenSSL's chain check passed: its verify result
         * is then 0 or unspecified (1), and the error buffer says which name. */
        DETAIL(ck, "the server's certificate is not for %s (%s)", t->host, errbuf);
        HINT(ck, "the certificate's names (below) do not include the host in base_url: check "
                 "base_url against the platform's documentation (a typo, or an old host name); "
                 "if it is right, something intercepts the connection");
    } else {
        DETAIL(ck, "the server's certificate was refused: %s (OpenSSL verify code %ld)", errbuf,
               vr);
        HINT(ck, "check ca_file (%s) and the till's clock (%s)",
             bc->ca_file[0] ? bc->ca_file : "none: the system's store", now_text);
    }
    DETAIL(ck, "CA file  %s", ca);
    if (leaf.present)
        describe_leaf(ck, &leaf, t->host, now);
    else
        DETAIL(ck, "(the certificate could not be read: %s)", errbuf2);
    return -1;
}

/* ---- authentication, and the server's Date ---- */

struct answer_buf {
    char body[BODY_MAX + 1];
    size_t len;
    int cut;
    char date[128], location[512];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct answer_buf *a = userp;
    size_t n = size * nmemb, room = BODY_MAX - a->len;
    a->cut |= n > room;
    memcpy(a->body + a->len, data, n < room ? n : room);
    a->len += n < room ? n : room;
    a->body[a->len] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    if (n > k + 1 && strncasecmp(line, name, k) == 0 && line[k] == ':') {
        const char *v = line + k + 1;
        size_t len = n - k - 1;
        while (len && (*v == ' ' || *v == '\t'))
            v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        snprintf(out, cap, "%.*s", (int)len, v);
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct answer_buf *a = userp;
    size_t n = size * nmemb;
    header_value(data, n, "Date", a->date, sizeof a->date);
    header_value(data, n, "Location", a->location, sizeof a->location);
    return n;
}

/* The platform's own words from an error answer ("message" or "error"), printable and short; ""
 * when there are none. An error answer never holds our key; it may be anything else, so it is
 * cut and cleaned. */
static void platform_words(const char *body, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *j = cJSON_Parse(body);
    const char *m = backend_json_str(j, "message");
    if (!m)
        m = backend_json_str(j, "error");
    if (m) {
        size_t n = 0;
        for (const char *p = m; *p && n + 1 < cap && n < 120; p++)
            out[n++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?';
        out[n] = '\0';
    }
    cJSON_Delete(j);
}

/* Returns the server's Date (-1 when no answer had one). */
static time_t check_auth(const struct backend_config *bc, const char *secret_files,
                         struct diag_check *ck)
{
    const struct backend_ops *ops = bc->ops;
    if (!ops->probe) {
        ck->verdict = DIAG_SKIPPED;
        DETAIL(ck, "the %s backend has no request that proves the key without a sale", bc->kind);
        return -1;
    }
    void *state = calloc(1, ops->state_size ? ops->state_size : 1);
    struct answer_buf *a = calloc(1, sizeof *a);
    struct http_request req = {0};
    struct curl_slist *sent = NULL;
    CURL *e = http_easy_new(bc);
    time_t date = -1;
    int opened = state && (!ops->open || ops->open(bc, state) == 0);
    if (!opened || !a || !e || ops->probe(bc, state, &req) != 0 ||
        http_request_put(e, bc->base_url, &req, &sent) != 0) {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "out of memory");
        goto out;
    }
    char what[BACKEND_PATH_MAX + 8], errbuf[CURL_ERROR_SIZE] = "";
    http_request_describe(&req, what, sizeof what);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tillsync/" TILLSYNC_VERSION " (test-connection)");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_timeout_s(bc));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (a->date[0])
        date = curl_getdate(a->date, NULL);
    if (rc != CURLE_OK) {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "%s got no answer: %s%s%s", what, curl_easy_strerror(rc), errbuf[0] ? ": " : "",
               errbuf);
        HINT(ck, "the connection worked a moment ago: the network or the platform is unsteady; "
                 "try again, and check the shop's internet");
        goto out;
    }
    char words[128];
    platform_words(a->body, words, sizeof words);
    char said[160] = "";
    if (words[0])
        snprintf(said, sizeof said, " (\"%s\")", words);
    struct http_answer ans = {status, a->body, a->cut};
    if (status >= 200 && status < 300) {
        ck->verdict = DIAG_OK;
        DETAIL(ck, "%s answered %ld: the platform accepted the credentials", what, status);
    } else if (ops->probe_accepted && ops->probe_accepted(bc, &ans)) {
        ck->verdict = DIAG_OK;
        DETAIL(ck,
               "%s answered %ld%s, as expected of this request: the platform accepted the "
               "credentials (nothing was created)",
               what, status, said);
    } else if (status == 401 || status == 403) {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "the API key was refused: %s answered %ld%s", what, status, said);
        HINT(ck,
             "check %s: each must hold exactly what the platform issued for this account, "
             "on one line (copy it again from the platform's settings), and check the "
             "backend's account settings (an app or account id)",
             secret_files);
        HINT(ck, "then run test-connection again, and restart or reload the daemon");
    } else if ((status == 404 || status == 405) && req.fixed_endpoint) {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "base_url looks wrong: %s answered %ld%s", what, status, said);
        HINT(ck,
             "base_url (%s) must be the API's root as the platform documents it, without "
             "the endpoint's path; check for a missing or extra path part",
             bc->base_url);
    } else if (status >= 300 && status < 400) {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "%s answered %ld, a redirect to %s", what, status,
               a->location[0] ? a->location : "(no Location)");
        HINT(ck, "the platform's API never redirects: base_url is probably wrong (http vs "
                 "https, a missing path part, an old host), or a captive portal or proxy is in "
                 "the way");
    } else if (status == 429 || status >= 500 || status == 408) {
        ck->verdict = DIAG_WARN;
        DETAIL(ck,
               "%s answered %ld%s: the platform is busy or down, so the key was not "
               "proven",
               what, status, said);
        HINT(ck, "nothing to change on the till: run test-connection again in a few minutes; "
                 "sales wait in the journal meanwhile");
    } else {
        ck->verdict = DIAG_FAIL;
        DETAIL(ck, "%s answered %ld%s", what, status, said);
        HINT(ck,
             "an answer the platform should not give to this request: check base_url (%s) "
             "and the backend's settings against the platform's documentation",
             bc->base_url);
    }
out:
    curl_slist_free_all(sent);
    if (e)
        curl_easy_cleanup(e);
    http_request_clear(&req);
    if (opened && ops->close)
        ops->close(bc, state);
    free(state);
    free(a);
    return date;
}

static void check_clock(time_t server, struct diag_check *ck)
{
    time_t now = time(NULL);
    double skew = difftime(server, now); /* > 0: the till is behind, slow */
    char words[32], server_text[64], till_text[64];
    in_words(words, sizeof words, skew);
    utc_text(server_text, sizeof server_text, server);
    utc_text(till_text, sizeof till_text, now);
    const char *way = skew > 0 ? "slow" : "fast";
    if (fabs(skew) < SKEW_OK_S) {
        ck->verdict = DIAG_OK;
        if (fabs(skew) < 1)
            DETAIL(ck, "the till's clock agrees with the server's (to the second)");
        else
            DETAIL(ck, "the till's clock is within a minute of the server's (%.0f s %s)",
                   fabs(skew), way);
        return;
    }
    if (fabs(skew) < SKEW_WARN_S) {
        ck->verdict = DIAG_WARN;
        snprintf(ck->detail, sizeof ck->detail, "the till's clock is %s %s", words, way);
        DETAIL(ck, "the server's Date says %s, the till's clock %s", server_text, till_text);
        HINT(ck, "sales keep the POS's own times, but logs and status will be off: check NTP "
                 "(timedatectl, or the ntpd/chrony service)");
    } else {
        ck->verdict = DIAG_FAIL;
        snprintf(ck->detail, sizeof ck->detail,
                 "the till's clock is %s %s: TLS will fail; check NTP", words, way);
        DETAIL(ck, "the server's Date says %s, the till's clock %s", server_text, till_text);
        HINT(ck, "set the clock (date -s, or timedatectl set-time) and make sure NTP runs at "
                 "boot: certificates are checked against this clock");
    }
}

/* ---- the whole run ---- */

static void skip(struct diag_check *ck, const char *why)
{
    ck->verdict = DIAG_SKIPPED;
    snprintf(ck->detail, sizeof ck->detail, "not tried: %s", why);
}

void diag_run(const struct backend_config *bc, const char *secret_files, struct diag_report *r)
{
    memset(r, 0, sizeof *r);
    struct target t;
    struct addrinfo *res = NULL;
    if (target_of(bc->base_url, &t) != 0) {
        r->check[DIAG_DNS].verdict = DIAG_FAIL;
        snprintf(r->check[DIAG_DNS].detail, DIAG_TEXT, "base_url %s has no host", bc->base_url);
    } else {
        res = check_dns(bc, &t, &r->check[DIAG_DNS]);
    }
    int tcp = -1, tls = -1;
    double slow = 0;
    time_t cert_start = -1, date = -1;
    if (res)
        tcp = check_tcp(bc, &t, res, &r->check[DIAG_TCP]);
    else
        skip(&r->check[DIAG_TCP], "the host name did not resolve");
    if (res)
        freeaddrinfo(res);
    if (tcp == 0)
        tls = check_tls(bc, &t, &r->check[DIAG_TLS], &slow, &cert_start);
    else
        skip(&r->check[DIAG_TLS], "no TCP connection");
    if (tls == 0)
        date = check_auth(bc, secret_files, &r->check[DIAG_AUTH]);
    else
        skip(&r->check[DIAG_AUTH], "no verified TLS connection (the key is never sent over one)");
    if (date != -1) {
        check_clock(date, &r->check[DIAG_CLOCK]);
    } else if (slow > 0) {
        struct diag_check *ck = &r->check[DIAG_CLOCK];
        char words[32];
        in_words(words, sizeof words, slow);
        ck->verdict = DIAG_FAIL;
        DETAIL(ck,
               "the till's clock is at least %s slow (before the server certificate's "
               "start): TLS will fail; check NTP",
               words);
        HINT(ck, "set the clock (date -s, or timedatectl set-time) and make sure NTP runs at "
                 "boot");
    } else {
        skip(&r->check[DIAG_CLOCK], tls == 0 ? "the answer had no Date header"
                                             : "no answer from the server to read its Date from");
    }
    r->worst = DIAG_OK;
    for (int i = 0; i < DIAG_NSTEPS; i++)
        if (r->check[i].verdict != DIAG_SKIPPED && r->check[i].verdict > r->worst)
            r->worst = r->check[i].verdict;
}

/* ---- output ---- */

static const char *const step_names[DIAG_NSTEPS] = {"dns", "tcp", "tls", "auth", "clock"};

const char *diag_verdict_name(enum diag_verdict v)
{
    static const char *const names[] = {"ok", "warn", "fail", "skipped"};
    return names[v];
}

static void print_lines(const struct ctl *c, const char *text, const char *prefix, int skip_first)
{
    const char *s = text;
    int first = 1;
    while (*s) {
        size_t n = strcspn(s, "\n");
        if (!(first && skip_first))
            ctl_hint(c, "%s%.*s", prefix, (int)n, s);
        first = 0;
        s += n + (s[n] == '\n');
    }
}

void diag_print(const struct ctl *c, const struct backend_config *bc, const struct diag_report *r)
{
    static const enum ctl_mark marks[] = {CTL_OK, CTL_WARN, CTL_FAIL, CTL_NOTE};
    printf("%s (%s) %s\n", bc->name, bc->kind, bc->base_url);
    for (int i = 0; i < DIAG_NSTEPS; i++) {
        const struct diag_check *ck = &r->check[i];
        ctl_check(c, marks[ck->verdict], step_names[i], "%.*s", (int)strcspn(ck->detail, "\n"),
                  ck->detail);
        print_lines(c, ck->detail, "", 1);
        print_lines(c, ck->hint, "-> ", 0);
    }
}

cJSON *diag_json(const struct backend_config *bc, const struct diag_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", bc->name);
    cJSON_AddStringToObject(o, "kind", bc->kind);
    cJSON_AddStringToObject(o, "base_url", bc->base_url);
    cJSON_AddStringToObject(o, "verdict", diag_verdict_name(r->worst));
    cJSON *checks = cJSON_AddArrayToObject(o, "checks");
    for (int i = 0; i < DIAG_NSTEPS; i++) {
        const struct diag_check *ck = &r->check[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", step_names[i]);
        cJSON_AddStringToObject(x, "verdict", diag_verdict_name(ck->verdict));
        cJSON_AddStringToObject(x, "detail", ck->detail);
        if (ck->hint[0])
            cJSON_AddStringToObject(x, "hint", ck->hint);
        else
            cJSON_AddNullToObject(x, "hint");
        cJSON_AddItemToArray(checks, x);
    }
    return o;
}

void diag_secret_files(const char *config_path, unsigned index, char *out, size_t cap)
{
    snprintf(out, cap, "its key file");
    FILE *f = fopen(config_path, "r");
    if (!f)
        return;
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text)
        return;
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *b =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "backends"), (int)index);
    char list[1024] = "";
    unsigned k = 0;
    for (const cJSON *it = b ? b->child : NULL; it; it = it->next) {
        size_t len = strlen(it->string);
        if (len < 5 || strcmp(it->string + len - 5, "_file") != 0 ||
            strcmp(it->string, "ca_file") == 0 || !cJSON_IsString(it))
            continue;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s (%s)", k++ ? " and " : "",
                 it->valuestring, it->string);
    }
    if (k)
        snprintf(out, cap, "%s", list);
    cJSON_Delete(root);
}
