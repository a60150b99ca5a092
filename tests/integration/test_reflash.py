#!/usr/bin/env python3
"""Reflash: tillsyncctl export, wipe, tillsyncctl import, and every sale delivered exactly once.

The till feeds Glu, Gleantap and Givebutter. Glu is up and refuses one sale for good (a 422: a
dead letter); Gleantap takes the first sales, then goes down; Givebutter is down throughout. The
daemon is stopped, the journal exported, the journal image deleted (and for a replaced board the
device key too, the file then sealed with a technician's passphrase), the file imported, the
daemon started and the platforms brought back. Each platform's request log (the mocks' whole
history, before and after the reflash) must show every sale it should have exactly once: what
it had before is not sent again, the dead letter stays one with its reason.

A journal too small for the file gets nothing (a dry run finds out first). Also: a file with any
one byte changed (header, middle, last byte), cut short, of an unknown version, sealed under another device key, or from another terminal is refused with exit 1 and
the journal left byte for byte as it was; an import run twice adds nothing the second time.
"""

import hashlib
import json
import os
import subprocess
import sys

from harness import run_scenarios, wait_until
from test_fanout import Pos, TERMINAL, exactly_once, has_all, sale, start_all, backends, submit

FIRST = ["RF%03d" % i for i in range(4)]       # Gleantap still up
LATER = ["RF%03d" % i for i in range(4, 12)]   # Gleantap down too
ALL = FIRST + LATER
DEAD = "RF000"                                  # Glu's 422
OTHER_KEY = "11" * 32


def journal_path(env):
    return os.path.join(env.dir, "journal.img")


def key_path(env):
    return os.path.join(env.dir, "device.key")  # the default: beside journal.path


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_secret(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)


def take_sales(env):
    """The sales of both scenarios, the daemon then stopped. Returns the mocks."""
    # The device key, as provision or the daemon's first start would make it.
    write_secret(key_path(env), os.urandom(32).hex())
    mocks = start_all(env, anonymous_sales="contact",
                      anonymous_contact_email="walk-in@shop.example")
    mocks["givebutter"].post("/_mock/fault", {"mode": "down"})
    mocks["glu"].post("/_mock/fault", {"mode": "422", "count": 1})
    pos = Pos(env.pos_socket)
    acked = {}
    # The refused one alone: Glu sends several sales at once, and the 422 must be DEAD's.
    submit(pos, [sale(DEAD, 0)], acked)
    wait_until(lambda: backends(env)["glu"]["dead_letter"] == 1, 60, "Glu's dead letter", 0.2)
    submit(pos, [sale(t, 1 + i) for i, t in enumerate(FIRST[1:])], acked)
    wait_until(lambda: has_all(mocks["gleantap"], FIRST) and
               has_all(mocks["glu"], FIRST[1:]), 60, "Glu and Gleantap to take the first sales",
               0.2)
    mocks["gleantap"].post("/_mock/fault", {"mode": "down"})
    submit(pos, [sale(t, len(FIRST) + i) for i, t in enumerate(LATER)], acked)
    pos.close()
    wait_until(lambda: has_all(mocks["glu"], LATER), 60, "Glu to take the later sales", 0.2)
    wait_until(lambda: backends(env)["glu"]["queued"] == 0, 60, "Glu to finish", 0.2)
    st = backends(env)
    assert st["gleantap"]["queued"] == len(LATER), st["gleantap"]
    assert st["givebutter"]["queued"] == len(ALL), st["givebutter"]
    # Offline only: the running daemon holds the journal.
    out = env.ctl("export", os.path.join(env.dir, "early.tsx"))
    assert out.returncode == 2 and "tillsyncd is running: stop it first" in out.stderr, out
    env.kill_daemon(sig=15)
    return mocks


def check_export(env, out, sealed_by):
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "12 sales" in lines[0] and sealed_by in lines[0], out.stdout
    for want in ("glu: 0 still to deliver, 1 dead letter", "gleantap: 8 still to deliver, 0 dead",
                 "givebutter: 12 still to deliver, 0 dead"):
        assert any(want in line for line in lines), (want, out.stdout)


def check_import(env, out, imported, here):
    assert out.returncode == 0, out.stdout + out.stderr
    assert "%d imported, %d already here" % (imported, here) in out.stdout, out.stdout
    if imported:
        for want in ("glu: 11 it had (not sent again), 1 dead letter kept, 0 to deliver",
                     "gleantap: 4 it had (not sent again), 0 dead letters kept, 8 to deliver",
                     "givebutter: 0 it had (not sent again), 0 dead letters kept, 12 to deliver"):
            assert want in out.stdout, (want, out.stdout)


