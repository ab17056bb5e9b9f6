/* The queue runner's messages: which are queued (inotify on env/ and a
 * scan at start), when each is due, loading one (pool), splitting its
 * pending recipients by domain into jobs for runner_dest.c, and
 * recording the results (runner_update.c, pool). A message is in one
 * state at a time (runner_int.h), so two runs of the same message never
 * overlap. */
#include "runner/runner.h"
#include "runner/runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_client.h"
#include "core/lifeline.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"
#include "mime/header.h"
#include "queue/dsn.h"
#include "relay/dns.h"
#include "relay/route.h"
#include "tls/tls.h"

/* fsyncs of different messages overlap on the disk */
#define RUNNER_POOL_THREADS 4
#define RUNNER_NICE 5

static int64_t now_secs(void)
{
	return (int64_t)time(NULL);
}

void runner_reply(struct smtpc_reply *out, int code, const char *status,
		  const char *fmt, ...)
{
	va_list ap;
	out->code = code;
	out->remote_dsn = false;
	snprintf(out->status, sizeof out->status, "%s", status);
	int n = snprintf(out->text, sizeof out->text, "(postern) ");
	va_start(ap, fmt);
	vsnprintf(out->text + n, sizeof out->text - (size_t)n, fmt, ap);
	va_end(ap);
}

/* --- the id hash ------------------------------------------------- */

static size_t id_hash(const char *id)
{
	size_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

static struct runner_msg *msg_find(struct runner *r, const char *id)
{
	struct runner_msg *m = r->hash[id_hash(id) % r->hash_size];
	while (m && strcmp(m->id, id) != 0)
		m = m->hnext;
	return m;
}

static void hash_grow(struct runner *r)
{
	size_t n = r->hash_size * 2;
	struct runner_msg **h = xcalloc(n, sizeof *h);
	for (struct runner_msg *m = r->msgs; m; m = m->next) {
		size_t k = id_hash(m->id) % n;
		m->hnext = h[k];
		h[k] = m;
	}
	free(r->hash);
	r->hash = h;
	r->hash_size = n;
}

static struct runner_msg *msg_add(struct runner *r, const char *id)
{
	struct runner_msg *m = xcalloc(1, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", id);
	m->state = RMSG_IDLE;
	m->next = r->msgs;
	if (r->msgs)
		r->msgs->prev = m;
	r->msgs = m;
	r->n_msgs++;
	if (r->n_msgs > r->hash_size)
		hash_grow(r);
	else {
		size_t k = id_hash(id) % r->hash_size;
		m->hnext = r->hash[k];
		r->hash[k] = m;
	}
	return m;
}

static void msg_unload(struct runner_msg *m)
{
	queue_env_free(&m->env);
	queue_msg_close(&m->body);
	free(m->res);
	m->res = NULL;
}

static void msg_remove(struct runner *r, struct runner_msg *m)
{
	struct runner_msg **pp = &r->hash[id_hash(m->id) % r->hash_size];
	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	if (m->prev)
		m->prev->next = m->next;
	else
		r->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	r->n_msgs--;
	msg_unload(m);
	free(m);
}

/* --- loading ------------------------------------------------------ */

struct load_job {
	struct runner *r;
	struct runner_msg *m;
	int rc;         /* 0 ok, 1 gone, -1 damaged */
	struct buf err;
};

static void load_work(void *arg)
{
	struct load_job *lj = arg;
	struct runner_msg *m = lj->m;
	const char *dir = lj->r->cfg->queue_dir;
	if (queue_env_load(dir, m->id, &m->env, &lj->err) != 0) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/env/%s", dir, m->id);
		lj->rc = access(path, F_OK) != 0 && errno == ENOENT ? 1 : -1;
		return;
	}
	if (queue_msg_open(dir, m->id, &m->body, &lj->err) != 0) {
		lj->rc = -1;
		return;
	}
	m->hops = mime_header_count(str_make(m->body.data, m->body.len),
				    "Received");
	lj->rc = 0;
}

static void msg_start(struct runner *r, struct runner_msg *m);
static void on_tick_kick(struct runner *r);

static void load_done(void *arg)
{
	struct load_job *lj = arg;
	struct runner *r = lj->r;
	struct runner_msg *m = lj->m;
	int rc = lj->rc;
	if (rc < 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=queue_damaged id=%s error=%s "
		       "action=\"left in place; see postern queue show\"",
		       m->id, log_esc(e, sizeof e, lj->err.data, lj->err.len));
	}
	buf_free(&lj->err);
	free(lj);
	r->n_active--;
	if (r->stopping) {
		msg_unload(m);
		m->state = RMSG_IDLE;
		return;
	}
	if (rc != 0 || m->gone) {
		/* gone, or damaged: not retried until it changes on disk */
		if (rc > 0 || m->gone) {
			msg_remove(r, m);
			return;
		}
		msg_unload(m);
		m->state = RMSG_IDLE;
		m->hold = true;
		return;
	}
	m->dirty = false;
	msg_start(r, m);
}

