/* mime/search_text.c: case folding coverage, substring matching, the
 * decoded header and body texts, the sent date. */
#include <stdio.h>
#include <string.h>

#include "mime/search_text.h"
#include "tests/unit/unit.h"

struct match_case {
	const char *hay, *needle;
	bool match;
};

static const struct match_case matches[] = {
	{ "Hello World", "world", true },
	{ "Hello World", "", true },
	{ "", "x", false },
	{ "CAF\xc3\x89", "caf\xc3\xa9", true },          /* É é */
	{ "\xc5\x81\xc3\xb3" "dz", "\xc5\x82\xc3\x93" "DZ", true }, /* Łó / łÓ */
	{ "\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", "\xcf\x83\xce\xbf\xcf\x86", true }, /* ΣΟΦΙΑ / σοφ */
	{ "\xcf\x82", "\xce\xa3", true },                 /* final sigma */
	{ "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", "\xd0\xbf\xd1\x80\xd0\xb8", true }, /* ПРИВЕТ / при */
	{ "\xd0\x81", "\xd1\x91", true },                 /* Ё ё */
	{ "\xc3\xbf", "\xc5\xb8", true },                 /* ÿ Ÿ */
	{ "stra\xc3\x9f" "e", "STRASSE", false },         /* no full folding */
	{ "abc\xff", "C\xef\xbf\xbd", true },             /* invalid -> U+FFFD */
	{ "k", "\xe2\x84\xaa", false },                   /* Kelvin sign: not covered */
};

UNIT_TEST(test_match)
{
	for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++) {
		bool r = search_text_contains(str_from_cstr(matches[i].hay),
					      str_from_cstr(matches[i].needle));
		if (r != matches[i].match)
			fprintf(stderr, "case %zu\n", i);
		CHECK(r == matches[i].match);
	}
	CHECK_EQ_INT(search_fold_char('A'), 'a');
	CHECK_EQ_INT(search_fold_char(0xd7), 0xd7);
	CHECK_EQ_INT(search_fold_char(0x130), 0x130);
	CHECK_EQ_INT(search_fold_char(0x17f), 's');
	CHECK_EQ_INT(search_fold_char(0x4c0), 0x4cf);
}

static const char msg[] =
	"Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus\r\n"
	" K=?iso-8859-1?q?=F6?=ln\r\n"
	"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\n"
	"Date: Sat, 11 Mar 2023 23:30:00 -0800\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Gr=FC=DFe\r\n"
	"--b\r\n"
	"Content-Type: image/png\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"bmVlZGxl\r\n"
	"--b\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner-subject\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"aW5uZXIgd29yZA==\r\n"
	"--b--\r\n";

UNIT_TEST(test_texts)
{
	struct mime_message m;
	mime_message_parse(&m, msg, strlen(msg));
	struct buf o = BUF_INIT;
	CHECK(search_header_text(&m, "subject", &o));
	CHECK(search_text_contains(buf_str(&o), STR_LIT("GR\xc3\x9c\xc3\x9f" "E")));
	CHECK(!search_header_text(&m, "X-Nope", &o));
	buf_clear(&o);
	CHECK(search_header_text(&m, "From", &o));
	CHECK(search_text_contains(buf_str(&o), STR_LIT("andr\xc3\xa9")));
	CHECK(search_text_contains(buf_str(&o), STR_LIT("example.ORG")));
	buf_clear(&o);
	search_body_text(&m, &o);
	CHECK(search_text_contains(buf_str(&o), STR_LIT("gr\xc3\xbc\xc3\x9f")));
	CHECK(search_text_contains(buf_str(&o), STR_LIT("inner word")));
	CHECK(!search_text_contains(buf_str(&o), STR_LIT("needle")));
	CHECK(!search_text_contains(buf_str(&o), STR_LIT("inner-subject")));
	buf_clear(&o);
	search_all_text(&m, &o);
	CHECK(search_text_contains(buf_str(&o), STR_LIT("inner-subject")));
	CHECK(search_text_contains(buf_str(&o), STR_LIT("k\xc3\xb6ln")));
	buf_free(&o);
	int y, mo, d;
	CHECK(search_sent_date(&m, &y, &mo, &d));
	/* The header's own zone: the 11th, though UTC is the 12th. */
	CHECK(y == 2023 && mo == 3 && d == 11);
	mime_message_free(&m);

	mime_message_parse(&m, "X: y\r\n\r\n", 8);
	CHECK(!search_sent_date(&m, &y, &mo, &d));
	mime_message_free(&m);
}

/* FROM/TO/CC: the address as meant, whichever legal spelling the
 * header uses (RFC 5322 3.4, 3.2.4 quoted local parts, CFWS). */
UNIT_TEST(test_address_forms)
{
	static const char *const forms[] = {
		"From: alice@example.org\r\n",
		"From: \"alice\"@example.org\r\n",
		"From: alice@(home)example.org\r\n",
		"From: alice @ example.org\r\n",
		"From: Alice Liddell <alice @example.org>\r\n",
		"From: =?utf-8?q?Alice?= <\"al\\ice\"@example.org>\r\n",
		"From: friends: bob@example.net, alice@ example.org;\r\n",
		"From: alice(x)@example.org\r\n",
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char text[256];
		snprintf(text, sizeof text, "%sSubject: x\r\n\r\nbody\r\n",
			 forms[i]);
		struct mime_message m;
		mime_message_parse(&m, text, strlen(text));
		struct buf o = BUF_INIT;
		CHECK(search_address_text(&m, "From", &o));
		if (!search_text_contains(buf_str(&o),
					  STR_LIT("alice@example.org")))
			fprintf(stderr, "form %zu: %.*s\n", i, (int)o.len,
				o.data);
		CHECK(search_text_contains(buf_str(&o),
					   STR_LIT("alice@example.org")));
		CHECK(!search_address_text(&m, "To", &o));
		buf_free(&o);
		mime_message_free(&m);
	}
}

UNIT_MAIN(test_match, test_texts, test_address_forms)
