/* Inside the SMTP client: the state shared by its two files, smtpc.c
 * (the connection: greeting, EHLO, STARTTLS, AUTH, QUIT, failures and
 * the libevent entry points) and smtpc_txn.c (one mail transaction).
 * Nothing outside relay/smtpc*.c includes this. */
#ifndef POSTERN_SMTPC_INT_H
#define POSTERN_SMTPC_INT_H
#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"
#include "relay/smtpc.h"
#include "relay/smtpc_body.h"
#include "relay/smtpc_reply.h"

struct bufferevent;
struct evbuffer_cb_entry;
struct event;

/* RFC 5321 4.5.3.2.6: wait at least 10 minutes for the reply to the end
 * of the data, as the server may be doing the delivery meanwhile. */
#define SMTPC_DATA_END_TIMEOUT 600
/* QUIT is a courtesy: we do not wait long for its reply. */
#define SMTPC_QUIT_TIMEOUT 10
/* The body goes out a chunk at a time while less than HIGH octets wait
 * in the output (ours and, under TLS, the socket's): a 50 MB message is
 * never copied into a buffer whole. */
#define SMTPC_OUT_HIGH (256 * 1024)
#define SMTPC_OUT_LOW (64 * 1024)
#define SMTPC_BODY_CHUNK 16384

enum smtpc_state {
	S_CONNECTING,
	S_GREETING,
	S_EHLO,
	S_HELO,
	S_STARTTLS,
	S_HANDSHAKE,
	S_AUTH_LOGIN_USER, /* AUTH LOGIN sent, waiting for 334 */
	S_AUTH_LOGIN_PASS, /* user sent, waiting for 334 */
	S_AUTH,            /* waiting for 235 */
	S_READY,
	S_TXN,
	S_RSET,
	S_QUIT,
	S_DONE,
};


/* What the next reply in a transaction answers (RFC 2920 3.1: replies
 * are matched to commands by counting, never by their code). */
enum smtpc_expect { X_MAIL, X_RCPT, X_DATA, X_DOT, X_ABORT_DOT };

struct smtpc_exp {
	enum smtpc_expect kind;
	size_t rcpt;
};

struct smtpc {
	struct event_base *base;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *under_cb;
	struct event *timer;
	struct event *defer;
	struct relay_target target;
	char *helo, *tls_name, *auth_user, *auth_pass, *log_id;
	enum relay_tls_level tls_level;
	struct ssl_ctx_st *tls_ctx;
	int connect_timeout, timeout;
	struct smtpc_handler h;
	void *arg;

	enum smtpc_state st;
	int busy;       /* nesting of enter() */
	bool dead;      /* smtpc_free while busy: no more callbacks */
	bool tls;
	bool verified;
	bool starttls_refused;
	char peer_name[64];
	char tls_desc[96];
	char log_host[LOG_ESC_MAX]; /* the host name, escaped for the log */
	struct smtpc_reply_parser rp;
	struct smtpc_ehlo ehlo;
	struct smtpc_reply quit_reply;
	bool have_quit_reply;
	struct smtpc_reply pend_close_why;
	bool pend_close;
	bool pend_result;

	/* The transaction in flight (msg != NULL). */
	const struct smtpc_msg *msg;
	struct smtpc_reply *res;
	bool *res_final;    /* res[i] is the answer for recipient i */
	bool *rcpt_sent;
	bool *rcpt_ok;
	size_t n_ok;
	bool mail_failed;
	bool pipelining;
	size_t next_rcpt;
	struct smtpc_exp *exp;
	size_t exp_head, exp_tail;
	struct smtpc_body body;
	bool body_active;
};

const char *smtpc_state_name(enum smtpc_state st);
/* Freed, or closed (and so about to be freed): stop touching it. */
bool smtpc_gone(const struct smtpc *c);
/* The one place the state changes, so every transition is logged
 * (at debug) with both names. */
void smtpc_enter_state(struct smtpc *c, enum smtpc_state st);
/* (Re)starts the timer for what we wait for now. */
void smtpc_arm(struct smtpc *c, int secs);
/* Queues one command line; CRLF is added. */
void smtpc_send_line(struct smtpc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Octets not yet on the wire (ours and, under TLS, the socket's). */
size_t smtpc_out_len(const struct smtpc *c);
/* The connection failed with a 421 of ours: see fail() in smtpc.c. */
void smtpc_fail_made(struct smtpc *c, const char *status, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
/* Idle again: on_ready. */
void smtpc_become_ready(struct smtpc *c);

/* smtpc_txn.c */
void smtpc_txn_free(struct smtpc *c);
/* Hands the results to on_result; the transaction is over. */
void smtpc_txn_notify(struct smtpc *c);
/* A reply while in S_TXN. */
void smtpc_txn_reply(struct smtpc *c, const struct smtpc_reply *r);
/* Adds body to the output while there is room. */
void smtpc_txn_pump(struct smtpc *c);

#endif
