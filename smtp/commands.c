/* The command table (each verb with the states it is allowed in) and
 * the commands other than AUTH.
 * The dispatcher checks the verb, the state and the protocol (LHLO only
 * on LMTP, EHLO/HELO never there) in one place; handlers check their
 * own arguments, reply and return, then act, so a refused command
 * changes nothing. */
#include "smtp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <time.h>

#include "core/cidr.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "smtp/storage.h"
#include "smtp/rcpt_limit.h"

#define ST_INIT (1u << SMTP_S_INIT)
#define ST_READY (1u << SMTP_S_READY)
#define ST_MAIL (1u << SMTP_S_MAIL)
#define ST_RCPT (1u << SMTP_S_RCPT)
#define ST_ANY (ST_INIT | ST_READY | ST_MAIL | ST_RCPT)

/* Only on SMTP/submission, only on LMTP. */
#define F_SMTP 0x1u
#define F_LMTP 0x2u
/* The line may be up to SMTP_LINE_EXT_MAX (parameters, SASL IR). */
#define F_LONG 0x4u

typedef void smtp_cmd_fn(struct smtp_session *s, const struct smtp_cmd *cmd);

struct smtp_command {
	enum smtp_verb verb;
	smtp_cmd_fn *fn;
	unsigned states;
	unsigned flags;
	const char *refusal; /* reply when the state is wrong */
};

static smtp_cmd_fn cmd_ehlo, cmd_helo, cmd_mail, cmd_rcpt, cmd_data, cmd_bdat,
	cmd_rset, cmd_noop, cmd_quit, cmd_help, cmd_vrfy, cmd_expn,
	cmd_starttls, cmd_auth;

#define NEED_HELO "503 5.5.1 Send EHLO first"
#define NEED_LHLO "503 5.5.1 Send LHLO first"

static const struct smtp_command commands[] = {
	{ SMTP_VERB_EHLO, cmd_ehlo, ST_ANY, F_SMTP, NULL },
	{ SMTP_VERB_HELO, cmd_helo, ST_ANY, F_SMTP, NULL },
	{ SMTP_VERB_LHLO, cmd_ehlo, ST_ANY, F_LMTP, NULL },
	{ SMTP_VERB_MAIL, cmd_mail, ST_READY, F_LONG,
	  "503 5.5.1 Nested MAIL command" },
	{ SMTP_VERB_RCPT, cmd_rcpt, ST_MAIL | ST_RCPT, F_LONG,
	  "503 5.5.1 Need MAIL before RCPT" },
	{ SMTP_VERB_DATA, cmd_data, ST_RCPT, 0,
	  "503 5.5.1 Need RCPT before DATA" },
	{ SMTP_VERB_BDAT, cmd_bdat, ST_ANY, 0, NULL },
	{ SMTP_VERB_RSET, cmd_rset, ST_ANY, 0, NULL },
	{ SMTP_VERB_NOOP, cmd_noop, ST_ANY, 0, NULL },
	{ SMTP_VERB_QUIT, cmd_quit, ST_ANY, 0, NULL },
	{ SMTP_VERB_HELP, cmd_help, ST_ANY, 0, NULL },
	{ SMTP_VERB_VRFY, cmd_vrfy, ST_ANY, 0, NULL },
	{ SMTP_VERB_EXPN, cmd_expn, ST_ANY, 0, NULL },
	{ SMTP_VERB_STARTTLS, cmd_starttls, ST_INIT | ST_READY, 0,
	  "503 5.5.1 STARTTLS not allowed during a mail transaction" },
	{ SMTP_VERB_AUTH, cmd_auth, ST_READY, F_LONG, NULL },
};

void smtp_log_value(char *dst, size_t n, const char *v)
{
	log_esc(dst, n, v, strlen(v));
}

static const char *proto(const struct smtp_session *s)
{
	return config_listener_name(s->kind);
}

