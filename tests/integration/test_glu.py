#!/usr/bin/env python3
"""The Glu backend end to end, as the other platforms' tests: the real daemon against
tests/mock/glu_mock.py. Sales taken during an outage, activity answers lost after Glu recorded
them (>= 20 in-doubt resends) and a SIGKILL of the daemon mid-run: every sale is on the platform
exactly once, counted from the mock's request log (the POST /activities that created an
activity, per externalReference) as well as from the activities it holds."""

import signal
import sys

from harness import drained, run_scenarios, submit, wait_until

RESETS = 25
CUSTOMERS = [
    {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"},
    {"email": "zoe@example.de", "first_name": "Zoë", "last_name": "Müller-Łukasz"},
    {"phone": "+15550100"},
    {"email": "only@example.com"},
]


def sales(prefix, n):
    return [{"event": "sale.completed", "txn": "%s%03d" % (prefix, i),
             "at": "2026-04-08T00:30:00+02:00", "total": 100 + i, "currency": "GBP",
             "customer": CUSTOMERS[i % len(CUSTOMERS)]} for i in range(n)]


def created(r):
    """The POST /activities stored a new activity: answered 201, or applied and its answer
    dropped (reset_after_record), and not an answered duplicate."""
    applied = r["status"] == 201 or r["fault"] == "reset_after_record"
    return (r["method"] == "POST" and r["path"] == "/activities" and applied
            and r["api_key"] == "ok" and not r.get("duplicate"))


def scenario_outage_resets_sigkill(env):
    env.mock_post("/_mock/fault", {"mode": "down"})
    down_batch = sales("DN", 14)
    submit(env, down_batch)  # acknowledged while Glu is unreachable
    wait_until(lambda: len(env.mock_get("/_mock/requests")) >= 2, 30, "attempts during the outage")
    env.mock_post("/_mock/fault", {"reset_after_record": RESETS, "slow": 0.1})
    batch = down_batch + sales("RS", 42)
    submit(env, batch[len(down_batch):])
    wait_until(lambda: len(env.mock_get("/_mock/activities")) >= 10, 120, "10 activities")
    env.kill_daemon(signal.SIGKILL)
    at_kill = len(env.mock_get("/_mock/activities"))
    assert at_kill < len(batch), "the SIGKILL came after every sale was on Glu: not mid-run"
    env.start_daemon()
    b = drained(env)
    assert b["dead_letter"] == 0, b
    want = {"T042:" + s["txn"] for s in batch}
    log = env.mock_get("/_mock/requests")
    per_ref = {}
    for r in log:
        if created(r):
            ref = r["body"]["externalReference"]
            per_ref[ref] = per_ref.get(ref, 0) + 1
    twice = {ref: n for ref, n in per_ref.items() if n != 1}
    assert not twice, "activities created more than once, from the request log: %s" % twice
    assert set(per_ref) == want, "request log: lost %s, extra %s" % (
        sorted(want - set(per_ref)), sorted(set(per_ref) - want))
    held = [a["externalReference"] for a in env.mock_get("/_mock/activities")]
    assert len(held) == len(set(held)) and set(held) == want, "activities held: %s" % held
    resets = sum(1 for r in log if r["fault"] == "reset_after_record")
    dups = sum(1 for r in log if r.get("duplicate"))
    down = sum(1 for r in log if r["fault"] == "down")
    assert resets == RESETS, "%d answers dropped after recording, wanted %d" % (resets, RESETS)
    assert dups >= RESETS, "%d duplicates answered after %d resets" % (dups, RESETS)
    return ("%d sales: %d requests dropped while down, %d activity answers reset after recording, "
            "SIGKILL with %d of them on Glu; %d duplicates answered; %d activities, each created "
            "once" % (len(batch), down, resets, at_kill, dups, len(held)))


def start(env):
    env.start_mock()
    env.write_config(timeout_s=1)
    env.start_daemon()


if __name__ == "__main__":
    sys.exit(run_scenarios([scenario_outage_resets_sigkill], start))
