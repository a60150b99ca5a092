/* What every backend shares: requests, ids in answers. */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

int http_request_init(struct http_request *r, enum http_method method, const char *fmt, ...)
{
    *r = (struct http_request){.method = method};
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->path, sizeof r->path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof r->path) {
        r->path[0] = '\0';
        return -1;
    }
    return 0;
}

int http_request_header(struct http_request *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    struct curl_slist *h = curl_slist_append(r->headers, line);
    if (!h)
        return -1;
    r->headers = h;
    return 0;
}

int http_request_json(struct http_request *r, cJSON *body)
{
    free(r->body);
    r->body = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    return r->body ? 0 : -1;
}

void http_request_clear(struct http_request *r)
{
    free(r->body);
    curl_slist_free_all(r->headers);
    *r = (struct http_request){.method = HTTP_GET};
}

void http_request_describe(const struct http_request *r, char *out, size_t cap)
{
    size_t path_len = strcspn(r->path, "?");
    snprintf(out, cap, "%s %.*s", r->method == HTTP_POST ? "POST" : "GET", (int)path_len, r->path);
}

int http_query_escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (n + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

const char *backend_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int backend_json_id(const cJSON *v, int64_t *id, char *what, size_t whatlen)
{
    const char *kind = !v                  ? "missing"
                       : cJSON_IsString(v) ? "a string"
                       : cJSON_IsNull(v)   ? "null"
                       : cJSON_IsBool(v)   ? "a boolean"
                       : cJSON_IsObject(v) ? "an object"
                       : cJSON_IsArray(v)  ? "an array"
                                           : NULL;
    if (!kind) {
        double d = v->valuedouble;
        /* The range test comes first (and fails for NaN): converting a double outside int64_t's
         * range is undefined behaviour, and 1e300 is a valid JSON number. */
        if (d >= 1 && d <= (double)BACKEND_ID_MAX && (double)(int64_t)d == d) {
            *id = (int64_t)d;
            return 1;
        }
        if (what)
            snprintf(what, whatlen, "%.15g", d);
        return 0;
    }
    if (what)
        snprintf(what, whatlen, "%s", kind);
    return 0;
}
