/*
 * Reading the configuration's JSON keys and the secret files it names. Shared by the loader
 * (app/config.c) and by each backend, which parses its own keys: every refusal names the key, as
 * "<prefix><key>: <why>", and only the first is kept.
 */
#ifndef TILLSYNC_CONF_READ_H
#define TILLSYNC_CONF_READ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

struct conf_ctx {
    char *err;
    size_t errlen;
    int failed;
    const char *prefix; /* where the object being parsed sits, e.g. "backends[1]." */
};

/* Records the first error (printf-style); returns -1. */
__attribute__((format(printf, 2, 3))) int conf_fail(struct conf_ctx *c, const char *fmt, ...);
/* Refuses keys of obj outside keys (NULL-terminated) and keys given twice, naming them. */
int conf_only_keys(struct conf_ctx *c, const cJSON *obj, const char *path, const char *const *keys);
/* A non-empty string of fewer than cap bytes. Returns 1 (found), 0 (absent, not required) or
 * -1 (refused). */
int conf_str(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key, char *dst,
             size_t cap, int required);
/* An integer from lo to hi; returns as conf_str. */
int conf_uint(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key,
              uint64_t *dst, uint64_t lo, uint64_t hi, int required);
/* "a directory", "a FIFO" ...: what a path is when it is not a regular file. */
const char *conf_file_kind(mode_t mode);
/* Opens a regular file for reading (never waits on a FIFO); returns the fd or -1. */
int conf_open_regular(struct conf_ctx *c, const char *key, const char *file, int flags,
                      struct stat *st);
/* Reads a secret from file, refusing a file readable by group or others (and saying how to fix
 * it), empty, too long, or holding control characters. Returns 0 or -1. */
int conf_read_secret(struct conf_ctx *c, const char *key, const char *file, char *dst, size_t cap);
/* A required key naming a secret file (e.g. "api_key_file"), and the secret read from it. */
int conf_secret_file(struct conf_ctx *c, const cJSON *obj, const char *path, const char *key,
                     char *dst, size_t cap);

#endif
