/* APPEND (RFC 9051 section 6.3.12) with APPENDUID (RFC 4315 section 3),
 * APPENDLIMIT (RFC 7889), literal8 for BINARY (RFC 3516 section 4.4)
 * and UTF8 (RFC 6855 section 4: "UTF8 (literal)").
 *
 * A message up to the parser's in-memory limit arrives as an ordinary
 * literal. A bigger one (up to max_message_size) is streamed by the
 * session into a spool file through imap_append_literal_open, so a
 * 50 MB message never sits in memory: each piece the connection read
 * is written as it comes (a bounded write per read), and the store
 * copies the file into the mailbox on the thread pool
 * (store_mailbox_append_fd). The spool is an unlinked file in the
 * user's tmp/ (O_TMPFILE where the file system has it), so nothing is
 * left behind by a crash. The store keeps the octets exactly. */
#include "imap/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/diskspace.h"
#include "core/log.h"
#include "core/spool.h"
#include "core/xmalloc.h"
#include "imap/datetime.h"
#include "imap/flags.h"
#include "net/conn.h"
#include "store/store.h"

/* ---- the spool for big literals ---- */

struct append_spool {
	int fd;
	uint64_t written;
	bool failed;   /* a write failed: the command answers NO */
	bool complete; /* every octet arrived */
	int err_no;
};

static int spool_write(void *cookie, const void *p, size_t n)
{
	struct append_spool *sp = cookie;
	if (sp->failed)
		return -1;
	if (spool_append(sp->fd, p, n) < 0) {
		sp->failed = true;
		sp->err_no = errno;
		return -1;
	}
	sp->written += n;
	return 0;
}

static void spool_end(void *cookie)
{
	struct append_spool *sp = cookie;
	sp->complete = true;
}

static void spool_free(struct append_spool *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp);
}

static void spool_abort(void *cookie)
{
	spool_free(cookie);
}

static const struct imap_literal_sink spool_ops = {
	.write = spool_write,
	.end = spool_end,
	.abort = spool_abort,
};

static int append_spool_open(const char *maildir)
{
	char *dir = xasprintf("%s/tmp", maildir);
	int fd = spool_open(dir);
	free(dir);
	return fd;
}

/* RFC 9051 section 7.1: a full disk is a "temporary failure because a
 * subsystem is down" (UNAVAILABLE), not the user's quota (OVERQUOTA,
 * which tells the client to delete mail; Dovecot sends that for ENOSPC
 * too, but the user's mail is not what fills a shared disk). */
#define APPEND_STORAGE_REPLY "[UNAVAILABLE] Insufficient system storage, " \
			     "try again later"

/* Less than min_free_space (plus the message) left on the mail file
 * system (core/diskspace.h: cached, at most one statvfs a second). */
static bool append_storage_low(struct imap_session *s, uint64_t size)
{
	uint64_t floor = s->cfg->min_free_bytes, avail;
	if (floor == 0 || !disk_space_low(s->cfg->mail_dir, floor + size,
					  &avail))
		return false;
	log_kv(LOG_WARN, "event=append_refused proto=imap sid=%s "
	       "reason=disk_full avail=%llu need=%llu", s->c->id,
	       (unsigned long long)avail, (unsigned long long)(floor + size));
	return true;
}

void *imap_append_literal_open(struct imap_session *s,
			       const struct imap_literal_info *info,
			       const struct imap_literal_sink **ops,
			       const char **why)
{
	if (s->state != IMAP_AUTHENTICATED && s->state != IMAP_SELECTED) {
		*why = "Log in first";
		return NULL;
	}
	if (info->size > s->cfg->max_message_size) {
		*why = "Message exceeds APPENDLIMIT";
		return NULL;
	}
	if (append_storage_low(s, info->size)) {
		/* Refused before "+ OK": the client never sends it. A
		 * small non-synchronizing one is read and refused by the
		 * command (a NO rather than a BAD). */
		if (info->sync || !info->in_memory_ok)
			*why = APPEND_STORAGE_REPLY;
		return NULL;
	}
	int fd = append_spool_open(s->maildir);
	if (fd < 0) {
		log_kv(LOG_WARN, "event=append_spool_failed proto=imap sid=%s "
		       "error=%s", s->c->id, strerror(errno));
		*why = "Cannot take the message now";
		return NULL;
	}
	struct append_spool *sp = xcalloc(1, sizeof *sp);
	sp->fd = fd;
	*ops = &spool_ops;
	return sp;
}

/* ---- the command ---- */

struct append_job {
	struct imap_session *s;
	char *path;
	struct imap_flag_list fl;
	int64_t date;
	struct str msg;            /* in memory: borrowed from the args */
	struct append_spool *spool; /* or spooled */
	uint32_t uid, uidvalidity;
	int rc;
	char err[256];
};

static void append_job_free(struct append_job *j)
{
	free(j->path);
	imap_flag_list_free(&j->fl);
	spool_free(j->spool);
	free(j);
}

