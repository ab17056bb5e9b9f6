/* smtp/parse.c: verbs, MAIL/RCPT paths and parameters, HELO, BDAT and
 * the reply table, table-driven. */
#include <stdint.h>
#include <string.h>

#include "core/limits.h"
#include "smtp/parse.h"
#include "tests/unit/unit.h"

#define ALL_EXT                                                            \
	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME |         \
	 SMTP_EXT_SMTPUTF8 | SMTP_EXT_AUTH)

struct cmd_case {
	const char *in;
	size_t len; /* 0: strlen */
	enum smtp_err err;
	enum smtp_verb verb;
	const char *args;
	bool has_args;
};

static const struct cmd_case cmd_cases[] = {
	{ "", 0, SMTP_ERR_EMPTY, SMTP_VERB_UNKNOWN, "", false },
	{ "EHLO x.org", 0, SMTP_OK, SMTP_VERB_EHLO, "x.org", true },
	{ "ehlo x.org", 0, SMTP_OK, SMTP_VERB_EHLO, "x.org", true },
	{ "HeLo x", 0, SMTP_OK, SMTP_VERB_HELO, "x", true },
	{ "LHLO x", 0, SMTP_OK, SMTP_VERB_LHLO, "x", true },
	{ "MAIL FROM:<>", 0, SMTP_OK, SMTP_VERB_MAIL, "FROM:<>", true },
	{ "rcpt TO:<a@b>", 0, SMTP_OK, SMTP_VERB_RCPT, "TO:<a@b>", true },
	{ "DATA", 0, SMTP_OK, SMTP_VERB_DATA, "", false },
	{ "DATA ", 0, SMTP_OK, SMTP_VERB_DATA, "", true },
	{ "BDAT 10 LAST", 0, SMTP_OK, SMTP_VERB_BDAT, "10 LAST", true },
	{ "RSET", 0, SMTP_OK, SMTP_VERB_RSET, "", false },
	{ "NOOP hello there", 0, SMTP_OK, SMTP_VERB_NOOP, "hello there",
	  true },
	{ "QUIT", 0, SMTP_OK, SMTP_VERB_QUIT, "", false },
	{ "HELP", 0, SMTP_OK, SMTP_VERB_HELP, "", false },
	{ "VRFY u", 0, SMTP_OK, SMTP_VERB_VRFY, "u", true },
	{ "EXPN l", 0, SMTP_OK, SMTP_VERB_EXPN, "l", true },
	{ "StartTLS", 0, SMTP_OK, SMTP_VERB_STARTTLS, "", false },
	{ "AUTH PLAIN", 0, SMTP_OK, SMTP_VERB_AUTH, "PLAIN", true },
	{ "MAILX", 0, SMTP_ERR_UNKNOWN_VERB, SMTP_VERB_UNKNOWN, "", false },
	{ "MAI", 0, SMTP_ERR_UNKNOWN_VERB, SMTP_VERB_UNKNOWN, "", false },
	{ " MAIL FROM:<>", 0, SMTP_ERR_UNKNOWN_VERB, SMTP_VERB_UNKNOWN,
	  "MAIL FROM:<>", true },
	{ "MAIL\tFROM:<>", 0, SMTP_ERR_UNKNOWN_VERB, SMTP_VERB_UNKNOWN, "",
	  false },
	{ "GET / HTTP/1.0", 0, SMTP_ERR_UNKNOWN_VERB, SMTP_VERB_UNKNOWN,
	  "/ HTTP/1.0", true },
	{ "NOOP\0x", 6, SMTP_ERR_NUL, SMTP_VERB_UNKNOWN, "", false },
	{ "\0", 1, SMTP_ERR_NUL, SMTP_VERB_UNKNOWN, "", false },
};

UNIT_TEST(test_parse_cmd)
{
	for (size_t i = 0; i < sizeof cmd_cases / sizeof cmd_cases[0]; i++) {
		const struct cmd_case *t = &cmd_cases[i];
		size_t len = t->len ? t->len : strlen(t->in);
		struct smtp_cmd c;
		enum smtp_err e = smtp_parse_cmd(str_make(t->in, len), &c);
		if (e != t->err)
			fprintf(stderr, "case %zu: %s\n", i, t->in);
		CHECK_EQ_INT(e, t->err);
		CHECK_EQ_INT(c.verb, t->verb);
		if (e == SMTP_OK || e == SMTP_ERR_UNKNOWN_VERB) {
			CHECK_EQ_MEM(c.args.p, c.args.len, t->args,
				     strlen(t->args));
			CHECK_EQ_INT(c.has_args, t->has_args);
		}
	}
}

UNIT_TEST(test_no_args)
{
	struct smtp_cmd c;
	CHECK_EQ_INT(smtp_parse_cmd(STR_LIT("DATA"), &c), SMTP_OK);
	CHECK_EQ_INT(smtp_check_no_args(&c), SMTP_OK);
	CHECK_EQ_INT(smtp_parse_cmd(STR_LIT("DATA  "), &c), SMTP_OK);
	CHECK_EQ_INT(smtp_check_no_args(&c), SMTP_OK);
	CHECK_EQ_INT(smtp_parse_cmd(STR_LIT("QUIT now"), &c), SMTP_OK);
	CHECK_EQ_INT(smtp_check_no_args(&c), SMTP_ERR_ARGS);
}

