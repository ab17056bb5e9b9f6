/* The IMAP session: its life, its input loop (lines and literals through
 * the incremental parser) and its state changes. Commands live in
 * commands.c (the table) and cmd_*.c; logging in in auth.c; the selected
 * mailbox's updates in sync.c. */
#include "imap/imap.h"
#include "imap/session.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"
#include "net/conn.h"

static const char *state_name(enum imap_state st)
{
	switch (st) {
	case IMAP_NOT_AUTHENTICATED:
		return "not_authenticated";
	case IMAP_AUTHENTICATED:
		return "authenticated";
	case IMAP_SELECTED:
		return "selected";
	case IMAP_LOGOUT:
		return "logout";
	}
	return "?";
}

void imap_enter_state(struct imap_session *s, enum imap_state st)
{
	log_kv(LOG_DEBUG, "event=state proto=imap sid=%s from=%s to=%s",
	       s->c->id, state_name(s->state), state_name(st));
	/* RFC 9051 section 5.4: at least 30 minutes once logged in. */
	if (s->state == IMAP_NOT_AUTHENTICATED && st != IMAP_LOGOUT)
		conn_set_timeout(s->c, s->cfg->imap_idle_timeout);
	s->state = st;
}

/* Input stays off while the session waits for something other than the
 * client, so a pipelining client is held back by TCP rather than by our
 * buffers. SASL and IDLE want the client's next line; the TLS handshake
 * needs the conn layer reading. */
static bool wait_pauses_input(enum imap_wait w)
{
	return w != IMAP_WAIT_NONE && w != IMAP_WAIT_SASL &&
	       w != IMAP_WAIT_TLS && w != IMAP_WAIT_IDLE;
}

void imap_set_wait(struct imap_session *s, enum imap_wait w)
{
	s->wait = w;
	if (s->c && !s->c->closing && wait_pauses_input(w))
		conn_pause_input(s->c, true);
}

bool imap_plaintext_ok(const struct imap_session *s)
{
	return s->c->tls ||
	       (s->c->loopback && s->cfg->allow_plaintext_auth_loopback) ||
	       s->cfg->allow_plaintext_auth;
}

void imap_close(struct imap_session *s, const char *reason)
{
	if (s->c && !s->c->closing)
		conn_close(s->c, reason);
}

static bool may_read(const struct imap_session *s)
{
	return !s->dead && !s->c->closing &&
	       (s->wait == IMAP_WAIT_NONE || s->wait == IMAP_WAIT_SASL ||
		s->wait == IMAP_WAIT_IDLE);
}

/* ---- streamed literals ---- */

static void sinks_abort_all(struct imap_session *s)
{
	for (size_t i = 0; i < s->n_sinks; i++)
		if (s->sinks[i])
			s->sink_ops->abort(s->sinks[i]);
	s->n_sinks = 0;
	s->sink_cur = NULL;
	s->sink_remaining = 0;
}

void imap_literal_claim(struct imap_session *s, void *cookie)
{
	for (size_t i = 0; i < s->n_sinks; i++)
		if (s->sinks[i] == cookie)
			s->sinks[i] = NULL;
}

/* Called once a command is over (done, refused or failed to parse). */
static void command_cleanup(struct imap_session *s)
{
	s->mid_command = false;
	sinks_abort_all(s);
	imap_parser_reset(s->parser);
}

/* A literal announcement after the parser's checks. An APPEND message
 * goes to the command's hook first, whatever its size, so that its size
 * limit is checked before "+ OK" invites the upload (RFC 7889, RFC 4469
 * TOOBIG): the hook streams it (a cookie), keeps it in memory (NULL with
 * no reason, only for in_memory_ok) or refuses it. Other literals over
 * the in-memory limits are refused. RFC 7888 section 4: a refused
 * non-synchronizing literal gets BAD [TOOBIG] and its bytes are
 * discarded; a synchronizing one gets a tagged NO and is never sent. */
