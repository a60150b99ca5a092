#!/usr/bin/env python3
"""Issue 12, Service (acceptance 4): tillsyncd as a service, installed from this build.

- unit: `cmake --install --component daemon` into a temporary prefix; the unit names the
  installed tillsyncd and configuration, carries the directives the issue asks for, and
  `systemd-analyze verify` (offline: no systemd needs to run) passes with nothing to say.
- notify: the daemon under a service manager's protocol, NOTIFY_SOCKET bound here (an abstract
  name, then a path): READY=1 only once the control socket answers, WATCHDOG=1 repeatedly at half
  of WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM (exit 0).
- journal_stream: with stderr on systemd's journal stream (JOURNAL_STREAM = its device:inode)
  every line carries its priority (<6> info, <4> warn) for journald; with JOURNAL_STREAM naming
  another file, the plain lines.
- init_script, init_script_pidfile: the installed init script under BusyBox's sh, with only
  BusyBox's applets on PATH (with its start-stop-daemon; then without it, the script keeping the
  pid file itself and logging to a file), as an unprivileged user (nobody, when the test runs as
  root): status (not running), start (returns once the control socket answers), status
  (running), a sale (tillsyncctl sale), reload (a second backend added: status shows it), stop
  (the process ends, exit through SIGTERM), status; the sale is in the journal (tillsyncctl
  verify, offline). A configuration that does not load: start fails and says so.
Skipped (77) when cross-built: the script and the tools run natively.
"""

import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import sys

from harness import parse_args, wait_until, Env

SKIP = 77
UNIT_MUST = ["Type=notify", "WatchdogSec=", "StateDirectory=tillsync", "RuntimeDirectory=tillsync",
             "ConfigurationDirectory=tillsync", "User=tillsync", "Group=tillsync",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
             "CapabilityBoundingSet=\n", "AmbientCapabilities=\n",
             "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK", "Nice=10",
             "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID"]
APPLETS = ["sh", "cat", "mkdir", "chmod", "chown", "id", "rm", "tr", "grep", "sleep", "renice",
           "kill"]


