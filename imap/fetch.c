/* FETCH responses: see fetch.h. */
#include "imap/fetch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"
#include "imap/bodystructure.h"
#include "imap/envelope.h"
#include "imap/flags.h"
#include "imap/section.h"
#include "mime/header.h"
#include "mime/message.h"

#define ITEMS_NEEDING_FILE                                                 \
	(IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY | IMAP_FETCH_BODYSTRUCTURE | \
	 IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_HEADER |                     \
	 IMAP_FETCH_RFC822_TEXT)

bool imap_fetch_needs_file(const struct imap_fetch_items *items)
{
	return (items->flags & ITEMS_NEEDING_FILE) || items->nsections > 0;
}

/* The message as the fetch sees it: its wire form read once, its MIME
 * tree parsed only when an item needs structure. */
struct fetch_msg {
	const struct mailbox *mb;
	size_t i;
	bool have_wire, parsed;
	struct buf owned; /* the file's bytes, when read here */
	struct str wire;
	size_t hdr_len; /* valid with have_wire */
	struct mime_message mime;
};

static void fetch_msg_set_wire(struct fetch_msg *fm, struct str wire)
{
	fm->wire = str_make(wire.p ? wire.p : "", wire.len);
	fm->have_wire = true;
	mime_header_split(fm->wire.p, fm->wire.len, &fm->hdr_len);
}

static int fetch_msg_load(struct fetch_msg *fm, char *err, size_t errsz)
{
	if (fm->have_wire)
		return 0;
	int rc = store_msg_read_wire(fm->mb, fm->i, &fm->owned, err, errsz);
	if (rc != 0)
		return rc;
	fetch_msg_set_wire(fm, buf_str(&fm->owned));
	return 0;
}

static const struct mime_message *fetch_msg_mime(struct fetch_msg *fm)
{
	if (!fm->parsed) {
		mime_message_parse(&fm->mime, fm->wire.p, fm->wire.len);
		fm->parsed = true;
	}
	return &fm->mime;
}

static void fetch_msg_free(struct fetch_msg *fm)
{
	if (fm->parsed)
		mime_message_free(&fm->mime);
	buf_free(&fm->owned);
}

static struct str wire_str(const struct fetch_msg *fm)
{
	return fm->have_wire ? fm->wire : str_make("", 0);
}

void imap_fetch_write_date(struct buf *out, int64_t t)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	buf_printf(out, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		   tm.tm_sec);
}

/* A BODY[...] / RFC822 value: always a literal, sizes exact. A literal
 * may not carry NUL (RFC 9051 section 4.3); those bytes go out as 0x80,
 * as Dovecot sends them, which keeps every size and offset true. */
static void write_text_literal(struct buf *out, struct str s)
{
	buf_printf(out, "{%zu}\r\n", s.len);
	size_t start = out->len;
	buf_append(out, s.p, s.len);
	char *p = out->data + start;
	size_t left = s.len;
	char *z;
	while (left && (z = memchr(p, '\0', left)) != NULL) {
		*z = (char)0x80;
		left -= (size_t)(z - p) + 1;
		p = z + 1;
	}
}

/* BINARY[...]: RFC 3516 section 4.2, literal8 only when needed. */
static void write_binary_literal(struct buf *out, struct str s)
{
	bool nul = s.len && memchr(s.p, '\0', s.len) != NULL;
	buf_printf(out, "%s{%zu}\r\n", nul ? "~" : "", s.len);
	buf_append(out, s.p, s.len);
}

static struct str clip(struct str s, const struct imap_fetch_section *sec)
{
	if (!sec->partial)
		return s;
	size_t off, len;
	imap_partial_clip(s.len, sec->origin, sec->count, &off, &len);
	return str_make(s.p + off, len);
}

static bool section_needs_mime(const struct imap_fetch_section *sec)
{
	if (sec->nparts > 0)
		return true;
	/* BINARY[] decodes the top-level body: its CTE is needed */
	if (sec->kind != IMAP_SECTION_BODY)
		return true;
	return sec->text == IMAP_SECTION_TEXT_FIELDS ||
	       sec->text == IMAP_SECTION_TEXT_FIELDS_NOT ||
	       sec->text == IMAP_SECTION_TEXT_MIME;
}

