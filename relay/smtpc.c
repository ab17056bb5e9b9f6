/* The SMTP client (relay/smtpc.h): one state machine on a libevent
 * bufferevent. Every entry from the loop (read, write, event, timer,
 * deferred work) goes through enter()/leave(), so a callback that frees
 * the client, or a failure that closes it, never leaves a frame below
 * holding a freed pointer (STYLE 8): the struct goes away in leave(). */
#include "relay/smtpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "relay/smtpc_body.h"
#include "relay/smtpc_reply.h"
#include "tls/tls.h"

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

static const char *const state_names[] = {
	"connecting", "greeting", "ehlo", "helo", "starttls", "handshake",
	"auth-login-user", "auth-login-pass", "auth", "ready", "transaction",
	"rset", "quit", "done",
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

static const char *const tls_level_names[] = {
	"none", "may", "encrypt", "verify", "smtps",
};

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void after_ehlo(struct smtpc *c);

static bool gone(const struct smtpc *c)
{
	return c->dead || c->st == S_DONE;
}

static void enter(struct smtpc *c)
{
	c->busy++;
}

static void txn_free(struct smtpc *c)
{
	free(c->res);
	free(c->res_final);
	free(c->rcpt_sent);
	free(c->rcpt_ok);
	free(c->exp);
	c->res = NULL;
	c->res_final = c->rcpt_sent = c->rcpt_ok = NULL;
	c->exp = NULL;
}

static void bev_drop(struct smtpc *c)
{
	if (!c->bev)
		return;
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under && c->under_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(under),
					 c->under_cb);
	c->under_cb = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
}

static void destroy(struct smtpc *c)
{
	bev_drop(c);
	event_free(c->timer);
	event_free(c->defer);
	txn_free(c);
	if (c->auth_pass)
		explicit_bzero(c->auth_pass, strlen(c->auth_pass));
	free(c->helo);
	free(c->tls_name);
	free(c->auth_user);
	free(c->auth_pass);
	free(c->log_id);
	free(c);
}

static void leave(struct smtpc *c)
{
	if (--c->busy == 0 && gone(c))
		destroy(c);
}

static void enter_state(struct smtpc *c, enum smtpc_state st)
{
	log_kv(LOG_DEBUG, "event=smtpc_state %s host=%s from=%s to=%s",
	       c->log_id, c->target.host, state_names[c->st], state_names[st]);
	c->st = st;
}

static void arm(struct smtpc *c, int secs)
{
	struct timeval tv = { secs, 0 };
	evtimer_add(c->timer, &tv);
}

static void disarm(struct smtpc *c)
{
	evtimer_del(c->timer);
}

