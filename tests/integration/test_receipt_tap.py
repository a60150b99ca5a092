#!/usr/bin/env python3
"""The receipt-printer tap end to end: the real daemon on two pseudo-terminal pairs (the POS's
printer port and the printer's), each recorded ESC/POS stream of tests/data/escpos written by the
POS in small writes. The printer side receives every byte unchanged; each receipt becomes one
sale on the platform (a reprint is the same sale), an unreadable one is kept for the technician."""

import glob
import json
import os
import pty
import sys
import time
import tty

from harness import drained, run_scenarios, wait_until

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "escpos")


def raw_pty():
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, os.ttyname(slave), slave


def read_all(fd, want, timeout=30):
    got = b""
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        try:
            chunk = os.read(fd, 65536)
            got += chunk
        except BlockingIOError:
            time.sleep(0.005)
    return got


def scenario_recorded_streams(env):
    os.environ["TZ"] = "Europe/London"  # the streams' printed times are London's
    lines = []
    for path in sorted(glob.glob(os.path.join(DATA, "*.bin"))):
        name = os.path.basename(path)[:-4]
        with open(os.path.join(DATA, name + ".json")) as f:
            want = json.load(f)
        with open(path, "rb") as f:
            stream = f.read()
        pos_m, pos_port, pos_s = raw_pty()
        prn_m, prn_port, prn_s = raw_pty()
        unreadable = os.path.join(env.dir, "unreadable-" + name)
        tap = dict(want["config"], pos_port=pos_port, printer_port=prn_port, baud=115200,
                   unreadable_dir=unreadable)
        env.write_config()
        with open(env.config_path) as f:
            cfg = json.load(f)
        cfg["intake"]["receipt_tap"] = tap
        cfg["journal"]["path"] = os.path.join(env.dir, "journal-%s.img" % name)
        with open(env.config_path, "w") as f:
            json.dump(cfg, f)
        env.start_daemon()
        before = len(env.mock_get("/_mock/activities"))
        for i in range(0, len(stream), 7):  # a POS writing a few bytes at a time
            os.write(pos_m, stream[i:i + 7])
        printed = read_all(prn_m, len(stream))
        assert printed == stream, "%s: the printer got %d of %d bytes, or changed ones" % (
            name, len(printed), len(stream))
        sales = [r for r in want["receipts"] if r["outcome"] == "sale"]
        refs = {"T042:" + r["txn"] for r in sales}
        st = wait_until(lambda: (lambda s: s["receipt_tap"]["receipts"] >= len(want["receipts"])
                                 and s)(env.status()), 30, name + ": receipts read")
        b = drained(env)
        acts = env.mock_get("/_mock/activities")[before:]
        got = [a["externalReference"] for a in acts]
        assert sorted(got) == sorted(refs), "%s: activities %s, wanted %s" % (name, got, refs)
        kept = os.listdir(unreadable) if os.path.isdir(unreadable) else []
        n_bad = sum(1 for r in want["receipts"] if r["outcome"] == "unreadable")
        assert len(kept) == n_bad, "%s: %d kept as unreadable, wanted %d" % (name, len(kept),
                                                                             n_bad)
        env.kill_daemon()
        for fd in (pos_m, pos_s, prn_m, prn_s):
            os.close(fd)
        lines.append("%s: %d bytes through unchanged, %d receipts, %d sale(s) on the platform, "
                     "%d kept unreadable" % (name, len(stream), st["receipt_tap"]["receipts"],
                                             len(got), len(kept)))
        assert b["dead_letter"] == 0, b
    return "; ".join(lines)


def start(env):
    env.start_mock()


if __name__ == "__main__":
    sys.exit(run_scenarios([scenario_recorded_streams], start))
