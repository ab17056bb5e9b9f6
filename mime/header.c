#include "mime/header.h"

#include <string.h>

/* The line starting at off: returns the offset just past its LF (or
 * the end), *content_end where its content ends (before CRLF or LF).
 * Only LF ends a line, as in Dovecot: a bare CR is content. */
static size_t line_end(struct str s, size_t off, size_t *content_end)
{
	const char *lf = memchr(s.p + off, '\n', s.len - off);
	size_t i = lf ? (size_t)(lf - s.p) : s.len;
	size_t next = lf ? i + 1 : i;
	if (lf && i > off && s.p[i - 1] == '\r')
		i--;
	*content_end = i;
	return next;
}

void mime_header_iter_init(struct mime_header_iter *it, struct str hdr)
{
	it->hdr = hdr;
	it->off = 0;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

bool mime_header_next(struct mime_header_iter *it, struct mime_field *f)
{
	struct str s = it->hdr;
	while (it->off < s.len) {
		size_t start = it->off, cend;
		size_t next = line_end(s, start, &cend);
		if (cend == start)
			return false; /* the blank line: end of header */
		/* Continuation lines belong to this field. */
		size_t last_cend = cend;
		while (next < s.len && is_wsp(s.p[next])) {
			size_t n2 = line_end(s, next, &last_cend);
			next = n2;
		}
		it->off = next;
		const char *colon = memchr(s.p + start, ':', cend - start);
		if (!colon)
			continue; /* not a field: skip it */
		size_t nlen = (size_t)(colon - (s.p + start));
		while (nlen > 0 && is_wsp(s.p[start + nlen - 1]))
			nlen--;
		f->name = str_make(s.p + start, nlen);
		size_t voff = (size_t)(colon - s.p) + 1;
		f->value = str_make(s.p + voff, last_cend - voff);
		f->whole = str_make(s.p + start, next - start);
		return true;
	}
	return false;
}

bool mime_header_find(struct str hdr, const char *name, struct mime_field *f)
{
	struct mime_header_iter it;
	mime_header_iter_init(&it, hdr);
	while (mime_header_next(&it, f))
		if (str_eq_nocase(f->name, name))
			return true;
	return false;
}

size_t mime_header_count(struct str hdr, const char *name)
{
	/* The iterator stops at the blank line and takes a folded field
	 * as one, so body lines and continuation lines never count. */
	struct mime_header_iter it;
	struct mime_field f;
	size_t n = 0;
	if (!hdr.p)
		return 0;
	mime_header_iter_init(&it, hdr);
	while (mime_header_next(&it, &f))
		if (str_eq_nocase(f.name, name))
			n++;
	return n;
}

void mime_header_unfold(struct str v, struct buf *out)
{
	size_t a = 0, b = v.len;
	while (a < b && (is_wsp(v.p[a]) || v.p[a] == '\r' || v.p[a] == '\n'))
		a++;
	while (b > a && (is_wsp(v.p[b - 1]) || v.p[b - 1] == '\r' ||
			 v.p[b - 1] == '\n'))
		b--;
	size_t run = a;
	for (size_t i = a; i < b; i++) {
		if (v.p[i] != '\r' && v.p[i] != '\n')
			continue;
		buf_append(out, v.p + run, i - run);
		run = i + 1;
	}
	buf_append(out, v.p + run, b - run);
}

void mime_header_split(const char *msg, size_t len, size_t *hdr_len)
{
	struct str s = str_make(msg, len);
	size_t off = 0;
	while (off < len) {
		size_t cend;
		size_t next = line_end(s, off, &cend);
		if (cend == off) {
			*hdr_len = next;
			return;
		}
		off = next;
	}
	*hdr_len = len;
}
