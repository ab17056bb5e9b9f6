/* Logging in: LOGIN, AUTHENTICATE (RFC 9051 section 6.2.2, SASL-IR
 * RFC 4959) and STARTTLS (section 6.2.1). The SASL framing is the shared
 * driver's (auth/sasl_server.h); the secret goes to the auth process
 * (service "imap") and the answer comes back in auth_done(). Plaintext
 * policy as for POP3 and SMTP: TLS, or loopback when allowed, or
 * allow_plaintext_auth; otherwise CAPABILITY says LOGINDISABLED. */
#include "imap/session.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "store/store.h"

static void auth_done(void *arg, const struct auth_result *res);

static void verify(struct imap_session *s, const struct sasl_server_creds *cr)
{
	free(s->attempt_user);
	s->attempt_user = xstrndup(cr->user.p, cr->user.len);
	s->mech_name = cr->mech_name;
	struct auth_request req;
	sasl_server_request(cr, "imap", s->c->remote_ip, s->c->id,
			    s->c->tls || s->c->loopback, &req);
	imap_set_wait(s, IMAP_WAIT_AUTH);
	s->auth_id = auth_client_verify(s->env->auth, &req, auth_done, s);
}

struct login_job {
	struct imap_session *s;
	char *user;
	const char *mail_dir;
	char maildir[PATH_MAX];
	int rc;
	char err[256];
};

/* On the pool: the user's Maildir and default mailboxes exist after. */
static void login_work(void *arg)
{
	struct login_job *j = arg;
	j->rc = store_user_maildir(j->mail_dir, j->user, j->maildir,
				   sizeof j->maildir);
	if (j->rc < 0) {
		snprintf(j->err, sizeof j->err, "maildir path too long");
		return;
	}
	j->rc = store_user_provision(j->maildir, j->err, sizeof j->err);
}

static void login_done(void *arg)
{
	struct login_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		free(j->user);
		free(j);
		return;
	}
	char user[LOG_ESC_MAX];
	log_esc(user, sizeof user, j->user, strlen(j->user));
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_ERR,
		       "event=login_failed proto=imap sid=%s user=%s "
		       "reason=store error=%s",
		       s->c->id, user, log_esc(why, sizeof why, j->err,
					       strlen(j->err)));
		imap_cmd_done(s, IMAP_NO,
			      "[SERVERBUG] Cannot open your mailboxes");
	} else {
		char desc[128];
		log_kv(LOG_INFO,
		       "event=login proto=imap sid=%s remote=%s user=%s mech=%s "
		       "tls=%s",
		       s->c->id, s->c->remote_ip, user, s->mech_name,
		       conn_tls_desc(s->c, desc, sizeof desc));
		s->user = j->user;
		j->user = NULL;
		s->maildir = xstrdup(j->maildir);
		imap_enter_state(s, IMAP_AUTHENTICATED);
		struct buf b = BUF_INIT;
		buf_appendc(&b, '[');
		imap_capability_write(s, &b);
		buf_appends(&b, "] Logged in");
		imap_cmd_done(s, IMAP_OK, buf_cstr(&b));
		buf_free(&b);
	}
	free(j->user);
	free(j);
}

static void auth_done(void *arg, const struct auth_result *res)
{
	struct imap_session *s = arg;
	s->auth_id = 0;
	if (res->status == AUTH_OK) {
		/* RFC 5530 LIMIT; logged by conn_logged_in */
		if (!conn_logged_in(s->c, res->user,
				    s->cfg->max_userip_connections)) {
			imap_cmd_done(s, IMAP_NO, "[LIMIT] Too many connections "
						  "from this user and address");
			return;
		}
		struct login_job *j = xcalloc(1, sizeof *j);
		j->s = s;
		j->user = xstrdup(res->user);
		j->mail_dir = s->cfg->mail_dir;
		imap_set_wait(s, IMAP_WAIT_JOB);
		imap_job_submit(s, login_work, login_done, j);
		return;
	}
	char user[LOG_ESC_MAX], why[LOG_ESC_MAX];
	const char *u = s->attempt_user ? s->attempt_user : "";
	const char *reason = res->reason ? res->reason : "unknown";
	log_kv(LOG_INFO,
	       "event=login_failed proto=imap sid=%s remote=%s user=%s mech=%s "
	       "reason=%s",
	       s->c->id, s->c->remote_ip, log_esc(user, sizeof user, u, strlen(u)),
	       s->mech_name, log_esc(why, sizeof why, reason, strlen(reason)));
	if (res->status == AUTH_TEMPFAIL) {
		imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] Authentication service "
					  "unavailable");
	} else if (++s->failed_logins >= IMAP_MAX_FAILED_LOGINS) {
		imap_writes(s, "* BYE Too many failed logins\r\n");
		imap_cmd_reset(s);
		imap_close(s, "too_many_failed_logins");
	} else if (res->status == AUTH_BLOCKED) {
		imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] Too many failed logins; "
					  "try again later");
	} else {
		imap_cmd_done(s, IMAP_NO,
			      "[AUTHENTICATIONFAILED] Authentication failed");
	}
}

#define PRIVACY_TEXT                                                      \
	"[PRIVACYREQUIRED] Plaintext authentication disallowed on "        \
	"non-secured connections; use STARTTLS"

