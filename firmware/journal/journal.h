/*
 * The journal: sales kept on flash until every backend has them. The format is specified in
 * docs/FORMAT.md; this header is the firmware's view of it.
 *
 * A log of records in a ring of erase blocks. Sales are appended and synced before the caller
 * acknowledges them. Delivery progress is appended too, as per-backend watermarks ("every sale
 * below seq N is done"), never by rewriting a sale, so the same code runs on NOR and NAND.
 *
 * Every block begins with an OPEN record: each backend's delivery state when the block was
 * opened, and the txn hashes of the sales in the blocks before it. So a mount reads the block
 * headers, the head block, and the OPEN records of the blocks holding the last 10,000 sales, not
 * the journal.
 *
 * RAM is fixed at mount: a read buffer, a write buffer and the duplicate window. Nothing grows
 * with the number of records stored.
 */
#ifndef TILLSYNC_JOURNAL_H
#define TILLSYNC_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hal/flash.h"

/* Written; versions 1 to 3 are still read. 4: sale bodies may hold "customer_sealed"
 * (firmware/seal/customer_seal.h), which a version 3 reader would send on as if it were the
 * customer: it refuses the journal instead (docs/FORMAT.md section 9). */
#define JOURNAL_FORMAT_VERSION 4
#define JOURNAL_MAX_BACKENDS   8
#define JOURNAL_DUP_WINDOW     10000 /* most recent sales whose txn is recognised as a resend */
#define JOURNAL_MAX_TXN        64
/*
 * The largest record is the dead letter (DEAD copy) of the largest sale a valid POS line makes.
 * The stored body is the line normalised by firmware/sale.c (cJSON_PrintUnformatted of the
 * validated members), its customer sealed (firmware/seal/customer_seal.c).
 *
 * Normalised, against the line, it never gains a byte from strings (a string prints no longer
 * than the escapes the line had to use: raw control bytes are refused, \u escapes print as UTF-8
 * or the same \u escape) nor from keys or punctuation (the same members, less "event" and
 * unknown ones, without whitespace). It gains from numbers: a JSON number is at least one
 * character, and it prints at most 13 characters as total (an integer <= 10^12), 14 as
 * unit_price (-10^12 .. 10^12) and 23 as qty (> 0, <= 10^9, %1.17g: "4.9406564584124654e-324"
 * from "5e-324"). A sale has one total and up to 500 items, so
 *   normalised body <= 65,536 + 12 + 500 x (22 + 13) = 83,048 bytes.
 *
 * Sealing replaces "customer":C (11 + c bytes) in place by "customer_sealed":"B", B the base64 of
 * the 33 + c bytes of version, key id, nonce, ciphertext and tag: 20 + 4 ceil((c + 33) / 3)
 * <= 20 + 4 (c + 35) / 3 bytes, so the body grows by at most 9 + (c + 140) / 3. The customer
 * object c is at most 7,742 bytes: five members of at most 256 bytes that print as up to 6 bytes
 * each (a \u0001 escape), in 2 quotes each, 46 bytes of keys, 4 commas and 2 braces. So
 *   body <= 83,048 + 9 + floor(7,882 / 3) = 83,048 + 2,636 = 85,684 bytes,
 * and its DEAD record holds 50 fixed bytes, a txn of up to 64 and a reason of up to 255 with it.
 */
#define JOURNAL_MAX_LINE       65536u /* the POS line limit (drivers/intake_unix.h) */
#define JOURNAL_MAX_NORMALISED (JOURNAL_MAX_LINE + 12u + 500u * (22u + 13u))     /* 83,048 */
#define JOURNAL_MAX_CUSTOMER   (46u + 5u * (2u + 6u * 256u) + 4u + 2u)           /* 7,742 */
#define JOURNAL_SEAL_GROWTH    (9u + (JOURNAL_MAX_CUSTOMER + 140u) / 3u)         /* 2,636 */
#define JOURNAL_MAX_BODY       (JOURNAL_MAX_NORMALISED + JOURNAL_SEAL_GROWTH)    /* 85,684 */
#define JOURNAL_MAX_RECORD     (50u + JOURNAL_MAX_TXN + 255u + JOURNAL_MAX_BODY) /* 86,053 */
#define JOURNAL_MAX_IN_FLIGHT  32 /* sales a backend may have fetched and not yet finished */
/*
 * Sale and block numbers stay below this. They are 64-bit and never wrap, and no journal gets
 * near it (2^62 sales at a million a second is 146,000 years), so a header or a sale carrying a
 * number at or above it was not written by a journal: a reader treats it as damaged, and the
 * writer refuses to number anything past it (docs/FORMAT.md section 2).
 */
#define JOURNAL_SEQ_LIMIT (UINT64_C(1) << 62)

struct journal_pos {
    uint32_t block;
    uint32_t off;
    uint64_t block_seq; /* tells a reused block from the one the position was taken in */
};

