#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_edit.h"

void json_edit(cJSON *root, const char *path, const char *value)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *parent = root;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = '\0';
        parent = cJSON_IsArray(parent) ? cJSON_GetArrayItem(parent, atoi(key))
                                       : cJSON_GetObjectItemCaseSensitive(parent, key);
        if (!parent)
            fail_msg("json_edit: no %s in %s", key, path);
        key = dot + 1;
    }
    cJSON *v = NULL;
    if (value && !(v = cJSON_Parse(value)))
        fail_msg("json_edit: bad JSON value %s", value);
    if (cJSON_IsArray(parent)) {
        int idx = atoi(key);
        if (!v)
            cJSON_DeleteItemFromArray(parent, idx);
        else if (idx < cJSON_GetArraySize(parent))
            cJSON_ReplaceItemInArray(parent, idx, v);
        else
            cJSON_AddItemToArray(parent, v);
    } else if (!v) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
    } else if (cJSON_GetObjectItemCaseSensitive(parent, key)) {
        cJSON_ReplaceItemInObjectCaseSensitive(parent, key, v);
    } else {
        cJSON_AddItemToObject(parent, key, v);
    }
}