struct path_case {
	const char *args;
	unsigned ext;
	bool utf8; /* RCPT only: transaction has SMTPUTF8 */
	enum smtp_err err;
	unsigned flags;
	const char *local;
	const char *domain;
};

#define F_Q SMTP_PATH_QUOTED
#define F_SR SMTP_PATH_SOURCE_ROUTE
#define F_PC SMTP_PATH_PERCENT
#define F_BG SMTP_PATH_BANG
#define F_AL SMTP_PATH_ADDR_LITERAL
#define F_U8 SMTP_PATH_UTF8
#define F_PM SMTP_PATH_POSTMASTER

static const struct path_case mail_cases[] = {
	{ "FROM:<>", 0, false, SMTP_OK, SMTP_PATH_NULL, "", "" },
	{ "from:<>", 0, false, SMTP_OK, SMTP_PATH_NULL, "", "" },
	{ "FROM:<a@b.org>", 0, false, SMTP_OK, 0, "a", "b.org" },
	{ "FROM:<John.Doe@Example.ORG>", 0, false, SMTP_OK, 0, "John.Doe",
	  "example.org" },
	/* Lenient: spaces after the colon. */
	{ "FROM: <a@b.org>", 0, false, SMTP_OK, 0, "a", "b.org" },
	{ "FROM:  <>", 0, false, SMTP_OK, SMTP_PATH_NULL, "", "" },
	/* No brackets: refused. */
	{ "FROM:a@b.org", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "FROM:", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "FROM", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "FROM <a@b>", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "TO:<a@b>", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "", 0, false, SMTP_ERR_MAIL_SYNTAX, 0, "", "" },
	{ "FROM:<a@b", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@b>x", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<<a@b>>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	/* Local part. */
	{ "FROM:<@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<.a@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a.@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a..b@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a b@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a(c)@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<postmaster>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@b@c>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<!#$&'*+-/=?^_`{|}~@b>", 0, false, SMTP_OK, F_BG,
	  "!#$&'*+-/=?^_`{|}~", "b" },
	/* Quoted local parts. */
	{ "FROM:<\"a b\"@b.org>", 0, false, SMTP_OK, F_Q, "a b", "b.org" },
	{ "FROM:<\"a\\\"b\\\\c\"@b.org>", 0, false, SMTP_OK, F_Q, "a\"b\\c",
	  "b.org" },
	{ "FROM:<\"a>b\"@b.org> SIZE=10", SMTP_EXT_SIZE, false, SMTP_OK, F_Q,
	  "a>b", "b.org" },
	{ "FROM:<\"\"@b.org>", 0, false, SMTP_OK, F_Q, "", "b.org" },
	{ "FROM:<\"a@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<\"a\"b@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<\"a\tb\"@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "",
	  "" },
	{ "FROM:<\"a%b\"@b.org>", 0, false, SMTP_OK, F_Q | F_PC, "a%b",
	  "b.org" },
	/* Relay hacks: flagged. */
	{ "FROM:<a%c.org@b.org>", 0, false, SMTP_OK, F_PC, "a%c.org",
	  "b.org" },
	{ "FROM:<c.org!a@b.org>", 0, false, SMTP_OK, F_BG, "c.org!a",
	  "b.org" },
	{ "FROM:<@x.org,@y.org:a@b.org>", 0, false, SMTP_OK, F_SR, "a",
	  "b.org" },
	{ "FROM:<@x.org:a@b.org>", 0, false, SMTP_OK, F_SR, "a", "b.org" },
	{ "FROM:<@x.org,y.org:a@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0,
	  "", "" },
	{ "FROM:<@x.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<@:a@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<@[1.2.3.4]:a@b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0,
	  "", "" },
	/* Domains. */
	{ "FROM:<a@b.org.>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@.b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@b..org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@-b.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@b-.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@b_c.org>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@x--y.org>", 0, false, SMTP_OK, 0, "a", "x--y.org" },
	{ "FROM:<a@1.2.3.4>", 0, false, SMTP_OK, 0, "a", "1.2.3.4" },
	{ "FROM:<a@[1.2.3.4]>", 0, false, SMTP_OK, F_AL, "a", "[1.2.3.4]" },
	{ "FROM:<a@[256.2.3.4]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "",
	  "" },
	{ "FROM:<a@[1.2.3]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[1.2.3.4.5]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[1.2.3.0004]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "",
	  "" },
	{ "FROM:<a@[IPv6:2001:db8::1]>", 0, false, SMTP_OK, F_AL, "a",
	  "[ipv6:2001:db8::1]" },
	{ "FROM:<a@[ipv6:::ffff:1.2.3.4]>", 0, false, SMTP_OK, F_AL, "a",
	  "[ipv6:::ffff:1.2.3.4]" },
	{ "FROM:<a@[IPv6:2001:db8::g]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0,
	  "", "" },
	{ "FROM:<a@[IPv6:]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[x-tag:stuff]>", 0, false, SMTP_OK, F_AL, "a",
	  "[x-tag:stuff]" },
	{ "FROM:<a@[x-:stuff]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[x:a\\b]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[]>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[1.2.3.4]x>", 0, false, SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	/* UTF-8: only with SMTPUTF8 advertised AND given. */
	{ "FROM:<j\xc3\xb6rg@b.org>", ALL_EXT, false, SMTP_ERR_SENDER_UTF8, 0,
	  "", "" },
	{ "FROM:<a@b\xc3\xb6.org> SMTPUTF8", 0, false, SMTP_ERR_UNKNOWN_PARAM,
	  0, "", "" },
	{ "FROM:<j\xc3\xb6rg@b\xc3\xb6.org> SMTPUTF8", SMTP_EXT_SMTPUTF8,
	  false, SMTP_OK, F_U8, "j\xc3\xb6rg", "b\xc3\xb6.org" },
	{ "FROM:<\"j\xc3\xb6 rg\"@b.org> SMTPUTF8", SMTP_EXT_SMTPUTF8, false,
	  SMTP_OK, F_U8 | F_Q, "j\xc3\xb6 rg", "b.org" },
	{ "FROM:<j\xc3rg@b.org> SMTPUTF8", SMTP_EXT_SMTPUTF8, false,
	  SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<j\xc0\xafrg@b.org> SMTPUTF8", SMTP_EXT_SMTPUTF8, false,
	  SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<j\xed\xa0\x80rg@b.org> SMTPUTF8", SMTP_EXT_SMTPUTF8, false,
	  SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	{ "FROM:<a@[1.2.3.\xc3\xb6]> SMTPUTF8", SMTP_EXT_SMTPUTF8, false,
	  SMTP_ERR_SENDER_SYNTAX, 0, "", "" },
	/* Parameters. */
	{ "FROM:<a@b> SIZE=1000", SMTP_EXT_SIZE, false, SMTP_OK, 0, "a", "b" },
	{ "FROM:<a@b> size=1000", SMTP_EXT_SIZE, false, SMTP_OK, 0, "a", "b" },
	{ "FROM:<a@b> SIZE=1000", 0, false, SMTP_ERR_UNKNOWN_PARAM, 0, "", "" },
	{ "FROM:<a@b> SIZE=", SMTP_EXT_SIZE, false, SMTP_ERR_PARAM_SYNTAX, 0,
	  "", "" },
	{ "FROM:<a@b> SIZE", SMTP_EXT_SIZE, false, SMTP_ERR_SIZE_BAD, 0, "",
	  "" },
	{ "FROM:<a@b> SIZE=-1", SMTP_EXT_SIZE, false, SMTP_ERR_SIZE_BAD, 0,
	  "", "" },
	{ "FROM:<a@b> SIZE=1k", SMTP_EXT_SIZE, false, SMTP_ERR_SIZE_BAD, 0,
	  "", "" },
	{ "FROM:<a@b> SIZE=123456789012345678901", SMTP_EXT_SIZE, false,
	  SMTP_ERR_SIZE_BAD, 0, "", "" },
	{ "FROM:<a@b> SIZE=1 SIZE=2", SMTP_EXT_SIZE, false, SMTP_ERR_PARAM_DUP,
	  0, "", "" },
	{ "FROM:<a@b>  SIZE=1  BODY=8BITMIME  ", ALL_EXT, false, SMTP_OK, 0,
	  "a", "b" },
	{ "FROM:<a@b> BODY=7BIT", SMTP_EXT_8BITMIME, false, SMTP_OK, 0, "a",
	  "b" },
	{ "FROM:<a@b> BODY=8bitmime", SMTP_EXT_8BITMIME, false, SMTP_OK, 0,
	  "a", "b" },
	{ "FROM:<a@b> BODY=BINARYMIME", SMTP_EXT_8BITMIME, false,
	  SMTP_ERR_BODY_BAD, 0, "", "" },
	{ "FROM:<a@b> BODY=BINARYMIME", SMTP_EXT_BINARYMIME, false, SMTP_OK,
	  0, "a", "b" },
	{ "FROM:<a@b> BODY=9BIT", ALL_EXT, false, SMTP_ERR_BODY_BAD, 0, "",
	  "" },
	{ "FROM:<a@b> BODY=8BITMIME", 0, false, SMTP_ERR_UNKNOWN_PARAM, 0, "",
	  "" },
	{ "FROM:<a@b> SMTPUTF8=yes", ALL_EXT, false, SMTP_ERR_SMTPUTF8_VALUE,
	  0, "", "" },
	{ "FROM:<a@b> SMTPUTF8 SMTPUTF8", ALL_EXT, false, SMTP_ERR_PARAM_DUP,
	  0, "", "" },
	{ "FROM:<a@b> AUTH=<>", SMTP_EXT_AUTH, false, SMTP_OK, 0, "a", "b" },
	{ "FROM:<a@b> AUTH=e+3Dmc2@example.com", SMTP_EXT_AUTH, false,
	  SMTP_OK, 0, "a", "b" },
	{ "FROM:<a@b> AUTH=e+3dmc2@example.com", SMTP_EXT_AUTH, false,
	  SMTP_ERR_AUTH_BAD, 0, "", "" },
	{ "FROM:<a@b> AUTH=e+3", SMTP_EXT_AUTH, false, SMTP_ERR_AUTH_BAD, 0,
	  "", "" },
	{ "FROM:<a@b> AUTH=<>", 0, false, SMTP_ERR_UNKNOWN_PARAM, 0, "", "" },
	{ "FROM:<a@b> RET=HDRS", ALL_EXT, false, SMTP_ERR_DSN_UNSUPPORTED, 0,
	  "", "" },
	{ "FROM:<a@b> ENVID=x", ALL_EXT, false, SMTP_ERR_DSN_UNSUPPORTED, 0,
	  "", "" },
	{ "FROM:<a@b> NOTIFY=NEVER", ALL_EXT, false, SMTP_ERR_UNKNOWN_PARAM,
	  0, "", "" },
	{ "FROM:<a@b> X-FOO", ALL_EXT, false, SMTP_ERR_UNKNOWN_PARAM, 0, "",
	  "" },
	{ "FROM:<a@b> -X", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "", "" },
	{ "FROM:<a@b> X_Y", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "", "" },
	{ "FROM:<a@b> X=a=b", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "",
	  "" },
	{ "FROM:<a@b> X=\x01", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "",
	  "" },
	{ "FROM:<a@b> =1", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "", "" },
	{ "FROM:<a@b>\tSIZE=1", ALL_EXT, false, SMTP_ERR_SENDER_SYNTAX, 0, "",
	  "" },
};

static const struct path_case rcpt_cases[] = {
	{ "TO:<a@b.org>", 0, false, SMTP_OK, 0, "a", "b.org" },
	{ "to: <A@B.Org>", 0, false, SMTP_OK, 0, "A", "b.org" },
	{ "TO:<>", 0, false, SMTP_ERR_RCPT_ADDR_SYNTAX, 0, "", "" },
	{ "TO:a@b.org", 0, false, SMTP_ERR_RCPT_SYNTAX, 0, "", "" },
	{ "FROM:<a@b.org>", 0, false, SMTP_ERR_RCPT_SYNTAX, 0, "", "" },
	{ "TO:<Postmaster>", 0, false, SMTP_OK, F_PM, "Postmaster", "" },
	{ "TO:<postMASTER>", 0, false, SMTP_OK, F_PM, "postMASTER", "" },
	{ "TO:<postmaster@x.org>", 0, false, SMTP_OK, 0, "postmaster",
	  "x.org" },
	{ "TO:<\"postmaster\">", 0, false, SMTP_ERR_RCPT_ADDR_SYNTAX, 0, "",
	  "" },
	{ "TO:<@x:postmaster>", 0, false, SMTP_ERR_RCPT_ADDR_SYNTAX, 0, "",
	  "" },
	{ "TO:<postmistress>", 0, false, SMTP_ERR_RCPT_ADDR_SYNTAX, 0, "",
	  "" },
	{ "TO:<@x.org,@y.org:a@b.org>", 0, false, SMTP_OK, F_SR, "a",
	  "b.org" },
	{ "TO:<a%c@b.org>", 0, false, SMTP_OK, F_PC, "a%c", "b.org" },
	{ "TO:<c!a@b.org>", 0, false, SMTP_OK, F_BG, "c!a", "b.org" },
	{ "TO:<a@[IPv6:::1]>", 0, false, SMTP_OK, F_AL, "a", "[ipv6:::1]" },
	{ "TO:<a@b.org.>", 0, false, SMTP_ERR_RCPT_ADDR_SYNTAX, 0, "", "" },
	{ "TO:<j\xc3\xb6rg@b.org>", ALL_EXT, false, SMTP_ERR_RCPT_UTF8, 0, "",
	  "" },
	{ "TO:<j\xc3\xb6rg@b.org>", ALL_EXT, true, SMTP_OK, F_U8,
	  "j\xc3\xb6rg", "b.org" },
	/* A non-ASCII source route needs SMTPUTF8 but is not kept. */
	{ "TO:<@b\xc3\xbc.example:a@b.org>", ALL_EXT, true, SMTP_OK, F_SR,
	  "a", "b.org" },
	{ "TO:<@b\xc3\xbc.example:a@b.org>", ALL_EXT, false,
	  SMTP_ERR_RCPT_UTF8, 0, "", "" },
	{ "TO:<a@b> NOTIFY=NEVER", ALL_EXT, false, SMTP_ERR_DSN_UNSUPPORTED, 0,
	  "", "" },
	{ "TO:<a@b> ORCPT=rfc822;a@b", ALL_EXT, false,
	  SMTP_ERR_DSN_UNSUPPORTED, 0, "", "" },
	{ "TO:<a@b> SIZE=1", ALL_EXT, false, SMTP_ERR_UNKNOWN_PARAM, 0, "",
	  "" },
	{ "TO:<a@b> ==", ALL_EXT, false, SMTP_ERR_PARAM_SYNTAX, 0, "", "" },
	{ "TO:<a@b>   ", ALL_EXT, false, SMTP_OK, 0, "a", "b" },
};

static void check_path(size_t i, const struct path_case *t, enum smtp_err e,
		       const struct smtp_path *p)
{
	if (e != t->err)
		fprintf(stderr, "case %zu: %s -> %s\n", i, t->args,
			smtp_err_name(e));
	CHECK_EQ_INT(e, t->err);
	if (e != SMTP_OK || t->err != SMTP_OK)
		return;
	if (p->flags != t->flags)
		fprintf(stderr, "case %zu: %s flags %#x\n", i, t->args,
			p->flags);
	CHECK_EQ_INT(p->flags, t->flags);
	struct str l = smtp_path_local(p), d = smtp_path_domain(p);
	CHECK_EQ_MEM(l.p, l.len, t->local, strlen(t->local));
	CHECK_EQ_MEM(d.p, d.len, t->domain, strlen(t->domain));
}

UNIT_TEST(test_mail)
{
	for (size_t i = 0; i < sizeof mail_cases / sizeof mail_cases[0]; i++) {
		const struct path_case *t = &mail_cases[i];
		struct smtp_path p;
		struct smtp_mail_params mp;
		enum smtp_err e = smtp_parse_mail(str_from_cstr(t->args),
						  t->ext, &p, &mp);
		check_path(i, t, e, &p);
	}
}

UNIT_TEST(test_rcpt)
{
	for (size_t i = 0; i < sizeof rcpt_cases / sizeof rcpt_cases[0]; i++) {
		const struct path_case *t = &rcpt_cases[i];
		struct smtp_path p;
		struct smtp_rcpt_params rp;
		enum smtp_err e = smtp_parse_rcpt(str_from_cstr(t->args),
						  t->ext, t->utf8, &p, &rp);
		check_path(i, t, e, &p);
	}
}

UNIT_TEST(test_mail_params_values)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<a@b> SIZE=12345 "
					     "BODY=8BITMIME SMTPUTF8 AUTH=a+2Bb@c"),
				     ALL_EXT, &p, &mp),
		     SMTP_OK);
	CHECK(mp.has_size && mp.size == 12345);
	CHECK_EQ_INT(mp.body, SMTP_BODY_8BITMIME);
	CHECK(mp.smtputf8);
	CHECK(mp.has_auth && !mp.auth_null);
	CHECK_EQ_MEM(mp.auth.p, mp.auth.len, "a+2Bb@c", 7);
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<> SIZE=0"), ALL_EXT, &p,
				     &mp),
		     SMTP_OK);
	CHECK(mp.has_size && mp.size == 0 && mp.body == SMTP_BODY_NONE);
	/* 20 digits above UINT64_MAX: saturates, answer is 552 not 501. */
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<> SIZE=99999999999999999999"),
				     ALL_EXT, &p, &mp),
		     SMTP_OK);
	CHECK(mp.size == UINT64_MAX);
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<> SIZE=18446744073709551615"),
				     ALL_EXT, &p, &mp),
		     SMTP_OK);
	CHECK(mp.size == UINT64_MAX);
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<> SIZE=18446744073709551614"),
				     ALL_EXT, &p, &mp),
		     SMTP_OK);
	CHECK(mp.size == UINT64_MAX - 1);
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<> AUTH=<>"), ALL_EXT, &p,
				     &mp),
		     SMTP_OK);
	CHECK(mp.has_auth && mp.auth_null);
}