void smtp_dispatch(struct smtp_session *s, struct str line)
{
	struct smtp_cmd cmd;
	enum smtp_err e = smtp_parse_cmd(line, &cmd);
	if (e == SMTP_ERR_UNKNOWN_VERB && line.len + 2 > SMTP_LINE_MAX)
		e = SMTP_ERR_LINE_TOO_LONG;
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	const struct smtp_command *def = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (commands[i].verb == cmd.verb)
			def = &commands[i];
	if ((!def || !(def->flags & F_LONG)) && line.len + 2 > SMTP_LINE_MAX) {
		smtp_error(s, smtp_err_reply(SMTP_ERR_LINE_TOO_LONG));
		return;
	}
	if (!def || ((def->flags & F_SMTP) && s->lmtp) ||
	    ((def->flags & F_LMTP) && !s->lmtp)) {
		smtp_error(s, smtp_err_reply(SMTP_ERR_UNKNOWN_VERB));
		return;
	}
	log_kv(LOG_DEBUG, "event=command proto=%s sid=%s verb=%s", proto(s),
	       s->c->id, smtp_verb_name(cmd.verb));
	if (!(def->states & (1u << s->state))) {
		const char *r = def->refusal;
		if (s->state == SMTP_S_INIT)
			r = s->lmtp ? NEED_LHLO : NEED_HELO;
		smtp_error(s, r);
		return;
	}
	def->fn(s, &cmd);
}

/* ---- greeting ------------------------------------------------------- */

static void greet(struct smtp_session *s, const struct smtp_cmd *cmd,
		  bool esmtp)
{
	struct str name;
	bool valid;
	enum smtp_err e = smtp_parse_helo(cmd->args, &name, &valid);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	/* RFC 5321 4.1.4: EHLO also resets any transaction. */
	smtp_reset_transaction(s);
	free(s->helo);
	s->helo = xstrndup(name.p, name.len);
	s->esmtp = esmtp;
	char h[LOG_ESC_MAX];
	log_kv(LOG_INFO, "event=helo proto=%s sid=%s verb=%s helo=%s valid=%s",
	       proto(s), s->c->id, smtp_verb_name(cmd->verb),
	       log_esc(h, sizeof h, name.p, name.len), valid ? "yes" : "no");
	if (!esmtp) {
		s->ext = 0;
		conn_printf(s->c, "250 %s\r\n", s->cfg->hostname);
		smtp_enter_state(s, SMTP_S_READY);
		return;
	}
	/* PLAIN and LOGIN send the password: only where plaintext is
	 * allowed. CRAM-MD5 does not, so it may be offered before TLS. */
	bool offer = s->submission && !s->auth_user;
	bool plain = offer && smtp_plaintext_ok(s);
	bool cram = offer && s->cfg->auth_cram_md5;
	/* DSN (RFC 3461) on SMTP and submission, not on LMTP: LMTP only
	 * ever delivers into our mailboxes for an MTA in front of us,
	 * which then issues the "relayed" DSN itself (RFC 3461 5.2.2),
	 * knowing the envelope better than we do. */
	/* On port 25 a stranger's MAIL FROM is unverified: a "delivered"
	 * DSN would send our header section to whoever it names (a
	 * reflector). Postfix's DSN_README answer is ours: DSN is offered
	 * only to trusted clients (relay_networks, and submission after
	 * AUTH), unless dsn_success_untrusted says otherwise. Without it
	 * the client's MTA, which knows its sender, reports "relayed"
	 * itself (RFC 3461 5.2.2 (b)). */
	bool dsn = !s->lmtp && (s->submission || s->relay_client ||
				s->cfg->dsn_success_untrusted);
	s->ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
		 (s->submission ? SMTP_EXT_AUTH : 0) |
		 (dsn ? SMTP_EXT_DSN : 0);
	conn_printf(s->c, "250-%s\r\n", s->cfg->hostname);
	conn_writes(s->c, "250-PIPELINING\r\n");
	conn_printf(s->c, "250-SIZE %zu\r\n", s->cfg->max_message_size);
	conn_writes(s->c, "250-8BITMIME\r\n");
	conn_writes(s->c, "250-ENHANCEDSTATUSCODES\r\n");
	conn_writes(s->c, "250-SMTPUTF8\r\n");
	if (s->ext & SMTP_EXT_DSN)
		conn_writes(s->c, "250-DSN\r\n");
	if (smtp_starttls_ok(s))
		conn_writes(s->c, "250-STARTTLS\r\n");
	if (plain || cram)
		conn_printf(s->c, "250-AUTH%s%s\r\n", plain ? " PLAIN LOGIN" : "",
			    cram ? " CRAM-MD5" : "");
	conn_writes(s->c, "250 CHUNKING\r\n");
	smtp_enter_state(s, SMTP_S_READY);
}