def extra(p):
    p.add_argument("--cmake", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--only", default="")


def install(env, args):
    prefix = os.path.join(env.dir, "prefix")
    subprocess.run([args.cmake, "--install", args.build_dir, "--prefix", prefix, "--component",
                    "daemon"], check=True, stdout=subprocess.DEVNULL)
    return prefix


def scenario_unit(env, args):
    prefix = install(env, args)
    unit_path = os.path.join(prefix, "lib/systemd/system/tillsync.service")
    with open(unit_path) as f:
        unit = f.read()
    missing = [d for d in UNIT_MUST if d not in unit]
    assert not missing, "the unit lacks %s" % missing
    exec_start = re.search(r"^ExecStart=(\S+) --config (\S+)$", unit, re.M)
    assert exec_start, unit
    daemon = os.path.join(prefix, "sbin/tillsyncd")
    assert exec_start.group(1) == daemon, (exec_start.group(1), daemon)
    assert exec_start.group(2) == os.path.join(prefix, "etc/tillsync/tillsync.json")
    for f in ("sbin/tillsyncd", "bin/tillsyncctl", "etc/init.d/tillsync",
              "etc/tillsync/tillsync.json.example", "share/doc/tillsync/README.md"):
        assert os.path.exists(os.path.join(prefix, f)), "not installed: " + f
    # The example's paths are the unit's directories.
    with open(os.path.join(prefix, "etc/tillsync/tillsync.json.example")) as f:
        ex = json.load(f)
    assert ex["journal"]["path"].startswith("/var/lib/tillsync/"), ex
    assert ex["intake"]["pos_socket"].startswith("/run/tillsync/"), ex
    assert ex["control_socket"].startswith("/run/tillsync/"), ex
    v = subprocess.run(["systemd-analyze", "verify", unit_path], capture_output=True, text=True)
    said = (v.stdout + v.stderr).strip()
    assert v.returncode == 0 and not said, "systemd-analyze verify: %d\n%s" % (v.returncode, said)
    ver = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout
    return "ExecStart %s; systemd-analyze verify (%s): clean" % (
        exec_start.group(1).replace(prefix, "$PREFIX"), ver.split("\n")[0])


def notify_run(env, address, bind_to):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(bind_to)
    sock.settimeout(30)
    env.write_config()
    denv = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
    denv.pop("WATCHDOG_PID", None)
    log = open(os.path.join(env.dir, "daemon.log"), "a")
    env.daemon = subprocess.Popen([env.args.daemon, "--config", env.config_path], env=denv,
                                  stdout=log, stderr=log)
    got = []

    def recv_until(word):
        while True:
            msg = sock.recv(4096).decode()
            got.append(msg)
            if word in msg.split("\n"):
                return msg

    ready = recv_until("READY=1")
    assert "MAINPID=%d" % env.daemon.pid in ready, ready
    # READY=1 means the sockets listen: the control socket answers now, not eventually.
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(env.ctl_socket)
    for _ in range(3):
        recv_until("WATCHDOG=1")
    env.daemon.send_signal(signal.SIGHUP)
    reloading = recv_until("RELOADING=1")
    assert "MONOTONIC_USEC=" in reloading, reloading
    recv_until("READY=1")
    env.daemon.send_signal(signal.SIGTERM)
    recv_until("STOPPING=1")
    rc = env.daemon.wait(30)
    env.daemon = None
    sock.close()
    assert rc == 0, rc
    return sum(m == "WATCHDOG=1" for m in got)


def scenario_notify(env, args):
    env.start_mock()
    name = "tillsync-test-%d" % os.getpid()
    pings = notify_run(env, "@" + name, "\0" + name)
    path = os.path.join(env.dir, "notify.sock")
    pings2 = notify_run(env, path, path)
    return "abstract and path sockets: READY, %d and %d WATCHDOG, RELOADING/READY, STOPPING" % (
        pings, pings2)


def scenario_journal_stream(env, args):
    env.start_mock()
    env.write_config()
    log_path = os.path.join(env.dir, "daemon.log")
    other = os.path.join(env.dir, "other")
    open(other, "w").close()
    open(log_path, "w").close()
    for target, want in ((log_path, "<6>info: ready"), (other, "tillsyncd: info: ready")):
        st = os.stat(target)
        open(log_path, "w").close()
        with open(log_path, "a") as log:
            denv = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            env.daemon = subprocess.Popen([args.daemon, "--config", env.config_path], env=denv,
                                          stdout=log, stderr=log)
            wait_until(env.daemon_ready, 30, "daemon to listen")
            assert env.kill_daemon(signal.SIGTERM) == 0
        text = env.log()
        assert want in text, text
        if target == log_path:
            assert "<4>warn: no netlink" in text or "<4>" not in want, text
            assert all(re.match(r"<[0-7]>", line) for line in text.splitlines()), text
    return "journald sees <6>/<4> priorities; plain lines elsewhere"


def run_script(script, env_vars, user, *argv):
    cmd = [shutil.which("busybox"), "sh", script] + list(argv)
    if user:
        cmd = [shutil.which("setpriv"), "--reuid=%d" % user[0], "--regid=%d" % user[1], "--clear-groups"] + cmd
    r = subprocess.run(cmd, env=env_vars, capture_output=True, text=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).strip()


def init_script(env, args, with_ssd):
    prefix = install(env, args)
    script = os.path.join(prefix, "etc/init.d/tillsync")
    env.start_mock()
    second = env.add_mock("glu", "glu2")
    run_dir, state_dir = os.path.join(env.dir, "run"), os.path.join(env.dir, "state")
    env.pos_socket = os.path.join(run_dir, "pos.sock")
    env.ctl_socket = os.path.join(run_dir, "ctl.sock")
    env.write_config()
    with open(env.config_path) as f:
        cfg = json.load(f)
    cfg["journal"]["path"] = os.path.join(state_dir, "journal.img")
    with open(env.config_path, "w") as f:
        json.dump(cfg, f)
    # BusyBox's applets alone on PATH: what a small image has.
    bb = os.path.join(env.dir, "bb")
    os.mkdir(bb)
    busybox = shutil.which("busybox")
    for a in APPLETS + (["start-stop-daemon"] if with_ssd else []):
        os.symlink(busybox, os.path.join(bb, a))
    user = None
    if os.getuid() == 0:
        user = (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        for root, dirs, files in os.walk(env.dir):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), *user)
        os.chown(env.dir, *user)
    log_file = "" if with_ssd else os.path.join(env.dir, "daemon.log")
    evars = {"PATH": bb, "TILLSYNC_DAEMON": os.path.join(prefix, "sbin/tillsyncd"),
             "TILLSYNC_CTL": os.path.join(prefix, "bin/tillsyncctl"),
             "TILLSYNC_CONFIG": env.config_path, "TILLSYNC_RUN_DIR": run_dir,
             "TILLSYNC_STATE_DIR": state_dir, "TILLSYNC_LOG_FILE": log_file,
             "TILLSYNC_DEFAULTS": "/nonexistent"}
    steps = []

    def step(argv, want_rc, want_text):
        rc, out = run_script(script, evars, user, argv)
        assert rc == want_rc and want_text in out, "%s: exit %d (want %d): %s" % (
            argv, rc, want_rc, out)
        steps.append("%s %d" % (argv, rc))
        return out

    step("status", 3, "not running")
    out = step("start", 0, "started (pid ")
    pid = int(re.search(r"pid (\d+)", out).group(1))
    with open("/proc/%d/stat" % pid) as f:
        nice = int(f.read().rsplit(")", 1)[1].split()[16])
    assert nice == 10, "nice %d" % nice
    if user:
        assert os.stat("/proc/%d" % pid).st_uid == user[0], "not running as nobody"
    step("status", 0, "running (pid %d)" % pid)
    step("start", 0, "already running")
    r = env.ctl("sale", json.dumps({"event": "sale.completed", "txn": "INIT-1",
                                    "at": "2026-04-07T19:45:00+01:00", "total": 350,
                                    "currency": "GBP",
                                    "customer": {"email": "init@example.com"}}))
    assert r.returncode == 0 and "T042:INIT-1" in r.stdout, (r.returncode, r.stdout, r.stderr)
    cfg["backends"].append(dict(cfg["backends"][0], name="glu2", base_url=second.url))
    with open(env.config_path, "w") as f:
        json.dump(cfg, f)
    step("reload", 0, "reload requested")
    wait_until(lambda: len(env.status()["backends"]) == 2, 30, "the reload's second backend")
    wait_until(lambda: all(b["queued"] == 0 for b in env.status()["backends"]), 60, "delivery")
    step("stop", 0, "stopped")
    assert not os.path.exists("/proc/%d" % pid), "still running"
    step("status", 3, "not running")
    v = env.ctl("verify")
    assert v.returncode == 0 and "records   1 sales" in v.stdout, v.stdout + v.stderr
    if log_file:
        log = env.log()
        assert "reload: backend glu2 added" in log and "stopped" in log, log
    # A configuration that does not load: start says so and fails.
    with open(env.config_path, "w") as f:
        json.dump(dict(cfg, bakends=1), f)
    step("start", 1, "exited during start")
    return "BusyBox sh%s, as %s: %s; nice 10; the sale in the journal" % (
        " + start-stop-daemon" if with_ssd else ", pid file", "nobody" if user else "this user",
        ", ".join(steps))


def scenario_init_script(env, args):
    return init_script(env, args, True)


def scenario_init_script_pidfile(env, args):
    return init_script(env, args, False)


SCENARIOS = [scenario_unit, scenario_notify, scenario_journal_stream, scenario_init_script,
             scenario_init_script_pidfile]


def main():
    args = parse_args(extra)
    if args.emulator:
        print("skipped: cross-built (the init script and systemd-analyze run natively)")
        return SKIP
    failed = 0
    for sc in SCENARIOS:
        if args.only and args.only not in sc.__name__:
            continue
        try:
            with Env(args, sc.__name__) as env:
                print("ok: %s: %s" % (sc.__name__, sc(env, args)), flush=True)
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            print("FAIL: %s: %s" % (sc.__name__, e), flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
