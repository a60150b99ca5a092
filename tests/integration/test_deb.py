#!/usr/bin/env python3
"""Issue 12, Service (acceptance 4): the .deb.

cpack -G DEB from this build directory (into a temporary directory), then:
- dpkg-deb --info: package tillsync, this machine's architecture, Depends computed by
  dpkg-shlibdeps (libc6, libcurl4, libcjson1, mbedTLS) plus adduser, the maintainer scripts and
  the conffiles (the init script, the example configuration).
- dpkg-deb --contents: the binaries where the unit and the init script look for them
  (ExecStart's path is /usr/sbin/tillsyncd and is in the package; the init script's DAEMON and CTL
  too), the unit in /lib/systemd/system, the example in /etc/tillsync; no client library.
- lintian: no error (warnings are printed; the overrides file says why each is overridden).
- installed with dpkg into a throwaway root: an overlay over this machine's Debian root (its
  libraries satisfy Depends; nothing is written to the real root), mounted in a private mount
  namespace and entered with chroot. postinst makes the system user tillsync, its
  /var/lib/tillsync, enables the unit (deb-systemd-helper's link; no systemd runs here, so the
  service is started through the init script); with a configuration against the mock the
  service starts as tillsync at nice 10, takes a sale and delivers it; installing the package
  again (an upgrade) stops and starts it; dpkg -r stops it (prerm) and removes
  the files; dpkg -P removes the conffiles and keeps the journal. Needs root for the mounts:
  without it that part is reported as not run.
Skipped (77) cross-built or sanitized (the package is made from the host-dev build).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

from harness import API_KEY, parse_args, wait_until, Env

SKIP = 77
WANT_FILES = ["./usr/sbin/tillsyncd", "./usr/bin/tillsyncctl", "./lib/systemd/system/tillsync.service",
              "./etc/init.d/tillsync", "./etc/tillsync/tillsync.json.example",
              "./usr/share/doc/tillsync/copyright", "./usr/share/doc/tillsync/changelog.gz",
              "./usr/share/doc/tillsync/README.md", "./usr/share/lintian/overrides/tillsync"]


def extra(p):
    p.add_argument("--cpack", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--skip", default="", help="a reason to skip (a sanitized build)")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def build_deb(env, args):
    out = os.path.join(env.dir, "pkg")
    r = run([args.cpack, "--config", os.path.join(args.build_dir, "CPackConfig.cmake"), "-G",
             "DEB", "-B", out])
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    return os.path.join(out, debs[0])


def member(deb, path):
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True,
                          check=True).stdout
    import io
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.extractfile(path).read().decode()


def check_package(deb):
    info = run(["dpkg-deb", "--info", deb]).stdout
    field = lambda k: (re.search(r"^ %s: (.*)$" % k, info, re.M) or [None, None])[1]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert field("Package") == "tillsync", info
    assert field("Architecture") == arch, info
    depends = field("Depends") or ""
    for dep in ("adduser", "libc6", "libcurl4", "libcjson1", "libmbedcrypto7"):
        assert dep in depends, "Depends lacks %s: %s" % (dep, depends)
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(r"^ +\d+ bytes, +\d+ lines +\*? +%s\b" % script, info, re.M), info
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True,
                               check=True).stdout
    import io
    with tarfile.open(fileobj=io.BytesIO(conffiles)) as t:
        conf = t.extractfile("./conffiles").read().decode().split()
    assert conf == ["/etc/init.d/tillsync", "/etc/tillsync/tillsync.json.example"], conf
    contents = run(["dpkg-deb", "--contents", deb]).stdout
    paths = [line.split()[-1] for line in contents.splitlines()]
    missing = [p for p in WANT_FILES if p not in paths]
    assert not missing, "not in the package: %s\n%s" % (missing, contents)
    assert not [p for p in paths if "libtillsync" in p or p.endswith(".h")], contents
    unit = member(deb, "./lib/systemd/system/tillsync.service")
    m = re.search(r"^ExecStart=(\S+) --config (\S+)$", unit, re.M)
    assert m and "." + m.group(1) in paths, "ExecStart %s not in the package" % (m and m.group(1))
    assert m.group(2) == "/etc/tillsync/tillsync.json", m.group(2)
    init = member(deb, "./etc/init.d/tillsync")
    for var in ("DAEMON", "CTL"):
        p = re.search(r"^%s=\$\{TILLSYNC_\w+:-(\S+)\}$" % var, init, re.M).group(1)
        assert "." + p in paths, "the init script's %s %s is not in the package" % (var, p)
    return depends, field("Installed-Size"), len(paths)


def lintian(deb):
    r = run(["lintian", "--display-info", "--show-overrides", deb])
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIO]: ", l)]
    for t in tags:
        print("  lintian " + t)
    errors = [t for t in tags if t.startswith("E: ")]
    assert not errors, "lintian errors:\n" + "\n".join(errors)
    assert r.returncode == 0, r.stdout + r.stderr
    return "lintian: %d error(s), %d warning(s), %d overridden" % (
        len(errors), sum(t.startswith("W: ") for t in tags), sum(t.startswith("O: ") for t in tags))


# Runs inside a private mount namespace: an overlay over / as a throwaway root, then dpkg there.
INSTALL_SH = r'''
set -eu
W=$1; DEB=$2
R=$W/root
mkdir -p $W/up $W/work $R
mount -t overlay overlay -o lowerdir=/,upperdir=$W/up,workdir=$W/work $R
mount -t proc proc $R/proc
mount --rbind /dev $R/dev
mkdir -p $R/run && mount -t tmpfs tmpfs $R/run
mkdir -p $R/tmp/deb && cp "$DEB" $W/files/* $R/tmp/deb/
in_root() { chroot $R "$@"; }
# A container's image denies every service action (policy-rc.d exits 101); a Debian 12 system
# has no such file, and prerm's stop through invoke-rc.d is what is tested here.
rm -f $R/usr/sbin/policy-rc.d
# No init runs in a chroot: runlevel answers as a SysV-init system in runlevel 2 would, so
# invoke-rc.d (the maintainer scripts' way without systemd) acts on the rc2.d links.
rm -f $R/sbin/runlevel && printf '#!/bin/sh\necho N 2\n' >$R/sbin/runlevel && chmod 755 $R/sbin/runlevel
echo "STEP install"; in_root dpkg -i /tmp/deb/$(basename "$DEB")
echo "STEP user $(in_root getent passwd tillsync | cut -d: -f1,7)"
echo "STEP state $(in_root stat -c '%U:%G %a' /var/lib/tillsync)"
echo "STEP etc $(in_root stat -c '%U:%G %a' /etc/tillsync)"
in_root test -L /etc/systemd/system/multi-user.target.wants/tillsync.service && echo "STEP enabled"
in_root test -L /etc/rc2.d/S01tillsync && echo "STEP rc2.d link"
echo "STEP version $(in_root /usr/sbin/tillsyncd --version)"
in_root install -o tillsync -g tillsync -m 600 /tmp/deb/glu.key /etc/tillsync/glu.key
in_root install -o root -g tillsync -m 640 /tmp/deb/ca.pem /etc/tillsync/ca.pem
in_root install -o root -g tillsync -m 640 /tmp/deb/tillsync.json /etc/tillsync/tillsync.json
in_root /etc/init.d/tillsync start
echo "STEP status $(in_root /etc/init.d/tillsync status)"
pid=$(cat $R/run/tillsync/tillsyncd.pid)
echo "STEP owner $(in_root stat -c %U /proc/$pid) nice $(cut -d' ' -f19 /proc/$pid/stat)"
echo "STEP sale $(in_root /usr/bin/tillsyncctl --config /etc/tillsync/tillsync.json sale '{"event":"sale.completed","txn":"DEB-1","at":"2026-04-07T19:45:00+01:00","total":990,"currency":"GBP","customer":{"email":"deb@example.com"}}')"
n=0
until in_root /usr/bin/tillsyncctl --config /etc/tillsync/tillsync.json status --json | grep -q '"queued":0,'; do
  n=$((n+1)); [ $n -lt 300 ] || { echo "STEP never delivered"; exit 1; }; sleep 0.2
done
echo "STEP delivered"
# Configured now: an upgrade (the same package again) stops it in prerm, starts it in postinst.
echo "STEP reinstall"; in_root dpkg -i /tmp/deb/$(basename "$DEB")
new=$(cat $R/run/tillsync/tillsyncd.pid)
[ "$new" != "$pid" ] && kill -0 "$new" && ! kill -0 "$pid" 2>/dev/null && echo "STEP restarted by prerm and postinst"
pid=$new
echo "STEP remove"; in_root dpkg -r tillsync
if kill -0 $pid 2>/dev/null; then echo "STEP still running after remove"; exit 1; fi
echo "STEP stopped by prerm"
test ! -e $R/usr/sbin/tillsyncd && echo "STEP binaries gone"
test -e $R/etc/init.d/tillsync && echo "STEP conffiles kept on remove"
echo "STEP purge"; in_root dpkg -P tillsync
test ! -e $R/etc/init.d/tillsync && test ! -e $R/etc/tillsync/tillsync.json.example && echo "STEP conffiles purged"
test -e $R/var/lib/tillsync/journal.img && echo "STEP journal kept"
'''


def install_in_root(env, deb):
    if os.getuid() != 0 or not shutil.which("unshare"):
        return "install into a throwaway root: not run (needs root for its mounts)"
    env.start_mock()
    files = os.path.join(env.dir, "files")
    os.mkdir(files)
    shutil.copy(os.path.join(env.dir, "tls", "ca.pem"), files)
    with open(os.path.join(files, "glu.key"), "w") as f:
        f.write(API_KEY + "\n")
    with open(os.path.join(files, "tillsync.json"), "w") as f:
        json.dump({"terminal_id": "T042",
                   "journal": {"driver": "file", "path": "/var/lib/tillsync/journal.img",
                               "size": 1048576, "erase_size": 65536, "program_size": 16},
                   "intake": {"pos_socket": "/run/tillsync/pos.sock"},
                   "control_socket": "/run/tillsync/ctl.sock",
                   "backends": [{"name": "glu", "kind": "glu",
                                 "base_url": "https://127.0.0.1:%d" % env.port,
                                 "api_key_file": "/etc/tillsync/glu.key",
                                 "ca_file": "/etc/tillsync/ca.pem", "retry_max_s": 2}]}, f)
    script = os.path.join(env.dir, "install.sh")
    with open(script, "w") as f:
        f.write(INSTALL_SH)
    w = os.path.join(env.dir, "ovl")
    os.mkdir(w)
    os.rename(files, os.path.join(w, "files"))
    r = run(["unshare", "-m", "--propagation", "private", "sh", script, w, deb])
    out = r.stdout + r.stderr
    if r.returncode != 0 and "mount" in out and "STEP install" not in out:
        return "install into a throwaway root: not run (overlay mount refused: %s)" % out[-200:]
    steps = [l[5:] for l in r.stdout.splitlines() if l.startswith("STEP ")]
    assert r.returncode == 0, "exit %d:\n%s" % (r.returncode, out)
    want = ["user tillsync:/usr/sbin/nologin", "state tillsync:tillsync 750",
            "etc root:tillsync 750", "enabled", "rc2.d link", "status tillsync: running",
            "owner tillsync nice 10", "sale T042:DEB-1", "delivered",
            "restarted by prerm and postinst", "stopped by prerm",
            "binaries gone", "conffiles kept on remove", "conffiles purged", "journal kept"]
    missing = [s for s in want if not any(x.startswith(s) for x in steps)]
    assert not missing, "missing steps %s in:\n%s" % (missing, out)
    assert env.mock_get("/_mock/requests") is not None
    return "dpkg -i/-r/-P in an overlay root: " + "; ".join(steps)


def main():
    args = parse_args(extra)
    if args.emulator or args.skip:
        print("skipped: %s" % (args.skip or "cross-built: the package is made from host-dev"))
        return SKIP
    for tool in ("dpkg-deb", "dpkg-shlibdeps", "lintian"):
        if not shutil.which(tool):
            print("FAIL: %s missing (toolchain/install-deps.sh installs it)" % tool)
            return 1
    try:
        with Env(args, "deb") as env:
            deb = build_deb(env, args)
            depends, size, n = check_package(deb)
            print("ok: package: %s, %d entries, Installed-Size %s KiB, Depends: %s" % (
                os.path.basename(deb), n, size, depends), flush=True)
            print("ok: " + lintian(deb), flush=True)
            print("ok: " + install_in_root(env, deb), flush=True)
    except (AssertionError, OSError, subprocess.SubprocessError) as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