struct journal_backend {
    uint32_t id;        /* crc32 of the backend's name: survives reordering the config */
    uint64_t watermark; /* every sale with seq < watermark is delivered or dead-lettered */
    /* Sales below the watermark ever delivered to this backend, and dead-lettered for it. A sale
     * finished above the watermark is counted when the watermark passes it: a mark saves the
     * totals with the watermark, and mount hands out again what is above it. */
    uint64_t delivered_total;
    uint64_t dead_total;
    /* Sales with seq >= watermark still in the journal. Counted from sequence numbers at mount,
     * so an append that failed after its program was tried (its number is never reused) counts
     * until delivery passes it. */
    uint64_t queued;
    uint64_t persisted_watermark; /* the watermark as last written to flash */
    struct journal_pos cursor;    /* where to look for the next sale; found on first use */
    /* Fetched and not finished, in fetch order: completions may come in any order, the
     * watermark only moves over a finished prefix. */
    uint64_t pending[JOURNAL_MAX_IN_FLIGHT];
    uint32_t pending_done; /* bit i: pending[i] is finished */
    uint32_t pending_dead; /* bit i: pending[i] was dead-lettered, not delivered */
    unsigned npending;
    uint64_t fetched_end; /* one past the last fetched seq */
    /* The sales of the cursor's block (bound_block_seq) are numbered below bound: the first_seq
     * of the next block with a valid header. */
    uint64_t bound_block_seq, bound;
};

struct journal_sale {
    uint64_t seq;
    uint64_t accepted_ms; /* daemon's wall clock when stored; for ages, not ordering */
    const char *txn;      /* NUL-terminated, valid until the next journal call */
    const char *body;     /* the normalised sale JSON, NUL-terminated, same lifetime */
    size_t body_len;
    struct journal_pos pos;  /* where the record starts */
    struct journal_pos next; /* just after it */
};

/* What mount found, and journal_check() or delivery found since; what `tillsyncctl verify`
 * prints. Mount reads little: sales and marks are counted by journal_check() only. */
struct journal_report {
    uint32_t blocks, blocks_used, blocks_bad_header;
    uint64_t sales, marks;
    uint64_t mount_bytes_read; /* what the last mount read from flash */
    uint64_t corrupt_records;  /* CRC failures inside the log: bit flips, bad cells */
    uint64_t torn_tail;        /* an append cut by power loss, never acknowledged */
    uint32_t damaged_headers;  /* block headers in the ring that fail their CRC */
    uint32_t bad_blocks;       /* erases or header programs refused since mount: worn blocks */
    uint32_t erase_min, erase_max;
    uint64_t erase_sum;
};

struct dup_window;

struct journal {
    struct hal_flash *flash;
    /* A journal block is block_size bytes: a power-of-two number of the device's erase blocks
     * (erase_size), recorded in every block header. */
    uint32_t nblocks, block_size, erase_size, prog_size, hdr_area;
    uint32_t max_body; /* the largest sale body these blocks hold (JOURNAL_MAX_BODY: any sale) */
    uint32_t open_min; /* the smallest OPEN record: its state part */
    /* the ring: blocks tail .. head (mod nblocks) are in use */
    int empty;
    uint32_t head, tail, used;
    uint64_t head_seq; /* block_seq of head */
    uint32_t head_off; /* append position in head */
    int head_sealed;   /* head has unreadable bytes after its last record: append elsewhere */
    uint64_t next_seq; /* sale seq of the next append */
    /* The newest block whose sales' txn hashes are listed in an OPEN record on flash: the next
     * OPEN record lists the blocks after it. */
    uint64_t listed_upto;
    struct journal_pos checked; /* damage before this position is already in the report */
    uint64_t bytes_read;        /* from flash, since mount began */
    uint64_t mount_head_seq;    /* the head block at mount, whose damage mount counted */
    uint32_t erase_hint;        /* highest erase count read; for blocks whose header was lost */
    struct journal_backend backends[JOURNAL_MAX_BACKENDS];
    unsigned nbackends;
    struct journal_report report;
    uint64_t walk_bound_block_seq, walk_bound; /* sale_bound's answer for a walk's block */
    struct dup_window *dups;
    uint8_t *rbuf, *wbuf, *cbuf;           /* read, write, and a record being copied */
    int head_has_dead, prev_head_has_dead; /* DEAD records in the head, in the one before */
    char txn_buf[JOURNAL_MAX_TXN + 1];     /* the last decoded sale's txn, as a string */
    size_t buf_size;
};

/*
 * Mounts the journal on flash, recovering from whatever a power cut left. backend_ids are the
 * ids of the configured backends, in config order; indexes below refer to that order.
 * Returns 0, -EPROTO for a journal written by newer firmware or with another geometry (it is
 * left untouched), or another negative errno. err gets a reason.
 * The block size is the one the journal on flash was written with (docs/FORMAT.md section 1.1);
 * a blank device gets journal_default_block_size().
 */
int journal_mount(struct journal *j, struct hal_flash *flash, const uint32_t *backend_ids,
                  unsigned nbackends, char *err, size_t errlen);
