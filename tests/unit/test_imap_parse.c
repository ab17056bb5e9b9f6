/* imap/parse.c: whole client conversations are driven through the parser
 * the way the session will (lines split at LF, literals fed in chunks of
 * every size, external and refused literals), and every result is logged
 * into one string that the table compares. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/parse.h"
#include "tests/unit/unit.h"

enum mode {
	M_MEM,      /* feed every in-memory literal */
	M_EXTERNAL, /* APPEND messages go external, the rest in memory */
	M_REFUSE,   /* refuse APPEND messages */
};

static void dump_args(struct buf *b, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_appendc(b, ' ');
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			buf_append(b, a[i].s.p, a[i].s.len);
			break;
		case IMAP_ARG_QUOTED:
			buf_appendc(b, '"');
			buf_append(b, a[i].s.p, a[i].s.len);
			buf_appendc(b, '"');
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "%s{%zu}", a[i].literal8 ? "~" : "",
				   a[i].s.len);
			for (size_t k = 0; k < a[i].s.len; k++)
				buf_appendc(b, a[i].s.p[k] ? a[i].s.p[k] : '0');
			break;
		case IMAP_ARG_LIST:
			buf_appendc(b, '(');
			dump_args(b, a[i].list, a[i].count);
			buf_appendc(b, ')');
			break;
		case IMAP_ARG_EXTERNAL:
			buf_printf(b, "<ext %llu %s>",
				   (unsigned long long)a[i].size,
				   (const char *)a[i].cookie);
			break;
		}
	}
}

/* Sends `in` (len bytes) through p like a session; chunk: literal bytes
 * fed at a time (0: all available). */
static void drive(struct imap_parser *p, const char *in, size_t len,
		  size_t chunk, enum mode mode, struct buf *log)
{
	size_t off = 0;
	while (off < len) {
		uint64_t want = imap_parser_literal_remaining(p);
		if (want) {
			size_t n = len - off;
			if (want < n)
				n = (size_t)want;
			if (chunk && chunk < n)
				n = chunk;
			size_t used = 0;
			enum imap_parse_result r =
				imap_parser_feed_literal(p, in + off, n, &used);
			CHECK_EQ_INT(r, IMAP_PARSE_MORE);
			CHECK_EQ_INT(used, n);
			off += used;
			continue;
		}
		const char *nl = memchr(in + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - in) : len;
		struct str line = str_make(in + off, end - off);
		off = nl ? end + 1 : len;
		enum imap_parse_result r = imap_parser_feed_line(p, line);
		if (r == IMAP_PARSE_DONE) {
			size_t n;
			const struct imap_arg *a = imap_parser_args(p, &n);
			struct str t = imap_parser_tag(p),
				   c = imap_parser_command(p);
			buf_appends(log, "D:");
			buf_append(log, t.p, t.len);
			buf_appendc(log, ' ');
			buf_append(log, c.p, c.len);
			if (n)
				buf_appendc(log, ' ');
			dump_args(log, a, n);
			buf_appends(log, ";");
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_ERROR) {
			const struct imap_parse_error *e = imap_parser_error(p);
			buf_appends(log, "E:");
			if (e->tag_known)
				buf_append(log, e->tag.p, e->tag.len);
			else
				buf_appendc(log, '*');
			buf_printf(log, " %s%s%s;", e->reason,
				   e->toobig ? " [TOOBIG]" : "",
				   e->discarding ? " +skip" : "");
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_NEED_LITERAL) {
			const struct imap_literal_info *li =
				imap_parser_literal(p);
			buf_printf(log, "L:%llu%s%s%s%s;",
				   (unsigned long long)li->size,
				   li->sync ? "" : "+", li->literal8 ? "~" : "",
				   li->append_message ? " msg" : "",
				   li->in_memory_ok ? "" : " big");
			if (li->append_message && mode == M_REFUSE) {
				imap_parser_literal_refuse(p);
			} else if (li->append_message && mode == M_EXTERNAL) {
				imap_parser_literal_external(p, "ck");
				size_t skip = (size_t)li->size;
				off += skip < len - off ? skip : len - off;
			}
		} else {
			buf_appends(log, "M;");
		}
	}
}

struct flow {
	const char *in;
	size_t len; /* 0: strlen */
	enum mode mode;
	const char *log;
};

#define BIN(s) s, sizeof(s) - 1

