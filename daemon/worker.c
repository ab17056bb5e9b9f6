/* The worker: accepts on the shared listeners, hands each connection to
 * its protocol's session, and never blocks (slow work goes to the
 * thread pool, logins to the auth process). */
#include "daemon/worker.h"
#include "auth/auth_client.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "net/conn.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Worker threads for store work (fsync, directory scans). Heavy jobs
 * (SEARCH, FETCH of bodies, COPY) may use all but one of them, so they
 * keep the two threads they always had and short jobs (logins,
 * deliveries) one of their own (core/threadpool.h). */
#define WORKER_POOL_THREADS 3

struct protocol {
	enum listener_kind kind;
	void (*start)(struct conn *c, const struct session_env *env);
	bool implicit_tls;
	const char *busy_reply; /* to a client over its IP's budget */
};

static const struct protocol protocols[] = {
	{ LISTEN_POP3, pop3_session_start, false,
	  "-ERR [SYS/TEMP] Too many connections from your address\r\n" },
	{ LISTEN_POP3S, pop3_session_start, true, NULL },
	{ LISTEN_IMAP, imap_session_start, false,
	  "* BYE Too many connections from your address\r\n" },
	{ LISTEN_IMAPS, imap_session_start, true, NULL },
	{ LISTEN_SMTP, smtp_session_start, false,
	  "421 4.7.0 Too many connections from your address\r\n" },
	{ LISTEN_SUBMISSION, smtp_session_start, false,
	  "421 4.7.0 Too many connections from your address\r\n" },
	{ LISTEN_SUBMISSIONS, smtp_session_start, true, NULL },
	{ LISTEN_LMTP, smtp_session_start, false,
	  "421 4.7.0 Too many connections from your address\r\n" },
};
#define NPROTO (sizeof protocols / sizeof protocols[0])

struct worker {
	struct event_base *base;
	const struct config *cfg;
	struct session_env env;
	struct evconnlistener *listeners[LISTEN__COUNT + 1]; /* + LMTP Unix */
	struct event *sig_term, *sig_retire, *sig_int, *stop_timer, *idle_check;
	bool stopping;
};

static const struct protocol *protocol_for(enum listener_kind kind)
{
	for (size_t i = 0; i < NPROTO; i++)
		if (protocols[i].kind == kind)
			return &protocols[i];
	return NULL;
}

bool worker_serves(enum listener_kind kind)
{
	return protocol_for(kind) != NULL;
}

struct listener_arg {
	struct worker *w;
	const struct protocol *proto;
};
static struct listener_arg listener_args[LISTEN__COUNT + 1];

static void worker_accept(struct evconnlistener *l, evutil_socket_t fd,
			  struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	struct listener_arg *la = arg;
	struct worker *w = la->w;
	const struct protocol *p = la->proto;
	struct conn *c = conn_accept(w->base, fd, sa, salen, p->kind,
				     p->implicit_tls ? w->env.tls : NULL);
	if (!c)
		return;
	/* Local (Unix socket) peers are the host's own MTA: no IP budget. */
	if (sa->sa_family != AF_UNIX &&
	    conn_count_ip(c->remote_ip) > (size_t)w->cfg->max_connections_per_ip) {
		log_kv(LOG_WARN, "event=refused proto=%s sid=%s ip=%s reason=too_many_connections limit=%d",
		       config_listener_name(p->kind), c->id, c->remote_ip,
		       w->cfg->max_connections_per_ip);
		if (p->busy_reply)
			conn_writes(c, p->busy_reply);
		conn_close(c, "too_many_connections");
		return;
	}
	p->start(c, &w->env);
}

static void worker_stop_listening(struct worker *w)
{
	for (int k = 0; k <= LISTEN__COUNT; k++)
		if (w->listeners[k]) {
			evconnlistener_free(w->listeners[k]);
			w->listeners[k] = NULL;
		}
}

/* Exits the loop once the last session has gone. */
static void worker_idle_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	if (conn_live_count() == 0)
		event_base_loopexit(w->base, NULL);
}

