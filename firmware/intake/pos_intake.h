/*
 * The sale path: a POS request becomes a durable journal record, then a reply. Validation,
 * duplicate check, append with sync, reply; nothing here waits on the network.
 */
#ifndef TILLSYNC_POS_INTAKE_H
#define TILLSYNC_POS_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "hal/intake.h"
#include "journal.h"

struct pos_intake {
    const char *terminal_id;
    struct journal *journal;
    uint64_t accepted, duplicates, rejected, refused; /* since start, for status */
    /* Non-NULL: every request is answered with this reason and retry, the journal untouched
     * (the power is failing). */
    const char *stopped;
};

/* The hal_intake_request_fn for the board's intake source; ctx is a struct pos_intake. */
void pos_intake_on_request(void *ctx, struct hal_intake *src, uint32_t conn, const char *req,
                           size_t len);

#endif
