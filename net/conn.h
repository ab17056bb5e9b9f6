/* One client connection, plain or TLS behind the same interface.
 *
 * The protocol session owns the conn it is given. Bytes arrive through
 * handler->on_input; the session reads whole lines with conn_read_line
 * and answers with conn_write/conn_printf. Nothing here frees the conn
 * inside a callback (docs/CONVENTIONS.md, "Deferred frees"):
 * conn_close() marks it closing, flushes what was written, and later --
 * from the event loop, never from the caller's stack -- calls
 * handler->on_close once and frees the conn.
 * on_close also comes when the peer goes away, on a timeout, on an
 * input overflow and on a TLS failure; after it the session must not
 * touch the conn. */
#ifndef POSTERN_CONN_H
#define POSTERN_CONN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "net/ipcount.h"

struct event_base;
struct bufferevent;
struct ssl_ctx_st;
struct event;
struct evbuffer_cb_entry;
struct sockaddr;

struct conn_handler {
	void (*on_input)(void *sess);   /* new bytes are buffered */
	void (*on_drain)(void *sess);   /* output fell below the low mark */
	void (*on_tls)(void *sess);     /* a STLS handshake completed */
	void (*on_close)(void *sess, const char *reason);
	/* Optional: the idle timeout fired. The session may write a last
	 * reply and must close (conn_close); without it the connection is
	 * closed at once, in silence. */
	void (*on_timeout)(void *sess);
};

/* What conn_long_line() keeps of a line too long to buffer. */
#define CONN_LONG_HEAD 64
#define CONN_LONG_TAIL 32

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	enum listener_kind kind;
	char id[24];          /* session id in every log line: "sid=..." */
	char remote_ip[64];
	int remote_port;
	bool tls;             /* TLS is established (or being, for 993/995) */
	bool loopback;        /* peer is 127.0.0.0/8 or ::1 */
	bool closing;
	const struct conn_handler *handler;
	void *sess;
	/* private */
	bool skipping_long_line;
	unsigned char long_head_len, long_tail_len;
	char long_head[CONN_LONG_HEAD];
	char long_tail[CONN_LONG_TAIL];
	bool input_paused;
	bool upgrading;
	bool tls_established;
	struct evbuffer_cb_entry *under_cb;
	bool drain_wanted;
	/* Counts and pre-login limits (conn_admit, conn_logged_in). */
	bool has_ipkey;       /* a TCP peer: ipkey is its address */
	bool counted_total;   /* in the server-wide total */
	bool counted_prelogin; /* in its address's pre-login count */
	bool counted_user;    /* in its (user, address) count, userkey */
	bool logged_in;
	struct ipcount_key ipkey, userkey;
	const struct conn_replies *replies;
	struct event *deadline_ev;
	int max_commands;     /* commands allowed before login; 0 = any */
	int commands;
	int timeout_secs;
	struct event *close_ev;
	struct event *hup_ev; /* EV_CLOSED on the socket: see conn_peer_gone */
	bool peer_shut;       /* the peer sent its FIN */
	struct conn *next, *prev;
	char close_reason[64];
};

enum conn_line_status {
	CONN_LINE_OK,       /* *line holds one line without CR LF */
	CONN_LINE_NONE,     /* no complete line buffered yet */
	CONN_LINE_TOO_LONG, /* a line over max was dropped (reported once) */
};
/* Takes the next line ending in LF (a CR before it is dropped too).
 * max counts the octets of the line including CRLF, as RFC 2449 does.
 * A longer line is discarded through its LF -- even if that LF arrives
 * later -- and reported once, when its end has been read; its first and
 * last few octets are kept for conn_long_line() (an IMAP command's tag
 * is at its start, a literal announced for what follows at its end). */
enum conn_line_status conn_read_line(struct conn *c, struct buf *line,
				     size_t max);
/* After CONN_LINE_TOO_LONG: the dropped line's first (up to
 * CONN_LONG_HEAD) and last (up to CONN_LONG_TAIL, without CR LF) octets. */
