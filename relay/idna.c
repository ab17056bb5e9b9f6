/* Punycode (RFC 3492) for the labels of internationalized domain names
 * (relay/idna.h). */
#include "relay/idna.h"

#include <stdint.h>
#include <string.h>

#define LABEL_MAX 63
#define NAME_MAX_LEN 253

enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700,
       INITIAL_BIAS = 72, INITIAL_N = 128 };

bool idna_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* One code point from UTF-8; 0 bytes used on anything invalid
 * (overlong forms, surrogates, beyond U+10FFFF, cut sequences). */
static size_t utf8_next(const unsigned char *p, size_t len, uint32_t *cp)
{
	if (len == 0)
		return 0;
	unsigned char c = p[0];
	size_t need;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		need = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		need = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return need;
}

/* The case mapping we do: ASCII and Latin-1 capitals. */
static uint32_t fold(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	return c;
}

static uint32_t adapt(uint32_t delta, uint32_t numpoints, bool first)
{
	delta = first ? delta / DAMP : delta / 2;
	delta += delta / numpoints;
	uint32_t k = 0;
	while (delta > ((BASE - TMIN) * TMAX) / 2) {
		delta /= BASE - TMIN;
		k += BASE;
	}
	return k + (((BASE - TMIN + 1) * delta) / (delta + SKEW));
}

static char digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* RFC 3492 section 6.3, for one label of cps[0..len); appends to out
 * at *o. False when it would pass cap. */
static bool punycode(const uint32_t *cps, size_t len, char *out, size_t *o,
		     size_t cap)
{
#define PUT(ch) do { if (*o >= cap) return false; out[(*o)++] = (ch); } while (0)
	size_t b = 0;
	for (size_t i = 0; i < len; i++)
		if (cps[i] < 0x80) {
			PUT((char)cps[i]);
			b++;
		}
	if (b > 0)
		PUT('-');
	uint32_t n = INITIAL_N, bias = INITIAL_BIAS;
	uint64_t delta = 0;
	size_t h = b;
	while (h < len) {
		uint32_t m = UINT32_MAX;
		for (size_t i = 0; i < len; i++)
			if (cps[i] >= n && cps[i] < m)
				m = cps[i];
		delta += (uint64_t)(m - n) * (h + 1);
		if (delta > UINT32_MAX)
			return false;
		n = m;
		for (size_t i = 0; i < len; i++) {
			if (cps[i] < n && ++delta > UINT32_MAX)
				return false;
			if (cps[i] != n)
				continue;
			uint64_t q = delta;
			for (uint32_t k = BASE;; k += BASE) {
				uint32_t t = k <= bias ? TMIN
					   : k >= bias + TMAX ? TMAX : k - bias;
				if (q < t)
					break;
				PUT(digit(t + (uint32_t)((q - t) % (BASE - t))));
				q = (q - t) / (BASE - t);
			}
			PUT(digit((uint32_t)q));
			bias = adapt((uint32_t)delta, (uint32_t)h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	return true;
#undef PUT
}

bool idna_domain_to_ascii(const char *domain, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)domain;
	size_t len = strlen(domain), o = 0;
	size_t cap = n ? n - 1 : 0;
	if (cap > NAME_MAX_LEN)
		cap = NAME_MAX_LEN;
	if (len == 0)
		return false;
	while (len > 0) {
		uint32_t cps[LABEL_MAX + 1];
		size_t ncp = 0;
		bool ascii = true;
		const unsigned char *label = p;
		/* one label, up to the next '.' (or its ideographic kin
		 * are not accepted: only U+002E) */
		while (len > 0 && *p != '.') {
			uint32_t c;
			size_t used = utf8_next(p, len, &c);
			if (used == 0 || ncp == LABEL_MAX)
				return false;
			cps[ncp++] = fold(c);
			ascii &= c < 0x80;
			p += used;
			len -= used;
		}
		if (ncp == 0 && !(len == 0 && o > 0))
			return false; /* empty label ("a..b", ".a") */
		size_t start = o;
		if (ascii) { /* as it is: DNS ignores ASCII case */
			for (size_t i = 0; i < ncp; i++) {
				if (o >= cap)
					return false;
				out[o++] = (char)label[i];
			}
		} else {
			if (o + 4 > cap)
				return false;
			memcpy(out + o, "xn--", 4);
			o += 4;
			if (!punycode(cps, ncp, out, &o, cap))
				return false;
		}
		if (o - start > LABEL_MAX)
			return false;
		if (len > 0) { /* the '.' */
			if (o >= cap)
				return false;
			out[o++] = '.';
			p++;
			len--;
		}
	}
	if (n == 0)
		return false;
	out[o] = '\0';
	return true;
}
