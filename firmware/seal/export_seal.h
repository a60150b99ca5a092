/*
 * The reflash export file's envelope (docs/FORMAT.md, "Reflash export file"): a payload sealed
 * with AES-256-GCM under a key derived from the device key, or from a technician's passphrase
 * when the board itself is replaced. The 56-byte header is authenticated as additional data, so
 * neither the key choice nor the length can be changed unnoticed.
 *
 *   0  "TSEXPORT"                   8  version (1)            9  kdf (1 device key, 2 passphrase)
 *  10  reserved, 0 (2)             12  key id (4, big-endian; kdf 1, else 0)
 *  16  PBKDF2 iterations (4, kdf 2, else 0)                  20  salt (16; kdf 2, else zeros)
 *  36  nonce (12)                  48  payload length (8, big-endian)
 *  56  ciphertext (payload length bytes), then the GCM tag (16)
 */
#ifndef TILLSYNC_EXPORT_SEAL_H
#define TILLSYNC_EXPORT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "device_key.h"

#define EXPORT_MAGIC        "TSEXPORT"
#define EXPORT_VERSION      1
#define EXPORT_HEADER_BYTES 56
#define EXPORT_TAG_BYTES    16
#define EXPORT_SALT_BYTES   16
/* PBKDF2-HMAC-SHA-256 work: what export writes, and the range import accepts (a header asking for
 * more is refused before any work is done: it is not authenticated until the key is derived). */
#define EXPORT_PBKDF2_ITERATIONS 300000u
#define EXPORT_PBKDF2_MIN        200000u
#define EXPORT_PBKDF2_MAX        10000000u
#define EXPORT_PASSPHRASE_MIN    8                    /* characters */
#define EXPORT_PURPOSE           "tillsync export v1" /* device_key_derive() purpose */

enum export_kdf { EXPORT_KDF_DEVICE_KEY = 1, EXPORT_KDF_PASSPHRASE = 2 };

struct export_header {
    uint8_t version, kdf;
    uint32_t key_id, iterations;
    uint8_t salt[EXPORT_SALT_BYTES];
    uint8_t nonce[12];
    uint64_t payload_len;
};

/* What the file is sealed under: the current device key (key, key_id), or a passphrase. */
struct export_secret {
    enum export_kdf kdf;
    const uint8_t *key; /* DEVICE_KEY_BYTES, kdf 1 */
    uint32_t key_id;
    const char *passphrase; /* kdf 2 */
    uint32_t iterations;    /* kdf 2; 0: EXPORT_PBKDF2_ITERATIONS */
};

/* The whole file for a payload: *out malloc'd (EXPORT_HEADER_BYTES + len + EXPORT_TAG_BYTES).
 * Fresh random nonce (and salt). Returns 0 or -1 with err. */
int export_seal(const struct export_secret *s, const void *payload, size_t len, uint8_t **out,
                size_t *outlen, char *err, size_t errlen);

enum export_open_result {
    EXPORT_OPENED = 0,
    EXPORT_NOT_EXPORT = -1,  /* no magic, or shorter than a header and a tag */
    EXPORT_BAD_VERSION = -2, /* a version or kdf this firmware does not know */
    EXPORT_TRUNCATED = -3,   /* the length in the header is not the file's */
    EXPORT_NEED_SECRET = -4, /* kdf 2 and no passphrase, or kdf 1 and no device key */
    EXPORT_NO_SUCH_KEY = -5, /* kdf 1: its key id is none of this device's keys */
    EXPORT_BAD_TAG = -6,     /* the tag fails: changed, or another key or passphrase */
    EXPORT_OPEN_FAILED = -7, /* out of memory, a crypto library error */
};

/* Reads and checks the header (magic, version, kdf, iterations, length) without any key. */
enum export_open_result export_parse_header(const uint8_t *file, size_t len,
                                            struct export_header *h, char *err, size_t errlen);

/* Authenticates and decrypts the file. k: this device's keys (kdf 1; may be NULL or empty),
 * passphrase: the technician's (kdf 2; may be NULL). *payload malloc'd with a NUL after it. */
enum export_open_result export_open(const uint8_t *file, size_t len, const struct device_key *k,
                                    const char *passphrase, uint8_t **payload, size_t *payload_len,
                                    struct export_header *h, char *err, size_t errlen);

#endif
