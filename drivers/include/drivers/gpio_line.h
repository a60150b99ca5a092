/*
 * A GPIO input line through the kernel's character device (libgpiod v1): both edges are watched
 * and reported as HAL_EVENT_EDGE, value 1 when the line goes active (the condition it signals
 * holds), 0 when it goes inactive. Built only where libgpiod is found (BOARD_HAS_GPIO).
 */
#ifndef DRIVERS_GPIO_LINE_H
#define DRIVERS_GPIO_LINE_H

#include <stddef.h>

#include "hal/loop.h"
#include "hal/source.h"

struct gpio_line_params {
    char chip[64];  /* "gpiochip0", "/dev/gpiochip0", a chip label or number */
    unsigned line;  /* the line's offset on that chip */
    int active_low; /* the line reads 0 while the condition holds */
};

/* Requests the line, registers its event descriptor on loop and reports to emit(ctx, ...). A
 * line already active at open is reported as an active edge on the loop's first turn (power may
 * already be failing when the daemon starts). On failure returns a negative errno and writes a
 * reason to err. */
int gpio_line_open(const struct gpio_line_params *p, enum hal_role role, const char *name,
                   struct loop *loop, hal_event_fn emit, void *ctx, struct hal_source **out,
                   char *err, size_t errlen);

#endif
