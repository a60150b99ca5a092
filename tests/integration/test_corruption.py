#!/usr/bin/env python3
"""Flash damage seen from outside: the daemon's own journal image gets a flipped bit in one sale
and in one block header while the daemon is stopped. The technician's `tillsyncctl verify` must
say so (and exit 1), the daemon must start on the damaged journal, report the damage, deliver
every other sale exactly once and keep taking new ones.

The damage is done to the image file between runs, as flash wear or a stray write would leave
it; nothing of the daemon is stubbed."""

import json
import signal
import sys

from harness import Env, Pos, parse_args, wait_until, submit

ERASE = 4096  # small blocks, so that 60 sales span several and one header sits inside the ring
SIZE = 262144  # under 4 x 128 KiB: the journal keeps blocks of one erase block (FORMAT.md 1.1)
PROG = 16
HEADER_SEQ_OFFSET = 8  # docs/FORMAT.md §3: the block header's u64 block_seq
BROKEN = "CR017"


def sale(txn, i):
    return {"event": "sale.completed", "txn": txn, "at": "2026-04-07T19:45:00+01:00",
            "total": 100 + i, "currency": "GBP",
            "customer": {"email": "c%d@example.com" % i, "first_name": "Pat"},
            "items": [{"sku": "A%d" % i, "name": "Flat white", "qty": 1, "unit_price": 100 + i}]}


def created(env):
    """References the API answered an activity POST for, from its request log. The mock's own
    activity list folds a resend into the first (and answers it 200), so it could not show one;
    here no fault is active while sales are answered, so any resend is the daemon's doing."""
    answered = [r for r in env.mock_get("/_mock/requests")
                if r.get("method") == "POST" and r.get("path", "").endswith("/activities")
                and r.get("status") is not None]
    refs = [(r.get("body") or {}).get("externalReference") for r in answered]
    assert len(refs) == len(set(refs)), "an activity sent twice: %s" % sorted(refs)
    assert all(r["status"] == 201 for r in answered), [r["status"] for r in answered]
    return set(refs)


def flip_bit(path, offset, bit=0):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ (1 << bit)]))


def blocks_of(verify_out):
    """{block: state} from verify's per-block lines."""
    out = {}
    for line in verify_out.splitlines():
        if line.startswith("block "):
            n, rest = line[len("block"):].split(":", 1)
            out[int(n)] = rest.strip()
    return out


def main():
    args = parse_args()
    with Env(args, "corruption") as env:
        env.start_mock()
        env.write_config()
        with open(env.config_path) as f:
            cfg = json.load(f)
        cfg["journal"].update({"size": SIZE, "erase_size": ERASE, "program_size": PROG})
        with open(env.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        image = cfg["journal"]["path"]
        # A journal this small is made only by firmware before format 3 (the configuration
        # refuses to create one): the image exists, erased, as such a till's would.
        with open(image, "wb") as f:
            f.write(b"\xff" * SIZE)

        # 60 sales stored while the API refuses them all, then a clean stop.
        env.mock_post("/_mock/fault", {"mode": "down"})
        env.start_daemon()
        batch = [sale("CR%03d" % i, i) for i in range(60)]
        submit(env, batch)
        assert env.kill_daemon(signal.SIGTERM) == 0
        v = env.ctl("verify")
        assert v.returncode == 0 and "verdict   healthy" in v.stdout, v.stdout + v.stderr
        blocks = blocks_of(v.stdout)
        in_use = sorted(b for b, st in blocks.items() if st.startswith("in use"))
        inner = [b for b in in_use if "(head)" not in blocks[b] and "(tail)" not in blocks[b]]
        assert len(in_use) >= 3 and inner, "60 sales should span 3+ blocks: %s" % blocks

        # Damage: one bit of one sale's body, one bit of an inner block's header.
        with open(image, "rb") as f:
            data = f.read()
        needle = ('"txn":"%s"' % BROKEN).encode()
        at = data.find(needle)
        assert at >= 0 and data.find(needle, at + 1) < 0, "sale %s not found once" % BROKEN
        flip_bit(image, at + len(needle) + 4, 3)
        flip_bit(image, inner[0] * ERASE + HEADER_SEQ_OFFSET, 1)

        # The technician's check tells the truth, and exits 1.
        v = env.ctl("verify")
        assert v.returncode == 1, "verify exit %d on a damaged journal:\n%s" % (v.returncode,
                                                                                v.stdout)
        assert "sales, 0 delivery marks, 1 corrupt," in v.stdout, v.stdout
        assert "damage    1 block header" in v.stdout, v.stdout
        assert "NOT HEALTHY" in v.stdout, v.stdout
        # The full check reads every record: the broken sale cannot be sent, the rest can.
        assert "glu: 59 queued" in v.stdout, v.stdout
        assert blocks_of(v.stdout)[inner[0]].startswith("in use, bad header"), v.stdout
        assert "unreadable header" not in v.stdout, v.stdout  # that would say "a cut erase"
        wear = [ln for ln in v.stdout.splitlines() if ln.startswith("wear")]
        assert wear and "max 1," in wear[0], wear  # a fresh journal: every block erased once

        # The daemon starts on it, delivers everything else once, and reports the damage.
        env.start_daemon()
        v = env.ctl("verify")
        assert v.returncode == 2 and "stop it first" in v.stderr, (v.returncode, v.stderr)
        env.mock_post("/_mock/fault", {"mode": "none"})
        st = wait_until(lambda: (lambda s: s["backends"][0]["queued"] == 0 and s)(env.status()),
                        120, "backlog to drain", interval=0.3)
        assert st["journal"]["corrupt_records"] >= 1, st["journal"]
        assert st["journal"]["damaged_headers"] == 1, st["journal"]
        want = {"T042:" + s["txn"] for s in batch} - {"T042:" + BROKEN}
        assert created(env) == want, "lost: %s extra: %s" % (sorted(want - created(env)),
                                                            sorted(created(env) - want))

        # Still takes sales, and delivers them.
        more = [sale("CS%03d" % i, i) for i in range(10)]
        submit(env, more)
        wait_until(lambda: env.status()["backends"][0]["queued"] == 0, 60, "new sales to drain",
                   interval=0.3)
        assert len(created(env)) == 69, len(created(env))
        assert env.daemon.poll() is None, "daemon died:\n" + env.log()
        log = env.log()
        assert ", 1 damaged block headers" in log, "mount did not log the header:\n" + log
        assert "1 corrupt record(s) passed over" in log, "delivery did not log it:\n" + log
        assert "written by firmware before format 3" in log, \
            "mount did not warn that this small journal's blocks refuse the largest sales:\n" + log
        assert env.kill_daemon(signal.SIGTERM) == 0
        print("ok: verify found 1 corrupt sale and 1 damaged header (exit 1); the daemon "
              "delivered the other 59 once each, then 10 new sales; status corrupt_records=%d"
              % st["journal"]["corrupt_records"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
