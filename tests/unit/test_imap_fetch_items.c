/* imap/fetch_items.c: item lists come from real command lines through
 * imap/parse.c; each case checks flags, \Seen and every section's
 * fields and echoed name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/fetch_items.h"
#include "imap/parse.h"
#include "tests/unit/unit.h"

/* Parses "t FETCH 1 <items>" and returns the items' result. */
static bool fetch(const char *items, struct imap_fetch_items *out,
		  const char **reason)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf line = BUF_INIT;
	buf_printf(&line, "t FETCH 1 %s", items);
	bool ok = false;
	*reason = "command did not parse";
	if (imap_parser_feed_line(p, buf_str(&line)) == IMAP_PARSE_DONE) {
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		ok = n == 2 && imap_fetch_items_parse(&a[1], out, reason);
	}
	buf_free(&line);
	imap_parser_free(&p);
	return ok;
}

/* One line per section: "echo|kind|peek|parts|text|fields|origin.count". */
static void describe(const struct imap_fetch_items *it, struct buf *b)
{
	buf_printf(b, "flags=%x seen=%d", it->flags, it->sets_seen);
	for (size_t i = 0; i < it->nsections; i++) {
		const struct imap_fetch_section *s = &it->sections[i];
		buf_printf(b, "; %s k%d%s p", s->echo, (int)s->kind,
			   s->peek ? " peek" : "");
		for (size_t k = 0; k < s->nparts; k++)
			buf_printf(b, "%s%u", k ? "." : "", s->part[k]);
		buf_printf(b, " t%d", (int)s->text);
		for (size_t k = 0; k < s->nfields; k++)
			buf_printf(b, "%s%s", k ? "," : " f=", s->fields[k]);
		if (s->partial)
			buf_printf(b, " <%llu.%llu>",
				   (unsigned long long)s->origin,
				   (unsigned long long)s->count);
	}
}

