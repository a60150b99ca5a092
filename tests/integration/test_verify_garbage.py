#!/usr/bin/env python3
"""`tillsyncctl verify` on a journal image that is not a journal: random bytes said "healthy",
taking 16 unreadable headers for "an erase cut by power loss" (issue 9 observation 10). A power
cut interrupts one erase at most, so only one block may hold a header that is neither erased nor
valid. Checked on random bytes (NOT HEALTHY, exit 1), on a real journal with one random block
header (one interrupted erase: still healthy), and on one with two (NOT HEALTHY)."""

import json
import os
import random
import re
import signal
import sys

from harness import Env, Pos, parse_args


def sale(i):
    return {"event": "sale.completed", "txn": "VG%03d" % i, "at": "2026-04-07T19:45:00+01:00",
            "total": 100 + i, "currency": "GBP"}


def geometry(verify_out):
    m = re.search(r"(\d+) blocks of (\d+) bytes", verify_out)
    assert m, verify_out
    return int(m.group(1)), int(m.group(2))


def free_blocks(verify_out):
    out = []
    for line in verify_out.splitlines():
        m = re.match(r"block\s+(\d+): (free|erased)", line)
        if m:
            out.append(int(m.group(1)))
    return out


def scribble(path, offset, n, rng):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes(rng.getrandbits(8) for _ in range(n)))


def main():
    args = parse_args()
    rng = random.Random(9)
    with Env(args, "verify_garbage") as env:
        env.start_mock()
        env.write_config()
        with open(env.config_path) as f:
            image = json.load(f)["journal"]["path"]

        # Random bytes where the journal should be.
        env.start_daemon()
        assert env.kill_daemon(signal.SIGTERM) == 0
        size = os.path.getsize(image)
        with open(image, "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(size)))
        v = env.ctl("verify")
        assert v.returncode == 1 and "NOT HEALTHY" in v.stdout, \
            "verify exit %d on random bytes:\n%s" % (v.returncode, v.stdout + v.stderr)
        print("random image: exit 1, %s" % [ln for ln in v.stdout.splitlines()
                                            if ln.startswith("verdict")][0])

        # A real journal, then one interrupted erase: a free block's header is garbage.
        os.unlink(image)
        env.start_daemon()
        pos = Pos(env.pos_socket)
        for i in range(20):
            r = pos.request(sale(i))
            assert r.get("ok") is True, r
        pos.close()
        assert env.kill_daemon(signal.SIGTERM) == 0
        v = env.ctl("verify")
        assert v.returncode == 0 and "verdict   healthy" in v.stdout, v.stdout + v.stderr
        nblocks, block = geometry(v.stdout)
        free = free_blocks(v.stdout)
        assert len(free) >= 2, v.stdout
        scribble(image, free[0] * block, 4096, rng)
        v = env.ctl("verify")
        assert v.returncode == 0 and "verdict   healthy" in v.stdout, \
            "one interrupted erase is not damage:\n" + v.stdout + v.stderr
        assert "an erase cut by power loss" in v.stdout, v.stdout

        # A second garbage header: no single power cut leaves that.
        scribble(image, free[1] * block, 4096, rng)
        v = env.ctl("verify")
        assert v.returncode == 1 and "NOT HEALTHY" in v.stdout, \
            "verify exit %d with two garbage headers:\n%s" % (v.returncode, v.stdout)
        print("ok: random image NOT HEALTHY (exit 1); one garbage header healthy, two NOT "
              "HEALTHY (exit 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
