/* relay/smtpc_reply.c: replies table-driven, each fed line by line and
 * also through a line reader fed one byte at a time; EHLO keywords,
 * enhanced status codes, the limits; relay/smtpc_body.c: exact bytes. */
#include <stdlib.h>
#include <string.h>

#include "relay/smtpc_body.h"
#include "relay/smtpc_reply.h"
#include "tests/unit/unit.h"

struct reply_case {
	const char *in; /* lines separated by \n */
	enum smtpc_reply_status st;
	int code;
	const char *status;
	const char *text;
};

static const struct reply_case cases[] = {
	{ "220 mx.example.org ESMTP", SMTPC_REPLY_DONE, 220, "2.0.0",
	  "mx.example.org ESMTP" },
	{ "250", SMTPC_REPLY_DONE, 250, "2.0.0", "" },
	{ "250 ", SMTPC_REPLY_DONE, 250, "2.0.0", "" },
	{ "550 5.1.1 <x@y>: no such user", SMTPC_REPLY_DONE, 550, "5.1.1",
	  "5.1.1 <x@y>: no such user" },
	{ "451 4.7.1 try later", SMTPC_REPLY_DONE, 451, "4.7.1",
	  "4.7.1 try later" },
	{ "250 2.1.5", SMTPC_REPLY_DONE, 250, "2.1.5", "2.1.5" },
	{ "250 2.123.456 ok", SMTPC_REPLY_DONE, 250, "2.123.456",
	  "2.123.456 ok" },
	/* Class must match the code (RFC 2034 section 4). */
	{ "550 4.1.1 wrong class", SMTPC_REPLY_DONE, 550, "5.0.0",
	  "4.1.1 wrong class" },
	{ "550 5.1111.1 too long", SMTPC_REPLY_DONE, 550, "5.0.0",
	  "5.1111.1 too long" },
	{ "550 5.1.1x glued", SMTPC_REPLY_DONE, 550, "5.0.0",
	  "5.1.1x glued" },
	{ "550 5.1. x", SMTPC_REPLY_DONE, 550, "5.0.0", "5.1. x" },
	{ "354 go ahead", SMTPC_REPLY_DONE, 354, "4.0.0", "go ahead" },
	{ "250-first\n250-second\n250 third", SMTPC_REPLY_DONE, 250, "2.0.0",
	  "first second third" },
	{ "250-a\n251 b", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "250-a\n550 b", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "25", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "2500 x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "250x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "150 x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "650 x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "260 x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "abc", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ " 250 x", SMTPC_REPLY_ERROR, 0, NULL, NULL },
	{ "250-a\n", SMTPC_REPLY_ERROR, 0, NULL, NULL }, /* empty 2nd line */
	{ "250 tab\there", SMTPC_REPLY_DONE, 250, "2.0.0", "tab?here" },
	{ "250 caf\xc3\xa9", SMTPC_REPLY_DONE, 250, "2.0.0", "caf??" },
};

/* Splits on \n and feeds line by line; returns the final status. */
static enum smtpc_reply_status feed_lines(struct smtpc_reply_parser *p,
					  const char *in)
{
	enum smtpc_reply_status st = SMTPC_REPLY_MORE;
	const char *s = in;
	for (;;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		st = smtpc_reply_feed(p, str_make(s, len));
		if (st != SMTPC_REPLY_MORE || !nl)
			return st;
		s = nl + 1;
	}
}

/* The same through a byte-at-a-time line assembler, as the client's
 * reader would see a slow server. */
static enum smtpc_reply_status feed_bytes(struct smtpc_reply_parser *p,
					  const char *in)
{
	char line[64];
	size_t n = 0;
	enum smtpc_reply_status st = SMTPC_REPLY_MORE;
	size_t len = strlen(in);
	for (size_t i = 0; i <= len; i++) {
		if (i == len || in[i] == '\n') {
			st = smtpc_reply_feed(p, str_make(line, n));
			n = 0;
			if (st != SMTPC_REPLY_MORE)
				return st;
			continue;
		}
		line[n++] = in[i];
	}
	return st;
}

UNIT_TEST(test_reply_table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct reply_case *t = &cases[i];
		for (int way = 0; way < 2; way++) {
			struct smtpc_reply_parser p;
			smtpc_reply_init(&p);
			enum smtpc_reply_status st = way ? feed_bytes(&p, t->in)
							 : feed_lines(&p, t->in);
			if (st != t->st)
				fprintf(stderr, "case %zu way %d\n", i, way);
			CHECK_EQ_INT(st, t->st);
			if (st != SMTPC_REPLY_DONE || t->st != SMTPC_REPLY_DONE)
				continue;
			CHECK_EQ_INT(p.reply.code, t->code);
			CHECK_EQ_STR(p.reply.status, t->status);
			CHECK_EQ_STR(p.reply.text, t->text);
		}
	}
}

