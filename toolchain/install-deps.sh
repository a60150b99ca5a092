#!/usr/bin/env bash
# Installs what building and running tillsync on the host needs, from Debian's archive.
# apt-get update may fail on one index while a mirror syncs; the rest is still usable.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# clang and libclang-rt-14-dev (libFuzzer's and the sanitizers' runtimes for Debian 12's clang
# 14): the fuzz preset, and the clang build. The service's tests: busybox (the init script under
# BusyBox's sh and start-stop-daemon), systemd (systemd-analyze verify on the unit, offline),
# dpkg-dev (dpkg-shlibdeps for the .deb's Depends), lintian and fakeroot (the .deb's checks).
PKGS=(build-essential cmake pkg-config libcurl4-openssl-dev libcjson-dev libmbedtls-dev
      libcmocka-dev libgpiod-dev python3 openssl ca-certificates clang libclang-rt-14-dev
      busybox systemd dpkg-dev lintian fakeroot "$@")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
