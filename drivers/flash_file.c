/*
 * Flash emulation in a file. It enforces flash semantics on purpose: an erase sets a block to
 * 0xFF and a program may only clear bits, so journal code that would overwrite in place fails
 * here, on the developer's machine, instead of on a NOR part in the field.
 *
 * The image is written in full when created so that later fdatasync() calls only flush data:
 * with every block already allocated, ext4 has no metadata to commit per append.
 *
 * One image, one process: it is locked (flash_lock.h) before a byte of it is read, and so is an
 * image being created, which appears under its name only if no other has meanwhile.
 */
#define _GNU_SOURCE
#include "drivers/flash_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash_lock.h"

struct flash_file {
    struct hal_flash dev;
    int fd;
    int read_only;
    uint8_t *scratch; /* one program unit's worth of old contents, for the bit check */
    size_t scratch_len;
};

static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int ff_read(struct hal_flash *dev, uint64_t off, void *buf, size_t len)
{
    struct flash_file *f = (struct flash_file *)dev;
    if (off > dev->geo.size || len > dev->geo.size - off)
        return -EINVAL;
    return full_pread(f->fd, buf, len, off);
}

static int ff_prog(struct hal_flash *dev, uint64_t off, const void *buf, size_t len)
{
    struct flash_file *f = (struct flash_file *)dev;
    const uint32_t unit = dev->geo.prog_size;
    if (f->read_only)
        return -EPERM; /* not -EROFS: that would read as a worn block */
    if (off > dev->geo.size || len > dev->geo.size - off || off % unit || len % unit)
        return -EINVAL;
    /* Check in scratch-sized pieces so a large program needs no large buffer. */
    const uint8_t *src = buf;
    for (size_t done = 0; done < len;) {
        size_t n = len - done < f->scratch_len ? len - done : f->scratch_len;
        int rc = full_pread(f->fd, f->scratch, n, off + done);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((f->scratch[i] & src[done + i]) != src[done + i])
                return -EINVAL; /* would set a bit: only an erase can */
        done += n;
    }
    return full_pwrite(f->fd, buf, len, off);
}

static int ff_erase(struct hal_flash *dev, uint32_t block)
{
    struct flash_file *f = (struct flash_file *)dev;
    uint64_t off = (uint64_t)block * dev->geo.erase_size;
    if (f->read_only)
        return -EPERM; /* not -EROFS: that would read as a worn block */
    if (off >= dev->geo.size)
        return -EINVAL;
    memset(f->scratch, 0xFF, f->scratch_len);
    for (uint32_t done = 0; done < dev->geo.erase_size;) {
        size_t n = dev->geo.erase_size - done;
        if (n > f->scratch_len)
            n = f->scratch_len;
        int rc = full_pwrite(f->fd, f->scratch, n, off + done);
        if (rc)
            return rc;
        done += (uint32_t)n;
    }
    return 0;
}

static int ff_sync(struct hal_flash *dev)
{
    struct flash_file *f = (struct flash_file *)dev;
    return fdatasync(f->fd) ? -errno : 0;
}

static void ff_close(struct hal_flash *dev)
{
    struct flash_file *f = (struct flash_file *)dev;
    close(f->fd);
    free(f->scratch);
    free(f);
}

static const struct hal_flash_api flash_file_api = {
    .read = ff_read, .prog = ff_prog, .erase = ff_erase, .sync = ff_sync, .close = ff_close};

static int fill_erased(int fd, uint64_t size)
{
    /* Page-sized writes: ext4 on recent kernels caches a file in folios as large as the writes
     * that made it, and a later 300-byte append then dirties (and is accounted as) the whole
     * folio. Made page by page, an append costs the one page it touches. */
    static uint8_t ones[4096];
    memset(ones, 0xFF, sizeof ones);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof ones ? (size_t)(size - off) : sizeof ones;
        int rc = full_pwrite(fd, ones, n, off);
        if (rc)
            return rc;
        off += n;
    }
    return fsync(fd) ? -errno : 0;
}

/* Puts a finished image in place, never over an image that appeared meanwhile (-EEXIST). */
static int publish(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* A filesystem without RENAME_NOREPLACE: link() refuses an existing name just the same. */
    if (link(tmp, path) != 0)
        return -errno;
    unlink(tmp);
    return 0;
}

/* A rename is durable only once its directory is synced: until then a power cut can bring back
 * the temporary name, and the next start would empty it with every sale acknowledged since. */
static int sync_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = fsync(dfd) ? -errno : 0;
    close(dfd);
    return rc;
}

/*
 * Builds the image under a temporary name so a cut during creation leaves no half image. The
 * temporary file is locked as the journal itself: a second daemon starting at the same moment
 * waits for nothing and is told who holds it. Returns -EEXIST if the image appeared meanwhile.
 */
static int create_image(const char *path, const struct hal_flash_geometry *geo, int *out, char *err,
                        size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -ENAMETOOLONG;
    }
    /* No O_TRUNC: the file may be another daemon's image in the making, until the lock says. */
    int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(e));
        return -e;
    }
    int rc = flash_lock(fd, path, 1, err, errlen);
    if (rc) {
        close(fd);
        return rc;
    }
    rc = ftruncate(fd, 0) ? -errno : fill_erased(fd, geo->size);
    if (rc == 0)
        rc = publish(tmp, path);
    if (rc == 0 && (rc = sync_parent_dir(path)) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %s: %s", path, strerror(-rc));
        close(fd); /* the image is in place; the next start opens it */
        return rc;
    }
    if (rc) {
        if (rc != -EEXIST)
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
        close(fd);
        unlink(tmp);
        return rc;
    }
    *out = fd;
    return 0;
}

int flash_file_open(const char *path, const struct hal_flash_geometry *geo, int read_only,
                    struct hal_flash **out, char *err, size_t errlen)
{
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 3; attempt++) {
        fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd >= 0) {
            int rc = flash_lock(fd, path, !read_only, err, errlen);
            if (rc) {
                close(fd);
                return rc;
            }
        } else if (errno == ENOENT && !read_only) {
            int rc = create_image(path, geo, &fd, err, errlen);
            if (rc && rc != -EEXIST)
                return rc;
        } else {
            break;
        }
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != geo->size) {
        snprintf(err, errlen,
                 "%s is %lld bytes but the configured size is %llu; refusing to resize "
                 "a journal image",
                 path, (long long)st.st_size, (unsigned long long)geo->size);
        close(fd);
        return -EINVAL;
    }
    struct flash_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return -ENOMEM;
    }
    f->dev.api = &flash_file_api;
    f->dev.geo = *geo;
    f->fd = fd;
    f->read_only = read_only;
    f->scratch_len = geo->prog_size > 4096 ? geo->prog_size : 4096;
    f->scratch = malloc(f->scratch_len);
    if (!f->scratch) {
        ff_close(&f->dev);
        return -ENOMEM;
    }
    *out = &f->dev;
    return 0;
}
