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

#include <cjson/cJSON.h>

#include "backend.h"
#include "board/board.h"
#include "receipt_conf.h"

#define CONFIG_MAX_BACKENDS 8

struct config {
    char terminal_id[33];
    char journal_driver[16];
    char journal_path[PATH_MAX];
    uint64_t journal_size;
    uint32_t journal_erase_size, journal_prog_size;
    /* The board's description with the configuration's intake section laid over it. */
    struct board_sources sources;
    unsigned power_fail_budget_ms; /* reported against, never enforced */
    /* The device key file (firmware/seal/device_key.h): the key device_key_file, else the
     * board's, else device.key beside a journal image, else /var/lib/tillsync/device.key. */
    char device_key_file[PATH_MAX];
    struct receipt_conf receipt; /* how the tap reads receipts (sources.has_tap) */
    struct backend_config backends[CONFIG_MAX_BACKENDS];
    unsigned nbackends;
};

/* Returns 0, or -1 with err = "<key>: <why>". Secrets are read here, with their permissions. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* One element of "backends", the common keys and the backend's own (its configure()); index
 * names it in errors. For config_load and for tests of a backend. Returns 0 or -1. */
int config_parse_backend(const cJSON *obj, unsigned index, struct backend_config *bc, char *err,
                         size_t errlen);

#endif
