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
#define REC_OPEN     3   /* format 2: first record of a block */
#define REC_DEAD     4   /* format 2: a dead letter, with a copy of the sale */
#define SALE_FIXED   17u /* seq, accepted_ms, txn_len */
#define MARK_FIXED   32u
#define OPEN_FIXED   3u      /* nlisted, nbackends */
#define OPEN_BACKEND 28u     /* id, watermark, delivered_total, dead_total */
#define OPEN_DEAD    0x8000u /* in a listed block's count: the block may hold DEAD records */
#define DEAD_FIXED   50u     /* a MARK's 32 bytes, dead_seq, accepted_ms, txn_len, reason_len */
#define DEAD_REASON  255u
/* A sale must leave room for its own dead letter, which copies it. */
#define DEAD_EXTRA (DEAD_FIXED - SALE_FIXED + DEAD_REASON)

/*
 * Free blocks a record needs before it may open a block. The last two are kept for dead letters:
 * copying them forward is what frees a tail they pin, and it must be able to finish even after a
 * power cut sealed the block it was copying into (that costs one block). Reclaim needs no mark on
 * flash (it uses the watermarks in RAM), so sales and marks alike stop short, and a full journal
 * still drains.
 */
#define FREE_FOR_SALE 3u
#define FREE_FOR_MARK 3u
#define FREE_FOR_DEAD                                                                              \
    2u /* a new dead letter: it fails (and is retried) rather than take the last */
#define FREE_FOR_COPY 1u
#define MARK_DEAD     1u /* carries dead_seq and the reason */
#define MARK_REQUEUE  2u /* carries dead_seq: a technician sent that sale again */

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
    return (uint64_t)block * j->block_size + off;
}

/* Every read goes through here, so a mount can say what it cost. */
static int flash_read(struct journal *j, uint32_t block, uint32_t off, void *buf, size_t len)
{
    j->bytes_read += len;
    return hal_flash_read(j->flash, addr_of(j, block, off), buf, len);
}

/* ---- block headers ---- */

struct block_hdr {
    uint64_t block_seq, first_seq;
    uint32_t erase_count;
    uint16_t version;
};

enum hdr_state { HDR_VALID, HDR_INVALID, HDR_NEWER, HDR_GEOMETRY, HDR_IO };

/*
 * Numbers no writer gives a block: block_seq starts at 1, and nothing is numbered at or past
 * JOURNAL_SEQ_LIMIT. A header carrying one (CRC-valid only by accident, or not written by a
 * journal) would place the ring, or count down from 0, by a number that cannot be.
 */
static int hdr_seqs_possible(const uint8_t *b)
{
    uint64_t block_seq = get64(b + 8), first_seq = get64(b + 16);
    return block_seq >= 1 && block_seq < JOURNAL_SEQ_LIMIT && first_seq < JOURNAL_SEQ_LIMIT;
}

