/* The worker's side of the auth process (secrets stay away from the
 * parser that faces the Internet). A worker never sees a password
 * hash: it decodes the protocol's framing (USER/PASS, SASL PLAIN/LOGIN,
 * APOP, CRAM-MD5) and asks the auth process, which checks the secret on
 * its own threads, applies the login limiter and answers every failure
 * after the same delay (auth_fail_delay_ms, plus the limiter's slow-down
 * for the name and network asked about), whatever the cause.
 *
 * All calls are non-blocking; the answer comes through done() on the
 * worker's event loop, never from inside auth_client_verify(). */
#ifndef POSTERN_AUTH_CLIENT_H
#define POSTERN_AUTH_CLIENT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

struct event_base;
struct auth_client;

enum auth_mech {
	AUTH_MECH_PASSWORD, /* USER/PASS, SASL PLAIN, SASL LOGIN */
	AUTH_MECH_APOP,     /* secret = 32 hex digits, challenge = timestamp */
	AUTH_MECH_CRAM_MD5, /* secret = 32 hex digits, challenge = challenge */
};

enum auth_status {
	AUTH_OK,
	AUTH_FAILED,   /* unknown user or wrong secret: never say which */
	AUTH_BLOCKED,  /* the source network floods (auth_flood_limit) */
	AUTH_TEMPFAIL, /* auth process unreachable, broken, or too busy
	                  with this source network's requests */
};

struct auth_request {
	enum auth_mech mech;
	const char *service;   /* "pop3", "imap", "smtp" */
	struct str authzid;    /* SASL PLAIN authzid: empty, or = user */
	struct str user;
	struct str secret;
	struct str challenge;
	const char *remote_ip;
	const char *session_id;
	bool secured;          /* TLS or loopback (for the log) */
};

struct auth_result {
	enum auth_status status;
	const char *user;      /* canonical name, as in the users file */
	enum pop3_dele_mode pop3_dele_mode; /* the account's, or config's */
	const char *reason;    /* for logs: "unknown_user", "bad_password",
	                          "net_flood", "wide_flood", "net_busy", "scheme",
	                          "auth_unavailable", ... */
};

/* res and its strings are valid only during the call. done() may call
 * auth_client_cancel() or auth_client_free() on the same client. */
typedef void (*auth_done_fn)(void *arg, const struct auth_result *res);

/* Connects (lazily, and again after a failure) to the auth process's
 * socket named by socket_name (an abstract Unix socket name). */
struct auth_client *auth_client_new(struct event_base *base,
				    const char *socket_name);
/* Returns a request id (never 0); done() is called exactly once unless
 * auth_client_cancel() is called first. */
uint64_t auth_client_verify(struct auth_client *ac,
			    const struct auth_request *req,
			    auth_done_fn done, void *arg);
void auth_client_cancel(struct auth_client *ac, uint64_t id);

/* Recipient lookup for SMTP RCPT / LMTP and the submission sender check:
 * the auth process resolves the address with auth/resolve.h (local
 * domains, plus-addressing, aliases). No secret is involved, so there is
 * no failure delay and the limiter is not touched. */
enum auth_rcpt_status {
	AUTH_RCPT_LOCAL,      /* users[] holds the canonical user names */
	AUTH_RCPT_NOT_LOCAL,  /* the domain is not ours */
	AUTH_RCPT_UNKNOWN,    /* local domain, no such user or alias */
	AUTH_RCPT_ERROR,      /* alias loop or dangling alias: temporary */
	AUTH_RCPT_TEMPFAIL,   /* auth process unreachable */
};
struct auth_rcpt_result {
	enum auth_rcpt_status status;
	const char *const *users; /* valid only during the callback */
	size_t n_users;
	const char *reason;       /* for logs */
};
typedef void (*auth_rcpt_fn)(void *arg, const struct auth_rcpt_result *res);
/* address: "local@domain" or "postmaster" (no angle brackets, local part
 * unquoted). Same id/cancel/callback rules as auth_client_verify. */
uint64_t auth_client_lookup_rcpt(struct auth_client *ac, struct str address,
				 const char *session_id, auth_rcpt_fn done,
				 void *arg);
/* Pending requests are dropped without calling their done(). */
void auth_client_free(struct auth_client **ac);

#endif
