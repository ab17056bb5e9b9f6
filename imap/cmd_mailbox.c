/* CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 sections
 * 6.3.4-6.3.8). The store does the folder work and its rules (parents
 * made on CREATE, children kept on DELETE, INBOX's special RENAME, names
 * that could leave the user's directory refused); this file maps IMAP
 * names in and the store's answers to response codes (RFC 5530) out.
 * Each runs as one job on the thread pool: folder calls touch the disk. */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "store/store.h"

enum mbox_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE };

static const char *const op_names[] = { "CREATE", "DELETE", "RENAME",
					"SUBSCRIBE", "UNSUBSCRIBE" };

struct mbox_job {
	struct imap_session *s;
	enum mbox_op op;
	char *maildir;
	struct buf name, to;
	char *canon;        /* the name as the store spells it, or NULL */
	int rc;
	char err[256];
};

static void mbox_job_free(struct mbox_job *j)
{
	free(j->maildir);
	free(j->canon);
	buf_free(&j->name);
	buf_free(&j->to);
	free(j);
}

static void mbox_work(void *arg)
{
	struct mbox_job *j = arg;
	struct str name = buf_str(&j->name);
	switch (j->op) {
	case OP_CREATE:
		j->rc = store_mbox_create(j->maildir, name, j->err, sizeof j->err);
		break;
	case OP_DELETE:
		j->rc = store_mbox_delete(j->maildir, name, j->err, sizeof j->err);
		break;
	case OP_RENAME:
		j->rc = store_mbox_rename(j->maildir, name, buf_str(&j->to),
					  j->err, sizeof j->err);
		break;
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		j->rc = store_mbox_subscribe(j->maildir, name,
					     j->op == OP_SUBSCRIBE, j->err,
					     sizeof j->err);
		break;
	}
}

/* Whether a successful DELETE or RENAME took the selected mailbox away:
 * DELETE of it (its children stay), RENAME of it or of a parent
 * (children move along). RENAME INBOX leaves INBOX in place, empty: the
 * selection stays and the refresh reports the EXPUNGEs. */
static bool took_selected(const struct imap_session *s,
			  const struct mbox_job *j)
{
	if (s->state != IMAP_SELECTED || !j->canon || !s->sel.name)
		return false;
	if (j->op == OP_DELETE)
		return strcmp(s->sel.name, j->canon) == 0;
	if (j->op != OP_RENAME || strcmp(j->canon, "INBOX") == 0)
		return false;
	size_t len = strlen(j->canon);
	return strncmp(s->sel.name, j->canon, len) == 0 &&
	       (s->sel.name[len] == '\0' || s->sel.name[len] == STORE_MBOX_SEP);
}

/* The store's reasons for STORE_EINVAL and STORE_EPERM name the rule a
 * name broke and are fit for the client; other errors may carry paths
 * and go to the log only. */
static void mbox_done(void *arg)
{
	struct mbox_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		mbox_job_free(j);
		return;
	}
	const char *verb = op_names[j->op];
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=mailbox_failed proto=imap sid=%s "
		       "command=%s error=%s", s->c->id, verb,
		       log_esc(why, sizeof why, j->err, strlen(j->err)));
	}
	switch (j->rc) {
	case 0:
		/* Ending the session with BYE (what the next refresh would
		 * do) would hide the OK from the client; like Dovecot, close
		 * the mailbox instead and say so (RFC 9051 7.1, CLOSED). */
		if (took_selected(s, j)) {
			imap_selected_free(s);
			imap_enter_state(s, IMAP_AUTHENTICATED);
			imap_untagged(s, "OK [CLOSED] The selected mailbox is gone");
		}
		imap_cmd_donef(s, IMAP_OK, "%s completed", verb);
		break;
	case STORE_EEXIST:
		imap_cmd_done(s, IMAP_NO, "[ALREADYEXISTS] Mailbox already "
					  "exists");
		break;
	case STORE_ENOENT:
		imap_cmd_done(s, IMAP_NO, "[NONEXISTENT] No such mailbox");
		break;
	case STORE_EINVAL:
	case STORE_EPERM:
		imap_cmd_donef(s, IMAP_NO, "[CANNOT] %s", j->err);
		break;
	default:
		imap_cmd_donef(s, IMAP_NO, "[UNAVAILABLE] %s failed, try again "
					   "later", verb);
		break;
	}
	mbox_job_free(j);
}

/* A mailbox argument in UTF-8; false after answering the command. */
static bool name_arg(struct imap_session *s, const struct imap_arg *a,
		     struct buf *out)
{
	const char *reason;
	if (imap_mboxname_arg(s, a, out, &reason))
		return true;
	imap_cmd_done(s, a->type == IMAP_ARG_LIST ? IMAP_BAD : IMAP_NO, reason);
	return false;
}

/* RFC 9051 6.3.4: a trailing delimiter declares that the client means
 * to create names below this one; the mailbox is the name without it.
 * RENAME's target gets the same treatment (Dovecot does likewise). */
static void strip_trailing_delim(struct buf *name)
{
	if (name->len > 1 && name->data[name->len - 1] == STORE_MBOX_SEP)
		name->len--;
}

static void mbox_start(struct imap_session *s, const struct imap_arg *args,
		       enum mbox_op op)
{
	struct mbox_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->op = op;
	buf_init(&j->name);
	buf_init(&j->to);
	if (!name_arg(s, &args[0], &j->name) ||
	    (op == OP_RENAME && !name_arg(s, &args[1], &j->to))) {
		mbox_job_free(j);
		return;
	}
	if (op == OP_CREATE)
		strip_trailing_delim(&j->name);
	if (op == OP_RENAME)
		strip_trailing_delim(&j->to);
	buf_cstr(&j->name);
	buf_cstr(&j->to);
	struct buf dir = BUF_INIT, canon = BUF_INIT;
	char err[256];
	if (store_mboxname_to_dir(buf_str(&j->name), &dir, &canon, err,
				  sizeof err) == 0)
		j->canon = xstrdup(buf_cstr(&canon));
	buf_free(&dir);
	buf_free(&canon);
	j->maildir = xstrdup(s->maildir);
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, mbox_work, mbox_done, j);
}

void imap_cmd_create(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	(void)n;
	mbox_start(s, args, OP_CREATE);
}

void imap_cmd_delete(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	(void)n;
	mbox_start(s, args, OP_DELETE);
}

void imap_cmd_rename(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	(void)n;
	mbox_start(s, args, OP_RENAME);
}

void imap_cmd_subscribe(struct imap_session *s, const struct imap_arg *args,
			size_t n)
{
	(void)n;
	mbox_start(s, args, OP_SUBSCRIBE);
}

void imap_cmd_unsubscribe(struct imap_session *s, const struct imap_arg *args,
			  size_t n)
{
	(void)n;
	mbox_start(s, args, OP_UNSUBSCRIBE);
}
