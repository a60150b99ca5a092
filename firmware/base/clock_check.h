/*
 * Is a time plausible? A till's clock may be wrong for hours after a power cut, and a POS may
 * keep its own. tillsync never corrects a sale's `at` (the POS's word is the record); it only
 * notices, so that a technician sees it in status: a sale time before this firmware was built or
 * more than a day ahead of the till's clock, and the till's clock against the servers' Date.
 * Pure functions: no clock is read here, every "now" is the caller's.
 */
#ifndef TILLSYNC_CLOCK_CHECK_H
#define TILLSYNC_CLOCK_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* A sale time this far ahead of the till's clock is implausible (time zones span 26 h, but `at`
 * carries its offset: the instants compare directly). */
#define CLOCK_AHEAD_MAX_S 86400
/* A difference with a server's clock beyond this is worth a warning (TLS and tokens start to
 * fail at minutes; the Date header itself has whole seconds and a network's delay). */
#define CLOCK_SKEW_WARN_S 60

/* Seconds since 1970 (UTC) of an RFC 3339 date-time with Z or an offset ("2026-04-07T19:45:00
 * +01:00", fractions ignored). Returns 0, or -1 when s is not one. */
int clock_parse_rfc3339(const char *s, int64_t *out);
/* Seconds since 1970 of an HTTP Date value: the IMF-fixdate every server sends ("Sun, 06 Nov
 * 1994 08:49:37 GMT"), or the two obsolete forms a recipient accepts (RFC 9110 5.6.7: "Sunday,
 * 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"). Returns 0, or -1. */
int clock_parse_http_date(const char *s, int64_t *out);

/* The firmware's build date (UTC midnight; SOURCE_DATE_EPOCH's when the build set it): no sale
 * happened before the software that records it was built. */
int64_t clock_build_epoch(void);

enum clock_verdict { CLOCK_PLAUSIBLE, CLOCK_BEFORE_BUILD, CLOCK_AHEAD };
enum clock_verdict clock_judge_sale(int64_t at_s, int64_t now_s, int64_t built_s);
/* "T042:A17 at 2019-01-01T10:00:00Z is before this firmware was built (2026-12-01)": what status
 * shows of an implausible sale. */
void clock_describe_sale(char *out, size_t cap, const char *ref, const char *at,
                         enum clock_verdict v, int64_t built_s);
/* The till's clock against a server's, skew_s = till - server: "3 days slow", "2 h fast",
 * "40 s slow", "in step". */
void clock_describe_skew(char *out, size_t cap, int64_t skew_s);

#endif
