/* libFuzzer target: postern-index as a session maps it (store/index.c).
 * The input is written as a mailbox's index with its CRC fixed up, so
 * that the fuzzer reaches the header and record parsers; every name the
 * view then points at must lie inside the mapping and end in its NUL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "store/store_int.h"

static char g_dir[64];

static void touch_names(const struct msg_vec *mv, const struct mailbox *mb)
{
	const char *lo = mb->index_map, *hi = lo + mb->index_map_len;
	for (size_t i = 0; i < mv->n; i++) {
		const char *n = mv->v[i].filename;
		if (!n)
			continue;
		if (n < lo || n >= hi)
			abort();
		size_t len = strnlen(n, (size_t)(hi - n));
		if (len == 0 || n + len >= hi || memchr(n, '/', len))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_dir[0]) {
		log_set_level(LOG_ERR);
		snprintf(g_dir, sizeof g_dir, "/tmp/fuzz_store_index.XXXXXX");
		if (!mkdtemp(g_dir))
			abort();
	}
	unsigned char *buf = malloc(size + 4);
	memcpy(buf, data, size);
	size_t len = size;
	if (len >= 8) {
		/* Fix up the trailing CRC over everything before it. */
		put_u32(buf + len - 4, crc_of(buf, len - 4));
	}
	/* Rewritten in place (postern never does that): the previous
	 * input's mapping is gone by now, and this is much faster. */
	char file[128];
	snprintf(file, sizeof file, "%s/" STORE_INDEX_NAME, g_dir);
	FILE *f = fopen(file, "wb");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0)
		abort();
	free(buf);
	struct mailbox mb;
	memset(&mb, 0, sizeof mb);
	mb.path = g_dir;
	if (index_read(&mb)) {
		touch_names(&mb.msgs, &mb);
		touch_names(&mb.tombs, &mb);
		for (size_t i = 1; i < mb.msgs.n; i++)
			if (mb.msgs.v[i].uid <= mb.msgs.v[i - 1].uid)
				abort();
	}
	mailbox_clear(&mb);
	return 0;
}