/* The same, a blank device getting blocks of fresh_block_size bytes (a power-of-two multiple of
 * the erase size): for tests and tools that want small blocks. */
int journal_mount_blocks(struct journal *j, struct hal_flash *flash, uint32_t fresh_block_size,
                         const uint32_t *backend_ids, unsigned nbackends, char *err, size_t errlen);
/* The smallest power-of-two multiple of the erase size that holds the largest record after a
 * block header and an OPEN record for 8 backends (128 KiB up to 128 KiB erase blocks); the erase
 * size itself if the partition cannot hold 4 of those. */
uint32_t journal_default_block_size(const struct hal_flash_geometry *geo);
void journal_unmount(struct journal *j);

/*
 * Reads every record of the ring and counts sales, marks and damage into j->report, as
 * `tillsyncctl verify` shows them. Mount does not: it reads only what recovery needs.
 */
int journal_check(struct journal *j);

/* Returns the id a backend of that name has in the journal. */
uint32_t journal_backend_id(const char *name);

/* Returns 1 if a sale with exactly this txn is on flash and in the duplicate window (its record
 * read back and compared byte for byte; a hash alone never answers 1), else 0. */
int journal_find_txn(struct journal *j, const char *txn);

/*
 * Appends a sale and syncs it. On 0 the sale is durable. -ENOSPC: the journal is full of sales
 * not yet delivered; -EMSGSIZE: the record cannot fit a block (body over max_body); others:
 * device failure.
 */
int journal_append_sale(struct journal *j, const char *txn, const char *body, size_t body_len,
                        uint64_t accepted_ms, uint64_t *seq_out);

/*
 * Hands out the next sale backend b has not been given yet, oldest first; up to
 * JOURNAL_MAX_IN_FLIGHT may be out at once. Returns 1 if there is one, 0 if none, <0 on error.
 */
int journal_next_sale(struct journal *j, unsigned b, struct journal_sale *out);

/*
 * Records that backend b is done with a sale it was handed, in any order: delivered, or
 * dead-lettered with a reason (dead_reason != NULL). Delivery marks are only written by
 * journal_flush_marks(); a dead letter is written at once, since its reason is worth keeping.
 */
int journal_sale_done(struct journal *j, unsigned b, const struct journal_sale *s,
                      const char *dead_reason);

/* Calls fn for each dead letter of backend b still on flash and not requeued, oldest first.
 * fn returns nonzero to stop. The reason is valid during the call only. */
typedef int (*journal_dead_fn)(void *ctx, uint64_t seq, const char *reason);
int journal_dead_letters(struct journal *j, unsigned b, journal_dead_fn fn, void *ctx);
/* The txns of the sales with these seqs, in one pass; "" for a sale no longer on flash. */
int journal_sale_txns(struct journal *j, const uint64_t *seqs, unsigned n,
                      char (*txns)[JOURNAL_MAX_TXN + 1]);
/*
 * Every sale record still in the ring, oldest first: the sales (dead == -1) and the copies dead
 * letters carry (dead = the index of the backend that refused it, reason its why; a copy of one
 * seq may appear more than once, as copy_forward moves it). Records that fail their CRC are
 * skipped (journal_check counts them). fn returns nonzero to stop (the walk returns that value).
 * The sale's strings are valid during the call only. For tools that read the whole journal
 * (verify, export); the daemon never walks it on the sale path.
 */
typedef int (*journal_walk_fn)(void *ctx, const struct journal_sale *s, int dead,
                               const char *reason);
int journal_walk_sales(struct journal *j, journal_walk_fn fn, void *ctx);
/*
 * A technician's retry of a dead letter: the sale is stored again as a new record (synced),
 * which every backend then delivers under the same reference, and the dead letter is marked
 * requeued. -ENOENT if the sale was reclaimed meanwhile.
 */
int journal_requeue(struct journal *j, unsigned b, uint64_t dead_seq);

/* Writes a watermark for every backend that advanced. Not synced: a lost mark costs a resend. */
int journal_flush_marks(struct journal *j);
int journal_sync(struct journal *j);

uint64_t journal_used_bytes(const struct journal *j);

enum journal_block_state {
    JOURNAL_BLOCK_IN_USE,
    JOURNAL_BLOCK_FREE,
    JOURNAL_BLOCK_ERASED,
    /* outside the ring: an erase cut short; erased again before reuse */
    JOURNAL_BLOCK_UNREADABLE,
    /* inside the ring, its header fails its CRC (its records are still read) or is an older
     * lap's, left by a worn block whose erase failed (its records are not read) */
    JOURNAL_BLOCK_DAMAGED
};

#define JOURNAL_ERASES_UNKNOWN UINT32_MAX

/* For inspection: what a block holds and how often it was erased (JOURNAL_ERASES_UNKNOWN if
 * its header is lost, or it is erased and may have been used before). */
enum journal_block_state journal_block_info(struct journal *j, uint32_t block,
                                            uint32_t *erase_count);

#endif
