#include "imap/bodystructure.h"

#include "imap/envelope.h"
#include "imap/istring.h"

static void nstr(struct buf *out, struct str s, bool rev2)
{
	istring_write_nstring(out, s.p ? &s : NULL, rev2);
}

/* add_charset: a text part without a charset parameter gets the RFC
 * 2045 section 5.2 default spelled out, as Dovecot does. */
static void params(struct buf *out, const struct mime_message *m,
		   uint32_t first, uint32_t count, bool add_charset, bool rev2)
{
	if (count == 0 && !add_charset) {
		buf_append(out, "NIL", 3);
		return;
	}
	buf_appendc(out, '(');
	for (uint32_t i = 0; i < count; i++) {
		if (i)
			buf_appendc(out, ' ');
		istring_write(out, m->params[first + i].name, rev2);
		buf_appendc(out, ' ');
		istring_write(out, m->params[first + i].value, rev2);
	}
	if (add_charset)
		buf_appends(out, count ? " \"charset\" \"us-ascii\""
				       : "\"charset\" \"us-ascii\"");
	buf_appendc(out, ')');
}

/* body-fld-lang: NIL, one string, or a list (RFC 3066 tags separated by
 * commas in Content-Language, RFC 3282). */
static void language(struct buf *out, struct str v, bool rev2)
{
	struct str tags[64];
	size_t n = 0, i = 0;
	while (v.p && i < v.len && n < 64) {
		while (i < v.len && (v.p[i] == ',' || v.p[i] == ' ' ||
				     v.p[i] == '\t'))
			i++;
		size_t s = i;
		while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' &&
		       v.p[i] != '\t')
			i++;
		if (i > s)
			tags[n++] = str_make(v.p + s, i - s);
	}
	if (n == 0) {
		buf_append(out, "NIL", 3);
		return;
	}
	if (n == 1) {
		istring_write(out, tags[0], rev2);
		return;
	}
	buf_appendc(out, '(');
	for (size_t k = 0; k < n; k++) {
		if (k)
			buf_appendc(out, ' ');
		istring_write(out, tags[k], rev2);
	}
	buf_appendc(out, ')');
}

/* disposition, language, location: shared by both body kinds. */
static void ext_common(struct buf *out, const struct mime_message *m,
		       const struct mime_part *p, bool rev2)
{
	if (p->disposition.p) {
		buf_appendc(out, '(');
		istring_write(out, p->disposition, rev2);
		buf_appendc(out, ' ');
		params(out, m, p->disp_param_first, p->disp_param_count, false,
		       rev2);
		buf_append(out, ") ", 2);
	} else {
		buf_append(out, "NIL ", 4);
	}
	language(out, p->language, rev2);
	buf_appendc(out, ' ');
	nstr(out, p->location, rev2);
}

static void empty_text(struct buf *out, bool extended)
{
	buf_appends(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
			 "\"7bit\" 0 0");
	if (extended)
		buf_appends(out, " NIL NIL NIL NIL");
	buf_appendc(out, ')');
}

static void part_write(struct buf *out, const struct mime_message *m,
		       uint32_t idx, bool extended, bool rev2)
{
	const struct mime_part *p = &m->parts[idx];
	buf_appendc(out, '(');
	if (p->flags & MIME_PART_MULTIPART) {
		if (p->nchildren == 0)
			empty_text(out, extended);
		for (uint32_t c = p->first_child; c != MIME_NONE;
		     c = m->parts[c].next_sibling)
			part_write(out, m, c, extended, rev2);
		buf_appendc(out, ' ');
		istring_write(out, p->subtype, rev2);
		if (extended) {
			buf_appendc(out, ' ');
			params(out, m, p->param_first, p->param_count, false,
			       rev2);
			buf_appendc(out, ' ');
			ext_common(out, m, p, rev2);
		}
		buf_appendc(out, ')');
		return;
	}
	istring_write(out, p->type, rev2);
	buf_appendc(out, ' ');
	istring_write(out, p->subtype, rev2);
	buf_appendc(out, ' ');
	bool text = str_eq_nocase(p->type, "text");
	params(out, m, p->param_first, p->param_count,
	       text && !mime_part_param(m, p, "charset"), rev2);
	buf_appendc(out, ' ');
	nstr(out, p->id, rev2);
	buf_appendc(out, ' ');
	nstr(out, p->description, rev2);
	buf_appendc(out, ' ');
	istring_write(out, p->cte.p ? p->cte : STR_LIT("7bit"), rev2);
	buf_printf(out, " %zu", p->body_len);
	/* message/global is a message only in the IMAP4rev2 grammar; an
	 * RFC 3501 client would read its envelope as extension data. */
	bool as_message = (p->flags & MIME_PART_MESSAGE) &&
			  (rev2 || str_eq_nocase(p->subtype, "rfc822"));
	if (as_message) {
		const struct mime_part *c = &m->parts[p->first_child];
		buf_appendc(out, ' ');
		imap_envelope_write(out, mime_part_header(m, c), rev2);
		buf_appendc(out, ' ');
		part_write(out, m, p->first_child, extended, rev2);
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	} else if (text) {
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	}
	if (extended) {
		buf_appendc(out, ' ');
		nstr(out, p->md5, rev2);
		buf_appendc(out, ' ');
		ext_common(out, m, p, rev2);
	}
	buf_appendc(out, ')');
}

void imap_bodystructure_write(struct buf *out, const struct mime_message *m,
			      uint32_t part, bool extended, bool rev2)
{
	if (part >= m->nparts) {
		empty_text(out, extended);
		return;
	}
	part_write(out, m, part, extended, rev2);
}
