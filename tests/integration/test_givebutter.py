#!/usr/bin/env python3
"""Givebutter end to end: the real daemon against tests/mock/givebutter_mock.py. Givebutter keeps
no idempotency key, so exactly-once rests on the daemon looking for a sale among its contact's
activities before sending it again; every scenario counts, from the mock's request log, the POSTs
that created an activity for each reference (not the deduplicated list of activities): each
sale exactly once, none lost, none twice. The first scenario checks the mock itself."""

import http.client
import json
import signal

from harness import API_KEY, Pos, run_scenarios, wait_until, submit, backend, drained

ACTIVITIES = "/v1/contacts/%s/activities"


def sales(prefix, n):
    """Every kind of customer: full, email only, phone only without names, non-ASCII names with
    a phone, anonymous (the walk-in contact); local dates on either side of UTC's."""
    out = []
    for i in range(n):
        kind = i % 5
        customer = [{"email": "full%d@example.com" % (i % 7), "phone": "+4477009%05d" % i,
                     "first_name": "Jane", "last_name": "Doe"},
                    {"email": "only%d@example.com" % (i % 3)},
                    {"phone": "+155501%05d" % (i % 4)},
                    {"phone": "+4915112%05d" % (i % 2), "first_name": "Zoë",
                     "last_name": "Müller-Łukasz"},
                    None][kind]
        sale = {"event": "sale.completed", "txn": "%s%03d" % (prefix, i),
                "at": ["2026-04-08T00:30:00+02:00", "2026-12-31T20:00:00-05:00",
                       "2026-04-07T19:45:00Z"][i % 3],
                "total": 100 + i, "currency": ["GBP", "JPY", "BHD"][i % 3]}
        if customer:
            sale["customer"] = customer
        out.append(sale)
    return out


def log(env):
    return env.gb.get("/_mock/requests")


def is_activity_post(r):
    return r["method"] == "POST" and r["path"].startswith("/v1/contacts/") \
        and r["path"].endswith("/activities")


def creations(env):
    """ref -> the logged POSTs that created an activity for it (answered or dropped after)."""
    out = {}
    for r in log(env):
        if is_activity_post(r) and "created_activity" in r:
            ref = r["body"]["subject"].rsplit(" ", 1)[1]
            out.setdefault(ref, []).append(r)
    return out


def exactly_once(env, batch):
    made = creations(env)
    want = {"T042:" + s["txn"] for s in batch}
    twice = {ref: len(rs) for ref, rs in made.items() if len(rs) > 1}
    assert not twice, "duplicates (creating POSTs per ref): %s" % twice
    assert set(made) == want, "lost: %s extra: %s" % (sorted(want - set(made)),
                                                       sorted(set(made) - want))
    # The platform's own list agrees, and each activity sits on its customer's contact.
    acts = env.gb.get("/_mock/activities")
    assert len(acts) == len(want), "%d activities for %d sales" % (len(acts), len(want))
    contacts = {c["id"]: c for c in env.gb.get("/_mock/contacts")}
    for s in batch:
        ref = "T042:" + s["txn"]
        a = made[ref][0]
        contact = contacts[int(a["path"].split("/")[3])]
        cust = s.get("customer") or {"email": "walk-in@shop.example"}
        if "email" in cust:
            assert cust["email"] in contact["emails"], (ref, contact)
        else:
            assert cust["phone"] in contact["phones"], (ref, contact)
        assert a["body"]["type"] == "note" and ref in a["body"]["note"], a["body"]
    return made


def lookups(env):
    return [r for r in log(env) if r["method"] == "GET" and "/activities?" in r["path"]]


def configure(env, **overrides):
    env.port = env.gb.port
    env.write_config(name="givebutter", kind="givebutter", base_url=env.gb.url, **overrides)


# ---- the mock ----

def call(env, method, path, body=None, key=API_KEY):
    conn = http.client.HTTPSConnection("127.0.0.1", env.gb.port, context=env.ssl, timeout=10)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = "Bearer " + key
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    except (http.client.RemoteDisconnected, ConnectionError):
        return None, None
    finally:
        conn.close()


def expect(env, method, path, body, status, field=None):
    got, payload = call(env, method, path, body)
    assert got == status, "%s %s %s: %s %r, expected %s" % (method, path, body, got, payload,
                                                            status)
    if field is not None:
        assert list(payload["errors"]) == [field] and payload["message"], payload
    return payload


