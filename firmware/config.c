#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "board/board.h"

struct ctx {
    char *err;
    size_t errlen;
    int failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        c->failed = 1;
    }
    return -1;
}

/* Refuses keys outside the allowed list, naming the first stranger. */
static int only_keys(struct ctx *c, const cJSON *obj, const char *path, const char *const *keys)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, it->string) == 0;
        if (!known)
            return fail(c, "%s%s: unknown key", path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return fail(c, "%s%s: given more than once", path, it->string);
    }
    return 0;
}

static int get_str(struct ctx *c, const cJSON *obj, const char *path, const char *key, char *dst,
                   size_t cap, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return required ? fail(c, "%s%s: required", path, key) : 0;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return fail(c, "%s%s: must be a non-empty string", path, key);
    if (strlen(v->valuestring) >= cap)
        return fail(c, "%s%s: longer than %zu bytes", path, key, cap - 1);
    strcpy(dst, v->valuestring);
    return 1;
}

static int get_uint(struct ctx *c, const cJSON *obj, const char *path, const char *key,
                    uint64_t *dst, uint64_t lo, uint64_t hi, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return required ? fail(c, "%s%s: required", path, key) : 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return fail(c, "%s%s: must be an integer from %llu to %llu", path, key,
                    (unsigned long long)lo, (unsigned long long)hi);
    *dst = (uint64_t)v->valuedouble;
    return 1;
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int valid_id(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Reads a secret, refusing files others could read: the key would leak to any local user. */
static int read_secret(struct ctx *c, const char *key, const char *file, char *dst, size_t cap)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return fail(c, "%s: cannot open %s: %s", key, file, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(c, "%s: %s is not a regular file", key, file);
    }
    if (st.st_mode & 077) {
        close(fd);
        return fail(c, "%s: %s is readable by group or others; fix with: chmod 600 %s", key, file,
                    file);
    }
    ssize_t n = read(fd, dst, cap - 1);
    close(fd);
    if (n < 0)
        return fail(c, "%s: cannot read %s: %s", key, file, strerror(errno));
    dst[n] = '\0';
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r' || dst[n - 1] == ' '))
        dst[--n] = '\0';
    if (n == 0)
        return fail(c, "%s: %s is empty", key, file);
    if ((size_t)n == cap - 1)
        return fail(c, "%s: %s holds more than %zu bytes", key, file, cap - 2);
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
            return fail(c, "%s: %s holds control characters", key, file);
    return 0;
}

static void parse_journal(struct ctx *c, const cJSON *j, struct config *cfg)
{
    static const char *const keys[] = {"driver",       "path",   "size", "erase_size",
                                       "program_size", "device", NULL};
    if (!cJSON_IsObject(j)) {
        fail(c, "journal: must be an object");
        return;
    }
    if (only_keys(c, j, "journal.", keys) ||
        get_str(c, j, "journal.", "driver", cfg->journal_driver, sizeof cfg->journal_driver, 1) < 0)
        return;
    if (!board_has_flash_driver(cfg->journal_driver)) {
        fail(c, "journal.driver: this board (%s) has no \"%s\" flash driver", board_name(),
             cfg->journal_driver);
        return;
    }
    if (strcmp(cfg->journal_driver, "file") != 0) {
        /* A device (mtd) says its own geometry when opened; sizes written here would be a guess
         * nothing reads, so they are refused rather than ignored. */
        static const char *const file_keys[] = {"path", "size", "erase_size", "program_size", NULL};
        for (const char *const *k = file_keys; *k; k++)
            if (cJSON_GetObjectItemCaseSensitive(j, *k)) {
                fail(c,
                     "journal.%s: not used with driver \"%s\" (the device is journal.device; "
                     "its geometry is read from it)",
                     *k, cfg->journal_driver);
                return;
            }
        get_str(c, j, "journal.", "device", cfg->journal_path, sizeof cfg->journal_path, 1);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "device")) {
        fail(c, "journal.device: not used with driver \"file\" (the image is journal.path)");
        return;
    }
    uint64_t size = 0, erase = 0, prog = 0;
    if (get_str(c, j, "journal.", "path", cfg->journal_path, sizeof cfg->journal_path, 1) < 0 ||
        get_uint(c, j, "journal.", "size", &size, 65536, 256ull << 20, 1) < 0 ||
        get_uint(c, j, "journal.", "erase_size", &erase, 4096, 262144, 1) < 0 ||
        get_uint(c, j, "journal.", "program_size", &prog, 1, 4096, 1) < 0)
        return;
    if (!is_pow2(erase))
        fail(c, "journal.erase_size: must be a power of two");
    else if (!is_pow2(prog) || prog > erase / 8)
        fail(c, "journal.program_size: must be a power of two, at most erase_size / 8 (a block "
                "holds its header and records, each at least one program unit)");
    else if (size % erase || size / erase < 4)
        fail(c, "journal.size: must be a multiple of erase_size, at least 4 erase blocks");
    cfg->journal_size = size;
    cfg->journal_erase_size = (uint32_t)erase;
    cfg->journal_prog_size = (uint32_t)prog;
}

