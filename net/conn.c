/* Connections: a libevent bufferevent (socket, or OpenSSL over socket,
 * or OpenSSL filter over socket after STLS) behind one interface, with a
 * bounded line reader and a deferred, single-shot close. */
#include "net/conn.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/ipcount.h"
#include "net/memtrim.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

/* Input is read from the kernel only while less than this is buffered:
 * a client that pipelines megabytes is held back by TCP, not by RAM. */
#define CONN_INPUT_HIGH_WATER (64 * 1024)
/* How long a closing connection may take to flush its last reply. */
#define CONN_CLOSE_FLUSH_SECS 5

static struct conn *live_head;
static size_t live_count;
static void (*release_hook)(void *);
static void *release_arg;

void conn_set_release_hook(void (*fn)(void *), void *arg)
{
	release_hook = fn;
	release_arg = arg;
}

size_t conn_live_count(void)
{
	return live_count;
}

static const char *proto_name(enum listener_kind k)
{
	return config_listener_name(k);
}

static void conn_finish(evutil_socket_t fd, short what, void *arg);

static void conn_schedule_finish(struct conn *c)
{
	/* Runs from the loop after the current callback returns. */
	event_active(c->close_ev, EV_TIMEOUT, 0);
}

static void conn_begin_close(struct conn *c, const char *reason, bool flush);

/* Input at the high-water mark: the bufferevent has stopped reading, so
 * it would not see an end of file behind the bytes it holds. */
static bool conn_input_full(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_input(c->bev)) >=
	       CONN_INPUT_HIGH_WATER;
}

/* The peer sent its FIN (EPOLLRDHUP). Normally the bufferevent reads up
 * to the end of file itself and reports it; but a client that pipelined
 * more than CONN_INPUT_HIGH_WATER behind a long command (a heavy SEARCH)
 * and then left would go unnoticed until that command and the ones
 * before the end were done, the work all for nobody. So with the input
 * full, the FIN ends the session now, as any end of file does (a
 * half-closed client's unread commands were never answered either). */
static void conn_peer_gone(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	c->peer_shut = true;
	if (!c->closing && conn_input_full(c))
		conn_begin_close(c, "disconnect", false);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->peer_shut && !c->closing && conn_input_full(c)) {
		conn_begin_close(c, "disconnect", false);
		return;
	}
	if (c->closing || c->input_paused || !c->handler)
		return;
	c->handler->on_input(c->sess);
}

#define CONN_OUTPUT_LOW_WATER (CONN_OUTPUT_HIGH_WATER / 4)

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->closing) {
		if (conn_output_len(c) == 0)
			conn_schedule_finish(c);
		return;
	}
	/* Below a TLS filter the socket's own buffer may still be full;
	 * then conn_under_drained() calls back when it empties. */
	if (c->drain_wanted && c->handler &&
	    conn_output_len(c) <= CONN_OUTPUT_LOW_WATER) {
		c->drain_wanted = false;
		c->handler->on_drain(c->sess);
	}
}

/* After STLS the TLS filter's write callback only says its bytes were
 * encrypted into the socket bufferevent's output; this watches that
 * buffer so "drained" and "flushed before close" mean on the wire. */