def refused(env, argv, why, config=None):
    before = digest(journal_path(env))
    cmd = env.ctl(*argv) if config is None else subprocess.run(
        env.emulator + [env.args.ctl, "--config", config] + list(argv), capture_output=True,
        text=True, timeout=120)
    assert cmd.returncode == 1, (argv, cmd.returncode, cmd.stdout, cmd.stderr)
    assert why in cmd.stderr and "nothing imported" in cmd.stderr, (argv, cmd.stderr)
    assert digest(journal_path(env)) == before, "%s changed the journal" % (argv,)
    return cmd.stderr.strip()


def deliver_after(env, mocks):
    """Starts the daemon on the imported journal with every platform up; checks the outcome."""
    for name in ("gleantap", "givebutter"):
        mocks[name].post("/_mock/fault", {"mode": "none"})
    env.start_daemon()
    wait_until(lambda: all(b["queued"] == 0 and b["in_flight"] == 0
                           for b in backends(env).values()), 120, "everything delivered", 0.2)
    counts = {"glu": exactly_once(mocks["glu"], [t for t in ALL if t != DEAD])}
    # The customers came back with the sales: opened at export, sealed again at import, opened
    # by delivery. (anonymous_sales "contact" would hide a lost customer behind the walk-in.)
    emails = {r["body"].get("emailAddress") for r in mocks["glu"].get("/_mock/requests")
              if r["method"] == "POST" and r["path"] == "/contacts" and r.get("body")}
    assert {"fan%d@example.com" % i for i in range(7)} <= emails, sorted(e for e in emails if e)
    assert "walk-in@shop.example" not in emails, "a sale lost its customer on the way"
    for name in ("gleantap", "givebutter"):
        counts[name] = exactly_once(mocks[name], ALL)
    st = backends(env)
    assert st["glu"]["dead_letter"] == 1 and st["glu"]["delivered"] == len(ALL) - 1, st["glu"]
    out = env.ctl("dead-letters")
    assert out.returncode == 0, out.stderr
    dl = {b["name"]: b["dead_letters"] for b in json.loads(out.stdout)["backends"]}
    assert [d["ref"] for d in dl["glu"]] == [TERMINAL + ":" + DEAD], dl
    assert "422" in dl["glu"][0]["reason"], dl
    assert dl["gleantap"] == [] and dl["givebutter"] == [], dl
    return counts, dl["glu"][0]["reason"]


def scenario_reflash_same_key(env):
    mocks = take_sales(env)
    tsx = os.path.join(env.dir, "till.tsx")
    out = env.ctl("export", tsx)
    check_export(env, out, "device key")
    summary = out.stdout.splitlines()[0]
    assert os.stat(tsx).st_mode & 0o777 == 0o600, oct(os.stat(tsx).st_mode)
    data = open(tsx, "rb").read()
    assert b"@example.com" not in data and b"RF000" not in data, "the file is not sealed"
    again = env.ctl("export", tsx)
    assert again.returncode == 1 and "already exists" in again.stderr, again

    # Refused, the journal untouched: any one byte changed, cut short, a newer version.
    tampered = os.path.join(env.dir, "tampered.tsx")
    reasons = set()
    for pos in (0, 9, 10, 12, 20, 40, 48, 55, 56, len(data) // 2, len(data) - 17,
                len(data) - 1):
        with open(tampered, "wb") as f:
            f.write(data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:])
        reasons.add(refused(env, ["import", tampered], "refused").split(": refused: ")[1])
    refused(env, ["import", tampered],
                      "changed since it was exported, or not for this device key: use "
                      "--passphrase-file if it was exported with one")
    with open(tampered, "wb") as f:
        f.write(data[:8] + b"\x02" + data[9:])
    refused(env, ["import", tampered], "export format version 2")
    with open(tampered, "wb") as f:
        f.write(data[:-1])
    refused(env, ["import", tampered], "refused")
    # Another device's key; another terminal's file.
    other = os.path.join(env.dir, "other.key")
    write_secret(other, OTHER_KEY)
    foreign = refused(env, ["import", tsx, "--key", other], "not for this device key")
    other_cfg = os.path.join(env.dir, "t099.json")
    cfg = json.load(open(env.config_path))
    cfg["terminal_id"] = "T099"
    json.dump(cfg, open(other_cfg, "w"))
    terminal = refused(env, ["import", tsx], "exported by terminal T042, this is T099",
                       config=other_cfg)
    # Overridden, into the journal it came from: every sale is already there, nothing is written.
    before = digest(journal_path(env))
    forced = subprocess.run(env.emulator + [env.args.ctl, "--config", other_cfg, "import", tsx,
                                            "--force-terminal"], capture_output=True, text=True)
    assert forced.returncode == 0 and "0 imported, 12 already here" in forced.stdout, forced
    assert digest(journal_path(env)) == before

    # Wipe, import, import again.
    os.unlink(journal_path(env))
    out = env.ctl("import", tsx)
    check_import(env, out, len(ALL), 0)
    first = out.stdout.strip()
    image = open(journal_path(env), "rb").read()
    assert b"@example.com" not in image, "a customer email in the clear in the imported journal"
    before = digest(journal_path(env))
    out = env.ctl("import", tsx)
    check_import(env, out, 0, len(ALL))
    assert digest(journal_path(env)) == before, "the second import wrote to the journal"
    out = env.ctl("verify")
    assert out.returncode == 0, out.stdout + out.stderr
    # The imported journal exports the same: its customers sealed now, opened into the file.
    out = env.ctl("export", os.path.join(env.dir, "again.tsx"))
    check_export(env, out, "device key")
    assert "could not be opened" not in out.stdout, out.stdout
    counts, reason = deliver_after(env, mocks)
    # Everything delivered: all a later export owes is Glu's dead letter.
    env.kill_daemon(sig=15)
    out = env.ctl("export", os.path.join(env.dir, "after.tsx"))
    assert out.returncode == 0 and ": 1 sale," in out.stdout, out
    assert "glu: 0 still to deliver, 1 dead letter" in out.stdout, out.stdout
    assert "gleantap: 0 still to deliver, 0 dead letters" in out.stdout, out.stdout
    return ("export: %s; refused %d changed bytes (%s), the foreign key (%s), another terminal "
            "(%s); import: %s; again: 0 imported, %d already here; after the restart exactly once "
            "on each: %s; Glu's dead letter kept: %s"
            % (summary, len(reasons), "; ".join(sorted(reasons)), foreign, terminal.split(". ")[0],
               " / ".join(first.splitlines()), len(ALL), counts, reason))


