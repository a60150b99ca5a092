#!/usr/bin/env python3
"""format.reader: read_journal.py (a reader written from docs/FORMAT.md alone) against the
firmware's own mount, on images the firmware wrote.

    check_reader.py DUMP_STATE [-v] [-k]

For each configuration, runs dump_state (argv[1], possibly under the emulator prefix in
$TILLSYNC_EMULATOR): a deterministic workload of sales, deliveries, dead letters, requeues and
mark flushes, with or without a power cut at the Nth flash operation (torn or not, the image left
as cut or the workload carried on after a remount), then the firmware's view of the image through
journal.h's API. Also images damaged here (bit flips in records, block headers, erased space;
a newer version; an out-of-place OPEN record; an -EROFS retry copy), mounted by dump_state -m,
and section 11's version 1 example. read_journal.py reads the same image; every field is
compared: head, tail, used, next_seq, each backend's watermark, totals, queued and the sales it
is owed, the sales of the ring before reclaim, corrupt records, torn appends (as the mount counts
them and after journal_check()), damaged headers, whether the head is sealed, refusals.

One check is not about the reader: a remount's watermark must not be above the one the journal
had when the image was taken (that would skip sales nobody delivered).

Exit 0 if all agree; otherwise every mismatch is printed with its configuration (-k keeps the
images of the mismatches, -v lists the agreeing ones too).
"""
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import read_journal  # noqa: E402

NAMES = ["glu", "crm"]

# (erase_size, prog_size, nblocks, sales that wrap the ring several times)
GEOMETRIES = {
    "4k/16": (4096, 16, 8, 700),
    "64k/16": (65536, 16, 5, 4000),
    "4k/1": (4096, 1, 8, 700),
    "32k/4096": (32768, 4096, 6, 250),
    "4k/16 in 16k blocks": (4096, 16, 32, 2800),
}
# Blocks of several erase blocks (FORMAT.md section 1.1): the block size dump_state gives a blank
# device; the readers find it in the headers.
FRESH_BLOCK = {"4k/16 in 16k blocks": 16384}


def configurations(ops_of):
    """The workload configurations: dicts of dump_state arguments and a label. ops_of(geo, seed,
    nb) is the number of flash operations the uncut workload performs."""
    out = []

    def case(geo, seed, nb, cut_at=0, torn=0, cont=0, nsales=None, mount_prog=0, worn=None,
             note=""):
        nsales = GEOMETRIES[geo][3] if nsales is None else nsales
        label = f"{geo} seed={seed} backends={nb} sales={nsales}"
        if cut_at:
            label += f" cut_at={cut_at} torn={torn} continue={cont}"
        if worn:
            label += f" worn block {worn[0]} from sale {worn[1]} to {worn[2]}"
        out.append({"label": label + note, "geo": geo, "seed": seed, "nb": nb, "nsales": nsales,
                    "cut_at": cut_at, "torn": torn, "cont": cont, "mount_prog": mount_prog,
                    "worn": worn})

    seed = 1
    for geo in GEOMETRIES:
        for nb in (1, 2):
            case(geo, seed, nb)
            seed += 1
        for frac, torn, cont in ((0.37, 1, 0), (0.61, 0, 0), (0.83, 1, 1), (0.5, 0, 1),
                                 (0.71, 1, 0)):
            nb = 1 + seed % 2
            case(geo, seed, nb, max(1, int(ops_of(geo, seed, nb) * frac)), torn, cont)
            seed += 1
    # Power cut at every operation of a stretch of each small geometry (block opens, marks,
    # sales; torn or not), the image left as cut.
    for geo, nb in (("4k/16", 1), ("4k/1", 2), ("32k/4096", 1), ("4k/16 in 16k blocks", 2)):
        start = int(ops_of(geo, 50, nb) * 0.6)
        for n in range(start, start + 16):
            case(geo, 50, nb, n, n % 2, 0)
    # A worn block (programs and erases refused with -EROFS, section 10) for a while, or to the
    # end.
    case("4k/16", 60, 2, worn=(3, 0, 10**6))
    case("4k/16", 61, 2, worn=(5, 100, 400))
    case("64k/16", 62, 1, worn=(2, 300, 2500))
    case("4k/16", 3, 1, nsales=460, worn=(2, 400, 10**6))
    # An empty journal, and one mounted with another program size (refused).
    case("4k/16", 99, 1, nsales=0, note=" (empty)")
    case("4k/16", 98, 1, nsales=50, mount_prog=32, note=" (mounted with prog_size 32)")
    return out


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()}")
    return p.stdout.decode()


