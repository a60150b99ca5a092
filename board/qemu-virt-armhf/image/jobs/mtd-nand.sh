# The mtd driver's device tests against nandsim's NAND, with the bad blocks init was given.
TILLSYNC_MTD_DEVICE=/dev/mtd0 TILLSYNC_MTD_BAD="$TS_NAND_BAD" /usr/libexec/tillsync/test_mtd_device
