/*
 * The flash journal. Format: docs/FORMAT.md. Why it is built this way: docs/DESIGN.md.
 */
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "dup_window.h"

#define BLOCK_MAGIC  0x4C4A5354u /* "TSJL" */
#define BLOCK_HDR    40u
#define REC_HDR      16u
#define REC_MAGIC    0x5254u /* "TR" */
#define REC_SALE     1
#define REC_MARK     2
#define SALE_FIXED   17u /* seq, accepted_ms, txn_len */
#define MARK_FIXED   32u
#define MARK_DEAD    1u /* carries dead_seq and the reason */
#define MARK_REQUEUE 2u /* carries dead_seq: a technician sent that sale again */

/* ---- little-endian encoding: the format is the same on every CPU ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t round_up(uint32_t v, uint32_t unit)
{
    return (v + unit - 1) / unit * unit;
}

static int all_erased(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return 0;
    return 1;
}

static uint64_t addr_of(const struct journal *j, uint32_t block, uint32_t off)
{
    return (uint64_t)block * j->erase_size + off;
}

/* ---- block headers ---- */

struct block_hdr {
    uint64_t block_seq, first_seq;
    uint32_t erase_count;
};

enum hdr_state { HDR_VALID, HDR_INVALID, HDR_NEWER, HDR_GEOMETRY, HDR_IO };

static enum hdr_state read_block_hdr(struct journal *j, uint32_t block, struct block_hdr *h)
{
    uint8_t b[BLOCK_HDR];
    if (hal_flash_read(j->flash, addr_of(j, block, 0), b, sizeof b) != 0)
        return HDR_IO; /* not the same as a blank block: guessing here could lose sales */
    if (get32(b) != BLOCK_MAGIC || crc32_update(0, b, 36) != get32(b + 36))
        return HDR_INVALID;
    h->block_seq = get64(b + 8);
    h->first_seq = get64(b + 16);
    h->erase_count = get32(b + 24);
    if (get16(b + 4) > JOURNAL_FORMAT_VERSION)
        return HDR_NEWER;
    if (get16(b + 4) != JOURNAL_FORMAT_VERSION || get16(b + 6) != BLOCK_HDR)
        return HDR_INVALID;
    if (get32(b + 28) != j->erase_size || get32(b + 32) != j->prog_size)
        return HDR_GEOMETRY;
    return HDR_VALID;
}

static int write_block_hdr(struct journal *j, uint32_t block, const struct block_hdr *h)
{
    uint8_t *b = j->wbuf;
    memset(b, 0xFF, j->hdr_area);
    put32(b, BLOCK_MAGIC);
    put16(b + 4, JOURNAL_FORMAT_VERSION);
    put16(b + 6, BLOCK_HDR);
    put64(b + 8, h->block_seq);
    put64(b + 16, h->first_seq);
    put32(b + 24, h->erase_count);
    put32(b + 28, j->erase_size);
    put32(b + 32, j->prog_size);
    put32(b + 36, crc32_update(0, b, 36));
    return hal_flash_prog(j->flash, addr_of(j, block, 0), b, j->hdr_area);
}

/* ---- the ring ---- */

static uint32_t ring_age(const struct journal *j, uint32_t block)
{
    return (j->head + j->nblocks - block) % j->nblocks;
}

static int in_ring(const struct journal *j, uint32_t block)
{
    return !j->empty && ring_age(j, block) < j->used;
}

static uint64_t ring_block_seq(const struct journal *j, uint32_t block)
{
    return j->head_seq - ring_age(j, block);
}

static struct journal_pos ring_start(const struct journal *j)
{
    return (struct journal_pos){j->tail, j->hdr_area, ring_block_seq(j, j->tail)};
}

static int pos_valid(const struct journal *j, const struct journal_pos *p)
{
    return in_ring(j, p->block) && ring_block_seq(j, p->block) == p->block_seq;
}

/* ---- records ---- */

enum rec_state { REC_OK, REC_END, REC_BAD_PAYLOAD, REC_BAD_HDR, REC_IO };

struct rec {
    uint8_t type;
    uint32_t len;  /* payload bytes, in j->rbuf, NUL-terminated */
    uint32_t span; /* bytes the record occupies on flash */
};

