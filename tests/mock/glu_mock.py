#!/usr/bin/env python3
"""Mock of the Glu customer-platform API over HTTPS, for tillsync's integration tests and demo.

Stands in for https://api.glu.io as described by shared/seeds/glu-contacts.md and
shared/seeds/glu-add-an-activity-to-a-contact.md. Python standard library only.

    glu_mock.py --port PORT --cert CERT.pem --key KEY.pem --api-key-file FILE
                [--state STATE.json] [--host 127.0.0.1] [--port-file F] [--verbose]

API (header x-api-key required, else 401):
    POST /contacts            create-or-update by emailAddress (case-insensitive), else phoneNumber
    GET  /contacts?emailAddress[]=x[&phoneNumber[]=y]   list of matching contacts (all if no filter)
    GET  /contacts/{id}
    POST /activities          validated as the seed describes; deduplicated on
                              type + externalReference (the stored activity comes back, 200)
    GET  /activities/{id}
Errors are JSON {"error": "<field>: <reason>"}: 400 bad JSON, 401 key, 404, 405, 413, 415 not JSON,
422 validation.

Test control (no key, never affected by faults, not written to the request log):
    GET  /_mock/requests      every API request: method, path, headers (secrets removed), whether
                              the key was "ok"/"missing"/"invalid", parsed body, status, response,
                              fault applied, connection number (to check keep-alive reuse), time;
                              "status" is null and "dropped" true when no answer was sent
    GET  /_mock/contacts      GET /_mock/activities     full lists
    GET  /_mock/fault         current fault configuration
    POST /_mock/reset         forget contacts, activities, request log and faults
    POST /_mock/fault         replace the fault configuration, e.g.
         {"mode": "none"|"down"|"503"|"429"|"422"|"answer", "retry_after": N or "HTTP-date",
          "count": K, "slow": SECONDS, "reset_after_record": K, "path": "/contacts",
          "status": S, "body": "TEXT", "headers": {"Name": "value"}}

    mode "down" reads each API request and closes the connection without answering; "503"/"429"
    answer with that status (429 always with Retry-After, default 1; "retry_after" is sent as
    given, a number of seconds or any text such as an HTTP date). "answer" answers with "status"
    (default 200), "body" as raw text (default empty: it need not be JSON) and "headers" (e.g.
    {"Location": ...} with status 302), without applying the request: a strange server, a captive
    portal or a proxy. "path" limits the mode to API requests for that path (e.g. "/contacts");
    others are served normally and do not count. "count" limits the mode to the
    next K API requests, then it returns to "none"; without it the mode lasts until changed. "slow"
    delays every API answer (after the request has been applied). "reset_after_record" applies the
    next K successful POST /activities (201 or duplicate 200), then closes the connection without
    answering: the client cannot know whether the activity was recorded.

--state FILE keeps contacts, activities and the request log in FILE and reloads it on start: a
test can kill the mock (even with SIGKILL) and restart it on the same port without losing anything
it answered. FILE is JSON Lines, one line per API request, each {"request": <log entry>,
"contacts": [...], "activities": [...]} with the objects that request created or changed, appended
in one write before the answer goes out. Faults are not persisted.
"""

import argparse
import datetime
import hmac
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

ACTIVITY_TYPES = (
    "Booking", "Checked in", "Checked out", "Purchase", "Shopify order", "Gift card registered",
    "Login", "Connected to wifi", "Membership started", "Changed tier", "Membership cancelled",
    "Referral invite created", "Referral invite completed", "Golf reservation", "Table reservation",
)
# Types that are orders for the contact's totalOrders; every activity's spend counts to totalSpend
# ("All activities have a spend that is automatically applied to the contacts lifetime value").
ORDER_TYPES = {"Purchase", "Shopify order"}
# The type-specific extras the seed names are accepted (and echoed) but not checked further.
ACTIVITY_FIELDS = {"contact", "type", "source", "happenedAt", "spend", "currencyCode",
                   "externalReference", "booking", "giftCard", "referralInvite"}
ACTIVITY_EXTRAS = ("booking", "giftCard", "referralInvite")
CONTACT_FIELDS = ("emailAddress", "phoneNumber", "firstName", "lastName")
# Never let a credential reach the request log (or the state file on disk).
SECRET_HEADERS = {"x-api-key", "authorization", "proxy-authorization", "cookie", "x-secret-key"}
FAULT_OPTIONS = {"mode", "retry_after", "count", "slow", "reset_after_record", "path", "status",
                 "body", "headers"}
