#!/usr/bin/env python3
"""Connectivity return is noticed at once: with the uploader sleeping out a long backoff after
network failures, a kernel link event (a veth pair appearing) wakes it, and the backlog drains
long before the backoff would have ended. Needs CAP_NET_ADMIN; skipped (exit 77) without it."""

import os
import subprocess
import sys
import time

from harness import Env, Pos, parse_args, wait_until

SKIP = 77


def ip(*args):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True)


def main():
    args = parse_args()
    name = "tsw%d" % (os.getpid() % 100000)
    if ip("link", "add", name, "type", "veth", "peer", "name", name + "p").returncode != 0:
        print("SKIP: cannot create a veth pair here (no CAP_NET_ADMIN)")
        return SKIP
    ip("link", "del", name)
    with Env(args, "netwatch") as env:
        env.start_mock()
        env.write_config(retry_base_s=40, retry_max_s=60)
        env.start_daemon()
        env.mock_post("/_mock/fault", {"mode": "down"})
        pos = Pos(env.pos_socket)
        for i in range(3):
            assert pos.request({"event": "sale.completed", "txn": "N%d" % i,
                                "at": "2026-04-07T19:45:00Z", "total": 1, "currency": "GBP",
                                "customer": {"email": "n@example.com"}})["ok"]
        pos.close()
        # Wait for a failure whose backoff puts the next attempt at least 20 s away.
        b = wait_until(lambda: (lambda b: b["next_attempt_in_s"] >= 20 and b)(
            env.status()["backends"][0]), 120, "a long backoff", interval=0.2)
        env.mock_post("/_mock/fault", {"mode": "none"})
        t0 = time.monotonic()
        ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
        ip("link", "set", name, "up")
        ip("link", "set", name + "p", "up")
        try:
            wait_until(lambda: env.status()["backends"][0]["queued"] == 0, 15,
                       "the link event to wake the uploader")
        finally:
            ip("link", "del", name)
        took = time.monotonic() - t0
        assert "network change" in env.log(), env.log()
        acts = env.mock_get("/_mock/activities")
        assert len(acts) == 3, acts
        print("ok: backoff had %ds to go; a link event drained the backlog in %.1fs" % (
            b["next_attempt_in_s"], took))
    return 0


if __name__ == "__main__":
    sys.exit(main())
