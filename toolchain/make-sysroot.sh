#!/usr/bin/env bash
# Build an armhf sysroot by unpacking Debian's armhf .debs (dpkg -x) instead of
# installing them: co-installing foreign-arch -dev packages next to the amd64
# ones breaks whenever the two archs' versions drift (e.g. mid mirror sync).
#
# Usage: toolchain/make-sysroot.sh [SYSROOT_DIR]   (default: build/sysroot-armhf)
# Re-running is a no-op while $SYSROOT/.stamp matches the package list below.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
SYSROOT="$(realpath -m "${1:-$repo/build/sysroot-armhf}")"
CACHE="$(realpath -m "${TILLSYNC_DEB_CACHE:-$repo/build/debs-armhf}")"

# Roots of the closure; runtime libs (libcurl4, libssl3, zlib1g, libgpiod2, ...) follow.
ROOTS=(libc6-dev libcurl4-openssl-dev libcjson-dev libmbedtls-dev libcmocka-dev libgpiod-dev)
# qemu-system-arm, cpio, dtc: the booted image (board/qemu-virt-armhf/image, tests/target).
HOST_PKGS=(gcc-arm-linux-gnueabihf qemu-user qemu-system-arm cpio device-tree-compiler pkg-config
           dpkg-dev cmake)
# Bump when the layout produced below changes, so old sysroots get rebuilt.
STAMP="v1 ${ROOTS[*]}"

# Never rm -rf a directory this script did not make.
if [ -d "$SYSROOT" ] && [ ! -f "$SYSROOT/.stamp" ] && [ -n "$(ls -A "$SYSROOT")" ]; then
  echo "refusing to replace $SYSROOT: not empty and has no .stamp" >&2; exit 1
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

tools_ok() {
  local t
  for t in arm-linux-gnueabihf-gcc qemu-arm qemu-system-arm cpio dtc pkg-config dpkg-deb \
           cmake; do
    command -v "$t" >/dev/null || return 1
  done
}
stamp_ok() { [ -f "$SYSROOT/.stamp" ] && [ "$(cat "$SYSROOT/.stamp")" = "$STAMP" ]; }

if tools_ok && stamp_ok; then
  echo "sysroot up to date: $SYSROOT"
  exit 0
fi

dpkg --print-foreign-architectures | grep -qx armhf || as_root dpkg --add-architecture armhf
# One stale index (a mirror mid-sync) must not stop us: the armhf candidates
# only need to be consistent with each other, never with the host's packages.
as_root apt-get update || true
tools_ok || as_root env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${HOST_PKGS[@]}"
if stamp_ok; then echo "sysroot up to date: $SYSROOT"; exit 0; fi

# Closure of the roots. Top-level lines of the output are package names;
# keep real armhf ones: "<x>" is virtual, unsuffixed names are host-arch
# (Multi-Arch: foreign deps such as libc-dev-bin) or arch:all (not needed).
mapfile -t PKGS < <(
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${ROOTS[@]/%/:armhf}" |
  grep -E '^[a-z0-9][^ ]*:armhf$' | sort -u)
[ "${#PKGS[@]}" -gt 0 ] || { echo "no armhf packages resolved (armhf index missing?)" >&2; exit 1; }

# Exact file names of the current candidates, so stale versions in the
# cache are neither re-downloaded nor unpacked.
mkdir -p "$CACHE"
mapfile -t DEBS < <(apt-get download --print-uris "${PKGS[@]}" | awk '{print $2}')
missing=()
for f in "${DEBS[@]}"; do [ -s "$CACHE/$f" ] || missing+=("${f%%_*}:armhf"); done
if [ "${#missing[@]}" -gt 0 ]; then
  # -o ...Sandbox::User=root: _apt may not be allowed to write the cache dir.
  (cd "$CACHE" && apt-get -o APT::Sandbox::User=root download "${missing[@]}")
fi

# Unpack into a fresh dir and swap it in, so a failed run never leaves a
# half-built sysroot that carries a valid stamp.
tmp="$SYSROOT.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"; mkdir -p "$tmp"
for f in "${DEBS[@]}"; do dpkg -x "$CACHE/$f" "$tmp"; done
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/locale"

# libc6-dev etc. ship absolute links (usr/lib/.../libm.so -> /lib/.../libm.so.6)
# that would point into the host; make them relative so both ld and qemu-arm -L
# resolve them inside the sysroot.
while IFS= read -r -d '' link; do
  target="$(readlink "$link")"
  case "$target" in /*)
    ln -sfn "$(realpath -s -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link";;
  esac
done < <(find "$tmp" -type l -print0)

for f in usr/lib/arm-linux-gnueabihf/crt1.o usr/lib/arm-linux-gnueabihf/libcurl.so \
         usr/lib/arm-linux-gnueabihf/libmbedcrypto.so lib/ld-linux-armhf.so.3; do
  [ -e "$tmp/$f" ] || { echo "sysroot incomplete: $f missing" >&2; exit 1; }
done

printf '%s\n' "${DEBS[@]}" > "$tmp/.packages"
echo "$STAMP" > "$tmp/.stamp"
rm -rf "$SYSROOT"
mv "$tmp" "$SYSROOT"
echo "sysroot ready: $SYSROOT (${#DEBS[@]} packages)"
