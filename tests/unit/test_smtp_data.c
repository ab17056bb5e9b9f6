/* smtp/data.c: the DATA reader (end of data, dot-unstuffing, bare LF/CR,
 * SMTP smuggling variants, limits, pipelining) fed each input in one
 * chunk, one byte at a time and in pseudo-random splits, which must all
 * agree; and the BDAT reader. */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/limits.h"
#include "smtp/data.h"
#include "tests/unit/unit.h"

struct result {
	enum smtp_data_status st;
	size_t consumed;
	struct buf out;
	struct smtp_data d;
};

/* split: 0 = one chunk, 1 = byte by byte, >1 = random splits seeded. */
static void run(const char *in, size_t len, uint64_t max, unsigned flags,
		unsigned split, struct result *r)
{
	buf_init(&r->out);
	smtp_data_init(&r->d, &r->out, max, flags);
	r->consumed = 0;
	r->st = SMTP_DATA_NEED_MORE;
	uint32_t seed = split * 2654435761u;
	size_t off = 0;
	while (off < len) {
		size_t n = len - off;
		if (split == 1) {
			n = 1;
		} else if (split > 1) {
			seed = seed * 1103515245u + 12345u;
			size_t want = (seed >> 16) % 7;
			n = want < n ? want : n; /* 0-byte feeds too */
		}
		size_t c = 0;
		r->st = smtp_data_feed(&r->d, in + off, n, &c);
		CHECK(c <= n);
		r->consumed += c;
		if (r->st == SMTP_DATA_DONE) {
			/* Later feeds consume nothing: it ends once. */
			size_t c2 = 99;
			CHECK_EQ_INT(smtp_data_feed(&r->d, in + off + c,
						    len - off - c, &c2),
				     SMTP_DATA_DONE);
			CHECK_EQ_INT(c2, 0);
			break;
		}
		CHECK_EQ_INT(c, n);
		off += n;
	}
	(void)buf_cstr(&r->out); /* data never NULL, for memcmp */
}

static void same(const struct result *a, const struct result *b)
{
	CHECK_EQ_INT(a->st, b->st);
	CHECK_EQ_INT(a->consumed, b->consumed);
	CHECK_EQ_MEM(a->out.data, a->out.len, b->out.data, b->out.len);
	CHECK(a->d.size == b->d.size);
	CHECK_EQ_INT(a->d.max_line, b->d.max_line);
	CHECK_EQ_INT(a->d.too_big, b->d.too_big);
	CHECK_EQ_INT(a->d.line_too_long, b->d.line_too_long);
	CHECK_EQ_INT(a->d.eight_bit, b->d.eight_bit);
	CHECK_EQ_INT(a->d.nul, b->d.nul);
	CHECK_EQ_INT(a->d.bare_lf, b->d.bare_lf);
	CHECK_EQ_INT(a->d.bare_cr, b->d.bare_cr);
	CHECK_EQ_INT(a->d.done, b->d.done);
	CHECK_EQ_INT(a->d.header_too_big, b->d.header_too_big);
	CHECK_EQ_INT(a->d.field_too_long, b->d.field_too_long);
	CHECK(a->d.header_len == b->d.header_len);
	CHECK_EQ_INT(a->d.n_fields, b->d.n_fields);
}

/* Runs every split, checks they agree, leaves the one-chunk result. */
static void run_all(const char *in, size_t len, uint64_t max,
		    unsigned flags, struct result *r)
{
	run(in, len, max, flags, 0, r);
	for (unsigned s = 1; s < 12; s++) {
		struct result o;
		run(in, len, max, flags, s, &o);
		same(r, &o);
		buf_free(&o.out);
	}
}

#define NM ((size_t)-1) /* NEED_MORE: everything consumed, no end */

struct data_case {
	const char *in;
	size_t len; /* 0: strlen */
	unsigned flags;
	size_t consumed; /* NM: not done */
	const char *out;
	bool bare_lf, bare_cr;
	enum smtp_err verdict;
};