static void msg_load(struct runner *r, struct runner_msg *m)
{
	struct load_job *lj = xcalloc(1, sizeof *lj);
	lj->r = r;
	lj->m = m;
	m->state = RMSG_LOADING;
	r->n_active++;
	threadpool_submit(r->pool, load_work, load_done, lj);
}

/* Is it time, and is there room? */
static void msg_kick(struct runner *r, struct runner_msg *m, int64_t now)
{
	if (m->state != RMSG_IDLE || m->hold ||
	    (m->next_attempt > now && !m->force) ||
	    r->n_active >= RUNNER_ACTIVE_MAX || r->stopping)
		return;
	msg_load(r, m);
}

/* --- one run of a message ------------------------------------------ */

void runner_set_result(struct runner_msg *m, size_t i,
		       const struct smtpc_reply *reply, const char *mta)
{
	struct runner_result *res = &m->res[i];
	res->set = true;
	res->reply = *reply;
	snprintf(res->mta, sizeof res->mta, "%s", mta ? mta : "");
}

static void msg_finish(struct runner *r, struct runner_msg *m);

void runner_msg_job_done(struct runner *r, struct runner_msg *m)
{
	if (--m->jobs_left == 0)
		msg_finish(r, m);
}

void runner_job_done(struct runner *r, struct runner_job *j)
{
	struct runner_msg *m = j->m;
	free(j->idx);
	free(j->addrs);
	free(j->notify);
	free(j->orcpt);
	free(j);
	runner_msg_job_done(r, m);
}

void runner_job_fail(struct runner *r, struct runner_job *j,
		     const struct smtpc_reply *why, const char *mta)
{
	for (size_t k = 0; k < j->n; k++)
		runner_set_result(j->m, j->idx[k], why, mta);
	runner_job_done(r, j);
}

static const char *rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

/* Recipients of this run, grouped by domain (case-insensitively): one
 * job per domain. */
void runner_dispatch_remote(struct runner *r, struct runner_msg *m,
			    const bool *remote)
{
	size_t n = m->env.n_rcpts;
	bool *taken = xcalloc(n ? n : 1, sizeof *taken);
	for (size_t i = 0; i < n; i++) {
		if (!remote[i] || taken[i])
			continue;
		const char *dom = rcpt_domain(m->env.rcpts[i].addr);
		struct runner_job *j = xcalloc(1, sizeof *j);
		j->m = m;
		j->idx = xcalloc(n, sizeof *j->idx);
		j->addrs = xcalloc(n, sizeof *j->addrs);
		j->notify = xcalloc(n, sizeof *j->notify);
		j->orcpt = xcalloc(n, sizeof *j->orcpt);
		for (size_t k = i; k < n; k++) {
			if (!remote[k] || taken[k] ||
			    strcasecmp(rcpt_domain(m->env.rcpts[k].addr), dom))
				continue;
			taken[k] = true;
			j->idx[j->n] = k;
			j->notify[j->n] = m->env.rcpts[k].notify;
			j->orcpt[j->n] = m->env.rcpts[k].orcpt;
			j->addrs[j->n++] = m->env.rcpts[k].addr;
		}
		j->sm.sender = m->env.sender;
		j->sm.rcpts = j->addrs;
		j->sm.n_rcpts = j->n;
		j->sm.data = m->body.data;
		j->sm.len = m->body.len;
		j->sm.body_8bit = m->env.body_8bit;
		j->sm.smtputf8 = m->env.smtputf8;
		/* RFC 3461 5.2.1: passed on as received (smtpc sends them
		 * only to a server that offers DSN). */
		j->sm.ret = m->env.ret;
		j->sm.envid = m->env.envid;
		j->sm.notify = j->notify;
		j->sm.orcpt = j->orcpt;
		m->jobs_left++;
		if (!*dom) {
			struct smtpc_reply why;
			runner_reply(&why, 550, "5.1.3",
				     "the address has no domain");
			runner_job_fail(r, j, &why, "");
			continue;
		}
		runner_dest_add(r, j, dom);
	}
	free(taken);
}

