/* The backends built in: backend_registry.h is generated from TILLSYNC_BACKEND_KINDS
 * (backends/CMakeLists.txt), one BACKEND(kind) per backend. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

#define BACKEND(kind) extern const struct backend_ops backend_##kind;
#include "backend_registry.h"
#undef BACKEND

static const struct backend_ops *const registry[] = {
#define BACKEND(kind) &backend_##kind,
#include "backend_registry.h"
#undef BACKEND
};

#define NKINDS (sizeof registry / sizeof *registry)

const struct backend_ops *backend_ops_for(const char *kind)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(registry[i]->kind, kind) == 0)
            return registry[i];
    return NULL;
}

const char *backend_kinds(void)
{
    static char text[256];
    if (!text[0]) {
        size_t n = 0;
        for (size_t i = 0; i < NKINDS && n < sizeof text; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s%s",
                                  i == 0            ? ""
                                  : i == NKINDS - 1 ? " or "
                                                    : ", ",
                                  registry[i]->kind);
    }
    return text;
}