static const struct data_case data_cases[] = {
	/* The CRLF ending DATA counts: "." CRLF first ends an empty one. */
	{ ".\r\n", 0, 0, 3, "", false, false, SMTP_OK },
	{ "a\r\n.\r\n", 0, 0, 6, "a\r\n", false, false, SMTP_OK },
	{ "\r\n.\r\n", 0, 0, 5, "\r\n", false, false, SMTP_OK },
	{ "a\r\nb\r\n.\r\n", 0, 0, 9, "a\r\nb\r\n", false, false, SMTP_OK },
	/* Dot-unstuffing. */
	{ "..\r\n.\r\n", 0, 0, 7, ".\r\n", false, false, SMTP_OK },
	{ "..a\r\n.b\r\n...\r\n.\r\n", 0, 0, 17, ".a\r\nb\r\n..\r\n", false,
	  false, SMTP_OK },
	{ "x.\r\n.\r\n", 0, 0, 7, "x.\r\n", false, false, SMTP_OK },
	{ "a\r\n. \r\n.\r\n", 0, 0, 10, "a\r\n \r\n", false, false, SMTP_OK },
	/* Pipelined commands after the end are left. */
	{ "a\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n", 0, 0, 6, "a\r\n",
	  false, false, SMTP_OK },
	{ ".\r\n.\r\n", 0, 0, 3, "", false, false, SMTP_OK },
	/* Not ended. */
	{ "", 0, 0, NM, "", false, false, SMTP_OK },
	{ "a\r\n", 0, 0, NM, "a\r\n", false, false, SMTP_OK },
	{ "a\r\n.", 0, 0, NM, "a\r\n", false, false, SMTP_OK },
	{ "a\r\n.\r", 0, 0, NM, "a\r\n", false, false, SMTP_OK },
	{ "a.\r\n", 0, 0, NM, "a.\r\n", false, false, SMTP_OK },
	/* Bare LF / CR: content, never the end; rejected by default. */
	{ "a\nb\r\n.\r\n", 0, 0, 8, "a\nb\r\n", true, false,
	  SMTP_ERR_BARE_NEWLINE },
	{ "a\rb\r\n.\r\n", 0, 0, 8, "a\rb\r\n", false, true,
	  SMTP_ERR_BARE_NEWLINE },
	{ "a\r\r\n.\r\n", 0, 0, 7, "a\r\r\n", false, true,
	  SMTP_ERR_BARE_NEWLINE },
	{ "a\n.\n", 0, 0, NM, "a\n.\n", true, false, SMTP_ERR_BARE_NEWLINE },
	{ ".\n", 0, 0, NM, ".\n", true, false, SMTP_ERR_BARE_NEWLINE },
	{ ".\rX", 0, 0, NM, "\rX", false, true, SMTP_ERR_BARE_NEWLINE },
	{ "\n.\r\n", 0, 0, NM, "\n.\r\n", true, false, SMTP_ERR_BARE_NEWLINE },
	/* NORMALIZE: bare LF stored as CRLF, accepted; still never ends
	 * the data, and the next line is not unstuffed. */
	{ "a\nb\r\n.\r\n", 0, SMTP_DATA_NORMALIZE_LF, 8, "a\r\nb\r\n", true,
	  false, SMTP_OK },
	{ "a\n.\nb\r\n.\r\n", 0, SMTP_DATA_NORMALIZE_LF, 10,
	  "a\r\n.\r\nb\r\n", true, false, SMTP_OK },
	{ "a\n..\r\n.\r\n", 0, SMTP_DATA_NORMALIZE_LF, 9, "a\r\n..\r\n", true,
	  false, SMTP_OK },
	{ "a\rb\r\n.\r\n", 0, SMTP_DATA_NORMALIZE_LF, 8, "a\rb\r\n", false,
	  true, SMTP_ERR_BARE_NEWLINE },
	/* NUL and 8-bit are data. */
	{ "a\0b\r\n.\r\n", 8, 0, 8, "a\0b\r\n", false, false, SMTP_OK },
};

