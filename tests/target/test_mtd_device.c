/*
 * The MTD flash driver against a real /dev/mtdN, in a booted ARM kernel (board/qemu-virt-armhf/
 * image): nandsim's NAND with injected bad blocks, and the virt machine's CFI NOR pflash. The
 * unit test (tests/unit/test_flash_mtd.c) runs the same driver against a fake of the ioctls; here
 * the kernel's MTD layer answers, with its own rules on alignment, bad blocks and locking.
 *
 * DESTRUCTIVE: erases the whole device. It runs only when told which device:
 *   TILLSYNC_MTD_DEVICE=/dev/mtd0    the device
 *   TILLSYNC_MTD_BAD="3,7"           the erase blocks the kernel was told are bad (may be empty)
 * Without TILLSYNC_MTD_DEVICE every test is skipped.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/flash_mtd.h"
#include "journal.h"

#define KiB     1024u
#define MAX_BAD 16

static const char *device;
static long bad[MAX_BAD];
static unsigned nbad;
static char err[256];

static int is_bad(uint32_t block)
{
    for (unsigned i = 0; i < nbad; i++)
        if (bad[i] == (long)block)
            return 1;
    return 0;
}

/* The device a test has open: closed by the teardown if the test fails with it open, so the
 * next test (and its child process) is not refused the device by our own lock. */
static struct hal_flash *open_dev;

static struct hal_flash *open_ok(int read_only)
{
    struct hal_flash *f = NULL;
    int rc = flash_mtd_open(device, read_only, &f, err, sizeof err);
    if (rc)
        fail_msg("flash_mtd_open(%s): %d %s", device, rc, err);
    return open_dev = f;
}

static void close_dev(struct hal_flash *f)
{
    hal_flash_close(f);
    if (f == open_dev)
        open_dev = NULL;
}

static int teardown(void **state)
{
    (void)state;
    close_dev(open_dev);
    return 0;
}

