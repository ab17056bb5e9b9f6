/* FETCH responses: see fetch.h. */
#include "imap/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The message as the fetch sees it: its wire form read once (or only
 * its header, when the items need no more and the rest is streamed),
 * its MIME tree parsed only when an item needs structure. */
struct fetch_msg {
	const struct mailbox *mb;
	size_t i;
	bool have_wire, parsed;
	struct buf owned; /* the file's bytes, when read here */
	struct str wire;  /* the first wire.len octets of the wire form */
	uint64_t total;   /* the wire form's length (> wire.len: header only) */
	size_t hdr_len;   /* valid with have_wire */
	struct mime_message mime;
	struct store_wire_reader *rd; /* the file, when read here */
	struct imap_fetch_plan *plan; /* NULL: every literal is copied */
};

static void fetch_msg_set_wire(struct fetch_msg *fm, struct str wire)
{
	fm->wire = str_make(wire.p ? wire.p : "", wire.len);
	fm->total = wire.len;
	fm->have_wire = true;
	mime_header_split(fm->wire.p, fm->wire.len, &fm->hdr_len);
}

/* Reads the wire form; with header_only, stops once the header's end is
 * known (a blank line with octets after it: what follows cannot change
 * where mime_header_split puts it). */
static int fetch_msg_load(struct fetch_msg *fm, bool header_only, char *err,
			  size_t errsz)
{
	if (fm->have_wire)
		return 0;
	int rc = store_wire_open(fm->mb, fm->i, &fm->rd, err, errsz);
	if (rc != 0)
		return rc;
	while ((rc = store_wire_read(fm->rd, &fm->owned, 128 * 1024, err,
				     errsz)) > 0) {
		if (!header_only || fm->owned.len > IMAP_FETCH_HEADER_SCAN)
			continue;
		size_t h;
		mime_header_split(fm->owned.data, fm->owned.len, &h);
		if (h < fm->owned.len) {
			fm->wire = buf_str(&fm->owned);
			fm->hdr_len = h;
			fm->have_wire = true;
			fm->total = store_mailbox_msg(fm->mb, fm->i)->size;
			if (fm->total < fm->wire.len)
				fm->total = fm->wire.len;
			return 0;
		}
	}
	if (rc < 0)
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
	store_wire_close(&fm->rd);
}

/* ---- streamed literals ---- */

void imap_fetch_plan_init(struct imap_fetch_plan *p, const char *tmp_dir)
{
	*p = (struct imap_fetch_plan){ .min = IMAP_FETCH_STREAM_MIN,
				       .tmp_fd = -1,
				       .tmp_dir = xstrdup(tmp_dir) };
}

void imap_fetch_plan_reset(struct imap_fetch_plan *p)
{
	p->n = 0;
	store_wire_close(&p->wire);
	if (p->tmp_fd >= 0)
		close(p->tmp_fd);
	p->tmp_fd = -1;
	p->tmp_len = 0;
}

void imap_fetch_plan_free(struct imap_fetch_plan *p)
{
	imap_fetch_plan_reset(p);
	free(p->v);
	free(p->tmp_dir);
	p->v = NULL;
	p->cap = 0;
	p->tmp_dir = NULL;
}

static void plan_add(struct imap_fetch_plan *p, size_t at,
		     enum imap_fetch_src src, uint64_t off, uint64_t len,
		     bool nul_to_80)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 4;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n++] = (struct imap_fetch_stream){ .at = at, .src = src,
						   .off = off, .len = len,
						   .nul_to_80 = nul_to_80 };
}

/* An unlinked file in the mailbox's tmp/ (O_TMPFILE where the file
 * system has it), as APPEND's spool. */
static int tmp_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
		       errno == EINVAL)) {
		char *tmpl = xasprintf("%s/postern-fetch.XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
		free(tmpl);
	}
	return fd;
}

/* Bytes built for the response (decoded BINARY, header fields) that are
 * too big to keep: to plan->tmp_fd; *off is where they start. */