static void cmd_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	greet(s, cmd, true);
}

static void cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	greet(s, cmd, false);
}

/* ---- MAIL and RCPT -------------------------------------------------- */

static char *path_address(const struct smtp_path *p)
{
	if (p->flags & SMTP_PATH_POSTMASTER)
		return xstrdup("postmaster");
	if (p->flags & SMTP_PATH_NULL)
		return xstrdup("");
	struct buf b = BUF_INIT;
	buf_append(&b, p->local, p->local_len);
	buf_appendc(&b, '@');
	buf_append(&b, p->domain, p->domain_len);
	char *r = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return r;
}

static void lookup_done(void *arg, const struct auth_rcpt_result *res);

/* Asks the auth process about s->pending_addr; the answer comes back in
 * lookup_done(). */
static void start_lookup(struct smtp_session *s, bool sender)
{
	s->pending_is_sender = sender;
	smtp_set_wait(s, SMTP_WAIT_LOOKUP);
	s->req_id = auth_client_lookup_rcpt(s->env->auth,
					    str_from_cstr(s->pending_addr),
					    s->c->id, lookup_done, s);
	if (s->req_id == 0) {
		/* Not available: answer as the auth process being down. */
		struct auth_rcpt_result r = { .status = AUTH_RCPT_TEMPFAIL,
					      .reason = "lookup_unavailable" };
		lookup_done(s, &r);
	}
}

static void log_mail(struct smtp_session *s, const char *result,
		     const char *reason)
{
	char a[LOG_ESC_MAX];
	smtp_log_value(a, sizeof a, s->sender ? s->sender : "");
	log_kv(LOG_INFO, "event=mail_from proto=%s sid=%s from=%s result=%s%s%s",
	       proto(s), s->c->id, a, result, reason ? " reason=" : "",
	       reason ? reason : "");
}

static void cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->submission && !s->auth_user) {
		smtp_error(s, "530 5.7.0 Authentication required");
		return;
	}
	struct smtp_path path;
	struct smtp_mail_params params;
	enum smtp_err e = smtp_parse_mail(cmd->args, s->ext, &path, &params);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	if (params.has_size && params.size > s->cfg->max_message_size) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
			      "message size");
		return;
	}
	if (smtp_storage_low(s, params.has_size ? params.size : 0)) {
		smtp_reply(s, SMTP_STORAGE_REPLY);
		return;
	}
	if ((path.flags & SMTP_PATH_NULL) && s->submission) {
		smtp_reply(s, "553 5.7.1 Sender address not owned by you");
		return;
	}
	s->null_sender = (path.flags & SMTP_PATH_NULL) != 0;
	s->utf8 = params.smtputf8;
	s->body_8bit = params.body == SMTP_BODY_8BITMIME;
	s->ret = params.ret;
	free(s->envid);
	s->envid = params.has_envid
			   ? xstrndup(params.envid.p, params.envid.len)
			   : NULL;
	free(s->sender);
	s->sender = path_address(&path);
	if (s->submission) {
		/* RFC 6409 section 6.1: the sender must be the user's. */
		free(s->pending_addr);
		s->pending_addr = xstrdup(s->sender);
		start_lookup(s, true);
		return;
	}
	if (!s->lmtp && !s->relay_client && !s->null_sender) {
		/* A stranger on port 25 naming one of our own domains as
		 * the sender forges it: our users send through submission
		 * (or from relay_networks). Asked like a recipient. */
		free(s->pending_addr);
		s->pending_addr = xstrdup(s->sender);
		start_lookup(s, true);
		return;
	}
	log_mail(s, "accepted", NULL);
	smtp_reply(s, "250 2.1.0 OK");
	smtp_enter_state(s, SMTP_S_MAIL);
}

