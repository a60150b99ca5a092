/*
 * A board says which drivers a terminal uses. Firmware asks the board for devices by the names
 * used in the configuration and never sees a driver header itself.
 */
#ifndef BOARD_BOARD_H
#define BOARD_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "hal/flash.h"
#include "hal/loop.h"
#include "hal/source.h"

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

/* The line between a POS and its receipt printer. */
struct board_tap_params {
    char pos_port[108];     /* the tty the POS writes to (its printer as far as it knows) */
    char printer_port[108]; /* the tty the printer is on */
    unsigned baud;          /* both ports */
    char flow_control[8];   /* "none", "rtscts", "xonxoff" */
};

/* A GPIO input line: a character-device line (libgpiod), or a FIFO standing in for one in tests
 * (each byte '1' = active, '0' = inactive). */
struct board_line_params {
    char chip[64];  /* "gpiochip0" or a path; empty when fake_fifo is set */
    unsigned line;  /* offset on the chip */
    int active_low; /* the line reads 0 when the condition holds */
    char fake_fifo[108];
};

/* Every source a terminal may have. The board's description (board/<name>/board.json) gives the
 * defaults for its hardware; the configuration's intake section adds or overrides. A field left
 * empty (or a has_ flag 0) means the terminal does not have that source. */
struct board_sources {
    char pos_socket[108];
    char control_socket[108];
    int has_tap;
    struct board_tap_params tap;
    int has_power_fail, has_sale_signal;
    struct board_line_params power_fail, sale_signal;
    char network_interface[16]; /* empty: every interface */
};

/* Fills what the board's description says this terminal has. */
void board_describe(struct board_sources *out);

/* Where this board keeps the device key (firmware/seal/device_key.h) when the configuration
 * names no device_key_file: its description's "device_key_file" (a secure element's export, a
 * partition a reflash keeps). "" if it names none. */
void board_device_key_file(char *out, size_t cap);

/* Opens every source in `want` on loop, each reporting to emit(ctx, ...). Fills out[] (up to max)
 * and *n. On failure closes what it opened, returns a negative errno and names the source (by its
 * configuration key) in err. A source a board has no driver for is an error, not skipped. */
int board_sources_open(const struct board_sources *want, struct loop *loop, hal_event_fn emit,
                       void *ctx, struct hal_source **out, unsigned max, unsigned *n, char *err,
                       size_t errlen);

#endif
