/* libFuzzer target for the IMAP command parser and the parsers that run
 * over its trees. The first two bytes choose the limits, how literal
 * bytes are chunked and what the "session" does with a literal (feed,
 * external, refuse); the rest is the client's byte stream, split into
 * lines at LF. Every finished command's arguments go through the
 * sequence-set, FETCH-item, SEARCH and flag-list parsers. Invariants
 * are checked
 * with abort() so that a wrong answer counts as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/fetch_items.h"
#include "imap/flags.h"
#include "imap/parse.h"
#include "imap/search_parse.h"
#include "imap/seqset.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static size_t walk(const struct imap_arg *a, size_t n, unsigned depth,
		   const struct imap_parse_limits *lim, size_t *bytes)
{
	check(depth <= lim->max_depth);
	size_t total = n;
	for (size_t i = 0; i < n; i++) {
		switch (a[i].type) {
		case IMAP_ARG_LIST:
			total += walk(a[i].list, a[i].count, depth + 1, lim,
				      bytes);
			break;
		case IMAP_ARG_ATOM:
			check(a[i].s.len > 0);
			check(!memchr(a[i].s.p, '\0', a[i].s.len));
			*bytes += a[i].s.len;
			break;
		case IMAP_ARG_QUOTED:
			check(!memchr(a[i].s.p, '\0', a[i].s.len));
			*bytes += a[i].s.len;
			break;
		case IMAP_ARG_LITERAL:
			check(a[i].s.len == a[i].size);
			check(a[i].size <= lim->max_literal);
			*bytes += a[i].s.len;
			break;
		case IMAP_ARG_EXTERNAL:
			check(a[i].cookie == (void *)lim);
			break;
		}
	}
	return total;
}

static void try_seqset(struct str s)
{
	struct imap_seqset set, r;
	const char *reason;
	if (!imap_seqset_parse(s, &set, &reason)) {
		check(reason != NULL);
		return;
	}
	check(set.n <= IMAP_SEQSET_RANGES_MAX);
	uint32_t star = set.max_number ^ (uint32_t)s.len;
	if (imap_seqset_resolve(&set, star, &r)) {
		for (size_t i = 0; i < r.n; i++) {
			check(r.r[i].lo >= 1 && r.r[i].lo <= r.r[i].hi);
			check(i == 0 || r.r[i].lo > r.r[i - 1].hi + 1ull);
		}
		struct imap_seqset_iter it;
		imap_seqset_iter_init(&it, &r);
		uint32_t v, prev = 0;
		for (int k = 0; k < 64 && imap_seqset_iter_next(&it, &v); k++) {
			check(k == 0 || v > prev);
			check(imap_seqset_contains(&r, v));
			prev = v;
		}
		struct buf b = BUF_INIT;
		imap_seqset_format(&r, &b);
		if (r.n) {
			/* the format parses back to the same set */
			struct imap_seqset again, r2;
			check(imap_seqset_parse(buf_str(&b), &again, &reason));
			check(imap_seqset_resolve(&again, 1, &r2));
			check(r2.n == r.n &&
			      !memcmp(r2.r, r.r, r.n * sizeof *r.r));
			imap_seqset_free(&r2);
			imap_seqset_free(&again);
		}
		buf_free(&b);
		imap_seqset_free(&r);
	} else {
		check(set.saved);
	}
	imap_seqset_free(&set);
}

/* STORE's and APPEND's flags: the list (or atoms) from args[0..n). */
static void try_flags(const struct imap_arg *a, size_t n)
{
	struct imap_flag_list fl;
	const char *reason = NULL;
	if (!imap_flag_list_parse(a, n, &fl, &reason)) {
		check(reason != NULL && fl.keywords == NULL);
		return;
	}
	size_t most = n == 1 && a[0].type == IMAP_ARG_LIST ? a[0].count : n;
	check((fl.flags & ~STORE_F_ALL) == 0);
	check(fl.n_keywords <= most);
	for (size_t i = 0; i < fl.n_keywords; i++) {
		struct str k = fl.keywords[i];
		check(k.len > 0 && !memchr(k.p, '\\', k.len));
		for (size_t j = 0; j < i; j++)
			check(str_cmp_nocase(k, fl.keywords[j]) != 0);
	}
	imap_flag_list_free(&fl);
}

