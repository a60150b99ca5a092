/*
 * What tillsyncctl export and import share (ctl_reflash.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/board.h"
#include "ctl.h"
#include "ctl_reflash.h"

int reflash_mount(const struct config *cfg, int read_only, struct hal_flash **flash,
                  struct journal *j)
{
    char err[512];
    struct board_flash_params fp = {cfg->journal_driver,    cfg->journal_path,
                                    cfg->journal_size,      cfg->journal_erase_size,
                                    cfg->journal_prog_size, read_only};
    int rc = board_flash_open(&fp, flash, err, sizeof err);
    if (rc == -EBUSY) {
        fprintf(stderr,
                "tillsyncctl: tillsyncd is running: stop it first (systemctl stop tillsync)\n");
        return CTL_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "tillsyncctl: journal: %s\n", err);
        return CTL_EXIT_USAGE;
    }
    rc = reflash_mount_on(cfg, *flash, j);
    if (rc)
        hal_flash_close(*flash);
    return rc;
}

int reflash_mount_on(const struct config *cfg, struct hal_flash *flash, struct journal *j)
{
    char err[512];
    uint32_t ids[CONFIG_MAX_BACKENDS];
    for (unsigned i = 0; i < cfg->nbackends; i++)
        ids[i] = journal_backend_id(cfg->backends[i].name);
    if (journal_mount(j, flash, ids, cfg->nbackends, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncctl: journal %s: %s\n", cfg->journal_path, err);
        return CTL_EXIT_FAIL;
    }
    return 0;
}

void reflash_unmount(struct hal_flash *flash, struct journal *j)
{
    journal_unmount(j);
    hal_flash_close(flash);
}

int reflash_args(struct ctl *ctl, int argc, char **argv, int import, const char *usage,
                 struct config *cfg, struct reflash_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc)
            a->pass_file = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            a->key_opt = argv[++i];
        else if (import && strcmp(argv[i], "--force-terminal") == 0)
            a->force_terminal = 1;
        else if (import && strcmp(argv[i], "--resend") == 0)
            a->resend = 1;
        else if (argv[i][0] != '-' && !a->file)
            a->file = argv[i];
        else
            a->file = NULL, i = argc; /* a usage error */
    }
    if (!a->file) {
        fprintf(stderr, "usage: tillsyncctl --config PATH %s\n", usage);
        return CTL_EXIT_USAGE;
    }
    if (ctl_load_config(ctl, cfg) != 0 ||
        reflash_key_path(cfg, a->key_opt, a->key_path, sizeof a->key_path) != 0 ||
        (a->pass_file && reflash_passphrase(a->pass_file, a->passphrase, sizeof a->passphrase)))
        return CTL_EXIT_USAGE;
    return 0;
}

int reflash_key_path(const struct config *cfg, const char *opt, char *out, size_t cap)
{
    if (opt) {
        if (strlen(opt) >= cap) {
            fprintf(stderr, "tillsyncctl: --key: path too long\n");
            return -1;
        }
        strcpy(out, opt);
        return 0;
    }
    /* The daemon's: device_key_file, resolved with its defaults by the configuration loader. */
    if (strlen(cfg->device_key_file) >= cap) {
        fprintf(stderr, "tillsyncctl: device_key_file: path too long\n");
        return -1;
    }
    strcpy(out, cfg->device_key_file);
    return 0;
}

int reflash_passphrase(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "tillsyncctl: --passphrase-file %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        fprintf(stderr,
                "tillsyncctl: --passphrase-file %s: readable or writable by group or others "
                "(mode %03o): chmod 600 %s\n",
                path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n < 0)
        n = 0;
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    if (strlen(out) < EXPORT_PASSPHRASE_MIN) {
        fprintf(stderr,
                "tillsyncctl: --passphrase-file %s: the passphrase (its first line) has fewer "
                "than %d characters\n",
                path, EXPORT_PASSPHRASE_MIN);
        return -1;
    }
    return 0;
}

int reflash_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > REFLASH_MAX_FILE) {
        snprintf(err, errlen, "not a regular file of at most %u bytes", REFLASH_MAX_FILE);
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *p = malloc(n ? n : 1);
    while (p && got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!p || got != n) {
        snprintf(err, errlen, "%s", p ? "read failed" : "out of memory");
        free(p);
        return -1;
    }
    *data = p;
    *len = n;
    return 0;
}

int reflash_write(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "already exists: choose another name, or remove it first");
        return -1;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    int fd = mkstemp(tmp); /* mode 600 */
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file beside it: %s", strerror(errno));
        return -1;
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    /* rename(), not link(): a USB stick's FAT has no hard links. */
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "write failed: %s", strerror(saved));
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, errlen, "written, but its directory could not be synced: %s",
                 strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}