/* Builds "<prefix><n x ch><suffix>" into b. */
static struct str build(char *b, size_t cap, const char *pre, size_t n,
			char ch, const char *suf)
{
	size_t pl = strlen(pre), sl = strlen(suf);
	if (pl + n + sl > cap)
		return str_make(b, 0);
	memcpy(b, pre, pl);
	memset(b + pl, ch, n);
	memcpy(b + pl + n, suf, sl);
	return str_make(b, pl + n + sl);
}

UNIT_TEST(test_lengths)
{
	char b[1024];
	struct smtp_path p;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	/* Local part: 64 ok, 65 too long (RFC 5321 4.5.3.1.1). */
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b, "FROM:<", 64, 'x',
					   "@b.org>"),
				     0, &p, &mp),
		     SMTP_OK);
	CHECK_EQ_INT(p.local_len, 64);
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b, "FROM:<", 65, 'x',
					   "@b.org>"),
				     0, &p, &mp),
		     SMTP_ERR_SENDER_TOO_LONG);
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<", 65, 'x',
					   "@b.org>"),
				     0, false, &p, &rp),
		     SMTP_ERR_RCPT_TOO_LONG);
	/* Quoted: the limit counts the local part as sent. */
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<\"", 62, 'x',
					   "\"@b.org>"),
				     0, false, &p, &rp),
		     SMTP_OK);
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<\"", 63, 'x',
					   "\"@b.org>"),
				     0, false, &p, &rp),
		     SMTP_ERR_RCPT_TOO_LONG);
	/* A 700-byte local part: too long, no overflow. */
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<", 700, 'x',
					   "@b.org>"),
				     0, false, &p, &rp),
		     SMTP_ERR_RCPT_TOO_LONG);
	/* Domain: 255 too long in a path anyway (4.5.3.1.3: 256 with
	 * punctuation); 256 is a domain too long. */
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<a@", 256, 'd',
					   ">"),
				     0, false, &p, &rp),
		     SMTP_ERR_RCPT_TOO_LONG);
	/* Path: "<" 1 "@" 252 ">" = 256 ok, 257 too long. */
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<a@", 252, 'd',
					   ">"),
				     0, false, &p, &rp),
		     SMTP_OK);
	CHECK_EQ_INT(p.domain_len, 252);
	CHECK_EQ_INT(smtp_parse_rcpt(build(b, sizeof b, "TO:<a@", 253, 'd',
					   ">"),
				     0, false, &p, &rp),
		     SMTP_ERR_RCPT_TOO_LONG);
	/* 64 + 189: the longest domain with the longest local part. */
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b,
					   "FROM:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
					   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@",
					   189, 'd', ">"),
				     0, &p, &mp),
		     SMTP_OK);
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b,
					   "FROM:<xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
					   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@",
					   190, 'd', ">"),
				     0, &p, &mp),
		     SMTP_ERR_SENDER_TOO_LONG);
	/* An overlong local part that is also bad syntax: syntax first. */
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b, "FROM:<", 100, 'x',
					   "..@b>"),
				     0, &p, &mp),
		     SMTP_ERR_SENDER_SYNTAX);
	/* AUTH= longer than 500. */
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b, "FROM:<> AUTH=", 501,
					   'a', ""),
				     SMTP_EXT_AUTH, &p, &mp),
		     SMTP_ERR_AUTH_BAD);
	CHECK_EQ_INT(smtp_parse_mail(build(b, sizeof b, "FROM:<> AUTH=", 500,
					   'a', ""),
				     SMTP_EXT_AUTH, &p, &mp),
		     SMTP_OK);
}

