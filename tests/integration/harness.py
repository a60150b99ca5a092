"""Drives the real tillsyncd over its real sockets, against the mock Glu API over HTTPS.

The mock stands in for the remote SaaS only: the daemon, its journal file and its sockets are
the real ones, run as a separate process (under qemu-arm when cross-built).
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
MOCK = os.path.join(HERE, "..", "mock", "glu_mock.py")
MAKE_CA = os.path.join(HERE, "..", "mock", "make_test_ca.sh")
API_KEY = "test-key-7f3a9c"


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


class Env:
    def __init__(self, args, name):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="tillsync-%s-" % name)
        self.emulator = shlex.split(args.emulator) if args.emulator else []
        self.mock = None
        self.daemon = None
        self.port = None
        subprocess.run(["sh", MAKE_CA, os.path.join(self.dir, "tls")], check=True)
        self.key_file = os.path.join(self.dir, "glu.key")
        with open(self.key_file, "w") as f:
            f.write(API_KEY + "\n")
        os.chmod(self.key_file, 0o600)
        self.pos_socket = os.path.join(self.dir, "pos.sock")
        self.ctl_socket = os.path.join(self.dir, "ctl.sock")
        self.config_path = os.path.join(self.dir, "tillsync.json")
        # The test itself trusts both CAs, so it can read the mock's log in wrong-CA tests too.
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "ca.pem"))
        self.ssl.load_verify_locations(cafile=os.path.join(self.dir, "tls", "wrong-ca.pem"))

    # ---- the mock API ----
    def start_mock(self, cert="server"):
        """cert "wrong-server": a certificate from a CA the daemon does not trust."""
        tls = os.path.join(self.dir, "tls")
        cmd = [sys.executable, MOCK, "--port", str(self.port or 0), "--cert",
               os.path.join(tls, cert + ".pem"), "--key", os.path.join(tls, cert + ".key"),
               "--api-key-file", self.key_file, "--state", os.path.join(self.dir, "mock.state"),
               "--port-file", os.path.join(self.dir, "mock.port")]
        port_file = os.path.join(self.dir, "mock.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.mock = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(port_file), 10, "mock to listen")
        with open(port_file) as f:
            self.port = int(f.read().strip())

    def kill_mock(self):
        self.mock.send_signal(signal.SIGKILL)
        self.mock.wait()
        self.mock = None

    def mock_get(self, path):
        url = "https://127.0.0.1:%d%s" % (self.port, path)
        with urllib.request.urlopen(url, context=self.ssl, timeout=10) as r:
            return json.loads(r.read())

    def mock_post(self, path, obj):
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path),
                                     data=json.dumps(obj).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
            return json.loads(r.read() or b"null")

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
        for p in (self.daemon, self.mock):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if ok and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("work directory kept: %s" % self.dir)


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
