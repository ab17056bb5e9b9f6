/* Character classes shared by the smtp/ parsers (private header). */
#ifndef POSTERN_SMTP_CHARS_H
#define POSTERN_SMTP_CHARS_H
#include <stdbool.h>

#include "core/buf.h"

static inline bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_letdig(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}
static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}
static inline bool all_spaces(struct str s)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] != ' ')
			return false;
	return true;
}

#endif
