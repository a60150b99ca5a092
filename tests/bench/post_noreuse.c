/*
 * post_noreuse: the "libcurl without connection reuse" baseline of bench_drain.sh.
 *
 *   post_noreuse URL CA_FILE API_KEY_FILE COUNT [TERMINAL]
 *
 * Sequentially POSTs COUNT Glu-style activities (one per sale, the same JSON shape and size as
 * tillsyncd's POST /activities) to URL, each on a brand-new easy handle: a new TCP connection and
 * a full TLS handshake per request (no connection cache, no TLS session cache shared between
 * handles), certificate verified against CA_FILE. Every answer must be 2xx. Prints one line:
 *
 *   requests N elapsed_s S rate R
 *
 * Not a test and not part of the daemon: bench_drain.sh builds it with a one-off gcc command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t sink(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    (void)userp;
    return size * nmemb;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s URL CA_FILE API_KEY_FILE COUNT [TERMINAL]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *ca = argv[2], *term = argc > 5 ? argv[5] : "T042";
    long count = strtol(argv[4], NULL, 10);
    char key[512] = "";
    FILE *kf = fopen(argv[3], "r");
    if (!kf || !fgets(key, sizeof key, kf)) {
        fprintf(stderr, "post_noreuse: cannot read %s\n", argv[3]);
        return 2;
    }
    fclose(kf);
    key[strcspn(key, "\r\n")] = '\0';
    char keyhdr[600];
    snprintf(keyhdr, sizeof keyhdr, "x-api-key: %s", key);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, keyhdr);

    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"contact\":1001,\"type\":\"Purchase\",\"source\":\"till\","
                 "\"happenedAt\":\"2026-04-07T10:%02ld:%02ldZ\",\"spend\":%ld,"
                 "\"currencyCode\":\"GBP\",\"externalReference\":\"%s:N%06ld\"}",
                 (i / 60) % 60, i % 60, 100 + (i * 7919) % 19900, term, i);
        CURL *e = curl_easy_init(); /* a new handle each time: nothing carried over */
        if (!e) {
            fprintf(stderr, "post_noreuse: curl_easy_init failed\n");
            return 1;
        }
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 15L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
        CURLcode rc = curl_easy_perform(e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        if (rc != CURLE_OK || status < 200 || status > 299) {
            fprintf(stderr, "post_noreuse: request %ld: %s, HTTP %ld\n", i, curl_easy_strerror(rc),
                    status);
            return 1;
        }
    }
    double el = now_s() - t0;
    printf("requests %ld elapsed_s %.3f rate %.1f\n", count, el, count / el);
    curl_slist_free_all(h);
    curl_global_cleanup();
    return 0;
}
