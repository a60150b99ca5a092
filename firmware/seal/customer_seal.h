/*
 * Customer data at rest: the "customer" object of a normalised sale (email, phone, names, id) is
 * kept on flash only as AES-256-GCM ciphertext under a key derived from the device key, bound to
 * the sale's txn (additional data) so it cannot be moved to another sale unnoticed. Everything
 * else of the sale stays readable, as FORMAT.md's readers and the dead-letter tools need it.
 *
 * The stored body has, in place of "customer", one member
 *     "customer_sealed": base64( 0x01 | key id (4, big-endian) | nonce (12) | ciphertext | tag (16)
 * ) where the plaintext is the customer object printed by cJSON_PrintUnformatted and the additional
 * data is "tillsync customer v1\0" followed by the txn. Nonces are random (96 bits).
 */
#ifndef TILLSYNC_CUSTOMER_SEAL_H
#define TILLSYNC_CUSTOMER_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "device_key.h"

#define CUSTOMER_SEAL_VERSION 1

/*
 * The body to store for a normalised sale body: the same JSON with its customer sealed under
 * k->keys[0] in the customer's place, or a copy of body when it has no customer. *out is
 * malloc'd and NUL-terminated. Returns 0, or -1 (not a JSON object, a customer and no key, out
 * of memory, no randomness) with err. Opening what it returns gives back body byte for byte when
 * body is cJSON_PrintUnformatted output, as sale.c's is.
 */
int customer_seal(const struct device_key *k, const char *txn, const char *body, size_t len,
                  char **out, size_t *outlen, char *err, size_t errlen);

enum customer_open_result {
    CUSTOMER_PLAIN = 0,    /* nothing sealed in it: *out is NULL, use the body as it is */
    CUSTOMER_OPENED = 1,   /* *out is the body with "customer" restored (malloc'd) */
    CUSTOMER_BAD_TAG = -1, /* sealed under a key we have, and it does not authenticate: changed
                              on flash, or moved from another sale */
    CUSTOMER_NO_KEY = -2,  /* sealed under a key this terminal does not have (why names its id) */
    CUSTOMER_BROKEN = -3,  /* not JSON, not base64, too short, an unknown seal version */
};

/* The body to deliver (or export) from a stored body. why gets a sentence for the dead letter
 * and for verify; it never holds customer data. k may be NULL or hold no key (a tool without the
 * key file): a sealed body is then CUSTOMER_NO_KEY. */
enum customer_open_result customer_open(const struct device_key *k, const char *txn,
                                        const char *body, size_t len, char **out, size_t *outlen,
                                        char *why, size_t whylen);

/* Whether body holds a sealed customer: 1 and *id the key it is sealed under (readable without
 * the key: tools name the key a sale needs), 0 if it holds none, -1 if the seal is damaged. */
int customer_sealed_key_id(const char *body, size_t len, uint32_t *id);

#endif
