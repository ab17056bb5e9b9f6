#include "mime/date.h"

#include <string.h>

struct cursor {
	const char *p;
	size_t len, i;
};

/* Skips whitespace, commas and (nested) comments. */
static void skip_cfws(struct cursor *c)
{
	int depth = 0;
	while (c->i < c->len) {
		char ch = c->p[c->i];
		if (depth > 0) {
			if (ch == '\\')
				c->i++;
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
		} else if (ch == '(') {
			depth++;
		} else if (ch != ' ' && ch != '\t' && ch != '\r' &&
			   ch != '\n' && ch != ',') {
			return;
		}
		c->i++;
	}
}

static bool is_alpha(char ch)
{
	return (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static struct str word(struct cursor *c)
{
	size_t s = c->i;
	while (c->i < c->len && is_alpha(c->p[c->i]))
		c->i++;
	return str_make(c->p + s, c->i - s);
}

/* Up to maxd digits; -1 if there are none. */
static int number(struct cursor *c, int maxd, int *ndigits)
{
	int v = 0, n = 0;
	while (c->i < c->len && is_digit(c->p[c->i]) && n < maxd) {
		v = v * 10 + (c->p[c->i] - '0');
		c->i++;
		n++;
	}
	if (ndigits)
		*ndigits = n;
	return n ? v : -1;
}

static int month_of(struct str w)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	if (w.len < 3)
		return 0;
	for (int m = 0; m < 12; m++) {
		const char *n = names + 3 * m;
		if (ascii_lower(w.p[0]) == n[0] && ascii_lower(w.p[1]) == n[1] &&
		    ascii_lower(w.p[2]) == n[2])
			return m + 1;
	}
	return 0;
}

static bool zone_of(struct str w, int *zone)
{
	static const struct {
		const char *name;
		int min;
	} zones[] = {
		{ "UT", 0 },	   { "UTC", 0 },      { "GMT", 0 },
		{ "Z", 0 },	   { "EST", -5 * 60 }, { "EDT", -4 * 60 },
		{ "CST", -6 * 60 }, { "CDT", -5 * 60 }, { "MST", -7 * 60 },
		{ "MDT", -6 * 60 }, { "PST", -8 * 60 }, { "PDT", -7 * 60 },
	};
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (str_eq_nocase(w, zones[i].name)) {
			*zone = zones[i].min;
			return true;
		}
	/* Section 4.3: other military zones "SHOULD be considered
	 * equivalent to -0000" since their signs were botched. */
	if (w.len == 1) {
		*zone = 0;
		return true;
	}
	return false;
}

int64_t mime_days_from_civil(int y, int m, int d)
{
	/* Howard Hinnant's days_from_civil. */
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool mime_date_parse(struct str s, struct mime_date *d)
{
	struct cursor c = { s.p, s.len, 0 };
	memset(d, 0, sizeof *d);
	skip_cfws(&c);
	/* An optional day name ("Mon," or "Monday"). */
	if (c.i < c.len && is_alpha(c.p[c.i])) {
		size_t save = c.i;
		struct str w = word(&c);
		if (month_of(w))
			c.i = save; /* "Jan 2 ..." style: no day name */
		skip_cfws(&c);
	}
	int nd;
	int day = number(&c, 2, NULL), month = 0;
	skip_cfws(&c);
	if (c.i < c.len && c.p[c.i] == '-')
		c.i++;
	if (day < 0) {
		/* asctime-like "Jan 2 10:00:00 2024" is tolerated too. */
		month = month_of(word(&c));
		skip_cfws(&c);
		day = number(&c, 2, NULL);
	} else {
		month = month_of(word(&c));
	}
	skip_cfws(&c);
	if (c.i < c.len && c.p[c.i] == '-')
		c.i++;
	int year = number(&c, 4, &nd);
	if (day < 1 || day > 31 || month == 0 || year < 0)
		return false;
	/* Section 4.3: two-digit years below 50 are 20xx, three-digit
	 * years get 1900 added. */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	skip_cfws(&c);
	int hour = number(&c, 2, NULL), min = 0, sec = 0;
	if (hour >= 0 && c.i < c.len && c.p[c.i] == ':') {
		c.i++;
		min = number(&c, 2, NULL);
		if (c.i < c.len && c.p[c.i] == ':') {
			c.i++;
			sec = number(&c, 2, NULL);
		}
	}
	if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 ||
	    sec > 60)
		hour = min = sec = 0;
	skip_cfws(&c);
	int zone = 0;
	if (c.i < c.len && (c.p[c.i] == '+' || c.p[c.i] == '-')) {
		int sign = c.p[c.i] == '-' ? -1 : 1;
		c.i++;
		int z = number(&c, 4, &nd);
		if (z >= 0 && nd == 4 && z % 100 < 60)
			zone = sign * (z / 100 * 60 + z % 100);
	} else if (c.i < c.len && is_alpha(c.p[c.i])) {
		if (!zone_of(word(&c), &zone))
			zone = 0;
	}
	d->year = year;
	d->month = month;
	d->day = day;
	d->hour = hour;
	d->min = min;
	d->sec = sec;
	d->zone_min = zone;
	d->epoch = mime_days_from_civil(year, month, day) * 86400 +
		   hour * 3600 + min * 60 + sec - (int64_t)zone * 60;
	return true;
}