static void expire_all(struct runner_msg *m, int code, const char *status,
		       const char *why)
{
	struct smtpc_reply rep;
	runner_reply(&rep, code, status, "%s", why);
	for (size_t i = 0; i < m->env.n_rcpts; i++)
		if (m->env.rcpts[i].state == QUEUE_RCPT_PENDING)
			runner_set_result(m, i, &rep, "");
}

static void msg_start(struct runner *r, struct runner_msg *m)
{
	int64_t now = now_secs();
	m->hold = m->env.hold;
	m->next_attempt = m->env.next_attempt;
	bool forced = m->force;
	m->force = false;
	if (m->hold || (m->next_attempt > now && !forced)) {
		msg_unload(m);
		m->state = RMSG_IDLE;
		return;
	}
	m->state = RMSG_ACTIVE;
	r->n_active++;
	m->res = xcalloc(m->env.n_rcpts ? m->env.n_rcpts : 1, sizeof *m->res);
	m->jobs_left = 1; /* this function's own, dropped at the end */
	if (m->hops > (size_t)r->cfg->relay_max_hops) {
		char why[128];
		snprintf(why, sizeof why, "mail loop: %zu Received: fields, "
			 "more than %d", m->hops, r->cfg->relay_max_hops);
		expire_all(m, 554, "5.4.6", why);
	} else if (r->cfg->queue_max_age > 0 &&
		   now - m->env.created >= r->cfg->queue_max_age) {
		expire_all(m, 554, "4.4.7", "delivery time expired; the "
			   "message could not be delivered in time");
	} else {
		bool *remote = xcalloc(m->env.n_rcpts ? m->env.n_rcpts : 1,
				       sizeof *remote);
		for (size_t i = 0; i < m->env.n_rcpts; i++) {
			if (m->env.rcpts[i].state != QUEUE_RCPT_PENDING)
				continue;
			if (!m->env.is_bounce) {
				remote[i] = true;
				continue;
			}
			m->jobs_left++;
			runner_local_start(r, m, i);
		}
		runner_dispatch_remote(r, m, remote);
		free(remote);
	}
	runner_msg_job_done(r, m);
}

/* --- recording results --------------------------------------------- */

struct update_job {
	struct runner *r;
	struct runner_msg *m;
};

static void update_work(void *arg)
{
	struct update_job *uj = arg;
	runner_update_work(uj->r, uj->m, now_secs());
}

static const char *outcome(const struct smtpc_reply *rep)
{
	if (rep->code >= 200 && rep->code < 300)
		return "sent";
	if (rep->code >= 500)
		return "bounced";
	return "deferred";
}

static void log_results(const struct runner_msg *m)
{
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		const struct runner_result *res = &m->res[i];
		if (!res->set)
			continue;
		char to[LOG_ESC_MAX], rep[LOG_ESC_MAX], mta[LOG_ESC_MAX];
		const char *a = m->env.rcpts[i].addr;
		log_kv(res->reply.code < 400 ? LOG_INFO : LOG_WARN,
		       "event=delivery id=%s to=%s relay=%s status=%s dsn=%s "
		       "reply=%s attempt=%d",
		       m->id, log_esc(to, sizeof to, a, strlen(a)),
		       log_esc(mta, sizeof mta, res->mta[0] ? res->mta : "none",
			       strlen(res->mta[0] ? res->mta : "none")),
		       outcome(&res->reply), res->reply.status,
		       log_esc(rep, sizeof rep, res->reply.text,
			       strlen(res->reply.text)),
		       m->env.rcpts[i].attempts + 1);
	}
}

