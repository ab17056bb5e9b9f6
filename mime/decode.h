/* Content decoders: quoted-printable (RFC 2045 section 6.7), base64
 * (RFC 2045 section 6.8), RFC 2047 encoded words, and charset -> UTF-8
 * through glibc iconv. All lenient the way mail clients are: bad input
 * never fails, it decodes to something. Output is appended to out. */
#ifndef POSTERN_MIME_DECODE_H
#define POSTERN_MIME_DECODE_H
#include <stdbool.h>

#include "core/buf.h"

/* Quoted-printable. "=XX" (either case) is a byte, "=" before a line
 * end is a soft break, a malformed "=" is kept as is, trailing
 * whitespace before a line end is dropped. header_q: the RFC 2047 "Q"
 * form, where '_' is a space and there are no line ends. */
void mime_qp_decode(struct str in, struct buf *out, bool header_q);
/* Base64. Bytes outside the alphabet (line ends, spaces, garbage) are
 * skipped; decoding stops at the first '='; a dangling partial quantum
 * yields the bytes it completes. */
void mime_base64_decode(struct str in, struct buf *out);
/* in, in charset, to UTF-8. Unknown charsets and bytes iconv rejects
 * fall back to the bytes themselves with invalid UTF-8 replaced by
 * U+FFFD. charset is not NUL-terminated; NULL or empty means
 * us-ascii. Returns false when the fallback was used. */
bool mime_charset_to_utf8(struct str charset, struct str in, struct buf *out);
/* True when in is valid UTF-8 (RFC 3629). */
bool mime_utf8_valid(struct str in);
/* Appends in with every invalid UTF-8 sequence replaced by U+FFFD. */
void mime_utf8_sanitize(struct str in, struct buf *out);
/* An unstructured header value (already unfolded or not: line ends are
 * dropped) with RFC 2047 encoded words decoded to UTF-8. Whitespace
 * between two adjacent encoded words is removed (section 6.2); other
 * text is taken as UTF-8 (sanitized). Linear in the input: words are
 * looked for only in the first MIME_HEADER_DECODE_MAX octets (the rest
 * is plain text), and at most MIME_HEADER_CHARSETS_MAX charsets are
 * converted (core/limits.h). */
void mime_header_decode(struct str in, struct buf *out);

#endif