struct helo_case {
	const char *args;
	enum smtp_err err;
	const char *name;
	bool valid;
};

static const struct helo_case helo_cases[] = {
	{ "mail.example.org", SMTP_OK, "mail.example.org", true },
	{ "Mail.Example.ORG", SMTP_OK, "Mail.Example.ORG", true },
	{ "[192.0.2.1]", SMTP_OK, "[192.0.2.1]", true },
	{ "[IPv6:2001:db8::1]", SMTP_OK, "[IPv6:2001:db8::1]", true },
	{ "localhost", SMTP_OK, "localhost", true },
	{ "  x.org  ", SMTP_OK, "x.org", true },
	{ "x.org extra", SMTP_OK, "x.org", false },
	{ "my_host", SMTP_OK, "my_host", false },
	{ "x.org.", SMTP_OK, "x.org.", false },
	{ "192.0.2.1", SMTP_OK, "192.0.2.1", true },
	{ "[192.0.2.300]", SMTP_OK, "[192.0.2.300]", false },
	{ "b\xc3\xbc.example", SMTP_OK, "b\xc3\xbc.example", true },
	{ "", SMTP_ERR_HELO_MISSING, "", false },
	{ "   ", SMTP_ERR_HELO_MISSING, "", false },
	{ "x\ty", SMTP_ERR_HELO_SYNTAX, "", false },
	{ "x\x7f", SMTP_ERR_HELO_SYNTAX, "", false },
	{ "x\xff", SMTP_ERR_HELO_SYNTAX, "", false },
};

