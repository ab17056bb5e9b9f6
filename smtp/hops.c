/* Loop detection at the end of DATA (RFC 5321 section 6.3): every
 * relay adds a Received: field, so a message that has been through too
 * many hosts is going round in circles. queue/dsn.h has the runner's
 * own counter; smtp/ may not reach up into queue/'s pure helpers for
 * it, and this one is five lines. */
#include "smtp/session.h"

#include <string.h>

size_t smtp_count_received(const char *msg, size_t len)
{
	static const char name[] = "received:";
	const size_t nl = sizeof name - 1;
	size_t n = 0, off = 0;
	while (off < len) {
		const char *eol = memchr(msg + off, '\n', len - off);
		size_t end = eol ? (size_t)(eol - msg) : len;
		size_t l = end - off;
		if (l > 0 && msg[off + l - 1] == '\r')
			l--;
		if (l == 0)
			break; /* the empty line: end of the header section */
		/* Folded continuation lines start with white space and can
		 * never match the name. */
		if (l >= nl && str_eq_nocase(str_make(msg + off, nl), name))
			n++;
		off = end + 1;
	}
	return n;
}
