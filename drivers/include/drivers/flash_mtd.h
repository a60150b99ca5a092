/* Raw flash through the Linux MTD character device (/dev/mtdN): NOR, or SLC NAND. */
#ifndef DRIVERS_FLASH_MTD_H
#define DRIVERS_FLASH_MTD_H

#include <stddef.h>

#include "hal/flash.h"

/*
 * Opens an MTD character device. The geometry is the device's own (MEMGETINFO): size, erase
 * block, and program unit (the NAND page, or NOR's write unit, 1 on plain NOR). Devices the
 * journal cannot keep sales on are refused with a reason naming the device: ROM, RAM, DataFlash,
 * UBI volumes, MLC NAND not in SLC mode, anything that needs no erase, a device not writable
 * (unless read_only), and a size that is not a whole number of erase blocks.
 *
 * read_only: opened O_RDONLY, and every program or erase fails with -EPERM (not -EROFS, which
 * the HAL reserves for a worn block the firmware should pass over).
 * The device is locked as flash_file_open() locks an image: -EBUSY while another process has it.
 */
int flash_mtd_open(const char *path, int read_only, struct hal_flash **out, char *err,
                   size_t errlen);

#endif