def dump(prefix, binary, image, c):
    erase, prog, nblocks, _ = GEOMETRIES[c["geo"]]
    args = [image, c["seed"], c["nsales"], c["nb"], erase, prog, nblocks, c["cut_at"], c["torn"],
            c["cont"], c["mount_prog"]]
    if c["worn"]:
        args += list(c["worn"])
    env = dict(os.environ, DUMP_STATE_BLOCK_SIZE=str(FRESH_BLOCK.get(c["geo"], 0)))
    return json.loads(run(prefix + [binary] + [str(a) for a in args], env))


def read(image, geo, names, prog=None):
    erase, p, _, _ = GEOMETRIES[geo]
    with open(image, "rb") as f:
        data = f.read()
    try:
        return read_journal.Reader(data, erase, prog or p, names).run()
    except read_journal.Refused as e:
        return {"refused": str(e)}


def set_header(data, e, b, **fields):
    """Rewrites fields of block b's header (section 3.2) and its CRC."""
    off = b * e
    h = list(struct.unpack("<IHHQQIIII", data[off:off + 40]))
    keys = ["magic", "version", "hdr_size", "block_seq", "first_seq", "erase_count",
            "erase_size", "prog_size"]
    for k, v in fields.items():
        h[keys.index(k)] = v
    raw = struct.pack("<IHHQQIII", *h[:8])
    data[off:off + 40] = raw + struct.pack("<I", zlib.crc32(raw))


def record(rtype, payload, prog):
    hdr = struct.pack("<BBHII", rtype, 0, 0x5254, len(payload), zlib.crc32(payload))
    rec = hdr + struct.pack("<I", zlib.crc32(hdr)) + payload
    return rec + b"\xff" * (read_journal.round_up(len(rec), prog) - len(rec))


