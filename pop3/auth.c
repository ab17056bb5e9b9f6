/* Logging in: USER/PASS, APOP and AUTH (RFC 5034) with PLAIN, LOGIN and
 * CRAM-MD5. This file only decodes the framing; the secret goes to the
 * auth process (auth_client_verify) and the answer comes back in
 * auth_done(). Passwords live in stack or SASL buffers only as long as
 * it takes to hand them over, and are wiped after. */
#include "pop3/session.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"

static void auth_done(void *arg, const struct auth_result *res);

static void log_login_failed(struct pop3_session *s, const char *reason)
{
	char user[LOG_ESC_MAX], why[LOG_ESC_MAX];
	const char *u = s->attempt_user ? s->attempt_user : "";
	log_kv(LOG_INFO,
	       "event=login_failed proto=pop3 sid=%s remote=%s user=%s mech=%s "
	       "reason=%s",
	       s->c->id, s->c->remote_ip, log_esc(user, sizeof user, u, strlen(u)),
	       s->mech_name, log_esc(why, sizeof why, reason, strlen(reason)));
}

/* Hands the credentials to the auth process; no further command is read
 * until auth_done(). The request's strings are copied by the call. */
static void verify(struct pop3_session *s, const struct sasl_server_creds *cr)
{
	free(s->attempt_user);
	s->attempt_user = xstrndup(cr->user.p, cr->user.len);
	s->mech_name = cr->mech_name;
	struct auth_request req;
	sasl_server_request(cr, "pop3", s->c->remote_ip, s->c->id,
			    s->c->tls || s->c->loopback, &req);
	pop3_set_wait(s, POP3_WAIT_AUTH);
	s->auth_id = auth_client_verify(s->env->auth, &req, auth_done, s);
}

static void auth_done(void *arg, const struct auth_result *res)
{
	struct pop3_session *s = arg;
	s->auth_id = 0;
	free(s->user_pending);
	s->user_pending = NULL;
	if (res->status == AUTH_OK) {
		/* RFC 2449 8.1.2 IN-USE: the credentials were right. */
		if (!conn_logged_in(s->c, res->user,
				    s->cfg->max_userip_connections)) {
			conn_writes(s->c, "-ERR [IN-USE] Too many connections "
					  "from this user and address\r\n");
			pop3_resume(s);
			return;
		}
		s->dele_mode = res->pop3_dele_mode;
		pop3_login_start(s, res->user);
		return;
	}
	log_login_failed(s, res->reason ? res->reason : "unknown");
	if (res->status == AUTH_TEMPFAIL) {
		conn_writes(s->c, "-ERR [SYS/TEMP] Authentication service "
				  "unavailable\r\n");
	} else if (++s->failed_logins >= POP3_MAX_FAILED_LOGINS) {
		conn_writes(s->c, "-ERR [AUTH] Too many failed logins\r\n");
		pop3_close(s, "too_many_failed_logins");
	} else if (res->status == AUTH_BLOCKED) {
		conn_writes(s->c, "-ERR [SYS/TEMP] Too many failed logins; "
				  "try again later\r\n");
	} else {
		conn_writes(s->c, "-ERR [AUTH] Authentication failed\r\n");
	}
	pop3_resume(s);
}

void pop3_cmd_user(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	if (!pop3_name_ok(argv[0])) {
		pop3_bad_command(s, "Invalid user name");
		return;
	}
	free(s->user_pending);
	s->user_pending = xstrndup(argv[0].p, argv[0].len);
	conn_writes(s->c, "+OK\r\n");
}

void pop3_cmd_pass(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	if (!s->user_pending) {
		conn_writes(s->c, "-ERR USER first\r\n");
		return;
	}
	struct sasl_server_creds cr = {
		.mech = AUTH_MECH_PASSWORD,
		.mech_name = "USER",
		.authzid = STR_LIT(""),
		.user = str_from_cstr(s->user_pending),
		.secret = argv[0],
		.challenge = STR_LIT(""),
	};
	verify(s, &cr);
}

