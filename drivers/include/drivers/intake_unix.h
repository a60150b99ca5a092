/* Requests over a Unix stream socket: one line each (JSON for the POS), one reply line each. */
#ifndef DRIVERS_INTAKE_UNIX_H
#define DRIVERS_INTAKE_UNIX_H

#include <stddef.h>
#include <sys/types.h>

#include "hal/loop.h"
#include "hal/source.h"

#define INTAKE_UNIX_MAX_LINE 65536

struct intake_unix_params {
    const char *path;
    mode_t mode; /* of the socket file; 0: as the umask leaves it */
    enum hal_role role;
    const char *name; /* the source's name in logs */
    int one_request;  /* close each connection once its reply is sent (the control socket) */
};

int intake_unix_open(const struct intake_unix_params *p, struct loop *loop, hal_event_fn emit,
                     void *ctx, struct hal_source **out, char *err, size_t errlen);

#endif
