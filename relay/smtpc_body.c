/* The DATA encoder: see smtpc_body.h. */
#include "relay/smtpc_body.h"

#include <string.h>

void smtpc_body_init(struct smtpc_body *b, const char *data, size_t len)
{
	memset(b, 0, sizeof *b);
	b->data = data;
	b->len = len;
	b->line_start = true;
}

size_t smtpc_body_encode(struct smtpc_body *b, char *out, size_t cap)
{
	size_t o = 0;
	if (b->finished)
		return 0;
	/* Each input byte becomes at most two output bytes. */
	while (b->pos < b->len && o + 2 <= cap) {
		char c = b->data[b->pos++];
		if (c == '\n' && b->after_cr) {
			b->after_cr = false;
			continue;
		}
		b->after_cr = false;
		if (c == '\r' || c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			b->line_start = true;
			b->after_cr = c == '\r';
			continue;
		}
		if (b->line_start && c == '.')
			out[o++] = '.';
		out[o++] = c;
		b->line_start = false;
	}
	if (b->pos < b->len || cap - o < SMTPC_BODY_TAIL_MAX)
		return o;
	if (!b->line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	b->finished = true;
	return o;
}
