#!/usr/bin/env python3
"""Fan-out: one till feeding Glu, Gleantap and Givebutter at once, each backend on its own.

- outage: Givebutter's API is stopped for most of the run. Glu and Gleantap receive every sale
  meanwhile (their delivery lag, POS ack to the record on the mock, is printed), Givebutter's
  queued is exactly the sales taken while it was down, and when it comes back it catches up.
- wrap: the smallest journal config accepts (4 blocks of 128 KiB), wrapped several times while
  all three are up; then Givebutter goes down (mock fault "down") until the journal is full: the
  POS is answered retry:true, never refused or lost, queued for Givebutter equals the sales taken
  while it was down (nothing was reclaimed early), and once it is back the refused sale is taken
  and everything acknowledged arrives everywhere.
- paused_and_slow: Givebutter's key is wrong (401: paused) and Gleantap answers slowly; Glu gets
  every sale without waiting for either. With the right key (and a restart) Givebutter catches up.

Each platform's count comes from its mock's request log (every request that stored a record, not
a deduplicated list): every acknowledged sale exactly once on each.
"""

import datetime
import json
import os
import statistics
import sys
import time

from harness import GLEANTAP_APP_ID, Pos, run_scenarios, wait_until

TERMINAL = "T042"
# name -> kind: the backends of every scenario, each against its own mock.
PLATFORMS = {"glu": "glu", "gleantap": "gleantap", "givebutter": "givebutter"}
STATUS_KEYS = ("name", "kind", "queued", "in_flight", "delivered", "dead_letter", "last_error",
               "next_attempt_in_s")


# The most a till may have: the three platforms and five more Glu accounts.
EIGHT = dict(PLATFORMS, **{"glu%d" % i: "glu" for i in range(2, 7)})


def kind_of(name):
    return EIGHT[name]


def sale(txn, i, items=0):
    s = {"event": "sale.completed", "txn": txn, "at": "2026-04-07T23:45:00+01:00",
         "total": 100 + i, "currency": "GBP",
         "customer": {"email": "fan%d@example.com" % (i % 7), "first_name": "Ana",
                      "last_name": "Ng%d" % (i % 7)}}
    if items:
        # Big sales fill the 4-block journal in a few dozen sales rather than thousands.
        s["items"] = [{"sku": "SKU-%04d-%s" % (k, "x" * 40), "name": "Item %d %s" % (k, "y" * 60),
                       "qty": 1, "unit_price": 1} for k in range(items)]
        s["total"] = items
    return s


# ---- the platforms' request logs ----

def stored_refs(mock):
    """The reference of each request that stored a purchase record on this mock, one entry per
    request (a resend the platform recognised stores nothing and is not counted)."""
    refs = []
    for r in mock.get("/_mock/requests"):
        status, body, path = r.get("status"), r.get("body") or {}, r["path"].split("?")[0]
        if mock.kind == "givebutter" and "created_activity" in r:
            # No idempotency key: every POST that created an activity counts, answered or not.
            refs.append((body["subject"].rsplit(" ", 1)[1], r["time"]))
            continue
        if status is None or not 200 <= status <= 299 or r["method"] != "POST":
            continue
        if mock.kind == "glu" and path == "/activities" and status == 201:
            refs.append((body.get("externalReference"), r["time"]))
        elif (mock.kind == "gleantap" and path == "/v2/ExternalApi/newEvent"
              and not r.get("duplicate")):
            refs.append((body.get("id"), r["time"]))
    return refs


def exactly_once(mock, txns):
    refs = [ref for ref, _ in stored_refs(mock)]
    want = {TERMINAL + ":" + t for t in txns}
    dups = sorted({r for r in refs if refs.count(r) > 1})
    assert not dups, "%s: stored more than once: %s" % (mock.name, dups)
    missing, extra = want - set(refs), set(refs) - want
    assert not missing and not extra, "%s: missing %s, extra %s" % (mock.name, sorted(missing),
                                                                   sorted(extra))
    return len(refs)


def has_all(mock, txns):
    got = {ref for ref, _ in stored_refs(mock)}
    return all(TERMINAL + ":" + t in got for t in txns)


