#include "config.h"

#include <assert.h>
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
#include <curl/curl.h>
#include <mbedtls/asn1.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>

#include "board/board.h"
#include "journal.h"

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

/* Whether der has the outer shape of an X.509 certificate (RFC 5280 4.1): SEQUENCE {
 * tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }. */
static int certificate_shaped(unsigned char *der, size_t len)
{
    const unsigned char *end = der + len;
    unsigned char *p = der;
    size_t n;
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
        p + n != end)
        return 0;
    for (int i = 0; i < 2; i++) {
        if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
            return 0;
        p += n;
    }
    return mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_BIT_STRING) == 0 && p + n == end;
}

static int certificate_readable(unsigned char *der, size_t len)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int parsed = mbedtls_x509_crt_parse_der(&crt, der, len) == 0;
    mbedtls_x509_crt_free(&crt);
    /* mbedTLS 2.28 refuses some certificates that libcurl's TLS library (OpenSSL) trusts: a
     * critical nameConstraints extension, an Ed25519 key. Those still have a certificate's shape.
     */
    return parsed || certificate_shaped(der, len);
}

#define CA_FILE_MAX (4 << 20) /* the whole system CA bundle is about 200 KiB */

/* A CA file must hold a certificate as libcurl reads it (OpenSSL): PEM only, and one damaged
 * certificate fails the whole file. Anything else would only fail later, at every connection. */
static void check_ca_file(struct conf_ctx *c, const char *key, const char *file)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    struct stat st;
    int fd = conf_open_regular(c, key, file, 0, &st);
    if (fd < 0)
        return;
    if (st.st_size > CA_FILE_MAX) {
        close(fd);
        conf_fail(c, "%s: %s is larger than %d bytes: not a CA file", key, file, CA_FILE_MAX);
        return;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t len = 0;
    ssize_t got = 1;
    while (buf && len < (size_t)st.st_size && got > 0) {
        got = read(fd, buf + len, (size_t)st.st_size - len);
        len += got > 0 ? (size_t)got : 0;
    }
    int e = errno;
    close(fd);
    if (!buf || got < 0) {
        free(buf);
        conf_fail(c, "%s: cannot read %s: %s", key, file, buf ? strerror(e) : "out of memory");
        return;
    }
    buf[len] = '\0'; /* the PEM reader wants a string */

    unsigned blocks = 0, damaged = 0;
    const unsigned char *p = buf;
    for (;;) {
        mbedtls_pem_context pem;
        size_t used = 0;
        mbedtls_pem_init(&pem);
        int rc = mbedtls_pem_read_buffer(&pem, begin, end, p, NULL, 0, &used);
        if (rc == MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT) {
            if (strstr((const char *)p, begin) && !damaged) /* a block with no end */
                damaged = ++blocks;
            mbedtls_pem_free(&pem);
            break;
        }
        blocks++;
        if ((rc != 0 || !certificate_readable(pem.buf, pem.buflen)) && !damaged)
            damaged = blocks;
        mbedtls_pem_free(&pem);
        if (used == 0)
            break;
        p += used;
    }
    if (damaged)
        conf_fail(c,
                  "%s: %s: certificate %u of %u is damaged (libcurl would refuse the whole file)",
                  key, file, damaged, blocks);
    else if (!blocks && certificate_readable(buf, len))
        conf_fail(c,
                  "%s: %s is a DER certificate; libcurl reads PEM (convert: openssl x509 -inform "
                  "DER -in %s -out %s.pem)",
                  key, file, file, file);
    else if (!blocks)
        conf_fail(c, "%s: %s holds no PEM certificate", key, file);
    free(buf);
}

static int ascii(const char *s)
{
    while (*s && (unsigned char)*s < 0x80)
        s++;
    return !*s;
}

/* base_url as libcurl will parse it (every request is base_url + a path), so that what it
 * would refuse at every request is refused here, naming why. */
