#!/usr/bin/env python3
"""The main job, for a person to watch: tillsyncd on the host-dev board (journal in a flash image
file), the mock Glu API on loopback over HTTPS, a stream of sales from a POS; the API is taken
away and brought back; at the end every sale is on the API exactly once."""

import random
import signal
import sys
import time

from harness import Env, Pos, parse_args, wait_until


def show(env, label):
    st = env.status()
    b = st["backends"][0]
    print("  [%s] queued %d, delivered %d, in flight %d, next attempt in %ds, last error: %s"
          % (label, b["queued"], b["delivered"], b["in_flight"], b["next_attempt_in_s"],
             b["last_error"]), flush=True)


def main():
    args = parse_args(lambda p: p.add_argument("--sales", type=int, default=60))
    with Env(args, "demo") as env:
        env.start_mock()
        env.write_config()
        print("mock Glu API on https://127.0.0.1:%d; config %s" % (env.port, env.config_path))
        env.start_daemon()
        print("tillsyncd running (journal %s/journal.img)" % env.dir, flush=True)
        pos = Pos(env.pos_socket)
        rng = random.Random(1)
        n = args.sales
        for i in range(n):
            if i == n // 3:
                env.kill_mock()
                print("-- API taken away after %d sales; the till keeps selling" % i, flush=True)
            if i == 2 * n // 3:
                show(env, "API down")
                env.start_mock()
                print("-- API back after %d sales" % i, flush=True)
            sale = {"event": "sale.completed", "txn": "D%05d" % i,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "total": rng.randrange(100, 20000), "currency": "GBP",
                    "customer": {"email": "guest%d@example.com" % rng.randrange(10)}}
            reply = pos.request(sale)
            assert reply.get("ok"), reply
            if i % 10 == 0:
                print("  sale %s -> %s" % (sale["txn"], reply), flush=True)
            time.sleep(0.05)
        pos.close()
        wait_until(lambda: env.status()["backends"][0]["queued"] == 0, 120, "backlog to drain",
                   interval=0.5)
        show(env, "drained")
        acts = env.mock_get("/_mock/activities")
        refs = [a["externalReference"] for a in acts]
        assert len(refs) == n and len(set(refs)) == n, (len(refs), len(set(refs)))
        print("every sale delivered once: %d sales, %d activities, %d distinct references"
              % (n, len(acts), len(set(refs))))
        rc = env.kill_daemon(signal.SIGTERM)
        print("tillsyncd stopped on SIGTERM with exit status %d" % rc)
        assert rc == 0, rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