UNIT_TEST(test_data_cases)
{
	for (size_t i = 0; i < sizeof data_cases / sizeof data_cases[0]; i++) {
		const struct data_case *t = &data_cases[i];
		size_t len = t->len ? t->len : strlen(t->in);
		/* The one case with a NUL (len set) ends in ".\r\n". */
		size_t outlen = t->len ? t->len - 3 : strlen(t->out);
		struct result r;
		run_all(t->in, len, 1000000, t->flags, &r);
		if (t->consumed == NM) {
			CHECK_EQ_INT(r.st, SMTP_DATA_NEED_MORE);
			CHECK_EQ_INT(r.consumed, len);
			CHECK(!r.d.done);
		} else {
			if (r.st != SMTP_DATA_DONE)
				fprintf(stderr, "data case %zu not done\n", i);
			CHECK_EQ_INT(r.st, SMTP_DATA_DONE);
			CHECK_EQ_INT(r.consumed, t->consumed);
			CHECK(r.d.done);
		}
		if (r.out.len != outlen)
			fprintf(stderr, "data case %zu: out %zu bytes\n", i,
				r.out.len);
		CHECK_EQ_MEM(r.out.data, r.out.len, t->out, outlen);
		CHECK(r.d.size == r.out.len);
		CHECK_EQ_INT(r.d.bare_lf, t->bare_lf);
		CHECK_EQ_INT(r.d.bare_cr, t->bare_cr);
		CHECK_EQ_INT(smtp_data_verdict(&r.d), t->verdict);
		buf_free(&r.out);
	}
}

/* SEC Consult (2023) SMTP smuggling: each fake end-of-data between
 * "A" and "B" must be content; the real <CRLF>.<CRLF> after B ends the
 * data exactly there, and the pipelined QUIT is left. */
static const char *const smuggle[] = {
	"\n.\n",     "\n.\r\n",   "\r.\r",   "\r\n.\n",   "\r.\r\n",
	"\n.\r",     "\r\n.\r",   "\r\n.\rX", "\r\n.\r\r", "\n.\r\r\n",
	"\r.\n",     "\r\n.\n\r\n", "\n\n.\n\n", "\r\r.\r\r", "\r\n\n.\r\n",
	"\n\r\n.\n", "\r\n.\x00\r\n",
};

UNIT_TEST(test_smuggling)
{
	static const char tail[] = "B\r\n.\r\nQUIT\r\n";
	for (size_t i = 0; i < sizeof smuggle / sizeof smuggle[0]; i++) {
		for (unsigned norm = 0; norm < 2; norm++) {
			char in[128];
			size_t vlen = strlen(smuggle[i]);
			if (i == sizeof smuggle / sizeof smuggle[0] - 1)
				vlen = 6; /* the NUL one */
			size_t n = 0;
			memcpy(in + n, "Subject: x\r\n\r\nA", 15);
			n += 15;
			memcpy(in + n, smuggle[i], vlen);
			n += vlen;
			memcpy(in + n, tail, sizeof tail - 1);
			n += sizeof tail - 1;
			struct result r;
			run_all(in, n, 1000000,
				norm ? SMTP_DATA_NORMALIZE_LF : 0, &r);
			if (r.st != SMTP_DATA_DONE || r.consumed != n - 6)
				fprintf(stderr, "smuggle case %zu: %zu/%zu\n",
					i, r.consumed, n);
			CHECK_EQ_INT(r.st, SMTP_DATA_DONE);
			CHECK_EQ_INT(r.consumed, n - 6); /* "QUIT\r\n" left */
			CHECK(r.out.len >= 3 &&
			      memcmp(r.out.data + r.out.len - 3, "B\r\n", 3) == 0);
			CHECK(r.d.bare_lf || r.d.bare_cr ||
			      i == sizeof smuggle / sizeof smuggle[0] - 1);
			if (!norm && i != sizeof smuggle / sizeof smuggle[0] - 1)
				CHECK_EQ_INT(smtp_data_verdict(&r.d),
					     SMTP_ERR_BARE_NEWLINE);
			buf_free(&r.out);
		}
	}
}

