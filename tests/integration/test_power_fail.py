#!/usr/bin/env python3
"""The power-fail line (acceptance 3) and the sale-signal line, through their HAL fake: a FIFO
per line ("fake_fifo"), each '1' an active edge and '0' an inactive one. gpio-sim needs a kernel
that offers it (configfs, the gpio-sim module): where it does, the same scenarios would run
against a simulated chip; here they run through the fake.

scenario_power_fails_mid_stream: sales delivered first (the quiet part, exactly known), then sales
at full speed from several POS connections with delivery running, the power-fail edge in the
middle (the platform unreachable from then on, as a router on the same supply would be), the daemon SIGKILLed as soon as it has logged that the journal is synced and refused a
sale (the lights going out), and a restart. What is exactly checkable, and checked:
  - every sale answered ok before the kill is on the platform exactly once;
  - on each connection, once a "power failing" retry came, nothing after it was ok; every sale
    answered retry is accepted as new (not a duplicate) when the POS resends it after the restart:
    it was not stored;
  - delivery marks: the daemon logs at the edge how many sales are above the marks it synced
    (what a restart delivers); after the restart (the platform unreachable, so nothing moves) at
    most that many are queued. Marks lost at the edge would leave more;
  - no sale delivered in the quiet part is sent to the platform again after the restart;
  - of the sales the platform had acknowledged before the edge was written, the ones sent again
    after the restart are at most one in-flight window (32, JOURNAL_MAX_IN_FLIGHT): a sale whose
    answer the daemon had not yet read, or that finished after one still in flight, is not under
    the watermark, and a resend under the same reference is what the contract allows there.
The sale-signal line is counted against accepted sales in status.

scenario_brownout: the line goes active then inactive again: intake stops (retry), then resumes;
the budget configured (intake.power_fail.budget_ms) is the one reported.
"""

import json
import os
import re
import signal
import sys
import threading
import time

from harness import Pos, drained, run_scenarios, submit, wait_until

IN_FLIGHT_WINDOW = 32  # JOURNAL_MAX_IN_FLIGHT, per backend
STOPPED = "power failing: keep this sale and retry"
CONNECTIONS = 4
EDGE_AFTER_OK = 200  # sales acknowledged in the stream before the edge
SYNC_LINE = re.compile(r"power failing: intake stopped, marks written, journal synced in "
                       r"(?P<ms>[0-9.]+) ms \(budget (?P<budget>[0-9.]+) ms.*marks for "
                       r"(?P<marks>\d+) sales written, (?P<left>\d+) above them")


def sale(txn, i=0):
    return {"event": "sale.completed", "txn": txn, "at": "2026-04-08T00:30:00+02:00",
            "total": 100 + i, "currency": "GBP", "customer": {"email": "c%d@example.com" % (i % 7)}}


