#!/usr/bin/env bash
# Boots the terminal by hand: the image from an armhf build, its NOR journal in a file that
# persists between runs, tillsyncd started as in the field, and a shell on the serial console.
#
#   run.sh ARMHF_BUILD_DIR [STATE_DIR] [MOCK_PORT]
#
# STATE_DIR (default build/terminal) keeps pflash1.img (the journal's chip) and share/ (the
# configuration, API key, device key and CA the guest copies to /etc/tillsync: edit them there;
# the image's /var/lib is RAM, so the device key lives in the share to outlive a power cut). POS sales go to
# 127.0.0.1:7000 on the host, one JSON line each. Uploads go to https://localhost:8443 in the
# guest, forwarded to 127.0.0.1:MOCK_PORT on the host (e.g. tests/mock/glu_mock.py with the CA in
# share/). Leave with `poweroff -f`, or Ctrl-A X (QEMU's own: a power cut).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
build="$(realpath "${1:?usage: run.sh ARMHF_BUILD_DIR [STATE_DIR] [MOCK_PORT]}")"
state="$(realpath -m "${2:-$repo/build/terminal}")"
mock_port="${3:-8443}"
bash "$here/make-image.sh" "$build" "$build/qemu-image"
mkdir -p "$state/share"
[ -f "$state/pflash1.img" ] || python3 -c "
import sys; f = open(sys.argv[1], 'wb'); [f.write(b'\xff' * (1 << 20)) for _ in range(64)]" \
  "$state/pflash1.img"
if [ ! -f "$state/share/tillsync.json" ]; then
  cat > "$state/share/tillsync.json" <<'JSON'
{
  "terminal_id": "T042",
  "journal": {"driver": "mtd", "device": "@JOURNAL@"},
  "intake": {"pos_socket": "/run/tillsync/pos.sock"},
  "control_socket": "/run/tillsync/ctl.sock",
  "device_key_file": "/etc/tillsync/device.key",
  "backends": [{"name": "glu", "kind": "glu", "base_url": "https://localhost:8443",
                "api_key_file": "/etc/tillsync/glu.key", "source": "till",
                "ca_file": "/etc/tillsync/ca.pem"}]
}
JSON
  (umask 077; echo "replace-with-the-api-key" > "$state/share/glu.key"
   od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$state/share/device.key"; echo >> "$state/share/device.key")
  sh "$repo/tests/mock/make_test_ca.sh" "$state/tls"
  cp "$state/tls/ca.pem" "$state/share/ca.pem"
fi
exec qemu-system-arm -M virt -cpu cortex-a15 -m 512 -nographic -no-reboot \
  -kernel "$build/qemu-image/vmlinuz" -initrd "$build/qemu-image/initrd.gz" \
  -dtb "$build/qemu-image/terminal.dtb" \
  -drive "if=pflash,unit=1,format=raw,file=$state/pflash1.img" \
  -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:7000-:7000,guestfwd=tcp:10.0.2.100:443-cmd:python3 $repo/tests/target/host_connect.py $mock_port" \
  -device virtio-net-device,netdev=n0 \
  -fsdev "local,id=fs0,path=$state/share,security_model=none" \
  -device virtio-9p-device,fsdev=fs0,mount_tag=host \
  -append "console=ttyAMA0 quiet ts.job=terminal ts.shell=1"
