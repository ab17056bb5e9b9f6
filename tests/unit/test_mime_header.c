/* mime/header.c: walking fields (folded, LF-only, garbage lines, no
 * blank line), finding, unfolding, splitting header from body. */
#include <string.h>

#include "mime/header.h"
#include "tests/unit/unit.h"

UNIT_TEST(test_iterate)
{
	const char *h = "Subject: a\r\n b\r\nX-Garbage line\r\nFrom:x@y\n"
			"To : z\r\n\r\nBody: not a field\r\n";
	struct mime_header_iter it;
	struct mime_field f;
	mime_header_iter_init(&it, str_from_cstr(h));
	CHECK(mime_header_next(&it, &f));
	CHECK_EQ_MEM(f.name.p, f.name.len, "Subject", 7);
	CHECK_EQ_MEM(f.value.p, f.value.len, " a\r\n b", 6);
	CHECK_EQ_MEM(f.whole.p, f.whole.len, "Subject: a\r\n b\r\n", 16);
	CHECK(mime_header_next(&it, &f));
	CHECK_EQ_MEM(f.name.p, f.name.len, "From", 4);
	CHECK_EQ_MEM(f.whole.p, f.whole.len, "From:x@y\n", 9);
	CHECK(mime_header_next(&it, &f));
	CHECK_EQ_MEM(f.name.p, f.name.len, "To", 2);
	CHECK(!mime_header_next(&it, &f));
}

UNIT_TEST(test_find_unfold)
{
	const char *h = "X: 1\r\nsubject:  hello\r\n\tworld  \r\nSubject: 2nd\r\n";
	struct mime_field f;
	CHECK(mime_header_find(str_from_cstr(h), "SUBJECT", &f));
	struct buf b = BUF_INIT;
	mime_header_unfold(f.value, &b);
	CHECK_EQ_STR(buf_cstr(&b), "hello\tworld");
	buf_free(&b);
	CHECK(!mime_header_find(str_from_cstr(h), "Subj", &f));
	/* The last field without a line end. */
	CHECK(mime_header_find(STR_LIT("A: 1\r\nB: 2"), "B", &f));
	CHECK_EQ_MEM(f.value.p, f.value.len, " 2", 2);
}

struct split_case {
	const char *msg;
	size_t hdr_len;
};

static const struct split_case splits[] = {
	{ "", 0 },
	{ "\r\n", 2 },
	{ "\n", 1 },
	{ "\r\nbody", 2 },
	{ "A: b\r\n\r\nbody", 8 },
	{ "A: b\n\nbody", 6 },
	{ "A: b\r\n", 6 },
	{ "A: b", 4 },
	{ "A: b\r\n \r\nstill header\r\n\r\nx", 25 }, /* " " is not blank */
	{ "A: b\r\r\nc", 8 }, /* a bare CR is data, not a line end */
};

/* What submission asks before adding Date: and Message-ID:
 * (smtp/deliver_job.c): a field anywhere in the header section, any
 * case, LF or CRLF; not a longer name, not a folded line's text, not
 * the body; a header kept only in part (a message spooled past its
 * first bytes) still answers for the fields it has. */
UNIT_TEST(test_find_submission_fields)
{
	struct mime_field f;
	const char *h = "From: a@b\r\nmessage-id: <x@y>\r\nX-Date: no\r\n"
			"Subject: long\r\n Date: folded, not a field\r\n"
			"\r\nDate: in the body\r\n";
	CHECK(mime_header_find(str_from_cstr(h), "Message-ID", &f));
	CHECK(!mime_header_find(str_from_cstr(h), "Date", &f));
	CHECK(mime_header_find(STR_LIT("Date: x\n\nbody"), "Date", &f));
	CHECK(mime_header_find(STR_LIT("DATE:x"), "Date", &f));
	CHECK(!mime_header_find(STR_LIT("\nDate: x\n"), "Date", &f));
	CHECK(!mime_header_find(STR_LIT("Dates: x\n"), "Date", &f));
	CHECK(!mime_header_find(STR_LIT("Date x\n"), "Date", &f));
	CHECK(!mime_header_find(STR_LIT(""), "Date", &f));
	CHECK(!mime_header_find(str_make(NULL, 0), "Date", &f));
	/* RFC 5322 4.5.1 (obs-orig-date): space before the colon. */
	CHECK(mime_header_find(STR_LIT("Date : x\n"), "Date", &f));
}

UNIT_TEST(test_split)
{
	for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
		size_t hl = 99;
		mime_header_split(splits[i].msg, strlen(splits[i].msg), &hl);
		CHECK_EQ_INT(hl, splits[i].hdr_len);
	}
}

/* A field fed with every possible cut point keeps its value. */
UNIT_TEST(test_prefixes)
{
	const char *h = "Subject: x\r\n y\r\n\r\n";
	size_t n = strlen(h);
	for (size_t cut = 0; cut <= n; cut++) {
		struct mime_field f;
		bool found = mime_header_find(str_make(h, cut), "Subject", &f);
		CHECK(found == (cut >= 8));
		if (found)
			CHECK(f.value.p + f.value.len <= h + cut);
	}
}

UNIT_MAIN(test_iterate, test_find_unfold, test_find_submission_fields,
	  test_split, test_prefixes)
