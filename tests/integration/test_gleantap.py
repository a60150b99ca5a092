#!/usr/bin/env python3
"""The Gleantap backend end to end: the real daemon against tests/mock/gleantap_mock.py. Sales
taken during an outage, newEvent answers lost after Gleantap recorded them (>= 20 in-doubt
resends) and a SIGKILL of the daemon mid-run: every sale is on the platform exactly once, counted
from the mock's request log (the newEvent requests that created an event, per id) as well as
from the events it holds. Each scenario runs against a fresh daemon and mock."""

import signal
import sys

from harness import GLEANTAP_APP_ID, Pos, run_scenarios, wait_until, submit, backend, drained

NEW_CONTACT = "/v2/ExternalApi/newContact"
NEW_EVENT = "/v2/ExternalApi/newEvent"
RESETS = 25

# Regulars (each buys many times), among them a phone-only one, non-ASCII names and names
# missing; None: an anonymous sale (booked to the walk-in contact).
CUSTOMERS = [
    {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"},
    {"email": "zoe@example.de", "first_name": "Zoë", "last_name": "Müller-Łukasz"},
    {"phone": "+15550100", "first_name": "Sam", "last_name": "Lee"},
    {"email": "only@example.com"},
    {"email": "first@example.com", "first_name": "Ann"},
    {"email": "both@example.com", "phone": "+447700900123", "first_name": "Bo", "last_name": "Li"},
    None,
]
# Local times on either side of UTC's date.
TIMES = ["2026-04-07T19:45:00+01:00", "2026-04-08T00:30:00+02:00",
         "2026-04-07T21:15:30.250-07:00", "2026-04-07T12:00:00Z"]


def sales(prefix, n):
    out = []
    for i in range(n):
        s = {"event": "sale.completed", "txn": "%s%03d" % (prefix, i), "at": TIMES[i % len(TIMES)],
             "total": 100 + i, "currency": "GBP",
             "items": [{"sku": "A%d" % i, "name": "Latte", "qty": 1, "unit_price": 100 + i}]}
        customer = CUSTOMERS[i % len(CUSTOMERS)]
        if customer:
            s["customer"] = customer
        out.append(s)
    return out


def event_requests(env):
    return [r for r in env.gleantap.get("/_mock/requests") if r["path"] == NEW_EVENT]


def created(request):
    """The newEvent request stored a new event: applied (answered 200, or its answer dropped by
    reset_after_record after it was applied) and not an answered duplicate of an earlier one."""
    applied = request["status"] == 200 or request["fault"] == "reset_after_record"
    return applied and request["api_key"] == "ok" and not request.get("duplicate")


def exactly_once(env, batch):
    want = {"T042:" + s["txn"] for s in batch}
    per_id = {}
    for r in event_requests(env):
        if created(r):
            per_id[r["body"]["id"]] = per_id.get(r["body"]["id"], 0) + 1
    twice = {ref: n for ref, n in per_id.items() if n != 1}
    assert not twice, "events created more than once, from the request log: %s" % twice
    assert set(per_id) == want, "request log: lost %s, extra %s" % (
        sorted(want - set(per_id)), sorted(set(per_id) - want))
    events = [e["id"] for e in env.gleantap.get("/_mock/events")]
    assert len(events) == len(set(events)), "the mock holds an id twice"
    assert set(events) == want, "events held: lost %s, extra %s" % (
        sorted(want - set(events)), sorted(set(events) - want))
    return len(events)


def configure(env, **overrides):
    keys = {"name": "gleantap", "kind": "gleantap", "base_url": env.gleantap.url,
            "api_key_file": env.key_file, "secret_key_file": env.secret_key_file,
            "app_id": GLEANTAP_APP_ID, "timeout_s": 1}
    keys.update(overrides)
    env.port = env.gleantap.port  # write_config's default base_url needs a port; ours replaces it
    env.write_config(**keys)


def scenario_outage_resets_sigkill(env):
    env.gleantap.post("/_mock/fault", {"mode": "down"})
    down_batch = sales("DN", 14)
    submit(env, down_batch)  # acknowledged while Gleantap is unreachable
    wait_until(lambda: len(env.gleantap.get("/_mock/requests")) >= 2, 30,
               "attempts during the outage")
    env.gleantap.post("/_mock/fault", {"reset_after_record": RESETS, "slow": 0.1})
    batch = down_batch + sales("RS", 42)
    submit(env, batch[len(down_batch):])
    # Mid-run: some events recorded, many sales still to go.
    wait_until(lambda: len(env.gleantap.get("/_mock/events")) >= 10, 120, "10 events")
    env.kill_daemon(signal.SIGKILL)
    at_kill = len(env.gleantap.get("/_mock/events"))
    assert at_kill < len(batch), "the SIGKILL came after every sale was on Gleantap: not mid-run"
    env.start_daemon()
    b = drained(env)
    assert b["dead_letter"] == 0, b
    n = exactly_once(env, batch)
    log = env.gleantap.get("/_mock/requests")
    down = sum(1 for r in log if r["fault"] == "down")
    resets = sum(1 for r in log if r["fault"] == "reset_after_record")
    dups = sum(1 for r in log if r["path"] == NEW_EVENT and r.get("duplicate"))
    assert resets == RESETS, "%d answers dropped after recording, wanted %d" % (resets, RESETS)
    assert dups >= RESETS, "%d duplicates answered after %d resets" % (dups, RESETS)
    # The contact cache: a regular's later sales go straight to newEvent.
    contacts = sum(1 for r in log if r["path"] == NEW_CONTACT and r["status"] == 200)
    assert contacts < len(batch) // 2, "%d newContact for %d sales" % (contacts, len(batch))
    return ("%d sales: %d requests dropped while down, %d event answers reset after recording, "
            "SIGKILL with %d of them on Gleantap; %d duplicate newEvent answered, %d newContact; "
            "%d events, each once" % (len(batch), down, resets, at_kill, dups, contacts, n))


def scenario_what_gleantap_holds(env):
    """The events and contacts as the mock stored them: local dates, names, walk-in, 12h."""
    configure(env, event_time_format="12h")
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    batch = sales("H", 7)
    submit(env, batch)
    drained(env)
    exactly_once(env, batch)
    events = {e["id"]: e for e in env.gleantap.get("/_mock/events")}
    contacts = {c["_id"]: c for c in env.gleantap.get("/_mock/contacts")}
    want = {  # txn: (event_date, event_time, first_name, last_name, email)
        "H000": ("2026-04-07", "07:45 PM", "Jane", "Doe", "jane@example.com"),
        "H001": ("2026-04-08", "12:30 AM", "Zoë", "Müller-Łukasz", "zoe@example.de"),
        "H002": ("2026-04-07", "09:15 PM", "Sam", "Lee", None),
        "H003": ("2026-04-07", "12:00 PM", "Guest", "Customer", "only@example.com"),
        "H004": ("2026-04-07", "07:45 PM", "Guest", "Customer", "first@example.com"),
        "H006": ("2026-04-07", "09:15 PM", "Guest", "Customer", "walk-in@shop.example"),
    }
    for txn, (date, time, first, last, email) in want.items():
        e = events["T042:" + txn]
        c = contacts[e["user_id"]]
        got = (e["event_date"], e["event_time"], c["first_name"], c["last_name"], c.get("email"))
        assert got == (date, time, first, last, email), "%s: %s" % (txn, got)
        assert e["event_type"] == "purchase" and e["is_purchase"] is True, e
        sale = batch[int(txn[1:])]
        data = e["event_data"]
        assert (data["total"], data["currency"], data["txn"]) == (
            sale["total"], "GBP", txn), data
        assert data["items"] == sale["items"], data
    return "%d events with local dates and 12h times, names and placeholders as the README " \
        "says" % len(events)


def start(env):
    env.gleantap = env.add_mock("gleantap")
    configure(env)
    env.start_daemon()


if __name__ == "__main__":
    sys.exit(run_scenarios([scenario_outage_resets_sigkill, scenario_what_gleantap_holds], start))
