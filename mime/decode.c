#include "mime/decode.h"
#include "core/base64.h"
#include "core/limits.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void mime_qp_decode(struct str in, struct buf *out, bool header_q)
{
	buf_reserve(out, in.len);
	size_t i = 0, pending_ws = 0;
	while (i < in.len) {
		char c = in.p[i];
		if (c == ' ' || c == '\t') {
			pending_ws++;
			i++;
			continue;
		}
		if (!header_q && (c == '\r' || c == '\n')) {
			/* Whitespace at the end of a line was added in
			 * transport (RFC 2045 section 6.7 rule 3). */
			pending_ws = 0;
			if (c == '\r' && i + 1 < in.len && in.p[i + 1] == '\n')
				i++;
			buf_append(out, "\r\n", 2);
			i++;
			continue;
		}
		if (pending_ws) {
			buf_append(out, in.p + i - pending_ws, pending_ws);
			pending_ws = 0;
		}
		if (c == '=' && !header_q) {
			/* A soft line break: '=' then optional whitespace
			 * then the line end. */
			size_t j = i + 1;
			while (j < in.len && (in.p[j] == ' ' || in.p[j] == '\t'))
				j++;
			if (j == in.len || in.p[j] == '\r' || in.p[j] == '\n') {
				if (j < in.len && in.p[j] == '\r')
					j++;
				if (j < in.len && in.p[j] == '\n')
					j++;
				i = j;
				continue;
			}
		}
		if (c == '=' && i + 2 < in.len && hexval(in.p[i + 1]) >= 0 &&
		    hexval(in.p[i + 2]) >= 0) {
			buf_appendc(out, (char)(hexval(in.p[i + 1]) * 16 +
						hexval(in.p[i + 2])));
			i += 3;
			continue;
		}
		if (c == '_' && header_q)
			c = ' ';
		buf_appendc(out, c);
		i++;
	}
	if (pending_ws && header_q)
		buf_append(out, in.p + in.len - pending_ws, pending_ws);
}

static int b64val(unsigned char c)
{
	return base64_value(c, '/');
}

void mime_base64_decode(struct str in, struct buf *out)
{
	buf_reserve(out, in.len / 4 * 3 + 3);
	unsigned acc = 0;
	int nbits = 0;
	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];
		if (c == '=')
			break;
		int v = b64val(c);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			buf_appendc(out, (char)((acc >> nbits) & 0xff));
		}
	}
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid
 * (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool mime_utf8_valid(struct str in)
{
	const unsigned char *p = (const unsigned char *)in.p;
	for (size_t i = 0, k; i < in.len; i += k)
		if ((k = utf8_seq(p + i, in.len - i)) == 0)
			return false;
	return true;
}

void mime_utf8_sanitize(struct str in, struct buf *out)
{
	if (in.len == 0)
		return; /* in.p may be NULL */
	const unsigned char *p = (const unsigned char *)in.p;
	size_t i = 0, run = 0;
	buf_reserve(out, in.len);
	while (i < in.len) {
		size_t k = utf8_seq(p + i, in.len - i);
		if (k) {
			i += k;
			continue;
		}
		buf_append(out, in.p + run, i - run);
		buf_append(out, "\xef\xbf\xbd", 3);
		i++;
		run = i;
	}
	buf_append(out, in.p + run, in.len - run);
}

static bool charset_is(struct str cs, const char *name)
{
	return str_eq_nocase(cs, name);
}

/* What a charset label asks for: 1 with the iconv name in name[],
 * 0 for UTF-8/ASCII (or no label), -1 for a label that cannot be one
 * (too long): both of the last taken as UTF-8. */
static int charset_name(struct str cs, char name[80])
{
	/* RFC 2231 section 5: a charset may carry "*lang"; drop it. */
	const char *star = cs.len ? memchr(cs.p, '*', cs.len) : NULL;
	if (star)
		cs.len = (size_t)(star - cs.p);
	if (cs.len > 64)
		return -1;
	if (cs.len == 0 || charset_is(cs, "us-ascii") ||
	    charset_is(cs, "utf-8") || charset_is(cs, "utf8") ||
	    charset_is(cs, "ascii"))
		return 0;
	memcpy(name, cs.p, cs.len);
	name[cs.len] = '\0';
	/* Real mail labels windows-1252 text as iso-8859-1 all the time;
	 * decoding it as the superset shows the quotes and dashes. */
	if (strcasecmp(name, "iso-8859-1") == 0 ||
	    strcasecmp(name, "latin1") == 0)
		strcpy(name, "WINDOWS-1252");
	return 1;
}

/* in through cd (in its initial state) to out; false if some bytes
 * were invalid (each became U+FFFD). Linear: every iconv() call
 * consumes input up to the next bad byte. */
static bool iconv_convert(iconv_t cd, struct str in, struct buf *out)
{
	char *ip = (char *)in.p;
	size_t ileft = in.len;
	bool ok = true;
	buf_reserve(out, in.len * 2 + 16);
	while (ileft > 0) {
		buf_reserve(out, ileft * 2 + 16);
		char *op = out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		out->len = (size_t)(op - out->data);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated): mark the byte, go on. */
		ok = false;
		buf_append(out, "\xef\xbf\xbd", 3);
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush a stateful encoding (ISO-2022-JP back to ASCII); that also
	 * leaves cd in its initial state for the next use. */
	buf_reserve(out, 16);
	char *op = out->data + out->len;
	size_t oleft = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, &op, &oleft);
	out->len = (size_t)(op - out->data);
	out->data[out->len] = '\0';
	return ok;
}