/* What sysfs says of the device is what the driver reports. */
static void test_geometry_is_the_kernels(void **state)
{
    (void)state;
    if (!device)
        skip();
    const char *name = strrchr(device, '/') + 1;
    char path[128];
    unsigned long long size = 0, erasesize = 0, writesize = 0;
    snprintf(path, sizeof path, "/sys/class/mtd/%s/size", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%llu", &size), 1);
    fclose(f);
    snprintf(path, sizeof path, "/sys/class/mtd/%s/erasesize", name);
    assert_non_null(f = fopen(path, "r"));
    assert_int_equal(fscanf(f, "%llu", &erasesize), 1);
    fclose(f);
    snprintf(path, sizeof path, "/sys/class/mtd/%s/writesize", name);
    assert_non_null(f = fopen(path, "r"));
    assert_int_equal(fscanf(f, "%llu", &writesize), 1);
    fclose(f);
    struct hal_flash *fl = open_ok(0);
    print_message("%s: %llu bytes, erase blocks of %llu, program unit %llu\n", device, size,
                  erasesize, writesize);
    assert_int_equal(fl->geo.size, size);
    assert_int_equal(fl->geo.erase_size, erasesize);
    assert_int_equal(fl->geo.prog_size, writesize);
    close_dev(fl);
}

/* Erase, program in program units, read back: what was programmed is what is read. */
static void test_program_and_read_back(void **state)
{
    (void)state;
    if (!device)
        skip();
    struct hal_flash *f = open_ok(0);
    uint32_t es = f->geo.erase_size, ps = f->geo.prog_size;
    uint32_t block = 0;
    while (is_bad(block))
        block++;
    assert_int_equal(hal_flash_erase(f, block), 0);
    uint8_t *buf = malloc(es), *back = malloc(es);
    assert_non_null(buf);
    assert_non_null(back);
    assert_int_equal(hal_flash_read(f, (uint64_t)block * es, back, es), 0);
    for (uint32_t i = 0; i < es; i++)
        if (back[i] != 0xFF)
            fail_msg("byte %u of an erased block reads %02x", i, back[i]);
    for (uint32_t i = 0; i < es; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    /* Units one at a time, then the rest in one program, as the journal writes records. */
    uint32_t head = 4 * ps < es / 2 ? 4 * ps : ps;
    for (uint32_t off = 0; off < head; off += ps)
        assert_int_equal(hal_flash_prog(f, (uint64_t)block * es + off, buf + off, ps), 0);
    assert_int_equal(hal_flash_prog(f, (uint64_t)block * es + head, buf + head, es - head), 0);
    assert_int_equal(hal_flash_sync(f), 0);
    assert_int_equal(hal_flash_read(f, (uint64_t)block * es, back, es), 0);
    assert_memory_equal(buf, back, es);
    assert_int_equal(hal_flash_erase(f, block), 0);
    free(buf);
    free(back);
    close_dev(f);
}

/*
 * NOR only (program unit 1): a program clears bits and touches nothing else. Bytes programmed one
 * at a time at odd offsets keep their neighbours (the kernel pads a partial bus word with 0xFF,
 * which a real chip ignores), and a byte programmed twice holds the AND of both. The QEMU rig
 * checks its emulated chip with this at every boot (board/qemu-virt-armhf/image).
 */
static void test_nor_programs_only_clear_bits(void **state)
{
    (void)state;
    if (!device)
        skip();
    struct hal_flash *f = open_ok(0);
    if (f->geo.prog_size != 1) {
        close_dev(f);
        skip();
    }
    uint32_t last = (uint32_t)(f->geo.size / f->geo.erase_size) - 1;
    uint64_t base = (uint64_t)last * f->geo.erase_size;
    static const uint8_t want[] = {0x00, 0x00, 0x11, 0x22, 0xff, 0x33, 0x44, 0x55, 0x66};
    uint8_t back[sizeof want + 8];
    assert_int_equal(hal_flash_erase(f, last), 0);
    for (unsigned i = 0; i < sizeof want; i++) /* odd order: each a partial bus word */
        assert_int_equal(
            hal_flash_prog(f, base + 3 + (i * 5) % sizeof want, &want[(i * 5) % sizeof want], 1),
            0);
    assert_int_equal(hal_flash_read(f, base, back, sizeof back), 0);
    for (unsigned i = 0; i < sizeof back; i++) {
        uint8_t expect = i >= 3 && i < 3 + sizeof want ? want[i - 3] : 0xff;
        if (back[i] != expect)
            fail_msg("byte %u reads %02x, programmed %02x: the chip does not program as NOR "
                     "does (a neighbour's padding erased it?)",
                     i, back[i], expect);
    }
    const uint8_t a = 0x0f, b = 0x3c;
    assert_int_equal(hal_flash_prog(f, base + 20, &a, 1), 0);
    assert_int_equal(hal_flash_prog(f, base + 20, &b, 1), 0);
    assert_int_equal(hal_flash_read(f, base + 20, back, 1), 0);
    if (back[0] != (a & b))
        fail_msg("0x0f then 0x3c programmed over each other read %02x, not their AND %02x", back[0],
                 a & b);
    assert_int_equal(hal_flash_erase(f, last), 0);
    close_dev(f);
}

/* The blocks the kernel knows are bad are refused as worn (-EROFS), the others erase. */
static void test_bad_blocks_refused(void **state)
{
    (void)state;
    if (!device)
        skip();
    struct hal_flash *f = open_ok(0);
    uint32_t n = (uint32_t)(f->geo.size / f->geo.erase_size), refused = 0;
    uint32_t limit = n < 64 ? n : 64; /* the bad ones are near the start; a full pass is slow */
    for (uint32_t b = 0; b < limit; b++) {
        int rc = hal_flash_erase(f, b);
        if (is_bad(b)) {
            assert_int_equal(rc, -EROFS);
            refused++;
        } else if (rc) {
            fail_msg("erase of good block %u: %d", b, rc);
        }
    }
    unsigned expected = 0;
    for (unsigned i = 0; i < nbad; i++)
        expected += bad[i] < (long)limit;
    assert_int_equal(refused, expected);
    close_dev(f);
}

static void sale_for(unsigned i, char *txn, size_t txn_cap, char *body, size_t body_cap)
{
    snprintf(txn, txn_cap, "dev-%04u", i);
    size_t pad = (i % 5) * 9000 + i * 3;
    int n = snprintf(body, body_cap, "{\"txn\":\"%s\",\"total\":%u,\"pad\":\"", txn, i * 100);
    assert_true(n > 0 && (size_t)n + pad + 3 < body_cap);
    for (size_t k = 0; k < pad; k++)
        body[n + k] = (char)('a' + (i + k) % 26);
    memcpy(body + n + pad, "\"}", 3);
}

#define SALES 120 /* at most; fewer on a small partition (a third of it in bodies) */

/* The journal end to end on the device: sales appended across blocks (passing the bad ones),
 * teardown), every one back after the device is closed and opened again, and a clean check. */
static void test_journal_round_trip(void **state)
{
    (void)state;
    if (!device)
        skip();
    static struct journal j;
    static char txn[32], body[48 * KiB];
    uint32_t ids[1] = {journal_backend_id("glu")};
    uint64_t seqs[SALES], bytes = 0;
    unsigned nsales = 0;
    struct hal_flash *f = open_ok(0);
    for (uint32_t b = 0; b < 64 && b < f->geo.size / f->geo.erase_size; b++)
        if (!is_bad(b))
            assert_int_equal(hal_flash_erase(f, b), 0); /* a blank start: the journal's first lap */
    if (journal_mount(&j, f, ids, 1, err, sizeof err) != 0)
        fail_msg("mount: %s", err);
    for (unsigned i = 0; i < SALES && bytes < f->geo.size / 3; i++, nsales++) {
        sale_for(i, txn, sizeof txn, body, sizeof body);
        int rc = journal_append_sale(&j, txn, body, strlen(body), 1700000000000ull + i, &seqs[i]);
        if (rc)
            fail_msg("append %u: %d", i, rc);
        bytes += strlen(body);
    }
    print_message("%u sales in %u blocks of %u bytes, %u worn blocks passed over\n", nsales, j.used,
                  j.block_size, j.report.bad_blocks);
    if (nbad)
        assert_true(j.report.bad_blocks > 0 || j.used < (uint32_t)bad[0]);
    journal_unmount(&j);
    close_dev(f);

    f = open_ok(1); /* as verify opens it */
    if (journal_mount(&j, f, ids, 1, err, sizeof err) != 0)
        fail_msg("remount: %s", err);
    assert_int_equal(journal_check(&j), 0); /* before delivery: reclaim would free the blocks */
    assert_int_equal(j.report.corrupt_records, 0);
    assert_int_equal(j.report.sales, nsales);
    struct journal_sale s;
    for (unsigned i = 0; i < nsales; i++) {
        assert_int_equal(journal_next_sale(&j, 0, &s), 1);
        sale_for(i, txn, sizeof txn, body, sizeof body);
        assert_int_equal(s.seq, seqs[i]);
        assert_string_equal(s.txn, txn);
        assert_int_equal(s.body_len, strlen(body));
        assert_memory_equal(s.body, body, s.body_len);
        assert_int_equal(journal_sale_done(&j, 0, &s, NULL), 0);
    }
    assert_int_equal(journal_next_sale(&j, 0, &s), 0);
    journal_unmount(&j);
    close_dev(f);
}

/* A second process is refused the device while one holds it. */
static void test_one_process_per_device(void **state)
{
    (void)state;
    if (!device)
        skip();
    int held[2], release[2];
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(release), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct hal_flash *f = NULL;
        char why[256] = "y";
        if (flash_mtd_open(device, 0, &f, why, sizeof why) != 0)
            why[0] = why[0] == 'y' ? 'Y' : why[0]; /* anything but "y" is the reason */
        if (write(held[1], why, sizeof why) != sizeof why || read(release[0], why, 1) < 0)
            _exit(1);
        _exit(0);
    }
    char why[256] = "";
    assert_int_equal(read(held[0], why, sizeof why), sizeof why);
    if (strcmp(why, "y") != 0)
        fail_msg("the first process could not open %s: %s", device, why);
    struct hal_flash *g = NULL;
    assert_int_equal(flash_mtd_open(device, 0, &g, err, sizeof err), -EBUSY);
    assert_null(g);
    assert_int_equal(write(release[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    close_dev(open_ok(0));
}

int main(int argc, char **argv)
{
    /* rigcheck: only what tells whether the emulated chip behaves as flash */
    device = getenv("TILLSYNC_MTD_DEVICE");
    const char *b = getenv("TILLSYNC_MTD_BAD");
    for (char *p = (char *)b, *end; p && *p && nbad < MAX_BAD; p = *end ? end + 1 : end) {
        bad[nbad++] = strtol(p, &end, 10);
        if (end == p)
            break;
    }
    const struct CMUnitTest rig[] = {
        cmocka_unit_test_teardown(test_geometry_is_the_kernels, teardown),
        cmocka_unit_test_teardown(test_nor_programs_only_clear_bits, teardown),
    };
    if (argc > 1 && strcmp(argv[1], "rigcheck") == 0)
        return cmocka_run_group_tests_name("rigcheck", rig, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_geometry_is_the_kernels, teardown),
        cmocka_unit_test_teardown(test_nor_programs_only_clear_bits, teardown),
        cmocka_unit_test_teardown(test_program_and_read_back, teardown),
        cmocka_unit_test_teardown(test_bad_blocks_refused, teardown),
        cmocka_unit_test_teardown(test_journal_round_trip, teardown),
        cmocka_unit_test_teardown(test_one_process_per_device, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
