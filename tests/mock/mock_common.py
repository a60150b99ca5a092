"""What every mock platform API in tests/mock/ shares: HTTPS, the request log, persistence, the
test-control endpoints and the injected faults. Python standard library only.

A platform mock (glu_mock.py, gleantap_mock.py, givebutter_mock.py) is a subclass of `Platform`
and one call, `sys.exit(mock_common.main(MyPlatform))`. It declares:

    NAME = "gleantap_mock"          program name: messages, Server header, temp-file prefix
    DESCRIPTION = "..."             --help text
    COLLECTIONS = {"contacts": "_id", "events": "id"}
                                    the objects it keeps, each a table of JSON objects keyed by
                                    that field; every table is persisted, reloaded and listed at
                                    GET /_mock/<table> (in insertion order)
    ROUTES = [("POST", r"/v2/ExternalApi/newEvent", "new_event"),
              ("GET", r"/v1/contacts/(?P<contact>\\d+)", "get_contact"), ...]
                                    method, a regular expression that must match the whole path
                                    (query string and trailing "/" removed) and the name of a
                                    method called as handler(req, **named_groups) that returns
                                    (status, payload) or raises ApiError. A path that matches
                                    with another method gets 405 with Allow; no match gets 404.
    RECORD = ("POST", r"/v1/contacts/[^/]+/activities")
                                    the request that records what a sale leaves on the platform:
                                    "reset_after_record" drops the connection after the next K of
                                    these that succeeded (2xx), so the client cannot know
    FAULT_422_MESSAGE               the message of the "422" fault (optional)
    SECRET_HEADERS = {...}          more headers to keep out of the log (optional; x-api-key,
                                    x-secret-key, authorization, cookie are always removed)

and implements:

    add_arguments(parser)   classmethod: its own command-line options (keys, ids)
    __init__(self, args)    reads them (read_secret() reads a key file)
    auth(self, req)         -> ("ok"|"missing"|"invalid", message for the 401 or None); the state
                            goes to the log as "api_key"
    error_body(self, status, message) -> the JSON payload of an error answer in its own shape
    clear(self)             forget indexes and counters; the tables are empty again (on start,
                            on POST /_mock/reset, before a reload)
    indexed(self, table, obj)   obj was stored in table (new, changed or reloaded from --state):
                            update lookup indexes and id counters; the tables themselves are
                            self.state.tables[name] (id -> object)
    the route handlers:     handler(req, **groups) -> (status, payload). req.method, req.path
                            (no query), req.query (parse_qs: name -> list of values),
                            req.header(name), req.json() (415 unless application/json, 400 if
                            not a JSON object). Raise ApiError(status, message) naming the field,
                            with payload=... when the platform's error shape needs more than
                            error_body() makes. Store every new or changed object with
                            self.state.put(table, obj): that is what gets persisted with the
                            request. req.note(key=value) adds keys to its log entry (e.g.
                            duplicate=True, which tests count).

Handlers run under state.lock, one request at a time: they need no locking of their own. The
smallest mock, a sketch:

    class Givebutter(mock_common.Platform):
        NAME = "givebutter_mock"
        COLLECTIONS = {"contacts": "id", "activities": "id"}
        ROUTES = [("POST", r"/v1/contacts/(?P<contact>\d+)/activities", "add_activity"), ...]
        RECORD = ("POST", r"/v1/contacts/\d+/activities")

        @classmethod
        def add_arguments(cls, parser):
            parser.add_argument("--api-key-file", required=True)

        def __init__(self, args):
            super().__init__(args)
            self.api_key = mock_common.read_secret(args.api_key_file)

        def auth(self, req):
            got = req.header("Authorization")
            state = mock_common.secret_matches(
                got[7:] if got and got.startswith("Bearer ") else got, self.api_key)
            return state, f"Authorization: {state}"

        def clear(self):
            self.next_id = 1

        def indexed(self, table, obj):
            self.next_id = max(self.next_id, int(obj["id"]) + 1)

        def add_activity(self, req, contact):
            body = req.json()
            ...
            self.state.put("activities", activity)
            return 201, {"data": activity}

    if __name__ == "__main__":
        sys.exit(mock_common.main(Givebutter))

tests/integration/harness.py starts it as env.add_mock("givebutter") (Env.mock_args() says which
key files a kind gets) and integration.mocks is where its self-test belongs.

Test control (no key, never affected by faults, not written to the request log):
    GET  /_mock/requests      every API request: method, path, headers (secrets removed), whether
                              the key was "ok"/"missing"/"invalid", parsed body, status, response,
                              fault applied, connection number (to check keep-alive reuse), time;
                              "status" is null and "dropped" true when no answer was sent
    GET  /_mock/<table>       full list of a table's objects (e.g. /_mock/contacts)
    GET  /_mock/fault         current fault configuration
    POST /_mock/reset         forget every table, the request log and faults
    POST /_mock/fault         replace the fault configuration, e.g.
         {"mode": "none"|"down"|"503"|"429"|"422"|"answer", "retry_after": N or "HTTP-date",
          "count": K, "slow": SECONDS, "reset_after_record": K, "path": PATTERN, "method": M,
          "status": S, "body": "TEXT", "headers": {"Name": "value"}}

    mode "down" reads each API request and closes the connection without answering; "503"/"429"
    answer with that status (429 always with Retry-After, default 1; "retry_after" is sent as
    given, a number of seconds or any text such as an HTTP date); "422" answers 422 with the
    platform's error shape. "answer" answers with "status" (default 200), "body" as raw text
    (default empty: it need not be JSON) and "headers" (e.g. {"Location": ...} with status 302),
    without applying the request: a strange server, a captive portal or a proxy.
    "path" limits the mode to API requests whose path (without its query string; a trailing "/"
    ignored) matches PATTERN: "/contacts" is that path exactly; "*" stands for one path segment
    or part of one and "**" for anything, so "/v1/contacts/*/activities" and "/v2/**" work; a
    PATTERN starting with "^" is a regular expression that must match the whole path.
    "method" limits it likewise to one HTTP method. Other requests are served normally and do not
    count. "count" limits the mode to the next K API requests, then it returns to "none"; without
    it the mode lasts until changed. "slow" delays every API answer (after the request has been
    applied). "reset_after_record" applies the next K successful record requests (the platform's
    RECORD, e.g. Glu's POST /activities, including an answered duplicate), then closes the
    connection without answering: the client cannot know whether it was recorded.

--date-offset SECONDS sends every answer's Date header that far from this machine's clock: a
client whose clock is wrong (positive: the client's clock looks slow).

--state FILE keeps the tables and the request log in FILE and reloads it on start: a test can
kill the mock (even with SIGKILL) and restart it on the same port without losing anything it
answered. FILE is JSON Lines, one line per API request, each {"request": <log entry>, "<table>":
[...], ...} with the objects that request created or changed, appended in one write before the
answer goes out. Faults are not persisted.
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

# Never let a credential reach the request log (or the state file on disk).
SECRET_HEADERS = {"x-api-key", "authorization", "proxy-authorization", "cookie", "x-secret-key"}
FAULT_OPTIONS = {"mode", "retry_after", "count", "slow", "reset_after_record", "path", "method",
                 "status", "body", "headers"}
FAULT_MODES = ("none", "down", "503", "429", "422", "answer")

MAX_BODY = 1 << 20
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 60  # keep-alive connections idle longer than this are closed, as real servers do

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ApiError(Exception):
    """An error answer: the platform's error_body(status, message), or `payload` as given when
    the platform's shape needs more than a message (e.g. errors listed per field)."""

    def __init__(self, status, message, headers=None, payload=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
        self.payload = payload


class Disconnected(Exception):
    """The client went away in the middle of a request."""


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def shown(value):
    """A value as an error message quotes it: strings in single quotes, anything else as JSON."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def secret_matches(got, expected):
    """"missing", "ok" or "invalid", compared in constant time."""
    if got is None:
        return "missing"
    return "ok" if hmac.compare_digest(got.encode("utf-8", "replace"), expected.encode()) \
        else "invalid"


def read_secret(path):
    with open(path) as f:
        secret = f.read().strip()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def compile_path_pattern(pattern):
    """The fault option "path" as a compiled regular expression matched against a whole path."""
    if pattern.startswith("^"):
        try:
            return re.compile(pattern)
        except re.error as e:
            raise ApiError(400, f"path: not a regular expression: {e}")
    if not pattern.startswith("/"):
        raise ApiError(400, "path: must be a path such as '/contacts', a glob such as "
                            "'/v1/contacts/*/activities' or a regular expression starting with ^")
    parts = re.split(r"(\*\*|\*)", pattern.rstrip("/") or "/")
    return re.compile("".join({"**": ".*", "*": "[^/]*"}.get(p, re.escape(p)) for p in parts))


def path_matches(regex, path):
    return bool(regex.fullmatch(path.rstrip("/") or "/"))


def write_atomic(path, text, prefix="mock"):
    # A reader (or a restarted mock) must see the old file or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=f".{prefix}-", suffix=".tmp")
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


class Platform:
    """The part of a mock that is one platform's API; see the module docstring."""

    NAME = "mock"
    DESCRIPTION = "Mock of a platform API over HTTPS."
    COLLECTIONS = {}
    ROUTES = []
    RECORD = None
    FAULT_422_MESSAGE = "mock fault: rejected"
    SECRET_HEADERS = set()

    @classmethod
    def add_arguments(cls, parser):
        pass

    def __init__(self, args):
        self.state = None  # set by State before clear()

    def auth(self, req):
        return "ok", None

    def error_body(self, status, message):
        return {"error": message}

    def clear(self):
        pass

    def indexed(self, table, obj):
        pass

    def is_record(self, method, path, status):
        if self.RECORD is None or not 200 <= status <= 299:
            return False
        return method == self.RECORD[0] and bool(re.fullmatch(self.RECORD[1], path.rstrip("/")))

    def route(self, req):
        path = req.path.rstrip("/")
        allowed = set()
        for method, pattern, handler in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            if method == req.method:
                return getattr(self, handler)(req, **match.groupdict())
            allowed.add(method)
        if allowed:
            raise ApiError(405, f"method: {req.method} not allowed",
                           {"Allow": ", ".join(sorted(allowed))})
        raise ApiError(404, f"path: no such resource: {req.path}")


class Request:
    """An API request as a platform's handlers see it."""

    def __init__(self, handler, url, raw):
        self.method = handler.command
        self.path = url.path  # without the query string
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.headers = handler.headers
        self.raw = raw
        self.notes = {}

    def header(self, name):
        return self.headers.get(name)

    def note(self, **notes):
        self.notes.update(notes)

    def json(self, strict_type=True):
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        # libcurl's default for a POST body is application/x-www-form-urlencoded, which the real
        # APIs refuse; catch a client that forgot to say JSON.
        if strict_type and content_type not in ("application/json", "application/ld+json"):
            raise ApiError(415, f"Content-Type: expected application/json, got '{content_type}'")
        try:
            body = json.loads(self.raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, f"body: invalid JSON: {e}")
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        return body


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class State:
    """The platform's tables and the request log. Callers hold `lock` around every use.

    With a path, every API request is appended to the file as one JSON line holding the request's
    log entry and the objects it created or changed (their new versions), in a single write(): a
    killed mock leaves whole lines only, and a restart replays them. Rewriting a whole snapshot
    instead made every request cost O(state): 24 ms at 3,000 logged requests, mostly ext4
    flushing the replacement file on rename.
    """

    def __init__(self, path, platform):
        self.lock = threading.Lock()
        self.path = path
        self.platform = platform
        platform.state = self
        self.clear()
        if path and os.path.exists(path):
            self.load()

    def clear(self):
        self.tables = {name: {} for name in self.platform.COLLECTIONS}
        self.requests = []
        self.changed = {}  # (table, key) -> object, since the last commit
        self.platform.clear()

    def reset(self):
        self.clear()
        if self.path:
            write_atomic(self.path, "", self.platform.NAME)

    def put(self, table, obj):
        """Stores a new or changed object; it is persisted with the request being answered."""
        key = obj[self.platform.COLLECTIONS[table]]
        self.tables[table][key] = obj
        self.changed[(table, key)] = obj
        self.platform.indexed(table, obj)

    def load(self):
        with open(self.path, "rb") as f:
            data = f.read()
        good = data.rfind(b"\n") + 1
        if good < len(data):
            # A write cut short (only a machine crash can do that); its request was never
            # answered. Cut it off, or the next line appended would be glued to it.
            print(f"{self.platform.NAME}: {self.path}: dropping a torn last line", file=sys.stderr)
            os.truncate(self.path, good)
        for number, line in enumerate(data[:good].decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{self.path}:{number}: not a JSON line")
            for table in self.tables:
                for obj in record.get(table, []):
                    self.put(table, obj)
            self.log_request(record["request"])
        self.changed = {}

    def commit(self, entry):
        """Logs an API request together with the changes it made, and persists both."""
        self.log_request(entry)
        record = {"request": entry}
        for table in self.tables:
            record[table] = [o for (t, _), o in self.changed.items() if t == table]
        line = json.dumps(record) + "\n"
        self.changed = {}
        if self.path:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = line.encode()
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)

    def log_request(self, entry):
        entry["seq"] = len(self.requests) + 1
        self.requests.append(entry)

    def last_connection_id(self):
        return max((r.get("connection", 0) for r in self.requests), default=0)


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
        if path is not None and not isinstance(path, str):
            raise ApiError(400, "path: must be a string")
        path_regex = compile_path_pattern(path) if path is not None else None
        method = spec.get("method")
        if method is not None and not (isinstance(method, str) and method.isalpha()):
            raise ApiError(400, "method: must be an HTTP method such as 'POST'")
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
            self.path, self.path_regex = path, path_regex
            self.method = method.upper() if method else None
            self.answer = {"status": status, "body": body, "headers": headers}

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "count": self.count, "retry_after": self.retry_after,
                    "slow": self.slow, "reset_after_record": self.reset_after_record,
                    "path": self.path, "method": self.method, **self.answer}

    def canned_answer(self):
        with self.lock:
            return dict(self.answer)

    def take(self, method, path):
        """Called once per API request: the mode that applies to it (None if normal) and the
        delay, consuming one unit of `count`."""
        with self.lock:
            mode = None if self.mode == "none" else self.mode
            if self.path_regex is not None and not path_matches(self.path_regex, path):
                mode = None
            if self.method is not None and method != self.method:
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
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def setup(self):
        super().setup()
        self.server_version = self.server.platform.NAME + "/1"
        self.connection_id = self.server.new_connection_id()
        self.connection_requests = 0

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def date_time_string(self, timestamp=None):
        # The Date header of every answer: --date-offset plays a server whose clock (or the
        # client's) is wrong by that much.
        return super().date_time_string(
            (time.time() if timestamp is None else timestamp) + self.server.date_offset)

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
            self.reply(e.status, self.server.platform.error_body(e.status, e.message))
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

    # --- the API --------------------------------------------------------------------------

    def api(self, url, raw):
        server = self.server
        state, faults, platform = server.state, server.faults, server.platform
        req = Request(self, url, raw)
        mode, retry_after, slow = faults.take(req.method, req.path)
        key_state, key_message = platform.auth(req)
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
                message = {"429": "mock fault: rate limited",
                           "422": platform.FAULT_422_MESSAGE}.get(
                               mode, "mock fault: service unavailable")
                payload = platform.error_body(status, message)
                if mode == "429" or retry_after is not None:
                    headers["Retry-After"] = str(1 if retry_after is None else retry_after)
            elif key_state != "ok":
                status, payload = 401, platform.error_body(401, key_message)
            else:
                try:
                    status, payload = platform.route(req)
                except ApiError as e:
                    status, headers = e.status, e.headers
                    payload = (e.payload if e.payload is not None
                               else platform.error_body(e.status, e.message))
                if (platform.is_record(req.method, req.path, status)
                        and faults.take_reset_after_record()):
                    applied, dropped, status = "reset_after_record", True, None
            # A copy, taken under the lock: the objects go on changing with later requests, and
            # both the log and this answer must show them as they were now.
            payload = json.loads(json.dumps(payload))
            entry = self.log_entry(raw, key_state, status, payload, applied, dropped)
            entry.update(req.notes)
            state.commit(entry)
        if slow:
            time.sleep(slow)
        if dropped:
            self.close_connection = True
            return
        if raw_answer:
            self.reply_raw(status, payload.encode(), headers)
        else:
            self.reply(status, payload, headers)

    def log_entry(self, raw, key_state, status, payload, fault, dropped):
        secret = SECRET_HEADERS | {h.lower() for h in self.server.platform.SECRET_HEADERS}
        entry = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "connection": self.connection_id,
            "connection_request": self.connection_requests,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() not in secret},
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
        table = path[len("/_mock/"):] if path.startswith("/_mock/") else None
        try:
            if method == "GET" and (table == "requests" or table in state.tables):
                with state.lock:  # serialise now: objects change under concurrent requests
                    items = (state.requests if table == "requests"
                             else list(state.tables[table].values()))
                    payload = json.loads(json.dumps(items))
                self.reply(200, payload)
            elif path == "/_mock/fault" and method == "GET":
                self.reply(200, faults.snapshot())
            elif path == "/_mock/fault" and method == "POST":
                faults.configure(Request(self, url, raw).json(strict_type=False))
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

    def __init__(self, address, ssl_context, state, platform, verbose):
        self.ssl_context, self.state, self.platform = ssl_context, state, platform
        self.verbose = verbose
        self.date_offset = 0
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
                print(f"{self.platform.NAME}: TLS handshake with {client_address[0]} failed: {e}",
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


def main(platform_class):
    name = platform_class.NAME
    parser = argparse.ArgumentParser(description=platform_class.DESCRIPTION)
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--cert", required=True, help="server certificate (PEM, may hold a chain)")
    parser.add_argument("--key", required=True, help="server private key (PEM)")
    platform_class.add_arguments(parser)
    parser.add_argument("--state", help="keep state in this file (JSON Lines), reload it on start")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-file", help="write the chosen port here (atomically)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--date-offset", type=float, default=0, metavar="SECONDS",
                        help="send every Date header this far from this machine's clock "
                             "(259200: the client's clock looks 3 days slow)")
    args = parser.parse_args()

    try:
        platform = platform_class(args)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as e:  # neither names the file
            raise ValueError(f"--cert {args.cert} / --key {args.key}: {e}")
        # Say HTTP/1.1 explicitly so clients built with HTTP/2 do not try to negotiate it.
        context.set_alpn_protocols(["http/1.1"])
        state = State(args.state, platform)
        server = MockServer((args.host, args.port), context, state, platform, args.verbose)
        server.date_offset = args.date_offset
    except (OSError, ValueError, KeyError, ssl.SSLError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2

    port = server.server_address[1]
    if args.port_file:
        write_atomic(args.port_file, f"{port}\n", name)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"{name} listening on https://{host}:{port}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
