/* mime/crlf: table-driven, then every case again one byte per call. */
#include <stdlib.h>

#include "mime/crlf.h"
#include "tests/unit/unit.h"

struct crlf_case {
	const char *in;
	bool dot;
	const char *out;
	uint64_t lines;
};

static const struct crlf_case cases[] = {
	{ "", false, "", 0 },
	{ "", true, "", 0 },
	{ "a", false, "a\r\n", 1 },
	{ "a\n", false, "a\r\n", 1 },
	{ "a\r\n", false, "a\r\n", 1 },
	{ "a\nb\r\nc", false, "a\r\nb\r\nc\r\n", 3 },
	{ "\n\n", false, "\r\n\r\n", 2 },
	{ "\r\n\r\n", false, "\r\n\r\n", 2 },
	{ "a\rb\n", false, "a\rb\r\n", 1 },
	{ "a\r", false, "a\r\r\n", 1 },
	{ "x\r\r\n", false, "x\r\r\n", 1 },
	{ ".a\n", false, ".a\r\n", 1 },
	{ ".a\n", true, "..a\r\n", 1 },
	{ "a\n.\n", true, "a\r\n..\r\n", 2 },
	{ "a\r\n.\r\n", true, "a\r\n..\r\n", 2 },
	{ ".", true, "..\r\n", 1 },
	{ "..\n", true, "...\r\n", 1 },
	{ "a.b\n", true, "a.b\r\n", 1 },
	{ "a\r.b\n", true, "a\r.b\r\n", 1 },   /* bare CR: no line start */
	{ "\r.\n", true, "\r.\r\n", 1 },
	{ "a\n.", true, "a\r\n..\r\n", 2 },
	{ "l1\n.l2\n\n.", true, "l1\r\n..l2\r\n\r\n..\r\n", 4 },
};

static size_t run_whole(const struct crlf_case *c, char *out, uint64_t *lines)
{
	struct crlf_state st;
	size_t n = strlen(c->in);
	crlf_init(&st, c->dot);
	size_t o = crlf_convert(&st, c->in, n, out);
	o += crlf_finish(&st, out + o);
	*lines = st.lines;
	return o;
}

static size_t run_bytewise(const struct crlf_case *c, char *out)
{
	struct crlf_state st;
	size_t n = strlen(c->in), o = 0;
	crlf_init(&st, c->dot);
	for (size_t i = 0; i < n; i++) {
		char tmp[3];
		size_t k = crlf_convert(&st, c->in + i, 1, tmp);
		CHECK(k <= 2);
		memcpy(out + o, tmp, k);
		o += k;
	}
	o += crlf_finish(&st, out + o);
	return o;
}

UNIT_TEST(test_table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct crlf_case *c = &cases[i];
		char out[256];
		uint64_t lines;
		size_t o = run_whole(c, out, &lines);
		if (o != strlen(c->out) || memcmp(out, c->out, o) != 0)
			fprintf(stderr, "case %zu failed\n", i);
		CHECK_EQ_MEM(out, o, c->out, strlen(c->out));
		CHECK_EQ_INT(lines, c->lines);
		if (!c->dot)
			CHECK_EQ_INT(crlf_wire_size(c->in, strlen(c->in)), o);
	}
}

UNIT_TEST(test_bytewise)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char a[256], b[256];
		uint64_t lines;
		size_t na = run_whole(&cases[i], a, &lines);
		size_t nb = run_bytewise(&cases[i], b);
		CHECK_EQ_MEM(b, nb, a, na);
	}
}

/* Random inputs over the interesting alphabet, split at random points:
 * chunked output equals whole output; wire size matches. */
UNIT_TEST(test_random_chunks)
{
	static const char alpha[] = "\r\n.a";
	unsigned seed = 12345;
	for (int round = 0; round < 2000; round++) {
		char in[64], whole[256], chunked[256];
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof in;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % 4];
		}
		for (int dot = 0; dot < 2; dot++) {
			struct crlf_state st;
			crlf_init(&st, dot);
			size_t w = crlf_convert(&st, in, n, whole);
			w += crlf_finish(&st, whole + w);
			crlf_init(&st, dot);
			size_t c = 0, pos = 0;
			while (pos < n) {
				seed = seed * 1103515245u + 12345u;
				size_t k = 1 + (seed >> 16) % 7;
				if (k > n - pos)
					k = n - pos;
				c += crlf_convert(&st, in + pos, k, chunked + c);
				pos += k;
			}
			c += crlf_finish(&st, chunked + c);
			CHECK_EQ_MEM(chunked, c, whole, w);
			CHECK(w <= 2 * n + 2);
			if (!dot)
				CHECK_EQ_INT(crlf_wire_size(in, n), w);
		}
	}
}

UNIT_MAIN(test_table, test_bytewise, test_random_chunks)