static void conn_under_drained(struct evbuffer *buf,
			       const struct evbuffer_cb_info *info, void *arg)
{
	(void)buf;
	struct conn *c = arg;
	if (info->n_deleted == 0)
		return;
	if (c->closing) {
		if (conn_output_len(c) == 0)
			conn_schedule_finish(c);
		return;
	}
	if (c->drain_wanted && conn_output_len(c) <= CONN_OUTPUT_LOW_WATER)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_OPT_DEFER_CALLBACKS);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void conn_begin_close(struct conn *c, const char *reason, bool flush)
{
	if (c->closing)
		return;
	c->closing = true;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
	bufferevent_disable(c->bev, EV_READ);
	if (!flush || conn_output_len(c) == 0) {
		conn_schedule_finish(c);
		return;
	}
	/* Wait for the output to drain, but not forever. A connection
	 * refused before any session was attached (per-IP budget) has no
	 * callbacks yet: without the write callback it would linger, and
	 * count against its address, until the timeout. */
	struct timeval tv = { CONN_CLOSE_FLUSH_SECS, 0 };
	event_add(c->close_ev, &tv);
	if (!c->handler) {
		bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
		bufferevent_enable(c->bev, EV_WRITE);
	}
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char desc[128];
	if (what & BEV_EVENT_CONNECTED) {
		c->tls_established = true;
		log_kv(LOG_INFO, "event=tls proto=%s sid=%s tls=%s",
		       proto_name(c->kind), c->id,
		       tls_bev_desc(bev, desc, sizeof desc));
		if (c->upgrading) {
			c->upgrading = false;
			if (c->handler && !c->closing)
				c->handler->on_tls(c->sess);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* A client busy reading a long reply is not idle: the write
		 * timeout catches one that stopped reading. */
		if ((what & BEV_EVENT_READING) && conn_output_len(c) > 0 &&
		    !c->closing) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		if (c->handler && c->handler->on_timeout && !c->closing) {
			c->handler->on_timeout(c->sess);
			conn_close(c, "timeout");
			return;
		}
		conn_begin_close(c, "timeout", false);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* After the handshake, a peer that just hangs up without a
		 * close_notify is a disconnect, not a TLS failure. */
		if (c->tls && !c->tls_established) {
			tls_bev_error(bev, desc, sizeof desc);
			if (strcmp(desc, "closed") != 0) {
				char e[LOG_ESC_MAX];
				log_kv(LOG_INFO, "event=tls_failed proto=%s sid=%s error=%s",
				       proto_name(c->kind), c->id,
				       log_esc(e, sizeof e, desc, strlen(desc)));
				conn_begin_close(c, "tls_error", false);
				return;
			}
		}
		conn_begin_close(c, "disconnect", false);
		return;
	}
	if (what & BEV_EVENT_EOF)
		conn_begin_close(c, "disconnect", false);
}

static void conn_set_callbacks(struct conn *c)
{
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIGH_WATER);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUTPUT_LOW_WATER, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_UNIX)
		return true; /* a local socket: this host's own programs */
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		       in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void addr_format(const struct sockaddr *sa, char *ip, size_t n,
			int *port)
{
	*port = 0;
	snprintf(ip, n, sa->sa_family == AF_UNIX ? "unix" : "unknown");
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)n);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)n);
		*port = ntohs(in6->sin6_port);
	}
}

