/*
 * A board says which drivers a terminal uses. Firmware asks the board for devices by the names
 * used in the configuration and never sees a driver header itself.
 */
#ifndef BOARD_BOARD_H
#define BOARD_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "hal/flash.h"
#include "hal/intake.h"

struct board_flash_params {
    const char *driver; /* "file", "mtd", "ram" ... as named in the configuration */
    const char *path;   /* file: image path; mtd: device node */
    uint64_t size;
    uint32_t erase_size;
    uint32_t prog_size;
    int read_only; /* inspection: never create, program or erase */
};

const char *board_name(void);

/* Opens the journal's flash. On failure returns a negative errno and writes a reason to err. */
int board_flash_open(const struct board_flash_params *p, struct hal_flash **out, char *err,
                     size_t errlen);

/* True if this board has a flash driver of that name. */
int board_has_flash_driver(const char *driver);

/* Opens the POS intake source at endpoint (a socket path for the Unix socket driver). */
int board_intake_open(const char *endpoint, hal_intake_request_fn on_request, void *ctx,
                      struct hal_intake **out, char *err, size_t errlen);

#endif
