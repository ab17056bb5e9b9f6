/* LF/CRLF -> CRLF conversion with optional POP3 dot-stuffing.
 *
 * One byte at a time, no lookahead: a CR is copied as soon as it is seen
 * (bare or not, it is one byte on the wire), and a following LF then
 * completes the CRLF without adding another CR. So the output for any
 * split of the input into chunks is the same as for the whole buffer. */
#include "mime/crlf.h"

void crlf_init(struct crlf_state *st, bool dot_stuff)
{
	st->prev_cr = false;
	st->line_start = true;
	st->dot_stuff = dot_stuff;
	st->lines = 0;
}

size_t crlf_convert(struct crlf_state *st, const char *in, size_t n,
		    char *out)
{
	size_t o = 0;
	bool prev_cr = st->prev_cr, line_start = st->line_start;
	uint64_t lines = st->lines;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '\n') {
			if (!prev_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			lines++;
			line_start = true;
			prev_cr = false;
			continue;
		}
		if (c == '.' && line_start && st->dot_stuff)
			out[o++] = '.';
		out[o++] = c;
		/* A bare CR does not end a line, so what follows it is not
		 * at a line start (no dot-stuffing after it). */
		line_start = false;
		prev_cr = (c == '\r');
	}
	st->prev_cr = prev_cr;
	st->line_start = line_start;
	st->lines = lines;
	return o;
}

size_t crlf_finish(struct crlf_state *st, char *out)
{
	if (st->line_start)
		return 0; /* empty message, or the last line ended in LF */
	out[0] = '\r';
	out[1] = '\n';
	st->lines++;
	st->line_start = true;
	st->prev_cr = false;
	return 2;
}

uint64_t crlf_wire_size(const char *in, size_t n)
{
	uint64_t size = 0;
	bool prev_cr = false;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && !prev_cr)
			size++;
		size++;
		prev_cr = (in[i] == '\r');
	}
	if (n > 0 && in[n - 1] != '\n')
		size += 2;
	return size;
}
