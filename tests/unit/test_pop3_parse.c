/* pop3/parse.c: command lines, arguments, numbers, names and the TOP
 * cut, table-driven; the TOP cut is also fed one byte at a time. */
#include <stdint.h>
#include <string.h>

#include "core/limits.h"
#include "pop3/parse.h"
#include "tests/unit/unit.h"

#define S(lit) str_make(lit, sizeof(lit) - 1)

struct line_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	enum pop3_parse_status st;
	const char *verb;
	const char *rest;
	bool has_rest;
};

static const struct line_case line_cases[] = {
	{ "", 0, POP3_PARSE_EMPTY, "", "", false },
	{ "STAT", 0, POP3_PARSE_OK, "STAT", "", false },
	{ "stat", 0, POP3_PARSE_OK, "stat", "", false },
	{ "StAt", 0, POP3_PARSE_OK, "StAt", "", false },
	{ "TOP 1 2", 0, POP3_PARSE_OK, "TOP", "1 2", true },
	{ "LIST ", 0, POP3_PARSE_OK, "LIST", "", true },
	{ "PASS  two  spaces ", 0, POP3_PARSE_OK, "PASS", " two  spaces ",
	  true },
	{ "US", 0, POP3_PARSE_BAD_VERB, "US", "", false },
	{ "USERS", 0, POP3_PARSE_BAD_VERB, "USERS", "", false },
	{ "US1R x", 0, POP3_PARSE_BAD_VERB, "US1R", "x", true },
	{ " USER x", 0, POP3_PARSE_BAD_VERB, "", "USER x", true },
	{ "\tUSER", 0, POP3_PARSE_BAD_VERB, "\tUSER", "", false },
	{ "USER\tx", 0, POP3_PARSE_BAD_VERB, "USER\tx", "", false },
	{ "ÄBCD", 0, POP3_PARSE_BAD_VERB, "ÄBCD", "", false },
	{ "QUIT\0x", 6, POP3_PARSE_NUL, "", "", false },
	{ "\0", 1, POP3_PARSE_NUL, "", "", false },
	{ "USER a\0", 7, POP3_PARSE_NUL, "", "", false },
	{ "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", 0, POP3_PARSE_OK, "AUTH",
	  "PLAIN dGVzdAB0ZXN0AHRlc3Q=", true },
	{ "[z@", 0, POP3_PARSE_BAD_VERB, "[z@", "", false },
	{ "`AA", 0, POP3_PARSE_BAD_VERB, "`AA", "", false },
	{ "Z{ab", 0, POP3_PARSE_BAD_VERB, "Z{ab", "", false },
};

UNIT_TEST(test_parse_line)
{
	for (size_t i = 0; i < sizeof line_cases / sizeof line_cases[0]; i++) {
		const struct line_case *t = &line_cases[i];
		size_t len = t->len ? t->len : strlen(t->in);
		struct pop3_line pl;
		enum pop3_parse_status st = pop3_parse_line(str_make(t->in, len),
							    &pl);
		CHECK_EQ_INT(st, t->st);
		if (st == POP3_PARSE_NUL || st == POP3_PARSE_EMPTY)
			continue;
		CHECK_EQ_MEM(pl.verb.p, pl.verb.len, t->verb, strlen(t->verb));
		CHECK_EQ_MEM(pl.rest.p, pl.rest.len, t->rest, strlen(t->rest));
		CHECK_EQ_INT(pl.has_rest, t->has_rest);
	}
}

struct args_case {
	const char *in;
	size_t max;
	int argc;
	const char *argv[POP3_ARGS_MAX];
};

static const struct args_case args_cases[] = {
	{ "NOOP", 3, 0, { NULL } },
	{ "LIST 1", 3, 1, { "1" } },
	{ "TOP 1 10", 3, 2, { "1", "10" } },
	{ "APOP bob c4c9334bac560ecc979e58001b3e22fb", 3, 2,
	  { "bob", "c4c9334bac560ecc979e58001b3e22fb" } },
	{ "TOP 1 2 3", 3, 3, { "1", "2", "3" } },
	{ "TOP 1 2 3 4", 3, POP3_ARGS_TOO_MANY, { NULL } },
	{ "TOP 1 2", 1, POP3_ARGS_TOO_MANY, { NULL } },
	{ "LIST ", 3, POP3_ARGS_EMPTY, { NULL } },
	{ "LIST  1", 3, POP3_ARGS_EMPTY, { NULL } },
	{ "LIST 1 ", 3, POP3_ARGS_EMPTY, { NULL } },
	{ "TOP 1  2", 3, POP3_ARGS_EMPTY, { NULL } },
	{ "LIST 1", 0, POP3_ARGS_TOO_MANY, { NULL } },
	{ "LIST", 0, 0, { NULL } },
};

