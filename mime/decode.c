#include "mime/decode.h"
#include "core/base64.h"

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

bool mime_charset_to_utf8(struct str cs, struct str in, struct buf *out)
{
	/* RFC 2231 section 5: a charset may carry "*lang"; drop it. */
	const char *star = cs.len ? memchr(cs.p, '*', cs.len) : NULL;
	if (star)
		cs.len = (size_t)(star - cs.p);
	if (cs.len == 0 || charset_is(cs, "us-ascii") ||
	    charset_is(cs, "utf-8") || charset_is(cs, "utf8") ||
	    charset_is(cs, "ascii") || cs.len > 64) {
		mime_utf8_sanitize(in, out);
		return cs.len <= 64;
	}
	char name[80];
	memcpy(name, cs.p, cs.len);
	name[cs.len] = '\0';
	/* Real mail labels windows-1252 text as iso-8859-1 all the time;
	 * decoding it as the superset shows the quotes and dashes. */
	if (strcasecmp(name, "iso-8859-1") == 0 ||
	    strcasecmp(name, "latin1") == 0)
		strcpy(name, "WINDOWS-1252");
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		mime_utf8_sanitize(in, out);
		return false;
	}
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
	/* Flush a stateful encoding (ISO-2022-JP back to ASCII). */
	buf_reserve(out, 16);
	char *op = out->data + out->len;
	size_t oleft = out->cap - out->len - 1;
	iconv(cd, NULL, NULL, &op, &oleft);
	out->len = (size_t)(op - out->data);
	out->data[out->len] = '\0';
	iconv_close(cd);
	return ok;
}

/* An encoded word at in[i..]: "=?charset?E?text?=" (RFC 2047 section 2;
 * no whitespace inside). Returns its length, 0 if there is none. */
static size_t encoded_word(struct str in, size_t i, struct str *cs,
			   char *enc, struct str *text)
{
	if (i + 1 >= in.len || in.p[i] != '=' || in.p[i + 1] != '?')
		return 0;
	size_t j = i + 2, c0 = j;
	while (j < in.len && in.p[j] != '?' && in.p[j] != ' ' &&
	       in.p[j] != '\t' && in.p[j] != '\r' && in.p[j] != '\n')
		j++;
	if (j + 2 >= in.len || in.p[j] != '?' || j == c0)
		return 0;
	*cs = str_make(in.p + c0, j - c0);
	char e = (char)(in.p[j + 1] | 0x20);
	if ((e != 'b' && e != 'q') || in.p[j + 2] != '?')
		return 0;
	size_t t0 = j + 3, k = t0;
	while (k + 1 < in.len && !(in.p[k] == '?' && in.p[k + 1] == '=')) {
		if (in.p[k] == ' ' || in.p[k] == '\t' || in.p[k] == '\r' ||
		    in.p[k] == '\n')
			return 0;
		k++;
	}
	if (k + 1 >= in.len)
		return 0;
	*enc = e;
	*text = str_make(in.p + t0, k - t0);
	return k + 2 - i;
}

static void append_plain(struct str plain, struct buf *out)
{
	struct buf tmp = BUF_INIT;
	for (size_t k = 0; k < plain.len; k++)
		if (plain.p[k] != '\r' && plain.p[k] != '\n')
			buf_appendc(&tmp, plain.p[k]);
	mime_utf8_sanitize(buf_str(&tmp), out);
	buf_free(&tmp);
}

void mime_header_decode(struct str in, struct buf *out)
{
	if (in.len == 0)
		return; /* in.p may be NULL */
	size_t i = 0, run = 0;
	bool after_word = false; /* only whitespace since the last word */
	/* Adjacent words in one charset are joined before conversion:
	 * senders split a multibyte character across two words. */
	struct buf raw = BUF_INIT;
	struct str raw_cs = { NULL, 0 };
	buf_reserve(out, in.len);
	while (i < in.len) {
		struct str cs, text;
		char enc;
		size_t n = in.p[i] == '=' ? encoded_word(in, i, &cs, &enc, &text)
					  : 0;
		if (!n) {
			char c = in.p[i];
			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				after_word = false;
			i++;
			continue;
		}
		if (!after_word || str_cmp_nocase(cs, raw_cs) != 0) {
			if (raw_cs.p)
				mime_charset_to_utf8(raw_cs, buf_str(&raw), out);
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
		mime_charset_to_utf8(raw_cs, buf_str(&raw), out);
	append_plain(str_make(in.p + run, in.len - run), out);
	buf_free(&raw);
}
