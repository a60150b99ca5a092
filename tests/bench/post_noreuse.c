/*
 * post_noreuse: the "libcurl without connection reuse" baseline of bench_drain.sh.
 *
 *   post_noreuse CA_FILE REQUESTS_FILE
 *
 * Sends REQUESTS_FILE's requests in order, one a line: METHOD, URL, the body ("-": none) and
 * its header lines, separated by tabs (drain_platforms.py writes them: the requests of a sale
 * with a cached contact, as tillsyncd builds them for that platform). Each goes on a brand-new
 * easy handle: a new TCP connection and a full TLS handshake per request (no connection cache,
 * no TLS session cache shared between handles), certificate verified against CA_FILE. Every
 * answer must be 2xx. Prints one line:
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
    if (argc != 3) {
        fprintf(stderr, "usage: %s CA_FILE REQUESTS_FILE\n", argv[0]);
        return 2;
    }
    const char *ca = argv[1];
    FILE *in = fopen(argv[2], "r");
    if (!in) {
        fprintf(stderr, "post_noreuse: cannot read %s\n", argv[2]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static char line[1 << 16];
    long count = 0;
    double t0 = now_s();
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL;
        const char *method = strtok_r(line, "\t", &save);
        const char *url = strtok_r(NULL, "\t", &save);
        const char *body = strtok_r(NULL, "\t", &save);
        if (!method || !url || !body) {
            fprintf(stderr, "post_noreuse: line %ld: METHOD, URL and body expected\n", count + 1);
            return 2;
        }
        struct curl_slist *h = NULL;
        for (const char *hd; (hd = strtok_r(NULL, "\t", &save));)
            h = curl_slist_append(h, hd);
        CURL *e = curl_easy_init(); /* a new handle each time: nothing carried over */
        if (!e) {
            fprintf(stderr, "post_noreuse: curl_easy_init failed\n");
            return 1;
        }
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        if (strcmp(body, "-") != 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
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
        curl_slist_free_all(h);
        count++;
        if (rc != CURLE_OK || status < 200 || status > 299) {
            fprintf(stderr, "post_noreuse: request %ld (%s %s): %s, HTTP %ld\n", count, method, url,
                    curl_easy_strerror(rc), status);
            return 1;
        }
    }
    fclose(in);
    double el = now_s() - t0;
    printf("requests %ld elapsed_s %.3f rate %.1f\n", count, el, count / el);
    curl_global_cleanup();
    return 0;
}
