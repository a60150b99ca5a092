/*
 * Logging, one line per event, with a level. Lines go to stderr ("tillsyncd: warn: ..."); when
 * stderr is systemd's journal stream (JOURNAL_STREAM names it), each line starts with its
 * priority as "<4>" so journald keeps the level; log_to_syslog() sends them to syslog(3) instead
 * (LOG_DAEMON), for an init that gives the daemon no stderr worth keeping.
 * Never pass a secret or a request's raw text: a POS may have put card data there.
 */
#ifndef TILLSYNC_LOG_H
#define TILLSYNC_LOG_H

#include <stdio.h>

/* syslog(3)'s priorities, which sd-daemon(3)'s "<N>" prefixes share. */
#define LOG_LEVEL_ERROR 3
#define LOG_LEVEL_WARN  4
#define LOG_LEVEL_INFO  6

#define log_info(...)  log_line(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_line(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_line(LOG_LEVEL_ERROR, __VA_ARGS__)

void log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on, lines go to syslog as ident (facility LOG_DAEMON, with the process id). */
void log_to_syslog(const char *ident);

#endif
