/* The worker: accepts on the shared listeners, hands each connection to
 * its protocol's session, and never blocks (slow work goes to the
 * thread pool, logins to the auth process). */
#include "daemon/worker.h"
#include "auth/auth_client.h"
#include "core/lifeline.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "net/conn.h"
#include "net/ipcount.h"
#include "session/env.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
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
	const struct conn_replies *replies; /* refusals before login */
	bool login;    /* login_deadline and login_max_commands apply */
};

/* Over TLS (995, 993, 465) the reply follows the handshake. */
static const struct conn_replies pop3_replies = {
	"-ERR [SYS/TEMP] Too many connections from your address\r\n",
	"-ERR [SYS/TEMP] Server busy, try again later\r\n",
	"-ERR Login time limit exceeded\r\n",
	"-ERR Too many commands before login\r\n",
};
/* RFC 9051 7.1: UNAVAILABLE, a temporary failure. */
static const struct conn_replies imap_replies = {
	"* BYE [UNAVAILABLE] Too many connections from your address\r\n",
	"* BYE [UNAVAILABLE] Server busy, try again later\r\n",
	"* BYE Login time limit exceeded\r\n",
	"* BYE Too many commands before login\r\n",
};
/* RFC 5321 3.8: 421, then close; RFC 3463 4.7.0: a policy refusal. */
static const struct conn_replies smtp_replies = {
	"421 4.7.0 Too many connections from your address\r\n",
	"421 4.7.0 Server busy, try again later\r\n",
	"421 4.7.0 Login time limit exceeded\r\n",
	"421 4.7.0 Too many commands\r\n",
};

static const struct protocol protocols[] = {
	{ LISTEN_POP3, pop3_session_start, false, &pop3_replies, true },
	{ LISTEN_POP3S, pop3_session_start, true, &pop3_replies, true },
	{ LISTEN_IMAP, imap_session_start, false, &imap_replies, true },
	{ LISTEN_IMAPS, imap_session_start, true, &imap_replies, true },
	{ LISTEN_SMTP, smtp_session_start, false, &smtp_replies, false },
	{ LISTEN_SUBMISSION, smtp_session_start, false, &smtp_replies, true },
	{ LISTEN_SUBMISSIONS, smtp_session_start, true, &smtp_replies, true },
	{ LISTEN_LMTP, smtp_session_start, false, &smtp_replies, false },
};
#define NPROTO (sizeof protocols / sizeof protocols[0])

struct worker {
	struct event_base *base;
	const struct config *cfg;
	struct session_env env;
	struct evconnlistener *listeners[LISTEN__COUNT + 1]; /* + LMTP Unix */
	struct event *sig_term, *sig_retire, *sig_int, *stop_timer, *idle_check;
	struct event *resume_timer; /* accepting again after EMFILE */
	struct event *lifeline;     /* EOF: the supervisor is gone */
	bool stopping;
	bool accept_paused;
	int max_conns;      /* worker_max_connections as the descriptors allow */
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

static void worker_pause_accept(struct worker *w, const char *why);

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
	const struct config *cfg = w->cfg;
	struct conn_limits lim = {
		.max_connections = cfg->max_connections,
		.worker_max_connections = w->max_conns,
		.max_per_ip = cfg->max_connections_per_ip,
	};
	if (p->login) {
		lim.deadline_secs = cfg->login_deadline;
		lim.max_commands = cfg->login_max_commands;
	} else if (p->kind == LISTEN_SMTP) {
		lim.max_commands = cfg->smtp_junk_command_limit;
	}
	if (!conn_admit(c, &lim, p->replies))
		return;
	p->start(c, &w->env);
	/* Full: leave the next clients to a worker with room, if any (all
	 * workers wait on the same listening sockets). */
	if (conn_live_count() >= (size_t)w->max_conns && ipcount_room_elsewhere())
		worker_pause_accept(w, "full");
}

static void worker_stop_listening(struct worker *w)
{
	for (int k = 0; k <= LISTEN__COUNT; k++)
		if (w->listeners[k]) {
			evconnlistener_free(w->listeners[k]);
			w->listeners[k] = NULL;
		}
	if (w->resume_timer)
		evtimer_del(w->resume_timer);
	w->accept_paused = false;
}

static void worker_resume_accept(struct worker *w)
{
	if (!w->accept_paused || w->stopping)
		return;
	if (conn_live_count() >= (size_t)w->max_conns && ipcount_room_elsewhere())
		return; /* still full, and others have room */
	w->accept_paused = false;
	evtimer_del(w->resume_timer);
	for (int k = 0; k <= LISTEN__COUNT; k++)
		if (w->listeners[k])
			evconnlistener_enable(w->listeners[k]);
	log_kv(LOG_INFO, "event=accept_resumed sessions=%zu", conn_live_count());
}

