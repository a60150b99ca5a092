/*
 * Contact ids already resolved on a platform, so a backlog of one regular's sales does not ask
 * for the same contact again and again: a helper a backend may own (in its state). Fixed size,
 * 64 sets of 8 ways, least recently used replaced (direct-mapped, 19 of a hundred regulars
 * shared a slot; with 4 ways, 5 of one platform's hundred shared a set, and a shop's round of
 * regulars then missed on every sale of those five: LRU thrashes a set visited in a cycle
 * larger than its ways), keyed by a SHA-256 of the exact identity the
 * backend asked with (so any new detail misses the cache and goes out), ids kept as text. A stale
 * id is evicted when the platform refuses it.
 */
#ifndef TILLSYNC_CONTACT_CACHE_H
#define TILLSYNC_CONTACT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define CONTACT_CACHE_WAYS  8
#define CONTACT_CACHE_SETS  64
#define CONTACT_CACHE_SLOTS (CONTACT_CACHE_WAYS * CONTACT_CACHE_SETS)

struct contact_cache {
    uint32_t clock; /* use stamps: the slot with the oldest is replaced */
    struct {
        uint8_t key[16]; /* the first 16 bytes of the identity's SHA-256; all zero: empty */
        uint32_t used;
        char id[BACKEND_ID_TEXT];
    } slot[CONTACT_CACHE_SLOTS];
};

/* Returns 1 and the id (NUL-terminated, at most cap - 1 bytes) if key is cached. */
int contact_cache_get(struct contact_cache *c, const char *key, char *id, size_t cap);
/* An id longer than BACKEND_ID_TEXT - 1 is not cached. */
void contact_cache_put(struct contact_cache *c, const char *key, const char *id);
void contact_cache_evict(struct contact_cache *c, const char *key);

#endif
