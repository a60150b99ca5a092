"""Self-test of the platform mocks (tests/mock/): the other integration tests trust what they
answer and log, so check it: auth refusal, one validation error per required field,
create-then-update, event deduplication, each fault mode and --state reload after SIGKILL.
No daemon involved (--daemon and --ctl are accepted, as ctest passes them to every test).
"""

import http.client
import json
import os
import sys
import time
import urllib.error

import harness
from harness import API_KEY, GLEANTAP_APP_ID, SECRET_KEY

sys.path.insert(0, harness.MOCK_DIR)
import mock_common  # noqa: E402

CONTACT = "/v2/ExternalApi/newContact"
EVENT = "/v2/ExternalApi/newEvent"
GLEANTAP_KEYS = {"X-API-KEY": API_KEY, "X-SECRET-KEY": SECRET_KEY}
GLU_KEY = {"x-api-key": API_KEY}


class Dropped(AssertionError):
    """The mock closed the connection without answering."""


def call(mock, method, path, body=None, headers=None, content_type="application/json"):
    """(status, headers, parsed JSON or text); raises Dropped if no answer came."""
    conn = http.client.HTTPSConnection("127.0.0.1", mock.port, context=mock.env.ssl, timeout=10)
    sent = {"Content-Type": content_type}
    sent.update(headers if headers is not None else
                (GLEANTAP_KEYS if mock.kind == "gleantap" else GLU_KEY))
    data = body if body is None or isinstance(body, (str, bytes)) else json.dumps(body)
    try:
        conn.request(method, path, body=data, headers=sent)
        r = conn.getresponse()
        text = r.read().decode()
    except (http.client.RemoteDisconnected, ConnectionError):
        raise Dropped("%s %s: connection closed without an answer" % (method, path))
    finally:
        conn.close()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    return r.status, {k.lower(): v for k, v in r.getheaders()}, payload


def expect(mock, method, path, body, status, message=None, **kw):
    got, headers, payload = call(mock, method, path, body, **kw)
    assert got == status, "%s %s %s: %s %r, expected %s" % (method, path, body, got, payload,
                                                            status)
    if message is not None:
        assert message in json.dumps(payload), "%s %s %s: %r does not say %r" % (
            method, path, body, payload, message)
    return headers, payload


def mocks(env):
    return env.mocks[0], env.mocks[1]  # glu, gleantap


