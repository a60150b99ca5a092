/*
 * A backend's request on a libcurl easy handle, as every sender puts it there: the delivery
 * engine (delivery.c) and the technician's test-connection (tillsyncctl). One place, so that what
 * the tool proves is what the daemon sends: the same TLS rules, the same headers.
 */
#ifndef TILLSYNC_HTTP_SEND_H
#define TILLSYNC_HTTP_SEND_H

#include <curl/curl.h>

#include "backend.h"

/* A transfer handle as every request to this backend needs it: HTTPS only, certificates and host
 * name verified (never switchable off), bc->ca_file or the system's CA store, bounded by
 * bc->timeout_s, no signals, redirects not followed. NULL when out of memory. */
CURL *http_easy_new(const struct backend_config *bc);

/* Puts r on e: the URL (base_url + r->path), the method and body, and the headers (the engine's
 * Accept and Content-Type, then the backend's own, its authentication among them) in *sent, which
 * replaces and frees what *sent held. r->body and *sent must outlive the transfer; free *sent with
 * curl_slist_free_all() afterwards. Returns 0, or -1 when out of memory (*sent NULL then). */
int http_request_put(CURL *e, const char *base_url, const struct http_request *r,
                     struct curl_slist **sent);

#endif
