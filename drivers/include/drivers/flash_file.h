/* Flash emulated in a file, for terminals whose storage is eMMC/SD behind a filesystem. */
#ifndef DRIVERS_FLASH_FILE_H
#define DRIVERS_FLASH_FILE_H

#include <stddef.h>

#include "hal/flash.h"

/*
 * Opens (creating and filling with 0xFF if missing) a flash image of the given geometry.
 * An existing image of another size is refused rather than resized: it holds sales.
 * read_only: an existing image only, and every program or erase fails with -EPERM (not -EROFS,
 * which the HAL reserves for a worn block).
 * The image is locked before it is read, exclusively (shared when read_only), until it is closed:
 * while another process holds it the open fails with -EBUSY, "PATH is in use by process PID".
 */
int flash_file_open(const char *path, const struct hal_flash_geometry *geo, int read_only,
                    struct hal_flash **out, char *err, size_t errlen);

#endif