UNIT_TEST(test_size_limit)
{
	static const char in[] = "0123456789\r\n..x\r\n.\r\nNOOP\r\n";
	struct result r;
	run_all(in, sizeof in - 1, 5, 0, &r);
	CHECK_EQ_INT(r.st, SMTP_DATA_DONE);
	CHECK_EQ_INT(r.consumed, sizeof in - 1 - 6);
	CHECK_EQ_MEM(r.out.data, r.out.len, "01234", 5);
	CHECK(r.d.size == 16);
	CHECK(r.d.too_big);
	CHECK_EQ_INT(smtp_data_verdict(&r.d), SMTP_ERR_MSG_TOO_BIG);
	buf_free(&r.out);
	/* Exactly at the limit is fine. */
	run_all(in, sizeof in - 1, 16, 0, &r);
	CHECK(!r.d.too_big && r.d.size == 16 && r.out.len == 16);
	CHECK_EQ_INT(smtp_data_verdict(&r.d), SMTP_OK);
	buf_free(&r.out);
	run_all(in, sizeof in - 1, 15, 0, &r);
	CHECK(r.d.too_big && r.out.len == 15);
	buf_free(&r.out);
	run_all(in, sizeof in - 1, 0, 0, &r);
	CHECK(r.d.too_big && r.out.len == 0);
	buf_free(&r.out);
	/* Too big wins over bare LF in the verdict. */
	run_all("a\nbcdef\r\n.\r\n", 12, 3, 0, &r);
	CHECK_EQ_INT(smtp_data_verdict(&r.d), SMTP_ERR_MSG_TOO_BIG);
	buf_free(&r.out);
}

UNIT_TEST(test_line_length_and_flags)
{
	char in[2100];
	struct result r;
	/* 998 octets + CRLF = 1000: the limit, allowed. */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	run_all(in, 1003, 1000000, 0, &r);
	CHECK_EQ_INT(r.d.max_line, 1000);
	CHECK(!r.d.line_too_long);
	buf_free(&r.out);
	/* 1001 with a stuffing dot counted (as received). */
	in[0] = '.';
	run_all(in, 1003, 1000000, 0, &r);
	CHECK_EQ_INT(r.d.max_line, 1000);
	CHECK_EQ_INT(r.out.len, 999);
	buf_free(&r.out);
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	run_all(in, 1004, 1000000, 0, &r);
	CHECK_EQ_INT(r.d.max_line, 1001);
	/* Over RFC 5321's minimum, under our hard cap: taken. */
	CHECK(!r.d.line_too_long);
	CHECK_EQ_INT(smtp_data_verdict(&r.d), SMTP_OK);
	buf_free(&r.out);
	/* The final ".\r\n" is not a line; short lines. */
	run_all("ab\r\nc\r\n.\r\n", 10, 1000000, 0, &r);
	CHECK_EQ_INT(r.d.max_line, 4);
	CHECK(!r.d.eight_bit && !r.d.nul);
	buf_free(&r.out);
	run_all(".\r\n", 3, 1000000, 0, &r);
	CHECK_EQ_INT(r.d.max_line, 0);
	buf_free(&r.out);
	run_all("\xc3\xa9\r\n.\r\n", 7, 1000000, 0, &r);
	CHECK(r.d.eight_bit && !r.d.nul);
	buf_free(&r.out);
	/* Flags only from consumed bytes: 8-bit after the end is not ours. */
	run_all("a\r\n.\r\n\xff\0", 8, 1000000, 0, &r);
	CHECK(!r.d.eight_bit && !r.d.nul);
	buf_free(&r.out);
}

/* Builds "prefix" + n copies of "line" + "rest" into a new buf. */
static void build(struct buf *b, const char *prefix, const char *line,
		  size_t n, const char *rest)
{
	buf_init(b);
	buf_appends(b, prefix);
	for (size_t i = 0; i < n; i++)
		buf_appends(b, line);
	buf_appends(b, rest);
}

