/* The DATA and BDAT readers; see data.h for the end-of-data and bare
 * newline rules. */
#include "smtp/data.h"

#include <assert.h>
#include <string.h>

#include "core/limits.h"

/* Where we are in the DATA stream. Only BOL follows a real CRLF. */
enum {
	ST_BOL,    /* at the start of a line that followed CRLF (or DATA) */
	ST_DOT,    /* BOL, then "." (not stored yet) */
	ST_DOT_CR, /* BOL, ".", CR: LF now ends the data */
	ST_MID,    /* inside a line, or after a bare LF / bare CR */
	ST_MID_CR, /* inside a line, CR seen (not stored yet) */
	ST_END,
};

void smtp_data_init(struct smtp_data *d, struct buf *out, uint64_t max_size,
		    unsigned flags)
{
	*d = (struct smtp_data){ 0 };
	d->out = out;
	d->max_size = max_size;
	d->flags = flags;
	d->state = ST_BOL;
}

/* Stores message bytes: the buffer only ever gets the first max_size
 * bytes of the message, whatever the split of the input. */
static void emit(struct smtp_data *d, const char *p, size_t n)
{
	uint64_t before = d->size;
	d->size = d->size > UINT64_MAX - n ? UINT64_MAX : d->size + n;
	if (before < d->max_size) {
		uint64_t room = d->max_size - before;
		buf_append(d->out, p, n < room ? n : (size_t)room);
	}
	if (d->size > d->max_size)
		d->too_big = true;
}

static void end_line(struct smtp_data *d)
{
	if (d->line_len > d->max_line)
		d->max_line = d->line_len;
	if (d->max_line > SMTP_TEXT_LINE_MAX)
		d->line_too_long = true;
	d->line_len = 0;
}

static void bare_lf(struct smtp_data *d)
{
	d->bare_lf = true;
	if (d->flags & SMTP_DATA_NORMALIZE_LF)
		emit(d, "\r\n", 2);
	else
		emit(d, "\n", 1);
	d->line_len++;
	end_line(d);
	d->state = ST_MID; /* the next line is not after a CRLF */
}

static void scan_flags(struct smtp_data *d, const unsigned char *p,
		       size_t n)
{
	for (size_t i = 0; i < n && !(d->eight_bit && d->nul); i++) {
		if (p[i] >= 0x80)
			d->eight_bit = true;
		else if (p[i] == 0)
			d->nul = true;
	}
}

enum smtp_data_status smtp_data_feed(struct smtp_data *d, const void *p,
				     size_t len, size_t *consumed)
{
	const unsigned char *in = p;
	size_t i = 0;
	while (i < len && d->state != ST_END) {
		unsigned char c = in[i];
		switch (d->state) {
		case ST_BOL:
			if (c == '.') {
				d->state = ST_DOT;
				d->line_len++;
				i++;
			} else {
				d->state = ST_MID; /* same byte, MID rules */
			}
			break;
		case ST_DOT:
			if (c == '\r') {
				d->state = ST_DOT_CR;
				d->line_len++;
				i++;
			} else if (c == '\n') {
				/* "." then a bare LF: a one-dot line,
				 * content, never the end. */
				emit(d, ".", 1);
				d->state = ST_MID;
			} else {
				d->state = ST_MID; /* stuffing dot dropped */
			}
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				d->state = ST_END; /* CRLF "." CRLF */
				i++;
			} else {
				/* "." CR x: the dot was stuffing (the line
				 * has more), the CR is bare. */
				d->state = ST_MID_CR;
			}
			break;
		case ST_MID: {
			size_t j = i;
			while (j < len && in[j] != '\r' && in[j] != '\n')
				j++;
			if (j > i) {
				emit(d, (const char *)in + i, j - i);
				d->line_len += j - i;
				i = j;
			} else if (c == '\r') {
				d->state = ST_MID_CR;
				d->line_len++;
				i++;
			} else {
				i++;
				bare_lf(d);
			}
			break;
		}
		case ST_MID_CR:
			if (c == '\n') {
				emit(d, "\r\n", 2);
				d->line_len++;
				end_line(d);
				d->state = ST_BOL;
				i++;
			} else {
				d->bare_cr = true;
				emit(d, "\r", 1);
				d->state = ST_MID; /* c again, MID rules */
			}
			break;
		default:
			assert(!"smtp_data_feed: bad state");
		}
	}
	scan_flags(d, in, i);
	*consumed = i;
	if (d->state == ST_END) {
		d->done = true;
		return SMTP_DATA_DONE;
	}
	return SMTP_DATA_NEED_MORE;
}

void smtp_bdat_begin(struct smtp_data *d, uint64_t size, bool last)
{
	assert(!d->in_chunk && !d->done);
	d->in_chunk = true;
	d->chunk_left = size;
	d->chunk_last = last;
}

enum smtp_data_status smtp_bdat_feed(struct smtp_data *d, const void *p,
				     size_t len, size_t *consumed)
{
	*consumed = 0;
	if (!d->in_chunk)
		return SMTP_DATA_DONE;
	size_t n = len;
	if ((uint64_t)n > d->chunk_left)
		n = (size_t)d->chunk_left;
	if (n > 0) {
		emit(d, p, n);
		scan_flags(d, p, n);
	}
	d->chunk_left -= n;
	*consumed = n;
	if (d->chunk_left > 0)
		return SMTP_DATA_NEED_MORE;
	d->in_chunk = false;
	if (d->chunk_last)
		d->done = true;
	return SMTP_DATA_DONE;
}

enum smtp_err smtp_data_verdict(const struct smtp_data *d)
{
	if (d->too_big)
		return SMTP_ERR_MSG_TOO_BIG;
	if (d->bare_cr ||
	    (d->bare_lf && !(d->flags & SMTP_DATA_NORMALIZE_LF)))
		return SMTP_ERR_BARE_NEWLINE;
	return SMTP_OK;
}
