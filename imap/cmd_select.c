/* SELECT and EXAMINE (RFC 9051 section 6.3.2-6.3.3, RFC 3501 section
 * 6.3.1-6.3.2), CLOSE, UNSELECT (RFC 3691), CHECK, EXPUNGE and UID
 * EXPUNGE (RFC 4315 section 2.1). */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/flags.h"
#include "imap/seqset.h"
#include "net/conn.h"
#include "store/store.h"

/* Leaves SELECTED: the selection is dropped without expunging. */
static void deselect(struct imap_session *s)
{
	imap_selected_free(s);
	imap_enter_state(s, IMAP_AUTHENTICATED);
}

struct select_job {
	struct imap_session *s;
	char *path;
	char *name;
	bool readonly;
	bool recent;          /* an IMAP4rev1 session: \Recent wanted */
	uint32_t recent_lo, recent_hi;
	struct mailbox *mb;
	int rc;
	char err[256];
};

static void select_work(void *arg)
{
	struct select_job *j = arg;
	j->rc = store_mailbox_open(j->path, &j->mb, j->err, sizeof j->err);
	if (j->rc < 0 || !j->recent)
		return;
	/* SELECT takes \Recent from the mail no session has been told of;
	 * EXAMINE sees it without taking it (RFC 3501 6.3.2). A failure
	 * only means no \Recent: the selection goes on. */
	char e[256];
	j->recent_hi = store_mailbox_uidnext(j->mb);
	if (store_recent_claim(j->path, j->recent_hi, !j->readonly,
			       &j->recent_lo, e, sizeof e) < 0)
		j->recent_lo = j->recent_hi;
}

static void select_job_free(struct select_job *j)
{
	store_mailbox_close(&j->mb);
	free(j->path);
	free(j->name);
	free(j);
}

/* The untagged data of a selection (RFC 9051 6.3.2 and RFC 3501
 * 6.3.1 differ: rev1 wants RECENT and, where cheap, UNSEEN; rev2 wants
 * the mailbox's LIST response instead). */
static void select_write(struct imap_session *s)
{
	struct mailbox *mb = s->sel.mb;
	struct buf b = BUF_INIT;
	buf_appends(&b, "* FLAGS ");
	imap_sync_flags_write(s, &b);
	buf_appends(&b, "\r\n* OK [PERMANENTFLAGS ");
	if (s->sel.readonly)
		buf_appends(&b, "()");
	else
		imap_flags_write_mailbox(&b, mb, true);
	buf_appends(&b, "] Flags permitted\r\n");
	buf_printf(&b, "* %u EXISTS\r\n", s->sel.exists);
	if (!s->rev2) {
		s->sel.recent_announced = imap_recent_count(s);
		buf_printf(&b, "* %u RECENT\r\n", s->sel.recent_announced);
		for (size_t i = 0; i < s->sel.exists; i++) {
			const struct store_msg *m = store_mailbox_msg(mb, i);
			if (!m->expunged && !(m->flags & STORE_F_SEEN)) {
				buf_printf(&b, "* OK [UNSEEN %zu] First unseen\r\n",
					   i + 1);
				break;
			}
		}
	}
	buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
		   store_mailbox_uidvalidity(mb));
	buf_printf(&b, "* OK [UIDNEXT %u] Predicted next UID\r\n",
		   store_mailbox_uidnext(mb));
	if (s->rev2) {
		buf_appends(&b, "* LIST () \"/\" ");
		imap_mboxname_write(s, &b, s->sel.name);
		buf_appends(&b, "\r\n");
	}
	imap_write_buf(s, &b);
	buf_free(&b);
}

static void select_done(void *arg)
{
	struct select_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		select_job_free(j);
		return;
	}
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=select_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		imap_cmd_done(s, IMAP_NO,
			      j->rc == STORE_ENOENT
				      ? "[NONEXISTENT] Mailbox does not exist"
			      : j->rc == STORE_ETEMP
				      ? "[UNAVAILABLE] Mailbox is busy, try again"
				      : "[SERVERBUG] Cannot open the mailbox");
		select_job_free(j);
		return;
	}
	s->sel.mb = j->mb;
	j->mb = NULL;
	s->sel.name = j->name;
	j->name = NULL;
	s->sel.path = j->path;
	j->path = NULL;
	s->sel.readonly = j->readonly;
	s->sel.exists = (uint32_t)store_mailbox_count(s->sel.mb);
	if (j->recent)
		imap_recent_add(s, j->recent_lo, j->recent_hi);
	imap_enter_state(s, IMAP_SELECTED);
	imap_sync_watch(s);
	select_write(s);
	imap_cmd_done(s, IMAP_OK, s->sel.readonly
					  ? "[READ-ONLY] EXAMINE completed"
					  : "[READ-WRITE] SELECT completed");
	select_job_free(j);
}