/* A header field line of 100 octets with its CRLF. */
#define FILLER "X-Filler: 01234567890123456789012345678901234567890123456789" \
	"01234567890123456789012345678901234567"
#define FILLER_LF FILLER "\n"

static enum smtp_err verdict_of(const struct buf *in, unsigned flags,
				struct result *r)
{
	run_all(in->data, in->len, 100000000, flags, r);
	CHECK_EQ_INT(r->st, SMTP_DATA_DONE);
	return smtp_data_verdict(&r->d);
}

UNIT_TEST(test_hard_line_cap)
{
	/* SMTP_DATA_LINE_MAX octets with the CRLF: taken; one more: 554. */
	struct buf in = BUF_INIT;
	struct result r;
	for (int extra = 0; extra < 2; extra++) {
		buf_init(&in);
		buf_appends(&in, "Subject: long\r\n\r\n");
		for (size_t i = 0; i < SMTP_DATA_LINE_MAX - 2 + (size_t)extra; i++)
			buf_appendc(&in, 'x');
		buf_appends(&in, "\r\nshort\r\n.\r\n");
		CHECK_EQ_INT(verdict_of(&in, 0, &r),
			     extra ? SMTP_ERR_TEXT_LINE_TOO_LONG : SMTP_OK);
		CHECK_EQ_INT(r.d.line_too_long, extra == 1);
		buf_free(&r.out);
		buf_free(&in);
	}
	/* A bare LF normalized to CRLF counts as stored (one more). */
	buf_init(&in);
	for (size_t i = 0; i < SMTP_DATA_LINE_MAX - 1; i++)
		buf_appendc(&in, 'x');
	buf_appends(&in, "\n\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, SMTP_DATA_NORMALIZE_LF, &r),
		     SMTP_ERR_TEXT_LINE_TOO_LONG);
	buf_free(&r.out);
	buf_free(&in);
	/* BDAT: the same cap on its lines. */
	struct buf out = BUF_INIT;
	struct smtp_data d;
	size_t c;
	smtp_data_init(&d, &out, 100000000, 0);
	build(&in, "", "y", SMTP_DATA_LINE_MAX, "\n");
	smtp_bdat_begin(&d, in.len, true);
	CHECK_EQ_INT(smtp_bdat_feed(&d, in.data, in.len, &c), SMTP_DATA_DONE);
	CHECK_EQ_INT(smtp_data_verdict(&d), SMTP_ERR_TEXT_LINE_TOO_LONG);
	buf_free(&out);
	buf_free(&in);
}

