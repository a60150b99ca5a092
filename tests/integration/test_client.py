#!/usr/bin/env python3
"""Issue 11, acceptance 4: libtillsync as an integrator gets it. The build is installed into a
temporary prefix (cmake --install); tests/integration/client_program.c is compiled against that
install through pkg-config alone and run against the real daemon: 4 threads (two sharing one
client) send 600 sales while the daemon is SIGKILLed twice, once with every thread waiting to send
and once with sales in flight. Each sale is resent with the same txn until stored; at the end
every txn has its ref (T042:txn), the journal holds every sale once (the platform is away
until it has been counted: nothing is delivered and reclaimed) and then the mock has each once.
Then tillsyncctl sale: stored (0, the ref printed), a duplicate (0), a bad field (1, the field
on stderr), no daemon (75)."""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading

from harness import drained, parse_args, wait_until, Env

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS, PER_THREAD = 4, 150


def extra(p):
    p.add_argument("--cmake", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--cc", required=True)
    p.add_argument("--cc-flags", default="", help="e.g. --sysroot=... or the sanitizer flags")


def install_and_build(env, args):
    """The library as installed, and the program built the way docs/INTEGRATION.md says."""
    prefix = os.path.join(env.dir, "prefix")
    subprocess.run([args.cmake, "--install", args.build_dir, "--prefix", prefix], check=True,
                   stdout=subprocess.DEVNULL)
    libdir = os.path.join(prefix, "lib")
    for f in ("include/tillsync/client.h", "lib/libtillsync.a", "lib/libtillsync.so",
              "lib/libtillsync.so.0", "lib/pkgconfig/tillsync.pc"):
        assert os.path.exists(os.path.join(prefix, f)), "not installed: " + f
    pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
    for k in ("PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"):
        pc_env.pop(k, None)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tillsync"], env=pc_env,
                           check=True, capture_output=True, text=True).stdout.split()
    norm = [f[:2] + os.path.normpath(f[2:]) if f[:2] in ("-I", "-L") else f for f in flags]
    assert "-ltillsync" in norm and "-I%s/include" % prefix in norm, flags
    program = os.path.join(env.dir, "client_program")
    cmd = (shlex.split(args.cc) + shlex.split(args.cc_flags) +
           ["-std=c11", "-Wall", "-Wextra", "-Werror", "-o", program,
            os.path.join(HERE, "client_program.c")] + flags + ["-pthread", "-Wl,-rpath," + libdir])
    subprocess.run(cmd, check=True)
    return program


def restart(env):
    env.kill_daemon(signal.SIGKILL)
    env.start_daemon()


def sales_through_restarts(env, program):
    total = THREADS * PER_THREAD
    proc = subprocess.Popen(env.emulator + [program, env.pos_socket, str(THREADS),
                                            str(PER_THREAD)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines, seen = [], threading.Event()
    seen_at = {k: threading.Event() for k in ("gate", "retry", "mid")}

    def reader():
        stored = 0
        for line in proc.stdout:
            lines.append(line.split())
            stored += line.startswith("ok ")
            for k in ("gate", "retry"):
                if line.startswith(k):
                    seen_at[k].set()
            if stored >= total // 2:
                seen_at["mid"].set()
        seen.set()
    t = threading.Thread(target=reader)
    t.start()
    # Every thread holds its next sale: the daemon goes away and the sales meet a dead socket.
    wait_until(seen_at["gate"].is_set, 120, "every thread at the gate")
    env.kill_daemon(signal.SIGKILL)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    wait_until(seen_at["retry"].is_set, 120, "a call to answer retry")
    env.start_daemon()
    # Again with sales flowing: requests are written when the daemon dies.
    wait_until(lambda: seen_at["mid"].is_set() or seen.is_set(), 300, "half stored")
    in_flight = not seen.is_set()
    restart(env)
    rc = proc.wait(timeout=600)
    t.join()
    assert rc == 0, "client_program exited %d" % rc
    oks = [w for w in lines if w[0] == "ok"]
    done = [w for w in lines if w[0] == "done"]
    refs = {}
    for _, txn, ref, _dup in oks:
        assert txn not in refs, "txn reported stored twice: " + txn
        assert ref == "T042:" + txn, (txn, ref)
        refs[txn] = ref
    want = {"C%d-%04d" % (th, i) for th in range(THREADS) for i in range(PER_THREAD)}
    assert set(refs) == want, "missing: %s" % sorted(want - set(refs))[:5]
    retries = int(done[0][1])
    dups = sum(int(w[3]) for w in oks)
    return total, retries, dups, in_flight


def journal_and_mock_hold_each_once(env, total):
    """The platform was away all along, so the journal still holds every sale: each once."""
    assert env.kill_daemon(signal.SIGTERM) == 0
    v = env.ctl("verify")
    assert v.returncode == 0, v.stdout + v.stderr
    assert "records   %d sales" % total in v.stdout, v.stdout
    assert "glu: %d queued, 0 delivered" % total in v.stdout, v.stdout
    env.start_mock()
    env.start_daemon()
    drained(env, timeout=300)
    acts = env.mock_get("/_mock/activities")
    refs = [a["externalReference"] for a in acts]
    assert len(refs) == total == len(set(refs)), "mock has %d activities (%d refs), expected %d" % (
        len(refs), len(set(refs)), total)
    sample = [a for a in acts if a["externalReference"] == "T042:C0-0000"][0]
    assert sample["spend"] == 100 and sample["currencyCode"] == "GBP", sample


def ctl_sale(env):
    sale = {"event": "sale.completed", "txn": "CTL-1", "at": "2026-04-07T19:45:00Z",
            "total": 250, "currency": "GBP"}
    r = env.ctl("sale", json.dumps(sale))
    assert r.returncode == 0 and r.stdout == "T042:CTL-1\n", r
    # From stdin, pretty-printed, as a shell script would pipe it: the same txn is a duplicate.
    r = subprocess.run(env.emulator + [env.args.ctl, "--config", env.config_path, "sale"],
                       input=json.dumps(sale, indent=2), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout == "T042:CTL-1\n" and "duplicate" in r.stderr, r
    bad = dict(sale, txn="CTL-2", currency="XYZ")
    r = env.ctl("sale", json.dumps(bad))
    assert r.returncode == 1 and r.stdout == "" and "currency:" in r.stderr, r
    env.kill_daemon(signal.SIGKILL)
    r = env.ctl("sale", json.dumps(dict(sale, txn="CTL-3")))
    assert r.returncode == 75 and "same txn" in r.stderr, r
    env.start_daemon()
    r = env.ctl("sale", json.dumps(dict(sale, txn="CTL-3")))
    assert r.returncode == 0 and r.stdout == "T042:CTL-3\n", r


def main():
    args = parse_args(extra)
    with Env(args, "client") as env:
        program = install_and_build(env, args)
        env.start_mock()
        env.kill_mock()  # the platform is away until the journal has been counted
        env.write_config()
        env.start_daemon()
        total, retries, dups, in_flight = sales_through_restarts(env, program)
        ctl_sale(env)
        journal_and_mock_hold_each_once(env, total + 2)
        print("ok: installed libtillsync built into a POS program through pkg-config; %d sales "
              "from %d threads through two SIGKILLs (%s): every txn its ref, each stored once "
              "(%d answers retry, %d duplicates); tillsyncctl sale exits 0, 0 (duplicate), 1 "
              "(field named), 75 (daemon down)"
              % (total, THREADS, "the second with sales in flight" if in_flight else
                 "the second after the program finished", retries, dups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
