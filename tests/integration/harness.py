"""Drives the real tillsyncd over its real sockets, against mock platform APIs over HTTPS.

The mocks stand in for the remote SaaS only: the daemon, its journal file and its sockets are
the real ones, run as a separate process (under qemu-arm when cross-built).

Env.start_mock() starts the Glu mock as env.mock on env.port (what most tests use);
Env.add_mock(kind, ...) starts any tests/mock/<kind>_mock.py, as many as a test wants, each a Mock
with its own port, state file, get() and post().
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK_DIR = os.path.join(HERE, "..", "mock")
MOCK = os.path.join(MOCK_DIR, "glu_mock.py")
MAKE_CA = os.path.join(MOCK_DIR, "make_test_ca.sh")
API_KEY = "test-key-7f3a9c"
SECRET_KEY = "test-secret-51d2e8"  # Gleantap's second key
GLEANTAP_APP_ID = "app-test-42"


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--daemon", required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--emulator", default="", help="prefix for target binaries, e.g. qemu-arm -L ...")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    if extra:
        extra(p)
    return p.parse_args()


def run_scenarios(scenarios, start):
    """Runs each scenario (a function of a started Env returning what it showed) in its own Env;
    start(env) starts the mock and the daemon. A failure is reported and the next one still runs.
    --only NAME runs those whose name holds NAME. Returns the exit status."""
    args = parse_args(lambda p: p.add_argument("--only", default=""))
    failed = 0
    for sc in scenarios:
        if args.only and args.only not in sc.__name__:
            continue
        try:
            with Env(args, sc.__name__) as env:
                start(env)
                print("ok: %s: %s" % (sc.__name__, sc(env)), flush=True)
        except AssertionError as e:
            print("FAIL: %s: %s" % (sc.__name__, e), flush=True)
            failed += 1
    return 1 if failed else 0


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def submit(env, batch):
    """Sends each sale on one POS connection; each must be stored (not a duplicate)."""
    pos = Pos(env.pos_socket)
    for s in batch:
        r = pos.request(s)
        assert r.get("ok") is True and not r.get("duplicate"), (s["txn"], r)
    pos.close()


def backend(env, index=0):
    return env.status()["backends"][index]


def drained(env, timeout=120, index=0):
    """Waits until the backend has nothing queued; returns its status."""
    return wait_until(lambda: (lambda b: b["queued"] == 0 and b)(backend(env, index)), timeout,
                      "backlog to drain", interval=0.2)


class Env:
    def __init__(self, args, name):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="tillsync-%s-" % name)
        self.emulator = shlex.split(args.emulator) if args.emulator else []
        self.mock = None
        self.daemon = None
        self.port = None
        self.mocks = []  # those add_mock() started
        subprocess.run(["sh", MAKE_CA, os.path.join(self.dir, "tls")], check=True)
        self.key_file = os.path.join(self.dir, "glu.key")
        with open(self.key_file, "w") as f:
            f.write(API_KEY + "\n")
        os.chmod(self.key_file, 0o600)
        self.secret_key_file = os.path.join(self.dir, "secret.key")
        with open(self.secret_key_file, "w") as f:
            f.write(SECRET_KEY + "\n")
        os.chmod(self.secret_key_file, 0o600)
        self.pos_socket = os.path.join(self.dir, "pos.sock")
        self.ctl_socket = os.path.join(self.dir, "ctl.sock")
        self.config_path = os.path.join(self.dir, "tillsync.json")
        # The test itself trusts both CAs, so it can read the mock's log in wrong-CA tests too.
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "ca.pem"))
        self.ssl.load_verify_locations(cafile=os.path.join(self.dir, "tls", "wrong-ca.pem"))

    # ---- the mock APIs ----
    def start_mock(self, cert="server"):
        """The Glu mock as self.mock on self.port (0 or unset: a free port).
        cert "wrong-server": a certificate from a CA the daemon does not trust."""
        self.mock, self.port = self.spawn_mock("glu", "mock", self.port or 0, cert)

    def kill_mock(self):
        self.mock.send_signal(signal.SIGKILL)
        self.mock.wait()
        self.mock = None

    def mock_get(self, path):
        return https_json(self.ssl, self.port, "GET", path)

    def mock_post(self, path, obj):
        return https_json(self.ssl, self.port, "POST", path, obj)

    def add_mock(self, kind, name=None, extra_args=(), cert="server"):
        """Starts tests/mock/<kind>_mock.py ("glu", "gleantap", "givebutter") with this Env's CA
        and keys (mock_args) plus extra_args, on a free port; stopped by close(). name (default:
        kind) tells apart several mocks of one kind and names their files. Returns the Mock."""
        mock = Mock(self, kind, name or kind, list(extra_args), cert)
        self.mocks.append(mock)
        mock.start()
        return mock

    def mock_args(self, kind):
        """The credentials a mock of that kind checks: the same files a backend's config names."""
        args = ["--api-key-file", self.key_file]
        if kind == "gleantap":
            args += ["--secret-key-file", self.secret_key_file, "--app-id", GLEANTAP_APP_ID]
        return args

    def spawn_mock(self, kind, files, port, cert="server", extra_args=()):
        """A mock process listening on port (0: a free one) with its state in <files>.state;
        returns it and its port once it listens."""
        tls = os.path.join(self.dir, "tls")
        port_file = os.path.join(self.dir, files + ".port")
        cmd = [sys.executable, os.path.join(MOCK_DIR, kind + "_mock.py"), "--port", str(port),
               "--cert", os.path.join(tls, cert + ".pem"),
               "--key", os.path.join(tls, cert + ".key")]
        cmd += self.mock_args(kind) + ["--state", os.path.join(self.dir, files + ".state"),
                                       "--port-file", port_file] + list(extra_args)
        if os.path.exists(port_file):
            os.unlink(port_file)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)

        def listening():
            if proc.poll() is not None:
                raise AssertionError("%s mock exited with %s" % (kind, proc.returncode))
            return os.path.exists(port_file)
        wait_until(listening, 10, "%s mock to listen" % kind)
        with open(port_file) as f:
            return proc, int(f.read().strip())

    # ---- the daemon ----
    def write_config(self, **backend_overrides):
        backend = {"name": "glu", "kind": "glu", "base_url": "https://127.0.0.1:%d" % self.port,
                   "api_key_file": self.key_file, "source": "till",
                   "ca_file": os.path.join(self.dir, "tls", "ca.pem"),
                   "anonymous_sales": "contact",
                   "anonymous_contact_email": "walk-in@shop.example", "retry_max_s": 2}
        backend.update(backend_overrides)
        cfg = {"terminal_id": "T042",
               "journal": {"driver": "file", "path": os.path.join(self.dir, "journal.img"),
                           "size": 1048576, "erase_size": 65536, "program_size": 16},
               "intake": {"pos_socket": self.pos_socket},
               "control_socket": self.ctl_socket,
               "backends": [backend]}
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def start_daemon(self):
        self.daemon_log = open(os.path.join(self.dir, "daemon.log"), "a")
        self.daemon = subprocess.Popen(
            self.emulator + [self.args.daemon, "--config", self.config_path],
            stdout=self.daemon_log, stderr=self.daemon_log)
        wait_until(self.daemon_ready, 30, "daemon to listen")

    def daemon_ready(self):
        if self.daemon.poll() is not None:
            raise AssertionError("daemon exited with %s; log:\n%s" % (self.daemon.returncode,
                                                                      self.log()))
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.ctl_socket)
            return True
        except OSError:
            return False

    def kill_daemon(self, sig=signal.SIGKILL):
        self.daemon.send_signal(sig)
        rc = self.daemon.wait(timeout=30)
        self.daemon = None
        return rc

    def log(self):
        with open(os.path.join(self.dir, "daemon.log")) as f:
            return f.read()

    def status(self):
        out = subprocess.run(self.emulator + [self.args.ctl, "--config", self.config_path,
                                              "status", "--json"],
                             check=True, capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout)

    def ctl(self, *argv):
        return subprocess.run(self.emulator + [self.args.ctl, "--config", self.config_path]
                              + list(argv), capture_output=True, text=True, timeout=120)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Stops what the test started; keeps the work directory if the test failed.
        self.close(exc_type is None)
        return False

    def close(self, ok):
        for p in [self.daemon, self.mock] + [m.proc for m in self.mocks]:
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if ok and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("work directory kept: %s" % self.dir)


def https_json(context, port, method, path, obj=None):
    data = None if obj is None else json.dumps(obj).encode()
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=context, timeout=10) as r:
        return json.loads(r.read() or b"null")


class Mock:
    """A mock platform API that Env.add_mock() started. start() again after kill() restarts it on
    the same port with the same state file (as after a crash of the platform)."""

    def __init__(self, env, kind, name, extra_args, cert):
        self.env, self.kind, self.name = env, kind, name
        self.extra_args, self.cert = extra_args, cert
        self.proc, self.port = None, 0

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self):
        self.proc, self.port = self.env.spawn_mock(self.kind, self.name + "-mock", self.port,
                                                   self.cert, self.extra_args)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait()

    def get(self, path):
        return https_json(self.env.ssl, self.port, "GET", path)

    def post(self, path, obj):
        return https_json(self.env.ssl, self.port, "POST", path, obj)


class Pos:
    """A POS application: one connection, one request line, one reply line."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)
        self.buf = b""

    def request(self, line):
        if self.sock is None:
            self.connect()
        if isinstance(line, dict):
            line = json.dumps(line)
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n", 1)
        return json.loads(reply)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
