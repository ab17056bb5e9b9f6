/* The SMTP client (relay/smtpc.h): one state machine on a libevent
 * bufferevent. Every entry from the loop (read, write, event, timer,
 * deferred work) goes through enter()/leave(), so a callback that frees
 * the client, or a failure that closes it, never leaves a frame below
 * holding a freed pointer: the struct goes away in leave()
 * (docs/CONVENTIONS.md, "Deferred frees").
 * The transaction itself is in smtpc_txn.c. */
#include "relay/smtpc_int.h"

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
#include "tls/tls.h"

static const char *const state_names[] = {
	"connecting", "greeting", "ehlo", "helo", "starttls", "handshake",
	"auth-login-user", "auth-login-pass", "auth", "ready", "transaction",
	"rset", "quit", "done",
};

const char *smtpc_state_name(enum smtpc_state st)
{
	return state_names[st];
}

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void after_ehlo(struct smtpc *c);

bool smtpc_gone(const struct smtpc *c)
{
	return c->dead || c->st == S_DONE;
}

static void enter(struct smtpc *c)
{
	c->busy++;
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
	smtpc_txn_free(c);
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
	if (--c->busy == 0 && smtpc_gone(c))
		destroy(c);
}

void smtpc_enter_state(struct smtpc *c, enum smtpc_state st)
{
	log_kv(LOG_DEBUG, "event=smtpc_state %s host=%s from=%s to=%s",
	       c->log_id, c->log_host, state_names[c->st], state_names[st]);
	c->st = st;
}

void smtpc_arm(struct smtpc *c, int secs)
{
	struct timeval tv = { secs, 0 };
	evtimer_add(c->timer, &tv);
}

static void disarm(struct smtpc *c)
{
	evtimer_del(c->timer);
}

void smtpc_send_line(struct smtpc *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

size_t smtpc_out_len(const struct smtpc *c)
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

static void close_conn(struct smtpc *c, bool failed,
		       const struct smtpc_reply *why)
{
	char esc[LOG_ESC_MAX];
	log_kv(failed ? LOG_WARN : LOG_INFO,
	       "event=smtpc_close %s host=%s failed=%s code=%d status=%s "
	       "reason=%s", c->log_id, c->log_host, failed ? "yes" : "no",
	       why->code, why->status,
	       log_esc(esc, sizeof esc, why->text, strlen(why->text)));
	bev_drop(c);
	disarm(c);
	smtpc_enter_state(c, S_DONE);
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
		smtpc_txn_notify(c);
		if (smtpc_gone(c))
			return;
	}
	close_conn(c, true, why);
}

void smtpc_fail_made(struct smtpc *c, const char *status, const char *fmt,
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
	smtpc_fail_made(c, st, "%s %s: %d %s", c->target.host, what, r->code,
			r->text);
}

void smtpc_become_ready(struct smtpc *c)
{
	disarm(c);
	smtpc_enter_state(c, S_READY);
	if (!c->dead)
		c->h.on_ready(c->arg);
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
	       "verify_error=%s", c->log_id, c->log_host, c->tls_desc,
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
	if (info->n_deleted && c->body_active && smtpc_out_len(c) <= SMTPC_OUT_LOW)
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
		smtpc_fail_made(c, "4.7.5", "cannot start TLS with %s",
				c->target.host);
		return;
	}
	struct bufferevent *under = c->bev;
	set_bev(c, tb);
	c->under_cb = evbuffer_add_cb(bufferevent_get_output(under),
				      under_drained, c);
	memset(&c->ehlo, 0, sizeof c->ehlo);
	smtpc_enter_state(c, S_HANDSHAKE);
	smtpc_arm(c, c->timeout);
}

