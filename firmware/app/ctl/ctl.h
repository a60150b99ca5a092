/*
 * tillsyncctl: the technician's tool. One file per command (ctl_<name>.c), each exporting a
 * `const struct ctl_command`; ctl_main.c lists them and parses what every command shares
 * (--config, --json, --help, --version). Output is for people first: aligned labels, plain
 * words, colour only on a terminal; --json gives scripts one JSON document instead.
 *
 * Exit status, every command: 0 done / healthy, 1 a failure the output explains, 2 a usage or
 * configuration error, 75 (EX_TEMPFAIL) try again later.
 */
#ifndef TILLSYNC_CTL_H
#define TILLSYNC_CTL_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct config;

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_LATER 75

struct ctl {
    const char *config_path;
    int json;   /* --json: one JSON document on stdout, nothing else there */
    int colour; /* stdout is a terminal and NO_COLOR is not set */
};

struct ctl_command {
    const char *name;
    const char *args;    /* after the name in the usage line, e.g. "[BACKEND]" */
    const char *summary; /* what --help says, wrapped at 100 columns, no trailing newline */
    int needs_config;    /* 1: refuses to run without --config */
    /* argv[0] is the command's name, argv[1..] what follows it, --config/--json removed.
     * Returns the exit status. */
    int (*run)(struct ctl *c, int argc, char **argv);
};

/* ---- what commands share (ctl_common.c) ---- */

/* Loads the configuration as the daemon does (secrets and permissions checked). Prints
 * "tillsyncctl: <key>: <why>" and returns -1 on failure. */
int ctl_load_config(const struct ctl *c, struct config *cfg);
/* The configuration file parsed as JSON, nothing checked, no secret read; NULL when it cannot be
 * read or is not JSON (said on stderr unless quiet). For what works without the daemon's
 * secrets. */
cJSON *ctl_config_json(const struct ctl *c, int quiet);
/* Reads one string key from the configuration without loading secrets (section NULL: top
 * level): status and sale work for a user who may not read the keys. Prints why on failure. */
int ctl_config_string(const struct ctl *c, const char *section, const char *key, char *out,
                      size_t cap);
/* Sends one request line to the daemon's control socket and returns its parsed JSON answer, or
 * NULL after printing why (not running, no answer within 10 s, an {"error": ...} answer). */
cJSON *ctl_ask(const struct ctl *c, const char *request);
/* The same, the answer's text as it came (malloc'd), for --json passthrough. */
char *ctl_ask_raw(const struct ctl *c, const char *request);

enum ctl_mark { CTL_OK, CTL_WARN, CTL_FAIL, CTL_NOTE };
/* "label      text": the label padded to 11 columns, as verify and status print. */
__attribute__((format(printf, 3, 4))) void ctl_line(const struct ctl *c, const char *label,
                                                    const char *fmt, ...);
/* "  ok    what        text" with the mark coloured on a terminal (ok green, warn yellow, FAIL
 * red): a check's verdict, then on the lines after it (ctl_hint) what to do. */
__attribute__((format(printf, 4, 5))) void ctl_check(const struct ctl *c, enum ctl_mark m,
                                                     const char *what, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void ctl_hint(const struct ctl *c, const char *fmt, ...);
/* The escape sequence that starts a mark's colour, and the reset; "" without colour. */
const char *ctl_colour(const struct ctl *c, enum ctl_mark m);
const char *ctl_reset(const struct ctl *c);
/* A number member of o, 0 if absent. */
double ctl_num(const cJSON *o, const char *key);
/* "3 d 4 h", "12 min", "40 s": an age or duration for people. */
void ctl_duration(char *out, size_t cap, double seconds);

/* ---- a backend's status in words (ctl_backend.c) ---- */

/* A string key of the backend named so in the configuration (api_key_file, base_url), read
 * without loading secrets. Returns 0, or -1 (out empty). */
int ctl_backend_setting(const struct ctl *c, const char *backend, const char *key, char *out,
                        size_t cap);
/* A status object's state word ("paused") in *state and what it means in why ("the server
 * refused the API key (HTTP 401): check /etc/tillsync/shop.key"); returns how to mark it. */
enum ctl_mark ctl_backend_words(const struct ctl *c, const cJSON *b, const char **state, char *why,
                                size_t cap);

/* ---- the commands ---- */
extern const struct ctl_command ctl_cmd_status, ctl_cmd_verify, ctl_cmd_dead_letters,
    ctl_cmd_retry_dead, ctl_cmd_sale, ctl_cmd_drain, ctl_cmd_test_connection, ctl_cmd_provision,
    ctl_cmd_export, ctl_cmd_import;

#endif
