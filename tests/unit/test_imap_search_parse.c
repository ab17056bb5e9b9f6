/* imap/search_parse.c: SEARCH programs from real command lines through
 * imap/parse.c, printed back as a tree and compared; every key, dates,
 * CHARSET, RETURN options, nesting and each error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/parse.h"
#include "imap/search_parse.h"
#include "tests/unit/unit.h"

static const char *const names[] = {
	"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD",
	"RECENT", "SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED",
	"UNSEEN", "KEYWORD", "UNKEYWORD", "BEFORE", "ON", "SINCE", "LARGER",
	"SMALLER", "SEQ", "UID", "SENTBEFORE", "SENTON", "SENTSINCE", "BCC",
	"CC", "FROM", "SUBJECT", "TO", "HEADER", "BODY", "TEXT", "AND", "OR",
	"NOT",
};

static void print_key(const struct imap_search_key *k, struct buf *b)
{
	buf_appends(b, names[k->type]);
	switch (k->type) {
	case IMAP_SK_BEFORE: case IMAP_SK_ON: case IMAP_SK_SINCE:
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
		buf_printf(b, " %04u-%02u-%02u", k->date.year, k->date.month,
			   k->date.day);
		break;
	case IMAP_SK_LARGER: case IMAP_SK_SMALLER:
		buf_printf(b, " %llu", (unsigned long long)k->number);
		break;
	case IMAP_SK_SEQSET: case IMAP_SK_UID:
		buf_printf(b, " %s", k->set.saved ? "$" : "");
		for (size_t i = 0; i < k->set.n; i++)
			buf_printf(b, "%s%u:%u", i ? "," : "", k->set.r[i].lo,
				   k->set.r[i].hi);
		break;
	case IMAP_SK_HEADER:
		buf_printf(b, " %s", k->field);
		/* fall through */
	default:
		if (k->value.p) {
			buf_appends(b, " '");
			buf_append(b, k->value.p, k->value.len);
			buf_appendc(b, '\'');
		}
	}
	if (k->nchild) {
		buf_appends(b, " (");
		for (size_t i = 0; i < k->nchild; i++) {
			if (i)
				buf_appends(b, ", ");
			print_key(&k->child[i], b);
		}
		buf_appendc(b, ')');
	}
}

/* Parses "t SEARCH <args>"; returns the printed program or the error. */
static void search(const char *args, struct buf *out, unsigned *needs,
		   struct imap_search_program *keep)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf line = BUF_INIT;
	buf_printf(&line, "t SEARCH %s", args);
	if (imap_parser_feed_line(p, buf_str(&line)) != IMAP_PARSE_DONE) {
		buf_appends(out, "no parse");
		goto done;
	}
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	struct imap_search_program prog;
	struct imap_search_error err;
	if (!imap_search_parse(a, n, &prog, &err)) {
		buf_printf(out, "E%s %s", err.badcharset ? " badcharset" : "",
			   err.reason);
		goto done;
	}
	if (prog.esearch)
		buf_printf(out, "ret=%x ", prog.ret);
	if (prog.charset)
		buf_printf(out, "cs=%s ", prog.charset);
	print_key(&prog.root, out);
	if (needs)
		*needs = imap_search_needs(&prog.root);
	if (keep)
		*keep = prog;
	else
		imap_search_free(&prog);
done:
	buf_free(&line);
	imap_parser_free(&p);
}

