#!/usr/bin/env python3
"""Issue 12, Service: SIGHUP reloads the configuration without dropping a sale.

- add_backend: one Glu backend, answering slowly so uploads are in flight; a POS sends sales
  without pause on one connection, and another connects afresh for each sale. The configuration
  gains a second backend, SIGHUP. No sale is refused or answered late with an error, every one is
  stored once; the first backend's platform has each sale exactly once (uploads in flight at the
  reload were abandoned and sent again under the same reference: the platform recognised them);
  the second backend receives every sale in the journal, including those stored before it was
  configured. That is the journal's mount rule (docs/FORMAT.md section 7.2): a backend with no
  mark yet starts from the tail's first sale, i.e. every sale still readable in the ring; here
  none was reclaimed, so it gets them all.
- bad_config: a configuration that does not load (an unknown key, then a plain-http base_url)
  is logged, naming the key, and the running one kept: sales still go to the backend; a change
  to the sockets or the journal is named "restart required" and the old ones stay in use, while
  a backend change in the same file is applied.
- remove_backend: two backends, one removed: it receives nothing more, the other everything.
"""

import json
import os
import re
import signal
import socket
import sys
import threading

from harness import Pos, run_scenarios, wait_until
from test_fanout import exactly_once, stored_refs

TERMINAL = "T042"


def sale(txn, i):
    return {"event": "sale.completed", "txn": txn, "at": "2026-04-07T19:45:00+01:00",
            "total": 100 + i, "currency": "GBP",
            "customer": {"email": "r%d@example.com" % (i % 5), "first_name": "Re",
                         "last_name": "Load%d" % (i % 5)}}


def configure(env, mocks, **top):
    cfg = {"terminal_id": TERMINAL,
           "journal": {"driver": "file", "path": os.path.join(env.dir, "journal.img"),
                       "size": 1048576, "erase_size": 65536, "program_size": 16},
           "intake": {"pos_socket": env.pos_socket},
           "control_socket": env.ctl_socket,
           "backends": [{"name": name, "kind": "glu", "base_url": m.url,
                         "api_key_file": env.key_file, "source": "till",
                         "ca_file": os.path.join(env.dir, "tls", "ca.pem"), "retry_max_s": 2,
                         "probe_interval_s": 1} for name, m in mocks.items()]}
    cfg.update(top)
    with open(env.config_path, "w") as f:
        json.dump(cfg, f, indent=2)
    return cfg


def log_count(env, text):
    return env.log().count(text)


def reload(env, expect):
    """SIGHUP, then waits for the line that ends this reload (expect: text it must hold)."""
    before = log_count(env, expect)
    env.daemon.send_signal(signal.SIGHUP)
    wait_until(lambda: log_count(env, expect) > before, 30, "the reload's log line: " + expect)


def names(env):
    return [b["name"] for b in env.status()["backends"]]


def drained(env):
    return all(b["queued"] == 0 and b["in_flight"] == 0 for b in env.status()["backends"])


class Till(threading.Thread):
    """A POS selling without pause until stopped: sales alternate between a kept connection and
    a new connection per sale. Every reply is kept."""

    def __init__(self, env, prefix):
        super().__init__()
        self.env, self.prefix = env, prefix
        self.stop = threading.Event()
        self.replies, self.errors = {}, []

    def run(self):
        kept = Pos(self.env.pos_socket)
        i = 0
        while not self.stop.is_set():
            txn = "%s-%05d" % (self.prefix, i)
            try:
                if i % 2:
                    fresh = Pos(self.env.pos_socket)
                    r = fresh.request(sale(txn, i))
                    fresh.close()
                else:
                    r = kept.request(sale(txn, i))
            except (OSError, ValueError) as e:
                self.errors.append("%s: %r" % (txn, e))
                break
            self.replies[txn] = r
            i += 1
        kept.close()

    def finish(self):
        self.stop.set()
        self.join(60)
        assert not self.errors, self.errors
        bad = {t: r for t, r in self.replies.items()
               if r.get("ok") is not True or r.get("duplicate") or r.get("ref") != TERMINAL + ":" + t}
        assert not bad, "refused or odd replies: %s" % list(bad.items())[:5]
        return sorted(self.replies)


def scenario_add_backend(env):
    first, second = env.add_mock("glu", "glu"), env.add_mock("glu", "glu2")
    configure(env, {"glu": first})
    env.start_daemon()
    # Answers take 0.3 s, so at the reload uploads are in flight and get abandoned.
    first.post("/_mock/fault", {"mode": "none", "slow": 0.3})
    till = Till(env, "A")
    till.start()
    wait_until(lambda: len(till.replies) >= 150, 120, "150 sales before the reload")
    wait_until(lambda: env.status()["backends"][0]["in_flight"] > 0, 60, "uploads in flight")
    configure(env, {"glu": first, "glu2": second})
    at_reload = len(till.replies)
    reload(env, "reload: done")
    assert "reload: backend glu2 added (glu)" in env.log(), env.log()
    wait_until(lambda: len(till.replies) >= at_reload + 150, 120, "150 sales after the reload")
    txns = till.finish()
    assert names(env) == ["glu", "glu2"], names(env)
    first.post("/_mock/fault", {"mode": "none", "slow": 0})
    wait_until(lambda: drained(env), 180, "both backends to drain", 0.2)
    n1 = exactly_once(first, txns)
    n2 = exactly_once(second, txns)
    resent = sum(1 for r in first.get("/_mock/requests")
                 if r["path"].startswith("/activities") and r.get("duplicate"))
    took = re.search(r"reload: done in ([\d.]+ ms)", env.log())
    assert env.kill_daemon(signal.SIGTERM) == 0
    return ("%d sales (%d before the reload), none refused; reload %s (sales waited in their "
            "sockets meanwhile); glu %d once each (%d resends of abandoned uploads recognised), "
            "glu2 %d once each, those stored before it was added included" % (
                len(txns), at_reload, took.group(1) if took else "?", n1, resent, n2))