FAULT_MODES = ("none", "down", "503", "429", "422", "answer")

# Activity ids live in another range than contact ids so that a client mixing them up gets a
# 422/404 instead of silently hitting the wrong object.
FIRST_CONTACT_ID = 1000
FIRST_ACTIVITY_ID = 5000
MAX_BODY = 1 << 20
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 60  # keep-alive connections idle longer than this are closed, as real servers do

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CURRENCY = re.compile(r"[A-Z]{3}")


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Disconnected(Exception):
    """The client went away in the middle of a request."""


def fail(field, reason):
    raise ApiError(422, f"{field}: {reason}")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def shown(value):
    """A value as an error message quotes it: strings in single quotes, anything else as JSON."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_datetime(text):
    """RFC 3339 date-time with a mandatory offset; None if not one (fromisoformat alone would
    accept dates without a time and times without an offset)."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        return None
    try:
        return datetime.datetime.fromisoformat(text.upper())
    except ValueError:  # e.g. month 13, 30 February, hour 24
        return None


def write_atomic(path, text):
    # A reader (or a restarted mock) must see the old file or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=".glu_mock-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class State:
    """Contacts, activities and the request log. Callers hold `lock` around every use.

    With a path, every API request is appended to the file as one JSON line holding the request's
    log entry and the contacts and activities it created or changed (their new versions), in a
    single write(): a killed mock leaves whole lines only, and a restart replays them. Rewriting a
    whole snapshot instead made every request cost O(state): 24 ms at 3,000 logged requests,
    mostly ext4 flushing the replacement file on rename.
    """

    def __init__(self, path):
        self.lock = threading.Lock()
        self.path = path
        self.clear()
        if path and os.path.exists(path):
            self.load()

    def clear(self):
        self.contacts = {}  # id -> contact, in creation order
        self.activities = {}  # id -> activity
        self.requests = []
        self.by_email = {}  # lower-cased email -> contact
        self.by_ref = {}  # (type, externalReference) -> activity
        self.next_contact_id = FIRST_CONTACT_ID
        self.next_activity_id = FIRST_ACTIVITY_ID
        self.changed = {}  # ("contacts"|"activities", id) -> object, since the last commit

    def reset(self):
        self.clear()
        if self.path:
            write_atomic(self.path, "")

    def load(self):
        with open(self.path, "rb") as f:
            data = f.read()
        good = data.rfind(b"\n") + 1
        if good < len(data):
            # A write cut short (only a machine crash can do that); its request was never
            # answered. Cut it off, or the next line appended would be glued to it.
            print(f"glu_mock: {self.path}: dropping a torn last line", file=sys.stderr)
            os.truncate(self.path, good)
        for number, line in enumerate(data[:good].decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{self.path}:{number}: not a JSON line")
            for contact in record["contacts"]:
                self._index_contact(contact)
            for activity in record["activities"]:
                self._index_activity(activity)
            self.log_request(record["request"])
        self.next_contact_id = max(self.contacts, default=FIRST_CONTACT_ID - 1) + 1
        self.next_activity_id = max(self.activities, default=FIRST_ACTIVITY_ID - 1) + 1
        self.changed = {}

    def commit(self, entry):
        """Logs an API request together with the changes it made, and persists both."""
        self.log_request(entry)
        line = json.dumps({
            "request": entry,
            "contacts": [o for (kind, _), o in self.changed.items() if kind == "contacts"],
            "activities": [o for (kind, _), o in self.changed.items() if kind == "activities"],
        }) + "\n"
        self.changed = {}
        if self.path:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = line.encode()
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)

    # Called again whenever a contact changes.
    def _index_contact(self, contact):
        self.contacts[contact["id"]] = contact
        self.changed[("contacts", contact["id"])] = contact
        if contact["emailAddress"]:
            self.by_email[contact["emailAddress"].lower()] = contact

    def _index_activity(self, activity):
        self.activities[activity["id"]] = activity  # never changes once made
        self.changed[("activities", activity["id"])] = activity
        if activity["externalReference"] is not None:
            self.by_ref[(activity["type"], activity["externalReference"])] = activity

    def log_request(self, entry):
        entry["seq"] = len(self.requests) + 1
        self.requests.append(entry)

    def last_connection_id(self):
        return max((r.get("connection", 0) for r in self.requests), default=0)

    # --- contacts -------------------------------------------------------------------------

    def upsert_contact(self, body):
        for field in body:
            if field not in CONTACT_FIELDS:  # a typo in a field name must not vanish silently
                fail(field, "unknown field")
        for field in CONTACT_FIELDS:
            if field in body and not isinstance(body[field], str):
                fail(field, "must be a string")
        # An empty string is "not given": it neither identifies a contact nor erases a value.
        given = {f: body[f] for f in CONTACT_FIELDS if body.get(f)}
        email, phone = given.get("emailAddress"), given.get("phoneNumber")
        if email is not None:
            if not EMAIL.fullmatch(email):
                fail("emailAddress", f"not a valid email address: {shown(email)}")
            contact = self.by_email.get(email.lower())
        elif phone is not None:
            contact = next((c for c in self.contacts.values() if c["phoneNumber"] == phone), None)
        else:
            fail("emailAddress", "required (or phoneNumber)")

        now = now_iso()
        if contact is None:
            status = 201
            contact = {
                "id": self.next_contact_id, "emailAddress": None, "phoneNumber": None,
                "organisation": 1, "createdAt": now, "updatedAt": now, "referralInvites": [],
                "firstName": None, "lastName": None, "name": None, "timezone": "Europe/London",
                "totalSpend": 0, "lastInteractedAt": None, "totalOrders": 0,
            }
            self.next_contact_id += 1
        else:
            status = 200
            given.pop("emailAddress", None)  # keep the address as first written; only case differs
        contact.update(given)
        names = (contact["firstName"], contact["lastName"])
        contact["name"] = " ".join(n for n in names if n) or None
        contact["updatedAt"] = now
        self._index_contact(contact)
        return status, contact

    def find_contacts(self, query):
        def values(name):  # Glu's own form is name[]=...; accept the bare name too
            return query.get(name + "[]", []) + query.get(name, [])
        emails = {e.lower() for e in values("emailAddress")}
        phones = set(values("phoneNumber"))
        return [c for c in self.contacts.values()
                if (not emails or (c["emailAddress"] or "").lower() in emails)
                and (not phones or c["phoneNumber"] in phones)]

    # --- activities -----------------------------------------------------------------------

    def add_activity(self, body):
        unknown = sorted(set(body) - ACTIVITY_FIELDS)
        if unknown:
            fail(unknown[0], "unknown field")

        contact_id = body.get("contact")
        if contact_id is None:
            fail("contact", "required")
        if not is_int(contact_id):
            fail("contact", "must be an integer contact id")
        contact = self.contacts.get(contact_id)
        if contact is None:
            fail("contact", f"no contact with id {contact_id}")

        kind = body.get("type")
        if kind is None:
            fail("type", "required")
        if not isinstance(kind, str) or kind not in ACTIVITY_TYPES:
            fail("type", f"unknown activity type {shown(kind)}")

        source = body.get("source")
        if not isinstance(source, str) or not source:
            fail("source", "required, a non-empty string")

        happened_at = body.get("happenedAt")
        if happened_at is None:
            fail("happenedAt", "required")
        happened = parse_datetime(happened_at)
        if happened is None:
            fail("happenedAt", f"not an RFC 3339 date-time with an offset: {shown(happened_at)}")

        spend, currency = body.get("spend"), body.get("currencyCode")
        if kind == "Purchase" and spend is None:
            fail("spend", "required for a Purchase")
        if spend is not None and not (is_int(spend) and spend >= 0):
            fail("spend", f"must be an integer >= 0 (minor currency units), got {shown(spend)}")
        if kind == "Purchase" and currency is None:
            fail("currencyCode", "required for a Purchase")
        if currency is not None and not (isinstance(currency, str)
                                         and CURRENCY.fullmatch(currency)):
            fail("currencyCode", f"must be 3 uppercase letters (ISO 4217), got {shown(currency)}")

        ref = body.get("externalReference")
        if ref is not None and not (isinstance(ref, str) and ref):
            fail("externalReference", "must be a non-empty string")
        if "booking" in body and not isinstance(body["booking"], dict):
            fail("booking", "must be an object")

        # As Glu does: a duplicate returns the activity already stored, whatever else differs,
        # and the contact's totals are not touched again.
        existing = self.by_ref.get((kind, ref)) if ref is not None else None
        if existing is not None:
            return 200, existing

        now = now_iso()
        activity = {
            "id": self.next_activity_id, "contact": contact_id, "happenedAt": happened_at,
            "createdAt": now, "updatedAt": now, "type": kind, "source": source,
            "externalReference": ref, "spend": spend or 0, "currencyCode": currency,
        }
        activity.update({k: body[k] for k in ACTIVITY_EXTRAS if k in body})
        self.next_activity_id += 1
        self._index_activity(activity)

        contact["totalSpend"] += activity["spend"]
        if kind in ORDER_TYPES:
            contact["totalOrders"] += 1
        last = parse_datetime(contact["lastInteractedAt"])
        if last is None or happened > last:
            contact["lastInteractedAt"] = happened_at
        contact["updatedAt"] = now
        self._index_contact(contact)
        return 201, activity


