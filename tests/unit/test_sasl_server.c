/* The shared SASL driver: every mechanism with and without an initial
 * response, fed as a client would, cancel, bad base64, bad responses. */
#include "auth/sasl_server.h"
#include "core/base64.h"
#include "tests/unit/unit.h"

static struct str s_(const char *c)
{
	return str_from_cstr(c);
}

UNIT_TEST(test_lookup)
{
	CHECK(sasl_server_mech_lookup(s_("plain"), false) == SASL_SERVER_PLAIN);
	CHECK(sasl_server_mech_lookup(s_("LOGIN"), false) == SASL_SERVER_LOGIN);
	CHECK(sasl_server_mech_lookup(s_("CRAM-MD5"), false) == SASL_SERVER_NONE);
	CHECK(sasl_server_mech_lookup(s_("cram-md5"), true) ==
	      SASL_SERVER_CRAM_MD5);
	CHECK(sasl_server_mech_lookup(s_("XOAUTH2"), true) == SASL_SERVER_NONE);
	CHECK_EQ_STR(sasl_server_mech_name(SASL_SERVER_LOGIN), "LOGIN");
}

/* "\0alice\0secret" = AGFsaWNlAHNlY3JldA== */
UNIT_TEST(test_plain_initial)
{
	struct sasl_server s = { 0 };
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	struct str ir = s_("AGFsaWNlAHNlY3JldA==");
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, &ir, "h", &ch, &cr, &e) ==
	      SASL_SERVER_DONE);
	CHECK_EQ_MEM(cr.user.p, cr.user.len, "alice", 5);
	CHECK_EQ_MEM(cr.secret.p, cr.secret.len, "secret", 6);
	CHECK_EQ_INT(cr.authzid.len, 0);
	CHECK(cr.mech == AUTH_MECH_PASSWORD);
	CHECK_EQ_STR(cr.mech_name, "PLAIN");
	sasl_server_clear(&s);
	CHECK(!sasl_server_active(&s));
}

UNIT_TEST(test_plain_continued)
{
	struct sasl_server s = { 0 };
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, NULL, "h", &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK_EQ_STR(ch, "");
	CHECK(sasl_server_active(&s));
	CHECK(sasl_server_step(&s, s_("AGFsaWNlAHNlY3JldA=="), &ch, &cr, &e) ==
	      SASL_SERVER_DONE);
	CHECK_EQ_MEM(cr.user.p, cr.user.len, "alice", 5);
	sasl_server_clear(&s);

	/* An empty initial response ("=") is a response: PLAIN fails. */
	struct str empty = s_("=");
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, &empty, "h", &ch, &cr,
				&e) == SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_RESPONSE);
	CHECK(!sasl_server_active(&s));
}

UNIT_TEST(test_login)
{
	struct sasl_server s = { 0 };
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	CHECK(sasl_server_start(&s, SASL_SERVER_LOGIN, NULL, "h", &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK_EQ_STR(ch, SASL_LOGIN_PROMPT_USER);
	CHECK(sasl_server_step(&s, s_("YWxpY2U="), &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK_EQ_STR(ch, SASL_LOGIN_PROMPT_PASS);
	CHECK(sasl_server_step(&s, s_("c2VjcmV0"), &ch, &cr, &e) ==
	      SASL_SERVER_DONE);
	CHECK_EQ_MEM(cr.user.p, cr.user.len, "alice", 5);
	CHECK_EQ_MEM(cr.secret.p, cr.secret.len, "secret", 6);
	sasl_server_clear(&s);

	/* The initial response is the user name. */
	struct str ir = s_("YWxpY2U=");
	CHECK(sasl_server_start(&s, SASL_SERVER_LOGIN, &ir, "h", &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK_EQ_STR(ch, SASL_LOGIN_PROMPT_PASS);
	CHECK(sasl_server_step(&s, s_("*"), &ch, &cr, &e) == SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_CANCELLED);
	CHECK(!sasl_server_active(&s));
}

UNIT_TEST(test_errors)
{
	struct sasl_server s = { 0 };
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	struct str bad = s_("not base64!");
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, &bad, "h", &ch, &cr, &e) ==
	      SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_BASE64);
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, NULL, "h", &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK(sasl_server_step(&s, bad, &ch, &cr, &e) == SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_BASE64);
	/* No NUL separators. */
	CHECK(sasl_server_start(&s, SASL_SERVER_PLAIN, NULL, "h", &ch, &cr, &e) ==
	      SASL_SERVER_CONTINUE);
	CHECK(sasl_server_step(&s, s_("YWxpY2U="), &ch, &cr, &e) ==
	      SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_RESPONSE);
	/* CRAM-MD5 takes no initial response. */
	struct str ir = s_("YWxpY2U=");
	CHECK(sasl_server_start(&s, SASL_SERVER_CRAM_MD5, &ir, "h", &ch, &cr,
				&e) == SASL_SERVER_FAILED);
	CHECK(e == SASL_SERVER_E_NO_IR);
	sasl_server_clear(&s);
}

UNIT_TEST(test_cram)
{
	struct sasl_server s = { 0 };
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	CHECK(sasl_server_start(&s, SASL_SERVER_CRAM_MD5, NULL, "example.org",
				&ch, &cr, &e) == SASL_SERVER_CONTINUE);
	struct buf dec = BUF_INIT;
	CHECK(sasl_b64_decode(s_(ch), &dec) == 0);
	CHECK(dec.len > 2 && dec.data[0] == '<');
	buf_free(&dec);
	/* "alice 0123456789abcdef0123456789abcdef" */
	struct buf resp = BUF_INIT;
	const char *r = "alice 0123456789abcdef0123456789abcdef";
	base64_encode(&resp, r, strlen(r));
	CHECK(sasl_server_step(&s, buf_str(&resp), &ch, &cr, &e) ==
	      SASL_SERVER_DONE);
	CHECK(cr.mech == AUTH_MECH_CRAM_MD5);
	CHECK_EQ_MEM(cr.user.p, cr.user.len, "alice", 5);
	CHECK_EQ_INT(cr.secret.len, 32);
	CHECK(cr.challenge.len > 0 && cr.challenge.p[0] == '<');
	buf_free(&resp);
	sasl_server_clear(&s);
}

UNIT_MAIN(test_lookup, test_plain_initial, test_plain_continued, test_login,
	  test_errors, test_cram)