static void literal_announced(struct imap_session *s,
			      const struct imap_literal_info *li)
{
	const char *why = "Literal too big";
	imap_literal_open_fn *open = li->append_message
					     ? imap_command_literal_hook(li->command)
					     : NULL;
	if (open) {
		const struct imap_literal_sink *ops = NULL;
		const char *reason = NULL;
		void *cookie = open(s, li, &ops, &reason);
		if (cookie) {
			if (s->n_sinks == s->cap_sinks) {
				s->cap_sinks = s->cap_sinks ? 2 * s->cap_sinks : 4;
				s->sinks = xrealloc(s->sinks,
						    s->cap_sinks * sizeof *s->sinks);
			}
			s->sinks[s->n_sinks++] = cookie;
			s->sink_ops = ops;
			s->sink_cur = cookie;
			s->sink_remaining = li->size;
			bool sync = li->sync;
			uint64_t size = li->size;
			imap_parser_literal_external(s->parser, cookie);
			if (sync)
				imap_writes(s, "+ OK\r\n");
			if (size == 0) {
				ops->end(cookie);
				s->sink_cur = NULL;
			}
			return;
		}
		if (reason)
			why = reason;
		else if (li->in_memory_ok)
			goto in_memory;
	} else if (li->in_memory_ok) {
		goto in_memory;
	}
	log_kv(LOG_INFO,
	       "event=command_error proto=imap sid=%s reason=literal_too_big "
	       "size=%llu",
	       s->c->id, (unsigned long long)li->size);
	/* A hook's reason may bring its own response code. */
	conn_printf(s->c, "%.*s %s %s%s\r\n", (int)li->tag.len, li->tag.p,
		    li->sync ? "NO" : "BAD", why[0] == '[' ? "" : "[TOOBIG] ",
		    why);
	bool sync = li->sync;
	imap_parser_literal_refuse(s->parser);
	if (sync)
		command_cleanup(s);
	/* else the parser discards the bytes, then the rest of the command */
	return;
in_memory:
	/* "+ OK" only now, after the size checks (RFC 9051 section 4.3). */
	if (li->sync)
		imap_writes(s, "+ OK\r\n");
}

static void handle_result(struct imap_session *s, enum imap_parse_result r);

/* A stand-in for a line too long to buffer: its head, filler up to just
 * over the parser's limit, its tail. */
static void feed_long_line(struct imap_session *s)
{
	struct str head, tail;
	conn_long_line(s->c, &head, &tail);
	struct buf b = BUF_INIT;
	buf_reserve(&b, IMAP_LINE_MAX + head.len + tail.len + 2);
	buf_append(&b, head.p, head.len);
	while (b.len <= IMAP_LINE_MAX)
		buf_appendc(&b, 'x');
	buf_appendc(&b, ' ');
	buf_append(&b, tail.p, tail.len);
	handle_result(s, imap_parser_feed_line(s->parser, buf_str(&b)));
	buf_free(&b);
}

/* Feeds the parser's answer back into the session. */
static void handle_result(struct imap_session *s, enum imap_parse_result r)
{
	switch (r) {
	case IMAP_PARSE_MORE:
		return;
	case IMAP_PARSE_DONE:
		s->mid_command = false;
		if (conn_count_command(s->c)) /* budget before login */
			imap_dispatch(s);
		return;
	case IMAP_PARSE_NEED_LITERAL:
		s->mid_command = true;
		literal_announced(s, imap_parser_literal(s->parser));
		return;
	case IMAP_PARSE_ERROR: {
		const struct imap_parse_error *e = imap_parser_error(s->parser);
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO,
		       "event=command_error proto=imap sid=%s reason=%s",
		       s->c->id, log_esc(why, sizeof why, e->reason,
					 strlen(e->reason)));
		if (imap_count_bad(s))
			return;
		if (e->tag_known)
			conn_printf(s->c, "%.*s BAD %s%s\r\n", (int)e->tag.len,
				    e->tag.p, e->toobig ? "[TOOBIG] " : "",
				    e->reason);
		else
			conn_printf(s->c, "* BAD %s%s\r\n",
				    e->toobig ? "[TOOBIG] " : "", e->reason);
		sinks_abort_all(s);
		s->mid_command = e->discarding;
		if (!e->discarding)
			imap_parser_reset(s->parser);
		return;
	}
	}
}

