/* The end of a message: the verdict of the DATA/BDAT reader, the loop
 * check, the trace headers (RFC 5321 4.4), Message-ID and Date on
 * submission (RFC 6409 section 8), and delivery on the thread pool:
 * local recipients into their mailboxes, remote ones into the queue.
 * The reply is sent only from the job's done(), after deliver_local()
 * and queue_enqueue() have made the message durable: a 250 is never
 * sent for mail a crash could lose.
 * RFC 3461: RET, ENVID and each remote recipient's NOTIFY and ORCPT go
 * into the queue envelope as received; a local recipient with
 * NOTIFY=SUCCESS gets the sender a "delivered" DSN (5.2.3 (a)), queued
 * like a bounce (the runner hands it to a local sender's INBOX). */
#include "smtp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/diskspace.h"
#include "core/log.h"
#include "mime/header.h"
#include "core/xmalloc.h"
#include "deliver/local.h"
#include "queue/dsn.h"
#include "net/conn.h"
#include "queue/queue.h"

struct smtp_job {
	struct smtp_session *s;
	const struct config *cfg;
	struct buf headers;   /* Return-Path + trace: for the mailboxes */
	struct buf trace;     /* Received (+ Date, Message-ID): the queue's
			       * copy has no Return-Path (RFC 5321 4.4: only
			       * the final delivery adds it) */
	struct queue_env qenv;
	/* the local recipients that asked for NOTIFY=SUCCESS, already
	 * "delivered", for the DSN made once they are */
	struct queue_env success;
	int success_rc;       /* 0 queued, -1 failed, 1 not tried */
	struct buf success_err;
	size_t n_remote;
	int queue_rc;         /* 0 queued, -1 failed, 1 not tried */
	struct buf queue_err;
	struct buf msg;       /* all of the message, or (spool_fd >= 0)
			       * its first SMTP_SPOOL_MEM bytes: the whole
			       * header section either way */
	int spool_fd;         /* the whole message, or -1 */
	uint64_t size;        /* the message's size */
	char **users;
	size_t n_users;
	struct deliver_result *results;
	int64_t now;
	bool no_space;        /* a failure came with a full file system */
	char qid[48];
};

static const char *proto(const struct smtp_session *s)
{
	return config_listener_name(s->kind);
}

static void rfc5322_date(char *out, size_t n, time_t t)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

static void add_submission_headers(struct smtp_session *s, struct smtp_job *j,
				   const char *date);

static void build_headers(struct smtp_session *s, struct smtp_job *j)
{
	char date[64];
	rfc5322_date(date, sizeof date, (time_t)j->now);
	struct buf *h = &j->trace;
	const char *with = s->lmtp ? "LMTP" : s->esmtp ? "ESMTP" : "SMTP";
	buf_printf(h, "Received: from %s (%s)\r\n\tby %s (postern) with %s%s%s "
		      "id %s",
		   s->helo ? s->helo : "unknown", s->c->remote_ip,
		   s->cfg->hostname, with, s->c->tls ? "S" : "",
		   s->auth_user ? "A" : "", j->qid);
	if (s->n_rcpts == 1)
		buf_printf(h, "\r\n\tfor <%s>", s->rcpts[0].addr);
	buf_printf(h, ";\r\n\t%s\r\n", date);
	if (s->submission)
		add_submission_headers(s, j, date);
	buf_printf(&j->headers, "Return-Path: <%s>\r\n",
		   s->sender ? s->sender : "");
	buf_append(&j->headers, j->trace.data, j->trace.len);
}

static void add_submission_headers(struct smtp_session *s, struct smtp_job *j,
				   const char *date)
{
	struct buf *h = &j->trace;
	/* RFC 6409 section 8.2 and 8.3: a submission server may add them.
	 * j->msg holds the whole header section (struct smtp_job). */
	struct str hdr = buf_str(&j->msg);
	struct mime_field f;
	if (!mime_header_find(hdr, "Date", &f))
		buf_printf(h, "Date: %s\r\n", date);
	if (!mime_header_find(hdr, "Message-ID", &f)) {
		unsigned char r[8] = { 0 };
		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
			memset(r, 0, sizeof r);
		buf_printf(h, "Message-ID: <%s.%02x%02x%02x%02x%02x%02x%02x%02x@%s>\r\n",
			   j->qid, r[0], r[1], r[2], r[3], r[4], r[5], r[6],
			   r[7], s->cfg->hostname);
	}
}

/* RFC 3461 5.2.3 (a): the "delivered" DSN, from the null sender to the
 * sender, queued (a pool thread: queue_enqueue blocks). It returns the
 * header only (4.3): ours (trace) and the message's. */
