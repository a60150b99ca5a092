#!/usr/bin/env python3
"""Blind reader for the tillsync journal, written from docs/FORMAT.md alone.

usage: blind_reader.py IMAGE ERASE_SIZE PROG_SIZE NBACKENDS

Written on 2026-11-29 by a helper that read docs/FORMAT.md and no other file of the project. A
"# GAP:" comment marks a point the document did not settle then, where this reader follows what
the firmware was seen to do; FORMAT.md has said each of them since (sections 4.1, 7.2, 7.4, 8.3),
and one of them was a firmware bug, fixed (a stale OPEN record let reclaim drop a dead letter).
The environment switches beside them select the alternative readings, for experiments.
"""
import json
import os
import struct
import sys
import zlib

BLOCK_MAGIC = 0x4C4A5354
REC_MAGIC = 0x5254
MAX_RECORD = 86053
VERSION = 4
SALE, MARK, OPEN, DEAD = 1, 2, 3, 4
BACKEND_NAMES = ["glu", "crm"]


def round_up(v, u):
    return (v + u - 1) // u * u


def crc(b):
    return zlib.crc32(bytes(b)) & 0xFFFFFFFF


class Refused(Exception):
    pass


def block_size(img, erase, prog):
    """Section 1.1: the block size, from the first header that decides it; fresh if none."""
    need = round_up(40, prog) + round_up(16 + 3 + 28 * 8, prog) + round_up(16 + MAX_RECORD, prog)
    fresh = erase
    while fresh < need:
        fresh *= 2
    if len(img) // fresh < 4:
        fresh = erase
    for step in (fresh, erase):
        for at in range(0, len(img) - 39, step):
            if step != fresh and at % fresh == 0:
                continue
            h = img[at:at + 40]
            magic, version, hdr_size, _, _, _, es, _, hcrc = struct.unpack('<IHHQQIIII', h)
            if magic != BLOCK_MAGIC or hcrc != crc(h[:36]):
                continue
            if version > VERSION:
                raise Refused('block %d was written by a newer journal format; refusing to '
                              'touch it (upgrade the firmware)' % (at // step))
            if not (version >= 1 and hdr_size == 40):
                continue
            k = es // erase
            if es % erase or k == 0 or k & (k - 1) or len(img) // es < 4:
                raise Refused('block %d was written with another erase/program size; refusing '
                              'to touch it (fix journal geometry in the config)' % (at // step))
            return es
    return fresh


class Reader:
    def __init__(self, img, erase, prog, nbackends):
        self.img = img
        self.E = block_size(img, erase, prog)  # section 1.1: "block" below means this many bytes
        self.P = prog
        self.nb = len(img) // self.E
        self.hdr_area = round_up(40, prog)
        self.names = BACKEND_NAMES[:nbackends]
        self.ids = {crc(n.encode()): n for n in self.names}

    def blk(self, b):
        return self.img[b * self.E:(b + 1) * self.E]

    # ---- section 3.3 --------------------------------------------------
    def classify(self, b):
        h = self.blk(b)[:40]
        magic, version, hdr_size, block_seq, first_seq, ec, es, ps, hcrc = \
            struct.unpack('<IHHQQIIII', h)
        if magic != BLOCK_MAGIC or hcrc != crc(h[:36]):
            return ('invalid', None)
        if version > VERSION:
            return ('newer', None)
        if not (version >= 1 and hdr_size == 40):
            return ('invalid', None)
        if es != self.E or ps != self.P:
            return ('geometry', None)
        return ('valid', dict(version=version, block_seq=block_seq, first_seq=first_seq))

    # ---- section 5.2 / 6 ----------------------------------------------
    def rec_hdr_valid(self, data, off):
        h = data[off:off + 16]
        typ, flags, magic, ln, pcrc, hcrc = struct.unpack('<BBHIII', h)
        if magic != REC_MAGIC or hcrc != crc(h[:12]) or not (1 <= typ <= 4):
            return None
        if ln > self.E - off - 16 or ln > round_up(16 + MAX_RECORD, self.P):
            return None
        return typ, ln, pcrc

    def decode(self, typ, p, off):
        """Return a decoded record dict or None if it fails its length rules."""
        L = len(p)
        if typ == SALE:
            if L < 17:
                return None
            tl = p[16]
            if tl > 64 or L < 17 + tl:
                return None
            seq, = struct.unpack_from('<Q', p, 0)
            return dict(t=SALE, seq=seq, txn=p[17:17 + tl].decode('latin-1'))
        if typ == MARK:
            if L < 32:
                return None
            bid, fl, wm, dt, dd = struct.unpack_from('<IIQQQ', p, 0)
            r = dict(t=MARK, bid=bid, flags=fl, wm=wm, dt=dt, dd=dd)
            if L >= 40:
                r['dead_seq'] = struct.unpack_from('<Q', p, 32)[0]
            return r
        if typ == OPEN:
            if L < 3:
                return None
            nl, nbk = struct.unpack_from('<HB', p, 0)
            if nbk > 8:
                return None
            base = 3 + 28 * nbk
            if L < base + 2 * nl:
                return None
            counts = list(struct.unpack_from('<%dH' % nl, p, base)) if nl else []
            tot = sum(c & 0x7FFF for c in counts)
            if L != base + 2 * nl + 6 * tot:
                return None
            ents = []
            for i in range(nbk):
                ents.append(struct.unpack_from('<IQQQ', p, 3 + 28 * i))
            return dict(t=OPEN, entries=ents, nlisted=nl, counts=counts)
        if typ == DEAD:
            if L < 50:
                return None
            tl, rl = p[48], p[49]
            if tl > 64 or L < 50 + tl + rl:
                return None
            bid, fl, wm, dt, dd, ds = struct.unpack_from('<IIQQQQ', p, 0)
            return dict(t=DEAD, bid=bid, wm=wm, dt=dt, dd=dd, dead_seq=ds)
        return None

    def read_block(self, b):
        """Section 5.2.  Returns (records, damaged, end_off).

        records: list of (off, rec); damaged: list of (off, kind, successor_off)
        where kind is 'hdr' (resync) or 'payload'/'rules'; successor_off is the
        offset reading continues at (None if the block ended)."""
        data = self.blk(b)
        E, P = self.E, self.P
        off = self.hdr_area
        recs, dam = [], []
        end = None
        while True:
            if off + 16 > E:
                end = off
                break
            h = data[off:off + 16]
            if h == b'\xff' * 16:
                end = off
                break
            v = self.rec_hdr_valid(data, off)
            if v is None:
                o2 = off + P
                found = None
                while o2 + 16 <= E:
                    if self.rec_hdr_valid(data, o2) is not None:
                        found = o2
                        break
                    o2 += P
                dam.append((off, 'hdr', found))
                if found is None:
                    end = None  # block ended by failed resync
                    break
                off = found
                continue
            typ, ln, pcrc = v
            span = round_up(16 + ln, P)
            p = data[off + 16:off + 16 + ln]
            if crc(p) != pcrc:
                dam.append((off, 'payload', off + span))
                off += span
                continue
            r = self.decode(typ, p, off)
            if r is None:
                dam.append((off, 'rules', off + span))
                off += span
                continue
            recs.append((off, r))
            off += span
        return recs, dam, end

    # ---- mount ---------------------------------------------------------
    def mount(self):
        nb = self.nb
        hdrs = []
        for b in range(nb):
            k, h = self.classify(b)
            if k == 'newer':
                raise Refused('block %d was written by a newer journal format; refusing to touch it (upgrade the firmware)' % b)
            if k == 'geometry':
                raise Refused('block %d was written with another erase/program size; refusing to touch it (fix journal geometry in the config)' % b)
            hdrs.append(h)
        out = dict(refused=None)
        valid = [b for b in range(nb) if hdrs[b] is not None]
        if not valid:
            # GAP: FORMAT.md does not say what head/tail/used are for an empty journal.
            out.update(head=0, tail=0, used=0, next_seq=0, empty=1, corrupt_records=0,
                       torn=0, damaged_headers=0, head_sealed=0)
            out['backends'] = {n: dict(watermark=0, delivered_total=0, dead_total=0, queued=0)
                               for n in self.names}
            out['owed'] = {n: [] for n in self.names}
            return out
        head = max(valid, key=lambda b: (hdrs[b]['block_seq'], -b))
        head_bs = hdrs[head]['block_seq']
        head_first = hdrs[head]['first_seq']
        damaged = 0
        sealed = False
        damaged_head = False
        # 4.1 step 1: damaged head
        nxt = (head + 1) % nb
        if hdrs[nxt] is None:
            recs, _, _ = self.read_block(nxt)
            if any(r['t'] == SALE and r['seq'] >= head_first for _, r in recs):
                head = nxt
                head_bs += 1
                damaged_head = True
                damaged += 1
                sealed = True
        # 4.1 step 2: tail
        tail, used = head, 1
        passed = 0
        for d in range(1, nb):
            b = (head - d) % nb
            h = hdrs[b]
            if h is not None and h['block_seq'] == head_bs - d:
                tail, used = b, d + 1
                damaged += passed
                passed = 0
            elif h is None:
                passed += 1
            else:
                passed += 1  # valid mismatch: "passed over the same way" (4.1 step 2)
        ring = [(tail + k) % nb for k in range(used)]
        # read the ring
        corrupt = 0
        blk_corrupt = {}
        blk_torn = {}
        torn = 0
        log = []  # (block, off, rec)
        for b in ring:
            h = hdrs[b]
            k = ring.index(b)
            exp_bs = head_bs - (used - 1 - k)
            if h is not None and h['block_seq'] != exp_bs:
                continue  # older lap's records: not read
            recs, dam, end = self.read_block(b)
            data = self.blk(b)
            # 8.4: a damaged record that is the last thing in its block, in any block, is torn
            lasts = [succ is None or succ + 16 > self.E or data[succ:succ + 16] == b'\xff' * 16
                     for (off, kind, succ) in dam]
            if b == head:
                for last in lasts:
                    if last:
                        torn += 1
                        sealed = True  # 8.4: any damage at the end of the head seals it
                    else:
                        corrupt += 1
                if end is not None and any(c != 0xFF for c in data[end:]):
                    sealed = True
                    torn += 1
                first = recs[0] if recs else None
                if not (first and first[0] == self.hdr_area and first[1]['t'] == OPEN):
                    sealed = True
                # GAP: section 9 says "the version 1 head is sealed" and v1 blocks are read
                # "by their own version" (no OPEN type); the firmware seals only on a missing
                # OPEN record, whatever the header version (a v1-labelled head that begins
                # with an OPEN record is not sealed).
            else:
                blk_corrupt[b] = sum(1 for last in lasts if not last)
                blk_torn[b] = sum(1 for last in lasts if last)
            for off, r in recs:
                if r['t'] == OPEN and off != self.hdr_area:
                    continue  # OPEN elsewhere: ignored
                log.append((b, off, r))
        # 6.3 next_seq
        hs = [r['seq'] for b, o, r in log if b == head and r['t'] == SALE]
        # GAP: a damaged head has no readable first_seq; 6.3 is silent; the old head's is used
        next_seq = max(head_first, (max(hs) + 1) if hs else 0)
        # 7.2 backend state
        floor = hdrs[tail]['first_seq']
        # 7.2 last paragraph / 7.3 steps 2-3: W_marks is read from the newest ring block
        # that begins with a good OPEN record, and the blocks after it.
        # GAP: 7.2 step 1 says "in the ring" and claims the bounded read is equivalent; it is
        # not when a ring block before the head holds newer marks (see report).
        wblocks = set()
        if os.environ.get('WMODE', 'bounded') == 'bounded':
            for k in range(len(ring) - 1, -1, -1):
                b = ring[k]
                wblocks.add(b)
                firsts = [x for x in log if x[0] == b]
                if firsts and firsts[0][1] == self.hdr_area and firsts[0][2]['t'] == OPEN:
                    break
        else:
            wblocks = set(ring)
        best = {}
        for b, o, r in log:
            if b not in wblocks:
                continue
            if r['t'] in (MARK, DEAD):
                ents = [(r['bid'], r['wm'], r['dt'], r['dd'])]
            elif r['t'] == OPEN:
                ents = r['entries']
            else:
                continue
            for bid, wm, dt, dd in ents:
                if bid not in self.ids:
                    continue
                key = (wm, dt + dd)
                if bid not in best or key > best[bid][0]:
                    best[bid] = (key, wm, dt, dd)
        # GAP: section 4.3 says a mount does not reclaim and that reclaimed-but-not-erased
        # blocks are found in the ring again as its oldest blocks; the firmware's view
        # reports the ring after reclaim (section 8.3 rule, using the recovered watermarks).
        wms = []
        for n in self.names:
            bid = crc(n.encode())
            wms.append(max(best[bid][1] if bid in best else 0, floor))
        lim = min([next_seq] + wms)
        # unsettled dead letters (section 8.3)
        ring_pos = {b: k for k, b in enumerate(ring)}
        pin = None
        for k, b in enumerate(ring):
            # GAP: 8.3 says the DEAD bit is in "the next block's OPEN record" and that a block
            # no OPEN record lists is read. The firmware evidently takes it from the OPEN record
            # at the start of the physically next ring block even when that block shows a stale
            # (older-lap) header, so an unsettled DEAD is not seen and the block is reclaimed.
            if os.environ.get('NEXTOPEN', '0') == '1' and k + 1 < len(ring):
                nrecs, _, _ = self.read_block(ring[k + 1])
                if nrecs and nrecs[0][0] == self.hdr_area and nrecs[0][1]['t'] == OPEN and \
                        nrecs[0][1]['nlisted'] >= 1 and not (nrecs[0][1]['counts'][-1] & 0x8000):
                    continue
            for bb, o, r in log:
                if bb != b or r['t'] != DEAD:
                    continue
                settled = False
                for b2, o2, r2 in log:
                    if r2['t'] == MARK and r2['flags'] & 2 and r2['bid'] == r['bid'] and \
                            r2.get('dead_seq') == r['dead_seq']:
                        settled = True
                    if r2['t'] == DEAD and ring_pos[b2] > k and r2['bid'] == r['bid'] and \
                            r2['dead_seq'] == r['dead_seq']:
                        settled = True
                if not settled and os.environ.get('NOPIN') != '1':
                    pin = k
                    break
            if pin is not None:
                break
        # 8.3: drop the tail while the next block's first_seq <= lim; an invalid (or
        # stale) header is skipped for its next valid neighbour; stop at a pinned block.
        # GAP: 8.3's "equivalently, the newest ring block with a valid header" is not what
        # happens when an invalid-header block is pinned by a dead letter: it becomes the tail.
        # The floor stays the pre-reclaim tail's first_seq (a pinned invalid tail has none).
        def fs_at(k):
            for j in range(k, len(ring)):
                h = hdrs[ring[j]]
                if h is not None and h['block_seq'] == head_bs - (used - 1 - j):
                    return h['first_seq']
            return None
        newtail = 0
        while newtail < len(ring) - 1:
            if pin is not None and newtail >= pin:
                break
            f = fs_at(newtail + 1)
            if f is None or f > lim:
                break
            newtail += 1
        if newtail:
            dropped = ring[:newtail]
            ring = ring[newtail:]
            tail = ring[0]
            used = len(ring)
            log = [x for x in log if x[0] not in dropped]
        # GAP: damaged_headers counts the pre-reclaim ring (4.1), corrupt_records only the
        # blocks still in the ring after reclaim; FORMAT.md says neither.
        if os.environ.get('DMODE') == 'final':
            damaged = sum(1 for k, b in enumerate(ring) if hdrs[b] is None or
                          hdrs[b]['block_seq'] != head_bs - (len(ring) - 1 - k)) + 0
        if os.environ.get('CORRUPT_MODE', 'ring') == 'ring':
            corrupt += sum(blk_corrupt.get(b, 0) for b in ring)
            torn += sum(blk_torn.get(b, 0) for b in ring)
        backends, owed = {}, {}
        for n in self.names:
            bid = crc(n.encode())
            if bid in best:
                _, wm, dt, dd = best[bid]
            else:
                wm, dt, dd = 0, 0, 0
            w = max(wm, floor)
            ow = []
            seen = set()
            for b, o, r in log:
                if r['t'] == SALE and r['seq'] >= w and r['seq'] not in seen:
                    seen.add(r['seq'])
                    ow.append([r['seq'], r['txn']])
            owed[n] = ow
            # GAP: FORMAT.md never defines `queued`; section 10 says it is "counted from
            # sequence numbers at mount" with gaps counting, but the firmware reports the
            # number of owed sales (gaps and duplicate seqs not counted).
            queued = len(ow)
            backends[n] = dict(watermark=w, delivered_total=dt, dead_total=dd, queued=queued)
        out.update(head=head, tail=tail, used=used, next_seq=next_seq, empty=0,
                   corrupt_records=corrupt, torn=torn, damaged_headers=damaged,
                   head_sealed=int(sealed), backends=backends, owed=owed)
        return out


def main():
    img = open(sys.argv[1], 'rb').read()
    E, P, NB = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    try:
        out = Reader(img, E, P, NB).mount()
    except Refused as e:
        out = dict(refused=str(e))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
