#!/usr/bin/env python3
"""Chaos: the daemon is SIGKILLed at random (seeded) moments, at least 200 times, while a POS
submits sales and uploads run. Afterwards every acknowledged sale is on the API exactly once."""

import random
import signal
import sys
import threading
import time

from harness import Env, Pos, parse_args, wait_until


def main():
    args = parse_args(lambda p: (p.add_argument("--kills", type=int, default=200),
                                 p.add_argument("--seed", type=int, default=42)))
    stop = threading.Event()
    acked, errors, retries = {}, [], [0]

    def pos_loop():
        """A POS application: sends sale after sale, resending any it got no reply for."""
        pos, i = Pos(env.pos_socket), 0
        while not stop.is_set():
            sale = {"event": "sale.completed", "txn": "C%06d" % i,
                    "at": "2026-04-07T19:45:00Z", "total": i, "currency": "EUR",
                    "customer": {"email": "c%d@example.com" % (i % 50)}}
            try:
                r = pos.request(sale)
            except (ConnectionError, OSError):
                pos.close()
                time.sleep(0.01)
                continue
            if r.get("retry"):  # journal full while uploads catch up: keep the sale, try again
                retries[0] += 1
                time.sleep(0.05)
                continue
            if not r.get("ok") or r.get("ref") != "T042:" + sale["txn"]:
                errors.append(r)
            acked[sale["txn"]] = r
            i += 1
            time.sleep(0.002)  # a busy shop, not a flood

    with Env(args, "chaos") as env:
        try:
            env.start_mock()
            env.write_config()
            env.start_daemon()
            rng = random.Random(args.seed)
            t = threading.Thread(target=pos_loop, daemon=True)
            t.start()
            for k in range(args.kills):
                time.sleep(rng.uniform(0.0, 0.15))
                env.kill_daemon(signal.SIGKILL)
                env.start_daemon()
            stop.set()
            t.join(60)
            assert not errors, errors[:3]
            st = wait_until(lambda: (lambda b: b["queued"] == 0 and b)(env.status()["backends"][0]),
                            180, "backlog to drain", interval=0.5)
            acts = env.mock_get("/_mock/activities")
            refs = [a["externalReference"] for a in acts]
            want = {"T042:" + txn for txn in acked}
            assert len(refs) == len(set(refs)), "duplicate activities"
            missing = want - set(refs)
            assert not missing, "lost %d acknowledged sales, e.g. %s" % (len(missing),
                                                                        sorted(missing)[:5])
            assert set(refs) <= want, "activities for sales never acknowledged: %s" % (
                sorted(set(refs) - want)[:5])
            for a in acts:
                assert a["spend"] == int(a["externalReference"][6:]), a
            print("ok: %d SIGKILLs; %d sales acknowledged, all on the API exactly once; %d 'journal "
                  "full, retry' answers; %s" % (args.kills, len(acked), retries[0], st))
        finally:
            stop.set()  # the POS thread ends before the daemon and mock do
    return 0


if __name__ == "__main__":
    sys.exit(main())
