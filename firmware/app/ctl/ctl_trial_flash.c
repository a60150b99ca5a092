/*
 * The dry run's copy-on-write flash view (ctl_trial_flash.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_trial_flash.h"

struct trial_flash {
    struct hal_flash base; /* first: the HAL's handle */
    struct hal_flash *real;
    uint8_t **blocks; /* per erase block: its bytes once erased or programmed here, else NULL */
    uint32_t nblocks;
};

/* Calls fn on each erase block's part of [off, off + len). */
static int span(struct trial_flash *t, uint64_t off, size_t len,
                int (*fn)(struct trial_flash *t, uint32_t b, uint32_t at, uint8_t *p, size_t n),
                uint8_t *buf)
{
    uint32_t es = t->base.geo.erase_size;
    if (off > t->base.geo.size || len > t->base.geo.size - off)
        return -EINVAL;
    while (len) {
        uint32_t b = (uint32_t)(off / es), at = (uint32_t)(off % es);
        size_t n = es - at < len ? es - at : len;
        int rc = fn(t, b, at, buf, n);
        if (rc)
            return rc;
        off += n;
        buf += n;
        len -= n;
    }
    return 0;
}

static int read_part(struct trial_flash *t, uint32_t b, uint32_t at, uint8_t *p, size_t n)
{
    if (t->blocks[b]) {
        memcpy(p, t->blocks[b] + at, n);
        return 0;
    }
    return hal_flash_read(t->real, (uint64_t)b * t->base.geo.erase_size + at, p, n);
}

/* The block's bytes in RAM, read from the device the first time it is written. */
static uint8_t *own(struct trial_flash *t, uint32_t b)
{
    if (!t->blocks[b]) {
        uint8_t *p = malloc(t->base.geo.erase_size);
        if (!p || hal_flash_read(t->real, (uint64_t)b * t->base.geo.erase_size, p,
                                 t->base.geo.erase_size) != 0) {
            free(p);
            return NULL;
        }
        t->blocks[b] = p;
    }
    return t->blocks[b];
}

static int prog_part(struct trial_flash *t, uint32_t b, uint32_t at, uint8_t *p, size_t n)
{
    uint8_t *dst = own(t, b);
    if (!dst)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        dst[at + i] &= p[i]; /* programming only clears bits */
    return 0;
}

static int t_read(struct hal_flash *dev, uint64_t off, void *buf, size_t len)
{
    return span((struct trial_flash *)dev, off, len, read_part, buf);
}

static int t_prog(struct hal_flash *dev, uint64_t off, const void *buf, size_t len)
{
    /* prog_part only reads from buf; span's pointer is not const for read_part's sake. */
    return span((struct trial_flash *)dev, off, len, prog_part, (uint8_t *)(uintptr_t)buf);
}

static int t_erase(struct hal_flash *dev, uint32_t block)
{
    struct trial_flash *t = (struct trial_flash *)dev;
    if (block >= t->nblocks)
        return -EINVAL;
    if (!t->blocks[block] && !(t->blocks[block] = malloc(dev->geo.erase_size)))
        return -ENOMEM;
    memset(t->blocks[block], 0xff, dev->geo.erase_size);
    return 0;
}

static int t_sync(struct hal_flash *dev)
{
    (void)dev;
    return 0;
}

static void t_close(struct hal_flash *dev)
{
    struct trial_flash *t = (struct trial_flash *)dev;
    for (uint32_t b = 0; b < t->nblocks; b++)
        free(t->blocks[b]);
    free(t->blocks);
    free(t);
}

static const struct hal_flash_api trial_api = {t_read, t_prog, t_erase, t_sync, t_close};

struct hal_flash *trial_flash_over(struct hal_flash *real)
{
    struct trial_flash *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.api = &trial_api;
    t->base.geo = real->geo;
    t->real = real;
    t->nblocks = (uint32_t)(real->geo.size / real->geo.erase_size);
    t->blocks = calloc(t->nblocks ? t->nblocks : 1, sizeof *t->blocks);
    if (!t->blocks) {
        free(t);
        return NULL;
    }
    return &t->base;
}
