#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>

enum log_sink { SINK_UNKNOWN, SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };
static enum log_sink sink;

/* JOURNAL_STREAM is "device:inode" of the stream systemd connected stderr to. It is inherited,
 * so it counts only if stderr is still that stream (not redirected to a file by a script). */
static enum log_sink stderr_sink(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(fileno(stderr), &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        return SINK_JOURNAL;
    return SINK_STDERR;
}

void log_to_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    sink = SINK_SYSLOG;
}

static const char *level_name(int level)
{
    return level <= LOG_LEVEL_ERROR ? "error" : level == LOG_LEVEL_WARN ? "warn" : "info";
}

void log_line(int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink == SINK_UNKNOWN)
        sink = stderr_sink();
    switch (sink) {
    case SINK_SYSLOG:
        syslog(level, "%s", msg); /* the text is data, never a format */
        break;
    case SINK_JOURNAL:
        fprintf(stderr, "<%d>%s: %s\n", level, level_name(level), msg);
        break;
    default:
        fprintf(stderr, "tillsyncd: %s: %s\n", level_name(level), msg);
        break;
    }
}
