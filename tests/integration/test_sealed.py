#!/usr/bin/env python3
"""Customer data at rest (issue 12, acceptance 3), on the real daemon and its journal image.

Sales with customers go in over the POS socket while the API is down, so they wait on flash.
Then, with the daemon stopped:
  (a) the raw image holds no customer email, phone or name (what `strings` on a stolen till's
      flash would show), and the device key the daemon made on its first start is mode 600;
  (b) one bit of one sale's ciphertext is flipped and that record's CRC recomputed, as someone
      rewriting flash would (the CRC is not authentication): `tillsyncctl verify` names that sale
      and says NOT HEALTHY (exit 1);
  (c) the daemon starts, the API comes back: every other sale is delivered exactly once with its
      customer intact, the tampered one never reaches the API and is a dead letter whose reason
      is the tag.
The record is found and rewritten with tests/format/read_journal.py's reader (docs/FORMAT.md
sections 5.2, 6.1, 6.1.1), not with the firmware's code."""

import base64
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import zlib

from harness import Env, parse_args, submit, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "format"))
import read_journal  # noqa: E402

TAMPERED = "SL007"
ANONYMOUS = {"SL003", "SL010"}  # no customer: stored as they came


def sale(i):
    txn = "SL%03d" % i
    s = {"event": "sale.completed", "txn": txn, "at": "2026-04-07T19:45:00+01:00",
         "total": 500 + i, "currency": "GBP",
         "items": [{"sku": "B%d" % i, "name": "Sourdough", "qty": 1, "unit_price": 500 + i}]}
    if txn not in ANONYMOUS:
        s["customer"] = {"email": "shopper%02d.quill@example.org" % i,
                         "phone": "+4479460%05d" % (1000 + i),
                         "first_name": "Marigold%02d" % i, "last_name": "Featherstonehaugh%02d" % i}
    return s


def secrets_of(s):
    c = s.get("customer", {})
    return [c[k] for k in ("email", "phone", "first_name", "last_name") if k in c]


def find_sale(image, erase, prog, txn):
    """(absolute offset of the SALE record, its payload) for txn; exactly one must exist."""
    r = read_journal.Reader(image, erase, prog, ["glu"])
    found = []
    for b in range(r.nblocks):
        recs, _ = r.read_records(r.block(b))
        for rec in recs:
            if rec.kind == "good" and rec.rtype == read_journal.SALE \
                    and rec.decoded["txn"] == txn.encode():
                found.append((b * r.erase_size + rec.off, rec.payload))
    assert len(found) == 1, "sale %s found %d times" % (txn, len(found))
    return found[0]


def tamper(image_path, erase, prog, txn):
    """Flips bit 0 of the first ciphertext byte of txn's sealed customer, re-encodes it (same
    length) and recomputes the record's payload and header CRCs (FORMAT.md 5.1)."""
    with open(image_path, "rb") as f:
        image = bytearray(f.read())
    off, payload = find_sale(bytes(image), erase, prog, txn)
    txn_len = payload[16]
    body = payload[17 + txn_len:]
    sealed = json.loads(body)["customer_sealed"]
    raw = bytearray(base64.b64decode(sealed))
    assert raw[0] == 1, "seal version %d" % raw[0]
    raw[17] ^= 0x01  # version 1, key id 4, nonce 12: the ciphertext starts at 17
    forged = base64.b64encode(bytes(raw)).decode()
    assert len(forged) == len(sealed) and forged != sealed
    new_body = body.replace(sealed.encode(), forged.encode())
    assert len(new_body) == len(body)
    new_payload = payload[:17 + txn_len] + new_body
    hdr = bytearray(image[off:off + 16])
    rtype, flags, magic, length, _pcrc, _hcrc = struct.unpack("<BBHIII", hdr)
    assert magic == read_journal.MAGIC_RECORD and length == len(new_payload)
    struct.pack_into("<I", hdr, 8, zlib.crc32(new_payload) & 0xFFFFFFFF)
    struct.pack_into("<I", hdr, 12, zlib.crc32(bytes(hdr[:12])) & 0xFFFFFFFF)
    image[off:off + 16] = hdr
    image[off + 16:off + 16 + length] = new_payload
    with open(image_path, "wb") as f:
        f.write(image)
    # Still a good record to a reader of the format: only the seal can tell.
    _, again = find_sale(bytes(image), erase, prog, txn)
    assert again == new_payload


def activity_refs(env):
    """externalReferences the API answered an activity POST for (the request log: a resend
    would show twice)."""
    answered = [r for r in env.mock_get("/_mock/requests")
                if r.get("method") == "POST" and r.get("path", "").endswith("/activities")
                and r.get("status") is not None]
    return [(r.get("body") or {}).get("externalReference") for r in answered]