struct conn *conn_accept(struct event_base *base, int fd,
			 const struct sockaddr *sa, int salen,
			 enum listener_kind kind, struct ssl_ctx_st *tls_ctx)
{
	(void)salen;
	struct bufferevent *bev;
	evutil_make_socket_nonblocking(fd);
	/* Replies are small writes that a client waits for; Nagle plus the
	 * peer's delayed ACK would hold each for up to 40 ms. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (tls_ctx)
		bev = tls_bev_accept(base, fd, tls_ctx);
	else
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE |
							       BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		evutil_closesocket(fd);
		return NULL;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->base = base;
	c->bev = bev;
	c->kind = kind;
	c->tls = tls_ctx != NULL;
	c->loopback = addr_is_loopback(sa);
	addr_format(sa, c->remote_ip, sizeof c->remote_ip, &c->remote_port);
	c->has_ipkey = ipcount_key_sockaddr(&c->ipkey, IPCOUNT_PRELOGIN, sa);
	unsigned char rnd[6];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	snprintf(c->id, sizeof c->id, "%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	c->close_ev = event_new(base, -1, 0, conn_finish, c);
	if (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) {
		c->hup_ev = event_new(base, fd, EV_CLOSED, conn_peer_gone, c);
		if (c->hup_ev)
			event_add(c->hup_ev, NULL);
	}
	c->next = live_head;
	if (live_head)
		live_head->prev = c;
	live_head = c;
	live_count++;
	memtrim_conn_opened(live_count);
	log_kv(LOG_INFO, "event=connect proto=%s sid=%s ip=%s port=%d tls=%s",
	       proto_name(kind), c->id, c->remote_ip, c->remote_port,
	       c->tls ? "yes" : "no");
	return c;
}

void conn_attach(struct conn *c, const struct conn_handler *h, void *sess)
{
	c->handler = h;
	c->sess = sess;
	conn_set_callbacks(c);
}

static void conn_finish(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->prev)
		c->prev->next = c->next;
	else
		live_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	live_count--;
	if (c->counted_prelogin)
		ipcount_sub(&c->ipkey);
	if (c->counted_user)
		ipcount_sub(&c->userkey);
	if (c->counted_total)
		ipcount_conn_close();
	if (c->deadline_ev)
		event_free(c->deadline_ev);
	if (c->hup_ev)
		event_free(c->hup_ev); /* before the fd closes with the bev */
	log_kv(LOG_INFO, "event=disconnect proto=%s sid=%s ip=%s reason=%s",
	       proto_name(c->kind), c->id, c->remote_ip, c->close_reason);
	if (c->handler)
		c->handler->on_close(c->sess, c->close_reason);
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under && c->under_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(under), c->under_cb);
	bufferevent_free(c->bev);
	event_free(c->close_ev);
	struct event_base *base = c->base;
	free(c);
	memtrim_conn_closed(base, live_count);
	if (release_hook)
		release_hook(release_arg);
}

/* Drops the first n buffered octets of a long line, keeping its head
 * (when first) and the last CONN_LONG_TAIL octets seen so far. */
static void long_line_drop(struct conn *c, struct evbuffer *in, size_t n,
			   bool first)
{
	if (first) {
		size_t h = n < CONN_LONG_HEAD ? n : CONN_LONG_HEAD;
		evbuffer_copyout(in, c->long_head, h);
		c->long_head_len = (unsigned char)h;
		c->long_tail_len = 0;
	}
	char tmp[CONN_LONG_TAIL];
	size_t t = n < CONN_LONG_TAIL ? n : CONN_LONG_TAIL;
	struct evbuffer_ptr at;
	evbuffer_ptr_set(in, &at, n - t, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &at, tmp, t);
	size_t keep = CONN_LONG_TAIL - t < c->long_tail_len
			      ? CONN_LONG_TAIL - t : c->long_tail_len;
	memmove(c->long_tail, c->long_tail + c->long_tail_len - keep, keep);
	memcpy(c->long_tail + keep, tmp, t);
	c->long_tail_len = (unsigned char)(keep + t);
	evbuffer_drain(in, n);
}

void conn_long_line(const struct conn *c, struct str *head, struct str *tail)
{
	*head = str_make(c->long_head, c->long_head_len);
	size_t n = c->long_tail_len;
	while (n && (c->long_tail[n - 1] == '\n' || c->long_tail[n - 1] == '\r'))
		n--;
	*tail = str_make(c->long_tail, n);
}

enum conn_line_status conn_read_line(struct conn *c, struct buf *line,
				     size_t max)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (;;) {
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		size_t avail = evbuffer_get_length(in);
		if (c->skipping_long_line) {
			if (p.pos < 0) {
				long_line_drop(c, in, avail, false);
				return CONN_LINE_NONE;
			}
			long_line_drop(c, in, (size_t)p.pos + 1, false);
			c->skipping_long_line = false;
			return CONN_LINE_TOO_LONG;
		}
		if (p.pos < 0) {
			if (avail >= max) {
				/* Already too long without its end: drop it
				 * now and the rest as it comes; report it
				 * at its end. */
				long_line_drop(c, in, avail, true);
				c->skipping_long_line = true;
				return CONN_LINE_NONE;
			}
			return CONN_LINE_NONE;
		}
		size_t total = (size_t)p.pos + 1; /* with LF */
		if (total > max) {
			long_line_drop(c, in, total, true);
			return CONN_LINE_TOO_LONG;
		}
		buf_clear(line);
		buf_reserve(line, total);
		evbuffer_remove(in, line->data, total);
		line->len = total - 1;
		if (line->len && line->data[line->len - 1] == '\r')
			line->len--;
		line->data[line->len] = '\0';
		return CONN_LINE_OK;
	}
}