def scenario_mock(env):
    """The mock keeps to the reference: what the daemon's exactly-once is measured against."""
    assert call(env, "GET", "/v1/contacts", key=None)[0] == 401
    assert call(env, "GET", "/v1/contacts", key="wrong") == (401, {"message": "Unauthenticated."})
    expect(env, "POST", "/v1/contacts", {"last_name": "Doe"}, 422, "first_name")
    expect(env, "POST", "/v1/contacts", {"first_name": "Jane", "last_name": " "}, 422,
           "last_name")
    expect(env, "POST", "/v1/contacts", {"first_name": "J", "last_name": "D", "emails": "x"},
           422, "emails")
    expect(env, "POST", "/v1/contacts", {"first_name": "J", "last_name": "D", "email": "a@b.c"},
           422, "email")
    expect(env, "POST", "/v1/contacts", {"first_name": "J" * 256, "last_name": "D"}, 422,
           "first_name")
    a = expect(env, "POST", "/v1/contacts", {"first_name": "Jane", "last_name": "Doe",
                                             "emails": ["jane@example.com"]}, 200)
    # The merge rule: same names and the same email or phone; other names: another contact.
    b = expect(env, "POST", "/v1/contacts", {"first_name": "JANE", "last_name": "doe",
                                             "emails": ["Jane@Example.com"],
                                             "phones": ["+1555"]}, 200)
    c = expect(env, "POST", "/v1/contacts", {"first_name": "Jane", "last_name": "Doe",
                                             "phones": ["+1555"]}, 200)
    d = expect(env, "POST", "/v1/contacts", {"first_name": "Janet", "last_name": "Doe",
                                             "phones": ["+1555"]}, 200)
    e = expect(env, "POST", "/v1/contacts", {"first_name": "Jane", "last_name": "Doe",
                                             "emails": ["jane@example.com"],
                                             "force_create": True}, 200)
    assert a["id"] == b["id"] == c["id"] and len({a["id"], d["id"], e["id"]}) == 3, (a, d, e)
    assert b["phones"] == [{"type": "cell", "value": "+1555"}], b
    found = expect(env, "GET", "/v1/contacts?email=JANE%40example.com", None, 200)
    assert [x["id"] for x in found["data"]] == [a["id"], e["id"]], found
    every = expect(env, "GET", "/v1/contacts?phone=%2B1555", None, 200)  # no phone filter
    assert every["meta"]["total"] == 3, every["meta"]
    for i in range(22):
        expect(env, "POST", "/v1/contacts", {"first_name": "P%d" % i, "last_name": "Q"}, 200)
    p1 = expect(env, "GET", "/v1/contacts", None, 200)
    p2 = expect(env, "GET", "/v1/contacts?page=2", None, 200)
    assert len(p1["data"]) == 20 and len(p2["data"]) == 5 and p2["links"]["next"] is None, p2
    assert p1["links"]["next"].endswith("/v1/contacts?page=2") and p1["meta"]["last_page"] == 2

    path = ACTIVITIES % a["id"]
    expect(env, "POST", path, {"subject": "s"}, 422, "type")
    expect(env, "POST", path, {"type": "purchase"}, 422, "type")
    expect(env, "POST", path, {"type": "note", "subject": "x" * 256}, 422, "subject")
    expect(env, "POST", path, {"type": "note", "occurred_at": "yesterday"}, 422, "occurred_at")
    expect(env, "POST", path, {"type": "note", "ref": "T1"}, 422, "ref")
    expect(env, "POST", ACTIVITIES % 999, {"type": "note"}, 404)
    expect(env, "GET", ACTIVITIES % 999, None, 404)
    expect(env, "GET", path + "?type=bogus", None, 422, "type")
    act = expect(env, "POST", path, {"type": "note", "subject": "POS sale T042:1", "note": "n",
                                     "occurred_at": "2026-04-07T18:45:00Z",
                                     "timezone": "+01:00"}, 200)
    assert isinstance(act["id"], str) and "subject" not in act and "note" not in act, act
    assert "T042:1" in act["data"], act
    assert expect(env, "GET", path + "/" + act["id"], None, 200) == act
    expect(env, "GET", (ACTIVITIES % d["id"]) + "/" + act["id"], None, 404)
    # Recorded, then the connection dropped: the activity is there, the client cannot know.
    env.gb.post("/_mock/fault", {"reset_after_record": 1})
    assert call(env, "POST", path, {"type": "note", "subject": "POS sale T042:2"}) == (None, None)
    listed = expect(env, "GET", path + "?type=note", None, 200)
    assert [x["id"] for x in listed["data"]] == [act["id"], str(int(act["id"]) + 1)], listed
    env.gb.post("/_mock/fault", {"mode": "422", "count": 1})
    expect(env, "POST", path, {"type": "note"}, 422, "note")
    return "auth, validation per field, merge rule, filters, pages, activities, faults"