static const struct {
	const char *in;
	const char *want;
	unsigned needs;
} cases[] = {
	{ "ALL", "AND (ALL)", 0 },
	{ "answered deleted draft flagged new old recent seen",
	  "AND (ANSWERED, DELETED, DRAFT, FLAGGED, NEW, OLD, RECENT, SEEN)",
	  0 },
	{ "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
	  "AND (UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNSEEN)", 0 },
	{ "KEYWORD $Junk UNKEYWORD foo",
	  "AND (KEYWORD '$Junk', UNKEYWORD 'foo')", 0 },
	{ "BEFORE 1-Feb-2024 ON \"29-feb-2024\" SINCE 31-DEC-1999",
	  "AND (BEFORE 2024-02-01, ON 2024-02-29, SINCE 1999-12-31)", 0 },
	{ "SENTBEFORE 01-Jan-2000 SENTON 9-Sep-2009 SENTSINCE 30-Apr-2001",
	  "AND (SENTBEFORE 2000-01-01, SENTON 2009-09-09, "
	  "SENTSINCE 2001-04-30)",
	  IMAP_SEARCH_NEEDS_HEADERS },
	{ "LARGER 100 SMALLER 9223372036854775807",
	  "AND (LARGER 100, SMALLER 9223372036854775807)", 0 },
	{ "1:3,*", "AND (SEQ 1:3,0:0)", 0 },
	{ "UID 5:*", "AND (UID 5:0)", 0 },
	{ "$", "AND (SEQ $)", 0 },
	{ "UID $", "AND (UID $)", 0 },
	{ "BCC a CC \"b c\" FROM {1}", "no parse", 0 },
	{ "BCC a CC \"b c\" FROM x TO y SUBJECT \"\"",
	  "AND (BCC 'a', CC 'b c', FROM 'x', TO 'y', SUBJECT '')",
	  IMAP_SEARCH_NEEDS_HEADERS },
	{ "HEADER X-Spam yes", "AND (HEADER X-Spam 'yes')",
	  IMAP_SEARCH_NEEDS_HEADERS },
	{ "BODY hello", "AND (BODY 'hello')", IMAP_SEARCH_NEEDS_BODY },
	{ "TEXT hello", "AND (TEXT 'hello')",
	  IMAP_SEARCH_NEEDS_HEADERS | IMAP_SEARCH_NEEDS_BODY },
	{ "NOT SEEN", "AND (NOT (SEEN))", 0 },
	{ "NOT NOT FROM x", "AND (NOT (NOT (FROM 'x')))",
	  IMAP_SEARCH_NEEDS_HEADERS },
	{ "OR SEEN BODY x", "AND (OR (SEEN, BODY 'x'))",
	  IMAP_SEARCH_NEEDS_BODY },
	{ "OR (SEEN FLAGGED) NOT 2:4",
	  "AND (OR (AND (SEEN, FLAGGED), NOT (SEQ 2:4)))", 0 },
	{ "OR HEADER a b UID 1 SEEN",
	  "AND (OR (HEADER a 'b', UID 1:1), SEEN)", IMAP_SEARCH_NEEDS_HEADERS },
	{ "((SEEN))", "AND (AND (AND (SEEN)))", 0 },
	{ "CHARSET UTF-8 SUBJECT \"\xc3\xa4\"",
	  "cs=UTF-8 AND (SUBJECT '\xc3\xa4')", IMAP_SEARCH_NEEDS_HEADERS },
	{ "charset us-ascii ALL", "cs=us-ascii AND (ALL)", 0 },
	{ "RETURN () ALL", "ret=4 AND (ALL)", 0 },
	{ "RETURN (MIN MAX COUNT ALL SAVE) ALL", "ret=1f AND (ALL)", 0 },
	{ "RETURN (count) CHARSET UTF-8 ALL", "ret=8 cs=UTF-8 AND (ALL)", 0 },
	/* errors */
	{ "", "no parse", 0 },
	{ "FOO", "E Unknown search key: FOO", 0 },
	{ "SEEN bar", "E Unknown search key: bar", 0 },
	{ "\"SEEN\"", "E Invalid search key", 0 },
	{ "()", "E Empty search key list", 0 },
	{ "NOT", "E Missing argument to: NOT", 0 },
	{ "OR SEEN", "E Missing argument to: OR", 0 },
	{ "OR FROM x", "E Missing search key", 0 },
	{ "(NOT)", "E Missing argument to: NOT", 0 },
	{ "FROM", "E Missing argument to: FROM", 0 },
	{ "FROM (x)", "E Invalid string for: FROM", 0 },
	{ "HEADER", "E Missing argument to: HEADER", 0 },
	{ "HEADER x", "E Missing argument to: HEADER", 0 },
	{ "HEADER \"\" x", "E Invalid header field name", 0 },
	{ "HEADER a:b x", "E Invalid header field name", 0 },
	{ "KEYWORD \"x\"", "E Invalid keyword", 0 },
	{ "KEYWORD a*", "E Invalid keyword", 0 },
	{ "KEYWORD \\Seen", "E Invalid keyword", 0 },
	{ "BEFORE 1-Feb-24", "E Invalid date for: BEFORE", 0 },
	{ "ON 29-Feb-2023", "E Invalid date for: ON", 0 },
	{ "ON 31-Apr-2023", "E Invalid date for: ON", 0 },
	{ "ON 0-Apr-2023", "E Invalid date for: ON", 0 },
	{ "ON 123-Apr-2023", "E Invalid date for: ON", 0 },
	{ "ON 1-Foo-2023", "E Invalid date for: ON", 0 },
	{ "ON 1-Apr-2023x", "E Invalid date for: ON", 0 },
	{ "ON 1-Apr-20x3", "E Invalid date for: ON", 0 },
	{ "ON 1/Apr/2023", "E Invalid date for: ON", 0 },
	{ "LARGER -1", "E Invalid number for: LARGER", 0 },
	{ "LARGER 9223372036854775808", "E Invalid number for: LARGER", 0 },
	{ "SMALLER \"1\"", "E Invalid number for: SMALLER", 0 },
	{ "UID", "E Missing argument to: UID", 0 },
	{ "UID x", "E Invalid sequence set", 0 },
	{ "UID (1)", "E Invalid sequence set", 0 },
	{ "0", "E Invalid sequence number 0", 0 },
	{ "1:4294967296", "E Sequence number too large", 0 },
	{ "CHARSET", "E Missing charset", 0 },
	{ "CHARSET UTF-8", "E Missing search key", 0 },
	{ "CHARSET ISO-8859-1 ALL",
	  "E badcharset Unsupported charset: ISO-8859-1", 0 },
	{ "RETURN", "E Missing RETURN options", 0 },
	{ "RETURN ALL", "E Invalid RETURN options", 0 },
	{ "RETURN (FOO) ALL", "E Unknown RETURN option: FOO", 0 },
	{ "RETURN ((x)) ALL", "E Unknown RETURN option: (", 0 },
	{ "RETURN (ALL)", "E Missing search key", 0 },
	{ "FOO\x7f", "no parse", 0 },
};