static void log_rcpt(struct smtp_session *s, const char *result,
		     const char *reason)
{
	char a[LOG_ESC_MAX], r[LOG_ESC_MAX];
	smtp_log_value(a, sizeof a, s->pending_addr ? s->pending_addr : "");
	smtp_log_value(r, sizeof r, reason ? reason : "");
	log_kv(LOG_INFO, "event=rcpt proto=%s sid=%s to=%s result=%s reason=%s",
	       proto(s), s->c->id, a, result, r);
}

static void cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path path;
	struct smtp_rcpt_params params;
	enum smtp_err e = smtp_parse_rcpt(cmd->args, s->ext, s->utf8, &path,
					  &params);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	free(s->pending_addr);
	s->pending_addr = path_address(&path);
	s->pending_notify = params.notify;
	free(s->pending_orcpt);
	s->pending_orcpt = params.has_orcpt
				   ? xstrndup(params.orcpt.p, params.orcpt.len)
				   : NULL;
	if (path.flags & (SMTP_PATH_SOURCE_ROUTE | SMTP_PATH_PERCENT |
			  SMTP_PATH_BANG | SMTP_PATH_QUOTED)) {
		log_rcpt(s, "refused", "relay_syntax");
		smtp_error(s, "550 5.7.1 Relay access denied: source routes, "
			      "'%', '!' and quoted local parts are not "
			      "accepted");
		return;
	}
	if (s->n_rcpts >= SMTP_MAX_RCPTS) {
		log_rcpt(s, "refused", "too_many_recipients");
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	start_lookup(s, false);
}

bool smtp_rcpt_has_user(const struct auth_rcpt_result *res, const char *user)
{
	for (size_t i = 0; i < res->n_users; i++)
		if (!strcmp(res->users[i], user))
			return true;
	return false;
}

static void sender_done(struct smtp_session *s,
			const struct auth_rcpt_result *res)
{
	if (res->status == AUTH_RCPT_ERROR ||
	    res->status == AUTH_RCPT_TEMPFAIL) {
		log_mail(s, "tempfail", res->reason ? res->reason : "lookup");
		smtp_reply(s, "451 4.3.0 Temporary lookup failure; try again "
			      "later");
		return;
	}
	if (!s->submission) {
		if (res->status != AUTH_RCPT_NOT_LOCAL) {
			log_mail(s, "refused", "local_sender_from_outside");
			smtp_error(s, "550 5.7.1 Sender address in a local "
				      "domain: use submission (port 587) or "
				      "the relay network");
			return;
		}
	} else if (res->status != AUTH_RCPT_LOCAL ||
		   !smtp_rcpt_has_user(res, s->auth_user)) {
		log_mail(s, "refused", "not_owned");
		smtp_error(s, "553 5.7.1 Sender address not owned by you");
		return;
	}
	log_mail(s, "accepted", NULL);
	smtp_reply(s, "250 2.1.0 OK");
	smtp_enter_state(s, SMTP_S_MAIL);
}

/* Adds the recipient with its mailboxes; false if over SMTP_MAX_USERS. */
static bool add_rcpt(struct smtp_session *s, const struct auth_rcpt_result *res)
{
	size_t *uidx = xcalloc(res->n_users ? res->n_users : 1, sizeof *uidx);
	size_t added = 0;
	for (size_t i = 0; i < res->n_users; i++) {
		size_t j;
		for (j = 0; j < s->n_users; j++)
			if (!strcmp(s->users[j], res->users[i]))
				break;
		if (j == s->n_users) {
			if (s->n_users >= SMTP_MAX_USERS) {
				/* Undo this recipient's new names. */
				for (size_t k = s->n_users - added;
				     k < s->n_users; k++)
					free(s->users[k]);
				s->n_users -= added;
				free(uidx);
				return false;
			}
			s->users = xrealloc(s->users, (s->n_users + 1) *
							      sizeof *s->users);
			s->users[s->n_users++] = xstrdup(res->users[i]);
			added++;
		}
		uidx[i] = j;
	}
	struct smtp_rcpt *r = &s->rcpts[s->n_rcpts++];
	r->addr = s->pending_addr;
	s->pending_addr = NULL;
	r->uidx = uidx;
	r->n_uidx = res->n_users;
	r->remote = false;
	r->notify = s->pending_notify;
	r->orcpt = s->pending_orcpt;
	s->pending_orcpt = NULL;
	return true;
}