static void update_done(void *arg)
{
	struct update_job *uj = arg;
	struct runner *r = uj->r;
	struct runner_msg *m = uj->m;
	free(uj);
	r->n_active--;
	r->n_updating--;
	log_results(m);
	if (m->bounced)
		log_kv(LOG_INFO, "event=bounce id=%s to=<%s>", m->id,
		       m->env.sender);
	if (m->warned_now)
		log_kv(LOG_INFO, "event=delay_warning id=%s to=<%s>", m->id,
		       m->env.sender);
	if (m->removed || m->gone) {
		log_kv(LOG_INFO, "event=removed id=%s", m->id);
		msg_remove(r, m);
		return;
	}
	msg_unload(m);
	m->state = RMSG_IDLE;
	m->next_attempt = m->new_next_attempt;
	m->hold = m->new_hold;
	if (m->dirty) {
		/* changed on disk meanwhile (queue retry/hold): look again */
		m->dirty = false;
		m->next_attempt = 0;
		m->hold = false;
	}
	msg_kick(r, m, now_secs());
	runner_maybe_exit(r);
}

static void msg_finish(struct runner *r, struct runner_msg *m)
{
	/* also when stopping: what the remote accepted is recorded, so a
	 * restart (SIGHUP) does not send it again */
	m->state = RMSG_UPDATING;
	r->n_updating++;
	struct update_job *uj = xcalloc(1, sizeof *uj);
	uj->r = r;
	uj->m = m;
	threadpool_submit(r->pool, update_work, update_done, uj);
}

/* --- what is queued ------------------------------------------------- */

static void on_env_event(struct runner *r, const char *id, bool deleted)
{
	if (!queue_id_valid(id))
		return;
	struct runner_msg *m = msg_find(r, id);
	if (deleted) {
		if (!m)
			return;
		if (m->state == RMSG_IDLE)
			msg_remove(r, m);
		else
			m->gone = true;
		return;
	}
	if (!m)
		m = msg_add(r, id);
	else if (m->state != RMSG_IDLE) {
		m->dirty = true;
		return;
	}
	/* new, or changed by `postern queue`: read it again now */
	m->hold = false;
	m->next_attempt = 0;
	msg_kick(r, m, now_secs());
}

/* `postern queue retry` without an id: every message that is not held,
 * now. Busy ones go again as soon as their run is recorded. */
static void retry_all(struct runner *r)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", r->cfg->queue_dir,
		 QUEUE_RETRY_FILE);
	if (unlink(path) != 0 && errno == ENOENT)
		return; /* seen already */
	size_t n = 0;
	for (struct runner_msg *m = r->msgs; m; m = m->next) {
		if (m->state == RMSG_IDLE && m->hold)
			continue;
		m->force = true;
		if (m->state != RMSG_IDLE)
			m->dirty = true;
		n++;
	}
	log_kv(LOG_INFO, "event=retry_all messages=%zu", n);
	on_tick_kick(r);
}

static void scan_queue(struct runner *r)
{
	struct queue_env *list = NULL;
	size_t n = 0;
	struct buf err = BUF_INIT;
	if (queue_list(r->cfg->queue_dir, &list, &n, &err) != 0 || err.len) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=queue_scan_problem error=%s",
		       log_esc(e, sizeof e, err.data, err.len));
	}
	buf_free(&err);
	for (size_t i = 0; i < n; i++) {
		struct runner_msg *m = msg_find(r, list[i].id);
		if (!m)
			m = msg_add(r, list[i].id);
		if (m->state != RMSG_IDLE)
			continue;
		m->hold = list[i].hold;
		m->next_attempt = list[i].next_attempt;
	}
	queue_list_free(&list, n);
	log_kv(LOG_INFO, "event=queue_scanned messages=%zu", r->n_msgs);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct runner *r = arg;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				scan_queue(r);
				retry_all(r);
				continue;
			}
			if (ev->wd == r->dir_wd) {
				if (ev->len && !strcmp(ev->name, QUEUE_RETRY_FILE))
					retry_all(r);
				continue;
			}
			if (!ev->len)
				continue;
			on_env_event(r, ev->name,
				     (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0);
		}
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	on_tick_kick(arg);
}