static enum rec_state read_record(struct journal *j, uint32_t block, uint32_t off, struct rec *r)
{
    uint8_t h[REC_HDR];
    if (off + REC_HDR > j->erase_size)
        return REC_END;
    if (hal_flash_read(j->flash, addr_of(j, block, off), h, sizeof h) != 0)
        return REC_IO;
    if (all_erased(h, sizeof h))
        return REC_END;
    r->type = h[0];
    r->len = get32(h + 4);
    if (get16(h + 2) != REC_MAGIC || crc32_update(0, h, 12) != get32(h + 12) ||
        (r->type != REC_SALE && r->type != REC_MARK) || r->len > j->buf_size - 1 ||
        r->len > j->erase_size - off - REC_HDR)
        return REC_BAD_HDR;
    r->span = round_up(REC_HDR + r->len, j->prog_size);
    if (hal_flash_read(j->flash, addr_of(j, block, off + REC_HDR), j->rbuf, r->len) != 0)
        return REC_IO;
    j->rbuf[r->len] = '\0';
    if (crc32_update(0, j->rbuf, r->len) != get32(h + 8))
        return REC_BAD_PAYLOAD;
    return REC_OK;
}

/*
 * After a header that fails its CRC the record's length is unknown; look for the next valid
 * header at the following program units. Headers hold bytes JSON never contains, so payload
 * cannot pass for one.
 */
static uint32_t resync(struct journal *j, uint32_t block, uint32_t off)
{
    struct rec r;
    for (off += j->prog_size; off + REC_HDR <= j->erase_size; off += j->prog_size) {
        enum rec_state st = read_record(j, block, off, &r);
        if (st == REC_OK || st == REC_BAD_PAYLOAD)
            return off;
    }
    return j->erase_size;
}

static int decode_sale(struct journal *j, const struct rec *r, struct journal_sale *s)
{
    const uint8_t *p = j->rbuf;
    if (r->type != REC_SALE || r->len < SALE_FIXED || r->len < SALE_FIXED + p[16] ||
        p[16] > JOURNAL_MAX_TXN)
        return -1;
    s->seq = get64(p);
    s->accepted_ms = get64(p + 8);
    /* txn and body share rbuf: move txn out so both can be NUL-terminated strings */
    memcpy(j->txn_buf, p + SALE_FIXED, p[16]);
    j->txn_buf[p[16]] = '\0';
    s->txn = j->txn_buf;
    s->body = (const char *)p + SALE_FIXED + p[16];
    s->body_len = r->len - SALE_FIXED - p[16];
    return 0;
}

struct mark {
    uint32_t backend_id, flags;
    uint64_t watermark, delivered_total, dead_total;
};

static int decode_mark(struct journal *j, const struct rec *r, struct mark *m)
{
    const uint8_t *p = j->rbuf;
    if (r->type != REC_MARK || r->len < MARK_FIXED)
        return -1;
    m->backend_id = get32(p);
    m->flags = get32(p + 4);
    m->watermark = get64(p + 8);
    m->delivered_total = get64(p + 16);
    m->dead_total = get64(p + 24);
    return 0;
}

static struct journal_backend *backend_by_id(struct journal *j, uint32_t id)
{
    for (unsigned i = 0; i < j->nbackends; i++)
        if (j->backends[i].id == id)
            return &j->backends[i];
    return NULL;
}

/* ---- mount ---- */

/* Visits every readable record from tail to head. A callback returning nonzero stops the walk. */
typedef int (*visit_fn)(struct journal *j, const struct rec *r, struct journal_pos at,
                        uint32_t next_off, void *ctx);

