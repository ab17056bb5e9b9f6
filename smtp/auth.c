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

static void verify(struct smtp_session *s, const char *mech_name,
		   struct str authzid, struct str user, struct str secret)
{
	free(s->attempt_user);
	s->attempt_user = xstrndup(user.p, user.len);
	s->mech_name = mech_name;
	struct auth_request req = {
		.mech = AUTH_MECH_PASSWORD,
		.service = "smtp",
		.authzid = authzid,
		.user = user,
		.secret = secret,
		.challenge = STR_LIT(""),
		.remote_ip = s->c->remote_ip,
		.session_id = s->c->id,
		.secured = s->c->tls || s->c->loopback,
	};
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
	if (s->sasl_login) {
		sasl_login_clear(s->sasl_login);
		free(s->sasl_login);
		s->sasl_login = NULL;
	}
	s->sasl_plain = false;
	if (s->wait == SMTP_WAIT_SASL)
		s->wait = SMTP_WAIT_NONE;
}

static void sasl_fail(struct smtp_session *s, const char *reply)
{
	smtp_sasl_abort(s);
	smtp_error(s, reply);
}

static void plain_finish(struct smtp_session *s, struct str msg)
{
	struct sasl_plain p;
	if (sasl_plain_decode(msg, &p) < 0) {
		sasl_fail(s, "501 5.5.2 Invalid PLAIN response");
		return;
	}
	smtp_sasl_abort(s);
	verify(s, "PLAIN", p.authzid, p.authcid, p.passwd);
}

static void login_step(struct smtp_session *s, const struct str *in)
{
	const char *prompt;
	switch (sasl_login_step(s->sasl_login, in, &prompt)) {
	case SASL_CONTINUE:
		smtp_set_wait(s, SMTP_WAIT_SASL);
		conn_printf(s->c, "334 %s\r\n", prompt);
		return;
	case SASL_ERROR:
		sasl_fail(s, "501 5.5.2 Invalid LOGIN response");
		return;
	case SASL_DONE:
		break;
	}
	struct sasl_login *l = s->sasl_login;
	s->sasl_login = NULL;
	smtp_sasl_abort(s);
	verify(s, "LOGIN", STR_LIT(""), str_make(l->user, l->user_len),
	       str_make(l->pass, l->pass_len));
	sasl_login_clear(l);
	free(l);
}

static struct str buf_view(const struct buf *b)
{
	return b->data ? buf_str(b) : STR_LIT("");
}

static void wipe_free(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
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
	bool plain = str_eq_nocase(mech, "PLAIN");
	bool login = str_eq_nocase(mech, "LOGIN");
	if (!plain && !login) {
		smtp_error(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (!smtp_plaintext_ok(s)) {
		smtp_error(s, "538 5.7.11 Encryption required for requested "
			      "authentication mechanism");
		return;
	}
	struct buf dec = BUF_INIT;
	bool has_ir = ir.len > 0;
	if (has_ir && sasl_decode_initial(ir, &dec) < 0) {
		smtp_error(s, "501 5.5.2 Invalid base64 data");
		return;
	}
	if (plain) {
		if (has_ir) {
			plain_finish(s, buf_view(&dec));
		} else {
			s->sasl_plain = true;
			smtp_set_wait(s, SMTP_WAIT_SASL);
			conn_writes(s->c, "334 \r\n");
		}
	} else {
		s->sasl_login = xmalloc(sizeof *s->sasl_login);
		sasl_login_init(s->sasl_login);
		struct str in = buf_view(&dec);
		login_step(s, has_ir ? &in : NULL);
	}
	wipe_free(&dec);
}

void smtp_sasl_input(struct smtp_session *s, struct str line)
{
	if (sasl_is_cancel(line)) {
		sasl_fail(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	struct buf dec = BUF_INIT;
	if (sasl_b64_decode(line, &dec) < 0) {
		sasl_fail(s, "501 5.5.2 Invalid base64 data");
		return;
	}
	struct str in = buf_view(&dec);
	if (s->sasl_plain)
		plain_finish(s, in);
	else if (s->sasl_login)
		login_step(s, &in);
	else
		log_fatal("smtp: SASL input without an exchange");
	wipe_free(&dec);
}
