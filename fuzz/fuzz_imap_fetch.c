/* libFuzzer target for the FETCH response writer and the SEARCH
 * evaluator over one message held in memory. Input: a first byte of
 * options (UTF-8, rev2, UID FETCH, flags of the message), a line of
 * FETCH items as a client writes them ("(FLAGS BODY.PEEK[1.MIME]<0.9>)"),
 * a line of SEARCH keys, then the message's wire form. Invariants are
 * checked with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/fetch.h"
#include "imap/parse.h"
#include "imap/search.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Feeds "a CMD <text>" to a fresh parser; calls fn on the arguments. */
static void with_args(const char *cmd, struct str text,
		      void (*fn)(const struct imap_arg *, size_t, void *),
		      void *arg)
{
	struct imap_parse_limits lim = imap_parse_limits_default();
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf line = BUF_INIT;
	buf_appends(&line, cmd);
	buf_append(&line, text.p, text.len);
	if (imap_parser_feed_line(p, buf_str(&line)) == IMAP_PARSE_DONE) {
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		fn(a, n, arg);
	}
	buf_free(&line);
	imap_parser_free(&p);
}

struct job {
	uint8_t opt;
	struct str wire;
	struct store_msg msg;
};

/* The same response with literals of plan.min octets or more left to
 * streams: put back in place, they must give the copied response. */
static void check_streamed(struct job *j, const struct imap_fetch_items *items,
			   const struct imap_fetch_ctx *ctx,
			   const struct buf *want)
{
	struct imap_fetch_plan plan;
	imap_fetch_plan_init(&plan, "/tmp");
	plan.min = (size_t)(j->opt >> 4) * 8;
	struct buf out = BUF_INIT;
	char err[256];
	int rc = imap_fetch_write_wire_plan(&out, NULL, &j->msg, j->wire, 1,
					    items, ctx, &plan, err,
					    sizeof err);
	if (rc != 0) {
		/* only the spool file can fail here */
		check(rc == STORE_ETEMP && plan.n == 0);
		buf_free(&out);
		imap_fetch_plan_free(&plan);
		return;
	}
	struct buf got = BUF_INIT;
	size_t at = 0;
	for (size_t k = 0; k < plan.n; k++) {
		const struct imap_fetch_stream *st = &plan.v[k];
		check(st->at >= at && st->at <= out.len);
		check(st->len >= plan.min);
		buf_append(&got, out.data + at, st->at - at);
		at = st->at;
		size_t start = got.len;
		if (st->src == IMAP_FETCH_SRC_WIRE) {
			check(st->off + st->len <= j->wire.len);
			buf_append(&got, j->wire.p + st->off, (size_t)st->len);
		} else {
			check(plan.tmp_fd >= 0 &&
			      st->off + st->len <= plan.tmp_len);
			buf_reserve(&got, (size_t)st->len);
			check(pread(plan.tmp_fd, got.data + got.len,
				    (size_t)st->len, (off_t)st->off) ==
			      (ssize_t)st->len);
			got.len += (size_t)st->len;
		}
		if (st->nul_to_80)
			for (size_t i = start; i < got.len; i++)
				if (!got.data[i])
					got.data[i] = (char)0x80;
	}
	buf_append(&got, out.data + at, out.len - at);
	check(got.len == want->len &&
	      memcmp(got.data, want->data, got.len) == 0);
	buf_free(&got);
	buf_free(&out);
	imap_fetch_plan_free(&plan);
}

static void do_fetch(const struct imap_arg *a, size_t n, void *arg)
{
	struct job *j = arg;
	struct imap_fetch_items items;
	const char *reason;
	if (n != 2 || !imap_fetch_items_parse(&a[1], &items, &reason))
		return;
	struct imap_fetch_ctx ctx = { .utf8 = j->opt & 1, .rev2 = j->opt & 2,
				      .uid = j->opt & 4, .modseq = j->opt & 8 };
	struct buf out = BUF_INIT;
	char err[256];
	int rc = imap_fetch_write_wire(&out, NULL, &j->msg, j->wire, 1, &items,
				       &ctx, err, sizeof err);
	if (rc != 0) {
		check(rc == IMAP_FETCH_EUNKNOWN_CTE || rc == STORE_EINVAL);
		check(out.len == 0);
	} else {
		check(out.len >= 14 && memcmp(out.data, "* 1 FETCH (", 11) == 0);
		check(memcmp(out.data + out.len - 3, ")\r\n", 3) == 0);
		/* the whole message goes out byte-exact but for NUL */
		if (items.nsections == 1 && !items.sections[0].partial &&
		    strcmp(items.sections[0].echo, "BODY[]") == 0 &&
		    !(items.flags & ~0u) && !ctx.uid && !ctx.modseq) {
			struct buf want = BUF_INIT;
			buf_printf(&want, "* 1 FETCH (BODY[] {%zu}\r\n",
				   j->wire.len);
			for (size_t i = 0; i < j->wire.len; i++)
				buf_appendc(&want, j->wire.p[i] ? j->wire.p[i]
								 : (char)0x80);
			buf_appends(&want, ")\r\n");
			check(want.len == out.len &&
			      memcmp(want.data, out.data, out.len) == 0);
			buf_free(&want);
		}
	}
	if (rc == 0)
		check_streamed(j, &items, &ctx, &out);
	buf_free(&out);
	imap_fetch_items_free(&items);
}

static void do_search(const struct imap_arg *a, size_t n, void *arg)
{
	struct job *j = arg;
	struct imap_search_program prog;
	struct imap_search_error err;
	if (!imap_search_parse(a, n, &prog, &err))
		return;
	uint32_t saved[2] = { 3, j->msg.uid };
	struct imap_search_view v = { .count = 1, .saved = saved,
				      .n_saved = j->opt & 16 ? 2 : 1 };
	bool hit = imap_search_match_wire(&prog, &v, 1, &j->msg, j->wire);
	/* NOT inverts: the evaluator must agree with itself */
	struct imap_search_key not = { .type = IMAP_SK_NOT,
				       .child = &prog.root, .nchild = 1 };
	struct imap_search_program neg = prog;
	neg.root = not;
	check(imap_search_match_wire(&neg, &v, 1, &j->msg, j->wire) == !hit);
	struct buf out = BUF_INIT;
	uint32_t one = 1;
	imap_search_write_result(&out, &prog, STR_LIT("t"), j->opt & 32,
				 j->opt & 64, &one, hit);
	check(out.len == 0 || memcmp(out.data + out.len - 2, "\r\n", 2) == 0);
	buf_free(&out);
	imap_search_free(&prog);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct job j = { .opt = data[0] };
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const char *nl1 = memchr(p, '\n', (size_t)(end - p));
	if (!nl1)
		return 0;
	const char *nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1));
	if (!nl2)
		return 0;
	/* a copy of exactly the message so ASan sees any overread */
	size_t len = (size_t)(end - nl2 - 1);
	char *msg = malloc(len ? len : 1);
	memcpy(msg, nl2 + 1, len);
	j.wire = str_make(msg, len);
	j.msg = (struct store_msg){ .uid = 7, .flags = data[0] & STORE_F_ALL,
				    .size = len, .file_size = len,
				    .internal_date = (int64_t)data[0] * 86400 * 97,
				    .modseq = 3 };
	with_args("a FETCH 1 ", str_make(p, (size_t)(nl1 - p)), do_fetch, &j);
	with_args("a SEARCH ", str_make(nl1 + 1, (size_t)(nl2 - nl1 - 1)),
		  do_search, &j);
	free(msg);
	return 0;
}