/* Raw literal bytes: to the parser, or to a command's sink. */
static bool feed_literal_bytes(struct imap_session *s)
{
	const char *p;
	size_t avail = conn_peek(s->c, &p);
	if (avail == 0)
		return false;
	if (s->sink_cur) {
		size_t n = avail < s->sink_remaining ? avail
						      : (size_t)s->sink_remaining;
		void *cookie = s->sink_cur;
		s->sink_ops->write(cookie, p, n);
		conn_drain(s->c, n);
		s->sink_remaining -= n;
		if (s->sink_remaining == 0) {
			s->sink_cur = NULL;
			s->sink_ops->end(cookie);
		}
		return true;
	}
	size_t used = 0;
	enum imap_parse_result r =
		imap_parser_feed_literal(s->parser, p, avail, &used);
	conn_drain(s->c, used);
	handle_result(s, r);
	return true;
}

/* Parses every complete command that is buffered, strictly in order,
 * until one of them starts something that must finish first. */
static void process_input(struct imap_session *s)
{
	if (s->in_input)
		return; /* the loop below continues once the command returns */
	s->in_input = true;
	while (may_read(s)) {
		if (s->sink_cur ||
		    (s->wait == IMAP_WAIT_NONE &&
		     imap_parser_literal_remaining(s->parser) > 0)) {
			if (!feed_literal_bytes(s))
				break;
			continue;
		}
		size_t max = s->wait == IMAP_WAIT_SASL ? IMAP_SASL_LINE_MAX
						       : IMAP_LINE_MAX;
		buf_clear(&s->line);
		enum conn_line_status st = conn_read_line(s->c, &s->line, max);
		if (st == CONN_LINE_NONE)
			break;
		if (st == CONN_LINE_TOO_LONG) {
			log_kv(LOG_INFO, "event=command_error proto=imap sid=%s "
			       "reason=line_too_long", s->c->id);
			if (s->wait == IMAP_WAIT_SASL) {
				imap_sasl_abort(s);
				imap_cmd_done(s, IMAP_BAD, "Line too long");
				continue;
			}
			if (s->wait == IMAP_WAIT_IDLE) {
				imap_bad_untagged(s, "Line too long");
				continue;
			}
			/* The parser refuses it as it would the whole line
			 * (imap/parse.h): its head gives the tag back, so
			 * the client is not left waiting, and its tail any
			 * "{N+}" whose octets must be skipped, not read as
			 * commands. */
			feed_long_line(s);
			continue;
		}
		struct str line = buf_str(&s->line);
		if (s->wait == IMAP_WAIT_SASL)
			imap_sasl_input(s, line);
		else if (s->wait == IMAP_WAIT_IDLE)
			imap_idle_input(s, line);
		else
			handle_result(s, imap_parser_feed_line(s->parser, line));
		/* The line may have held a password. */
		if (s->line.data)
			explicit_bzero(s->line.data, s->line.cap);
	}
	s->in_input = false;
	/* Idling (imap_cmd_idle): the line buffer waits for DONE only. */
	if (s->wait == IMAP_WAIT_IDLE)
		buf_free(&s->line);
	if (!s->dead && !s->c->closing)
		conn_pause_input(s->c, wait_pauses_input(s->wait));
}

void imap_resume(struct imap_session *s)
{
	s->wait = IMAP_WAIT_NONE;
	if (s->dead || s->c->closing)
		return;
	conn_pause_input(s->c, false);
	process_input(s);
}

void imap_cmd_reset(struct imap_session *s)
{
	if (s->cmd_ctx && s->cmd_ctx_free)
		s->cmd_ctx_free(s->cmd_ctx);
	s->cmd_ctx = NULL;
	s->cmd_ctx_free = NULL;
	s->cmd = NULL;
	s->cmd_uid = false;
	s->drain_fn = NULL;
	buf_clear(&s->tag);
	command_cleanup(s);
}