static void parse_backend(struct ctx *c, const cJSON *b, unsigned i, struct config *cfg)
{
    static const char *const keys[] = {"name",
                                       "kind",
                                       "base_url",
                                       "api_key_file",
                                       "source",
                                       "ca_file",
                                       "anonymous_sales",
                                       "anonymous_contact_email",
                                       "timeout_s",
                                       "retry_base_s",
                                       "retry_max_s",
                                       "max_in_flight",
                                       "probe_interval_s",
                                       NULL};
    struct backend_config *bc = &cfg->backends[i];
    char path[32], key[64], file[PATH_MAX], policy[16] = "skip";
    uint64_t v;
    snprintf(path, sizeof path, "backends[%u].", i);
    if (!cJSON_IsObject(b)) {
        fail(c, "backends[%u]: must be an object", i);
        return;
    }
    if (only_keys(c, b, path, keys) ||
        get_str(c, b, path, "name", bc->name, sizeof bc->name, 1) < 0)
        return;
    if (!valid_id(bc->name)) {
        fail(c, "%sname: 1-32 of A-Z a-z 0-9 _ -", path);
        return;
    }
    for (unsigned k = 0; k < i; k++)
        if (strcmp(cfg->backends[k].name, bc->name) == 0) {
            fail(c, "%sname: \"%s\" is used twice", path, bc->name);
            return;
        }
    if (get_str(c, b, path, "kind", bc->kind, sizeof bc->kind, 1) < 0)
        return;
    if (strcmp(bc->kind, "gleantap") == 0 || strcmp(bc->kind, "givebutter") == 0) {
        fail(c, "%skind: \"%s\" is not supported by this firmware yet (glu is)", path, bc->kind);
        return;
    }
    if (strcmp(bc->kind, "glu") != 0) {
        fail(c, "%skind: must be glu, gleantap or givebutter", path);
        return;
    }
    if (get_str(c, b, path, "base_url", bc->base_url, sizeof bc->base_url, 1) < 0)
        return;
    if (strncmp(bc->base_url, "https://", 8) != 0 || !bc->base_url[8]) {
        fail(c, "%sbase_url: must be an https:// URL", path);
        return;
    }
    size_t n = strlen(bc->base_url);
    while (n > 8 && bc->base_url[n - 1] == '/')
        bc->base_url[--n] = '\0';
    snprintf(bc->source, sizeof bc->source, "tillsync");
    if (get_str(c, b, path, "source", bc->source, sizeof bc->source, 0) < 0 ||
        get_str(c, b, path, "ca_file", bc->ca_file, sizeof bc->ca_file, 0) < 0)
        return;
    if (bc->ca_file[0] && access(bc->ca_file, R_OK) != 0) {
        fail(c, "%sca_file: cannot read %s: %s", path, bc->ca_file, strerror(errno));
        return;
    }
    if (get_str(c, b, path, "anonymous_sales", policy, sizeof policy, 0) < 0)
        return;
    if (strcmp(policy, "skip") == 0) {
        bc->anonymous = ANON_SKIP;
    } else if (strcmp(policy, "contact") == 0) {
        bc->anonymous = ANON_CONTACT;
        if (get_str(c, b, path, "anonymous_contact_email", bc->anonymous_email,
                    sizeof bc->anonymous_email, 1) < 0)
            return;
        if (!strchr(bc->anonymous_email, '@')) {
            fail(c, "%sanonymous_contact_email: not an email address", path);
            return;
        }
    } else {
        fail(c, "%sanonymous_sales: must be \"skip\" or \"contact\"", path);
        return;
    }
    bc->timeout_s = 15;
    bc->retry_base_s = 1;
    bc->max_in_flight = 8;
    bc->probe_interval_s = 30;
    if (get_uint(c, b, path, "probe_interval_s", &v, 1, 3600, 0) > 0)
        bc->probe_interval_s = (long)v;
    if (get_uint(c, b, path, "max_in_flight", &v, 1, 32, 0) > 0)
        bc->max_in_flight = (unsigned)v;
    bc->retry_max_s = 300;
    if (get_uint(c, b, path, "retry_base_s", &v, 1, 3600, 0) > 0)
        bc->retry_base_s = (long)v;
    if (get_uint(c, b, path, "timeout_s", &v, 1, 600, 0) > 0)
        bc->timeout_s = (long)v;
    if (get_uint(c, b, path, "retry_max_s", &v, 1, 86400, 0) > 0)
        bc->retry_max_s = (long)v;
    if (c->failed || get_str(c, b, path, "api_key_file", file, sizeof file, 1) < 0)
        return;
    snprintf(key, sizeof key, "%sapi_key_file", path);
    read_secret(c, key, file, bc->api_key, sizeof bc->api_key);
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"terminal_id",    "journal",  "intake",
                                       "control_socket", "backends", NULL};
    static const char *const intake_keys[] = {"pos_socket", NULL};
    struct ctx c = {err, errlen, 0};
    memset(cfg, 0, sizeof *cfg);

    FILE *f = fopen(path, "r");
    if (!f)
        return fail(&c, "config: cannot open %s: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text)
        return fail(&c, "config: out of memory");
    text[n] = '\0';
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1); /* nothing but whitespace after it */
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(&c, "config: %s is not a JSON object", path);
    }
    if (only_keys(&c, root, "", keys) == 0 &&
        get_str(&c, root, "", "terminal_id", cfg->terminal_id, sizeof cfg->terminal_id, 1) > 0 &&
        !valid_id(cfg->terminal_id))
        fail(&c, "terminal_id: 1-32 of A-Z a-z 0-9 _ -");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "journal");
    if (!c.failed && !j)
        fail(&c, "journal: required");
    if (!c.failed)
        parse_journal(&c, j, cfg);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "intake");
    if (!c.failed && !cJSON_IsObject(in))
        fail(&c, "intake: required, an object");
    if (!c.failed && only_keys(&c, in, "intake.", intake_keys) == 0)
        get_str(&c, in, "intake.", "pos_socket", cfg->pos_socket, sizeof cfg->pos_socket, 1);
    if (!c.failed)
        get_str(&c, root, "", "control_socket", cfg->control_socket, sizeof cfg->control_socket, 1);
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "backends");
    if (!c.failed && bs && !cJSON_IsArray(bs))
        fail(&c, "backends: must be an array");
    if (!c.failed && cJSON_GetArraySize(bs) > CONFIG_MAX_BACKENDS)
        fail(&c, "backends: at most %d", CONFIG_MAX_BACKENDS);
    unsigned i = 0;
    for (const cJSON *b = bs ? bs->child : NULL; b && !c.failed; b = b->next, i++)
        parse_backend(&c, b, i, cfg);
    cfg->nbackends = i;
    cJSON_Delete(root);
    return c.failed ? -1 : 0;
}