def damage(base, geo, names):
    """Damaged copies of a good image: (label, bytes). Offsets are found with the reader's own
    parsing of the undamaged image; what each copy must read as is left to the comparison."""
    e, p, _, _ = GEOMETRIES[geo]
    r = read_journal.Reader(bytes(base), e, p, names)
    e = r.erase_size  # the journal's block size (FORMAT.md section 1.1)
    placed = r.place_ring()
    ring, head = placed["ring"], placed["head"]
    recs = {b: r.read_records(r.block(b)) for b in ring}
    out = []

    def copy():
        return bytearray(base)

    def good(b, rtype):
        return [x for x in recs[b][0] if x.kind == "good" and x.rtype == rtype]

    prev = ring[-2] if len(ring) > 1 else head
    mid = ring[len(ring) // 2]
    for label, b in (("payload bit flip in a sale of the block before the head", prev),
                     ("payload bit flip in a sale of the middle block", mid)):
        sales = good(b, read_journal.SALE)
        if sales:
            d = copy()
            d[b * e + sales[len(sales) // 2].off + 16 + 3] ^= 0x10
            out.append((label, d))
    sales = good(prev, read_journal.SALE)
    if sales:
        d = copy()
        d[prev * e + sales[0].off + 5] ^= 0x01  # len: the header CRC fails, resync
        out.append(("record header bit flip in the block before the head", d))
        d = copy()
        x = sales[0]
        hdr = bytearray(d[prev * e + x.off:prev * e + x.off + 12])
        hdr[0] = 5
        d[prev * e + x.off:prev * e + x.off + 16] = hdr + struct.pack("<I", zlib.crc32(hdr))
        out.append(("record of unknown type 5 with a good header CRC", d))
    if len(ring) > 1 and good(head, read_journal.SALE):
        d = copy()
        d[head * e + 16] ^= 0x04
        out.append(("head block header bit flip (damaged head)", d))
    if len(ring) > 2:
        for label, fields in (("middle ring block header bit flip", None),
                              ("middle ring block version 0", {"version": 0}),
                              ("middle ring block hdr_size 48", {"hdr_size": 48})):
            d = copy()
            if fields is None:
                d[mid * e + 9] ^= 0x01
            else:
                set_header(d, e, mid, **fields)
            out.append((label, d))
        d = copy()
        d[ring[0] * e + 1] ^= 0x01
        out.append(("tail block header bit flip", d))
    d = copy()
    set_header(d, e, mid, version=5)
    out.append(("a ring block of version 5 (newer)", d))
    free = [b for b in range(r.nblocks) if b not in ring]
    if free:
        d = copy()
        set_header(d, e, free[0], prog_size=p * 2, erase_size=e)
        out.append(("a free block of another geometry", d))
    end = recs[head][1]
    if end + 16 < e:
        d = copy()
        d[head * e + min(e - 1, end + 40)] = 0xFE
        out.append(("bit flip in the erased space after the head's last record", d))
    hrecs = recs[head][0]
    if hrecs:
        last = hrecs[-1]
        d = copy()
        d[head * e + last.off + 16 + min(3, (last.end - last.off) - 17)] ^= 0x20
        out.append(("payload bit flip in the head's last record", d))
        d = copy()
        d[head * e + last.off + 13] ^= 0x20
        out.append(("header bit flip in the head's last record", d))
        if hrecs[0].rtype == read_journal.OPEN:
            d = copy()
            d[head * e + hrecs[0].off + 16 + 1] ^= 0x01
            out.append(("the head's OPEN record damaged", d))
        marks = good(head, read_journal.MARK)
        if marks:
            d = copy()
            d[head * e + marks[0].off + 16 + 9] ^= 0x01
            out.append(("payload bit flip in a mark of the head", d))
    # The header of the tail as the reader finds it after reclaim: that block drops out of
    # the ring (section 10, "the block header has no copy").
    tail = r.run()["tail"]
    if tail != head and tail != ring[0]:
        d = copy()
        d[tail * e + 20] ^= 0x02
        out.append(("header bit flip of the tail after reclaim", d))
    # The -EROFS retry of section 8.2: the head's last sale again at the start of a new block,
    # after that block's header (first_seq = the sale's seq) and OPEN record.
    hs = good(head, read_journal.SALE)
    nxt = (head + 1) % r.nblocks
    now = r.run()
    if hs and now["tail"] != nxt:
        x = hs[-1]
        st = now["backends"]
        d = copy()
        d[nxt * e:(nxt + 1) * e] = b"\xff" * e
        set_header(d, e, nxt, magic=0x4C4A5354, version=2, hdr_size=40,
                   block_seq=placed["head_seq"] + 1, first_seq=x.decoded["seq"], erase_count=1,
                   erase_size=e, prog_size=p)
        d[nxt * e + 40:nxt * e + r.hdr_area] = b"\xff" * (r.hdr_area - 40)
        opened = record(3, struct.pack("<HB", 0, len(names)) + b"".join(
            struct.pack("<IQQQ", zlib.crc32(n.encode()), st[n]["watermark"],
                        st[n]["delivered_total"], st[n]["dead_total"]) for n in names), p)
        sale = bytes(base[head * e + x.off:head * e + x.end])
        at = nxt * e + r.hdr_area
        d[at:at + len(opened) + len(sale)] = opened + sale
        out.append(("the head's last sale again at the start of a new block (-EROFS retry)", d))
    # An OPEN record after the head's last record: must be ignored (section 6.4), though its
    # entries claim everything done.
    ids = [zlib.crc32(n.encode()) for n in names]
    big = 1 << 40
    opened = record(3, struct.pack("<HB", 0, len(ids))
                    + b"".join(struct.pack("<IQQQ", i, big, big, 0) for i in ids), p)
    if end + len(opened) <= e:
        d = copy()
        d[head * e + end:head * e + end + len(opened)] = opened
        out.append(("an OPEN record out of place, after the head's last record", d))
    return out


def compare(fw, rd, names):
    """Mismatches between the firmware's view (fw) and the reader's (rd), as strings."""
    bad = []

    def eq(what, a, b):
        if a != b:
            bad.append(f"{what}: firmware {a!r}, reader {b!r}")

    eq("refused", fw.get("refused"), rd.get("refused"))
    if fw.get("refused") or rd.get("refused"):
        return bad
    for k in ("head", "tail", "used", "next_seq", "corrupt_records", "torn", "damaged_headers",
              "head_sealed"):
        eq(k, fw[k] if k != "head_sealed" else bool(fw[k]), rd[k])
    # Section 8.4 describes what a mount counts; journal_check() (above) recounts the ring.
    eq("torn counted by the mount (before journal_check: the head only)", fw["torn_at_mount"],
       rd["torn_head"])
    for n in names:
        for k in ("watermark", "delivered_total", "dead_total", "queued"):
            eq(f"{n}.{k}", fw["backends"][n][k], rd["backends"][n][k])
        wm = rd["backends"][n]["watermark"]
        owed = [s for s in rd["sales"] if s[0] >= wm]
        if fw["owed"][n] != owed:
            bad.append(f"{n}: sales owed differ: firmware {len(fw['owed'][n])} "
                       f"{first_diff(fw['owed'][n], owed)}, reader {len(owed)}")
    # Not a reader check: a remount must not consider done what the journal had not finished
    # before the image was taken (that would skip sales, section 7.2 step 2's floor).
    for n, live in zip(names, fw.get("live_watermarks", [])):
        if fw["backends"][n]["watermark"] > live:
            bad.append(f"{n}: SALES SKIPPED: the journal's watermark was {live} when the image "
                       f"was taken, the remount's is {fw['backends'][n]['watermark']}")
    if fw["sales_before_reclaim"] != rd["sales_before_reclaim"]:
        bad.append(f"sales of the ring before reclaim differ: firmware "
                   f"{len(fw['sales_before_reclaim'])}, reader "
                   f"{len(rd['sales_before_reclaim'])}; "
                   f"{first_diff(fw['sales_before_reclaim'], rd['sales_before_reclaim'])}")
    return bad


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at #{i}: {x} vs {y}"
    return f"one is a prefix of the other ({a[-1:] if len(a) > len(b) else b[-1:]} extra)"


def main():
    binary = sys.argv[1]
    verbose = "-v" in sys.argv
    keep = "-k" in sys.argv
    prefix = shlex.split(os.environ.get("TILLSYNC_EMULATOR", ""))
    failures = 0
    ran = 0
    tmp = tempfile.mkdtemp(prefix="format-reader-")
    image = os.path.join(tmp, "journal.img")
    ops = {}

    def ops_of(geo, seed, nb):
        if (geo, seed, nb) not in ops:
            c = {"geo": geo, "seed": seed, "nb": nb, "nsales": GEOMETRIES[geo][3], "cut_at": 0,
                 "torn": 0, "cont": 0, "mount_prog": 0, "worn": None}
            ops[geo, seed, nb] = dump(prefix, binary, image, c)["ops"]
        return ops[geo, seed, nb]

    todo = configurations(ops_of)
    # Damage: images written without a cut, damaged here, mounted by dump_state -m.
    for i, geo in enumerate(GEOMETRIES):
        for nb in (1, 2):
            seed = 100 + 2 * i + nb
            c = {"geo": geo, "seed": seed, "nb": nb, "nsales": GEOMETRIES[geo][3] // 2,
                 "cut_at": 0, "torn": 0, "cont": 0, "mount_prog": 0, "worn": None}
            dump(prefix, binary, image, c)
            with open(image, "rb") as f:
                base = f.read()
            for what, data in damage(base, geo, NAMES[:nb]):
                todo.append({"label": f"{geo} seed={seed} backends={nb}, damaged: {what}",
                             "geo": geo, "nb": nb, "data": data, "mount_prog": 0})
    # FORMAT.md section 11: the version 1 example (glu delivered sale 0; crm has no mark).
    v1 = bytearray(b"\xff" * (4096 * GEOMETRIES["4k/16"][2]))
    set_header(v1, 4096, 0, magic=0x4C4A5354, version=1, hdr_size=40, block_seq=1, first_seq=0,
               erase_count=1, erase_size=4096, prog_size=16)
    body = b'{"txn":"T-1001","at":"2024-06-10T09:30:00Z","total":1250,"currency":"EUR"}'
    recs = (record(1, struct.pack("<QQB", 0, 1718011800123, 6) + b"T-1001" + body, 16)
            + record(2, struct.pack("<IIQQQ", zlib.crc32(b"glu"), 0, 1, 1, 0), 16))
    v1[48:48 + len(recs)] = recs
    assert zlib.crc32(v1[:36]) == 0x630CF211  # the header CRC section 11 gives
    todo.append({"label": "FORMAT.md section 11, version 1", "geo": "4k/16", "nb": 2, "data": v1,
                 "mount_prog": 0})
    for c in todo:
        geo, nb = c["geo"], c["nb"]
        if "data" in c:
            with open(image, "wb") as f:
                f.write(c["data"])
            erase, prog, nblocks, _ = GEOMETRIES[geo]
            fw = json.loads(run(prefix + [binary, "-m", image, str(nb), str(erase), str(prog),
                                          str(nblocks)]))
        else:
            fw = dump(prefix, binary, image, c)
        rd = read(image, geo, NAMES[:nb], c["mount_prog"])
        bad = compare(fw, rd, NAMES[:nb])
        ran += 1
        if bad:
            failures += 1
            print(f"MISMATCH [{c['label']}]")
            for b in bad:
                print(f"    {b}")
            if keep:
                kept = os.path.join(tmp, f"case{ran}.img")
                os.rename(image, kept)
                print(f"    image kept: {kept}")
        elif verbose:
            print(f"ok [{c['label']}] head={fw.get('head')} tail={fw.get('tail')} "
                  f"used={fw.get('used')} next_seq={fw.get('next_seq')} "
                  f"torn={fw.get('torn')} corrupt={fw.get('corrupt_records')} "
                  f"damaged_headers={fw.get('damaged_headers')} "
                  f"sales={len(rd.get('sales') or [])} refused={fw.get('refused')}")
    if os.path.exists(image):
        os.remove(image)
    if not keep:
        try:
            os.rmdir(tmp)
        except OSError:
            pass
    print(f"{ran - failures}/{ran} configurations: read_journal.py (FORMAT.md alone) agrees "
          "with the firmware's mount")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
