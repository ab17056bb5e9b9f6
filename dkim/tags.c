/* RFC 6376 3.2 tag=value lists, and the base64 that DKIM's values use. */
#include "dkim/tags.h"
#include "core/base64.h"

#include <string.h>

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_namechar(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* VALCHAR = %x21-3A / %x3C-7E: printable ASCII except ';'. */
static bool is_valchar(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x21 && u <= 0x7e && u != ';';
}

int dkim_tags_parse(struct str in, struct dkim_tags *out, const char **why)
{
	size_t i = 0, n = in.len;
	const char *s = in.p;
	out->n = 0;
	while (i < n) {
		while (i < n && is_ws(s[i]))
			i++;
		if (i == n)
			break;
		if (s[i] == ';') { /* an empty tag-spec */
			i++;
			continue;
		}
		if (!is_alpha(s[i])) {
			*why = "tag name must start with a letter";
			return -1;
		}
		size_t ns = i;
		while (i < n && is_namechar(s[i]))
			i++;
		struct str name = str_make(s + ns, i - ns);
		while (i < n && is_ws(s[i]))
			i++;
		if (i == n || s[i] != '=') {
			*why = "tag without '='";
			return -1;
		}
		i++;
		size_t raw_start = i;
		while (i < n && is_ws(s[i]))
			i++;
		size_t vs = i, ve = i;
		while (i < n && s[i] != ';') {
			if (is_valchar(s[i]))
				ve = i + 1;
			else if (!is_ws(s[i])) {
				*why = "invalid character in tag value";
				return -1;
			}
			i++;
		}
		size_t raw_end = i;
		if (i < n)
			i++; /* the ';' */
		for (size_t k = 0; k < out->n; k++)
			if (out->t[k].name.len == name.len &&
			    !memcmp(out->t[k].name.p, name.p, name.len)) {
				*why = "duplicate tag";
				return -1;
			}
		if (out->n == DKIM_TAGS_MAX) {
			*why = "too many tags";
			return -1;
		}
		struct dkim_tag *t = &out->t[out->n++];
		t->name = name;
		t->value = str_make(s + vs, ve - vs);
		t->raw = str_make(s + raw_start, raw_end - raw_start);
	}
	return 0;
}

const struct dkim_tag *dkim_tags_get(const struct dkim_tags *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (str_eq(t->t[i].name, name))
			return &t->t[i];
	return NULL;
}

void dkim_strip_ws(struct str v, struct buf *out)
{
	buf_clear(out);
	for (size_t i = 0; i < v.len; i++)
		if (!is_ws(v.p[i]))
			buf_appendc(out, v.p[i]);
	buf_cstr(out);
}

long dkim_base64_decode(struct str v, unsigned char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0, chars = 0;
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (is_ws(c))
			continue;
		if (c == '=') {
			pad++;
			chars++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		int d = base64_value((unsigned char)c, '/');
		if (d < 0)
			return -1;
		chars++;
		acc = (acc << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || (pad && chars % 4 != 0))
		return -1;
	if (bits >= 6 || (acc != 0))
		return -1; /* a dangling sextet or non-zero leftover bits */
	return (long)o;
}

void dkim_base64_encode(const unsigned char *p, size_t n, struct buf *out)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		buf_appendc(out, base64_alphabet[v >> 18]);
		buf_appendc(out, base64_alphabet[(v >> 12) & 63]);
		buf_appendc(out, base64_alphabet[(v >> 6) & 63]);
		buf_appendc(out, base64_alphabet[v & 63]);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		buf_appendc(out, base64_alphabet[v >> 18]);
		buf_appendc(out, base64_alphabet[(v >> 12) & 63]);
		buf_appends(out, "==");
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		buf_appendc(out, base64_alphabet[v >> 18]);
		buf_appendc(out, base64_alphabet[(v >> 12) & 63]);
		buf_appendc(out, base64_alphabet[(v >> 6) & 63]);
		buf_appendc(out, '=');
	}
}
