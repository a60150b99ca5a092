/*
 * The board layer: maps configuration names to the drivers a board was built with. Which drivers
 * a board has is said by board/<name>/board.cmake (BOARD_HAS_FLASH_FILE, ...), as Kconfig would
 * in Zephyr, so a board is a list of choices rather than a copy of this file.
 */
#include "board/board.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef BOARD_HAS_FLASH_FILE
#include "drivers/flash_file.h"
#endif
#ifdef BOARD_HAS_FLASH_MTD
#include "drivers/flash_mtd.h"
#endif
#include "drivers/intake_unix.h"

const char *board_name(void)
{
    return BOARD_NAME;
}

int board_has_flash_driver(const char *driver)
{
#ifdef BOARD_HAS_FLASH_FILE
    if (strcmp(driver, "file") == 0)
        return 1;
#endif
#ifdef BOARD_HAS_FLASH_MTD
    if (strcmp(driver, "mtd") == 0)
        return 1;
#endif
    (void)driver;
    return 0;
}

int board_flash_open(const struct board_flash_params *p, struct hal_flash **out, char *err,
                     size_t errlen)
{
#ifdef BOARD_HAS_FLASH_FILE
    if (strcmp(p->driver, "file") == 0) {
        struct hal_flash_geometry geo = {p->size, p->erase_size, p->prog_size};
        return flash_file_open(p->path, &geo, p->read_only, out, err, errlen);
    }
#endif
#ifdef BOARD_HAS_FLASH_MTD
    /* The geometry is the device's own; p->size and the rest are not used. */
    if (strcmp(p->driver, "mtd") == 0)
        return flash_mtd_open(p->path, p->read_only, out, err, errlen);
#endif
    (void)out;
    snprintf(err, errlen, "board %s has no flash driver \"%s\"", BOARD_NAME, p->driver);
    return -ENODEV;
}

int board_intake_open(const char *endpoint, hal_intake_request_fn on_request, void *ctx,
                      struct hal_intake **out, char *err, size_t errlen)
{
    return intake_unix_open(endpoint, on_request, ctx, out, err, errlen);
}
