/* COPY, MOVE and their UID forms (RFC 9051 sections 6.4.7-6.4.8, MOVE
 * RFC 6851, COPYUID RFC 4315 section 3). MOVE answers with an untagged
 * OK [COPYUID ...] first; its EXPUNGE responses come from the refresh
 * imap_cmd_done runs before the tagged OK (RFC 6851 section 3.3). */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "imap/seqset.h"
#include "store/store.h"

struct copy_job {
	struct imap_session *s;
	struct mailbox *mb;
	uint32_t *uids;
	size_t n;
	char *dst_path;
	bool move;
	struct store_uid_list src, dst;
	uint32_t dst_uidvalidity;
	int rc;
	char err[256];
};

static void copy_job_free(struct copy_job *j)
{
	free(j->uids);
	free(j->dst_path);
	store_uid_list_free(&j->src);
	store_uid_list_free(&j->dst);
	free(j);
}

static void copy_work(void *arg)
{
	struct copy_job *j = arg;
	j->rc = store_mailbox_copy(j->mb, j->uids, j->n, j->dst_path, j->move,
				   &j->src, &j->dst, &j->dst_uidvalidity, j->err,
				   sizeof j->err);
}

static void copy_done(void *arg)
{
	struct copy_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		copy_job_free(j);
		return;
	}
	const char *verb = j->move ? "MOVE" : "COPY";
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=copy_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		if (j->rc == STORE_ENOENT)
			imap_cmd_done(s, IMAP_NO, "[TRYCREATE] Mailbox does not "
						  "exist");
		else if (j->rc == STORE_EPERM)
			imap_cmd_donef(s, IMAP_NO, "[LIMIT] %s", j->err);
		else
			imap_cmd_donef(s, IMAP_NO, "[UNAVAILABLE] %s failed",
				       verb);
		copy_job_free(j);
		return;
	}
	struct buf code = BUF_INIT;
	if (j->src.n) {
		buf_printf(&code, "[COPYUID %u ", j->dst_uidvalidity);
		imap_seqset_format_array(j->src.v, j->src.n, &code);
		buf_appendc(&code, ' ');
		imap_seqset_format_array(j->dst.v, j->dst.n, &code);
		buf_appends(&code, "] ");
	}
	if (j->move) {
		if (j->src.n)
			imap_untagged(s, "OK %sMoved", buf_cstr(&code));
		imap_cmd_done(s, IMAP_OK, "MOVE completed");
	} else {
		buf_appends(&code, "COPY completed");
		imap_cmd_done(s, IMAP_OK, buf_cstr(&code));
	}
	buf_free(&code);
	copy_job_free(j);
}

static void copy_or_move(struct imap_session *s, const struct imap_arg *args,
			 bool move)
{
	if (move && s->sel.readonly) {
		imap_cmd_done(s, IMAP_NO, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	uint32_t *idx;
	size_t n;
	const char *reason;
	if (!imap_msgset_arg(s, &args[0], s->cmd_uid, &idx, &n, &reason)) {
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	struct buf name = BUF_INIT, path = BUF_INIT;
	char err[256];
	if (!imap_mboxname_arg(s, &args[1], &name, &reason)) {
		free(idx);
		buf_free(&name);
		imap_cmd_done(s, IMAP_NO, reason);
		return;
	}
	if (imap_mboxname_path(s, buf_str(&name), &path, NULL, err,
			       sizeof err) < 0) {
		free(idx);
		buf_free(&name);
		buf_free(&path);
		/* A name the store can never hold: TRYCREATE would send the
		 * client to a CREATE that fails the same way (RFC 9051
		 * 6.4.7 is for a mailbox that does not exist yet); APPEND
		 * says CANNOT (RFC 5530) here too. */
		imap_cmd_donef(s, IMAP_NO, "[CANNOT] %s", err);
		return;
	}
	buf_free(&name);
	struct copy_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->mb = s->sel.mb;
	j->move = move;
	j->dst_path = xstrdup(buf_cstr(&path));
	buf_free(&path);
	j->uids = idx; /* reused in place: indexes -> UIDs */
	for (size_t k = 0; k < n; k++) {
		const struct store_msg *m = store_mailbox_msg(j->mb, idx[k]);
		if (!m->expunged)
			j->uids[j->n++] = m->uid;
	}
	if (j->n == 0) {
		copy_job_free(j);
		imap_cmd_done(s, IMAP_OK, move ? "MOVE completed"
					       : "COPY completed");
		return;
	}
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit_heavy(s, copy_work, copy_done, j);
}

void imap_cmd_copy(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	(void)n;
	copy_or_move(s, args, false);
}

void imap_cmd_move(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	(void)n;
	copy_or_move(s, args, true);
}
