/*
 * The MTD flash driver, its real code, against a fake /dev/mtdN: a regular file whose MTD ioctls
 * (MEMGETINFO, MEMGETBADBLOCK, MEMERASE) are emulated by wrapping ioctl() at link time
 * (-Wl,--wrap=ioctl; pread64 and pwrite64 likewise, for flash semantics and injected faults).
 * Nothing is preloaded and no kernel module is needed, so it runs natively, under the sanitizers
 * and under qemu-arm alike.
 *
 * The fake behaves as the kernel's MTD character device does: erase sets a block to 0xFF and
 * fails with EIO on a worn block or a block marked bad; a NAND write must be page aligned
 * (EINVAL otherwise); a program can only clear bits. It counts what real flash would not forgive
 * (a bit set by a program, a NAND page programmed twice between erases), and the journal runs on
 * it end to end: appends, remount, every sale back.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mtd/mtd-user.h>

#include "drivers/flash_mtd.h"
#include "journal.h"

#ifndef MTD_SLC_ON_MLC_EMULATION
#define MTD_SLC_ON_MLC_EMULATION 0x4000 /* uapi since Linux 5.10 */
#endif

#define KiB 1024u

/* ---- the fake device ---- */

static struct fake {
    int active;
    char path[64];
    dev_t dev;
    ino_t ino;
    struct mtd_info_user info;
    int64_t bad_block;      /* marked bad: MEMGETBADBLOCK says 1, MEMERASE fails; -1 none */
    int64_t worn_block;     /* MEMERASE fails with EIO; -1 none */
    int write_errno;        /* the next write fails with this (after programming half) */
    int read_errno;         /* the next read fails with this */
    size_t read_chunk;      /* reads return at most this much; 0 = all */
    uint8_t *page_written;  /* per program unit: programmed since its block's erase */
    unsigned violations;    /* what real flash would not forgive */
    unsigned erases;        /* successful MEMERASE calls */
    unsigned erase_of_bad;  /* MEMERASE calls on the block marked bad */
    unsigned said_bad;      /* MEMGETBADBLOCK answers "bad" */
    unsigned erase_of_worn; /* MEMERASE calls on the worn block */
} fk;

int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);
ssize_t __real_pread64(int fd, void *buf, size_t n, off64_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off64_t off);
ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off64_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off64_t off);

static int is_fake(int fd)
{
    struct stat st;
    return fk.active && fstat(fd, &st) == 0 && st.st_dev == fk.dev && st.st_ino == fk.ino;
}

static int fail_with(int e)
{
    errno = e;
    return -1;
}

static int fake_erase(int fd, const struct erase_info_user *ei)
{
    const uint32_t es = fk.info.erasesize;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        return fail_with(EPERM); /* as mtdchar: MEMERASE needs a descriptor open for writing */
    if (ei->length != es || ei->start % es || ei->start >= fk.info.size)
        return fail_with(EINVAL);
    int64_t block = ei->start / es;
    if (block == fk.bad_block) {
        fk.erase_of_bad++;
        return fail_with(EIO); /* nand_erase_nand refuses a bad block */
    }
    if (block == fk.worn_block) {
        fk.erase_of_worn++;
        return fail_with(EIO);
    } /* the chip's erase status says FAIL */
    static uint8_t ones[4096];
    memset(ones, 0xFF, sizeof ones);
    for (uint32_t done = 0; done < es; done += sizeof ones)
        if (__real_pwrite64(fd, ones, sizeof ones, (off64_t)ei->start + done) != sizeof ones)
            return fail_with(EIO);
    if (fk.info.writesize > 1) /* NAND: its pages may be programmed again */
        memset(fk.page_written + ei->start / fk.info.writesize, 0, es / fk.info.writesize);
    fk.erases++;
    return 0;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!is_fake(fd))
        return __real_ioctl(fd, request, arg);
    switch (request) {
    case MEMGETINFO:
        memcpy(arg, &fk.info, sizeof fk.info);
        return 0;
    case MEMGETBADBLOCK: {
        loff_t ofs = *(const loff_t *)arg;
        if (ofs < 0 || (uint64_t)ofs >= fk.info.size)
            return fail_with(EINVAL);
        int bad = ofs / fk.info.erasesize == fk.bad_block;
        fk.said_bad += bad;
        return bad;
    }
    case MEMERASE:
        return fake_erase(fd, arg);
    default:
        return fail_with(ENOTTY);
    }
}