static const struct {
	const char *items;
	const char *want; /* describe(), or the error reason */
	bool ok;
} cases[] = {
	{ "ALL", "flags=f seen=0", true },
	{ "fast", "flags=7 seen=0", true },
	{ "FULL", "flags=1f seen=0", true },
	{ "(FLAGS UID)", "flags=41 seen=0", true },
	{ "(ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE INTERNALDATE MODSEQ)",
	  "flags=43e seen=0", true },
	{ "RFC822.HEADER", "flags=100 seen=0", true },
	{ "RFC822", "flags=80 seen=1", true },
	{ "(UID RFC822.TEXT)", "flags=240 seen=1", true },
	{ "BODY[]", "flags=0 seen=1; BODY[] k0 p t0", true },
	{ "BODY.PEEK[]", "flags=0 seen=0; BODY[] k0 peek p t0", true },
	{ "body.peek[text]<0.100>",
	  "flags=0 seen=0; BODY[TEXT]<0> k0 peek p t5 <0.100>", true },
	{ "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>",
	  "flags=0 seen=0; BODY[HEADER.FIELDS (FROM TO)]<0> k0 peek p t2 "
	  "f=FROM,TO <0.100>",
	  true },
	{ "(BODY[1.2.HEADER.FIELDS.NOT (\"X-a\" \"b]c\" \"d\\\"e\")] FLAGS)",
	  "flags=1 seen=1; BODY[1.2.HEADER.FIELDS.NOT (X-A \"B]C\" "
	  "\"D\\\"E\")] k0 p1.2 t3 f=X-A,B]C,D\"E",
	  true },
	{ "BODY[1.MIME]", "flags=0 seen=1; BODY[1.MIME] k0 p1 t4", true },
	{ "BODY[3.HEADER]", "flags=0 seen=1; BODY[3.HEADER] k0 p3 t1", true },
	{ "BODY[4.2.2.1]", "flags=0 seen=1; BODY[4.2.2.1] k0 p4.2.2.1 t0",
	  true },
	{ "BINARY[1.2]<5.10>",
	  "flags=0 seen=1; BINARY[1.2]<5> k1 p1.2 t0 <5.10>", true },
	{ "BINARY.PEEK[]", "flags=0 seen=0; BINARY[] k1 peek p t0", true },
	{ "BINARY.SIZE[2]", "flags=0 seen=0; BINARY.SIZE[2] k2 peek p2 t0",
	  true },
	{ "BODY[]<9223372036854775807.1>",
	  "flags=0 seen=1; BODY[]<9223372036854775807> k0 p t0 "
	  "<9223372036854775807.1>",
	  true },
	/* errors */
	{ "FOO", "Unknown FETCH item", false },
	{ "(FLAGS ALL)", "Unknown FETCH item", false },
	{ "()", "Empty FETCH item list", false },
	{ "\"FLAGS\"", "Invalid FETCH item", false },
	{ "(FLAGS \"UID\")", "Invalid FETCH item", false },
	{ "(FLAGS (UID))", "Invalid FETCH item", false },
	{ "BODY[MIME]", "MIME needs a part number", false },
	{ "BODY[0]", "Invalid part number 0", false },
	{ "BODY[1.0]", "Invalid part number 0", false },
	{ "BODY[01]", "Invalid part number 0", false },
	{ "BODY[4294967296]", "Invalid part number", false },
	{ "BODY[1.]", "Invalid section", false },
	{ "BODY[1..2]", "Invalid section", false },
	{ "BODY[FOO]", "Invalid section", false },
	{ "BODY[1.TEXT.X]", "Invalid section", false },
	{ "BODY[HEADER.FIELDS]", "Missing header field list", false },
	{ "BODY[HEADER.FIELDS ()]", "Invalid header field name", false },
	{ "BODY[HEADER.FIELDS (A:B)]", "Invalid header field name", false },
	{ "BODY[HEADER.FIELDS (\"\")]", "Invalid header field name", false },
	{ "BODY[HEADER.FIELDS (A  B)]", "Invalid header field list", false },
	{ "BODY[HEADER.FIELDS (A) ]", "Invalid header field list", false },
	{ "BODY[HEADER.FIELDS (A B )]", "Invalid header field list", false },
	{ "BODY[HEADER.FIELDS (A)x]", "Invalid header field list", false },
	{ "BINARY[1.TEXT]", "Invalid BINARY section", false },
	{ "BINARY[HEADER]", "Invalid BINARY section", false },
	{ "BINARY.SIZE[1]<0.1>", "Invalid text after section", false },
	{ "BODY[]<0.0>", "Invalid partial", false },
	{ "BODY[]<0>", "Invalid partial", false },
	{ "BODY[]<.1>", "Invalid partial", false },
	{ "BODY[]<9223372036854775808.1>", "Invalid partial", false },
	{ "BODYX[]", "Unknown FETCH item", false },
	{ "RFC822[]", "Unknown FETCH item", false },
};

UNIT_TEST(test_items)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_fetch_items it;
		const char *reason = NULL;
		bool ok = fetch(cases[i].items, &it, &reason);
		if (ok != cases[i].ok) {
			fprintf(stderr, "case %s: ok=%d (%s)\n", cases[i].items,
				ok, ok ? "" : reason);
			CHECK(0);
			if (ok)
				imap_fetch_items_free(&it);
			continue;
		}
		if (!ok) {
			CHECK_EQ_STR(reason, cases[i].want);
			continue;
		}
		struct buf b = BUF_INIT;
		describe(&it, &b);
		CHECK_EQ_STR(buf_cstr(&b), cases[i].want);
		buf_free(&b);
		imap_fetch_items_free(&it);
		CHECK(it.sections == NULL && it.nsections == 0);
	}
}

UNIT_TEST(test_many_sections)
{
	struct buf items = BUF_INIT;
	buf_appendc(&items, '(');
	for (int i = 1; i <= 200; i++)
		buf_printf(&items, "%sBODY.PEEK[%d]", i > 1 ? " " : "", i);
	buf_appendc(&items, ')');
	struct imap_fetch_items it;
	const char *reason;
	CHECK(fetch(buf_cstr(&items), &it, &reason));
	CHECK_EQ_INT(it.nsections, 200);
	CHECK_EQ_STR(it.sections[199].echo, "BODY[200]");
	CHECK(!it.sets_seen);
	imap_fetch_items_free(&it);
	buf_free(&items);
}

UNIT_MAIN(test_items, test_many_sections)
