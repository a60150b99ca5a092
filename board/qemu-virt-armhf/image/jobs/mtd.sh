# The mtd driver's device tests in the booted kernel: nandsim's NAND with the bad blocks init was
# given, then the NOR journal partition on virt's pflash (erased by the test).
rc=0
echo "== NAND: $TS_NAND_MTD (bad blocks: ${TS_NAND_BAD:-none})"
TILLSYNC_MTD_DEVICE=$TS_NAND_MTD TILLSYNC_MTD_BAD="$TS_NAND_BAD" /usr/libexec/tillsync/test_mtd_device || rc=1
echo "== NOR: $TS_JOURNAL_MTD"
TILLSYNC_MTD_DEVICE=$TS_JOURNAL_MTD /usr/libexec/tillsync/test_mtd_device || rc=1
exit $rc