static int tmp_append(struct imap_fetch_plan *p, struct str s, uint64_t *off,
		      char *err, size_t errsz)
{
	if (p->tmp_fd < 0) {
		p->tmp_fd = tmp_open(p->tmp_dir);
		if (p->tmp_fd < 0) {
			snprintf(err, errsz, "open %s: %s", p->tmp_dir,
				 strerror(errno));
			return STORE_ETEMP;
		}
	}
	*off = p->tmp_len;
	const char *c = s.p;
	size_t n = s.len;
	while (n > 0) {
		ssize_t w = write(p->tmp_fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errsz, "write to %s: %s", p->tmp_dir,
				 w < 0 ? strerror(errno) : "no progress");
			return STORE_ETEMP;
		}
		c += w;
		n -= (size_t)w;
	}
	p->tmp_len += s.len;
	return 0;
}

static struct str wire_str(const struct fetch_msg *fm)
{
	return fm->have_wire ? fm->wire : str_make("", 0);
}

static uint64_t wire_total(const struct fetch_msg *fm)
{
	return fm->have_wire ? fm->total : 0;
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

/* The same for a range [*off, *off + *len) of the wire form. */
static void clip_range(uint64_t *off, uint64_t *len,
		       const struct imap_fetch_section *sec)
{
	if (!sec || !sec->partial)
		return;
	size_t o, l;
	imap_partial_clip((size_t)*len, sec->origin, sec->count, &o, &l);
	*off += o;
	*len = l;
}

/* A literal of wire octets [off, off + len): copied, or left to the
 * stream (big, or past what was read). BINARY ranges are always read
 * (they need the MIME parse): the NUL test for literal8 sees them. */
static void write_wire_literal(struct buf *out, struct fetch_msg *fm,
			       uint64_t off, uint64_t len, bool binary)
{
	bool loaded = off + len <= fm->wire.len;
	if (fm->plan && (len >= fm->plan->min || !loaded)) {
		bool nul = binary && loaded && len &&
			   memchr(fm->wire.p + off, '\0', (size_t)len);
		buf_printf(out, "%s{%" PRIu64 "}\r\n", nul ? "~" : "", len);
		plan_add(fm->plan, out->len, IMAP_FETCH_SRC_WIRE, off, len,
			 !binary);
		return;
	}
	struct str s = str_make(fm->wire.p + off, (size_t)len);
	if (binary)
		write_binary_literal(out, s);
	else
		write_text_literal(out, s);
}

/* A literal of bytes built for the response: copied, or (big, when
 * streaming) put in the plan's file and streamed from there. */
static int write_built_literal(struct buf *out, struct fetch_msg *fm,
			       struct str s, bool binary, char *err,
			       size_t errsz)
{
	if (fm->plan && s.len >= fm->plan->min) {
		bool nul = binary && memchr(s.p, '\0', s.len);
		uint64_t off;
		int rc = tmp_append(fm->plan, s, &off, err, errsz);
		if (rc != 0)
			return rc;
		buf_printf(out, "%s{%zu}\r\n", nul ? "~" : "", s.len);
		plan_add(fm->plan, out->len, IMAP_FETCH_SRC_TMP, off, s.len,
			 !binary);
		return 0;
	}
	if (binary)
		write_binary_literal(out, s);
	else
		write_text_literal(out, s);
	return 0;
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
	if (!section_needs_mime(sec)) {
		/* The whole message, its header or its text: ranges of the
		 * wire form, no MIME parse. */
		uint64_t off = 0, len = wire_total(fm);
		if (sec->kind == IMAP_SECTION_BODY &&
		    sec->text == IMAP_SECTION_TEXT_HEADER) {
			len = fm->hdr_len;
		} else if (sec->kind == IMAP_SECTION_BODY &&
			   sec->text == IMAP_SECTION_TEXT_TEXT) {
			off = fm->hdr_len;
			len -= fm->hdr_len;
		}
		buf_appends(out, sec->echo);
		buf_appendc(out, ' ');
		if (sec->kind == IMAP_SECTION_BINARY_SIZE) {
			buf_printf(out, "%" PRIu64, len);
			return 0;
		}
		clip_range(&off, &len, sec);
		write_wire_literal(out, fm, off, len,
				   sec->kind == IMAP_SECTION_BINARY);
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
	bool binary = sec->kind == IMAP_SECTION_BINARY;
	int rc = 0;
	if (sec->kind == IMAP_SECTION_BINARY_SIZE) {
		buf_printf(out, "%zu", s.len);
	} else if (!d.built) {
		uint64_t off = d.off, len = d.len;
		clip_range(&off, &len, sec);
		write_wire_literal(out, fm, off, len, binary);
	} else {
		rc = write_built_literal(out, fm, clip(s, sec), binary, err,
					 errsz);
	}
	imap_section_data_free(&d);
	return rc;
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
		uint32_t flags = msg->flags;
		if (imap_uid_ranges_has(ctx->recent, ctx->n_recent, msg->uid))
			flags |= IMAP_FLAG_RECENT;
		imap_flags_write(out, fm->mb, flags, msg->keywords);
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
	uint64_t total = wire_total(fm);
	if (f & IMAP_FETCH_RFC822) {
		sep(out, &first);
		buf_appends(out, "RFC822 ");
		write_wire_literal(out, fm, 0, total, false);
	}
	if (f & IMAP_FETCH_RFC822_HEADER) {
		sep(out, &first);
		buf_appends(out, "RFC822.HEADER ");
		write_wire_literal(out, fm, 0, fm->hdr_len, false);
	}
	if (f & IMAP_FETCH_RFC822_TEXT) {
		sep(out, &first);
		buf_appends(out, "RFC822.TEXT ");
		write_wire_literal(out, fm, fm->hdr_len, total - fm->hdr_len,
				   false);
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

/* Only the header is needed: no structure, every section a range of
 * the wire form. */
static bool header_is_enough(const struct imap_fetch_items *items)
{
	if (items->flags & (IMAP_FETCH_BODY | IMAP_FETCH_BODYSTRUCTURE))
		return false;
	for (size_t k = 0; k < items->nsections; k++)
		if (section_needs_mime(&items->sections[k]))
			return false;
	return true;
}

int imap_fetch_write_plan(struct buf *out, const struct mailbox *mb,
			  size_t i, uint32_t seq,
			  const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx,
			  struct imap_fetch_plan *plan, char *err,
			  size_t errsz)
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
	struct fetch_msg fm = { .mb = mb, .i = i, .plan = plan };
	int rc = 0;
	if (imap_fetch_needs_file(items))
		rc = fetch_msg_load(&fm,
				    plan && msg->size >= plan->min &&
					    header_is_enough(items),
				    err, errsz);
	if (rc == 0)
		rc = fetch_write(out, &fm, msg, seq, items, ctx, err, errsz);
	if (plan && rc != 0) {
		imap_fetch_plan_reset(plan);
	} else if (plan && plan->n > 0) {
		/* The streams read the file already open: a message
		 * expunged meanwhile is still sent whole. */
		for (size_t k = 0; k < plan->n && !plan->wire; k++)
			if (plan->v[k].src == IMAP_FETCH_SRC_WIRE) {
				plan->wire = fm.rd;
				plan->wire_pos = fm.owned.len;
				fm.rd = NULL;
			}
	}
	fetch_msg_free(&fm);
	return rc;
}

int imap_fetch_write(struct buf *out, const struct mailbox *mb, size_t i,
		     uint32_t seq, const struct imap_fetch_items *items,
		     const struct imap_fetch_ctx *ctx, char *err, size_t errsz)
{
	return imap_fetch_write_plan(out, mb, i, seq, items, ctx, NULL, err,
				     errsz);
}

int imap_fetch_write_wire(struct buf *out, const struct mailbox *mb,
			  const struct store_msg *msg, struct str wire,
			  uint32_t seq, const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx, char *err,
			  size_t errsz)
{
	return imap_fetch_write_wire_plan(out, mb, msg, wire, seq, items, ctx,
					  NULL, err, errsz);
}

int imap_fetch_write_wire_plan(struct buf *out, const struct mailbox *mb,
			       const struct store_msg *msg, struct str wire,
			       uint32_t seq,
			       const struct imap_fetch_items *items,
			       const struct imap_fetch_ctx *ctx,
			       struct imap_fetch_plan *plan, char *err,
			       size_t errsz)
{
	struct fetch_msg fm = { .mb = mb, .plan = plan };
	fetch_msg_set_wire(&fm, wire);
	int rc = fetch_write(out, &fm, msg, seq, items, ctx, err, errsz);
	if (plan && rc != 0)
		imap_fetch_plan_reset(plan);
	fetch_msg_free(&fm);
	return rc;
}