def scenario_replaced_board(env):
    mocks = take_sales(env)
    tsx = os.path.join(env.dir, "till.tsx")
    secret = os.path.join(env.dir, "passphrase")
    write_secret(secret, "correct horse battery staple", 0o644)
    out = env.ctl("export", tsx, "--passphrase-file", secret)
    assert out.returncode == 2 and "chmod 600" in out.stderr, out
    os.chmod(secret, 0o600)
    out = env.ctl("export", tsx, "--passphrase-file", secret)
    check_export(env, out, "passphrase")
    summary = out.stdout.splitlines()[0]
    out = env.ctl("export", tsx + ".json", "--passphrase-file", secret, "--json")
    assert out.returncode == 0, out
    doc = json.loads(out.stdout)
    assert doc["sales"] == len(ALL) and doc["sealed_under"] == "passphrase", doc
    assert [(b["name"], b["to_deliver"], b["dead_letters"]) for b in doc["backends"]] == [
        ("glu", 0, 1), ("gleantap", len(LATER), 0), ("givebutter", len(ALL), 0)], doc

    # The new board: no journal, no device key.
    os.unlink(journal_path(env))
    os.unlink(key_path(env))
    out = env.ctl("import", tsx)
    assert out.returncode == 1 and "--passphrase-file" in out.stderr, out
    assert not os.path.exists(key_path(env)), "a refused import created the device key"
    wrong = os.path.join(env.dir, "wrong")
    write_secret(wrong, "incorrect horse battery staple")
    out = env.ctl("import", tsx, "--passphrase-file", wrong)
    assert out.returncode == 1 and "changed since it was exported" in out.stderr, out
    out = env.ctl("import", tsx, "--passphrase-file", secret)
    check_import(env, out, len(ALL), 0)
    assert "created the device key" in out.stdout, out.stdout
    assert os.stat(key_path(env)).st_mode & 0o777 == 0o600
    imported = " / ".join(out.stdout.strip().splitlines())
    out = env.ctl("import", tsx, "--passphrase-file", secret, "--json")
    assert out.returncode == 0, out
    doc = json.loads(out.stdout)
    assert doc["imported"] == 0 and doc["already_here"] == len(ALL), doc
    assert doc["sealed_under"] == "passphrase" and not doc["device_key_created"], doc
    counts, reason = deliver_after(env, mocks)
    return ("export: %s; without the passphrase and with a wrong one: refused; import: %s; "
            "again: 0 imported; exactly once on each: %s; Glu's dead letter kept: %s"
            % (summary, imported, counts, reason))


