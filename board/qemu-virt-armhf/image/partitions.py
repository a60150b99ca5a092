#!/usr/bin/env python3
"""Adds the terminal's NOR partitions to QEMU virt's own device tree (as dumped by
-machine dumpdtb and decompiled by dtc): virt's flash node spans both pflash banks, 64 MiB each;
bank 0 is left alone (with a drive QEMU would boot it as firmware), bank 1 is the journal's chip.
The journal partition is small (8 erase blocks of 256 KiB) so that a power-cut run laps the ring
and erases blocks many times."""
import sys

PARTITIONS = """
		partitions {
			compatible = "fixed-partitions";
			#address-cells = <0x01>;
			#size-cells = <0x01>;

			partition@0 {
				label = "bank0";
				reg = <0x00 0x4000000>;
				read-only;
			};

			partition@4000000 {
				label = "journal";
				reg = <0x4000000 0x200000>;
			};

			partition@4200000 {
				label = "rigcheck";
				reg = <0x4200000 0x40000>;
			};
		};
"""

src, dst = sys.argv[1], sys.argv[2]
s = open(src).read()
node = '\t\tcompatible = "cfi-flash";\n'
if s.count(node) != 1:
    sys.exit("partitions.py: no single cfi-flash node in %s" % src)
open(dst, "w").write(s.replace(node, node + PARTITIONS))