/* ---- AUTH (RFC 4954), only ever inside TLS ---- */

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
	/* Room for all of it first: no growth leaves a copy behind. */
	buf_reserve(&line, strlen(prefix) + (raw.len + 2) / 3 * 4 + 2);
	buf_appends(&line, prefix);
	base64_encode(&line, raw.data, raw.len);
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
		smtpc_fail_made(c, "4.7.0", "AUTH is configured for %s but the "
				"connection is not encrypted: credentials are "
				"never sent in clear", c->target.host);
		return;
	}
	/* Encrypted is not enough: without the certificate checked
	 * against the host's name, anyone in the path can stand in for
	 * the smarthost and collect the password. Only "verify" and
	 * "smtps" check the name (tls_bev_connect*); "may" and "encrypt"
	 * take any certificate. */
	if (!c->verified || (c->tls_level != RELAY_TLS_VERIFY &&
			     c->tls_level != RELAY_TLS_SMTPS)) {
		smtpc_fail_made(c, "4.7.0", "AUTH is configured for %s but its "
				"TLS certificate was not verified for its name "
				"(smarthost_tls = %s): the password is only sent "
				"with smarthost_tls = verify or smtps",
				c->target.host, relay_tls_level_name(c->tls_level));
		return;
	}
	if (c->ehlo.auth_plain) {
		send_b64(c, "AUTH PLAIN ", c->auth_user, c->auth_pass);
		smtpc_enter_state(c, S_AUTH);
	} else if (c->ehlo.auth_login) {
		smtpc_send_line(c, "AUTH LOGIN");
		smtpc_enter_state(c, S_AUTH_LOGIN_USER);
	} else {
		smtpc_fail_made(c, "4.7.0", "AUTH is configured for %s but it "
				"offers neither PLAIN nor LOGIN", c->target.host);
		return;
	}
	smtpc_arm(c, c->timeout);
}

/* ---- after EHLO: STARTTLS, AUTH, ready ---- */

static void after_ehlo(struct smtpc *c)
{
	bool want_tls = c->tls_level >= RELAY_TLS_MAY && c->tls_ctx;
	if (!c->tls && want_tls && c->ehlo.starttls && !c->starttls_refused) {
		smtpc_send_line(c, "STARTTLS");
		smtpc_enter_state(c, S_STARTTLS);
		smtpc_arm(c, c->timeout);
		return;
	}
	if (!c->tls && c->tls_level >= RELAY_TLS_ENCRYPT) {
		/* RFC 3463 X.7.0 "other or undefined security status":
		 * X.7.4 (security features not supported) and X.7.10
		 * (RFC 5248's "encryption needed") are meant as permanent,
		 * and this is a temporary failure of one host. */
		if (!c->tls_ctx)
			smtpc_fail_made(c, "4.7.0", "TLS is required for this "
					"destination but no TLS context is set up");
		else if (c->starttls_refused)
			smtpc_fail_made(c, "4.7.0", "TLS is required for this "
					"destination but the server refused "
					"STARTTLS");
		else
			smtpc_fail_made(c, "4.7.0", "TLS is required for this "
					"destination but the server did not offer "
					"STARTTLS");
		return;
	}
	if (c->auth_user) {
		start_auth(c);
		return;
	}
	smtpc_become_ready(c);
}