static int walk(struct journal *j, int count_damage, visit_fn fn, void *ctx)
{
    if (j->empty)
        return 0;
    for (uint32_t k = 0; k < j->used; k++) {
        uint32_t b = (j->tail + k) % j->nblocks;
        int is_head = b == j->head;
        struct journal_pos at = {b, j->hdr_area, ring_block_seq(j, b)};
        while (at.off < j->erase_size) {
            struct rec r;
            enum rec_state st = read_record(j, b, at.off, &r);
            if (st == REC_END)
                break;
            if (st == REC_IO)
                return -EIO;
            uint32_t next = st == REC_BAD_HDR ? resync(j, b, at.off) : at.off + r.span;
            if (st == REC_OK) {
                int rc = fn(j, &r, at, next, ctx);
                if (rc)
                    return rc;
            } else if (count_damage) {
                /* Damage at the very end of the head is an append cut short: never acked. */
                int last =
                    is_head && (next >= j->erase_size || read_record(j, b, next, &r) == REC_END);
                if (last)
                    j->report.torn_tail++;
                else
                    j->report.corrupt_records++;
                if (last && is_head && st == REC_BAD_HDR)
                    j->head_sealed = 1;
            }
            at.off = next;
        }
        if (is_head && count_damage) {
            j->head_off = at.off < j->erase_size ? at.off : j->erase_size;
            /* Bytes after the end marker mean a torn program we cannot parse: append elsewhere. */
            if (!j->head_sealed && j->head_off < j->erase_size) {
                for (uint32_t off = j->head_off; off < j->erase_size && !j->head_sealed;) {
                    uint32_t n = j->erase_size - off;
                    if (n > j->buf_size)
                        n = (uint32_t)j->buf_size;
                    if (hal_flash_read(j->flash, addr_of(j, b, off), j->rbuf, n) != 0)
                        return -EIO;
                    if (!all_erased(j->rbuf, n)) {
                        j->head_sealed = 1;
                        j->report.torn_tail++;
                    }
                    off += n;
                }
            }
        }
    }
    return 0;
}

static int scan_record(struct journal *j, const struct rec *r, struct journal_pos at,
                       uint32_t next_off, void *ctx)
{
    uint64_t *last_seq = ctx;
    (void)next_off;
    if (r->type == REC_SALE) {
        struct journal_sale s;
        if (decode_sale(j, r, &s) != 0) {
            j->report.corrupt_records++;
            return 0;
        }
        j->report.sales++;
        if (s.seq + 1 > *last_seq)
            *last_seq = s.seq + 1;
        struct dup_hit where = {(uint32_t)addr_of(j, at.block, at.off), (uint32_t)at.block_seq};
        dup_window_add(j->dups, dup_window_hash(s.txn), where);
    } else {
        struct mark m;
        if (decode_mark(j, r, &m) != 0) {
            j->report.corrupt_records++;
            return 0;
        }
        j->report.marks++;
        struct journal_backend *b = backend_by_id(j, m.backend_id);
        if (b && m.watermark >= b->persisted_watermark) {
            b->persisted_watermark = m.watermark;
            b->dead_total = m.dead_total;
            b->delivered_total = m.delivered_total;
        }
    }
    return 0;
}

/* Second pass: with watermarks known, count what each backend still owes and find its cursor. */
static int count_queued(struct journal *j, const struct rec *r, struct journal_pos at,
                        uint32_t next_off, void *ctx)
{
    struct journal_sale s;
    (void)next_off;
    (void)ctx;
    if (r->type != REC_SALE || decode_sale(j, r, &s) != 0)
        return 0;
    for (unsigned i = 0; i < j->nbackends; i++) {
        struct journal_backend *b = &j->backends[i];
        if (s.seq < b->watermark)
            continue;
        if (b->queued++ == 0)
            b->cursor = at;
    }
    return 0;
}

/*
 * The block after the head has a header that does not verify. Normally that is an erase cut by
 * power loss. But if it holds sales newer than the head's, it is the real head whose header took
 * a bit flip; treating it as free would erase acknowledged sales.
 */
static void find_damaged_head(struct journal *j)
{
    uint32_t b = (j->head + 1) % j->nblocks;
    struct block_hdr h;
    if (read_block_hdr(j, b, &h) != HDR_INVALID)
        return;
    uint64_t head_next = j->next_seq;
    for (uint32_t off = j->hdr_area; off + REC_HDR <= j->erase_size;) {
        struct rec r;
        struct journal_sale s;
        enum rec_state st = read_record(j, b, off, &r);
        if (st == REC_END || st == REC_IO)
            return;
        if (st == REC_OK && decode_sale(j, &r, &s) == 0) {
            if (s.seq < head_next)
                return; /* data of an older lap */
            j->head = b;
            j->head_seq++;
            j->head_sealed = 1; /* appends go on in a block with a sound header */
            j->report.damaged_headers++;
            return;
        }
        off = st == REC_BAD_HDR ? resync(j, b, off) : off + r.span;
    }
}

