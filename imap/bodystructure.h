/* IMAP BODY and BODYSTRUCTURE (RFC 9051 section 7.5.2, formal syntax
 * "body" in section 9) from a parsed message. Sizes are byte counts of
 * the buffer the message was parsed from; line counts are LF counts of
 * a body (a last line without LF is not counted, as in Dovecot). A
 * multipart with no parts (no boundary, or no delimiter line) gets one
 * empty text/plain part, as Dovecot does: the grammar needs one. */
#ifndef POSTERN_IMAP_BODYSTRUCTURE_H
#define POSTERN_IMAP_BODYSTRUCTURE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/message.h"

/* Appends the body structure of part (0: the whole message).
 * extended: BODYSTRUCTURE (with extension data); else BODY. rev2: the
 * client speaks IMAP4rev2 or enabled UTF8=ACCEPT: strings may carry
 * UTF-8 quoted, and message/global gets envelope and body like
 * message/rfc822 (RFC 9051 media-message; RFC 3501 has no GLOBAL). */
void imap_bodystructure_write(struct buf *out, const struct mime_message *m,
			      uint32_t part, bool extended, bool rev2);

#endif
