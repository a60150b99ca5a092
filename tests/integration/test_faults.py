#!/usr/bin/env python3
"""Delivery under each fault the mock can inject: every sale ends on the API exactly once, and
during an outage the daemon's request rate stays within its backoff schedule (counted on the
mock). Each scenario runs against a fresh daemon and mock."""

import datetime
import json
import os
import signal
import sys
import time

from harness import Pos, run_scenarios, wait_until, submit, backend, drained

BACKOFF_FLOOR_S = 0.25  # firmware/delivery.c: no retry comes sooner than this


def sales(prefix, n):
    return [{"event": "sale.completed", "txn": "%s%03d" % (prefix, i),
             "at": "2026-04-07T19:45:00+01:00", "total": 100 + i, "currency": "GBP",
             "customer": {"email": "f%d@example.com" % i}} for i in range(n)]


def exactly_once(env, batch, dead=()):
    acts = env.mock_get("/_mock/activities")
    refs = [a["externalReference"] for a in acts]
    want = {"T042:" + s["txn"] for s in batch} - {"T042:" + t for t in dead}
    assert len(refs) == len(set(refs)), "duplicate activities: %s" % sorted(refs)
    assert set(refs) == want, "lost: %s extra: %s" % (want - set(refs), set(refs) - want)
    return len(refs)


def api_requests(env):
    return env.mock_get("/_mock/requests")


def scenario_down(env):
    env.mock_post("/_mock/fault", {"mode": "down"})
    batch = sales("DN", 10)
    t0 = time.monotonic()
    submit(env, batch)  # acknowledged while the API is down: the sale path never waits on it
    time.sleep(4)
    n = len(api_requests(env))
    elapsed = time.monotonic() - t0
    env.mock_post("/_mock/fault", {"mode": "none"})
    allowed = 1 + int(elapsed / BACKOFF_FLOOR_S)
    assert 2 <= n <= allowed, "%d requests in %.1fs of outage (schedule allows %d)" % (
        n, elapsed, allowed)
    drained(env)
    return "%d requests during %.1fs down (schedule allows <= %d); %d delivered once" % (
        n, elapsed, allowed, exactly_once(env, batch))


def scenario_503_storm(env):
    env.mock_post("/_mock/fault", {"mode": "503", "count": 8})
    batch = sales("SV", 5)
    submit(env, batch)
    drained(env)
    n503 = sum(1 for r in api_requests(env) if r["status"] == 503)
    assert n503 == 8, n503
    return "8 answers 503; %d delivered once" % exactly_once(env, batch)


def scenario_429_retry_after(env):
    # Retry-After is honoured up to retry_max_s (test_server_answers.py: and no further).
    env.write_config(timeout_s=1, api_key_file=env.daemon_key, retry_max_s=10)
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    env.mock_post("/_mock/fault", {"mode": "429", "count": 1, "retry_after": 3})
    batch = sales("RA", 1)
    submit(env, batch)
    drained(env)
    log = api_requests(env)
    assert log[0]["status"] == 429, log[0]
    t = [datetime.datetime.fromisoformat(r["time"]) for r in log[:2]]
    gap = (t[1] - t[0]).total_seconds()
    assert gap >= 2.9, "retried %.2fs after Retry-After: 3" % gap  # a lower bound: noise-proof
    return "429 Retry-After 3 honoured (next request %.2fs later, retry_max_s 10); %d delivered" % (
        gap, exactly_once(env, batch))


def scenario_slower_than_timeout(env):
    env.mock_post("/_mock/fault", {"slow": 2})  # the API applies, then answers after 2s
    batch = sales("SL", 3)
    submit(env, batch)
    wait_until(lambda: "timeout" in (backend(env)["last_error"] or "").lower(), 30,
               "a timeout")
    time.sleep(2)
    env.mock_post("/_mock/fault", {"mode": "none"})
    drained(env)
    return "answers slower than timeout_s=1 resent under the same reference; %d delivered once" % (
        exactly_once(env, batch))


def scenario_reset_after_record(env):
    env.mock_post("/_mock/fault", {"reset_after_record": 3})
    batch = sales("RS", 5)
    submit(env, batch)
    drained(env)
    dropped = sum(1 for r in api_requests(env) if r.get("dropped"))
    assert dropped == 3, dropped
    return "3 activities recorded then connection reset; %d delivered once" % exactly_once(
        env, batch)


def scenario_wrong_ca(env):
    env.kill_mock()
    env.start_mock(cert="wrong-server")
    batch = sales("CA", 3)
    submit(env, batch)
    err = wait_until(lambda: backend(env)["last_error"], 30, "a TLS error")
    assert "ssl" in err.lower() or "certificate" in err.lower(), err
    assert api_requests(env) == [], "a request went to a server with an untrusted certificate"
    env.kill_mock()
    env.start_mock()
    drained(env)
    return "untrusted certificate refused (%s); after the right one, %d delivered once" % (
        err, exactly_once(env, batch))