bool mime_charset_to_utf8(struct str cs, struct str in, struct buf *out)
{
	char name[80];
	int k = charset_name(cs, name);
	if (k <= 0) {
		mime_utf8_sanitize(in, out);
		return k == 0;
	}
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		mime_utf8_sanitize(in, out);
		return false;
	}
	bool ok = iconv_convert(cd, in, out);
	iconv_close(cd);
	return ok;
}

/* The converters one header field has opened, reused by its words:
 * a field that alternates charsets word by word costs one iconv_open
 * per charset, not per word, and at most MIME_HEADER_CHARSETS_MAX. */
struct cs_cache {
	struct {
		char name[80];
		iconv_t cd; /* (iconv_t)-1: iconv does not know it */
	} e[MIME_HEADER_CHARSETS_MAX];
	size_t n;
};

static void cache_convert(struct cs_cache *c, struct str cs, struct str in,
			  struct buf *out)
{
	char name[80];
	if (charset_name(cs, name) <= 0) {
		mime_utf8_sanitize(in, out);
		return;
	}
	iconv_t cd = (iconv_t)-1;
	size_t i = 0;
	while (i < c->n && strcasecmp(c->e[i].name, name) != 0)
		i++;
	if (i < c->n) {
		cd = c->e[i].cd;
	} else if (c->n < MIME_HEADER_CHARSETS_MAX) {
		cd = iconv_open("UTF-8", name);
		strcpy(c->e[c->n].name, name);
		c->e[c->n++].cd = cd;
	}
	if (cd == (iconv_t)-1)
		mime_utf8_sanitize(in, out);
	else
		iconv_convert(cd, in, out);
}

static void cache_free(struct cs_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].cd != (iconv_t)-1)
			iconv_close(c->e[i].cd);
	c->n = 0;
}

static bool is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where the text of an encoded word that starts at t ends: the first
 * k >= t with "?=" at k, unless whitespace (or the end of the input)
 * comes first. The last scan is remembered: no stop lies in
 * [from, at), so every t in [from, at] has the same answer. Word
 * starts only move forward, so each octet is scanned once and a field
 * full of "=?x?q?" without "?=" costs linear time (it used to rescan
 * to the end from every "=?"). */
struct ew_scan {
	bool valid, found;
	size_t from, at;
};

