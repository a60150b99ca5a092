/*
 * Contact ids already resolved on a platform, so a backlog of one regular's sales does not ask
 * for the same contact again and again. Fixed size (direct-mapped, 512 slots, ~85 KiB), keyed by
 * the exact contact request; a stale id is evicted when the platform refuses it.
 */
#ifndef TILLSYNC_CONTACT_CACHE_H
#define TILLSYNC_CONTACT_CACHE_H

#include <stdint.h>

#define CONTACT_CACHE_SLOTS 512
#define CONTACT_CACHE_KEY   160 /* longer identities are simply not cached */

struct contact_cache {
    struct {
        char key[CONTACT_CACHE_KEY];
        int64_t id; /* as the platform gave it: ids need not fit a 32-bit long */
    } slot[CONTACT_CACHE_SLOTS];
};

/* Returns 1 and the id if key is cached. */
int contact_cache_get(const struct contact_cache *c, const char *key, int64_t *id);
void contact_cache_put(struct contact_cache *c, const char *key, int64_t id);
void contact_cache_evict(struct contact_cache *c, const char *key);

#endif
