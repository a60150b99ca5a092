/*
 * The daemon's configuration: one JSON file, keys per the contract and README. Anything unknown
 * or out of range is refused with the key named, since a typo silently ignored at a till is a
 * sale silently lost.
 */
#ifndef TILLSYNC_CONFIG_H
#define TILLSYNC_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_BACKENDS 8

enum anonymous_policy {
    ANON_SKIP,    /* a sale without an identifiable customer is not sent to this backend */
    ANON_CONTACT, /* it is booked to one configured contact (a "walk-in" customer) */
};

struct backend_config {
    char name[33];
    char kind[16];
    char base_url[512];
    char api_key[512]; /* the secret itself, read from api_key_file; never logged */
    char source[65];
    char ca_file[PATH_MAX];
    enum anonymous_policy anonymous;
    char anonymous_email[257];
    long timeout_s;
    unsigned max_in_flight; /* sales uploading at once (HTTP/2 streams or connections) */
    long probe_interval_s;  /* while the network seems down: a TLS connect this often */
    long retry_base_s;      /* first backoff ceiling; doubles per failure */
    long retry_max_s;
};

struct config {
    char terminal_id[33];
    char journal_driver[16];
    char journal_path[PATH_MAX];
    uint64_t journal_size;
    uint32_t journal_erase_size, journal_prog_size;
    char pos_socket[108];
    char control_socket[108];
    struct backend_config backends[CONFIG_MAX_BACKENDS];
    unsigned nbackends;
};

/* Returns 0, or -1 with err = "<key>: <why>". Secrets are read here, with their permissions. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

#endif