def pulse(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def created(r):
    """A POST /activities that stored a new activity (not an answered duplicate)."""
    return (r["method"] == "POST" and r["path"] == "/activities" and r["status"] == 201
            and not r.get("duplicate"))


def activity_refs(log):
    return [r["body"]["externalReference"] for r in log
            if r["method"] == "POST" and r["path"] == "/activities" and isinstance(r["body"], dict)]


def intake_status(env):
    return env.status()["intake"]


class Stream:
    """One POS connection sending new sales as fast as the daemon answers, until it is gone."""

    def __init__(self, env, name):
        self.env, self.name = env, name
        self.sent = []  # (txn, reply or None when the daemon went away first)
        self.ok = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        pos = Pos(self.env.pos_socket)
        i = 0
        try:
            while True:
                txn = "%s-%05d" % (self.name, i)
                self.sent.append((txn, None))
                r = pos.request(sale(txn, i))
                self.sent[-1] = (txn, r)
                if r.get("ok"):
                    self.ok += 1
                i += 1
        except (ConnectionError, OSError, ValueError):
            pass  # the daemon was killed: the last request may have no reply
        finally:
            pos.close()


def check_order(stream):
    """After the first power-failing retry on a connection, nothing on it may be ok."""
    stopped_at = None
    for k, (txn, r) in enumerate(stream.sent):
        if r is None:
            continue
        if r.get("error") == STOPPED:
            assert r.get("ok") is False and r.get("retry") is True, (txn, r)
            stopped_at = k if stopped_at is None else stopped_at
        elif stopped_at is not None:
            raise AssertionError("%s: %s answered %s after the power-failing retry of %s" % (
                stream.name, txn, r, stream.sent[stopped_at][0]))
        else:
            assert r.get("ok") is True and not r.get("duplicate"), (txn, r)


def scenario_power_fails_mid_stream(env):
    # The quiet part: sales delivered, and signalled, before anything else happens.
    quiet = [sale("Q%03d" % i, i) for i in range(30)]
    submit(env, quiet)
    pulse(env.signal_fifo, b"10" * len(quiet))
    b = drained(env)
    assert b["delivered"] == len(quiet), b
    st = wait_until(lambda: (lambda s: s["sale_signals"] == len(quiet) and s)(intake_status(env)),
                    30, "the sale signals to be counted")
    assert st["accepted"] == len(quiet) and st["sales_without_signal"] == 0, st
    assert st["signals_without_sale"] == 0, st
    pulse(env.signal_fifo, b"101010")  # three sales the POS completed that never reached us
    st = wait_until(lambda: (lambda s: s["signals_without_sale"] == 3 and s)(intake_status(env)),
                    30, "three signals without a sale")
    human = env.ctl("status").stdout
    assert "signals    33 sale signals for 30 sales accepted: 0 sales without a signal, 3 " \
        "signals without a sale" in human, human
    quiet_refs = {"T042:" + s["txn"] for s in quiet}

    # The stream, and the edge in the middle of it.
    streams = [Stream(env, "P%d" % k) for k in range(CONNECTIONS)]
    for s in streams:
        s.thread.start()
    wait_until(lambda: sum(s.ok for s in streams) >= EDGE_AFTER_OK, 120,
               "%d sales acknowledged in the stream" % EDGE_AFTER_OK, interval=0.005)
    acked_by_platform = {a["externalReference"] for a in env.mock_get("/_mock/activities")}
    # The platform goes unreachable with the edge (the router is on the same supply): what the
    # daemon delivers after it is only what was already on its way, so the marks on flash at the
    # kill are the edge's, not a later batch's.
    env.mock_post("/_mock/fault", {"mode": "down"})
    pulse(env.power_fifo, b"1")
    line = wait_until(lambda: SYNC_LINE.search(env.log()), 30, "the power-fail sync line",
                      interval=0.002)
    # The lights go out as soon as one sale has been refused after the sync: killed at the line
    # itself, the daemon (under qemu-arm above all) often has no request left to refuse.
    wait_until(lambda: any(r and r.get("error") == STOPPED for s in streams for _, r in s.sent),
               30, "a sale refused after the edge", interval=0.001)
    env.kill_daemon(signal.SIGKILL)
    for s in streams:
        s.thread.join(30)
    print(line.group(0), flush=True)
    left_at_edge = int(line.group("left"))

    for s in streams:
        check_order(s)
    acked = [txn for s in streams for txn, r in s.sent if r and r.get("ok")]
    refused = [txn for s in streams for txn, r in s.sent if r and r.get("error") == STOPPED]
    unanswered = [txn for s in streams for txn, r in s.sent if r is None]

    # The restart, the platform still unreachable: what is queued is what the marks on flash
    # leave.
    log_before = len(env.mock_get("/_mock/requests"))
    env.start_daemon()
    queued = env.status()["backends"][0]["queued"]
    assert queued <= left_at_edge, (
        "%d sales queued after the restart, %d above the marks at the edge: marks were lost"
        % (queued, left_at_edge))
    env.mock_post("/_mock/fault", {"mode": "none"})

    # The POS resends what it has no ok for: refused sales were not stored, so they are new.
    pos = Pos(env.pos_socket)
    for txn in refused:
        r = pos.request(sale(txn))
        assert r.get("ok") is True and not r.get("duplicate"), (txn, r)
    for txn in unanswered:
        r = pos.request(sale(txn))
        assert r.get("ok") is True, (txn, r)
    pos.close()
    drained(env)

    log = env.mock_get("/_mock/requests")
    again = set(activity_refs(log[log_before:]))
    assert not (again & quiet_refs), "delivered before the edge, sent again: %s" % sorted(
        again & quiet_refs)
    window = again & acked_by_platform
    assert len(window) <= IN_FLIGHT_WINDOW, (
        "%d sales the platform had acknowledged before the edge were sent again (window %d): %s"
        % (len(window), IN_FLIGHT_WINDOW, sorted(window)))
    per_ref = {}
    for r in log:
        if created(r):
            ref = r["body"]["externalReference"]
            per_ref[ref] = per_ref.get(ref, 0) + 1
    want = quiet_refs | {"T042:" + t for t in acked + refused + unanswered}
    twice = {ref: n for ref, n in per_ref.items() if n != 1}
    assert not twice, "activities created more than once: %s" % twice
    assert set(per_ref) == want, "lost %s, extra %s" % (sorted(want - set(per_ref)),
                                                        sorted(set(per_ref) - want))
    return ("%d quiet sales, then %d acknowledged from %d connections before the edge and %d "
            "answered retry after it (%d unanswered at the kill); the edge: %s ms to synced "
            "(budget %s ms), marks for %s sales written, %d above them; after the restart "
            "%d queued, none of the quiet sales and %d of the %d the platform had acknowledged "
            "before the edge sent again; every sale on the platform once"
            % (len(quiet), len(acked), CONNECTIONS, len(refused), len(unanswered),
               line.group("ms"), line.group("budget"), line.group("marks"), left_at_edge, queued,
               len(window), len(acked_by_platform)))


def scenario_brownout(env):
    # A budget of its own (intake.power_fail.budget_ms): reported, never enforced.
    env.kill_daemon(signal.SIGTERM)
    with open(env.config_path) as f:
        cfg = json.load(f)
    cfg["intake"]["power_fail"]["budget_ms"] = 7
    with open(env.config_path, "w") as f:
        json.dump(cfg, f, indent=2)
    env.start_daemon()
    pos = Pos(env.pos_socket)
    r = pos.request(sale("B000"))
    assert r.get("ok") is True, r
    pulse(env.power_fifo, b"1")
    n = [0]

    def refused():
        n[0] += 1
        r = pos.request(sale("B%03d" % n[0], n[0]))
        return r.get("error") == STOPPED and r.get("retry") is True and r
    wait_until(refused, 30, "intake to answer retry")
    first_refused = n[0]
    pf = env.status()["power_fail"]
    assert pf["failing"] is True and pf["edges"] == 1 and pf["budget_ms"] == 7, pf
    assert "(budget 7 ms" in env.log()
    assert pf["last_ms"] is not None and pf["last_error"] is None, pf
    human = env.ctl("status").stdout
    assert "power      FAILING (intake stopped), 1 power-fail edges, last synced in" in human, human
    assert "(budget 7 ms)" in human, human
    pulse(env.power_fifo, b"0")

    def accepted():
        r = pos.request(sale("B%03d" % first_refused, first_refused))
        return r.get("ok") is True and r
    r = wait_until(accepted, 30, "intake to resume")
    assert not r.get("duplicate"), r  # the refused sale was not stored
    assert env.status()["power_fail"]["failing"] is False
    assert "power back after" in env.log()
    pos.close()
    return "a sale refused with retry while the line was active, accepted as new once inactive"


def start(env):
    env.start_mock()
    env.write_config(timeout_s=1)
    env.power_fifo = os.path.join(env.dir, "power_fail.fifo")
    env.signal_fifo = os.path.join(env.dir, "sale_signal.fifo")
    os.mkfifo(env.power_fifo)
    os.mkfifo(env.signal_fifo)
    with open(env.config_path) as f:
        cfg = json.load(f)
    cfg["intake"]["power_fail"] = {"fake_fifo": env.power_fifo}
    cfg["intake"]["sale_signal"] = {"fake_fifo": env.signal_fifo}
    with open(env.config_path, "w") as f:
        json.dump(cfg, f, indent=2)
    env.start_daemon()


if __name__ == "__main__":
    sys.exit(run_scenarios([scenario_power_fails_mid_stream, scenario_brownout], start))