static const struct flow flows[] = {
	/* plain commands */
	{ "a1 NOOP\r\n", 0, M_MEM, "D:a1 NOOP;" },
	{ "a1 noop\n", 0, M_MEM, "D:a1 NOOP;" },
	{ "a1 login \"us\\\\er\" \"p\\\"w\"\r\n", 0, M_MEM,
	  "D:a1 LOGIN \"us\\er\" \"p\"w\";" },
	{ "x SELECT NIL\r\n", 0, M_MEM, "D:x SELECT NIL;" },
	{ "t] LIST \"\" %/*\r\n", 0, M_MEM, "D:t] LIST \"\" %/*;" },
	{ "a STORE 1:* +FLAGS (\\Seen \\Deleted)\r\n", 0, M_MEM,
	  "D:a STORE 1:* +FLAGS (\\Seen \\Deleted);" },
	{ "a SEARCH $ UNSEEN\r\n", 0, M_MEM, "D:a SEARCH $ UNSEEN;" },
	{ "a X () ((a) b)\r\n", 0, M_MEM, "D:a X () ((a) b);" },
	{ "a X \"\xc3\xa4\"\r\n", 0, M_MEM, "D:a X \"\xc3\xa4\";" },
	{ "a X \"\"\r\n", 0, M_MEM, "D:a X \"\";" },
	/* FETCH attributes are single atoms */
	{ "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100> FLAGS)\r\n",
	  0, M_MEM,
	  "D:a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100> FLAGS);" },
	{ "a FETCH 1 BINARY[1.2]<5.10>\r\n", 0, M_MEM,
	  "D:a FETCH 1 BINARY[1.2]<5.10>;" },
	{ "a FETCH 1 (body[HEADER.FIELDS.NOT (\"a)]\" b)] UID)\r\n", 0, M_MEM,
	  "D:a FETCH 1 (body[HEADER.FIELDS.NOT (\"a)]\" b)] UID);" },
	{ "a SELECT a[b c]\r\n", 0, M_MEM, "D:a SELECT a[b c];" },
	{ "a FETCH 1 BODY[TEXT\r\n", 0, M_MEM, "E:a Missing ] in section;" },
	{ "a FETCH 1 BODY[]<1.2\r\n", 0, M_MEM, "E:a Missing > in partial;" },
	{ "a FETCH 1 BODY[]<1x2>\r\n", 0, M_MEM, "E:a Invalid partial;" },
	{ "a FETCH 1 BODY[\x01]\r\n", 0, M_MEM,
	  "E:a Invalid character in section;" },
	/* literals */
	{ "a LOGIN {4}\r\nuser {2}\r\npw\r\n", 0, M_MEM,
	  "L:4;L:2;D:a LOGIN {4}user {2}pw;" },
	{ "a LOGIN {4+}\r\nuser {2+}\r\npw\r\n", 0, M_MEM,
	  "L:4+;L:2+;D:a LOGIN {4}user {2}pw;" },
	{ BIN("a X {3}\r\na\0b\r\n"), M_MEM, "L:3;D:a X {3}a0b;" },
	{ "a X ({0}\r\n)\r\n", 0, M_MEM, "L:0;D:a X ({0});" },
	{ "a X {3}\r\nabc\r\n", 0, M_MEM, "L:3;D:a X {3}abc;" },
	{ "a X {3}\r\nabcdef\r\n", 0, M_MEM, "L:3;E:a Missing space;" },
	{ "a APPEND INBOX (\\Seen) ~{5+}\r\nhello\r\n", 0, M_MEM,
	  "L:5+~ msg;D:a APPEND INBOX (\\Seen) ~{5}hello;" },
	{ "a APPEND {5}\r\nINBOX {5}\r\nhello\r\n", 0, M_MEM,
	  "L:5;L:5 msg;D:a APPEND {5}INBOX {5}hello;" },
	{ "a APPEND INBOX {5}\r\nhello\r\n", 0, M_EXTERNAL,
	  "L:5 msg;D:a APPEND INBOX <ext 5 ck>;" },
	{ "a APPEND INBOX {99999999}\r\n", 0, M_EXTERNAL,
	  "L:99999999 msg big;" },
	{ "a APPEND INBOX {5}\r\nb NOOP\r\n", 0, M_REFUSE,
	  "L:5 msg;D:b NOOP;" },
	{ "a APPEND INBOX {5+}\r\nhelloxyz {3+}\r\nabc\r\nb NOOP\r\n", 0,
	  M_REFUSE, "L:5+ msg;M;M;D:b NOOP;" },
	/* one message per APPEND (no MULTIAPPEND): another literal is
	 * refused when announced, before the session could spool it */
	{ "a APPEND INBOX {5}\r\nhello {3}\r\nb NOOP\r\n", 0, M_EXTERNAL,
	  "L:5 msg;E:a APPEND takes one message literal;D:b NOOP;" },
	{ "a APPEND INBOX {5+}\r\nhello {3+}\r\nabc {3+}\r\nxyz\r\n"
	  "b NOOP\r\n", 0, M_EXTERNAL,
	  "L:5+ msg;E:a APPEND takes one message literal +skip;M;M;"
	  "D:b NOOP;" },
	{ "a APPEND INBOX (\\Seen {3}\r\nb NOOP\r\n", 0, M_EXTERNAL,
	  "E:a Literal not allowed here in APPEND;D:b NOOP;" },
	{ "a APPEND INBOX UTF8 (~{5+}\r\nhello)\r\n", 0, M_MEM,
	  "L:5+~;D:a APPEND INBOX UTF8 (~{5}hello);" },
	{ "a APPEND INBOX UTF8 (~{5+}\r\nhello {1+}\r\nx)\r\nb NOOP\r\n",
	  0, M_MEM,
	  "L:5+~;E:a APPEND takes one message literal +skip;M;D:b NOOP;" },
	/* LITERAL-: refused non-synchronizing literals are skipped */
	{ "a X {5000+}\r\n", 0, M_MEM,
	  "E:a Non-synchronizing literal too large [TOOBIG] +skip;" },
	{ "a X {70000}\r\nb NOOP\r\n", 0, M_MEM,
	  "E:a Literal too large [TOOBIG];D:b NOOP;" },
	{ "a X {99999999999999999999}\r\nb NOOP\r\n", 0, M_MEM,
	  "E:a Literal size too large [TOOBIG];D:b NOOP;" },
	{ "a X {4+}\r\nab\r\n \"x\r\nb NOOP\r\n", 0, M_MEM,
	  "L:4+;E:a Unterminated quoted string;D:b NOOP;" },
	/* an error on a line that announced {N+}: N bytes and the line
	 * after them belong to the failed command */
	{ "a X ( {4+}\r\n\r\nb {1+}\r\n)\r\nc NOOP\r\n", 0, M_MEM,
	  "E:a Space after ( +skip;M;M;D:c NOOP;" },
	{ "a X ( {4+}\r\nab\r\nzz {1}\r\nc NOOP\r\n", 0, M_MEM,
	  "E:a Space after ( +skip;M;D:c NOOP;" },
	{ "a X ( {0+}\r\nq\r\nc NOOP\r\n", 0, M_MEM,
	  "E:a Space after ( +skip;M;D:c NOOP;" },
	/* errors */
	{ "\r\n", 0, M_MEM, "E:* Empty command line;" },
	{ " NOOP\r\n", 0, M_MEM, "E:* Missing or invalid tag;" },
	{ "+a NOOP\r\n", 0, M_MEM, "E:* Missing or invalid tag;" },
	{ "a+b NOOP\r\n", 0, M_MEM, "E:* Invalid character in tag;" },
	{ "a*b NOOP\r\n", 0, M_MEM, "E:* Invalid character in tag;" },
	{ "a\r\n", 0, M_MEM, "E:a Missing command;" },
	{ "a \r\n", 0, M_MEM, "E:a Missing command;" },
	{ "a  NOOP\r\n", 0, M_MEM, "E:a Invalid command name;" },
	{ "a NO(OP\r\n", 0, M_MEM, "E:a Invalid command name;" },
	{ "a NOOP \r\n", 0, M_MEM, "E:a Trailing space;" },
	{ "a X a  b\r\n", 0, M_MEM, "E:a Double space;" },
	{ "a X (a\r\n", 0, M_MEM, "E:a Missing );" },
	{ "a X a)\r\n", 0, M_MEM, "E:a Unexpected );" },
	{ "a X (a )\r\n", 0, M_MEM, "E:a Space before );" },
	{ "a X ( a)\r\n", 0, M_MEM, "E:a Space after (;" },
	{ "a X (a)(b)\r\n", 0, M_MEM, "E:a Missing space;" },
	{ "a X a\"b\"\r\n", 0, M_MEM, "E:a Missing space;" },
	{ "a X \"ab\r\n", 0, M_MEM, "E:a Unterminated quoted string;" },
	{ "a X \"a\\b\"\r\n", 0, M_MEM, "E:a Invalid escape in quoted string;" },
	{ "a X \"a\\\r\n", 0, M_MEM, "E:a Invalid escape in quoted string;" },
	{ "a X \"a\rb\"\r\n", 0, M_MEM,
	  "E:a Invalid character in quoted string;" },
	{ BIN("a X \"a\0b\"\r\n"), M_MEM,
	  "E:a Invalid character in quoted string;" },
	{ "a X \x80\r\n", 0, M_MEM, "E:a Invalid character;" },
	{ "a X {}\r\n", 0, M_MEM, "E:a Invalid literal size;" },
	{ "a X {3x}\r\n", 0, M_MEM, "E:a Invalid literal;" },
	{ "a X {3} b\r\n", 0, M_MEM, "E:a Literal must end the line;" },
	{ "a X {3\r\n", 0, M_MEM, "E:a Invalid literal;" },
	{ "a X ~x\r\n", 0, M_MEM, "D:a X ~x;" },
	{ "a X (((((((((((((((((x)))))))))))))))))\r\n", 0, M_MEM,
	  "E:a Lists nested too deep;" },
	{ "a X ((((((((((((((((x))))))))))))))))\r\n", 0, M_MEM,
	  "D:a X ((((((((((((((((x))))))))))))))));" },
	/* pipelined commands and a bare LF */
	{ "a NOOP\nb CHECK\r\nc X {1}\r\nz\r\n", 0, M_MEM,
	  "D:a NOOP;D:b CHECK;L:1;D:c X {1}z;" },
};

