/* libFuzzer target for the MIME parser and everything built on it: the
 * input is a message; it is parsed, then BODY, BODYSTRUCTURE (both
 * dialects), ENVELOPE, every section kind of every part (and some
 * nonexistent ones), BINARY, the search texts and the Date are made.
 * Invariants are checked with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/bodystructure.h"
#include "imap/envelope.h"
#include "imap/section.h"
#include "mime/date.h"
#include "mime/search_text.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* The IMAP part number of every part (RFC 9051 6.4.5): a multipart's
 * children count from 1; a message whose body is not multipart has that
 * body as its part 1. */
static void path_of(const struct mime_message *m, uint32_t idx,
		    uint32_t *path, size_t *depth)
{
	uint32_t tmp[2 * MIME_DEPTH_MAX + 4];
	size_t n = 0;
	while (idx != MIME_NONE && n + 2 < sizeof tmp / sizeof tmp[0]) {
		const struct mime_part *p = &m->parts[idx];
		if ((p->flags & MIME_PART_IS_MESSAGE) &&
		    !(p->flags & MIME_PART_MULTIPART))
			tmp[n++] = 1;
		uint32_t par = p->parent;
		if (par != MIME_NONE &&
		    (m->parts[par].flags & MIME_PART_MULTIPART)) {
			uint32_t k = 1;
			for (uint32_t c = m->parts[par].first_child; c != idx;
			     c = m->parts[c].next_sibling)
				k++;
			tmp[n++] = k;
		}
		idx = par;
	}
	*depth = n;
	for (size_t i = 0; i < n; i++)
		path[i] = tmp[n - 1 - i];
}

static void sections(const struct mime_message *m, const uint32_t *path,
		     size_t depth)
{
	static const struct str fields[] = { { "From", 4 }, { "subject", 7 },
					     { "Content-Type", 12 } };
	for (int k = IMAP_SECTION_NONE; k <= IMAP_SECTION_TEXT; k++) {
		struct imap_section sec = { path, depth, k, fields, 3 };
		struct imap_section_data d;
		enum imap_section_status st = imap_section_fetch(m, &sec, &d);
		check(st == IMAP_SECTION_OK || st == IMAP_SECTION_BAD);
		struct str s = imap_section_bytes(m, &d);
		if (!d.built)
			check(d.off <= m->len && d.len <= m->len - d.off);
		else
			check(s.len >= 2 && s.p[s.len - 2] == '\r' &&
			      s.p[s.len - 1] == '\n');
		size_t off, len;
		imap_partial_clip(s.len, 3, 5, &off, &len);
		check(off <= s.len && len <= 5 && off + len <= s.len);
		imap_section_data_free(&d);
	}
	struct imap_section_data d;
	if (imap_section_binary(m, path, depth, &d) == IMAP_SECTION_OK) {
		struct str s = imap_section_bytes(m, &d);
		(void)s;
	}
	imap_section_data_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = malloc(size ? size : 1);
	if (size)
		memcpy(msg, data, size);
	struct mime_message m;
	mime_message_parse(&m, msg, size);
	check(m.nparts >= 1 && m.nparts <= MIME_PARTS_MAX + 1);
	struct buf out = BUF_INIT;
	for (int ext = 0; ext < 2; ext++)
		for (int rev2 = 0; rev2 < 2; rev2++) {
			buf_clear(&out);
			imap_bodystructure_write(&out, &m, 0, ext, rev2);
			check(out.len > 0 && out.data[0] == '(');
		}
	buf_clear(&out);
	imap_envelope_write(&out, mime_part_header(&m, &m.parts[0]), false);
	uint32_t path[2 * MIME_DEPTH_MAX + 4];
	size_t depth;
	for (uint32_t i = 0; i < m.nparts; i++) {
		const struct mime_part *p = &m.parts[i];
		check(p->hdr_off + p->hdr_len == p->body_off);
		check(p->body_off + p->body_len <= m.len);
		path_of(&m, i, path, &depth);
		if (depth) {
			uint32_t found = mime_part_find(&m, path, depth);
			/* An embedded multipart message has no number of its
			 * own: the number is its message/rfc822 part's. */
			check(found == i || (found == p->parent &&
					     (p->flags & MIME_PART_IS_MESSAGE)));
		}
		if (i < 64)
			sections(&m, path, depth);
	}
	/* Nonexistent and odd part numbers. */
	uint32_t odd[4] = { 1, 1, 1, 99 };
	for (size_t n = 0; n <= 4; n++)
		sections(&m, odd, n);
	buf_clear(&out);
	search_all_text(&m, &out);
	(void)search_text_contains(buf_str(&out), STR_LIT("\xc3\x84x"));
	buf_clear(&out);
	(void)search_header_text(&m, "Subject", &out);
	buf_clear(&out);
	(void)search_address_text(&m, "From", &out);
	int y, mo, d;
	if (search_sent_date(&m, &y, &mo, &d))
		check(mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
	buf_free(&out);
	mime_message_free(&m);
	free(msg);
	return 0;
}