def lag_summary(mock, acked):
    """Seconds from the POS's ack of each sale to its first record on the mock."""
    first = {}
    for ref, when in stored_refs(mock):
        first.setdefault(ref, datetime.datetime.fromisoformat(when).timestamp())
    lags = [first[TERMINAL + ":" + t] - at for t, at in acked.items() if TERMINAL + ":" + t in first]
    return "%s lag median %.1f ms, max %.1f ms over %d sales" % (
        mock.name, 1000 * statistics.median(lags), 1000 * max(lags), len(lags))


# ---- the daemon ----

def configure(env, mocks, journal_size=1048576, erase_size=65536, key_files=None, **common):
    backends = []
    for name, mock in mocks.items():
        kind = kind_of(name)
        b = {"name": name, "kind": kind, "base_url": mock.url,
             "api_key_file": (key_files or {}).get(name, env.key_file), "source": "till",
             "ca_file": os.path.join(env.dir, "tls", "ca.pem"), "retry_max_s": 2,
             "probe_interval_s": 1}
        if kind == "gleantap":
            b.update(app_id=GLEANTAP_APP_ID, secret_key_file=env.secret_key_file)
        b.update(common)
        backends.append(b)
    cfg = {"terminal_id": TERMINAL,
           "journal": {"driver": "file", "path": os.path.join(env.dir, "journal.img"),
                       "size": journal_size, "erase_size": erase_size, "program_size": 16},
           "intake": {"pos_socket": env.pos_socket},
           "control_socket": env.ctl_socket,
           "backends": backends}
    with open(env.config_path, "w") as f:
        json.dump(cfg, f, indent=2)


def start_all(env, names=PLATFORMS, **kw):
    mocks = {name: env.add_mock(kind_of(name), name) for name in names}
    env.fan_names = list(names)
    configure(env, mocks, **kw)
    env.start_daemon()
    return mocks


def backends(env):
    st = env.status()["backends"]
    for b in st:
        missing = [k for k in STATUS_KEYS if k not in b]
        assert not missing, "status of %s lacks %s: %s" % (b.get("name"), missing, b)
    assert [b["name"] for b in st] == env.fan_names, st
    return {b["name"]: b for b in st}


def submit(pos, batch, acked):
    for s in batch:
        r = pos.request(s)
        assert r.get("ok") is True and not r.get("duplicate"), (s["txn"], r)
        acked[s["txn"]] = time.time()


def all_drained(env):
    return all(b["queued"] == 0 and b["in_flight"] == 0 for b in backends(env).values())


# ---- scenarios ----

def scenario_outage(env):
    mocks = start_all(env)
    pos = Pos(env.pos_socket)
    acked = {}
    before = ["UP%03d" % i for i in range(5)]
    submit(pos, [sale(t, i) for i, t in enumerate(before)], acked)
    wait_until(lambda: all_drained(env), 60, "the first sales everywhere", 0.2)

    gb = mocks["givebutter"]
    gb.kill()  # stopped: connections refused
    down = ["DN%03d" % i for i in range(60)]
    during = {}
    for i, t in enumerate(down):
        submit(pos, [sale(t, 5 + i)], during)
        time.sleep(0.02)  # a shop's pace, compressed: lag is measured per sale
    acked.update(during)
    for name in ("glu", "gleantap"):
        wait_until(lambda: has_all(mocks[name], before + down), 120,
                   "%s to receive every sale while Givebutter is down" % name, 0.2)
    st = backends(env)
    # Still down: nothing of the outage reached it, and all of it is kept for it.
    assert st["givebutter"]["queued"] == len(down), st["givebutter"]
    assert st["givebutter"]["delivered"] == len(before), st["givebutter"]
    assert st["givebutter"]["last_error"], st["givebutter"]
    for name in ("glu", "gleantap"):
        assert st[name]["queued"] == 0 and st[name]["delivered"] == len(before + down), st[name]
        assert st[name]["last_error"] is None, st[name]
    # Waiting for Givebutter's next attempt or health probe (probe_interval_s 1, retry_max_s 2)
    # is all there is to do: once, the loop spun whenever the probe's due time had passed but
    # the attempt was less than an interval away.
    busy, wall = idle_cpu(env, "while Givebutter is down")
    lags = [lag_summary(mocks[n], during) for n in ("glu", "gleantap")]
    print("  while Givebutter was down: " + "; ".join(lags), flush=True)

    gb.start()  # back on the same port, with what it had stored
    after = ["AF%03d" % i for i in range(5)]
    submit(pos, [sale(t, 65 + i) for i, t in enumerate(after)], acked)
    pos.close()
    wait_until(lambda: all_drained(env), 120, "Givebutter to catch up", 0.2)
    everything = before + down + after
    counts = {n: exactly_once(m, everything) for n, m in mocks.items()}
    st = backends(env)
    for name in env.fan_names:
        assert st[name]["delivered"] == len(everything), st[name]
        assert st[name]["dead_letter"] == 0, st[name]
    return ("%d sales, %d taken while Givebutter was down (its queued: %d; the daemon idle: "
            "%.2f s CPU in %.2f s); exactly once on each: %s; %s"
            % (len(everything), len(down), len(down), busy, wall, counts, "; ".join(lags)))


