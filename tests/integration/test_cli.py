#!/usr/bin/env python3
"""The contract's promises about the binaries: --help and --version; a bad configuration exits 2
with one line on stderr naming the key and why; a secret readable by others is refused with the
fix; SIGTERM stops cleanly with exit 0."""

import json
import os
import signal
import subprocess
import sys

from harness import Env, parse_args


def run(env, binary, *argv):
    return subprocess.run(env.emulator + [binary] + list(argv), capture_output=True, text=True,
                          timeout=120)


def main():
    args = parse_args()
    with Env(args, "cli") as env:
        for binary in (args.daemon, args.ctl):
            for flag in ("--help", "--version"):
                r = run(env, binary, flag)
                assert r.returncode == 0 and r.stdout.strip(), (binary, flag, r)
        env.port = 9  # no server needed: the daemon must refuse before it gets that far
        cases = [
            ("an unknown key", lambda c: c["journal"].update(sizee=1), "journal.sizee: unknown key"),
            ("http", lambda c: c["backends"][0].update(base_url="http://x"),
             "backends[0].base_url:"),
            ("bad terminal_id", lambda c: c.update(terminal_id="T 42"), "terminal_id:"),
            ("missing intake", lambda c: c.pop("intake"), "intake:"),
        ]
        for what, change, expect in cases:
            env.write_config()
            with open(env.config_path) as f:
                cfg = json.load(f)
            change(cfg)
            with open(env.config_path, "w") as f:
                json.dump(cfg, f)
            r = run(env, args.daemon, "--config", env.config_path)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 2 and len(lines) == 1 and expect in lines[0], (what, r)
        env.write_config()
        os.chmod(env.key_file, 0o644)
        r = run(env, args.daemon, "--config", env.config_path)
        assert r.returncode == 2 and "chmod 600" in r.stderr, r
        assert "test-key" not in r.stderr + r.stdout, "the key leaked"
        os.chmod(env.key_file, 0o600)
        env.start_daemon()
        assert env.kill_daemon(signal.SIGTERM) == 0
        print("ok: --help/--version; bad configurations exit 2 with one line naming the key; "
              "a key file readable by others is refused with the fix; SIGTERM exits 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
