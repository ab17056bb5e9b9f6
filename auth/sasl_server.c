/* The SASL exchange shared by POP3, SMTP and IMAP (see sasl_server.h).
 * The pure decoders live in sasl.c; this file keeps the exchange's
 * state and decides what comes next. */
#include "auth/sasl_server.h"

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/xmalloc.h"

enum sasl_server_mech sasl_server_mech_lookup(struct str name, bool cram_ok)
{
	if (str_eq_nocase(name, "PLAIN"))
		return SASL_SERVER_PLAIN;
	if (str_eq_nocase(name, "LOGIN"))
		return SASL_SERVER_LOGIN;
	if (cram_ok && str_eq_nocase(name, "CRAM-MD5"))
		return SASL_SERVER_CRAM_MD5;
	return SASL_SERVER_NONE;
}

const char *sasl_server_mech_name(enum sasl_server_mech m)
{
	switch (m) {
	case SASL_SERVER_PLAIN:
		return "PLAIN";
	case SASL_SERVER_LOGIN:
		return "LOGIN";
	case SASL_SERVER_CRAM_MD5:
		return "CRAM-MD5";
	case SASL_SERVER_NONE:
		break;
	}
	return "NONE";
}

static void wipe(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	b->len = 0;
}

void sasl_server_clear(struct sasl_server *s)
{
	if (s->login) {
		sasl_login_clear(s->login);
		free(s->login);
		s->login = NULL;
	}
	free(s->cram_challenge);
	s->cram_challenge = NULL;
	wipe(&s->decoded);
	buf_free(&s->decoded);
	buf_free(&s->challenge);
	s->mech = SASL_SERVER_NONE;
}

bool sasl_server_active(const struct sasl_server *s)
{
	return s->mech != SASL_SERVER_NONE;
}

static enum sasl_server_result fail(struct sasl_server *s,
				    enum sasl_server_error why,
				    enum sasl_server_error *error)
{
	sasl_server_clear(s);
	*error = why;
	return SASL_SERVER_FAILED;
}

/* The decoded bytes as a slice, never with a NULL pointer. */
static struct str decoded(const struct sasl_server *s)
{
	return s->decoded.data ? buf_str(&s->decoded) : STR_LIT("");
}

static enum sasl_server_result plain_finish(struct sasl_server *s,
					    struct sasl_server_creds *creds,
					    enum sasl_server_error *error)
{
	struct sasl_plain p;
	if (sasl_plain_decode(decoded(s), &p) < 0)
		return fail(s, SASL_SERVER_E_RESPONSE, error);
	*creds = (struct sasl_server_creds){
		.mech = AUTH_MECH_PASSWORD,
		.mech_name = "PLAIN",
		.authzid = p.authzid,
		.user = p.authcid,
		.secret = p.passwd,
		.challenge = STR_LIT(""),
	};
	return SASL_SERVER_DONE;
}

static enum sasl_server_result login_feed(struct sasl_server *s,
					  const struct str *in,
					  const char **challenge,
					  struct sasl_server_creds *creds,
					  enum sasl_server_error *error)
{
	const char *prompt;
	switch (sasl_login_step(s->login, in, &prompt)) {
	case SASL_CONTINUE:
		*challenge = prompt;
		return SASL_SERVER_CONTINUE;
	case SASL_ERROR:
		return fail(s, SASL_SERVER_E_RESPONSE, error);
	case SASL_DONE:
		break;
	}
	*creds = (struct sasl_server_creds){
		.mech = AUTH_MECH_PASSWORD,
		.mech_name = "LOGIN",
		.authzid = STR_LIT(""),
		.user = str_make(s->login->user, s->login->user_len),
		.secret = str_make(s->login->pass, s->login->pass_len),
		.challenge = STR_LIT(""),
	};
	return SASL_SERVER_DONE;
}