static enum imap_section_spec section_spec(enum imap_section_text t)
{
	switch (t) {
	case IMAP_SECTION_TEXT_HEADER:
		return IMAP_SECTION_HEADER;
	case IMAP_SECTION_TEXT_FIELDS:
		return IMAP_SECTION_HEADER_FIELDS;
	case IMAP_SECTION_TEXT_FIELDS_NOT:
		return IMAP_SECTION_HEADER_FIELDS_NOT;
	case IMAP_SECTION_TEXT_MIME:
		return IMAP_SECTION_MIME;
	case IMAP_SECTION_TEXT_TEXT:
		return IMAP_SECTION_TEXT;
	case IMAP_SECTION_TEXT_NONE:
		break;
	}
	return IMAP_SECTION_NONE;
}

static int write_section(struct buf *out, struct fetch_msg *fm,
			 const struct imap_fetch_section *sec, char *err,
			 size_t errsz)
{
	struct str whole = wire_str(fm);
	if (!section_needs_mime(sec)) {
		/* The whole message, its header or its text: ranges of the
		 * wire form, no MIME parse. */
		struct str s = whole;
		if (sec->kind == IMAP_SECTION_BODY &&
		    sec->text == IMAP_SECTION_TEXT_HEADER)
			s.len = fm->hdr_len;
		else if (sec->kind == IMAP_SECTION_BODY &&
			 sec->text == IMAP_SECTION_TEXT_TEXT)
			s = str_make(whole.p + fm->hdr_len,
				     whole.len - fm->hdr_len);
		buf_appends(out, sec->echo);
		buf_appendc(out, ' ');
		if (sec->kind == IMAP_SECTION_BINARY_SIZE)
			buf_printf(out, "%zu", s.len);
		else if (sec->kind == IMAP_SECTION_BINARY)
			write_binary_literal(out, clip(s, sec));
		else
			write_text_literal(out, clip(s, sec));
		return 0;
	}

	const struct mime_message *m = fetch_msg_mime(fm);
	struct imap_section_data d = { 0 };
	enum imap_section_status st;
	struct str *fields = NULL;
	if (sec->kind == IMAP_SECTION_BODY) {
		if (sec->nfields) {
			fields = xcalloc(sec->nfields, sizeof *fields);
			for (size_t k = 0; k < sec->nfields; k++)
				fields[k] = str_from_cstr(sec->fields[k]);
		}
		struct imap_section is = {
			.path = sec->part,
			.depth = sec->nparts,
			.kind = section_spec(sec->text),
			.fields = fields,
			.nfields = sec->nfields,
		};
		st = imap_section_fetch(m, &is, &d);
	} else {
		st = imap_section_binary(m, sec->part, sec->nparts, &d);
	}
	free(fields);
	if (st == IMAP_SECTION_UNKNOWN_CTE) {
		imap_section_data_free(&d);
		snprintf(err, errsz, "Unknown Content-Transfer-Encoding in %s",
			 sec->echo);
		return IMAP_FETCH_EUNKNOWN_CTE;
	}
	if (st != IMAP_SECTION_OK) {
		imap_section_data_free(&d);
		snprintf(err, errsz, "Invalid section %s", sec->echo);
		return STORE_EINVAL;
	}
	struct str s = imap_section_bytes(m, &d);
	buf_appends(out, sec->echo);
	buf_appendc(out, ' ');
	if (sec->kind == IMAP_SECTION_BINARY_SIZE)
		buf_printf(out, "%zu", s.len);
	else if (sec->kind == IMAP_SECTION_BINARY)
		write_binary_literal(out, clip(s, sec));
	else
		write_text_literal(out, clip(s, sec));
	imap_section_data_free(&d);
	return 0;
}

static void sep(struct buf *out, bool *first)
{
	if (!*first)
		buf_appendc(out, ' ');
	*first = false;
}