static enum hdr_state read_block_hdr(struct journal *j, uint32_t block, struct block_hdr *h)
{
    uint8_t b[BLOCK_HDR];
    if (flash_read(j, block, 0, b, sizeof b) != 0)
        return HDR_IO; /* not the same as a blank block: guessing here could lose sales */
    if (get32(b) != BLOCK_MAGIC || crc32_update(0, b, 36) != get32(b + 36))
        return HDR_INVALID;
    h->block_seq = get64(b + 8);
    h->first_seq = get64(b + 16);
    h->erase_count = get32(b + 24);
    h->version = get16(b + 4);
    if (h->version > JOURNAL_FORMAT_VERSION)
        return HDR_NEWER;
    if (h->version < 1 || get16(b + 6) != BLOCK_HDR || !hdr_seqs_possible(b))
        return HDR_INVALID;
    if (get32(b + 28) != j->block_size || get32(b + 32) != j->prog_size)
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
    put32(b + 28, j->block_size);
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

static int pos_valid(const struct journal *j, const struct journal_pos *p)
{
    return in_ring(j, p->block) && ring_block_seq(j, p->block) == p->block_seq;
}

/* ---- records ---- */

enum rec_state { REC_OK, REC_END, REC_BAD_PAYLOAD, REC_BAD_HDR, REC_IO, REC_SKIPPED };

struct rec {
    uint8_t type;
    uint32_t len;  /* payload bytes, in j->rbuf, NUL-terminated */
    uint32_t span; /* bytes the record occupies on flash */
};

/* Reads the record at off. With want (a mask of 1 << type) set, a record of another type is
 * REC_SKIPPED after its header: a scan for marks reads no sale. */
static enum rec_state read_record_for(struct journal *j, uint32_t block, uint32_t off,
                                      struct rec *r, unsigned want)
{
    uint8_t h[REC_HDR];
    if (off + REC_HDR > j->block_size)
        return REC_END;
    if (flash_read(j, block, off, h, sizeof h) != 0)
        return REC_IO;
    if (all_erased(h, sizeof h))
        return REC_END;
    r->type = h[0];
    r->len = get32(h + 4);
    if (get16(h + 2) != REC_MAGIC || crc32_update(0, h, 12) != get32(h + 12) ||
        r->type < REC_SALE || r->type > REC_DEAD || r->len > j->buf_size - 1 ||
        r->len > j->block_size - off - REC_HDR)
        return REC_BAD_HDR;
    r->span = round_up(REC_HDR + r->len, j->prog_size);
    if (want && !(want & 1u << r->type))
        return REC_SKIPPED;
    if (flash_read(j, block, off + REC_HDR, j->rbuf, r->len) != 0)
        return REC_IO;
    j->rbuf[r->len] = '\0';
    if (crc32_update(0, j->rbuf, r->len) != get32(h + 8))
        return REC_BAD_PAYLOAD;
    return REC_OK;
}

static enum rec_state read_record(struct journal *j, uint32_t block, uint32_t off, struct rec *r)
{
    return read_record_for(j, block, off, r, 0);
}

/*
 * After a header that fails its CRC the record's length is unknown; look for the next valid
 * header at the following program units. Headers hold bytes JSON never contains, so payload
 * cannot pass for one.
 */
static uint32_t resync(struct journal *j, uint32_t block, uint32_t off)
{
    struct rec r;
    for (off += j->prog_size; off + REC_HDR <= j->block_size; off += j->prog_size) {
        enum rec_state st = read_record(j, block, off, &r);
        if (st == REC_OK || st == REC_BAD_PAYLOAD)
            return off;
    }
    return j->block_size;
}

static int decode_sale(struct journal *j, const struct rec *r, struct journal_sale *s)
{
    const uint8_t *p = j->rbuf;
    if (r->type != REC_SALE || r->len < SALE_FIXED || r->len < SALE_FIXED + p[16] ||
        p[16] > JOURNAL_MAX_TXN || get64(p) >= JOURNAL_SEQ_LIMIT)
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

/* A MARK, or the mark part of a DEAD record. */
static int decode_mark(struct journal *j, const struct rec *r, struct mark *m)
{
    const uint8_t *p = j->rbuf;
    if ((r->type != REC_MARK || r->len < MARK_FIXED) &&
        (r->type != REC_DEAD || r->len < DEAD_FIXED))
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

struct open_rec {
    unsigned nlisted, nbackends;
    const uint8_t *backends; /* nbackends entries of OPEN_BACKEND bytes */
    const uint8_t *counts;   /* nlisted u16: sales listed for each block, oldest first */
    const uint8_t *hashes;   /* the sales' txn hashes, DUP_HASH_BYTES each, in log order */
};

static int decode_open(struct journal *j, const struct rec *r, struct open_rec *o)
{
    const uint8_t *p = j->rbuf;
    if (r->type != REC_OPEN || r->len < OPEN_FIXED)
        return -1;
    o->nlisted = get16(p);
    o->nbackends = p[2];
    size_t fixed = OPEN_FIXED + (size_t)o->nbackends * OPEN_BACKEND + 2u * o->nlisted;
    if (r->len < fixed)
        return -1;
    o->backends = p + OPEN_FIXED;
    o->counts = o->backends + (size_t)o->nbackends * OPEN_BACKEND;
    o->hashes = o->counts + 2u * o->nlisted;
    size_t total = 0;
    for (unsigned i = 0; i < o->nlisted; i++)
        total += get16(o->counts + 2 * i) & ~OPEN_DEAD;
    return r->len == fixed + total * DUP_HASH_BYTES ? 0 : -1;
}

static uint64_t get_hash(const uint8_t *p)
{
    return get32(p) | (uint64_t)get16(p + 4) << 32;
}

static void put_hash(uint8_t *p, uint64_t h)
{
    put32(p, (uint32_t)h);
    put16(p + 4, (uint16_t)(h >> 32));
}

/*
 * The state of a backend is the mark (or OPEN entry) with the greatest watermark: watermarks and
 * totals only grow, so records can be applied in any order, newest block first included.
 */
static void apply_state(struct journal *j, uint32_t id, uint64_t watermark, uint64_t delivered,
                        uint64_t dead)
{
    struct journal_backend *b = backend_by_id(j, id);
    if (!b || watermark >= JOURNAL_SEQ_LIMIT || watermark < b->persisted_watermark ||
        (watermark == b->persisted_watermark &&
         delivered + dead < b->delivered_total + b->dead_total))
        return;
    b->persisted_watermark = watermark;
    b->delivered_total = delivered;
    b->dead_total = dead;
}

/* ---- walking the log ---- */

/*
 * Nothing but erased space follows offset next in block b. A damaged record there is an append
 * cut by power loss (never acknowledged), whichever block it is in: the head is sealed when one
 * is found at its end, so records never follow it, and it stays the last record of its block
 * once appends go on in the next (FORMAT.md 8.4). Only the header after it is read.
 */
static int ends_block(struct journal *j, uint32_t b, uint32_t next)
{
    struct rec r;
    return next + REC_HDR > j->block_size || read_record_for(j, b, next, &r, 1u) == REC_END;
}

/* Visits a readable record. A callback returning nonzero stops the walk. */
#define WALK_DAMAGE 1u /* count damage into the report; for the head, find the append position */
#define WALK_MARKS  2u /* visit MARK and DEAD records only, reading no other payload */
#define MARK_TYPES  (1u << REC_MARK | 1u << REC_DEAD)
typedef int (*visit_fn)(struct journal *j, const struct rec *r, struct journal_pos at,
                        uint32_t next_off, void *ctx);

/*
 * Visits the records of one ring block in order. With count_damage, damage goes into the report
 * and, for the head, the append position and sealing are worked out (FORMAT.md section 8.4).
 */
static int walk_block(struct journal *j, uint32_t b, unsigned flags, visit_fn fn, void *ctx)
{
    int is_head = b == j->head, count_damage = flags & WALK_DAMAGE;
    struct journal_pos at = {b, j->hdr_area, ring_block_seq(j, b)};
    while (at.off < j->block_size) {
        struct rec r;
        enum rec_state st = read_record_for(j, b, at.off, &r, flags & WALK_MARKS ? MARK_TYPES : 0);
        if (st == REC_END)
            break;
        if (st == REC_SKIPPED) {
            at.off += r.span;
            continue;
        }
        if (st == REC_IO)
            return -EIO;
        uint32_t next = st == REC_BAD_HDR ? resync(j, b, at.off) : at.off + r.span;
        if (st == REC_OK) {
            int rc = fn(j, &r, at, next, ctx);
            if (rc)
                return rc;
        } else if (count_damage) {
            int last = ends_block(j, b, next);
            if (last)
                j->report.torn_tail++;
            else
                j->report.corrupt_records++;
            if (last && is_head)
                j->head_sealed = 1; /* so that it stays the last record of its block */
        }
        at.off = next;
    }
    if (!is_head || !count_damage)
        return 0;
    j->head_off = at.off < j->block_size ? at.off : j->block_size;
    /* Bytes after the end marker mean a torn program we cannot parse: append elsewhere. */
    for (uint32_t off = j->head_off; off < j->block_size && !j->head_sealed;) {
        uint32_t n = j->block_size - off;
        if (n > j->buf_size)
            n = (uint32_t)j->buf_size;
        if (flash_read(j, b, off, j->rbuf, n) != 0)
            return -EIO;
        if (!all_erased(j->rbuf, n)) {
            j->head_sealed = 1;
            j->report.torn_tail++;
        }
        off += n;
    }
    return 0;
}

/*
 * A ring block whose valid header shows another lap's block_seq: a worn block whose erase failed.
 * Its records are an older lap's and nothing of this lap is in it, so nobody reads them as ours.
 * (An invalid header inside the ring is a bit flip: the records are this lap's and are read.)
 */
static int stale_block(struct journal *j, uint32_t b)
{
    struct block_hdr h;
    return read_block_hdr(j, b, &h) == HDR_VALID && h.block_seq != ring_block_seq(j, b);
}

/* Visits every readable record from tail to head. */
static int walk(struct journal *j, unsigned flags, visit_fn fn, void *ctx)
{
    if (j->empty)
        return 0;
    for (uint32_t k = 0; k < j->used; k++) {
        uint32_t b = (j->tail + k) % j->nblocks;
        if (stale_block(j, b))
            continue;
        int rc = walk_block(j, b, flags, fn, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static uint32_t block_of_seq(const struct journal *j, uint64_t block_seq)
{
    return (uint32_t)((j->head + j->nblocks - (j->head_seq - block_seq) % j->nblocks) % j->nblocks);
}

/*
 * The newest block of the ring, counted from the tail, whose header says its first sale is at
 * or below seq; 0 (the tail) if none. first_seq never decreases along the ring, so this is a
 * binary search: a handful of header reads however large the partition.
 */
static uint32_t ring_find(struct journal *j, uint64_t seq)
{
    uint32_t lo = 0, hi = j->used - 1, found = 0;
    while (lo <= hi) {
        uint32_t mid = lo + (hi - lo) / 2, k = mid;
        struct block_hdr h;
        while (k <= hi && (read_block_hdr(j, (j->tail + k) % j->nblocks, &h) != HDR_VALID ||
                           h.block_seq != ring_block_seq(j, (j->tail + k) % j->nblocks)))
            k++; /* a damaged or stale header says nothing; its valid neighbour does */
        if (k <= hi && h.first_seq <= seq) {
            found = k;
            lo = k + 1;
        } else if (mid == 0) {
            break;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* ---- mount ---- */

/* What a full read of a block at mount collects. */
struct block_scan {
    uint64_t end_seq;  /* one past the greatest sale seq seen */
    int opens;         /* the block's first record is an OPEN record */
    int has_dead;      /* the block holds DEAD records */
    unsigned nhashes;  /* txn hashes of the block's sales, in log order, in j->wbuf */
    unsigned capacity; /* how many j->wbuf holds */
};

static uint64_t sale_bound(struct journal *j, uint64_t *cache_block_seq, uint64_t *cache,
                           struct journal_pos at);
struct mark;
static int mark_in_place(struct journal *j, const struct mark *m, struct journal_pos at);

static int scan_record(struct journal *j, const struct rec *r, struct journal_pos at,
                       uint32_t next_off, void *ctx)
{
    struct block_scan *bs = ctx;
    struct journal_sale s;
    struct mark m;
    struct open_rec o;
    (void)next_off;
    if (decode_sale(j, r, &s) == 0) {
        if (s.seq + 1 > bs->end_seq)
            bs->end_seq = s.seq + 1;
        if (bs->nhashes < bs->capacity)
            put_hash(j->wbuf + DUP_HASH_BYTES * bs->nhashes++, dup_window_hash(s.txn));
    } else if (decode_mark(j, r, &m) == 0) {
        /* No mark passes a number not given yet, and the next block's first_seq was the next
         * number when it opened: a watermark above it is no mark of this journal's, and read
         * by a later mount than the one that numbered the sales after it, it would pass them. */
        if (mark_in_place(j, &m, at))
            apply_state(j, m.backend_id, m.watermark, m.delivered_total, m.dead_total);
        bs->has_dead |= r->type == REC_DEAD;
    } else if (decode_open(j, r, &o) == 0) {
        if (at.off != j->hdr_area)
            return 0; /* only a block's first record is its OPEN record */
        bs->opens = 1;
        uint64_t bound = sale_bound(j, &j->walk_bound_block_seq, &j->walk_bound, at);
        for (unsigned i = 0; i < o.nbackends; i++) {
            const uint8_t *e = o.backends + i * OPEN_BACKEND;
            if (get64(e + 4) <= bound)
                apply_state(j, get32(e), get64(e + 4), get64(e + 12), get64(e + 20));
        }
    }
    return 0;
}

/* Reads a whole ring block: its sales' hashes (into j->wbuf), marks and OPEN state. */
static int scan_block(struct journal *j, uint32_t b, int count_damage, struct block_scan *bs)
{
    struct block_hdr h;
    *bs = (struct block_scan){.capacity = (unsigned)(j->buf_size / DUP_HASH_BYTES)};
    if (read_block_hdr(j, b, &h) == HDR_VALID && h.block_seq != ring_block_seq(j, b))
        return 0; /* a worn block still showing an older lap */
    return walk_block(j, b, count_damage, scan_record, bs);
}

/* Puts a block's hashes (in log order at p) into the window as older than all it holds. */
static void add_hashes_older(struct journal *j, const uint8_t *p, unsigned n, uint64_t block_seq)
{
    while (n-- &&
           dup_window_add_older(j->dups, get_hash(p + DUP_HASH_BYTES * n), (uint32_t)block_seq))
        ;
}

/*
 * Recovers delivery state and the duplicate window from the head back. Each block's OPEN record
 * holds the state when it was opened and lists the hashes of the blocks before it, so normally
 * this reads the head and then one OPEN record per block until the window is full. A block no
 * OPEN record lists (its successor's OPEN was cut short, or it was written by format 1) is read
 * whole, and so is every block back to one that opens with a state.
 */
static int recover(struct journal *j)
{
    struct block_scan bs;
    int rc = scan_block(j, j->head, 1, &bs);
    if (rc)
        return rc;
    if (bs.end_seq > j->next_seq)
        j->next_seq = bs.end_seq;
    if (!bs.opens)
        j->head_sealed = 1; /* appends go to a block that starts with its OPEN record */
    j->head_has_dead = bs.has_dead;
    add_hashes_older(j, j->wbuf, bs.nhashes, j->head_seq);
    int state_known = bs.opens, listed_found = 0;
    uint64_t tail_seq = j->head_seq - (j->used - 1);
    uint64_t x = j->head_seq - 1; /* the newest block whose hashes are not in the window */
    uint64_t y = j->head_seq;     /* the block whose OPEN record may list x */
    while (x >= 1 && (!state_known || !dup_window_full(j->dups))) {
        struct rec r;
        struct open_rec o;
        if (state_known && y >= tail_seq && !stale_block(j, block_of_seq(j, y)) &&
            read_record(j, block_of_seq(j, y), j->hdr_area, &r) == REC_OK &&
            decode_open(j, &r, &o) == 0 && o.nlisted > 0 && o.nlisted <= y - 1) {
            if (!listed_found)
                j->listed_upto = y - 1;
            listed_found = 1;
            const uint8_t *h = o.hashes;
            for (unsigned i = 0; i < o.nlisted; i++)
                h += DUP_HASH_BYTES * (get16(o.counts + 2 * i) & ~OPEN_DEAD);
            for (unsigned i = o.nlisted; i-- > 0 && !dup_window_full(j->dups);) {
                unsigned n = get16(o.counts + 2 * i) & ~OPEN_DEAD;
                h -= DUP_HASH_BYTES * n;
                add_hashes_older(j, h, n, y - o.nlisted + i);
            }
            y -= o.nlisted;
            x = y - 1;
            continue;
        }
        if (x < tail_seq)
            break; /* neither on flash nor listed: older than anything the window can hold */
        rc = scan_block(j, block_of_seq(j, x), 0, &bs);
        if (rc)
            return rc;
        /* Sales of earlier blocks are numbered below the head's first_seq; where a block read
         * anyway says otherwise, the next number still goes above them. */
        if (bs.end_seq > j->next_seq)
            j->next_seq = bs.end_seq;
        state_known |= bs.opens;
        add_hashes_older(j, j->wbuf, bs.nhashes, x);
        y = x--;
    }
    if (!listed_found)
        j->listed_upto = x; /* the next OPEN record lists what mount read whole */
    return 0;
}

static int erase_block(struct journal *j, uint32_t b);

static int sale_end(struct journal *j, const struct rec *r, struct journal_pos at,
                    uint32_t next_off, void *ctx)
{
    uint64_t *end = ctx;
    struct journal_sale s;
    (void)at;
    (void)next_off;
    if (decode_sale(j, r, &s) == 0 && s.seq + 1 > *end)
        *end = s.seq + 1;
    return 0;
}

/*
 * The first good sale of block b, whose header does not verify: what tells the real head whose
 * header took a bit flip (its sales are newer than any before it) from an erase cut by power
 * loss or an older lap's data. 1 if there is one, 0 if none, <0 on a read error.
 */
static int first_sale_unheaded(struct journal *j, uint32_t b, uint64_t *seq)
{
    for (uint32_t off = j->hdr_area; off + REC_HDR <= j->block_size;) {
        struct rec r;
        struct journal_sale s;
        enum rec_state st = read_record(j, b, off, &r);
        if (st == REC_END)
            return 0;
        if (st == REC_IO)
            return -EIO;
        if (st == REC_OK && decode_sale(j, &r, &s) == 0) {
            *seq = s.seq;
            return 1;
        }
        off = st == REC_BAD_HDR ? resync(j, b, off) : off + r.span;
    }
    return 0;
}

/*
 * The block after the head has a header that does not verify. Normally that is an erase cut by
 * power loss. But if it holds sales newer than the head's, it is the real head whose header took
 * a bit flip; treating it as free would erase acknowledged sales. Newer than every sale of the
 * head, not only than its first_seq: a block holding numbers the head already used is not its
 * successor, and taking it for one would give the next sale a number that is on flash twice.
 */
static int find_damaged_head(struct journal *j)
{
    uint32_t b = (j->head + 1) % j->nblocks;
    struct block_hdr h;
    uint64_t seq;
    if (read_block_hdr(j, b, &h) != HDR_INVALID || first_sale_unheaded(j, b, &seq) != 1 ||
        seq < j->next_seq)
        return 0; /* data of an older lap, or nothing */
    uint64_t head_end = j->next_seq;
    j->used = 1; /* the head alone, to read it */
    int rc = walk_block(j, j->head, 0, sale_end, &head_end);
    if (rc < 0)
        return rc;
    if (seq < head_end)
        return 0;
    j->head = b;
    j->head_seq++;
    j->head_sealed = 1; /* appends go on in a block with a sound header */
    j->report.damaged_headers++;
    return 0;
}

/*
 * When block b is opened, the block after it is the one a later mount looks at for a damaged
 * head (find_damaged_head). In a journal this firmware wrote, a free block there with no valid
 * header holds an older lap's sales, numbered below b's. In a hostile or foreign image it may
 * hold sales numbered above them, and once b is the head a mount would take that block for it,
 * with its marks: newer than the sales stored meanwhile, which it would hide. So such a block is
 * erased before b's header makes b the head. It is free (an invalid header is never the tail).
 */
static int clear_false_successor(struct journal *j, uint32_t b, uint64_t first_seq)
{
    uint32_t next = (b + 1) % j->nblocks;
    struct block_hdr h;
    uint64_t seq;
    if (next == b || in_ring(j, next) || read_block_hdr(j, next, &h) != HDR_INVALID)
        return 0;
    int rc = first_sale_unheaded(j, next, &seq);
    if (rc <= 0 || seq < first_seq)
        return rc < 0 ? rc : 0;
    rc = erase_block(j, next);
    return rc == -EROFS ? 0 : rc; /* worn: passed over when the ring gets there, not b's fault */
}
/*
 * Reads every block header once, and places the ring: the head is the greatest block_seq, and
 * the ring runs back from it through consecutive block_seqs. A block whose header is unreadable
 * but which lies between two that continue the sequence is part of the ring all the same (its
 * header took a bit flip; erases never happen there), so its records are still read, and the
 * damage is reported. The low bits of each block_seq are kept for the pass, so headers are read
 * once.
 */
static int find_ring(struct journal *j, char *err, size_t errlen)
{
    uint32_t *seq_lo = malloc(sizeof *seq_lo * j->nblocks);
    uint64_t *first = malloc(sizeof *first * j->nblocks);
    uint8_t *valid = calloc(j->nblocks, 1);
    int rc = 0;
    if (!seq_lo || !first || !valid) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    j->report.blocks = j->nblocks;
    j->report.erase_min = UINT32_MAX;
    j->empty = 1;
    for (uint32_t b = 0; b < j->nblocks; b++) {
        struct block_hdr h;
        enum hdr_state st = read_block_hdr(j, b, &h);
        if (st == HDR_IO) {
            snprintf(err, errlen, "cannot read block %u's header", b);
            rc = -EIO;
            goto out;
        }
        if (st == HDR_NEWER || st == HDR_GEOMETRY) {
            snprintf(err, errlen,
                     st == HDR_NEWER ? "block %u was written by a newer journal format; refusing "
                                       "to touch it (upgrade the firmware)"
                                     : "block %u was written with another erase/program size; "
                                       "refusing to touch it (fix journal geometry in the config)",
                     b);
            rc = -EPROTO;
            goto out;
        }
        if (st != HDR_VALID) {
            j->report.blocks_bad_header++;
            continue;
        }
        valid[b] = 1;
        seq_lo[b] = (uint32_t)h.block_seq;
        first[b] = h.first_seq;
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
    if (j->empty)
        goto out;
    uint32_t old_head = j->head;
    rc = find_damaged_head(j);
    if (rc) {
        snprintf(err, errlen, "flash read failed during mount: %s", strerror(-rc));
        goto out;
    }
    if (j->head != old_head) {
        valid[j->head] = 1; /* by position */
        seq_lo[j->head] = (uint32_t)j->head_seq;
    }
    j->tail = j->head;
    j->used = 1;
    uint32_t skipped = 0;
    /* Block numbers start at 1: the ring reaches back no further than block_seq 1. */
    for (uint32_t d = 1; d < j->nblocks && d < j->head_seq; d++) {
        uint32_t b = (j->head + j->nblocks - d) % j->nblocks;
        /* Only this lap's block at that position can carry exactly head_seq - d (every position
         * advances by nblocks a lap), so a stale header (a worn block whose erase failed) inside
         * the ring is passed over like a damaged one, and the ring ends at the farthest match. */
        if (valid[b] && seq_lo[b] == (uint32_t)(j->head_seq - d)) {
            j->tail = b;
            j->used = d + 1;
            /* A ring block's sales stay below the next block's first_seq (sale_bound), and the
             * next sale's number must be above all of them, whatever order the headers say. */
            if (first[b] > j->next_seq)
                j->next_seq = first[b];
            j->report.damaged_headers += skipped;
            skipped = 0;
        } else {
            skipped++;
        }
    }
out:
    free(seq_lo);
    free(first);
    free(valid);
    return rc;
}

uint32_t journal_backend_id(const char *name)
{
    return crc32_update(0, name, strlen(name));
}

static int is_block_size(uint32_t block_size, const struct hal_flash_geometry *geo)
{
    uint32_t n = geo->erase_size ? block_size / geo->erase_size : 0;
    return n && block_size % geo->erase_size == 0 && (n & (n - 1)) == 0;
}

uint32_t journal_default_block_size(const struct hal_flash_geometry *geo)
{
    uint32_t p = geo->prog_size ? geo->prog_size : 1;
    uint64_t need = round_up(BLOCK_HDR, p) +
                    round_up(REC_HDR + OPEN_FIXED + OPEN_BACKEND * JOURNAL_MAX_BACKENDS, p) +
                    round_up(REC_HDR + JOURNAL_MAX_RECORD, p);
    uint64_t b = geo->erase_size;
    while (b < need)
        b *= 2;
    /* A partition too small for 4 such blocks keeps erase-block-sized ones, as before format 3:
     * halving its number of blocks would cost more than the largest sales it then refuses. */
    return geo->size / b >= 4 ? (uint32_t)b : geo->erase_size;
}

/*
 * The block size is the journal's, read from its headers (FORMAT.md section 1.1): the first
 * header that verifies at a multiple of fresh (a block start whether blocks are fresh bytes or
 * one erase block, as firmware before format 3 wrote them), else at any other erase block start
 * (a journal of erase-block-sized blocks whose headers at those positions are all gone). Only a
 * device with no header anywhere is blank, and gets fresh. A journal is never read, nor erased,
 * with blocks of another size than its own.
 */
static int find_block_size(struct journal *j, uint32_t fresh, char *err, size_t errlen)
{
    const struct hal_flash_geometry *geo = &j->flash->geo;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t step = pass == 0 ? fresh : geo->erase_size;
        for (uint64_t at = 0; at + BLOCK_HDR <= geo->size; at += step) {
            uint8_t b[BLOCK_HDR];
            if (pass == 1 && at % fresh == 0)
                continue;
            j->bytes_read += sizeof b;
            if (hal_flash_read(j->flash, at, b, sizeof b) != 0) {
                snprintf(err, errlen, "cannot read the block header at byte %llu",
                         (unsigned long long)at);
                return -EIO;
            }
            if (get32(b) != BLOCK_MAGIC || crc32_update(0, b, 36) != get32(b + 36))
                continue;
            /* The same words as find_ring's, numbering positions by the step of the search. */
            if (get16(b + 4) > JOURNAL_FORMAT_VERSION) {
                snprintf(err, errlen,
                         "block %llu was written by a newer journal format; refusing to touch it "
                         "(upgrade the firmware)",
                         (unsigned long long)(at / step));
                return -EPROTO;
            }
            if (get16(b + 4) < 1 || get16(b + 6) != BLOCK_HDR || !hdr_seqs_possible(b))
                continue;
            uint32_t size = get32(b + 28);
            if (!is_block_size(size, geo) || geo->size / size < 4) {
                snprintf(err, errlen,
                         "block %llu was written with another erase/program size; refusing to "
                         "touch it (fix journal geometry in the config)",
                         (unsigned long long)(at / step));
                return -EPROTO;
            }
            j->block_size = size;
            return 0;
        }
    }
    j->block_size = fresh;
    return 0;
}

int journal_mount(struct journal *j, struct hal_flash *flash, const uint32_t *backend_ids,
                  unsigned nbackends, char *err, size_t errlen)
{
    return journal_mount_blocks(j, flash, 0, backend_ids, nbackends, err, errlen);
}

int journal_mount_blocks(struct journal *j, struct hal_flash *flash, uint32_t fresh_block_size,
                         const uint32_t *backend_ids, unsigned nbackends, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->flash = flash;
    j->erase_size = flash->geo.erase_size;
    j->prog_size = flash->geo.prog_size;
    uint32_t fresh = fresh_block_size ? fresh_block_size : journal_default_block_size(&flash->geo);
    if (nbackends > JOURNAL_MAX_BACKENDS || j->prog_size == 0 || j->erase_size % j->prog_size ||
        !is_block_size(fresh, &flash->geo) || flash->geo.size / fresh < 4) {
        snprintf(err, errlen,
                 "unusable geometry: need at least 4 blocks, each holding a header and a record");
        return -EINVAL;
    }
    int rc = find_block_size(j, fresh, err, errlen);
    if (rc)
        return rc;
    j->nblocks = (uint32_t)(flash->geo.size / j->block_size);
    j->hdr_area = round_up(BLOCK_HDR, j->prog_size);
    j->open_min = round_up(REC_HDR + OPEN_FIXED + OPEN_BACKEND * nbackends, j->prog_size);
    if (j->hdr_area + j->open_min + REC_HDR > j->block_size) {
        snprintf(err, errlen,
                 "unusable geometry: need at least 4 blocks, each holding a header and a record");
        return -EINVAL;
    }
    /* What a sale may be so that it and its dead letter fit a block after its OPEN record. */
    uint32_t room = j->block_size - j->hdr_area - j->open_min;
    uint32_t fixed = REC_HDR + SALE_FIXED + JOURNAL_MAX_TXN + DEAD_EXTRA;
    j->max_body = room < fixed ? 0 : room - fixed;
    if (j->max_body > JOURNAL_MAX_BODY)
        j->max_body = JOURNAL_MAX_BODY;
    j->buf_size = round_up(REC_HDR + JOURNAL_MAX_RECORD, j->prog_size) + 1; /* a whole record */
    j->rbuf = malloc(j->buf_size);
    j->wbuf = malloc(j->buf_size);
    j->cbuf = malloc(j->buf_size);
    j->dups = dup_window_new();
    if (!j->rbuf || !j->wbuf || !j->cbuf || !j->dups) {
        journal_unmount(j);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    j->nbackends = nbackends;
    for (unsigned i = 0; i < nbackends; i++)
        j->backends[i].id = backend_ids[i];

    rc = find_ring(j, err, errlen);
    if (rc) {
        journal_unmount(j);
        return rc;
    }
    j->report.blocks_used = j->used;
    if (j->empty) {
        j->report.mount_bytes_read = j->bytes_read;
        return 0;
    }
    rc = recover(j);
    if (rc) {
        snprintf(err, errlen, "flash read failed during mount: %s", strerror(-rc));
        journal_unmount(j);
        return rc;
    }
    struct block_hdr h;
    uint64_t floor = 0; /* no sale older than the tail's first exists any more */
    if (read_block_hdr(j, j->tail, &h) == HDR_VALID && h.block_seq == ring_block_seq(j, j->tail))
        floor = h.first_seq;
    for (unsigned i = 0; i < nbackends; i++) {
        struct journal_backend *b = &j->backends[i];
        b->watermark = b->persisted_watermark > floor ? b->persisted_watermark : floor;
        /* A mark says every number below its watermark was used. A watermark above the next
         * number (the head's last sales damaged since they were delivered, or an image no
         * journal wrote) would pass the sales stored from now on, undelivered, and it stays on
         * flash: so the numbering goes on above it. */
        if (b->watermark > j->next_seq)
            j->next_seq = b->watermark;
    }
    for (unsigned i = 0; i < nbackends; i++)
        j->backends[i].queued = j->next_seq - j->backends[i].watermark;
    j->mount_head_seq = j->head_seq;
    j->report.mount_bytes_read = j->bytes_read;
    return 0;
}

void journal_unmount(struct journal *j)
{
    free(j->rbuf);
    free(j->wbuf);
    free(j->cbuf);
    dup_window_free(j->dups);
    j->rbuf = j->wbuf = j->cbuf = NULL;
    j->dups = NULL;
}

/*
 * The sales of a ring block are numbered below the first_seq of the next block with a valid
 * header of this lap (FORMAT.md section 3.2); the head's, below next_seq. A sale at or above
 * that bound is not handed out: in a journal this firmware wrote it is the first copy of a sale
 * retried after -EROFS (the copy in the next block is delivered) or a sale never acknowledged;
 * in an image no journal wrote, handing it out would move the watermark past the sales stored
 * after mount, numbered from next_seq, and they would never be delivered.
 */
static uint64_t sale_bound(struct journal *j, uint64_t *cache_block_seq, uint64_t *cache,
                           struct journal_pos at)
{
    if (at.block == j->head)
        return UINT64_MAX;
    if (*cache_block_seq == at.block_seq)
        return *cache;
    for (uint32_t k = (at.block + 1) % j->nblocks; in_ring(j, k); k = (k + 1) % j->nblocks) {
        struct block_hdr h;
        if (read_block_hdr(j, k, &h) == HDR_VALID && h.block_seq == ring_block_seq(j, k)) {
            *cache_block_seq = at.block_seq; /* it stays: the next block leaves the ring last */
            *cache = h.first_seq;
            return h.first_seq;
        }
        if (k == j->head)
            break;
    }
    return UINT64_MAX; /* no valid header after it yet (a damaged head): next_seq bounds it */
}

/* A sale record's number is in place (sale_bound): the one walks of the ring count and find. */
static int sale_in_place(struct journal *j, const struct journal_sale *s, struct journal_pos at)
{
    return s->seq < sale_bound(j, &j->walk_bound_block_seq, &j->walk_bound, at);
}

/* A MARK or DEAD record's watermark is in place: not above the next block's first_seq (no mark
 * passes a number not given yet). One that is counts for nothing: not as a mark, nor as a dead
 * letter to list, copy forward or keep a block for (FORMAT.md section 7.2). */
static int mark_in_place(struct journal *j, const struct mark *m, struct journal_pos at)
{
    return m->watermark <= sale_bound(j, &j->walk_bound_block_seq, &j->walk_bound, at);
}

static int count_record(struct journal *j, const struct rec *r, struct journal_pos at,
                        uint32_t next_off, void *ctx)
{
    struct journal_sale s;
    uint64_t *seq_end = ctx;
    (void)next_off;
    if (r->type == REC_MARK)
        j->report.marks++;
    if (decode_sale(j, r, &s) != 0 || s.seq < *seq_end || !sale_in_place(j, &s, at))
        return 0; /* a sale stored twice after -EROFS is one sale (FORMAT.md 4.2) */
    *seq_end = s.seq + 1;
    j->report.sales++;
    for (unsigned i = 0; i < j->nbackends; i++)
        j->backends[i].queued += s.seq >= j->backends[i].watermark;
    return 0;
}

static void reclaim(struct journal *j);

int journal_check(struct journal *j)
{
    reclaim(j); /* what is done is not in use: the report shows the ring as it really is */
    j->report.blocks_used = j->used;
    /* Counted again over the ring, torn appends too: one the mount found in its head is the last
     * record of that block still, whether the head has moved on since or not. The head is
     * examined as a mount does (its erased space too), and stays sealed if it was. */
    int sealed = j->head_sealed;
    j->head_sealed = 0;
    j->report.sales = j->report.marks = j->report.corrupt_records = j->report.torn_tail = 0;
    for (unsigned i = 0; i < j->nbackends; i++)
        j->backends[i].queued = 0; /* counted exactly, where mount had only sequence numbers */
    uint64_t seq_end = 0;
    int rc = walk(j, WALK_DAMAGE, count_record, &seq_end);
    j->head_sealed |= sealed;
    /* All counted: delivery passing the same damage must not count it again. */
    j->checked = (struct journal_pos){j->head, j->block_size, j->head_seq};
    return rc;
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

/* ---- dead letters kept alive ---- */

struct dead_ref {
    uint64_t block_seq; /* where the DEAD record was found */
    uint32_t backend_id;
    uint64_t seq;
    int resolved;
};

/* A technician's requeue, or a newer copy of the same DEAD record, settles it. */
static int find_resolution(struct journal *j, const struct rec *r, struct journal_pos at,
                           uint32_t next_off, void *ctx)
{
    struct dead_ref *d = ctx;
    struct mark m;
    (void)next_off;
    if (decode_mark(j, r, &m) != 0 || m.backend_id != d->backend_id || !mark_in_place(j, &m, at))
        return 0;
    if (r->type == REC_MARK && (m.flags & MARK_REQUEUE) && r->len >= MARK_FIXED + 8 &&
        get64(j->rbuf + MARK_FIXED) == d->seq)
        d->resolved = 1;
    if (r->type == REC_DEAD && get64(j->rbuf + MARK_FIXED) == d->seq && at.block_seq > d->block_seq)
        d->resolved = 1;
    return d->resolved;
}

static int dead_outstanding(struct journal *j, uint64_t block_seq, uint32_t backend_id,
                            uint64_t seq)
{
    struct dead_ref d = {block_seq, backend_id, seq, 0};
    return walk(j, WALK_MARKS, find_resolution, &d) == 0 && !d.resolved;
}

static int find_outstanding(struct journal *j, const struct rec *r, struct journal_pos at,
                            uint32_t next_off, void *ctx)
{
    struct mark m;
    (void)next_off;
    (void)ctx;
    if (r->type != REC_DEAD || decode_mark(j, r, &m) != 0 || !mark_in_place(j, &m, at))
        return 0;
    return dead_outstanding(j, at.block_seq, m.backend_id, get64(j->rbuf + MARK_FIXED));
}

/*
 * True if block b (in the ring, not the head) holds a dead letter nobody has settled. The OPEN
 * record of the next block says whether b has DEAD records at all, so the common answer costs
 * one small read.
 */
static int holds_dead_letters(struct journal *j, uint32_t b)
{
    struct rec r;
    struct open_rec o;
    struct block_hdr h;
    uint32_t next = (b + 1) % j->nblocks;
    if (stale_block(j, b))
        return 0; /* an older lap's dead letters, settled or copied on long ago */
    /* Only this lap's OPEN record speaks for b: a worn block whose erase failed still shows an
     * older lap's header and OPEN, which describe what b held then. */
    if (in_ring(j, next) && read_block_hdr(j, next, &h) == HDR_VALID &&
        h.block_seq == ring_block_seq(j, next) && read_record(j, next, j->hdr_area, &r) == REC_OK &&
        decode_open(j, &r, &o) == 0 && o.nlisted > 0 &&
        !(get16(o.counts + 2 * (o.nlisted - 1)) & OPEN_DEAD))
        return 0;
    return walk_block(j, b, WALK_MARKS, find_outstanding, NULL) == 1;
}

/* Drops tail blocks whose sales every backend is done with, up to the first that still holds a
 * dead letter (copy_forward moves those on). They are erased when reused. */
static void reclaim(struct journal *j)
{
    if (j->empty)
        return;
    /* A block's first_seq bounds the sales of every block before it. */
    uint32_t k = ring_find(j, min_watermark(j)), i = 0;
    while (i < k && !holds_dead_letters(j, (j->tail + i) % j->nblocks))
        i++;
    j->tail = (j->tail + i) % j->nblocks;
    j->used -= i;
}

struct part {
    const void *p;
    size_t n;
};

static int append(struct journal *j, uint8_t type, const struct part *parts, int nparts,
                  uint32_t min_free, struct journal_pos *at);

static int copy_dead(struct journal *j, const struct rec *r, struct journal_pos at,
                     uint32_t next_off, void *ctx)
{
    unsigned *copied = ctx;
    struct mark m;
    (void)next_off;
    if (r->type != REC_DEAD || decode_mark(j, r, &m) != 0 || !mark_in_place(j, &m, at))
        return 0;
    struct part part = {j->cbuf, r->len};
    memcpy(j->cbuf, j->rbuf, r->len); /* rbuf is read over by what follows */
    if (!dead_outstanding(j, at.block_seq, m.backend_id, get64(j->cbuf + MARK_FIXED)))
        return 0;
    struct journal_pos to;
    int rc = append(j, REC_DEAD, &part, 1, FREE_FOR_COPY, &to);
    if (rc)
        return rc;
    j->head_has_dead = 1;
    (*copied)++;
    return 0;
}

/*
 * Dead letters must not pin the journal, nor be lost with their block: when space runs short and
 * the tail is done for every backend but for its dead letters, they are copied to the head (and
 * synced) and the tail is reclaimed. Only when space runs short: copied eagerly, dead letters that
 * fill more than a block would chase each other round the ring. A technician's retry ends them.
 */
static int copy_forward(struct journal *j)
{
    reclaim(j);
    for (uint32_t pass = 0;
         pass < j->nblocks && !j->empty && j->used > 1 && j->nblocks - j->used <= FREE_FOR_SALE &&
         ring_find(j, min_watermark(j)) > 0;
         pass++) {
        uint32_t tail = j->tail;
        unsigned copied = 0;
        int rc = stale_block(j, tail) ? 0 : walk_block(j, tail, WALK_MARKS, copy_dead, &copied);
        if (rc == 0 && copied)
            rc = hal_flash_sync(j->flash);
        if (rc)
            return rc;
        reclaim(j);
        if (j->tail == tail)
            return 0; /* nothing left to move: should not happen */
    }
    return 0;
}

static void take_block(struct journal *j, uint32_t b, uint64_t block_seq);

/*
 * Programs the new head's OPEN record: each backend's state, and the txn hashes of the sales in
 * the blocks no OPEN record lists yet, from the duplicate window. The list gives way to the
 * record that needs the block (its oldest blocks are dropped first): a block left unlisted only
 * costs a mount that reads it whole.
 */
static int write_open(struct journal *j, uint32_t room_for)
{
    uint64_t to = j->head_seq - 1, from = j->listed_upto + 1;
    unsigned total = dup_window_count(j->dups), nhashes = 0;
    /* The window's newest entries are the sales of the newest blocks. */
    uint64_t h;
    uint32_t bseq;
    while (nhashes < total) {
        dup_window_get(j->dups, nhashes, &h, &bseq);
        if ((uint32_t)to - bseq >= (uint32_t)(to - from + 1) || from > to)
            break;
        nhashes++;
    }
    unsigned nlisted = from <= to ? (unsigned)(to - from + 1) : 0;
    for (;;) {
        size_t len = OPEN_FIXED + (size_t)OPEN_BACKEND * j->nbackends + 2u * nlisted +
                     (size_t)DUP_HASH_BYTES * nhashes;
        if (nlisted == 0 || (nlisted <= 0xFFFF && REC_HDR + len <= j->buf_size - 1 &&
                             round_up(REC_HDR + (uint32_t)len, j->prog_size) + room_for <=
                                 j->block_size - j->hdr_area))
            break;
        /* drop the oldest listed block and its hashes */
        while (nhashes) {
            dup_window_get(j->dups, nhashes - 1, &h, &bseq);
            if (bseq != (uint32_t)(to - nlisted + 1))
                break;
            nhashes--;
        }
        nlisted--;
    }
    uint8_t *p = j->wbuf + REC_HDR;
    put16(p, (uint16_t)nlisted);
    p[2] = (uint8_t)j->nbackends;
    p += OPEN_FIXED;
    for (unsigned i = 0; i < j->nbackends; i++, p += OPEN_BACKEND) {
        const struct journal_backend *b = &j->backends[i];
        put32(p, b->id);
        put64(p + 4, b->watermark);
        put64(p + 12, b->delivered_total);
        put64(p + 20, b->dead_total);
    }
    uint8_t *counts = p;
    /* Which listed blocks may hold dead letters: the last head is known, older ones (listed late,
     * after a mount read them) are assumed to, which only costs reclaim a look. */
    for (unsigned i = 0; i < nlisted; i++)
        put16(counts + 2 * i, i + 1 < nlisted || j->prev_head_has_dead ? OPEN_DEAD : 0);
    p += 2u * nlisted;
    for (unsigned a = nhashes; a-- > 0; p += DUP_HASH_BYTES) {
        dup_window_get(j->dups, a, &h, &bseq);
        unsigned i = nlisted - 1 - ((uint32_t)to - bseq);
        put16(counts + 2 * i, (uint16_t)(get16(counts + 2 * i) + 1));
        put_hash(p, h);
    }
    uint32_t len = (uint32_t)(p - (j->wbuf + REC_HDR));
    uint32_t span = round_up(REC_HDR + len, j->prog_size);
    uint8_t *w = j->wbuf;
    memset(w + REC_HDR + len, 0xFF, span - REC_HDR - len);
    w[0] = REC_OPEN;
    w[1] = 0;
    put16(w + 2, REC_MAGIC);
    put32(w + 4, len);
    put32(w + 8, crc32_update(0, w + REC_HDR, len));
    put32(w + 12, crc32_update(0, w, 12));
    int rc = hal_flash_prog(j->flash, addr_of(j, j->head, j->head_off), w, span);
    if (rc)
        return rc;
    j->head_off += span;
    j->listed_upto = to;
    for (unsigned i = 0; i < j->nbackends; i++)
        j->backends[i].persisted_watermark = j->backends[i].watermark;
    return 0;
}

/*
 * Erases every erase block of block b, the one holding its header first: from that erase on the
 * block has no valid header, so a power cut anywhere later leaves a free block (FORMAT.md 4.3),
 * which is erased whole again before it is used; nothing trusts a block that merely looks
 * erased. A refused erase of any part makes the whole block worn.
 */
static int erase_block(struct journal *j, uint32_t b)
{
    uint32_t per = j->block_size / j->erase_size;
    for (uint32_t i = 0; i < per; i++) {
        int rc = hal_flash_erase(j->flash, b * per + i);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * Moves the head to a fresh block, if min_free blocks are free after reclaim (FREE_FOR_*).
 */
static int open_block(struct journal *j, uint32_t min_free, uint32_t room_for)
{
    uint32_t b = 0;
    struct block_hdr old, h;
    int rc;
    for (;;) {
        if (!j->empty) {
            reclaim(j);
            if (j->nblocks - j->used < min_free)
                return -ENOSPC;
            b = (j->head + 1) % j->nblocks;
        }
        h.block_seq = j->empty ? 1 : j->head_seq + 1;
        if (h.block_seq >= JOURNAL_SEQ_LIMIT)
            return -EOVERFLOW; /* only an image not written by a journal gets here */
        /* Without a valid old header the count is unknown. On the first lap (blocks open in
         * physical order from block 0, so block_seq <= nblocks) the block was never opened:
         * 0. Later, its header went with a cut erase or wear: the highest count read so far. */
        uint32_t erase_count = 0;
        if (read_block_hdr(j, b, &old) == HDR_VALID) {
            erase_count = old.erase_count;
            if (erase_count > j->erase_hint)
                j->erase_hint = erase_count;
        } else if (h.block_seq > j->nblocks) {
            erase_count = j->erase_hint;
        }
        h.first_seq = j->next_seq;
        h.erase_count = erase_count + 1;
        rc = clear_false_successor(j, b, h.first_seq);
        if (rc == 0)
            rc = erase_block(j, b);
        if (rc == 0)
            rc = write_block_hdr(j, b, &h);
        if (rc == 0) {
            take_block(j, b, h.block_seq);
            rc = write_open(j, room_for);
            if (rc == 0)
                break;
            j->head_sealed = 1; /* whatever landed cannot be programmed over */
            if (rc != -EROFS)
                return rc;
            j->report.bad_blocks++;
            continue;
        }
        if (rc != -EROFS)
            return rc;
        /*
         * A worn block. It keeps its place in the ring, sealed and without a valid header, so
         * the blocks around it keep consecutive sequence numbers; mount reports it as a damaged
         * header and reads nothing from it. The next lap tries it again.
         */
        j->report.bad_blocks++;
        take_block(j, b, h.block_seq);
        j->head_sealed = 1;
    }
    return 0;
}

/* Makes block b, just opened with sequence block_seq, the head. */
static void take_block(struct journal *j, uint32_t b, uint64_t block_seq)
{
    if (j->empty) {
        j->tail = b;
        j->used = 0;
    }
    j->empty = 0;
    j->head = b;
    j->head_seq = block_seq;
    j->used++;
    j->prev_head_has_dead = j->head_has_dead;
    j->head_has_dead = 0;
    j->head_off = j->hdr_area;
    j->head_sealed = 0;
}

static int append(struct journal *j, uint8_t type, const struct part *parts, int nparts,
                  uint32_t min_free, struct journal_pos *at)
{
    size_t len = 0;
    for (int i = 0; i < nparts; i++)
        len += parts[i].n;
    if (len > JOURNAL_MAX_RECORD || REC_HDR + len > j->block_size - j->hdr_area - j->open_min)
        return -EMSGSIZE;
    uint32_t span = round_up(REC_HDR + (uint32_t)len, j->prog_size);
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (j->empty || j->head_sealed || j->head_off + span > j->block_size) {
            rc = open_block(j, min_free, span);
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
    struct journal_pos at = {0}; /* block_seq stays 0 until a program of the sale is tried */
    uint64_t seq = j->next_seq;
    if (seq + 1 >= JOURNAL_SEQ_LIMIT)
        return -EOVERFLOW; /* numbers stay below it (journal.h); only a foreign image gets here */
    if (SALE_FIXED + txn_len + body_len + DEAD_EXTRA > JOURNAL_MAX_RECORD ||
        REC_HDR + SALE_FIXED + txn_len + body_len + DEAD_EXTRA >
            j->block_size - j->hdr_area - j->open_min)
        return -EMSGSIZE; /* its dead letter, a copy of it, must fit a block too (max_body) */
    int rc = append(j, REC_SALE, parts, 3, FREE_FOR_SALE, &at);
    if (rc == -ENOSPC && copy_forward(j) == 0)
        rc = append(j, REC_SALE, parts, 3, FREE_FOR_SALE, &at); /* dead letters held the tail */
    if (rc == 0)
        rc = hal_flash_sync(j->flash);
    if (rc) {
        /* Once a program of it was tried the record may have landed: its seq is never handed
         * out again. A refusal before that (journal full) leaves no trace and no gap, so a POS
         * retrying against a full journal does not inflate queued after a restart. */
        if (at.block_seq)
            j->next_seq++;
        return rc;
    }
    j->next_seq++;
    j->report.sales++;
    for (unsigned i = 0; i < j->nbackends; i++)
        j->backends[i].queued++;
    dup_window_add(j->dups, dup_window_hash(txn), (uint32_t)at.block_seq);
    *seq_out = seq;
    return 0;
}

struct txn_probe {
    struct journal *j;
    const char *txn;
};

/* The stored txn, byte for byte and by length: a txn is never a prefix of another's. */
static int match_txn(struct journal *j, const struct rec *r, struct journal_pos at,
                     uint32_t next_off, void *ctx)
{
    const char *txn = ctx;
    const uint8_t *p = j->rbuf;
    size_t n = strlen(txn);
    (void)at;
    (void)next_off;
    return r->type == REC_SALE && r->len >= SALE_FIXED && p[16] == n && r->len >= SALE_FIXED + n &&
           memcmp(p + SALE_FIXED, txn, n) == 0;
}

/*
 * A window hit is a duplicate only if the sale is read back from its block: a different txn
 * with the same 48-bit hash must never be answered "duplicate", which would acknowledge a sale
 * stored nowhere. Once the block is erased (or shows another lap), nothing proves the hit, so
 * it is not a duplicate: the sale is stored again under the same reference, which the backends
 * deduplicate.
 */
static int confirm_txn(void *ctx, uint32_t block_seq_lo)
{
    struct txn_probe *p = ctx;
    struct journal *j = p->j;
    uint32_t age = (uint32_t)j->head_seq - block_seq_lo;
    if (j->empty || age >= j->nblocks)
        return 0; /* its block was reused since */
    uint32_t block = (j->head + j->nblocks - age) % j->nblocks;
    struct block_hdr h;
    enum hdr_state st = read_block_hdr(j, block, &h);
    if (st == HDR_VALID && h.block_seq != j->head_seq - age)
        return 0; /* another lap's block: erased since, or a worn block showing an older lap */
    if (st != HDR_VALID && age >= j->used)
        return 0; /* reclaimed and erased (or being erased) */
    /* In the ring, or reclaimed and still on flash: the record decides. */
    return walk_block(j, block, 0, match_txn, (void *)p->txn) == 1;
}

int journal_find_txn(struct journal *j, const char *txn)
{
    struct txn_probe p = {j, txn};
    return dup_window_find(j->dups, dup_window_hash(txn), confirm_txn, &p);
}

/* ---- delivery ---- */

/* Fetched and not finished: the pending window also holds sales finished after one still out. */
static unsigned unfinished(const struct journal_backend *b)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b->npending; i++)
        n += !(b->pending_done >> i & 1);
    return n;
}

int journal_next_sale(struct journal *j, unsigned bi, struct journal_sale *out)
{
    struct journal_backend *b = &j->backends[bi];
    if (j->empty || b->queued <= unfinished(b) || b->npending == JOURNAL_MAX_IN_FLIGHT)
        return 0;
    uint64_t from = b->fetched_end > b->watermark ? b->fetched_end : b->watermark;
    struct journal_pos at = b->cursor;
    if (!pos_valid(j, &at)) {
        uint32_t blk = (j->tail + ring_find(j, from)) % j->nblocks;
        at = (struct journal_pos){blk, j->hdr_area, ring_block_seq(j, blk)};
    }
    for (;;) {
        if (at.off == j->hdr_area && at.block != j->head && stale_block(j, at.block))
            at.off = j->block_size; /* an older lap's records: neither sales nor damage of ours */
        int at_end = at.block == j->head ? at.off >= j->head_off : at.off >= j->block_size;
        struct rec r;
        enum rec_state st = at_end ? REC_END : read_record(j, at.block, at.off, &r);
        if (st == REC_IO)
            return -EIO;
        if (st == REC_END) {
            if (at.block == j->head) {
                b->cursor = at;
                b->queued = unfinished(b); /* mount's count included numbers never stored */
                return 0;
            }
            at.block = (at.block + 1) % j->nblocks;
            at.off = j->hdr_area;
            at.block_seq++;
            continue;
        }
        struct journal_pos start = at;
        at.off = st == REC_BAD_HDR ? resync(j, at.block, at.off) : at.off + r.span;
        b->cursor = at;
        if (st != REC_OK) {
            /* Damage delivery passes is reported once; the mount counted the head's. */
            if (start.block_seq != j->mount_head_seq &&
                (start.block_seq > j->checked.block_seq ||
                 (start.block_seq == j->checked.block_seq && start.off >= j->checked.off))) {
                if (ends_block(j, start.block, at.off))
                    j->report.torn_tail++;
                else
                    j->report.corrupt_records++;
                j->checked = at;
            }
            continue;
        }
        if (r.type == REC_SALE && decode_sale(j, &r, out) == 0 && out->seq >= from &&
            out->seq < sale_bound(j, &b->bound_block_seq, &b->bound, start)) {
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
    int rc = append(j, REC_MARK, parts, 2, FREE_FOR_MARK, &at);
    if (rc == 0)
        b->persisted_watermark = b->watermark;
    return rc;
}

/*
 * A dead letter: the backend's mark, with the reason and a copy of the sale, so the sale outlives
 * its block (copy_forward keeps it until a technician resends it). Synced: once the watermark has
 * passed the sale, this record is the only thing that keeps it.
 */
static int write_dead(struct journal *j, struct journal_backend *b, const struct journal_sale *s,
                      const char *reason)
{
    struct rec r;
    struct journal_sale orig;
    size_t rlen = strlen(reason) > DEAD_REASON ? DEAD_REASON : strlen(reason);
    /* The sale is at or above the watermark reclaim respects, so still where it was fetched. */
    if (!pos_valid(j, &s->pos) || read_record(j, s->pos.block, s->pos.off, &r) != REC_OK ||
        decode_sale(j, &r, &orig) != 0 || orig.seq != s->seq)
        return write_mark(j, b, MARK_DEAD, s->seq, reason); /* damaged since: the reason only */
    size_t txn_len = strlen(orig.txn);
    uint8_t *c = j->cbuf;
    put32(c, b->id);
    put32(c + 4, 0);
    put64(c + 8, b->watermark);
    put64(c + 16, b->delivered_total);
    put64(c + 24, b->dead_total);
    put64(c + 32, s->seq);
    put64(c + 40, orig.accepted_ms);
    c[48] = (uint8_t)txn_len;
    c[49] = (uint8_t)rlen;
    memcpy(c + DEAD_FIXED, orig.txn, txn_len);
    memcpy(c + DEAD_FIXED + txn_len, reason, rlen);
    memcpy(c + DEAD_FIXED + txn_len + rlen, orig.body, orig.body_len);
    struct part part = {c, DEAD_FIXED + txn_len + rlen + orig.body_len};
    struct journal_pos at;
    /* The dead letter of a sale in the tail block is what lets the tail go, as a copy is: it may
     * take the last free block (DESIGN.md, "why a full journal always drains"). */
    reclaim(j);
    int holds_tail = !j->empty && s->pos.block_seq == ring_block_seq(j, j->tail);
    int rc = append(j, REC_DEAD, &part, 1, holds_tail ? FREE_FOR_COPY : FREE_FOR_DEAD, &at);
    if (rc == 0) {
        b->persisted_watermark = b->watermark;
        j->head_has_dead = 1;
        rc = hal_flash_sync(j->flash);
    }
    return rc;
}

/* Fewer blocks free, after reclaim, than a sale needs: the journal refuses sales. */
static int short_of_blocks(struct journal *j)
{
    reclaim(j);
    return !j->empty && j->nblocks - j->used < FREE_FOR_SALE;
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
    /* A full journal writes each backend's dead letters in its order: one above an unfinished
     * sale would take the room that sale's dead letter needs to move the watermark out of the
     * tail, which is what frees the tail ("why a full journal always drains", DESIGN.md). */
    if (dead_reason && i > 0 && short_of_blocks(j))
        return -ENOSPC;
    /* Worked out in a copy: until the dead letter is on flash the backend stays where it was,
     * so that reclaim, run when the dead letter opens a block, does not drop the block holding
     * the sale it copies (its watermark must not pass a sale nothing on flash keeps). */
    struct journal_backend nb = *b;
    nb.pending_done |= 1u << i;
    if (dead_reason)
        nb.pending_dead |= 1u << i;
    /* The totals count what the watermark passes, so that a mark's totals and watermark agree. */
    while (nb.npending && (nb.pending_done & 1)) {
        if (nb.pending_dead & 1)
            nb.dead_total++;
        else
            nb.delivered_total++;
        memmove(nb.pending, nb.pending + 1, (nb.npending - 1) * sizeof *nb.pending);
        nb.pending_done >>= 1;
        nb.pending_dead >>= 1;
        nb.npending--;
    }
    nb.watermark = nb.npending ? nb.pending[0] : nb.fetched_end;
    if (nb.queued)
        nb.queued--;
    int rc = dead_reason ? write_dead(j, &nb, s, dead_reason) : 0;
    if (rc == 0)
        *b = nb;
    return rc;
}

int journal_flush_marks(struct journal *j)
{
    int rc = copy_forward(j); /* first: it is what frees a tail that dead letters hold */
    if (rc)
        return rc;
    for (unsigned i = 0; i < j->nbackends; i++) {
        struct journal_backend *b = &j->backends[i];
        if (b->watermark != b->persisted_watermark) {
            rc = write_mark(j, b, 0, 0, NULL);
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
    return (uint64_t)(j->used - 1) * j->block_size + j->head_off;
}

enum journal_block_state journal_block_info(struct journal *j, uint32_t block,
                                            uint32_t *erase_count)
{
    struct block_hdr h;
    uint8_t raw[BLOCK_HDR];
    *erase_count = JOURNAL_ERASES_UNKNOWN;
    if (read_block_hdr(j, block, &h) == HDR_VALID) {
        if (in_ring(j, block) && h.block_seq != ring_block_seq(j, block))
            return JOURNAL_BLOCK_DAMAGED; /* a worn block still showing an older lap's header */
        *erase_count = h.erase_count;
        return in_ring(j, block) ? JOURNAL_BLOCK_IN_USE : JOURNAL_BLOCK_FREE;
    }
    if (in_ring(j, block))
        return JOURNAL_BLOCK_DAMAGED; /* a bit flip, or a worn block passed over */
    if (hal_flash_read(j->flash, addr_of(j, block, 0), raw, sizeof raw) == 0 &&
        all_erased(raw, sizeof raw)) {
        /* Blocks open in physical order from 0: on the first lap one past the head never was. */
        if (j->empty || (j->head_seq < j->nblocks && block > j->head))
            *erase_count = 0;
        return JOURNAL_BLOCK_ERASED;
    }
    return JOURNAL_BLOCK_UNREADABLE; /* an erase cut short, or a worn block outside the ring */
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
    uint64_t listed[256]; /* a dead letter copied forward may be found twice */
    unsigned nlisted;
    int pass;
};

static int visit_dead(struct journal *j, const struct rec *r, struct journal_pos at,
                      uint32_t next_off, void *ctx)
{
    struct dead_scan *d = ctx;
    struct mark m;
    (void)next_off;
    if (decode_mark(j, r, &m) != 0 || m.backend_id != d->backend_id || !mark_in_place(j, &m, at) ||
        (r->type == REC_MARK && (!m.flags || r->len < MARK_FIXED + 8)))
        return 0;
    uint64_t seq = get64(j->rbuf + MARK_FIXED);
    if (d->pass == 0) {
        if (r->type == REC_MARK && (m.flags & MARK_REQUEUE) && d->nrequeued < 256)
            d->requeued[d->nrequeued++] = seq;
        return 0;
    }
    if (r->type == REC_MARK && !(m.flags & MARK_DEAD))
        return 0;
    for (unsigned i = 0; i < d->nrequeued; i++)
        if (d->requeued[i] == seq)
            return 0;
    for (unsigned i = 0; i < d->nlisted; i++)
        if (d->listed[i] == seq)
            return 0;
    if (d->nlisted < 256)
        d->listed[d->nlisted++] = seq;
    char reason[DEAD_REASON + 1];
    if (r->type == REC_DEAD) {
        const uint8_t *p = j->rbuf;
        memcpy(reason, p + DEAD_FIXED + p[48], p[49]);
        reason[p[49]] = '\0';
    } else {
        snprintf(reason, sizeof reason, "%s", (const char *)j->rbuf + MARK_FIXED + 8);
    }
    return d->fn(d->ctx, seq, reason);
}

int journal_dead_letters(struct journal *j, unsigned b, journal_dead_fn fn, void *ctx)
{
    struct dead_scan d = {.backend_id = j->backends[b].id, .fn = fn, .ctx = ctx};
    int rc = walk(j, WALK_MARKS, visit_dead, &d);
    d.pass = 1;
    return rc ? rc : walk(j, WALK_MARKS, visit_dead, &d);
}

/* The sale a DEAD record carries, as decode_sale would give it. */
static int decode_dead_sale(struct journal *j, const struct rec *r, struct journal_sale *s)
{
    const uint8_t *p = j->rbuf;
    if (r->type != REC_DEAD || r->len < DEAD_FIXED || p[48] > JOURNAL_MAX_TXN ||
        r->len < DEAD_FIXED + p[48] + p[49])
        return -1;
    s->seq = get64(p + 32);
    s->accepted_ms = get64(p + 40);
    memcpy(j->txn_buf, p + DEAD_FIXED, p[48]);
    j->txn_buf[p[48]] = '\0';
    s->txn = j->txn_buf;
    s->body = (const char *)p + DEAD_FIXED + p[48] + p[49];
    s->body_len = r->len - DEAD_FIXED - p[48] - p[49];
    return 0;
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
    (void)next_off;
    if ((decode_sale(j, r, &s) != 0 && decode_dead_sale(j, r, &s) != 0) || s.seq != p->seq ||
        (r->type == REC_SALE && !sale_in_place(j, &s, at)))
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
    (void)next_off;
    if ((decode_sale(j, r, &s) != 0 && decode_dead_sale(j, r, &s) != 0) ||
        (r->type == REC_SALE && !sale_in_place(j, &s, at)))
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

struct sale_walk {
    journal_walk_fn fn;
    void *ctx;
};

static int visit_any_sale(struct journal *j, const struct rec *r, struct journal_pos at,
                          uint32_t next_off, void *ctx)
{
    struct sale_walk *w = ctx;
    struct journal_sale s;
    (void)next_off;
    if (r->type == REC_SALE) {
        if (decode_sale(j, r, &s) != 0 || !sale_in_place(j, &s, at))
            return 0;
        s.pos = at;
        return w->fn(w->ctx, &s, -1, NULL);
    }
    struct mark m;
    if (r->type != REC_DEAD || decode_mark(j, r, &m) != 0 || !mark_in_place(j, &m, at))
        return 0;
    int b = -1;
    for (unsigned i = 0; i < j->nbackends; i++)
        if (j->backends[i].id == m.backend_id)
            b = (int)i;
    const uint8_t *p = j->rbuf;
    char reason[DEAD_REASON + 1];
    if (b < 0 || decode_dead_sale(j, r, &s) != 0)
        return 0; /* a backend no longer configured: its dead letters are not ours to report */
    memcpy(reason, p + DEAD_FIXED + p[48], p[49]);
    reason[p[49]] = '\0';
    s.pos = at;
    return w->fn(w->ctx, &s, b, reason);
}

int journal_walk_sales(struct journal *j, journal_walk_fn fn, void *ctx)
{
    struct sale_walk w = {fn, ctx};
    return walk(j, 0, visit_any_sale, &w);
}

int journal_requeue(struct journal *j, unsigned b, uint64_t dead_seq)
{
    struct sale_probe p = {.seq = dead_seq};
    int rc = walk(j, 0, visit_sale, &p);
    if (rc != 1)
        return rc < 0 ? rc : -ENOENT; /* a format 1 dead letter whose sale was reclaimed */
    uint64_t seq;
    /* A new record, the same txn and so the same externalReference: the platform keeps it once. */
    rc = journal_append_sale(j, p.txn, p.body, p.body_len, p.accepted_ms, &seq);
    free(p.body);
    if (rc == 0)
        rc = write_mark(j, &j->backends[b], MARK_REQUEUE, dead_seq, NULL);
    return rc;
}
