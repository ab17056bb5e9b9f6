/* core/base64.h: the one encoder and the letter values. */
#include <string.h>

#include "core/base64.h"
#include "tests/unit/unit.h"

UNIT_TEST(test_rfc4648_vectors)
{
	/* RFC 4648 section 10. */
	static const char *const v[][2] = {
		{ "", "" },	       { "f", "Zg==" },	     { "fo", "Zm8=" },
		{ "foo", "Zm9v" },     { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct buf b = BUF_INIT;
		base64_encode(&b, v[i][0], strlen(v[i][0]));
		CHECK_EQ_STR(buf_cstr(&b), v[i][1]);
		buf_free(&b);
	}
}

/* Appends after what is there, and NUL-terminates even when it adds
 * nothing. */
UNIT_TEST(test_appends)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "AUTH PLAIN ");
	base64_encode(&b, "\0u\0p", 4);
	CHECK_EQ_STR(buf_cstr(&b), "AUTH PLAIN AHUAcA==");
	buf_free(&b);
	base64_encode(&b, "", 0);
	CHECK(b.len == 0);
	buf_free(&b);
	buf_appends(&b, "x");
	base64_encode(&b, NULL, 0);
	CHECK(b.len == 1 && b.data[1] == '\0');
	buf_free(&b);
}

/* Every byte value, at every offset in its group of three, comes back
 * through base64_value; the alphabet's 64th letter is c63. */
UNIT_TEST(test_round_trip)
{
	unsigned char all[258];
	for (int i = 0; i < 258; i++)
		all[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof all; len += 43) {
		struct buf b = BUF_INIT;
		base64_encode(&b, all, len);
		CHECK_EQ_INT(b.len, (len + 2) / 3 * 4);
		unsigned char out[sizeof all];
		size_t o = 0;
		unsigned acc = 0;
		int bits = 0;
		for (size_t i = 0; i < b.len && b.data[i] != '='; i++) {
			int val = base64_value((unsigned char)b.data[i], '/');
			CHECK(val >= 0);
			acc = (acc << 6) | (unsigned)val;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[o++] = (unsigned char)(acc >> bits);
				acc &= (1u << bits) - 1;
			}
		}
		CHECK_EQ_MEM(out, o, all, len);
		buf_free(&b);
	}
	CHECK_EQ_INT(base64_value('/', '/'), 63);
	CHECK_EQ_INT(base64_value(',', ','), 63);
	CHECK_EQ_INT(base64_value('/', ','), -1);
	CHECK_EQ_INT(base64_value('=', '/'), -1);
}

UNIT_MAIN(test_rfc4648_vectors, test_appends, test_round_trip)