static void check_base_url(struct conf_ctx *c, const char *path, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *part = NULL;
    CURLUcode rc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
    if (rc != CURLUE_OK) {
        conf_fail(c, "%sbase_url: not a URL libcurl accepts (%s)", path, curl_url_strerror(rc));
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               strcmp(scheme, "https") != 0) {
        conf_fail(c, "%sbase_url: must be an https:// URL (the API key travels with every request)",
                  path);
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        conf_fail(c, "%sbase_url: no host", path);
    } else if (!ascii(host)) {
        /* libcurl parses it, then refuses every request: the daemon converts no IDN */
        conf_fail(c,
                  "%sbase_url: the host is not ASCII; write an international name in its xn-- form",
                  path);
    } else if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
               curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
        conf_fail(c,
                  "%sbase_url: holds a user name or password; the API key comes from api_key_file",
                  path);
    } else if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK) {
        conf_fail(c, "%sbase_url: has a query (?...); request paths are appended to base_url",
                  path);
    } else if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        conf_fail(c, "%sbase_url: has a fragment (#...); request paths are appended to base_url",
                  path);
    }
    curl_free(part);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
}

static void split_path(const char *path, char *dir, size_t cap, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    snprintf(dir, cap, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
}

/* Whether two paths name one file however written: the same text, the same existing file (a
 * hard or symbolic link), or the same name in one directory (./j.img and /abs/j.img, a directory
 * reached through a link), also while the file does not exist yet. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return 1;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char da[PATH_MAX], db[PATH_MAX];
    const char *ba, *bb;
    split_path(a, da, sizeof da, &ba);
    split_path(b, db, sizeof db, &bb);
    return ba[0] && strcmp(ba, bb) == 0 && stat(da, &sa) == 0 && stat(db, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A socket path is unlinked before bind: on the journal's path that deleted every stored sale,
 * and one path for both sockets mixed POS and control lines. A printer port that is the POS's
 * port would echo the print stream back to the POS. (An empty path: a source not configured.) */
static void check_paths_differ(struct conf_ctx *c, const struct config *cfg)
{
    const struct {
        const char *key, *path;
    } p[] = {
        {strcmp(cfg->journal_driver, "file") == 0 ? "journal.path" : "journal.device",
         cfg->journal_path},
        {"intake.pos_socket", cfg->sources.pos_socket},
        {"control_socket", cfg->sources.control_socket},
        {"intake.receipt_tap.pos_port", cfg->sources.has_tap ? cfg->sources.tap.pos_port : ""},
        {"intake.receipt_tap.printer_port",
         cfg->sources.has_tap ? cfg->sources.tap.printer_port : ""},
        {"device_key_file", cfg->device_key_file},
    };
    for (size_t i = 1; i < sizeof p / sizeof *p; i++)
        for (size_t k = 0; k < i; k++)
            if (p[i].path[0] && p[k].path[0] && same_file(p[i].path, p[k].path)) {
                conf_fail(c, "%s: same path as %s", p[i].key, p[k].key);
                return;
            }
}

/*
 * A new journal must hold four blocks of the size that stores the largest valid sale (FORMAT.md
 * 1.1), or it would refuse such sales for good. An existing smaller image, written by firmware
 * before format 3, is still used as it is: refusing it would strand the sales it holds.
 */
static void check_new_journal_size(struct conf_ctx *c, const char *path, uint64_t size,
                                   uint32_t erase, uint32_t prog)
{
    const struct hal_flash_geometry unbounded = {UINT64_MAX / 2, erase, prog};
    uint64_t need = 4ull * journal_default_block_size(&unbounded);
    struct stat st;
    if (size < need && stat(path, &st) != 0 && errno == ENOENT)
        conf_fail(c,
                  "journal.size: a new journal needs at least %llu bytes (4 blocks of %llu, each "
                  "holding the largest valid sale); an existing smaller image is still used",
                  (unsigned long long)need, (unsigned long long)(need / 4));
}

static void parse_journal(struct conf_ctx *c, const cJSON *j, struct config *cfg)
{
    static const char *const keys[] = {"driver",       "path",   "size", "erase_size",
                                       "program_size", "device", NULL};
    if (!cJSON_IsObject(j)) {
        conf_fail(c, "journal: must be an object");
        return;
    }
    if (conf_only_keys(c, j, "journal.", keys) ||
        conf_str(c, j, "journal.", "driver", cfg->journal_driver, sizeof cfg->journal_driver, 1) <
            0)
        return;
    if (!board_has_flash_driver(cfg->journal_driver)) {
        conf_fail(c, "journal.driver: this board (%s) has no \"%s\" flash driver", board_name(),
                  cfg->journal_driver);
        return;
    }
    if (strcmp(cfg->journal_driver, "file") != 0) {
        /* A device (mtd) says its own geometry when opened; sizes written here would be a guess
         * nothing reads, so they are refused rather than ignored. */
        static const char *const file_keys[] = {"path", "size", "erase_size", "program_size", NULL};
        for (const char *const *k = file_keys; *k; k++)
            if (cJSON_GetObjectItemCaseSensitive(j, *k)) {
                conf_fail(c,
                          "journal.%s: not used with driver \"%s\" (the device is journal.device; "
                          "its geometry is read from it)",
                          *k, cfg->journal_driver);
                return;
            }
        conf_str(c, j, "journal.", "device", cfg->journal_path, sizeof cfg->journal_path, 1);
        return;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "device")) {
        conf_fail(c, "journal.device: not used with driver \"file\" (the image is journal.path)");
        return;
    }
    uint64_t size = 0, erase = 0, prog = 0;
    if (conf_str(c, j, "journal.", "path", cfg->journal_path, sizeof cfg->journal_path, 1) < 0 ||
        conf_uint(c, j, "journal.", "size", &size, 65536, 256ull << 20, 1) < 0 ||
        conf_uint(c, j, "journal.", "erase_size", &erase, 4096, 262144, 1) < 0 ||
        conf_uint(c, j, "journal.", "program_size", &prog, 1, 4096, 1) < 0)
        return;
    if (!is_pow2(erase))
        conf_fail(c, "journal.erase_size: must be a power of two");
    else if (!is_pow2(prog) || prog > erase / 8)
        conf_fail(c,
                  "journal.program_size: must be a power of two, at most erase_size / 8 (a block "
                  "holds its header and records, each at least one program unit)");
    else if (size % erase || size / erase < 4)
        conf_fail(c, "journal.size: must be a multiple of erase_size, at least 4 erase blocks");
    else
        check_new_journal_size(c, cfg->journal_path, size, (uint32_t)erase, (uint32_t)prog);
    cfg->journal_size = size;
    cfg->journal_erase_size = (uint32_t)erase;
    cfg->journal_prog_size = (uint32_t)prog;
}

