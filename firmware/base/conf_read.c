/* Reading configuration keys and secret files, for the loader and for backends' own keys. */
#include "conf_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int conf_fail(struct conf_ctx *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        c->failed = 1;
    }
    return -1;
}

/* Refuses keys outside the allowed list, naming the first stranger. */
int conf_only_keys(struct conf_ctx *c, const cJSON *obj, const char *path, const char *const *keys)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        int known = 0;
        /* Echoing such a key would break the one-line error: name the object instead. */
        for (const char *p = it->string; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return conf_fail(c, "%.*s: a key holds a control character",
                                 path[0] ? (int)strlen(path) - 1 : 6, path[0] ? path : "config");
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, it->string) == 0;
        if (!known)
            return conf_fail(c, "%s%s: unknown key", path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return conf_fail(c, "%s%s: given more than once", path, it->string);
    }
    return 0;
}

int conf_str(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key, char *dst,
             size_t cap, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return required ? conf_fail(c, "%s%s: required", path, key) : 0;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return conf_fail(c, "%s%s: must be a non-empty string", path, key);
    if (strlen(v->valuestring) >= cap)
        return conf_fail(c, "%s%s: longer than %zu bytes", path, key, cap - 1);
    strcpy(dst, v->valuestring);
    return 1;
}

int conf_uint(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key,
              uint64_t *dst, uint64_t lo, uint64_t hi, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return required ? conf_fail(c, "%s%s: required", path, key) : 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return conf_fail(c, "%s%s: must be an integer from %llu to %llu", path, key,
                         (unsigned long long)lo, (unsigned long long)hi);
    *dst = (uint64_t)v->valuedouble;
    return 1;
}

const char *conf_file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISLNK(mode)  ? "a symbolic link"
                            : "something else";
}

/* Opens a file the configuration names for reading, refusing all but a regular file: open() of
 * a FIFO waits for a writer (the daemon hung at start, silent), and a device, socket or
 * directory is no key or certificate file either. O_NONBLOCK keeps that open() from waiting. */
int conf_open_regular(struct conf_ctx *c, const char *key, const char *file, int flags,
                      struct stat *st)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0) {
        int e = errno;
        /* a socket cannot be opened (ENXIO), a symbolic link not with O_NOFOLLOW (ELOOP) */
        if (lstat(file, st) == 0 && !S_ISREG(st->st_mode))
            return conf_fail(c, "%s: %s is %s, not a regular file", key, file,
                             conf_file_kind(st->st_mode));
        return conf_fail(c, "%s: cannot open %s: %s", key, file, strerror(e));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return conf_fail(c, "%s: cannot stat %s: %s", key, file, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return conf_fail(c, "%s: %s is %s, not a regular file", key, file,
                         conf_file_kind(st->st_mode));
    }
    return fd;
}

/* Reads a secret, refusing files others could read: the key would leak to any local user. */
int conf_read_secret(struct conf_ctx *c, const char *key, const char *file, char *dst, size_t cap)
{
    struct stat st;
    int fd = conf_open_regular(c, key, file, O_NOFOLLOW, &st);
    if (fd < 0)
        return -1;
    if (st.st_mode & 077) {
        close(fd);
        return conf_fail(c, "%s: %s is readable by group or others; fix with: chmod 600 %s", key,
                         file, file);
    }
    ssize_t n = read(fd, dst, cap - 1);
    close(fd);
    if (n < 0)
        return conf_fail(c, "%s: cannot read %s: %s", key, file, strerror(errno));
    dst[n] = '\0';
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r' || dst[n - 1] == ' '))
        dst[--n] = '\0';
    if (n == 0)
        return conf_fail(c, "%s: %s is empty", key, file);
    if ((size_t)n == cap - 1)
        return conf_fail(c, "%s: %s holds more than %zu bytes", key, file, cap - 2);
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
            return conf_fail(c, "%s: %s holds control characters", key, file);
    return 0;
}

int conf_secret_file(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key,
                     char *dst, size_t cap)
{
    char file[4096], label[96];
    if (conf_str(c, obj, path, key, file, sizeof file, 1) < 0)
        return -1;
    snprintf(label, sizeof label, "%s%s", path, key);
    return conf_read_secret(c, label, file, dst, cap);
}
