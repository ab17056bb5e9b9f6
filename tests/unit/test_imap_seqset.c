/* imap/seqset.c: parse, resolve against '*', membership, iteration and
 * the compact format, table-driven. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/seqset.h"
#include "tests/unit/unit.h"

struct case_ {
	const char *in;
	uint32_t star;
	const char *resolved; /* formatted; NULL: parse error */
	const char *reason;
};

static const struct case_ cases[] = {
	{ "1", 10, "1", NULL },
	{ "1,3:5,7:*,*:3", 10, "1,3:10", NULL },
	{ "2,4:7,9,12:*", 15, "2,4:7,9,12:15", NULL },
	{ "*:4,5:7", 10, "4:10", NULL },
	{ "*:1", 3, "1:3", NULL },
	{ "5:2", 3, "2:5", NULL },
	{ "1:*", 0, "", NULL },
	{ "*", 0, "", NULL },
	{ "3,*", 0, "3", NULL },
	{ "3291:*", 100, "100:3291", NULL },
	{ "4294967295", 1, "4294967295", NULL },
	{ "1:4294967295", 1, "1:4294967295", NULL },
	{ "4294967295:*,1", 7, "1,7:4294967295", NULL },
	{ "1,2,3,5,4", 9, "1:5", NULL },
	{ "9,7,8", 9, "7:9", NULL },
	{ "4294967296", 1, NULL, "Sequence number too large" },
	{ "0", 1, NULL, "Invalid sequence number 0" },
	{ "1:0", 1, NULL, "Invalid sequence number 0" },
	{ "01", 1, NULL, "Invalid sequence set" },
	{ "", 1, NULL, "Invalid sequence set" },
	{ "1,", 1, NULL, "Invalid sequence set" },
	{ ",1", 1, NULL, "Invalid sequence set" },
	{ "1:", 1, NULL, "Invalid sequence set" },
	{ "1::2", 1, NULL, "Invalid sequence set" },
	{ "1:2:3", 1, NULL, "Invalid sequence set" },
	{ "1 2", 1, NULL, "Invalid sequence set" },
	{ "**", 1, NULL, "Invalid sequence set" },
	{ "$,1", 1, NULL, "Invalid sequence set" },
	{ "-1", 1, NULL, "Invalid sequence set" },
};

UNIT_TEST(test_parse_resolve)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct case_ *t = &cases[i];
		struct imap_seqset s, r;
		const char *reason = NULL;
		bool ok = imap_seqset_parse(str_from_cstr(t->in), &s, &reason);
		if (!t->resolved) {
			CHECK(!ok);
			CHECK_EQ_STR(reason, t->reason);
			continue;
		}
		CHECK(ok);
		if (!ok) {
			fprintf(stderr, "case %s: %s\n", t->in, reason);
			continue;
		}
		CHECK(imap_seqset_resolve(&s, t->star, &r));
		struct buf b = BUF_INIT;
		imap_seqset_format(&r, &b);
		CHECK_EQ_STR(buf_cstr(&b), t->resolved);
		/* membership and iteration agree with the format */
		struct imap_seqset_iter it;
		imap_seqset_iter_init(&it, &r);
		uint32_t v, prev = 0, got = 0;
		uint64_t n = 0;
		while (n < 1000 && imap_seqset_iter_next(&it, &v)) {
			CHECK(n == 0 || v > prev);
			CHECK(imap_seqset_contains(&r, v));
			prev = v;
			got++;
			n++;
		}
		if (imap_seqset_count(&r) <= 1000)
			CHECK_EQ_INT(got, imap_seqset_count(&r));
		buf_free(&b);
		imap_seqset_free(&r);
		imap_seqset_free(&s);
	}
}