uint32_t journal_backend_id(const char *name)
{
    return crc32_update(0, name, strlen(name));
}

int journal_mount(struct journal *j, struct hal_flash *flash, const uint32_t *backend_ids,
                  unsigned nbackends, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->flash = flash;
    j->erase_size = flash->geo.erase_size;
    j->prog_size = flash->geo.prog_size;
    j->nblocks = (uint32_t)(flash->geo.size / flash->geo.erase_size);
    j->hdr_area = round_up(BLOCK_HDR, j->prog_size);
    if (nbackends > JOURNAL_MAX_BACKENDS || j->nblocks < 4 || j->prog_size == 0 ||
        j->erase_size % j->prog_size || j->hdr_area + REC_HDR > j->erase_size) {
        snprintf(err, errlen,
                 "unusable geometry: need at least 4 erase blocks, each holding a "
                 "header and a record");
        return -EINVAL;
    }
    j->buf_size = round_up(REC_HDR + JOURNAL_MAX_RECORD, j->prog_size) + 1; /* a whole record */
    j->rbuf = malloc(j->buf_size);
    j->wbuf = malloc(j->buf_size);
    j->dups = dup_window_new();
    if (!j->rbuf || !j->wbuf || !j->dups) {
        journal_unmount(j);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    j->nbackends = nbackends;
    for (unsigned i = 0; i < nbackends; i++)
        j->backends[i].id = backend_ids[i];

    /* Headers first: they alone place every block in the ring. */
    j->report.blocks = j->nblocks;
    j->report.erase_min = UINT32_MAX;
    j->empty = 1;
    for (uint32_t b = 0; b < j->nblocks; b++) {
        struct block_hdr h;
        enum hdr_state st = read_block_hdr(j, b, &h);
        if (st == HDR_IO) {
            snprintf(err, errlen, "cannot read block %u's header", b);
            journal_unmount(j);
            return -EIO;
        }
        if (st == HDR_NEWER || st == HDR_GEOMETRY) {
            snprintf(err, errlen,
                     st == HDR_NEWER ? "block %u was written by a newer journal format; refusing "
                                       "to touch it (upgrade the firmware)"
                                     : "block %u was written with another erase/program size; "
                                       "refusing to touch it (fix journal geometry in the config)",
                     b);
            journal_unmount(j);
            return -EPROTO;
        }
        if (st != HDR_VALID) {
            j->report.blocks_bad_header++;
            continue;
        }
        if (h.erase_count < j->report.erase_min)
            j->report.erase_min = h.erase_count;
        if (h.erase_count > j->report.erase_max)
            j->report.erase_max = h.erase_count;
        j->report.erase_sum += h.erase_count;
        if (j->empty || h.block_seq > j->head_seq) {
            j->empty = 0;
            j->head = b;
            j->head_seq = h.block_seq;
            j->next_seq = h.first_seq;
        }
    }
    if (j->report.erase_min == UINT32_MAX)
        j->report.erase_min = 0;
    j->erase_hint = j->report.erase_max;
    if (!j->empty) {
        find_damaged_head(j);
        /*
         * The ring runs back from head through consecutive block sequence numbers. A block whose
         * header is unreadable but which lies between two that continue the sequence is part of
         * the ring all the same (its header took a bit flip; erases never happen there), so its
         * records are still read, and the damage is reported.
         */
        j->tail = j->head;
        j->used = 1;
        uint32_t skipped = 0;
        for (uint32_t d = 1; d < j->nblocks; d++) {
            uint32_t b = (j->head + j->nblocks - d) % j->nblocks;
            struct block_hdr h;
            enum hdr_state st = read_block_hdr(j, b, &h);
            if (st == HDR_VALID && h.block_seq == j->head_seq - d) {
                j->tail = b;
                j->used = d + 1;
                j->report.damaged_headers += skipped;
                skipped = 0;
            } else if (st == HDR_VALID) {
                break; /* an older lap: the ring ended before it */
            } else {
                skipped++;
            }
        }
    }
    j->report.blocks_used = j->used;

    uint64_t last_seq = j->next_seq;
    int rc = walk(j, 1, scan_record, &last_seq);
    if (rc == 0) {
        j->next_seq = last_seq;
        uint64_t first = 0;
        if (!j->empty) {
            struct block_hdr h;
            if (read_block_hdr(j, j->tail, &h) == HDR_VALID)
                first = h.first_seq; /* no sale older than this exists any more */
        }
        for (unsigned i = 0; i < nbackends; i++) {
            struct journal_backend *b = &j->backends[i];
            b->watermark = b->persisted_watermark > first ? b->persisted_watermark : first;
            b->cursor = j->empty ? (struct journal_pos){0} : ring_start(j);
        }
        rc = walk(j, 0, count_queued, NULL);
    }
    if (rc) {
        snprintf(err, errlen, "flash read failed during mount: %s", strerror(-rc));
        journal_unmount(j);
        return rc;
    }
    return 0;
}

void journal_unmount(struct journal *j)
{
    free(j->rbuf);
    free(j->wbuf);
    dup_window_free(j->dups);
    j->rbuf = j->wbuf = NULL;
    j->dups = NULL;
}

/* ---- appending ---- */

static uint64_t min_watermark(const struct journal *j)
{
    uint64_t w = j->next_seq;
    for (unsigned i = 0; i < j->nbackends; i++)
        if (j->backends[i].watermark < w)
            w = j->backends[i].watermark;
    return w;
}

/* Drops tail blocks whose sales every backend is done with. They are erased when reused. */
static void reclaim(struct journal *j)
{
    uint64_t done_below = min_watermark(j);
    /* The first valid header after the tail bounds the sales of every block before it. */
    for (uint32_t k = 1; k < j->used; k++) {
        struct block_hdr h;
        uint32_t next = (j->tail + k) % j->nblocks;
        if (read_block_hdr(j, next, &h) != HDR_VALID)
            continue;
        if (h.first_seq > done_below)
            return;
        j->tail = next;
        j->used -= k;
        k = 0;
    }
}

static void take_block(struct journal *j, uint32_t b, uint64_t block_seq);

/*
 * Moves the head to a fresh block. Sales leave one block free so that delivery marks, which are
 * what lets blocks be reclaimed, always have room: a journal full of sales still drains.
 */
static int open_block(struct journal *j, int for_sale)
{
    uint32_t b = 0;
    struct block_hdr old, h;
    int rc;
    for (;;) {
        if (!j->empty) {
            reclaim(j);
            if (j->nblocks - j->used < (for_sale ? 2u : 1u))
                return -ENOSPC;
            b = (j->head + 1) % j->nblocks;
        }
        uint32_t erase_count =
            read_block_hdr(j, b, &old) == HDR_VALID ? old.erase_count : j->erase_hint;
        h.block_seq = j->empty ? 1 : j->head_seq + 1;
        h.first_seq = j->next_seq;
        h.erase_count = erase_count + 1;
        rc = hal_flash_erase(j->flash, b);
        if (rc == 0)
            rc = write_block_hdr(j, b, &h);
        if (rc != -EROFS)
            break;
        /*
         * A worn block. It keeps its place in the ring, sealed and without a valid header, so
         * the blocks around it keep consecutive sequence numbers; mount reports it as a damaged
         * header and reads nothing from it. The next lap tries it again.
         */
        j->report.bad_blocks++;
        take_block(j, b, h.block_seq);
        j->head_sealed = 1;
    }
    if (rc)
        return rc;
    take_block(j, b, h.block_seq);
    if (h.erase_count > j->erase_hint)
        j->erase_hint = h.erase_count;
    return 0;
}

/* Makes block b, just opened with sequence block_seq, the head. */
static void take_block(struct journal *j, uint32_t b, uint64_t block_seq)
{
    if (j->empty) {
        j->tail = b;
        j->used = 0;
        for (unsigned i = 0; i < j->nbackends; i++)
            j->backends[i].cursor = (struct journal_pos){b, j->hdr_area, block_seq};
    }
    j->empty = 0;
    j->head = b;
    j->head_seq = block_seq;
    j->used++;
    j->head_off = j->hdr_area;
    j->head_sealed = 0;
}

struct part {
    const void *p;
    size_t n;
};

static int append(struct journal *j, uint8_t type, const struct part *parts, int nparts,
                  int for_sale, struct journal_pos *at)
{
    size_t len = 0;
    for (int i = 0; i < nparts; i++)
        len += parts[i].n;
    if (len > JOURNAL_MAX_RECORD || REC_HDR + len > j->erase_size - j->hdr_area)
        return -EMSGSIZE;
    uint32_t span = round_up(REC_HDR + (uint32_t)len, j->prog_size);
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (j->empty || j->head_sealed || j->head_off + span > j->erase_size) {
            rc = open_block(j, for_sale);
            if (rc)
                return rc;
        }
        uint8_t *w = j->wbuf;
        memset(w, 0xFF, span);
        w[0] = type;
        w[1] = 0;
        put16(w + 2, REC_MAGIC);
        put32(w + 4, (uint32_t)len);
        size_t off = REC_HDR;
        for (int i = 0; i < nparts; i++) {
            memcpy(w + off, parts[i].p, parts[i].n);
            off += parts[i].n;
        }
        put32(w + 8, crc32_update(0, w + REC_HDR, len));
        put32(w + 12, crc32_update(0, w, 12));
        *at = (struct journal_pos){j->head, j->head_off, j->head_seq};
        rc = hal_flash_prog(j->flash, addr_of(j, j->head, j->head_off), w, span);
        if (rc == 0) {
            j->head_off += span;
            return 0;
        }
        /* Whatever landed is unreadable now and cannot be programmed again. */
        j->head_sealed = 1;
        if (rc != -EROFS)
            return rc; /* a worn block gets one more try elsewhere; anything else is the device */
    }
    return rc;
}

