#!/usr/bin/env bash
# Builds the CFI NOR modules the armmp kernel lacks (CONFIG_MTD_CFI and CONFIG_MTD_PHYSMAP_OF are
# off in Debian's armmp config), out of tree, from Debian's linux-source of the kernel's exact
# version against its linux-headers: gen_probe, cfi_util, cfi_probe, cfi_cmdset_0001 (virt's
# pflash is Intel command set) and physmap with device-tree support.
#
#   cfi-modules.sh KERNEL_DEB OUT_DIR       (the modules land in OUT_DIR/*.ko; cached)
#
# cfi_cmdset_0001 is patched for the emulator (cfi-rig.py): QEMU's pflash stores a programmed
# word as given where NOR only clears bits, so each word is ANDed with the array first, and
# words are programmed one at a time (no write buffer) so that each can be. A power cut then
# tears at a bus word, a finer grain than a real chip's write buffer: a stricter test. The
# image's boot checks the result (test_mtd_device rigcheck).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kdeb="$(realpath "$1")"
out="$(realpath -m "$2")"
cache="$(dirname "$kdeb")"
sysroot="$(realpath -m "${TILLSYNC_SYSROOT:-$here/../../../build/sysroot-armhf}")"
version=$(dpkg-deb -f "$kdeb" Version)   # 6.1.176-1
pkg=$(dpkg-deb -f "$kdeb" Package)       # linux-image-6.1.0-50-armmp
abi=${pkg#linux-image-}; abi=${abi%-armmp} # 6.1.0-50
stamp="$version $(sha1sum "$here/cfi-rig.py" | cut -c1-12)"
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then exit 0; fi

get() { # the .deb of package=version (arch: as given) in the cache, downloaded when missing
  local f
  f=$(apt-get download --print-uris "$1=$version" 2>/dev/null | awk '{print $2}' | head -1)
  [ -n "$f" ] || { echo "cfi-modules: $1=$version not in the package index" >&2; exit 1; }
  [ -s "$cache/$f" ] || (cd "$cache" && apt-get -o APT::Sandbox::User=root download "$1=$version" >&2)
  echo "$cache/$f"
}
work="$out.work"
rm -rf "$work"; mkdir -p "$work/tree" "$work/kbuild-armhf" "$work/src"
for p in "linux-headers-$abi-armmp:armhf" "linux-headers-$abi-common" "linux-kbuild-6.1"; do
  dpkg -x "$(get "$p")" "$work/tree"
done
dpkg -x "$(get linux-kbuild-6.1:armhf)" "$work/kbuild-armhf"
hdr="$work/tree/usr/src/linux-headers-$abi-armmp"
# The headers package includes the common part by its installed path.
sed -i "s#/usr/src/linux-headers-$abi-common#$work/tree/usr/src/linux-headers-$abi-common#" "$hdr/Makefile"
# modpost takes sizeof(struct of_device_id) from its own build: the armhf one, under qemu-arm.
mod="$work/tree/usr/lib/linux-kbuild-6.1/scripts/mod"
cp "$work/kbuild-armhf/usr/lib/linux-kbuild-6.1/scripts/mod/modpost.real-lsb-32" "$mod/modpost.armhf"
printf '#!/bin/sh\nexec qemu-arm -L %s "$(dirname "$0")/modpost.armhf" "$@"\n' "$sysroot" > "$mod/modpost"
chmod +x "$mod/modpost"

src=$(get linux-source-6.1)
d=linux-source-6.1/drivers/mtd
dpkg-deb --fsys-tarfile "$src" | tar -x -O ./usr/src/linux-source-6.1.tar.xz |
  tar -xJ -C "$work/src" "$d/chips/gen_probe.c" "$d/chips/cfi_util.c" "$d/chips/cfi_probe.c" \
    "$d/chips/cfi_cmdset_0001.c" "$d/chips/fwh_lock.h" --wildcards "$d/maps/physmap-*"
m="$work/mod"; mkdir -p "$m"
cp "$work/src/$d"/chips/* "$work/src/$d"/maps/* "$m/"
python3 "$here/cfi-rig.py" "$m/cfi_cmdset_0001.c"
cat > "$m/Kbuild" <<'KBUILD'
obj-m += gen_probe.o cfi_util.o cfi_probe.o cfi_cmdset_0001.o physmap.o
physmap-y := physmap-core.o
ccflags-y += -DCONFIG_MTD_CFI_INTELEXT=1 -DCONFIG_MTD_PHYSMAP_OF=1
KBUILD
make -s -C "$hdr" M="$m" ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- modules >&2
rm -rf "$out"; mkdir -p "$out"
cp "$m"/*.ko "$out/"
echo "$stamp" > "$out/.stamp"
rm -rf "$work"
