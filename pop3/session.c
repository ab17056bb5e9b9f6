/* The POP3 session: its life, its input loop and its state changes.
 * Commands live in commands.c (table), auth.c, capa.c and retr.c;
 * the store work at login and QUIT in login.c. */
#include "pop3/pop3.h"
#include "pop3/session.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"
#include "net/conn.h"

static const char *state_name(enum pop3_state st)
{
	switch (st) {
	case POP3_AUTHORIZATION:
		return "authorization";
	case POP3_TRANSACTION:
		return "transaction";
	case POP3_UPDATE:
		return "update";
	}
	return "?";
}

void pop3_enter_state(struct pop3_session *s, enum pop3_state st)
{
	log_kv(LOG_DEBUG, "event=state proto=pop3 sid=%s from=%s to=%s",
	       s->c->id, state_name(s->state), state_name(st));
	s->state = st;
	if (st == POP3_TRANSACTION)
		conn_set_timeout(s->c, s->cfg->pop3_idle_timeout);
}

/* Input stays switched off while the session waits for something
 * other than the client (auth, the store, the socket to drain), so that
 * a pipelining client is held back by TCP rather than by our buffers.
 * During SASL we want the client's next line; during the TLS handshake
 * the conn layer must keep reading, so input stays on for both. */
static bool wait_pauses_input(enum pop3_wait w)
{
	return w != POP3_WAIT_NONE && w != POP3_WAIT_SASL &&
	       w != POP3_WAIT_TLS;
}

void pop3_set_wait(struct pop3_session *s, enum pop3_wait w)
{
	s->wait = w;
	if (s->c && !s->c->closing && wait_pauses_input(w))
		conn_pause_input(s->c, true);
}

bool pop3_plaintext_ok(const struct pop3_session *s)
{
	return s->c->tls ||
	       (s->c->loopback && s->cfg->allow_plaintext_auth_loopback) ||
	       s->cfg->allow_plaintext_auth;
}

void pop3_close(struct pop3_session *s, const char *reason)
{
	if (s->c && !s->c->closing)
		conn_close(s->c, reason);
}

void pop3_bad_command(struct pop3_session *s, const char *text)
{
	s->bad_commands++;
	int max = s->cfg->pop3_max_bad_commands;
	if (max > 0 && s->bad_commands >= max) {
		log_kv(LOG_INFO,
		       "event=too_many_bad_commands proto=pop3 sid=%s count=%d",
		       s->c->id, s->bad_commands);
		conn_writes(s->c, "-ERR too many bad commands\r\n");
		pop3_close(s, "too_many_bad_commands");
		return;
	}
	conn_printf(s->c, "-ERR %s\r\n", text);
}

static bool may_read(const struct pop3_session *s)
{
	return !s->dead && !s->c->closing &&
	       (s->wait == POP3_WAIT_NONE || s->wait == POP3_WAIT_SASL);
}

/* Runs every complete command line that is buffered, strictly in
 * order, until one of them starts something that must finish first. */
static void process_input(struct pop3_session *s)
{
	if (s->in_input)
		return; /* the loop below continues once the command returns */
	s->in_input = true;
	while (may_read(s)) {
		bool sasl = s->wait == POP3_WAIT_SASL;
		buf_clear(&s->line);
		enum conn_line_status st = conn_read_line(
			s->c, &s->line, sasl ? POP3_SASL_LINE_MAX : POP3_LINE_MAX);
		if (st == CONN_LINE_NONE)
			break;
		if (st == CONN_LINE_TOO_LONG) {
			if (sasl)
				pop3_sasl_abort(s);
			pop3_bad_command(s, "line too long");
			continue;
		}
		if (sasl)
			pop3_sasl_input(s, buf_str(&s->line));
		else if (conn_count_command(s->c)) /* budget before login */
			pop3_dispatch(s, buf_str(&s->line));
		/* The line may have held a password. */
		if (s->line.data)
			explicit_bzero(s->line.data, s->line.cap);
	}
	s->in_input = false;
	if (!s->dead && !s->c->closing)
		conn_pause_input(s->c, wait_pauses_input(s->wait));
}

void pop3_resume(struct pop3_session *s)
{
	s->wait = POP3_WAIT_NONE;
	if (s->dead || s->c->closing)
		return;
	conn_pause_input(s->c, false);
	process_input(s);
}

static void session_free(struct pop3_session *s)
{
	pop3_sasl_abort(s);
	pop3_stream_abort(s);
	pop3_maildrop_free(s);
	if (s->line.data)
		explicit_bzero(s->line.data, s->line.cap);
	buf_free(&s->line);
	free(s->apop_ts);
	free(s->user_pending);
	free(s->user);
	free(s->attempt_user);
	free(s);
}

void pop3_job_submit(struct pop3_session *s, void (*work)(void *),
		     void (*done)(void *), void *job)
{
	s->pending_jobs++;
	threadpool_submit(s->env->pool, work, done, job);
}

void pop3_job_done(struct pop3_session *s)
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
	struct pop3_session *s = arg;
	if (s->wait == POP3_WAIT_STREAM)
		pop3_stream_pump(s);
}

static void on_tls(void *arg)
{
	struct pop3_session *s = arg;
	char desc[128];
	log_kv(LOG_DEBUG, "event=stls proto=pop3 sid=%s tls=%s", s->c->id,
	       conn_tls_desc(s->c, desc, sizeof desc));
	/* RFC 2595 section 4: forget everything learned before TLS. */
	free(s->user_pending);
	s->user_pending = NULL;
	pop3_resume(s);
}

static void on_close(void *arg, const char *reason)
{
	struct pop3_session *s = arg;
	char user[LOG_ESC_MAX], why[LOG_ESC_MAX];
	const char *u = s->user ? s->user : "";
	log_kv(LOG_INFO,
	       "event=logout proto=pop3 sid=%s user=%s retr=%u retr_bytes=%llu "
	       "top=%u dele=%u deleted=%u reason=%s",
	       s->c->id, log_esc(user, sizeof user, u, strlen(u)), s->n_retr,
	       (unsigned long long)s->retr_bytes, s->n_top, s->n_dele,
	       s->n_expunged,
	       log_esc(why, sizeof why, reason, strlen(reason)));
	s->dead = true;
	s->c = NULL;
	if (s->auth_id) {
		auth_client_cancel(s->env->auth, s->auth_id);
		s->auth_id = 0;
	}
	/* A connection that ends before QUIT commits nothing: the maildrop
	 * (and its lock) is released unchanged. */
	if (s->pending_jobs == 0)
		session_free(s);
}

static const struct conn_handler pop3_handler = {
	.on_input = on_input,
	.on_drain = on_drain,
	.on_tls = on_tls,
	.on_close = on_close,
};

void pop3_session_start(struct conn *c, const struct session_env *env)
{
	struct pop3_session *s = xcalloc(1, sizeof *s);
	s->c = c;
	s->env = env;
	s->cfg = env->cfg;
	s->state = POP3_AUTHORIZATION;
	s->lock_fd = -1;
	buf_init(&s->line);
	conn_attach(c, &pop3_handler, s);
	conn_set_timeout(c, s->cfg->login_timeout);
	if (s->cfg->pop3_apop) {
		s->apop_ts = pop3_apop_timestamp(s->cfg->hostname);
		conn_printf(c, "+OK postern ready. %s\r\n", s->apop_ts);
	} else {
		conn_writes(c, "+OK postern ready.\r\n");
	}
}