static bool text_end(struct str in, size_t t, struct ew_scan *sc, size_t *end)
{
	if (!sc->valid || t < sc->from || t > sc->at) {
		size_t k = t;
		bool found = false;
		while (k + 1 < in.len) {
			if (in.p[k] == '?' && in.p[k + 1] == '=') {
				found = true;
				break;
			}
			if (is_lwsp(in.p[k]))
				break;
			k++;
		}
		*sc = (struct ew_scan){ true, found, t, k };
	}
	*end = sc->at;
	return sc->found;
}

/* An encoded word at in[i..]: "=?charset?E?text?=" (RFC 2047 section 2;
 * no whitespace inside). Returns its length, 0 if there is none. The
 * charset scan stops at the next '?', which is at or before the '?' of
 * any later "=?", so those scans never overlap either. */
static size_t encoded_word(struct str in, size_t i, struct ew_scan *sc,
			   struct str *cs, char *enc, struct str *text)
{
	if (i + 1 >= in.len || in.p[i] != '=' || in.p[i + 1] != '?')
		return 0;
	size_t j = i + 2, c0 = j;
	while (j < in.len && in.p[j] != '?' && !is_lwsp(in.p[j]))
		j++;
	if (j + 2 >= in.len || in.p[j] != '?' || j == c0)
		return 0;
	*cs = str_make(in.p + c0, j - c0);
	char e = (char)(in.p[j + 1] | 0x20);
	if ((e != 'b' && e != 'q') || in.p[j + 2] != '?')
		return 0;
	size_t t0 = j + 3, k;
	if (!text_end(in, t0, sc, &k))
		return 0;
	*enc = e;
	*text = str_make(in.p + t0, k - t0);
	return k + 2 - i;
}

static void append_plain(struct str plain, struct buf *out)
{
	struct buf tmp = BUF_INIT;
	buf_reserve(&tmp, plain.len);
	size_t run = 0;
	for (size_t k = 0; k < plain.len; k++) {
		if (plain.p[k] != '\r' && plain.p[k] != '\n')
			continue;
		buf_append(&tmp, plain.p + run, k - run);
		run = k + 1;
	}
	buf_append(&tmp, plain.p + run, plain.len - run);
	mime_utf8_sanitize(buf_str(&tmp), out);
	buf_free(&tmp);
}

void mime_header_decode(struct str in, struct buf *out)
{
	if (in.len == 0)
		return; /* in.p may be NULL */
	/* Words are looked for only in the first MIME_HEADER_DECODE_MAX
	 * octets; what follows is plain text (core/limits.h). */
	struct str head = str_make(in.p, in.len < MIME_HEADER_DECODE_MAX
						 ? in.len
						 : MIME_HEADER_DECODE_MAX);
	size_t i = 0, run = 0;
	bool after_word = false; /* only whitespace since the last word */
	/* Adjacent words in one charset are joined before conversion:
	 * senders split a multibyte character across two words. */
	struct buf raw = BUF_INIT;
	struct str raw_cs = { NULL, 0 };
	struct ew_scan sc = { 0 };
	struct cs_cache cc;
	cc.n = 0;
	buf_reserve(out, in.len);
	while (i < head.len) {
		struct str cs, text;
		char enc;
		size_t n = head.p[i] == '='
				   ? encoded_word(head, i, &sc, &cs, &enc, &text)
				   : 0;
		if (!n) {
			if (!is_lwsp(head.p[i]))
				after_word = false;
			i++;
			continue;
		}
		if (!after_word || str_cmp_nocase(cs, raw_cs) != 0) {
			if (raw_cs.p)
				cache_convert(&cc, raw_cs, buf_str(&raw), out);
			buf_clear(&raw);
			if (!after_word)
				append_plain(str_make(in.p + run, i - run), out);
		}
		raw_cs = cs;
		if (enc == 'b')
			mime_base64_decode(text, &raw);
		else
			mime_qp_decode(text, &raw, true);
		i += n;
		run = i;
		after_word = true;
	}
	if (raw_cs.p)
		cache_convert(&cc, raw_cs, buf_str(&raw), out);
	append_plain(str_make(in.p + run, in.len - run), out);
	buf_free(&raw);
	cache_free(&cc);
}
