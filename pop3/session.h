/* Internal to pop3/: the session object and what its files share.
 *
 * Life of a session:
 *   AUTHORIZATION --(login ok, maildrop locked and read)--> TRANSACTION
 *   TRANSACTION --QUIT--> UPDATE --(commit done)--> closed
 * While a command is in progress (s->wait != POP3_WAIT_NONE: a SASL
 * exchange, an auth request, a store job, a streamed reply, a TLS
 * handshake) no further command is read; pipelined commands wait in the
 * input buffer and run in order afterwards (RFC 2449 section 6.6). */
#ifndef POSTERN_POP3_SESSION_H
#define POSTERN_POP3_SESSION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_client.h"
#include "auth/sasl_server.h"
#include "core/buf.h"
#include "core/config.h"
#include "mime/crlf.h"
#include "pop3/parse.h"
#include "session/env.h"

struct conn;
struct mailbox;

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
	POP3_UPDATE,
};

/* What the session is waiting for before it reads the next command. */
enum pop3_wait {
	POP3_WAIT_NONE,
	POP3_WAIT_SASL,     /* the client's next SASL response line */
	POP3_WAIT_AUTH,     /* auth_client_verify() answer */
	POP3_WAIT_MAILDROP, /* the login job on the thread pool */
	POP3_WAIT_STREAM,   /* a long reply waiting for the socket to drain */
	POP3_WAIT_TLS,      /* the STLS handshake */
	POP3_WAIT_COMMIT,   /* the UPDATE job; the session ends after it */
};

/* One connection gets this many failed logins, then it is closed: the
 * auth process slows and limits guessing per IP and per user, this cuts
 * off a brute forcer that keeps one connection open. */
#define POP3_MAX_FAILED_LOGINS 3

/* Per-message marks in the maildrop. */
#define POP3_M_DELETED 0x01u
#define POP3_M_RETR 0x02u

enum pop3_stream_kind {
	POP3_STREAM_NONE,
	POP3_STREAM_MSG,  /* RETR or TOP */
	POP3_STREAM_LIST, /* LIST without argument */
	POP3_STREAM_UIDL, /* UIDL without argument */
};

struct pop3_reader;

struct pop3_stream {
	enum pop3_stream_kind kind;
	struct pop3_reader *rd; /* RETR/TOP: reads the file on the pool */
	bool top;           /* TOP: stop where top says */
	size_t msg;         /* RETR/TOP: maildrop index */
	size_t next;        /* LIST/UIDL: next maildrop index */
	uint64_t sent;      /* octets of message sent (before dot-stuffing) */
	struct crlf_state crlf;
	struct pop3_top topcut;
};

struct pop3_session {
	struct conn *c;               /* NULL once on_close has run */
	const struct session_env *env;
	const struct config *cfg;
	enum pop3_state state;
	enum pop3_wait wait;
	bool in_input;                /* inside the input loop */
	bool dead;                    /* on_close has run */
	int pending_jobs;             /* thread pool jobs not yet done */
	uint64_t auth_id;             /* pending auth request, 0 if none */
	int bad_commands;
	int failed_logins;
	struct buf line;

	char *apop_ts;                /* "<pid.rand.time@host>" or NULL */
	char *user_pending;           /* from USER, waiting for PASS */
	char *user;                   /* canonical name once logged in */
	char *attempt_user;           /* name of the login in progress (log) */
	const char *mech_name;        /* "USER", "APOP", "PLAIN" ... (log) */
	enum pop3_dele_mode dele_mode;

	/* SASL exchange in progress (auth/sasl_server.h). */
	struct sasl_server sasl;

	/* The maildrop, fixed at login. */
	struct mailbox *mb;
	int lock_fd;
	size_t n_msgs;
	uint32_t *msg_idx;   /* maildrop number - 1 -> store index */
	uint8_t *marks;      /* POP3_M_* per maildrop message */
	size_t n_deleted;
	uint64_t deleted_size;
	uint64_t total_size;

	struct pop3_stream stream;

	/* For the logout line. */
	unsigned n_retr, n_top, n_dele, n_expunged;
	uint64_t retr_bytes;
	char *end_reason;
};

/* session.c */
void pop3_enter_state(struct pop3_session *s, enum pop3_state st);
void pop3_set_wait(struct pop3_session *s, enum pop3_wait w);
/* Ends the wait and reads the commands that were pipelined meanwhile. */
void pop3_resume(struct pop3_session *s);
/* "-ERR <text>" for a malformed or misplaced command; counts it and
 * closes the session at cfg->pop3_max_bad_commands. */
void pop3_bad_command(struct pop3_session *s, const char *text);
bool pop3_plaintext_ok(const struct pop3_session *s);
/* Ends the session: flushes, closes the conn, records why. */
void pop3_close(struct pop3_session *s, const char *reason);
/* Runs work() on the thread pool; done() gets the session back on the
 * loop (maybe dead: then it must only release and call pop3_job_done).*/
void pop3_job_submit(struct pop3_session *s, void (*work)(void *),
		     void (*done)(void *), void *job);
/* Called at the end of every job's done(); frees a dead session. */
void pop3_job_done(struct pop3_session *s);

/* commands.c */
void pop3_dispatch(struct pop3_session *s, struct str line);
/* Maps a message-number argument to a maildrop index (replies -ERR and
 * returns false when it is not a live message). */
bool pop3_msg_arg(struct pop3_session *s, struct str arg, size_t *idx);
const struct store_msg *pop3_msg(const struct pop3_session *s, size_t idx);
/* The UIDL of message idx: Dovecot's default format (%08Xu%08Xv: UID
 * then UIDVALIDITY, upper-case hex), unique and never changing. */
#define POP3_UIDL_LEN 16
const char *pop3_uidl(const struct pop3_session *s, size_t idx,
		      char out[POP3_UIDL_LEN + 1]);

/* auth.c: USER/PASS, APOP and AUTH */
void pop3_cmd_user(struct pop3_session *s, struct str *argv, int argc);
void pop3_cmd_pass(struct pop3_session *s, struct str *argv, int argc);
void pop3_cmd_apop(struct pop3_session *s, struct str *argv, int argc);
void pop3_cmd_auth(struct pop3_session *s, struct str *argv, int argc);
void pop3_sasl_input(struct pop3_session *s, struct str line);
/* Drops a SASL exchange in progress (line too long, close). */
void pop3_sasl_abort(struct pop3_session *s);
/* Appends the mechanisms usable now, space separated; returns count. */
int pop3_sasl_mechs(const struct pop3_session *s, struct buf *out);

/* login.c: the maildrop at login and the commit at QUIT */
void pop3_login_start(struct pop3_session *s, const char *user);
void pop3_update_start(struct pop3_session *s);
void pop3_maildrop_free(struct pop3_session *s);

/* capa.c */
void pop3_cmd_capa(struct pop3_session *s, struct str *argv, int argc);
void pop3_cmd_stls(struct pop3_session *s, struct str *argv, int argc);
/* The RFC 1939 section 7 timestamp for APOP (heap string). */
char *pop3_apop_timestamp(const char *hostname);

/* retr.c: replies that may be longer than the output buffer */
void pop3_cmd_retr(struct pop3_session *s, struct str *argv, int argc);
void pop3_cmd_top(struct pop3_session *s, struct str *argv, int argc);
void pop3_list_all(struct pop3_session *s, enum pop3_stream_kind kind);
void pop3_stream_pump(struct pop3_session *s);
void pop3_stream_abort(struct pop3_session *s);

#endif
