/*
 * The reflash export envelope (export_seal.h): AES-256-GCM over the payload, the header as
 * additional data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>

#include "export_seal.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void write_header(uint8_t *p, const struct export_header *h)
{
    memset(p, 0, EXPORT_HEADER_BYTES);
    memcpy(p, EXPORT_MAGIC, 8);
    p[8] = h->version;
    p[9] = h->kdf;
    put32(p + 12, h->key_id);
    put32(p + 16, h->iterations);
    memcpy(p + 20, h->salt, EXPORT_SALT_BYTES);
    memcpy(p + 36, h->nonce, sizeof h->nonce);
    put64(p + 48, h->payload_len);
}

static int pbkdf2(const char *passphrase, const uint8_t *salt, uint32_t iterations,
                  uint8_t out[DEVICE_KEY_BYTES])
{
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)passphrase, strlen(passphrase),
                                       salt, EXPORT_SALT_BYTES, iterations, DEVICE_KEY_BYTES, out);
    mbedtls_md_free(&md);
    return rc;
}

/* The GCM key of a file: HKDF of the device key for this purpose, or PBKDF2 of the passphrase. */
static int file_key(const struct export_header *h, const uint8_t *device_key,
                    const char *passphrase, uint8_t out[DEVICE_KEY_BYTES])
{
    if (h->kdf == EXPORT_KDF_DEVICE_KEY)
        return device_key_derive(device_key, EXPORT_PURPOSE, out);
    return pbkdf2(passphrase, h->salt, h->iterations, out);
}

static int gcm(const uint8_t key[DEVICE_KEY_BYTES], int encrypt, const uint8_t *hdr,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    int rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
    if (rc == 0)
        rc = encrypt
                 ? mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, hdr + 36, 12, hdr,
                                             EXPORT_HEADER_BYTES, in, out, EXPORT_TAG_BYTES, tag)
                 : mbedtls_gcm_auth_decrypt(&g, len, hdr + 36, 12, hdr, EXPORT_HEADER_BYTES, tag,
                                            EXPORT_TAG_BYTES, in, out);
    mbedtls_gcm_free(&g);
    return rc;
}

int export_seal(const struct export_secret *s, const void *payload, size_t len, uint8_t **out,
                size_t *outlen, char *err, size_t errlen)
{
    struct export_header h = {
        .version = EXPORT_VERSION, .kdf = (uint8_t)s->kdf, .payload_len = len};
    uint8_t key[DEVICE_KEY_BYTES];
    *out = NULL;
    if (s->kdf == EXPORT_KDF_DEVICE_KEY) {
        h.key_id = s->key_id;
    } else if (s->kdf == EXPORT_KDF_PASSPHRASE && s->passphrase) {
        h.iterations = s->iterations ? s->iterations : EXPORT_PBKDF2_ITERATIONS;
        if (device_random(h.salt, sizeof h.salt) != 0) {
            snprintf(err, errlen, "no randomness from the kernel for the salt");
            return -1;
        }
    } else {
        snprintf(err, errlen, "nothing to seal the file under");
        return -1;
    }
    if (device_random(h.nonce, sizeof h.nonce) != 0) {
        snprintf(err, errlen, "no randomness from the kernel for the nonce");
        return -1;
    }
    size_t total = EXPORT_HEADER_BYTES + len + EXPORT_TAG_BYTES;
    uint8_t *f = malloc(total);
    if (!f) {
        snprintf(err, errlen, "out of memory (%zu bytes)", total);
        return -1;
    }
    write_header(f, &h);
    int rc = file_key(&h, s->key, s->passphrase, key);
    if (rc == 0)
        rc = gcm(key, 1, f, payload, len, f + EXPORT_HEADER_BYTES, f + EXPORT_HEADER_BYTES + len);
    mbedtls_platform_zeroize(key, sizeof key);
    if (rc != 0) {
        snprintf(err, errlen, "encryption failed (mbedTLS error -0x%04x)", (unsigned)-rc);
        free(f);
        return -1;
    }
    *out = f;
    *outlen = total;
    return 0;
}