static void queue_delivered_dsn(struct smtp_job *j, const char *data)
{
	size_t hlen;
	mime_header_split(data, j->msg.len, &hlen); /* in msg, see above */
	struct buf orig = BUF_INIT, dsn = BUF_INIT;
	buf_append(&orig, j->trace.data, j->trace.len);
	buf_append(&orig, data, hlen);
	dsn_build(j->cfg, &j->success, DSN_DELIVERED, orig.data, orig.len,
		  j->now, &dsn);
	j->success_rc = queue_enqueue_notification(
		j->cfg->queue_dir, j->success.sender, j->success.body_8bit,
		buf_str(&dsn), j->now, j->success.id, sizeof j->success.id,
		&j->success_err);
	buf_free(&orig);
	buf_free(&dsn);
}

/* After a failed write, is the file system it went to (nearly) full?
 * Then the client hears "452 4.3.1 Insufficient system storage" (RFC
 * 3463 3.4) rather than a generic 451: errno is long gone by now (the
 * store cleaned up after the failure), but a file system without room
 * for this message once more is what ENOSPC and EDQUOT leave behind. */
static bool failed_for_space(const struct smtp_job *j, size_t ok)
{
	uint64_t need = j->size + j->headers.len + 64 * 1024;
	disk_space_forget();
	if (ok < j->n_users && disk_space_low(j->cfg->mail_dir, need, NULL))
		return true;
	return j->queue_rc < 0 &&
	       disk_space_low(j->cfg->queue_dir, need, NULL);
}

static void job_work(void *arg)
{
	struct smtp_job *j = arg;
	const char *data = j->msg.data ? j->msg.data : "";
	size_t ok = 0;
	/* A spooled message is copied from its file in pieces: memory
	 * does not grow with its size. */
	if (j->n_users > 0 && j->spool_fd >= 0)
		ok = deliver_local_fd(j->cfg, buf_str(&j->headers),
				      j->spool_fd, j->size, j->now,
				      (const char *const *)j->users,
				      j->n_users, j->results);
	else if (j->n_users > 0)
		ok = deliver_local(j->cfg, buf_str(&j->headers), data,
				   j->msg.len, j->now,
				   (const char *const *)j->users, j->n_users,
				   j->results);
	j->queue_rc = 1;
	/* A local failure means no 250: then the remote copy is not
	 * queued either, so the client's retry does not send it twice. */
	if (j->n_remote > 0 && ok == j->n_users && j->spool_fd >= 0)
		j->queue_rc = queue_enqueue_fd(j->cfg->queue_dir, &j->qenv,
					       buf_str(&j->trace), j->spool_fd,
					       j->size, &j->queue_err);
	else if (j->n_remote > 0 && ok == j->n_users)
		j->queue_rc = queue_enqueue(j->cfg->queue_dir, &j->qenv,
					    buf_str(&j->trace), data,
					    j->msg.len, &j->queue_err);
	j->no_space = failed_for_space(j, ok);
	/* Only when the client gets its 250: after a 451 it sends the
	 * message again, and the DSN comes with that delivery. */
	j->success_rc = 1;
	if (j->success.n_rcpts > 0 && ok == j->n_users &&
	    (j->n_remote == 0 || j->queue_rc == 0))
		queue_delivered_dsn(j, data);
}

static void job_free(struct smtp_job *j)
{
	buf_free(&j->headers);
	buf_free(&j->trace);
	buf_free(&j->queue_err);
	queue_env_free(&j->qenv);
	queue_env_free(&j->success);
	buf_free(&j->success_err);
	buf_free(&j->msg);
	if (j->spool_fd >= 0)
		close(j->spool_fd); /* unlinked: this frees it */
	for (size_t i = 0; i < j->n_users; i++)
		free(j->users[i]);
	free(j->users);
	free(j->results);
	free(j);
}

/* The worst status among a recipient's mailboxes. */
static enum deliver_status rcpt_status(const struct smtp_job *j,
				       const struct smtp_rcpt *r)
{
	if (r->remote)
		return j->queue_rc == 0 ? DELIVER_OK : DELIVER_TEMP;
	enum deliver_status st = DELIVER_OK;
	for (size_t i = 0; i < r->n_uidx; i++) {
		enum deliver_status u = j->results[r->uidx[i]].status;
		if (u == DELIVER_TEMP)
			return DELIVER_TEMP;
		if (u == DELIVER_PERM)
			st = DELIVER_PERM;
	}
	return st;
}

