/* The SMTP/LMTP session: its life, its input loop (command lines, SASL
 * lines, DATA and BDAT bytes) and its state changes. Commands live in
 * commands.c (table), auth.c (AUTH); the message in deliver_job.c. */
#include "smtp/smtp.h"
#include "smtp/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/sasl.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/spool.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"
#include "net/conn.h"

static const char *state_name(enum smtp_state st)
{
	switch (st) {
	case SMTP_S_INIT:
		return "init";
	case SMTP_S_READY:
		return "ready";
	case SMTP_S_MAIL:
		return "mail";
	case SMTP_S_RCPT:
		return "rcpt";
	}
	return "?";
}

static const char *proto(const struct smtp_session *s)
{
	return config_listener_name(s->kind);
}

void smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->c)
		log_kv(LOG_DEBUG, "event=state proto=%s sid=%s from=%s to=%s",
		       proto(s), s->c->id, state_name(s->state),
		       state_name(st));
	s->state = st;
}

/* Input stays on while we want bytes from the client (a SASL line,
 * message data, the TLS handshake), and off while we wait for anything
 * else, so that a pipelining client is held back by TCP. */
static bool wait_pauses_input(enum smtp_wait w)
{
	switch (w) {
	case SMTP_WAIT_NONE:
	case SMTP_WAIT_SASL:
	case SMTP_WAIT_DATA:
	case SMTP_WAIT_BDAT:
	case SMTP_WAIT_SKIP:
	case SMTP_WAIT_TLS:
		return false;
	case SMTP_WAIT_AUTH:
	case SMTP_WAIT_LOOKUP:
	case SMTP_WAIT_DELIVER:
		return true;
	}
	return true;
}

void smtp_set_wait(struct smtp_session *s, enum smtp_wait w)
{
	s->wait = w;
	if (s->c && !s->c->closing && wait_pauses_input(w))
		conn_pause_input(s->c, true);
}

bool smtp_plaintext_ok(const struct smtp_session *s)
{
	return s->c->tls ||
	       (s->c->loopback && s->cfg->allow_plaintext_auth_loopback) ||
	       s->cfg->allow_plaintext_auth;
}

bool smtp_starttls_ok(const struct smtp_session *s)
{
	return !s->c->tls && s->env->tls && s->kind != LISTEN_SUBMISSIONS;
}

void smtp_close(struct smtp_session *s, const char *reason)
{
	if (s->c && !s->c->closing)
		conn_close(s->c, reason);
}

void smtp_reply(struct smtp_session *s, const char *reply)
{
	if (s->c)
		conn_printf(s->c, "%s\r\n", reply);
}

void smtp_error(struct smtp_session *s, const char *reply)
{
	if (++s->errors >= SMTP_MAX_ERRORS) {
		log_kv(LOG_INFO, "event=too_many_errors proto=%s sid=%s count=%d",
		       proto(s), s->c->id, s->errors);
		smtp_reply(s, "421 4.7.0 Too many errors");
		smtp_close(s, "too_many_errors");
		return;
	}
	smtp_reply(s, reply);
}

const char *smtp_spool_reply(const struct smtp_session *s)
{
	/* RFC 3463 X.3.1: mail system full; else X.3.0. */
	if (s->spool_errno == ENOSPC || s->spool_errno == EDQUOT)
		return "452 4.3.1 Insufficient system storage";
	return "451 4.3.0 Cannot take the message now; try again later";
}

bool smtp_may_relay(const struct smtp_session *s)
{
	return !s->lmtp && (s->auth_user || s->relay_client);
}

/* ---- the message's bytes: memory, then the spool file ---- */

static void spool_close(struct smtp_session *s)
{
	if (s->spool_fd >= 0)
		close(s->spool_fd);
	s->spool_fd = -1;
	s->spooled = 0;
	s->spool_errno = 0;
}

void smtp_message_begin(struct smtp_session *s, bool bdat)
{
	spool_close(s);
	buf_clear(&s->msg);
	buf_clear(&s->pend);
	/* LMTP comes from our own MTA: it always normalizes. */
	unsigned flags = 0;
	if (!bdat && (s->lmtp ||
		      s->cfg->smtp_bare_newline == SMTP_BARE_NL_NORMALIZE))
		flags |= SMTP_DATA_NORMALIZE_LF;
	smtp_data_init(&s->data, &s->pend, s->cfg->max_message_size, flags);
}

