/* Modified UTF-7, RFC 3501 section 5.1.3: printable US-ASCII stands for
 * itself except '&', which is "&-"; everything else is UTF-16BE in
 * base64 with ',' for '/', without padding, between '&' and '-'. */
#include <stdint.h>
#include <string.h>

#include "core/base64.h"
#include "core/mutf7.h"

static int b64_val(unsigned char c)
{
	return base64_value(c, ',');
}

/* The modified alphabet: ',' for '/' (RFC 3501 section 5.1.3). */
static char b64_letter(unsigned v)
{
	return v == 63 ? ',' : base64_alphabet[v];
}

static void put_utf8(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, u, n);
}

/* Decodes one base64 run p[0..n) (between '&' and '-') into out. */
static int decode_run(const unsigned char *p, size_t n, struct buf *out)
{
	uint32_t acc = 0, hi = 0;
	unsigned bits = 0;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(p[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits < 16)
			continue;
		bits -= 16;
		uint32_t u = (acc >> bits) & 0xffff;
		acc &= (1u << bits) - 1;
		any = true;
		if (hi) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1; /* high surrogate not followed */
			put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) +
					      (u - 0xdc00));
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1; /* lone low surrogate */
		} else if ((u >= 0x20 && u <= 0x7e) || u == 0) {
			/* printable ASCII must stand for itself; NUL is
			 * refused both ways (names are C strings on disk) */
			return -1;
		} else {
			put_utf8(out, u);
		}
	}
	/* Leftover bits are padding: fewer than 6 of them, all zero. */
	if (!any || hi || bits >= 6 || acc != 0)
		return -1;
	return 0;
}

int mutf7_to_utf8(struct str in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in.p;
	size_t start = out->len, i = 0;
	bool after_run = false;
	while (i < in.len) {
		unsigned char c = p[i];
		if (c < 0x20 || c > 0x7e)
			goto bad;
		if (c != '&') {
			buf_appendc(out, (char)c);
			after_run = false;
			i++;
			continue;
		}
		const unsigned char *dash =
			memchr(p + i + 1, '-', in.len - i - 1);
		if (!dash)
			goto bad;
		size_t n = (size_t)(dash - (p + i + 1));
		if (n == 0) {
			buf_appendc(out, '&');
			after_run = false;
		} else {
			/* Two runs in a row would be one run canonically. */
			if (after_run || decode_run(p + i + 1, n, out) < 0)
				goto bad;
			after_run = true;
		}
		i += n + 2;
	}
	buf_cstr(out);
	return 0;
bad:
	out->len = start;
	buf_cstr(out);
	return -1;
}

/* Decodes one UTF-8 sequence at p (len left); returns its length or 0. */
static size_t utf8_next(const unsigned char *p, size_t len, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return c == 0 ? 0 : 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[k] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

bool mutf7_utf8_valid(struct str in)
{
	const unsigned char *p = (const unsigned char *)in.p;
	size_t i = 0;
	while (i < in.len) {
		uint32_t cp;
		size_t n = utf8_next(p + i, in.len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Writes a run of UTF-16 units (stored big-endian in u) as "&...-". */
static void flush_run(struct buf *out, const struct buf *u)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	buf_appendc(out, '&');
	for (size_t i = 0; i + 1 < u->len; i += 2) {
		acc = (acc << 16) | ((uint32_t)(unsigned char)u->data[i] << 8) |
		      (unsigned char)u->data[i + 1];
		bits += 16;
		while (bits >= 6) {
			bits -= 6;
			buf_appendc(out, b64_letter((acc >> bits) & 0x3f));
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		buf_appendc(out, b64_letter((acc << (6 - bits)) & 0x3f));
	buf_appendc(out, '-');
}

static void put_unit(struct buf *u, uint32_t v)
{
	char be[2] = { (char)(v >> 8), (char)(v & 0xff) };
	buf_append(u, be, 2);
}

int mutf7_from_utf8(struct str in, struct buf *out)
{
	if (!mutf7_utf8_valid(in))
		return -1;
	const unsigned char *p = (const unsigned char *)in.p;
	/* A run is written only at its end: splitting it would give two
	 * adjacent runs, which the decoder refuses as non-canonical. */
	struct buf run = BUF_INIT;
	size_t i = 0;
	while (i < in.len) {
		uint32_t cp;
		i += utf8_next(p + i, in.len - i, &cp);
		if (cp >= 0x20 && cp <= 0x7e) {
			if (run.len) {
				flush_run(out, &run);
				run.len = 0;
			}
			if (cp == '&')
				buf_appends(out, "&-");
			else
				buf_appendc(out, (char)cp);
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			put_unit(&run, 0xd800 + (cp >> 10));
			put_unit(&run, 0xdc00 + (cp & 0x3ff));
		} else {
			put_unit(&run, cp);
		}
	}
	if (run.len)
		flush_run(out, &run);
	buf_free(&run);
	buf_cstr(out);
	return 0;
}
