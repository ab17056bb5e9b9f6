/* mime/decode.c: quoted-printable, base64, charsets, RFC 2047 words;
 * table-driven, with malformed input that must still decode. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "mime/decode.h"
#include "tests/unit/unit.h"

/* CPU seconds of this process: load from other programs on the machine
 * does not count. Linear decoders handle 1 MB in a few ms (-O2); the
 * sanitizer build is allowed 6x more. */
static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
#ifdef SAN_BUILD
#define FAST_LIMIT 0.30
#else
#define FAST_LIMIT 0.05
#endif

/* in: pat repeated to n octets (malloc'ed, NUL-terminated). */
static char *repeat(const char *pat, size_t n)
{
	size_t pl = strlen(pat);
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = pat[i % pl];
	s[n] = '\0';
	return s;
}

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
	/* Starts of words that never end, then a real word. */
	{ "=?utf-8?q?a =?utf-8?q?b=?utf-8?q?=41?=", "=?utf-8?q?a b=?utf-8?q41?=" },
	{ "=?utf-8?q?a =?utf-8?q?b?=", "=?utf-8?q?a b" },
	{ "=?a?q?=?utf-8?q?x?=", "=?utf-8?q?x" },
	{ "=?=?=?utf-8?q?x?=", "=?=?x" },
	{ "=?utf-8?q?a?b?= c", "a?b c" },
	/* Alternating charsets, each converted. */
	{ "=?iso-8859-2?q?=B1?= =?koi8-r?q?=C1?= =?iso-8859-2?q?=B1?=",
	  "\xc4\x85\xd0\xb0\xc4\x85" },
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

/* Issue 10: a header with many "=?" and no "?=" rescanned to its end
 * from every one (128 KB took 1.2 s, 1 MB minutes). Every shape of
 * 1 MB now decodes in linear time. */
UNIT_TEST(test_words_linear)
{
	static const char *const pats[] = {
		"=?utf-8?q?x", "=?utf-8?b?QUJD", "=?", "=?x?q?=?",
		"=?iso-8859-2?q?a?= =?koi8-r?q?b?= ",
		"=?cs1?q?a?= =?cs2?q?b?= =?cs3?q?c?= =?cs4?q?d?= =?cs5?q?e?= "
		"=?cs6?q?a?= =?cs7?q?b?= =?cs8?q?c?= =?cs9?q?d?= =?cs10?q?e?= "
		"=?cs11?q?a?= =?cs12?q?b?= =?cs13?q?c?= =?cs14?q?d?= "
		"=?cs15?q?e?= =?cs16?q?e?= =?cs17?q?e?= =?cs18?q?e?= ",
		"=?utf-8?q?=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D", "(((((\r\n ",
	};
	for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		size_t n = 1024 * 1024;
		char *in = repeat(pats[i], n);
		struct buf o = BUF_INIT;
		double t = cpu_now();
		mime_header_decode(str_make(in, n), &o);
		t = cpu_now() - t;
		if (t > FAST_LIMIT)
			fprintf(stderr, "pattern %zu: %.3f s\n", i, t);
		CHECK(t < FAST_LIMIT);
		CHECK(o.len > 0 && o.len <= 3 * n);
		buf_free(&o);
		free(in);
	}
}

/* The other decoders on 1 MB of their worst input. */
UNIT_TEST(test_decoders_linear)
{
	size_t n = 1024 * 1024;
	static const char *const qps[] = { "=  ", "= = =\t", "=\r", "=A",
					   " \t \t \t", "=3D" };
	for (size_t i = 0; i < sizeof qps / sizeof qps[0]; i++) {
		char *in = repeat(qps[i], n);
		struct buf o = BUF_INIT;
		double t = cpu_now();
		mime_qp_decode(str_make(in, n), &o, false);
		mime_qp_decode(str_make(in, n), &o, true);
		t = cpu_now() - t;
		CHECK(t < FAST_LIMIT);
		buf_free(&o);
		free(in);
	}
	char *in = repeat("!!!!a\r\n", n);
	struct buf o = BUF_INIT;
	double t = cpu_now();
	mime_base64_decode(str_make(in, n), &o);
	mime_utf8_sanitize(str_make(in, n), &o);
	t = cpu_now() - t;
	CHECK(t < FAST_LIMIT);
	free(in);
	/* Every byte invalid in a real charset: one U+FFFD each. */
	in = repeat("\xff", n / 4);
	buf_clear(&o);
	t = cpu_now();
	mime_charset_to_utf8(STR_LIT("UTF-8"), str_make(in, n / 4), &o);
	mime_charset_to_utf8(STR_LIT("ISO-2022-JP"), str_make(in, n / 4), &o);
	t = cpu_now() - t;
	CHECK(t < 2 * FAST_LIMIT);
	CHECK_EQ_INT(o.len, 2 * 3 * (n / 4));
	buf_free(&o);
	free(in);
}

/* Only the first MIME_HEADER_DECODE_MAX octets of a field have their
 * words decoded; the rest is plain text, still there to search. */
UNIT_TEST(test_decode_cap)
{
	struct buf in = BUF_INIT, o = BUF_INIT;
	buf_appends(&in, "=?utf-8?q?caf=C3=A9?= ");
	while (in.len < MIME_HEADER_DECODE_MAX - 10)
		buf_appendc(&in, 'x');
	buf_appends(&in, " =?utf-8?q?na=C3=AFve?= tail");
	mime_header_decode(buf_str(&in), &o);
	CHECK(o.len > 6 && memcmp(o.data, "caf\xc3\xa9 ", 6) == 0);
	const char *tail = " =?utf-8?q?na=C3=AFve?= tail";
	CHECK(o.len > strlen(tail) &&
	      memcmp(o.data + o.len - strlen(tail), tail, strlen(tail)) == 0);
	buf_clear(&o);
	/* Within the cap it is decoded. */
	buf_clear(&in);
	buf_appends(&in, "x =?utf-8?q?na=C3=AFve?= tail");
	mime_header_decode(buf_str(&in), &o);
	CHECK_EQ_STR(buf_cstr(&o), "x na\xc3\xafve tail");
	buf_clear(&o);
	/* A field with more charsets than MIME_HEADER_CHARSETS_MAX: the
	 * first ones are converted, later new ones taken as UTF-8. */
	for (int pass = 0; pass < 2; pass++) {
		buf_clear(&in);
		buf_clear(&o);
		if (pass == 1)
			buf_appends(&in, "=?koi8-r?q?=C1?= ");
		for (int i = 0; i < MIME_HEADER_CHARSETS_MAX; i++)
			buf_printf(&in, "=?x-no-such-%d?q?y?= - ", i);
		buf_appends(&in, "=?koi8-r?q?=C1?=");
		mime_header_decode(buf_str(&in), &o);
		const char *want = pass ? "\xd0\xb0" : "\xef\xbf\xbd";
		CHECK(o.len > strlen(want) &&
		      strcmp(o.data + o.len - strlen(want), want) == 0);
	}
	buf_free(&o);
	buf_free(&in);
}

UNIT_MAIN(test_qp, test_base64, test_words, test_charset, test_words_linear,
	  test_decoders_linear, test_decode_cap)
