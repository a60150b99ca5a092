/*
 * tillsyncctl sale: one sale through libtillsync, exactly as a POS application sends it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "tillsync/client.h"

/* One sale through libtillsync, as a POS application would send it. */
static int run_sale(struct ctl *ctl, int argc, char **argv)
{
    char path[108];
    if (argc > 2) {
        fprintf(stderr, "tillsyncctl: sale takes one JSON object (or - for stdin)\n");
        return CTL_EXIT_USAGE;
    }
    const char *json = argc == 2 ? argv[1] : NULL;
    if (ctl_config_string(ctl, "intake", "pos_socket", path, sizeof path) != 0)
        return CTL_EXIT_USAGE;
    static char text[2 * 65536];
    if (!json || strcmp(json, "-") == 0) {
        size_t n = fread(text, 1, sizeof text - 1, stdin);
        if (!feof(stdin)) {
            fprintf(stderr, "tillsyncctl: request: stdin holds more than one sale can\n");
            return 1;
        }
        text[n] = '\0';
        json = text;
    }
    struct tillsync_client *c = tillsync_open(path, NULL);
    if (!c) {
        fprintf(stderr, "tillsyncctl: %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    struct tillsync_result res;
    enum tillsync_outcome o = tillsync_sale_completed_json(c, json, &res);
    tillsync_close(c);
    if (o == TILLSYNC_STORED) {
        printf("%s\n", res.ref);
        if (res.duplicate)
            fprintf(stderr, "tillsyncctl: stored before (a duplicate); nothing new stored\n");
        return 0;
    }
    fprintf(stderr, "tillsyncctl: %s: %s\n", o == TILLSYNC_RETRY ? "not stored" : "rejected",
            res.error);
    return o == TILLSYNC_RETRY ? EX_TEMPFAIL : 1;
}

const struct ctl_command ctl_cmd_sale = {
    "sale", "[JSON|-]",
    "send one sale (a JSON object: the argument, or stdin) to the POS socket, print its ref.\n"
    "Exit 0 stored, 1 rejected (stderr names the field), 75 not stored for now: send it again\n"
    "later with the same txn",
    1, run_sale};
