/* imap/istring.c: quoted vs literal, escapes, NIL, atoms. */
#include <string.h>

#include "imap/istring.h"
#include "tests/unit/unit.h"

UNIT_TEST(test_strings)
{
	struct buf o = BUF_INIT;
	istring_write(&o, STR_LIT("abc"), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"abc\"");
	buf_clear(&o);
	istring_write(&o, STR_LIT("a\"b\\c"), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"a\\\"b\\\\c\"");
	buf_clear(&o);
	istring_write(&o, STR_LIT(""), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"\"");
	buf_clear(&o);
	istring_write(&o, STR_LIT("a\r\nb"), false);
	CHECK_EQ_STR(buf_cstr(&o), "{4}\r\na\r\nb");
	buf_clear(&o);
	istring_write(&o, STR_LIT("\xc3\xa9"), false);
	CHECK_EQ_STR(buf_cstr(&o), "{2}\r\n\xc3\xa9");
	buf_clear(&o);
	istring_write(&o, STR_LIT("\xc3\xa9"), true);
	CHECK_EQ_STR(buf_cstr(&o), "\"\xc3\xa9\"");
	buf_clear(&o);
	istring_write(&o, STR_LIT("\xc3("), true); /* invalid UTF-8 */
	CHECK_EQ_STR(buf_cstr(&o), "{2}\r\n\xc3(");
	buf_clear(&o);
	istring_write(&o, STR_LIT("a\0b"), true);
	CHECK_EQ_MEM(o.data, o.len, "{5}\r\na\xef\xbf\xbd" "b", 10);
	buf_clear(&o);
	istring_write_nstring(&o, NULL, false);
	CHECK_EQ_STR(buf_cstr(&o), "NIL");
	buf_clear(&o);
	struct str s = STR_LIT("NIL");
	istring_write_nstring(&o, &s, false);
	CHECK_EQ_STR(buf_cstr(&o), "\"NIL\"");
	buf_clear(&o);
	istring_write_astring(&o, STR_LIT("INBOX.Sent]"), false);
	CHECK_EQ_STR(buf_cstr(&o), "INBOX.Sent]");
	buf_clear(&o);
	istring_write_astring(&o, STR_LIT("two words"), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"two words\"");
	buf_clear(&o);
	istring_write_astring(&o, STR_LIT(""), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"\"");
	buf_clear(&o);
	istring_write_astring(&o, STR_LIT("a%"), false);
	CHECK_EQ_STR(buf_cstr(&o), "\"a%\"");
	buf_clear(&o);
	struct buf big = BUF_INIT;
	for (int i = 0; i < ISTRING_QUOTED_MAX + 1; i++)
		buf_appendc(&big, 'x');
	istring_write(&o, buf_str(&big), false);
	CHECK(o.len > 7 && memcmp(o.data, "{1025}\r\n", 8) == 0);
	buf_free(&big);
	buf_free(&o);
}

UNIT_MAIN(test_strings)