ssize_t __wrap_pread64(int fd, void *buf, size_t n, off64_t off)
{
    if (!is_fake(fd))
        return __real_pread64(fd, buf, n, off);
    if (fk.read_errno) {
        int e = fk.read_errno;
        fk.read_errno = 0;
        return fail_with(e);
    }
    if (fk.read_chunk && n > fk.read_chunk)
        n = fk.read_chunk;
    return __real_pread64(fd, buf, n, off);
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    if (!is_fake(fd))
        return __real_pwrite64(fd, buf, n, off);
    const uint32_t ws = fk.info.writesize;
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        return fail_with(EBADF);
    if (off < 0 || (uint64_t)off >= fk.info.size)
        return fail_with(ENOSPC);
    if ((uint64_t)off + n > fk.info.size)
        n = fk.info.size - (size_t)off;
    if (off % ws || n % ws)
        return fail_with(EINVAL); /* nand_do_write_ops: not page aligned */
    int e = fk.write_errno;
    fk.write_errno = 0;
    size_t take = e ? n / 2 : n; /* a failed program leaves part of what it was given */
    uint8_t *cells = malloc(n ? n : 1);
    assert_non_null(cells);
    assert_int_equal(__real_pread64(fd, cells, n, off), (ssize_t)n);
    const uint8_t *src = buf;
    for (size_t i = 0; i < take; i++) {
        if ((cells[i] & src[i]) != src[i])
            fk.violations++; /* a program cannot set a bit */
        cells[i] &= src[i];
    }
    if (ws > 1)
        for (size_t u = 0; u < n / ws; u++) {
            uint8_t *w = &fk.page_written[(size_t)off / ws + u];
            fk.violations += *w; /* a NAND page takes one program per erase */
            *w = 1;
        }
    assert_int_equal(__real_pwrite64(fd, cells, n, off), (ssize_t)n);
    free(cells);
    return e ? fail_with(e) : (ssize_t)n;
}

