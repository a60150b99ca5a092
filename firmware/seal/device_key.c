/*
 * The device key file (device_key.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "device_key.h"

int device_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

uint32_t device_key_id(const uint8_t key[DEVICE_KEY_BYTES])
{
    static const char label[] = "tillsync key id";
    uint8_t in[sizeof label - 1 + DEVICE_KEY_BYTES], h[32];
    memcpy(in, label, sizeof label - 1);
    memcpy(in + sizeof label - 1, key, DEVICE_KEY_BYTES);
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), in, sizeof in, h);
    mbedtls_platform_zeroize(in, sizeof in);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int device_key_derive(const uint8_t key[DEVICE_KEY_BYTES], const char *purpose,
                      uint8_t out[DEVICE_KEY_BYTES])
{
    return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, key,
                        DEVICE_KEY_BYTES, (const unsigned char *)purpose, strlen(purpose), out,
                        DEVICE_KEY_BYTES) == 0
               ? 0
               : -1;
}

void device_key_clear(struct device_key *k)
{
    mbedtls_platform_zeroize(k, sizeof *k);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One key per line, 64 hex digits; blank lines and trailing whitespace allowed. */
static int parse_hex(const char *text, size_t len, struct device_key *k)
{
    size_t i = 0;
    k->n = 0;
    while (i < len) {
        while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i == len)
            break;
        if (k->n == DEVICE_KEY_MAX || len - i < 2 * DEVICE_KEY_BYTES)
            return -1;
        for (unsigned b = 0; b < DEVICE_KEY_BYTES; b++) {
            int hi = hexval(text[i + 2 * b]), lo = hexval(text[i + 2 * b + 1]);
            if (hi < 0 || lo < 0)
                return -1;
            k->keys[k->n][b] = (uint8_t)(hi << 4 | lo);
        }
        i += 2 * DEVICE_KEY_BYTES;
        if (i < len && text[i] != '\n' && text[i] != '\r' && text[i] != ' ' && text[i] != '\t')
            return -1;
        k->n++;
    }
    return k->n ? 0 : -1;
}

static int create_key(const char *path, char *err, size_t errlen)
{
    uint8_t key[DEVICE_KEY_BYTES];
    char hex[2 * DEVICE_KEY_BYTES + 2];
    if (device_random(key, sizeof key) != 0) {
        snprintf(err, errlen, "%s: no randomness from the kernel: %s", path, strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < DEVICE_KEY_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[2 * DEVICE_KEY_BYTES] = '\n';
    hex[2 * DEVICE_KEY_BYTES + 1] = '\0';
    mbedtls_platform_zeroize(key, sizeof key);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot create the device key: %s", path, strerror(e));
        mbedtls_platform_zeroize(hex, sizeof hex);
        errno = e;
        return -1;
    }
    ssize_t n = write(fd, hex, sizeof hex - 1);
    if (n >= 0 && n < (ssize_t)(sizeof hex - 1))
        errno = ENOSPC; /* a short write sets no errno of its own */
    int ok = n == (ssize_t)(sizeof hex - 1) && fsync(fd) == 0;
    mbedtls_platform_zeroize(hex, sizeof hex);
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write the device key: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    /* The new name must outlive a power cut too: a key lost is every sealed sale unreadable. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int device_key_load(const char *path, int create, struct device_key *k, char *err, size_t errlen)
{
    int created = 0;
    memset(k, 0, sizeof *k);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        /* EEXIST: another process (provision, a second start) made it meanwhile: use that one */
        if (create_key(path, err, errlen) == 0)
            created = 1;
        else if (errno != EEXIST)
            return -1;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open the device key: %s%s", path, strerror(errno),
                 errno == ENOENT ? " (tillsyncctl provision creates it)" : "");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: the device key must be a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s: the device key is readable or writable by group or others (mode %03o); "
                 "fix with: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    char text[DEVICE_KEY_MAX * (2 * DEVICE_KEY_BYTES + 2) + 64];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    int rc = -1;
    if (n == DEVICE_KEY_BYTES && parse_hex(text, (size_t)n, k) != 0) {
        memcpy(k->keys[0], text, DEVICE_KEY_BYTES); /* raw bytes, e.g. a secure element's export */
        k->n = 1;
        rc = 0;
    } else if (n > 0 && n < (ssize_t)sizeof text) {
        rc = parse_hex(text, (size_t)n, k);
    }
    mbedtls_platform_zeroize(text, sizeof text);
    if (rc != 0) {
        device_key_clear(k);
        snprintf(err, errlen,
                 "%s: not a device key: 32 bytes, or up to %d lines of 64 hex digits expected",
                 path, DEVICE_KEY_MAX);
        return -1;
    }
    for (unsigned i = 0; i < k->n; i++)
        k->ids[i] = device_key_id(k->keys[i]);
    return created;
}
