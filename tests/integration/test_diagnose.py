#!/usr/bin/env python3
"""tillsyncctl test-connection and provision against the mocks: each fault a technician meets
(wrong CA, expired certificate, certificate for another name, wrong key, wrong base_url, skewed
clock, DNS failure, refused port) gives its own diagnosis, hint and exit status; --json has one
shape; the probe requests change nothing on the platforms. provision writes the files with their
modes, refuses a bad SETUP naming the key and changing nothing, is idempotent, creates the device
key, and never prints a secret.

The server's clock is moved, never the till's: the mock's --date-offset sends a Date 3 days
ahead, which is what a till 3 days slow sees."""

import grp
import json
import os
import pwd
import socket
import ssl
import stat
import sys

from harness import API_KEY, GLEANTAP_APP_ID, SECRET_KEY, https_json, run_scenarios

CHECKS = ["dns", "tcp", "tls", "auth", "clock"]


def check_line(out, verdict, name):
    """The line of one check in the human output: "  FAIL  tls          ..."."""
    for line in out.splitlines():
        if line.startswith("  ") and line.split()[:2] == [verdict, name]:
            return line
    raise AssertionError("no '%s %s' line in:\n%s" % (verdict, name, out))


def test_connection(env, *args):
    r = env.ctl("test-connection", *args)
    assert "test-key" not in r.stdout + r.stderr and "test-secret" not in r.stdout + r.stderr, \
        "a secret was printed"
    return r


def as_json(env, *args):
    r = test_connection(env, "--json", *args)
    return r, json.loads(r.stdout)


def api_requests(mock_get):
    return [q for q in mock_get("/_mock/requests")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- test-connection ----

def all_ok(env):
    env.start_mock()
    env.write_config()
    r = test_connection(env)
    assert r.returncode == 0, r
    for name in CHECKS:
        check_line(r.stdout, "ok", name)
    assert "FAIL" not in r.stdout, r.stdout
    assert "the platform accepted the credentials" in r.stdout
    assert "(the backend's ca_file)" in r.stdout and "matches the host" in r.stdout
    # The probe: one authenticated GET, nothing created.
    log = api_requests(env.mock_get)
    assert [(q["method"], q["api_key"]) for q in log] == [("GET", "ok")], log
    assert q_path(log[0]).startswith("/contacts?"), log
    assert env.mock_get("/_mock/contacts") == [] and env.mock_get("/_mock/activities") == []
    return "all five checks ok, exit 0; the probe was one authenticated GET that created nothing"


def q_path(q):
    return q["path"]


def json_shape(env):
    env.start_mock()
    env.write_config()
    r, doc = as_json(env)
    assert r.returncode == 0 and r.stderr == "", r
    assert set(doc) == {"backends", "verdict"} and doc["verdict"] == "ok", doc
    (b,) = doc["backends"]
    assert set(b) == {"name", "kind", "base_url", "verdict", "checks"}, b
    assert (b["name"], b["kind"], b["verdict"]) == ("glu", "glu", "ok"), b
    assert [c["name"] for c in b["checks"]] == CHECKS, b
    for c in b["checks"]:
        assert set(c) == {"name", "verdict", "detail", "hint"}, c
        assert c["verdict"] == "ok" and c["hint"] is None and c["detail"], c
    # A failing one: verdicts and hints as strings, later checks skipped.
    env.write_config(base_url="https://tillsync-test.invalid")
    r, doc = as_json(env, "glu")
    assert r.returncode == 1, r
    checks = {c["name"]: c for c in doc["backends"][0]["checks"]}
    assert doc["verdict"] == "fail" and checks["dns"]["verdict"] == "fail", doc
    assert isinstance(checks["dns"]["hint"], str) and checks["dns"]["hint"], doc
    assert all(checks[n]["verdict"] == "skipped" for n in CHECKS[1:]), doc
    return "--json: {backends: [{name, kind, base_url, verdict, checks: [{name, verdict, " \
           "detail, hint}]}], verdict}"


def tls_fault(env, cert, expect_detail, expect_hint):
    env.start_mock(cert=cert)
    env.write_config()
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "tls")
    assert expect_detail in line, r.stdout
    assert expect_hint in r.stdout, r.stdout
    check_line(r.stdout, "note", "auth")
    # The certificate was read (the second, unverified look) and shown.
    assert "issuer" in r.stdout and "expires" in r.stdout, r.stdout
    # The key never went over a connection that failed verification. (The test reads its own
    # mock's log without verifying: the certificate is bad on purpose.)
    unverified = ssl._create_unverified_context()
    assert https_json(unverified, env.port, "GET", "/_mock/requests") == [], \
        "a request reached a server that failed TLS"
    return line.split(None, 2)[2]


