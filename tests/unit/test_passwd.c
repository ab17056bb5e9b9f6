/* Password schemes: known vectors made by other tools (openssl passwd,
 * crypt_blowfish's published vector), new hashes, PLAIN secrets. */
#include <stdlib.h>

#include "auth/passwd.h"
#include "tests/unit/unit.h"

static bool verify(const char *stored, const char *pw)
{
	return passwd_verify(stored, str_from_cstr(pw), NULL);
}

UNIT_TEST(test_known_vectors)
{
	static const struct {
		const char *stored, *pw;
	} v[] = {
		/* openssl passwd -6 -salt saltsalt password */
		{ "{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/", "password" },
		/* openssl passwd -5 -salt saltsalt password */
		{ "{SHA256-CRYPT}$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.", "password" },
		/* openssl passwd -1 -salt saltsalt password */
		{ "{MD5-CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", "password" },
		/* crypt_blowfish's test vector */
		{ "{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U" },
		/* no prefix = CRYPT; lower-case scheme names too */
		{ "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/", "password" },
		{ "{crypt}$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", "password" },
		{ "{PLAIN}tanstaaf", "tanstaaf" },
		{ "{CLEARTEXT}x:y", "x:y" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK(verify(v[i].stored, v[i].pw));
		CHECK(!verify(v[i].stored, "wrong"));
		CHECK(!verify(v[i].stored, ""));
	}
}

UNIT_TEST(test_reasons)
{
	const char *why = NULL;
	CHECK(!passwd_verify("{PLAIN}abc", STR_LIT("abd"), &why));
	CHECK_EQ_STR(why, "bad_password");
	CHECK(!passwd_verify("", STR_LIT("x"), &why));
	CHECK_EQ_STR(why, "no_password");
	CHECK(!passwd_verify("{FOO}x", STR_LIT("x"), &why));
	CHECK_EQ_STR(why, "bad_hash");
	CHECK(!passwd_verify("{CRYPT}*", STR_LIT("x"), &why));
	CHECK_EQ_STR(why, "bad_hash");
	CHECK(!passwd_verify("!locked", STR_LIT("x"), &why));
	/* A NUL never matches, even if the prefix does. */
	CHECK(!passwd_verify("{PLAIN}ab", str_make("ab\0", 3), &why));
	CHECK(!passwd_verify("{SHA256-CRYPT}$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
			     str_make("password\0x", 10), &why));
	CHECK_EQ_STR(why, "bad_password");
	CHECK(!passwd_verify("{PLAIN}abc", STR_LIT("ab"), NULL));
	CHECK(!passwd_verify("{PLAIN}abc", STR_LIT("abcd"), NULL));
}

UNIT_TEST(test_parse)
{
	enum passwd_kind k;
	struct str d;
	struct buf err = BUF_INIT;
	CHECK(passwd_parse(STR_LIT("{Sha512-Crypt}$6$x"), &k, &d, NULL));
	CHECK_EQ_INT(k, PASSWD_KIND_CRYPT);
	CHECK(str_eq(d, "$6$x"));
	CHECK(passwd_parse(STR_LIT("{PLAIN}"), &k, &d, NULL));
	CHECK_EQ_INT(k, PASSWD_KIND_PLAIN);
	CHECK_EQ_INT(d.len, 0);
	CHECK(!passwd_parse(STR_LIT("{SSHA}abc"), &k, &d, &err));
	CHECK(strstr(buf_cstr(&err), "{SSHA}") != NULL);
	CHECK(!passwd_parse(STR_LIT("{PLAIN"), &k, &d, NULL));
	CHECK(!passwd_parse(STR_LIT("{CRYPT}"), &k, &d, NULL));
	buf_free(&err);
}

UNIT_TEST(test_new_hashes)
{
	char *h = passwd_hash(PASSWD_YESCRYPT, STR_LIT("s3cret"));
	CHECK(h && strncmp(h, "{CRYPT}$y$", 10) == 0);
	CHECK(h && verify(h, "s3cret"));
	CHECK(h && !verify(h, "s3cret "));
	char *h2 = passwd_hash(PASSWD_YESCRYPT, STR_LIT("s3cret"));
	CHECK(h && h2 && strcmp(h, h2) != 0); /* fresh salt */
	free(h);
	free(h2);
	h = passwd_hash(PASSWD_SHA512_CRYPT, STR_LIT("s3cret"));
	CHECK(h && strncmp(h, "{SHA512-CRYPT}$6$", 17) == 0);
	CHECK(h && verify(h, "s3cret"));
	free(h);
	h = passwd_hash(PASSWD_PLAIN, STR_LIT("s3cret"));
	CHECK_EQ_STR(h, "{PLAIN}s3cret");
	free(h);
	CHECK(passwd_hash(PASSWD_YESCRYPT, str_make("a\0b", 3)) == NULL);
	h = passwd_dummy_hash();
	CHECK(h && strncmp(h, "{CRYPT}$y$", 10) == 0);
	CHECK(h && !verify(h, ""));
	free(h);
	enum passwd_scheme s;
	CHECK(passwd_scheme_parse("SHA512-crypt", &s) == 0 &&
	      s == PASSWD_SHA512_CRYPT);
	CHECK(passwd_scheme_parse("md5", &s) < 0);
}

UNIT_TEST(test_plain_secret)
{
	struct str s;
	const char *why = NULL;
	CHECK(passwd_plain_secret("{PLAIN}tanstaaf", &s, &why));
	CHECK(str_eq(s, "tanstaaf"));
	CHECK(!passwd_plain_secret("{CRYPT}$y$abc", &s, &why));
	CHECK_EQ_STR(why, "scheme");
	CHECK(!passwd_plain_secret("plain", &s, &why));
	CHECK_EQ_STR(why, "scheme");
}

UNIT_MAIN(test_known_vectors, test_reasons, test_parse, test_new_hashes,
	  test_plain_secret)
