/* libFuzzer target: the known-pairs state file (state_dir/auth-known)
 * read back by a new auth process. Whatever it holds, the import stays
 * bounded, and what one limiter exports another imports whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/limiter.h"

static struct limiter *mk(void)
{
	struct limiter_params p = {
		.free_tries = 3, .window = 60, .delay_max_ms = 1000,
		.flood = 100, .block_time = 60, .max_entries = 64,
		.max_known = 32, .known_ttl = 30 * 86400,
	};
	return limiter_new(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct limiter *a = mk(), *b = mk();
	size_t n = limiter_known_import(a, (const char *)data, size, 1000);
	if (n > size / 8 + 1 || limiter_known_size(a) > 32)
		abort();
	struct buf out = BUF_INIT;
	limiter_known_export(a, 1000, &out);
	size_t lines = 0;
	for (size_t i = 0; i < out.len; i++)
		lines += out.data[i] == '\n';
	if (lines != limiter_known_size(a) ||
	    limiter_known_import(b, out.data ? out.data : "", out.len, 5) !=
		    lines ||
	    limiter_known_size(b) != lines)
		abort();
	buf_free(&out);
	limiter_free(&a);
	limiter_free(&b);
	return 0;
}