static void worker_begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	worker_stop_listening(w);
	struct timeval tick = { 0, 100 * 1000 };
	w->idle_check = event_new(w->base, -1, EV_PERSIST, worker_idle_check, w);
	event_add(w->idle_check, &tick);
}

static void worker_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_kv(LOG_INFO, "event=shutdown_timeout sessions=%zu", conn_live_count());
	conn_close_all("shutdown");
}

static void worker_on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct worker *w = arg;
	log_kv(LOG_INFO, "event=stopping signal=%d sessions=%zu", (int)sig,
	       conn_live_count());
	worker_begin_stop(w);
	if (!w->stop_timer) {
		w->stop_timer = evtimer_new(w->base, worker_shutdown_timeout, w);
		struct timeval tv = { w->cfg->shutdown_timeout, 0 };
		evtimer_add(w->stop_timer, &tv);
	}
}

static void worker_on_retire(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct worker *w = arg;
	log_kv(LOG_INFO, "event=retiring sessions=%zu", conn_live_count());
	worker_begin_stop(w);
}

static void worker_listen(struct worker *w, int slot, int fd,
			  const struct protocol *p)
{
	listener_args[slot].w = w;
	listener_args[slot].proto = p;
	w->listeners[slot] = evconnlistener_new(w->base, worker_accept,
						&listener_args[slot], 0, -1, fd);
	if (!w->listeners[slot])
		log_fatal("event=listener_failed proto=%s",
			  config_listener_name(p->kind));
}

int worker_run(const struct config *cfg, const struct worker_sockets *socks,
	       struct ssl_ctx_st *tls, const char *auth_socket)
{
	log_init("worker");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	struct worker w = { 0 };
	w.cfg = cfg;
	w.base = event_base_new();
	if (!w.base)
		log_fatal("event=event_base_new_failed");
	w.env.base = w.base;
	w.env.cfg = cfg;
	w.env.tls = tls;
	struct cidr_list relay_nets = { NULL, 0 };
	struct buf nets_err = BUF_INIT;
	if (cidr_list_parse(cfg->relay_networks, &relay_nets, &nets_err) < 0)
		/* config_load should have refused it: relay for no one. */
		log_kv(LOG_ERR, "event=config_error key=relay_networks "
		       "reason=\"%s\"", buf_cstr(&nets_err));
	buf_free(&nets_err);
	w.env.relay_nets = &relay_nets;
	w.env.pool = threadpool_new(w.base, WORKER_POOL_THREADS);
	w.env.auth = auth_client_new(w.base, auth_socket);
	for (int k = 0; k < LISTEN__COUNT; k++) {
		const struct protocol *p = protocol_for((enum listener_kind)k);
		if (socks->tcp[k] >= 0 && p)
			worker_listen(&w, k, socks->tcp[k], p);
	}
	if (socks->lmtp_unix >= 0)
		worker_listen(&w, LISTEN__COUNT, socks->lmtp_unix,
			      protocol_for(LISTEN_LMTP));
	w.sig_term = evsignal_new(w.base, SIGTERM, worker_on_term, &w);
	w.sig_int = evsignal_new(w.base, SIGINT, worker_on_term, &w);
	w.sig_retire = evsignal_new(w.base, SIGUSR2, worker_on_retire, &w);
	event_add(w.sig_term, NULL);
	event_add(w.sig_int, NULL);
	event_add(w.sig_retire, NULL);
	log_kv(LOG_INFO, "event=worker_started");

	event_base_dispatch(w.base);

	worker_stop_listening(&w);
	/* Let the last on_close callbacks and pool jobs complete. */
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	threadpool_free(&w.env.pool);
	auth_client_free(&w.env.auth);
	event_free(w.sig_term);
	event_free(w.sig_int);
	event_free(w.sig_retire);
	if (w.stop_timer)
		event_free(w.stop_timer);
	if (w.idle_check)
		event_free(w.idle_check);
	event_base_free(w.base);
	cidr_list_free(&relay_nets);
	log_kv(LOG_INFO, "event=worker_stopped");
	return 0;
}
