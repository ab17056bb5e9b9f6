/* SEARCH and UID SEARCH (RFC 9051 section 6.4.4, ESEARCH RFC 4731,
 * SEARCHRES RFC 5182). Evaluation is imap/search.h's: on the loop when
 * the index answers every key and the mailbox is small enough for that
 * (IMAP_SEARCH_LOOP_MAX), else on the thread pool as a heavy job, in
 * slices of IMAP_SEARCH_SLICE_MS: each slice goes back to the end of
 * the heavy queue, so sessions take turns and logins, deliveries and
 * SELECTs of others keep their own thread (core/threadpool.h). A slice
 * stops early when the session closes (s->cancel); the whole search
 * stops with NO [LIMIT] past imap_search_cpu_limit seconds of CPU. */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "imap/search.h"
#include "store/store.h"

struct search_job {
	struct imap_session *s;
	struct imap_search_program prog;
	struct imap_search_view view;
	struct imap_search_state *st;
	struct imap_search_limits lim;
	enum imap_search_status status;
	unsigned slices;
	uint32_t *seqs;
	size_t n;
};

static void search_job_free(struct search_job *j)
{
	imap_search_state_free(&j->st);
	imap_search_free(&j->prog);
	free(j->seqs);
	free(j);
}

static void search_work(void *arg)
{
	struct search_job *j = arg;
	j->status = imap_search_step(j->st, &j->lim);
	j->slices++;
}

/* RFC 5182 section 2.1: a SAVE answered with NO empties $. */
static void forget_saved(struct imap_session *s, const struct search_job *j)
{
	if (!(j->prog.ret & IMAP_SEARCH_RET_SAVE))
		return;
	free(s->sel.saved);
	s->sel.saved = NULL;
	s->sel.n_saved = 0;
}

/* RFC 5182 section 2.4: with MIN or MAX (and neither ALL nor COUNT),
 * SAVE keeps only those; otherwise every match. */
static void save_result(struct imap_session *s, const struct search_job *j)
{
	const struct mailbox *mb = s->sel.mb;
	unsigned r = j->prog.ret;
	free(s->sel.saved);
	s->sel.saved = xmalloc((j->n + 1) * sizeof *s->sel.saved);
	s->sel.n_saved = 0;
	bool minmax = (r & (IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX)) &&
		      !(r & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_COUNT));
	for (size_t k = 0; k < j->n; k++) {
		if (minmax && !((k == 0 && (r & IMAP_SEARCH_RET_MIN)) ||
				(k == j->n - 1 && (r & IMAP_SEARCH_RET_MAX))))
			continue;
		s->sel.saved[s->sel.n_saved++] =
			store_mailbox_msg(mb, j->seqs[k] - 1)->uid;
	}
}

