/*
 * The receipt-printer tap: tillsyncd sits on the serial line between a POS and its ESC/POS
 * printer, passes every byte through unchanged and in order both ways, and reports the bytes that
 * went to the printer as HAL_EVENT_PRINT_DATA (role HAL_ROLE_RECEIPT, name "receipt_tap").
 *
 * The printer comes first: bytes are written to the printer before they are reported, and the
 * report never holds bytes back. What the tap holds is a fixed buffer per direction; while the
 * printer cannot take more, the POS port is not read, so back-pressure reaches the POS through the
 * kernel (and the RTS line with rtscts) instead of piling up in the daemon.
 *
 * A port that goes away (USB-serial unplugged, hangup) is closed and reopened on a timer; bytes
 * already read for the other side are kept and delivered when it is back.
 */
#ifndef DRIVERS_TAP_SERIAL_H
#define DRIVERS_TAP_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "hal/loop.h"
#include "hal/source.h"

/* Bytes held per direction: read from one port and not yet taken by the other. */
#define TAP_SERIAL_BUF 4096

#define TAP_SERIAL_REOPEN_MS 1000

struct tap_serial_params {
    char pos_port[108];     /* the tty the POS writes to (its printer as far as it knows) */
    char printer_port[108]; /* the tty the printer is on */
    unsigned baud;          /* both ports; a standard rate, 1200 to 921600 */
    char flow_control[8];   /* "none", "rtscts" or "xonxoff"; empty: "none" */
    unsigned reopen_ms;     /* a lost port is tried again this often; 0: TAP_SERIAL_REOPEN_MS */
};

/*
 * flow_control: "rtscts" sets CRTSCTS on both ports, so a printer that drops CTS stops the tap's
 * output to it, and the tap (which then stops reading the POS port) makes the kernel drop RTS to
 * the POS. "xonxoff" and "none" set the same thing on the tap: the kernel is told not to act on
 * XON/XOFF (IXON, IXOFF off), which pass through as data, so the printer's XOFF stops the POS
 * itself (see tap_serial.c). Both say what the devices at either end use.
 *
 * emit is called on the loop's thread, after the bytes were written to the printer; whatever it
 * takes is added to the latency of every byte behind them, so it must not block (a full or
 * failing journal answers at once). It must not close the source.
 *
 * Opens both ports and registers them with loop. A port that is missing or fails at start is
 * logged and retried like a port lost later (a till whose printer cable is out must still take
 * sales from its other sources). Refused, with the key named in err and a negative errno: a bad
 * baud or flow_control, the same device for both ports, a port that is not a tty or that will not
 * take the settings.
 */
int tap_serial_open(const struct tap_serial_params *p, struct loop *loop, hal_event_fn emit,
                    void *ctx, struct hal_source **out, char *err, size_t errlen);

/* For status. */
struct tap_serial_stats {
    uint64_t pos_to_printer; /* bytes the printer was given (and PRINT_DATA reported) */
    uint64_t printer_to_pos; /* bytes the POS was given (printer status, ASB) */
    size_t buffered;         /* bytes held now, both directions */
    size_t max_buffered;     /* the most held at once, both directions; <= 2 * TAP_SERIAL_BUF */
    uint64_t reopens;        /* ports opened again after being lost */
    int pos_up, printer_up;  /* the port is open */
};

/* src must be a source tap_serial_open made. */
void tap_serial_get_stats(const struct hal_source *src, struct tap_serial_stats *out);

#endif
