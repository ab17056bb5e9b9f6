/* DKIM canonicalization, RFC 6376 3.4. */
#include "dkim/canon.h"

#include <string.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

long dkim_split_header(struct str msg, struct dkim_hdr *out, size_t max,
		       size_t *body_off)
{
	const char *s = msg.p;
	size_t n = msg.len, i = 0;
	long count = 0;
	*body_off = n;
	while (i < n) {
		/* One line: [i, e), next line at nx. */
		const char *lf = memchr(s + i, '\n', n - i);
		size_t nx = lf ? (size_t)(lf - s) + 1 : n;
		size_t e = lf ? (size_t)(lf - s) : n;
		if (e > i && s[e - 1] == '\r' && lf)
			e--;
		if (e == i) { /* the empty line */
			*body_off = nx;
			return count;
		}
		if (is_wsp(s[i])) { /* a continuation without a field */
			i = nx;
			continue;
		}
		/* The field: this line and its continuations. */
		size_t fend = e;
		size_t j = nx;
		while (j < n && is_wsp(s[j])) {
			const char *lf2 = memchr(s + j, '\n', n - j);
			size_t nx2 = lf2 ? (size_t)(lf2 - s) + 1 : n;
			size_t e2 = lf2 ? (size_t)(lf2 - s) : n;
			if (lf2 && e2 > j && s[e2 - 1] == '\r')
				e2--;
			fend = e2;
			j = nx2;
		}
		const char *colon = memchr(s + i, ':', e - i);
		if (colon) {
			if ((size_t)count == max)
				return -1;
			size_t nl = (size_t)(colon - (s + i));
			while (nl > 0 && is_wsp(s[i + nl - 1]))
				nl--;
			out[count].field = str_make(s + i, fend - i);
			out[count].name = str_make(s + i, nl);
			count++;
		}
		i = j;
	}
	return count;
}

void dkim_canon_header(enum dkim_canon c, struct str f, struct buf *out)
{
	if (c == DKIM_CANON_SIMPLE) {
		for (size_t i = 0; i < f.len; i++) {
			if (f.p[i] == '\n' && (i == 0 || f.p[i - 1] != '\r'))
				buf_appendc(out, '\r');
			buf_appendc(out, f.p[i]);
		}
		buf_append(out, "\r\n", 2);
		return;
	}
	const char *colon = memchr(f.p, ':', f.len);
	size_t nl = colon ? (size_t)(colon - f.p) : f.len;
	size_t ne = nl;
	while (ne > 0 && (is_wsp(f.p[ne - 1]) || f.p[ne - 1] == '\r' ||
			  f.p[ne - 1] == '\n'))
		ne--;
	for (size_t i = 0; i < ne; i++)
		buf_appendc(out, ascii_lower(f.p[i]));
	buf_appendc(out, ':');
	/* The value: unfold (drop CR, LF), squeeze WSP runs, trim both ends. */
	bool ws = false, any = false;
	for (size_t i = colon ? nl + 1 : f.len; i < f.len; i++) {
		char ch = f.p[i];
		if (ch == '\r' || ch == '\n')
			continue;
		if (is_wsp(ch)) {
			ws = true;
			continue;
		}
		if (ws && any)
			buf_appendc(out, ' ');
		ws = false;
		any = true;
		buf_appendc(out, ch);
	}
	buf_append(out, "\r\n", 2);
}

int dkim_body_init(struct dkim_body *b, enum dkim_canon c, const EVP_MD *md,
		   int64_t limit)
{
	memset(b, 0, sizeof *b);
	b->canon = c;
	b->limit = limit;
	b->md = EVP_MD_CTX_new();
	if (!b->md || EVP_DigestInit_ex(b->md, md, NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return -1;
	}
	return 0;
}

static void flush_out(struct dkim_body *b)
{
	if (b->outlen && b->md)
		EVP_DigestUpdate(b->md, b->out, b->outlen);
	b->outlen = 0;
}

/* One canonical byte: counted always, hashed while under l=. */
static inline void emit(struct dkim_body *b, unsigned char c)
{
	if (b->limit < 0 || b->produced < (uint64_t)b->limit) {
		if (b->outlen == sizeof b->out)
			flush_out(b);
		b->out[b->outlen++] = c;
	}
	b->produced++;
}

static void emit_held(struct dkim_body *b)
{
	for (; b->held_lines > 0; b->held_lines--) {
		emit(b, '\r');
		emit(b, '\n');
	}
}

/* A byte of line content (not CR-before-LF, not LF). */
static inline void content(struct dkim_body *b, unsigned char c)
{
	if (b->canon == DKIM_CANON_RELAXED && (c == ' ' || c == '\t')) {
		b->pending_ws = true;
		return;
	}
	if (!b->line_has_data)
		emit_held(b);
	if (b->pending_ws) {
		emit(b, ' ');
		b->pending_ws = false;
	}
	emit(b, c);
	b->line_has_data = true;
}

static inline void line_end(struct dkim_body *b)
{
	b->pending_ws = false; /* relaxed: WSP at the end of a line goes */
	if (b->line_has_data) {
		emit(b, '\r');
		emit(b, '\n');
		b->line_has_data = false;
	} else {
		b->held_lines++;
	}
}

void dkim_body_update(struct dkim_body *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				line_end(b);
				continue;
			}
			content(b, '\r'); /* a bare CR is a byte of the line */
		}
		if (c == '\r')
			b->cr = true;
		else if (c == '\n')
			line_end(b);
		else
			content(b, c);
	}
}

int dkim_body_final(struct dkim_body *b, unsigned char *digest)
{
	if (b->cr) {
		b->cr = false;
		content(b, '\r');
	}
	/* A last line without its line end gets one (3.4.3, 3.4.4); the
	 * empty lines held back are dropped. */
	if (b->line_has_data)
		line_end(b);
	b->held_lines = 0;
	b->pending_ws = false;
	/* simple: an empty body is one CRLF; relaxed: nothing. */
	if (b->canon == DKIM_CANON_SIMPLE && b->produced == 0) {
		emit(b, '\r');
		emit(b, '\n');
	}
	flush_out(b);
	unsigned len = 0;
	if (!b->md || EVP_DigestFinal_ex(b->md, digest, &len) != 1)
		return -1;
	return (int)len;
}

void dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}