def wrong_ca(env):
    detail = tls_fault(env, "wrong-server", "is not signed by a CA in",
                       "ca_file holds another CA than the one that signed")
    assert "unrelated test CA" in env.ctl("test-connection").stdout  # the issuer shown
    return detail


def expired_certificate(env):
    detail = tls_fault(env, "expired-server", "has expired",
                       "the till's clock is wrong: set it and check NTP")
    out = env.ctl("test-connection").stdout
    assert "the platform must renew it" in out and "ago" in out, out
    return detail


def certificate_for_another_name(env):
    detail = tls_fault(env, "other-name-server", "is not for 127.0.0.1",
                       "do not include the host in base_url")
    assert "DNS:elsewhere.example: the host is NOT among them" in \
        env.ctl("test-connection").stdout
    return detail


def wrong_key(env):
    env.start_mock()
    wrong = os.path.join(env.dir, "wrong.key")
    with open(wrong, "w") as f:
        f.write("not-the-key\n")
    os.chmod(wrong, 0o600)
    env.write_config(api_key_file=wrong)
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "auth")
    assert "the API key was refused" in line and "401" in line, line
    assert "-> check %s (api_key_file)" % wrong in r.stdout, r.stdout
    check_line(r.stdout, "ok", "tls")
    return line.split(None, 2)[2]


def wrong_base_url(env):
    env.start_mock()
    env.write_config(base_url="https://127.0.0.1:%d/api/v9" % env.port)
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "auth")
    assert "base_url looks wrong" in line and "404" in line, line
    return line.split(None, 2)[2]


def skewed_clock(env):
    mock = env.add_mock("glu", extra_args=["--date-offset", str(3 * 86400)])
    env.port = mock.port
    env.write_config()
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "clock")
    assert "the till's clock is 3 days slow: TLS will fail; check NTP" in line, line
    check_line(r.stdout, "ok", "auth")
    # An hour off: a warning, and a warning alone exits 0.
    mock.kill()
    mock.extra_args = ["--date-offset", "-3600"]
    mock.start()
    r = test_connection(env)
    assert r.returncode == 0, r
    warn = check_line(r.stdout, "warn", "clock")
    assert "the till's clock is 60 minutes fast" in warn, warn
    return line.split(None, 2)[2] + "; an hour fast: warn, exit 0"


def dns_failure(env):
    env.port = 443
    env.write_config(base_url="https://tillsync-test.invalid")
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "dns")
    assert "tillsync-test.invalid: no such host name" in line, line
    assert "check the spelling of the host in base_url" in r.stdout, r.stdout
    for name in CHECKS[1:]:
        assert "not tried" in check_line(r.stdout, "note", name)
    return line.split(None, 2)[2]


def refused_port(env):
    env.port = free_port()
    env.write_config()
    r = test_connection(env)
    assert r.returncode == 1, r
    line = check_line(r.stdout, "FAIL", "tcp")
    assert "refused (nothing listens there)" in line, line
    assert "check the port in base_url" in r.stdout, r.stdout
    check_line(r.stdout, "ok", "dns")
    return line.split(None, 2)[2]


def usage_errors(env):
    env.start_mock()
    env.write_config()
    r = test_connection(env, "nosuch")
    assert r.returncode == 2 and "no backend named nosuch" in r.stderr, r
    os.chmod(env.key_file, 0o644)
    r = test_connection(env)
    assert r.returncode == 2 and "chmod 600" in r.stderr, r
    os.chmod(env.key_file, 0o600)
    return "an unknown backend and a bad configuration exit 2"