static void on_tick_kick(struct runner *r)
{
	int64_t now = now_secs();
	for (struct runner_msg *m = r->msgs; m; m = m->next) {
		if (r->n_active >= RUNNER_ACTIVE_MAX)
			break;
		msg_kick(r, m, now);
	}
	runner_dest_kick_all(r);
}

void runner_maybe_exit(struct runner *r)
{
	if (r->stopping && r->n_updating == 0 && runner_in_flight(r) == 0)
		event_base_loopbreak(r->base);
}

static void on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct runner *r = arg;
	log_kv(LOG_WARN, "event=stop_forced in_flight=%zu updating=%zu",
	       runner_in_flight(r), r->n_updating);
	event_base_loopbreak(r->base);
}

/* Nothing new starts; the transactions under way get secs to finish
 * and be recorded, so that they are not sent twice. A second call may
 * only bring the end nearer. */
static void runner_stop(struct runner *r, int secs)
{
	if (!r->stopping) {
		r->stopping = true;
		runner_dest_stop(r);
		r->stop_deadline = evtimer_new(r->base, on_stop_deadline, r);
	} else if (secs >= r->stop_secs) {
		return;
	}
	r->stop_secs = secs;
	struct timeval tv = { secs, 0 };
	evtimer_add(r->stop_deadline, &tv);
	runner_maybe_exit(r);
}

/* SIGTERM (stop, or a reload's restart): shutdown_timeout for what is
 * under way. */
static void on_term(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct runner *r = arg;
	if (r->stopping)
		return;
	log_kv(LOG_INFO, "event=stopping signal=%d in_flight=%zu "
	       "updating=%zu", (int)fd, runner_in_flight(r), r->n_updating);
	runner_stop(r, r->cfg->shutdown_timeout);
}

/* The supervisor died (core/lifeline.h): what is under way gets a
 * second, within the lifeline's grace; anything cut off is sent again
 * by the next runner (at-least-once, queue/runner.h). */
static void on_supervisor_gone(void *arg)
{
	runner_stop(arg, LIFELINE_GRACE_SECS - 1);
}

