/* imap/list_match.c (LIST patterns, reference joining, root names) and
 * imap/datetime.c (APPEND's date-time), table-driven. */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "imap/datetime.h"
#include "imap/list_match.h"
#include "tests/unit/unit.h"

struct match_case {
	const char *pattern, *name;
	int want;
};

static const struct match_case match_cases[] = {
	{ "*", "INBOX", 1 },
	{ "*", "a/b/c", 1 },
	{ "%", "a", 1 },
	{ "%", "a/b", 0 },
	{ "a/%", "a/b", 1 },
	{ "a/%", "a/b/c", 0 },
	{ "a/*", "a/b/c", 1 },
	{ "a/*", "a", 0 },
	{ "a*", "a", 1 },
	{ "a%", "a/b", 0 },
	{ "%/%", "a/b", 1 },
	{ "%/%", "a/b/c", 0 },
	{ "*/c", "a/b/c", 1 },
	{ "%b%", "abc", 1 },
	{ "%b%", "a/b", 0 },
	{ "Sent", "Sent", 1 },
	{ "sent", "Sent", 0 },     /* only INBOX is case-insensitive */
	{ "inbox", "INBOX", 1 },
	{ "In%", "INBOX", 1 },
	{ "inbox/%", "INBOX/x", 1 },
	{ "inbox/X", "INBOX/x", 0 }, /* below INBOX, case counts */
	{ "inboxes", "INBOXes", 0 }, /* not INBOX: case counts */
	{ "INBOXes", "INBOXes", 1 },
	{ "", "INBOX", 0 },
	{ "", "", 1 },
	{ "**%%**", "", 1 },
	{ "a**b", "ab", 1 },
	{ "*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay", 0 },
	{ "Entw\xc3\xbc*", "Entw\xc3\xbcrfe", 1 },
};

UNIT_TEST(test_match)
{
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
		const struct match_case *c = &match_cases[i];
		bool got = imap_list_match(str_from_cstr(c->pattern),
					   str_from_cstr(c->name));
		if (got != (c->want != 0))
			fprintf(stderr, "case %zu: \"%s\" vs \"%s\"\n", i,
				c->pattern, c->name);
		CHECK_EQ_INT(got, c->want);
	}
}

UNIT_TEST(test_pattern_too_long)
{
	static char p[IMAP_LIST_PATTERN_MAX + 2];
	memset(p, '*', sizeof p - 1);
	CHECK(!imap_list_match(str_make(p, IMAP_LIST_PATTERN_MAX + 1),
			       str_from_cstr("a")));
	CHECK(imap_list_match(str_make(p, IMAP_LIST_PATTERN_MAX),
			      str_from_cstr("a")));
}

UNIT_TEST(test_join_and_root)
{
	struct buf b = BUF_INIT;
	imap_list_pattern_join(str_from_cstr(""), str_from_cstr("%"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "%");
	imap_list_pattern_join(str_from_cstr("a/"), str_from_cstr("%"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "a/%");
	imap_list_pattern_join(str_from_cstr("a/"), str_from_cstr("/b"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "a/b");
	imap_list_pattern_join(str_from_cstr("a"), str_from_cstr("b"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "ab");
	imap_list_root(str_from_cstr(""), &b);
	CHECK_EQ_INT(b.len, 0);
	imap_list_root(str_from_cstr("news/comp/mail"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "news/");
	imap_list_root(str_from_cstr("flat"), &b);
	CHECK_EQ_INT(b.len, 0);
	buf_free(&b);
}

struct date_case {
	const char *in;
	int ok;
	int64_t epoch;
};

static const struct date_case date_cases[] = {
	{ "17-Jul-1996 02:44:25 -0700", 1, 837596665 },
	{ " 1-Jan-1970 00:00:00 +0000", 1, 0 },
	{ "1-Jan-1970 00:00:00 +0000", 1, 0 },
	{ "01-jan-1970 01:00:00 +0100", 1, 0 },
	{ "29-Feb-2024 12:00:00 +0000", 1, 1709208000 },
	{ "29-Feb-2023 12:00:00 +0000", 0, 0 },
	{ "31-Apr-2023 12:00:00 +0000", 0, 0 },
	{ "17-Jul-1996 24:00:00 +0000", 0, 0 },
	{ "17-Jul-1996 02:44:25", 0, 0 },
	{ "17-Jul-1996 02:44:25 0700", 0, 0 },
	{ "17-Jly-1996 02:44:25 +0000", 0, 0 },
	{ "17-Jul-96 02:44:25 +0000", 0, 0 },
	{ "17-Jul-1996 02:44:25 +0000 ", 0, 0 },
	{ "17-Jul-1996 2:44:25 +0000", 0, 0 },
	{ "", 0, 0 },
	{ "1", 0, 0 },
};

UNIT_TEST(test_datetime)
{
	for (size_t i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
		const struct date_case *c = &date_cases[i];
		int64_t e = -1;
		bool ok = imap_datetime_parse(str_from_cstr(c->in), &e);
		if (ok != (c->ok != 0))
			fprintf(stderr, "date case %zu: \"%s\"\n", i, c->in);
		CHECK_EQ_INT(ok, c->ok);
		if (ok && c->ok)
			CHECK_EQ_INT(e, c->epoch);
	}
}

UNIT_MAIN(test_match, test_pattern_too_long, test_join_and_root,
	  test_datetime)