def every_kind(env):
    """Each backend's probe proves its key and leaves nothing on its platform."""
    env.start_mock()
    gt = env.add_mock("gleantap")
    gb = env.add_mock("givebutter")
    env.write_config()
    with open(env.config_path) as f:
        cfg = json.load(f)
    common = {"ca_file": cfg["backends"][0]["ca_file"], "api_key_file": env.key_file}
    cfg["backends"] += [
        dict(common, name="gt", kind="gleantap", base_url=gt.url, app_id=GLEANTAP_APP_ID,
             secret_key_file=env.secret_key_file),
        dict(common, name="gb", kind="givebutter", base_url=gb.url)]
    with open(env.config_path, "w") as f:
        json.dump(cfg, f)
    r, doc = as_json(env)
    assert r.returncode == 0, r
    assert [(b["name"], b["verdict"]) for b in doc["backends"]] == \
        [("glu", "ok"), ("gt", "ok"), ("gb", "ok")], doc
    auth = {b["name"]: b["checks"][3]["detail"] for b in doc["backends"]}
    assert "answered 400" in auth["gt"] and "nothing was created" in auth["gt"], auth
    for m in (gt, gb):
        assert m.get("/_mock/contacts") == [], m.kind
        assert [q["api_key"] for q in m.get("/_mock/requests")] == ["ok"], m.kind
    # A wrong app_id is a refusal too.
    cfg["backends"][1]["app_id"] = "app-someone-else"
    with open(env.config_path, "w") as f:
        json.dump(cfg, f)
    r = test_connection(env, "gt")
    assert r.returncode == 1 and "401" in check_line(r.stdout, "FAIL", "auth"), r.stdout
    return "glu, gleantap (400 on a nameless newContact) and givebutter probes: ok, nothing stored"


# ---- provision ----

def setup_doc(env, **glu):
    """The harness's configuration as a SETUP: the key inline, the journal in state/; the
    configuration itself goes to etc/ (the harness's own key files stay apart)."""
    etc = os.path.join(env.dir, "etc")
    os.makedirs(etc, exist_ok=True)
    env.config_path = os.path.join(etc, "tillsync.json")
    env.write_config()
    with open(env.config_path) as f:
        cfg = json.load(f)
    os.unlink(env.config_path)
    b = cfg["backends"][0]
    del b["api_key_file"]
    b["api_key"] = API_KEY
    b.update(glu)
    cfg["journal"]["path"] = os.path.join(env.dir, "state", "journal.img")
    return cfg


def write_setup(env, cfg, name="setup.json"):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def provision(env, *args):
    r = env.ctl("provision", *args)
    assert API_KEY not in r.stdout + r.stderr and SECRET_KEY not in r.stdout + r.stderr, \
        "provision printed a secret:\n" + r.stdout + r.stderr
    return r


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def owner_arg():
    return "%s:%s" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)


