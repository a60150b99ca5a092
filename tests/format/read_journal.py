#!/usr/bin/env python3
"""A journal reader written from docs/FORMAT.md alone (version 4), without the firmware's code.

    read_journal.py IMAGE ERASE_SIZE PROG_SIZE [BACKEND ...]

prints a JSON object: the ring (head, tail and used after the reclaim that `tillsyncctl verify`
does, sections 4.3 and 8.3, dead letters respected), next_seq, the sales of the ring in log order, each backend's recovered state (section
7.2) and what was found damaged. Comments name the section each step follows; "GAP" marks where
the document leaves a choice to the reader (the choice made is the one that seemed meant).
Standard library only.
"""
import json
import struct
import sys
import zlib

MAGIC_BLOCK = 0x4C4A5354
MAGIC_RECORD = 0x5254
HDR_SIZE = 40
VERSION = 4
SALE, MARK, OPEN, DEAD = 1, 2, 3, 4
MAX_RECORD = 86053  # section 5.2, JOURNAL_MAX_RECORD
MAX_BACKENDS = 8  # section 6.4: nbackends 0-8


def round_up(v, u):
    return (v + u - 1) // u * u


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


class Refused(Exception):
    pass


class BlockHeader:
    """Section 3.2."""

    def __init__(self, raw):
        (self.magic, self.version, self.hdr_size, self.block_seq, self.first_seq,
         self.erase_count, self.erase_size, self.prog_size, self.hdr_crc) = struct.unpack(
             "<IHHQQIIII", raw[:40])


class Record:
    """One entry of a block's record stream (section 5.2)."""

    def __init__(self, off, end, kind, rtype=None, payload=None, header_damaged=False):
        self.off = off  # where it starts
        self.end = end  # where the next record is looked for
        self.kind = kind  # "good", "damaged" (steps 3-4) or "bad_length" (step 5)
        self.rtype = rtype
        self.payload = payload
        self.header_damaged = header_damaged
        self.decoded = None


def fresh_block_size(size, erase_size, prog_size):
    """Section 1.1: the block size a blank device gets."""
    p = prog_size
    need = round_up(40, p) + round_up(16 + 3 + 28 * MAX_BACKENDS, p) + round_up(16 + MAX_RECORD, p)
    b = erase_size
    while b < need:
        b *= 2
    return b if size // b >= 4 else erase_size


def find_block_size(image, erase_size, prog_size):
    """Section 1.1: the journal's block size, from the first header that decides it."""
    size = len(image)
    fresh = fresh_block_size(size, erase_size, prog_size)
    for step in (fresh, erase_size):
        for at in range(0, size - 40 + 1, step):
            if step != fresh and at % fresh == 0:
                continue  # read in the first pass
            raw = image[at:at + 40]
            h = BlockHeader(raw)
            if h.magic != MAGIC_BLOCK or h.hdr_crc != crc32(raw[:36]):
                continue
            if h.version > VERSION:
                raise Refused(f"block {at // step} was written by a newer journal format; "
                              "refusing to touch it (upgrade the firmware)")
            if h.version < 1 or h.hdr_size != HDR_SIZE:
                continue
            n = h.erase_size // erase_size
            if h.erase_size % erase_size or n == 0 or n & (n - 1) or size // h.erase_size < 4:
                raise Refused(f"block {at // step} was written with another erase/program size; "
                              "refusing to touch it (fix journal geometry in the config)")
            return h.erase_size
    return fresh


