#!/usr/bin/env python3
"""Boots the terminal's image (board/qemu-virt-armhf/image) under qemu-system-arm and runs one job
in it; the job's exit status is the test's. Prints what the guest printed, and the timings.

    boot_test.py --build ARMHF_BUILD_DIR --job NAME [--nand-bad 3,7] [--pflash FILE]
                 [--timeout S] [--no-make]

The image is (re)made first from the build (make-image.sh; the kernel is cached), unless
--no-make. Exit 77 (ctest's skip) when qemu-system-arm is not installed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IMAGE = os.path.join(REPO, "board", "qemu-virt-armhf", "image")


def qemu_command(image_dir, append, pflash=None, net=None):
    cmd = ["qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15", "-m", "512", "-nographic",
           "-no-reboot", "-kernel", os.path.join(image_dir, "vmlinuz"),
           "-initrd", os.path.join(image_dir, "initrd.gz"),
           "-dtb", os.path.join(image_dir, "terminal.dtb"), "-append", append]
    if net:
        # virtio-net on virt's MMIO transport: no PCI option ROM needed
        cmd += ["-netdev", net, "-device", "virtio-net-device,netdev=n0"]
    else:
        cmd += ["-nic", "none"]
    if pflash:
        # Bank 0 stays empty (QEMU would boot it as firmware); bank 1 is the journal's NOR.
        cmd += ["-drive", "if=pflash,unit=1,format=raw,file=%s" % pflash]
    return cmd


PFLASH_BANK = 64 << 20


def blank_pflash(path):
    """A NOR bank as it leaves the factory: every byte 0xFF."""
    with open(path, "wb") as f:
        block = b"\xff" * (1 << 20)
        for _ in range(PFLASH_BANK >> 20):
            f.write(block)


def record_summary(build, line):
    """One line for tests/run-all.sh to print after the armhf ctest: passing tests' output is not
    shown by ctest, and these figures are what the QEMU part of CI is for."""
    with open(os.path.join(build, "target-summary.txt"), "a") as f:
        f.write(line + "\n")


def make_image(build, image_dir):
    t = time.monotonic()
    subprocess.run(["bash", os.path.join(IMAGE, "make-image.sh"), build, image_dir], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--nand-bad", default="")
    ap.add_argument("--pflash", help="bank 1's image (64 MiB); made blank if missing")
    ap.add_argument("--fresh-pflash", action="store_true", help="blank it first")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-make", action="store_true")
    a = ap.parse_args()
    if not shutil.which("qemu-system-arm"):
        print("SKIP: qemu-system-arm is not installed")
        return 77
    image_dir = os.path.join(os.path.abspath(a.build), "qemu-image")
    made = 0.0 if a.no_make else make_image(os.path.abspath(a.build), image_dir)
    append = "console=ttyAMA0 quiet ts.job=%s" % a.job
    if a.nand_bad:
        append += " ts.nand_bad=%s" % a.nand_bad
    if a.pflash and (a.fresh_pflash or not os.path.exists(a.pflash)):
        blank_pflash(a.pflash)
    t = time.monotonic()
    p = subprocess.run(qemu_command(image_dir, append, a.pflash), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=a.timeout)
    took = time.monotonic() - t
    out = p.stdout.decode(errors="replace")
    result, booted = None, None
    for line in out.splitlines():
        if line.startswith("busybox: "):
            continue  # --install -s on a read-only path: noise
        print(line)
        if line.startswith("TS-RESULT "):
            result = int(line.split()[1])
        if line.startswith("TS-RESULT 99"):
            print("FAIL: the rig's NOR check failed: the emulated chip does not program as flash")
        if line.startswith("TS-BOOTED "):
            booted = line.split()[2]
    summary = ("target %s: image made in %.1f s; guest booted in %s, job done and powered off "
               "in %.1f s, result %s" % (a.job, made, booted, took, result))
    print(summary)
    record_summary(os.path.abspath(a.build), summary)
    if result is None:
        print("FAIL: the guest never reported the job's result (qemu exit %d)" % p.returncode)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