static void session_free(struct imap_session *s)
{
	imap_sasl_abort(s);
	sasl_server_clear(&s->sasl);
	if (s->cmd_ctx && s->cmd_ctx_free)
		s->cmd_ctx_free(s->cmd_ctx);
	sinks_abort_all(s);
	free(s->sinks);
	imap_selected_free(s);
	if (s->idle_timer)
		event_free(s->idle_timer);
	imap_parser_free(&s->parser);
	if (s->line.data)
		explicit_bzero(s->line.data, s->line.cap);
	buf_free(&s->line);
	buf_free(&s->tag);
	buf_free(&s->done_text);
	free(s->attempt_user);
	free(s->user);
	free(s->maildir);
	free(s->end_reason);
	free(s);
}

void imap_job_submit(struct imap_session *s, void (*work)(void *),
		     void (*done)(void *), void *job)
{
	s->pending_jobs++;
	threadpool_submit(s->env->pool, work, done, job);
}

void imap_job_submit_heavy(struct imap_session *s, void (*work)(void *),
			   void (*done)(void *), void *job)
{
	s->pending_jobs++;
	threadpool_submit_heavy(s->env->pool, work, done, job);
}

bool imap_job_finish(struct imap_session *s)
{
	s->pending_jobs--;
	if (s->dead) {
		if (s->pending_jobs == 0)
			session_free(s);
		return false;
	}
	return true;
}

static void on_input(void *arg)
{
	process_input(arg);
}

static void on_drain(void *arg)
{
	struct imap_session *s = arg;
	if (s->wait == IMAP_WAIT_DRAIN && s->drain_fn)
		s->drain_fn(s);
}

static void on_tls(void *arg)
{
	struct imap_session *s = arg;
	char desc[128];
	log_kv(LOG_DEBUG, "event=starttls proto=imap sid=%s tls=%s", s->c->id,
	       conn_tls_desc(s->c, desc, sizeof desc));
	imap_resume(s);
}

static void on_timeout(void *arg)
{
	struct imap_session *s = arg;
	/* RFC 9051 section 7.1.5: BYE before closing for inactivity. */
	imap_writes(s, "* BYE Autologout; idle for too long\r\n");
	imap_close(s, "timeout");
}

static void on_close(void *arg, const char *reason)
{
	struct imap_session *s = arg;
	char user[LOG_ESC_MAX], why[LOG_ESC_MAX];
	const char *u = s->user ? s->user : "";
	log_kv(LOG_INFO,
	       "event=logout proto=imap sid=%s user=%s commands=%u reason=%s",
	       s->c->id, log_esc(user, sizeof user, u, strlen(u)),
	       s->n_commands, log_esc(why, sizeof why, reason, strlen(reason)));
	s->dead = true;
	atomic_store(&s->cancel, true);
	s->c = NULL;
	if (s->auth_id) {
		auth_client_cancel(s->env->auth, s->auth_id);
		s->auth_id = 0;
	}
	imap_idle_stop(s);
	imap_sync_unwatch(s);
	if (s->pending_jobs == 0)
		session_free(s);
}

static const struct conn_handler imap_handler = {
	.on_input = on_input,
	.on_drain = on_drain,
	.on_tls = on_tls,
	.on_close = on_close,
	.on_timeout = on_timeout,
};

void imap_session_start(struct conn *c, const struct session_env *env)
{
	struct imap_session *s = xcalloc(1, sizeof *s);
	s->c = c;
	s->env = env;
	s->cfg = env->cfg;
	s->state = IMAP_NOT_AUTHENTICATED;
	s->sel.watch = -1;
	struct imap_parse_limits lim = imap_parse_limits_default();
	lim.max_line = IMAP_LINE_MAX;
	/* LITERAL+ (RFC 7888): non-synchronizing literals of any size the
	 * command accepts; the in-memory bound is max_literal. */
	lim.max_nonsync_literal = 0;
	s->parser = imap_parser_new(&lim);
	buf_init(&s->line);
	buf_init(&s->tag);
	conn_attach(c, &imap_handler, s);
	conn_set_timeout(c, s->cfg->login_timeout);
	struct buf b = BUF_INIT;
	buf_appends(&b, "* OK [");
	imap_capability_write(s, &b);
	buf_appends(&b, "] postern ready\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	log_kv(LOG_DEBUG, "event=connect proto=imap sid=%s remote=%s tls=%s",
	       c->id, c->remote_ip, c->tls ? "yes" : "no");
}