def scenario_new_sales_before_import(env):
    """The daemon ran on the reflashed board, and took sales, before the import."""
    mocks = take_sales(env)
    tsx = os.path.join(env.dir, "till.tsx")
    check_export(env, env.ctl("export", tsx), "device key")
    os.unlink(journal_path(env))
    # Glu down now, Gleantap up: the new sales wait for Glu only in the new journal.
    mocks["glu"].post("/_mock/fault", {"mode": "down"})
    mocks["gleantap"].post("/_mock/fault", {"mode": "none"})
    env.start_daemon()
    new = ["NW%03d" % i for i in range(3)]
    pos = Pos(env.pos_socket)
    submit(pos, [sale(t, 20 + i) for i, t in enumerate(new)], {})
    pos.close()
    wait_until(lambda: backends(env)["gleantap"]["queued"] == 0, 60, "Gleantap to take them", 0.2)
    out = env.ctl("import", tsx)
    assert out.returncode == 2 and "tillsyncd is running: stop it first" in out.stderr, out
    env.kill_daemon(sig=15)
    # Glu had 11 of the file's sales: behind 3 it has not been sent, they would go again.
    refusal = refused(env, ["import", tsx], "glu: this journal already holds sales not yet sent")
    assert "gleantap" not in refusal and "givebutter" not in refusal, refusal
    # The technician lets them go first, then imports.
    mocks["glu"].post("/_mock/fault", {"mode": "none"})
    env.start_daemon()
    wait_until(lambda: backends(env)["glu"]["queued"] == 0, 60, "Glu to take the new sales", 0.2)
    env.kill_daemon(sig=15)
    out = env.ctl("import", tsx)
    check_import(env, out, len(ALL), 0)
    for name in ("gleantap", "givebutter"):
        mocks[name].post("/_mock/fault", {"mode": "none"})
    env.start_daemon()
    wait_until(lambda: all(b["queued"] == 0 and b["in_flight"] == 0
                           for b in backends(env).values()), 120, "everything delivered", 0.2)
    counts = {"glu": exactly_once(mocks["glu"], [t for t in ALL if t != DEAD] + new)}
    for name in ("gleantap", "givebutter"):
        counts[name] = exactly_once(mocks[name], ALL + new)
    return ("with %d new sales Glu had not been sent: %s; once they were sent, the import, then "
            "exactly once on each: %s" % (len(new), refusal.splitlines()[1], counts))


def scenario_journal_too_small(env):
    """The new board's journal is smaller than the backlog: import finds out on a dry run and
    stores nothing (stored in part, what the daemon then delivered and reclaimed would be stored
    again by the next run); with journal.size as large as the old one, it all goes in."""
    write_secret(key_path(env), os.urandom(32).hex())
    mocks = start_all(env, names=["glu", "gleantap"], journal_size=2 << 20,
                      anonymous_sales="contact", anonymous_contact_email="walk-in@shop.example")
    mocks["gleantap"].post("/_mock/fault", {"mode": "down"})
    big = ["BG%03d" % i for i in range(60)]
    pos = Pos(env.pos_socket)
    submit(pos, [sale(t, i, items=90) for i, t in enumerate(big)], {})  # ~12 KB each
    pos.close()
    wait_until(lambda: backends(env)["glu"]["queued"] == 0, 60, "Glu to take every sale", 0.2)
    env.kill_daemon(sig=15)
    tsx = os.path.join(env.dir, "till.tsx")
    assert env.ctl("export", tsx).returncode == 0

    def resize(size):
        cfg = json.load(open(env.config_path))
        cfg["journal"]["size"] = size
        json.dump(cfg, open(env.config_path, "w"))
        os.unlink(journal_path(env))

    resize(4 * 131072)  # the smallest journal the configuration accepts
    out = env.ctl("import", tsx)
    assert out.returncode == 1 and "has room for" in out.stderr, out
    assert "nothing imported" in out.stderr, out.stderr
    verify = env.ctl("verify")
    assert "records   0 sales" in verify.stdout, verify.stdout
    refusal = out.stderr.strip().split(": refused: ")[1]
    resize(2 << 20)
    out = env.ctl("import", tsx)
    check_import_counts = "%d imported, 0 already here" % len(big)
    assert out.returncode == 0 and check_import_counts in out.stdout, out
    assert "glu: 60 it had (not sent again)" in out.stdout, out.stdout
    mocks["gleantap"].post("/_mock/fault", {"mode": "none"})
    env.start_daemon()
    wait_until(lambda: all(b["queued"] == 0 and b["in_flight"] == 0
                           for b in backends(env).values()), 120, "everything delivered", 0.2)
    counts = {n: exactly_once(m, big) for n, m in mocks.items()}
    return ("%d sales of ~12 KB; into a 512 KiB journal: %s; into 2 MiB: %s; exactly once on "
            "each: %s" % (len(big), refusal, check_import_counts, counts))


SCENARIOS = [scenario_reflash_same_key, scenario_replaced_board, scenario_new_sales_before_import,
             scenario_journal_too_small]

if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, lambda env: None))
