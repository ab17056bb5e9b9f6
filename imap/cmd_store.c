/* STORE and UID STORE (RFC 9051 section 6.4.6): FLAGS, +FLAGS, -FLAGS
 * and their .SILENT forms, in one durable store call. Without .SILENT
 * every named message's new flags go back as an untagged FETCH (with
 * UID for UID STORE, section 6.4.9). */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "imap/flags.h"
#include "store/store.h"

struct store_job {
	struct imap_session *s;
	struct mailbox *mb;
	uint32_t *idx; /* view indexes named by the set */
	size_t n;
	uint32_t *uids;
	size_t n_uids;
	struct imap_flag_list fl;
	enum store_flag_op op;
	bool silent;
	struct store_uid_list changed, failed;
	int rc;
	char err[256];
};

static void store_job_free(struct store_job *j)
{
	free(j->idx);
	free(j->uids);
	imap_flag_list_free(&j->fl);
	store_uid_list_free(&j->changed);
	store_uid_list_free(&j->failed);
	free(j);
}

static void store_work(void *arg)
{
	struct store_job *j = arg;
	struct store_flag_update up = {
		.uids = j->uids,
		.n_uids = j->n_uids,
		.op = j->op,
		.flags = j->fl.flags,
		.keywords = j->fl.keywords,
		.n_keywords = j->fl.n_keywords,
	};
	j->rc = store_mailbox_set_flags(j->mb, &up, &j->changed, &j->failed,
					j->err, sizeof j->err);
}

static void store_done(void *arg)
{
	struct store_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		store_job_free(j);
		return;
	}
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=store_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		/* STORE_EPERM: the 27th keyword of a mailbox (store.h). */
		imap_cmd_donef(s, IMAP_NO, "%s %s",
			       j->rc == STORE_EPERM ? "[LIMIT]" : "[UNAVAILABLE]",
			       j->err);
		store_job_free(j);
		return;
	}
	imap_sync_note_own(s, j->changed.v, j->changed.n);
	imap_sync_announce_flags(s);
	if (!j->silent) {
		struct buf b = BUF_INIT;
		for (size_t k = 0; k < j->n; k++) {
			const struct store_msg *m =
				store_mailbox_msg(j->mb, j->idx[k]);
			if (m->expunged)
				continue;
			buf_printf(&b, "* %u FETCH (", j->idx[k] + 1);
			if (s->cmd_uid)
				buf_printf(&b, "UID %u ", m->uid);
			buf_appends(&b, "FLAGS ");
			imap_flags_write(&b, j->mb,
					 m->flags |
						 (imap_recent_has(s, m->uid)
							  ? IMAP_FLAG_RECENT
							  : 0),
					 m->keywords);
			buf_appends(&b, ")\r\n");
			if (b.len > 64 * 1024) {
				imap_write_buf(s, &b);
				buf_clear(&b);
			}
		}
		imap_write_buf(s, &b);
		buf_free(&b);
	}
	imap_cmd_done(s, IMAP_OK, s->cmd_uid ? "UID STORE completed"
					     : "STORE completed");
	store_job_free(j);
}

/* "FLAGS", "+FLAGS.SILENT", ... */
static bool parse_item(struct str a, enum store_flag_op *op, bool *silent)
{
	*op = STORE_FLAGS_SET;
	if (a.len && (a.p[0] == '+' || a.p[0] == '-')) {
		*op = a.p[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		a.p++;
		a.len--;
	}
	*silent = false;
	if (str_eq_nocase(a, "FLAGS"))
		return true;
	if (str_eq_nocase(a, "FLAGS.SILENT")) {
		*silent = true;
		return true;
	}
	return false;
}

void imap_cmd_store(struct imap_session *s, const struct imap_arg *args,
		    size_t n)
{
	enum store_flag_op op;
	bool silent;
	if (args[1].type == IMAP_ARG_LIST) {
		/* (UNCHANGEDSINCE n) needs CONDSTORE, not offered. */
		imap_cmd_done(s, IMAP_BAD, "STORE modifiers are not supported");
		return;
	}
	if (args[1].type != IMAP_ARG_ATOM ||
	    !parse_item(args[1].s, &op, &silent)) {
		imap_cmd_done(s, IMAP_BAD, "STORE needs FLAGS, +FLAGS or -FLAGS");
		return;
	}
	if (s->sel.readonly) {
		imap_cmd_done(s, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	struct store_job *j = xcalloc(1, sizeof *j);
	const char *reason;
	if (!imap_msgset_arg(s, &args[0], s->cmd_uid, &j->idx, &j->n,
			     &reason) ||
	    !imap_flag_list_parse(&args[2], n - 2, &j->fl, &reason)) {
		free(j->idx);
		free(j);
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	j->s = s;
	j->mb = s->sel.mb;
	j->op = op;
	j->silent = silent;
	j->uids = xmalloc((j->n + 1) * sizeof *j->uids);
	for (size_t k = 0; k < j->n; k++) {
		const struct store_msg *m = store_mailbox_msg(j->mb, j->idx[k]);
		if (!m->expunged)
			j->uids[j->n_uids++] = m->uid;
	}
	/* The keyword names point into the parser's tree, which lives until
	 * imap_cmd_done: the job ends before that. */
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, store_work, store_done, j);
}
