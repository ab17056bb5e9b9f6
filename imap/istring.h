/* Writing IMAP strings (RFC 9051 section 4.3, formal syntax section 9):
 * quoted when that is safe and short, otherwise a synchronizing
 * literal; NIL for an absent nstring; a bare atom for an astring when
 * every byte is an ATOM-CHAR. Used by every FETCH/LIST/STATUS writer. */
#ifndef POSTERN_IMAP_ISTRING_H
#define POSTERN_IMAP_ISTRING_H
#include <stdbool.h>

#include "core/buf.h"

/* Quoted strings longer than this become literals: a client's line
 * reader may have a limit, a literal has none. */
#define ISTRING_QUOTED_MAX 1024

/* True when s can go out as a quoted string: no NUL, CR or LF, no 8-bit
 * bytes unless utf8 (RFC 9051 QUOTED-CHAR / UTF8-2..4 after ENABLE
 * UTF8=ACCEPT), and then only valid UTF-8; at most ISTRING_QUOTED_MAX
 * bytes. */
bool istring_quotable(struct str s, bool utf8);
/* A string: "quoted" (with \" and \\ escaped) or {n}\r\n<bytes>, where
 * a NUL byte is sent as U+FFFD (literals may not carry NUL; binary data
 * goes out as literal8 by the caller, not through here). */
void istring_write(struct buf *out, struct str s, bool utf8);
/* An nstring: NIL when s is NULL, else istring_write. */
void istring_write_nstring(struct buf *out, const struct str *s, bool utf8);
/* An astring: the bare atom when every byte is an ASTRING-CHAR and s is
 * not empty, else istring_write. */
void istring_write_astring(struct buf *out, struct str s, bool utf8);

#endif
