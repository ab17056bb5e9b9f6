#include "imap/datetime.h"

#include <string.h>

#include "mime/date.h"

static const char months[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
				    "jul", "aug", "sep", "oct", "nov", "dec" };

/* n digits at *p; advances it. */
static bool digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (*p >= end || (*p)[0] < '0' || (*p)[0] > '9')
			return false;
		v = v * 10 + ((*p)[0] - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

static int month_days(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

bool imap_datetime_parse(struct str s, int64_t *epoch)
{
	const char *p = s.p, *end = s.p + s.len;
	int day, mon = 0, year, hh, mm, ss, zh, zm;
	if (p < end && *p == ' ')
		p++;
	if (end - p >= 2 && p[1] != '-') {
		if (!digits(&p, end, 2, &day))
			return false;
	} else if (!digits(&p, end, 1, &day)) {
		return false;
	}
	if (!expect(&p, end, '-') || end - p < 3)
		return false;
	for (int i = 0; i < 12 && !mon; i++)
		if (ascii_lower(p[0]) == months[i][0] &&
		    ascii_lower(p[1]) == months[i][1] &&
		    ascii_lower(p[2]) == months[i][2])
			mon = i + 1;
	if (!mon)
		return false;
	p += 3;
	if (!expect(&p, end, '-') || !digits(&p, end, 4, &year) ||
	    !expect(&p, end, ' ') || !digits(&p, end, 2, &hh) ||
	    !expect(&p, end, ':') || !digits(&p, end, 2, &mm) ||
	    !expect(&p, end, ':') || !digits(&p, end, 2, &ss) ||
	    !expect(&p, end, ' ') || p >= end || (*p != '+' && *p != '-'))
		return false;
	int sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, end, 2, &zh) || !digits(&p, end, 2, &zm) || p != end)
		return false;
	/* ss 60: a leap second is a valid time of day (RFC 5322 3.3). */
	if (day < 1 || day > month_days(year, mon) || hh > 23 || mm > 59 ||
	    ss > 60 || zm > 59)
		return false;
	*epoch = mime_days_from_civil(year, mon, day) * 86400 +
		 hh * 3600 + mm * 60 + ss - sign * (zh * 3600 + zm * 60);
	return true;
}
