#include "imap/istring.h"

#include <stdio.h>

#include "mime/decode.h"

bool istring_quotable(struct str s, bool utf8)
{
	if (s.len > ISTRING_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == 0 || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80 && !utf8)
			return false;
	}
	/* RFC 9051 QUOTED-CHAR admits only well-formed UTF-8. */
	return !utf8 || mime_utf8_valid(s);
}

void istring_write(struct buf *out, struct str s, bool utf8)
{
	if (!istring_quotable(s, utf8)) {
		/* A literal may not hold NUL (RFC 9051 CHAR8); it becomes
		 * U+FFFD as in Dovecot. */
		size_t nuls = 0;
		for (size_t i = 0; i < s.len; i++)
			nuls += s.p[i] == '\0';
		buf_printf(out, "{%zu}\r\n", s.len + 2 * nuls);
		size_t run = 0;
		for (size_t i = 0; nuls && i < s.len; i++) {
			if (s.p[i] != '\0')
				continue;
			buf_append(out, s.p + run, i - run);
			buf_append(out, "\xef\xbf\xbd", 3);
			run = i + 1;
		}
		buf_append(out, s.p + run, s.len - run);
		return;
	}
	buf_reserve(out, s.len + 2);
	buf_appendc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] != '"' && s.p[i] != '\\')
			continue;
		buf_append(out, s.p + run, i - run);
		buf_appendc(out, '\\');
		run = i;
	}
	buf_append(out, s.p + run, s.len - run);
	buf_appendc(out, '"');
}

void istring_write_nstring(struct buf *out, const struct str *s, bool utf8)
{
	if (!s)
		buf_append(out, "NIL", 3);
	else
		istring_write(out, *s, utf8);
}

/* RFC 9051 section 9: ASTRING-CHAR = ATOM-CHAR / resp-specials, where
 * ATOM-CHAR excludes "(" ")" "{" SP CTL "%" "*" DQUOTE "\" and 8-bit. */
static bool astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\':
		return false;
	default:
		return true;
	}
}

void istring_write_astring(struct buf *out, struct str s, bool utf8)
{
	bool atom = s.len > 0 && s.len <= ISTRING_QUOTED_MAX;
	for (size_t i = 0; atom && i < s.len; i++)
		atom = astring_char((unsigned char)s.p[i]);
	/* "NIL" as an atom would read as nil where a string is meant. */
	if (atom && !str_eq_nocase(s, "NIL"))
		buf_append(out, s.p, s.len);
	else
		istring_write(out, s, utf8);
}
