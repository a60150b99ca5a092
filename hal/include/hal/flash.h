/*
 * Flash device interface: the only way firmware touches storage.
 *
 * The contract is raw flash, whatever the driver sits on: a block must be erased (every byte
 * reads 0xFF) before it is programmed, programming can only clear bits, and both offsets and
 * lengths of a program are multiples of prog_size. Firmware written against this contract runs
 * on NOR, NAND (one program per page) and a file on eMMC alike.
 *
 * Every call returns 0 or a negative errno value. -EIO is a device failure; drivers that can
 * tell a worn-out block report -EROFS (program or erase refused), so firmware can retire it.
 * A device opened read-only refuses programs and erases with -EPERM, which says nothing about
 * the block.
 */
#ifndef HAL_FLASH_H
#define HAL_FLASH_H

#include <stddef.h>
#include <stdint.h>

struct hal_flash_geometry {
    uint64_t size;       /* bytes, a multiple of erase_size */
    uint32_t erase_size; /* bytes in an erase block */
    uint32_t prog_size;  /* program unit: 1 (NOR) .. page size (NAND) */
};

struct hal_flash;

struct hal_flash_api {
    int (*read)(struct hal_flash *dev, uint64_t off, void *buf, size_t len);
    int (*prog)(struct hal_flash *dev, uint64_t off, const void *buf, size_t len);
    int (*erase)(struct hal_flash *dev, uint32_t block);
    /* Makes every completed prog/erase durable. A driver on real flash may do nothing. */
    int (*sync)(struct hal_flash *dev);
    void (*close)(struct hal_flash *dev);
};

/* Drivers embed this as their first member. */
struct hal_flash {
    const struct hal_flash_api *api;
    struct hal_flash_geometry geo;
};

static inline int hal_flash_read(struct hal_flash *dev, uint64_t off, void *buf, size_t len)
{
    return dev->api->read(dev, off, buf, len);
}

static inline int hal_flash_prog(struct hal_flash *dev, uint64_t off, const void *buf, size_t len)
{
    return dev->api->prog(dev, off, buf, len);
}

static inline int hal_flash_erase(struct hal_flash *dev, uint32_t block)
{
    return dev->api->erase(dev, block);
}

static inline int hal_flash_sync(struct hal_flash *dev)
{
    return dev->api->sync(dev);
}

static inline void hal_flash_close(struct hal_flash *dev)
{
    if (dev)
        dev->api->close(dev);
}

#endif
