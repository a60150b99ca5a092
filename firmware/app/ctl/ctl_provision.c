/*
 * tillsyncctl provision SETUP.json [--owner USER[:GROUP]] [--no-probe]: sets a terminal up from
 * one file a technician can carry. SETUP.json is the configuration as the contract describes it,
 * except that a backend's secrets may be given inline ("api_key": "...", "secret_key": "...")
 * where the configuration names a file ("api_key_file"). Provision writes each inline secret to
 * its own file next to the configuration (mode 600), the configuration with those paths (mode
 * 640), checks the result with the daemon's own loader before anything replaces what is there,
 * creates the device key, then proves each backend (test-connection's checks).
 *
 * Idempotent: a file whose content, mode and owner are already right is left alone and reported
 * "unchanged". Never prints a secret: values are only ever compared and written.
 */
#define _GNU_SOURCE /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "device_key.h"
#include "diagnose.h"

#define SETUP_MAX   (1 << 20)
#define SECRETS_MAX (CONFIG_MAX_BACKENDS * 4)
#define TMP_SUFFIX  ".provision-tmp"

struct owner {
    int set;
    uid_t uid;
    gid_t gid;
    char text[80];
};

struct secret {
    char key[64]; /* where SETUP had it, e.g. backends[0].api_key */
    char path[PATH_MAX];
    char tmp[PATH_MAX + sizeof TMP_SUFFIX];
    const char *value; /* in the SETUP document */
};

/* A file written or kept, for the report. */
struct outcome {
    char path[PATH_MAX];
    const char *role;
    const char *action; /* "created", "updated", "unchanged" */
    mode_t mode;
};

struct run {
    const struct ctl *c;
    struct owner owner;
    char dir[PATH_MAX];
    struct secret secrets[SECRETS_MAX];
    unsigned nsecrets;
    struct outcome done[SECRETS_MAX + 2];
    unsigned ndone;
};

static int parse_owner(const char *spec, struct owner *o)
{
    char user[64], *group;
    snprintf(user, sizeof user, "%s", spec);
    group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    const struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "tillsyncctl: provision: --owner: no user named %s on this system\n", user);
        return -1;
    }
    o->uid = pw->pw_uid;
    o->gid = pw->pw_gid;
    if (group && *group) {
        const struct group *gr = getgrnam(group);
        if (!gr) {
            fprintf(stderr, "tillsyncctl: provision: --owner: no group named %s on this system\n",
                    group);
            return -1;
        }
        o->gid = gr->gr_gid;
    }
    o->set = 1;
    snprintf(o->text, sizeof o->text, "%s", spec);
    return 0;
}

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = malloc(max + 1);
    size_t n = text ? fread(text, 1, max, f) : 0;
    int too_long = text && n == max && fgetc(f) != EOF;
    fclose(f);
    if (!text || too_long) {
        free(text);
        errno = text ? EFBIG : ENOMEM;
        return NULL;
    }
    text[n] = '\0';
    return text;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* "<dir>/<backend>.key" for api_key, "<dir>/<backend>.secret.key" for secret_key, and
 * "<dir>/<backend>.<key>" for any other. */