/* A recipient at another domain, for the queue. The same address
 * twice is one recipient (RFC 5321 3.3 lets a server merge them), so
 * it is not sent twice. */
static void add_remote_rcpt(struct smtp_session *s)
{
	bool dup = false;
	for (size_t i = 0; i < s->n_rcpts; i++)
		if (s->rcpts[i].remote &&
		    !strcmp(s->rcpts[i].addr, s->pending_addr))
			dup = true;
	char a[LOG_ESC_MAX];
	smtp_log_value(a, sizeof a, s->pending_addr);
	log_kv(LOG_INFO, "event=rcpt proto=%s sid=%s to=%s result=accepted "
	       "remote=yes%s%s", proto(s), s->c->id, a,
	       s->auth_user ? "" : " relay_client=yes",
	       dup ? " duplicate=yes" : "");
	if (!dup) {
		struct smtp_rcpt *r = &s->rcpts[s->n_rcpts++];
		r->addr = s->pending_addr;
		s->pending_addr = NULL;
		r->uidx = NULL;
		r->n_uidx = 0;
		r->remote = true;
		r->notify = s->pending_notify;
		r->orcpt = s->pending_orcpt;
		s->pending_orcpt = NULL;
	}
	smtp_reply(s, "250 2.1.5 OK");
	if (s->state == SMTP_S_MAIL)
		smtp_enter_state(s, SMTP_S_RCPT);
}

/* The range of an address literal (RFC 5321 4.1.3) at the end of addr
 * that outbound mail may not go to -- loopback, private, link-local...
 * unless relay_allowed_internal lists it -- or NULL. The list is parsed
 * here: address literals are rare, and the worker keeps no copy. */
static const char *literal_internal(const struct smtp_session *s,
				    const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t len = at ? strlen(at + 1) : 0;
	if (len < 3 || at[1] != '[' || at[len] != ']')
		return NULL;
	char ip[SMTP_DOMAIN_MAX + 1];
	const char *p = at + 2;
	size_t l = len - 2;
	if (l > 5 && !strncasecmp(p, "IPv6:", 5)) {
		p += 5;
		l -= 5;
	}
	if (l >= sizeof ip)
		return NULL;
	memcpy(ip, p, l);
	ip[l] = '\0';
	unsigned char a[16];
	if (!cidr_addr_parse(ip, a))
		return NULL;
	const char *range = cidr_addr_internal(a);
	if (!range)
		return NULL;
	struct cidr_list allowed;
	struct buf err = BUF_INIT;
	bool ok = cidr_list_parse(s->cfg->relay_allowed_internal, &allowed,
				  &err) == 0 &&
		  cidr_list_match_addr(&allowed, a);
	cidr_list_free(&allowed);
	buf_free(&err);
	return ok ? NULL : range;
}

/* The reply to an unknown recipient, late (delay_done) when the
 * client has had too many. */
struct unknown_delay {
	struct smtp_session *s;
	bool hang_up;
};

static void delay_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct unknown_delay *d = arg;
	struct smtp_session *s = d->s;
	if (!s->dead && s->c) {
		if (d->hang_up) {
			smtp_reply(s, "421 4.7.0 Too many unknown recipients; "
				      "closing connection");
			smtp_close(s, "too_many_unknown_recipients");
		} else {
			smtp_error(s, "550 5.1.1 No such user");
		}
		smtp_resume(s);
	}
	free(d);
	smtp_job_done(s); /* may free s if it closed meanwhile */
}

