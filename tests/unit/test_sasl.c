/* SASL decoders and digests, with the RFCs' own examples. */
#include "auth/sasl.h"
#include "core/base64.h"
#include "tests/unit/unit.h"

static bool dec(const char *in, const char *want, size_t wantlen)
{
	struct buf b = BUF_INIT;
	int r = sasl_b64_decode(str_from_cstr(in), &b);
	bool ok = r == 0 && b.len == wantlen &&
		  (wantlen == 0 || memcmp(b.data, want, wantlen) == 0);
	buf_free(&b);
	return ok;
}

static bool dec_fails(const char *in, size_t len)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "keep");
	int r = sasl_b64_decode(str_make(in, len), &b);
	bool ok = r < 0 && b.len == 4 && memcmp(b.data, "keep", 4) == 0;
	buf_free(&b);
	return ok;
}

UNIT_TEST(test_b64_rfc4648)
{
	/* RFC 4648 section 10. */
	static const char *const v[][2] = {
		{ "", "" },	       { "f", "Zg==" },	     { "fo", "Zm8=" },
		{ "foo", "Zm9v" },     { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(dec(v[i][1], v[i][0], strlen(v[i][0])));
	/* All byte values round-trip (the encoder: test_base64). */
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	struct buf e = BUF_INIT, d = BUF_INIT;
	base64_encode(&e, all, sizeof all);
	CHECK(sasl_b64_decode(buf_str(&e), &d) == 0);
	CHECK_EQ_MEM(d.data, d.len, all, sizeof all);
	buf_free(&e);
	buf_free(&d);
}

UNIT_TEST(test_b64_rejects)
{
	CHECK(dec_fails("Zg=", 3));       /* length */
	CHECK(dec_fails("Zg", 2));
	CHECK(dec_fails("Zm9v\r\n", 6));  /* whitespace */
	CHECK(dec_fails("Zm 9", 4));
	CHECK(dec_fails("Zm9-", 4));      /* base64url alphabet */
	CHECK(dec_fails("Zm9_", 4));
	CHECK(dec_fails("Z===", 4));      /* too much padding */
	CHECK(dec_fails("====", 4));
	CHECK(dec_fails("=", 1));
	CHECK(dec_fails("Zg=a", 4));      /* data after a pad */
	CHECK(dec_fails("Zg==Zm9v", 8));  /* pad in the middle */
	CHECK(dec_fails("Zh==", 4));      /* non-zero pad bits */
	CHECK(dec_fails("Zm9=", 4));
	CHECK(dec_fails("Zm\0v", 4));     /* NUL */
	CHECK(dec_fails("Zm9v\xc3\xa9==", 8));
}

UNIT_TEST(test_initial_response)
{
	struct buf b = BUF_INIT;
	CHECK(sasl_decode_initial(STR_LIT("="), &b) == 0 && b.len == 0);
	CHECK(sasl_decode_initial(STR_LIT(""), &b) < 0);
	CHECK(sasl_decode_initial(STR_LIT("Zm9v"), &b) == 0);
	CHECK_EQ_MEM(b.data, b.len, "foo", 3);
	CHECK(sasl_is_cancel(STR_LIT("*")));
	CHECK(!sasl_is_cancel(STR_LIT("**")));
	buf_free(&b);
}

UNIT_TEST(test_plain)
{
	struct sasl_plain p;
	/* RFC 4616 section 4 examples. */
	CHECK(sasl_plain_decode(str_make("\0tim\0tanstaaftanstaaf", 21), &p) == 0);
	CHECK(p.authzid.len == 0);
	CHECK(str_eq(p.authcid, "tim"));
	CHECK(str_eq(p.passwd, "tanstaaftanstaaf"));
	CHECK(sasl_plain_decode(str_make("Ursel\0Kurt\0xipj3plmq", 20), &p) == 0);
	CHECK(str_eq(p.authzid, "Ursel"));
	CHECK(str_eq(p.authcid, "Kurt"));
	CHECK(str_eq(p.passwd, "xipj3plmq"));
	/* Via base64, as a client sends it. */
	struct buf b = BUF_INIT;
	CHECK(sasl_decode_initial(STR_LIT("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), &b) == 0);
	CHECK(sasl_plain_decode(buf_str(&b), &p) == 0);
	CHECK(str_eq(p.authcid, "tim"));
	buf_free(&b);
	/* Rejects. */
	CHECK(sasl_plain_decode(str_make("tim\0pw", 6), &p) < 0);
	CHECK(sasl_plain_decode(str_make("\0tim\0pw\0", 8), &p) < 0);
	CHECK(sasl_plain_decode(str_make("\0\0pw", 4), &p) < 0);
	CHECK(sasl_plain_decode(str_make("\0tim\0", 5), &p) < 0);
	CHECK(sasl_plain_decode(str_make("", 0), &p) < 0);
	CHECK(sasl_plain_decode(str_make("\0\0", 2), &p) < 0);
	char big[600];
	memset(big, 'a', sizeof big);
	big[0] = '\0';
	big[256] = '\0'; /* authcid 255 octets: ok */
	CHECK(sasl_plain_decode(str_make(big, 300), &p) == 0);
	CHECK_EQ_INT(p.authcid.len, 255);
	big[256] = 'a';
	big[257] = '\0'; /* 256 octets: too long */
	CHECK(sasl_plain_decode(str_make(big, 300), &p) < 0);
}

UNIT_TEST(test_login)
{
	struct sasl_login l;
	const char *prompt;
	sasl_login_init(&l);
	CHECK(sasl_login_step(&l, NULL, &prompt) == SASL_CONTINUE);
	CHECK_EQ_STR(prompt, "VXNlcm5hbWU6");
	struct str u = STR_LIT("alice"), pw = STR_LIT("secret");
	CHECK(sasl_login_step(&l, &u, &prompt) == SASL_CONTINUE);
	CHECK_EQ_STR(prompt, "UGFzc3dvcmQ6");
	CHECK(sasl_login_step(&l, &pw, &prompt) == SASL_DONE);
	CHECK_EQ_MEM(l.user, l.user_len, "alice", 5);
	CHECK_EQ_MEM(l.pass, l.pass_len, "secret", 6);
	CHECK(sasl_login_step(&l, &pw, &prompt) == SASL_ERROR);
	sasl_login_clear(&l);
	CHECK(l.pass_len == 0 && l.pass[0] == 0);
	/* The prompts decode to what the draft says. */
	struct buf b = BUF_INIT;
	CHECK(sasl_b64_decode(STR_LIT(SASL_LOGIN_PROMPT_USER), &b) == 0);
	CHECK_EQ_STR(buf_cstr(&b), "Username:");
	buf_clear(&b);
	CHECK(sasl_b64_decode(STR_LIT(SASL_LOGIN_PROMPT_PASS), &b) == 0);
	CHECK_EQ_STR(buf_cstr(&b), "Password:");
	buf_free(&b);
	/* Initial response = user name; NULs and empties refused. */
	sasl_login_init(&l);
	CHECK(sasl_login_step(&l, &u, &prompt) == SASL_CONTINUE);
	struct str nul = { "a\0b", 3 }, empty = { "", 0 };
	CHECK(sasl_login_step(&l, &nul, &prompt) == SASL_ERROR);
	sasl_login_init(&l);
	CHECK(sasl_login_step(&l, &empty, &prompt) == SASL_ERROR);
}

UNIT_TEST(test_cram_md5)
{
	/* RFC 2195 section 2. */
	struct str chal = STR_LIT("<1896.697170952@postoffice.reston.mci.net>");
	struct buf b = BUF_INIT, resp = BUF_INIT;
	base64_encode(&b, chal.p, chal.len);
	CHECK_EQ_STR(buf_cstr(&b),
		     "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
	CHECK(sasl_b64_decode(STR_LIT("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
			      &resp) == 0);
	struct str user, digest;
	CHECK(sasl_cram_parse(buf_str(&resp), &user, &digest) == 0);
	CHECK(str_eq(user, "tim"));
	CHECK(str_eq(digest, "b913a602c7eda7a495b4e6e7334d3890"));
	CHECK(sasl_cram_verify(chal, STR_LIT("tanstaaftanstaaf"), digest));
	CHECK(!sasl_cram_verify(chal, STR_LIT("tanstaaftanstaag"), digest));
	CHECK(!sasl_cram_verify(STR_LIT("<1@x>"), STR_LIT("tanstaaftanstaaf"),
				digest));
	CHECK(sasl_cram_verify(chal, STR_LIT("tanstaaftanstaaf"),
			       STR_LIT("B913A602C7EDA7A495B4E6E7334D3890")));
	/* Parse rejects. */
	CHECK(sasl_cram_parse(STR_LIT("tim b913a602c7eda7a495b4e6e7334d389"), &user, &digest) < 0);
	CHECK(sasl_cram_parse(STR_LIT("tim B913a602c7eda7a495b4e6e7334d3890"), &user, &digest) < 0);
	CHECK(sasl_cram_parse(STR_LIT(" b913a602c7eda7a495b4e6e7334d3890"), &user, &digest) < 0);
	CHECK(sasl_cram_parse(STR_LIT("timb913a602c7eda7a495b4e6e7334d3890"), &user, &digest) < 0);
	CHECK(sasl_cram_parse(str_make("t\0m b913a602c7eda7a495b4e6e7334d3890", 36), &user, &digest) < 0);
	/* A name with a space: split at the last one. */
	CHECK(sasl_cram_parse(STR_LIT("a b b913a602c7eda7a495b4e6e7334d3890"), &user, &digest) == 0);
	CHECK(str_eq(user, "a b"));
	/* Challenges look right and differ. */
	char c1[SASL_CRAM_CHALLENGE_MAX], c2[SASL_CRAM_CHALLENGE_MAX];
	CHECK(sasl_cram_challenge(c1, sizeof c1, "mail.example.org") > 0);
	CHECK(sasl_cram_challenge(c2, sizeof c2, "mail.example.org") > 0);
	CHECK(c1[0] == '<' && strstr(c1, "@mail.example.org>") != NULL);
	CHECK(strchr(c1, '.') < strchr(c1, '@'));
	CHECK(strcmp(c1, c2) != 0);
	CHECK(sasl_cram_challenge(c1, 10, "mail.example.org") == 0);
	buf_free(&b);
	buf_free(&resp);
}

UNIT_TEST(test_apop)
{
	/* RFC 1939 section 7. */
	struct str ts = STR_LIT("<1896.697170952@dbc.mtview.ca.us>");
	CHECK(sasl_apop_verify(ts, STR_LIT("tanstaaf"),
			       STR_LIT("c4c9334bac560ecc979e58001b3e22fb")));
	CHECK(!sasl_apop_verify(ts, STR_LIT("tanstaaF"),
				STR_LIT("c4c9334bac560ecc979e58001b3e22fb")));
	CHECK(!sasl_apop_verify(ts, STR_LIT("tanstaaf"),
				STR_LIT("c4c9334bac560ecc979e58001b3e22fc")));
	CHECK(!sasl_apop_verify(ts, STR_LIT("tanstaaf"),
				STR_LIT("c4c9334bac560ecc979e58001b3e22f")));
	CHECK(!sasl_apop_verify(ts, STR_LIT("tanstaaf"),
				STR_LIT("c4c9334bac560ecc979e58001b3e22fbx")));
	CHECK(!sasl_apop_verify(ts, STR_LIT("tanstaaf"),
				STR_LIT("g4c9334bac560ecc979e58001b3e22fb")));
	CHECK(sasl_is_md5_hex(STR_LIT("c4c9334bac560ecc979e58001b3e22fb")));
	CHECK(!sasl_is_md5_hex(STR_LIT("c4c9334bac560ecc979e58001b3e22f ")));
}

UNIT_MAIN(test_b64_rfc4648, test_b64_rejects, test_initial_response,
	  test_plain, test_login, test_cram_md5, test_apop)
