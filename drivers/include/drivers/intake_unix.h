/* POS intake over a Unix stream socket: one JSON request per line, one reply line each. */
#ifndef DRIVERS_INTAKE_UNIX_H
#define DRIVERS_INTAKE_UNIX_H

#include <stddef.h>

#include "hal/intake.h"

#define INTAKE_UNIX_MAX_LINE 65536

int intake_unix_open(const char *path, hal_intake_request_fn on_request, void *ctx,
                     struct hal_intake **out, char *err, size_t errlen);

#endif