def contact(**fields):
    body = {"app_id": GLEANTAP_APP_ID, "first_name": "Jane", "last_name": "Doe",
            "email": "jane@example.com"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def event(user_id, **fields):
    body = {"app_id": GLEANTAP_APP_ID, "user_id": user_id, "event_type": "purchase",
            "event_date": "2026-04-07", "event_time": "07:45 PM", "id": "T042:000123",
            "is_purchase": True, "event_data": {"total": 12750, "currency": "GBP", "txn": "000123"}}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def new_contact(g, **fields):
    _, payload = expect(g, "POST", CONTACT, contact(**fields), 200)
    assert payload["status"] == "success" and len(payload["_id"]) == 24, payload
    int(payload["_id"], 16)
    return payload["_id"]


# ---- scenarios ---------------------------------------------------------------------------------

def gleantap_auth(env):
    _, g = mocks(env)
    body = contact()
    expect(g, "POST", CONTACT, body, 401, "X-API-KEY is missing", headers={})
    expect(g, "POST", CONTACT, body, 401, "X-SECRET-KEY is missing",
           headers={"X-API-KEY": API_KEY})
    expect(g, "POST", CONTACT, body, 401, "X-SECRET-KEY is invalid",
           headers={"X-API-KEY": API_KEY, "X-SECRET-KEY": "nope"})
    expect(g, "POST", CONTACT, body, 401, "X-API-KEY is invalid",
           headers={"X-API-KEY": "nope", "X-SECRET-KEY": SECRET_KEY})
    expect(g, "POST", CONTACT, contact(app_id="other-app"), 401, "app_id")
    expect(g, "POST", CONTACT, body, 415, "Content-Type", content_type="text/plain")
    expect(g, "POST", CONTACT, "{not json", 400, "invalid JSON")
    expect(g, "POST", CONTACT, "[1]", 400, "JSON object")
    expect(g, "GET", CONTACT, None, 405)
    expect(g, "POST", "/v2/ExternalApi/nope", {}, 404)
    assert g.get("/_mock/contacts") == [], "a refused request created a contact"
    log = g.get("/_mock/requests")
    assert [r["api_key"] for r in log[:4]] == ["missing", "missing", "invalid", "invalid"], log
    assert all(k not in r["headers"] for r in log for k in ("x-api-key", "x-secret-key")), \
        "a key reached the request log"
    return "401 without or with a wrong X-API-KEY, X-SECRET-KEY or app_id; 415, 400; " \
           "keys not logged"


def gleantap_validation(env):
    _, g = mocks(env)
    cases = [(contact(app_id=None), "app_id is required"),
             (contact(first_name=None), "first_name is required"),
             (contact(last_name=None), "last_name is required"),
             (contact(first_name=""), "first_name must be a non-empty string"),
             (contact(last_name=7), "last_name must be a non-empty string"),
             (contact(email=None), "email or phone is required"),
             (contact(email="not-an-address"), "email is not a valid email address"),
             (contact(phone=447700), "phone must be a string"),
             (contact(dob="2026-13-01"), "dob must be a date"),
             (contact(created_date="2026-01-01T10:00:00"), "created_date"),
             (contact(optin_sms="yes"), "optin_sms must be a boolean"),
             (contact(tag_action="toggle"), "tag_action"),
             (contact(user_id="64c0ffffffffffffffffffff"), "user_id does not name"),
             (contact(custom={"a": 1}), "custom must be")]
    for body, message in cases:
        expect(g, "POST", CONTACT, body, 400, message)
    assert "not-an-address" not in json.dumps(g.get("/_mock/requests")[6]["response"])
    uid = new_contact(g, custom_attribute="kept")
    cases = [(event(uid, app_id=None), "app_id is required"),
             (event(None), "user_id is required"),
             (event("64c0ffffffffffffffffffff"), "user_id does not name an existing contact"),
             (event(uid, event_type=None), "event_type is required"),
             (event(uid, event_date=None), "event_date is required"),
             (event(uid, event_date="2026-02-30"), "event_date must be a date"),
             (event(uid, event_date="2026-4-7"), "event_date must be a date"),
             (event(uid, id=None), "id is required"),
             (event(uid, id=""), "id must be a non-empty string"),
             (event(uid, event_time="4:29 PM"), "event_time"),
             (event(uid, event_time="13:00 PM"), "event_time"),
             (event(uid, event_time="24:00:00"), "event_time"),
             (event(uid, event_time="16:29"), "event_time"),
             (event(uid, is_purchase="true"), "is_purchase must be a boolean"),
             (event(uid, event_data="total=1"), "event_data must be"),
             (event(uid, event_data=[{"a": 1}, 2]), "event_data must be"),
             (event(uid, email="x"), "email is not a valid"),
             (event(uid, amount=5), "amount is not a known field")]
    for body, message in cases:
        expect(g, "POST", EVENT, body, 400, message)
    assert g.get("/_mock/events") == [], "a refused event was stored"
    for i, (time_of_day, data) in enumerate((("04:29 PM", [{"sku": "A1"}]), ("16:29:10", None),
                                             (None, {"total": 1}))):
        _, payload = expect(g, "POST", EVENT, event(uid, id="E%d" % i, event_time=time_of_day,
                                                    event_data=data), 200)
        assert payload == {"result": "success"}, payload
    stored = g.get("/_mock/events")
    assert [e.get("event_time") for e in stored] == ["04:29 PM", "16:29:10", None], stored
    return "%d contact and %d event validation errors, each naming its field; both event_time " \
           "shapes and event_data object or array accepted" % (14, 18)


def gleantap_create_then_update(env):
    _, g = mocks(env)
    a = new_contact(g)
    assert new_contact(g, email="JANE@example.com", last_name="Smith") == a, "same email+first name"
    b = new_contact(g, email=None, phone="+447700900123")
    assert b != a, "a phone-only contact matched the email one"
    assert new_contact(g, email=None, phone="+447700900123", city="Leeds") == b, "phone+first name"
    c = new_contact(g, first_name="Janet")
    assert c not in (a, b), "same email but another first name is another contact"
    assert new_contact(g, user_id=a, email=None, last_name="Brown") == a, "by user_id"
    contacts = {x["_id"]: x for x in g.get("/_mock/contacts")}
    assert len(contacts) == 3, contacts
    assert contacts[a]["last_name"] == "Brown", contacts[a]
    assert contacts[a]["email"].lower() == "jane@example.com", "an update without email erased it"
    assert contacts[b]["city"] == "Leeds", contacts[b]
    return "3 contacts from 6 requests: updates by email+first_name, phone+first_name, user_id"


def gleantap_event_dedup(env):
    _, g = mocks(env)
    uid = new_contact(g)
    for _ in range(2):
        _, payload = expect(g, "POST", EVENT, event(uid), 200)
        assert payload == {"result": "success"}, payload
    expect(g, "POST", EVENT, event(uid, event_data={"total": 1}), 200)
    events = g.get("/_mock/events")
    assert len(events) == 1 and events[0]["event_data"]["total"] == 12750, events
    dups = [r.get("duplicate", False) for r in g.get("/_mock/requests") if r["path"] == EVENT]
    assert dups == [False, True, True], dups
    return "3 sends of one id: 3 successes, 1 event (the first), 2 logged as duplicate"


def faults(env):
    glu, g = mocks(env)
    uid = new_contact(g)
    post = g.post

    post("/_mock/fault", {"mode": "down", "count": 1})
    try:
        call(g, "POST", CONTACT, contact())
        raise AssertionError("down: got an answer")
    except Dropped:
        pass
    new_contact(g)

    post("/_mock/fault", {"mode": "503", "count": 2})
    for _ in range(2):
        expect(g, "POST", CONTACT, contact(), 503, '"status": "error"')
    assert g.get("/_mock/fault")["mode"] == "none", "count did not end the mode"
    new_contact(g)

    post("/_mock/fault", {"mode": "429", "count": 1})
    headers, _ = expect(g, "POST", CONTACT, contact(), 429)
    assert headers.get("retry-after") == "1", headers
    post("/_mock/fault", {"mode": "429", "count": 1, "retry_after": 7})
    headers, _ = expect(g, "POST", CONTACT, contact(), 429)
    assert headers.get("retry-after") == "7", headers

    post("/_mock/fault", {"mode": "422", "count": 1})
    expect(g, "POST", CONTACT, contact(), 422, '"message"')

    post("/_mock/fault", {"mode": "answer", "count": 1, "status": 302, "body": "<html>portal",
                          "headers": {"Location": "https://portal.example/",
                                      "Content-Type": "text/html"}})
    headers, payload = expect(g, "POST", CONTACT, contact(), 302)
    assert payload == "<html>portal" and headers["location"] == "https://portal.example/", payload

    # path: a glob with * and with **, a regular expression; the query string is not matched
    for pattern in ("/v2/*/newEvent", "/v2/**vent", "^/v2/ExternalApi/new(Event)$"):
        post("/_mock/fault", {"mode": "503", "path": pattern})
        new_contact(g)
        expect(g, "POST", EVENT + "?trace=1", event(uid, id="P-" + pattern), 503)
    post("/_mock/fault", {"mode": "503", "method": "GET"})
    new_contact(g)
    glu.post("/_mock/fault", {"mode": "503", "path": "/contacts/*"})
    expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co"}, 201)
    expect(glu, "GET", "/contacts/1000", None, 503)
    glu.post("/_mock/fault", {"mode": "none"})
    for bad in ({"mode": "503", "path": "^("}, {"mode": "503", "path": "contacts"},
                {"mode": "503", "paht": "/x"}, {"mode": "500"}):
        try:
            post("/_mock/fault", bad)
            raise AssertionError("fault %r accepted" % bad)
        except urllib.error.HTTPError as e:
            assert e.code == 400, e
    post("/_mock/fault", {"mode": "none"})

    post("/_mock/fault", {"slow": 0.3})
    started = time.monotonic()
    new_contact(g)
    assert time.monotonic() - started >= 0.3, "slow did not delay the answer"
    post("/_mock/fault", {"mode": "none"})

    # reset_after_record: only the platform's record request (newEvent; Glu: POST /activities)
    post("/_mock/fault", {"reset_after_record": 1})
    new_contact(g)
    try:
        call(g, "POST", EVENT, event(uid, id="R-1"))
        raise AssertionError("reset_after_record: newEvent was answered")
    except Dropped:
        pass
    assert [e["id"] for e in g.get("/_mock/events")] == ["R-1"], "the dropped event is not stored"
    expect(g, "POST", EVENT, event(uid, id="R-1"), 200)
    last = g.get("/_mock/requests")[-2:]
    assert last[0]["fault"] == "reset_after_record" and last[0]["dropped"], last[0]
    assert last[1].get("duplicate"), last[1]

    glu.post("/_mock/fault", {"reset_after_record": 1})
    expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co"}, 200)
    activity = {"contact": 1000, "type": "Purchase", "source": "till", "spend": 100,
                "currencyCode": "GBP", "happenedAt": "2026-04-07T19:45:00+01:00",
                "externalReference": "T042:1"}
    try:
        call(glu, "POST", "/activities", activity)
        raise AssertionError("reset_after_record: POST /activities was answered")
    except Dropped:
        pass
    expect(glu, "POST", "/activities", activity, 200)
    assert len(glu.get("/_mock/activities")) == 1
    return "down, 503 + count, 429 (Retry-After 1 and 7), 422, answer 302, path glob/**/regex " \
           "with a query string, method, slow, reset_after_record on newEvent and /activities"


def match(pattern, path):
    return mock_common.path_matches(mock_common.compile_path_pattern(pattern), path)


def path_patterns(env):
    assert match("/v1/contacts/*/activities", "/v1/contacts/123/activities/")
    assert not match("/v1/contacts/*/activities", "/v1/contacts/1/2/activities")
    assert not match("/v1/contacts/*/activities", "/v1/contacts/123/activities/9")
    assert match("/v1/contacts/**", "/v1/contacts/123/activities/9")
    assert match("/contacts", "/contacts/") and not match("/contacts", "/contacts/1")
    assert match(r"^/v1/contacts/\d+/activities", "/v1/contacts/5/activities")
    assert not match(r"^/v1/contacts/\d+/activities", "/v1/contacts/x/activities")
    assert match("/a.b", "/a.b") and not match("/a.b", "/axb"), "a glob's dot is literal"
    return "globs with * and **, exact paths and regular expressions match as documented"


def glu_basics(env):
    glu, _ = mocks(env)
    expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co"}, 401, "x-api-key: missing",
           headers={})
    expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co"}, 401, "x-api-key: invalid",
           headers={"x-api-key": "nope"})
    _, first = expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co", "firstName": "A"}, 201)
    _, second = expect(glu, "POST", "/contacts", {"emailAddress": "A@B.co", "lastName": "Z"}, 200)
    assert first["id"] == second["id"] and second["name"] == "A Z", second
    expect(glu, "POST", "/activities", {"contact": first["id"]}, 422, "type: required")
    return "401 without or with a wrong key; create then update by email; 422 naming the field"


