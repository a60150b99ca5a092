#include "contact_cache.h"

#include <string.h>

#include "crc32.h"

static unsigned slot_of(const char *key)
{
    return crc32_update(0, key, strlen(key)) % CONTACT_CACHE_SLOTS;
}

int contact_cache_get(const struct contact_cache *c, const char *key, int64_t *id)
{
    unsigned s = slot_of(key);
    if (strlen(key) >= CONTACT_CACHE_KEY || strcmp(c->slot[s].key, key) != 0)
        return 0;
    *id = c->slot[s].id;
    return 1;
}

void contact_cache_put(struct contact_cache *c, const char *key, int64_t id)
{
    if (!key[0] || strlen(key) >= CONTACT_CACHE_KEY)
        return;
    unsigned s = slot_of(key);
    strcpy(c->slot[s].key, key);
    c->slot[s].id = id;
}

void contact_cache_evict(struct contact_cache *c, const char *key)
{
    unsigned s = slot_of(key);
    if (strcmp(c->slot[s].key, key) == 0)
        c->slot[s].key[0] = '\0';
}