static void spool_failed(struct smtp_session *s, const char *what, int e)
{
	s->spool_errno = e ? e : EIO;
	log_kv(LOG_ERR, "event=spool_failed proto=%s sid=%s op=%s error=%s",
	       proto(s), s->c ? s->c->id : "-", what,
	       strerror(s->spool_errno));
}

/* Moves what the reader produced (s->pend) to its place: memory while
 * the message fits in SMTP_SPOOL_MEM; past that the spool file, opened
 * then, with what memory held first. Writes wait for SMTP_SPOOL_WRITE
 * bytes (or flush: the end of a batch of input), so the event loop
 * makes one bounded write per read, as IMAP APPEND does. After a
 * failure the bytes are dropped; the message is answered 451/452 at
 * its end (smtp_message_done). */
static void place_bytes(struct smtp_session *s, bool flush)
{
	struct buf *p = &s->pend;
	if (p->len == 0)
		return;
	if (s->spool_fd < 0 && !s->spool_errno &&
	    s->msg.len + p->len <= SMTP_SPOOL_MEM) {
		buf_append(&s->msg, p->data, p->len);
		buf_clear(p);
		return;
	}
	if (!flush && p->len < SMTP_SPOOL_WRITE)
		return;
	if (s->spool_errno) {
		buf_clear(p);
		return;
	}
	if (s->spool_fd < 0) {
		char *dir = xasprintf("%s/tmp", s->cfg->queue_dir);
		s->spool_fd = spool_open(dir);
		if (s->spool_fd < 0 && errno == ENOENT) {
			/* A fresh instance whose queue runner has not made
			 * the queue yet (queue_init; it sweeps tmp/ at
			 * start). Two mkdirs, no lock: quick. */
			(void)mkdir(s->cfg->queue_dir, 0700);
			(void)mkdir(dir, 0700);
			s->spool_fd = spool_open(dir);
		}
		int e = errno;
		free(dir);
		if (s->spool_fd < 0) {
			spool_failed(s, "open", e);
			buf_clear(p);
			return;
		}
		if (spool_append(s->spool_fd, s->msg.data, s->msg.len) < 0) {
			spool_failed(s, "write", errno);
			buf_clear(p);
			return;
		}
		s->spooled = s->msg.len;
	}
	if (s->msg.len < SMTP_SPOOL_MEM) {
		size_t room = SMTP_SPOOL_MEM - s->msg.len;
		buf_append(&s->msg, p->data, p->len < room ? p->len : room);
	}
	if (spool_append(s->spool_fd, p->data, p->len) < 0)
		spool_failed(s, "write", errno);
	else
		s->spooled += p->len;
	buf_clear(p);
}

void smtp_reset_transaction(struct smtp_session *s)
{
	for (size_t i = 0; i < s->n_rcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].uidx);
		free(s->rcpts[i].orcpt);
	}
	s->n_rcpts = 0;
	for (size_t i = 0; i < s->n_users; i++)
		free(s->users[i]);
	free(s->users);
	s->users = NULL;
	s->n_users = 0;
	free(s->sender);
	s->sender = NULL;
	free(s->pending_addr);
	s->pending_addr = NULL;
	free(s->pending_orcpt);
	s->pending_orcpt = NULL;
	free(s->envid);
	s->envid = NULL;
	s->ret = DSN_RET_NONE;
	smtp_from_check_clear(s);
	s->null_sender = false;
	s->utf8 = false;
	s->body_8bit = false;
	s->bdat = false;
	s->bdat_last = false;
	spool_close(s);
	buf_free(&s->msg);
	buf_free(&s->pend);
	if (s->state > SMTP_S_READY)
		smtp_enter_state(s, SMTP_S_READY);
}

static bool may_read(const struct smtp_session *s)
{
	if (s->dead || !s->c || s->c->closing)
		return false;
	switch (s->wait) {
	case SMTP_WAIT_NONE:
	case SMTP_WAIT_SASL:
	case SMTP_WAIT_DATA:
	case SMTP_WAIT_BDAT:
	case SMTP_WAIT_SKIP:
		return true;
	default:
		return false;
	}
}

/* Feeds buffered bytes to the DATA/BDAT reader or the skipper. Returns
 * false when the input is used up before the end. */