/* A fresh device of this kind, all erased, nothing bad. */
static void fake_make(uint8_t type, uint32_t flags, uint32_t size, uint32_t erasesize,
                      uint32_t writesize)
{
    free(fk.page_written);
    if (fk.path[0])
        unlink(fk.path);
    memset(&fk, 0, sizeof fk);
    fk.bad_block = fk.worn_block = -1;
    fk.info.type = type;
    fk.info.flags = flags;
    fk.info.size = size;
    fk.info.erasesize = erasesize;
    fk.info.writesize = writesize;
    fk.info.oobsize = writesize > 1 ? 64 : 0;
    snprintf(fk.path, sizeof fk.path, "/tmp/tillsync-test-mtd-XXXXXX");
    int fd = mkstemp(fk.path);
    assert_true(fd >= 0);
    static uint8_t ones[64 * KiB];
    memset(ones, 0xFF, sizeof ones);
    for (uint32_t off = 0; off < size; off += sizeof ones) {
        size_t n = size - off < sizeof ones ? size - off : sizeof ones;
        assert_int_equal(write(fd, ones, n), (ssize_t)n);
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    fk.dev = st.st_dev;
    fk.ino = st.st_ino;
    fk.page_written = calloc(writesize > 1 ? size / writesize : 1, 1);
    assert_non_null(fk.page_written);
    fk.active = 1;
}

static void fake_nor(void)
{
    fake_make(MTD_NORFLASH, MTD_CAP_NORFLASH, 16 * 64 * KiB, 64 * KiB, 1);
}

static void fake_nand(void)
{
    fake_make(MTD_NANDFLASH, MTD_CAP_NANDFLASH, 16 * 128 * KiB, 128 * KiB, 2048);
}

static int teardown(void **state)
{
    (void)state;
    if (fk.path[0])
        unlink(fk.path);
    free(fk.page_written);
    memset(&fk, 0, sizeof fk);
    return 0;
}

static char err[512];

static struct hal_flash *open_ok(int read_only)
{
    struct hal_flash *f = NULL;
    memset(err, 0, sizeof err);
    int rc = flash_mtd_open(fk.path, read_only, &f, err, sizeof err);
    if (rc)
        fail_msg("flash_mtd_open: %d %s", rc, err);
    assert_non_null(f);
    return f;
}

/* ---- geometry, alignment ---- */

static void test_nor_geometry_and_byte_programs(void **state)
{
    (void)state;
    fake_nor();
    struct hal_flash *f = open_ok(0);
    assert_int_equal(f->geo.size, 16 * 64 * KiB);
    assert_int_equal(f->geo.erase_size, 64 * KiB);
    assert_int_equal(f->geo.prog_size, 1);

    /* any byte, any length */
    static const uint8_t data[] = {0x12, 0x34, 0x56};
    uint8_t back[5];
    assert_int_equal(hal_flash_prog(f, 64 * KiB + 7, data, sizeof data), 0);
    assert_int_equal(hal_flash_read(f, 64 * KiB + 6, back, sizeof back), 0);
    static const uint8_t expect[] = {0xFF, 0x12, 0x34, 0x56, 0xFF};
    assert_memory_equal(back, expect, sizeof expect);
    assert_int_equal(hal_flash_sync(f), 0);

    assert_int_equal(hal_flash_erase(f, 1), 0);
    assert_int_equal(hal_flash_read(f, 64 * KiB + 6, back, sizeof back), 0);
    for (size_t i = 0; i < sizeof back; i++)
        assert_int_equal(back[i], 0xFF);
    assert_int_equal(fk.erases, 1);

    /* outside the device */
    assert_int_equal(hal_flash_erase(f, 16), -EINVAL);
    assert_int_equal(hal_flash_prog(f, 16 * 64 * KiB - 1, data, 2), -EINVAL);
    assert_int_equal(hal_flash_read(f, 16 * 64 * KiB - 1, back, 2), -EINVAL);
    assert_int_equal(fk.violations, 0);
    hal_flash_close(f);
}

static void test_nand_geometry_and_alignment(void **state)
{
    (void)state;
    fake_nand();
    struct hal_flash *f = open_ok(0);
    assert_int_equal(f->geo.size, 16 * 128 * KiB);
    assert_int_equal(f->geo.erase_size, 128 * KiB);
    assert_int_equal(f->geo.prog_size, 2048);

    static uint8_t page[4096];
    memset(page, 0xA5, sizeof page);
    /* misaligned offset or length: refused by the driver, before the kernel sees it */
    assert_int_equal(hal_flash_prog(f, 100, page, 2048), -EINVAL);
    assert_int_equal(hal_flash_prog(f, 0, page, 100), -EINVAL);
    assert_int_equal(hal_flash_prog(f, 2048, page, 2048 + 512), -EINVAL);
    assert_int_equal(hal_flash_prog(f, 16 * 128 * KiB, page, 2048), -EINVAL);

    assert_int_equal(hal_flash_prog(f, 2048, page, sizeof page), 0);
    uint8_t back[4096 + 2];
    assert_int_equal(hal_flash_read(f, 2047, back, sizeof back), 0);
    assert_int_equal(back[0], 0xFF);
    assert_memory_equal(back + 1, page, sizeof page);
    assert_int_equal(back[sizeof back - 1], 0xFF);
    assert_int_equal(fk.violations, 0);

    /* the fake notices what real NAND would not take, so a clean journal run means something */
    assert_int_equal(hal_flash_prog(f, 2048, page, 2048), 0);
    assert_int_equal(fk.violations, 1); /* the same page twice */
    memset(page, 0xFF, sizeof page);
    assert_int_equal(hal_flash_prog(f, 8192, page, 2048), 0);
    page[5] = 0x01;
    assert_int_equal(hal_flash_prog(f, 10240, page, 2048), 0);
    page[5] = 0x03; /* sets bit 1 again */
    fk.page_written[10240 / 2048] = 0;
    assert_int_equal(hal_flash_prog(f, 10240, page, 2048), 0);
    assert_int_equal(fk.violations, 2);
    hal_flash_close(f);
}

/* ---- worn and bad blocks, kernel errors ---- */

static void test_bad_block_is_not_erased(void **state)
{
    (void)state;
    fake_nand();
    fk.bad_block = 3;
    struct hal_flash *f = open_ok(0);
    assert_int_equal(hal_flash_erase(f, 3), -EROFS);
    assert_int_equal(fk.erase_of_bad, 0); /* asked first, never erased over the marker */
    assert_int_equal(hal_flash_erase(f, 2), 0);
    assert_int_equal(hal_flash_erase(f, 4), 0);
    assert_int_equal(fk.erases, 2);
    hal_flash_close(f);
}

static void test_erase_failure_is_a_worn_block(void **state)
{
    (void)state;
    fake_nor();
    fk.worn_block = 5;
    struct hal_flash *f = open_ok(0);
    assert_int_equal(hal_flash_erase(f, 5), -EROFS);
    assert_int_equal(hal_flash_erase(f, 6), 0);
    hal_flash_close(f);
}

static void test_program_errors_mapped(void **state)
{
    (void)state;
    fake_nand();
    struct hal_flash *f = open_ok(0);
    static uint8_t page[2048];
    memset(page, 0x5A, sizeof page);
    fk.write_errno = EIO; /* program status FAIL: a worn block */
    assert_int_equal(hal_flash_prog(f, 0, page, sizeof page), -EROFS);
    fk.write_errno = EROFS; /* a locked sector or read-only partition: not wear */
    assert_int_equal(hal_flash_prog(f, 2048, page, sizeof page), -EPERM);
    fk.write_errno = ENOMEM;
    assert_int_equal(hal_flash_prog(f, 4096, page, sizeof page), -ENOMEM);
    assert_int_equal(hal_flash_prog(f, 6144, page, sizeof page), 0);
    hal_flash_close(f);
}

static void test_reads_loop_and_ecc(void **state)
{
    (void)state;
    fake_nand();
    struct hal_flash *f = open_ok(0);
    static uint8_t data[3 * 2048], back[3 * 2048];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(hal_flash_prog(f, 128 * KiB, data, sizeof data), 0);

    fk.read_chunk = 1000; /* short reads: the driver goes on where it stopped */
    memset(back, 0, sizeof back);
    assert_int_equal(hal_flash_read(f, 128 * KiB, back, sizeof back), 0);
    assert_memory_equal(back, data, sizeof data);
    fk.read_chunk = 0;

    fk.read_errno = EUCLEAN; /* corrected: read again, success */
    memset(back, 0, sizeof back);
    assert_int_equal(hal_flash_read(f, 128 * KiB, back, sizeof back), 0);
    assert_memory_equal(back, data, sizeof data);

    fk.read_errno = EBADMSG; /* uncorrectable, and no data: a device failure */
    assert_int_equal(hal_flash_read(f, 128 * KiB, back, sizeof back), -EIO);
    fk.read_errno = EINTR;
    assert_int_equal(hal_flash_read(f, 128 * KiB, back, sizeof back), 0);
    hal_flash_close(f);
}

/* ---- read-only ---- */

static void test_read_only(void **state)
{
    (void)state;
    fake_nand();
    struct hal_flash *f = open_ok(0);
    static uint8_t page[2048];
    memset(page, 0x3C, sizeof page);
    assert_int_equal(hal_flash_prog(f, 0, page, sizeof page), 0);
    hal_flash_close(f);

    f = open_ok(1);
    uint8_t back[2048];
    assert_int_equal(hal_flash_read(f, 0, back, sizeof back), 0);
    assert_memory_equal(back, page, sizeof page);
    /* -EPERM, not -EROFS: nothing about the block is worn */
    assert_int_equal(hal_flash_prog(f, 2048, page, sizeof page), -EPERM);
    assert_int_equal(hal_flash_erase(f, 0), -EPERM);
    assert_int_equal(fk.erases, 0);
    hal_flash_close(f);

    /* a device the kernel says is not writable: inspection only */
    fk.info.flags &= ~(uint32_t)MTD_WRITEABLE;
    struct hal_flash *g = NULL;
    assert_int_equal(flash_mtd_open(fk.path, 0, &g, err, sizeof err), -EACCES);
    assert_null(g);
    assert_non_null(strstr(err, fk.path));
    hal_flash_close(open_ok(1));
}

/* ---- refusals ---- */

static void test_refused_devices(void **state)
{
    (void)state;
    static const struct {
        uint8_t type;
        uint32_t flags, size, erasesize, writesize;
        const char *why;
    } cases[] = {
        {MTD_ABSENT, 0, 1024 * KiB, 64 * KiB, 1, "no device"},
        {MTD_RAM, MTD_CAP_RAM, 1024 * KiB, 64 * KiB, 1, "RAM"},
        {MTD_ROM, MTD_CAP_ROM, 1024 * KiB, 64 * KiB, 1, "ROM"},
        {MTD_DATAFLASH, MTD_WRITEABLE, 1024 * KiB, 1024, 1024, "DataFlash"},
        {MTD_UBIVOLUME, MTD_WRITEABLE, 1024 * KiB, 124 * KiB, 2048, "UBI volume"},
        {MTD_MLCNANDFLASH, MTD_CAP_NANDFLASH, 2048 * KiB, 256 * KiB, 4096, "MLC NAND"},
        {42, MTD_WRITEABLE, 1024 * KiB, 64 * KiB, 1, "unknown"},
        {MTD_NORFLASH, MTD_CAP_NORFLASH | MTD_NO_ERASE, 1024 * KiB, 64 * KiB, 1, "no erase"},
        /* geometry */
        {MTD_NORFLASH, MTD_CAP_NORFLASH, 1024 * KiB + 4096, 64 * KiB, 1, "whole number"},
        {MTD_NORFLASH, MTD_CAP_NORFLASH, 1024 * KiB, 0, 1, "geometry"},
        {MTD_NANDFLASH, MTD_CAP_NANDFLASH, 2048 * KiB, 128 * KiB, 0, "geometry"},
        {MTD_NANDFLASH, MTD_CAP_NANDFLASH, 2048 * KiB, 128 * KiB, 3000, "geometry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fake_make(cases[i].type, cases[i].flags, cases[i].size,
                  cases[i].erasesize ? cases[i].erasesize : 64 * KiB, 1);
        fk.info.erasesize = cases[i].erasesize;
        fk.info.writesize = cases[i].writesize;
        struct hal_flash *f = NULL;
        memset(err, 0, sizeof err);
        int rc = flash_mtd_open(fk.path, 0, &f, err, sizeof err);
        if (rc >= 0 || f || !strstr(err, fk.path) || !strstr(err, cases[i].why))
            fail_msg("case %zu (%s): rc %d, err \"%s\"", i, cases[i].why, rc, err);
    }

    /* MLC NAND in SLC mode is fine: one bit per cell, no paired pages */
    fake_make(MTD_MLCNANDFLASH, MTD_CAP_NANDFLASH | MTD_SLC_ON_MLC_EMULATION, 2048 * KiB, 128 * KiB,
              4096);
    hal_flash_close(open_ok(0));

    /* a plain file (no MTD ioctls) and a missing node */
    fk.active = 0;
    struct hal_flash *f = NULL;
    assert_int_equal(flash_mtd_open(fk.path, 0, &f, err, sizeof err), -ENODEV);
    assert_non_null(strstr(err, fk.path));
    assert_int_equal(flash_mtd_open("/nonexistent/mtd9", 1, &f, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/mtd9"));
    assert_null(f);
}

/* ---- the journal on it ---- */

#define SALES_FIRST 20
#define SALES_LATER 5

static const uint32_t ids[1] = {0x61c0ffee};

static void sale_for(unsigned i, char *txn, size_t txn_cap, char *body, size_t body_cap)
{
    /* sizes from a few bytes to ~36 KiB: records from one program unit to many pages */
    snprintf(txn, txn_cap, "mtd-%04u", i);
    size_t pad = (i % 5) * 9000 + i * 3;
    int n = snprintf(body, body_cap, "{\"txn\":\"%s\",\"total\":%u,\"pad\":\"", txn, i * 100);
    assert_true(n > 0 && (size_t)n + pad + 3 < body_cap);
    for (size_t k = 0; k < pad; k++)
        body[n + k] = (char)('a' + (i + k) % 26);
    memcpy(body + n + pad, "\"}", 3);
}

static void mount_ok(struct journal *j, struct hal_flash *f)
{
    memset(err, 0, sizeof err);
    int rc = journal_mount(j, f, ids, 1, err, sizeof err);
    if (rc)
        fail_msg("journal_mount: %d %s", rc, err);
}

static void append_range(struct journal *j, unsigned from, unsigned to, uint64_t *seqs)
{
    static char txn[32], body[48 * KiB];
    for (unsigned i = from; i < to; i++) {
        sale_for(i, txn, sizeof txn, body, sizeof body);
        int rc = journal_append_sale(j, txn, body, strlen(body), 1700000000000ull + i, &seqs[i]);
        if (rc)
            fail_msg("append %u: %d", i, rc);
    }
}

/* Every sale comes back, in order, byte for byte, and then no more. */
static void expect_sales(struct journal *j, unsigned n, const uint64_t *seqs)
{
    static char txn[32], body[48 * KiB];
    struct journal_sale s;
    for (unsigned i = 0; i < n; i++) {
        int rc = journal_next_sale(j, 0, &s);
        if (rc != 1)
            fail_msg("sale %u of %u: journal_next_sale %d", i, n, rc);
        sale_for(i, txn, sizeof txn, body, sizeof body);
        assert_int_equal(s.seq, seqs[i]);
        assert_string_equal(s.txn, txn);
        assert_int_equal(s.body_len, strlen(body));
        assert_memory_equal(s.body, body, s.body_len);
    }
    assert_int_equal(journal_next_sale(j, 0, &s), 0);
}

static void journal_round_trip(void)
{
    static struct journal j;
    uint64_t seqs[SALES_FIRST + SALES_LATER];
    const int64_t bad = fk.bad_block, worn = fk.worn_block;

    struct hal_flash *f = open_ok(0);
    mount_ok(&j, f);
    append_range(&j, 0, SALES_FIRST / 2, seqs);
    fk.write_errno = EIO; /* one program fails half way: the journal retries elsewhere */
    append_range(&j, SALES_FIRST / 2, SALES_FIRST, seqs);
    assert_int_equal(fk.write_errno, 0);
    journal_unmount(&j);
    hal_flash_close(f);

    /* a new process: the device opened again, the journal found as it was left */
    f = open_ok(0);
    mount_ok(&j, f);
    expect_sales(&j, SALES_FIRST, seqs);
    journal_unmount(&j);
    mount_ok(&j, f);
    append_range(&j, SALES_FIRST, SALES_FIRST + SALES_LATER, seqs);
    journal_unmount(&j);
    hal_flash_close(f);

    /* inspection (tillsyncctl verify) opens it read-only */
    f = open_ok(1);
    mount_ok(&j, f);
    expect_sales(&j, SALES_FIRST + SALES_LATER, seqs);
    journal_unmount(&j);
    hal_flash_close(f);

    assert_true(fk.erases >= 3); /* the records spanned several erase blocks */
    assert_int_equal(fk.erase_of_bad, 0);
    if (bad >= 0)
        assert_true(fk.said_bad > 0); /* the journal reached it and was told -EROFS */
    if (worn >= 0)
        assert_true(fk.erase_of_worn > 0);
    if (fk.violations)
        fail_msg("%u programs real flash would not take (bit set, or page programmed twice)",
                 fk.violations);
}

static void test_journal_on_nor(void **state)
{
    (void)state;
    fake_nor();
    journal_round_trip();
}

static void test_journal_on_nand_with_bad_and_worn_blocks(void **state)
{
    (void)state;
    fake_nand();
    fk.bad_block = 1;  /* factory-marked */
    fk.worn_block = 2; /* erase fails */
    journal_round_trip();
}

/* ---- one device, one process ---- */

/*
 * A second process opening the device is refused, naming the holder, whether it would write or
 * only read; once the holder is gone the device opens again.
 */
static void test_one_process_per_device(void **state)
{
    (void)state;
    fake_nor();
    int held[2], release[2];
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(release), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that failed holding it */
        struct hal_flash *f = NULL;
        char why[256];
        char c = flash_mtd_open(fk.path, 0, &f, why, sizeof why) == 0 ? 'y' : 'n';
        if (write(held[1], &c, 1) != 1 || read(release[0], &c, 1) < 0)
            _exit(1);
        _exit(0); /* the lock goes with the process */
    }
    char c = 0;
    assert_int_equal(read(held[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    char want[128];
    snprintf(want, sizeof want, "%s is in use by process %ld", fk.path, (long)child);
    for (int read_only = 0; read_only <= 1; read_only++) {
        struct hal_flash *g = NULL;
        assert_int_equal(flash_mtd_open(fk.path, read_only, &g, err, sizeof err), -EBUSY);
        assert_null(g);
        assert_string_equal(err, want);
    }
    assert_int_equal(write(release[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    hal_flash_close(open_ok(0));
    for (int i = 0; i < 2; i++) {
        close(held[i]);
        close(release[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nor_geometry_and_byte_programs, teardown),
        cmocka_unit_test_teardown(test_nand_geometry_and_alignment, teardown),
        cmocka_unit_test_teardown(test_bad_block_is_not_erased, teardown),
        cmocka_unit_test_teardown(test_erase_failure_is_a_worn_block, teardown),
        cmocka_unit_test_teardown(test_program_errors_mapped, teardown),
        cmocka_unit_test_teardown(test_reads_loop_and_ecc, teardown),
        cmocka_unit_test_teardown(test_read_only, teardown),
        cmocka_unit_test_teardown(test_refused_devices, teardown),
        cmocka_unit_test_teardown(test_journal_on_nor, teardown),
        cmocka_unit_test_teardown(test_journal_on_nand_with_bad_and_worn_blocks, teardown),
        cmocka_unit_test_teardown(test_one_process_per_device, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