static int secret_path(const struct run *r, const char *backend, const char *inline_key, char *out,
                       size_t cap)
{
    size_t n = strlen(inline_key);
    int len;
    if (strcmp(inline_key, "api_key") == 0)
        len = snprintf(out, cap, "%s/%s.key", r->dir, backend);
    else if (n > 4 && strcmp(inline_key + n - 4, "_key") == 0)
        len = snprintf(out, cap, "%s/%s.%.*s.key", r->dir, backend, (int)(n - 4), inline_key);
    else
        len = snprintf(out, cap, "%s/%s.%s", r->dir, backend, inline_key);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

/* Whether the backend's kind has key + "_file" among its own keys: then key is its secret given
 * inline. The kinds' keys come from the registry; nothing here names a kind. */
static int is_inline_secret(const struct backend_ops *ops, const char *key)
{
    char file_key[96];
    snprintf(file_key, sizeof file_key, "%s_file", key);
    for (const char *const *k = ops ? ops->keys : NULL; k && *k; k++)
        if (strcmp(*k, file_key) == 0)
            return 1;
    return 0;
}

/*
 * The configuration to write: SETUP with each inline secret replaced, in place, by its *_file
 * key naming the file (temp: the temporary file, for the check before anything is replaced).
 * The first pass (collect) also records the secrets and refuses what cannot be written.
 */
static cJSON *build_config(struct run *r, const cJSON *setup, int collect, int temp)
{
    cJSON *out = cJSON_Duplicate(setup, 1);
    cJSON *bs = cJSON_GetObjectItemCaseSensitive(out, "backends");
    unsigned s = 0, i = 0;
    for (cJSON *b = cJSON_IsArray(bs) ? bs->child : NULL; b; b = b->next, i++) {
        if (!cJSON_IsObject(b))
            continue;
        const struct backend_ops *ops =
            backend_ops_for(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "kind"))
                                ? cJSON_GetObjectItemCaseSensitive(b, "kind")->valuestring
                                : "");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        cJSON *fresh = cJSON_CreateObject();
        for (cJSON *it = b->child; it; it = it->next) {
            if (!is_inline_secret(ops, it->string)) {
                cJSON_AddItemToObject(fresh, it->string, cJSON_Duplicate(it, 1));
                continue;
            }
            char file_key[96];
            snprintf(file_key, sizeof file_key, "%s_file", it->string);
            if (collect) {
                struct secret *sec = &r->secrets[r->nsecrets];
                snprintf(sec->key, sizeof sec->key, "backends[%u].%s", i, it->string);
                /* The value as SETUP holds it: out's copy goes when its object is replaced. */
                const cJSON *orig = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(setup, "backends"), (int)i),
                    it->string);
                const char *v = cJSON_IsString(orig) ? orig->valuestring : NULL;
                int printable = v && *v;
                for (const char *p = v; printable && *p; p++)
                    printable = (unsigned char)*p >= 0x20 && *p != 0x7f;
                if (cJSON_GetObjectItemCaseSensitive(b, file_key)) {
                    fprintf(stderr, "tillsyncctl: provision: %s: given with %s; give one of them\n",
                            sec->key, file_key);
                } else if (!printable) {
                    fprintf(stderr,
                            "tillsyncctl: provision: %s: must be a non-empty string on one line, "
                            "of printable characters\n",
                            sec->key);
                } else if (!cJSON_IsString(name) || !valid_name(name->valuestring)) {
                    fprintf(stderr,
                            "tillsyncctl: provision: backends[%u].name: 1-32 of A-Z a-z 0-9 _ - "
                            "(it names the key file)\n",
                            i);
                } else if (r->nsecrets + 1 == SECRETS_MAX) {
                    fprintf(stderr, "tillsyncctl: provision: %s: too many secrets\n", sec->key);
                } else if (secret_path(r, name->valuestring, it->string, sec->path,
                                       sizeof sec->path) != 0) {
                    fprintf(stderr, "tillsyncctl: provision: %s: the file's path is too long\n",
                            sec->key);
                } else {
                    strcpy(sec->tmp, sec->path);
                    strcat(sec->tmp, TMP_SUFFIX);
                    sec->value = v;
                    r->nsecrets++;
                }
                if (sec->value == NULL) {
                    cJSON_Delete(fresh);
                    cJSON_Delete(out);
                    return NULL;
                }
            }
            const struct secret *sec = &r->secrets[s++];
            cJSON_AddStringToObject(fresh, file_key, temp ? sec->tmp : sec->path);
        }
        cJSON_ReplaceItemViaPointer(bs, b, fresh);
        b = fresh;
    }
    return out;
}

