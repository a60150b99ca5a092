/*
 * The sale path: a POS request becomes a durable journal record, then a reply. Validation,
 * duplicate check, append with sync, reply; nothing here waits on the network.
 */
#ifndef TILLSYNC_POS_INTAKE_H
#define TILLSYNC_POS_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "hal/source.h"
#include "journal.h"

struct pos_intake {
    const char *terminal_id;
    struct journal *journal;
    /* Set while no sale may be stored (power failing): every sale is answered retry: true with
     * this reason, and the journal is not touched. */
    const char *paused;
    uint64_t accepted, duplicates, rejected, refused; /* since start, for status */
    /* Sales stored with an `at` that cannot be true (clock_check.h): counted, never refused nor
     * changed, the last one described for status. */
    uint64_t implausible_at;
    char last_implausible[200];
};

enum pos_outcome { POS_STORED, POS_DUPLICATE, POS_REJECTED, POS_RETRY };

/* One sale request line (NULL: longer than len bytes) through validation into the journal. The
 * contract's reply line is returned in *reply (malloc'd; NULL when out of memory). */
enum pos_outcome pos_intake_sale(struct pos_intake *pi, const char *req, size_t len, char **reply);

/* A request event from a POS source: stored, then answered on its reply channel. */
void pos_intake_on_request(struct pos_intake *pi, const struct hal_event *ev);

#endif
