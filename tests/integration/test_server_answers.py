#!/usr/bin/env python3
"""Strange server answers (issue 9, observations 6 and 9): only a definitive refusal dead-letters a
sale. A Retry-After far in the future, a redirect, a 2xx answer that cannot be understood or a
404 from a wrong base_url keeps every sale, says why in status, and delivers once the server (or
the configuration) is right again, each sale exactly once, to the right contact. Each scenario
runs against a fresh daemon and mock."""

import signal
import subprocess
import sys

from harness import Pos, run_scenarios, wait_until, submit, backend, drained

RETRY_MAX_S = 2  # harness.Env.write_config's default


def sale(txn, email):
    return {"event": "sale.completed", "txn": txn, "at": "2026-04-07T19:45:00+01:00",
            "total": 1250, "currency": "GBP", "customer": {"email": email}}


def sales(prefix, n):
    return [sale("%s%03d" % (prefix, i), "%s%d@example.com" % (prefix.lower(), i))
            for i in range(n)]


def until_error(env, *words, timeout=60):
    """Waits until last_error holds every word, or the sales are gone from the queue
    (dead-lettered, or taken as delivered: the old failures)."""
    def seen():
        b = backend(env)
        err = b["last_error"] or ""
        return (b["dead_letter"] or not b["queued"] or all(w in err for w in words)) and b
    return wait_until(seen, timeout, "last_error with %s" % (words,), interval=0.2)


def kept(b, n, dead_before=0):
    assert b["dead_letter"] == dead_before, "dead-lettered: %s" % b
    assert b["queued"] == n, "not kept in the queue (taken as delivered?): %s" % b
    assert b["next_attempt_in_s"] <= RETRY_MAX_S, "next attempt beyond retry_max_s: %s" % b


def delivered_once(env, batch):
    """Every sale's activity answered exactly once (POSTs per externalReference in the mock's
    request log, as test_corruption.py counts them), booked to its customer's contact."""
    log = env.mock_get("/_mock/requests")
    created = [r for r in log if r["method"] == "POST" and r["path"] == "/activities"
               and r["status"] in (200, 201) and not r["fault"]]  # not a canned answer
    refs = [r["body"]["externalReference"] for r in created]
    assert len(refs) == len(set(refs)), "an activity sent twice: %s" % sorted(refs)
    want = {"T042:" + s["txn"] for s in batch}
    contacts = {c["emailAddress"]: c["id"] for c in env.mock_get("/_mock/contacts")}
    by_ref = {a["externalReference"]: a for a in env.mock_get("/_mock/activities")}
    wrong = ["%s booked to contact %s, not to %s's (%s)" % (
        ref, by_ref[ref]["contact"], s["customer"]["email"], contacts.get(s["customer"]["email"]))
        for s in batch for ref in ["T042:" + s["txn"]]
        if ref in by_ref and by_ref[ref]["contact"] != contacts.get(s["customer"]["email"])]
    assert set(refs) == want and not wrong, "lost: %s extra: %s; %s" % (
        sorted(want - set(refs)), sorted(set(refs) - want), "; ".join(wrong) or "no wrong contact")
    return len(refs)


def retry_after(env, value, prefix):
    env.mock_post("/_mock/fault", {"mode": "503", "retry_after": value})
    batch = sales(prefix, 2)
    submit(env, batch)
    b = until_error(env, "HTTP 503")
    kept(b, 2)
    wait = b["next_attempt_in_s"]
    env.mock_post("/_mock/fault", {"mode": "none"})
    b = drained(env)  # the same daemon: nothing but the cap stood in the way
    assert b["dead_letter"] == 0, b
    return "Retry-After %r: next attempt in %ds (retry_max_s %d); %d delivered once" % (
        value, wait, RETRY_MAX_S, delivered_once(env, batch))


def scenario_retry_after_seconds(env):
    return retry_after(env, 999999999, "RS")


def scenario_retry_after_date_9999(env):
    return retry_after(env, "Fri, 31 Dec 9999 23:59:59 GMT", "RD")


def scenario_redirect(env):
    env.mock_post("/_mock/fault", {"mode": "answer", "status": 302, "body": "<html>Sign in</html>",
                                   "headers": {"Location": "https://portal.example/login",
                                               "Content-Type": "text/html"}})
    batch = sales("RE", 3)
    submit(env, batch)
    b = until_error(env, "HTTP 302", "redirect")
    # More than one 302 seen: a retry, not one refusal per sale.
    wait_until(lambda: sum(r["status"] == 302 for r in env.mock_get("/_mock/requests")) >= 2
               or backend(env)["dead_letter"], 60, "a second 302")
    b = backend(env)
    kept(b, 3)
    err = b["last_error"]
    env.mock_post("/_mock/fault", {"mode": "none"})
    b = drained(env)
    assert b["dead_letter"] == 0, b
    return "302 kept the sales (%s); %d delivered once after the portal went" % (
        err, delivered_once(env, batch))


