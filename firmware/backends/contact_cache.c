#include "contact_cache.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

static unsigned hash(const char *key, uint8_t out[16])
{
    uint8_t digest[32];
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_sha256((const unsigned char *)key, strlen(key), digest, 0);
#else
    mbedtls_sha256_ret((const unsigned char *)key, strlen(key), digest, 0);
#endif
    memcpy(out, digest, 16);
    out[0] |= 1; /* never all zero: that marks an empty slot */
    return ((unsigned)digest[16] << 8 | digest[17]) % CONTACT_CACHE_SLOTS;
}

int contact_cache_get(const struct contact_cache *c, const char *key, char *id, size_t cap)
{
    uint8_t h[16];
    unsigned s = hash(key, h);
    if (memcmp(c->slot[s].key, h, sizeof h) != 0 || strlen(c->slot[s].id) >= cap)
        return 0;
    snprintf(id, cap, "%s", c->slot[s].id);
    return 1;
}

void contact_cache_put(struct contact_cache *c, const char *key, const char *id)
{
    uint8_t h[16];
    unsigned s = hash(key, h);
    if (!key[0] || !id[0] || strlen(id) >= sizeof c->slot[s].id)
        return;
    memcpy(c->slot[s].key, h, sizeof h);
    snprintf(c->slot[s].id, sizeof c->slot[s].id, "%s", id);
}

void contact_cache_evict(struct contact_cache *c, const char *key)
{
    uint8_t h[16];
    unsigned s = hash(key, h);
    if (memcmp(c->slot[s].key, h, sizeof h) == 0)
        memset(c->slot[s].key, 0, sizeof h);
}
