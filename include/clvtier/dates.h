/* dates.h - calendar days as int32 days since 1970-01-01 (proleptic Gregorian).
 * Ref: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms" (2013). */
#ifndef CLVTIER_DATES_H
#define CLVTIER_DATES_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_NO_DAY INT32_MIN /* "no date given" */

int32_t ct_days_from_civil(int y, int m, int d);
void ct_civil_from_days(int32_t days, int *y, int *m, int *d);

/* Parse text[0..n) as a date.  fmt NULL means automatic: YYYY-MM-DD,
 * YYYYMMDD, or YYYY-MM-DD[ T]HH:MM:SS (time checked, then dropped).
 * Otherwise fmt is a strptime-like pattern using %Y %m %d %H %M %S and
 * literal characters (e.g. "%d/%m/%Y").  Returns 0 on success, -1 if the
 * text is not a valid date in that format. */
int ct_date_parse(const char *text, size_t n, const char *fmt, int32_t *day);

/* A named time zone (the system's tzdata, $TZDIR or /usr/share/zoneinfo):
 * CT_EINVAL naming it when there is no such zone.  Offsets in seconds east
 * of UTC at instant t (seconds since 1970-01-01 UTC). */
typedef struct ct_tz ct_tz;
ct_status ct_tz_load(const char *name, ct_tz **tz, ct_error *err);
void ct_tz_free(ct_tz *tz);
int32_t ct_tz_offset(const ct_tz *tz, int64_t t);

/* As ct_date_parse; a text with a UTC offset (Z, +HH:MM) is the date in tz
 * at that instant instead of the UTC date (tz NULL: UTC).  Texts without an
 * offset are local times already: their own date. */
int ct_date_parse_tz(const char *text, size_t n, const char *fmt, const ct_tz *tz,
                     int32_t *day);

/* Write YYYY-MM-DD (11 bytes with NUL) into buf. */
void ct_date_format(int32_t day, char buf[11]);

/* Period units: length in days of one period. */
typedef enum ct_period { CT_PERIOD_DAY, CT_PERIOD_WEEK, CT_PERIOD_MONTH } ct_period;
double ct_period_days(ct_period p); /* 1, 7, 365.2425/12 */
const char *ct_period_name(ct_period p);
/* "day"/"week"/"month" -> 0 and *p; -1 otherwise. */
int ct_period_parse(const char *s, ct_period *p);

#ifdef __cplusplus
}
#endif

#endif
