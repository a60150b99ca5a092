/*
 * Flash simulated in RAM, for tests. Same semantics as real flash (erase to 0xFF, program only
 * clears bits, aligned programs), plus the faults the journal must survive.
 */
#include "drivers/flash_ram.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct flash_ram {
    struct hal_flash dev;
    uint8_t *mem;
    uint32_t *erase_counts;
    uint8_t *bad_blocks;
    struct flash_ram_stats stats;
    uint64_t ops;
    uint64_t cut_at; /* op number at which power goes; 0 = never */
    int torn;
    int cut;
    uint32_t rng;
    int64_t flip_off;
    int flip_bit;
};

static uint32_t next_rand(struct flash_ram *r)
{
    /* xorshift32: deterministic per seed, so a failing cut point can be replayed. */
    uint32_t x = r->rng ? r->rng : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return r->rng = x;
}

/* Counts an op and reports whether power fails during it. */
static int power_fails_now(struct flash_ram *r)
{
    r->ops++;
    if (r->cut_at && r->ops >= r->cut_at) {
        r->cut = 1;
        r->cut_at = 0;
        return 1;
    }
    return 0;
}

static int fr_read(struct hal_flash *dev, uint64_t off, void *buf, size_t len)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    if (r->cut)
        return -EIO;
    if (off > dev->geo.size || len > dev->geo.size - off)
        return -EINVAL;
    memcpy(buf, r->mem + off, len);
    if (r->flip_off >= 0 && (uint64_t)r->flip_off >= off && (uint64_t)r->flip_off < off + len)
        ((uint8_t *)buf)[r->flip_off - (int64_t)off] ^= (uint8_t)(1u << r->flip_bit);
    r->stats.reads++;
    r->stats.bytes_read += len;
    return 0;
}

static int fr_prog(struct hal_flash *dev, uint64_t off, const void *buf, size_t len)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    const uint32_t unit = dev->geo.prog_size;
    if (r->cut)
        return -EIO;
    if (off > dev->geo.size || len > dev->geo.size - off || off % unit || len % unit)
        return -EINVAL;
    const uint8_t *src = buf;
    for (size_t i = 0; i < len; i++)
        if ((r->mem[off + i] & src[i]) != src[i])
            return -EINVAL;
    if (r->bad_blocks[off / dev->geo.erase_size])
        return -EROFS;
    if (power_fails_now(r)) {
        if (r->torn) {
            size_t n = len ? next_rand(r) % len : 0;
            for (size_t i = 0; i < n; i++)
                r->mem[off + i] &= src[i];
        }
        return -EIO;
    }
    for (size_t i = 0; i < len; i++)
        r->mem[off + i] &= src[i];
    r->stats.progs++;
    r->stats.bytes_programmed += len;
    return 0;
}

static int fr_erase(struct hal_flash *dev, uint32_t block)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    const uint32_t bs = dev->geo.erase_size;
    if (r->cut)
        return -EIO;
    if ((uint64_t)block * bs >= dev->geo.size)
        return -EINVAL;
    if (r->bad_blocks[block])
        return -EROFS;
    uint8_t *b = r->mem + (uint64_t)block * bs;
    if (power_fails_now(r)) {
        if (r->torn) /* neither erased nor intact */
            for (uint32_t i = 0; i < bs; i++)
                b[i] = (next_rand(r) & 1) ? 0xFF : (uint8_t)(b[i] | next_rand(r));
        return -EIO;
    }
    memset(b, 0xFF, bs);
    r->erase_counts[block]++;
    r->stats.erases++;
    return 0;
}

static int fr_sync(struct hal_flash *dev)
{
    return ((struct flash_ram *)dev)->cut ? -EIO : 0;
}

static void fr_close(struct hal_flash *dev)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    free(r->mem);
    free(r->erase_counts);
    free(r->bad_blocks);
    free(r);
}

static const struct hal_flash_api flash_ram_api = {
    .read = fr_read, .prog = fr_prog, .erase = fr_erase, .sync = fr_sync, .close = fr_close};

struct hal_flash *flash_ram_create(const struct hal_flash_geometry *geo)
{
    struct flash_ram *r = calloc(1, sizeof *r);
    uint32_t nblocks = (uint32_t)(geo->size / geo->erase_size);
    if (!r)
        return NULL;
    r->dev.api = &flash_ram_api;
    r->dev.geo = *geo;
    r->mem = malloc(geo->size);
    r->erase_counts = calloc(nblocks, sizeof *r->erase_counts);
    r->bad_blocks = calloc(nblocks, 1);
    r->flip_off = -1;
    if (!r->mem || !r->erase_counts || !r->bad_blocks) {
        fr_close(&r->dev);
        return NULL;
    }
    memset(r->mem, 0xFF, geo->size);
    return &r->dev;
}

void flash_ram_cut_power_at(struct hal_flash *dev, uint64_t nth, int torn, uint32_t seed)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    r->cut_at = nth ? r->ops + nth : 0;
    r->torn = torn;
    r->rng = seed;
}

int flash_ram_power_is_cut(const struct hal_flash *dev)
{
    return ((const struct flash_ram *)dev)->cut;
}

void flash_ram_power_on(struct hal_flash *dev)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    r->cut = 0;
    r->cut_at = 0;
}

void flash_ram_flip_on_read(struct hal_flash *dev, int64_t off, int bit)
{
    struct flash_ram *r = (struct flash_ram *)dev;
    r->flip_off = off;
    r->flip_bit = bit & 7;
}

void flash_ram_fail_block(struct hal_flash *dev, uint32_t block, int fail)
{
    ((struct flash_ram *)dev)->bad_blocks[block] = (uint8_t)(fail != 0);
}

const struct flash_ram_stats *flash_ram_stats(const struct hal_flash *dev)
{
    return &((const struct flash_ram *)dev)->stats;
}

uint32_t flash_ram_erase_count(const struct hal_flash *dev, uint32_t block)
{
    return ((const struct flash_ram *)dev)->erase_counts[block];
}

uint64_t flash_ram_ops(const struct hal_flash *dev)
{
    return ((const struct flash_ram *)dev)->ops;
}
