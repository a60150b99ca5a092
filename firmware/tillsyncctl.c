/*
 * tillsyncctl: the technician's tool. Talks to the running daemon over its control socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tillsyncctl --config PATH status [--json]\n"
               "       tillsyncctl --help | --version\n"
               "\n"
               "  status   what the running daemon holds and where delivery stands\n");
}

/* Reads only control_socket: a technician may check status without the daemon's secrets. */
static int control_path(const char *config_path, char *out, size_t cap)
{
    FILE *f = fopen(config_path, "r");
    if (!f) {
        fprintf(stderr, "tillsyncctl: cannot open %s: %s\n", config_path, strerror(errno));
        return -1;
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "control_socket");
    int ok = cJSON_IsString(v) && strlen(v->valuestring) < cap;
    if (ok)
        strcpy(out, v->valuestring);
    else
        fprintf(stderr, "tillsyncctl: %s: control_socket: missing\n", config_path);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

static char *ask(const char *path, const char *request)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "tillsyncctl: daemon not reachable at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    dprintf(fd, "%s\n", request);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - 1 - len)) > 0) {
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

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_human(const cJSON *s)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, "journal");
    printf("terminal   %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(s, "terminal_id")));
    printf("journal    %.0f of %.0f bytes used\n", num(j, "used_bytes"), num(j, "size_bytes"));
    printf("oldest     %.0f s queued\n", num(s, "oldest_queued_age_s"));
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(s, "backends"))
    {
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(b, "last_error"));
        printf("backend    %s: %.0f queued, %.0f in flight, %.0f delivered, %.0f dead-lettered, "
               "next attempt in %.0f s%s%s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(b, "name")), num(b, "queued"),
               num(b, "in_flight"), num(b, "delivered"), num(b, "dead_letter"),
               num(b, "next_attempt_in_s"), err ? ", last error: " : "", err ? err : "");
    }
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *cmd = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tillsyncctl %s\n", TILLSYNC_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (!cmd) {
            cmd = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!config_path || !cmd || strcmp(cmd, "status") != 0) {
        usage(stderr);
        return 2;
    }
    char path[108];
    if (control_path(config_path, path, sizeof path) != 0)
        return 2;
    char *reply = ask(path, "status");
    if (!reply)
        return 1;
    cJSON *s = cJSON_Parse(reply);
    if (!s) {
        fprintf(stderr, "tillsyncctl: unreadable answer from the daemon\n");
        free(reply);
        return 1;
    }
    if (json)
        fputs(reply, stdout);
    else
        print_human(s);
    cJSON_Delete(s);
    free(reply);
    return 0;
}
