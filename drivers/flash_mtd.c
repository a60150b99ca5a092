/*
 * Raw flash through the Linux MTD character device (/dev/mtdN), for terminals whose journal lives
 * on a NOR or NAND partition rather than in a file. The HAL contract is the chip's own, so this
 * driver mostly passes calls through; what it adds is the geometry (from the device, never from
 * the configuration), alignment checks, and a mapping of the kernel's errors onto the HAL's
 * meanings: -EROFS is a worn block the journal passes over, -EIO a device failure, -EPERM a
 * refusal that has nothing to do with wear.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64 /* pread/pwrite past 2 GiB on 32-bit ARM */
#include "drivers/flash_mtd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <mtd/mtd-user.h>

#include "flash_lock.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif
#ifndef MTD_SLC_ON_MLC_EMULATION
#define MTD_SLC_ON_MLC_EMULATION 0x4000 /* uapi since Linux 5.10 */
#endif

struct flash_mtd {
    struct hal_flash dev;
    int fd;
    int read_only;
};

static int in_range(const struct hal_flash *dev, uint64_t off, size_t len)
{
    return off <= dev->geo.size && len <= dev->geo.size - off;
}

/*
 * The kernel's errors from a program or an erase, in the HAL's terms.
 *
 * EIO: the chip reported the operation failed (NAND status FAIL after a page program or a block
 * erase; NOR status error or verify timeout). On flash that is how a worn block shows itself, and
 * the bad-block rule of every NAND datasheet is exactly "an erase or program failed". So it
 * becomes -EROFS: the journal seals the block and moves on (a record is retried once, whole, in
 * a fresh block; a block that will not erase keeps its place and is tried again next lap). A
 * failing bus or controller also surfaces as EIO; then the retry fails too and the append still
 * reports an error, so the sale is refused, never acknowledged and lost.
 *
 * EROFS, EACCES, EPERM: the kernel refused to touch the device at all (a read-only partition, a
 * locked NOR sector, a descriptor opened read-only). That is protection, not wear: passed on as
 * -EROFS the journal would retire block after block of healthy flash. It becomes -EPERM.
 *
 * Anything else (EINVAL, ENOMEM, ...) is passed through as it is.
 */
static int map_write_error(int e)
{
    switch (e) {
    case EIO:
        return -EROFS;
    case EROFS:
    case EACCES:
    case EPERM:
        return -EPERM;
    default:
        return -e;
    }
}