/* Writes text to path through a temporary file in its directory, renamed over it: a power cut
 * leaves the old file or the new one. Owner and mode are set before the rename. */
static int write_file(const struct run *r, const char *path, const char *tmp, const char *text,
                      mode_t mode)
{
    unlink(tmp); /* a leftover of an interrupted run */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        goto fail;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail_fd;
        off += (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || (r->owner.set && fchown(fd, r->owner.uid, r->owner.gid) != 0) ||
        fsync(fd) != 0)
        goto fail_fd;
    if (close(fd) != 0) {
        fd = -1;
        goto fail_fd;
    }
    if (path && rename(tmp, path) != 0)
        goto fail;
    return 0;
fail_fd:
    if (fd >= 0)
        close(fd);
fail:;
    int e = errno;
    fprintf(stderr, "tillsyncctl: provision: cannot write %s: %s%s\n", path ? path : tmp,
            strerror(e),
            e == EPERM && r->owner.set ? " (--owner needs root)"
            : e == EACCES              ? " (run as root, or as the owner of the directory)"
                                       : "");
    unlink(tmp);
    errno = e;
    return -1;
}

/* Whether path already holds exactly text, with that mode and owner. */
static int same_file(const struct run *r, const char *path, const char *text, mode_t mode)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
               (!r->owner.set || (st.st_uid == r->owner.uid && st.st_gid == r->owner.gid)) &&
               (size_t)st.st_size == strlen(text);
    if (same) {
        char *have = malloc((size_t)st.st_size + 1);
        ssize_t n = have ? read(fd, have, (size_t)st.st_size) : -1;
        same = n == st.st_size && memcmp(have, text, (size_t)n) == 0;
        if (have) /* a secret: wiped before it is freed */
            memset(have, 0, (size_t)st.st_size);
        free(have);
    }
    close(fd);
    return same;
}

static void record(struct run *r, const char *path, const char *role, const char *action,
                   mode_t mode)
{
    struct outcome *o = &r->done[r->ndone++];
    snprintf(o->path, sizeof o->path, "%s", path);
    o->role = role;
    o->action = action;
    o->mode = mode;
}

/* Puts text at path unless it is there already; records what happened. */
static int put_file(struct run *r, const char *path, const char *tmp, const char *text, mode_t mode,
                    const char *role)
{
    if (same_file(r, path, text, mode)) {
        unlink(tmp);
        record(r, path, role, "unchanged", mode);
        return 0;
    }
    int existed = access(path, F_OK) == 0;
    struct stat st;
    /* The secret was written to tmp for the check already; only the config is written here. */
    if (stat(tmp, &st) == 0 && strcmp(role, "secret") == 0) {
        if (rename(tmp, path) != 0) {
            fprintf(stderr, "tillsyncctl: provision: cannot write %s: %s\n", path, strerror(errno));
            return -1;
        }
    } else if (write_file(r, path, tmp, text, mode) != 0) {
        return -1;
    }
    record(r, path, role, existed ? "updated" : "created", mode);
    return 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void remove_temps(const struct run *r, const char *config_tmp)
{
    for (unsigned i = 0; i < r->nsecrets; i++)
        unlink(r->secrets[i].tmp);
    unlink(config_tmp);
}

static int make_device_key(struct run *r, const char *path)
{
    struct device_key k;
    char err[512], copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (access(dir, F_OK) != 0 && mkdir(dir, 0750) == 0 && r->owner.set &&
        chown(dir, r->owner.uid, r->owner.gid) != 0) {
        fprintf(stderr, "tillsyncctl: provision: cannot give %s to %s: %s\n", dir, r->owner.text,
                strerror(errno));
        return -1;
    }
    int rc = device_key_load(path, 1, &k, err, sizeof err);
    device_key_clear(&k);
    if (rc < 0) {
        fprintf(stderr, "tillsyncctl: provision: device key: %s\n", err);
        return -1;
    }
    struct stat st;
    int chowned = 0;
    if (r->owner.set && stat(path, &st) == 0 &&
        (st.st_uid != r->owner.uid || st.st_gid != r->owner.gid)) {
        if (chown(path, r->owner.uid, r->owner.gid) != 0) {
            fprintf(stderr, "tillsyncctl: provision: cannot give %s to %s: %s\n", path,
                    r->owner.text, strerror(errno));
            return -1;
        }
        chowned = 1;
    }
    record(r, path, "device key", rc == 1 ? "created" : chowned ? "updated" : "unchanged", 0600);
    return 0;
}

static void report(struct run *r, cJSON *doc)
{
    cJSON *files = doc ? cJSON_AddArrayToObject(doc, "files") : NULL;
    for (unsigned i = 0; i < r->ndone; i++) {
        const struct outcome *o = &r->done[i];
        if (files) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "path", o->path);
            cJSON_AddStringToObject(f, "role", o->role);
            cJSON_AddStringToObject(f, "action", o->action);
            char mode[8];
            snprintf(mode, sizeof mode, "%04o", (unsigned)o->mode);
            cJSON_AddStringToObject(f, "mode", mode);
            cJSON_AddItemToArray(files, f);
        } else {
            ctl_line(r->c, o->action, "%s (%s, mode %o%s%s)", o->path, o->role, (unsigned)o->mode,
                     r->owner.set ? ", owner " : "", r->owner.set ? r->owner.text : "");
        }
    }
}

