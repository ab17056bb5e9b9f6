/* SEARCH evaluation: see search.h. The program is first compiled into a
 * parallel tree that holds what every message would otherwise recompute
 * (resolved sets, folded needles, keyword numbers, day numbers) with
 * each AND/OR's index-only children moved to the front. */
#include "imap/search.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/xmalloc.h"
#include "mime/date.h"
#include "mime/message.h"
#include "mime/search_text.h"

struct node {
	const struct imap_search_key *k;
	unsigned needs;
	struct imap_seqset set; /* SEQSET/UID, resolved (unless saved) */
	bool saved;             /* "$" */
	struct buf needle;      /* folded value */
	int keyword;            /* KEYWORD/UNKEYWORD: index or -1 */
	int64_t day;            /* date keys: days since 1970 */
	struct node *child;
	size_t nchild;
};

/* Decoded, folded header texts of the current message by field name:
 * a program with many keys on one field decodes it once. */
#define HDR_CACHE 8
struct hdr_cached {
	const char *name;
	bool addresses;       /* search_address_text, not the field text */
	bool found;
	struct buf folded;
};

struct msgstate {
	const struct imap_search_view *v;
	unsigned prog_needs;
	size_t i;
	const struct store_msg *msg;
	const struct str *given; /* the message in memory, or NULL */
	int loaded; /* 0 nothing, 1 header, 2 whole message */
	struct buf wire;
	bool parsed;
	struct mime_message m;
	bool have_body, have_text;
	struct buf body, text; /* folded */
	struct buf scratch;
	struct hdr_cached hdr[HDR_CACHE];
	size_t n_hdr;
	int sent_known; /* 0 not yet, 1 sent_day is set */
	int64_t sent_day;
	int rc;
	char *err;
	size_t errsz;
	/* The budget (imap_search_step): work is counted in units (a key,
	 * or 4 KiB scanned) and the clocks read every CHECK_UNITS. */
	const struct imap_search_limits *lim;
	uint64_t units, next_check;
	struct timespec slice_wall, slice_cpu;
	uint64_t cpu_before;   /* CPU time of the earlier slices */
	bool halt;             /* cancelled or over the limit: stop now */
	bool yield;            /* the slice is over: stop after this message */
	enum imap_search_status why;
};

#define CHECK_UNITS 1024

static uint64_t ns_since(const struct timespec *a, clockid_t clk)
{
	struct timespec b;
	clock_gettime(clk, &b);
	int64_t d = (int64_t)(b.tv_sec - a->tv_sec) * 1000000000 +
		    (b.tv_nsec - a->tv_nsec);
	return d > 0 ? (uint64_t)d : 0;
}

static void check_budget(struct msgstate *ms)
{
	const struct imap_search_limits *lim = ms->lim;
	ms->next_check = ms->units + CHECK_UNITS;
	if (!lim)
		return;
	if (lim->cancel && atomic_load(lim->cancel)) {
		ms->halt = true;
		ms->why = IMAP_SEARCH_CANCELLED;
		return;
	}
	if (lim->cpu_limit_ns &&
	    ms->cpu_before + ns_since(&ms->slice_cpu, CLOCK_THREAD_CPUTIME_ID) >
		    lim->cpu_limit_ns) {
		ms->halt = true;
		ms->why = IMAP_SEARCH_OVER_LIMIT;
		return;
	}
	if (lim->slice_ns &&
	    ns_since(&ms->slice_wall, CLOCK_MONOTONIC) >= lim->slice_ns)
		ms->yield = true;
}

/* Counts work: a key, plus one unit per 4 KiB it scans. */
static void charge(struct msgstate *ms, size_t bytes)
{
	ms->units += 1 + bytes / 4096;
	if (ms->units >= ms->next_check)
		check_budget(ms);
}

static int64_t days_of(int64_t t)
{
	int64_t d = t / 86400;
	if (t % 86400 < 0)
		d--;
	return d;
}

static uint32_t view_max_uid(const struct imap_search_view *v)
{
	return v->count && v->mb ? store_mailbox_msg(v->mb, v->count - 1)->uid
				 : 0;
}