static void append_work(void *arg)
{
	struct append_job *j = arg;
	if (j->spool) {
		j->rc = store_mailbox_append_fd(j->path, j->spool->fd,
						j->fl.flags, j->fl.keywords,
						j->fl.n_keywords, j->date,
						&j->uid, &j->uidvalidity, j->err,
						sizeof j->err);
		return;
	}
	struct iovec iov = { (void *)(j->msg.p ? j->msg.p : ""), j->msg.len };
	j->rc = store_mailbox_append(j->path, &iov, 1, j->fl.flags,
				     j->fl.keywords, j->fl.n_keywords, j->date,
				     &j->uid, &j->uidvalidity, j->err,
				     sizeof j->err);
}

static void append_done(void *arg)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		append_job_free(j);
		return;
	}
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=append_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
	}
	switch (j->rc) {
	case 0:
		log_kv(LOG_DEBUG, "event=append proto=imap sid=%s uid=%u "
		       "size=%llu", s->c->id, (unsigned)j->uid,
		       (unsigned long long)(j->spool ? j->spool->written
						     : j->msg.len));
		imap_cmd_donef(s, IMAP_OK, "[APPENDUID %u %u] APPEND completed",
			       (unsigned)j->uidvalidity, (unsigned)j->uid);
		break;
	case STORE_ENOENT:
		imap_cmd_done(s, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		break;
	case STORE_EPERM:
		imap_cmd_donef(s, IMAP_NO, "[LIMIT] %s", j->err);
		break;
	case STORE_EINVAL:
		imap_cmd_donef(s, IMAP_NO, "[CANNOT] %s", j->err);
		break;
	default:
		imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] APPEND failed, try "
					  "again later");
		break;
	}
	append_job_free(j);
}

static bool is_message(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_LITERAL || a->type == IMAP_ARG_EXTERNAL;
}

/* append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP
 * (literal / literal8 / "UTF8" SP "(" literal8 ")"). */
void imap_cmd_append(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	const struct imap_arg *msg = &args[n - 1];
	size_t n_opt = n - 2; /* between the mailbox and the message */
	if (n >= 3 && msg->type == IMAP_ARG_LIST &&
	    imap_arg_is_atom(&args[n - 2], "UTF8")) {
		if (msg->count != 1) {
			imap_cmd_done(s, IMAP_BAD, "UTF8 takes one literal");
			return;
		}
		msg = &msg->list[0];
		n_opt--;
	}
	if (!is_message(msg)) {
		imap_cmd_done(s, IMAP_BAD, "APPEND needs a message literal");
		return;
	}
	const struct imap_arg *flags = NULL, *date = NULL;
	for (size_t i = 1; i <= n_opt; i++) {
		const struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST && !flags && !date) {
			flags = a;
		} else if (a->type == IMAP_ARG_QUOTED && !date) {
			date = a;
		} else {
			imap_cmd_done(s, IMAP_BAD, "Bad APPEND arguments");
			return;
		}
	}
	uint64_t size = msg->type == IMAP_ARG_EXTERNAL ? msg->size : msg->s.len;
	if (size > s->cfg->max_message_size) {
		imap_cmd_done(s, IMAP_NO, "[TOOBIG] Message exceeds APPENDLIMIT");
		return;
	}
	if (msg->type != IMAP_ARG_EXTERNAL && append_storage_low(s, size)) {
		imap_cmd_done(s, IMAP_NO, APPEND_STORAGE_REPLY);
		return;
	}
	struct append_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	const char *reason;
	if (flags && !imap_flag_list_parse(flags, 1, &j->fl, &reason)) {
		append_job_free(j);
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	j->date = time(NULL);
	if (date && !imap_datetime_parse(date->s, &j->date)) {
		append_job_free(j);
		imap_cmd_done(s, IMAP_BAD, "Bad date-time");
		return;
	}
	struct buf name = BUF_INIT, path = BUF_INIT;
	char err[256];
	if (!imap_mboxname_arg(s, &args[0], &name, &reason)) {
		buf_free(&name);
		append_job_free(j);
		imap_cmd_done(s, IMAP_NO, reason);
		return;
	}
	int rc = imap_mboxname_path(s, buf_str(&name), &path, NULL, err,
				    sizeof err);
	buf_free(&name);
	if (rc < 0) {
		buf_free(&path);
		append_job_free(j);
		imap_cmd_donef(s, IMAP_NO, "[CANNOT] %s", err);
		return;
	}
	j->path = xstrdup(buf_cstr(&path));
	buf_free(&path);
	if (msg->type == IMAP_ARG_EXTERNAL) {
		imap_literal_claim(s, msg->cookie);
		j->spool = msg->cookie;
		if (j->spool->failed || !j->spool->complete) {
			log_kv(LOG_WARN, "event=append_spool_failed proto=imap "
			       "sid=%s error=%s", s->c->id,
			       strerror(j->spool->err_no ? j->spool->err_no : EIO));
			append_job_free(j);
			imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] Cannot store the "
						  "message now");
			return;
		}
	} else {
		j->msg = msg->s;
	}
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, append_work, append_done, j);
}