UNIT_TEST(test_helo)
{
	for (size_t i = 0; i < sizeof helo_cases / sizeof helo_cases[0]; i++) {
		const struct helo_case *t = &helo_cases[i];
		struct str name;
		bool valid;
		enum smtp_err e = smtp_parse_helo(str_from_cstr(t->args),
						  &name, &valid);
		if (e != t->err || valid != t->valid)
			fprintf(stderr, "helo case %zu: %s\n", i, t->args);
		CHECK_EQ_INT(e, t->err);
		CHECK_EQ_INT(valid, t->valid);
		if (e == SMTP_OK)
			CHECK_EQ_MEM(name.p, name.len, t->name,
				     strlen(t->name));
	}
}

struct bdat_case {
	const char *args;
	enum smtp_err err;
	uint64_t size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", SMTP_OK, 0, false },
	{ "0 LAST", SMTP_OK, 0, true },
	{ "1000 last", SMTP_OK, 1000, true },
	{ "000123", SMTP_OK, 123, false },
	{ "10 ", SMTP_OK, 10, false },
	{ "10 LAST ", SMTP_OK, 10, true },
	{ "1000000", SMTP_OK, 1000000, false },
	{ "1000001", SMTP_ERR_BDAT_TOO_BIG, 1000001, false },
	{ "99999999999999999999999 LAST", SMTP_ERR_BDAT_TOO_BIG, UINT64_MAX,
	  true },
	{ "", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "LAST", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "-1", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "+1", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ " 1", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "1x", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "1 LASTX", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "1 LAST x", SMTP_ERR_BDAT_SYNTAX, 0, false },
	{ "1 FIRST", SMTP_ERR_BDAT_SYNTAX, 0, false },
};

