#!/usr/bin/env python3
"""What bench_drain.sh needs to know about each platform, and the arithmetic of its report.

    drain_platforms.py kinds                         the platforms this file describes
    drain_platforms.py nginx KIND                    nginx location blocks: the platform's
                                                     endpoints, each answering canned JSON
    drain_platforms.py backend KIND WORK URL CA      the "backends" entry of tillsync.json (its
                                                     key files are written into WORK)
    drain_platforms.py store SOCK PREFIX N EMAILS [FIRST]
                                                     N sales (txn PREFIX000000...) through the
                                                     POS socket; sale i's customer is i % EMAILS
    drain_platforms.py curl KIND URL CA N DIR        the requests a sale with a cached contact
                                                     costs, for N sales: DIR/all.cfg (curl -K,
                                                     every request), DIR/sale/NNNNNN.cfg (one
                                                     sale's), DIR/requests.tsv (post_noreuse)
    drain_platforms.py stats KIND LOG FROM TO OUT    access-log lines FROM..TO (1-based) as JSON
                                                     in OUT; prints shell assignments
    drain_platforms.py report KIND DIR               the platform's table from DIR/*.json

The canned answers are the shapes of the seeds and the contract (/work/shared): they are what a
plugin must understand, not a mock: nothing is checked or stored (tests/mock/ does that).
"""
import json
import os
import re
import sys

TERMINAL = "T042"
API_KEY = "bench-key-5d1e"
SECRET_KEY = "bench-secret-77a0"
APP_ID = "bench-app-0001"
GLU_ID = 1001
GLEANTAP_ID = "64b7f0c2a1d3e4f5a6b7c8d9"
GIVEBUTTER_ID = 1001

# Givebutter's list pages (contacts, a contact's activities): data, links, meta.
def _gb_page(path, items):
    return {"data": items,
            "links": {"first": path + "?page=1", "last": path + "?page=1", "prev": None,
                      "next": None},
            "meta": {"current_page": 1, "from": 1 if items else None, "last_page": 1,
                     "path": path, "per_page": 20, "to": len(items) or None,
                     "total": len(items)}}


GB_CONTACT = {"id": GIVEBUTTER_ID, "type": "individual", "prefix": None, "first_name": "Pat",
              "middle_name": None, "last_name": "Customer", "suffix": None, "dob": None,
              "company": None, "title": None, "twitter_url": None, "linkedin_url": None,
              "facebook_url": None, "emails": [], "phones": [], "primary_email": None,
              "primary_phone": None, "note": None, "addresses": [], "primary_address": None,
              "stats": {}, "tags": [], "custom_fields": [], "external_ids": [],
              "is_email_subscribed": False, "is_phone_subscribed": False,
              "is_address_subscribed": False, "archived_at": None,
              "created_at": "2026-04-01T09:00:00Z", "updated_at": "2026-04-01T09:00:00Z"}
GB_ACTIVITY = {"id": "80001", "type": "note", "source": "api",
               "data": "", "resource": None, "resource_type": None,
               "occurred_at": "2026-04-07T09:45:00Z", "created_at": "2026-04-07T09:45:01Z",
               "updated_at": "2026-04-07T09:45:01Z", "created_by": None}


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


def sale(i, prefix, emails):
    """Sale i of a backlog: customer i % emails (a regular: email and names), one or two items,
    the store's local time an hour ahead of UTC (the day's last hour is the next UTC day)."""
    c = i % emails
    items = [{"sku": "A%d" % (i % 7), "name": "Latte", "qty": 1 + i % 3, "unit_price": 375}]
    if i % 2:
        items.append({"sku": "B%d" % (i % 5), "name": "Croissant", "qty": 1, "unit_price": 260})
    return {"event": "sale.completed", "txn": "%s%06d" % (prefix, i),
            "at": "2026-04-%02dT%02d:%02d:%02d+01:00" % (1 + i % 28, i % 24, i % 60,
                                                          (i * 7) % 60),
            "total": sum(it["qty"] * it["unit_price"] for it in items), "currency": "GBP",
            "customer": {"email": "customer%03d@shop.example" % c, "first_name": "Pat",
                         "last_name": "Customer%03d" % c},
            "items": items}


def utc(at):
    """2026-04-07T23:10:00+01:00 -> 2026-04-07T22:10:00Z (the bench's sales are all +01:00)."""
    import datetime
    t = datetime.datetime.fromisoformat(at)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the platforms -----------------------------------------------------------------------------
