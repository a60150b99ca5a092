#!/usr/bin/env python3
"""Patches drivers/mtd/chips/cfi_cmdset_0001.c for QEMU's pflash (cfi-modules.sh says why):
each word program is ANDed with the array's contents, and write buffers are not used."""
import sys

path = sys.argv[1]
s = open(path).read()
program = """	XIP_INVAL_CACHED_RANGE(map, adr, map_bankwidth(map));
	ENABLE_VPP(map);
	xip_disable(map, chip, adr);
	map_write(map, write_cmd, adr);
	map_write(map, datum, adr);"""
buffers = """	if (cfi->cfiq->BufWriteTimeoutTyp) {
		printk(KERN_INFO "Using buffer write method\\n" );"""
if s.count(program) != 1 or s.count(buffers) != 1:
    sys.exit("cfi-rig.py: %s is not the cfi_cmdset_0001.c this patch knows" % path)
s = s.replace(program, """	if (mode == FL_WRITING) {
		/* tillsync rig: QEMU's pflash stores a programmed word as given, where NOR only
		 * clears bits: AND it with the array first, as the chip's cells would */
		map_write(map, CMD(0xff), adr);
		datum = map_word_and(map, datum, map_read(map, adr));
	}
""" + program)
s = s.replace(buffers, buffers.replace("if (cfi->", "if (0 && cfi->"))
open(path, "w").write(s)
