/* AUTH (RFC 4954) with PLAIN and LOGIN, on the submission ports only.
 * This file only decodes the framing; the secret goes to the auth
 * process (service "smtp") and the answer comes back in auth_done().
 * Plaintext policy as for POP3: TLS, or loopback when allowed, or
 * allow_plaintext_auth. */
#include "smtp/session.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"

static const char *proto(const struct smtp_session *s)
{
	return config_listener_name(s->kind);
}

static void auth_done(void *arg, const struct auth_result *res);

static void verify(struct smtp_session *s, const struct sasl_server_creds *cr)
{
	free(s->attempt_user);
	s->attempt_user = xstrndup(cr->user.p, cr->user.len);
	s->mech_name = cr->mech_name;
	struct auth_request req;
	sasl_server_request(cr, "smtp", s->c->remote_ip, s->c->id,
			    s->c->tls || s->c->loopback, &req);
	smtp_set_wait(s, SMTP_WAIT_AUTH);
	s->req_id = auth_client_verify(s->env->auth, &req, auth_done, s);
}

static void auth_done(void *arg, const struct auth_result *res)
{
	struct smtp_session *s = arg;
	s->req_id = 0;
	char user[LOG_ESC_MAX], why[LOG_ESC_MAX];
	const char *u = s->attempt_user ? s->attempt_user : "";
	log_esc(user, sizeof user, u, strlen(u));
	if (res->status == AUTH_OK) {
		conn_logged_in(s->c, res->user, 0); /* no per-user limit */
		free(s->auth_user);
		s->auth_user = xstrdup(res->user);
		log_kv(LOG_INFO, "event=auth proto=%s sid=%s result=ok user=%s "
		       "mech=%s", proto(s), s->c->id, user, s->mech_name);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		smtp_resume(s);
		return;
	}
	const char *reason = res->reason ? res->reason : "unknown";
	log_kv(LOG_INFO, "event=auth proto=%s sid=%s result=failed user=%s "
	       "mech=%s reason=%s", proto(s), s->c->id, user, s->mech_name,
	       log_esc(why, sizeof why, reason, strlen(reason)));
	if (res->status == AUTH_TEMPFAIL) {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
	} else if (++s->failed_auth >= SMTP_MAX_FAILED_AUTH) {
		smtp_reply(s, "421 4.7.0 Too many failed authentications");
		smtp_close(s, "too_many_failed_logins");
	} else if (res->status == AUTH_BLOCKED) {
		smtp_reply(s, "454 4.7.0 Too many failed logins; try again "
			      "later");
	} else {
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	}
	smtp_resume(s);
}

void smtp_sasl_abort(struct smtp_session *s)
{
	sasl_server_clear(&s->sasl);
	if (s->wait == SMTP_WAIT_SASL)
		s->wait = SMTP_WAIT_NONE;
}

/* The outcome of one step of the shared SASL driver. */
static void sasl_next(struct smtp_session *s, enum sasl_server_result r,
		      const char *challenge, const struct sasl_server_creds *cr,
		      enum sasl_server_error e)
{
	switch (r) {
	case SASL_SERVER_CONTINUE:
		smtp_set_wait(s, SMTP_WAIT_SASL);
		conn_printf(s->c, "334 %s\r\n", challenge);
		return;
	case SASL_SERVER_DONE:
		s->wait = SMTP_WAIT_NONE;
		verify(s, cr);
		sasl_server_clear(&s->sasl);
		return;
	case SASL_SERVER_FAILED:
		break;
	}
	smtp_sasl_abort(s);
	switch (e) {
	case SASL_SERVER_E_CANCELLED:
		smtp_error(s, "501 5.0.0 Authentication cancelled");
		return;
	case SASL_SERVER_E_BASE64:
		smtp_error(s, "501 5.5.2 Invalid base64 data");
		return;
	case SASL_SERVER_E_NO_IR:
	case SASL_SERVER_E_TEMP:
		smtp_error(s, "454 4.7.0 Temporary authentication failure");
		return;
	case SASL_SERVER_E_RESPONSE:
	case SASL_SERVER_E_NONE:
		break;
	}
	smtp_error(s, s->mech_name && strcmp(s->mech_name, "LOGIN") == 0
			      ? "501 5.5.2 Invalid LOGIN response"
			      : "501 5.5.2 Invalid PLAIN response");
}

void smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (!s->submission) {
		smtp_error(s, "502 5.5.1 AUTH not available on this port");
		return;
	}
	if (s->auth_user) {
		smtp_error(s, "503 5.5.1 Already authenticated");
		return;
	}
	struct str mech, ir;
	if (!str_next_token(cmd->args, &mech, &ir)) {
		smtp_error(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	enum sasl_server_mech m =
		sasl_server_mech_lookup(mech, s->cfg->auth_cram_md5);
	if (m == SASL_SERVER_NONE) {
		smtp_error(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (m != SASL_SERVER_CRAM_MD5 && !smtp_plaintext_ok(s)) {
		smtp_error(s, "538 5.7.11 Encryption required for requested "
			      "authentication mechanism");
		return;
	}
	s->mech_name = sasl_server_mech_name(m);
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_start(&s->sasl, m, ir.len > 0 ? &ir : NULL,
				  s->cfg->hostname, &challenge, &cr, &e);
	sasl_next(s, r, challenge, &cr, e);
}

void smtp_sasl_input(struct smtp_session *s, struct str line)
{
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_step(&s->sasl, line, &challenge, &cr, &e);
	sasl_next(s, r, challenge, &cr, e);
}