int journal_append_sale(struct journal *j, const char *txn, const char *body, size_t body_len,
                        uint64_t accepted_ms, uint64_t *seq_out)
{
    uint8_t fixed[SALE_FIXED];
    size_t txn_len = strlen(txn);
    if (txn_len > JOURNAL_MAX_TXN)
        return -EINVAL;
    put64(fixed, j->next_seq);
    put64(fixed + 8, accepted_ms);
    fixed[16] = (uint8_t)txn_len;
    struct part parts[] = {{fixed, sizeof fixed}, {txn, txn_len}, {body, body_len}};
    struct journal_pos at;
    uint64_t seq = j->next_seq;
    int rc = append(j, REC_SALE, parts, 3, 1, &at);
    if (rc == 0)
        rc = hal_flash_sync(j->flash);
    if (rc) {
        /* The record may have landed anyway: its seq is never handed out twice. */
        j->next_seq++;
        return rc;
    }
    j->next_seq++;
    j->report.sales++;
    for (unsigned i = 0; i < j->nbackends; i++)
        j->backends[i].queued++;
    dup_window_add(
        j->dups, dup_window_hash(txn),
        (struct dup_hit){(uint32_t)addr_of(j, at.block, at.off), (uint32_t)at.block_seq});
    *seq_out = seq;
    return 0;
}

