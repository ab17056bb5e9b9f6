/* Converting stored message bytes (LF or CRLF line ends) to the wire
 * form: every line ends in CRLF, and for POP3 (RFC 1939 section 3) a
 * line starting with '.' gets one more '.'. Streaming: the state carries
 * across chunks, so a message can be sent in pieces of any size. */
#ifndef POSTERN_CRLF_H
#define POSTERN_CRLF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct crlf_state {
	bool prev_cr;     /* last input byte was CR */
	bool line_start;  /* next output byte starts a line */
	bool dot_stuff;   /* double a leading '.' */
	uint64_t lines;   /* complete lines emitted */
};

void crlf_init(struct crlf_state *st, bool dot_stuff);
/* Converts in[0..n) into out, which must hold 2*n + 1 bytes.
 * Returns the number of bytes written. */
size_t crlf_convert(struct crlf_state *st, const char *in, size_t n,
		    char *out);
/* Ends the message: writes a CRLF into out (>= 2 bytes) if the last line
 * was not terminated; returns bytes written (0 or 2). */
size_t crlf_finish(struct crlf_state *st, char *out);
/* The wire size of a whole buffer (no dot-stuffing), as crlf_convert +
 * crlf_finish would produce it. */
uint64_t crlf_wire_size(const char *in, size_t n);

#endif
