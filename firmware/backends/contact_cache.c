#include "contact_cache.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

/* The identity's hash, and the first slot of its set. */
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
    return ((unsigned)digest[16] << 8 | digest[17]) % CONTACT_CACHE_SETS * CONTACT_CACHE_WAYS;
}

static int find(const struct contact_cache *c, unsigned set, const uint8_t h[16])
{
    for (unsigned w = 0; w < CONTACT_CACHE_WAYS; w++)
        if (memcmp(c->slot[set + w].key, h, 16) == 0)
            return (int)(set + w);
    return -1;
}

int contact_cache_get(struct contact_cache *c, const char *key, char *id, size_t cap)
{
    uint8_t h[16];
    int s = find(c, hash(key, h), h);
    if (s < 0 || strlen(c->slot[s].id) >= cap)
        return 0;
    c->slot[s].used = ++c->clock;
    snprintf(id, cap, "%s", c->slot[s].id);
    return 1;
}

void contact_cache_put(struct contact_cache *c, const char *key, const char *id)
{
    uint8_t h[16];
    unsigned set = hash(key, h);
    if (!key[0] || !id[0] || strlen(id) >= sizeof c->slot[0].id)
        return;
    int s = find(c, set, h);
    for (unsigned w = 0; s < 0 && w < CONTACT_CACHE_WAYS; w++)
        if (!c->slot[set + w].key[0])
            s = (int)(set + w);
    if (s < 0) {
        s = (int)set;
        for (unsigned w = 1; w < CONTACT_CACHE_WAYS; w++)
            /* by age, so the stamp's wrap after 2^32 uses is harmless */
            if (c->clock - c->slot[set + w].used > c->clock - c->slot[s].used)
                s = (int)(set + w);
    }
    memcpy(c->slot[s].key, h, sizeof h);
    c->slot[s].used = ++c->clock;
    snprintf(c->slot[s].id, sizeof c->slot[s].id, "%s", id);
}

void contact_cache_evict(struct contact_cache *c, const char *key)
{
    uint8_t h[16];
    int s = find(c, hash(key, h), h);
    if (s >= 0)
        memset(c->slot[s].key, 0, sizeof h);
}
