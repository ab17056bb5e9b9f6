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

/* The header section, watched on the stored bytes (so DATA and BDAT
 * alike, after dot-unstuffing and LF normalization). It ends at the
 * empty line, or at the first line that is neither a field ("name:",
 * RFC 5322 2.2; WSP before the colon as in 4.5) nor the continuation of
 * one (starts with WSP): such a line is body, as in RFC 5322's
 * grammar. Once over a limit, or at the end, it stops looking. */
enum {
	H_BOL,      /* at the start of a header line */
	H_BOL_CR,   /* CR at the start: the empty line? */
	H_NAME,     /* inside a field name */
	H_NAME_WSP, /* WSP after the name, before the colon */
	H_VALUE,    /* after the colon, or in a continuation line */
	H_DONE,
};

void smtp_data_init(struct smtp_data *d, struct buf *out, uint64_t max_size,
		    unsigned flags)
{
	*d = (struct smtp_data){ 0 };
	d->out = out;
	d->max_size = max_size;
	d->flags = flags;
	d->state = ST_BOL;
	d->hst = H_BOL;
}

static bool ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static void hdr_limits(struct smtp_data *d)
{
	if (d->header_len + d->hline > SMTP_HEADER_MAX ||
	    d->n_fields > SMTP_HEADER_FIELDS_MAX)
		d->header_too_big = true;
	if (d->hfield + d->hline > SMTP_HEADER_FIELD_MAX)
		d->field_too_long = true;
	if (d->header_too_big || d->field_too_long)
		d->hst = H_DONE;
}

static void hdr_scan(struct smtp_data *d, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && d->hst != H_DONE; i++) {
		unsigned char c = p[i];
		if (d->hst == H_VALUE) {
			const unsigned char *nl = memchr(p + i, '\n', n - i);
			size_t run = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
			d->hline += run;
			i += run - 1;
			if (nl) {
				d->hfield += d->hline;
				d->header_len += d->hline;
				d->hline = 0;
				d->hst = H_BOL;
			}
			hdr_limits(d);
			continue;
		}
		d->hline++;
		switch (d->hst) {
		case H_BOL:
			if (c == '\r') {
				d->hst = H_BOL_CR;
			} else if (c == '\n') {
				d->header_len += d->hline; /* the empty line */
				d->hst = H_DONE;
			} else if ((c == ' ' || c == '\t') && d->n_fields > 0) {
				d->hst = H_VALUE; /* folded: the same field */
			} else if (ftext(c)) {
				d->hst = H_NAME;
			} else {
				d->hst = H_DONE; /* not a field: body */
			}
			break;
		case H_BOL_CR:
			if (c == '\n')
				d->header_len += d->hline;
			d->hst = H_DONE;
			break;
		case H_NAME:
		case H_NAME_WSP:
			if (c == ':') {
				d->n_fields++;
				d->hfield = 0;
				d->hst = H_VALUE;
			} else if (c == ' ' || c == '\t') {
				d->hst = H_NAME_WSP;
			} else if (d->hst != H_NAME || !ftext(c)) {
				d->hst = H_DONE;
			}
			break;
		default:
			assert(!"hdr_scan: bad state");
		}
		if (d->hst != H_DONE)
			hdr_limits(d);
	}
}

/* Line lengths of the stored stream, line end included. */
static void line_scan(struct smtp_data *d, const char *p, size_t n)
{
	const char *end = p + n;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t run = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		d->out_line += run;
		if (d->out_line > SMTP_DATA_LINE_MAX)
			d->line_too_long = true;
		if (!nl)
			return;
		d->out_line = 0;
		p = nl + 1;
	}
}

/* Stores message bytes: the buffer only ever gets the first max_size
 * bytes of the message, whatever the split of the input. */
static void emit(struct smtp_data *d, const char *p, size_t n)
{
	if (d->hst != H_DONE)
		hdr_scan(d, (const unsigned char *)p, n);
	if (!d->line_too_long)
		line_scan(d, p, n);
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
	if (d->line_too_long)
		return SMTP_ERR_TEXT_LINE_TOO_LONG;
	if (d->header_too_big || d->field_too_long)
		return SMTP_ERR_HEADER_TOO_BIG;
	return SMTP_OK;
}