UNIT_TEST(test_bdat)
{
	for (size_t i = 0; i < sizeof bdat_cases / sizeof bdat_cases[0]; i++) {
		const struct bdat_case *t = &bdat_cases[i];
		uint64_t size;
		bool last;
		enum smtp_err e = smtp_parse_bdat(str_from_cstr(t->args),
						  1000000, &size, &last);
		if (e != t->err)
			fprintf(stderr, "bdat case %zu: %s\n", i, t->args);
		CHECK_EQ_INT(e, t->err);
		if (e == SMTP_OK || e == SMTP_ERR_BDAT_TOO_BIG) {
			CHECK(size == t->size);
			CHECK_EQ_INT(last, t->last);
		}
	}
}

UNIT_TEST(test_xtext_utf8)
{
	CHECK(smtp_is_xtext(STR_LIT("")));
	CHECK(smtp_is_xtext(STR_LIT("abc+2B+3D!~")));
	CHECK(!smtp_is_xtext(STR_LIT("a=b")));
	CHECK(!smtp_is_xtext(STR_LIT("a b")));
	CHECK(!smtp_is_xtext(STR_LIT("+2")));
	CHECK(!smtp_is_xtext(STR_LIT("+2G")));
	const unsigned char ok4[] = { 0xf0, 0x9f, 0x98, 0x80 };
	const unsigned char big[] = { 0xf4, 0x90, 0x80, 0x80 };
	const unsigned char over[] = { 0xe0, 0x80, 0xaf };
	CHECK_EQ_INT(smtp_utf8_seq(ok4, 4), 4);
	CHECK_EQ_INT(smtp_utf8_seq(ok4, 3), 0);
	CHECK_EQ_INT(smtp_utf8_seq(big, 4), 0);
	CHECK_EQ_INT(smtp_utf8_seq(over, 3), 0);
	CHECK_EQ_INT(smtp_utf8_seq((const unsigned char *)"\x80", 1), 0);
}

/* RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT. */
#define DSN_EXT (ALL_EXT | SMTP_EXT_DSN)

struct dsn_mail_case {
	const char *args;
	enum smtp_err err;
	enum dsn_ret ret;
	const char *envid; /* NULL: none */
};

static const struct dsn_mail_case dsn_mail_cases[] = {
	{ "FROM:<a@b> RET=FULL", SMTP_OK, DSN_RET_FULL, NULL },
	{ "FROM:<a@b> ret=hdrs", SMTP_OK, DSN_RET_HDRS, NULL },
	{ "FROM:<a@b> RET=HdRs ENVID=QQ314159", SMTP_OK, DSN_RET_HDRS,
	  "QQ314159" },
	{ "FROM:<> ENVID=a+2Bb+20c", SMTP_OK, DSN_RET_NONE, "a+2Bb+20c" },
	{ "FROM:<a@b> RET=FULL RET=FULL", SMTP_ERR_PARAM_DUP, 0, NULL },
	{ "FROM:<a@b> RET=FULL RET=HDRS", SMTP_ERR_PARAM_DUP, 0, NULL },
	{ "FROM:<a@b> ENVID=x ENVID=x", SMTP_ERR_PARAM_DUP, 0, NULL },
	{ "FROM:<a@b> RET=ALL", SMTP_ERR_RET_BAD, 0, NULL },
	{ "FROM:<a@b> RET", SMTP_ERR_RET_BAD, 0, NULL },
	{ "FROM:<a@b> RET=", SMTP_ERR_PARAM_SYNTAX, 0, NULL },
	{ "FROM:<a@b> ENVID", SMTP_ERR_ENVID_BAD, 0, NULL },
	{ "FROM:<a@b> ENVID=a+2", SMTP_ERR_ENVID_BAD, 0, NULL },
	{ "FROM:<a@b> ENVID=a+2b", SMTP_ERR_ENVID_BAD, 0, NULL },
	/* decodes to a control character: not printable (RFC 3461 4.4) */
	{ "FROM:<a@b> ENVID=a+0D+0A", SMTP_ERR_ENVID_BAD, 0, NULL },
	{ "FROM:<a@b> ENVID=a+7F", SMTP_ERR_ENVID_BAD, 0, NULL },
	{ "FROM:<a@b> ENVID=a+C3", SMTP_ERR_ENVID_BAD, 0, NULL },
};

UNIT_TEST(test_dsn_mail)
{
	for (size_t i = 0; i < sizeof dsn_mail_cases / sizeof dsn_mail_cases[0];
	     i++) {
		const struct dsn_mail_case *t = &dsn_mail_cases[i];
		struct smtp_path p;
		struct smtp_mail_params mp;
		enum smtp_err e = smtp_parse_mail(str_from_cstr(t->args),
						  DSN_EXT, &p, &mp);
		if (e != t->err)
			fprintf(stderr, "dsn mail case %zu: %s -> %s\n", i,
				t->args, smtp_err_name(e));
		CHECK_EQ_INT(e, t->err);
		if (e != SMTP_OK)
			continue;
		CHECK_EQ_INT(mp.ret, t->ret);
		CHECK_EQ_INT(mp.has_envid, t->envid != NULL);
		if (t->envid)
			CHECK_EQ_MEM(mp.envid.p, mp.envid.len, t->envid,
				     strlen(t->envid));
	}
	/* Without DSN in the EHLO reply (HELO, LMTP): 555. */
	struct smtp_path p;
	struct smtp_mail_params mp;
	CHECK_EQ_INT(smtp_parse_mail(STR_LIT("FROM:<a@b> RET=FULL"), ALL_EXT,
				     &p, &mp),
		     SMTP_ERR_DSN_UNSUPPORTED);
	/* ENVID: 100 characters, as sent (RFC 3461 4.4). */
	char b[256];
	memcpy(b, "FROM:<a@b> ENVID=", 17);
	memset(b + 17, 'e', 100);
	CHECK_EQ_INT(smtp_parse_mail(str_make(b, 117), DSN_EXT, &p, &mp),
		     SMTP_OK);
	CHECK_EQ_INT(mp.envid.len, 100);
	b[117] = 'e';
	CHECK_EQ_INT(smtp_parse_mail(str_make(b, 118), DSN_EXT, &p, &mp),
		     SMTP_ERR_ENVID_BAD);
}

struct dsn_rcpt_case {
	const char *args;
	enum smtp_err err;
	unsigned notify;
	const char *orcpt; /* NULL: none */
};