UNIT_TEST(test_split_args)
{
	for (size_t i = 0; i < sizeof args_cases / sizeof args_cases[0]; i++) {
		const struct args_case *t = &args_cases[i];
		struct pop3_line pl;
		CHECK_EQ_INT(pop3_parse_line(str_from_cstr(t->in), &pl),
			     POP3_PARSE_OK);
		struct str argv[POP3_ARGS_MAX];
		int argc = pop3_split_args(&pl, argv, t->max);
		CHECK_EQ_INT(argc, t->argc);
		for (int k = 0; k < argc; k++)
			CHECK_EQ_MEM(argv[k].p, argv[k].len, t->argv[k],
				     strlen(t->argv[k]));
	}
}

struct num_case {
	const char *in;
	size_t count;
	enum pop3_num_status st;
	size_t out;
};

static const struct num_case num_cases[] = {
	{ "1", 3, POP3_NUM_OK, 1 },
	{ "3", 3, POP3_NUM_OK, 3 },
	{ "003", 3, POP3_NUM_OK, 3 },
	{ "4", 3, POP3_NUM_RANGE, 0 },
	{ "0", 3, POP3_NUM_RANGE, 0 },
	{ "000", 3, POP3_NUM_RANGE, 0 },
	{ "1", 0, POP3_NUM_RANGE, 0 },
	{ "99999999999999999999999999", 3, POP3_NUM_RANGE, 0 },
	{ "18446744073709551616", 3, POP3_NUM_RANGE, 0 },
	{ "", 3, POP3_NUM_SYNTAX, 0 },
	{ "-1", 3, POP3_NUM_SYNTAX, 0 },
	{ "+1", 3, POP3_NUM_SYNTAX, 0 },
	{ "1a", 3, POP3_NUM_SYNTAX, 0 },
	{ "0x1", 3, POP3_NUM_SYNTAX, 0 },
	{ " 1", 3, POP3_NUM_SYNTAX, 0 },
	{ "1.0", 3, POP3_NUM_SYNTAX, 0 },
	{ "\xd9\xa1", 3, POP3_NUM_SYNTAX, 0 }, /* Arabic-Indic one */
};

UNIT_TEST(test_msgnum)
{
	for (size_t i = 0; i < sizeof num_cases / sizeof num_cases[0]; i++) {
		const struct num_case *t = &num_cases[i];
		size_t out = 0;
		CHECK_EQ_INT(pop3_parse_msgnum(str_from_cstr(t->in), t->count,
					       &out),
			     t->st);
		if (t->st == POP3_NUM_OK)
			CHECK_EQ_INT(out, t->out);
	}
	size_t out = 0;
	CHECK_EQ_INT(pop3_parse_msgnum(str_make("1\0", 2), 3, &out),
		     POP3_NUM_SYNTAX);
}

UNIT_TEST(test_count)
{
	uint64_t v = 7;
	CHECK(pop3_parse_count(S("0"), &v) && v == 0);
	CHECK(pop3_parse_count(S("10"), &v) && v == 10);
	CHECK(pop3_parse_count(S("0000000000000000000000000000012"), &v) &&
	      v == 12);
	CHECK(pop3_parse_count(S("99999999999999999999999"), &v) &&
	      v == (uint64_t)INT64_MAX);
	CHECK(pop3_parse_count(S("9223372036854775808"), &v) &&
	      v == (uint64_t)INT64_MAX);
	CHECK(!pop3_parse_count(S(""), &v));
	CHECK(!pop3_parse_count(S("-1"), &v));
	CHECK(!pop3_parse_count(S("1 "), &v));
}

UNIT_TEST(test_name_ok)
{
	char longname[AUTH_NAME_MAX + 2];
	memset(longname, 'a', sizeof longname);
	CHECK(pop3_name_ok(S("alice")));
	CHECK(pop3_name_ok(S("alice@example.org")));
	CHECK(pop3_name_ok(str_make(longname, AUTH_NAME_MAX)));
	CHECK(!pop3_name_ok(str_make(longname, AUTH_NAME_MAX + 1)));
	CHECK(!pop3_name_ok(S("")));
	CHECK(!pop3_name_ok(S("a\0b")));
	CHECK(!pop3_name_ok(S("a\rb")));
	CHECK(!pop3_name_ok(S("a\x7f")));
	CHECK(pop3_name_ok(S("\xc3\xa4lice")));
}