static void search_finish(struct imap_session *s, struct search_job *j)
{
	uint64_t cpu_ms = imap_search_cpu_ns(j->st) / 1000000;
	if (j->status == IMAP_SEARCH_OVER_LIMIT) {
		char user[LOG_ESC_MAX];
		log_kv(LOG_WARN,
		       "event=search_limit proto=imap sid=%s user=%s cpu_ms=%llu "
		       "slices=%u limit_s=%d",
		       s->c->id, log_esc(user, sizeof user, s->user, strlen(s->user)),
		       (unsigned long long)cpu_ms, j->slices,
		       s->cfg->imap_search_cpu_limit);
		forget_saved(s, j);
		imap_cmd_donef(s, IMAP_NO,
			       "[LIMIT] Search too expensive (over %d s of CPU)",
			       s->cfg->imap_search_cpu_limit);
		search_job_free(j);
		return;
	}
	if (j->status != IMAP_SEARCH_DONE) {
		/* FAILED (or CANCELLED, which a live session never sees). */
		const char *err = "cancelled";
		if (j->status == IMAP_SEARCH_FAILED)
			imap_search_error(j->st, &err);
		char why[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=search_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, err, strlen(err)));
		forget_saved(s, j);
		imap_cmd_done(s, IMAP_NO, "[SERVERBUG] Search failed");
		search_job_free(j);
		return;
	}
	imap_search_take(j->st, &j->seqs, &j->n);
	if (j->slices > 1)
		log_kv(LOG_DEBUG,
		       "event=search proto=imap sid=%s slices=%u cpu_ms=%llu",
		       s->c->id, j->slices, (unsigned long long)cpu_ms);
	if (j->prog.ret & IMAP_SEARCH_RET_SAVE)
		save_result(s, j);
	if (s->cmd_uid)
		for (size_t k = 0; k < j->n; k++)
			j->seqs[k] = store_mailbox_msg(s->sel.mb, j->seqs[k] - 1)->uid;
	struct buf b = BUF_INIT;
	imap_search_write_result(&b, &j->prog, buf_str(&s->tag), s->cmd_uid,
				 s->rev2, j->seqs, j->n);
	imap_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_done(s, IMAP_OK, s->cmd_uid ? "UID SEARCH completed"
					     : "SEARCH completed");
	search_job_free(j);
}

static void search_done(void *arg)
{
	struct search_job *j = arg;
	if (!imap_job_finish(j->s)) {
		search_job_free(j);
		return;
	}
	if (j->status == IMAP_SEARCH_MORE) {
		/* The next slice waits its turn behind the other sessions'. */
		imap_job_submit_heavy(j->s, search_work, search_done, j);
		return;
	}
	search_finish(j->s, j);
}

/* "RETURN (... SAVE ...)" at the start of the arguments. */
static bool asks_save(const struct imap_arg *args, size_t n)
{
	if (n < 2 || !imap_arg_is_atom(&args[0], "RETURN") ||
	    args[1].type != IMAP_ARG_LIST)
		return false;
	for (size_t i = 0; i < args[1].count; i++)
		if (imap_arg_is_atom(&args[1].list[i], "SAVE"))
			return true;
	return false;
}

void imap_cmd_search(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	struct search_job *j = xcalloc(1, sizeof *j);
	struct imap_search_error e;
	memset(&e, 0, sizeof e);
	if (!imap_search_parse(args, n, &j->prog, &e)) {
		free(j);
		/* RFC 5182 section 2.1: a SAVE answered with NO empties $
		 * (a BAD leaves it alone). */
		if (e.badcharset && asks_save(args, n)) {
			free(s->sel.saved);
			s->sel.saved = NULL;
			s->sel.n_saved = 0;
		}
		if (e.badcharset)
			imap_cmd_done(s, IMAP_NO, "[BADCHARSET (UTF-8 US-ASCII)] "
						  "Unsupported charset");
		else
			imap_cmd_done(s, IMAP_BAD, e.reason);
		return;
	}
	j->s = s;
	j->view.mb = s->sel.mb;
	j->view.count = s->sel.exists;
	j->view.saved = s->sel.saved;
	j->view.recent = s->sel.recent;
	j->view.n_recent = s->sel.n_recent;
	j->view.n_saved = s->sel.n_saved;
	j->view.now = (int64_t)time(NULL);
	j->st = imap_search_start(&j->prog, &j->view);
	if (imap_search_needs(&j->prog.root) == IMAP_SEARCH_NEEDS_INDEX &&
	    (uint64_t)j->view.count * imap_search_key_count(&j->prog.root) <=
		    IMAP_SEARCH_LOOP_MAX) {
		search_work(j);
		search_finish(s, j);
		return;
	}
	j->lim.cancel = &s->cancel;
	j->lim.slice_ns = (uint64_t)IMAP_SEARCH_SLICE_MS * 1000000;
	j->lim.cpu_limit_ns = (uint64_t)s->cfg->imap_search_cpu_limit *
			      1000000000;
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit_heavy(s, search_work, search_done, j);
}
