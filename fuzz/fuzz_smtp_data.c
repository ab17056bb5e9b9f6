/* libFuzzer target for smtp/data.c. Byte 0 picks the options (normalize
 * bare LF, size limit), bytes 1-3 the chunk sizes; the rest is the
 * stream after "DATA" CRLF. It is fed in one chunk, in chunks of the
 * chosen sizes, and one byte at a time: all three must agree exactly.
 * The end must be the first <CRLF>.<CRLF> (counting the DATA command's
 * CRLF) and nothing else; without bare newlines the stored message
 * must be the dot-unstuffed input; the header section counters must
 * match a line-by-line reference on the stored bytes. The same bytes
 * then go through the BDAT reader in chunks. Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/data.h"

static void check_at(bool ok, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
		abort();
	}
}
#define check(ok) check_at((ok), __LINE__)

struct run {
	struct buf out;
	struct smtp_data d;
	enum smtp_data_status st;
	size_t consumed;
};

static void feed(const char *p, size_t len, uint64_t max, unsigned flags,
		 const uint8_t *sizes, size_t nsizes, struct run *r)
{
	buf_init(&r->out);
	smtp_data_init(&r->d, &r->out, max, flags);
	r->st = SMTP_DATA_NEED_MORE;
	r->consumed = 0;
	size_t off = 0, k = 0;
	do {
		size_t n = len - off;
		if (nsizes) {
			size_t want = sizes[k++ % nsizes];
			n = want < n ? want : n;
		}
		size_t c;
		r->st = smtp_data_feed(&r->d, p + off, n, &c);
		check(c <= n);
		r->consumed += c;
		if (r->st == SMTP_DATA_DONE)
			break;
		check(c == n);
		off += n;
	} while (off < len);
}

static void same(const struct run *a, const struct run *b)
{
	check(a->st == b->st && a->consumed == b->consumed);
	check(a->out.len == b->out.len &&
	      (a->out.len == 0 ||
	       memcmp(a->out.data, b->out.data, a->out.len) == 0));
	const struct smtp_data *x = &a->d, *y = &b->d;
	check(x->size == y->size && x->max_line == y->max_line &&
	      x->too_big == y->too_big &&
	      x->line_too_long == y->line_too_long &&
	      x->eight_bit == y->eight_bit && x->nul == y->nul &&
	      x->bare_lf == y->bare_lf && x->bare_cr == y->bare_cr &&
	      x->done == y->done && x->header_len == y->header_len &&
	      x->n_fields == y->n_fields &&
	      x->header_too_big == y->header_too_big &&
	      x->field_too_long == y->field_too_long);
	check(smtp_data_verdict(x) == smtp_data_verdict(y));
}

static bool ref_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* The reference header section of stored bytes, line by line: complete
 * lines up to and including the empty one, while each is a field
 * ("name" WSP* ":") or a continuation (WSP first, after a field); a
 * field counts at its colon even on an unfinished line. */
static void ref_header(const char *p, size_t len, uint64_t *hlen,
		       unsigned *nf)
{
	size_t off = 0;
	*hlen = 0;
	*nf = 0;
	while (off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		bool complete = nl != NULL;
		size_t e = nl ? (size_t)(nl - p) + 1 : len;
		const unsigned char *l = (const unsigned char *)p + off;
		size_t ll = e - off;
		if (complete && (ll == 1 || (ll == 2 && l[0] == '\r'))) {
			*hlen += ll;
			return;
		}
		if (l[0] == ' ' || l[0] == '\t') {
			if (*nf == 0 || !complete)
				return;
		} else {
			size_t k = 0;
			while (k < ll && ref_ftext(l[k]))
				k++;
			if (k == 0)
				return;
			while (k < ll && (l[k] == ' ' || l[k] == '\t'))
				k++;
			if (k >= ll || l[k] != ':')
				return;
			(*nf)++;
			if (!complete)
				return;
		}
		*hlen += ll;
		off = e;
	}
}

/* The header counters agree with the reference on what was stored
 * (inputs here are far below the limits, which stop the count). */
static void check_header(const struct smtp_data *d, const struct buf *out)
{
	if (d->too_big || d->header_too_big || d->field_too_long)
		return;
	uint64_t hlen;
	unsigned nf;
	ref_header(out->data ? out->data : "", out->len, &hlen, &nf);
	check(hlen == d->header_len && nf == d->n_fields);
}

