/* Internal to smtp/: the session object and what its files share.
 *
 * States (RFC 5321 section 4.1.4, RFC 3207 section 4.2):
 *   INIT --EHLO/HELO/LHLO--> READY --MAIL--> MAIL --RCPT ok--> RCPT
 *   RCPT --DATA / BDAT LAST, answered--> READY;  RSET --> READY
 *   STARTTLS --> INIT (everything learned before TLS is forgotten)
 * While something is pending (s->wait != SMTP_WAIT_NONE: an auth or
 * recipient lookup, a SASL line, message data, the delivery job, a TLS
 * handshake) no further command is read; pipelined commands wait in
 * the conn's input buffer and run in order afterwards (RFC 2920). */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_client.h"
#include "auth/sasl_server.h"
#include "core/buf.h"
#include "core/config.h"
#include "smtp/data.h"
#include "smtp/parse.h"
#include "session/env.h"

struct conn;

enum smtp_state {
	SMTP_S_INIT,  /* greeted; EHLO/HELO/LHLO expected */
	SMTP_S_READY, /* no transaction */
	SMTP_S_MAIL,  /* MAIL accepted, no recipient yet */
	SMTP_S_RCPT,  /* at least one recipient */
};

enum smtp_wait {
	SMTP_WAIT_NONE,
	SMTP_WAIT_SASL,    /* the client's next AUTH response line */
	SMTP_WAIT_AUTH,    /* auth_client_verify() */
	SMTP_WAIT_LOOKUP,  /* auth_client_lookup_rcpt() (RCPT or sender) */
	SMTP_WAIT_DATA,    /* DATA bytes up to CRLF.CRLF */
	SMTP_WAIT_BDAT,    /* one BDAT chunk */
	SMTP_WAIT_SKIP,    /* a BDAT chunk to discard (bad state) */
	SMTP_WAIT_DELIVER, /* the delivery job */
	SMTP_WAIT_TLS,     /* the STARTTLS handshake */
};

/* RFC 5321 4.5.3.1.8 requires at least 100 recipients per message. */
#define SMTP_MAX_RCPTS 100
/* Distinct mailboxes one message may go to (aliases expand). */
#define SMTP_MAX_USERS 1000
/* Bad commands before "421 4.7.0 Too many errors": a client that
 * only sends junk is not worth a session. */
#define SMTP_MAX_ERRORS 10
/* Failed AUTH attempts on one connection before it is closed. */
#define SMTP_MAX_FAILED_AUTH 3

struct smtp_rcpt {
	char *addr;     /* as given, "local@domain" (for replies/logs) */
	size_t *uidx;   /* indices into s->users */
	size_t n_uidx;
	bool remote;    /* another domain's: goes to the queue */
	unsigned notify; /* RFC 3461 NOTIFY (DSN_NOTIFY_*), 0 = none */
	char *orcpt;    /* RFC 3461 ORCPT as received (xtext) or NULL */
};

struct smtp_session {
	struct conn *c;               /* NULL once on_close has run */
	const struct session_env *env;
	const struct config *cfg;
	enum listener_kind kind;
	bool lmtp, submission;
	bool relay_client;            /* the peer is in relay_networks */
	enum smtp_state state;
	enum smtp_wait wait;
	bool in_input;
	bool dead;
	bool first_command_seen;
	int pending_jobs;
	uint64_t req_id;              /* pending auth/lookup, 0 if none */
	int errors;
	int failed_auth;
	unsigned unknown_rcpts;       /* 550 5.1.1 so far (rcpt_limit.h) */
	unsigned n_messages;
	struct buf line;

	char *helo;                   /* EHLO/HELO/LHLO argument */
	bool esmtp;                   /* EHLO/LHLO (not HELO) */
	unsigned ext;                 /* SMTP_EXT_* usable in MAIL/RCPT */
	char *auth_user;              /* canonical name once authenticated */
	char *attempt_user;           /* for the log */
	const char *mech_name;
	struct sasl_server sasl;      /* AUTH in progress */