UNIT_TEST(test_flows)
{
	for (size_t i = 0; i < sizeof flows / sizeof flows[0]; i++) {
		const struct flow *f = &flows[i];
		size_t len = f->len ? f->len : strlen(f->in);
		for (size_t chunk = 0; chunk < 4; chunk++) {
			struct imap_parser *p = imap_parser_new(NULL);
			struct buf log = BUF_INIT;
			drive(p, f->in, len, chunk, f->mode, &log);
			if (strcmp(buf_cstr(&log), f->log) != 0) {
				fprintf(stderr, "flow %zu chunk %zu: got %s\n"
						"  expected %s\n",
					i, chunk, log.data, f->log);
				CHECK(0);
			}
			buf_free(&log);
			imap_parser_free(&p);
			CHECK(p == NULL);
		}
	}
}

UNIT_TEST(test_limits)
{
	struct imap_parse_limits lim = imap_parse_limits_default();
	lim.max_args = 3;
	lim.max_depth = 2;
	lim.max_line = 20;
	lim.max_literal = 10;
	lim.max_command = 30;
	lim.max_nonsync_literal = 0; /* LITERAL+ */
	static const struct flow cases[] = {
		{ "a X 1 2 3\r\n", 0, M_MEM, "D:a X 1 2 3;" },
		{ "a X 1 2 3 4\r\n", 0, M_MEM, "E:a Too many arguments;" },
		{ "a X (1 2)\r\n", 0, M_MEM, "D:a X (1 2);" },
		{ "a X (1 2 3)\r\n", 0, M_MEM, "E:a Too many arguments;" },
		{ "a X 1 2 3 {1}\r\n", 0, M_MEM, "E:a Too many arguments;" },
		{ "a X ((x))\r\n", 0, M_MEM, "D:a X ((x));" },
		{ "a X (((x)))\r\n", 0, M_MEM, "E:a Lists nested too deep;" },
		{ "a X 12345678901234567\r\n", 0, M_MEM, "E:a Line too long;" },
		{ "a X 12345678901234567 {3+}\r\nabc\r\nb NOOP\r\n", 0, M_MEM,
		  "E:a Line too long +skip;M;D:b NOOP;" },
		{ "a X {11}\r\n", 0, M_MEM,
		  "E:a Literal too large [TOOBIG];" },
		{ "a X {11+}\r\n01234567890\r\nb NOOP\r\n", 0, M_MEM,
		  "E:a Literal too large [TOOBIG] +skip;M;D:b NOOP;" },
		{ "a X {10}\r\n0123456789 {10}\r\n0123456789 {10}\r\n", 0,
		  M_MEM, "L:10;L:10;E:a Literal too large [TOOBIG];" },
		{ "a X {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n"
		  "0123456789\r\nb NOOP\r\n", 0, M_MEM,
		  "L:10+;L:10+;E:a Literal too large [TOOBIG] +skip;M;"
		  "D:b NOOP;" },
		{ "a X {10}\r\n0123456789 {1}\r\nx\r\n", 0, M_MEM,
		  "L:10;L:1;D:a X {10}0123456789 {1}x;" },
		{ "a APPEND b {20}\r\n", 0, M_MEM, "L:20 msg big;" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_parser *p = imap_parser_new(&lim);
		struct buf log = BUF_INIT;
		drive(p, cases[i].in, strlen(cases[i].in), 0, cases[i].mode,
		      &log);
		if (strcmp(buf_cstr(&log), cases[i].log) != 0) {
			fprintf(stderr, "limits %zu: got %s\n  expected %s\n",
				i, log.data, cases[i].log);
			CHECK(0);
		}
		buf_free(&log);
		imap_parser_free(&p);
	}
}

UNIT_TEST(test_accessors)
{
	struct imap_parser *p = imap_parser_new(NULL);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("t1 uid fetch 1 NIL "
						      "\"NIL\" {0}")),
		     IMAP_PARSE_NEED_LITERAL);
	const struct imap_literal_info *li = imap_parser_literal(p);
	CHECK(str_eq(li->tag, "t1"));
	CHECK(str_eq(li->command, "UID"));
	CHECK(li->sync && !li->append_message && li->in_memory_ok);
	size_t used = 99;
	CHECK_EQ_INT(imap_parser_feed_literal(p, NULL, 0, &used),
		     IMAP_PARSE_MORE);
	CHECK_EQ_INT(used, 0);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("")), IMAP_PARSE_DONE);
	CHECK(imap_parser_command_is(p, "uid"));
	CHECK(!imap_parser_command_is(p, "uidx"));
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	CHECK_EQ_INT(n, 5);
	struct str s;
	CHECK(imap_arg_is_atom(&a[0], "fetch"));
	CHECK(!imap_arg_is_nil(&a[1]) && imap_arg_astring(&a[1], &s));
	CHECK(imap_arg_is_nil(&a[2]));
	CHECK(imap_arg_astring(&a[2], &s) && str_eq(s, "NIL"));
	CHECK(!imap_arg_string(&a[2], &s));
	CHECK(!imap_arg_is_nil(&a[3]) && imap_arg_string(&a[3], &s) &&
	      str_eq(s, "NIL"));
	CHECK(imap_arg_string(&a[4], &s) && s.len == 0);
	imap_parser_reset(p);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("a LIST \"\" *")),
		     IMAP_PARSE_DONE);
	a = imap_parser_args(p, &n);
	CHECK(n == 2 && !imap_arg_astring(&a[1], &s));
	imap_parser_reset(p);
	/* a stray CR before the stripped LF */
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("a NOOP\r")),
		     IMAP_PARSE_DONE);
	imap_parser_free(&p);
	imap_parser_free(&p);
}