void imap_cmd_select(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	bool examine = strcmp(imap_cmd_name(s), "EXAMINE") == 0;
	/* Select parameters (CONDSTORE, QRESYNC) are not offered; an empty
	 * list is harmless. */
	if (n == 2 && (args[1].type != IMAP_ARG_LIST || args[1].count != 0)) {
		imap_cmd_done(s, IMAP_BAD, "Unknown SELECT parameter");
		return;
	}
	/* RFC 9051 6.3.2: a SELECT while selected first closes the old
	 * mailbox, without expunge, whatever becomes of the new one. */
	if (s->state == IMAP_SELECTED) {
		deselect(s);
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	struct buf name = BUF_INIT, path = BUF_INIT, canon = BUF_INIT;
	const char *reason;
	char err[256];
	if (!imap_mboxname_arg(s, &args[0], &name, &reason)) {
		imap_cmd_done(s, IMAP_NO, reason);
		buf_free(&name);
		return;
	}
	if (imap_mboxname_path(s, buf_str(&name), &path, &canon, err,
			       sizeof err) < 0) {
		imap_cmd_donef(s, IMAP_NO, "[NONEXISTENT] %s", err);
		buf_free(&name);
		buf_free(&path);
		buf_free(&canon);
		return;
	}
	struct select_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->path = xstrdup(buf_cstr(&path));
	j->name = xstrdup(buf_cstr(&canon));
	j->readonly = examine;
	j->recent = imap_recent_on(s);
	buf_free(&name);
	buf_free(&path);
	buf_free(&canon);
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, select_work, select_done, j);
}

void imap_cmd_unselect(struct imap_session *s, const struct imap_arg *args,
		       size_t n)
{
	(void)args;
	(void)n;
	deselect(s);
	imap_cmd_done(s, IMAP_OK, "UNSELECT completed");
}

void imap_cmd_check(struct imap_session *s, const struct imap_arg *args,
		    size_t n)
{
	(void)args;
	(void)n;
	/* Every change is durable when it is made: nothing to flush. */
	imap_cmd_done(s, IMAP_OK, "CHECK completed");
}

/* ---- EXPUNGE, UID EXPUNGE, CLOSE ---- */

struct expunge_job {
	struct imap_session *s;
	struct mailbox *mb;
	uint32_t *uids; /* NULL: every \Deleted message */
	size_t n_uids;
	bool close;     /* CLOSE: silent, then deselect */
	struct store_uid_list expunged;
	int rc;
	char err[256];
};

static void expunge_work(void *arg)
{
	struct expunge_job *j = arg;
	j->rc = store_mailbox_expunge(j->mb, j->uids, j->n_uids, &j->expunged,
				      j->err, sizeof j->err);
}

static void expunge_done(void *arg)
{
	struct expunge_job *j = arg;
	struct imap_session *s = j->s;
	if (imap_job_finish(s)) {
		if (j->close) {
			/* RFC 9051 6.4.1: CLOSE sends no EXPUNGE responses,
			 * and leaves SELECTED even when the expunge failed. */
			if (j->rc < 0) {
				char why[LOG_ESC_MAX];
				log_kv(LOG_WARN, "event=close_expunge_failed "
				       "proto=imap sid=%s error=%s", s->c->id,
				       log_esc(why, sizeof why, j->err,
					       strlen(j->err)));
			}
			deselect(s);
			imap_cmd_done(s, IMAP_OK, "CLOSE completed");
		} else if (j->rc < 0) {
			imap_cmd_donef(s, IMAP_NO, "[UNAVAILABLE] %s", j->err);
		} else {
			/* The EXPUNGE responses come from the refresh that
			 * imap_cmd_done runs (the view keeps sequence
			 * numbers stable until then). */
			imap_cmd_done(s, IMAP_OK, "EXPUNGE completed");
		}
	}
	store_uid_list_free(&j->expunged);
	free(j->uids);
	free(j);
}

static void expunge_start(struct imap_session *s, uint32_t *uids, size_t n,
			  bool close)
{
	struct expunge_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->mb = s->sel.mb;
	j->uids = uids;
	j->n_uids = n;
	j->close = close;
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, expunge_work, expunge_done, j);
}

void imap_cmd_expunge(struct imap_session *s, const struct imap_arg *args,
		      size_t n)
{
	(void)args;
	(void)n;
	if (s->sel.readonly) {
		imap_cmd_done(s, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	expunge_start(s, NULL, 0, false);
}

void imap_cmd_close(struct imap_session *s, const struct imap_arg *args,
		    size_t n)
{
	(void)args;
	(void)n;
	if (s->sel.readonly) {
		deselect(s);
		imap_cmd_done(s, IMAP_OK, "CLOSE completed");
		return;
	}
	expunge_start(s, NULL, 0, true);
}

void imap_cmd_uid_expunge(struct imap_session *s, const struct imap_arg *args,
			  size_t n)
{
	(void)n;
	if (s->sel.readonly) {
		imap_cmd_done(s, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	uint32_t *uids;
	size_t nu;
	const char *reason;
	if (!imap_msgset_arg(s, &args[0], true, &uids, &nu, &reason)) {
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	imap_msgset_to_uids(s, uids, nu);
	if (nu == 0) {
		free(uids);
		imap_cmd_done(s, IMAP_OK, "EXPUNGE completed");
		return;
	}
	expunge_start(s, uids, nu, false);
}
