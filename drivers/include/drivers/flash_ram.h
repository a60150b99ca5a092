/*
 * Flash simulated in RAM, with the faults real flash has: power cut at the Nth program or erase
 * (optionally torn: only part of that operation lands), bit flips on read, blocks whose program
 * or erase fails. Counts what the firmware costs the device.
 */
#ifndef DRIVERS_FLASH_RAM_H
#define DRIVERS_FLASH_RAM_H

#include <stdint.h>

#include "hal/flash.h"

struct flash_ram_stats {
    uint64_t progs, bytes_programmed;
    uint64_t erases;
    uint64_t reads, bytes_read;
};

struct hal_flash *flash_ram_create(const struct hal_flash_geometry *geo);

/*
 * Power is cut when the nth program or erase from now starts (n = 1: the very next one). With
 * torn set, that operation lands partly: a program writes a random prefix of its bytes, an erase
 * leaves the block with random content. Afterwards every call fails with -EIO until
 * flash_ram_power_on().
 */
void flash_ram_cut_power_at(struct hal_flash *dev, uint64_t nth, int torn, uint32_t seed);
int flash_ram_power_is_cut(const struct hal_flash *dev);
void flash_ram_power_on(struct hal_flash *dev);

/* Reads of this byte return it with bit `bit` flipped (as a weak cell would). off = -1 clears. */
void flash_ram_flip_on_read(struct hal_flash *dev, int64_t off, int bit);
/* Programs and erases of this block fail with -EROFS, as a worn-out block's do. */
void flash_ram_fail_block(struct hal_flash *dev, uint32_t block, int fail);

const struct flash_ram_stats *flash_ram_stats(const struct hal_flash *dev);
uint32_t flash_ram_erase_count(const struct hal_flash *dev, uint32_t block);
/* Ops (programs + erases) performed since creation: the space of power-cut points. */
uint64_t flash_ram_ops(const struct hal_flash *dev);

#endif