static void compile(struct node *n, const struct imap_search_key *k,
		    const struct imap_search_view *v)
{
	*n = (struct node){ .k = k, .needs = imap_search_needs(k),
			    .keyword = -1 };
	switch (k->type) {
	case IMAP_SK_SEQSET:
	case IMAP_SK_UID: {
		uint32_t star = k->type == IMAP_SK_SEQSET ? (uint32_t)v->count
							  : view_max_uid(v);
		n->saved = !imap_seqset_resolve(&k->set, star, &n->set);
		break;
	}
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD: {
		size_t nk = v->mb ? store_mailbox_keyword_count(v->mb) : 0;
		for (size_t i = 0; i < nk && i < 32; i++) {
			const char *name = store_mailbox_keyword(v->mb, i);
			if (name && str_eq_nocase(k->value, name)) {
				n->keyword = (int)i;
				break;
			}
		}
		break;
	}
	case IMAP_SK_BEFORE: case IMAP_SK_ON: case IMAP_SK_SINCE:
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
		n->day = mime_days_from_civil(k->date.year, k->date.month,
					      k->date.day);
		break;
	case IMAP_SK_BCC: case IMAP_SK_CC: case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT: case IMAP_SK_TO: case IMAP_SK_HEADER:
	case IMAP_SK_BODY: case IMAP_SK_TEXT:
		search_fold(k->value, &n->needle);
		break;
	default:
		break;
	}
	if (k->nchild == 0)
		return;
	n->nchild = k->nchild;
	n->child = xcalloc(k->nchild, sizeof *n->child);
	/* Index-only children first: an AND that fails or an OR that
	 * holds on flags never opens the file. NOT's one child stays. */
	size_t at = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < k->nchild; i++)
			if ((imap_search_needs(&k->child[i]) == 0) == (pass == 0))
				compile(&n->child[at++], &k->child[i], v);
}

static void node_free(struct node *n)
{
	for (size_t i = 0; i < n->nchild; i++)
		node_free(&n->child[i]);
	free(n->child);
	if (!n->saved)
		imap_seqset_free(&n->set);
	buf_free(&n->needle);
}

static void msgstate_reset(struct msgstate *ms)
{
	if (ms->parsed)
		mime_message_free(&ms->m);
	ms->parsed = false;
	ms->loaded = 0;
	ms->have_body = ms->have_text = false;
	ms->n_hdr = 0;
	ms->sent_known = 0;
	buf_clear(&ms->wire);
	buf_clear(&ms->body);
	buf_clear(&ms->text);
}

static void msgstate_free(struct msgstate *ms)
{
	msgstate_reset(ms);
	buf_free(&ms->wire);
	buf_free(&ms->body);
	buf_free(&ms->text);
	buf_free(&ms->scratch);
	for (size_t i = 0; i < HDR_CACHE; i++)
		buf_free(&ms->hdr[i].folded);
}

/* Header only: reads the wire form until the blank line (or the end). */
static int read_header(struct msgstate *ms)
{
	struct store_wire_reader *r = NULL;
	int rc = store_wire_open(ms->v->mb, ms->i, &r, ms->err, ms->errsz);
	if (rc != 0)
		return rc;
	size_t scanned = 0;
	for (;;) {
		rc = store_wire_read(r, &ms->wire, 16384, ms->err, ms->errsz);
		if (rc < 0)
			break;
		/* A blank line ends the header: LF [CR] LF. */
		const char *p = ms->wire.data;
		size_t end = 0;
		for (size_t j = scanned >= 2 ? scanned - 2 : 0; j + 1 < ms->wire.len;
		     j++) {
			if (p[j] != '\n')
				continue;
			if (p[j + 1] == '\n') {
				end = j + 2;
				break;
			}
			if (p[j + 1] == '\r' && j + 2 < ms->wire.len &&
			    p[j + 2] == '\n') {
				end = j + 3;
				break;
			}
		}
		if (end) {
			ms->wire.len = end;
			rc = 0;
			break;
		}
		scanned = ms->wire.len;
		if (rc == 0)
			break;
	}
	store_wire_close(&r);
	return rc;
}

/* Makes the message's data available for needs; false (and ms->rc)
 * on an error that ends the search. */
static bool msg_load(struct msgstate *ms, unsigned needs)
{
	int want = (needs & IMAP_SEARCH_NEEDS_BODY) ||
				   (ms->prog_needs & IMAP_SEARCH_NEEDS_BODY)
			   ? 2
			   : 1;
	if (ms->loaded >= want)
		return true;
	msgstate_reset(ms);
	int rc = 0;
	if (ms->given) {
		buf_append(&ms->wire, ms->given->p, ms->given->len);
	} else if (!ms->msg->expunged && ms->msg->filename) {
		rc = want == 2 ? store_msg_read_wire(ms->v->mb, ms->i, &ms->wire,
						     ms->err, ms->errsz)
			       : read_header(ms);
	}
	if (rc == STORE_ENOENT) {
		/* Vanished under us: searched as an empty message. */
		buf_clear(&ms->wire);
		rc = 0;
	}
	if (rc != 0) {
		ms->rc = rc;
		return false;
	}
	mime_message_parse(&ms->m, ms->wire.data ? ms->wire.data : "",
			   ms->wire.len);
	ms->parsed = true;
	ms->loaded = want;
	charge(ms, ms->wire.len);
	return true;
}

