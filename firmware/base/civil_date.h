/*
 * Proleptic Gregorian dates as days since 1970-01-01 and back (H. Hinnant's algorithms), and the
 * fixed-width digit fields of the date formats tillsync reads: what a sale's `at`, a server's
 * Date and a platform's UTC timestamps are made of. Pure functions, no time zone database.
 */
#ifndef TILLSYNC_CIVIL_DATE_H
#define TILLSYNC_CIVIL_DATE_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d. */
int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d);
/* The date of a day number, the inverse of civil_days_from_date. */
void civil_date_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* The value of the n decimal digits at s, or -1 if one of them is not a digit. */
int civil_digits(const char *s, int n);

#endif