static bool feed_bytes(struct smtp_session *s)
{
	for (;;) {
		const char *p;
		size_t n = conn_peek(s->c, &p);
		/* A chunk of size 0 ("BDAT 0 LAST") is complete at once. */
		bool empty_chunk = (s->wait == SMTP_WAIT_SKIP && s->skip_left == 0) ||
				   (s->wait == SMTP_WAIT_BDAT && s->data.chunk_left == 0);
		if (n == 0 && !empty_chunk) {
			if (s->wait != SMTP_WAIT_SKIP)
				place_bytes(s, true);
			return false;
		}
		size_t used = 0;
		enum smtp_data_status st;
		if (s->wait == SMTP_WAIT_SKIP) {
			used = n < s->skip_left ? n : (size_t)s->skip_left;
			s->skip_left -= used;
			st = s->skip_left == 0 ? SMTP_DATA_DONE
					       : SMTP_DATA_NEED_MORE;
		} else if (s->wait == SMTP_WAIT_DATA) {
			st = smtp_data_feed(&s->data, p, n, &used);
		} else {
			st = smtp_bdat_feed(&s->data, p, n, &used);
		}
		conn_drain(s->c, used);
		if (s->wait != SMTP_WAIT_SKIP)
			place_bytes(s, st == SMTP_DATA_DONE);
		if (st == SMTP_DATA_DONE)
			return true;
	}
}

static void bytes_done(struct smtp_session *s)
{
	if (s->wait == SMTP_WAIT_SKIP) {
		s->wait = SMTP_WAIT_NONE;
		smtp_error(s, s->skip_reply);
		return;
	}
	if (s->wait == SMTP_WAIT_BDAT && !s->bdat_last) {
		s->wait = SMTP_WAIT_NONE;
		if (s->data.too_big) {
			/* RFC 3030 section 2: the chunk was read; the
			 * transaction is over. */
			smtp_reply(s, smtp_err_reply(SMTP_ERR_MSG_TOO_BIG));
			smtp_reset_transaction(s);
			return;
		}
		if (s->spool_errno) {
			smtp_reply(s, smtp_spool_reply(s));
			smtp_reset_transaction(s);
			return;
		}
		conn_printf(s->c, "250 2.0.0 %llu octets received\r\n",
			    (unsigned long long)s->data.size);
		return;
	}
	s->wait = SMTP_WAIT_NONE;
	smtp_message_done(s);
}

/* Before AUTH (submission) and before each MAIL (port 25, as Postfix's
 * smtpd_junk_command_limit), commands come out of a budget
 * (conn_count_command); MAIL, AUTH, STARTTLS and QUIT are free, and a
 * transaction under way starts a new budget. */
static bool command_budget_ok(struct smtp_session *s, struct str line)
{
	if (s->lmtp || s->auth_user)
		return true;
	if (s->state >= SMTP_S_MAIL) {
		conn_reset_command_budget(s->c);
		return true;
	}
	struct smtp_cmd cmd;
	smtp_parse_cmd(line, &cmd);
	switch (cmd.verb) {
	case SMTP_VERB_MAIL:
	case SMTP_VERB_AUTH:
	case SMTP_VERB_STARTTLS:
	case SMTP_VERB_QUIT:
		return true;
	default:
		return conn_count_command(s->c);
	}
}

/* Runs every complete command that is buffered, strictly in order,
 * until one of them starts something that must finish first. */
static void process_input(struct smtp_session *s)
{
	if (s->in_input)
		return;
	s->in_input = true;
	while (may_read(s)) {
		if (s->wait == SMTP_WAIT_DATA || s->wait == SMTP_WAIT_BDAT ||
		    s->wait == SMTP_WAIT_SKIP) {
			if (!feed_bytes(s))
				break;
			bytes_done(s);
			continue;
		}
		bool sasl = s->wait == SMTP_WAIT_SASL;
		buf_clear(&s->line);
		enum conn_line_status st =
			conn_read_line(s->c, &s->line, SMTP_LINE_EXT_MAX);
		if (st == CONN_LINE_NONE)
			break;
		if (!s->first_command_seen) {
			s->first_command_seen = true;
			conn_set_timeout(s->c, s->cfg->smtp_timeout);
		}
		if (st == CONN_LINE_TOO_LONG) {
			if (sasl)
				smtp_sasl_abort(s);
			smtp_error(s, smtp_err_reply(SMTP_ERR_LINE_TOO_LONG));
			continue;
		}
		if (sasl)
			smtp_sasl_input(s, buf_str(&s->line));
		else if (command_budget_ok(s, buf_str(&s->line)))
			smtp_dispatch(s, buf_str(&s->line));
		/* The line may have held a password. */
		if (s->line.data)
			explicit_bzero(s->line.data, s->line.cap);
	}
	s->in_input = false;
	if (!s->dead && s->c && !s->c->closing)
		conn_pause_input(s->c, wait_pauses_input(s->wait));
}

