#!/usr/bin/env python3
"""tillsyncctl export / import at a reflash: how long each takes and how big the file is, for a
backlog of N undelivered sales (one backend down while the real daemon took them), beside what a
technician would otherwise carry: a copy of the raw journal image (cp; gzip -9), which holds
every record ever kept, in the clear, and only goes back onto the same geometry.

  python3 tests/bench/bench_reflash.py --daemon build/host-dev/firmware/app/tillsyncd \\
      --ctl build/host-dev/firmware/app/tillsyncctl [--sales 5000]
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Env, Pos, parse_args  # noqa: E402


def timed(argv):
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True)
    dt = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    return dt, out.stdout


def main():
    args = parse_args(lambda p: p.add_argument("--sales", type=int, default=5000))
    with Env(args, "bench_reflash") as env:
        env.port = 9  # discard: nothing listens, every delivery fails and waits
        env.write_config()
        cfg = json.load(open(env.config_path))
        cfg["journal"]["size"] = 16 << 20
        json.dump(cfg, open(env.config_path, "w"))
        key = os.path.join(env.dir, "device.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        env.start_daemon()
        pos = Pos(env.pos_socket)
        for i in range(args.sales):
            r = pos.request({"event": "sale.completed", "txn": "B%06d" % i,
                             "at": "2026-04-07T19:45:00+01:00", "total": 1000 + i,
                             "currency": "GBP",
                             "customer": {"email": "c%d@example.com" % i, "first_name": "Jo",
                                          "last_name": "Bloggs"},
                             "items": [{"sku": "A1", "name": "Latte", "qty": 2,
                                        "unit_price": 375}]})
            assert r.get("ok"), r
        pos.close()
        env.kill_daemon(sig=15)
        ctl = [args.ctl, "--config", env.config_path]
        journal = os.path.join(env.dir, "journal.img")
        image = os.path.join(env.dir, "image-copy")
        used = env_used(ctl)
        t_cp, _ = timed(["cp", journal, image])
        t_gz, _ = timed(["gzip", "-9", "-k", image])
        gz = os.path.getsize(image + ".gz")
        pw = os.path.join(env.dir, "pass")
        with open(pw, "w") as f:
            f.write("correct horse battery staple\n")
        os.chmod(pw, 0o600)
        rows = []
        for label, extra in (("device key", []), ("passphrase", ["--passphrase-file", pw])):
            tsx = os.path.join(env.dir, label.replace(" ", "_") + ".tsx")
            t_exp, _ = timed(ctl + ["export", tsx] + extra)
            os.rename(journal, journal + ".old")
            t_imp, out = timed(ctl + ["import", tsx] + extra)
            assert "%d imported" % args.sales in out, out
            t_again, out = timed(ctl + ["import", tsx] + extra)
            assert "0 imported, %d already here" % args.sales in out, out
            os.unlink(journal)
            os.rename(journal + ".old", journal)
            size = os.path.getsize(tsx)
            rows.append("%-10s export %6.2f s, file %8d bytes (%5.1f per sale), import %6.2f s, "
                        "again %5.2f s" % (label, t_exp, size, size / args.sales, t_imp, t_again))
        print("bench_reflash: %d undelivered sales, journal %d of %d bytes in use"
              % (args.sales, used, os.path.getsize(journal)))
        for r in rows:
            print("  " + r)
        print("  raw image  cp %6.2f s, %8d bytes; gzip -9 %.2f s, %d bytes (customers in the "
              "clear, every record kept, same geometry only)"
              % (t_cp, os.path.getsize(image), t_gz, gz))


def env_used(ctl):
    out = subprocess.run(ctl + ["verify"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("space"):
            return int(line.split()[1])
    return -1


if __name__ == "__main__":
    main()
