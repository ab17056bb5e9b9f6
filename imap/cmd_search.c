/* SEARCH and UID SEARCH (RFC 9051 section 6.4.4, ESEARCH RFC 4731,
 * SEARCHRES RFC 5182). Evaluation is imap/search.h's: on the loop when
 * the index answers every key, on the thread pool when headers or
 * bodies must be read. */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "imap/search.h"
#include "store/store.h"

struct search_job {
	struct imap_session *s;
	struct imap_search_program prog;
	struct imap_search_view view;
	uint32_t *seqs;
	size_t n;
	int rc;
	char err[256];
};

static void search_job_free(struct search_job *j)
{
	imap_search_free(&j->prog);
	free(j->seqs);
	free(j);
}

static void search_work(void *arg)
{
	struct search_job *j = arg;
	j->rc = imap_search_run(&j->prog, &j->view, &j->seqs, &j->n, j->err,
				sizeof j->err);
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
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=search_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		if (j->prog.ret & IMAP_SEARCH_RET_SAVE) {
			/* RFC 5182 section 2.1: a failed SAVE empties $. */
			free(s->sel.saved);
			s->sel.saved = NULL;
			s->sel.n_saved = 0;
		}
		imap_cmd_done(s, IMAP_NO, "[SERVERBUG] Search failed");
		search_job_free(j);
		return;
	}
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
	search_finish(j->s, j);
}

void imap_cmd_search(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	struct search_job *j = xcalloc(1, sizeof *j);
	struct imap_search_error e;
	memset(&e, 0, sizeof e);
	if (!imap_search_parse(args, n, &j->prog, &e)) {
		free(j);
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
	j->view.n_saved = s->sel.n_saved;
	j->view.now = (int64_t)time(NULL);
	if (imap_search_needs(&j->prog.root) == IMAP_SEARCH_NEEDS_INDEX) {
		search_work(j);
		search_finish(s, j);
		return;
	}
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, search_work,
			search_done, j);
}