def scenario_bad_config(env):
    mock = env.add_mock("glu", "glu")
    good = configure(env, {"glu": mock})
    env.start_daemon()
    pos = Pos(env.pos_socket)
    assert pos.request(sale("B-0", 0))["ok"] is True
    with open(env.config_path, "w") as f:
        json.dump(dict(good, bakends=[]), f)
    reload(env, "the running configuration is kept")
    assert "reload: bakends: unknown key; the running configuration is kept" in env.log()
    bad_url = json.loads(json.dumps(good))
    bad_url["backends"][0]["base_url"] = "http://127.0.0.1:%d" % mock.port
    with open(env.config_path, "w") as f:
        json.dump(bad_url, f)
    reload(env, "the running configuration is kept")
    assert "base_url" in env.log(), env.log()
    assert pos.request(sale("B-1", 1))["ok"] is True
    # Sockets and journal: restart required, the old kept; the backend change is applied.
    moved = json.loads(json.dumps(good))
    moved["intake"]["pos_socket"] = os.path.join(env.dir, "elsewhere.sock")
    moved["journal"]["size"] = 2 * 1048576
    moved["backends"][0]["retry_max_s"] = 3
    with open(env.config_path, "w") as f:
        json.dump(moved, f)
    reload(env, "reload: done")
    log = env.log()
    assert "reload: journal changed: restart required" in log, log
    assert "reload: intake or control_socket changed: restart required" in log, log
    assert "reload: backend glu changed" in log, log
    assert not os.path.exists(moved["intake"]["pos_socket"])
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(env.pos_socket)
    assert pos.request(sale("B-2", 2))["ok"] is True
    pos.close()
    wait_until(lambda: drained(env), 60, "the backend to drain", 0.2)
    exactly_once(mock, ["B-0", "B-1", "B-2"])
    assert env.kill_daemon(signal.SIGTERM) == 0
    return "two bad configurations refused (key named), the running one kept; sockets and " \
           "journal: restart required; every sale delivered once"


def scenario_remove_backend(env):
    keep, gone = env.add_mock("glu", "glu"), env.add_mock("glu", "gone")
    configure(env, {"glu": keep, "gone": gone})
    env.start_daemon()
    pos = Pos(env.pos_socket)
    before = ["R-%03d" % i for i in range(20)]
    for i, t in enumerate(before):
        assert pos.request(sale(t, i))["ok"] is True
    wait_until(lambda: drained(env), 60, "both to drain", 0.2)
    configure(env, {"glu": keep})
    reload(env, "reload: done")
    assert "reload: backend gone removed" in env.log()
    assert names(env) == ["glu"], names(env)
    after = ["R-%03d" % i for i in range(20, 40)]
    for i, t in enumerate(after):
        assert pos.request(sale(t, 20 + i))["ok"] is True
    pos.close()
    wait_until(lambda: drained(env), 60, "glu to drain", 0.2)
    exactly_once(keep, before + after)
    exactly_once(gone, before)
    assert env.kill_daemon(signal.SIGTERM) == 0
    return "removed backend got the 20 sales before only; the other all 40, once each"


def scenario_rotate_device_key(env):
    """A new first line in the device key file and a SIGHUP: sales stored after it are sealed
    under the new key, those before still open with the old line, every customer reaches the
    platform; a key file made readable by others refuses the reload and keeps the running key."""
    mock = env.add_mock("glu", "glu")
    mock.post("/_mock/fault", {"mode": "down"})
    key_file = os.path.join(env.dir, "device.key")
    with open(key_file, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(key_file, 0o600)
    configure(env, {"glu": mock}, device_key_file=key_file)
    env.start_daemon()
    old_id = env.status()["device_key"]["id"]
    pos = Pos(env.pos_socket)
    for i in range(3):
        assert pos.request(sale("K-%d" % i, i))["ok"] is True
    with open(key_file) as f:
        old = f.read()
    with open(key_file, "w") as f:
        f.write(os.urandom(32).hex() + "\n" + old)
    reload(env, "reload: done")
    key = env.status()["device_key"]
    assert key["id"] != old_id and key["keys"] == 2, (old_id, key)
    for i in range(3, 6):
        assert pos.request(sale("K-%d" % i, i))["ok"] is True
    os.chmod(key_file, 0o644)
    reload(env, "the running configuration is kept")
    assert "chmod 600" in env.log(), env.log()
    assert env.status()["device_key"] == key
    os.chmod(key_file, 0o600)
    mock.post("/_mock/fault", {"mode": "none"})
    pos.close()
    wait_until(lambda: drained(env), 60, "the backlog to drain", 0.2)
    exactly_once(mock, ["K-%d" % i for i in range(6)])
    emails = {c["emailAddress"] for c in mock.get("/_mock/contacts")}
    assert {"r%d@example.com" % i for i in range(5)} <= emails, emails
    assert env.status()["backends"][0]["dead_letter"] == 0
    assert env.kill_daemon(signal.SIGTERM) == 0
    return "key %s rotated to %s by SIGHUP (2 keys); 3 sales sealed under each, all 6 " \
           "delivered once with their customers; a key file of mode 644 refused the reload, " \
           "the running key kept" % (old_id, key["id"])


SCENARIOS = [scenario_add_backend, scenario_bad_config, scenario_remove_backend,
             scenario_rotate_device_key]

if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, lambda env: None))
