#!/usr/bin/env python3
"""Issue 2, acceptance 3: 200 sales through the POS socket, 10 of them malformed; the API goes
away for part of the run; the daemon is SIGKILLed and restarted mid-run. The mock must end with
exactly the 190 valid sales, once each, with the right fields."""

import random
import signal
import sys
import threading

from harness import Env, Pos, parse_args, wait_until

MALFORMED = [  # (request, field the error must name)
    ({"event": "sale.completed", "txn": "bad-1", "at": "2026-04-07T19:45:00+01:00",
      "currency": "GBP"}, "total"),
    ({"event": "sale.completed", "txn": "bad-2", "at": "2026-04-07T19:45:00+01:00",
      "total": 100, "currency": "XYZ"}, "currency"),
    ({"event": "sale.completed", "txn": "bad-3", "at": "07/04/2026 19:45", "total": 100,
      "currency": "GBP"}, "at"),
    ({"event": "sale.completed", "txn": "bad 4!", "at": "2026-04-07T19:45:00Z", "total": 100,
      "currency": "GBP"}, "txn"),
    ({"event": "sale.completed", "txn": "bad-5", "at": "2026-04-07T19:45:00Z", "total": -5,
      "currency": "GBP"}, "total"),
    ({"event": "sale.completed", "txn": "bad-6", "at": "2026-04-07T19:45:00Z", "total": 100,
      "currency": "GBP", "customer": {"email": "a@b.example", "first_name": "4111 1111 1111 1111"}},
     "customer.first_name"),
    ({"event": "sale.completed", "txn": "bad-7", "at": "2026-04-07T19:45:00Z", "total": 100,
      "currency": "GBP", "items": [{"sku": "A", "name": "Tea", "qty": 0, "unit_price": 100}]},
     "items[0].qty"),
    ({"event": "sale.refunded", "txn": "bad-8", "at": "2026-04-07T19:45:00Z", "total": 100,
      "currency": "GBP"}, "event"),
    ('{"event": "sale.completed", "txn": "bad-9", ', "request"),
    ({"event": "sale.completed", "txn": "bad-10", "at": "2026-02-30T10:00:00Z", "total": 100,
      "currency": "GBP"}, "at"),
]


def make_sales(rng):
    sales = []
    for i in range(190):
        sale = {"event": "sale.completed", "txn": "S%06d" % i,
                "at": "2026-04-%02dT%02d:%02d:00+01:00" % (1 + i % 28, i % 24, i % 60),
                "total": rng.randrange(0, 100000), "currency": rng.choice(["GBP", "EUR", "USD"]),
                "items": [{"sku": "SKU%d" % i, "name": "Item %d" % i, "qty": 1,
                           "unit_price": 100}]}
        if i % 10 != 3:  # every tenth sale is anonymous: booked to the walk-in contact
            sale["customer"] = {"email": "customer%d@example.com" % (i % 37),
                                "first_name": "Cust", "last_name": str(i % 37)}
        if i % 17 == 0:
            sale["source"] = "kiosk"
        sales.append(sale)
    stream = [("sale", s) for s in sales]
    for k, bad in enumerate(MALFORMED):
        stream.insert(rng.randrange(0, len(stream)) if k else 5, ("bad", bad))
    return sales, stream


def main():
    args = parse_args()
    with Env(args, "sale-path") as env:
        rng = random.Random(2)
        sales, stream = make_sales(rng)
        env.start_mock()
        env.write_config()
        env.start_daemon()
        pos = Pos(env.pos_socket)
        refs = {}
        restarted = threading.Event()
        restart_error = []

        def send(i, item):
            kind, payload = item
            while True:
                try:
                    return pos.request(payload if kind == "sale" else payload[0])
                except (ConnectionError, OSError):
                    # The daemon died under us: as a POS would, resend what got no reply.
                    pos.close()
                    wait_until(lambda: restarted.is_set() or restart_error, 60, "daemon restart")
                    assert not restart_error, restart_error[0]
                    wait_until(lambda: env.daemon is not None and env.daemon_ready(), 60,
                               "daemon ready")

        for i, item in enumerate(stream):
            if i == 50:
                env.kill_mock()  # the API goes away: sales must still be acknowledged
            if i == 110:
                # SIGKILL from another thread while this request is in progress.
                def killer():
                    try:
                        env.kill_daemon()
                        env.start_daemon()
                        restarted.set()
                    except Exception as e:  # report it in the main thread, not a 60 s wait
                        restart_error.append(e)
                t = threading.Thread(target=killer)
                t.start()
            reply = send(i, item)
            if i == 110:
                t.join()
            kind, payload = item
            if kind == "bad":
                field = payload[1]
                assert reply.get("ok") is False, (payload, reply)
                assert reply["error"].startswith(field + ":"), (field, reply)
                assert "retry" not in reply, reply
            else:
                assert reply.get("ok") is True, (payload, reply)
                expect = "T042:" + payload["txn"]
                assert reply["ref"] == expect, reply
                refs[payload["txn"]] = reply
            if i == 140:
                env.start_mock()  # the API comes back on the same port
        pos.close()

        # A resend of a stored sale is answered as a duplicate, not stored again.
        pos = Pos(env.pos_socket)
        dup = pos.request(sales[7])
        assert dup == {"ok": True, "ref": "T042:S000007", "duplicate": True}, dup
        pos.close()

        def drained():
            st = env.status()["backends"][0]
            return st["queued"] == 0 and st
        st = wait_until(drained, 120, "backlog to drain", interval=0.5)
        acts = env.mock_get("/_mock/activities")
        contacts = {c["id"]: c for c in env.mock_get("/_mock/contacts")}
        by_ref = {}
        for a in acts:
            assert a["externalReference"] not in by_ref, "duplicate activity %s" % a
            by_ref[a["externalReference"]] = a
        assert len(acts) == 190, "mock has %d activities, expected 190" % len(acts)
        for s in sales:
            a = by_ref["T042:" + s["txn"]]
            assert a["type"] == "Purchase", a
            assert a["spend"] == s["total"] and a["currencyCode"] == s["currency"], (s, a)
            assert a["happenedAt"] == s["at"], (s, a)
            assert a["source"] == s.get("source", "till"), (s, a)
            email = s["customer"]["email"] if "customer" in s else "walk-in@shop.example"
            assert contacts[a["contact"]]["emailAddress"] == email, (s, a)
        assert st["delivered"] >= 190 - 0 and st["dead_letter"] == 0, st
        requests = env.mock_get("/_mock/requests")
        assert all(r["api_key"] == "ok" for r in requests), "a request without the key"
        assert "test-key" not in env.log(), "the API key leaked into the log"
        # A clean stop keeps delivery progress: the offline check finds nothing owed.
        assert env.kill_daemon(signal.SIGTERM) == 0
        v = env.ctl("verify")
        assert v.returncode == 0, v.stdout + v.stderr
        assert "glu: 0 queued, 190 delivered, 0 dead-lettered" in v.stdout, v.stdout
        assert "0 corrupt" in v.stdout and "verdict   healthy" in v.stdout, v.stdout
        print("ok: 190 valid sales delivered once each, 10 malformed refused by field; "
              "%d API requests in all; status: %s" % (len(requests), st))
    return 0


if __name__ == "__main__":
    sys.exit(main())
