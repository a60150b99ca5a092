/* readdir on 32-bit ARM: 64-bit directory offsets (ext4 hashes, seen under qemu-arm) */
#define _FILE_OFFSET_BITS 64
#include "receipt_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "card_mask.h"
#include "escpos.h"

#define NAME_MAX_LEN 40
#define FILES_MAX    10000 /* receipt_conf's bound on unreadable_max */
#define FILE_MAX     (ESCPOS_TEXT_MAX + 1024)

/* Kept files are "<ms since the epoch, 13 digits>-<n>.txt": their names sort oldest first. */
static int is_kept(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && n < NAME_MAX_LEN && name[0] >= '0' && name[0] <= '9' &&
           strcmp(name + n - 4, ".txt") == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The kept names in dir, sorted (malloc'd, free each and the array). Temporaries a crash left
 * are removed. */
static int names(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (!is_kept(e->d_name) || len == FILES_MAX * 2)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[len] = strdup(e->d_name);
        if (v[len])
            len++;
    }
    closedir(d);
    if (len)
        qsort(v, len, sizeof *v, by_name);
    *out = v;
    *n = len;
    return 0;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int receipt_store_put(const char *dir, unsigned max, uint64_t wall_ms, const char *why,
                      size_t dropped, const char *text, size_t len, char *err, size_t errlen)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    char **v;
    size_t n;
    if (names(dir, &v, &n) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i + max <= n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, v[i]);
        unlink(path);
    }
    free_names(v, n);

    char *buf = malloc(FILE_MAX);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char when[32];
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (len > ESCPOS_TEXT_MAX)
        len = ESCPOS_TEXT_MAX;
    int head = snprintf(buf, FILE_MAX,
                        "tillsync unreadable receipt\ncut: %s\nwhy: %s\nleft out: %zu bytes of "
                        "text (receipt longer than %d)\n\n",
                        when, why, dropped, ESCPOS_TEXT_MAX);
    if (head < 0 || (size_t)head >= FILE_MAX - len) {
        free(buf);
        snprintf(err, errlen, "reason too long");
        return -1;
    }
    memcpy(buf + head, text, len);
    size_t total = (size_t)head + len;
    card_mask(buf, total); /* the reason quotes receipt text too */

    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.tmp-%013llu", dir, (unsigned long long)wall_ms);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        free(buf);
        return -1;
    }
    int ok = write_all(fd, buf, total) == 0 && fsync(fd) == 0;
    int e = errno;
    free(buf);
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        return -1;
    }
    struct stat st;
    for (unsigned k = 0;; k++) {
        snprintf(path, sizeof path, "%s/%013llu-%u.txt", dir, (unsigned long long)wall_ms, k);
        if (lstat(path, &st) != 0)
            break;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(e));
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        if (dfd >= 0)
            close(dfd);
        snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(e));
        return -1;
    }
    close(dfd);
    return 0;
}

int receipt_store_list(const char *dir, receipt_store_fn fn, void *ctx)
{
    char **v;
    size_t n;
    if (names(dir, &v, &n) != 0)
        return -1;
    char *buf = malloc(FILE_MAX + 1);
    int listed = 0;
    for (size_t i = 0; buf && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, v[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue; /* removed meanwhile */
        ssize_t r = read(fd, buf, FILE_MAX);
        close(fd);
        if (r < 0)
            continue;
        buf[r] = '\0';
        listed++;
        if (fn(ctx, v[i], buf, (size_t)r))
            break;
    }
    free(buf);
    free_names(v, n);
    return listed;
}
