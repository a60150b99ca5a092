#!/usr/bin/env python3
"""Issue 9, observations 1, 2, 3 and 7 (the exact line limit): a careless configuration or a
hostile or sloppy POS application must not lose an acknowledged sale nor lock the POS out.

- two daemons naming one journal: the second exits 1 naming the holder; every acknowledged sale
  is delivered once;
- a second daemon while the first is stopped (SIGSTOP) with full listen backlogs: it refuses, and
  the first's sockets are left alone (same configuration, and a different journal with the same
  sockets: the socket rule on its own);
- pos_socket or control_socket at a regular file: refused naming the path (the socket code's
  own rule), nothing deleted; control_socket at the journal image (its path, a symlink, a hard
  link) and pos_socket equal to control_socket: refused, by the configuration check (exit 2) or
  the socket code (exit 1), the image untouched;
- 32 and 1,000 idle POS connections, a POS leaking one connection per sale, a request held half
  sent: a new connection's sale is still answered;
- idle control connections: tillsyncctl still answers;
- at the descriptor limit: the daemon does not spin (CPU time, not wall time) and still answers
  status and sales;
- a line of exactly 65,536 bytes is parsed; 65,537 is refused as longer than 65536 bytes.

Every case runs against a fresh daemon; a failing case is reported and the others still run.
"""

import hashlib
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback

from harness import Env, Pos, parse_args, wait_until

MAX_LINE = 65536


def sale(txn, **extra):
    s = {"event": "sale.completed", "txn": txn, "at": "2026-04-07T19:45:00+01:00", "total": 250,
         "currency": "GBP", "customer": {"email": "h%s@example.com" % txn.lower()}}
    s.update(extra)
    return s


