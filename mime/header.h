/* RFC 5322 section 2.2 header fields inside a message buffer: walking
 * them in order, finding one by name, unfolding a value. Lenient the
 * way real mail needs: LF or CRLF ends a line (a bare CR is data), a line
 * without a colon is skipped as garbage, NUL and 8-bit bytes pass. */
#ifndef POSTERN_MIME_HEADER_H
#define POSTERN_MIME_HEADER_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* One field. All three slices point into the header buffer. */
struct mime_field {
	struct str name;  /* before the colon, trailing WSP removed */
	struct str value; /* after the colon up to (not incl.) the last line
			   * end; folding line ends still inside */
	struct str whole; /* the field's bytes including its line ends */
};

struct mime_header_iter {
	struct str hdr;
	size_t off;
};

/* hdr is a header section (it may include the blank line that ends it;
 * iteration stops there). */
void mime_header_iter_init(struct mime_header_iter *it, struct str hdr);
/* The next field, or false at the end of the header. */
bool mime_header_next(struct mime_header_iter *it, struct mime_field *f);
/* The first field named name (ASCII case-insensitive). */
bool mime_header_find(struct str hdr, const char *name, struct mime_field *f);
/* How many fields are named name (ASCII case-insensitive); a folded
 * field counts once, the body never. RFC 5321 6.3's hop count is
 * mime_header_count(msg, "Received"). hdr.p may be NULL (len 0). */
size_t mime_header_count(struct str hdr, const char *name);
/* Appends value with folding line ends removed (RFC 5322 section 2.2.3:
 * unfolding removes the CRLF, keeping the whitespace that follows),
 * leading and trailing whitespace dropped. */
void mime_header_unfold(struct str value, struct buf *out);
/* Where the header section ends in msg[0..len): *hdr_len covers the
 * fields and the blank line, so the body starts there. When there is
 * no blank line the whole buffer is header and the body is
 * empty. */
void mime_header_split(const char *msg, size_t len, size_t *hdr_len);

#endif
