#!/usr/bin/env python3
"""tillsyncctl drain and the till's clock, against the real daemon and the Glu mock.

drain: a backlog built during an outage under a backoff of up to an hour is delivered as soon as
the technician asks, once each, with progress lines on a pipe; --timeout with the server still
down, or the key refused, exits 1 naming the backend and the reason in words; no daemon: 1; bad
arguments: 2. The clock: a sale time that cannot be true is stored and sent as the POS gave it,
and counted in status; a server whose Date is 3 days off shows as the till's clock being 3 days
slow, in status --json and as a warning in the human status."""

import datetime
import json
import os
import signal
import sys

from harness import Pos, run_scenarios, wait_until, submit, backend, drained

LONG = 3600  # retry_base_s and retry_max_s: a backoff the test would never see end
THREE_DAYS = 3 * 86400


def now_iso(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.isoformat(timespec="seconds")


def sales(prefix, n, at=None):
    return [{"event": "sale.completed", "txn": "%s%03d" % (prefix, i), "at": at or now_iso(),
             "total": 100 + i, "currency": "GBP",
             "customer": {"email": "d%d@example.com" % i}} for i in range(n)]


def exactly_once(env, batch):
    refs = [a["externalReference"] for a in env.mock_get("/_mock/activities")]
    want = {"T042:" + s["txn"] for s in batch}
    assert len(refs) == len(set(refs)), "duplicate activities: %s" % sorted(refs)
    assert set(refs) == want, "lost: %s extra: %s" % (want - set(refs), set(refs) - want)
    return len(refs)


def start_long_backoff(env, **overrides):
    """A daemon whose backoff, once failing, lasts up to an hour and whose health probe would
    not end it either: only a drain can."""
    cfg = dict(retry_base_s=LONG, retry_max_s=LONG, probe_interval_s=LONG, timeout_s=2)
    cfg.update(overrides)
    env.write_config(**cfg)
    env.start_daemon()


def waiting_long(env, state, at_least_s):
    """Until the backend is in that state with its next attempt at least that far off (full
    jitter may draw a short wait first: that attempt fails too and draws again)."""
    return wait_until(lambda: (lambda b: b["state"] == state and b["next_attempt_in_s"] >=
                               at_least_s and b)(backend(env)), 120,
                      "%s with a backoff of %d s or more" % (state, at_least_s), interval=0.2)


def scenario_drain_cuts_backoff(env):
    start_long_backoff(env)
    env.mock_post("/_mock/fault", {"mode": "down"})
    batch = sales("DR", 30)
    submit(env, batch)
    b = waiting_long(env, "offline", 90)
    wait = b["next_attempt_in_s"]
    # The server answers again, a little slowly, so the drain takes a few polls.
    env.mock_post("/_mock/fault", {"mode": "none", "slow": 0.05})
    r = env.ctl("drain", "--timeout", "60")
    # Delivered within the drain's own 60 s, with the backoff more than 90 s away: only the
    # drain can have cut it short.
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    progress = [l for l in lines if l.startswith("draining: ")]
    assert progress and "sales left" in progress[0] and "sales/s" in progress[0], r.stdout
    assert "\r" not in r.stdout and "\033" not in r.stdout, "terminal codes on a pipe: %r" % r.stdout
    assert lines[-2].startswith("drained: 30 sales delivered in "), r.stdout
    assert lines[-1] == "no dead letters", r.stdout
    n = exactly_once(env, batch)
    b = backend(env)
    assert b["queued"] == 0 and b["state"] == "idle", b
    # Again, as a script would: one JSON object, nothing to drain.
    r = env.ctl("--json", "drain")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["drained"] is True and out["queued"] == 0, r
    assert out["backends"][0]["state"] == "idle", out
    return "backlog of %d sales under a %d s backoff drained at once (%s); %d delivered once" % (
        len(batch), wait, lines[-2], n)


def scenario_drain_timeout_down(env):
    start_long_backoff(env)
    env.mock_post("/_mock/fault", {"mode": "down"})
    batch = sales("DD", 3)
    submit(env, batch)
    waiting_long(env, "offline", 10)
    before = len(env.mock_get("/_mock/requests"))
    r = env.ctl("drain", "--timeout", "3")
    assert r.returncode == 1, r
    assert "not drained after 3 s: 3 sales still queued" in r.stdout, r.stdout
    reason = [l for l in r.stdout.splitlines() if l.startswith("  glu: 3 queued, offline")]
    assert reason and "no answer from the server" in reason[0], r.stdout
    tried = len(env.mock_get("/_mock/requests")) - before
    assert tried >= 1, "the drain sent nothing to the server"
    return "still down: exit 1, %r; %d request(s) tried during the drain" % (reason[0].strip(),
                                                                             tried)


def scenario_drain_timeout_wrong_key(env):
    key = os.path.join(env.dir, "wrong.key")
    with open(key, "w") as f:
        f.write("not-the-key\n")
    os.chmod(key, 0o600)
    start_long_backoff(env, api_key_file=key)
    batch = sales("DK", 2)
    submit(env, batch)
    b = wait_until(lambda: (lambda b: b["state"] == "paused" and b)(backend(env)), 30, "paused")
    assert b["queued"] == 2 and b["dead_letter"] == 0, b
    before = len(env.mock_get("/_mock/requests"))
    r = env.ctl("drain", "--timeout", "2")
    assert r.returncode == 1, r
    want = "  glu: 2 queued, paused — the server refused the API key (HTTP 401): check %s" % key
    assert want in r.stdout.splitlines(), r.stdout
    tried = len(env.mock_get("/_mock/requests")) - before
    # Tried once now (the technician may just have fixed the key), not every poll.
    assert tried == 1, "%d requests with a refused key during the drain" % tried
    human = env.ctl("status").stdout
    assert "glu        paused — the server refused the API key (HTTP 401): check %s" % key \
        in human, human
    return "key refused: exit 1, %r, tried once" % want.strip()


def scenario_drain_no_daemon(env):
    env.write_config()
    r = env.ctl("drain", "--timeout", "5")
    assert r.returncode == 1 and "daemon not reachable" in r.stderr, r
    said = r.stderr.strip()
    for argv in (["drain", "--timeout", "soon"], ["drain", "--timeout", "0"], ["drain", "now"]):
        r = env.ctl(*argv)
        assert r.returncode == 2 and "usage" in r.stderr, (argv, r)
    return "no daemon: exit 1 (%s); bad arguments: exit 2" % said


def scenario_clock_implausible(env):
    env.write_config()
    env.start_daemon()
    old, ahead = "2019-01-01T10:00:00Z", now_iso(3 * 86400)
    batch = sales("OK", 2) + [dict(sales("CLK", 1)[0], txn="CLK1", at=old),
                              dict(sales("CLK", 1)[0], txn="CLK2", at=ahead)]
    submit(env, batch)  # stored, never refused for its time
    drained(env)
    acts = {a["externalReference"]: a for a in env.mock_get("/_mock/activities")}
    assert acts["T042:CLK1"]["happenedAt"] == old, acts["T042:CLK1"]
    assert acts["T042:CLK2"]["happenedAt"] == ahead, acts["T042:CLK2"]
    ck = env.status()["clock"]
    assert ck["implausible_sales"] == 2, ck
    assert ck["last_implausible"].startswith("T042:CLK2 at %s is more than a day ahead" % ahead), ck
    human = env.ctl("status").stdout
    assert "2 sale times cannot be true, stored and sent as given" in human, human
    log = env.log()
    assert "T042:CLK1 at 2019-01-01T10:00:00Z is before this firmware was built" in log, log
    return "2019 and +3 days stored and sent unchanged (happenedAt %s), counted: %s" % (
        old, ck["last_implausible"])


def scenario_clock_skew(env):
    env.kill_mock()
    env.mock, env.port = env.spawn_mock("glu", "mock", env.port, "server",
                                        ["--date-offset", str(THREE_DAYS)])
    env.write_config()
    env.start_daemon()
    batch = sales("SK", 1)
    submit(env, batch)
    drained(env)
    st = env.status()
    ck, b = st["clock"], st["backends"][0]
    # The Date header has whole seconds and the answer takes a moment: a few seconds either way.
    assert abs(ck["server_skew_s"] + THREE_DAYS) <= 5 and ck["measured_from"] == "glu", ck
    assert abs(b["server_skew_s"] + THREE_DAYS) <= 5, b
    assert exactly_once(env, batch) == 1
    act = env.mock_get("/_mock/activities")[0]
    assert act["happenedAt"] == batch[0]["at"], act  # never "corrected" by the skew
    human = env.ctl("status").stdout
    line = [l for l in human.splitlines() if l.startswith("clock")]
    assert line and "the till's clock is 3 days slow (against glu's Date)" in line[0], human
    return "server_skew_s %d from glu; status says %r" % (ck["server_skew_s"], line[0])


def start(env):
    env.start_mock()


if __name__ == "__main__":
    sys.exit(run_scenarios([scenario_drain_cuts_backoff, scenario_drain_timeout_down,
                            scenario_drain_timeout_wrong_key, scenario_drain_no_daemon,
                            scenario_clock_implausible, scenario_clock_skew], start))
