/*
 * A GPIO input line faked by a FIFO, for machines without a GPIO chip or gpio-sim (a developer's
 * laptop, CI containers): each byte '1' written to it is an active edge, each '0' an inactive
 * one; other bytes are ignored. Writers may come and go: the FIFO is reopened whenever the last
 * one closes it.
 */
#ifndef DRIVERS_GPIO_FIFO_H
#define DRIVERS_GPIO_FIFO_H

#include <stddef.h>

#include "hal/loop.h"
#include "hal/source.h"

struct gpio_fifo_params {
    const char *path; /* made (mode 0600) if missing; an existing non-FIFO is refused */
};

/* Opens the FIFO on loop; edges go to emit(ctx, ...) as HAL_EVENT_EDGE from a source with this
 * role and name. On failure returns a negative errno and writes a reason to err. */
int gpio_fifo_open(const struct gpio_fifo_params *p, enum hal_role role, const char *name,
                   struct loop *loop, hal_event_fn emit, void *ctx, struct hal_source **out,
                   char *err, size_t errlen);

#endif