static void log_failures(struct smtp_session *s, const struct smtp_job *j)
{
	for (size_t i = 0; i < j->n_users; i++) {
		if (j->results[i].status == DELIVER_OK)
			continue;
		char u[LOG_ESC_MAX], why[LOG_ESC_MAX];
		smtp_log_value(u, sizeof u, j->users[i]);
		smtp_log_value(why, sizeof why, j->results[i].why);
		log_kv(LOG_WARN, "event=delivery_failed proto=%s sid=%s id=%s "
		       "user=%s status=%s reason=%s", proto(s), s->c->id,
		       j->qid, u, deliver_status_name(j->results[i].status),
		       why);
	}
	if (j->success_rc == 0) {
		log_kv(LOG_INFO, "event=notification proto=%s sid=%s id=%s "
		       "kind=delivered dsn_id=%s", proto(s), s->c->id, j->qid,
		       j->success.id);
	} else if (j->success_rc < 0) {
		char why[LOG_ESC_MAX];
		smtp_log_value(why, sizeof why,
			       j->success_err.data ? j->success_err.data : "");
		log_kv(LOG_ERR, "event=notification_failed proto=%s sid=%s "
		       "id=%s kind=delivered error=%s", proto(s), s->c->id,
		       j->qid, why);
	}
	if (j->queue_rc < 0) {
		char why[LOG_ESC_MAX];
		smtp_log_value(why, sizeof why,
			       j->queue_err.data ? j->queue_err.data : "");
		log_kv(LOG_ERR, "event=enqueue_failed proto=%s sid=%s id=%s "
		       "recipients=%zu reason=%s", proto(s), s->c->id, j->qid,
		       j->n_remote, why);
	}
}

static void job_done(void *arg)
{
	struct smtp_job *j = arg;
	struct smtp_session *s = j->s;
	if (s->dead || !s->c) {
		/* The client is gone: it never got a 250 and will retry. */
		job_free(j);
		smtp_job_done(s);
		return;
	}
	log_failures(s, j);
	size_t ok = 0, temp = 0;
	for (size_t i = 0; i < s->n_rcpts; i++) {
		enum deliver_status st = rcpt_status(j, &s->rcpts[i]);
		ok += st == DELIVER_OK;
		temp += st == DELIVER_TEMP;
		if (!s->lmtp)
			continue;
		/* RFC 2033 section 4.2: one reply per recipient. */
		if (st == DELIVER_OK)
			conn_printf(s->c, "250 2.1.5 <%s> OK: queued as %s\r\n",
				    s->rcpts[i].addr, j->qid);
		else if (st == DELIVER_TEMP)
			conn_printf(s->c, "452 4.3.1 <%s> Temporary delivery "
					  "failure\r\n", s->rcpts[i].addr);
		else
			conn_printf(s->c, "550 5.2.0 <%s> Mailbox "
					  "unavailable\r\n", s->rcpts[i].addr);
	}
	if (!s->lmtp) {
		/* SMTP has one reply for every recipient: all or nothing.
		 * Recipients already delivered to get the message again
		 * when the client retries after a 451. */
		if (ok == s->n_rcpts)
			conn_printf(s->c, "250 2.0.0 Ok: queued as %s\r\n",
				    j->qid);
		else if ((temp > 0 || ok > 0) && j->no_space)
			smtp_reply(s, "452 4.3.1 Insufficient system storage; "
				      "try again later");
		else if (temp > 0 || ok > 0)
			smtp_reply(s, "451 4.3.0 Temporary delivery failure; "
				      "try again later");
		else
			smtp_reply(s, "550 5.2.0 Mailbox unavailable");
	}
	log_kv(LOG_INFO, "event=message %s proto=%s sid=%s id=%s size=%llu "
	       "recipients=%zu delivered=%zu queued=%zu%s%s",
	       ok == s->n_rcpts ? "result=accepted" : "result=failed",
	       proto(s), s->c->id, j->qid, (unsigned long long)j->size,
	       s->n_rcpts,
	       ok - (j->queue_rc == 0 ? j->n_remote : 0),
	       j->queue_rc == 0 ? j->n_remote : 0,
	       j->queue_rc == 0 ? " queue_id=" : "",
	       j->queue_rc == 0 ? j->qenv.id : "");
	job_free(j);
	smtp_reset_transaction(s);
	smtp_job_done(s);
	smtp_resume(s);
}

static void refuse(struct smtp_session *s, enum smtp_err e)
{
	log_kv(LOG_INFO, "event=message result=refused proto=%s sid=%s "
	       "size=%llu recipients=%zu reason=%s header=%llu fields=%u",
	       proto(s), s->c->id, (unsigned long long)s->data.size,
	       s->n_rcpts, smtp_err_name(e),
	       (unsigned long long)s->data.header_len, s->data.n_fields);
	size_t n = s->lmtp ? s->n_rcpts : 1;
	for (size_t i = 0; i < n; i++)
		smtp_reply(s, smtp_err_reply(e));
	smtp_reset_transaction(s);
}