/* Where a device journal's key goes when neither the configuration nor the board says: the
 * service's state directory (StateDirectory=tillsync), which a reflash of the root keeps. */
#define DEVICE_KEY_STATE_PATH "/var/lib/tillsync/device.key"

/*
 * Where the device key is: device_key_file, else where the board keeps it (a secure element's
 * export), else beside a journal image, so that a file journal and the key its customers are
 * sealed under move together (a developer's machine, the tests), else DEVICE_KEY_STATE_PATH.
 */
static void parse_device_key_file(struct conf_ctx *c, const cJSON *root, struct config *cfg)
{
    char *out = cfg->device_key_file;
    size_t cap = sizeof cfg->device_key_file;
    if (conf_str(c, root, "", "device_key_file", out, cap, 0) != 0)
        return;
    board_device_key_file(out, cap);
    if (out[0])
        return;
    if (strcmp(cfg->journal_driver, "file") != 0) {
        snprintf(out, cap, "%s", DEVICE_KEY_STATE_PATH);
        return;
    }
    const char *slash = strrchr(cfg->journal_path, '/');
    int dir = slash ? (int)(slash - cfg->journal_path) : 0;
    if (snprintf(out, cap, "%.*s%sdevice.key", dir, cfg->journal_path, slash ? "/" : "") >=
        (int)cap)
        conf_fail(c, "device_key_file: journal.path is too long to put device.key beside it");
}

