#!/usr/bin/env bash
# Makes the terminal's boot image for QEMU's virt machine (ARMv7) from Debian's armhf packages
# and the project's own armhf build only: the armmp kernel, its modules, a BusyBox initramfs with
# the project's binaries and the shared libraries they need from the armhf sysroot.
#
#   make-image.sh ARMHF_BUILD_DIR OUT_DIR
#
# OUT_DIR gets vmlinuz, initrd.gz and terminal.dtb (boot with -dtb; boot_test.py does). Downloads are cached (TILLSYNC_DEB_CACHE, default
# build/debs-armhf, shared with toolchain/make-sysroot.sh); the unpacked kernel is kept in
# OUT_DIR/kernel and reused while its package is the same. The initramfs is rebuilt every time
# (a second or two): it carries the build's binaries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
build="$(realpath "${1:?usage: make-image.sh ARMHF_BUILD_DIR OUT_DIR}")"
out="$(realpath -m "${2:?usage: make-image.sh ARMHF_BUILD_DIR OUT_DIR}")"
cache="$(realpath -m "${TILLSYNC_DEB_CACHE:-$repo/build/debs-armhf}")"
sysroot="$(realpath -m "${TILLSYNC_SYSROOT:-$repo/build/sysroot-armhf}")"
mkdir -p "$out" "$cache"

# The kernel Debian's linux-image-armmp points at today, and BusyBox built static.
kpkg=$(apt-cache depends linux-image-armmp:armhf 2>/dev/null |
       awk '/Depends: linux-image-[0-9].*-armmp:armhf/ {sub(":armhf", "", $2); print $2; exit}')
[ -n "$kpkg" ] || { echo "make-image: no linux-image-armmp:armhf in the package index" >&2; exit 1; }
fetch() { # the .deb of an armhf package in the cache; downloaded when missing
  local f
  f=$(apt-get download --print-uris "$1:armhf" 2>/dev/null | awk '{print $2}' | head -1)
  [ -n "$f" ] || { echo "make-image: $1:armhf not in the package index" >&2; exit 1; }
  [ -s "$cache/$f" ] || (cd "$cache" && apt-get -o APT::Sandbox::User=root download "$1:armhf" >&2)
  echo "$cache/$f"
}
kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)
if [ "$(cat "$out/kernel/.deb" 2>/dev/null)" != "$(basename "$kdeb")" ]; then
  rm -rf "$out/kernel"
  dpkg -x "$kdeb" "$out/kernel.tmp"
  echo "$(basename "$kdeb")" > "$out/kernel.tmp/.deb"
  mv "$out/kernel.tmp" "$out/kernel"
fi
kver=$(ls "$out/kernel/lib/modules")
cp "$out/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

root="$out/rootfs"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/libexec/tillsync,proc,sys,dev,tmp,run,etc,jobs,lib/modules}
dpkg-deb --fsys-tarfile "$bdeb" | tar -x -C "$root" ./bin/busybox
# nandsim (NAND for the mtd tests), the virtio NIC, 9p for a shared folder when run by hand,
# ofpart (the device tree's NOR partitions).
python3 "$here/modules.py" "$out/kernel/lib/modules/$kver" \
  virtio_mmio virtio_net nandsim 9pnet_virtio 9p ofpart > "$out/modules.txt"
: > "$root/lib/modules/order"
while read -r m; do
  cp "$m" "$root/lib/modules/"
  basename "$m" >> "$root/lib/modules/order"
done < "$out/modules.txt"

# The NOR chip behind the kernel's MTD layer: CFI modules built for this kernel (cached), and
# virt's device tree with the journal's partition on the second pflash bank.
bash "$here/cfi-modules.sh" "$kdeb" "$out/cfi"
mkdir -p "$root/lib/modules/cfi"
cp "$out"/cfi/*.ko "$root/lib/modules/cfi/"
qemu-system-arm -M virt,dumpdtb="$out/virt.dtb" -cpu cortex-a15 -m 512 -nographic -nic none >/dev/null
dtc -q -I dtb -O dts -o "$out/virt.dts" "$out/virt.dtb"
python3 "$here/partitions.py" "$out/virt.dts" "$out/terminal.dts"
dtc -q -I dts -O dtb -o "$out/terminal.dtb" "$out/terminal.dts"

# The project's binaries, as a terminal installs them (CMake's install layout: sbin, bin).
install -m 755 "$build/firmware/app/tillsyncd" "$root/usr/sbin/"
install -m 755 "$build/firmware/app/tillsyncctl" "$root/usr/bin/"
install -m 755 "$build/tests/target/test_mtd_device" "$build/tests/target/tcp_relay" \
  "$root/usr/libexec/tillsync/"
install -m 755 "$here/init" "$root/init"
cp "$here"/jobs/*.sh "$root/jobs/"

# Their shared libraries from the sysroot, NEEDED entries followed to the end.
libdirs=("$sysroot/lib/arm-linux-gnueabihf" "$sysroot/usr/lib/arm-linux-gnueabihf" "$sysroot/lib")
declare -A seen=()
queue=("$root/usr/sbin/tillsyncd" "$root/usr/bin/tillsyncctl" "$root"/usr/libexec/tillsync/*)
mkdir -p "$root/lib/arm-linux-gnueabihf"
while [ "${#queue[@]}" -gt 0 ]; do
  f="${queue[0]}"; queue=("${queue[@]:1}")
  for lib in $(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    [ -n "${seen[$lib]:-}" ] && continue
    seen[$lib]=1
    src=""
    for d in "${libdirs[@]}"; do [ -e "$d/$lib" ] && { src="$d/$lib"; break; }; done
    [ -n "$src" ] || { echo "make-image: $lib (needed by $(basename "$f")) not in $sysroot" >&2; exit 1; }
    cp -L "$src" "$root/lib/arm-linux-gnueabihf/$lib"
    queue+=("$root/lib/arm-linux-gnueabihf/$lib")
  done
done
cp -L "$sysroot/lib/ld-linux-armhf.so.3" "$root/lib/"
# The service as the field issue packages it: its BusyBox/SysV init script and its user.
mkdir -p "$root/etc/init.d"
sed -e "s#@TILLSYNC_SBINDIR@#/usr/sbin#g" -e "s#@TILLSYNC_BINDIR@#/usr/bin#g" \
    -e "s#@TILLSYNC_CONFDIR@#/etc/tillsync#g" "$repo/toolchain/packaging/tillsync.init.in" \
    > "$root/etc/init.d/tillsync"
chmod 755 "$root/etc/init.d/tillsync"
printf 'root:x:0:0:root:/:/bin/sh\ntillsync:x:100:100:tillsync:/var/lib/tillsync:/bin/sh\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\ntillsync:x:100:\n' > "$root/etc/group"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.gz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "image: $out/vmlinuz ($kver), $out/initrd.gz ($(du -h "$out/initrd.gz" | cut -f1))"