UNIT_TEST(test_header_limits)
{
	struct buf in;
	struct result r;
	/* An ordinary header: counted, then the body is not. */
	build(&in, "From: a@b\r\nSubject: x\r\n\tfolded\r\n\r\n", "body: 1\r\n",
	      10000, ".\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.d.n_fields, 2);
	CHECK(r.d.header_len == 34);
	buf_free(&r.out);
	buf_free(&in);
	/* Header section over SMTP_HEADER_MAX: 552. */
	build(&in, "", FILLER "\r\n",
	      SMTP_HEADER_MAX / 100 + 1, "\r\nbody\r\n.\r\n");
	CHECK(SMTP_HEADER_MAX / 100 + 1 <= SMTP_HEADER_FIELDS_MAX);
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_ERR_HEADER_TOO_BIG);
	CHECK(r.d.header_too_big && !r.d.field_too_long);
	buf_free(&r.out);
	buf_free(&in);
	/* Just under it: taken. */
	build(&in, "", FILLER "\r\n",
	      (SMTP_HEADER_MAX - 2) / 100, "\r\nbody\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	buf_free(&r.out);
	buf_free(&in);
	/* Too many fields, though small. */
	build(&in, "", "A: b\r\n", SMTP_HEADER_FIELDS_MAX + 1, "\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_ERR_HEADER_TOO_BIG);
	CHECK_EQ_INT(r.d.n_fields, SMTP_HEADER_FIELDS_MAX + 1);
	buf_free(&r.out);
	buf_free(&in);
	build(&in, "", "A: b\r\n", SMTP_HEADER_FIELDS_MAX, "\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	buf_free(&r.out);
	buf_free(&in);
	/* One field folded over SMTP_HEADER_FIELD_MAX (the block is not). */
	build(&in, "To: a@b,\r\n", " c@d,\r\n", SMTP_HEADER_FIELD_MAX / 7,
	      "Subject: s\r\n\r\nbody\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_ERR_HEADER_TOO_BIG);
	CHECK(r.d.field_too_long && !r.d.header_too_big);
	buf_free(&r.out);
	buf_free(&in);
	/* One unfolded field line that long, too. */
	build(&in, "Subject: ", "s", SMTP_HEADER_FIELD_MAX, "\r\n\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_ERR_HEADER_TOO_BIG);
	buf_free(&r.out);
	buf_free(&in);
	/* No header at all (a text file sent as is, curl --upload-file):
	 * the first line is not a field, so all of it is body. */
	build(&in, "hello world\r\n", "line: of text\r\n", 20000, ".\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.d.n_fields, 0);
	buf_free(&r.out);
	buf_free(&in);
	/* The header ends at the first non-field line; WSP before the
	 * colon (RFC 5322 4.5) is a field; a continuation first is not. */
	build(&in, "Subject : a\r\nno colon here\r\n", "X: y\r\n", 20000,
	      ".\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.d.n_fields, 1);
	buf_free(&r.out);
	buf_free(&in);
	build(&in, " x\r\n", "X: y\r\n", 20000, ".\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.d.n_fields, 0);
	buf_free(&r.out);
	buf_free(&in);
	/* LF-only header lines (normalized) count as lines. */
	build(&in, "", FILLER_LF,
	      SMTP_HEADER_MAX / 100 + 1, "\nbody\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, SMTP_DATA_NORMALIZE_LF, &r),
		     SMTP_ERR_HEADER_TOO_BIG);
	buf_free(&r.out);
	buf_free(&in);
	/* BDAT: the same limits, across chunks. */
	struct buf out = BUF_INIT;
	struct smtp_data d;
	size_t c;
	smtp_data_init(&d, &out, 100000000, 0);
	build(&in, "", "A: b\r\n", SMTP_HEADER_FIELDS_MAX + 1, "\r\n");
	smtp_bdat_begin(&d, 7, false);
	CHECK_EQ_INT(smtp_bdat_feed(&d, in.data, 7, &c), SMTP_DATA_DONE);
	smtp_bdat_begin(&d, in.len - 7, true);
	CHECK_EQ_INT(smtp_bdat_feed(&d, in.data + 7, in.len - 7, &c),
		     SMTP_DATA_DONE);
	CHECK_EQ_INT(smtp_data_verdict(&d), SMTP_ERR_HEADER_TOO_BIG);
	buf_free(&out);
	buf_free(&in);
	/* Too big and bare newlines are answered first. */
	build(&in, "a\n", "A: b\r\n", SMTP_HEADER_FIELDS_MAX + 1, "\r\n.\r\n");
	CHECK_EQ_INT(verdict_of(&in, 0, &r), SMTP_ERR_BARE_NEWLINE);
	buf_free(&r.out);
	buf_free(&in);
}

/* A longer pseudo-random input over the bytes that matter: all splits
 * agree, and the stored bytes never exceed the input. */
UNIT_TEST(test_random_agree)
{
	static const char alpha[] = { '.', '\r', '\n', 'a', '\0', '\xff' };
	char in[400];
	uint32_t seed = 7;
	for (int round = 0; round < 300; round++) {
		for (size_t i = 0; i < sizeof in; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % sizeof alpha];
		}
		struct result r;
		run_all(in, sizeof in, (uint64_t)(round % 50) * 8,
			round & 1 ? SMTP_DATA_NORMALIZE_LF : 0, &r);
		CHECK(r.consumed <= sizeof in);
		if (r.st == SMTP_DATA_DONE)
			CHECK(r.consumed >= 3 &&
			      memcmp(in + r.consumed - 3, ".\r\n", 3) == 0);
		buf_free(&r.out);
	}
}

UNIT_TEST(test_bdat)
{
	struct buf out = BUF_INIT;
	struct smtp_data d;
	size_t c;
	smtp_data_init(&d, &out, 1000, 0);
	smtp_bdat_begin(&d, 5, false);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "hel", 3, &c), SMTP_DATA_NEED_MORE);
	CHECK_EQ_INT(c, 3);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "", 0, &c), SMTP_DATA_NEED_MORE);
	CHECK_EQ_INT(c, 0);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "loBDAT 0 LAST\r\n", 15, &c),
		     SMTP_DATA_DONE);
	CHECK_EQ_INT(c, 2);
	CHECK(!d.done);
	/* Not interpreted: dots, bare LF, end markers are data. */
	smtp_bdat_begin(&d, 9, false);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "\n.\r\n.\r\n\xff\0QUIT", 13, &c),
		     SMTP_DATA_DONE);
	CHECK_EQ_INT(c, 9);
	CHECK(!d.bare_lf && !d.bare_cr && d.eight_bit && d.nul);
	smtp_bdat_begin(&d, 0, true);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "QUIT", 4, &c), SMTP_DATA_DONE);
	CHECK_EQ_INT(c, 0);
	CHECK(d.done);
	CHECK_EQ_MEM(out.data, out.len, "hello\n.\r\n.\r\n\xff\0", 14);
	CHECK(d.size == 14);
	CHECK_EQ_INT(smtp_data_verdict(&d), SMTP_OK);
	buf_free(&out);

	/* Size limit across chunks; the rest is consumed and dropped. */
	smtp_data_init(&d, &out, 4, 0);
	smtp_bdat_begin(&d, 3, false);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "abc", 3, &c), SMTP_DATA_DONE);
	smtp_bdat_begin(&d, 3, true);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "d", 1, &c), SMTP_DATA_NEED_MORE);
	CHECK_EQ_INT(smtp_bdat_feed(&d, "efNOOP", 6, &c), SMTP_DATA_DONE);
	CHECK_EQ_INT(c, 2);
	CHECK(d.done && d.too_big && d.size == 6);
	CHECK_EQ_MEM(out.data, out.len, "abcd", 4);
	CHECK_EQ_INT(smtp_data_verdict(&d), SMTP_ERR_MSG_TOO_BIG);
	buf_free(&out);

	/* Byte by byte gives the same as one chunk. */
	static const char blob[] = "x\r\n.\r\ny\nz";
	struct buf o1 = BUF_INIT, o2 = BUF_INIT;
	struct smtp_data d1, d2;
	smtp_data_init(&d1, &o1, 6, 0);
	smtp_data_init(&d2, &o2, 6, 0);
	smtp_bdat_begin(&d1, sizeof blob - 1, true);
	smtp_bdat_begin(&d2, sizeof blob - 1, true);
	CHECK_EQ_INT(smtp_bdat_feed(&d1, blob, sizeof blob - 1, &c),
		     SMTP_DATA_DONE);
	for (size_t i = 0; i < sizeof blob - 1; i++)
		CHECK_EQ_INT(smtp_bdat_feed(&d2, blob + i, 1, &c),
			     i + 2 == sizeof blob ? SMTP_DATA_DONE
						  : SMTP_DATA_NEED_MORE);
	CHECK_EQ_MEM(o1.data, o1.len, o2.data, o2.len);
	CHECK(d1.size == d2.size && d1.too_big && d2.too_big);
	buf_free(&o1);
	buf_free(&o2);
}

UNIT_MAIN(test_data_cases, test_smuggling, test_size_limit,
	  test_line_length_and_flags, test_hard_line_cap, test_header_limits,
	  test_random_agree, test_bdat)