UNIT_TEST(test_star_and_saved)
{
	struct imap_seqset s, r;
	const char *reason;
	CHECK(imap_seqset_parse(STR_LIT("7,2:*"), &s, &reason));
	CHECK(s.has_star && !s.saved);
	CHECK_EQ_INT(s.max_number, 7);
	imap_seqset_free(&s);
	CHECK(imap_seqset_parse(STR_LIT("$"), &s, &reason));
	CHECK(s.saved && s.n == 0);
	CHECK(!imap_seqset_resolve(&s, 5, &r));
	imap_seqset_free(&s);
}

UNIT_TEST(test_contains_iter)
{
	struct imap_seqset s, r;
	const char *reason;
	CHECK(imap_seqset_parse(STR_LIT("10:20,1,4294967290:*"), &s, &reason));
	CHECK(imap_seqset_resolve(&s, UINT32_MAX, &r));
	CHECK(imap_seqset_contains(&r, 1));
	CHECK(!imap_seqset_contains(&r, 0));
	CHECK(!imap_seqset_contains(&r, 2));
	CHECK(!imap_seqset_contains(&r, 9));
	CHECK(imap_seqset_contains(&r, 10));
	CHECK(imap_seqset_contains(&r, 20));
	CHECK(!imap_seqset_contains(&r, 21));
	CHECK(imap_seqset_contains(&r, UINT32_MAX));
	CHECK_EQ_INT(imap_seqset_count(&r), 1 + 11 + 6);
	struct imap_seqset_iter it;
	imap_seqset_iter_init(&it, &r);
	uint32_t v, last = 0;
	size_t n = 0;
	while (imap_seqset_iter_next(&it, &v)) {
		last = v;
		n++;
	}
	CHECK_EQ_INT(n, 18);
	CHECK_EQ_INT(last, UINT32_MAX);
	CHECK(!imap_seqset_iter_next(&it, &v));
	imap_seqset_free(&r);
	imap_seqset_free(&s);
	/* an empty resolved set */
	CHECK(imap_seqset_parse(STR_LIT("*"), &s, &reason));
	CHECK(imap_seqset_resolve(&s, 0, &r));
	CHECK(!imap_seqset_contains(&r, 1));
	imap_seqset_iter_init(&it, &r);
	CHECK(!imap_seqset_iter_next(&it, &v));
	CHECK_EQ_INT(imap_seqset_count(&r), 0);
	imap_seqset_free(&r);
	imap_seqset_free(&s);
}

UNIT_TEST(test_format_array)
{
	static const struct {
		uint32_t v[8];
		size_t n;
		const char *out;
	} t[] = {
		{ { 0 }, 0, "" },
		{ { 5 }, 1, "5" },
		{ { 1, 2, 3, 4, 5, 7, 9, 10 }, 8, "1:5,7,9:10" },
		{ { 1, 1, 2, 2, 4 }, 5, "1:2,4" },
		{ { 4294967294u, 4294967295u }, 2, "4294967294:4294967295" },
		{ { 3, 5, 7 }, 3, "3,5,7" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b = BUF_INIT;
		imap_seqset_format_array(t[i].v, t[i].n, &b);
		CHECK_EQ_STR(b.len ? buf_cstr(&b) : "", t[i].out);
		buf_free(&b);
	}
}

UNIT_TEST(test_too_many_ranges)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < IMAP_SEQSET_RANGES_MAX; i++)
		buf_appends(&b, i ? ",1" : "1");
	struct imap_seqset s;
	const char *reason;
	CHECK(imap_seqset_parse(buf_str(&b), &s, &reason));
	CHECK_EQ_INT(s.n, IMAP_SEQSET_RANGES_MAX);
	imap_seqset_free(&s);
	buf_appends(&b, ",2");
	CHECK(!imap_seqset_parse(buf_str(&b), &s, &reason));
	CHECK_EQ_STR(reason, "Sequence set too long");
	buf_free(&b);
}

UNIT_MAIN(test_parse_resolve, test_star_and_saved, test_contains_iter,
	  test_format_array, test_too_many_ranges)