enum export_open_result export_parse_header(const uint8_t *file, size_t len,
                                            struct export_header *h, char *err, size_t errlen)
{
    if (len < 8 || memcmp(file, EXPORT_MAGIC, 8) != 0) {
        snprintf(err, errlen, "not a tillsync export file (it does not begin with %s)",
                 EXPORT_MAGIC);
        return EXPORT_NOT_EXPORT;
    }
    if (len < EXPORT_HEADER_BYTES + EXPORT_TAG_BYTES) {
        snprintf(err, errlen, "cut short: %zu bytes, less than a header and a tag", len);
        return EXPORT_TRUNCATED;
    }
    memset(h, 0, sizeof *h);
    h->version = file[8];
    h->kdf = file[9];
    h->key_id = get32(file + 12);
    h->iterations = get32(file + 16);
    memcpy(h->salt, file + 20, sizeof h->salt);
    memcpy(h->nonce, file + 36, sizeof h->nonce);
    h->payload_len = get64(file + 48);
    if (h->version != EXPORT_VERSION) {
        snprintf(err, errlen,
                 "export format version %u, this tillsyncctl reads version %u: import it with "
                 "the tillsync release that wrote it, or a newer one",
                 h->version, EXPORT_VERSION);
        return EXPORT_BAD_VERSION;
    }
    if (h->kdf != EXPORT_KDF_DEVICE_KEY && h->kdf != EXPORT_KDF_PASSPHRASE) {
        snprintf(err, errlen,
                 "unknown key derivation %u in the header: not written by tillsync "
                 "or damaged",
                 h->kdf);
        return EXPORT_BAD_VERSION;
    }
    if (h->kdf == EXPORT_KDF_PASSPHRASE &&
        (h->iterations < EXPORT_PBKDF2_MIN || h->iterations > EXPORT_PBKDF2_MAX)) {
        snprintf(err, errlen,
                 "the header asks for %u PBKDF2 iterations (tillsync writes %u, reads %u to %u): "
                 "damaged or not written by tillsync",
                 h->iterations, EXPORT_PBKDF2_ITERATIONS, EXPORT_PBKDF2_MIN, EXPORT_PBKDF2_MAX);
        return EXPORT_BAD_TAG;
    }
    if (h->payload_len != len - EXPORT_HEADER_BYTES - EXPORT_TAG_BYTES) {
        snprintf(err, errlen,
                 "the header says %llu bytes of content, the file has %zu: cut short or "
                 "appended to",
                 (unsigned long long)h->payload_len, len - EXPORT_HEADER_BYTES - EXPORT_TAG_BYTES);
        return EXPORT_TRUNCATED;
    }
    return EXPORT_OPENED;
}

enum export_open_result export_open(const uint8_t *file, size_t len, const struct device_key *k,
                                    const char *passphrase, uint8_t **payload, size_t *payload_len,
                                    struct export_header *h, char *err, size_t errlen)
{
    *payload = NULL;
    enum export_open_result res = export_parse_header(file, len, h, err, errlen);
    if (res != EXPORT_OPENED)
        return res;
    const uint8_t *device_key = NULL;
    if (h->kdf == EXPORT_KDF_PASSPHRASE && !passphrase) {
        snprintf(err, errlen, "it was exported with a passphrase: give it with --passphrase-file");
        return EXPORT_NEED_SECRET;
    }
    if (h->kdf == EXPORT_KDF_DEVICE_KEY) {
        for (unsigned i = 0; k && i < k->n && !device_key; i++)
            if (k->ids[i] == h->key_id)
                device_key = k->keys[i];
        if (!device_key && !(k && k->n)) {
            snprintf(err, errlen,
                     "it is sealed under device key %08x and this device has no key: put that "
                     "key file in place, or use --passphrase-file if it was exported with one",
                     h->key_id);
            return EXPORT_NEED_SECRET;
        }
        if (!device_key) {
            snprintf(err, errlen,
                     "not for this device key: it is sealed under device key %08x, this device "
                     "has %08x; use --passphrase-file if it was exported with one",
                     h->key_id, k->ids[0]);
            return EXPORT_NO_SUCH_KEY;
        }
    }
    size_t n = (size_t)h->payload_len;
    uint8_t key[DEVICE_KEY_BYTES];
    uint8_t *out = malloc(n + 1);
    if (!out) {
        snprintf(err, errlen, "out of memory (%zu bytes)", n + 1);
        return EXPORT_OPEN_FAILED;
    }
    int rc = file_key(h, device_key, passphrase, key);
    if (rc != 0) {
        mbedtls_platform_zeroize(key, sizeof key);
        free(out);
        snprintf(err, errlen, "key derivation failed (mbedTLS error -0x%04x)", (unsigned)-rc);
        return EXPORT_OPEN_FAILED;
    }
    rc = gcm(key, 0, file, file + EXPORT_HEADER_BYTES, n, out,
             (uint8_t *)file + EXPORT_HEADER_BYTES + n);
    mbedtls_platform_zeroize(key, sizeof key);
    if (rc != 0) {
        mbedtls_platform_zeroize(out, n);
        free(out);
        snprintf(err, errlen,
                 "changed since it was exported, or not for this device key: use "
                 "--passphrase-file if it was exported with one");
        return EXPORT_BAD_TAG;
    }
    out[n] = '\0';
    *payload = out;
    *payload_len = n;
    return EXPORT_OPENED;
}
