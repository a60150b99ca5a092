/*
 * tillsyncctl test-connection [BACKEND]: why a backend is not uploading, layer by layer (DNS,
 * TCP, TLS, the key, the clock), each with a verdict and what to do (diagnose.h).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "ctl.h"
#include "diagnose.h"

int ctl_diagnose_backends(const struct ctl *c, const struct config *cfg, const char *only,
                          cJSON *json_out)
{
    int fail = 0, seen = 0;
    cJSON *arr = json_out ? cJSON_AddArrayToObject(json_out, "backends") : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (unsigned i = 0; i < cfg->nbackends; i++) {
        const struct backend_config *bc = &cfg->backends[i];
        if (only && strcmp(only, bc->name) != 0)
            continue;
        static struct diag_report r;
        char files[1024];
        diag_secret_files(c->config_path, i, files, sizeof files);
        diag_run(bc, files, &r);
        if (arr)
            cJSON_AddItemToArray(arr, diag_json(bc, &r));
        else {
            if (seen)
                putchar('\n');
            diag_print(c, bc, &r);
        }
        seen = 1;
        fail |= r.worst == DIAG_FAIL;
    }
    curl_global_cleanup();
    return fail;
}

static int run_test_connection(struct ctl *c, int argc, char **argv)
{
    static struct config cfg;
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: tillsyncctl --config PATH test-connection [BACKEND] [--json]\n");
        return CTL_EXIT_USAGE;
    }
    const char *only = argc == 2 ? argv[1] : NULL;
    if (ctl_load_config(c, &cfg) != 0)
        return CTL_EXIT_USAGE;
    if (only) {
        unsigned i = 0;
        while (i < cfg.nbackends && strcmp(cfg.backends[i].name, only) != 0)
            i++;
        if (i == cfg.nbackends) {
            fprintf(stderr,
                    "tillsyncctl: test-connection: no backend named %s; the configuration "
                    "has:",
                    only);
            for (unsigned k = 0; k < cfg.nbackends; k++)
                fprintf(stderr, " %s", cfg.backends[k].name);
            fputc('\n', stderr);
            return CTL_EXIT_USAGE;
        }
    }
    cJSON *doc = c->json ? cJSON_CreateObject() : NULL;
    int fail = ctl_diagnose_backends(c, &cfg, only, doc);
    if (doc) {
        cJSON_AddStringToObject(doc, "verdict", fail ? "fail" : "ok");
        char *text = cJSON_Print(doc);
        if (text)
            puts(text);
        cJSON_free(text);
        cJSON_Delete(doc);
    }
    return fail ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

const struct ctl_command ctl_cmd_test_connection = {
    .name = "test-connection",
    .args = "[BACKEND]",
    .summary = "Checks each backend (or the one named) in order: DNS, TCP, TLS (CA file, the "
               "server's certificate,\nexpiry, host name), the API key with a harmless request, "
               "the clock against the server's.\nEach check says ok, warn or FAIL and what to do. "
               "Exit 1 if any check fails.",
    .needs_config = 1,
    .run = run_test_connection,
};