class Reader:
    def __init__(self, image, erase_size, prog_size, names):
        self.img = image
        if prog_size < 1 or erase_size % prog_size != 0 or len(image) // erase_size < 4:
            raise Refused("unusable geometry")
        # From here on, erase_size is the journal's block size (section 1.1): the unit every
        # other section calls a block.
        self.erase_size = find_block_size(image, erase_size, prog_size)
        self.prog_size = prog_size
        self.names = names
        self.ids = [crc32(n.encode()) for n in names]
        self.nblocks = len(image) // self.erase_size
        self.hdr_area = round_up(HDR_SIZE, prog_size)
        # Section 10: the smallest OPEN record. GAP: "nbackends" here is the number of
        # configured backends of this reader (the document does not say which count it means
        # for the geometry check of section 1; the writer's count is the only one it knows).
        self.open_min = round_up(16 + 3 + 28 * len(names), prog_size)

    # ---- section 1 and 3 -------------------------------------------------------------------

    def check_geometry(self):
        e, p = self.erase_size, self.prog_size
        if (self.nblocks < 4 or p < 1 or e % p != 0
                or self.hdr_area + self.open_min + 16 > e):
            raise Refused("unusable geometry")
        # GAP (section 1): an image whose size is not a multiple of erase_size; the trailing
        # partial block is ignored here, as "nblocks = size / erase_size" suggests.

    def block(self, b):
        return self.img[b * self.erase_size:(b + 1) * self.erase_size]

    def classify(self, b):
        """Section 3.3, checks 2-5 in that order (check 1, a read error, cannot happen on a
        file image). Returns (state, header)."""
        raw = self.img[b * self.erase_size:b * self.erase_size + 40]
        h = BlockHeader(raw)
        if h.magic != MAGIC_BLOCK or h.hdr_crc != crc32(raw[:36]):
            return "invalid", h
        if h.version > VERSION:
            return "newer", h
        if h.version < 1 or h.hdr_size != HDR_SIZE:
            return "invalid", h
        if h.erase_size != self.erase_size or h.prog_size != self.prog_size:
            return "other", h
        return "valid", h

    # ---- section 5 -------------------------------------------------------------------------

    def header_valid(self, blk, off):
        """Section 5.2 step 3: (valid, type, len, payload_crc)."""
        h = blk[off:off + 16]
        rtype, _flags, magic, length, pcrc, hcrc = struct.unpack("<BBHIII", h)
        if magic != MAGIC_RECORD or hcrc != crc32(h[:12]) or rtype not in (SALE, MARK, OPEN, DEAD):
            return False, None, None, None
        if length > self.erase_size - off - 16 or length > round_up(16 + MAX_RECORD, self.prog_size):
            return False, None, None, None
        return True, rtype, length, pcrc

    def read_records(self, blk):
        """Section 5.2. Returns (records, end_of_log_offset): the records in offset order and
        the offset at which the stream ended (an all-0xFF header, or the end of the block)."""
        e, p = self.erase_size, self.prog_size
        recs = []
        off = self.hdr_area
        while True:
            if off + 16 > e:  # step 1
                return recs, off
            if blk[off:off + 16] == b"\xff" * 16:  # step 2
                return recs, off
            ok, rtype, length, pcrc = self.header_valid(blk, off)
            if not ok:  # step 3: resync
                nxt = off + p
                found = None
                while nxt + 16 <= e:
                    if self.header_valid(blk, nxt)[0]:
                        found = nxt
                        break
                    nxt += p
                if found is None:
                    # The skipped bytes run to the end of the block: one damaged record, and
                    # the block ends.
                    recs.append(Record(off, e, "damaged", header_damaged=True))
                    return recs, e
                recs.append(Record(off, found, "damaged", header_damaged=True))
                off = found
                continue
            span = round_up(16 + length, p)
            payload = blk[off + 16:off + 16 + length]
            if crc32(payload) != pcrc:  # step 4
                recs.append(Record(off, off + span, "damaged", rtype))
                off += span
                continue
            r = Record(off, off + span, "good", rtype, payload)
            r.decoded = self.decode(rtype, payload)
            if r.decoded is None:  # step 5: type's length rules not met
                r.kind = "bad_length"
            recs.append(r)
            off += span

    # ---- section 6 -------------------------------------------------------------------------

    @staticmethod
    def decode(rtype, pl):
        n = len(pl)
        if rtype == SALE:  # 6.1
            if n < 17:
                return None
            seq, accepted_ms, txn_len = struct.unpack("<QQB", pl[:17])
            if txn_len > 64 or n < 17 + txn_len:
                return None
            return {"seq": seq, "accepted_ms": accepted_ms, "txn": pl[17:17 + txn_len],
                    "body": pl[17 + txn_len:]}
        if rtype == MARK:  # 6.2
            if n < 32:
                return None
            bid, flags, wm, dl, dd = struct.unpack("<IIQQQ", pl[:32])
            return {"entries": [(bid, wm, dl, dd)], "flags": flags}
        if rtype == OPEN:  # 6.4
            if n < 3:
                return None
            nlisted, nback = struct.unpack("<HB", pl[:3])
            if nback > MAX_BACKENDS:
                return None
            at = 3 + 28 * nback + 2 * nlisted
            if n < at:
                return None
            raw_counts = struct.unpack("<%dH" % nlisted, pl[3 + 28 * nback:at])
            counts = [c & 0x7FFF for c in raw_counts]  # bit 15: may hold DEAD records
            if n != at + 6 * sum(counts):
                return None
            entries = [struct.unpack("<IQQQ", pl[3 + 28 * i:3 + 28 * (i + 1)])
                       for i in range(nback)]
            hashes = [pl[at + 6 * i:at + 6 * (i + 1)] for i in range(sum(counts))]
            return {"entries": entries, "nlisted": nlisted, "counts": counts,
                    "hashes": hashes, "dead_flags": [bool(c & 0x8000) for c in raw_counts]}
        if rtype == DEAD:  # 6.5: a mark, and a copy of the sale
            if n < 50:
                return None
            bid, flags, wm, dl, dd, dead_seq, accepted_ms, txn_len, reason_len = struct.unpack(
                "<IIQQQQQBB", pl[:50])
            if txn_len > 64 or n < 50 + txn_len + reason_len:
                return None
            return {"entries": [(bid, wm, dl, dd)], "flags": flags, "backend": bid,
                    "dead_seq": dead_seq}
        return None

    # ---- section 4 -------------------------------------------------------------------------

    def place_ring(self):
        n = self.nblocks
        states = []
        for b in range(n):
            states.append(self.classify(b))
        # Section 3.3: any newer / other-geometry block refuses the whole journal. GAP: which
        # block N the message names when several do (here: the lowest index, in the order the
        # headers are read), and whether "newer" wins over "other geometry" found earlier.
        for b, (st, _h) in enumerate(states):
            if st == "newer":
                raise Refused(f"block {b} was written by a newer journal format; refusing to "
                              "touch it (upgrade the firmware)")
            if st == "other":
                raise Refused(f"block {b} was written with another erase/program size; "
                              "refusing to touch it (fix journal geometry in the config)")
        self.states = states
        valid = [b for b in range(n) if states[b][0] == "valid"]
        if not valid:
            return None
        # 4.1 step 1: greatest block_seq, first by index on ties.
        head = max(valid, key=lambda b: (states[b][1].block_seq, -b))
        head_seq = states[head][1].block_seq
        head_first = states[head][1].first_seq
        self.damaged_head = False
        # 4.1 step 1, damaged head. GAP: the document does not say how the records of a block
        # whose header is invalid are located; read from hdr_area by section 5.2, as for a
        # ring block with a damaged header (4.1 step 2 says "their records are still read").
        nb = (head + 1) % n
        if states[nb][0] == "invalid":
            recs, _ = self.read_records(self.block(nb))
            if any(r.kind == "good" and r.rtype == SALE and r.decoded["seq"] >= head_first
                   for r in recs):
                head = nb
                head_seq += 1
                self.damaged_head = True
        # 4.1 step 2.
        used = 1
        tail = head
        # Section 4.1 step 2 (version 2): a valid header with another block_seq does not end the
        # search; the tail is the farthest match.
        for d in range(1, n):
            b = (head - d) % n
            st, h = states[b]
            if st == "valid" and h.block_seq == head_seq - d:
                tail, used = b, d + 1
        # Damaged headers inside the ring: invalid blocks between tail and head.
        ring = [(tail + k) % n for k in range(used)]
        return {"head": head, "head_seq": head_seq, "tail": tail, "used": used, "ring": ring}

    # ---- everything -----------------------------------------------------------------------

    def run(self):
        self.check_geometry()
        placed = self.place_ring()
        out = {"head": None, "tail": None, "used": 0, "next_seq": 0, "sales": [],
               "sales_before_reclaim": [], "backends": {}, "corrupt_records": 0, "torn": 0,
               "torn_head": 0, "damaged_headers": 0, "head_sealed": False, "refused": None}
        if placed is None:
            # Section 4.1: empty journal. GAP: the document gives no head/tail/used for an
            # empty journal; 8.1 says its first block will be block 0.
            out.update(head=0, tail=0, used=0)
            for name in self.names:
                out["backends"][name] = {"watermark": 0, "delivered_total": 0,
                                         "dead_total": 0, "queued": 0}
            return out
        ring, head = placed["ring"], placed["head"]
        used = placed["used"]
        head_seq = placed["head_seq"]

        # Read every ring block (4.2): the log.
        blocks = []  # per ring position: dict
        for k, b in enumerate(ring):
            st, h = self.states[b]
            bseq = head_seq - (used - 1 - k)
            if st == "valid" and h.block_seq != bseq:
                # 4.1 step 2: a stale header (an older lap's) inside the ring: passed over like a
                # damaged one, and its records are not read.
                blocks.append({"b": b, "valid": False, "hdr": h, "recs": [], "end": self.hdr_area,
                               "block_seq": bseq})
                continue
            recs, end = self.read_records(self.block(b))
            blocks.append({"b": b, "valid": st == "valid", "hdr": h, "recs": recs,
                           "end": end, "block_seq": bseq})
        damaged_headers = sum(1 for x in blocks if not x["valid"])

        # 6.3: next_seq from the head block.
        hb = blocks[-1]
        head_sales = [r.decoded["seq"] for r in hb["recs"]
                      if r.kind == "good" and r.rtype == SALE]
        if hb["valid"]:
            next_seq = max([hb["hdr"].first_seq] + [s + 1 for s in head_sales])
        else:
            # GAP: a damaged head has no readable first_seq; it holds at least one sale (4.1).
            next_seq = max(s + 1 for s in head_sales)

        # 7.2: recover each backend's state from the MARKs and OPEN entries of the whole ring
        # (the ring before reclaim: reclaim needs the watermarks). An OPEN record is only taken
        # at offset hdr_area (6.4: elsewhere it is ignored). Records of ring blocks with
        # damaged headers count (4.1 step 2: "their records are still read").
        best = {}
        for x in blocks:
            for r in x["recs"]:
                if r.kind != "good":
                    continue
                if r.rtype == OPEN and r.off != self.hdr_area:
                    continue
                if r.rtype in (MARK, OPEN, DEAD):
                    for bid, wm, dl, dd in r.decoded["entries"]:
                        cur = best.get(bid)
                        if cur is None or (wm, dl + dd) > (cur[0], cur[1] + cur[2]):
                            best[bid] = (wm, dl, dd)
        floor = blocks[0]["hdr"].first_seq  # 7.2 step 2: the tail is always a valid block
        state = {}
        for name, bid in zip(self.names, self.ids):
            wm, dl, dd = best.get(bid, (0, 0, 0))
            state[name] = {"watermark": max(wm, floor), "delivered_total": dl,
                           "dead_total": dd}

        # 4.3 / 8.3: reclaim at mount. New tail = newest valid ring block whose first_seq <=
        # min(next_seq, every configured backend's watermark); the head always remains.
        limit = min([next_seq] + [s["watermark"] for s in state.values()])
        new_k = 0
        for k in range(used):
            if blocks[k]["valid"] and blocks[k]["hdr"].first_seq <= limit:
                new_k = k
        # 8.3: reclaim stops at the first block holding an unsettled DEAD record: settled by a
        # MARK with flag 2 for the same backend naming the sale anywhere in the ring, or by a
        # DEAD record for the same backend and sale in a later block.
        requeued = set()
        deads = []  # (ring position, backend, dead_seq)
        for k, x in enumerate(blocks):
            for r in x["recs"]:
                if r.kind != "good":
                    continue
                if r.rtype == MARK and r.decoded["flags"] & 2 and len(r.payload) >= 40:
                    requeued.add((r.decoded["entries"][0][0],
                                  struct.unpack("<Q", r.payload[32:40])[0]))
                if r.rtype == DEAD:
                    deads.append((k, r.decoded["backend"], r.decoded["dead_seq"]))
        for k in range(new_k):
            if any(dk == k and (bid, seq) not in requeued and
                   not any(ok > k and ob == bid and os_ == seq for ok, ob, os_ in deads)
                   for dk, bid, seq in deads):
                new_k = k
                break
        sales_before = self.sales_of(blocks)
        blocks = blocks[new_k:]
        tail = ring[new_k]
        used -= new_k

        # Counting damage (8.4) over the ring as reported, i.e. after reclaim. GAP: the document
        # does not say whether corruption is counted over the ring before or after the
        # mount-time reclaim; "reports the ring as it is after that" (4.3) suggests after.
        corrupt, torn, torn_head, sealed = 0, 0, 0, False
        for idx, x in enumerate(blocks):
            recs = x["recs"]
            is_head = idx == len(blocks) - 1
            for i, r in enumerate(recs):
                if r.kind == "bad_length":
                    corrupt += 1  # 5.2 step 5: counted as damaged, never as torn (8.4: 3-4)
                    continue
                if r.kind != "damaged":
                    continue
                last = i == len(recs) - 1
                if last and self.is_last_thing(x, r):
                    torn += 1  # 8.4: the last thing in its block, whichever block
                    if is_head:
                        torn_head += 1
                        sealed = True
                else:
                    corrupt += 1
            if is_head:
                blk = self.block(x["b"])
                if blk[x["end"]:] != b"\xff" * (self.erase_size - x["end"]):
                    sealed = True
                    torn += 1  # GAP: may this add to a torn record already counted above?
                    torn_head += 1
                first = recs[0] if recs else None
                if not (first and first.kind == "good" and first.rtype == OPEN
                        and first.off == self.hdr_area):
                    sealed = True
                if self.damaged_head:
                    sealed = True

        sales = self.sales_of(blocks)
        for name in self.names:
            wm = state[name]["watermark"]
            state[name]["queued"] = sum(1 for s, _ in sales if s >= wm)
        out.update(head=head, tail=tail, used=used, next_seq=next_seq, sales=sales,
                   sales_before_reclaim=sales_before, backends=state, corrupt_records=corrupt,
                   torn=torn, torn_head=torn_head,  # 8.4: torn_head is what a mount counts
                   damaged_headers=damaged_headers,  # 4.1: what the mount found
                   damaged_headers_before_reclaim=damaged_headers, head_sealed=sealed,
                   damaged_head=self.damaged_head)
        return out

    def is_last_thing(self, x, r):
        """8.4: the record's successor offset leaves fewer than 16 bytes in the block or holds an
        all-0xFF header. For a damaged header, the successor is where resync continued; when
        resync found nothing the damaged bytes reach the end of the block."""
        nxt = r.end
        if nxt + 16 > self.erase_size:
            return True
        return self.block(x["b"])[nxt:nxt + 16] == b"\xff" * 16

    @staticmethod
    def sales_of(blocks):
        """4.2: sales in log order; records with the same seq are one sale."""
        out, seen = [], set()
        for x in blocks:
            for r in x["recs"]:
                if r.kind == "good" and r.rtype == SALE:
                    s = r.decoded["seq"]
                    if s in seen:
                        continue
                    seen.add(s)
                    out.append([s, r.decoded["txn"].decode("ascii", "replace")])
        return out


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, erase_size, prog_size, names = argv[1], int(argv[2]), int(argv[3]), argv[4:]
    with open(path, "rb") as f:
        image = f.read()
    reader = Reader(image, erase_size, prog_size, names)
    try:
        out = reader.run()
    except Refused as e:
        out = {"head": None, "tail": None, "used": None, "next_seq": None, "sales": None,
               "backends": None, "corrupt_records": None, "torn": None, "refused": str(e)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
