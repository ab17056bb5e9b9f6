/* libFuzzer target for pop3/parse.c: the input is a command line as the
 * session would see it (without CRLF, any bytes), run through every
 * parser the dispatcher uses; the whole input is also fed to the TOP
 * cut in chunks whose sizes come from the input. Invariants are
 * checked with abort() so that a wrong answer counts as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/parse.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool inside(struct str in, struct str part)
{
	return part.len == 0 ||
	       (part.p >= in.p && part.p + part.len <= in.p + in.len);
}

static void fuzz_line(struct str line)
{
	struct pop3_line pl;
	enum pop3_parse_status st = pop3_parse_line(line, &pl);
	if (st == POP3_PARSE_EMPTY || st == POP3_PARSE_NUL)
		return;
	check(inside(line, pl.verb) && inside(line, pl.rest));
	check(pl.verb.len + pl.has_rest + pl.rest.len == line.len);
	if (st == POP3_PARSE_OK)
		check(pl.verb.len >= POP3_VERB_MIN && pl.verb.len <= POP3_VERB_MAX);
	struct str argv[POP3_ARGS_MAX];
	for (size_t max = 0; max <= POP3_ARGS_MAX; max++) {
		int argc = pop3_split_args(&pl, argv, max);
		check(argc == POP3_ARGS_EMPTY || argc == POP3_ARGS_TOO_MANY ||
		      (argc >= 0 && (size_t)argc <= max));
		for (int i = 0; i < argc; i++) {
			check(argv[i].len > 0 && inside(line, argv[i]));
			check(!memchr(argv[i].p, ' ', argv[i].len));
			size_t n = 0;
			enum pop3_num_status ns =
				pop3_parse_msgnum(argv[i], 1000, &n);
			if (ns == POP3_NUM_OK)
				check(n >= 1 && n <= 1000);
			uint64_t k;
			if (pop3_parse_count(argv[i], &k))
				check(k <= (uint64_t)INT64_MAX);
			(void)pop3_name_ok(argv[i]);
		}
	}
}

static void fuzz_top(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	uint64_t lines = data[0] % 8;
	size_t chunk = (size_t)data[1] % 17 + 1;
	const char *p = (const char *)data + 2;
	size_t len = size - 2, off = 0, kept = 0;
	struct pop3_top t;
	pop3_top_init(&t, lines);
	while (off < len) {
		size_t n = chunk < len - off ? chunk : len - off;
		size_t k = pop3_top_feed(&t, p + off, n);
		check(k <= n);
		check(k == n || t.done);
		kept += k;
		off += n;
		if (t.done)
			break;
	}
	/* The same cut in one piece. */
	struct pop3_top t1;
	pop3_top_init(&t1, lines);
	size_t k1 = pop3_top_feed(&t1, p, len);
	check(k1 == kept && t1.done == t.done);
	/* Once done, the cut ends right after a LF. */
	if (t.done)
		check(kept > 0 && p[kept - 1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes so ASan sees any overread. */
	char *buf = malloc(size ? size : 1);
	if (size)
		memcpy(buf, data, size);
	fuzz_line(str_make(buf, size));
	free(buf);
	fuzz_top(data, size);
	return 0;
}