static bool field_match(struct msgstate *ms, const struct node *n,
			const char *name, bool addresses)
{
	struct hdr_cached *h = NULL;
	for (size_t i = 0; i < ms->n_hdr && !h; i++)
		if (strcasecmp(ms->hdr[i].name, name) == 0 &&
		    ms->hdr[i].addresses == addresses)
			h = &ms->hdr[i];
	if (!h) {
		/* A full cache: the last slot is reused. */
		h = &ms->hdr[ms->n_hdr < HDR_CACHE ? ms->n_hdr++ : HDR_CACHE - 1];
		h->name = name;
		h->addresses = addresses;
		buf_clear(&ms->scratch);
		buf_clear(&h->folded);
		h->found = addresses
			? search_address_text(&ms->m, name, &ms->scratch)
			: search_header_text(&ms->m, name, &ms->scratch);
		search_fold(buf_str(&ms->scratch), &h->folded);
		charge(ms, mime_part_header(&ms->m, &ms->m.parts[0]).len);
	}
	charge(ms, h->folded.len);
	return h->found && search_folded_contains(buf_str(&h->folded),
						  buf_str(&n->needle));
}

static bool header_match(struct msgstate *ms, const struct node *n,
			 const char *name)
{
	return field_match(ms, n, name, false);
}

/* FROM, TO, CC, BCC: the field's text or any of its addresses in the
 * canonical form (mime/search_text.h), as Dovecot matches them. */
static bool address_match(struct msgstate *ms, const struct node *n,
			  const char *name)
{
	return field_match(ms, n, name, true);
}