void pop3_cmd_apop(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	if (!s->apop_ts) {
		conn_writes(s->c, "-ERR APOP not enabled\r\n");
		return;
	}
	if (!pop3_name_ok(argv[0]) || !sasl_is_md5_hex(argv[1])) {
		pop3_bad_command(s, "Syntax error: APOP name digest");
		return;
	}
	char digest[33];
	for (size_t i = 0; i < 32; i++) {
		char ch = argv[1].p[i];
		digest[i] = (ch >= 'A' && ch <= 'F') ? (char)(ch + 32) : ch;
	}
	digest[32] = '\0';
	struct sasl_server_creds cr = {
		.mech = AUTH_MECH_APOP,
		.mech_name = "APOP",
		.authzid = STR_LIT(""),
		.user = argv[0],
		.secret = str_make(digest, 32),
		.challenge = str_from_cstr(s->apop_ts),
	};
	verify(s, &cr);
}

int pop3_sasl_mechs(const struct pop3_session *s, struct buf *out)
{
	int n = 0;
	if (pop3_plaintext_ok(s)) {
		buf_appends(out, "PLAIN LOGIN");
		n += 2;
	}
	if (s->cfg->auth_cram_md5) {
		buf_appends(out, n ? " CRAM-MD5" : "CRAM-MD5");
		n++;
	}
	return n;
}

void pop3_sasl_abort(struct pop3_session *s)
{
	sasl_server_clear(&s->sasl);
	if (s->wait == POP3_WAIT_SASL)
		s->wait = POP3_WAIT_NONE;
}

static void auth_list(struct pop3_session *s)
{
	struct buf mechs = BUF_INIT;
	pop3_sasl_mechs(s, &mechs);
	conn_writes(s->c, "+OK Supported mechanisms follow\r\n");
	struct str rest = buf_str(&mechs), tok;
	while (str_next_token(rest, &tok, &rest))
		conn_printf(s->c, "%.*s\r\n", (int)tok.len, tok.p);
	conn_writes(s->c, ".\r\n");
	buf_free(&mechs);
}

/* The outcome of one step of the shared SASL driver. */
static void sasl_next(struct pop3_session *s, enum sasl_server_result r,
		      const char *challenge, const struct sasl_server_creds *cr,
		      enum sasl_server_error e)
{
	switch (r) {
	case SASL_SERVER_CONTINUE:
		pop3_set_wait(s, POP3_WAIT_SASL);
		conn_printf(s->c, "+ %s\r\n", challenge);
		return;
	case SASL_SERVER_DONE:
		s->wait = POP3_WAIT_NONE;
		verify(s, cr);
		sasl_server_clear(&s->sasl);
		return;
	case SASL_SERVER_FAILED:
		break;
	}
	pop3_sasl_abort(s);
	const char *mech = s->mech_name ? s->mech_name : "";
	switch (e) {
	case SASL_SERVER_E_CANCELLED:
		conn_writes(s->c, "-ERR authentication cancelled\r\n");
		return;
	case SASL_SERVER_E_BASE64:
		conn_writes(s->c, "-ERR [AUTH] Invalid base64 data\r\n");
		return;
	case SASL_SERVER_E_NO_IR:
		conn_writes(s->c, "-ERR CRAM-MD5 takes no initial response\r\n");
		return;
	case SASL_SERVER_E_TEMP:
		conn_writes(s->c, "-ERR [SYS/TEMP] Cannot make a challenge\r\n");
		return;
	case SASL_SERVER_E_RESPONSE:
	case SASL_SERVER_E_NONE:
		break;
	}
	conn_printf(s->c, "-ERR [AUTH] Invalid %s response\r\n", mech);
}

void pop3_cmd_auth(struct pop3_session *s, struct str *argv, int argc)
{
	if (argc == 0) {
		auth_list(s);
		return;
	}
	enum sasl_server_mech m =
		sasl_server_mech_lookup(argv[0], s->cfg->auth_cram_md5);
	if (m == SASL_SERVER_NONE) {
		conn_writes(s->c, "-ERR Unsupported authentication mechanism\r\n");
		return;
	}
	if (m != SASL_SERVER_CRAM_MD5 && !pop3_plaintext_ok(s)) {
		conn_writes(s->c, "-ERR [AUTH] Plaintext authentication "
				  "disallowed on non-secured connections; "
				  "use STLS\r\n");
		return;
	}
	s->mech_name = sasl_server_mech_name(m);
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_start(&s->sasl, m, argc == 2 ? &argv[1] : NULL,
				  s->cfg->hostname, &challenge, &cr, &e);
	sasl_next(s, r, challenge, &cr, e);
}

void pop3_sasl_input(struct pop3_session *s, struct str line)
{
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_step(&s->sasl, line, &challenge, &cr, &e);
	sasl_next(s, r, challenge, &cr, e);
}
