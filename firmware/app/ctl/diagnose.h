/*
 * The connection checks of one backend, in the order a technician fixes things: DNS, TCP, TLS,
 * authentication, the clock. Each check gives a verdict, what it found and, when not ok, what to
 * do in words a technician follows. Shared by test-connection and provision.
 *
 * Blocking, with every wait bounded by the backend's timeout_s (connects by at most 10 s): this
 * is the technician's tool, never the daemon's sale path.
 */
#ifndef TILLSYNC_DIAGNOSE_H
#define TILLSYNC_DIAGNOSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "ctl.h"

enum diag_verdict { DIAG_OK, DIAG_WARN, DIAG_FAIL, DIAG_SKIPPED };

enum diag_step { DIAG_DNS, DIAG_TCP, DIAG_TLS, DIAG_AUTH, DIAG_CLOCK, DIAG_NSTEPS };

#define DIAG_TEXT 1024

struct diag_check {
    enum diag_verdict verdict;
    char detail[DIAG_TEXT]; /* what was found; lines split by '\n' */
    char hint[DIAG_TEXT];   /* what to do when not ok, else "" */
};

struct diag_report {
    struct diag_check check[DIAG_NSTEPS];
    enum diag_verdict worst; /* over the checks run: OK, WARN or FAIL */
};

/* Runs every check of bc in order; a check whose ground failed is skipped, saying which.
 * secret_files: the backend's secret files as the configuration names them (diag_secret_files),
 * for the hint when the key is refused. Call curl_global_init() first. */
void diag_run(const struct backend_config *bc, const char *secret_files, struct diag_report *r);
/* The checks for people: a heading line, then one ctl_check per check with its details and
 * hints ("-> ...") on the lines after it. */
void diag_print(const struct ctl *c, const struct backend_config *bc, const struct diag_report *r);
/* The same as one JSON object: name, kind, base_url, verdict, checks [{name, verdict, detail,
 * hint}] (hint null when ok). */
cJSON *diag_json(const struct backend_config *bc, const struct diag_report *r);
/* "ok", "warn", "fail", "skipped". */
const char *diag_verdict_name(enum diag_verdict v);
/* The *_file keys of backends[index] but ca_file (its secrets), read from the configuration's
 * text, as "a" or "a and b"; "its key file" when not found. */
void diag_secret_files(const char *config_path, unsigned index, char *out, size_t cap);

struct config;
/* Runs diag_run for every backend of cfg (only: just the one of that name), printing each for
 * people, or, with json_out, adding "backends": [diag_json ...] to it and printing nothing.
 * Returns 1 if any check failed, else 0. */
int ctl_diagnose_backends(const struct ctl *c, const struct config *cfg, const char *only,
                          cJSON *json_out);

#endif
