/* The SMTP DATA and BDAT readers: streaming, I/O-free state machines.
 *
 * Feed them whatever bytes arrived, in any split: one byte at a time
 * gives exactly the same message, counters and flags as one chunk.
 *
 * DATA (RFC 5321 4.1.1.4, 4.5.2):
 *  - The end is ONLY <CRLF>.<CRLF>. The CRLF ending the DATA command
 *    counts as the first CRLF, so "." CRLF as the first line ends an
 *    empty message.
 *  - SMTP smuggling (SEC Consult, 2023): a bare LF or bare CR never
 *    ends a line for end-of-data purposes. "<LF>.<LF>", "<LF>.<CRLF>",
 *    "<CR>.<CR>", "<CRLF>.<LF>", "<CRLF>.<CR>", "<LF>.<CR><LF>",
 *    "<CR><LF>.<CR>x" ... are all message content. Only a line that
 *    follows a real CRLF can be the end line or be dot-unstuffed.
 *  - Dot-stuffing: a line (after CRLF) starting with "." has that dot
 *    removed.
 *  - Bare LF / bare CR POLICY: they are recorded (bare_lf, bare_cr).
 *    With SMTP_DATA_NORMALIZE_LF (the default, config smtp_bare_newline
 *    = normalize, as Postfix's smtpd_forbid_bare_newline = normalize,
 *    its default since 3.9) a bare LF is stored as CRLF and accepted;
 *    it still never ends the data nor starts an unstuffable line, so
 *    "<LF>.<LF>" and the like stay content and nothing is smuggled.
 *    Without it (smtp_bare_newline = reject) smtp_data_verdict()
 *    REJECTS the message with 550 5.6.11. A bare CR is always rejected.
 *  - Line ends are stored as received (CRLF).
 *  - Limits (core/limits.h), answered by smtp_data_verdict() after the
 *    end: a stored line over SMTP_DATA_LINE_MAX; a header section over
 *    SMTP_HEADER_MAX or SMTP_HEADER_FIELDS_MAX fields, a field over
 *    SMTP_HEADER_FIELD_MAX. They apply to BDAT too. Reading goes on to
 *    the end so that the session stays in step.
 *
 * BDAT (RFC 3030): the chunk is taken as is: no dot-unstuffing, no end
 * marker, no bare-LF policy (BDAT data is not interpreted, and its
 * length -- not its content -- delimits it, so there is nothing to
 * smuggle). The size, line and header limits, and the 8-bit and NUL
 * flags, apply.
 *
 * Size limit: the output buffer receives at most max_size bytes (the
 * first max_size bytes of the message); beyond, bytes are counted in
 * size and dropped, too_big is set, and reading goes on to the end so
 * the session can answer 552 5.3.4 in step. */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "smtp/parse.h"

enum {
	SMTP_DATA_NORMALIZE_LF = 1u << 0, /* bare LF -> CRLF, not rejected */
};

enum smtp_data_status {
	SMTP_DATA_NEED_MORE, /* all input consumed, the end not seen yet */
	SMTP_DATA_DONE,      /* DATA: end seen. BDAT: chunk complete */
};

struct smtp_data {
	/* Results, valid when DONE (and meaningful while reading). */
	uint64_t size;          /* message octets, stored or dropped */
	size_t max_line;        /* longest DATA line incl. its line end,
				 * as received (stuffing dot included);
				 * the final ".\r\n" is not counted */
	bool too_big;           /* size > max_size */
	bool line_too_long;     /* a stored line > SMTP_DATA_LINE_MAX */
	bool header_too_big;    /* header section > SMTP_HEADER_MAX, or
				 * > SMTP_HEADER_FIELDS_MAX fields */
	bool field_too_long;    /* a field > SMTP_HEADER_FIELD_MAX */
	uint64_t header_len;    /* header section octets seen (complete
				 * lines, the empty line included) */
	unsigned n_fields;      /* header fields seen */
	bool eight_bit;         /* a byte >= 0x80 was seen */
	bool nul;               /* a NUL byte was seen */
	bool bare_lf;           /* DATA: LF not after CR */
	bool bare_cr;           /* DATA: CR not before LF */
	bool done;              /* DATA ended / BDAT LAST chunk complete */

	/* Private. */
	struct buf *out;
	uint64_t max_size;
	unsigned flags;
	int state;
	size_t line_len;
	int hst;                /* header scan state */
	size_t hline, hfield;   /* header line / field octets so far */
	size_t out_line;        /* stored octets of the current line */
	uint64_t chunk_left;    /* BDAT */
	bool chunk_last;
	bool in_chunk;
};

/* Starts a message. out (not owned; the caller clears it first if it
 * wants only this message) receives the bytes. flags: SMTP_DATA_*. */
void smtp_data_init(struct smtp_data *d, struct buf *out, uint64_t max_size,
		    unsigned flags);

/* DATA: consumes input up to and including the end-of-data line.
 * *consumed = bytes used; on DONE the rest (pipelined commands) is
 * the caller's. After DONE, returns DONE and consumes nothing. */
enum smtp_data_status smtp_data_feed(struct smtp_data *d, const void *p,
				     size_t len, size_t *consumed);

/* BDAT: starts a chunk of `size` bytes (may be 0); last = "LAST". The
 * same struct collects every chunk of one message: call smtp_data_init
 * once, then smtp_bdat_begin and smtp_bdat_feed per BDAT command.
 * Asserts that the previous chunk was complete and no LAST was seen. */
void smtp_bdat_begin(struct smtp_data *d, uint64_t size, bool last);
/* Consumes up to the chunk's remaining bytes. DONE when the chunk is
 * complete (d->done too if it was LAST); *consumed as for DATA. */
enum smtp_data_status smtp_bdat_feed(struct smtp_data *d, const void *p,
				     size_t len, size_t *consumed);

/* After DONE: SMTP_OK, or the error to answer, the first of:
 * SMTP_ERR_MSG_TOO_BIG, SMTP_ERR_BARE_NEWLINE (per the policy above),
 * SMTP_ERR_TEXT_LINE_TOO_LONG, SMTP_ERR_HEADER_TOO_BIG. */
enum smtp_err smtp_data_verdict(const struct smtp_data *d);

#endif