void smtp_resume(struct smtp_session *s)
{
	s->wait = SMTP_WAIT_NONE;
	if (s->dead || !s->c || s->c->closing)
		return;
	conn_pause_input(s->c, false);
	process_input(s);
}

static void session_free(struct smtp_session *s)
{
	smtp_sasl_abort(s);
	smtp_reset_transaction(s);
	if (s->line.data)
		explicit_bzero(s->line.data, s->line.cap);
	buf_free(&s->line);
	free(s->helo);
	free(s->auth_user);
	free(s->attempt_user);
	free(s);
}

void smtp_job_submit(struct smtp_session *s, void (*work)(void *),
		     void (*done)(void *), void *job)
{
	s->pending_jobs++;
	threadpool_submit(s->env->pool, work, done, job);
}

void smtp_job_done(struct smtp_session *s)
{
	s->pending_jobs--;
	if (s->dead && s->pending_jobs == 0)
		session_free(s);
}

static void on_input(void *arg)
{
	process_input(arg);
}

static void on_drain(void *arg)
{
	(void)arg;
}

static void on_tls(void *arg)
{
	struct smtp_session *s = arg;
	char desc[128];
	log_kv(LOG_DEBUG, "event=starttls proto=%s sid=%s tls=%s", proto(s),
	       s->c->id, conn_tls_desc(s->c, desc, sizeof desc));
	/* RFC 3207 section 4.2: forget everything learned before TLS;
	 * the client starts again with EHLO. */
	smtp_sasl_abort(s);
	smtp_reset_transaction(s);
	free(s->helo);
	s->helo = NULL;
	free(s->auth_user);
	s->auth_user = NULL;
	s->esmtp = false;
	s->ext = 0;
	smtp_enter_state(s, SMTP_S_INIT);
	smtp_resume(s);
}

/* RFC 5321 4.5.3.2.7: a server that gives up says so with 421 (as
 * Postfix does) so that the client knows to retry, not to bounce. */
static void on_timeout(void *arg)
{
	struct smtp_session *s = arg;
	log_kv(LOG_INFO, "event=timeout proto=%s sid=%s state=%s", proto(s),
	       s->c->id, s->first_command_seen ? "session" : "greeting");
	conn_printf(s->c, "421 4.4.2 %s Error: timeout exceeded\r\n",
		    s->cfg->hostname);
}

static void on_close(void *arg, const char *reason)
{
	struct smtp_session *s = arg;
	char why[LOG_ESC_MAX];
	log_kv(LOG_INFO, "event=session_end proto=%s sid=%s messages=%u reason=%s",
	       proto(s), s->c->id, s->n_messages,
	       log_esc(why, sizeof why, reason, strlen(reason)));
	s->dead = true;
	s->c = NULL;
	if (s->req_id) {
		auth_client_cancel(s->env->auth, s->req_id);
		s->req_id = 0;
	}
	if (s->pending_jobs == 0)
		session_free(s);
}

static const struct conn_handler smtp_handler = {
	.on_input = on_input,
	.on_drain = on_drain,
	.on_tls = on_tls,
	.on_close = on_close,
	.on_timeout = on_timeout,
};

void smtp_session_start(struct conn *c, const struct session_env *env)
{
	struct smtp_session *s = xcalloc(1, sizeof *s);
	s->c = c;
	s->env = env;
	s->cfg = env->cfg;
	s->kind = c->kind;
	s->lmtp = c->kind == LISTEN_LMTP;
	s->submission = c->kind == LISTEN_SUBMISSION ||
			c->kind == LISTEN_SUBMISSIONS;
	s->relay_client = !s->lmtp &&
			  cidr_list_match(env->relay_nets, c->remote_ip);
	s->state = SMTP_S_INIT;
	buf_init(&s->line);
	buf_init(&s->msg);
	buf_init(&s->pend);
	s->spool_fd = -1;
	conn_attach(c, &smtp_handler, s);
	conn_set_timeout(c, s->cfg->login_timeout);
	conn_printf(c, "220 %s %s postern\r\n", s->cfg->hostname,
		    s->lmtp ? "LMTP" : "ESMTP");
}