static void send_ehlo(struct smtpc *c)
{
	smtpc_send_line(c, "EHLO %s", c->helo);
	smtpc_enter_state(c, S_EHLO);
	smtpc_arm(c, c->timeout);
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
			smtpc_send_line(c, "HELO %s", c->helo);
			smtpc_enter_state(c, S_HELO);
			smtpc_arm(c, c->timeout);
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
			smtpc_enter_state(c, S_AUTH_LOGIN_PASS);
		} else {
			send_b64(c, "", c->auth_pass, NULL);
			smtpc_enter_state(c, S_AUTH);
		}
		smtpc_arm(c, c->timeout);
		return;
	case S_AUTH:
		if (r->code != 235) {
			fail_refused(c, "refused AUTH", r);
			return;
		}
		log_kv(LOG_INFO, "event=smtpc_auth %s host=%s result=ok",
		       c->log_id, c->log_host);
		smtpc_become_ready(c);
		return;
	case S_RSET:
		if (cls != 2) {
			fail_refused(c, "refused RSET", r);
			return;
		}
		smtpc_become_ready(c);
		return;
	case S_TXN:
		smtpc_arm(c, c->timeout);
		smtpc_txn_reply(c, r);
		return;
	case S_QUIT:
		c->quit_reply = *r;
		c->have_quit_reply = true;
		close_conn(c, false, r);
		return;
	case S_READY:
		smtpc_fail_made(c, "4.5.0", "unexpected reply from %s: %d %s",
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
	return !smtpc_gone(c) && c->bev && c->st != S_CONNECTING &&
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
			smtpc_fail_made(c, "4.5.0", "reply line from %s too long",
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
			smtpc_fail_made(c, "4.5.0", "bad reply from %s: %s",
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
	if (!smtpc_gone(c))
		smtpc_txn_pump(c);
	leave(c);
}

static void event_connected(struct smtpc *c)
{
	char a[INET6_ADDRSTRLEN + 10];
	if (c->st == S_CONNECTING) {
		log_kv(LOG_INFO, "event=smtpc_connected %s host=%s addr=%s",
		       c->log_id, c->log_host,
		       addr_str(&c->target, a, sizeof a));
		if (c->tls_level == RELAY_TLS_SMTPS)
			tls_up(c);
		smtpc_enter_state(c, S_GREETING);
		smtpc_arm(c, c->timeout);
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
		smtpc_fail_made(c, "4.7.5", "TLS with %s failed: the certificate "
				"did not verify for %s: %s", c->target.host,
				c->tls_name, verr);
	} else if (c->st == S_CONNECTING && (!in_tls || err)) {
		smtpc_fail_made(c, "4.4.1", "cannot connect to %s: %s",
				c->target.host, err ? strerror(err) : "failed");
	} else if (in_tls) {
		smtpc_fail_made(c, "4.7.5", "TLS handshake with %s failed: %s",
				c->target.host, tls_bev_error(c->bev, tmp, sizeof tmp));
	} else {
		smtpc_fail_made(c, "4.4.2", "connection to %s lost%s",
				c->target.host,
				(what & BEV_EVENT_EOF) ? "" : " (error)");
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct smtpc *c = arg;
	enter(c);
	if (smtpc_gone(c)) {
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
	if (smtpc_gone(c)) {
		/* nothing */
	} else if (c->st == S_QUIT) {
		struct smtpc_reply r;
		smtpc_reply_make(&r, 221, "2.0.0", "no reply to QUIT from %s",
				 c->target.host);
		close_conn(c, false, &r);
	} else if (c->st == S_CONNECTING) {
		smtpc_fail_made(c, "4.4.1", "cannot connect to %s: timed out after "
				"%d s", c->target.host, c->connect_timeout);
	} else {
		smtpc_fail_made(c, "4.4.2", "timeout waiting for %s (%s)",
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
	if (!smtpc_gone(c) && c->pend_close) {
		c->pend_close = false;
		close_conn(c, true, &c->pend_close_why);
	} else if (!smtpc_gone(c) && c->pend_result) {
		/* Nothing was sent: no RSET needed. */
		c->pend_result = false;
		smtpc_txn_notify(c);
		if (!smtpc_gone(c) && c->st == S_TXN)
			smtpc_become_ready(c);
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
	log_esc(c->log_host, sizeof c->log_host, c->target.host,
		strlen(c->target.host));
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
	       c->log_id, c->log_host, addr_str(target, a, sizeof a),
	       relay_tls_level_name(c->tls_level));
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
	smtpc_arm(c, c->connect_timeout);
	return c;
}

void smtpc_quit(struct smtpc *c)
{
	if (c->st != S_READY)
		log_fatal("smtpc_quit in state %s", state_names[c->st]);
	smtpc_send_line(c, "QUIT");
	smtpc_enter_state(c, S_QUIT);
	smtpc_arm(c, c->timeout < SMTPC_QUIT_TIMEOUT ? c->timeout
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
