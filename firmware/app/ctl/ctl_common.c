/*
 * What tillsyncctl's commands share: the configuration, the control socket, the output.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ctl.h"

int ctl_load_config(const struct ctl *c, struct config *cfg)
{
    char err[512];
    if (config_load(c->config_path, cfg, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "tillsyncctl: %s\n", err);
    return -1;
}

cJSON *ctl_config_json(const struct ctl *c, int quiet)
{
    FILE *f = fopen(c->config_path, "r");
    if (!f) {
        if (!quiet)
            fprintf(stderr, "tillsyncctl: cannot open %s: %s\n", c->config_path, strerror(errno));
        return NULL;
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    if (!root && !quiet)
        fprintf(stderr, "tillsyncctl: %s is not JSON\n", c->config_path);
    return root;
}

int ctl_config_string(const struct ctl *c, const char *section, const char *key, char *out,
                      size_t cap)
{
    cJSON *root = ctl_config_json(c, 0);
    if (!root)
        return -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        section ? cJSON_GetObjectItemCaseSensitive(root, section) : root, key);
    int ok = cJSON_IsString(v) && strlen(v->valuestring) < cap;
    if (ok)
        strcpy(out, v->valuestring);
    else
        fprintf(stderr, "tillsyncctl: %s: %s%s%s: missing\n", c->config_path,
                section ? section : "", section ? "." : "", key);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

#define ASK_TIMEOUT_S 10

static char *ask_path(const char *path, const char *request)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A stopped or wedged daemon must not hang the technician's tool: connect (a full backlog),
     * send and every read give up after ASK_TIMEOUT_S. */
    struct timeval tv = {.tv_sec = ASK_TIMEOUT_S};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EAGAIN)
            fprintf(stderr,
                    "tillsyncctl: no answer from the daemon at %s within %d s: it is not "
                    "accepting connections (stopped or overloaded?)\n",
                    path, ASK_TIMEOUT_S);
        else
            fprintf(stderr, "tillsyncctl: daemon not reachable at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    /* MSG_NOSIGNAL: a daemon that closed first is reported, not a silent death by SIGPIPE. */
    char line[160];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "tillsyncctl: daemon at %s closed the connection: %s\n", path,
                strerror(errno));
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tillsyncctl: no answer from the daemon at %s within %d s%s\n", path,
                    ASK_TIMEOUT_S, errno == EAGAIN ? " (stopped or overloaded?)" : "");
            free(buf);
            buf = NULL;
            break;
        }
        len += (size_t)r;
        if (len == cap - 1) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

char *ctl_ask_raw(const struct ctl *c, const char *request)
{
    char path[108];
    if (ctl_config_string(c, NULL, "control_socket", path, sizeof path) != 0)
        return NULL;
    return ask_path(path, request);
}

cJSON *ctl_ask(const struct ctl *c, const char *request)
{
    char *reply = ctl_ask_raw(c, request);
    if (!reply)
        return NULL;
    cJSON *s = cJSON_Parse(reply);
    free(reply);
    if (!s) {
        fprintf(stderr, "tillsyncctl: unreadable answer from the daemon\n");
        return NULL;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(s, "error");
    if (cJSON_IsString(error)) {
        fprintf(stderr, "tillsyncctl: %s\n", error->valuestring);
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

const char *ctl_colour(const struct ctl *c, enum ctl_mark m)
{
    static const char *const codes[] = {"\033[32m", "\033[33m", "\033[1;31m", "\033[36m"};
    return c->colour ? codes[m] : "";
}

const char *ctl_reset(const struct ctl *c)
{
    return c->colour ? "\033[0m" : "";
}

void ctl_line(const struct ctl *c, const char *label, const char *fmt, ...)
{
    va_list ap;
    (void)c;
    printf("%-11s", label);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void ctl_check(const struct ctl *c, enum ctl_mark m, const char *what, const char *fmt, ...)
{
    static const char *const words[] = {"ok", "warn", "FAIL", "note"};
    va_list ap;
    printf("  %s%-5s%s %-12s ", ctl_colour(c, m), words[m], ctl_reset(c), what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void ctl_hint(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    (void)c;
    printf("%21s", "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

double ctl_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void ctl_duration(char *out, size_t cap, double seconds)
{
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s < 120)
        snprintf(out, cap, "%ld s", s);
    else if (s < 7200)
        snprintf(out, cap, "%ld min", s / 60);
    else if (s < 2 * 86400)
        snprintf(out, cap, "%ld h %ld min", s / 3600, s % 3600 / 60);
    else
        snprintf(out, cap, "%ld d %ld h", s / 86400, s % 86400 / 3600);
}