	/* The transaction. */
	bool null_sender;
	char *sender;                 /* "local@domain" or "" */
	bool utf8;
	bool body_8bit;               /* MAIL ... BODY=8BITMIME */
	enum dsn_ret ret;             /* MAIL ... RET= (RFC 3461) */
	char *envid;                  /* MAIL ... ENVID=, xtext, or NULL */
	struct smtp_rcpt rcpts[SMTP_MAX_RCPTS];
	size_t n_rcpts;
	char **users;                 /* distinct canonical names */
	size_t n_users;
	char *pending_addr;           /* the address being looked up */
	unsigned pending_notify;      /* its RCPT's NOTIFY and ORCPT */
	char *pending_orcpt;
	bool pending_is_sender;
	char **from_addrs;            /* From: addresses still to check */
	size_t n_from, i_from;

	/* Message data: the first SMTP_SPOOL_MEM bytes in msg (all of a
	 * small message; the whole header section of any, see
	 * SMTP_HEADER_MAX); past that the whole message in the spool file
	 * (core/spool.h, queue_dir/tmp), written as it arrives. */
	struct buf msg;
	struct buf pend;              /* the reader's output, to be placed */
	int spool_fd;                 /* -1: none (all of it is in msg) */
	uint64_t spooled;             /* bytes in the spool file */
	int spool_errno;              /* a spool open/write failed */
	struct smtp_data data;
	bool bdat;                    /* a BDAT sequence is in progress */
	bool bdat_last;
	uint64_t skip_left;
	const char *skip_reply;
};

/* session.c */
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
void smtp_set_wait(struct smtp_session *s, enum smtp_wait w);
void smtp_resume(struct smtp_session *s);
/* Sends reply (a full line without CRLF), counts an error and closes
 * the session with 421 at SMTP_MAX_ERRORS. */
void smtp_error(struct smtp_session *s, const char *reply);
void smtp_reply(struct smtp_session *s, const char *reply);
bool smtp_plaintext_ok(const struct smtp_session *s);
bool smtp_starttls_ok(const struct smtp_session *s);
void smtp_close(struct smtp_session *s, const char *reason);
/* Forgets the mail transaction (RSET, after a message, STARTTLS);
 * closes (so frees) the spool file. */
void smtp_reset_transaction(struct smtp_session *s);
/* Starts reading a message (DATA, or the first BDAT): the reader with
 * this session's bare-newline policy, nothing in memory or spooled. */
void smtp_message_begin(struct smtp_session *s, bool bdat);
/* The temporary error for a message whose spool failed (s->spool_errno). */
const char *smtp_spool_reply(const struct smtp_session *s);
void smtp_job_submit(struct smtp_session *s, void (*work)(void *),
		     void (*done)(void *), void *job);
void smtp_job_done(struct smtp_session *s);

/* May this session name recipients at other domains? Authenticated,
 * or a relay_networks client; never LMTP. */
bool smtp_may_relay(const struct smtp_session *s);

/* commands.c */
void smtp_dispatch(struct smtp_session *s, struct str line);
void smtp_log_value(char *dst, size_t n, const char *s);
struct auth_rcpt_result;
/* Is user among the mailboxes an address lookup returned? */
bool smtp_rcpt_has_user(const struct auth_rcpt_result *res, const char *user);

/* auth.c */
void smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd);
void smtp_sasl_input(struct smtp_session *s, struct str line);
void smtp_sasl_abort(struct smtp_session *s);

/* deliver_job.c: the message after its end of data / last chunk;
 * smtp_message_deliver() once every check has passed. Local recipients
 * are delivered and remote ones queued (queue/queue.h) on the pool;
 * the reply waits for both. */
void smtp_message_done(struct smtp_session *s);
void smtp_message_deliver(struct smtp_session *s);

/* from_check.c: on submission, every From: address must be the user's
 * (the same lookup as MAIL FROM); then smtp_message_deliver(), else
 * 553 5.7.1 (not owned, too many) or 550 5.6.0 (two From: fields,
 * control bytes) and the transaction is reset. */
void smtp_from_check_start(struct smtp_session *s);
void smtp_from_check_clear(struct smtp_session *s);

#endif
