/* IMAP ENVELOPE (RFC 9051 section 7.5.2) from a message header. Values
 * are sent as they appear in the header (unfolded, trimmed; RFC 2047
 * words are not decoded: IMAP sends raw). Addresses are parsed by
 * mime/addr.h: an address without a local part or domain gets
 * "MISSING_MAILBOX" / "MISSING_DOMAIN" (a NIL host would read as a group
 * marker). Sender and Reply-To default to From (RFC 9051 7.5.2). */
#ifndef POSTERN_IMAP_ENVELOPE_H
#define POSTERN_IMAP_ENVELOPE_H
#include <stdbool.h>

#include "core/buf.h"

/* Appends "(date subject from sender reply-to to cc bcc in-reply-to
 * message-id)" for the header section hdr. utf8: strings may carry
 * 8-bit bytes quoted (after ENABLE UTF8=ACCEPT). */
void imap_envelope_write(struct buf *out, struct str hdr, bool utf8);
/* Appends an address list "((name adl mailbox host) ...)" or NIL when
 * the value has no addresses. */
void imap_envelope_addresses(struct buf *out, struct str value, bool utf8);

#endif