/* The reference end: the first "\r\n.\r\n" in "\r\n" + input. */
static size_t ref_end(const char *p, size_t len)
{
	if (len >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return 3;
	for (size_t i = 0; i + 5 <= len; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* Without bare CR/LF: lines split at CRLF, a leading dot dropped. */
static void ref_unstuff(const char *p, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		if (p[i] == '.')
			i++;
		size_t j = i;
		while (j + 1 < len && !(p[j] == '\r' && p[j + 1] == '\n'))
			j++;
		size_t e = j + 1 < len ? j + 2 : len;
		buf_append(out, p + i, e - i);
		i = e;
	}
}

static void fuzz_data(const char *p, size_t len, uint64_t max,
		      unsigned flags, const uint8_t *sizes)
{
	struct run one, split, bytes;
	feed(p, len, max, flags, NULL, 0, &one);
	feed(p, len, max, flags, sizes, 3, &split);
	same(&one, &split);
	if (len <= 4096) {
		static const uint8_t b1[] = { 1 };
		feed(p, len, max, flags, b1, 1, &bytes);
		same(&one, &bytes);
		buf_free(&bytes.out);
	}
	size_t end = ref_end(p, len);
	if (end) {
		check(one.st == SMTP_DATA_DONE && one.consumed == end);
	} else {
		check(one.st == SMTP_DATA_NEED_MORE && one.consumed == len);
	}
	/* Only NORMALIZE_LF adds bytes (LF -> CRLF). */
	size_t grow = (flags & SMTP_DATA_NORMALIZE_LF) ? 2 : 1;
	check(one.out.len <= max && one.d.size <= one.consumed * grow);
	check(one.d.too_big == (one.d.size > max));
	check(one.out.len == (one.d.size < max ? one.d.size : max));
	check_header(&one.d, &one.out);
	if (end && !one.d.bare_lf && !one.d.bare_cr && !one.d.too_big) {
		struct buf ref = BUF_INIT;
		ref_unstuff(p, end - 3, &ref);
		check(ref.len == one.out.len &&
		      (ref.len == 0 ||
		       memcmp(ref.data, one.out.data, ref.len) == 0));
		buf_free(&ref);
	}
	buf_free(&one.out);
	buf_free(&split.out);
}

static void fuzz_bdat(const char *p, size_t len, uint64_t max,
		      const uint8_t *sizes)
{
	struct buf out = BUF_INIT;
	struct smtp_data d;
	smtp_data_init(&d, &out, max, 0);
	size_t off = 0;
	for (int k = 0; !d.done; k++) {
		uint64_t chunk = (uint64_t)sizes[k % 3] * 3;
		bool last = len - off <= chunk;
		if (last)
			chunk = len - off;
		smtp_bdat_begin(&d, chunk, last);
		size_t got = 0;
		enum smtp_data_status st;
		do {
			size_t n = len - off, c;
			if (n > 5)
				n = 5;
			st = smtp_bdat_feed(&d, p + off, n, &c);
			check(c <= n);
			off += c;
			got += c;
		} while (st == SMTP_DATA_NEED_MORE);
		check(got == chunk);
	}
	check(off == len && d.size == len);
	check(d.too_big == (len > max));
	size_t keep = len < max ? len : (size_t)max;
	check(out.len == keep &&
	      (keep == 0 || memcmp(out.data, p, keep) == 0));
	check_header(&d, &out);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	unsigned flags = (data[0] & 1) ? SMTP_DATA_NORMALIZE_LF : 0;
	uint64_t max = (data[0] & 2) ? (uint64_t)(data[0] >> 2) * 4
				     : DEFAULT_MAX_MESSAGE_SIZE;
	uint8_t sizes[3];
	for (int i = 0; i < 3; i++)
		sizes[i] = (uint8_t)(data[1 + i] % 13); /* 0: empty feeds */
	if (sizes[0] == 0 && sizes[1] == 0 && sizes[2] == 0)
		sizes[0] = 1;
	size_t len = size - 4;
	/* A copy of exactly len bytes so ASan sees any overread. */
	char *buf = malloc(len ? len : 1);
	if (len)
		memcpy(buf, data + 4, len);
	fuzz_data(buf, len, max, flags, sizes);
	fuzz_bdat(buf, len, max, sizes);
	free(buf);
	return 0;
}