UNIT_TEST(test_programs)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		unsigned needs = 99;
		search(cases[i].in, &b, &needs, NULL);
		CHECK_EQ_STR(buf_cstr(&b), cases[i].want);
		if (needs != 99)
			CHECK_EQ_INT(needs, cases[i].needs);
		buf_free(&b);
	}
}

UNIT_TEST(test_depth)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	for (int i = 0; i < IMAP_SEARCH_DEPTH_MAX - 1; i++)
		buf_appends(&in, "NOT ");
	buf_appends(&in, "SEEN");
	search(buf_cstr(&in), &out, NULL, NULL);
	CHECK(strncmp(buf_cstr(&out), "AND (NOT (NOT", 13) == 0);
	buf_clear(&in);
	buf_clear(&out);
	for (int i = 0; i < IMAP_SEARCH_DEPTH_MAX; i++)
		buf_appends(&in, "NOT ");
	buf_appends(&in, "SEEN");
	search(buf_cstr(&in), &out, NULL, NULL);
	CHECK_EQ_STR(buf_cstr(&out), "E Search keys nested too deep");
	buf_free(&in);
	buf_free(&out);
}

/* A failure deep inside OR/NOT/lists frees everything (ASan checks). */
UNIT_TEST(test_partial_free)
{
	static const char *const bad[] = {
		"OR (SEEN HEADER a b) (FROM x HEADER c)",
		"NOT (OR HEADER a b UID 1:2 FROM)",
		"SEEN (SEEN (SEEN (1:2 UID 3 KEYWORD)))",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf out = BUF_INIT;
		search(bad[i], &out, NULL, NULL);
		CHECK(out.len > 0 && out.data[0] == 'E');
		buf_free(&out);
	}
}

UNIT_TEST(test_owned_strings)
{
	struct buf out = BUF_INIT;
	struct imap_search_program prog;
	search("HEADER Subject \"a b\"", &out, NULL, &prog);
	/* the parser is gone: the program's strings are its own */
	CHECK_EQ_STR(prog.root.child[0].field, "Subject");
	CHECK_EQ_MEM(prog.root.child[0].value.p, prog.root.child[0].value.len,
		     "a b", 3);
	imap_search_free(&prog);
	CHECK(prog.root.child == NULL);
	buf_free(&out);
}

UNIT_MAIN(test_programs, test_depth, test_partial_free, test_owned_strings)