def scenario_401_pauses(env):
    with open(env.daemon_key, "w") as f:
        f.write("not-the-key\n")
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    batch = sales("AU", 2)
    submit(env, batch)
    b = wait_until(lambda: (lambda b: "401" in (b["last_error"] or "") and b)(backend(env)), 30,
                   "HTTP 401")
    assert b["queued"] == 2 and b["dead_letter"] == 0, b
    assert b["next_attempt_in_s"] >= 1, b  # paused at the cap, not hammering
    with open(env.daemon_key, "w") as f:
        f.write(open(env.key_file).read())
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    drained(env)
    return "401 paused the backend with both sales kept; with the key fixed, %d delivered once" % (
        exactly_once(env, batch))


def scenario_422_dead_letter(env):
    env.mock_post("/_mock/fault", {"mode": "422", "count": 1})
    batch = sales("UP", 2)
    submit(env, batch)
    b = drained(env)
    assert b["dead_letter"] == 1 and b["delivered"] == 1, b
    assert "HTTP 422" in b["last_dead_letter"] and "spend" in b["last_dead_letter"], b
    assert b["last_dead_letter"].startswith("T042:UP000"), b
    exactly_once(env, batch, dead=["UP000"])
    # The technician sees it, with the reason, and sends it again under the same reference.
    out = env.ctl("dead-letters")
    assert out.returncode == 0, out.stderr
    dl = json.loads(out.stdout)["backends"][0]["dead_letters"]
    assert [d["ref"] for d in dl] == ["T042:UP000"] and "spend" in dl[0]["reason"], dl
    out = env.ctl("retry-dead", "glu")
    assert json.loads(out.stdout)["requeued"] == 1, out.stdout + out.stderr
    drained(env)
    assert json.loads(env.ctl("dead-letters").stdout)["backends"][0]["dead_letters"] == []
    return "422 dead-lettered with the server's reason (%s); listed by tillsyncctl " \
        "dead-letters, sent again by retry-dead: %d delivered once" % (
            b["last_dead_letter"], exactly_once(env, batch))


def scenario_contact_cache(env):
    batch = sales("CC", 1) * 1
    batch += [dict(batch[0], txn="CC%03d" % i) for i in range(1, 4)]  # the same customer again
    submit(env, batch[:1])
    drained(env)
    # A refusal of a cached contact id re-resolves the contact instead of dead-lettering.
    env.mock_post("/_mock/fault", {"mode": "422", "count": 1})
    submit(env, batch[1:])
    b = drained(env)
    assert b["dead_letter"] == 0, b
    log = api_requests(env)
    paths = [r["path"] for r in log]
    assert paths[:2] == ["/contacts", "/activities"], paths  # the first sale resolves the contact
    assert paths[2] == "/activities" and log[2]["status"] == 422, paths  # the cached id refused
    assert "/contacts" in paths[3:], paths  # ... so the contact was looked up again
    return "a repeat customer's sale went straight to /activities; a refused cached id was " \
        "looked up again (%s); %d delivered once" % (paths, exactly_once(env, batch))


def scenario_health_probe(env):
    """No netlink event (the shop's router, not the till's link, was down): a connect-only
    probe notices the server is back long before a 40 s backoff would."""
    env.write_config(timeout_s=1, api_key_file=env.daemon_key, retry_base_s=40, retry_max_s=60,
                     probe_interval_s=1)
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    env.kill_mock()
    batch = sales("HP", 3)
    submit(env, batch)
    b = wait_until(lambda: (lambda b: b["next_attempt_in_s"] >= 20 and b)(backend(env)), 120,
                   "a long backoff", interval=0.2)
    env.start_mock()
    t0 = time.monotonic()
    drained(env, timeout=15)
    took = time.monotonic() - t0
    assert "health probe" in env.log(), env.log()
    return "backoff had %ds to go; the probe saw the server back and drained in %.1fs; " \
        "%d delivered once" % (b["next_attempt_in_s"], took, exactly_once(env, batch))


SCENARIOS = [scenario_health_probe, scenario_contact_cache, scenario_down, scenario_503_storm, scenario_429_retry_after,
             scenario_slower_than_timeout, scenario_reset_after_record, scenario_wrong_ca,
             scenario_401_pauses, scenario_422_dead_letter]


def start(env):
    env.start_mock()
    env.daemon_key = os.path.join(env.dir, "daemon.key")
    with open(env.daemon_key, "w") as f:
        f.write(open(env.key_file).read())
    os.chmod(env.daemon_key, 0o600)
    env.write_config(timeout_s=1, api_key_file=env.daemon_key)
    env.start_daemon()


if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, start))
