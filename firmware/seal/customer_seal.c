/*
 * The customer object sealed with AES-256-GCM (customer_seal.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#include "customer_seal.h"

#define PURPOSE   "tillsync customer v1"
#define SEAL_HEAD (1 + 4 + 12) /* version, key id, nonce */
#define SEAL_TAG  16
#define MEMBER    "customer_sealed"
#define MAX_TXN   64 /* sale.h, journal.h */

/* "tillsync customer v1\0" then the txn: the ciphertext belongs to this sale only. A txn no sale
 * can have gives 0: cut short, two txns would share additional data. */
static size_t make_aad(unsigned char aad[sizeof PURPOSE + MAX_TXN], const char *txn)
{
    size_t p = sizeof PURPOSE, t = txn ? strlen(txn) : MAX_TXN + 1;
    if (t > MAX_TXN)
        return 0;
    memcpy(aad, PURPOSE, p);
    memcpy(aad + p, txn, t);
    return p + t;
}

static int gcm_run(const uint8_t key[DEVICE_KEY_BYTES], int encrypt, const unsigned char *nonce,
                   const unsigned char *aad, size_t aadlen, const unsigned char *in, size_t len,
                   unsigned char *out, unsigned char *tag)
{
    uint8_t sub[DEVICE_KEY_BYTES];
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    int rc = device_key_derive(key, PURPOSE, sub);
    if (rc == 0)
        rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, sub, 256);
    if (rc == 0)
        rc = encrypt ? mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, nonce, 12, aad,
                                                 aadlen, in, out, SEAL_TAG, tag)
                     : mbedtls_gcm_auth_decrypt(&g, len, nonce, 12, aad, aadlen, tag, SEAL_TAG, in,
                                                out);
    mbedtls_gcm_free(&g);
    mbedtls_platform_zeroize(sub, sizeof sub);
    return rc;
}

static int print_body(cJSON *root, char **out, size_t *outlen)
{
    *out = cJSON_PrintUnformatted(root);
    if (!*out)
        return -1;
    *outlen = strlen(*out);
    return 0;
}

/*
 * Puts item, under name, where member old is in root (old is deleted; item is root's, or
 * deleted on failure). In place rather than appended: the stored body keeps the order sale.c
 * printed, so opening a sealed body gives back the very bytes that were sealed.
 */
static int replace_member(cJSON *root, cJSON *old, const char *name, cJSON *item)
{
    cJSON *tmp = cJSON_CreateObject();
    if (!tmp || !cJSON_AddItemToObject(tmp, name, item)) { /* the way to give item its name */
        cJSON_Delete(tmp);
        cJSON_Delete(item);
        return -1;
    }
    cJSON_DetachItemViaPointer(tmp, item);
    cJSON_Delete(tmp);
    return cJSON_ReplaceItemViaPointer(root, old, item) ? 0 : (cJSON_Delete(item), -1);
}

int customer_seal(const struct device_key *k, const char *txn, const char *body, size_t len,
                  char **out, size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "the sale record is not a JSON object");
        return -1;
    }
    cJSON *cust = cJSON_GetObjectItemCaseSensitive(root, "customer");
    if (!cust) { /* nothing to seal: the body as it came, byte for byte */
        cJSON_Delete(root);
        if (!(*out = malloc(len + 1))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(*out, body, len);
        (*out)[len] = '\0';
        *outlen = len;
        return 0;
    }
    unsigned char aad[sizeof PURPOSE + MAX_TXN];
    size_t aadlen = make_aad(aad, txn);
    if (!k || !k->n || !aadlen) {
        cJSON_Delete(root);
        if (!aadlen)
            snprintf(err, errlen, "txn: longer than %d characters", MAX_TXN);
        else
            snprintf(err, errlen, "no device key to seal the customer data under");
        return -1;
    }
    char *plain = cJSON_PrintUnformatted(cust);
    size_t plen = plain ? strlen(plain) : 0;
    size_t rawlen = SEAL_HEAD + plen + SEAL_TAG, b64cap = 4 * ((rawlen + 2) / 3) + 1, b64len = 0;
    unsigned char *raw = malloc(rawlen), *b64 = malloc(b64cap);
    int rc = -1;
    if (!plain || !raw || !b64) {
        snprintf(err, errlen, "out of memory");
    } else if (device_random(raw + 5, 12) != 0) {
        snprintf(err, errlen, "no randomness from the kernel for a nonce");
    } else {
        raw[0] = CUSTOMER_SEAL_VERSION;
        for (int i = 0; i < 4; i++)
            raw[1 + i] = (unsigned char)(k->ids[0] >> (24 - 8 * i));
        cJSON *sealed = NULL;
        if (gcm_run(k->keys[0], 1, raw + 5, aad, aadlen, (const unsigned char *)plain, plen,
                    raw + SEAL_HEAD, raw + SEAL_HEAD + plen) != 0 ||
            mbedtls_base64_encode(b64, b64cap, &b64len, raw, rawlen) != 0) {
            snprintf(err, errlen, "sealing the customer data failed");
        } else if (!(sealed = cJSON_CreateString((const char *)b64)) ||
                   replace_member(root, cust, MEMBER, sealed) != 0 ||
                   print_body(root, out, outlen) != 0) {
            snprintf(err, errlen, "out of memory");
        } else {
            rc = 0;
        }
    }
    if (plain)
        mbedtls_platform_zeroize(plain, plen);
    free(plain);
    free(raw);
    free(b64);
    cJSON_Delete(root);
    return rc;
}