def provision_writes(env):
    env.start_mock()
    gt = env.add_mock("gleantap")
    cfg = setup_doc(env)
    cfg["backends"].append({"name": "gt", "kind": "gleantap", "base_url": gt.url,
                            "ca_file": cfg["backends"][0]["ca_file"], "api_key": API_KEY,
                            "secret_key": SECRET_KEY, "app_id": GLEANTAP_APP_ID})
    setup = write_setup(env, cfg)
    r = provision(env, setup, "--owner", owner_arg())
    assert r.returncode == 0, r
    conf_dir = os.path.dirname(env.config_path)
    files = {os.path.join(conf_dir, "glu.key"): (0o600, API_KEY),
             os.path.join(conf_dir, "gt.key"): (0o600, API_KEY),
             os.path.join(conf_dir, "gt.secret.key"): (0o600, SECRET_KEY)}
    for path, (m, secret) in files.items():
        assert mode(path) == m, (path, oct(mode(path)))
        with open(path) as f:
            assert f.read() == secret + "\n", path
        assert "created    %s (secret, mode 600" % path in r.stdout, r.stdout
    assert mode(env.config_path) == 0o640, oct(mode(env.config_path))
    device_key = os.path.join(env.dir, "state", "device.key")
    assert mode(device_key) == 0o600 and os.path.getsize(device_key) == 65, device_key
    assert "created    %s (device key, mode 600" % device_key in r.stdout, r.stdout
    with open(env.config_path) as f:
        written = json.load(f)
    glu, gleantap = written["backends"]
    assert "api_key" not in glu and glu["api_key_file"] == os.path.join(conf_dir, "glu.key"), glu
    assert "secret_key" not in gleantap and gleantap["secret_key_file"].endswith("gt.secret.key")
    with open(env.config_path) as f:
        assert API_KEY not in f.read()
    # The probes ran: every check ok on both backends.
    assert r.stdout.count("  ok    auth") == 2 and "FAIL" not in r.stdout, r.stdout
    assert gt.get("/_mock/contacts") == []
    # The daemon takes the configuration as written.
    env.start_daemon()
    assert env.status()["terminal_id"] == "T042"
    before = {p: os.stat(p).st_mtime_ns for p in list(files) + [env.config_path, device_key]}

    # Idempotent: the same SETUP again changes nothing.
    r = provision(env, setup, "--owner", owner_arg(), "--no-probe")
    assert r.returncode == 0, r
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("unchanged  ") for line in lines), r.stdout
    assert before == {p: os.stat(p).st_mtime_ns for p in before}, "a file was rewritten"

    # --json: the files and their fate.
    r = provision(env, setup, "--no-probe", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["verdict"] == "ok", r
    assert {f["action"] for f in doc["files"]} == {"unchanged"}, doc
    assert {f["role"] for f in doc["files"]} == {"secret", "configuration", "device key"}, doc
    return "secrets 600, configuration 640, device key 600 created; probes ok; the daemon " \
           "starts on it; a second run: 5 x unchanged, no file rewritten"


def provision_refuses(env):
    env.start_mock()
    good = setup_doc(env)
    r = provision(env, write_setup(env, good), "--no-probe")
    assert r.returncode == 0, r
    with open(env.config_path) as f:
        config_before = f.read()
    conf_dir = os.path.dirname(env.config_path)
    key_path = os.path.join(conf_dir, "glu.key")
    listing = sorted(os.listdir(conf_dir))

    cases = [
        ("http", dict(base_url="http://127.0.0.1:%d" % env.port, api_key="another-key-1"),
         "backends[0].base_url: must be an https:// URL"),
        ("a typo", dict(api_kee="x"), "backends[0].api_kee: unknown key"),
        ("both", dict(api_key_file=key_path), "backends[0].api_key: given with api_key_file"),
        ("empty", dict(api_key=""), "backends[0].api_key: must be a non-empty string"),
        ("a bad name", dict(name="glu/../x"), "backends[0].name:"),
    ]
    for what, change, expect in cases:
        cfg = setup_doc(env, **change)
        # setup_doc removed the config: put the good one back first.
        with open(env.config_path, "w") as f:
            f.write(config_before)
        os.chmod(env.config_path, 0o640)
        r = provision(env, write_setup(env, cfg, "bad.json"))
        assert r.returncode == 2, (what, r)
        assert expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, (what, r.stderr)
        with open(env.config_path) as f:
            assert f.read() == config_before, what
        with open(key_path) as f:
            assert f.read() == API_KEY + "\n", what
        assert sorted(os.listdir(conf_dir)) == listing, (what, os.listdir(conf_dir))
    with open(os.path.join(env.dir, "broken.json"), "w") as f:
        f.write('{"terminal_id": ')
    r = provision(env, os.path.join(env.dir, "broken.json"))
    assert r.returncode == 2 and "not a JSON object" in r.stderr, r
    return "http base_url, a typo, a key given twice, an empty key, a bad name: exit 2 naming " \
           "the key, nothing changed, no temporary file left"


def provision_wrong_key(env):
    env.start_mock()
    cfg = setup_doc(env, api_key="not-the-key")
    r = provision(env, write_setup(env, cfg))
    assert r.returncode == 1, r
    assert "the API key was refused" in check_line(r.stdout, "FAIL", "auth"), r.stdout
    assert "not-the-key" not in r.stdout + r.stderr
    assert "The files are in place, but a backend failed its checks" in r.stdout
    return "a key the platform refuses: files written, auth FAIL, exit 1, the key not printed"


SCENARIOS = [all_ok, json_shape, wrong_ca, expired_certificate, certificate_for_another_name,
             wrong_key, wrong_base_url, skewed_clock, dns_failure, refused_port, usage_errors,
             every_kind, provision_writes, provision_refuses, provision_wrong_key]

if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS, lambda env: None))