static void send_line(struct smtpc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void send_line(struct smtpc *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static size_t out_len(const struct smtpc *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static const char *addr_str(const struct relay_target *t, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (t->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&t->addr;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		port = ntohs(a->sin_port);
		snprintf(buf, n, "%s:%d", ip, port);
	} else if (t->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&t->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(buf, n, "[%s]:%d", ip, port);
	} else {
		snprintf(buf, n, "?");
	}
	return buf;
}

/* ---- the end of a transaction or of the connection ---- */

static void notify_result(struct smtpc *c)
{
	size_t n = c->msg->n_rcpts;
	c->msg = NULL;
	c->body_active = false;
	if (!c->dead)
		c->h.on_result(c->arg, c->res, n);
}

static void close_conn(struct smtpc *c, bool failed,
		       const struct smtpc_reply *why)
{
	char esc[LOG_ESC_MAX];
	log_kv(failed ? LOG_WARN : LOG_INFO,
	       "event=smtpc_close %s host=%s failed=%s code=%d status=%s "
	       "reason=%s", c->log_id, c->target.host, failed ? "yes" : "no",
	       why->code, why->status,
	       log_esc(esc, sizeof esc, why->text, strlen(why->text)));
	bev_drop(c);
	disarm(c);
	enter_state(c, S_DONE);
	if (!c->dead)
		c->h.on_close(c->arg, failed, why);
}

/* The connection failed: the transaction in flight, if any, is over for
 * every recipient not already answered for good, with why (always a
 * 4xx: what went wrong is this connection, not the message). */
static void fail(struct smtpc *c, const struct smtpc_reply *why)
{
	if (c->msg) {
		for (size_t i = 0; i < c->msg->n_rcpts; i++)
			if (!c->res_final[i] || c->res[i].code / 100 != 5)
				c->res[i] = *why;
		bev_drop(c);
		notify_result(c);
		if (gone(c))
			return;
	}
	close_conn(c, true, why);
}

static void fail_made(struct smtpc *c, const char *status, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));
static void fail_made(struct smtpc *c, const char *status, const char *fmt,
		      ...)
{
	struct smtpc_reply why;
	char text[SMTPC_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	smtpc_reply_make(&why, 421, status, "%s", text);
	fail(c, &why);
}

/* A refusal of the session (not of a message) is a temporary failure of
 * this host: the runner then tries the next MX. RFC 5321 3.1: a 554
 * greeting means this server will not talk to us, which says nothing
 * about the message; 5.1: the client SHOULD try the other addresses of
 * the destination before giving up. A misconfigured MX must not bounce
 * mail the other MXs would take. The remote's words are kept. */
static void fail_refused(struct smtpc *c, const char *what,
			 const struct smtpc_reply *r)
{
	char st[16];
	snprintf(st, sizeof st, "%s", r->status);
	st[0] = '4';
	fail_made(c, st, "%s %s: %d %s", c->target.host, what, r->code,
		  r->text);
}

static void become_ready(struct smtpc *c)
{
	disarm(c);
	enter_state(c, S_READY);
	if (!c->dead)
		c->h.on_ready(c->arg);
}

static void end_txn(struct smtpc *c, bool rset)
{
	for (size_t i = 0; i < c->msg->n_rcpts; i++)
		if (!c->res_final[i])
			smtpc_reply_make(&c->res[i], 451, "4.3.0",
					 "transaction ended without an answer");
	notify_result(c);
	if (gone(c))
		return;
	if (c->st != S_TXN)
		return; /* the handler quit meanwhile? (not allowed) */
	if (rset) {
		/* The server may still hold part of the failed
		 * transaction (RFC 5321 4.1.1.5). */
		send_line(c, "RSET");
		enter_state(c, S_RSET);
		arm(c, c->timeout);
		return;
	}
	become_ready(c);
}

/* ---- TLS ---- */

static void tls_up(struct smtpc *c)
{
	const char *verr = tls_bev_verify_error(c->bev);
	c->tls = true;
	c->verified = verr == NULL;
	tls_bev_desc(c->bev, c->tls_desc, sizeof c->tls_desc);
	char esc[LOG_ESC_MAX];
	log_kv(LOG_INFO, "event=smtpc_tls %s host=%s tls=%s verified=%s "
	       "verify_error=%s", c->log_id, c->target.host, c->tls_desc,
	       c->verified ? "yes" : "no",
	       verr ? log_esc(esc, sizeof esc, verr, strlen(verr)) : "none");
}

static void under_drained(struct evbuffer *buf,
			  const struct evbuffer_cb_info *info, void *arg)
{
	(void)buf;
	struct smtpc *c = arg;
	/* Called from inside libevent's writing: only ask for the write
	 * callback, from the loop. */
	if (info->n_deleted && c->body_active && out_len(c) <= SMTPC_OUT_LOW)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_OPT_DEFER_CALLBACKS);
}

static void set_bev(struct smtpc *c, struct bufferevent *bev)
{
	c->bev = bev;
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, SMTPC_OUT_LOW, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void start_tls(struct smtpc *c)
{
	/* CVE-2021-38371: whatever came after the 220 was sent before the
	 * handshake, by the server or by someone in the path, and must
	 * not be read as a reply inside TLS. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	smtpc_reply_init(&c->rp);
	struct bufferevent *tb = tls_bev_connect_upgrade(
		c->base, c->bev, c->tls_ctx, c->tls_name,
		c->tls_level == RELAY_TLS_VERIFY);
	if (!tb) {
		fail_made(c, "4.7.5", "cannot start TLS with %s",
			  c->target.host);
		return;
	}
	struct bufferevent *under = c->bev;
	set_bev(c, tb);
	c->under_cb = evbuffer_add_cb(bufferevent_get_output(under),
				      under_drained, c);
	memset(&c->ehlo, 0, sizeof c->ehlo);
	enter_state(c, S_HANDSHAKE);
	arm(c, c->timeout);
}

/* ---- AUTH (RFC 4954), only ever inside TLS ---- */

static void b64_append(struct buf *b, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		buf_appendc(b, base64_alphabet[(v >> 18) & 63]);
		buf_appendc(b, base64_alphabet[(v >> 12) & 63]);
		buf_appendc(b, i + 1 < n ? base64_alphabet[(v >> 6) & 63] : '=');
		buf_appendc(b, i + 2 < n ? base64_alphabet[v & 63] : '=');
	}
}

/* Sends prefix + base64(a [NUL b NUL c]) and wipes the copy. */
static void send_b64(struct smtpc *c, const char *prefix, const char *a,
		     const char *b)
{
	struct buf raw = BUF_INIT, line = BUF_INIT;
	if (b) {
		/* RFC 4616: authzid (empty) NUL authcid NUL passwd. */
		buf_appendc(&raw, '\0');
		buf_appends(&raw, a);
		buf_appendc(&raw, '\0');
		buf_appends(&raw, b);
	} else {
		buf_appends(&raw, a);
	}
	buf_appends(&line, prefix);
	b64_append(&line, (const unsigned char *)raw.data, raw.len);
	buf_appends(&line, "\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), line.data, line.len);
	explicit_bzero(raw.data, raw.cap);
	explicit_bzero(line.data, line.cap);
	buf_free(&raw);
	buf_free(&line);
}

static void start_auth(struct smtpc *c)
{
	if (!c->tls) {
		fail_made(c, "4.7.0", "AUTH is configured for %s but the "
			  "connection is not encrypted: credentials are "
			  "never sent in clear", c->target.host);
		return;
	}
	if (c->ehlo.auth_plain) {
		send_b64(c, "AUTH PLAIN ", c->auth_user, c->auth_pass);
		enter_state(c, S_AUTH);
	} else if (c->ehlo.auth_login) {
		send_line(c, "AUTH LOGIN");
		enter_state(c, S_AUTH_LOGIN_USER);
	} else {
		fail_made(c, "4.7.0", "AUTH is configured for %s but it "
			  "offers neither PLAIN nor LOGIN", c->target.host);
		return;
	}
	arm(c, c->timeout);
}

/* ---- after EHLO: STARTTLS, AUTH, ready ---- */

static void after_ehlo(struct smtpc *c)
{
	bool want_tls = c->tls_level >= RELAY_TLS_MAY && c->tls_ctx;
	if (!c->tls && want_tls && c->ehlo.starttls && !c->starttls_refused) {
		send_line(c, "STARTTLS");
		enter_state(c, S_STARTTLS);
		arm(c, c->timeout);
		return;
	}
	if (!c->tls && c->tls_level >= RELAY_TLS_ENCRYPT) {
		/* RFC 3463 X.7.0 "other or undefined security status":
		 * X.7.4 (security features not supported) and X.7.10
		 * (RFC 5248's "encryption needed") are meant as permanent,
		 * and this is a temporary failure of one host. */
		if (!c->tls_ctx)
			fail_made(c, "4.7.0", "TLS is required for this "
				  "destination but no TLS context is set up");
		else if (c->starttls_refused)
			fail_made(c, "4.7.0", "TLS is required for this "
				  "destination but the server refused "
				  "STARTTLS");
		else
			fail_made(c, "4.7.0", "TLS is required for this "
				  "destination but the server did not offer "
				  "STARTTLS");
		return;
	}
	if (c->auth_user) {
		start_auth(c);
		return;
	}
	become_ready(c);
}

static void send_ehlo(struct smtpc *c)
{
	send_line(c, "EHLO %s", c->helo);
	enter_state(c, S_EHLO);
	arm(c, c->timeout);
}

/* ---- the transaction ---- */

static void exp_push(struct smtpc *c, enum smtpc_expect kind, size_t rcpt)
{
	c->exp[c->exp_tail++] = (struct smtpc_exp){ kind, rcpt };
}

/* Sends RCPT for the next recipient not refused locally; false if none
 * is left. */
static bool send_next_rcpt(struct smtpc *c)
{
	while (c->next_rcpt < c->msg->n_rcpts) {
		size_t i = c->next_rcpt++;
		if (!c->rcpt_sent[i])
			continue;
		send_line(c, "RCPT TO:<%s>", c->msg->rcpts[i]);
		exp_push(c, X_RCPT, i);
		return true;
	}
	return false;
}

static void body_pump(struct smtpc *c)
{
	char chunk[SMTPC_BODY_CHUNK];
	struct evbuffer *out = bufferevent_get_output(c->bev);
	while (c->body_active && !c->body.finished &&
	       out_len(c) < SMTPC_OUT_HIGH) {
		size_t n = smtpc_body_encode(&c->body, chunk, sizeof chunk);
		evbuffer_add(out, chunk, n);
	}
	if (!c->body_active)
		return;
	if (c->body.finished) {
		c->body_active = false;
		arm(c, c->timeout > SMTPC_DATA_END_TIMEOUT
			       ? c->timeout : SMTPC_DATA_END_TIMEOUT);
	} else {
		/* The socket is moving: the data-block timeout restarts
		 * (RFC 5321 4.5.3.2.5). */
		arm(c, c->timeout);
	}
}

static void txn_reply(struct smtpc *c, const struct smtpc_reply *r)
{
	if (c->exp_head == c->exp_tail) {
		fail_made(c, "4.5.0", "unexpected reply from %s: %d %s",
			  c->target.host, r->code, r->text);
		return;
	}
	struct smtpc_exp x = c->exp[c->exp_head++];
	bool ok = r->code / 100 == 2;
	size_t n = c->msg->n_rcpts;
	switch (x.kind) {
	case X_MAIL:
		if (!ok) {
			c->mail_failed = true;
			for (size_t i = 0; i < n; i++)
				if (!c->res_final[i]) {
					c->res[i] = *r;
					c->res_final[i] = true;
				}
			if (!c->pipelining)
				end_txn(c, true);
			return;
		}
		if (!c->pipelining)
			send_next_rcpt(c);
		return;
	case X_RCPT:
		if (ok && !c->mail_failed) {
			c->rcpt_ok[x.rcpt] = true;
			c->n_ok++;
		} else if (!c->res_final[x.rcpt]) {
			c->res[x.rcpt] = *r;
			c->res_final[x.rcpt] = true;
		}
		if (c->pipelining || send_next_rcpt(c))
			return;
		if (c->n_ok == 0) {
			end_txn(c, true);
			return;
		}
		send_line(c, "DATA");
		exp_push(c, X_DATA, 0);
		return;
	case X_DATA:
		if (r->code == 354 && (c->mail_failed || c->n_ok == 0)) {
			/* RFC 2920 3.1: no recipient was accepted but the
			 * pipelined DATA was: end it with a lone dot. */
			evbuffer_add(bufferevent_get_output(c->bev), ".\r\n", 3);
			exp_push(c, X_ABORT_DOT, 0);
			return;
		}
		if (r->code == 354) {
			exp_push(c, X_DOT, 0);
			smtpc_body_init(&c->body, c->msg->data, c->msg->len);
			c->body_active = true;
			body_pump(c);
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (!c->res_final[i]) {
				c->res[i] = *r;
				c->res_final[i] = true;
			}
		end_txn(c, true);
		return;
	case X_ABORT_DOT:
		end_txn(c, true);
		return;
	case X_DOT: {
		bool early = c->body_active;
		for (size_t i = 0; i < n; i++)
			if (!c->res_final[i]) {
				c->res[i] = *r;
				c->res_final[i] = true;
			}
		if (!early) {
			end_txn(c, false);
			return;
		}
		/* A reply before our end of data: we cannot know what the
		 * server will make of the rest, so the connection ends. */
		c->body_active = false;
		notify_result(c);
		if (gone(c))
			return;
		fail_made(c, "4.5.0", "%s replied before the end of the data",
			  c->target.host);
		return;
	}
	}
}

/* ---- replies by state ---- */

static void on_reply(struct smtpc *c, const struct smtpc_reply *r,
		     const struct smtpc_ehlo *ehlo)
{
	int cls = r->code / 100;
	if (r->code == 421 && c->st != S_QUIT) {
		/* RFC 5321 3.8: the server is closing; whatever was in
		 * flight is over. */
		fail(c, r);
		return;
	}
	switch (c->st) {
	case S_GREETING:
		if (r->code != 220) {
			fail_refused(c, "refused the session", r);
			return;
		}
		send_ehlo(c);
		return;
	case S_EHLO:
		if (cls == 2) {
			c->ehlo = *ehlo;
			size_t k = 0;
			while (k < sizeof c->peer_name - 1 && r->text[k] &&
			       r->text[k] != ' ') {
				c->peer_name[k] = r->text[k];
				k++;
			}
			c->peer_name[k] = '\0';
			after_ehlo(c);
		} else if (cls == 5) {
			/* RFC 5321 3.2: a server that does not know EHLO
			 * (500, 502, or 554 ...) still takes HELO. */
			send_line(c, "HELO %s", c->helo);
			enter_state(c, S_HELO);
			arm(c, c->timeout);
		} else {
			fail_refused(c, "refused EHLO", r);
		}
		return;
	case S_HELO:
		if (cls != 2) {
			fail_refused(c, "refused HELO", r);
			return;
		}
		memset(&c->ehlo, 0, sizeof c->ehlo);
		after_ehlo(c);
		return;
	case S_STARTTLS:
		if (r->code == 220) {
			start_tls(c);
			return;
		}
		/* RFC 3207 4: the client may go on in clear, which MAY
		 * does; ENCRYPT and VERIFY fail in after_ehlo. */
		c->starttls_refused = true;
		after_ehlo(c);
		return;
	case S_AUTH_LOGIN_USER:
	case S_AUTH_LOGIN_PASS:
		if (r->code != 334) {
			fail_refused(c, "refused AUTH", r);
			return;
		}
		if (c->st == S_AUTH_LOGIN_USER) {
			send_b64(c, "", c->auth_user, NULL);
			enter_state(c, S_AUTH_LOGIN_PASS);
		} else {
			send_b64(c, "", c->auth_pass, NULL);
			enter_state(c, S_AUTH);
		}
		arm(c, c->timeout);
		return;
	case S_AUTH:
		if (r->code != 235) {
			fail_refused(c, "refused AUTH", r);
			return;
		}
		log_kv(LOG_INFO, "event=smtpc_auth %s host=%s result=ok",
		       c->log_id, c->target.host);
		become_ready(c);
		return;
	case S_RSET:
		if (cls != 2) {
			fail_refused(c, "refused RSET", r);
			return;
		}
		become_ready(c);
		return;
	case S_TXN:
		arm(c, c->timeout);
		txn_reply(c, r);
		return;
	case S_QUIT:
		c->quit_reply = *r;
		c->have_quit_reply = true;
		close_conn(c, false, r);
		return;
	case S_READY:
		fail_made(c, "4.5.0", "unexpected reply from %s: %d %s",
			  c->target.host, r->code, r->text);
		return;
	case S_CONNECTING:
	case S_HANDSHAKE:
	case S_DONE:
		break;
	}
	log_fatal("smtpc: reply in state %s", state_names[c->st]);
}

static bool reading_replies(const struct smtpc *c)
{
	return !gone(c) && c->bev && c->st != S_CONNECTING &&
	       c->st != S_HANDSHAKE;
}

static void read_replies(struct smtpc *c)
{
	char line[SMTPC_REPLY_LINE_MAX + 2];
	while (reading_replies(c)) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		size_t avail = evbuffer_get_length(in);
		if (p.pos < 0 && avail <= SMTPC_REPLY_LINE_MAX + 1)
			return;
		if (p.pos < 0 || (size_t)p.pos > SMTPC_REPLY_LINE_MAX + 1) {
			fail_made(c, "4.5.0", "reply line from %s too long",
				  c->target.host);
			return;
		}
		size_t n = (size_t)p.pos + 1;
		evbuffer_remove(in, line, n);
		size_t len = n - 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		switch (smtpc_reply_feed(&c->rp, str_make(line, len))) {
		case SMTPC_REPLY_MORE:
			break;
		case SMTPC_REPLY_ERROR:
			fail_made(c, "4.5.0", "bad reply from %s: %s",
				  c->target.host, c->rp.error);
			return;
		case SMTPC_REPLY_DONE: {
			struct smtpc_reply r = c->rp.reply;
			struct smtpc_ehlo e = c->rp.ehlo;
			smtpc_reply_init(&c->rp);
			on_reply(c, &r, &e);
			break;
		}
		}
	}
}

/* ---- libevent entry points ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct smtpc *c = arg;
	enter(c);
	read_replies(c);
	leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct smtpc *c = arg;
	enter(c);
	if (!gone(c))
		body_pump(c);
	leave(c);
}

static void event_connected(struct smtpc *c)
{
	char a[INET6_ADDRSTRLEN + 10];
	if (c->st == S_CONNECTING) {
		log_kv(LOG_INFO, "event=smtpc_connected %s host=%s addr=%s",
		       c->log_id, c->target.host,
		       addr_str(&c->target, a, sizeof a));
		if (c->tls_level == RELAY_TLS_SMTPS)
			tls_up(c);
		enter_state(c, S_GREETING);
		arm(c, c->timeout);
	} else if (c->st == S_HANDSHAKE) {
		tls_up(c);
		send_ehlo(c);
		/* Input that came with the end of the handshake. */
		read_replies(c);
	}
}

static void event_failed(struct smtpc *c, short what)
{
	int err = EVUTIL_SOCKET_ERROR();
	if (c->st == S_QUIT) {
		struct smtpc_reply r;
		smtpc_reply_make(&r, 221, "2.0.0", "closed by %s",
				 c->target.host);
		close_conn(c, false, c->have_quit_reply ? &c->quit_reply : &r);
		return;
	}
	bool in_tls = c->st == S_HANDSHAKE ||
		      (c->st == S_CONNECTING && c->tls_level == RELAY_TLS_SMTPS);
	const char *verr = in_tls ? tls_bev_verify_error(c->bev) : NULL;
	char tmp[256];
	if (verr) {
		fail_made(c, "4.7.5", "TLS with %s failed: the certificate "
			  "did not verify for %s: %s", c->target.host,
			  c->tls_name, verr);
	} else if (c->st == S_CONNECTING && (!in_tls || err)) {
		fail_made(c, "4.4.1", "cannot connect to %s: %s",
			  c->target.host, err ? strerror(err) : "failed");
	} else if (in_tls) {
		fail_made(c, "4.7.5", "TLS handshake with %s failed: %s",
			  c->target.host, tls_bev_error(c->bev, tmp, sizeof tmp));
	} else {
		fail_made(c, "4.4.2", "connection to %s lost%s",
			  c->target.host,
			  (what & BEV_EVENT_EOF) ? "" : " (error)");
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct smtpc *c = arg;
	enter(c);
	if (gone(c)) {
		/* nothing */
	} else if (what & BEV_EVENT_CONNECTED) {
		event_connected(c);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR |
			   BEV_EVENT_TIMEOUT)) {
		event_failed(c, what);
	}
	leave(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtpc *c = arg;
	enter(c);
	if (gone(c)) {
		/* nothing */
	} else if (c->st == S_QUIT) {
		struct smtpc_reply r;
		smtpc_reply_make(&r, 221, "2.0.0", "no reply to QUIT from %s",
				 c->target.host);
		close_conn(c, false, &r);
	} else if (c->st == S_CONNECTING) {
		fail_made(c, "4.4.1", "cannot connect to %s: timed out after "
			  "%d s", c->target.host, c->connect_timeout);
	} else {
		fail_made(c, "4.4.2", "timeout waiting for %s (%s)",
			  c->target.host, state_names[c->st]);
	}
	leave(c);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtpc *c = arg;
	enter(c);
	if (!gone(c) && c->pend_close) {
		c->pend_close = false;
		close_conn(c, true, &c->pend_close_why);
	} else if (!gone(c) && c->pend_result) {
		/* Nothing was sent: no RSET needed. */
		c->pend_result = false;
		notify_result(c);
		if (!gone(c) && c->st == S_TXN)
			become_ready(c);
	}
	leave(c);
}

/* ---- the API ---- */

struct smtpc *smtpc_connect(struct event_base *base,
			    const struct relay_target *target,
			    const struct smtpc_opts *opts,
			    const struct smtpc_handler *h, void *arg)
{
	struct smtpc *c = xcalloc(1, sizeof *c);
	c->base = base;
	c->target = *target;
	c->target.host[sizeof c->target.host - 1] = '\0';
	c->helo = xstrdup(opts->helo ? opts->helo : "localhost");
	c->tls_name = xstrdup(opts->tls_name && opts->tls_name[0]
				      ? opts->tls_name : target->host);
	c->auth_user = opts->auth_user ? xstrdup(opts->auth_user) : NULL;
	c->auth_pass = xstrdup(opts->auth_pass ? opts->auth_pass : "");
	c->log_id = xstrdup(opts->log_id ? opts->log_id : "");
	c->tls_level = opts->tls;
	c->tls_ctx = opts->tls_ctx;
	c->connect_timeout = opts->connect_timeout > 0 ? opts->connect_timeout : 30;
	c->timeout = opts->timeout > 0 ? opts->timeout : 300;
	c->h = *h;
	c->arg = arg;
	snprintf(c->tls_desc, sizeof c->tls_desc, "none");
	smtpc_reply_init(&c->rp);
	c->timer = evtimer_new(base, timer_cb, c);
	c->defer = event_new(base, -1, 0, defer_cb, c);
	if (!c->timer || !c->defer)
		log_fatal("smtpc: cannot create events");
	c->st = S_CONNECTING;

	char a[INET6_ADDRSTRLEN + 10];
	log_kv(LOG_INFO, "event=smtpc_connect %s host=%s addr=%s tls=%s",
	       c->log_id, c->target.host, addr_str(target, a, sizeof a),
	       tls_level_names[c->tls_level]);
	struct bufferevent *bev;
	if (c->tls_level == RELAY_TLS_SMTPS)
		bev = c->tls_ctx ? tls_bev_connect(base, -1, c->tls_ctx,
						   c->tls_name, true)
				 : NULL;
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE |
						       BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		smtpc_reply_make(&c->pend_close_why, 421, "4.3.0",
				 "cannot set up a connection to %s%s",
				 c->target.host,
				 c->tls_ctx ? "" : " (no TLS context)");
		c->pend_close = true;
		event_active(c->defer, EV_TIMEOUT, 1);
		return c;
	}
	set_bev(c, bev);
	if (bufferevent_socket_connect(bev, (const struct sockaddr *)&target->addr,
				       (int)target->addr_len) < 0) {
		int err = errno;
		smtpc_reply_make(&c->pend_close_why, 421, "4.4.1",
				 "cannot connect to %s: %s", c->target.host,
				 strerror(err));
		c->pend_close = true;
		event_active(c->defer, EV_TIMEOUT, 1);
		return c;
	}
	arm(c, c->connect_timeout);
	return c;
}

/* Addresses go on a command line: nothing that could end it or break
 * out of the angle brackets (a CR or LF would be command injection). */
static bool addr_ok(const char *a, bool empty_ok)
{
	size_t n = strlen(a);
	if ((n == 0 && !empty_ok) || n > SMTP_PATH_MAX - 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

static void refuse_all(struct smtpc *c, int code, const char *status,
		       const char *text)
{
	for (size_t i = 0; i < c->msg->n_rcpts; i++)
		if (!c->res_final[i]) {
			smtpc_reply_make(&c->res[i], code, status, "%s", text);
			c->res_final[i] = true;
			c->rcpt_sent[i] = false;
		}
}

void smtpc_send(struct smtpc *c, const struct smtpc_msg *msg)
{
	if (c->st != S_READY || c->msg)
		log_fatal("smtpc_send in state %s", state_names[c->st]);
	size_t n = msg->n_rcpts;
	txn_free(c);
	c->msg = msg;
	c->res = xcalloc(n ? n : 1, sizeof *c->res);
	c->res_final = xcalloc(n ? n : 1, sizeof *c->res_final);
	c->rcpt_sent = xcalloc(n ? n : 1, sizeof *c->rcpt_sent);
	c->rcpt_ok = xcalloc(n ? n : 1, sizeof *c->rcpt_ok);
	c->exp = xcalloc(n + 3, sizeof *c->exp);
	c->exp_head = c->exp_tail = 0;
	c->n_ok = 0;
	c->next_rcpt = 0;
	c->mail_failed = false;
	c->body_active = false;
	c->pipelining = c->ehlo.pipelining;
	enter_state(c, S_TXN);

	size_t n_send = 0;
	for (size_t i = 0; i < n; i++) {
		c->rcpt_sent[i] = addr_ok(msg->rcpts[i], false);
		if (c->rcpt_sent[i]) {
			n_send++;
		} else {
			smtpc_reply_make(&c->res[i], 553, "5.1.3",
					 "the recipient address cannot be sent");
			c->res_final[i] = true;
		}
	}
	char text[SMTPC_TEXT_MAX];
	if (msg->smtputf8 && !c->ehlo.smtputf8) {
		/* RFC 6531 3.4: without SMTPUTF8 at the server, a message
		 * that needs it is not sent; 5.6.7 is its status. */
		snprintf(text, sizeof text, "the message needs SMTPUTF8 but "
			 "%s does not offer it", c->target.host);
		refuse_all(c, 550, "5.6.7", text);
	} else if (c->ehlo.size && c->ehlo.size_max &&
		   msg->len > c->ehlo.size_max) {
		/* RFC 1870 6.1: do not send what the server said it
		 * would not take; 5.3.4 "message too big for system". */
		snprintf(text, sizeof text, "the message (%zu octets) is "
			 "larger than %s accepts (%llu)", msg->len,
			 c->target.host, c->ehlo.size_max);
		refuse_all(c, 552, "5.3.4", text);
	} else if (!addr_ok(msg->sender, true)) {
		refuse_all(c, 550, "5.1.7", "the sender address cannot be sent");
	}
	n_send = 0;
	for (size_t i = 0; i < n; i++)
		n_send += c->rcpt_sent[i];
	if (n_send == 0) {
		c->pend_result = true;
		event_active(c->defer, EV_TIMEOUT, 1);
		return;
	}

	struct buf mail = BUF_INIT;
	buf_printf(&mail, "MAIL FROM:<%s>", msg->sender);
	if (c->ehlo.size)
		buf_printf(&mail, " SIZE=%zu", msg->len);
	if (msg->body_8bit && c->ehlo.eightbitmime)
		buf_appends(&mail, " BODY=8BITMIME");
	if (msg->smtputf8)
		buf_appends(&mail, " SMTPUTF8");
	send_line(c, "%s", buf_cstr(&mail));
	buf_free(&mail);
	exp_push(c, X_MAIL, 0);
	if (c->pipelining) {
		/* RFC 2920 3.1: MAIL and RCPT anywhere in a group, DATA
		 * last; all of it goes in one write. */
		while (send_next_rcpt(c))
			;
		send_line(c, "DATA");
		exp_push(c, X_DATA, 0);
	}
	arm(c, c->timeout);
}

void smtpc_quit(struct smtpc *c)
{
	if (c->st != S_READY)
		log_fatal("smtpc_quit in state %s", state_names[c->st]);
	send_line(c, "QUIT");
	enter_state(c, S_QUIT);
	arm(c, c->timeout < SMTPC_QUIT_TIMEOUT ? c->timeout
						 : SMTPC_QUIT_TIMEOUT);
}

void smtpc_free(struct smtpc **cp)
{
	struct smtpc *c = *cp;
	*cp = NULL;
	if (!c)
		return;
	if (c->busy) {
		c->dead = true;
		bev_drop(c);
		disarm(c);
		return;
	}
	destroy(c);
}

const char *smtpc_peer_desc(const struct smtpc *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s (%s) tls=%s%s", c->target.host,
		 c->peer_name[0] ? c->peer_name : "?", c->tls_desc,
		 c->tls ? (c->verified ? " verified" : " unverified") : "");
	return buf;
}