enum customer_open_result customer_open(const struct device_key *k, const char *txn,
                                        const char *body, size_t len, char **out, size_t *outlen,
                                        char *why, size_t whylen)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        snprintf(why, whylen, "the sale record is not JSON");
        return CUSTOMER_BROKEN;
    }
    cJSON *sealed = cJSON_GetObjectItemCaseSensitive(root, MEMBER);
    if (!sealed) {
        cJSON_Delete(root);
        return CUSTOMER_PLAIN;
    }
    enum customer_open_result res = CUSTOMER_BROKEN;
    const char *b64 = cJSON_GetStringValue(sealed);
    size_t b64len = b64 ? strlen(b64) : 0, rawlen = 0, rawcap = b64len / 4 * 3 + 3;
    unsigned char *raw = malloc(rawcap), *plain = NULL;
    unsigned char aad[sizeof PURPOSE + MAX_TXN];
    size_t aadlen = make_aad(aad, txn);
    snprintf(why, whylen, "the sealed customer data is damaged (not a seal this firmware reads)");
    if (!b64 || !raw || !aadlen || cJSON_GetObjectItemCaseSensitive(root, "customer") ||
        mbedtls_base64_decode(raw, rawcap, &rawlen, (const unsigned char *)b64, b64len) != 0 ||
        rawlen < SEAL_HEAD + SEAL_TAG || raw[0] != CUSTOMER_SEAL_VERSION)
        goto done;
    uint32_t id = (uint32_t)raw[1] << 24 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 8 | raw[4];
    unsigned ki = 0, nkeys = k ? k->n : 0;
    while (ki < nkeys && k->ids[ki] != id)
        ki++;
    if (ki == nkeys) {
        if (nkeys)
            snprintf(why, whylen,
                     "the customer data is sealed under device key %08x, which this terminal "
                     "does not have (its key: %08x)",
                     id, k->ids[0]);
        else
            snprintf(why, whylen,
                     "the customer data is sealed under device key %08x, and this terminal has "
                     "no device key",
                     id);
        res = CUSTOMER_NO_KEY;
        goto done;
    }
    size_t plen = rawlen - SEAL_HEAD - SEAL_TAG;
    plain = malloc(plen + 1);
    if (!plain) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    if (gcm_run(k->keys[ki], 0, raw + 5, aad, aadlen, raw + SEAL_HEAD, plen, plain,
                raw + SEAL_HEAD + plen) != 0) {
        snprintf(why, whylen,
                 "the customer data fails its authentication tag: changed on flash since it "
                 "was stored, or not this sale's");
        res = CUSTOMER_BAD_TAG;
        goto done;
    }
    plain[plen] = '\0';
    cJSON *cust = cJSON_ParseWithLength((const char *)plain, plen);
    mbedtls_platform_zeroize(plain, plen);
    if (!cJSON_IsObject(cust)) { /* authentic, yet not an object: only a writer bug gets here */
        cJSON_Delete(cust);
        goto done;
    }
    if (replace_member(root, sealed, "customer", cust) != 0 || print_body(root, out, outlen) != 0)
        snprintf(why, whylen, "out of memory");
    else
        res = CUSTOMER_OPENED;
done:
    free(raw);
    free(plain);
    cJSON_Delete(root);
    return res;
}

int customer_sealed_key_id(const char *body, size_t len, uint32_t *id)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, MEMBER));
    int rc = cJSON_GetObjectItemCaseSensitive(root, MEMBER) ? -1 : 0;
    unsigned char raw[6];
    size_t rawlen = 0;
    /* The first 8 base64 characters are the first 6 bytes: version, key id, a nonce byte. */
    if (b64 && strlen(b64) >= 8 &&
        mbedtls_base64_decode(raw, sizeof raw, &rawlen, (const unsigned char *)b64, 8) == 0 &&
        rawlen == 6 && raw[0] == CUSTOMER_SEAL_VERSION) {
        *id = (uint32_t)raw[1] << 24 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 8 | raw[4];
        rc = 1;
    }
    cJSON_Delete(root);
    return rc;
}