def scenario_wrap(env):
    # 4 blocks of 128 KiB: the smallest journal the config accepts (README, journal.size).
    mocks = start_all(env, journal_size=4 * 131072, erase_size=65536)
    size = env.status()["journal"]["size_bytes"]
    assert size == 4 * 131072, size
    pos = Pos(env.pos_socket)
    acked = {}
    items = 90  # ~12 KB a sale: about ten a block
    body = len(json.dumps(sale("W", 0, items)))
    # All up: enough sales to go round the ring twice, so blocks are reclaimed and reused.
    laps = ["LP%03d" % i for i in range(2 * size // body + 1)]
    for i, t in enumerate(laps):
        submit(pos, [sale(t, i, items)], acked)
        if i % 10 == 9:  # delivered as it goes, as in a shop; never more than the ring holds
            wait_until(lambda: all_drained(env), 60, "the sales so far everywhere", 0.1)
    wait_until(lambda: all_drained(env), 60, "the first laps everywhere", 0.1)

    gb = mocks["givebutter"]
    gb.post("/_mock/fault", {"mode": "down"})  # reads each request, never answers
    down, refused, i = [], None, len(laps)
    while refused is None:
        s = sale("FL%03d" % len(down), i, items)
        r = pos.request(s)
        if r.get("ok") is True:
            assert not r.get("duplicate"), r
            down.append(s["txn"])
            acked[s["txn"]] = time.time()
            i += 1
            # Glu and Gleantap keep up; only Givebutter holds the journal.
            wait_until(lambda: all(backends(env)[n]["queued"] == 0 for n in ("glu", "gleantap")),
                       60, "Glu and Gleantap to keep up", 0.05)
        else:
            assert r.get("ok") is False and r.get("retry") is True, r
            refused = s
        assert len(down) < size // body, "the journal never filled: %d sales" % len(down)
    # Full: the POS keeps being told to retry, and is never told the sale is bad.
    for _ in range(3):
        r = pos.request(refused)
        assert r.get("ok") is False and r.get("retry") is True, r
    st = backends(env)
    assert st["givebutter"]["queued"] == len(down), (len(down), st["givebutter"])
    for name in ("glu", "gleantap"):
        assert has_all(mocks[name], laps + down), name
        assert st[name]["queued"] == 0, st[name]
    full_st = st["givebutter"]

    gb.post("/_mock/fault", {"mode": "none"})
    wait_until(lambda: backends(env)["givebutter"]["queued"] == 0, 120,
               "Givebutter to drain the full journal", 0.2)
    r = wait_until(lambda: (lambda r: r if r.get("ok") else None)(pos.request(refused)), 60,
                   "the refused sale to be taken once there is room", 0.2)
    assert not r.get("duplicate"), r
    acked[refused["txn"]] = time.time()
    more = ["MR%03d" % k for k in range(10)]
    submit(pos, [sale(t, i + 1 + k, items) for k, t in enumerate(more)], acked)
    pos.close()
    wait_until(lambda: all_drained(env), 120, "everything everywhere", 0.2)
    everything = laps + down + [refused["txn"]] + more
    counts = {n: exactly_once(m, everything) for n, m in mocks.items()}
    st = env.status()
    assert st["intake"]["accepted"] == len(everything), st["intake"]
    # The ring went round: every block was reused (erase counts from tillsyncctl verify).
    env.kill_daemon(sig=15)
    out = env.ctl("verify")
    wear = [line for line in out.stdout.splitlines() if line.startswith("wear")]
    assert wear and int(wear[0].split("min ")[1].split(",")[0]) >= 2, out.stdout
    return ("%d sales of %d bytes through a %d-byte journal (%s); %d taken while Givebutter was "
            "down until the journal was full (its queued then: %d; then retry:true); exactly "
            "once on each: %s" % (len(everything), body, size, wear[0].split(": ", 1)[1],
                                  len(down), full_st["queued"], counts))


def scenario_paused_and_slow(env):
    wrong = os.path.join(env.dir, "wrong.key")
    with open(wrong, "w") as f:
        f.write("not-the-key\n")
    os.chmod(wrong, 0o600)
    mocks = start_all(env, key_files={"givebutter": wrong})
    mocks["gleantap"].post("/_mock/fault", {"slow": 0.5})
    pos = Pos(env.pos_socket)
    acked = {}
    txns = ["PS%03d" % i for i in range(20)]
    submit(pos, [sale(t, i) for i, t in enumerate(txns)], acked)
    wait_until(lambda: has_all(mocks["glu"], txns), 60, "Glu to receive every sale", 0.1)
    st = backends(env)
    glu_done = "Glu had all %d while Gleantap (slow) had %d and Givebutter (paused) %d" % (
        len(txns), st["gleantap"]["delivered"], st["givebutter"]["delivered"])
    assert st["givebutter"]["delivered"] == 0, st["givebutter"]
    wait_until(lambda: backends(env)["gleantap"]["queued"] == 0, 120, "Gleantap to finish", 0.2)
    st = backends(env)
    assert "check the API key" in (st["givebutter"]["last_error"] or ""), st["givebutter"]
    assert st["givebutter"]["queued"] == len(txns), st["givebutter"]
    # Paused means waiting for the next attempt; while that attempt is on the wire (in_flight 1)
    # nothing is scheduled, so look until one is: a backend that never waits fails here.
    wait_until(lambda: backends(env)["givebutter"]["next_attempt_in_s"] > 0, 30,
               "the paused backend to schedule its next attempt", 0.1)
    lags = "; ".join(lag_summary(mocks[n], acked) for n in ("glu", "gleantap"))

    # The technician fixes the key; the daemon reads it at start.
    pos.close()
    env.kill_daemon(sig=15)
    with open(wrong, "w") as f:
        f.write(open(env.key_file).read())
    env.start_daemon()
    wait_until(lambda: all_drained(env), 120, "Givebutter to catch up after the key fix", 0.2)
    counts = {n: exactly_once(m, txns) for n, m in mocks.items()}
    return "%s; %s; after the key fix exactly once on each: %s" % (glu_done, lags, counts)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(env, what):
    """The daemon's CPU time over 3 s in which it has nothing to do but wait for a backend's
    next attempt: a loop that spins instead of sleeping shows as seconds, a waiting one as a few
    hundredths (a bound with a wide margin, not a timing)."""
    cpu0, t0 = cpu_seconds(env.daemon.pid), time.monotonic()
    time.sleep(3)
    busy, wall = cpu_seconds(env.daemon.pid) - cpu0, time.monotonic() - t0
    assert busy < wall / 4, "the daemon used %.2f s of CPU in %.2f s %s" % (busy, wall, what)
    return busy, wall


def log_count(env, text):
    return env.log().count(text)


MARKS_FAILED = "could not write delivery marks"


def scenario_eight_full(env):
    """Eight backends (the most), a 4-block journal, Givebutter down until the journal is full.
    The sales are sent back to back, so the seven working backends deliver the last ones after
    the journal refused the next: their delivery marks cannot be written either (the head has
    less room than the smallest sale, 7 marks need 336 bytes). The daemon keeps them in RAM and
    tries again later: it once tried on every turn of its loop, a busy loop logging a warning
    each time (60,000 lines in 10 s)."""
    mocks = start_all(env, names=EIGHT, journal_size=4 * 131072, erase_size=65536)
    others = [n for n in EIGHT if n != "givebutter"]
    pos = Pos(env.pos_socket)
    acked = {}
    first = ["E8%03d" % i for i in range(10)]
    submit(pos, [sale(t, i) for i, t in enumerate(first)], acked)
    wait_until(lambda: all_drained(env), 60, "the first sales on all eight", 0.2)

    mocks["givebutter"].post("/_mock/fault", {"mode": "down"})
    down, refused = [], []
    # Big sales until one is refused, then the smallest until one is: the head is full.
    for items in (90, 0):
        while True:
            s = sale("%s%03d" % ("FB" if items else "FS", len(down)), len(down), items)
            if items == 0:
                s = {"event": "sale.completed", "txn": "FS%03d" % len(down), "total": 1,
                     "at": "2026-04-07T23:45:00+01:00", "currency": "GBP",
                     "customer": {"email": "s@x.io"}}
            r = pos.request(s)
            if not r.get("ok"):
                assert r.get("retry") is True, r
                refused.append(s)
                break
            down.append(s["txn"])
            acked[s["txn"]] = time.time()
            assert len(down) < 2000, "the journal never filled"
    for name in others:
        wait_until(lambda: has_all(mocks[name], first + down), 120,
                   "%s to receive every sale while Givebutter is down" % name, 0.2)
    st = backends(env)
    assert st["givebutter"]["queued"] == len(down), (len(down), st["givebutter"])
    assert all(st[n]["queued"] == 0 for n in others), st
    # Full, everything delivered but to Givebutter: the daemon has nothing to do but wait.
    wait_until(lambda: log_count(env, MARKS_FAILED), 30, "the marks to find the journal full")
    busy, wall = idle_cpu(env, "while the journal is full")
    warnings = log_count(env, MARKS_FAILED)
    assert warnings == 1, "%d warnings about unwritten marks" % warnings

    mocks["givebutter"].post("/_mock/fault", {"mode": "none"})
    wait_until(lambda: backends(env)["givebutter"]["queued"] == 0, 120,
               "Givebutter to drain the full journal", 0.2)
    for s in refused:
        r = wait_until(lambda: (lambda r: r if r.get("ok") else None)(pos.request(s)), 60,
                       "a refused sale to be taken once there is room", 0.2)
        assert not r.get("duplicate"), r
        down.append(s["txn"])
    pos.close()
    wait_until(lambda: all_drained(env), 120, "everything on all eight", 0.2)
    counts = {n: exactly_once(m, first + down) for n, m in mocks.items()}
    wait_until(lambda: "delivery marks written again" in env.log(), 30,
               "the delivery marks to be written once there is room")
    return ("%d sales; %d taken while Givebutter was down until the journal was full (the "
            "smallest sale refused); idle while full: %.2f s CPU in %.2f s, %d warning; exactly "
            "once on each of %d: %s" % (len(first + down), len(down) - len(refused), busy, wall,
                                         warnings, len(counts), counts))


def scenario_dead_while_full(env):
    """A backend dead-letters sales while another, down, holds the journal full: the dead
    letters that find no room are kept and written once there is. They were dropped from the
    lane and left pending in the journal for good: that backend's watermark stopped below them
    and the sales after them were never handed out (here Glu never saw the last one), so the
    journal stayed full with every platform up and the POS was told to retry for ever."""
    mocks = start_all(env, journal_size=4 * 131072, erase_size=65536)
    items = 90
    pos = Pos(env.pos_socket)
    first = ["DW%03d" % i for i in range(20)]
    for i, t in enumerate(first):
        submit(pos, [sale(t, i, items)], {})
        wait_until(lambda: all_drained(env), 60, "the first sales everywhere", 0.05)
    for name in ("givebutter", "glu"):
        mocks[name].post("/_mock/fault", {"mode": "down"})
    fill = []
    while True:
        s = sale("DF%03d" % len(fill), len(fill), items)
        r = pos.request(s)
        if not r.get("ok"):
            assert r.get("retry") is True, r
            refused = s
            break
        fill.append(s["txn"])
    # Glu is back and refuses every sale (422): more dead letters than the journal has room for.
    mocks["glu"].post("/_mock/fault", {"mode": "422"})
    wait_until(lambda: all("T042:%s dead-lettered" % t in env.log()
                           or "dead letter of T042:%s" % t in env.log() for t in fill), 60,
               "Glu to refuse every sale taken while it was down", 0.2)
    mocks["glu"].post("/_mock/fault", {"mode": "none"})
    mocks["givebutter"].post("/_mock/fault", {"mode": "none"})
    wait_until(lambda: all_drained(env), 60, "every backend to be done with every sale", 0.2)
    st = backends(env)
    assert st["glu"]["dead_letter"] == len(fill), st["glu"]
    r = wait_until(lambda: (lambda r: r if r.get("ok") else None)(pos.request(refused)), 60,
                   "the refused sale to be taken", 0.2)
    pos.close()
    wait_until(lambda: all_drained(env), 60, "the refused sale everywhere", 0.1)
    st = backends(env)
    assert st["glu"]["delivered"] == len(first) + 1, st["glu"]
    assert st["glu"]["last_error"] is None or "dead letter" not in st["glu"]["last_error"], st
    everything = first + fill + [refused["txn"]]
    counts = {n: exactly_once(m, [t for t in everything if n != "glu" or t not in fill])
              for n, m in mocks.items()}
    return ("%d sales taken while Glu and Givebutter were down until the journal was full, all "
            "dead-lettered by Glu (%d found no room at first); exactly once on each: %s"
            % (len(fill), log_count(env, "could not write the dead letter"), counts))


def scenario_retry_dead_once_everywhere(env):
    """A technician's retry-dead for one backend stores the sale again, and every backend
    delivers the new record. Glu and Gleantap recognise the reference; Givebutter has no
    idempotency key, so it must treat the copy as in doubt (look the activity up first), or the
    sale it already had is created a second time there."""
    mocks = start_all(env)
    mocks["glu"].post("/_mock/fault", {"mode": "422", "count": 1})
    pos = Pos(env.pos_socket)
    txns = ["RD%03d" % i for i in range(3)]
    submit(pos, [sale(t, i) for i, t in enumerate(txns)], {})
    wait_until(lambda: all_drained(env), 60, "the sales everywhere (one dead on Glu)", 0.1)
    assert backends(env)["glu"]["dead_letter"] == 1, backends(env)["glu"]
    out = env.ctl("retry-dead", "glu")
    assert out.returncode == 0 and json.loads(out.stdout)["requeued"] == 1, (out.stdout,
                                                                             out.stderr)
    more = ["RD%03d" % i for i in range(3, 6)]  # sales after the copy: sent as usual
    submit(pos, [sale(t, i) for i, t in enumerate(more, 3)], {})
    pos.close()
    wait_until(lambda: all_drained(env), 60, "the requeued sale everywhere", 0.1)
    counts = {n: exactly_once(m, txns + more) for n, m in mocks.items()}
    lookups = [r["path"] for r in mocks["givebutter"].get("/_mock/requests")
               if r["method"] == "GET" and r["path"].split("?")[0].endswith("/activities")]
    return ("1 sale dead on Glu, sent again by retry-dead to every backend: exactly once on each "
            "(%s); Givebutter looked its activities up %d time(s)" % (counts, len(lookups)))


def scenario_shared_host(env):
    """Two accounts on one platform: two Glu backends at the same host and port, 8 in flight
    each. libcurl's per-host connection limit is shared by every transfer to that host; set to
    the largest max_in_flight, it let one backend's transfers queue behind the other's (with a
    slow answer for one account, all of them). Once the API answers, each lane fills its 8
    slots in one turn: 16 requests at once on 16 connections (the mock speaks HTTP/1.1)."""
    mock = env.add_mock("glu", "glu")
    env.fan_names = ["glu", "glu2"]
    configure(env, {"glu": mock, "glu2": mock}, max_in_flight=8)
    env.start_daemon()
    mock.post("/_mock/fault", {"mode": "down"})
    pos = Pos(env.pos_socket)
    txns = ["SH%03d" % i for i in range(24)]
    submit(pos, [sale(t, i) for i, t in enumerate(txns)], {})
    pos.close()
    wait_until(lambda: all(b["queued"] == len(txns) and b["last_error"]
                           for b in backends(env).values()), 30, "both to fail", 0.1)
    # Answers take a second: every transfer of the burst is still open when the last starts.
    mock.post("/_mock/fault", {"mode": "none", "slow": 1})
    wait_until(lambda: all_drained(env), 120, "both backends to deliver", 0.2)
    answered = [r for r in mock.get("/_mock/requests") if r["status"] is not None]
    connections = {r["connection"] for r in answered}
    assert len(connections) > 8, "%d connections for 2 x 8 in flight" % len(connections)
    refs = [ref for ref, _ in stored_refs(mock)]
    assert sorted(refs) == sorted(TERMINAL + ":" + t for t in txns), refs
    return "%d answered requests on %d connections; each sale stored once" % (
        len(answered), len(connections))


SCENARIOS = [scenario_outage, scenario_wrap, scenario_paused_and_slow, scenario_eight_full,
             scenario_dead_while_full, scenario_retry_dead_once_everywhere,
             scenario_shared_host]

if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, lambda env: None))