static bool saved_contains(const struct imap_search_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->saved ? v->n_saved : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->saved[mid] == uid)
			return true;
		if (v->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int64_t sent_day(struct msgstate *ms)
{
	if (ms->sent_known)
		return ms->sent_day;
	int y, mo, d;
	if (search_sent_date(&ms->m, &y, &mo, &d))
		ms->sent_day = mime_days_from_civil(y, mo, d);
	else /* Dovecot's fallback: no usable Date:, so the arrival date. */
		ms->sent_day = days_of(ms->msg->internal_date);
	ms->sent_known = 1;
	return ms->sent_day;
}

static bool eval(struct msgstate *ms, const struct node *n)
{
	const struct store_msg *msg = ms->msg;
	const struct imap_search_key *k = n->k;
	if (ms->halt)
		return false;
	charge(ms, 0);
	if (n->needs && (k->nchild == 0) && !msg_load(ms, n->needs))
		return false;
	switch (k->type) {
	case IMAP_SK_ALL: return true;
	case IMAP_SK_ANSWERED: return msg->flags & STORE_F_ANSWERED;
	case IMAP_SK_DELETED: return msg->flags & STORE_F_DELETED;
	case IMAP_SK_DRAFT: return msg->flags & STORE_F_DRAFT;
	case IMAP_SK_FLAGGED: return msg->flags & STORE_F_FLAGGED;
	case IMAP_SK_SEEN: return msg->flags & STORE_F_SEEN;
	case IMAP_SK_UNANSWERED: return !(msg->flags & STORE_F_ANSWERED);
	case IMAP_SK_UNDELETED: return !(msg->flags & STORE_F_DELETED);
	case IMAP_SK_UNDRAFT: return !(msg->flags & STORE_F_DRAFT);
	case IMAP_SK_UNFLAGGED: return !(msg->flags & STORE_F_FLAGGED);
	case IMAP_SK_UNSEEN: return !(msg->flags & STORE_F_SEEN);
	/* No \Recent (RFC 9051): NEW = RECENT UNSEEN, OLD = NOT RECENT. */
	case IMAP_SK_NEW: return false;
	case IMAP_SK_RECENT: return false;
	case IMAP_SK_OLD: return true;
	case IMAP_SK_KEYWORD:
		return n->keyword >= 0 && ((msg->keywords >> n->keyword) & 1);
	case IMAP_SK_UNKEYWORD:
		return n->keyword < 0 || !((msg->keywords >> n->keyword) & 1);
	case IMAP_SK_BEFORE: return days_of(msg->internal_date) < n->day;
	case IMAP_SK_ON: return days_of(msg->internal_date) == n->day;
	case IMAP_SK_SINCE: return days_of(msg->internal_date) >= n->day;
	case IMAP_SK_LARGER: return msg->size > k->number;
	case IMAP_SK_SMALLER: return msg->size < k->number;
	case IMAP_SK_SEQSET:
		if (n->saved)
			return saved_contains(ms->v, msg->uid);
		return imap_seqset_contains(&n->set, (uint32_t)(ms->i + 1));
	case IMAP_SK_UID:
		if (n->saved)
			return saved_contains(ms->v, msg->uid);
		return imap_seqset_contains(&n->set, msg->uid);
	case IMAP_SK_SENTBEFORE: return sent_day(ms) < n->day;
	case IMAP_SK_SENTON: return sent_day(ms) == n->day;
	case IMAP_SK_SENTSINCE: return sent_day(ms) >= n->day;
	case IMAP_SK_BCC: return address_match(ms, n, "Bcc");
	case IMAP_SK_CC: return address_match(ms, n, "Cc");
	case IMAP_SK_FROM: return address_match(ms, n, "From");
	case IMAP_SK_SUBJECT: return header_match(ms, n, "Subject");
	case IMAP_SK_TO: return address_match(ms, n, "To");
	case IMAP_SK_HEADER: return header_match(ms, n, k->field);
	case IMAP_SK_BODY:
		if (!ms->have_body) {
			buf_clear(&ms->scratch);
			search_body_text(&ms->m, &ms->scratch);
			search_fold(buf_str(&ms->scratch), &ms->body);
			ms->have_body = true;
		}
		charge(ms, ms->body.len);
		return search_folded_contains(buf_str(&ms->body),
					      buf_str(&n->needle));
	case IMAP_SK_TEXT:
		if (!ms->have_text) {
			buf_clear(&ms->scratch);
			search_all_text(&ms->m, &ms->scratch);
			search_fold(buf_str(&ms->scratch), &ms->text);
			ms->have_text = true;
		}
		charge(ms, ms->text.len);
		return search_folded_contains(buf_str(&ms->text),
					      buf_str(&n->needle));
	case IMAP_SK_AND:
		for (size_t i = 0; i < n->nchild; i++)
			if (!eval(ms, &n->child[i]) || ms->rc)
				return false;
		return true;
	case IMAP_SK_OR:
		for (size_t i = 0; i < n->nchild; i++) {
			if (eval(ms, &n->child[i]))
				return !ms->rc;
			if (ms->rc)
				return false;
		}
		return false;
	case IMAP_SK_NOT:
		return n->nchild == 1 && !eval(ms, &n->child[0]);
	}
	return false;
}

struct imap_search_state {
	struct node root;
	struct msgstate ms;
	size_t next;   /* the next message to look at */
	uint32_t *res;
	size_t cnt, cap;
	char err[256];
};

struct imap_search_state *imap_search_start(
	const struct imap_search_program *prog,
	const struct imap_search_view *v)
{
	struct imap_search_state *st = xcalloc(1, sizeof *st);
	compile(&st->root, &prog->root, v);
	st->ms.v = v;
	st->ms.prog_needs = st->root.needs;
	st->ms.err = st->err;
	st->ms.errsz = sizeof st->err;
	return st;
}

enum imap_search_status imap_search_step(struct imap_search_state *st,
					 const struct imap_search_limits *lim)
{
	struct msgstate *ms = &st->ms;
	const struct imap_search_view *v = ms->v;
	ms->lim = lim;
	ms->halt = ms->yield = false;
	ms->why = IMAP_SEARCH_DONE;
	clock_gettime(CLOCK_MONOTONIC, &ms->slice_wall);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ms->slice_cpu);
	ms->next_check = ms->units + CHECK_UNITS;
	check_budget(ms); /* a session closed while the slice waited */
	ms->yield = false; /* every step looks at one message at least */
	size_t total = store_mailbox_count(v->mb);
	enum imap_search_status r = IMAP_SEARCH_DONE;
	while (st->next < v->count && st->next < total) {
		if (ms->halt) {
			r = ms->why;
			break;
		}
		if (ms->yield) {
			r = IMAP_SEARCH_MORE;
			break;
		}
		size_t i = st->next;
		ms->i = i;
		ms->msg = store_mailbox_msg(v->mb, i);
		bool hit = eval(ms, &st->root);
		msgstate_reset(ms);
		if (ms->rc) {
			r = IMAP_SEARCH_FAILED;
			break;
		}
		if (ms->halt) {
			r = ms->why;
			break;
		}
		st->next++;
		/* The wall clock is cheap (vDSO): a slice ends at the first
		 * message boundary past its time. */
		if (lim && lim->slice_ns &&
		    ns_since(&ms->slice_wall, CLOCK_MONOTONIC) >= lim->slice_ns)
			ms->yield = true;
		if (!hit)
			continue;
		if (st->cnt == st->cap) {
			st->cap = st->cap ? st->cap * 2 : 64;
			st->res = xrealloc(st->res, st->cap * sizeof *st->res);
		}
		st->res[st->cnt++] = (uint32_t)(i + 1);
	}
	ms->cpu_before += ns_since(&ms->slice_cpu, CLOCK_THREAD_CPUTIME_ID);
	if (r == IMAP_SEARCH_DONE) {
		/* Nothing more to do: give back the buffers now. */
		msgstate_free(ms);
	}
	return r;
}