struct txn_probe {
    struct journal *j;
    const char *txn;
};

static int confirm_txn(void *ctx, struct dup_hit where)
{
    struct txn_probe *p = ctx;
    struct journal *j = p->j;
    uint32_t block = (uint32_t)(where.addr / j->erase_size);
    /* Reclaimed since: only the 64-bit hash is left to go on, and that is enough. */
    if (!in_ring(j, block) || (uint32_t)ring_block_seq(j, block) != where.block_seq_lo)
        return 1;
    struct rec r;
    struct journal_sale s;
    if (read_record(j, block, where.addr % j->erase_size, &r) != REC_OK ||
        decode_sale(j, &r, &s) != 0)
        return 1;
    return strcmp(s.txn, p->txn) == 0;
}

int journal_find_txn(struct journal *j, const char *txn)
{
    struct txn_probe p = {j, txn};
    return dup_window_find(j->dups, dup_window_hash(txn), confirm_txn, &p);
}

/* ---- delivery ---- */

int journal_next_sale(struct journal *j, unsigned bi, struct journal_sale *out)
{
    struct journal_backend *b = &j->backends[bi];
    if (j->empty || b->queued <= b->npending || b->npending == JOURNAL_MAX_IN_FLIGHT)
        return 0;
    uint64_t from = b->fetched_end > b->watermark ? b->fetched_end : b->watermark;
    struct journal_pos at = pos_valid(j, &b->cursor) ? b->cursor : ring_start(j);
    for (;;) {
        int at_end = at.block == j->head ? at.off >= j->head_off : at.off >= j->erase_size;
        struct rec r;
        enum rec_state st = at_end ? REC_END : read_record(j, at.block, at.off, &r);
        if (st == REC_IO)
            return -EIO;
        if (st == REC_END) {
            if (at.block == j->head)
                return 0;
            at.block = (at.block + 1) % j->nblocks;
            at.off = j->hdr_area;
            at.block_seq++;
            continue;
        }
        struct journal_pos start = at;
        at.off = st == REC_BAD_HDR ? resync(j, at.block, at.off) : at.off + r.span;
        b->cursor = at;
        if (st == REC_OK && r.type == REC_SALE && decode_sale(j, &r, out) == 0 &&
            out->seq >= from) {
            out->pos = start;
            out->next = at;
            b->pending[b->npending++] = out->seq;
            b->fetched_end = out->seq + 1;
            return 1;
        }
    }
}

