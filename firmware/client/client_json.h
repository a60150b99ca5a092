/*
 * The JSON of the POS protocol as the client needs it: a request line written from a struct or
 * taken from the caller, and the one-line reply read into a result. Internal to libtillsync
 * (hidden in the shared library), declared here for its unit tests.
 */
#ifndef TILLSYNC_CLIENT_JSON_H
#define TILLSYNC_CLIENT_JSON_H

#include <stddef.h>

#include "tillsync/client.h"

/* A request line ending in '\n', malloc'd into *line. Returns 0, or -1 out of memory. */
int client_format_sale(const struct tillsync_sale *s, char **line, size_t *len);

/*
 * The caller's JSON object as one request line: line breaks between tokens become spaces and
 * '\n' is appended. Returns 0; -1 out of memory; -2 with err set when it cannot be one line.
 */
int client_line_from_json(const char *json, char **line, size_t *len, char *err, size_t errlen);

/* Reads one reply line (without its '\n') into res. Returns 0, or -1: not a reply. */
int client_parse_reply(const char *reply, size_t len, struct tillsync_result *res);

#endif
