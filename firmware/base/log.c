#include "log.h"

#include <stdarg.h>

void log_line(const char *level, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tillsyncd: %s: ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
