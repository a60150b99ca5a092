#!/usr/bin/env python3
"""Encodes docs/FORMAT.md section 11.1's example from the document alone (no firmware code), and
compares it with the image the firmware writes (write_example, given as argv[1], possibly with an
emulator prefix in $TILLSYNC_EMULATOR). Exit 0 if identical."""
import hashlib
import os
import shlex
import struct
import subprocess
import sys
import zlib

PROG, ERASE = 16, 4096


def round_up(v, u):
    return (v + u - 1) // u * u


def record(rtype, payload):
    """Section 5.1: a 16-byte header, the payload, 0xFF padding to the program unit."""
    hdr = struct.pack("<BBHII", rtype, 0, 0x5254, len(payload), zlib.crc32(payload))
    hdr += struct.pack("<I", zlib.crc32(hdr))
    rec = hdr + payload
    return rec + b"\xff" * (round_up(len(rec), PROG) - len(rec))


def txn_hash(txn):
    """Section 6.4: the first 6 bytes of SHA-256(txn)."""
    return hashlib.sha256(txn).digest()[:6]


def main():
    glu = zlib.crc32(b"glu")
    header = struct.pack("<IHHQQIII", 0x4C4A5354, 4, 40, 1, 0, 1, ERASE, PROG)  # section 3.2
    header += struct.pack("<I", zlib.crc32(header))
    header += b"\xff" * (round_up(40, PROG) - 40)
    opened = record(3, struct.pack("<HB", 0, 1) + struct.pack("<IQQQ", glu, 0, 0, 0))
    body = b'{"txn":"T-1001","at":"2024-06-10T09:30:00Z","total":1250,"currency":"EUR"}'
    sale = record(1, struct.pack("<QQB", 0, 1718011800123, 6) + b"T-1001" + body)
    mark = record(2, struct.pack("<IIQQQ", glu, 0, 1, 1, 0))
    image = header + opened + sale + mark
    image += b"\xff" * (ERASE - len(image))

    cmd = shlex.split(os.environ.get("TILLSYNC_EMULATOR", "")) + [sys.argv[1]]
    firmware = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    if firmware != image:
        diff = next(i for i in range(min(len(image), len(firmware))) if image[i] != firmware[i])
        print(f"FORMAT.md's example and the firmware differ first at byte {diff:#x}")
        return 1
    assert txn_hash(b"abc").hex() == "ba7816bf8f01"  # the vector section 6.4 gives
    print("FORMAT.md section 11.1 encoded from the document == the firmware's image "
          f"({len(header) + len(opened) + len(sale) + len(mark)} bytes of records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