static char *read_password(const char *path)
{
	if (!path || !*path)
		return xstrdup("");
	FILE *f = fopen(path, "r");
	if (!f) {
		log_kv(LOG_ERR, "event=smarthost_password_unreadable path=%s "
		       "error=\"%s\"", path, strerror(errno));
		return xstrdup("");
	}
	char line[1024] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

/* One runner per queue: a reload's new runner waits here until the
 * old one has recorded what it had under way (or a second server
 * started on the same queue by mistake waits instead of sending
 * everything twice). Held until the process exits. */
static int runner_lock(struct runner *r, const char *dir)
{
	struct buf err = BUF_INIT;
	if (queue_init(dir, &err) != 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=queue_unusable dir=%s error=%s", dir,
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/runner.lock", dir);
	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lock_fd < 0) {
		log_kv(LOG_ERR, "event=queue_unusable path=%s error=\"%s\"",
		       path, strerror(errno));
		return -1;
	}
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	log_kv(LOG_INFO, "event=queue_waiting reason=\"another runner "
	       "holds the queue\"");
	while (flock(r->lock_fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			log_kv(LOG_ERR, "event=queue_lock_failed error=\"%s\"",
			       strerror(errno));
			return -1;
		}
	return 0;
}

static int runner_setup(struct runner *r, const struct config *cfg,
			const char *auth_socket)
{
	struct buf err = BUF_INIT;
	char e[LOG_ESC_MAX];
	r->cfg = cfg;
	r->inotify_fd = -1;
	r->base = event_base_new();
	if (!r->base)
		log_fatal("event=event_base_new_failed");
	if (runner_lock(r, cfg->queue_dir) != 0)
		return EX_CANTCREAT;
	if (queue_recover(cfg->queue_dir, &err) != 0) {
		log_kv(LOG_ERR, "event=queue_unusable dir=%s error=%s",
		       cfg->queue_dir, log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		return EX_CANTCREAT;
	}
	r->routes = route_table_new(cfg, &err);
	if (!r->routes) {
		log_kv(LOG_ERR, "event=queue_config error=%s",
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		return EX_CONFIG;
	}
	r->dns = dns_new(r->base, cfg->dns_resolver, &err);
	if (!r->dns) {
		log_kv(LOG_ERR, "event=dns_unusable error=%s",
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		return EX_CONFIG;
	}
	r->tls = tls_client_ctx_new(cfg->tls_ca_file, &err);
	if (!r->tls) {
		log_kv(LOG_ERR, "event=tls_client_unusable error=%s",
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		return EX_CONFIG;
	}
	buf_free(&err);
	r->smarthost_pass = read_password(cfg->smarthost_password_file);
	r->pool = threadpool_new(r->base, RUNNER_POOL_THREADS);
	r->auth = auth_client_new(r->base, auth_socket);
	r->hash_size = 1024;
	r->hash = xcalloc(r->hash_size, sizeof *r->hash);
	char envdir[PATH_MAX];
	snprintf(envdir, sizeof envdir, "%s/env", cfg->queue_dir);
	r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->inotify_fd >= 0) {
		r->env_wd = inotify_add_watch(r->inotify_fd, envdir,
					      IN_MOVED_TO | IN_MOVED_FROM |
					      IN_DELETE | IN_CLOSE_WRITE);
		r->dir_wd = inotify_add_watch(r->inotify_fd, cfg->queue_dir,
					      IN_CLOSE_WRITE | IN_MOVED_TO);
	}
	if (r->inotify_fd < 0 || r->env_wd < 0 || r->dir_wd < 0) {
		log_kv(LOG_ERR, "event=inotify_failed dir=%s error=\"%s\"",
		       envdir, strerror(errno));
		return EX_OSERR;
	}
	r->inotify_ev = event_new(r->base, r->inotify_fd, EV_READ | EV_PERSIST,
				  on_inotify, r);
	event_add(r->inotify_ev, NULL);
	r->tick = event_new(r->base, -1, EV_PERSIST, on_tick, r);
	struct timeval tv = { 0, RUNNER_TICK_MS * 1000 };
	event_add(r->tick, &tv);
	r->sig_term = evsignal_new(r->base, SIGTERM, on_term, r);
	r->sig_int = evsignal_new(r->base, SIGINT, on_term, r);
	event_add(r->sig_term, NULL);
	event_add(r->sig_int, NULL);
	r->lifeline = lifeline_watch(r->base, on_supervisor_gone, r);
	return EX_OK;
}

static void runner_teardown(struct runner *r)
{
	/* DNS first: cancelling its queries calls the routes' callbacks,
	 * which must still find their destinations. */
	r->stopping = true;
	if (r->dns)
		dns_free(&r->dns);
	runner_dest_free_all(r);
	if (r->pool)
		threadpool_free(&r->pool);
	while (r->msgs)
		msg_remove(r, r->msgs);
	free(r->hash);
	if (r->inotify_ev)
		event_free(r->inotify_ev);
	if (r->inotify_fd >= 0)
		close(r->inotify_fd);
	if (r->tick)
		event_free(r->tick);
	if (r->sig_term)
		event_free(r->sig_term);
	if (r->sig_int)
		event_free(r->sig_int);
	if (r->stop_deadline)
		event_free(r->stop_deadline);
	lifeline_unwatch(&r->lifeline);
	if (r->auth)
		auth_client_free(&r->auth);
	route_table_free(&r->routes);
	tls_ctx_free(&r->tls);
	free(r->smarthost_pass);
	if (r->base)
		event_base_free(r->base);
	if (r->lock_fd > 0)
		close(r->lock_fd);
}

int queue_runner_run(const struct config *cfg, const char *auth_socket)
{
	struct runner r = { 0 };
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* Outbound mail can wait a few milliseconds; a person at an IMAP
	 * client cannot: on a busy machine the workers come first. */
	if (setpriority(PRIO_PROCESS, 0, RUNNER_NICE) != 0)
		log_kv(LOG_WARN, "event=setpriority_failed error=\"%s\"",
		       strerror(errno));
	int rc = runner_setup(&r, cfg, auth_socket);
	if (rc == EX_OK) {
		scan_queue(&r);
		retry_all(&r); /* asked for while we were not running */
		on_tick_kick(&r);
		log_kv(LOG_INFO, "event=queue_started dir=%s messages=%zu",
		       cfg->queue_dir, r.n_msgs);
		event_base_dispatch(r.base);
	}
	r.stopping = true;
	runner_teardown(&r);
	return rc;
}