static void worker_resume_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	worker_resume_accept(arg);
}

/* A connection was freed: a descriptor came back. */
static void worker_conn_released(void *arg)
{
	worker_resume_accept(arg);
}

/* Stops accepting until a connection closes or WORKER_ACCEPT_RETRY_MS
 * pass (worker_resume_accept). */
static void worker_pause_accept(struct worker *w, const char *why)
{
	if (w->accept_paused)
		return;
	w->accept_paused = true;
	for (int k = 0; k <= LISTEN__COUNT; k++)
		if (w->listeners[k])
			evconnlistener_disable(w->listeners[k]);
	struct timeval tv = { WORKER_ACCEPT_RETRY_MS / 1000,
			      (WORKER_ACCEPT_RETRY_MS % 1000) * 1000 };
	evtimer_add(w->resume_timer, &tv);
	log_kv(strcmp(why, "full") ? LOG_WARN : LOG_INFO,
	       "event=accept_paused reason=\"%s\" sessions=%zu", why,
	       conn_live_count());
}

/* accept() failed for want of descriptors or memory. The listening
 * socket stays readable, so accepting again at once would spin at full
 * CPU: stop, and try again when a connection closes or after
 * WORKER_ACCEPT_RETRY_MS. The clients wait in the listen queue. */
static void worker_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	struct worker *w = ((struct listener_arg *)arg)->w;
	int err = EVUTIL_SOCKET_ERROR();
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_kv(LOG_WARN, "event=accept_failed error=\"%s\"", strerror(err));
		return;
	}
	worker_pause_accept(w, strerror(err));
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return WORKER_FD_START;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own */
}

/* worker_max_connections (or max_connections) as far as RLIMIT_NOFILE
 * allows, counting what this worker has open now. */
static int worker_conn_cap(const struct config *cfg)
{
	int want = cfg->worker_max_connections > 0 ? cfg->worker_max_connections
						   : cfg->max_connections;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	long room = ((long)rl.rlim_cur - count_open_fds() - WORKER_FD_SPARE) /
		    CONN_FDS_PER_CONN;
	if (room < 1)
		room = 1;
	if (room < want) {
		log_kv(LOG_WARN, "event=fd_limit nofile=%ld max_connections=%ld wanted=%d",
		       (long)rl.rlim_cur, room, want);
		return (int)room;
	}
	return want;
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
	ipcount_set_accepting(false, 0);
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

/* The supervisor died (core/lifeline.h): close the listeners first, so
 * that the ports are free for the next `serve`, then drop every session
 * (as on any drop, a POP3 session commits nothing) and exit. Nobody is
 * left to restart us or to count our connections. */
static void worker_on_supervisor_gone(void *arg)
{
	struct worker *w = arg;
	worker_begin_stop(w);
	conn_close_all("supervisor_gone");
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
	/* CLOSE_ON_FREE: a worker that stops listening (stop, retire, the
	 * supervisor gone) lets go of the port too, not only of the event. */
	w->listeners[slot] = evconnlistener_new(w->base, worker_accept,
						&listener_args[slot],
						LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!w->listeners[slot])
		log_fatal("event=listener_failed proto=%s",
			  config_listener_name(p->kind));
	evconnlistener_set_error_cb(w->listeners[slot], worker_accept_error);
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
	w.resume_timer = evtimer_new(w.base, worker_resume_timer, &w);
	conn_set_release_hook(worker_conn_released, &w);
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
	w.lifeline = lifeline_watch(w.base, worker_on_supervisor_gone, &w);
	w.max_conns = worker_conn_cap(cfg);
	ipcount_set_accepting(true, (unsigned)w.max_conns);
	log_kv(LOG_INFO, "event=worker_started max_connections=%d", w.max_conns);

	event_base_dispatch(w.base);

	worker_stop_listening(&w);
	/* Let the last on_close callbacks and pool jobs complete. */
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	threadpool_free(&w.env.pool);
	auth_client_free(&w.env.auth);
	event_free(w.sig_term);
	event_free(w.sig_int);
	event_free(w.sig_retire);
	lifeline_unwatch(&w.lifeline);
	if (w.stop_timer)
		event_free(w.stop_timer);
	if (w.idle_check)
		event_free(w.idle_check);
	conn_set_release_hook(NULL, NULL);
	event_free(w.resume_timer);
	event_base_free(w.base);
	cidr_list_free(&relay_nets);
	log_kv(LOG_INFO, "event=worker_stopped");
	return 0;
}
