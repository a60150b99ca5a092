/* Test helper: one change to a JSON document, to derive bad inputs from a good one. */
#ifndef TESTS_JSON_EDIT_H
#define TESTS_JSON_EDIT_H

#include <cjson/cJSON.h>

/* Sets the value at path (dot-separated, array indexes as numbers: "items.0.qty") to the JSON
 * text value, adding it if missing; value NULL removes it. Fails the test on a bad path. */
void json_edit(cJSON *root, const char *path, const char *value);

#endif
