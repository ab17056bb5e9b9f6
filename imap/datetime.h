/* IMAP date-time, as APPEND sends it (RFC 9051 section 9, date-time):
 * "dd-Mon-yyyy hh:mm:ss +zzzz", the day space-padded or two digits
 * (one digit is accepted too), the month name in any case. Pure. */
#ifndef POSTERN_IMAP_DATETIME_H
#define POSTERN_IMAP_DATETIME_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

/* s is the quoted string's contents. False when it is not a valid
 * date-time (bad field, day past the month's end, hour > 23, zone
 * minutes > 59); else *epoch gets seconds since 1970 UTC. */
bool imap_datetime_parse(struct str s, int64_t *epoch);
#endif