static int write_mark(struct journal *j, struct journal_backend *b, uint32_t flags,
                      uint64_t dead_seq, const char *dead_reason)
{
    uint8_t fixed[MARK_FIXED + 8];
    struct journal_pos at;
    put32(fixed, b->id);
    put32(fixed + 4, flags);
    put64(fixed + 8, b->watermark);
    put64(fixed + 16, b->delivered_total);
    put64(fixed + 24, b->dead_total);
    put64(fixed + 32, dead_seq);
    struct part parts[] = {{fixed, flags ? sizeof fixed : MARK_FIXED},
                           {dead_reason ? dead_reason : "", dead_reason ? strlen(dead_reason) : 0}};
    int rc = append(j, REC_MARK, parts, 2, 0, &at);
    if (rc == 0)
        b->persisted_watermark = b->watermark;
    return rc;
}

int journal_sale_done(struct journal *j, unsigned bi, const struct journal_sale *s,
                      const char *dead_reason)
{
    struct journal_backend *b = &j->backends[bi];
    unsigned i = 0;
    while (i < b->npending && b->pending[i] != s->seq)
        i++;
    if (i == b->npending || (b->pending_done >> i & 1))
        return 0; /* not out, or already done: a stale completion */
    b->pending_done |= 1u << i;
    while (b->npending && (b->pending_done & 1)) {
        memmove(b->pending, b->pending + 1, (b->npending - 1) * sizeof *b->pending);
        b->pending_done >>= 1;
        b->npending--;
    }
    b->watermark = b->npending ? b->pending[0] : b->fetched_end;
    if (b->queued)
        b->queued--;
    if (!dead_reason) {
        b->delivered_total++;
        return 0;
    }
    b->dead_total++;
    char reason[256];
    snprintf(reason, sizeof reason, "%s", dead_reason);
    return write_mark(j, b, MARK_DEAD, s->seq, reason);
}