static int fm_read(struct hal_flash *dev, uint64_t off, void *buf, size_t len)
{
    struct flash_mtd *m = (struct flash_mtd *)dev;
    if (!in_range(dev, off, len))
        return -EINVAL;
    /*
     * ECC on NAND: the MTD character device hands back the data even when the kernel's
     * mtd_read() reported -EUCLEAN (bit flips corrected) or -EBADMSG (uncorrectable), so read(2)
     * succeeds either way and the journal's CRCs judge the bytes. That is what the journal needs:
     * a NAND page cut in the middle of its program by a power failure reads as uncorrectable, and
     * must be seen as a torn record at the end of the log, not as a dead device that refuses to
     * mount. Should a kernel ever fail the read itself with those codes, no data came back:
     * EUCLEAN (corrected) is read again, EBADMSG is -EIO.
     */
    uint8_t *p = buf;
    int corrected_retries = 3;
    while (len > 0) {
        ssize_t n = pread(m->fd, p, len, (off_t)off);
        if (n < 0 && (errno == EINTR || (errno == EUCLEAN && corrected_retries-- > 0)))
            continue;
        if (n < 0)
            return errno == EBADMSG || errno == EUCLEAN ? -EIO : -errno;
        if (n == 0)
            return -EIO; /* the device ended inside its own reported size */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int fm_prog(struct hal_flash *dev, uint64_t off, const void *buf, size_t len)
{
    struct flash_mtd *m = (struct flash_mtd *)dev;
    const uint32_t unit = dev->geo.prog_size;
    if (m->read_only)
        return -EPERM;
    if (!in_range(dev, off, len) || off % unit || len % unit)
        return -EINVAL;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(m->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return map_write_error(errno);
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int fm_erase(struct hal_flash *dev, uint32_t block)
{
    struct flash_mtd *m = (struct flash_mtd *)dev;
    uint64_t off = (uint64_t)block * dev->geo.erase_size;
    if (m->read_only)
        return -EPERM;
    if (off >= dev->geo.size)
        return -EINVAL;
    /*
     * A block the device marks bad (NAND factory or runtime marker, or the bad block table) is
     * never erased: the kernel would refuse anyway, and the marker must survive. It is worn as
     * far as the journal is concerned. Devices without bad blocks (NOR) answer 0. This driver
     * never marks a block bad itself (MEMSETBADBLOCK): that is permanent, and a block whose
     * erase failed once is tried again on the journal's next lap.
     */
    loff_t ofs = (loff_t)off;
    int bad = ioctl(m->fd, MEMGETBADBLOCK, &ofs);
    if (bad > 0)
        return -EROFS;
    if (bad < 0 && errno != ENOTTY && errno != EOPNOTSUPP)
        return -EIO; /* cannot tell whether it is bad: do not erase over a marker */
    struct erase_info_user ei = {.start = (uint32_t)off, .length = dev->geo.erase_size};
    while (ioctl(m->fd, MEMERASE, &ei) != 0) {
        if (errno != EINTR)
            return map_write_error(errno);
    }
    return 0;
}

/*
 * Nothing to do. The MTD character device has no cache: write(2) and MEMERASE return only once
 * the chip has reported the program or erase complete, so a completed call is already on flash.
 * (fsync(2) on it is not even implemented: it fails with EINVAL.)
 */
static int fm_sync(struct hal_flash *dev)
{
    (void)dev;
    return 0;
}

static void fm_close(struct hal_flash *dev)
{
    struct flash_mtd *m = (struct flash_mtd *)dev;
    close(m->fd);
    free(m);
}

static const struct hal_flash_api flash_mtd_api = {
    .read = fm_read, .prog = fm_prog, .erase = fm_erase, .sync = fm_sync, .close = fm_close};

/* NULL if the journal can keep sales on this kind of device, else why not. */
static const char *unusable_type(const struct mtd_info_user *info)
{
    switch (info->type) {
    case MTD_NORFLASH:
    case MTD_NANDFLASH:
        break;
    case MTD_MLCNANDFLASH:
        if (!(info->flags & MTD_SLC_ON_MLC_EMULATION))
            return "MLC NAND: programming a page can corrupt its already written paired page "
                   "when power fails, which would lose acknowledged sales (use a partition in "
                   "SLC mode)";
        break;
    case MTD_ABSENT:
        return "no device present";
    case MTD_RAM:
        return "RAM (does not keep sales across a power cut)";
    case MTD_ROM:
        return "ROM";
    case MTD_DATAFLASH:
        return "DataFlash (an erase block is one page)";
    case MTD_UBIVOLUME:
        return "a UBI volume (give the journal the raw partition)";
    default:
        return "of an unknown MTD type";
    }
    if (info->flags & MTD_NO_ERASE)
        return "a device that needs no erase (not flash)";
    return NULL;
}

int flash_mtd_open(const char *path, int read_only, struct hal_flash **out, char *err,
                   size_t errlen)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    int rc = flash_lock(fd, path, !read_only, err, errlen); /* the device node's inode */
    if (rc) {
        close(fd);
        return rc;
    }
    struct mtd_info_user info;
    memset(&info, 0, sizeof info);
    if (ioctl(fd, MEMGETINFO, &info) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s is not an MTD device (MEMGETINFO: %s)", path, strerror(e));
        close(fd);
        return -ENODEV;
    }
    const char *why = unusable_type(&info);
    if (why) {
        snprintf(err, errlen, "%s is %s; the journal needs NOR or SLC NAND flash", path, why);
        rc = -EMEDIUMTYPE;
    } else if (!read_only && !(info.flags & MTD_WRITEABLE)) {
        snprintf(err, errlen, "%s is a read-only MTD device", path);
        rc = -EACCES;
    } else if (info.writesize == 0 && info.type == MTD_NORFLASH) {
        info.writesize = 1; /* very old kernels left it 0 on NOR: any byte is writable */
    }
    if (rc == 0 &&
        (info.erasesize == 0 || info.writesize == 0 || info.erasesize % info.writesize != 0)) {
        snprintf(err, errlen,
                 "%s reports an unusable geometry: erase block %u bytes, write unit %u bytes", path,
                 info.erasesize, info.writesize);
        rc = -EINVAL;
    } else if (rc == 0 && (info.size == 0 || info.size % info.erasesize != 0)) {
        snprintf(err, errlen, "%s is %u bytes, not a whole number of %u-byte erase blocks", path,
                 info.size, info.erasesize);
        rc = -EINVAL;
    }
    if (rc) {
        close(fd);
        return rc;
    }
    struct flash_mtd *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return -ENOMEM;
    }
    m->dev.api = &flash_mtd_api;
    m->dev.geo = (struct hal_flash_geometry){info.size, info.erasesize, info.writesize};
    m->fd = fd;
    m->read_only = read_only;
    *out = &m->dev;
    return 0;
}