#define N_S DSN_NOTIFY_SUCCESS
#define N_F DSN_NOTIFY_FAILURE
#define N_D DSN_NOTIFY_DELAY
static const struct dsn_rcpt_case dsn_rcpt_cases[] = {
	{ "TO:<a@b>", SMTP_OK, 0, NULL },
	{ "TO:<a@b> NOTIFY=NEVER", SMTP_OK, DSN_NOTIFY_NEVER, NULL },
	{ "TO:<a@b> notify=never", SMTP_OK, DSN_NOTIFY_NEVER, NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS", SMTP_OK, N_S, NULL },
	{ "TO:<a@b> NOTIFY=success,Failure,DELAY", SMTP_OK, N_S | N_F | N_D,
	  NULL },
	{ "TO:<a@b> NOTIFY=DELAY,FAILURE", SMTP_OK, N_F | N_D, NULL },
	{ "TO:<a@b> NOTIFY=FAILURE,FAILURE", SMTP_OK, N_F, NULL },
	{ "TO:<a@b> NOTIFY=NEVER,SUCCESS", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS,NEVER", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS,", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=,SUCCESS", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=SUCCESS,,DELAY", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=ALWAYS", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY", SMTP_ERR_NOTIFY_BAD, 0, NULL },
	{ "TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", SMTP_ERR_PARAM_DUP, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a@b", SMTP_OK, 0, "rfc822;a@b" },
	{ "TO:<a@b> ORCPT=RFC822;A+2Bx@B NOTIFY=FAILURE", SMTP_OK, N_F,
	  "RFC822;A+2Bx@B" },
	{ "TO:<a@b> ORCPT=utf-8;j\\x{00F6}rg@b", SMTP_OK, 0,
	  "utf-8;j\\x{00F6}rg@b" },
	{ "TO:<a@b> ORCPT=rfc822;", SMTP_OK, 0, "rfc822;" },
	{ "TO:<a@b> ORCPT=a@b", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT=;a@b", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc(822);a@b", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a+2b@b", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a+0A@b", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT", SMTP_ERR_ORCPT_BAD, 0, NULL },
	{ "TO:<a@b> ORCPT=rfc822;a@b ORCPT=rfc822;a@b", SMTP_ERR_PARAM_DUP, 0,
	  NULL },
	{ "TO:<a@b> ORCPT=rfc822;a=b", SMTP_ERR_PARAM_SYNTAX, 0, NULL },
	{ "TO:<a@b> SIZE=1", SMTP_ERR_UNKNOWN_PARAM, 0, NULL },
	{ "TO:<a@b> RET=FULL", SMTP_ERR_UNKNOWN_PARAM, 0, NULL },
};

UNIT_TEST(test_dsn_rcpt)
{
	for (size_t i = 0; i < sizeof dsn_rcpt_cases / sizeof dsn_rcpt_cases[0];
	     i++) {
		const struct dsn_rcpt_case *t = &dsn_rcpt_cases[i];
		struct smtp_path p;
		struct smtp_rcpt_params rp;
		enum smtp_err e = smtp_parse_rcpt(str_from_cstr(t->args),
						  DSN_EXT, false, &p, &rp);
		if (e != t->err)
			fprintf(stderr, "dsn rcpt case %zu: %s -> %s\n", i,
				t->args, smtp_err_name(e));
		CHECK_EQ_INT(e, t->err);
		if (e != SMTP_OK)
			continue;
		CHECK_EQ_INT(rp.notify, t->notify);
		CHECK_EQ_INT(rp.has_orcpt, t->orcpt != NULL);
		if (t->orcpt)
			CHECK_EQ_MEM(rp.orcpt.p, rp.orcpt.len, t->orcpt,
				     strlen(t->orcpt));
	}
	/* ORCPT: the whole value up to 500 (RFC 3461 4.2). */
	char b[700];
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	memcpy(b, "TO:<a@b> ORCPT=rfc822;", 22);
	memset(b + 22, 'o', 493);
	CHECK_EQ_INT(smtp_parse_rcpt(str_make(b, 515), DSN_EXT, false, &p, &rp),
		     SMTP_OK);
	CHECK_EQ_INT(rp.orcpt.len, 500);
	b[515] = 'o';
	CHECK_EQ_INT(smtp_parse_rcpt(str_make(b, 516), DSN_EXT, false, &p, &rp),
		     SMTP_ERR_ORCPT_BAD);
	CHECK(smtp_is_xtext_printable(STR_LIT("a+20b+7E")));
	CHECK(!smtp_is_xtext_printable(STR_LIT("a+1F")));
	CHECK(!smtp_is_xtext_printable(STR_LIT("a+80")));
}

UNIT_TEST(test_reply_table)
{
	for (int e = 0; e < SMTP_ERR__COUNT; e++) {
		const char *r = smtp_err_reply((enum smtp_err)e);
		int code = smtp_err_code((enum smtp_err)e);
		char want[5];
		snprintf(want, sizeof want, "%d ", code);
		CHECK(strncmp(r, want, 4) == 0);
		CHECK(strlen(r) < 100 && !strchr(r, '\r') && !strchr(r, '\n'));
		/* Enhanced status class matches the reply class. */
		CHECK(r[4] == r[0] && r[5] == '.');
		CHECK(smtp_err_name((enum smtp_err)e)[0] != '\0');
	}
	CHECK_EQ_STR(smtp_err_reply(SMTP_ERR_SENDER_SYNTAX),
		     "501 5.1.7 Bad sender address syntax");
	CHECK_EQ_STR(smtp_err_reply(SMTP_ERR_RCPT_ADDR_SYNTAX),
		     "501 5.1.3 Bad recipient address syntax");
	CHECK_EQ_INT(smtp_err_code(SMTP_ERR_UNKNOWN_PARAM), 555);
	CHECK_EQ_INT(smtp_err_code(SMTP_ERR_SIZE_BAD), 501);
	for (int v = 0; v < SMTP_VERB__COUNT; v++)
		CHECK(smtp_verb_name((enum smtp_verb)v)[0] != '\0');
}

UNIT_MAIN(test_parse_cmd, test_no_args, test_mail, test_rcpt,
	  test_mail_params_values, test_lengths, test_helo, test_bdat,
	  test_xtext_utf8, test_dsn_mail, test_dsn_rcpt, test_reply_table)
