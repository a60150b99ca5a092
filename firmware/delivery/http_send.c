#include "http_send.h"

#include <stdio.h>
#include <string.h>

CURL *http_easy_new(const struct backend_config *bc)
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

int http_request_put(CURL *e, const char *base_url, const struct http_request *r,
                     struct curl_slist **sent)
{
    char url[sizeof((struct backend_config *)0)->base_url + BACKEND_PATH_MAX];
    snprintf(url, sizeof url, "%s%s", base_url, r->path);
    curl_slist_free_all(*sent);
    *sent = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json"), *more = h;
    if (more && r->method == HTTP_POST)
        more = curl_slist_append(h, "Content-Type: application/json");
    for (const struct curl_slist *it = r->headers; more && it; it = it->next)
        more = curl_slist_append(h, it->data);
    if (!more) {
        curl_slist_free_all(h);
        return -1;
    }
    *sent = h;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (r->method == HTTP_POST) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(r->body ? strlen(r->body) : 0));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    return 0;
}