/* Postfix's smtpd_soft/hard_error_limit for RCPT: a stranger (port 25,
 * no AUTH, not relay_networks) past smtp_rcpt_error_soft_limit unknown
 * recipients -- in this session or from its address in the last
 * smtp_rcpt_error_window seconds -- waits smtp_rcpt_error_delay_ms for
 * each further 550; past the hard limit the session ends with 421.
 * The wait is a timer: input stays paused (SMTP_WAIT_LOOKUP) and the
 * loop serves everyone else. True when the reply went out now. */
static bool unknown_rcpt(struct smtp_session *s)
{
	s->unknown_rcpts++;
	if (s->lmtp || s->auth_user || s->relay_client) {
		smtp_error(s, "550 5.1.1 No such user");
		return true;
	}
	const struct config *cfg = s->cfg;
	unsigned n = rcpt_limit_note(rcpt_limit_table(), s->c->remote_ip,
				     (int64_t)time(NULL),
				     cfg->smtp_rcpt_error_window);
	if (n < s->unknown_rcpts)
		n = s->unknown_rcpts;
	if (n <= (unsigned)cfg->smtp_rcpt_error_soft_limit &&
	    n <= (unsigned)cfg->smtp_rcpt_error_hard_limit) {
		smtp_error(s, "550 5.1.1 No such user");
		return true;
	}
	struct unknown_delay *d = xcalloc(1, sizeof *d);
	d->s = s;
	d->hang_up = n > (unsigned)cfg->smtp_rcpt_error_hard_limit;
	log_kv(LOG_INFO, "event=rcpt_throttle proto=%s sid=%s ip=%s "
	       "unknown=%u delay_ms=%d%s", proto(s), s->c->id, s->c->remote_ip,
	       n, cfg->smtp_rcpt_error_delay_ms,
	       d->hang_up ? " action=disconnect" : "");
	struct timeval tv = {
		.tv_sec = cfg->smtp_rcpt_error_delay_ms / 1000,
		.tv_usec = (cfg->smtp_rcpt_error_delay_ms % 1000) * 1000,
	};
	s->pending_jobs++; /* the session outlives the timer */
	if (event_base_once(s->env->base, -1, EV_TIMEOUT, delay_done, d,
			    &tv) != 0)
		delay_done(-1, EV_TIMEOUT, d);
	return false;
}

/* True when the reply went out; false when it comes later (and the
 * input stays paused until then). */
static bool rcpt_done(struct smtp_session *s,
		      const struct auth_rcpt_result *res)
{
	const char *reason = res->reason ? res->reason : "";
	switch (res->status) {
	case AUTH_RCPT_LOCAL:
		if (res->n_users == 0 || !add_rcpt(s, res)) {
			log_rcpt(s, "refused", "too_many_mailboxes");
			smtp_reply(s, "452 4.5.3 Too many recipients");
			return true;
		}
		{
			char a[LOG_ESC_MAX];
			smtp_log_value(a, sizeof a,
				       s->rcpts[s->n_rcpts - 1].addr);
			log_kv(LOG_INFO, "event=rcpt proto=%s sid=%s to=%s "
			       "result=accepted mailboxes=%zu",
			       proto(s), s->c->id, a, res->n_users);
		}
		smtp_reply(s, "250 2.1.5 OK");
		if (s->state == SMTP_S_MAIL)
			smtp_enter_state(s, SMTP_S_RCPT);
		return true;
	case AUTH_RCPT_UNKNOWN:
		log_rcpt(s, "refused", "unknown_user");
		return unknown_rcpt(s);
	case AUTH_RCPT_NOT_LOCAL:
		if (smtp_may_relay(s)) {
			const char *range = literal_internal(s, s->pending_addr);
			if (range) {
				/* The runner would refuse it too; saying so
				 * now spares a bounce (route_check_addr). */
				log_rcpt(s, "refused", "internal_literal");
				smtp_error(s, "550 5.7.1 Mail to internal "
					      "addresses is not relayed");
				return true;
			}
			add_remote_rcpt(s);
			return true;
		}
		if (s->submission) {
			/* Not reached: submission needs AUTH before MAIL. */
			log_rcpt(s, "refused", "relay_denied");
			smtp_error(s, "554 5.7.1 Relay access denied");
		} else {
			log_rcpt(s, "refused", "relay_denied");
			smtp_error(s, "554 5.7.1 Relay access denied");
		}
		return true;
	case AUTH_RCPT_ERROR:
	case AUTH_RCPT_TEMPFAIL:
		log_rcpt(s, "tempfail", reason);
		smtp_reply(s, "451 4.3.0 Temporary lookup failure; try again "
			      "later");
		return true;
	}
	return true;
}

