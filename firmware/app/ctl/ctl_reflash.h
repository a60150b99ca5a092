/*
 * What export and import share (ctl_reflash.c): the journal opened offline, the device key's
 * path, the technician's passphrase file, whole files read and written safely.
 */
#ifndef TILLSYNC_CTL_REFLASH_H
#define TILLSYNC_CTL_REFLASH_H

#include <stddef.h>
#include <stdint.h>

#include <limits.h>

#include "config.h"
#include "ctl.h"
#include "export_seal.h"
#include "journal.h"

#define REFLASH_MAX_FILE (512u << 20) /* larger than any journal a till has */

/* Opens and mounts the journal offline (read_only: a shared lock, else the exclusive one).
 * Returns 0, or the exit status after printing why (2: the daemon runs, or no journal). */
int reflash_mount(const struct config *cfg, int read_only, struct hal_flash **flash,
                  struct journal *j);
void reflash_unmount(struct hal_flash *flash, struct journal *j);
/* Mounts the journal on a device already open. Returns 0, or the exit status after saying why. */
int reflash_mount_on(const struct config *cfg, struct hal_flash *flash, struct journal *j);

/* What export and import are told: FILE, [--passphrase-file F], [--key FILE], and import's
 * --force-terminal and --resend; with the configuration loaded, the key's path resolved and the
 * passphrase read. */
struct reflash_args {
    const char *file, *pass_file, *key_opt;
    int force_terminal, resend;
    char key_path[PATH_MAX];
    char passphrase[1024]; /* "" without --passphrase-file; wipe it after use */
};
/* Parses argv (argv[0] the command), loads cfg. import: the two import-only flags are accepted.
 * usage is printed on a usage error. Returns 0, or the exit status after printing why. */
int reflash_args(struct ctl *ctl, int argc, char **argv, int import, const char *usage,
                 struct config *cfg, struct reflash_args *a);

/* The device key file: --key FILE, else the configuration's device_key_file (as the daemon).
 * Returns 0, or -1 after printing why. */
int reflash_key_path(const struct config *cfg, const char *opt, char *out, size_t cap);

/* The first line of a passphrase file that is mode 600 (or tighter) and holds at least
 * EXPORT_PASSPHRASE_MIN characters. Returns 0, or -1 after printing why. */
int reflash_passphrase(const char *path, char *out, size_t cap);

/* The whole file, malloc'd, at most REFLASH_MAX_FILE bytes. Returns 0 or -1 with err. */
int reflash_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen);
/* Writes path atomically, mode 600: a temporary file beside it, fsync, rename, fsync of the
 * directory; refuses to replace an existing file. Returns 0 or -1 with err. */
int reflash_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