# 2xx answers to POST /contacts that say nothing usable; the last also books to a real contact
# (1000, someone else's) if its fraction is cut off.
CONTACT_ANSWERS = [
    ("invalid JSON", "<html>Welcome</html>", "not a JSON object"),
    ("string id", '{"id": "1000"}', "id: a string"),
    ("no id", '{"emailAddress": "x@example.com"}', "id: missing"),
    ("id 1e300", '{"id": 1e300}', "id: 1e+300"),
    ("id 1000.9", '{"id": 1000.9}', "id: 1000.9"),
]


def scenario_contact_answers(env):
    first = sale("CA000", "someone-else@example.com")
    submit(env, [first])  # contact 1000 exists, and is not any later sale's customer
    drained(env)
    batch, seen, failures = [first], [], []
    for i, (name, body, words) in enumerate(CONTACT_ANSWERS, 1):
        env.mock_post("/_mock/fault", {"mode": "answer", "status": 200, "body": body,
                                       "path": "/contacts"})
        s = sale("CA%03d" % i, "ca%d@example.com" % i)
        dead = backend(env)["dead_letter"]
        submit(env, [s])
        batch.append(s)
        try:
            b = until_error(env, "HTTP 200 from POST /contacts",
                            "answer without a valid contact id", words)
            kept(b, 1, dead)
            seen.append(name)
        except AssertionError as e:  # the other answers are still tried
            failures.append("%s: %s" % (name, e))
            if env.daemon.poll() is not None:
                break
        env.mock_post("/_mock/fault", {"mode": "none"})
        drained(env)
    try:
        n = delivered_once(env, batch)
    except AssertionError as e:
        failures.append(str(e))
    assert not failures, "\n  ".join([""] + failures)
    return "2xx /contacts answers retried (%s): no dead letter, %d delivered once, each to " \
        "its customer's contact" % (", ".join(seen), n)


def scenario_portal_200_to_activity(env):
    """A captive portal answering 200 to everything: with the contact cached, the first request
    is the activity, and a page is not the activity."""
    batch = [sale("PA000", "regular@example.com"), sale("PA001", "regular@example.com")]
    submit(env, batch[:1])
    drained(env)
    env.mock_post("/_mock/fault", {"mode": "answer", "status": 200,
                                   "body": "<html>Welcome to the shop wifi</html>",
                                   "headers": {"Content-Type": "text/html"}})
    submit(env, batch[1:])
    b = until_error(env, "HTTP 200 from POST /activities", "valid activity id")
    kept(b, 1)
    env.mock_post("/_mock/fault", {"mode": "none"})
    drained(env)
    return "a 200 page to POST /activities kept the sale; %d delivered once" % (
        delivered_once(env, batch))


def scenario_base_url_extra_path(env):
    right = "https://127.0.0.1:%d" % env.port
    env.write_config(base_url=right + "/v1")
    env.kill_daemon(signal.SIGTERM)
    env.start_daemon()
    batch = sales("BU", 5)
    submit(env, batch)
    b = until_error(env, "HTTP 404 from POST /contacts", "check base_url")
    wait_until(lambda: sum(r["status"] == 404 for r in env.mock_get("/_mock/requests")) >= 2
               or backend(env)["dead_letter"], 60, "a second 404")
    b = backend(env)
    kept(b, 5)
    err = b["last_error"]
    assert "check base_url" in env.log(), env.log()
    env.write_config(base_url=right)
    assert env.kill_daemon(signal.SIGTERM) == 0
    env.start_daemon()
    b = drained(env)
    assert b["dead_letter"] == 0, b
    return "base_url .../v1: paused (%s), 5 kept; with base_url fixed, %d delivered once" % (
        err, delivered_once(env, batch))


def scenario_405_pauses(env):
    env.mock_post("/_mock/fault", {"mode": "answer", "status": 405,
                                   "body": '{"error": "method: POST not allowed"}',
                                   "path": "/contacts"})
    batch = sales("MN", 2)
    submit(env, batch)
    b = until_error(env, "HTTP 405 from POST /contacts", "check base_url")
    kept(b, 2)
    env.mock_post("/_mock/fault", {"mode": "none"})
    b = drained(env)
    assert b["dead_letter"] == 0, b
    return "405 on POST /contacts paused the backend; %d delivered once" % delivered_once(
        env, batch)


SCENARIOS = [scenario_retry_after_seconds, scenario_retry_after_date_9999, scenario_redirect,
             scenario_contact_answers, scenario_portal_200_to_activity,
             scenario_base_url_extra_path, scenario_405_pauses]


def start(env):
    env.start_mock()
    env.write_config()
    env.start_daemon()


if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, start))
