/* The SMTP client: one connection to another server, which can carry
 * several transactions one after another (RFC 5321; PIPELINING RFC 2920,
 * STARTTLS RFC 3207, SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC
 * 6531, AUTH RFC 4954 for a smarthost).
 *
 * Life: smtpc_connect -> on_ready -> smtpc_send -> on_result -> on_ready
 * (same connection, next message) ... -> smtpc_quit -> on_close. Or at
 * any time the connection fails: on_result for the transaction in
 * flight (every recipient gets the failure as a 4xx), then on_close.
 * After on_close the smtpc is gone. Callbacks always come from the event
 * loop, never from inside smtpc_* calls.
 *
 * The client is as careful as the server: replies are parsed with hard
 * limits (relay/smtpc_reply.h; CVE-2020-8794), whatever the server sent
 * before the TLS handshake is discarded (CVE-2021-38371), and the body is
 * sent with every line ending as CRLF and dot-stuffed, so a bare CR or
 * LF can never end the DATA early at the other side (SMTP smuggling). */
#ifndef POSTERN_SMTPC_H
#define POSTERN_SMTPC_H
#include <stdbool.h>
#include <stddef.h>
#include "core/dsn_param.h"
#include "relay/relay.h"

struct event_base;
struct ssl_ctx_st;
struct smtpc;

/* The text kept of one reply: enough for a bounce and a log line. */
#define SMTPC_TEXT_MAX 512

struct smtpc_reply {
	int code;        /* 250, 451, 550 ...; for failures we make up
	                    (connection refused, timeout, TLS) 4xx or 5xx */
	char status[16]; /* enhanced status "5.1.1", from the reply or made
	                    from the code (RFC 3463) */
	char text[SMTPC_TEXT_MAX]; /* the reply, printable, lines joined
	                              with a space; ours start "(postern)" */
	/* In on_result: the server offered DSN (RFC 3461), so NOTIFY went
	 * with the RCPT and notifications of success are its to send;
	 * without it a 2xx for NOTIFY=SUCCESS asks for a "relayed" DSN
	 * from us (RFC 3461 5.2.2 (b)). */
	bool remote_dsn;
};

struct smtpc_opts {
	const char *helo;            /* our name in EHLO/HELO */
	enum relay_tls_level tls;
	const char *tls_name;        /* SNI, and the name VERIFY/SMTPS check */
	struct ssl_ctx_st *tls_ctx;  /* from tls_client_ctx_new */
	const char *auth_user;       /* NULL = no AUTH; else PLAIN or LOGIN,
	                                only ever over TLS */
	const char *auth_pass;
	int connect_timeout;         /* seconds */
	int timeout;                 /* seconds per reply; DATA's end: 600 */
	const char *log_id;          /* in every log line: "qid=..." etc */
};

struct smtpc_handler {
	/* Ready for smtpc_send (or smtpc_quit). */
	void (*on_ready)(void *arg);
	/* One transaction is over: rcpt[i] is the final word for
	 * recipient i (its RCPT reply if that failed, else the reply to
	 * the end of DATA, or the failure of MAIL/DATA). */
	void (*on_result)(void *arg, const struct smtpc_reply *rcpt, size_t n);
	/* The connection is gone. failed: it ended otherwise than by our
	 * QUIT (why says how: refused, timeout, 421, TLS required but not
	 * offered, certificate did not verify...). */
	void (*on_close)(void *arg, bool failed, const struct smtpc_reply *why);
};

struct smtpc_msg {
	const char *sender;          /* "" = null reverse-path */
	const char *const *rcpts;
	size_t n_rcpts;
	const char *data;            /* the message; CRLF or LF */
	size_t len;
	bool body_8bit;              /* BODY=8BITMIME when offered */
	bool smtputf8;               /* needs SMTPUTF8: 5.6.7 if not offered */
	/* RFC 3461, sent only when the server offers DSN (5.2.1; never
	 * otherwise, 5.2.2 (a)), exactly as received: */
	enum dsn_ret ret;            /* RET= */
	const char *envid;           /* ENVID= xtext, or NULL */
	const unsigned *notify;      /* [n_rcpts] DSN_NOTIFY_* (0 = none),
	                                or NULL for none at all */
	const char *const *orcpt;    /* [n_rcpts] ORCPT= "type;xtext" or
	                                NULL, or NULL for none at all */
};

struct smtpc *smtpc_connect(struct event_base *base,
			    const struct relay_target *target,
			    const struct smtpc_opts *opts,
			    const struct smtpc_handler *h, void *arg);
/* Only after on_ready. msg and everything it points to must stay valid
 * until on_result. */
void smtpc_send(struct smtpc *c, const struct smtpc_msg *msg);
/* Only after on_ready: QUIT, then on_close(failed=false). */
void smtpc_quit(struct smtpc *c);
/* Drops the connection now; no more callbacks at all. */
void smtpc_free(struct smtpc **c);
/* Did the server offer DSN (RFC 3461) in its last EHLO reply? */
bool smtpc_remote_has_dsn(const struct smtpc *c);
/* The remote's greeting name and what TLS is up, for the log. */
const char *smtpc_peer_desc(const struct smtpc *c, char *buf, size_t n);

#endif