class Faults:
    """Injected failures, shared by all connections. Configured only through POST /_mock/fault."""

    def __init__(self):
        self.lock = threading.Lock()
        self.configure({})

    def configure(self, spec):
        unknown = sorted(set(spec) - FAULT_OPTIONS)
        if unknown:  # a misspelt option would otherwise make a test pass for the wrong reason
            raise ApiError(400, f"{unknown[0]}: unknown fault option")
        mode = spec.get("mode", "none")
        mode = str(mode) if is_int(mode) else mode
        if mode not in FAULT_MODES:
            raise ApiError(400, f"mode: must be one of {', '.join(FAULT_MODES)}")
        count = spec.get("count")
        if count is not None and not (is_int(count) and count >= 0):
            raise ApiError(400, "count: must be an integer >= 0")
        retry_after = spec.get("retry_after")
        if retry_after is not None and not ((is_int(retry_after) and retry_after >= 0)
                                            or isinstance(retry_after, str)):
            raise ApiError(400, "retry_after: must be an integer >= 0 or a string")
        path = spec.get("path")
        if path is not None and not (isinstance(path, str) and path.startswith("/")):
            raise ApiError(400, "path: must be a path such as '/contacts'")
        status = spec.get("status", 200)
        if not (is_int(status) and 100 <= status <= 599):
            raise ApiError(400, "status: must be an HTTP status from 100 to 599")
        body = spec.get("body", "")
        if not isinstance(body, str):
            raise ApiError(400, "body: must be a string (sent as it is)")
        headers = spec.get("headers", {})
        if not (isinstance(headers, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
            raise ApiError(400, "headers: must be an object of strings")
        slow = spec.get("slow", 0)
        if not (isinstance(slow, (int, float)) and not isinstance(slow, bool) and slow >= 0):
            raise ApiError(400, "slow: must be a number of seconds >= 0")
        reset_after_record = spec.get("reset_after_record", 0)
        if not (is_int(reset_after_record) and reset_after_record >= 0):
            raise ApiError(400, "reset_after_record: must be an integer >= 0")
        with self.lock:
            self.mode = "none" if spec.get("count") == 0 else mode
            self.count = spec.get("count") if self.mode != "none" else None
            self.retry_after = retry_after
            self.slow = slow
            self.reset_after_record = reset_after_record
            self.path = path
            self.answer = {"status": status, "body": body, "headers": headers}

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "count": self.count, "retry_after": self.retry_after,
                    "slow": self.slow, "reset_after_record": self.reset_after_record,
                    "path": self.path, **self.answer}

    def canned_answer(self):
        with self.lock:
            return dict(self.answer)

    def take(self, path):
        """Called once per API request: the mode that applies to it (None if normal) and the
        delay, consuming one unit of `count`."""
        with self.lock:
            mode = None if self.mode == "none" else self.mode
            if self.path is not None and path.rstrip("/") != self.path.rstrip("/"):
                mode = None
            if mode and self.count is not None:
                self.count -= 1
                if self.count <= 0:
                    self.mode, self.count = "none", None
            return mode, self.retry_after, self.slow

    def take_reset_after_record(self):
        with self.lock:
            if self.reset_after_record > 0:
                self.reset_after_record -= 1
                return True
            return False


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 with a Content-Length on every answer, so clients can keep connections alive.
    protocol_version = "HTTP/1.1"
    server_version = "glu_mock/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def setup(self):
        super().setup()
        self.connection_id = self.server.new_connection_id()
        self.connection_requests = 0

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        self.connection_requests += 1
        url = urlsplit(self.path)
        try:
            raw = self.read_body()
        except Disconnected:
            self.close_connection = True
            return
        except ApiError as e:
            # The request's framing is broken, so nothing after it on this connection can be parsed.
            self.close_connection = True
            self.reply(e.status, {"error": e.message})
            return
        if url.path == "/_mock" or url.path.startswith("/_mock/"):
            self.control(url, raw)
        else:
            self.api(url, raw)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- HTTP plumbing --------------------------------------------------------------------

    def read_body(self):
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                raise ApiError(501, f"Transfer-Encoding: '{encoding}' not supported")
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise ApiError(400, f"Content-Length: invalid: '{length}'")
        if int(length) > MAX_BODY:
            raise ApiError(413, f"body: larger than {MAX_BODY} bytes")
        return self.read_exactly(int(length))

    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) < n:
            raise Disconnected()
        return data

    def read_chunked(self):
        # libcurl sends chunked bodies when a read callback gives no size up front.
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise Disconnected()
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "body: bad chunk size")
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise ApiError(413, f"body: larger than {MAX_BODY} bytes")
            chunks.append(self.read_exactly(size))
            self.rfile.readline(1024)  # the CRLF closing the chunk
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def reply(self, status, payload, headers=None):
        body = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def reply_raw(self, status, body, headers):
        """An answer exactly as a fault asks: any status, any bytes, any headers."""
        self.send_response(status)
        if not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def json_body(self, raw, strict_type=True):
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        # libcurl's default for a POST body is application/x-www-form-urlencoded, which the real
        # API refuses; catch a client that forgot to say JSON.
        if strict_type and content_type not in ("application/json", "application/ld+json"):
            raise ApiError(415, f"Content-Type: expected application/json, got '{content_type}'")
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=self._reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, f"body: invalid JSON: {e}")
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        return body

    @staticmethod
    def _reject_constant(name):
        raise ValueError(f"{name} is not JSON")

    def api_key_state(self):
        got = self.headers.get("x-api-key")
        if got is None:
            return "missing"
        ok = hmac.compare_digest(got.encode("utf-8", "replace"), self.server.api_key.encode())
        return "ok" if ok else "invalid"

    # --- the API --------------------------------------------------------------------------

    def api(self, url, raw):
        state, faults = self.server.state, self.server.faults
        mode, retry_after, slow = faults.take(url.path)
        key_state = self.api_key_state()
        headers, applied, dropped, raw_answer = {}, mode, False, False
        with state.lock:
            if mode == "down":
                status, payload, dropped = None, None, True
            elif mode == "answer":
                canned = faults.canned_answer()
                status, payload, raw_answer = canned["status"], canned["body"], True
                headers = dict(canned["headers"])
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
            elif mode is not None:
                status = int(mode)
                payload = {"error": {"429": "mock fault: rate limited",
                                     "422": "spend: mock fault: rejected"}.get(
                                         mode, "mock fault: service unavailable")}
                if mode == "429" or retry_after is not None:
                    headers["Retry-After"] = str(1 if retry_after is None else retry_after)
            elif key_state != "ok":
                status, payload = 401, {"error": f"x-api-key: {key_state}"}
            else:
                try:
                    status, payload = self.route(url, raw)
                except ApiError as e:
                    status, payload, headers = e.status, {"error": e.message}, e.headers
                if (self.command == "POST" and url.path.rstrip("/") == "/activities"
                        and status in (200, 201) and faults.take_reset_after_record()):
                    applied, dropped, status = "reset_after_record", True, None
            # A copy, taken under the lock: the contact or activity goes on changing with later
            # requests, and both the log and this answer must show it as it was now.
            payload = json.loads(json.dumps(payload))
            state.commit(self.log_entry(raw, key_state, status, payload, applied, dropped))
        if slow:
            time.sleep(slow)
        if dropped:
            self.close_connection = True
            return
        if raw_answer:
            self.reply_raw(status, payload.encode(), headers)
        else:
            self.reply(status, payload, headers)

    def route(self, url, raw):
        state, method = self.server.state, self.command
        path = url.path.rstrip("/")
        if path == "/contacts":
            if method == "POST":
                return state.upsert_contact(self.json_body(raw))
            if method == "GET":
                return 200, state.find_contacts(parse_qs(url.query, keep_blank_values=True))
            raise ApiError(405, f"method: {method} not allowed", {"Allow": "GET, POST"})
        if path == "/activities":
            if method == "POST":
                return state.add_activity(self.json_body(raw))
            raise ApiError(405, f"method: {method} not allowed", {"Allow": "POST"})
        match = re.fullmatch(r"/(contacts|activities)/(\d+)", path)
        if match:
            if method != "GET":
                raise ApiError(405, f"method: {method} not allowed", {"Allow": "GET"})
            table, noun = ((state.contacts, "contact") if match[1] == "contacts"
                           else (state.activities, "activity"))
            found = table.get(int(match[2]))
            if found is None:
                raise ApiError(404, f"id: no {noun} with id {match[2]}")
            return 200, found
        raise ApiError(404, f"path: no such resource: {url.path}")

    def log_entry(self, raw, key_state, status, payload, fault, dropped):
        entry = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "connection": self.connection_id,
            "connection_request": self.connection_requests,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()
                        if k.lower() not in SECRET_HEADERS},
            "api_key": key_state,
            "body": None,
            "status": status,
            "response": payload,
            "fault": fault,
            "dropped": dropped,
        }
        if raw:
            try:
                entry["body"] = json.loads(raw.decode("utf-8"))
            except ValueError:  # includes UnicodeDecodeError
                entry["body_raw"] = raw[:4096].decode("utf-8", "replace")
        return entry

    # --- test control ---------------------------------------------------------------------

    def control(self, url, raw):
        state, faults, method = self.server.state, self.server.faults, self.command
        path = url.path.rstrip("/")
        lists = {"/_mock/requests": "requests", "/_mock/contacts": "contacts",
                 "/_mock/activities": "activities"}
        try:
            if path in lists and method == "GET":
                with state.lock:  # serialise now: contacts change under concurrent requests
                    items = getattr(state, lists[path])
                    payload = json.loads(json.dumps(
                        items if isinstance(items, list) else list(items.values())))
                self.reply(200, payload)
            elif path == "/_mock/fault" and method == "GET":
                self.reply(200, faults.snapshot())
            elif path == "/_mock/fault" and method == "POST":
                faults.configure(self.json_body(raw, strict_type=False))
                self.reply(200, faults.snapshot())
            elif path == "/_mock/reset" and method == "POST":
                with state.lock:
                    state.reset()
                faults.configure({})
                self.reply(200, {"ok": True})
            else:
                self.reply(404, {"error": f"path: no such control endpoint: {method} {url.path}"})
        except ApiError as e:
            self.reply(e.status, {"error": e.message})


class MockServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, ssl_context, state, api_key, verbose):
        self.ssl_context, self.state = ssl_context, state
        self.api_key, self.verbose = api_key, verbose
        self.faults = Faults()
        # Connection numbers continue across restarts so the persisted log stays unambiguous.
        self._connections = state.last_connection_id()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def new_connection_id(self):
        with self._connections_lock:
            self._connections += 1
            return self._connections

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, rather than on the
        # listening socket, where one stalled or failing client would block every accept.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body are
        request.settimeout(HANDSHAKE_TIMEOUT)                          # separate small writes
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:  # e.g. a client that rejects our certificate
            if self.verbose:
                print(f"glu_mock: TLS handshake with {client_address[0]} failed: {e}",
                      file=sys.stderr)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            # wrap_socket detached `request`, so the socketserver's own close would not reach the
            # connection. Closing here is also what "drops" a connection: the client reads EOF.
            try:
                tls.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            tls.close()

    def handle_error(self, request, client_address):
        # Clients vanishing mid-answer are normal in fault tests; keep stderr quiet.
        if self.verbose:
            super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description="Mock of the Glu API over HTTPS.")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--cert", required=True, help="server certificate (PEM, may hold a chain)")
    parser.add_argument("--key", required=True, help="server private key (PEM)")
    parser.add_argument("--api-key-file", required=True)
    parser.add_argument("--state", help="keep state in this file (JSON Lines), reload it on start")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-file", help="write the chosen port here (atomically)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    try:
        with open(args.api_key_file) as f:
            api_key = f.read().strip()
        if not api_key:
            raise ValueError(f"{args.api_key_file} is empty")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as e:  # neither names the file
            raise ValueError(f"--cert {args.cert} / --key {args.key}: {e}")
        # Say HTTP/1.1 explicitly so clients built with HTTP/2 do not try to negotiate it.
        context.set_alpn_protocols(["http/1.1"])
        state = State(args.state)
        server = MockServer((args.host, args.port), context, state, api_key, args.verbose)
    except (OSError, ValueError, KeyError, ssl.SSLError) as e:
        print(f"glu_mock: {e}", file=sys.stderr)
        return 2

    port = server.server_address[1]
    if args.port_file:
        write_atomic(args.port_file, f"{port}\n")
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"glu_mock listening on https://{host}:{port}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