static void on_command(struct imap_parser *p,
		       const struct imap_parse_limits *lim)
{
	size_t n, bytes = 0;
	const struct imap_arg *a = imap_parser_args(p, &n);
	check(imap_parser_tag(p).len > 0 && imap_parser_command(p).len > 0);
	check(walk(a, n, 0, lim, &bytes) <= lim->max_args);
	check(bytes <= lim->max_command);
	for (size_t i = 0; i < n && i < 4; i++) {
		if (a[i].type == IMAP_ARG_ATOM)
			try_seqset(a[i].s);
		struct imap_fetch_items it;
		const char *reason;
		if (imap_fetch_items_parse(&a[i], &it, &reason)) {
			for (size_t k = 0; k < it.nsections; k++)
				check(it.sections[k].echo != NULL);
			imap_fetch_items_free(&it);
		} else {
			check(reason != NULL);
		}
	}
	for (size_t i = 0; i < n && i < 4; i++) {
		try_flags(&a[i], 1);
		try_flags(&a[i], n - i);
	}
	for (size_t skip = 0; skip <= 1 && skip <= n; skip++) {
		struct imap_search_program prog;
		struct imap_search_error err;
		if (imap_search_parse(a + skip, n - skip, &prog, &err)) {
			(void)imap_search_needs(&prog.root);
			imap_search_free(&prog);
		} else {
			check(err.reason[0] != '\0');
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t cfg = data[0], how = data[1];
	struct imap_parse_limits lim = imap_parse_limits_default();
	if (cfg & 1) {
		lim.max_args = 8;
		lim.max_depth = 3;
		lim.max_line = 64;
		lim.max_literal = 16;
		lim.max_command = 96;
	}
	if (cfg & 2)
		lim.max_nonsync_literal = 0;
	size_t chunk = (cfg >> 2) % 8; /* 0: all at once */
	/* A copy of exactly the stream so ASan sees any overread. */
	size_t len = size - 2;
	char *in = malloc(len ? len : 1);
	memcpy(in, data + 2, len);
	struct imap_parser *p = imap_parser_new(&lim);
	size_t off = 0, lits = 0;
	while (off < len) {
		uint64_t want = imap_parser_literal_remaining(p);
		if (want) {
			size_t k = len - off, used;
			if (want < k)
				k = (size_t)want;
			if (chunk && chunk < k)
				k = chunk;
			check(imap_parser_feed_literal(p, in + off, k, &used) ==
			      IMAP_PARSE_MORE);
			check(used == k);
			off += used;
			continue;
		}
		const char *nl = memchr(in + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - in) : len;
		/* The session's line reader bounds what it hands over. */
		size_t ll = end - off;
		if (ll > lim.max_line + 16)
			ll = lim.max_line + 16;
		enum imap_parse_result r =
			imap_parser_feed_line(p, str_make(in + off, ll));
		off = nl ? end + 1 : len;
		if (r == IMAP_PARSE_DONE) {
			on_command(p, &lim);
			/* As IDLE does: buffers back, then the next command. */
			if (imap_parser_command_is(p, "IDLE"))
				imap_parser_release(p);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_ERROR) {
			const struct imap_parse_error *e = imap_parser_error(p);
			check(e->reason && e->reason[0]);
			check(!e->tag_known || e->tag.len > 0);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_NEED_LITERAL) {
			const struct imap_literal_info *li =
				imap_parser_literal(p);
			check(li->tag.len > 0 && li->command.len > 0);
			check(li->in_memory_ok || li->append_message);
			if (!li->sync && lim.max_nonsync_literal)
				check(li->size <= lim.max_nonsync_literal);
			unsigned choice = (how >> (2 * (lits++ % 4))) & 3;
			if (choice == 1 || (!li->in_memory_ok && choice != 2)) {
				imap_parser_literal_external(p, &lim);
				uint64_t skip = li->size;
				off += skip < len - off ? (size_t)skip : len - off;
			} else if (choice == 2) {
				imap_parser_literal_refuse(p);
			}
		}
	}
	imap_parser_free(&p);
	free(in);
	return 0;
}