static int run_provision(struct ctl *c, int argc, char **argv)
{
    static struct run r;
    static struct config cfg;
    const char *setup_path = NULL;
    int probe = 1;
    memset(&r, 0, sizeof r);
    r.c = c;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc) {
            if (parse_owner(argv[++i], &r.owner) != 0)
                return CTL_EXIT_USAGE;
        } else if (strcmp(argv[i], "--no-probe") == 0) {
            probe = 0;
        } else if (argv[i][0] != '-' && !setup_path) {
            setup_path = argv[i];
        } else {
            setup_path = NULL;
            break;
        }
    }
    if (!setup_path) {
        fprintf(stderr, "usage: tillsyncctl --config PATH provision SETUP.json [--owner "
                        "USER[:GROUP]] [--no-probe] [--json]\n");
        return CTL_EXIT_USAGE;
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", c->config_path);
    /* Absolute: the daemon reads the key files from wherever it was started. */
    if (!realpath(dirname(copy), r.dir) || access(r.dir, W_OK) != 0) {
        fprintf(stderr, "tillsyncctl: provision: cannot write in %s: %s\n", r.dir, strerror(errno));
        return CTL_EXIT_FAIL;
    }

    char *text = read_text(setup_path, SETUP_MAX);
    if (!text) {
        fprintf(stderr, "tillsyncctl: provision: cannot read %s: %s\n", setup_path,
                strerror(errno));
        return CTL_EXIT_USAGE;
    }
    const char *end = NULL;
    cJSON *setup = cJSON_ParseWithOpts(text, &end, 1);
    if (!cJSON_IsObject(setup)) {
        fprintf(stderr, "tillsyncctl: provision: %s: not a JSON object (error near byte %ld)\n",
                setup_path, setup ? 0L : (long)(cJSON_GetErrorPtr() - text));
        cJSON_Delete(setup);
        memset(text, 0, strlen(text));
        free(text);
        return CTL_EXIT_USAGE;
    }
    memset(text, 0, strlen(text)); /* it held the secrets */
    free(text);

    int rc = CTL_EXIT_USAGE;
    char config_tmp[PATH_MAX + sizeof TMP_SUFFIX], err[512];
    snprintf(config_tmp, sizeof config_tmp, "%s" TMP_SUFFIX, c->config_path);
    cJSON *final = NULL, *check = build_config(&r, setup, 1, 1);
    char *final_text = NULL, *check_text = check ? cJSON_Print(check) : NULL;
    if (!check)
        goto out;
    /* The check: the secrets and the configuration as they will be, in temporary files, read by
     * the daemon's own loader. Nothing in place is touched until it passes. */
    for (unsigned i = 0; i < r.nsecrets; i++) {
        char line[4096];
        snprintf(line, sizeof line, "%s\n", r.secrets[i].value);
        int w = write_file(&r, NULL, r.secrets[i].tmp, line, 0600);
        memset(line, 0, sizeof line);
        if (w != 0) {
            rc = CTL_EXIT_FAIL;
            goto out;
        }
    }
    if (!check_text || write_file(&r, NULL, config_tmp, check_text, 0600) != 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if (config_load(config_tmp, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncctl: provision: %s refused, nothing changed: %s\n", setup_path,
                err);
        goto out;
    }
    final = build_config(&r, setup, 0, 0);
    final_text = final ? cJSON_Print(final) : NULL;
    size_t n = final_text ? strlen(final_text) : 0;
    char *with_newline = final_text ? realloc(final_text, n + 2) : NULL;
    if (!with_newline) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    final_text = with_newline;
    strcpy(final_text + n, "\n");

    rc = CTL_EXIT_FAIL;
    for (unsigned i = 0; i < r.nsecrets; i++) {
        char line[4096];
        snprintf(line, sizeof line, "%s\n", r.secrets[i].value);
        int p = put_file(&r, r.secrets[i].path, r.secrets[i].tmp, line, 0600, "secret");
        memset(line, 0, sizeof line);
        if (p != 0)
            goto out;
    }
    unlink(config_tmp);
    if (put_file(&r, c->config_path, config_tmp, final_text, 0640, "configuration") != 0)
        goto out;
    sync_dir(r.dir);
    /* Read back as the daemon will read it. */
    if (config_load(c->config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillsyncctl: provision: %s: %s\n", c->config_path, err);
        goto out;
    }
    char key_path[PATH_MAX];
    /* Where the daemon will look for it: the loader resolved device_key_file and its defaults. */
    snprintf(key_path, sizeof key_path, "%s", cfg.device_key_file);
    if (make_device_key(&r, key_path) != 0)
        goto out;

    cJSON *doc = c->json ? cJSON_CreateObject() : NULL;
    report(&r, doc);
    int fail = 0;
    if (probe) {
        if (!doc)
            putchar('\n');
        fail = ctl_diagnose_backends(c, &cfg, NULL, doc);
    }
    if (doc) {
        cJSON_AddStringToObject(doc, "verdict", fail ? "fail" : "ok");
        char *out = cJSON_Print(doc);
        if (out)
            puts(out);
        cJSON_free(out);
        cJSON_Delete(doc);
    } else if (fail) {
        printf("\nThe files are in place, but a backend failed its checks: fix what is shown "
               "above, then run test-connection.\n");
    }
    rc = fail ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
    remove_temps(&r, config_tmp);
    for (unsigned i = 0; i < r.nsecrets; i++) /* the values live in setup: wiped, then freed */
        memset((char *)r.secrets[i].value, 0, strlen(r.secrets[i].value));
    cJSON_free(check_text);
    cJSON_free(final_text);
    cJSON_Delete(check);
    cJSON_Delete(final);
    cJSON_Delete(setup);
    return rc;
}

const struct ctl_command ctl_cmd_provision = {
    .name = "provision",
    .args = "SETUP.json [--owner USER[:GROUP]] [--no-probe]",
    .summary = "Writes the configuration (--config PATH, mode 640) from SETUP.json, where secrets "
               "may be inline\n(\"api_key\": \"...\"): each goes to its own file next to it (mode "
               "600). Checked with the daemon's\nloader first; on a refusal nothing changes. "
               "Creates the device key, then runs test-connection.\nRun twice, it changes nothing.",
    .needs_config = 1,
    .run = run_provision,
};