static void lookup_done(void *arg, const struct auth_rcpt_result *res)
{
	struct smtp_session *s = arg;
	s->req_id = 0;
	if (s->dead || !s->c)
		return;
	if (s->pending_is_sender)
		sender_done(s, res);
	else if (!rcpt_done(s, res))
		return; /* answered late: delay_done resumes */
	/* Called from start_lookup() only when the request could not be
	 * made: then the input loop is still on the stack and goes on. */
	if (s->in_input)
		s->wait = SMTP_WAIT_NONE;
	else
		smtp_resume(s);
}

/* ---- message data --------------------------------------------------- */

static void cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	enum smtp_err e = smtp_check_no_args(cmd);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	if (s->bdat) {
		smtp_error(s, "503 5.5.1 DATA not allowed after BDAT");
		return;
	}
	smtp_message_begin(s, false);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_set_wait(s, SMTP_WAIT_DATA);
}

static void cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	uint64_t size;
	bool last;
	enum smtp_err e = smtp_parse_bdat(cmd->args, s->cfg->max_message_size,
					  &size, &last);
	if (e == SMTP_ERR_BDAT_SYNTAX) {
		/* The chunk's end is unknown: so is the next command. */
		smtp_reply(s, smtp_err_reply(e));
		smtp_close(s, "bdat_syntax");
		return;
	}
	const char *refuse = NULL;
	if (s->state == SMTP_S_INIT)
		refuse = s->lmtp ? NEED_LHLO : NEED_HELO;
	else if (s->state != SMTP_S_RCPT)
		refuse = "503 5.5.1 Need RCPT before BDAT";
	if (refuse) {
		/* RFC 3030 section 2: the chunk is read and discarded. */
		s->skip_left = size;
		s->skip_reply = refuse;
		smtp_set_wait(s, SMTP_WAIT_SKIP);
		return;
	}
	if (!s->bdat) {
		s->bdat = true;
		smtp_message_begin(s, true);
	}
	s->bdat_last = last;
	smtp_bdat_begin(&s->data, size, last);
	smtp_set_wait(s, SMTP_WAIT_BDAT);
}

/* ---- the rest ------------------------------------------------------- */

static void cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	enum smtp_err e = smtp_check_no_args(cmd);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	smtp_reset_transaction(s);
	smtp_reply(s, "250 2.0.0 OK");
}

static void cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "250 2.0.0 OK");
}

static void cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	enum smtp_err e = smtp_check_no_args(cmd);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close(s, "quit");
}

static void cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT "
		      "DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH");
}

static void cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	/* RFC 5321 3.5.3: 252 without saying whether the user exists. */
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
		      "and attempt delivery");
}

static void cmd_expn(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtp_reply(s, "502 5.5.1 EXPN not available");
}

static void cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	enum smtp_err e = smtp_check_no_args(cmd);
	if (e != SMTP_OK) {
		smtp_error(s, smtp_err_reply(e));
		return;
	}
	if (!smtp_starttls_ok(s)) {
		smtp_error(s, s->c->tls ? "503 5.5.1 TLS already active"
					: "502 5.5.1 STARTTLS not available");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* Throws away anything pipelined after STARTTLS (RFC 3207 5). */
	if (conn_starttls(s->c, s->env->tls) < 0) {
		smtp_reply(s, "454 4.7.0 TLS not available");
		smtp_close(s, "starttls_failed");
		return;
	}
	smtp_set_wait(s, SMTP_WAIT_TLS);
}

static void cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_cmd_auth(s, cmd);
}
