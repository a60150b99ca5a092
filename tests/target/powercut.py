#!/usr/bin/env python3
"""Pulls the terminal's plug: the booted image (board/qemu-virt-armhf/image) runs tillsyncd on
its NOR journal partition (virt's pflash bank 1, a file on the host that keeps every program and
erase), sales arrive from this script as a POS sends them, uploads go to the Glu mock on the
host, and QEMU is SIGKILLed at random moments: while sales are being stored, while the backlog
uploads, while the ring's blocks are erased. After each kill the terminal boots again on the same
flash; `tillsyncctl verify` runs in the guest before the daemon starts and must say healthy. At
the end a last boot drains the journal: every sale acknowledged to the POS must be on the mock
exactly once, and none twice.

    powercut.py --build ARMHF_BUILD_DIR [--kills 30] [--seed N] [--no-make]

Exit 77 (ctest's skip) without qemu-system-arm.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import boot_test  # noqa: E402
from harness import API_KEY, Env  # noqa: E402
from test_fanout import stored_refs  # noqa: E402

TERMINAL = "T042"
GUEST_POS_PORT = 7000


class Guest:
    """One boot of the terminal: QEMU's console read line by line in a thread."""

    def __init__(self, image_dir, pflash, share, pos_port, api_port, drain):
        append = "console=ttyAMA0 quiet ts.job=terminal" + (" ts.drain=1" if drain else "") + (" ts.debug=1" if os.environ.get("TS_DEBUG") else "")
        net = ("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d,"
               "guestfwd=tcp:10.0.2.100:443-cmd:%s %s %d"
               % (pos_port, GUEST_POS_PORT, sys.executable, os.path.join(HERE, "host_connect.py"),
                  api_port))
        cmd = boot_test.qemu_command(image_dir, append, pflash, net)
        cmd += ["-fsdev", "local,id=fs0,path=%s,security_model=none" % share,
                "-device", "virtio-9p-device,fsdev=fs0,mount_tag=host"]
        self.lines, self.cond, self.seen = [], threading.Condition(), 0
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def wait_for(self, prefix, timeout):
        """The next console line (after those already waited for) that starts with prefix."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                while self.seen < len(self.lines):
                    line = self.lines[self.seen]
                    self.seen += 1
                    if line is None:
                        raise AssertionError("the guest stopped before %s:\n%s"
                                             % (prefix, self.console()))
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s from the guest in %d s:\n%s"
                                         % (prefix, timeout, self.console()))
                self.cond.wait(left)

    def console(self):
        return "\n".join(l for l in self.lines[-40:] if l and not l.startswith("busybox:"))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)  # the plug: nothing in the guest runs after it
        self.proc.wait()


class PosClient:
    """The POS: one TCP connection to the guest's relay, one sale line, one reply line."""

    def __init__(self, port):
        self.port, self.sock, self.buf = port, None, b""

    def request(self, sale):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.buf = b""
        self.sock.sendall(json.dumps(sale).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sale(n):
    s = {"event": "sale.completed", "txn": "PC%05d" % n, "at": "2026-11-30T12:00:00+00:00",
         "total": 100 + n, "currency": "GBP",
         "customer": {"email": "cut%d@example.com" % (n % 11), "first_name": "Ada",
                      "last_name": "Cut%d" % (n % 11)}}
    if n % 3 == 0:  # some big ones: the 8-block ring laps, and blocks are erased, often
        s["items"] = [{"sku": "SKU-%03d" % k, "name": "Item %d %s" % (k, "z" * 80), "qty": 1,
                       "unit_price": 1} for k in range(60)]
        s["total"] = 60
    return s


def verify_line(line, boot):
    rc = int(line.split()[1].split("=")[1])
    if rc != 0 or "healthy" not in line or "NOT HEALTHY" in line:
        raise AssertionError("boot %d: verify is not healthy: %s" % (boot, line))
    return line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-make", action="store_true")
    a = ap.parse_args()
    if not shutil.which("qemu-system-arm"):
        print("SKIP: qemu-system-arm is not installed")
        return 77
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    build = os.path.abspath(a.build)
    image_dir = os.path.join(build, "qemu-image")
    t0 = time.monotonic()
    if not a.no_make:
        boot_test.make_image(build, image_dir)
    env = Env(types.SimpleNamespace(emulator="", keep=False), "powercut")
    ok = False
    try:
        mock = env.add_mock("glu")
        share = os.path.join(env.dir, "share")
        os.makedirs(share)
        shutil.copy(os.path.join(env.dir, "tls", "ca.pem"), share)
        with open(os.path.join(share, "glu.key"), "w") as f:
            f.write(API_KEY + "\n")
        # The device key outlives power cuts as on a terminal (its state directory is on
        # storage; the image's /var/lib is RAM): kept in the share, copied in at every boot.
        with open(os.path.join(share, "device.key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        cfg = {"terminal_id": TERMINAL,
               "journal": {"driver": "mtd", "device": "@JOURNAL@"},
               "intake": {"pos_socket": "/run/tillsync/pos.sock"},
               "control_socket": "/run/tillsync/ctl.sock",
               "device_key_file": "/etc/tillsync/device.key",
               "backends": [{"name": "glu", "kind": "glu", "base_url": "https://localhost:8443",
                             "api_key_file": "/etc/tillsync/glu.key", "source": "till",
                             "ca_file": "/etc/tillsync/ca.pem", "retry_max_s": 2}]}
        with open(os.path.join(share, "tillsync.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        pflash = os.path.join(env.dir, "pflash1.img")
        boot_test.blank_pflash(pflash)
        acked, sent, n, kills, verifies = [], 0, 0, 0, []
        print("seed %d: %d power cuts on a %s NOR journal" % (seed, a.kills, "2 MiB"))
        for boot in range(a.kills):
            pos_port = free_port()
            g = Guest(image_dir, pflash, share, pos_port, mock.port, drain=False)
            try:
                verifies.append(verify_line(g.wait_for("TS-VERIFY", 180), boot))
                g.wait_for("TS-READY", 60)
                # The platform is down now and then, so some boots cut the power mid-upload with
                # a backlog, others while the backlog drains.
                mock.post("/_mock/fault", {"mode": "down" if rnd.random() < 0.3 else "none"})
                pos = PosClient(pos_port)
                cut_at = time.monotonic() + rnd.uniform(0.3, 4.0)
                while time.monotonic() < cut_at:
                    s = sale(n)
                    n += 1
                    sent += 1
                    try:
                        r = pos.request(s)
                    except (OSError, ConnectionError, ValueError):
                        pos.close()  # the relay starts a moment after the socket appears
                        time.sleep(0.05)
                        continue
                    if r.get("ok"):
                        acked.append(s["txn"])
                    elif not r.get("retry"):
                        raise AssertionError("sale %s rejected: %s" % (s["txn"], r))
                # Cut while a sale is on its way about half the time: never acknowledged, so it
                # may or may not be stored, but it must not come back twice.
                if rnd.random() < 0.5:
                    try:
                        pos.sock.sendall(json.dumps(sale(n)).encode() + b"\n")
                        n += 1
                    except (OSError, AttributeError):
                        pass
                g.kill()
                kills += 1
                pos.close()
            finally:
                if g.proc.poll() is None:
                    g.kill()
        mock.post("/_mock/fault", {"mode": "none"})
        g = Guest(image_dir, pflash, share, free_port(), mock.port, drain=True)
        try:
            verifies.append(verify_line(g.wait_for("TS-VERIFY", 180), a.kills))
            print("started by the init script: %s" % g.wait_for("TS-DAEMON", 60))
            status = json.loads(g.wait_for("TS-STATUS", 600).split(" ", 1)[1])
            g.wait_for("TS-STOPPED rc=0", 60)
            last = verify_line(g.wait_for("TS-VERIFY", 120), a.kills + 1)
            g.proc.wait(timeout=60)
        finally:
            if g.proc.poll() is None:
                g.kill()
        refs = [ref for ref, _ in stored_refs(mock)]
        counts = {}
        for r in refs:
            counts[r] = counts.get(r, 0) + 1
        dups = sorted(r for r, c in counts.items() if c > 1)
        lost = sorted(t for t in acked if TERMINAL + ":" + t not in counts)
        b = status["backends"][0]
        print("%d power cuts in %.0f s: %d sales sent, %d acknowledged, %d on the mock "
              "(%d lost, %d stored twice); verify healthy at all %d boots; last status: "
              "%d delivered, %d queued, %d dead-lettered"
              % (kills, time.monotonic() - t0, sent, len(acked), len(counts), len(lost),
                 len(dups), len(verifies) + 1, b["delivered"], b["queued"], b["dead_letter"]))
        print("last verify: %s" % last)
        boot_test.record_summary(build, "target powercut (seed %d): %d power cuts in %.0f s: %d "
                                 "acknowledged, %d on the mock, %d lost, %d stored twice, verify "
                                 "healthy at all %d boots; last verify: %s"
                                 % (seed, kills, time.monotonic() - t0, len(acked), len(counts),
                                    len(lost), len(dups), len(verifies) + 1,
                                    last.split(" ", 2)[2]))
        print("the last boot's console (drain, clean stop, verify):")
        print("\n".join("    " + l for l in g.lines[-12:] if l and not l.startswith("busybox:")))
        if lost or dups:
            raise AssertionError("lost: %s; stored twice: %s" % (lost[:20], dups[:20]))
        # Every sale stored reached the mock once (acknowledged or cut before its reply), so the
        # journal's delivered total must be that count: more is the over-count issue 13 found
        # after power cuts (completions above a saved watermark counted twice).
        if b["delivered"] != len(counts) or b["dead_letter"] or b["queued"]:
            raise AssertionError("status after the drain: %d delivered, %d dead, %d queued; the "
                                 "mock holds %d sales" % (b["delivered"], b["dead_letter"],
                                                          b["queued"], len(counts)))
        ok = True
        return 0
    except AssertionError as e:
        print("FAIL (seed %d): %s" % (seed, e))
        return 1
    finally:
        env.close(ok)


if __name__ == "__main__":
    sys.exit(main())
