/* mime/decode.c: quoted-printable, base64, charsets, RFC 2047 words;
 * table-driven, with malformed input that must still decode. */
#include <string.h>

#include "mime/decode.h"
#include "tests/unit/unit.h"

struct case2 {
	const char *in, *out;
};

static const struct case2 qp[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "a=3Db", "a=b" },
	{ "a=3db", "a=b" },
	{ "soft=\r\nbreak", "softbreak" },
	{ "soft=  \r\nbreak", "softbreak" },
	{ "soft=\nbreak", "softbreak" },
	{ "trail   \r\nx", "trail\r\nx" },
	{ "bad=ZZ", "bad=ZZ" },
	{ "end=", "end" },
	{ "end=4", "end=4" },
	{ "Caf=C3=A9", "Caf\xc3\xa9" },
	{ "lf\nonly", "lf\r\nonly" },
};

static const struct case2 qhdr[] = {
	{ "a_b", "a b" },
	{ "=E9t=E9", "\xe9t\xe9" },
};

static const struct case2 b64[] = {
	{ "", "" },
	{ "aGVsbG8=", "hello" },
	{ "aGVs\r\nbG8=", "hello" },
	{ "aGVsbG8", "hello" },
	{ "a G V s b G 8 =", "hello" },
	{ "aGVs!!bG8=garbage", "hello" },
	{ "YQ==", "a" },
	{ "YQ", "a" },
	{ "Y", "" },
};

static const struct case2 words[] = {
	{ "plain text", "plain text" },
	{ "=?UTF-8?B?R3LDvMOfZQ==?=", "Gr\xc3\xbc\xc3\x9f" "e" },
	{ "=?iso-8859-1?q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	/* RFC 2047 section 8 examples: space between words vanishes. */
	{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?=  \r\n  =?ISO-8859-1?Q?b?=)", "(ab)" },
	{ "(=?ISO-8859-1?Q?a?= b)", "(a b)" },
	{ "(=?ISO-8859-1?Q?a_b?=)", "(a b)" },
	/* A character split across two words of one charset. */
	{ "=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "\xe2\x82\xac" },
	{ "=?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=", "\xe3\x81\xa6\xe3\x81\x99\xe3\x81\xa8" },
	{ "=?windows-1252?Q?=93x=94?=", "\xe2\x80\x9cx\xe2\x80\x9d" },
	{ "=?x-unknown?Q?caf=E9?=", "caf\xef\xbf\xbd" },
	{ "=?utf-8?Q?bad=FF?=", "bad\xef\xbf\xbd" },
	{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },
	{ "=?utf-8?Q?no end", "=?utf-8?Q?no end" },
	{ "=?utf-8*en?Q?lang?=", "lang" },
	{ "raw \xff byte", "raw \xef\xbf\xbd byte" },
};

UNIT_TEST(test_qp)
{
	for (size_t i = 0; i < sizeof qp / sizeof qp[0]; i++) {
		struct buf o = BUF_INIT;
		mime_qp_decode(str_from_cstr(qp[i].in), &o, false);
		CHECK_EQ_STR(buf_cstr(&o), qp[i].out);
		buf_free(&o);
	}
	for (size_t i = 0; i < sizeof qhdr / sizeof qhdr[0]; i++) {
		struct buf o = BUF_INIT;
		mime_qp_decode(str_from_cstr(qhdr[i].in), &o, true);
		CHECK_EQ_STR(buf_cstr(&o), qhdr[i].out);
		buf_free(&o);
	}
}

UNIT_TEST(test_base64)
{
	for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
		struct buf o = BUF_INIT;
		mime_base64_decode(str_from_cstr(b64[i].in), &o);
		CHECK_EQ_STR(buf_cstr(&o), b64[i].out);
		buf_free(&o);
	}
}

UNIT_TEST(test_words)
{
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		struct buf o = BUF_INIT;
		mime_header_decode(str_from_cstr(words[i].in), &o);
		CHECK_EQ_STR(buf_cstr(&o), words[i].out);
		buf_free(&o);
	}
}

UNIT_TEST(test_charset)
{
	struct buf o = BUF_INIT;
	CHECK(mime_charset_to_utf8(STR_LIT("ISO-8859-1"), STR_LIT("\xe9"), &o));
	CHECK_EQ_STR(buf_cstr(&o), "\xc3\xa9");
	buf_clear(&o);
	CHECK(!mime_charset_to_utf8(STR_LIT("no-such-charset"),
				    STR_LIT("a\xe9"), &o));
	CHECK_EQ_STR(buf_cstr(&o), "a\xef\xbf\xbd");
	buf_clear(&o);
	/* Invalid bytes in a known charset: marked, the rest kept. */
	CHECK(!mime_charset_to_utf8(STR_LIT("UTF-16LE"), STR_LIT("a\0b"), &o));
	CHECK(o.len >= 1 && o.data[0] == 'a');
	buf_clear(&o);
	mime_utf8_sanitize(STR_LIT("\xc0\xaf\xed\xa0\x80ok\xf4\x90\x80\x80"), &o);
	CHECK_EQ_STR(buf_cstr(&o), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	buf_free(&o);
}

UNIT_MAIN(test_qp, test_base64, test_words, test_charset)
