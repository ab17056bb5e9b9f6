/* The base64 alphabet (RFC 4648 section 4), shared by the strict SASL
 * decoder (auth/sasl.c), the lenient MIME decoder (mime/decode.c) and
 * IMAP's modified UTF-7 (core/mutf7.c), which differ in what they
 * accept, not in what a letter is worth; and the one encoder, for SASL
 * challenges (auth/sasl_server.c) and the SMTP client's AUTH
 * (relay/smtpc.c). */
#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H
#include <stddef.h>

#include "core/buf.h"

/* "A-Za-z0-9+/" */
extern const char base64_alphabet[65];

/* The value (0..63) of c in the alphabet whose 64th letter is c63: '/'
 * for RFC 4648, ',' for modified UTF-7 (RFC 3501 section 5.1.3); -1 for
 * anything else, '=' included. */
static inline int base64_value(unsigned char c, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)c63)
		return 63;
	return -1;
}

/* Appends the base64 form of p[0..n) to out, with '=' padding and no
 * line breaks (RFC 4648 section 4); out is NUL-terminated after. Room
 * for all of it is reserved first, so a secret being encoded is never
 * left behind in a buffer given back by a growth. */
void base64_encode(struct buf *out, const void *p, size_t n);

#endif