/* RFC 5321 6.3: a loop is broken by refusing the message. */
static bool too_many_hops(struct smtp_session *s)
{
	size_t hops = mime_header_count(str_make(s->msg.data, s->msg.len),
					"Received");
	if (hops <= (size_t)s->cfg->relay_max_hops)
		return false;
	log_kv(LOG_INFO, "event=message result=refused proto=%s sid=%s "
	       "size=%llu recipients=%zu reason=too_many_hops hops=%zu",
	       proto(s), s->c->id, (unsigned long long)s->data.size,
	       s->n_rcpts, hops);
	size_t n = s->lmtp ? s->n_rcpts : 1;
	for (size_t i = 0; i < n; i++)
		smtp_reply(s, "554 5.4.6 Too many hops (mail loop?)");
	smtp_reset_transaction(s);
	return true;
}

void smtp_message_done(struct smtp_session *s)
{
	enum smtp_err e = smtp_data_verdict(&s->data);
	if (e != SMTP_OK) {
		refuse(s, e);
		return;
	}
	if (s->spool_errno) {
		/* The message could not be kept: the client tries again. */
		log_kv(LOG_WARN, "event=message result=refused proto=%s sid=%s "
		       "size=%llu recipients=%zu reason=spool_failed error=%s",
		       proto(s), s->c->id, (unsigned long long)s->data.size,
		       s->n_rcpts, strerror(s->spool_errno));
		size_t n = s->lmtp ? s->n_rcpts : 1;
		for (size_t i = 0; i < n; i++)
			smtp_reply(s, smtp_spool_reply(s));
		smtp_reset_transaction(s);
		return;
	}
	if (too_many_hops(s))
		return;
	if (s->submission)
		smtp_from_check_start(s);
	else
		smtp_message_deliver(s);
}

void smtp_message_deliver(struct smtp_session *s)
{
	struct smtp_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->cfg = s->cfg;
	j->now = (int64_t)time(NULL);
	snprintf(j->qid, sizeof j->qid, "%s.%u", s->c->id, ++s->n_messages);
	buf_init(&j->headers);
	buf_init(&j->trace);
	buf_init(&j->queue_err);
	buf_init(&j->success_err);
	j->msg = s->msg; /* moved: the job owns the bytes */
	buf_init(&s->msg);
	j->spool_fd = s->spool_fd; /* and the spool file */
	j->size = s->spool_fd >= 0 ? s->spooled : j->msg.len;
	s->spool_fd = -1;
	s->spooled = 0;
	build_headers(s, j);
	queue_env_new(&j->qenv, j->now);
	free(j->qenv.sender);
	j->qenv.sender = xstrdup(s->sender ? s->sender : "");
	j->qenv.body_8bit = s->body_8bit;
	j->qenv.smtputf8 = s->utf8;
	free(j->qenv.auth_user);
	j->qenv.auth_user = xstrdup(s->auth_user ? s->auth_user : "");
	j->qenv.ret = s->ret;
	j->qenv.envid = s->envid ? xstrdup(s->envid) : NULL;
	queue_env_new(&j->success, j->now);
	free(j->success.sender);
	j->success.sender = xstrdup(s->sender ? s->sender : "");
	j->success.body_8bit = s->body_8bit;
	j->success.envid = s->envid ? xstrdup(s->envid) : NULL;
	for (size_t i = 0; i < s->n_rcpts; i++) {
		const struct smtp_rcpt *r = &s->rcpts[i];
		if (r->remote) {
			queue_env_add_rcpt(&j->qenv, r->addr, r->orcpt,
					   r->notify);
			j->n_remote++;
		} else if ((r->notify & DSN_NOTIFY_SUCCESS) &&
			   !s->null_sender) {
			queue_env_add_rcpt(&j->success, r->addr, r->orcpt,
					   r->notify);
			struct queue_rcpt *q =
				&j->success.rcpts[j->success.n_rcpts - 1];
			q->state = QUEUE_RCPT_DELIVERED;
			free(q->status);
			q->status = xstrdup("2.0.0");
			free(q->diag);
			q->diag = xstrdup("delivered to the mailbox");
			q->last_attempt = j->now;
		}
	}
	j->n_users = s->n_users;
	j->users = xcalloc(s->n_users, sizeof *j->users);
	for (size_t i = 0; i < s->n_users; i++)
		j->users[i] = xstrdup(s->users[i]);
	j->results = xcalloc(s->n_users, sizeof *j->results);
	smtp_set_wait(s, SMTP_WAIT_DELIVER);
	smtp_job_submit(s, job_work, job_done, j);
}
