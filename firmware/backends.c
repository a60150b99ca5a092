#include <stdio.h>
#include <string.h>

#include "backend.h"

extern const struct backend_ops backend_glu;

static const struct backend_ops *const all[] = {&backend_glu};

const struct backend_ops *backend_ops_for(const char *kind)
{
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (strcmp(all[i]->kind, kind) == 0)
            return all[i];
    return NULL;
}

int backend_json_id(const cJSON *v, int64_t *id, char *what, size_t whatlen)
{
    const char *kind = !v                  ? "missing"
                       : cJSON_IsString(v) ? "a string"
                       : cJSON_IsNull(v)   ? "null"
                       : cJSON_IsBool(v)   ? "a boolean"
                       : cJSON_IsObject(v) ? "an object"
                       : cJSON_IsArray(v)  ? "an array"
                                           : NULL;
    if (!kind) {
        double d = v->valuedouble;
        /* The range test comes first (and fails for NaN): converting a double outside int64_t's
         * range is undefined behaviour, and 1e300 is a valid JSON number. */
        if (d >= 1 && d <= (double)BACKEND_ID_MAX && (double)(int64_t)d == d) {
            *id = (int64_t)d;
            return 1;
        }
        if (what)
            snprintf(what, whatlen, "%.15g", d);
        return 0;
    }
    if (what)
        snprintf(what, whatlen, "%s", kind);
    return 0;
}
