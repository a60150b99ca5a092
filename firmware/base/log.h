/*
 * Logging to stderr, one line per event, for the service manager's journal. Never pass a secret
 * or a request's raw text: a POS may have put card data there.
 */
#ifndef TILLSYNC_LOG_H
#define TILLSYNC_LOG_H

#include <stdio.h>

#define log_info(...)  log_line("info", __VA_ARGS__)
#define log_warn(...)  log_line("warn", __VA_ARGS__)
#define log_error(...) log_line("error", __VA_ARGS__)

void log_line(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