int journal_flush_marks(struct journal *j)
{
    for (unsigned i = 0; i < j->nbackends; i++) {
        struct journal_backend *b = &j->backends[i];
        if (b->watermark != b->persisted_watermark) {
            int rc = write_mark(j, b, 0, 0, NULL);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int journal_sync(struct journal *j)
{
    return hal_flash_sync(j->flash);
}

uint64_t journal_used_bytes(const struct journal *j)
{
    if (j->empty)
        return 0;
    return (uint64_t)(j->used - 1) * j->erase_size + j->head_off;
}

enum journal_block_state journal_block_info(struct journal *j, uint32_t block,
                                            uint32_t *erase_count)
{
    struct block_hdr h;
    uint8_t raw[BLOCK_HDR];
    *erase_count = 0;
    if (read_block_hdr(j, block, &h) == HDR_VALID) {
        *erase_count = h.erase_count;
        return in_ring(j, block) ? JOURNAL_BLOCK_IN_USE : JOURNAL_BLOCK_FREE;
    }
    if (hal_flash_read(j->flash, addr_of(j, block, 0), raw, sizeof raw) == 0 &&
        all_erased(raw, sizeof raw))
        return JOURNAL_BLOCK_ERASED;
    return JOURNAL_BLOCK_UNREADABLE; /* an erase cut short, or a worn block */
}

/* ---- dead letters ---- */

struct dead_scan {
    uint32_t backend_id;
    journal_dead_fn fn;
    void *ctx;
    /* The dead letters are listed newest last; a requeue mark hides its dead letter, which
     * always precedes it, so a bounded set of recent requeues is enough to filter. */
    uint64_t requeued[256];
    unsigned nrequeued;
    int pass;
};

static int visit_dead(struct journal *j, const struct rec *r, struct journal_pos at,
                      uint32_t next_off, void *ctx)
{
    struct dead_scan *d = ctx;
    struct mark m;
    (void)at;
    (void)next_off;
    if (decode_mark(j, r, &m) != 0 || m.backend_id != d->backend_id || !m.flags ||
        r->len < MARK_FIXED + 8)
        return 0;
    uint64_t seq = get64(j->rbuf + MARK_FIXED);
    if (d->pass == 0) {
        if ((m.flags & MARK_REQUEUE) && d->nrequeued < 256)
            d->requeued[d->nrequeued++] = seq;
        return 0;
    }
    if (!(m.flags & MARK_DEAD))
        return 0;
    for (unsigned i = 0; i < d->nrequeued; i++)
        if (d->requeued[i] == seq)
            return 0;
    return d->fn(d->ctx, seq, (const char *)j->rbuf + MARK_FIXED + 8);
}

int journal_dead_letters(struct journal *j, unsigned b, journal_dead_fn fn, void *ctx)
{
    struct dead_scan d = {.backend_id = j->backends[b].id, .fn = fn, .ctx = ctx};
    int rc = walk(j, 0, visit_dead, &d);
    d.pass = 1;
    return rc ? rc : walk(j, 0, visit_dead, &d);
}

struct sale_probe {
    uint64_t seq;
    char txn[JOURNAL_MAX_TXN + 1];
    char *body;
    size_t body_len;
    uint64_t accepted_ms;
};

static int visit_sale(struct journal *j, const struct rec *r, struct journal_pos at,
                      uint32_t next_off, void *ctx)
{
    struct sale_probe *p = ctx;
    struct journal_sale s;
    (void)at;
    (void)next_off;
    if (r->type != REC_SALE || decode_sale(j, r, &s) != 0 || s.seq != p->seq)
        return 0;
    snprintf(p->txn, sizeof p->txn, "%s", s.txn);
    p->body = malloc(s.body_len + 1);
    if (!p->body)
        return -ENOMEM;
    memcpy(p->body, s.body, s.body_len + 1);
    p->body_len = s.body_len;
    p->accepted_ms = s.accepted_ms;
    return 1;
}

struct txn_lookup {
    const uint64_t *seqs;
    unsigned n;
    char (*txns)[JOURNAL_MAX_TXN + 1];
};

static int visit_txns(struct journal *j, const struct rec *r, struct journal_pos at,
                      uint32_t next_off, void *ctx)
{
    struct txn_lookup *q = ctx;
    struct journal_sale s;
    (void)at;
    (void)next_off;
    if (r->type != REC_SALE || decode_sale(j, r, &s) != 0)
        return 0;
    for (unsigned i = 0; i < q->n; i++)
        if (q->seqs[i] == s.seq)
            snprintf(q->txns[i], sizeof q->txns[i], "%s", s.txn);
    return 0;
}

int journal_sale_txns(struct journal *j, const uint64_t *seqs, unsigned n,
                      char (*txns)[JOURNAL_MAX_TXN + 1])
{
    struct txn_lookup q = {seqs, n, txns};
    for (unsigned i = 0; i < n; i++)
        txns[i][0] = '\0';
    return walk(j, 0, visit_txns, &q);
}

int journal_requeue(struct journal *j, unsigned b, uint64_t dead_seq)
{
    struct sale_probe p = {.seq = dead_seq};
    int rc = walk(j, 0, visit_sale, &p);
    if (rc != 1)
        return rc < 0 ? rc : -ENOENT; /* reclaimed: nothing left to send */
    uint64_t seq;
    /* A new record, the same txn and so the same externalReference: the platform keeps it once. */
    rc = journal_append_sale(j, p.txn, p.body, p.body_len, p.accepted_ms, &seq);
    free(p.body);
    if (rc == 0)
        rc = write_mark(j, &j->backends[b], MARK_REQUEUE, dead_seq, NULL);
    return rc;
}