int imap_search_error(const struct imap_search_state *st, const char **err)
{
	*err = st->err;
	return st->ms.rc;
}

uint64_t imap_search_cpu_ns(const struct imap_search_state *st)
{
	return st->ms.cpu_before;
}

void imap_search_take(struct imap_search_state *st, uint32_t **seqs,
		      size_t *n)
{
	*seqs = st->res;
	*n = st->cnt;
	st->res = NULL;
	st->cnt = st->cap = 0;
}

void imap_search_state_free(struct imap_search_state **stp)
{
	struct imap_search_state *st = *stp;
	if (!st)
		return;
	*stp = NULL;
	msgstate_free(&st->ms);
	node_free(&st->root);
	free(st->res);
	free(st);
}

int imap_search_run(const struct imap_search_program *prog,
		    const struct imap_search_view *v, uint32_t **seqs,
		    size_t *n, char *err, size_t errsz)
{
	*seqs = NULL;
	*n = 0;
	struct imap_search_state *st = imap_search_start(prog, v);
	int rc = 0;
	if (imap_search_step(st, NULL) == IMAP_SEARCH_FAILED) {
		const char *why;
		rc = imap_search_error(st, &why);
		snprintf(err, errsz, "%s", why);
	} else {
		imap_search_take(st, seqs, n);
	}
	imap_search_state_free(&st);
	return rc;
}

size_t imap_search_key_count(const struct imap_search_key *k)
{
	size_t n = 1;
	for (size_t i = 0; i < k->nchild; i++)
		n += imap_search_key_count(&k->child[i]);
	return n;
}

bool imap_search_match_wire(const struct imap_search_program *prog,
			    const struct imap_search_view *v, uint32_t seq,
			    const struct store_msg *msg, struct str wire)
{
	struct node root;
	compile(&root, &prog->root, v);
	char err[128];
	struct msgstate ms = { .v = v, .prog_needs = root.needs, .err = err,
			       .errsz = sizeof err, .i = seq ? seq - 1 : 0,
			       .msg = msg, .given = &wire,
			       .next_check = CHECK_UNITS };
	bool hit = eval(&ms, &root);
	msgstate_free(&ms);
	node_free(&root);
	return hit && ms.rc == 0;
}

void imap_search_write_result(struct buf *out,
			      const struct imap_search_program *prog,
			      struct str tag, bool uid, bool force_esearch,
			      const uint32_t *vals, size_t n)
{
	if (!prog->esearch && !force_esearch) {
		buf_appends(out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, " %" PRIu32, vals[i]);
		buf_appends(out, "\r\n");
		return;
	}
	unsigned ret = prog->esearch ? prog->ret : IMAP_SEARCH_RET_ALL;
	/* RFC 5182 section 2.1 (example 9): SAVE alone answers nothing. */
	if (ret == IMAP_SEARCH_RET_SAVE)
		return;
	if (!(ret & ~IMAP_SEARCH_RET_SAVE))
		ret |= IMAP_SEARCH_RET_ALL;
	buf_appends(out, "* ESEARCH (TAG \"");
	for (size_t i = 0; i < tag.len; i++) {
		if (tag.p[i] == '"' || tag.p[i] == '\\')
			buf_appendc(out, '\\');
		buf_appendc(out, tag.p[i]);
	}
	buf_appends(out, "\")");
	if (uid)
		buf_appends(out, " UID");
	if (n && (ret & IMAP_SEARCH_RET_MIN))
		buf_printf(out, " MIN %" PRIu32, vals[0]);
	if (n && (ret & IMAP_SEARCH_RET_MAX))
		buf_printf(out, " MAX %" PRIu32, vals[n - 1]);
	if (ret & IMAP_SEARCH_RET_COUNT)
		buf_printf(out, " COUNT %zu", n);
	if (n && (ret & IMAP_SEARCH_RET_ALL)) {
		buf_appends(out, " ALL ");
		imap_seqset_format_array(vals, n, out);
	}
	buf_appends(out, "\r\n");
}
