/* imap/section.c: every section kind, nested message parts, HEADER.FIELDS
 * building, nonexistent parts, partial clipping, BINARY decoding. */
#include <string.h>

#include "imap/section.h"
#include "tests/unit/unit.h"

static const char msg[] =
	"From: a@b\r\n"
	"Subject: hi\r\n"
	"  folded\r\n"
	"Content-Type: multipart/mixed; boundary=x\r\n"
	"\r\n"
	"--x\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"caf=C3=A9=\r\n"
	"!\r\n"
	"--x\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"From: c@d\r\n"
	"\r\n"
	"inner body\r\n"
	"--x\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"aGVsbG8=\r\n"
	"--x\r\n"
	"Content-Transfer-Encoding: x-gzip\r\n"
	"\r\n"
	"???\r\n"
	"--x--\r\n";

struct sec_case {
	uint32_t path[3];
	size_t depth;
	enum imap_section_spec kind;
	const char *fields; /* space separated */
	enum imap_section_status st;
	const char *want;
};

static const struct sec_case cases[] = {
	{ { 0 }, 0, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK, msg },
	{ { 0 }, 0, IMAP_SECTION_HEADER, NULL, IMAP_SECTION_OK,
	  "From: a@b\r\nSubject: hi\r\n  folded\r\n"
	  "Content-Type: multipart/mixed; boundary=x\r\n\r\n" },
	{ { 0 }, 0, IMAP_SECTION_HEADER_FIELDS, "subject FROM", IMAP_SECTION_OK,
	  "From: a@b\r\nSubject: hi\r\n  folded\r\n\r\n" },
	{ { 0 }, 0, IMAP_SECTION_HEADER_FIELDS, "X-None", IMAP_SECTION_OK,
	  "\r\n" },
	{ { 0 }, 0, IMAP_SECTION_HEADER_FIELDS_NOT, "subject content-type",
	  IMAP_SECTION_OK, "From: a@b\r\n\r\n" },
	{ { 0 }, 0, IMAP_SECTION_MIME, NULL, IMAP_SECTION_BAD, "" },
	{ { 1 }, 1, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK,
	  "caf=C3=A9=\r\n!" },
	{ { 1 }, 1, IMAP_SECTION_MIME, NULL, IMAP_SECTION_OK,
	  "Content-Type: text/plain\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n" },
	{ { 1 }, 1, IMAP_SECTION_HEADER, NULL, IMAP_SECTION_OK, "" },
	{ { 1 }, 1, IMAP_SECTION_TEXT, NULL, IMAP_SECTION_OK, "" },
	{ { 2 }, 1, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK,
	  "Subject: inner\r\nFrom: c@d\r\n\r\ninner body" },
	{ { 2 }, 1, IMAP_SECTION_HEADER, NULL, IMAP_SECTION_OK,
	  "Subject: inner\r\nFrom: c@d\r\n\r\n" },
	{ { 2 }, 1, IMAP_SECTION_HEADER_FIELDS, "From", IMAP_SECTION_OK,
	  "From: c@d\r\n\r\n" },
	{ { 2 }, 1, IMAP_SECTION_TEXT, NULL, IMAP_SECTION_OK, "inner body" },
	{ { 2 }, 1, IMAP_SECTION_MIME, NULL, IMAP_SECTION_OK,
	  "Content-Type: message/rfc822\r\n\r\n" },
	{ { 2, 1 }, 2, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK, "inner body" },
	{ { 2, 1 }, 2, IMAP_SECTION_MIME, NULL, IMAP_SECTION_OK,
	  "Subject: inner\r\nFrom: c@d\r\n\r\n" },
	{ { 2, 2 }, 2, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK, "" },
	{ { 9 }, 1, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK, "" },
	{ { 9 }, 1, IMAP_SECTION_HEADER_FIELDS, "From", IMAP_SECTION_OK, "" },
	{ { 1, 1, 1 }, 3, IMAP_SECTION_NONE, NULL, IMAP_SECTION_OK, "" },
};

