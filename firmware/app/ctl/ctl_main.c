/*
 * tillsyncctl's entry: the shared options, then the command's own run().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* In --help order. A new command: its file, its extern in ctl.h, one line here. */
static const struct ctl_command *const commands[] = {
    &ctl_cmd_status, &ctl_cmd_verify, &ctl_cmd_dead_letters, &ctl_cmd_retry_dead,
    &ctl_cmd_sale,   &ctl_cmd_drain,  &ctl_cmd_provision,    &ctl_cmd_test_connection,
    &ctl_cmd_export, &ctl_cmd_import,
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: tillsyncctl --config PATH [--json] COMMAND [ARGS]\n"
               "       tillsyncctl --help | --version\n\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s %s\n", commands[i]->name, commands[i]->args);
    fputc('\n', f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(f, "%s\n", commands[i]->name);
        const char *s = commands[i]->summary;
        while (*s) {
            size_t n = strcspn(s, "\n");
            fprintf(f, "    %.*s\n", (int)n, s);
            s += n + (s[n] == '\n');
        }
    }
    fprintf(f, "\nExit status: 0 done or healthy, 1 failed (the output says why), 2 usage or "
               "configuration\nerror, 75 not now: try again later.\n");
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    const char *no_colour = getenv("NO_COLOR");
    c.colour = isatty(STDOUT_FILENO) && !(no_colour && *no_colour);
    /* The shared options may come before or after the command ("status --json" is the
     * contract's form); what is left goes to the command, its name first. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return CTL_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 && nrest == 0) {
            usage(stdout);
            free(rest);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0 && nrest == 0) {
            printf("tillsyncctl %s\n", TILLSYNC_VERSION);
            free(rest);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            c.config_path = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            c.json = 1;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    const struct ctl_command *cmd = NULL;
    for (size_t i = 0; nrest && i < NCOMMANDS; i++)
        if (strcmp(rest[0], commands[i]->name) == 0)
            cmd = commands[i];
    if (!cmd) {
        if (nrest)
            fprintf(stderr, "tillsyncctl: no command named %s\n", rest[0]);
        usage(stderr);
        free(rest);
        return CTL_EXIT_USAGE;
    }
    if (cmd->needs_config && !c.config_path) {
        fprintf(stderr, "tillsyncctl: %s needs --config PATH (the daemon's configuration)\n",
                cmd->name);
        free(rest);
        return CTL_EXIT_USAGE;
    }
    int rc = cmd->run(&c, nrest, rest);
    free(rest);
    return rc;
}