static int write_items(struct buf *out, struct fetch_msg *fm,
		       const struct store_msg *msg,
		       const struct imap_fetch_items *items,
		       const struct imap_fetch_ctx *ctx, char *err,
		       size_t errsz)
{
	unsigned f = items->flags;
	bool first = true;
	if ((f & IMAP_FETCH_UID) || ctx->uid) {
		sep(out, &first);
		buf_printf(out, "UID %" PRIu32, msg->uid);
	}
	if (f & IMAP_FETCH_FLAGS) {
		sep(out, &first);
		buf_appends(out, "FLAGS ");
		imap_flags_write(out, fm->mb, msg->flags, msg->keywords);
	}
	if (f & IMAP_FETCH_INTERNALDATE) {
		sep(out, &first);
		buf_appends(out, "INTERNALDATE ");
		imap_fetch_write_date(out, msg->internal_date);
	}
	if (f & IMAP_FETCH_RFC822_SIZE) {
		sep(out, &first);
		buf_printf(out, "RFC822.SIZE %" PRIu64, msg->size);
	}
	if (f & IMAP_FETCH_ENVELOPE) {
		sep(out, &first);
		buf_appends(out, "ENVELOPE ");
		imap_envelope_write(out, str_make(wire_str(fm).p, fm->hdr_len),
				    ctx->utf8);
	}
	/* bodystructure.h: its rev2 covers UTF8=ACCEPT as well. */
	bool bs_rev2 = ctx->rev2 || ctx->utf8;
	if (f & IMAP_FETCH_BODY) {
		sep(out, &first);
		buf_appends(out, "BODY ");
		imap_bodystructure_write(out, fetch_msg_mime(fm), 0, false,
					 bs_rev2);
	}
	if (f & IMAP_FETCH_BODYSTRUCTURE) {
		sep(out, &first);
		buf_appends(out, "BODYSTRUCTURE ");
		imap_bodystructure_write(out, fetch_msg_mime(fm), 0, true,
					 bs_rev2);
	}
	struct str whole = wire_str(fm);
	if (f & IMAP_FETCH_RFC822) {
		sep(out, &first);
		buf_appends(out, "RFC822 ");
		write_text_literal(out, whole);
	}
	if (f & IMAP_FETCH_RFC822_HEADER) {
		sep(out, &first);
		buf_appends(out, "RFC822.HEADER ");
		write_text_literal(out, str_make(whole.p, fm->hdr_len));
	}
	if (f & IMAP_FETCH_RFC822_TEXT) {
		sep(out, &first);
		buf_appends(out, "RFC822.TEXT ");
		write_text_literal(out, str_make(whole.p + fm->hdr_len,
						 whole.len - fm->hdr_len));
	}
	if ((f & IMAP_FETCH_MODSEQ) || ctx->modseq) {
		sep(out, &first);
		buf_printf(out, "MODSEQ (%" PRIu64 ")", msg->modseq);
	}
	for (size_t k = 0; k < items->nsections; k++) {
		sep(out, &first);
		int rc = write_section(out, fm, &items->sections[k], err, errsz);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int fetch_write(struct buf *out, struct fetch_msg *fm,
		       const struct store_msg *msg, uint32_t seq,
		       const struct imap_fetch_items *items,
		       const struct imap_fetch_ctx *ctx, char *err, size_t errsz)
{
	size_t start = out->len;
	buf_printf(out, "* %" PRIu32 " FETCH (", seq);
	int rc = write_items(out, fm, msg, items, ctx, err, errsz);
	if (rc != 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return rc;
	}
	buf_appends(out, ")\r\n");
	return 0;
}

int imap_fetch_write(struct buf *out, const struct mailbox *mb, size_t i,
		     uint32_t seq, const struct imap_fetch_items *items,
		     const struct imap_fetch_ctx *ctx, char *err, size_t errsz)
{
	if (i >= store_mailbox_count(mb)) {
		snprintf(err, errsz, "No message %zu", i + 1);
		return STORE_ENOENT;
	}
	const struct store_msg *msg = store_mailbox_msg(mb, i);
	if (msg->expunged) {
		snprintf(err, errsz, "Message UID %" PRIu32 " was expunged",
			 msg->uid);
		return STORE_ENOENT;
	}
	struct fetch_msg fm = { .mb = mb, .i = i };
	int rc = 0;
	if (imap_fetch_needs_file(items))
		rc = fetch_msg_load(&fm, err, errsz);
	if (rc == 0)
		rc = fetch_write(out, &fm, msg, seq, items, ctx, err, errsz);
	fetch_msg_free(&fm);
	return rc;
}

int imap_fetch_write_wire(struct buf *out, const struct mailbox *mb,
			  const struct store_msg *msg, struct str wire,
			  uint32_t seq, const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx, char *err,
			  size_t errsz)
{
	struct fetch_msg fm = { .mb = mb };
	fetch_msg_set_wire(&fm, wire);
	int rc = fetch_write(out, &fm, msg, seq, items, ctx, err, errsz);
	fetch_msg_free(&fm);
	return rc;
}