UNIT_TEST(test_sections)
{
	struct mime_message m;
	mime_message_parse(&m, msg, strlen(msg));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sec_case *t = &cases[i];
		struct str fields[4];
		size_t nf = 0;
		if (t->fields) {
			struct str rest = str_from_cstr(t->fields), tok;
			while (nf < 4 && str_next_token(rest, &tok, &rest))
				fields[nf++] = tok;
		}
		struct imap_section sec = { t->path, t->depth, t->kind, fields,
					    nf };
		struct imap_section_data d;
		enum imap_section_status st = imap_section_fetch(&m, &sec, &d);
		CHECK_EQ_INT(st, t->st);
		struct str s = imap_section_bytes(&m, &d);
		if (s.len != strlen(t->want) || memcmp(s.p, t->want, s.len))
			fprintf(stderr, "case %zu: got [%.*s]\n", i, (int)s.len,
				s.p);
		CHECK_EQ_MEM(s.p, s.len, t->want, strlen(t->want));
		imap_section_data_free(&d);
	}
	mime_message_free(&m);
}

UNIT_TEST(test_binary)
{
	struct mime_message m;
	mime_message_parse(&m, msg, strlen(msg));
	struct imap_section_data d;
	CHECK_EQ_INT(imap_section_binary(&m, (const uint32_t[]){ 1 }, 1, &d),
		     IMAP_SECTION_OK);
	struct str s = imap_section_bytes(&m, &d);
	CHECK_EQ_MEM(s.p, s.len, "caf\xc3\xa9!", 6);
	imap_section_data_free(&d);
	CHECK_EQ_INT(imap_section_binary(&m, (const uint32_t[]){ 3 }, 1, &d),
		     IMAP_SECTION_OK);
	s = imap_section_bytes(&m, &d);
	CHECK_EQ_MEM(s.p, s.len, "hello", 5);
	imap_section_data_free(&d);
	CHECK_EQ_INT(imap_section_binary(&m, (const uint32_t[]){ 4 }, 1, &d),
		     IMAP_SECTION_UNKNOWN_CTE);
	imap_section_data_free(&d);
	CHECK_EQ_INT(imap_section_binary(&m, (const uint32_t[]){ 2 }, 1, &d),
		     IMAP_SECTION_OK);
	s = imap_section_bytes(&m, &d);
	CHECK_EQ_INT(s.len, 39);
	imap_section_data_free(&d);
	CHECK_EQ_INT(imap_section_binary(&m, (const uint32_t[]){ 7 }, 1, &d),
		     IMAP_SECTION_OK);
	CHECK_EQ_INT(imap_section_bytes(&m, &d).len, 0);
	imap_section_data_free(&d);
	CHECK_EQ_INT(imap_section_binary(&m, NULL, 0, &d), IMAP_SECTION_OK);
	CHECK_EQ_INT(imap_section_bytes(&m, &d).len, strlen(msg));
	imap_section_data_free(&d);
	mime_message_free(&m);
}

UNIT_TEST(test_partial)
{
	size_t off, len;
	imap_partial_clip(10, 0, 4, &off, &len);
	CHECK(off == 0 && len == 4);
	imap_partial_clip(10, 8, 4, &off, &len);
	CHECK(off == 8 && len == 2);
	imap_partial_clip(10, 10, 4, &off, &len);
	CHECK(off == 10 && len == 0);
	imap_partial_clip(10, UINT64_MAX, UINT64_MAX, &off, &len);
	CHECK(off == 10 && len == 0);
	imap_partial_clip(10, 3, UINT64_MAX, &off, &len);
	CHECK(off == 3 && len == 7);
	imap_partial_clip(0, 0, 0, &off, &len);
	CHECK(off == 0 && len == 0);
}

/* A header whose last field has no line end still ends in CRLF CRLF. */
UNIT_TEST(test_fields_no_eol)
{
	const char *h = "Subject: x";
	struct mime_message m;
	mime_message_parse(&m, h, strlen(h));
	struct str f = STR_LIT("subject");
	struct imap_section sec = { NULL, 0, IMAP_SECTION_HEADER_FIELDS, &f, 1 };
	struct imap_section_data d;
	imap_section_fetch(&m, &sec, &d);
	struct str s = imap_section_bytes(&m, &d);
	CHECK_EQ_MEM(s.p, s.len, "Subject: x\r\n\r\n", 14);
	imap_section_data_free(&d);
	mime_message_free(&m);
}

UNIT_MAIN(test_sections, test_binary, test_partial, test_fields_no_eol)
