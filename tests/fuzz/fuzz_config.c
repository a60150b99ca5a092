/*
 * The configuration loader on arbitrary bytes, as a technician could write them. config_load
 * takes a path: each input is written to a file in a private directory made once, which also
 * holds the files a configuration names (a key file, one readable by others, an empty one, a CA
 * file, one holding no certificate, a directory). "@DIR@" in an input stands for that
 * directory, so the corpus and the dictionary can name those files.
 *
 * Invariants: a refusal names a key ("<key path>: ") or the file ("config: ") and never shows
 * a secret; an acceptance is a configuration that can work (at least one backend, three
 * distinct paths, https URLs libcurl parses, a CA file holding a certificate).
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "fuzz_check.h"

#define INPUT_MAX 65536
#define SECRET    "sk_test_Zq8NbW7xKfT3pL1v" /* the key files' content: never in an error */

/* A self-signed certificate (its key was thrown away): a CA file that is one. */
static const char certificate[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhzCCAS2gAwIBAgIUCMTvN8ZEWnHNyNSHaGiL+kiixYYwCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNdGlsbHN5bmMtZnV6ejAgFw0yNjExMzAxNjQyMjVaGA8yMTI2\n"
    "MTEwNjE2NDIyNVowGDEWMBQGA1UEAwwNdGlsbHN5bmMtZnV6ejBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABGxqU+Y0OJ1FwybQ2CdZewXdBye/3+HAYSVPVbyVPUNj\n"
    "ETXuaE0QGSxZXxuLYwbmprjDka4vWoZwaaJX6pcNipOjUzBRMB0GA1UdDgQWBBTr\n"
    "2kwxiV2ZlHdRg4P5ZEBDDFSp6zAfBgNVHSMEGDAWgBTr2kwxiV2ZlHdRg4P5ZEBD\n"
    "DFSp6zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIGnb3klq/wfN\n"
    "5z8gwLO8IMErPX1L5fINoZjuvTGxYevJAiEAkp8mDDI4XN2OZixjEGtiVAHHlv14\n"
    "WP6o1z5ov+jqOqM=\n"
    "-----END CERTIFICATE-----\n";

static char dir[64], config_path[96];
static regex_t key_error, stranger_error;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_file(const char *name, const char *content, mode_t mode)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(content, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0)
        abort();
}

static void remove_dir(void)
{
    static const char *const names[] = {"config.json", "key",    "open.key",
                                        "empty.key",   "ca.pem", "nocert.pem"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/tillsync-fuzz-config-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    snprintf(config_path, sizeof config_path, "%s/config.json", dir);
    put_file("key", SECRET "\n", 0600);
    put_file("open.key", SECRET "\n", 0644);
    put_file("empty.key", "\n", 0600);
    put_file("ca.pem", certificate, 0644);
    put_file("nocert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    char path[128];
    snprintf(path, sizeof path, "%s/sub", dir);
    if (mkdir(path, 0700) != 0)
        abort();
    /* "backends[0].", "journal.", "intake." ... then the key, or any key that was not known */
    if (regcomp(&key_error, "^([a-z_]+(\\[[0-9]+\\])?\\.)*[a-z_]+(\\[[0-9]+\\])?: ",
                REG_EXTENDED | REG_NOSUB) ||
        regcomp(&stranger_error,
                "^([a-z_]+(\\[[0-9]+\\])?\\.)*[^\n]*: (unknown key|given more than once)$",
                REG_EXTENDED | REG_NOSUB))
        abort();
    return 0;
}

static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return 1;
    return 0;
}

/* The input with every "@DIR@" replaced by the private directory. */
static size_t expand(const uint8_t *data, size_t size, char *out)
{
    size_t n = 0, dirlen = strlen(dir);
    for (size_t i = 0; i < size; i++) {
        if (i + 5 <= size && memcmp(data + i, "@DIR@", 5) == 0) {
            memcpy(out + n, dir, dirlen);
            n += dirlen;
            i += 4;
        } else {
            out[n++] = (char)data[i];
        }
    }
    return n;
}

/* Whether a file holds a whole PEM certificate (no parsing: that is the firmware's job). */
static int holds_certificate(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *begin = strstr(buf, "-----BEGIN CERTIFICATE-----\n");
    return begin && strstr(begin, "-----END CERTIFICATE-----");
}

/* libcurl parses it, as an https URL (it also takes "https:/host", as the daemon then will). */
static int curl_takes_https(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             strcmp(scheme, "https") == 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

static void check_accepted(const struct config *cfg)
{
    FUZZ_CHECK(cfg->nbackends >= 1 && cfg->nbackends <= CONFIG_MAX_BACKENDS,
               "accepted with %u backends", cfg->nbackends);
    FUZZ_CHECK(cfg->terminal_id[0] && cfg->sources.pos_socket[0] &&
                   cfg->sources.control_socket[0] && cfg->journal_path[0],
               "accepted with an empty terminal_id, socket or journal path");
    FUZZ_CHECK(strcmp(cfg->sources.pos_socket, cfg->sources.control_socket) != 0 &&
                   strcmp(cfg->sources.pos_socket, cfg->journal_path) != 0 &&
                   strcmp(cfg->sources.control_socket, cfg->journal_path) != 0,
               "accepted with a path used twice: %s %s %s", cfg->sources.pos_socket,
               cfg->sources.control_socket, cfg->journal_path);
    if (strcmp(cfg->journal_driver, "file") == 0) {
        uint32_t e = cfg->journal_erase_size, p = cfg->journal_prog_size;
        FUZZ_CHECK(e && !(e & (e - 1)) && p && !(p & (p - 1)) && p <= e / 8 &&
                       cfg->journal_size % e == 0 && cfg->journal_size / e >= 4,
                   "accepted an unusable geometry %llu/%u/%u",
                   (unsigned long long)cfg->journal_size, e, p);
    }
    for (unsigned i = 0; i < cfg->nbackends; i++) {
        const struct backend_config *bc = &cfg->backends[i];
        FUZZ_CHECK(curl_takes_https(bc->base_url), "backends[%u].base_url accepted: %s", i,
                   bc->base_url);
        FUZZ_CHECK(!bc->ca_file[0] || holds_certificate(bc->ca_file),
                   "backends[%u].ca_file accepted without a certificate: %s", i, bc->ca_file);
        FUZZ_CHECK(bc->ops && bc->timeout_s > 0 && bc->retry_base_s > 0 && bc->retry_max_s > 0 &&
                       bc->max_in_flight > 0 && bc->probe_interval_s > 0,
                   "backends[%u] accepted without a backend or with a zero setting", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[INPUT_MAX * 8];
    if (size > INPUT_MAX)
        return 0;
    size_t n = expand(data, size, text);
    FILE *f = fopen(config_path, "w");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0)
        abort();

    static struct config cfg;
    char err[512];
    memset(err, 0x55, sizeof err);
    int rc = config_load(config_path, &cfg, err, sizeof err);
    if (rc == 0) {
        check_accepted(&cfg);
        return 0;
    }
    FUZZ_CHECK(rc == -1, "rc %d", rc);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "error not terminated");
    /* (unless the input wrote it: the fuzzer learns the string from this very comparison) */
    FUZZ_CHECK(!strstr(err, SECRET) || contains(text, n, SECRET),
               "the error shows the API key: \"%s\"", err);
    FUZZ_CHECK(strncmp(err, "config: ", 8) == 0 || regexec(&key_error, err, 0, NULL, 0) == 0 ||
                   regexec(&stranger_error, err, 0, NULL, 0) == 0,
               "the error names no key: \"%s\"", err);
    return 0;
}