/* Keys every backend has; a backend adds its own (backend_ops.keys). */
static const char *const common_backend_keys[] = {"name",
                                                  "kind",
                                                  "base_url",
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

static void parse_common_backend_keys(struct conf_ctx *c, const cJSON *b, const char *path,
                                      struct backend_config *bc)
{
    char key[64], policy[16] = "skip";
    uint64_t v;
    if (conf_str(c, b, path, "base_url", bc->base_url, sizeof bc->base_url, 1) < 0)
        return;
    check_base_url(c, path, bc->base_url);
    if (c->failed)
        return;
    size_t n = strlen(bc->base_url);
    while (n > 8 && bc->base_url[n - 1] == '/')
        bc->base_url[--n] = '\0';
    snprintf(bc->source, sizeof bc->source, "tillsync");
    if (conf_str(c, b, path, "source", bc->source, sizeof bc->source, 0) < 0 ||
        conf_str(c, b, path, "ca_file", bc->ca_file, sizeof bc->ca_file, 0) < 0)
        return;
    snprintf(key, sizeof key, "%sca_file", path);
    if (bc->ca_file[0])
        check_ca_file(c, key, bc->ca_file);
    if (c->failed || conf_str(c, b, path, "anonymous_sales", policy, sizeof policy, 0) < 0)
        return;
    if (strcmp(policy, "skip") == 0) {
        bc->anonymous = ANON_SKIP;
    } else if (strcmp(policy, "contact") == 0) {
        bc->anonymous = ANON_CONTACT;
        if (conf_str(c, b, path, "anonymous_contact_email", bc->anonymous_email,
                     sizeof bc->anonymous_email, 1) < 0)
            return;
        if (!strchr(bc->anonymous_email, '@')) {
            conf_fail(c, "%sanonymous_contact_email: not an email address", path);
            return;
        }
    } else {
        conf_fail(c, "%sanonymous_sales: must be \"skip\" or \"contact\"", path);
        return;
    }
    bc->timeout_s = 15;
    bc->retry_base_s = 1;
    bc->max_in_flight = 8;
    bc->probe_interval_s = 30;
    bc->retry_max_s = 300;
    if (conf_uint(c, b, path, "probe_interval_s", &v, 1, 3600, 0) > 0)
        bc->probe_interval_s = (long)v;
    if (conf_uint(c, b, path, "max_in_flight", &v, 1, 32, 0) > 0)
        bc->max_in_flight = (unsigned)v;
    if (conf_uint(c, b, path, "retry_base_s", &v, 1, 3600, 0) > 0)
        bc->retry_base_s = (long)v;
    if (conf_uint(c, b, path, "timeout_s", &v, 1, 600, 0) > 0)
        bc->timeout_s = (long)v;
    if (conf_uint(c, b, path, "retry_max_s", &v, 1, 86400, 0) > 0)
        bc->retry_max_s = (long)v;
}

static void parse_backend(struct conf_ctx *c, const cJSON *b, unsigned i, struct backend_config *bc)
{
    char path[32];
    const char *keys[64];
    size_t nkeys = 0;
    memset(bc, 0, sizeof *bc);
    snprintf(path, sizeof path, "backends[%u].", i);
    if (!cJSON_IsObject(b)) {
        conf_fail(c, "backends[%u]: must be an object", i);
        return;
    }
    /* The kind first: it says which keys are known. */
    if (conf_str(c, b, path, "kind", bc->kind, sizeof bc->kind, 1) < 0)
        return;
    bc->ops = backend_ops_for(bc->kind);
    if (!bc->ops) {
        conf_fail(c, "%skind: must be %s", path, backend_kinds());
        return;
    }
    for (const char *const *k = common_backend_keys; *k; k++)
        keys[nkeys++] = *k;
    for (const char *const *k = bc->ops->keys; k && *k && nkeys < 63; k++)
        keys[nkeys++] = *k;
    keys[nkeys] = NULL;
    if (conf_only_keys(c, b, path, keys) ||
        conf_str(c, b, path, "name", bc->name, sizeof bc->name, 1) < 0)
        return;
    if (!valid_id(bc->name)) {
        conf_fail(c, "%sname: 1-32 of A-Z a-z 0-9 _ -", path);
        return;
    }
    parse_common_backend_keys(c, b, path, bc);
    if (c->failed)
        return;
    /* The backend's own keys, secrets among them, parsed by the backend. */
    assert(bc->ops->conf_size <= sizeof bc->conf);
    c->prefix = path;
    if (bc->ops->configure && bc->ops->configure(bc, bc->conf, b, c) != 0 && !c->failed)
        conf_fail(c, "%s: not accepted by the %s backend", path, bc->kind);
    c->prefix = NULL;
}

static const unsigned standard_bauds[] = {1200,  2400,  4800,   9600,   19200,
                                          38400, 57600, 115200, 230400, 460800};

/* The printer line: the board may name the ports; the configuration may add or override them. */
static void parse_tap(struct conf_ctx *c, const cJSON *o, struct board_sources *s,
                      struct receipt_conf *receipt)
{
    static const char *const serial_keys[] = {"pos_port", "printer_port", "baud", "flow_control"};
    const char *keys[sizeof serial_keys / sizeof *serial_keys + 32];
    size_t nkeys = 0;
    for (size_t i = 0; i < sizeof serial_keys / sizeof *serial_keys; i++)
        keys[nkeys++] = serial_keys[i];
    for (size_t i = 0; receipt_conf_keys[i] && nkeys < sizeof keys / sizeof *keys - 1; i++)
        keys[nkeys++] = receipt_conf_keys[i];
    keys[nkeys] = NULL;
    const char *path = "intake.receipt_tap.";
    if (!cJSON_IsObject(o)) {
        conf_fail(c, "intake.receipt_tap: must be an object");
        return;
    }
    if (conf_only_keys(c, o, path, keys) != 0 || receipt_conf_parse(c, o, path, receipt) != 0)
        return;
    struct board_tap_params *t = &s->tap;
    s->has_tap = 1;
    conf_str(c, o, path, "pos_port", t->pos_port, sizeof t->pos_port, !t->pos_port[0]);
    conf_str(c, o, path, "printer_port", t->printer_port, sizeof t->printer_port,
             !t->printer_port[0]);
    uint64_t baud = t->baud ? t->baud : 9600;
    if (conf_uint(c, o, path, "baud", &baud, 1200, 460800, 0) >= 0) {
        size_t i = 0;
        while (i < sizeof standard_bauds / sizeof *standard_bauds && standard_bauds[i] != baud)
            i++;
        if (i == sizeof standard_bauds / sizeof *standard_bauds)
            conf_fail(c,
                      "intake.receipt_tap.baud: %llu is not a standard rate (9600, 19200, "
                      "38400, 57600, 115200 ...)",
                      (unsigned long long)baud);
        t->baud = (unsigned)baud;
    }
    if (!t->flow_control[0])
        snprintf(t->flow_control, sizeof t->flow_control, "none");
    if (conf_str(c, o, path, "flow_control", t->flow_control, sizeof t->flow_control, 0) >= 0 &&
        strcmp(t->flow_control, "none") != 0 && strcmp(t->flow_control, "rtscts") != 0 &&
        strcmp(t->flow_control, "xonxoff") != 0)
        conf_fail(c, "intake.receipt_tap.flow_control: \"none\", \"rtscts\" or \"xonxoff\"");
}

/* A GPIO input: a chip and a line (or, in tests, a FIFO standing in for one). */
static void parse_line(struct conf_ctx *c, const cJSON *o, const char *name, int *has,
                       struct board_line_params *l, unsigned *budget_ms)
{
    static const char *const keys[] = {"chip", "line", "active", "fake_fifo", NULL};
    static const char *const keys_budget[] = {"chip",      "line",      "active",
                                              "fake_fifo", "budget_ms", NULL};
    char path[64], active[8] = "";
    snprintf(path, sizeof path, "intake.%s.", name);
    if (!cJSON_IsObject(o)) {
        conf_fail(c, "intake.%s: must be an object", name);
        return;
    }
    if (conf_only_keys(c, o, path, budget_ms ? keys_budget : keys) != 0)
        return;
    *has = 1;
    conf_str(c, o, path, "fake_fifo", l->fake_fifo, sizeof l->fake_fifo, 0);
    conf_str(c, o, path, "chip", l->chip, sizeof l->chip, !l->chip[0] && !l->fake_fifo[0]);
    uint64_t v = l->line;
    if (conf_uint(c, o, path, "line", &v, 0, 511, 0) > 0)
        l->line = (unsigned)v;
    if (conf_str(c, o, path, "active", active, sizeof active, 0) > 0) {
        if (strcmp(active, "low") != 0 && strcmp(active, "high") != 0)
            conf_fail(c, "%sactive: \"low\" or \"high\"", path);
        l->active_low = strcmp(active, "low") == 0;
    }
    if (budget_ms) {
        v = *budget_ms;
        if (conf_uint(c, o, path, "budget_ms", &v, 1, 1000, 0) > 0)
            *budget_ms = (unsigned)v;
    }
}

static void parse_intake(struct conf_ctx *c, const cJSON *in, struct config *cfg)
{
    static const char *const keys[] = {"pos_socket", "receipt_tap", "power_fail", "sale_signal",
                                       NULL};
    struct board_sources *s = &cfg->sources;
    if (!cJSON_IsObject(in)) {
        conf_fail(c, "intake: required, an object");
        return;
    }
    if (conf_only_keys(c, in, "intake.", keys) != 0)
        return;
    conf_str(c, in, "intake.", "pos_socket", s->pos_socket, sizeof s->pos_socket, 1);
    const cJSON *o;
    if (!c->failed && (o = cJSON_GetObjectItemCaseSensitive(in, "receipt_tap")))
        parse_tap(c, o, s, &cfg->receipt);
    if (!c->failed && (o = cJSON_GetObjectItemCaseSensitive(in, "power_fail")))
        parse_line(c, o, "power_fail", &s->has_power_fail, &s->power_fail,
                   &cfg->power_fail_budget_ms);
    if (!c->failed && (o = cJSON_GetObjectItemCaseSensitive(in, "sale_signal")))
        parse_line(c, o, "sale_signal", &s->has_sale_signal, &s->sale_signal, NULL);
}

int config_parse_backend(const cJSON *obj, unsigned index, struct backend_config *bc, char *err,
                         size_t errlen)
{
    struct conf_ctx c = {err, errlen, 0, NULL};
    parse_backend(&c, obj, index, bc);
    return c.failed ? -1 : 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"terminal_id", "journal",         "intake", "control_socket",
                                       "backends",    "device_key_file", NULL};
    struct conf_ctx c = {err, errlen, 0, NULL};
    memset(cfg, 0, sizeof *cfg);
    board_describe(&cfg->sources);
    cfg->power_fail_budget_ms = 10;

    FILE *f = fopen(path, "r");
    if (!f)
        return conf_fail(&c, "config: cannot open %s: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text)
        return conf_fail(&c, "config: out of memory");
    text[n] = '\0';
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1); /* nothing but whitespace after it */
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return conf_fail(&c, "config: %s is not a JSON object", path);
    }
    if (conf_only_keys(&c, root, "", keys) == 0 &&
        conf_str(&c, root, "", "terminal_id", cfg->terminal_id, sizeof cfg->terminal_id, 1) > 0 &&
        !valid_id(cfg->terminal_id))
        conf_fail(&c, "terminal_id: 1-32 of A-Z a-z 0-9 _ -");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "journal");
    if (!c.failed && !j)
        conf_fail(&c, "journal: required");
    if (!c.failed)
        parse_journal(&c, j, cfg);
    if (!c.failed)
        parse_intake(&c, cJSON_GetObjectItemCaseSensitive(root, "intake"), cfg);
    if (!c.failed)
        conf_str(&c, root, "", "control_socket", cfg->sources.control_socket,
                 sizeof cfg->sources.control_socket, 1);
    if (!c.failed)
        parse_device_key_file(&c, root, cfg);
    if (!c.failed)
        check_paths_differ(&c, cfg);
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "backends");
    if (!c.failed && bs && !cJSON_IsArray(bs))
        conf_fail(&c, "backends: must be an array");
    if (!c.failed && cJSON_GetArraySize(bs) > CONFIG_MAX_BACKENDS)
        conf_fail(&c, "backends: at most %d", CONFIG_MAX_BACKENDS);
    if (!c.failed && cJSON_GetArraySize(bs) == 0)
        conf_fail(&c, "backends: at least one backend is required (sales would be stored and sent "
                      "nowhere)");
    unsigned i = 0;
    for (const cJSON *b = bs ? bs->child : NULL; b && !c.failed; b = b->next, i++) {
        parse_backend(&c, b, i, &cfg->backends[i]);
        for (unsigned k = 0; k < i && !c.failed; k++)
            if (strcmp(cfg->backends[k].name, cfg->backends[i].name) == 0)
                conf_fail(&c, "backends[%u].name: \"%s\" is used twice", i, cfg->backends[i].name);
            /* The journal keys progress by this id: two backends sharing one would share one
             * watermark, and a sale delivered to either would count as delivered to both. */
            else if (journal_backend_id(cfg->backends[k].name) ==
                     journal_backend_id(cfg->backends[i].name))
                conf_fail(&c,
                          "backends[%u].name: \"%s\" has the same journal id as \"%s\" (CRC-32 "
                          "of the name); rename one",
                          i, cfg->backends[i].name, cfg->backends[k].name);
    }
    cfg->nbackends = i;
    cJSON_Delete(root);
    return c.failed ? -1 : 0;
}