UNIT_TEST(test_reply_ehlo)
{
	struct smtpc_reply_parser p;
	smtpc_reply_init(&p);
	CHECK_EQ_INT(feed_lines(&p, "250-mx.example.org hello\n"
				    "250-PIPELINING\n250-size 1000000\n"
				    "250-8BITMIME\n250-SMTPUTF8\n"
				    "250-STARTTLS\n250-AUTH CRAM-MD5 LOGIN\n"
				    "250 ENHANCEDSTATUSCODES"),
		     SMTPC_REPLY_DONE);
	CHECK(p.ehlo.pipelining && p.ehlo.size && p.ehlo.eightbitmime &&
	      p.ehlo.smtputf8 && p.ehlo.starttls && p.ehlo.auth_login);
	CHECK(!p.ehlo.auth_plain);
	CHECK_EQ_INT(p.ehlo.size_max, 1000000);

	/* The first line is the greeting name, never a keyword. */
	smtpc_reply_init(&p);
	CHECK_EQ_INT(feed_lines(&p, "250-STARTTLS\n250 SIZE"),
		     SMTPC_REPLY_DONE);
	CHECK(!p.ehlo.starttls);
	CHECK(p.ehlo.size);
	CHECK_EQ_INT(p.ehlo.size_max, 0);

	smtpc_reply_init(&p);
	CHECK_EQ_INT(feed_lines(&p, "250-x\n250-AUTH=PLAIN\n250-SIZE junk\n"
				    "250-STARTTLSX\n250 PIPELINING2"),
		     SMTPC_REPLY_DONE);
	CHECK(p.ehlo.auth_plain && p.ehlo.size && !p.ehlo.starttls &&
	      !p.ehlo.pipelining);
	CHECK_EQ_INT(p.ehlo.size_max, 0);

	smtpc_reply_init(&p);
	CHECK_EQ_INT(feed_lines(&p, "250-x\n250 AUTH PLAIN LOGIN"),
		     SMTPC_REPLY_DONE);
	CHECK(p.ehlo.auth_plain && p.ehlo.auth_login);
}

UNIT_TEST(test_reply_limits)
{
	struct smtpc_reply_parser p;
	char *line = malloc(SMTPC_REPLY_LINE_MAX + 2);
	memset(line, 'a', SMTPC_REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	smtpc_reply_init(&p);
	CHECK_EQ_INT(smtpc_reply_feed(&p, str_make(line, SMTPC_REPLY_LINE_MAX)),
		     SMTPC_REPLY_DONE);
	CHECK_EQ_INT(strlen(p.reply.text), SMTPC_TEXT_MAX - 1);
	smtpc_reply_init(&p);
	CHECK_EQ_INT(smtpc_reply_feed(&p, str_make(line, SMTPC_REPLY_LINE_MAX + 1)),
		     SMTPC_REPLY_ERROR);
	CHECK(p.error != NULL);
	/* Stays in error. */
	CHECK_EQ_INT(smtpc_reply_feed(&p, STR_LIT("250 ok")), SMTPC_REPLY_ERROR);
	free(line);

	smtpc_reply_init(&p);
	enum smtpc_reply_status st = SMTPC_REPLY_MORE;
	size_t i;
	for (i = 0; i < SMTPC_REPLY_LINES_MAX - 1; i++)
		st = smtpc_reply_feed(&p, STR_LIT("250-more"));
	CHECK_EQ_INT(st, SMTPC_REPLY_MORE);
	CHECK_EQ_INT(smtpc_reply_feed(&p, STR_LIT("250 last")), SMTPC_REPLY_DONE);
	smtpc_reply_init(&p);
	for (i = 0; i < SMTPC_REPLY_LINES_MAX; i++)
		st = smtpc_reply_feed(&p, STR_LIT("250-more"));
	CHECK_EQ_INT(st, SMTPC_REPLY_MORE);
	CHECK_EQ_INT(smtpc_reply_feed(&p, STR_LIT("250 last")), SMTPC_REPLY_ERROR);
}

UNIT_TEST(test_reply_make)
{
	struct smtpc_reply r;
	smtpc_reply_make(&r, 421, "4.4.2", "lost %s\r\n", "mx");
	CHECK_EQ_INT(r.code, 421);
	CHECK_EQ_STR(r.status, "4.4.2");
	CHECK_EQ_STR(r.text, "(postern) lost mx??");
}

struct body_case {
	const char *in;
	const char *out;
};

static const struct body_case body_cases[] = {
	{ "", ".\r\n" },
	{ "a", "a\r\n.\r\n" },
	{ "a\r\n", "a\r\n.\r\n" },
	{ "a\n", "a\r\n.\r\n" },
	{ "a\rb", "a\r\nb\r\n.\r\n" },
	{ "a\n\rb", "a\r\n\r\nb\r\n.\r\n" },
	{ "a\r\rb\n\n", "a\r\n\r\nb\r\n\r\n.\r\n" },
	{ ".", "..\r\n.\r\n" },
	{ ".\r\n", "..\r\n.\r\n" },
	{ "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n" },
	{ "a\r\n.\r\n", "a\r\n..\r\n.\r\n" },
	{ "a\r.\r", "a\r\n..\r\n.\r\n" },
	{ "x.y\n..z", "x.y\r\n...z\r\n.\r\n" },
	/* The smuggling shapes: a bare LF dot bare LF. */
	{ "a\n.\nMAIL FROM:<x>\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n" },
	{ "a\r\n.\rRCPT", "a\r\n..\r\nRCPT\r\n.\r\n" },
};

static size_t encode_all(const char *in, size_t cap, char *out, size_t outsz)
{
	struct smtpc_body b;
	smtpc_body_init(&b, in, strlen(in));
	size_t o = 0;
	while (!b.finished) {
		size_t n = smtpc_body_encode(&b, out + o, cap);
		o += n;
		if (o + cap > outsz)
			break;
	}
	CHECK_EQ_INT(smtpc_body_encode(&b, out + o, cap), 0);
	return o;
}

UNIT_TEST(test_body)
{
	char out[256];
	for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		const struct body_case *t = &body_cases[i];
		/* Chunk sizes from the smallest allowed to plenty. */
		for (size_t cap = SMTPC_BODY_TAIL_MAX; cap < 40; cap++) {
			size_t n = encode_all(t->in, cap, out, sizeof out);
			CHECK_EQ_MEM(out, n, t->out, strlen(t->out));
		}
	}
}

UNIT_MAIN(test_reply_table, test_reply_ehlo, test_reply_limits,
	  test_reply_make, test_body)