class Extra:
    """Daemons a case starts besides env.daemon; all killed when the case ends."""

    def __init__(self, env):
        self.env = env
        self.procs = []

    def start(self, config_path, log_name, preexec_fn=None):
        log = open(os.path.join(self.env.dir, log_name), "a")
        p = subprocess.Popen(self.env.emulator + [self.env.args.daemon, "--config", config_path],
                             stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        p.log_path = os.path.join(self.env.dir, log_name)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.kill()
                p.wait()


def read(path):
    with open(path) as f:
        return f.read()


def answers(path):
    """True if something accepts connections at path now (a non-blocking connect: never waits)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def exited_or_ready(p, ctl_socket, timeout=60):
    """'exited' once p has exited, 'ready' once its control socket answers."""
    return wait_until(lambda: ("exited" if p.poll() is not None else
                               "ready" if answers(ctl_socket) else None), timeout,
                      "daemon to exit or listen")


def wait_exit(p, timeout=60):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def derived_config(env, name, change):
    with open(env.config_path) as f:
        cfg = json.load(f)
    change(cfg)
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def drained(env, config_path=None):
    def check():
        r = subprocess.run(env.emulator + [env.args.ctl, "--config", config_path or env.config_path,
                                           "status", "--json"],
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0 and json.loads(r.stdout)["backends"][0]["queued"] == 0
    wait_until(check, 120, "backlog to drain", interval=0.5)


def delivered_once(env, acked):
    acts = env.mock_get("/_mock/activities")
    refs = [a["externalReference"] for a in acts]
    dups = sorted({r for r in refs if refs.count(r) > 1})
    lost = sorted(set(acked) - set(refs))
    assert not dups and not lost, "%d acknowledged, %d delivered; lost %s; duplicated %s" % (
        len(acked), len(set(refs) & set(acked)), lost, dups)


def sock_inode(path):
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode), "%s is no longer a socket" % path
    return st.st_ino


def new_sale_answered(env, txn):
    pos = Pos(env.pos_socket)
    try:
        # As a POS would: a full backlog (EAGAIN) is tried again, not taken as a refusal.
        pos.sock = hold_connections(env.pos_socket, 1)[0]
        pos.sock.settimeout(30)
        r = pos.request(sale(txn))
    except OSError as e:
        raise AssertionError("a new POS connection's sale got no answer: %r" % e)
    finally:
        pos.close()
    assert r.get("ok") is True, r
    return r


# ---- observation 1: one journal, one daemon ---------------------------------------------------

def case_two_daemons_one_journal(env, extra):
    env.start_mock()
    env.write_config()
    env.start_daemon()
    first_pid = env.daemon.pid
    pos2, ctl2 = os.path.join(env.dir, "pos2.sock"), os.path.join(env.dir, "ctl2.sock")
    cfg2 = derived_config(env, "second.json",
                          lambda c: (c["intake"].update(pos_socket=pos2),
                                     c.update(control_socket=ctl2)))
    second = extra.start(cfg2, "second.log")
    how = exited_or_ready(second, ctl2)
    problems = []
    acked = []
    # Sales to whichever daemons run: on the old code this is how sales went missing.
    for i in range(20):
        for k, path in enumerate((env.pos_socket, pos2)):
            if k == 1 and how != "ready":
                continue
            pos = Pos(path)
            r = pos.request(sale("TW%d%03d" % (k, i)))
            pos.close()
            if r.get("ok"):
                acked.append(r["ref"])
    if how == "ready":
        problems.append("a second daemon on the same journal started and acknowledged sales")
        second.kill()
        second.wait()
    else:
        log = read(second.log_path)
        if second.returncode != 1:
            problems.append("second daemon exited %s, expected 1" % second.returncode)
        want = "%s is in use by process %d" % (os.path.join(env.dir, "journal.img"), first_pid)
        if want not in log:
            problems.append("second daemon's message does not name the holder (%r): %s"
                            % (want, log.strip()))
    env.kill_daemon(signal.SIGKILL)
    env.start_daemon()
    drained(env)
    try:
        delivered_once(env, acked)
    except AssertionError as e:
        problems.append(str(e))
    assert not problems, "; ".join(problems)
    return "second daemon: %s; %d acknowledged sales delivered once" % (
        read(second.log_path).strip().splitlines()[-1], len(acked))


def fill_backlog(path, cap=400):
    """Connects to path until the listen backlog refuses (EAGAIN); returns the sockets."""
    held = []
    for _ in range(cap):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            return held
        held.append(s)
    raise AssertionError("%s took %d connections without a full backlog" % (path, cap))


def case_stopped_daemon_full_backlog(env, extra):
    env.port = 9
    env.write_config()
    env.start_daemon()
    inodes = (sock_inode(env.pos_socket), sock_inode(env.ctl_socket))
    os.kill(env.daemon.pid, signal.SIGSTOP)
    held = []
    problems = []
    try:
        held = fill_backlog(env.pos_socket) + fill_backlog(env.ctl_socket)
        other_journal = derived_config(
            env, "other-journal.json",
            lambda c: c["journal"].update(path=os.path.join(env.dir, "other.img")))
        for what, cfg in (("same configuration", env.config_path),
                          ("same sockets, another journal", other_journal)):
            p = extra.start(cfg, "second.log")
            rc = wait_exit(p)
            log = read(p.log_path)
            if rc is None:
                problems.append("%s: a second daemon started beside the stopped one" % what)
                p.kill()
                p.wait()
            elif rc != 1:
                problems.append("%s: exited %s, expected 1: %s" % (what, rc, log.strip()))
            elif what.startswith("same sockets") and env.pos_socket not in log:
                problems.append("%s: the refusal does not name %s: %s" % (what, env.pos_socket,
                                                                          log.strip()))
            now = tuple(os.lstat(path).st_ino if os.path.exists(path) else None
                        for path in (env.pos_socket, env.ctl_socket))
            if now != inodes:
                problems.append("%s: the stopped daemon's sockets were removed or replaced"
                                % what)
                break
    finally:
        os.kill(env.daemon.pid, signal.SIGCONT)
        for s in held:
            s.close()
    assert not problems, "; ".join(problems)
    new_sale_answered(env, "SB001")
    env.status()
    return "the second daemon refused both times: %s" % read(
        os.path.join(env.dir, "second.log")).strip().splitlines()[-1]


# ---- observation 2: socket paths -----------------------------------------------------------

def refused_naming(env, extra, cfg, path, name, keys=()):
    """The daemon must refuse to start: exit 1 naming path (the socket code), or exit 2 with the
    configuration check's line naming the keys."""
    p = extra.start(cfg, name)
    rc = wait_exit(p)
    if rc is None:
        p.kill()
        p.wait()
        raise AssertionError("the daemon started with %s taken over" % path)
    log = read(p.log_path)
    assert (rc == 1 and path in log) or (rc == 2 and keys and all(k in log for k in keys)), \
        (rc, log)
    return log.strip().splitlines()[-1]


def case_socket_at_regular_file(env, extra):
    env.port = 9
    env.write_config()
    precious = os.path.join(env.dir, "orders.csv")
    lines = []
    for key, change in (("pos_socket", lambda c: c["intake"].update(pos_socket=precious)),
                        ("control_socket", lambda c: c.update(control_socket=precious))):
        with open(precious, "w") as f:
            f.write("till,total\nT042,250\n")
        cfg = derived_config(env, "file.json", change)
        try:
            lines.append(refused_naming(env, extra, cfg, precious, "file.log"))
        finally:
            assert os.path.isfile(precious) and read(precious) == "till,total\nT042,250\n", \
                "%s at a regular file: it was deleted or changed" % key
    return "; ".join(lines)


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def case_control_socket_is_journal(env, extra):
    env.start_mock()
    env.write_config()
    env.start_daemon()
    acked = [new_sale_answered(env, "CJ%03d" % i)["ref"] for i in range(5)]
    env.kill_daemon(signal.SIGTERM)
    journal = os.path.join(env.dir, "journal.img")
    before = file_digest(journal)
    # The same path, and other names for the same file (which a comparison of the configured
    # strings does not see): each refused, the image untouched.
    symlink, hardlink = os.path.join(env.dir, "ctl-sym.sock"), os.path.join(env.dir, "ctl-hard")
    os.symlink(journal, symlink)
    os.link(journal, hardlink)
    lines = []
    for what, path in (("the journal's path", journal), ("a symlink to it", symlink),
                       ("a hard link to it", hardlink)):
        cfg = derived_config(env, "ctl-journal.json", lambda c: c.update(control_socket=path))
        try:
            lines.append("%s: %s" % (what, refused_naming(env, extra, cfg, path,
                                                          "ctl-journal.log",
                                                          ("control_socket", "journal"))))
        finally:
            assert os.path.isfile(journal) and file_digest(journal) == before, \
                "control_socket at %s: the journal image was deleted or changed" % what
            assert os.path.lexists(path), "control_socket at %s: %s was removed" % (what, path)
    os.unlink(symlink)
    os.unlink(hardlink)
    env.start_daemon()
    drained(env)
    delivered_once(env, acked)
    return "; ".join(lines)


def case_pos_socket_is_control_socket(env, extra):
    env.port = 9
    env.write_config()
    cfg = derived_config(env, "same.json",
                         lambda c: c["intake"].update(pos_socket=env.ctl_socket))
    return refused_naming(env, extra, cfg, env.ctl_socket, "same.log",
                          ("control_socket", "intake.pos_socket"))


# ---- observation 3: intake lock-out ------------------------------------------------------------

def hold_connections(path, n):
    """n connections to path, each connected before the next (a Unix socket's connect fails with
    EAGAIN, never waits, while the backlog is full: try again until the daemon has taken one)."""
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        deadline = time.monotonic() + 60
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    s.close()
                    for h in held:
                        h.close()
                    raise AssertionError("%s: backlog full for 60 s after %d connections"
                                         % (path, len(held)))
                time.sleep(0.005)
        s.setblocking(True)
        held.append(s)
    return held


def case_idle_pos_connections(env, extra):
    env.port = 9
    env.write_config()
    env.start_daemon()
    # A request in progress (half a line) is not what gets closed to make room.
    half = Pos(env.pos_socket)
    half.connect()
    line = json.dumps(sale("ID000")).encode()
    half.sock.sendall(line[:40])
    held = hold_connections(env.pos_socket, 32)
    try:
        new_sale_answered(env, "ID001")
        held += hold_connections(env.pos_socket, 1000)
        new_sale_answered(env, "ID002")
        half.sock.sendall(line[40:] + b"\n")
        half.buf = b""
        while b"\n" not in half.buf:
            chunk = half.sock.recv(4096)
            assert chunk, "the connection with a request in progress was closed"
            half.buf += chunk
        r = json.loads(half.buf.split(b"\n")[0])
        assert r.get("ok") is True, r
    finally:
        for s in held:
            s.close()
        half.close()
    return "a new connection's sale answered after 32 and after 1,032 idle connections; " \
           "a half-sent request kept its connection"


def case_trickling_pos(env, extra):
    """32 connections each dribbling one byte of a line every 2 s: never silent for 10 s, never
    finishing a line. They must not hold every slot for ever (found in review: the stall rule
    looked only at the last byte moved)."""
    env.port = 9
    env.write_config()
    env.start_daemon()
    held = hold_connections(env.pos_socket, 32)
    stop = threading.Event()

    def trickle():
        while not stop.wait(2.0):
            for s in held:
                try:
                    s.send(b" ")
                except OSError:
                    pass  # closed by the daemon to make room: what should happen

    for s in held:
        s.send(b'{"event":')
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        new_sale_answered(env, "TR001")
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
    return "a new connection's sale answered while 32 connections dribbled a line each"


def case_leaking_pos(env, extra):
    env.start_mock()
    env.write_config()
    env.start_daemon()
    leaked, acked = [], []
    try:
        for i in range(100):
            pos = Pos(env.pos_socket)
            try:
                r = pos.request(sale("LK%03d" % i))
            except OSError as e:
                raise AssertionError("sale %d (on its own connection, %d left open) got no "
                                     "answer: %r" % (i + 1, len(leaked), e))
            assert r.get("ok") is True, (i, r)
            acked.append(r["ref"])
            leaked.append(pos)  # never closed: the leak
    finally:
        for pos in leaked:
            pos.close()
    drained(env)
    delivered_once(env, acked)
    return "100 sales, one leaked connection each: all answered and delivered once"


def case_idle_control_connections(env, extra):
    env.port = 9
    env.write_config()
    env.start_daemon()
    env.status()  # served and closed: the start-up probe's connection is gone by now too
    held = hold_connections(env.ctl_socket, 6)
    try:
        r = env.ctl("status", "--json")
        assert r.returncode == 0, "tillsyncctl status behind 6 idle control connections: " \
            "exit %s %s" % (r.returncode, r.stderr.strip())
        json.loads(r.stdout)
    finally:
        for s in held:
            s.close()
    return "tillsyncctl status answered behind 6 idle control connections"


def case_stopped_daemon_status(env, extra):
    """A technician's status against a stopped (SIGSTOP) daemon: an answer within its timeout
    saying so, not a tool that hangs."""
    env.port = 9
    env.write_config()
    env.start_daemon()
    env.status()
    os.kill(env.daemon.pid, signal.SIGSTOP)
    try:
        try:
            r = subprocess.run(env.emulator + [env.args.ctl, "--config", env.config_path,
                                               "status"],
                               capture_output=True, text=True, timeout=45)
        except subprocess.TimeoutExpired:
            raise AssertionError("tillsyncctl status against a stopped daemon: no exit in 45 s")
        assert r.returncode != 0 and "no answer" in r.stderr, (r.returncode, r.stderr)
    finally:
        os.kill(env.daemon.pid, signal.SIGCONT)
    env.status()
    return "status against a stopped daemon: exit %d, %s" % (r.returncode, r.stderr.strip())


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_descriptor_limit(env, extra):
    env.port = 9
    env.write_config()
    limit = 30

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    p = extra.start(env.config_path, "daemon.log", preexec_fn=low_limit)
    assert exited_or_ready(p, env.ctl_socket) == "ready", read(p.log_path)
    held = []
    problems = []
    try:
        for _ in range(120):  # far more than the daemon has descriptors for
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(env.pos_socket)
                held.append(s)
            except BlockingIOError:
                s.close()
        time.sleep(0.5)
        t0, c0 = time.monotonic(), cpu_seconds(p.pid)
        time.sleep(3)
        t1, c1 = time.monotonic(), cpu_seconds(p.pid)
        # Idle, the daemon uses next to nothing; a loop spinning on accept's EMFILE uses a core.
        if c1 - c0 > 0.25 * (t1 - t0):
            problems.append("the daemon used %.2f s of CPU in %.2f s at its descriptor limit"
                            % (c1 - c0, t1 - t0))
        # A control client served at the limit, then a new POS connection that takes whatever
        # descriptor is free: the control socket must still have one for the next client.
        try:
            ctl = hold_connections(env.ctl_socket, 1)[0]
            ctl.settimeout(30)
            ctl.sendall(b"status\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = ctl.recv(65536)
                if not chunk:
                    break
                reply += chunk
            ctl.close()
            json.loads(reply)
        except (OSError, ValueError) as e:
            problems.append("a control client at the descriptor limit: %r" % e)
        for txn in ("FD001", "FD002"):
            try:  # on a connection kept open: the descriptor it took stays taken
                pos = Pos(env.pos_socket)
                pos.sock = hold_connections(env.pos_socket, 1)[0]
                pos.sock.settimeout(30)
                held.append(pos.sock)
                r = pos.request(sale(txn))
                if r.get("ok") is not True:
                    problems.append("a sale at the descriptor limit: %s" % r)
            except OSError as e:
                problems.append("a new POS connection at the descriptor limit: %r" % e)
            try:
                r = subprocess.run(env.emulator + [env.args.ctl, "--config", env.config_path,
                                                   "status", "--json"],
                                   capture_output=True, text=True, timeout=30)
                if r.returncode != 0:
                    problems.append("status at the descriptor limit: %s" % r.stderr.strip())
            except subprocess.TimeoutExpired:
                problems.append("status at the descriptor limit, after a new sale: no answer "
                                "in 30 s")
                break
    finally:
        for s in held:
            s.close()
    assert not problems, "; ".join(problems)
    return "at RLIMIT_NOFILE %d with %d connections: %.2f s CPU in %.2f s; status and a new " \
           "sale answered" % (limit, len(held), c1 - c0, t1 - t0)


# ---- observation 7, third bullet: the line limit is exact ------------------------------------

def case_line_limit_exact(env, extra):
    env.port = 9
    env.write_config()
    env.start_daemon()
    pos = Pos(env.pos_socket)
    answers_ = []
    for txn, size in (("LL001", MAX_LINE), ("LL002", MAX_LINE + 1)):
        body = json.dumps(sale(txn))
        line = body + " " * (size - len(body))  # JSON allows the spaces: a valid sale
        assert len(line.encode()) == size
        answers_.append(pos.request(line))
    after = pos.request(sale("LL003"))
    pos.close()
    exact, over = answers_
    assert "longer than" not in exact.get("error", ""), \
        "a line of exactly %d bytes: %s" % (MAX_LINE, exact)
    assert exact.get("ok") is True, exact
    assert over == {"ok": False, "error": "request: longer than 65536 bytes"}, over
    assert after.get("ok") is True, after
    return "65,536 bytes: %s; 65,537 bytes: %s" % (exact, over)


CASES = [
    ("two daemons, one journal", case_two_daemons_one_journal),
    ("a stopped daemon with full backlogs", case_stopped_daemon_full_backlog),
    ("pos_socket or control_socket at a regular file", case_socket_at_regular_file),
    ("control_socket at the journal image", case_control_socket_is_journal),
    ("pos_socket equal to control_socket", case_pos_socket_is_control_socket),
    ("32 and 1,000 idle POS connections", case_idle_pos_connections),
    ("32 POS connections dribbling a line", case_trickling_pos),
    ("a POS leaking one connection per sale", case_leaking_pos),
    ("idle control connections", case_idle_control_connections),
    ("status against a stopped daemon", case_stopped_daemon_status),
    ("the descriptor limit", case_descriptor_limit),
    ("a line of exactly 64 KiB", case_line_limit_exact),
]


def main():
    args = parse_args(lambda p: p.add_argument("--only", help="run the cases whose name has this"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    failed = 0
    for name, fn in CASES:
        if args.only and args.only not in name:
            continue
        env = Env(args, "hostile")
        extra = Extra(env)
        ok = False
        try:
            print("ok: %s: %s" % (name, fn(env, extra)), flush=True)
            ok = True
        except Exception as e:  # report, and go on with the other cases
            failed += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print("FAIL: %s: %s" % (name, detail), flush=True)
        finally:
            extra.close()
            env.close(ok)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