/* Runs the TOP cut over msg in chunks of `chunk` bytes (0 = all at
 * once) and returns how many leading bytes were kept. */
static size_t top_run(const char *msg, uint64_t lines, size_t chunk,
		      bool *done)
{
	size_t len = strlen(msg), kept = 0, off = 0;
	struct pop3_top t;
	pop3_top_init(&t, lines);
	while (off < len && !t.done) {
		size_t n = chunk ? chunk : len;
		if (n > len - off)
			n = len - off;
		size_t k = pop3_top_feed(&t, msg + off, n);
		CHECK(k <= n);
		/* A chunk is only cut short when the cut is reached. */
		if (k < n)
			CHECK(t.done);
		kept += k;
		off += n;
	}
	*done = t.done;
	return kept;
}

struct top_case {
	const char *msg;
	uint64_t lines;
	const char *want;
	bool done;
};

static const struct top_case top_cases[] = {
	{ "A: 1\nB: 2\n\nl1\nl2\nl3\n", 0, "A: 1\nB: 2\n\n", true },
	{ "A: 1\nB: 2\n\nl1\nl2\nl3\n", 2, "A: 1\nB: 2\n\nl1\nl2\n", true },
	{ "A: 1\nB: 2\n\nl1\nl2\nl3\n", 3, "A: 1\nB: 2\n\nl1\nl2\nl3\n",
	  true },
	{ "A: 1\nB: 2\n\nl1\nl2\nl3\n", 9, "A: 1\nB: 2\n\nl1\nl2\nl3\n",
	  false },
	{ "A: 1\r\n\r\nl1\r\nl2\r\n", 1, "A: 1\r\n\r\nl1\r\n", true },
	{ "A: 1\r\n\r\n\r\nl2\r\n", 1, "A: 1\r\n\r\n\r\n", true },
	{ "A: 1\nB: 2\n", 0, "A: 1\nB: 2\n", false }, /* all header */
	{ "A: 1\nB: 2", 5, "A: 1\nB: 2", false },
	{ "\nbody1\nbody2\n", 1, "\nbody1\n", true }, /* empty header */
	{ "A: 1\n\nno newline at end", 5, "A: 1\n\nno newline at end",
	  false },
	{ "A: \r1\n\r\rx\n\nb\n", 0, "A: \r1\n\r\rx\n\n", true },
	{ "A: 1\n\n.dot\n..two\n", 1, "A: 1\n\n.dot\n", true },
	{ "X\n\nb\nc\n", 1, "X\n\nb\n", true }, /* one-octet lines */
	{ "", 0, "", false },
};

UNIT_TEST(test_top_cut)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7 };
	for (size_t i = 0; i < sizeof top_cases / sizeof top_cases[0]; i++) {
		const struct top_case *t = &top_cases[i];
		for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			bool done;
			size_t kept = top_run(t->msg, t->lines, chunks[c], &done);
			if (kept != strlen(t->want) || done != t->done)
				fprintf(stderr, "top case %zu chunk %zu\n", i,
					chunks[c]);
			CHECK_EQ_INT(kept, strlen(t->want));
			CHECK_EQ_INT(done, t->done);
		}
	}
	/* Once done, nothing more is taken. */
	struct pop3_top t;
	pop3_top_init(&t, 0);
	CHECK_EQ_INT(pop3_top_feed(&t, "\n", 1), 1);
	CHECK(t.done);
	CHECK_EQ_INT(pop3_top_feed(&t, "x\n", 2), 0);
	/* A body wanted with 0 lines reached by a later chunk. */
	pop3_top_init(&t, 0);
	CHECK_EQ_INT(pop3_top_feed(&t, "H: v\n", 5), 5);
	CHECK(!t.done);
	CHECK_EQ_INT(pop3_top_feed(&t, "\r", 1), 1);
	CHECK_EQ_INT(pop3_top_feed(&t, "\nbody\n", 6), 1);
	CHECK(t.done);
}

UNIT_MAIN(test_parse_line, test_split_args, test_msgnum, test_count,
	  test_name_ok, test_top_cut)
