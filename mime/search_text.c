#include "mime/search_text.h"

#include <string.h>

#include "mime/addr.h"
#include "mime/date.h"
#include "mime/decode.h"
#include "mime/header.h"

uint32_t search_fold_char(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c < 0x100) {
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			return c + 32;
		return c == 0xb5 ? 0x3bc : c;
	}
	if (c < 0x180) { /* Latin Extended-A: mostly case pairs */
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x370 && c < 0x400) { /* Greek */
		if ((c >= 0x391 && c <= 0x3a1) || (c >= 0x3a3 && c <= 0x3ab))
			return c + 32;
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if (c == 0x3c2)
			return 0x3c3;
		return c;
	}
	if (c >= 0x400 && c < 0x530) { /* Cyrillic */
		if (c <= 0x40f)
			return c + 80;
		if (c <= 0x42f)
			return c + 32;
		if (c < 0x460)
			return c;
		if (c == 0x4c0)
			return 0x4cf;
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
		    (c >= 0x4d0 && c <= 0x52f))
			return (c & 1) ? c : c + 1;
		if (c >= 0x4c1 && c <= 0x4ce)
			return (c & 1) ? c + 1 : c;
	}
	return c;
}

static void put_utf8(struct buf *out, uint32_t c)
{
	char b[4];
	size_t n;
	if (c < 0x80) {
		b[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (c >> 18));
		b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

void search_fold(struct str s, struct buf *out)
{
	struct buf clean = BUF_INIT;
	mime_utf8_sanitize(s, &clean);
	const unsigned char *p = (const unsigned char *)clean.data;
	size_t n = clean.len, i = 0;
	buf_reserve(out, n);
	while (i < n) {
		uint32_t c = p[i];
		size_t k = 1;
		if (c >= 0xf0) {
			c = ((c & 7u) << 18) | ((p[i + 1] & 0x3fu) << 12) |
			    ((p[i + 2] & 0x3fu) << 6) | (p[i + 3] & 0x3fu);
			k = 4;
		} else if (c >= 0xe0) {
			c = ((c & 15u) << 12) | ((p[i + 1] & 0x3fu) << 6) |
			    (p[i + 2] & 0x3fu);
			k = 3;
		} else if (c >= 0xc0) {
			c = ((c & 31u) << 6) | (p[i + 1] & 0x3fu);
			k = 2;
		}
		put_utf8(out, search_fold_char(c));
		i += k;
	}
	buf_free(&clean);
}

bool search_folded_contains(struct str hay, struct str needle)
{
	if (needle.len == 0)
		return true;
	if (hay.len < needle.len)
		return false;
	return memmem(hay.p, hay.len, needle.p, needle.len) != NULL;
}

bool search_text_contains(struct str haystack, struct str needle)
{
	struct buf h = BUF_INIT, n = BUF_INIT;
	search_fold(haystack, &h);
	search_fold(needle, &n);
	bool r = search_folded_contains(buf_str(&h), buf_str(&n));
	buf_free(&h);
	buf_free(&n);
	return r;
}

static void decoded_value(struct str value, struct buf *out)
{
	struct buf u = BUF_INIT;
	mime_header_unfold(value, &u);
	mime_header_decode(buf_str(&u), out);
	buf_free(&u);
}

bool search_header_text(const struct mime_message *m, const char *name,
			struct buf *out)
{
	if (m->nparts == 0)
		return false;
	struct mime_header_iter it;
	struct mime_field f;
	bool found = false;
	mime_header_iter_init(&it, mime_part_header(m, &m->parts[0]));
	while (mime_header_next(&it, &f)) {
		if (!str_eq_nocase(f.name, name))
			continue;
		if (found)
			buf_appendc(out, '\n');
		decoded_value(f.value, out);
		found = true;
	}
	return found;
}

/* A local part as the address means it: a quoted one without its
 * quotes and backslashes (RFC 5322 3.2.4). */
static void local_part(struct str lp, struct buf *out)
{
	if (lp.len < 2 || lp.p[0] != '"' || lp.p[lp.len - 1] != '"') {
		buf_append(out, lp.p, lp.len);
		return;
	}
	for (size_t i = 1; i + 1 < lp.len; i++) {
		if (lp.p[i] == '\\' && i + 2 < lp.len)
			i++;
		buf_appendc(out, lp.p[i]);
	}
}

bool search_address_text(const struct mime_message *m, const char *name,
			 struct buf *out)
{
	if (!search_header_text(m, name, out))
		return false;
	struct mime_header_iter it;
	struct mime_field f;
	mime_header_iter_init(&it, mime_part_header(m, &m->parts[0]));
	while (mime_header_next(&it, &f)) {
		if (!str_eq_nocase(f.name, name))
			continue;
		struct mime_addr_list l = { 0 };
		mime_addr_parse(f.value, &l);
		for (size_t i = 0; i < l.n; i++) {
			const struct mime_addr *a = &l.v[i];
			if (a->kind != MIME_ADDR_MAILBOX || !a->mailbox.p)
				continue;
			buf_appendc(out, '\n');
			if (a->name.p && a->name.len) {
				mime_header_decode(a->name, out);
				buf_appendc(out, ' ');
			}
			buf_appendc(out, '<');
			local_part(a->mailbox, out);
			if (a->host.p) {
				buf_appendc(out, '@');
				buf_append(out, a->host.p, a->host.len);
			}
			buf_appendc(out, '>');
		}
		mime_addr_list_free(&l);
	}
	return true;
}

void search_part_text(const struct mime_message *m, uint32_t part,
		      struct buf *out)
{
	const struct mime_part *p = &m->parts[part];
	struct str body = mime_part_body(m, p);
	struct buf raw = BUF_INIT;
	if (p->cte.p && str_eq_nocase(p->cte, "base64")) {
		mime_base64_decode(body, &raw);
		body = buf_str(&raw);
	} else if (p->cte.p && str_eq_nocase(p->cte, "quoted-printable")) {
		mime_qp_decode(body, &raw, false);
		body = buf_str(&raw);
	}
	const struct mime_param *cs = mime_part_param(m, p, "charset");
	mime_charset_to_utf8(cs ? cs->value : str_make(NULL, 0), body, out);
	buf_free(&raw);
}

static void all_headers(const struct mime_message *m, uint32_t part,
			struct buf *out)
{
	struct mime_header_iter it;
	struct mime_field f;
	mime_header_iter_init(&it, mime_part_header(m, &m->parts[part]));
	while (mime_header_next(&it, &f)) {
		mime_utf8_sanitize(f.name, out);
		buf_append(out, ": ", 2);
		decoded_value(f.value, out);
		buf_appendc(out, '\n');
	}
}

static void bodies(const struct mime_message *m, struct buf *out,
		   bool headers)
{
	/* parts[] is in document order (parsing is depth-first). */
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct mime_part *p = &m->parts[i];
		if (headers && i > 0 && (p->flags & MIME_PART_IS_MESSAGE))
			all_headers(m, i, out);
		if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
			continue;
		if (!str_eq_nocase(p->type, "text"))
			continue;
		search_part_text(m, i, out);
		buf_appendc(out, '\n');
	}
}

void search_body_text(const struct mime_message *m, struct buf *out)
{
	bodies(m, out, false);
}

void search_all_text(const struct mime_message *m, struct buf *out)
{
	if (m->nparts)
		all_headers(m, 0, out);
	bodies(m, out, true);
}

bool search_sent_date(const struct mime_message *m, int *year, int *month,
		      int *day)
{
	struct mime_field f;
	struct mime_date d;
	if (m->nparts == 0 ||
	    !mime_header_find(mime_part_header(m, &m->parts[0]), "Date", &f) ||
	    !mime_date_parse(f.value, &d))
		return false;
	*year = d.year;
	*month = d.month;
	*day = d.day;
	return true;
}
