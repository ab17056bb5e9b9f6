/* RFC 5322 section 3.3 date-time, parsed leniently the way real mail
 * needs (section 4.3 obsolete forms too): optional day name, 2- and
 * 3-digit years, missing seconds, named zones (UT, GMT, EST..PDT,
 * military letters count as +0000 per section 4.3), a missing zone
 * (taken as +0000), comments, odd spacing and commas. */
#ifndef POSTERN_MIME_DATE_H
#define POSTERN_MIME_DATE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

struct mime_date {
	int year, month, day;       /* as written, in the date's own zone */
	int hour, min, sec;
	int zone_min;               /* offset east of UTC in minutes */
	int64_t epoch;              /* seconds since 1970 UTC */
};

/* False when no day, month and year can be found. */
bool mime_date_parse(struct str s, struct mime_date *d);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t mime_days_from_civil(int y, int m, int d);

#endif
