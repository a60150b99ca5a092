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