# nginx: (location, [(method or None for any other, status, body)]); an unknown path is 404.
# cached: the requests of one sale whose contact is cached, as the plugin builds them (curl sends
# the same: same method, path, headers and body shape). lookups: requests a plugin makes only for
# a sale in doubt (reported apart). record: the request that leaves the sale on the platform.
def glu_cached(s):
    ref = "%s:%s" % (TERMINAL, s["txn"])
    return [("POST", "/activities", j({"contact": GLU_ID, "type": "Purchase", "source": "till",
                                       "happenedAt": s["at"], "spend": s["total"],
                                       "currencyCode": s["currency"],
                                       "externalReference": ref}))]


def gleantap_cached(s):
    ref = "%s:%s" % (TERMINAL, s["txn"])
    c = s["customer"]
    return [("POST", "/v2/ExternalApi/newEvent",
             j({"app_id": APP_ID, "user_id": GLEANTAP_ID, "email": c["email"],
                "event_type": "purchase", "event_date": s["at"][:10],
                "event_time": s["at"][11:19], "id": ref, "is_purchase": True,
                "event_data": {"total": s["total"], "currency": s["currency"],
                               "txn": s["txn"], "source": "till", "items": s["items"]}}))]


def givebutter_cached(s):
    ref = "%s:%s" % (TERMINAL, s["txn"])
    amount = "%s %d.%02d" % (s["currency"], s["total"] // 100, s["total"] % 100)
    return [("POST", "/v1/contacts/%d/activities" % GIVEBUTTER_ID,
             j({"type": "note", "subject": "POS sale %s" % ref,
                "note": "%s, source till, ref %s" % (amount, ref),
                "occurred_at": utc(s["at"]), "timezone": "+01:00"}))]


JSON_HEADERS = ["Content-Type: application/json", "Accept: application/json"]
PLATFORMS = {
    "glu": {
        "keys": {"api_key_file": "glu.key"},
        "headers": JSON_HEADERS + ["x-api-key: " + API_KEY],
        "nginx": [("= /contacts", [(None, 201, j({"id": GLU_ID}))]),
                  ("= /activities", [(None, 201, j({"id": GLU_ID}))])],
        "cached": glu_cached,
        "record": "POST /activities",
        "contact": ["POST /contacts"],
        "lookups": [],
    },
    "gleantap": {
        "keys": {"api_key_file": "gleantap-api.key", "secret_key_file": "gleantap-secret.key",
                 "app_id": APP_ID},
        "headers": JSON_HEADERS + ["X-API-KEY: " + API_KEY, "X-SECRET-KEY: " + SECRET_KEY],
        "nginx": [("= /v2/ExternalApi/newContact",
                   [(None, 200, j({"status": "success", "_id": GLEANTAP_ID}))]),
                  ("= /v2/ExternalApi/newEvent", [(None, 200, j({"result": "success"}))])],
        "cached": gleantap_cached,
        "record": "POST /v2/ExternalApi/newEvent",
        "contact": ["POST /v2/ExternalApi/newContact"],
        "lookups": [],
    },
    "givebutter": {
        "keys": {"api_key_file": "givebutter.key"},
        "headers": JSON_HEADERS + ["Authorization: Bearer " + API_KEY],
        # The look-up by email finds nobody (so a new customer costs GET + POST /v1/contacts);
        # a contact's activities are an empty page (an in-doubt sale is then sent).
        "nginx": [("= /v1/contacts",
                   [("POST", 201, j(GB_CONTACT)), (None, 200, j(_gb_page("/v1/contacts", [])))]),
                  ("~ ^/v1/contacts/[0-9]+$", [(None, 200, j(GB_CONTACT))]),
                  ("~ ^/v1/contacts/[0-9]+/activities$",
                   [("POST", 201, j(GB_ACTIVITY)),
                    (None, 200, j(_gb_page("/v1/contacts/%d/activities" % GIVEBUTTER_ID, [])))])],
        "cached": givebutter_cached,
        "record": "POST /v1/contacts/{id}/activities",
        # (a GET /v1/contacts/{id} would be for a cached contact: it counts against the sale)
        "contact": ["GET /v1/contacts", "POST /v1/contacts"],
        "lookups": ["GET /v1/contacts/{id}/activities"],
    },
}


def nginx_locations(kind):
    out = []
    for loc, answers in PLATFORMS[kind]["nginx"]:
        out.append("        location %s {" % loc)
        out.append("            default_type application/json;")
        for method, status, body in answers:
            assert "'" not in body
            ret = "return %d '%s';" % (status, body)
            out.append(("            if ($request_method = %s) { %s }" % (method, ret))
                       if method else "            " + ret)
        out.append("        }")
    out.append("        location / {")
    out.append("            default_type application/json;")
    out.append("            return 404 '{\"message\":\"no such endpoint in the bench\"}';")
    out.append("        }")
    return "\n".join(out)


def backend(kind, work, url, ca):
    b = {"name": kind, "kind": kind, "base_url": url, "ca_file": ca, "source": "till",
         "retry_max_s": 1}
    for key, value in PLATFORMS[kind]["keys"].items():
        if key.endswith("_file"):
            path = os.path.join(work, value)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write((SECRET_KEY if "secret" in key else API_KEY) + "\n")
            value = path
        b[key] = value
    return j(b)


def store(sock, prefix, n, emails, first=0):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
    from harness import Pos
    pos = Pos(sock)
    for i in range(first, first + n):
        r = pos.request(sale(i, prefix, emails))
        if not r.get("ok") or r.get("duplicate"):
            sys.exit("sale %d not stored: %r" % (i, r))
    pos.close()


def curl_quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def curl_files(kind, url, ca, n, out):
    p = PLATFORMS[kind]
    os.makedirs(os.path.join(out, "sale"), exist_ok=True)
    with open(os.path.join(out, "all.cfg"), "w") as every, \
            open(os.path.join(out, "requests.tsv"), "w") as tsv:
        for i in range(n):
            cfg = []
            for method, path, body in p["cached"](sale(i, "C", 100)):
                cfg += ["url = " + curl_quote(url + path), "cacert = " + curl_quote(ca),
                        "request = " + method, "fail", "silent", "show-error",
                        "output = /dev/null"]
                cfg += ["header = " + curl_quote(h) for h in p["headers"]]
                if body is not None:
                    cfg.append("data-binary = " + curl_quote(body))
                cfg.append("next")
                tsv.write("\t".join([method, url + path, body or "-"] + p["headers"]) + "\n")
            text = "\n".join(cfg[:-1]) + "\n"  # no "next" after a sale's last request
            with open(os.path.join(out, "sale", "%06d.cfg" % i), "w") as f:
                f.write(text)
            every.write(text + ("next\n" if i < n - 1 else ""))


def endpoint(method, uri):
    return "%s %s" % (method, re.sub(r"/[0-9]+(?=/|$)", "/{id}", uri))


def stats(kind, log, lo, hi, out):
    p = PLATFORMS[kind]
    with open(log) as f:
        rows = [line.split() for line in f.read().splitlines()[lo - 1:hi]]
    # $msec $connection $connection_requests $server_protocol $request_method $uri $status
    # $content_length $ssl_protocol
    per = {}
    bad = {}
    for r in rows:
        e = endpoint(r[4], r[5])
        per[e] = per.get(e, 0) + 1
        if not r[6].startswith("2"):
            bad[e + " " + r[6]] = bad.get(e + " " + r[6], 0) + 1
    rec = [int(r[7]) for r in rows if endpoint(r[4], r[5]) == p["record"] and r[7].isdigit()]
    t = [float(r[0]) for r in rows] or [0.0]
    s = {"requests": len(rows), "per_endpoint": per, "not_2xx": bad,
         "record": per.get(p["record"], 0),
         "contact": sum(per.get(e, 0) for e in p["contact"]),
         # A sale that missed the cache resolved its contact with each contact request at most
         # once (every answer here is a 2xx): so many sales at least, and exactly so many when
         # every miss starts with the same request (a look-up by email, or a create).
         "misses": max([per.get(e, 0) for e in p["contact"]]),
         "lookups": sum(per.get(e, 0) for e in p["lookups"]),
         "connections": len({r[1] for r in rows}),
         "protocols": ",".join(sorted({r[3] for r in rows})),
         "tls": ",".join(sorted({r[8] for r in rows})),
         "first": min(t), "last": max(t),
         "record_body": round(sum(rec) / len(rec)) if rec else 0}
    with open(out, "w") as f:
        json.dump(s, f)
    for k in ("requests", "record", "lookups", "connections"):
        print("%s=%d" % (k, s[k]))
    print("not_2xx=%d" % sum(bad.values()))
    print("first=%.3f" % s["first"])
    print("last=%.3f" % s["last"])


def load(d, name):
    path = os.path.join(d, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def report(kind, d):
    p = PLATFORMS[kind]
    meta = load(d, "meta")
    warm, drain = load(d, "warm"), load(d, "drain")
    sales = meta["sales"]
    print()
    print("== %s: nginx %s on 127.0.0.1, %s (test CA, verified), canned JSON per endpoint"
          % (kind, meta["nginx_version"], drain["tls"]))
    if warm:
        print("warm-up: %d sales, one per customer: %d requests (%s), %d not 2xx"
              % (meta["emails"], warm["requests"], per_text(warm["per_endpoint"]),
                 sum(warm["not_2xx"].values())))
    drain_s = max(drain["last"] - drain["first"], 1e-9)
    a = sales / drain_s
    e2e = sales / meta["e2e_s"]
    rows = [("(a) tillsyncd (drain)", sales, drain_s, a, drain)]
    for key, label, n in (("b", "(b) curl loop, 1 process/sale", "curl_sales"),
                          ("c", "(c) libcurl, no reuse", "noreuse_sales"),
                          ("d", "(d) 1 curl, reused conn.", "reuse_sales"),
                          ("e", "(e) curl --parallel --http2", "parallel_sales")):
        st = load(d, key)
        if st:
            rows.append((label, meta[n], meta[key + "_s"], meta[n] / meta[key + "_s"], st))
    print("%-31s %6s %8s %9s %8s %5s %9s %8s" % ("client", "sales", "seconds", "sales/s",
                                                  "req/sale", "conns", "protocol", "rec.body"))
    for label, n, el, rate, st in rows:
        print("%-31s %6d %8.3f %9.1f %8.2f %5d %9s %7dB"
              % (label, n, el, rate, st["requests"] / n, st["connections"], st["protocols"],
                 st["record_body"]))
    print("(a) end to end: %.3f s from nginx's start to queued == 0 = %.1f sales/s (first "
          "request %.3f s after nginx's start: its start-up and the daemon's retry backoff)"
          % (meta["e2e_s"], e2e, drain["first"] - meta["nginx_start"]))
    print("(a) requests by endpoint: %s; %d not 2xx; status: delivered %s, dead_letter %s"
          % (per_text(drain["per_endpoint"]), sum(drain["not_2xx"].values()), meta["delivered"],
             meta["dead_letter"]))
    # Every contact was resolved in the warm-up: a contact request in the drain is a cache miss
    # (the cache is direct-mapped: customers whose keys share a slot evict each other).
    hits = sales - drain["misses"]
    # ... and it recorded the sale too: once, as every answer is a 2xx.
    cached = (drain["requests"] - drain["lookups"] - drain["contact"] - drain["misses"]) / hits \
        if hits > 0 else float("inf")  # no sale found its contact cached: nothing to judge
    overall = (drain["requests"] - drain["lookups"]) / sales
    print("(a) requests per sale, in-doubt look-ups aside (%d): %.3f; %.3f for the %d sales whose "
          "contact was cached (%d missed the cache: %d contact requests)"
          % (drain["lookups"], overall, cached, hits, drain["misses"], drain["contact"]))
    print("load average at start: %s; at end: %s (2 cores: other work skews every figure)"
          % (meta["load0"], meta["load1"]))
    ok = lambda x: "PASS" if x else "MISSED"
    b, c = load(d, "b"), load(d, "c")
    if b:
        rb = meta["curl_sales"] / meta["b_s"]
        print("target (a) >= 20 x (b): %.1fx  %s   (end to end: %.1fx)"
              % (a / rb, ok(a >= 20 * rb), e2e / rb))
    if c:
        rc = meta["noreuse_sales"] / meta["c_s"]
        print("target (a) >=  3 x (c): %.2fx  %s   (end to end: %.2fx)"
              % (a / rc, ok(a >= 3 * rc), e2e / rc))
    if kind == "givebutter":
        print("target a Givebutter sale <= 2 requests once its contact is cached (in-doubt "
              "look-ups aside): %.3f  %s   (all sales, misses included: %.3f)"
              % (cached, ok(cached <= 2), overall))
    summary = {"kind": kind, "a": a, "e2e": e2e, "req_sale": drain["requests"] / sales,
               "cached": cached, "overall": overall,
               "lookups": drain["lookups"], "misses": drain["misses"]}
    for key, n in (("b", "curl_sales"), ("c", "noreuse_sales"), ("d", "reuse_sales"),
                   ("e", "parallel_sales")):
        if load(d, key):
            summary[key] = meta[n] / meta[key + "_s"]
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f)


def per_text(per):
    return ", ".join("%d %s" % (n, e) for e, n in sorted(per.items(), key=lambda x: -x[1])) \
        or "none"


def main(argv):
    cmd = argv[1]
    if cmd == "kinds":
        print(" ".join(PLATFORMS))
    elif cmd == "nginx":
        print(nginx_locations(argv[2]))
    elif cmd == "backend":
        print(backend(*argv[2:6]))
    elif cmd == "store":
        store(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]) if len(argv) > 6 else 0)
    elif cmd == "curl":
        curl_files(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    elif cmd == "stats":
        stats(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6])
    elif cmd == "report":
        report(argv[2], argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