def state_reload(env):
    glu, g = mocks(env)
    uid = new_contact(g)
    expect(g, "POST", EVENT, event(uid), 200)
    expect(glu, "POST", "/contacts", {"emailAddress": "a@b.co"}, 201)
    before = {m.kind: [m.get("/_mock/" + t) for t in tables]
              for m, tables in ((g, ("contacts", "events", "requests")),
                                (glu, ("contacts", "activities", "requests")))}
    port = g.port
    for m in (glu, g):
        m.kill()
        m.start()
    assert g.port == port
    after = {m.kind: [m.get("/_mock/" + t) for t in tables]
             for m, tables in ((g, ("contacts", "events", "requests")),
                               (glu, ("contacts", "activities", "requests")))}
    assert before == after, "state differs after SIGKILL and restart"
    expect(g, "POST", EVENT, event(uid), 200)
    assert g.get("/_mock/requests")[-1].get("duplicate"), "dedup forgot the event after restart"
    other = new_contact(g, email="other@example.com")
    assert other != uid and len(g.get("/_mock/contacts")) == 2, "a reloaded id was reused"
    _, c = expect(glu, "POST", "/contacts", {"emailAddress": "c@d.co"}, 201)
    assert c["id"] == 1001, c
    assert os.path.getsize(os.path.join(env.dir, "gleantap-mock.state")) > 0
    return "SIGKILL + restart on the same port: tables and log identical, ids not reused, " \
           "dedup kept"


if __name__ == "__main__":
    sys.exit(harness.run_scenarios(
        [gleantap_auth, gleantap_validation, gleantap_create_then_update, gleantap_event_dedup,
         faults, path_patterns, glu_basics, state_reload],
        lambda env: (env.add_mock("glu"), env.add_mock("gleantap"))))