# ---- the daemon ----

def scenario_outage(env):
    env.gb.post("/_mock/fault", {"mode": "down"})
    batch = sales("OUT", 25)
    submit(env, batch)  # acknowledged while Givebutter is down
    wait_until(lambda: len(log(env)) >= 5, 30, "attempts during the outage")
    env.gb.post("/_mock/fault", {"mode": "503", "count": 10})
    drained(env)
    made = exactly_once(env, batch)
    return "%d sales after an outage and 10 503s, each created once" % len(made)


def scenario_in_doubt_resets(env):
    batch = sales("RST", 40)
    env.gb.post("/_mock/fault", {"reset_after_record": 25})
    submit(env, batch)
    drained(env)
    made = exactly_once(env, batch)
    resets = sum(1 for rs in made.values() for r in rs if r["fault"] == "reset_after_record")
    assert resets == 25, "%d creating POSTs reset" % resets
    return "%d sales, %d resets after recording, %d look-ups, each created once" % (
        len(made), resets, len(lookups(env)))


def scenario_sigkill_mid_run(env):
    batch = sales("KIL", 40)
    env.gb.post("/_mock/fault", {"slow": 0.05})
    submit(env, batch)
    wait_until(lambda: len(creations(env)) >= 10, 60, "10 sales delivered")
    env.kill_daemon(signal.SIGKILL)
    before = len(creations(env))
    env.gb.post("/_mock/fault", {})
    env.start_daemon()
    drained(env)
    made = exactly_once(env, batch)
    return "SIGKILL after %d of %d sales, restart: each created once (%d look-ups)" % (
        before, len(made), len(lookups(env)))


def scenario_every_first_attempt_reset(env):
    """Acceptance 2: every first attempt of the activity POST is recorded, then its connection
    is reset: each sale is found by the look-up and never sent twice."""
    batch = sales("EFA", 30)
    env.gb.post("/_mock/fault", {"reset_after_record": 1000})
    submit(env, batch)
    drained(env)
    made = exactly_once(env, batch)
    firsts = {}
    for r in log(env):
        if is_activity_post(r):
            firsts.setdefault(r["body"]["subject"], r)
    assert len(firsts) == len(batch) and all(
        r["fault"] == "reset_after_record" and r["dropped"] for r in firsts.values()), firsts
    assert len(lookups(env)) >= len(batch)
    return "%d sales, every first POST reset after recording, 0 duplicates, 0 lost" % len(made)


def scenario_sigkill_between_send_and_answer(env):
    """Acceptance 2: the daemon is killed while activity POSTs the mock has recorded await their
    answers (held back by "slow", below the daemon's 15 s timeout); the restarted daemon finds
    them and sends none twice. Each round first delivers sales of the same customers, so their
    contacts are cached and the held-back requests are activity POSTs."""
    everything, pending = [], 0
    for rnd in range(3):
        warm, batch = sales("W%d" % rnd, 10), sales("K%d" % rnd, 10)
        submit(env, warm)
        drained(env)
        env.gb.post("/_mock/fault", {"slow": 10})
        seen = len(creations(env))
        submit(env, batch)
        wait_until(lambda: len(creations(env)) > seen, 30, "an activity recorded")
        env.kill_daemon(signal.SIGKILL)  # every answer the mock recorded is still held back
        pending += len(creations(env)) - seen
        env.gb.post("/_mock/fault", {})
        env.start_daemon()
        drained(env)
        everything += warm + batch
    made = exactly_once(env, everything)
    return "3 SIGKILLs with %d recorded POSTs unanswered, %d sales each created once, " \
           "%d look-ups" % (pending, len(made), len(lookups(env)))


def start(env):
    env.gb = env.add_mock("givebutter")
    configure(env, anonymous_sales="contact", anonymous_contact_email="walk-in@shop.example")
    env.start_daemon()  # idle in scenario_mock: no sales, no requests


if __name__ == "__main__":
    raise SystemExit(run_scenarios(
        [scenario_mock, scenario_outage, scenario_in_doubt_resets, scenario_sigkill_mid_run,
         scenario_every_first_attempt_reset, scenario_sigkill_between_send_and_answer], start))