void conn_long_line(const struct conn *c, struct str *head, struct str *tail);
size_t conn_input_len(const struct conn *c);
/* Drops everything the client has sent that was not yet read. */
void conn_discard_input(struct conn *c);
/* Raw input for byte-counted readers (SMTP DATA/BDAT): *p points at the
 * first contiguous run of buffered input, whose length is returned (0:
 * nothing buffered). Valid until the next call into conn. conn_drain
 * then removes n <= conn_input_len() bytes; bytes left stay for
 * conn_read_line (pipelined commands). */
size_t conn_peek(struct conn *c, const char **p);
void conn_drain(struct conn *c, size_t n);

void conn_write(struct conn *c, const void *p, size_t n);
void conn_writes(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t conn_output_len(const struct conn *c);
/* Asks for one on_drain when output falls to CONN_OUTPUT_HIGH_WATER/4. */
void conn_want_drain(struct conn *c);

/* Stop or resume on_input (bytes keep being buffered by the kernel). */
void conn_pause_input(struct conn *c, bool pause);
/* Idle timeout: closes with reason "timeout" after secs without input. */
void conn_set_timeout(struct conn *c, int secs);

/* Server side of STLS/STARTTLS: throws away every byte the client sent
 * before this call (CVE-2011-0411), then starts the handshake on top of
 * what was already written (write the "+OK" first). on_tls follows. */
int conn_starttls(struct conn *c, struct ssl_ctx_st *ctx);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" once TLS is up, else "none". */
const char *conn_tls_desc(const struct conn *c, char *buf, size_t n);

/* Flushes pending output, then closes and calls on_close(reason). */
void conn_close(struct conn *c, const char *reason);

/* The protocol's last words when a limit ends a session before login
 * ("-ERR ...\r\n", "* BYE ...\r\n", "421 4.7.0 ...\r\n"). */
struct conn_replies {
	const char *busy_ip;     /* its address has too many connections */
	const char *busy_server; /* the server or this worker is full */
	const char *deadline;    /* login_deadline passed */
	const char *commands;    /* the command budget is spent */
};

/* What conn_admit checks; 0 = no limit. */
struct conn_limits {
	int max_connections;        /* whole server */
	int worker_max_connections; /* this process */
	int max_per_ip;             /* not logged in, per address (IPv6: /64) */
	int deadline_secs;          /* to log in, from the accept */
	int max_commands;           /* before login */
};

/* After conn_accept: counts the connection in the server-wide total and
 * in its address's pre-login count, unless a limit is reached; then it
 * writes the busy reply, logs the reason, closes and returns false.
 * Starts the login deadline and the command budget. */
bool conn_admit(struct conn *c, const struct conn_limits *lim,
		const struct conn_replies *replies);
/* A command arrived before login: false when it is over the budget
 * (the conn then says so, logs it and closes; the caller stops). */
bool conn_count_command(struct conn *c);
/* Port 25: a new mail transaction starts a new budget. */
void conn_reset_command_budget(struct conn *c);
/* A login succeeded as user: the connection leaves its address's
 * pre-login count and counts for (user, address) in the class of its
 * protocol; the deadline and the budget end. False -- and nothing
 * changes -- when limit (> 0) such connections exist already, in every
 * worker (logged; the caller refuses the login in its protocol). */
bool conn_logged_in(struct conn *c, const char *user, int limit);
/* Called from the loop after a connection has been freed (a descriptor
 * came back): the worker resumes accepting if it had stopped. */
void conn_set_release_hook(void (*fn)(void *), void *arg);

/* For the worker. */
struct conn *conn_accept(struct event_base *base, int fd,
			 const struct sockaddr *sa, int salen,
			 enum listener_kind kind, struct ssl_ctx_st *tls_ctx);
void conn_attach(struct conn *c, const struct conn_handler *h, void *sess);
size_t conn_live_count(void);
/* Closes every connection now, without waiting for output (shutdown). */
void conn_close_all(const char *reason);

#endif