void imap_cmd_login(struct imap_session *s, const struct imap_arg *args,
		    size_t n)
{
	(void)n;
	struct str user, pass;
	if (!imap_arg_astring(&args[0], &user) ||
	    !imap_arg_astring(&args[1], &pass)) {
		imap_cmd_done(s, IMAP_BAD, "LOGIN user password");
		return;
	}
	if (!imap_plaintext_ok(s)) {
		log_kv(LOG_INFO, "event=login_failed proto=imap sid=%s "
		       "remote=%s mech=LOGIN reason=plaintext_refused",
		       s->c->id, s->c->remote_ip);
		imap_cmd_done(s, IMAP_NO, PRIVACY_TEXT);
		return;
	}
	if (user.len == 0 || user.len > AUTH_NAME_MAX || pass.len == 0 ||
	    pass.len > AUTH_SECRET_MAX || memchr(user.p, '\0', user.len) ||
	    memchr(pass.p, '\0', pass.len)) {
		imap_cmd_done(s, IMAP_NO,
			      "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	struct sasl_server_creds cr = {
		.mech = AUTH_MECH_PASSWORD,
		.mech_name = "LOGIN-CMD",
		.authzid = STR_LIT(""),
		.user = user,
		.secret = pass,
		.challenge = STR_LIT(""),
	};
	verify(s, &cr);
}

void imap_sasl_abort(struct imap_session *s)
{
	sasl_server_clear(&s->sasl);
	if (s->wait == IMAP_WAIT_SASL)
		s->wait = IMAP_WAIT_NONE;
}

/* The outcome of one SASL step. */
static void sasl_next(struct imap_session *s, enum sasl_server_result r,
		      const char *challenge, const struct sasl_server_creds *cr,
		      enum sasl_server_error e)
{
	switch (r) {
	case SASL_SERVER_CONTINUE:
		imap_set_wait(s, IMAP_WAIT_SASL);
		imap_writes(s, "+ ");
		imap_writes(s, challenge);
		imap_writes(s, "\r\n");
		return;
	case SASL_SERVER_DONE:
		s->wait = IMAP_WAIT_NONE;
		verify(s, cr);
		sasl_server_clear(&s->sasl);
		return;
	case SASL_SERVER_FAILED:
		break;
	}
	s->wait = IMAP_WAIT_NONE;
	switch (e) {
	case SASL_SERVER_E_CANCELLED: /* RFC 9051 6.2.2: tagged BAD */
		imap_cmd_done(s, IMAP_BAD, "Authentication cancelled");
		return;
	case SASL_SERVER_E_BASE64:
		imap_cmd_done(s, IMAP_BAD, "Invalid base64 data");
		return;
	case SASL_SERVER_E_NO_IR:
		imap_cmd_done(s, IMAP_BAD, "This mechanism takes no initial "
					   "response");
		return;
	case SASL_SERVER_E_TEMP:
		imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] Cannot make a challenge");
		return;
	case SASL_SERVER_E_RESPONSE:
	case SASL_SERVER_E_NONE:
		break;
	}
	imap_cmd_done(s, IMAP_NO, "[AUTHENTICATIONFAILED] Invalid response");
}

void imap_cmd_authenticate(struct imap_session *s, const struct imap_arg *args,
			   size_t n)
{
	struct str mech_name, ir;
	if (args[0].type != IMAP_ARG_ATOM ||
	    (n == 2 && args[1].type != IMAP_ARG_ATOM)) {
		imap_cmd_done(s, IMAP_BAD, "AUTHENTICATE mechanism [response]");
		return;
	}
	mech_name = args[0].s;
	enum sasl_server_mech m =
		sasl_server_mech_lookup(mech_name, s->cfg->auth_cram_md5);
	if (m == SASL_SERVER_NONE) {
		imap_cmd_done(s, IMAP_NO, "Unsupported authentication mechanism");
		return;
	}
	if (m != SASL_SERVER_CRAM_MD5 && !imap_plaintext_ok(s)) {
		log_kv(LOG_INFO, "event=login_failed proto=imap sid=%s "
		       "remote=%s mech=%s reason=plaintext_refused",
		       s->c->id, s->c->remote_ip, sasl_server_mech_name(m));
		imap_cmd_done(s, IMAP_NO, PRIVACY_TEXT);
		return;
	}
	if (n == 2)
		ir = args[1].s;
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_start(&s->sasl, m, n == 2 ? &ir : NULL,
				  s->cfg->hostname, &challenge, &cr, &e);
	s->mech_name = sasl_server_mech_name(m);
	sasl_next(s, r, challenge, &cr, e);
}

void imap_sasl_input(struct imap_session *s, struct str line)
{
	const char *challenge;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r =
		sasl_server_step(&s->sasl, line, &challenge, &cr, &e);
	sasl_next(s, r, challenge, &cr, e);
}

void imap_cmd_starttls(struct imap_session *s, const struct imap_arg *args,
		       size_t n)
{
	(void)args;
	(void)n;
	if (s->c->tls || s->c->kind != LISTEN_IMAP || !s->env->tls) {
		imap_cmd_done(s, IMAP_BAD, "TLS is already active or not "
					   "available here");
		return;
	}
	/* The tagged OK goes out in clear; whatever the client pipelined
	 * after STARTTLS is thrown away by conn_starttls (RFC 9051 6.2.1). */
	imap_write(s, s->tag.data, s->tag.len);
	imap_writes(s, " OK Begin TLS negotiation now\r\n");
	imap_cmd_reset(s);
	imap_set_wait(s, IMAP_WAIT_TLS);
	if (conn_starttls(s->c, s->env->tls) < 0)
		imap_close(s, "starttls_failed");
}
