/* SMTP syntax pieces: UTF-8 sequences, domains, address literals,
 * xtext (RFC 5321 4.1.2-4.1.3, RFC 6531, RFC 3461). See parse.h. */
#include "smtp/parse.h"

#include <arpa/inet.h>
#include <string.h>

#include "smtp/chars.h"

size_t smtp_utf8_seq(const unsigned char *s, size_t len)
{
	if (len == 0)
		return 0;
	unsigned char c = s[0];
	size_t n;
	unsigned min;
	unsigned cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, min = 0x80, cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, min = 0x800, cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, min = 0x10000, cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}
/* ---- domains and literals --------------------------------------------- */

bool smtp_is_domain(struct str s, bool utf8)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0;
	if (s.len == 0)
		return false;
	for (;;) {
		/* sub-domain = Let-dig [Ldh-str] (or a U-label, RFC 6531) */
		size_t start = i;
		bool last_hyphen = false;
		while (i < s.len && p[i] != '.') {
			if (p[i] >= 0x80) {
				size_t n = utf8 ? smtp_utf8_seq(p + i, s.len - i)
						: 0;
				if (!n)
					return false;
				i += n;
				last_hyphen = false;
				continue;
			}
			if (p[i] == '-') {
				if (i == start)
					return false;
				last_hyphen = true;
			} else if (is_letdig(p[i])) {
				last_hyphen = false;
			} else {
				return false;
			}
			i++;
		}
		if (i == start || last_hyphen)
			return false;
		if (i == s.len)
			return true;
		i++; /* the dot; a trailing dot leaves an empty label */
	}
}

/* Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig */
static bool is_ldh_str(struct str s)
{
	if (s.len == 0 || !is_letdig((unsigned char)s.p[s.len - 1]))
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_letdig((unsigned char)s.p[i]) && s.p[i] != '-')
			return false;
	return true;
}

static bool is_ipv4(struct str s)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= s.len || s.p[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < s.len && is_digit((unsigned char)s.p[i]) &&
		       i - start < 3)
			v = v * 10 + (unsigned)(s.p[i++] - '0');
		if (i == start || v > 255)
			return false;
	}
	return i == s.len;
}

bool smtp_is_address_literal(struct str s)
{
	if (s.len < 3 || s.p[0] != '[' || s.p[s.len - 1] != ']')
		return false;
	struct str in = str_make(s.p + 1, s.len - 2);
	if (is_ipv4(in))
		return true;
	const char *colon = memchr(in.p, ':', in.len);
	if (!colon)
		return false;
	struct str tag = str_make(in.p, (size_t)(colon - in.p));
	struct str rest = str_make(colon + 1, in.len - tag.len - 1);
	if (str_eq_nocase(tag, "IPv6")) {
		char tmp[INET6_ADDRSTRLEN + 1];
		struct in6_addr a;
		if (rest.len == 0 || rest.len >= sizeof tmp ||
		    memchr(rest.p, '\0', rest.len))
			return false;
		memcpy(tmp, rest.p, rest.len);
		tmp[rest.len] = '\0';
		return inet_pton(AF_INET6, tmp, &a) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	if (!is_ldh_str(tag) || rest.len == 0)
		return false;
	for (size_t i = 0; i < rest.len; i++) {
		unsigned char c = (unsigned char)rest.p[i];
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

bool smtp_is_xtext(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '+') {
			if (s.len - i < 3)
				return false;
			for (int k = 1; k <= 2; k++) {
				unsigned char h = (unsigned char)s.p[i + (size_t)k];
				if (!is_digit(h) && !(h >= 'A' && h <= 'F'))
					return false;
			}
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

bool smtp_is_xtext_printable(struct str s)
{
	if (!smtp_is_xtext(s))
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] != '+')
			continue;
		/* smtp_is_xtext checked the two upper-case hex digits */
		unsigned hi = (unsigned)(is_digit((unsigned char)s.p[i + 1])
					 ? s.p[i + 1] - '0'
					 : s.p[i + 1] - 'A' + 10);
		unsigned lo = (unsigned)(is_digit((unsigned char)s.p[i + 2])
					 ? s.p[i + 2] - '0'
					 : s.p[i + 2] - 'A' + 10);
		unsigned c = hi * 16 + lo;
		if (c < 0x20 || c > 0x7e)
			return false;
		i += 2;
	}
	return true;
}