def main():
    args = parse_args()
    with Env(args, "sealed") as env:
        env.start_mock()
        env.write_config()
        with open(env.config_path) as f:
            cfg = json.load(f)
        image = cfg["journal"]["path"]
        erase, prog = cfg["journal"]["erase_size"], cfg["journal"]["program_size"]
        key_file = os.path.join(os.path.dirname(image), "device.key")  # the default place
        assert not os.path.exists(key_file)

        env.mock_post("/_mock/fault", {"mode": "down"})
        env.start_daemon()
        m = re.search(r"device key created \(id ([0-9a-f]{8})\)", env.log())
        assert m, "no 'device key created' line:\n" + env.log()
        key_id = m.group(1)
        st = env.status()
        assert st["device_key"] == {"id": key_id, "keys": 1}, st.get("device_key")
        batch = [sale(i) for i in range(14)]
        submit(env, batch)
        assert env.kill_daemon(signal.SIGTERM) == 0

        # (a) The flash as a thief reads it; the key file as the daemon made it.
        with open(image, "rb") as f:
            data = f.read()
        secrets = [x for s in batch for x in secrets_of(s)]
        assert len(secrets) == 48
        shown = [x for x in secrets if x.encode() in data or x.lower().encode() in data.lower()]
        assert not shown, "customer data readable in the journal image: %s" % shown[:5]
        assert b"SL001" in data and b"customer_sealed" in data  # the rest stays readable
        mode = stat.S_IMODE(os.stat(key_file).st_mode)
        assert mode == 0o600, "device key mode %o" % mode
        with open(key_file) as f:
            key_hex = f.read().strip()
        assert re.fullmatch(r"[0-9a-f]{64}", key_hex), "key file is not one line of hex"
        assert key_hex not in env.log() and key_hex[:16] not in env.log(), "key in the log"

        v = env.ctl("verify")
        assert v.returncode == 0 and "verdict   healthy" in v.stdout, v.stdout + v.stderr
        assert ("customer  12 sales sealed under key %s, 0 plain (before format 4), 0 fail their "
                "tag: never delivered; 2 without a customer" % key_id) in v.stdout, v.stdout

        # (b) One bit of one ciphertext flipped, the record's CRC made to match.
        tamper(image, erase, prog, TAMPERED)
        v = env.ctl("verify")
        assert v.returncode == 1, "verify exit %d:\n%s" % (v.returncode, v.stdout + v.stderr)
        assert "NOT HEALTHY" in v.stdout, v.stdout
        assert "0 corrupt" in v.stdout, v.stdout  # the CRC passes: only the tag tells
        assert "1 fail their tag: never delivered" in v.stdout, v.stdout
        assert "tag fails T042:%s" % TAMPERED in v.stdout, v.stdout
        for x in secrets:
            assert x not in v.stdout, "verify printed customer data"
        verify_out = v.stdout

        # Without the key file verify still checks the journal, and says what it cannot check.
        os.rename(key_file, key_file + ".away")
        v = env.ctl("verify")
        os.rename(key_file + ".away", key_file)
        assert "no device key" in v.stdout and "12 sealed sales not checked" in v.stdout, v.stdout
        assert "glu: 14 queued" in v.stdout, v.stdout
        assert v.returncode == 1, v.stdout  # sealed sales this terminal could not deliver

        # (c) The API back: every other sale once, customers intact; the tampered one never.
        # Only what was sent after the tampering counts: while the API was down, attempts to send
        # the sale as it was stored may be in the mock's log (a loaded machine sees some).
        before = len(env.mock_get("/_mock/requests"))
        env.mock_post("/_mock/fault", {"mode": "none"})
        env.start_daemon()
        st = wait_until(lambda: (lambda s: s["backends"][0]["queued"] == 0 and s)(env.status()),
                        120, "backlog to drain", interval=0.3)
        assert st["backends"][0]["dead_letter"] == 1, st["backends"][0]
        refs = activity_refs(env)
        assert len(refs) == len(set(refs)), "an activity sent twice: %s" % sorted(refs)
        want = {"T042:" + s["txn"] for s in batch} - {"T042:" + TAMPERED}
        assert set(refs) == want, "missing %s extra %s" % (sorted(want - set(refs)),
                                                          sorted(set(refs) - want))
        contacts = {c["id"]: c for c in env.mock_get("/_mock/contacts")}
        acts = {a["externalReference"]: a for a in env.mock_get("/_mock/activities")}
        for s in batch:
            if s["txn"] == TAMPERED:
                continue
            c = contacts[acts["T042:" + s["txn"]]["contact"]]
            if "customer" not in s:
                assert c["emailAddress"] == "walk-in@shop.example", c
                continue
            cu = s["customer"]
            got = (c["emailAddress"], c["phoneNumber"], c["firstName"], c["lastName"])
            assert got == (cu["email"], cu["phone"], cu["first_name"], cu["last_name"]), (got, cu)
        requests = json.dumps(env.mock_get("/_mock/requests")[before:])
        assert TAMPERED not in requests, "the tampered sale reached the API"
        tampered_customer = [x for x in secrets_of(sale(7))]
        assert not any(x in requests for x in tampered_customer)

        dl = env.ctl("dead-letters", "--json")
        assert dl.returncode == 0, dl.stdout + dl.stderr
        letters = json.loads(dl.stdout)["backends"][0]["dead_letters"]
        assert [d["ref"] for d in letters] == ["T042:" + TAMPERED], letters
        assert "authentication tag" in letters[0]["reason"], letters
        log = env.log()
        assert re.search(r"sale T042:%s dead-lettered: the customer data fails its "
                         r"authentication tag" % TAMPERED, log), log
        leaked = [x for x in secrets if x in log]
        assert not leaked, "customer data in the daemon's log: %s" % leaked[:3]
        assert env.kill_daemon(signal.SIGTERM) == 0

        # A key file others may read: the daemon will not start on it, and says how to fix it.
        os.chmod(key_file, 0o644)
        r = subprocess.run(env.emulator + [args.daemon, "--config", env.config_path],
                           capture_output=True, text=True, timeout=60)
        err_lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "chmod 600 %s" % key_file in r.stderr, r.stderr
        assert len([ln for ln in err_lines if "device_key_file" in ln]) == 1, r.stderr
        assert key_hex[:16] not in r.stderr + r.stdout
        os.chmod(key_file, 0o600)
        print("ok: key %s made mode 600; no customer field in the image (48 checked); verify "
              "found the tampered sale (exit 1):\n%s\nok: 13 delivered once with their customers, "
              "%s dead-lettered: %s" % (key_id, "\n".join(
                  ln for ln in verify_out.splitlines() if ln.startswith(("customer", "tag",
                                                                          "verdict"))),
                  TAMPERED, letters[0]["reason"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
