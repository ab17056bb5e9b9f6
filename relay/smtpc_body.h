/* The message as it goes after DATA (RFC 5321 4.5.2 and 2.3.8): every
 * line ending made CRLF (a bare CR or LF too, so no ending the other
 * side reads differently from ours can end the data early: "SMTP
 * smuggling"), a '.' starting a line doubled, a last CRLF added when
 * missing, then ".CRLF". Incremental, so a large message is encoded a
 * chunk at a time as the socket drains. */
#ifndef POSTERN_SMTPC_BODY_H
#define POSTERN_SMTPC_BODY_H
#include <stdbool.h>
#include <stddef.h>

struct smtpc_body {
	const char *data;
	size_t len;
	size_t pos;
	bool line_start;
	bool after_cr;   /* the last byte was a CR: an LF now is its pair */
	bool finished;   /* ".CRLF" written */
};

/* The terminator and a missing CRLF need at most this much room. */
#define SMTPC_BODY_TAIL_MAX 5

void smtpc_body_init(struct smtpc_body *b, const char *data, size_t len);
/* Writes up to cap bytes (cap >= SMTPC_BODY_TAIL_MAX) of the encoded
 * message to out; returns how many. Once b->finished, returns 0. */
size_t smtpc_body_encode(struct smtpc_body *b, char *out, size_t cap);

#endif
