/*
 * The device key: the secret this terminal's customer data is sealed under (customer_seal.h)
 * and a reflash export is sealed under (unless a passphrase replaces it). One file, mode 600,
 * created once (by `tillsyncctl provision` or the daemon's first start) and never logged.
 *
 * The file holds 32 raw bytes (a secure element's export, as a board may name it), or one key
 * per line as 64 hex digits. The first key seals; the others only open what older keys sealed:
 * rotation is a new first line and a SIGHUP, and the old line goes once nothing sealed under it
 * is left in the journal (docs/DESIGN.md, "Customer data at rest").
 */
#ifndef TILLSYNC_DEVICE_KEY_H
#define TILLSYNC_DEVICE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define DEVICE_KEY_BYTES 32
#define DEVICE_KEY_MAX   4 /* the current key and up to 3 older ones */

struct device_key {
    unsigned n; /* keys[0] is current */
    uint8_t keys[DEVICE_KEY_MAX][DEVICE_KEY_BYTES];
    uint32_t ids[DEVICE_KEY_MAX]; /* device_key_id() of each */
};

/*
 * Reads the key file. create: a missing file is made (O_EXCL, mode 600, 32 random bytes from the
 * kernel, as hex, synced with its directory). Refused: a file readable or writable by group or
 * others, not a regular file, or malformed; err says which and how to fix it, and never holds a
 * byte of the key. Returns 0, 1 if it was created, or -1.
 */
int device_key_load(const char *path, int create, struct device_key *k, char *err, size_t errlen);
/* Wipes the keys from memory. */
void device_key_clear(struct device_key *k);

/* A key's public name: the first 4 bytes of SHA-256("tillsync key id" || key), big-endian.
 * Shown in status and verify so a technician can tell keys apart without seeing one. */
uint32_t device_key_id(const uint8_t key[DEVICE_KEY_BYTES]);

/* A purpose's own 32-byte key: HKDF-SHA-256(key, info = purpose). Purposes in use:
 * "tillsync customer v1" (journal), "tillsync export v1" (reflash files). Returns 0 or -1. */
int device_key_derive(const uint8_t key[DEVICE_KEY_BYTES], const char *purpose,
                      uint8_t out[DEVICE_KEY_BYTES]);

/* Fills buf from the kernel's CSPRNG (getrandom). Returns 0 or -1. */
int device_random(void *buf, size_t len);

#endif