static enum sasl_server_result cram_finish(struct sasl_server *s,
					   struct sasl_server_creds *creds,
					   enum sasl_server_error *error)
{
	struct str user, digest;
	if (sasl_cram_parse(decoded(s), &user, &digest) < 0)
		return fail(s, SASL_SERVER_E_RESPONSE, error);
	*creds = (struct sasl_server_creds){
		.mech = AUTH_MECH_CRAM_MD5,
		.mech_name = "CRAM-MD5",
		.authzid = STR_LIT(""),
		.user = user,
		.secret = digest,
		.challenge = str_from_cstr(s->cram_challenge),
	};
	return SASL_SERVER_DONE;
}

/* Dispatches one decoded response (in s->decoded) to the mechanism. */
static enum sasl_server_result feed(struct sasl_server *s,
				    const char **challenge,
				    struct sasl_server_creds *creds,
				    enum sasl_server_error *error)
{
	struct str in = decoded(s);
	switch (s->mech) {
	case SASL_SERVER_PLAIN:
		return plain_finish(s, creds, error);
	case SASL_SERVER_LOGIN:
		return login_feed(s, &in, challenge, creds, error);
	case SASL_SERVER_CRAM_MD5:
		return cram_finish(s, creds, error);
	case SASL_SERVER_NONE:
		break;
	}
	return fail(s, SASL_SERVER_E_RESPONSE, error);
}

enum sasl_server_result sasl_server_start(struct sasl_server *s,
					  enum sasl_server_mech mech,
					  const struct str *initial,
					  const char *hostname,
					  const char **challenge,
					  struct sasl_server_creds *creds,
					  enum sasl_server_error *error)
{
	sasl_server_clear(s);
	*error = SASL_SERVER_E_NONE;
	*challenge = "";
	s->mech = mech;
	if (mech == SASL_SERVER_NONE)
		return fail(s, SASL_SERVER_E_RESPONSE, error);
	if (mech == SASL_SERVER_CRAM_MD5) {
		if (initial)
			return fail(s, SASL_SERVER_E_NO_IR, error);
		char ch[SASL_CRAM_CHALLENGE_MAX];
		if (sasl_cram_challenge(ch, sizeof ch, hostname) == 0)
			return fail(s, SASL_SERVER_E_TEMP, error);
		s->cram_challenge = xstrdup(ch);
		base64_encode(&s->challenge, ch, strlen(ch));
		*challenge = buf_cstr(&s->challenge);
		return SASL_SERVER_CONTINUE;
	}
	if (initial && sasl_decode_initial(*initial, &s->decoded) < 0)
		return fail(s, SASL_SERVER_E_BASE64, error);
	if (mech == SASL_SERVER_LOGIN) {
		s->login = xmalloc(sizeof *s->login);
		sasl_login_init(s->login);
		if (!initial)
			return login_feed(s, NULL, challenge, creds, error);
	} else if (!initial) {
		return SASL_SERVER_CONTINUE; /* PLAIN: an empty challenge */
	}
	return feed(s, challenge, creds, error);
}

enum sasl_server_result sasl_server_step(struct sasl_server *s,
					 struct str line,
					 const char **challenge,
					 struct sasl_server_creds *creds,
					 enum sasl_server_error *error)
{
	*error = SASL_SERVER_E_NONE;
	*challenge = "";
	if (sasl_is_cancel(line))
		return fail(s, SASL_SERVER_E_CANCELLED, error);
	wipe(&s->decoded);
	if (sasl_b64_decode(line, &s->decoded) < 0)
		return fail(s, SASL_SERVER_E_BASE64, error);
	return feed(s, challenge, creds, error);
}

void sasl_server_request(const struct sasl_server_creds *cr,
			 const char *service, const char *remote_ip,
			 const char *session_id, bool secured,
			 struct auth_request *req)
{
	*req = (struct auth_request){
		.mech = cr->mech,
		.service = service,
		.authzid = cr->authzid,
		.user = cr->user,
		.secret = cr->secret,
		.challenge = cr->challenge,
		.remote_ip = remote_ip,
		.session_id = session_id,
		.secured = secured,
	};
}