size_t conn_input_len(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_input(c->bev));
}

void conn_discard_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	c->skipping_long_line = false;
}

size_t conn_peek(struct conn *c, const char **p)
{
	struct evbuffer_iovec v;
	*p = NULL;
	if (evbuffer_peek(bufferevent_get_input(c->bev), -1, NULL, &v, 1) < 1)
		return 0;
	*p = v.iov_base;
	return v.iov_len;
}

void conn_drain(struct conn *c, size_t n)
{
	evbuffer_drain(bufferevent_get_input(c->bev), n);
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closing)
		return;
	bufferevent_write(c->bev, p, n);
}

void conn_writes(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	if (c->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

size_t conn_output_len(const struct conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	/* After STLS, encrypted bytes may still sit in the socket
	 * bufferevent below the TLS filter: they count too, or a close
	 * would cut off the last reply. */
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

void conn_want_drain(struct conn *c)
{
	c->drain_wanted = true;
	if (conn_output_len(c) <= CONN_OUTPUT_LOW_WATER)
		/* Already drained: come back from the loop, not from here. */
		bufferevent_trigger(c->bev, EV_WRITE, BEV_OPT_DEFER_CALLBACKS);
}

void conn_pause_input(struct conn *c, bool pause)
{
	bool was = c->input_paused;
	c->input_paused = pause;
	/* Resuming: input may already be buffered with no new read coming,
	 * so poke the read callback from the loop. */
	if (was && !pause && !c->closing && conn_input_len(c) > 0)
		bufferevent_trigger(c->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

void conn_set_timeout(struct conn *c, int secs)
{
	c->timeout_secs = secs;
	struct timeval tv = { secs, 0 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

int conn_starttls(struct conn *c, struct ssl_ctx_st *ctx)
{
	if (c->tls || !ctx)
		return -1;
	/* CVE-2011-0411: nothing sent before the handshake is executed. */
	conn_discard_input(c);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	struct bufferevent *tb = tls_bev_upgrade(c->base, c->bev, ctx);
	if (!tb)
		return -1;
	c->under_cb = evbuffer_add_cb(bufferevent_get_output(c->bev),
				      conn_under_drained, c);
	c->bev = tb;
	c->tls = true;
	c->upgrading = true;
	conn_set_callbacks(c);
	if (c->timeout_secs)
		conn_set_timeout(c, c->timeout_secs);
	return 0;
}

const char *conn_tls_desc(const struct conn *c, char *buf, size_t n)
{
	if (!c->tls)
		return snprintf(buf, n, "none") < 0 ? "none" : buf;
	return tls_bev_desc(c->bev, buf, n);
}

void conn_close(struct conn *c, const char *reason)
{
	conn_begin_close(c, reason, true);
}

void conn_close_all(const char *reason)
{
	/* Shutdown: the bound is already spent, so no waiting for clients
	 * that do not read. */
	for (struct conn *c = live_head; c; c = c->next)
		conn_begin_close(c, reason, false);
}

/* Limits before login (net/conn.h). */

static void conn_refuse(struct conn *c, const char *reply, const char *reason,
			int limit)
{
	log_kv(LOG_WARN, "event=refused proto=%s sid=%s ip=%s reason=%s limit=%d",
	       proto_name(c->kind), c->id, c->remote_ip, reason, limit);
	if (reply)
		conn_writes(c, reply);
	conn_close(c, reason);
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->closing || c->logged_in)
		return;
	log_kv(LOG_INFO, "event=login_deadline proto=%s sid=%s ip=%s commands=%d",
	       proto_name(c->kind), c->id, c->remote_ip, c->commands);
	if (c->replies)
		conn_writes(c, c->replies->deadline);
	conn_close(c, "login_deadline");
}

bool conn_admit(struct conn *c, const struct conn_limits *lim,
		const struct conn_replies *replies)
{
	c->replies = replies;
	/* live_count includes this one */
	if (lim->worker_max_connections > 0 &&
	    live_count > (size_t)lim->worker_max_connections) {
		conn_refuse(c, replies->busy_server, "worker_full",
			    lim->worker_max_connections);
		return false;
	}
	if (!ipcount_conn_open(lim->max_connections > 0
				       ? (unsigned)lim->max_connections : 0)) {
		conn_refuse(c, replies->busy_server, "server_full",
			    lim->max_connections);
		return false;
	}
	c->counted_total = true;
	/* Local (Unix socket) peers are the host's own MTA: no IP budget. */
	if (c->has_ipkey) {
		switch (ipcount_add(&c->ipkey, lim->max_per_ip > 0
						       ? (unsigned)lim->max_per_ip : 0)) {
		case IPCOUNT_OK:
			c->counted_prelogin = true;
			break;
		case IPCOUNT_OVER:
			conn_refuse(c, replies->busy_ip, "too_many_connections",
				    lim->max_per_ip);
			return false;
		case IPCOUNT_FULL:
			conn_refuse(c, replies->busy_server, "count_table_full",
				    lim->max_connections);
			return false;
		}
	}
	c->max_commands = lim->max_commands;
	if (lim->deadline_secs > 0) {
		c->deadline_ev = evtimer_new(c->base, conn_deadline, c);
		struct timeval tv = { lim->deadline_secs, 0 };
		evtimer_add(c->deadline_ev, &tv);
	}
	return true;
}

bool conn_count_command(struct conn *c)
{
	if (c->logged_in || c->max_commands <= 0 || c->closing)
		return !c->closing;
	if (++c->commands <= c->max_commands)
		return true;
	log_kv(LOG_INFO, "event=refused proto=%s sid=%s ip=%s reason=too_many_commands limit=%d",
	       proto_name(c->kind), c->id, c->remote_ip, c->max_commands);
	if (c->replies)
		conn_writes(c, c->replies->commands);
	conn_close(c, "too_many_commands");
	return false;
}

void conn_reset_command_budget(struct conn *c)
{
	c->commands = 0;
}

static enum ipcount_class user_class(enum listener_kind k)
{
	switch (k) {
	case LISTEN_POP3:
	case LISTEN_POP3S:
		return IPCOUNT_USER_POP3;
	case LISTEN_IMAP:
	case LISTEN_IMAPS:
		return IPCOUNT_USER_IMAP;
	default:
		return IPCOUNT_USER_SMTP;
	}
}

bool conn_logged_in(struct conn *c, const char *user, int limit)
{
	if (c->has_ipkey) {
		struct ipcount_key k = c->ipkey;
		ipcount_key_user(&k, user_class(c->kind), user);
		bool same = c->counted_user && !memcmp(&k, &c->userkey, sizeof k);
		if (!same) {
			enum ipcount_result r =
				ipcount_add(&k, limit > 0 ? (unsigned)limit : 0);
			if (r != IPCOUNT_OK) {
				char u[LOG_ESC_MAX];
				log_kv(LOG_WARN, "event=refused proto=%s sid=%s ip=%s user=%s reason=%s limit=%d",
				       proto_name(c->kind), c->id, c->remote_ip,
				       log_esc(u, sizeof u, user, strlen(user)),
				       r == IPCOUNT_OVER ? "too_many_user_connections"
							 : "count_table_full",
				       limit);
				return false;
			}
			if (c->counted_user)
				ipcount_sub(&c->userkey);
			c->userkey = k;
			c->counted_user = true;
		}
	}
	if (c->counted_prelogin) {
		ipcount_sub(&c->ipkey);
		c->counted_prelogin = false;
	}
	c->logged_in = true;
	if (c->deadline_ev)
		evtimer_del(c->deadline_ev);
	return true;
}
