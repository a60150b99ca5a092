/*
 * What a backend's status says, in words a technician acts on: status and drain print the same
 * sentence for the same state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"

int ctl_backend_setting(const struct ctl *c, const char *backend, const char *key, char *out,
                        size_t cap)
{
    out[0] = '\0';
    cJSON *root = ctl_config_json(c, 1);
    const cJSON *b;
    int found = -1;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(root, "backends"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, key));
        if (name && v && strcmp(name, backend) == 0 && strlen(v) < cap) {
            strcpy(out, v);
            found = 0;
        }
    }
    cJSON_Delete(root);
    return found;
}

/* "HTTP 401" in text: its status, else 0 */
static int http_status_in(const char *text)
{
    const char *p = text ? strstr(text, "HTTP ") : NULL;
    return p ? atoi(p + 5) : 0;
}

/* " retry in 40 s" / " retrying now" */
static void retry_words(char *out, size_t cap, double in_s)
{
    char d[32];
    ctl_duration(d, sizeof d, in_s);
    if (in_s > 0)
        snprintf(out, cap, "retry in %s", d);
    else
        snprintf(out, cap, "retrying now");
}

enum ctl_mark ctl_backend_words(const struct ctl *c, const cJSON *b, const char **state, char *why,
                                size_t cap)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "state"));
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "last_error"));
    char retry[48], setting[512];
    retry_words(retry, sizeof retry, ctl_num(b, "next_attempt_in_s"));
    if (!st) /* a daemon from before states: its numbers say enough */
        st = ctl_num(b, "queued") > 0 ? (err ? "waiting" : "uploading") : "idle";
    *state = st;
    if (strcmp(st, "idle") == 0) {
        snprintf(why, cap, "everything delivered");
        return CTL_OK;
    }
    if (strcmp(st, "uploading") == 0) {
        snprintf(why, cap, "sending");
        return CTL_OK;
    }
    if (!err)
        err = "no error recorded";
    if (strcmp(st, "waiting") == 0) {
        /* the server answered, and not with what a sale needs: 5xx, 429, a redirect, a page */
        snprintf(why, cap, "%s after \"%s\"", retry, err);
        return CTL_WARN;
    }
    int status = http_status_in(err);
    if (strcmp(st, "paused") == 0) {
        if (status == 401 || status == 403) {
            if (ctl_backend_setting(c, name ? name : "", "api_key_file", setting, sizeof setting))
                snprintf(setting, sizeof setting, "the backend's api_key_file");
            snprintf(why, cap, "the server refused the API key (HTTP %d): check %s", status,
                     setting);
        } else if (status == 404 || status == 405) {
            ctl_backend_setting(c, name ? name : "", "base_url", setting, sizeof setting);
            snprintf(why, cap, "the server has no such endpoint (\"%s\"): check base_url %s", err,
                     setting);
        } else {
            snprintf(why, cap, "\"%s\"", err);
        }
        return CTL_FAIL;
    }
    /* offline: no HTTP answer at all; libcurl's words say which step failed */
    if (strstr(err, "resolve"))
        snprintf(why, cap, "the server's name does not resolve (\"%s\"): check DNS; %s", err,
                 retry);
    else if (strstr(err, "SSL") || strstr(err, "certificate"))
        snprintf(why, cap, "TLS failed (\"%s\"): check ca_file and the till's clock; %s", err,
                 retry);
    else if (strstr(err, "connect"))
        snprintf(why, cap, "cannot connect to the server (\"%s\"): check the network; %s", err,
                 retry);
    else if (strstr(err, "imeout") || strstr(err, "timed out"))
        snprintf(why, cap, "no answer in time (\"%s\"); %s", err, retry);
    else
        snprintf(why, cap, "no answer from the server (\"%s\"); %s", err, retry);
    return CTL_WARN;
}
