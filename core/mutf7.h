/* Modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8 for mailbox names.
 * IMAP4rev1 clients send and expect names in modified UTF-7; IMAP4rev2
 * (RFC 9051) uses UTF-8; the Maildir++ folder names on disk are modified
 * UTF-7 (as Dovecot writes them). Both directions are strict: input that
 * another encoder could not have produced canonically is refused, so that
 * every name has exactly one spelling in each form and a round trip is
 * the identity.
 * Pure functions, no I/O; the input may contain NUL (it is refused). */
#ifndef POSTERN_MUTF7_H
#define POSTERN_MUTF7_H
#include <stdbool.h>

#include "core/buf.h"

/* Appends the UTF-8 form of a modified UTF-7 string to out. Returns 0, or
 * -1 (out unchanged) if in is not canonical modified UTF-7: a byte outside
 * 0x20..0x7e, an unterminated or empty "&...-" run other than "&-", a
 * base64 run that encodes printable ASCII, that follows another run
 * directly, has non-zero padding bits, an odd number of octets, an
 * unpaired surrogate, or encodes NUL. */
int mutf7_to_utf8(struct str in, struct buf *out);

/* Appends the modified UTF-7 form of a UTF-8 string to out. Returns 0, or
 * -1 (out unchanged) if in is not valid UTF-8 (overlong forms, surrogates,
 * code points above U+10FFFF and NUL are refused). */
int mutf7_from_utf8(struct str in, struct buf *out);

/* Strict UTF-8 check as used by mutf7_from_utf8 (NUL is refused). */
bool mutf7_utf8_valid(struct str in);

#endif