/* A big command's buffers are freed on reset; small ones are kept. */
UNIT_TEST(test_big_command)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf line = BUF_INIT;
	buf_appends(&line, "a X");
	for (int i = 0; i < 5000; i++)
		buf_appends(&line, " (x)");
	CHECK_EQ_INT(imap_parser_feed_line(p, buf_str(&line)),
		     IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	CHECK_EQ_INT(n, 5000);
	CHECK(a[4999].type == IMAP_ARG_LIST && a[4999].count == 1 &&
	      str_eq(a[4999].list[0].s, "x"));
	imap_parser_reset(p);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("b NOOP")),
		     IMAP_PARSE_DONE);
	buf_free(&line);
	imap_parser_free(&p);
}

/* IDLE gives the parser's buffers back while it waits; a reset (or a
 * free) after that works as after any command. */
UNIT_TEST(test_release)
{
	struct imap_parser *p = imap_parser_new(NULL);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("a1 IDLE")),
		     IMAP_PARSE_DONE);
	imap_parser_release(p);
	imap_parser_release(p);
	imap_parser_reset(p);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT("a2 SELECT {5}")),
		     IMAP_PARSE_NEED_LITERAL);
	size_t used = 0;
	CHECK_EQ_INT(imap_parser_feed_literal(p, "INBOX", 5, &used),
		     IMAP_PARSE_MORE);
	CHECK_EQ_INT(imap_parser_feed_line(p, STR_LIT(" (x y)")),
		     IMAP_PARSE_DONE);
	struct str tag = imap_parser_tag(p);
	CHECK(str_eq(tag, "a2"));
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	struct str s;
	CHECK(n == 2 && imap_arg_astring(&a[0], &s) && str_eq(s, "INBOX"));
	CHECK(a[1].type == IMAP_ARG_LIST && a[1].count == 2);
	imap_parser_release(p);
	imap_parser_free(&p);
}

UNIT_MAIN(test_flows, test_limits, test_accessors, test_big_command,
	  test_release)
