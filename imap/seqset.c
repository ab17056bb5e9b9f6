/* Sequence sets; the contract is in seqset.h. */
#include "imap/seqset.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

/* nz-number below 2^32: no leading zero, no sign. */
static bool seq_number(const char **pp, const char *end, uint32_t *out,
		       const char **reason)
{
	const char *p = *pp;
	if (p < end && *p == '*') {
		*out = IMAP_SEQ_STAR;
		*pp = p + 1;
		return true;
	}
	if (p == end || *p < '1' || *p > '9') {
		bool zero = p < end && *p == '0' &&
			    (p + 1 == end || p[1] < '0' || p[1] > '9');
		*reason = zero ? "Invalid sequence number 0"
			       : "Invalid sequence set";
		return false;
	}
	uint64_t v = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p++ - '0');
		if (v > UINT32_MAX) {
			*reason = "Sequence number too large";
			return false;
		}
	}
	*out = (uint32_t)v;
	*pp = p;
	return true;
}

bool imap_seqset_parse(struct str s, struct imap_seqset *out,
		       const char **reason)
{
	*out = (struct imap_seqset){ 0 };
	if (s.len == 1 && s.p[0] == '$') {
		out->saved = true;
		return true;
	}
	const char *p = s.p, *end = s.p + s.len;
	size_t cap = 0;
	for (;;) {
		struct imap_seq_range r;
		if (!seq_number(&p, end, &r.lo, reason))
			goto bad;
		r.hi = r.lo;
		if (p < end && *p == ':') {
			p++;
			if (!seq_number(&p, end, &r.hi, reason))
				goto bad;
		}
		if (out->n == IMAP_SEQSET_RANGES_MAX) {
			*reason = "Sequence set too long";
			goto bad;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 4;
			out->r = xrealloc(out->r, cap * sizeof *out->r);
		}
		out->r[out->n++] = r;
		for (int k = 0; k < 2; k++) {
			uint32_t v = k ? r.hi : r.lo;
			if (v == IMAP_SEQ_STAR)
				out->has_star = true;
			else if (v > out->max_number)
				out->max_number = v;
		}
		if (p == end)
			return true;
		if (*p != ',') {
			*reason = "Invalid sequence set";
			goto bad;
		}
		p++;
	}
bad:
	imap_seqset_free(out);
	return false;
}

void imap_seqset_free(struct imap_seqset *s)
{
	free(s->r);
	*s = (struct imap_seqset){ 0 };
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

bool imap_seqset_resolve(const struct imap_seqset *in, uint32_t star,
			 struct imap_seqset *out)
{
	*out = (struct imap_seqset){ 0 };
	if (in->saved)
		return false;
	out->r = xmalloc((in->n ? in->n : 1) * sizeof *out->r);
	for (size_t i = 0; i < in->n; i++) {
		uint32_t lo = in->r[i].lo, hi = in->r[i].hi;
		if (lo == IMAP_SEQ_STAR || hi == IMAP_SEQ_STAR) {
			if (star == 0)
				continue;
			if (lo == IMAP_SEQ_STAR)
				lo = star;
			if (hi == IMAP_SEQ_STAR)
				hi = star;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		out->r[out->n++] = (struct imap_seq_range){ lo, hi };
	}
	qsort(out->r, out->n, sizeof *out->r, range_cmp);
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (k > 0 && (uint64_t)out->r[i].lo <= (uint64_t)out->r[k - 1].hi + 1) {
			if (out->r[i].hi > out->r[k - 1].hi)
				out->r[k - 1].hi = out->r[i].hi;
		} else {
			out->r[k++] = out->r[i];
		}
	}
	out->n = k;
	out->max_number = k ? out->r[k - 1].hi : 0;
	return true;
}

bool imap_seqset_contains(const struct imap_seqset *s, uint32_t n)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (n < s->r[mid].lo)
			hi = mid;
		else if (n > s->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t imap_seqset_count(const struct imap_seqset *s)
{
	uint64_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		c += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
	return c;
}

void imap_seqset_iter_init(struct imap_seqset_iter *it,
			   const struct imap_seqset *s)
{
	it->s = s;
	it->i = 0;
	it->next = s->n ? s->r[0].lo : 0;
}

bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *out)
{
	if (it->i >= it->s->n)
		return false;
	*out = (uint32_t)it->next;
	if (it->next == it->s->r[it->i].hi) {
		if (++it->i < it->s->n)
			it->next = it->s->r[it->i].lo;
	} else {
		it->next++;
	}
	return true;
}

static void range_append(struct buf *out, bool *first, uint32_t lo,
			 uint32_t hi)
{
	if (!*first)
		buf_appendc(out, ',');
	*first = false;
	if (lo == hi)
		buf_printf(out, "%u", lo);
	else
		buf_printf(out, "%u:%u", lo, hi);
}

void imap_seqset_format_array(const uint32_t *v, size_t n, struct buf *out)
{
	bool first = true;
	for (size_t i = 0; i < n;) {
		uint32_t lo = v[i], hi = v[i];
		for (i++; i < n && (v[i] == hi || (uint64_t)v[i] == (uint64_t)hi + 1);
		     i++)
			hi = v[i];
		range_append(out, &first, lo, hi);
	}
}

void imap_seqset_format(const struct imap_seqset *s, struct buf *out)
{
	bool first = true;
	for (size_t i = 0; i < s->n; i++)
		range_append(out, &first, s->r[i].lo, s->r[i].hi);
}
