#include "imap/section.h"

#include <string.h>

#include "mime/decode.h"
#include "mime/header.h"

static void set_range(struct imap_section_data *out, size_t off, size_t len)
{
	out->built = false;
	out->off = off;
	out->len = len;
}

static bool field_listed(struct str name, const struct str *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (str_cmp_nocase(name, fields[i]) == 0)
			return true;
	return false;
}

static void header_fields(struct str hdr, const struct imap_section *sec,
			  struct buf *out)
{
	bool keep_listed = sec->kind == IMAP_SECTION_HEADER_FIELDS;
	struct mime_header_iter it;
	struct mime_field f;
	mime_header_iter_init(&it, hdr);
	while (mime_header_next(&it, &f)) {
		if (field_listed(f.name, sec->fields, sec->nfields) !=
		    keep_listed)
			continue;
		buf_append(out, f.whole.p, f.whole.len);
		/* The header's last line may lack its line end. */
		if (f.whole.len == 0 || f.whole.p[f.whole.len - 1] != '\n')
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}

enum imap_section_status imap_section_fetch(const struct mime_message *m,
					    const struct imap_section *sec,
					    struct imap_section_data *out)
{
	memset(out, 0, sizeof *out);
	if (sec->kind == IMAP_SECTION_MIME && sec->depth == 0)
		return IMAP_SECTION_BAD;
	uint32_t idx = sec->depth ? mime_part_find(m, sec->path, sec->depth)
				  : (m->nparts ? 0 : MIME_NONE);
	if (idx == MIME_NONE)
		return IMAP_SECTION_OK;
	const struct mime_part *p = &m->parts[idx];
	if (sec->kind == IMAP_SECTION_NONE) {
		if (sec->depth == 0)
			set_range(out, 0, m->len);
		else
			set_range(out, p->body_off, p->body_len);
		return IMAP_SECTION_OK;
	}
	if (sec->kind == IMAP_SECTION_MIME) {
		set_range(out, p->hdr_off, p->hdr_len);
		return IMAP_SECTION_OK;
	}
	/* HEADER, HEADER.FIELDS[.NOT], TEXT: of the message itself or of
	 * the message inside a message/rfc822 part. */
	if (sec->depth) {
		if (!(p->flags & MIME_PART_MESSAGE))
			return IMAP_SECTION_OK;
		p = &m->parts[p->first_child];
	}
	switch (sec->kind) {
	case IMAP_SECTION_HEADER:
		set_range(out, p->hdr_off, p->hdr_len);
		break;
	case IMAP_SECTION_TEXT:
		set_range(out, p->body_off, p->body_len);
		break;
	default:
		out->built = true;
		header_fields(mime_part_header(m, p), sec, &out->buf);
		out->len = out->buf.len;
		break;
	}
	return IMAP_SECTION_OK;
}

enum imap_section_status imap_section_binary(const struct mime_message *m,
					     const uint32_t *path, size_t depth,
					     struct imap_section_data *out)
{
	memset(out, 0, sizeof *out);
	uint32_t idx = depth == 0 ? 0 : mime_part_find(m, path, depth);
	if (idx == MIME_NONE)
		return IMAP_SECTION_OK;
	const struct mime_part *p = &m->parts[idx];
	struct str cte = p->cte;
	if (!cte.p || (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) ||
	    str_eq_nocase(cte, "7bit") || str_eq_nocase(cte, "8bit") ||
	    str_eq_nocase(cte, "binary")) {
		if (depth == 0)
			set_range(out, 0, m->len);
		else
			set_range(out, p->body_off, p->body_len);
		return IMAP_SECTION_OK;
	}
	/* BINARY[] is the whole message with its body decoded (RFC 3516
	 * section 4.2: the content-transfer-encoding is removed), its
	 * header as it is; Dovecot answers the same. */
	if (depth == 0)
		buf_append(&out->buf, m->data, p->body_off);
	if (str_eq_nocase(cte, "base64"))
		mime_base64_decode(mime_part_body(m, p), &out->buf);
	else if (str_eq_nocase(cte, "quoted-printable"))
		mime_qp_decode(mime_part_body(m, p), &out->buf, false);
	else
		return IMAP_SECTION_UNKNOWN_CTE;
	out->built = true;
	out->len = out->buf.len;
	return IMAP_SECTION_OK;
}

struct str imap_section_bytes(const struct mime_message *m,
			      const struct imap_section_data *d)
{
	if (d->built)
		return str_make(d->buf.data ? d->buf.data : "", d->buf.len);
	return str_make(m->data + d->off, d->len);
}

void imap_section_data_free(struct imap_section_data *d)
{
	buf_free(&d->buf);
	d->len = 0;
	d->built = false;
}

void imap_partial_clip(size_t total, uint64_t origin, uint64_t count,
		       size_t *off, size_t *len)
{
	if (origin >= total) {
		*off = total;
		*len = 0;
		return;
	}
	*off = (size_t)origin;
	size_t left = total - *off;
	*len = count < left ? (size_t)count : left;
}
