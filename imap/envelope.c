#include "imap/envelope.h"

#include "imap/istring.h"
#include "mime/addr.h"
#include "mime/header.h"

static void nstring_field(struct buf *out, struct str hdr, const char *name,
			  bool utf8)
{
	struct mime_field f;
	if (!mime_header_find(hdr, name, &f)) {
		buf_append(out, "NIL", 3);
		return;
	}
	struct buf v = BUF_INIT;
	mime_header_unfold(f.value, &v);
	istring_write(out, buf_str(&v), utf8);
	buf_free(&v);
}

void imap_envelope_addresses(struct buf *out, struct str value, bool utf8)
{
	struct mime_addr_list l;
	mime_addr_parse(value, &l);
	if (l.n == 0) {
		buf_append(out, "NIL", 3);
		mime_addr_list_free(&l);
		return;
	}
	buf_appendc(out, '(');
	for (size_t i = 0; i < l.n; i++) {
		const struct mime_addr *a = &l.v[i];
		buf_appendc(out, '(');
		switch (a->kind) {
		case MIME_ADDR_GROUP_END:
			buf_append(out, "NIL NIL NIL NIL", 15);
			break;
		case MIME_ADDR_GROUP_START:
			buf_append(out, "NIL NIL ", 8);
			istring_write(out, a->mailbox, utf8);
			buf_append(out, " NIL", 4);
			break;
		case MIME_ADDR_MAILBOX:
			istring_write_nstring(out, a->name.p ? &a->name : NULL,
					      utf8);
			buf_appendc(out, ' ');
			istring_write_nstring(out, a->adl.p ? &a->adl : NULL,
					      utf8);
			buf_appendc(out, ' ');
			istring_write(out, a->mailbox, utf8);
			buf_appendc(out, ' ');
			istring_write(out, a->host, utf8);
			break;
		}
		buf_appendc(out, ')');
	}
	buf_appendc(out, ')');
	mime_addr_list_free(&l);
}

/* The first field named name, as an address list; fallback (From) when
 * the field is absent or holds no address. */
static void addr_field(struct buf *out, struct str hdr, const char *name,
		       const char *fallback, bool utf8)
{
	struct mime_field f;
	if (mime_header_find(hdr, name, &f)) {
		size_t before = out->len;
		imap_envelope_addresses(out, f.value, utf8);
		bool nil = out->len - before == 3 &&
			   out->data[before] == 'N';
		if (!nil || !fallback)
			return;
		out->len = before;
	}
	if (fallback)
		addr_field(out, hdr, fallback, NULL, utf8);
	else
		buf_append(out, "NIL", 3);
}

void imap_envelope_write(struct buf *out, struct str hdr, bool utf8)
{
	buf_appendc(out, '(');
	nstring_field(out, hdr, "Date", utf8);
	buf_appendc(out, ' ');
	nstring_field(out, hdr, "Subject", utf8);
	buf_appendc(out, ' ');
	addr_field(out, hdr, "From", NULL, utf8);
	buf_appendc(out, ' ');
	addr_field(out, hdr, "Sender", "From", utf8);
	buf_appendc(out, ' ');
	addr_field(out, hdr, "Reply-To", "From", utf8);
	static const char *const lists[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < 3; i++) {
		buf_appendc(out, ' ');
		addr_field(out, hdr, lists[i], NULL, utf8);
	}
	buf_appendc(out, ' ');
	nstring_field(out, hdr, "In-Reply-To", utf8);
	buf_appendc(out, ' ');
	nstring_field(out, hdr, "Message-ID", utf8);
	buf_appendc(out, ')');
}
