/* The auth process (see authd.h). */
#include "auth/authd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "auth/auth_proto.h"
#include "auth/limiter.h"
#include "auth/passwd.h"
#include "auth/resolve.h"
#include "auth/sasl.h"
#include "auth/users.h"
#include "core/limits.h"
#include "core/lifeline.h"
#include "core/dgram_queue.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"

/* Bounds what a broken or flooding worker can make us hold. */
#define AUTHD_MAX_JOBS 10000
#define AUTHD_MAX_OUTQ 4096
#define AUTHD_READ_BURST 64
#define AUTHD_NET_BUCKETS 1024

struct authd;
struct ajob;

/* A source of requests (see "sources" below): one network, the known
 * pairs of one network, or an IPv6 /56. */
struct anet {
	struct anet *hnext;
	struct anet *rr_next;         /* turn order, while it has a queue */
	bool in_rr;
	struct ajob *q_head, *q_tail; /* waiting for a hashing slot */
	size_t jobs;                  /* held, in any phase */
	int hashing;                  /* of which on a pool thread */
	uint64_t hash;
	size_t keylen;
	char key[LIMITER_NET_MAX + 2];
};

enum job_phase {
	PHASE_NEW,
	PHASE_PENALTY, /* the limiter's slow-down, before any hashing */
	PHASE_QUEUED,  /* in its source's queue */
	PHASE_HASHING, /* on a pool thread */
	PHASE_DELAY,   /* a failure waiting for auth_fail_delay_ms */
};

struct aconn {
	struct authd *d;
	int fd;
	int refs; /* 1 while open + one per job */
	bool closed;
	struct event *rev, *wev;
	struct dgram_queue outq; /* replies the full socket did not take */
	struct aconn *prev, *next;
};

struct ajob {
	struct authd *d;
	struct aconn *conn;
	struct ajob *prev, *next;
	struct ajob *qnext;           /* its source's queue */
	struct anet *src, *wide;      /* counted in these */
	enum job_phase phase;
	int penalty_ms;
	const char *slow_reason;
	bool known;
	uint64_t id;
	enum auth_mech mech;
	bool secured;
	struct timespec arrival;
	char service[AUTH_PROTO_SERVICE_MAX + 1];
	char ip[AUTH_PROTO_IP_MAX + 1];
	char sid[AUTH_PROTO_SID_MAX + 1];
	struct buf user, authzid, secret, challenge;
	char *stored; /* the account's password, or the dummy hash */
	char *canon;  /* canonical name, NULL for an unknown user */
	enum pop3_dele_mode dele;
	/* Outcome, set by the check or before it. */
	enum auth_status status;
	const char *reason;
	struct event *timer;
};

struct authd {
	const struct config *cfg;
	struct event_base *base;
	struct threadpool *tp;
	struct limiter *lim;
	struct users users;
	struct stat users_st;
	bool have_st;
	time_t last_check;
	/* The aliases file; have_ast: it existed at the last check. */
	struct aliases aliases;
	struct stat aliases_st;
	bool have_ast;
	/* Borrows users and aliases: rebuilt whenever either changes. */
	struct resolver *resolver;
	char *dummy;
	uid_t uid;
	int listen_fd;
	struct event *lev, *hup_ev, *term_ev;
	struct event *lifeline; /* EOF: the supervisor is gone */
	struct aconn *conns;
	struct ajob *jobs;
	size_t njobs;
	/* Sources, and the ones with a queue in turn order. */
	struct anet *nets[AUTHD_NET_BUCKETS];
	uint64_t net_seed;
	struct anet *rr_head, *rr_tail;
	int hashing, slots;
	/* The known pairs' state file (limiter_known_export). */
	char *known_path;
	bool known_dirty;
	atomic_bool known_saving;
	struct event *save_ev;
};

static const char *mech_name(enum auth_mech m)
{
	switch (m) {
	case AUTH_MECH_PASSWORD:
		return "password";
	case AUTH_MECH_APOP:
		return "apop";
	case AUTH_MECH_CRAM_MD5:
		return "cram-md5";
	}
	return "?";
}

static const char *status_name(enum auth_status s)
{
	switch (s) {
	case AUTH_OK:
		return "ok";
	case AUTH_FAILED:
		return "failed";
	case AUTH_BLOCKED:
		return "blocked";
	case AUTH_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}

static time_t mono_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- users file ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void log_load_errors(struct buf *err, const char *event)
{
	char esc[LOG_ESC_MAX];
	const char *p = buf_cstr(err);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		log_kv(LOG_ERR, "event=%s error=%s", event,
		       log_esc(esc, sizeof esc, p, n));
		p += n + (nl ? 1 : 0);
	}
}

/* Re-reads the users file if it changed (or force). On a successful load
 * the previous set is moved to *old (the resolver still points into it)
 * and true is returned. */
static bool users_check(struct authd *d, bool force, struct users *old)
{
	struct stat st;
	if (stat(d->cfg->users_file, &st) < 0) {
		if (force || d->have_st) {
			char esc[LOG_ESC_MAX];
			log_kv(LOG_ERR,
			       "event=users_load_failed file=%s error=%s",
			       log_esc(esc, sizeof esc, d->cfg->users_file,
				       strlen(d->cfg->users_file)),
			       strerror(errno));
		}
		d->have_st = false;
		return false;
	}
	if (!force && d->have_st && same_file(&st, &d->users_st))
		return false;
	/* Remember what we saw even if it is broken: an admin's fix
	 * changes it again, and we do not log the same error every
	 * second. */
	d->users_st = st;
	d->have_st = true;
	struct users nu;
	struct buf err = BUF_INIT;
	bool changed = false;
	users_init(&nu);
	if (users_load(&nu, d->cfg->users_file, &err) < 0) {
		log_load_errors(&err, "users_load_failed");
		log_kv(LOG_ERR, "event=users_reload result=failed "
				"reason=invalid_file kept=%zu",
		       d->users.n);
	} else {
		users_swap(&d->users, &nu);
		users_swap(old, &nu);
		changed = true;
		log_kv(LOG_INFO, "event=users_reload result=ok users=%zu",
		       d->users.n);
	}
	users_free(&nu);
	buf_free(&err);
	return changed;
}

/* The same for the aliases file; a missing file is no aliases. */
static bool aliases_check(struct authd *d, bool force, struct aliases *old)
{
	const char *path = d->cfg->aliases_file ? d->cfg->aliases_file : "";
	char esc[LOG_ESC_MAX];
	struct stat st;
	bool missing = false;
	if (!*path || stat(path, &st) < 0) {
		if (*path && errno != ENOENT) {
			if (force || d->have_ast)
				log_kv(LOG_ERR,
				       "event=aliases_load_failed file=%s "
				       "error=%s",
				       log_esc(esc, sizeof esc, path,
					       strlen(path)),
				       strerror(errno));
			d->have_ast = false;
			return false;
		}
		missing = true;
	}
	if (missing) {
		bool was = d->have_ast;
		d->have_ast = false;
		if (!force && !was)
			return false;
		aliases_swap(&d->aliases, old); /* old was empty */
		log_kv(LOG_INFO, "event=aliases_reload result=ok aliases=0 "
				 "file=missing");
		return true;
	}
	if (!force && d->have_ast && same_file(&st, &d->aliases_st))
		return false;
	d->aliases_st = st;
	d->have_ast = true;
	struct aliases na;
	struct buf err = BUF_INIT;
	bool changed = false;
	aliases_init(&na);
	if (aliases_load(path, &na, &err) < 0) {
		log_load_errors(&err, "aliases_load_failed");
		log_kv(LOG_ERR, "event=aliases_reload result=failed "
				"reason=invalid_file kept=%zu",
		       d->aliases.n);
	} else {
		aliases_swap(&d->aliases, &na);
		aliases_swap(old, &na);
		changed = true;
		log_kv(LOG_INFO, "event=aliases_reload result=ok aliases=%zu",
		       d->aliases.n);
	}
	aliases_free(&na);
	buf_free(&err);
	return changed;
}

/* Checks both files (at most once a second unless forced) and rebuilds
 * the resolver if either changed. The old resolver is freed before the
 * old sets it borrowed. */
static void files_reload(struct authd *d, bool force)
{
	time_t now = mono_sec();
	if (!force && d->have_st && now == d->last_check && d->resolver)
		return;
	d->last_check = now;
	struct users old_users;
	struct aliases old_aliases;
	users_init(&old_users);
	aliases_init(&old_aliases);
	bool u = users_check(d, force, &old_users);
	bool a = aliases_check(d, force, &old_aliases);
	if (u || a || !d->resolver) {
		struct resolver *nr = resolver_new(d->cfg, &d->users,
						   &d->aliases);
		struct resolver *or = d->resolver;
		d->resolver = nr;
		resolver_free(&or);
	}
	users_free(&old_users);
	aliases_free(&old_aliases);
}

/* ---- connections ---- */

static void conn_unref(struct aconn *c)
{
	if (--c->refs > 0)
		return;
	dgram_queue_clear(&c->outq);
	free(c);
}

static void conn_close(struct aconn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_unref(c);
}

static void conn_send(struct aconn *c, const struct buf *msg)
{
	if (c->closed)
		return;
	if (dgram_queue_len(&c->outq) >= AUTHD_MAX_OUTQ) {
		log_kv(LOG_ERR, "event=auth_conn_closed reason=output_full");
		conn_close(c);
		return;
	}
	enum dgram_rc rc = dgram_queue_send(&c->outq, c->fd, msg->data,
					    msg->len);
	if (rc == DGRAM_WAIT) {
		event_add(c->wev, NULL);
	} else if (rc == DGRAM_ERROR) {
		log_kv(LOG_WARN, "event=auth_conn_closed reason=send_failed "
				 "error=%s", strerror(errno));
		conn_close(c);
	}
}

static void on_conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *c = arg;
	(void)what;
	enum dgram_rc rc = dgram_queue_flush(&c->outq, fd);
	if (rc == DGRAM_WAIT)
		event_add(c->wev, NULL);
	else if (rc == DGRAM_ERROR)
		conn_close(c);
}

/* ---- sources ----
 *
 * Hashing is the costly part of a login, so it is shared out fairly:
 * at most `slots` checks run at once (one per pool thread), and a free
 * slot goes to the next source in turn (round robin), not to the oldest
 * request. One source may hold all slots but one: the pool has a
 * thread more than the cores it is sized for, so a lone source loses
 * no speed and the last slot is always free for someone else. A flood
 * from one network thus waits behind itself, and a login from anywhere
 * else starts at once or after one check per busy source. A source's requests in every phase are bounded too
 * (AUTH_NET_JOBS_MAX, an IPv6 /56 AUTH_WIDE_JOBS_MAX), and once the
 * table is three quarters full, a source holding AUTH_NET_JOBS_RESERVE
 * gets no more: the rest is kept for the others. The known pairs of a
 * network (limiter.h) are a source of their own, so an attacker behind
 * an office's NAT address does not queue its owners behind him. */

static uint64_t net_hash(const struct authd *d, const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ d->net_seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 31);
}

/* kind 'n' (a network), 'k' (its known pairs) or 'w' (a /56). */
static struct anet *net_get(struct authd *d, char kind, const char *net)
{
	char key[LIMITER_NET_MAX + 2];
	size_t n = (size_t)snprintf(key, sizeof key, "%c:%s", kind, net);
	if (n >= sizeof key)
		n = sizeof key - 1;
	uint64_t h = net_hash(d, key, n);
	struct anet **b = &d->nets[h % AUTHD_NET_BUCKETS];
	for (struct anet *a = *b; a; a = a->hnext)
		if (a->hash == h && a->keylen == n && memcmp(a->key, key, n) == 0)
			return a;
	struct anet *a = xcalloc(1, sizeof *a);
	a->hash = h;
	a->keylen = n;
	memcpy(a->key, key, n);
	a->hnext = *b;
	*b = a;
	return a;
}

static void rr_remove(struct authd *d, struct anet *a)
{
	struct anet *prev = NULL;
	for (struct anet *x = d->rr_head; x; prev = x, x = x->rr_next) {
		if (x != a)
			continue;
		if (prev)
			prev->rr_next = a->rr_next;
		else
			d->rr_head = a->rr_next;
		if (d->rr_tail == a)
			d->rr_tail = prev;
		break;
	}
	a->rr_next = NULL;
	a->in_rr = false;
}

static void rr_push(struct authd *d, struct anet *a)
{
	a->rr_next = NULL;
	a->in_rr = true;
	if (d->rr_tail)
		d->rr_tail->rr_next = a;
	else
		d->rr_head = a;
	d->rr_tail = a;
}

/* One job fewer; the source goes when it holds none. */
static void net_put(struct authd *d, struct anet *a)
{
	if (!a || --a->jobs > 0)
		return;
	if (a->in_rr)
		rr_remove(d, a);
	struct anet **pp = &d->nets[a->hash % AUTHD_NET_BUCKETS];
	while (*pp != a)
		pp = &(*pp)->hnext;
	*pp = a->hnext;
	free(a);
}

/* Is there room for one more job from src (and wide)? */
static bool net_room(const struct authd *d, const struct anet *src,
		     const struct anet *wide)
{
	if (d->njobs > AUTHD_MAX_JOBS)
		return false;
	if (src->jobs > AUTH_NET_JOBS_MAX ||
	    (wide && wide->jobs > AUTH_WIDE_JOBS_MAX))
		return false;
	if (d->njobs > AUTHD_MAX_JOBS / 4 * 3 &&
	    (src->jobs > AUTH_NET_JOBS_RESERVE ||
	     (wide && wide->jobs > AUTH_NET_JOBS_RESERVE)))
		return false;
	return true;
}

static void job_work(void *arg);
static void job_done(void *arg);

/* Gives free hashing slots to the queued jobs, one source at a time. */
static void pump(struct authd *d)
{
	while (d->hashing < d->slots && d->rr_head) {
		struct anet *a = d->rr_head;
		while (a && a->hashing >= d->slots - 1)
			a = a->rr_next;
		if (!a)
			return; /* the last slot waits for another source */
		rr_remove(d, a);
		struct ajob *j = a->q_head;
		a->q_head = j->qnext;
		if (!a->q_head)
			a->q_tail = NULL;
		else
			rr_push(d, a);
		j->qnext = NULL;
		j->phase = PHASE_HASHING;
		d->hashing++;
		a->hashing++;
		threadpool_submit(d->tp, job_work, job_done, j);
	}
}

static void enqueue(struct ajob *j)
{
	struct authd *d = j->d;
	struct anet *a = j->src;
	j->phase = PHASE_QUEUED;
	j->qnext = NULL;
	if (a->q_tail)
		a->q_tail->qnext = j;
	else
		a->q_head = j;
	a->q_tail = j;
	if (!a->in_rr)
		rr_push(d, a);
	pump(d);
}

/* Takes a queued job out of its source's queue (only at shutdown). */
static void dequeue(struct ajob *j)
{
	struct anet *a = j->src;
	struct ajob *prev = NULL;
	for (struct ajob *x = a->q_head; x; prev = x, x = x->qnext) {
		if (x != j)
			continue;
		if (prev)
			prev->qnext = j->qnext;
		else
			a->q_head = j->qnext;
		if (a->q_tail == j)
			a->q_tail = prev;
		break;
	}
	if (!a->q_head && a->in_rr)
		rr_remove(j->d, a);
}

/* ---- jobs ---- */

static void job_free(struct ajob *j)
{
	struct authd *d = j->d;
	if (j->phase == PHASE_QUEUED)
		dequeue(j);
	net_put(d, j->src);
	net_put(d, j->wide);
	if (j->prev)
		j->prev->next = j->next;
	else
		d->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	d->njobs--;
	if (j->timer)
		event_free(j->timer);
	if (j->secret.data)
		explicit_bzero(j->secret.data, j->secret.cap);
	buf_free(&j->secret);
	buf_free(&j->user);
	buf_free(&j->authzid);
	buf_free(&j->challenge);
	if (j->stored) {
		explicit_bzero(j->stored, strlen(j->stored));
		free(j->stored);
	}
	free(j->canon);
	if (j->conn)
		conn_unref(j->conn);
	free(j);
}

static void job_reply(struct ajob *j)
{
	struct auth_proto_reply r = {
		.id = j->id,
		.status = j->status,
		.pop3_dele = j->dele,
		.user = j->status == AUTH_OK && j->canon ?
				str_from_cstr(j->canon) :
				(struct str){ "", 0 },
		.reason = j->reason ? str_from_cstr(j->reason) :
				      (struct str){ "", 0 },
	};
	struct buf msg = BUF_INIT;
	if (auth_proto_encode_reply(&msg, &r) < 0)
		log_fatal("event=bug reason=reply_too_long");
	conn_send(j->conn, &msg);
	buf_free(&msg);
	job_free(j);
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ajob *j = arg;
	(void)fd;
	(void)what;
	if (j->phase == PHASE_PENALTY)
		enqueue(j);
	else
		job_reply(j);
}

static void job_timer(struct ajob *j, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
			      (suseconds_t)(ms % 1000) * 1000 };
	if (!j->timer)
		j->timer = evtimer_new(j->d->base, on_job_timer, j);
	if (!j->timer)
		log_fatal("event=out_of_memory what=evtimer");
	evtimer_add(j->timer, &tv);
}

static void job_log(const struct ajob *j)
{
	char u[LOG_ESC_MAX], s[LOG_ESC_MAX], sid[LOG_ESC_MAX], ip[LOG_ESC_MAX];
	enum log_level lvl = j->status == AUTH_OK ? LOG_INFO : LOG_WARN;
	char slow[80] = "";
	if (j->penalty_ms)
		snprintf(slow, sizeof slow, " delay_ms=%d delay_reason=%s",
			 j->penalty_ms, j->slow_reason ? j->slow_reason : "");
	log_kv(lvl,
	       "event=auth service=%s sid=%s user=%s ip=%s mech=%s "
	       "secured=%s known=%s result=%s%s%s%s",
	       log_esc(s, sizeof s, j->service, strlen(j->service)),
	       log_esc(sid, sizeof sid, j->sid, strlen(j->sid)),
	       log_esc(u, sizeof u, j->user.data ? j->user.data : "",
		       j->user.len),
	       log_esc(ip, sizeof ip, j->ip, strlen(j->ip)),
	       mech_name(j->mech), j->secured ? "yes" : "no",
	       j->known ? "yes" : "no", status_name(j->status),
	       j->reason ? " reason=" : "", j->reason ? j->reason : "", slow);
}

/* Sends the answer now (OK) or at arrival + the limiter's penalty +
 * auth_fail_delay_ms, whatever the reason: the penalty depends only on
 * the name and network asked about, never on whether the user exists. */
static void job_finish(struct ajob *j)
{
	job_log(j);
	if (j->status == AUTH_OK || j->status == AUTH_TEMPFAIL) {
		job_reply(j);
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long due_ms = (long long)j->arrival.tv_sec * 1000 +
			   j->arrival.tv_nsec / 1000000 + j->penalty_ms +
			   j->d->cfg->auth_fail_delay_ms;
	long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	j->phase = PHASE_DELAY;
	job_timer(j, due_ms > now_ms ? due_ms - now_ms : 0);
}

/* Runs on a pool thread: touches only the job. */
static void job_work(void *arg)
{
	struct ajob *j = arg;
	const char *reason = NULL;
	bool ok = false;
	struct str given = buf_str(&j->secret);
	if (j->mech == AUTH_MECH_PASSWORD) {
		ok = passwd_verify(j->stored, given, &reason);
	} else {
		struct str plain;
		if (passwd_plain_secret(j->stored, &plain, &reason)) {
			struct str chal = buf_str(&j->challenge);
			ok = j->mech == AUTH_MECH_APOP ?
				     sasl_apop_verify(chal, plain, given) :
				     sasl_cram_verify(chal, plain, given);
			reason = ok ? NULL : "bad_password";
		}
	}
	if (!j->canon) {
		ok = false;
		reason = "unknown_user";
	}
	j->status = ok ? AUTH_OK : AUTH_FAILED;
	j->reason = reason ? reason : (ok ? NULL : "bad_password");
}

static void job_done(void *arg)
{
	struct ajob *j = arg;
	struct authd *d = j->d;
	d->hashing--;
	j->src->hashing--;
	/* A failure was counted when it arrived. */
	if (j->status == AUTH_OK) {
		limiter_success(d->lim, j->ip, buf_str(&j->user), mono_sec());
		d->known_dirty = true;
	}
	job_finish(j);
	pump(d);
}

static void copy_cstr(char *dst, size_t dstsz, struct str s)
{
	size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static bool same_name(struct str a, struct str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++) {
		char x = a.p[i], y = b.p[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static void handle_request(struct aconn *c, const struct auth_proto_request *r,
			   const struct timespec *arrival)
{
	struct authd *d = c->d;
	struct ajob *j = xcalloc(1, sizeof *j);
	j->d = d;
	j->conn = c;
	c->refs++;
	j->next = d->jobs;
	if (d->jobs)
		d->jobs->prev = j;
	d->jobs = j;
	d->njobs++;
	j->id = r->id;
	j->mech = r->mech;
	j->secured = r->secured;
	j->arrival = *arrival;
	copy_cstr(j->service, sizeof j->service, r->service);
	copy_cstr(j->ip, sizeof j->ip, r->remote_ip);
	copy_cstr(j->sid, sizeof j->sid, r->session_id);
	buf_append(&j->user, r->user.p, r->user.len);
	buf_append(&j->authzid, r->authzid.p, r->authzid.len);
	buf_append(&j->secret, r->secret.p, r->secret.len);
	buf_append(&j->challenge, r->challenge.p, r->challenge.len);
	j->dele = d->cfg->pop3_dele_mode;

	time_t now = mono_sec();
	char net[LIMITER_NET_MAX], wide[LIMITER_NET_MAX];
	limiter_net_of(j->ip, 64, net);
	limiter_net_of(j->ip, 56, wide);
	j->known = limiter_known(d->lim, j->ip, r->user, now);
	j->src = net_get(d, j->known ? 'k' : 'n', net);
	j->src->jobs++;
	if (!j->known && strcmp(net, wide) != 0) {
		j->wide = net_get(d, 'w', wide);
		j->wide->jobs++;
	}
	if (!net_room(d, j->src, j->wide)) {
		/* Answered at once and not counted: no secret was checked. */
		j->status = AUTH_TEMPFAIL;
		j->reason = d->njobs > AUTHD_MAX_JOBS ? "auth_busy" : "net_busy";
		job_finish(j);
		return;
	}
	files_reload(d, false);
	struct limiter_verdict v;
	limiter_attempt(d->lim, j->ip, r->user, now, &v);
	if (v.flood_started) {
		char esc[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=auth_flood net=%s reason=%s "
				 "block_time=%d",
		       log_esc(esc, sizeof esc,
			       strcmp(v.reason, "wide_flood") ? net : wide,
			       strlen(strcmp(v.reason, "wide_flood") ? net :
								       wide)),
		       v.reason, d->cfg->auth_block_time);
	}
	if (v.blocked) {
		j->status = AUTH_BLOCKED;
		j->reason = v.reason;
		job_finish(j);
		return;
	}
	j->penalty_ms = v.delay_ms;
	j->slow_reason = v.reason;
	if (r->authzid.len && !same_name(r->authzid, r->user)) {
		/* We only let a user act as themself. */
		j->status = AUTH_FAILED;
		j->reason = "authzid";
		job_finish(j);
		return;
	}
	const struct user_entry *e = users_lookup(&d->users, r->user);
	if (e) {
		j->canon = xstrdup(e->name);
		j->stored = xstrdup(e->password);
		j->dele = users_pop3_dele(e, d->cfg->pop3_dele_mode);
	} else {
		j->stored = xstrdup(d->dummy);
	}
	if (j->penalty_ms > 0) {
		j->phase = PHASE_PENALTY;
		job_timer(j, j->penalty_ms);
		return;
	}
	enqueue(j);
}

static enum auth_rcpt_status rcpt_status(enum resolve_status st,
					 const char **reason)
{
	switch (st) {
	case RESOLVE_LOCAL:
		*reason = "";
		return AUTH_RCPT_LOCAL;
	case RESOLVE_NOT_LOCAL_DOMAIN:
		*reason = "not_local";
		return AUTH_RCPT_NOT_LOCAL;
	case RESOLVE_UNKNOWN_USER:
		*reason = "unknown_user";
		return AUTH_RCPT_UNKNOWN;
	case RESOLVE_ERROR:
		break;
	}
	*reason = "alias_error";
	return AUTH_RCPT_ERROR;
}

static const char *rcpt_status_name(enum auth_rcpt_status s)
{
	switch (s) {
	case AUTH_RCPT_LOCAL:
		return "local";
	case AUTH_RCPT_NOT_LOCAL:
		return "not_local";
	case AUTH_RCPT_UNKNOWN:
		return "unknown";
	case AUTH_RCPT_ERROR:
		return "error";
	case AUTH_RCPT_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}

/* Recipient lookup: in memory and fast, so answered at once: no delay,
 * no limiter, no thread pool (no secret is involved). */
static void handle_rcpt(struct aconn *c, const struct auth_proto_rcpt *r)
{
	struct authd *d = c->d;
	files_reload(d, false);
	struct resolve_result res;
	resolver_resolve(d->resolver, r->address, &res);
	struct auth_proto_rcpt_reply rep = { .id = r->id };
	const char *reason;
	rep.status = rcpt_status(res.status, &reason);
	rep.reason = str_from_cstr(reason);
	rep.users = res.users;
	rep.n_users = res.n_users;
	struct buf msg = BUF_INIT;
	if (auth_proto_encode_rcpt_reply(&msg, &rep) < 0) {
		rep.status = AUTH_RCPT_ERROR;
		rep.reason = STR_LIT("too_many_targets");
		rep.users = NULL;
		rep.n_users = 0;
		if (auth_proto_encode_rcpt_reply(&msg, &rep) < 0)
			log_fatal("event=bug reason=rcpt_reply");
	}
	/* Debug only: one line per lookup would flood the log at info. */
	char sid[LOG_ESC_MAX], addr[LOG_ESC_MAX], why[LOG_ESC_MAX];
	log_kv(LOG_DEBUG,
	       "event=rcpt_lookup sid=%s address=%s result=%s users=%zu%s%.*s%s%s",
	       log_esc(sid, sizeof sid, r->session_id.p, r->session_id.len),
	       log_esc(addr, sizeof addr, r->address.p, r->address.len),
	       rcpt_status_name(rep.status), rep.n_users,
	       rep.reason.len ? " reason=" : "", (int)rep.reason.len,
	       rep.reason.p, res.why[0] ? " why=" : "",
	       res.why[0] ? log_esc(why, sizeof why, res.why, strlen(res.why)) :
			    "");
	resolve_result_free(&res);
	conn_send(c, &msg);
	buf_free(&msg);
}

static void on_conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *c = arg;
	static char msg[IPC_MSG_MAX + 1];
	(void)what;
	c->refs++; /* handlers below may close it; freed at refs 0 */
	for (int i = 0; i < AUTHD_READ_BURST && !c->closed; i++) {
		ssize_t n = recv(fd, msg, sizeof msg, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n < 0)
				log_kv(LOG_WARN, "event=auth_conn_closed "
						 "reason=recv_failed error=%s",
				       strerror(errno));
			conn_close(c);
			break;
		}
		struct timespec arrival;
		clock_gettime(CLOCK_MONOTONIC, &arrival);
		struct auth_proto_request r;
		struct auth_proto_rcpt rc;
		if ((size_t)n <= IPC_MSG_MAX &&
		    auth_proto_type(msg, (size_t)n) == AUTH_MSG_RCPT &&
		    auth_proto_decode_rcpt(msg, (size_t)n, &rc) == 0) {
			handle_rcpt(c, &rc);
			continue;
		}
		if ((size_t)n > IPC_MSG_MAX ||
		    auth_proto_decode_request(msg, (size_t)n, &r) < 0) {
			log_kv(LOG_ERR, "event=auth_conn_closed "
					"reason=bad_request bytes=%zd", n);
			explicit_bzero(msg, sizeof msg);
			conn_close(c);
			break;
		}
		handle_request(c, &r, &arrival);
		explicit_bzero(msg, (size_t)n);
	}
	conn_unref(c);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct authd *d = arg;
	(void)what;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_kv(LOG_ERR, "event=accept_failed error=%s",
				       strerror(errno));
			return;
		}
		struct ucred cred;
		socklen_t clen = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    cred.uid != d->uid) {
			log_kv(LOG_WARN, "event=auth_conn_refused "
					 "reason=peer_uid uid=%ld pid=%ld",
			       (long)cred.uid, (long)cred.pid);
			close(fd);
			continue;
		}
		struct aconn *c = xcalloc(1, sizeof *c);
		c->d = d;
		c->fd = fd;
		c->refs = 1;
		c->rev = event_new(d->base, fd, EV_READ | EV_PERSIST,
				   on_conn_read, c);
		c->wev = event_new(d->base, fd, EV_WRITE, on_conn_write, c);
		if (!c->rev || !c->wev)
			log_fatal("event=out_of_memory what=event");
		event_add(c->rev, NULL);
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		log_kv(LOG_DEBUG, "event=auth_conn_open pid=%ld",
		       (long)cred.pid);
	}
}

/* ---- the known pairs across restarts ---- */

struct known_save {
	char *path;
	struct buf text;
	atomic_bool *saving;
};

/* tmp + rename, so a reader never sees half a file. No fsync: losing
 * the last few seconds of it to a power cut costs only a slow-down. */
static int known_write(const char *path, const struct buf *text)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
			   O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < text->len) {
		ssize_t n = write(fd, text->data + done, text->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (close(fd) < 0 || done < text->len || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static void *known_save_thread(void *arg)
{
	struct known_save *ks = arg;
	if (known_write(ks->path, &ks->text) < 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=auth_state_save_failed file=%s error=%s",
		       log_esc(e, sizeof e, ks->path, strlen(ks->path)),
		       strerror(errno));
	}
	atomic_store(ks->saving, false);
	buf_free(&ks->text);
	free(ks->path);
	free(ks);
	return NULL;
}

/* The snapshot is taken on the loop (a walk of at most
 * AUTH_KNOWN_PAIRS_MAX entries); the file is written off it. */
static void on_known_save(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct authd *d = arg;
	if (!d->known_path || !d->known_dirty ||
	    atomic_load(&d->known_saving))
		return;
	struct known_save *ks = xcalloc(1, sizeof *ks);
	ks->path = xstrdup(d->known_path);
	ks->saving = &d->known_saving;
	limiter_known_export(d->lim, mono_sec(), &ks->text);
	d->known_dirty = false;
	atomic_store(&d->known_saving, true);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, known_save_thread, ks) != 0) {
		atomic_store(&d->known_saving, false);
		d->known_dirty = true;
		buf_free(&ks->text);
		free(ks->path);
		free(ks);
	}
	pthread_attr_destroy(&at);
}

/* At start (before the loop runs): what the last auth process knew. */
static void known_load(struct authd *d)
{
	int fd = open(d->known_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_kv(LOG_WARN, "event=auth_state_load_failed "
			       "error=%s", strerror(errno));
		return;
	}
	struct buf text = BUF_INIT;
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0 &&
	       text.len + (size_t)n <= AUTH_KNOWN_FILE_MAX)
		buf_append(&text, chunk, (size_t)n);
	close(fd);
	size_t got = limiter_known_import(d->lim, text.data ? text.data : "",
					  text.len, mono_sec());
	log_kv(LOG_INFO, "event=auth_state_loaded known_pairs=%zu", got);
	buf_free(&text);
}

/* At stop: wait for a save under way, then write what is known now. */
static void known_save_now(struct authd *d)
{
	for (int i = 0; i < 500 && atomic_load(&d->known_saving); i++)
		usleep(10000);
	if (!d->known_path || !d->known_dirty)
		return;
	struct buf text = BUF_INIT;
	limiter_known_export(d->lim, mono_sec(), &text);
	if (known_write(d->known_path, &text) < 0)
		log_kv(LOG_WARN, "event=auth_state_save_failed error=%s",
		       strerror(errno));
	buf_free(&text);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct authd *d = arg;
	(void)what;
	if (sig == SIGHUP) {
		log_kv(LOG_INFO, "event=users_reload trigger=sighup");
		files_reload(d, true);
	} else {
		log_kv(LOG_INFO, "event=auth_stop signal=%d", (int)sig);
		event_base_loopbreak(d->base);
	}
}

/* The supervisor died (core/lifeline.h): nobody is left to ask us. */
static void on_supervisor_gone(void *arg)
{
	struct authd *d = arg;
	event_base_loopbreak(d->base);
}

static int pool_size(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 2 ? 2 : n > 4 ? 4 : (int)n;
}

int authd_run(const struct config *cfg, int listen_fd)
{
	struct authd d = { .cfg = cfg, .uid = geteuid(),
			   .listen_fd = listen_fd };
	int rc = 1;
	signal(SIGPIPE, SIG_IGN);
	users_init(&d.users);
	aliases_init(&d.aliases);
	d.dummy = passwd_dummy_hash();
	if (!d.dummy) {
		log_kv(LOG_CRIT, "event=auth_start_failed reason=dummy_hash");
		close(listen_fd);
		return 1;
	}
	d.base = event_base_new();
	if (!d.base || evutil_make_socket_nonblocking(listen_fd) < 0) {
		log_kv(LOG_CRIT, "event=auth_start_failed reason=event_base");
		goto out;
	}
	struct limiter_params lp = {
		.free_tries = cfg->auth_fail_limit,
		.window = cfg->auth_fail_window,
		.delay_max_ms = cfg->auth_fail_delay_max_ms,
		.flood = cfg->auth_flood_limit,
		.block_time = cfg->auth_block_time,
		.max_entries = LIMITER_DEFAULT_ENTRIES,
		.max_known = AUTH_KNOWN_PAIRS_MAX,
		.known_ttl = AUTH_KNOWN_PAIR_TTL,
	};
	d.lim = limiter_new(&lp);
	atomic_init(&d.known_saving, false);
	/* No state_dir (a test's config): the pairs live as long as we do. */
	if (cfg->state_dir && cfg->state_dir[0]) {
		d.known_path = xasprintf("%s/auth-known", cfg->state_dir);
		if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST)
			log_kv(LOG_WARN, "event=auth_state_dir_failed "
			       "error=%s", strerror(errno));
		known_load(&d);
	}
	if (RAND_bytes((unsigned char *)&d.net_seed, sizeof d.net_seed) != 1)
		d.net_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	d.slots = pool_size() + 1; /* see "sources" */
	d.tp = threadpool_new(d.base, d.slots);
	files_reload(&d, true);
	d.lev = event_new(d.base, listen_fd, EV_READ | EV_PERSIST, on_accept,
			  &d);
	d.hup_ev = evsignal_new(d.base, SIGHUP, on_signal, &d);
	d.term_ev = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.save_ev = event_new(d.base, -1, EV_PERSIST, on_known_save, &d);
	struct timeval save_tv = { AUTH_KNOWN_SAVE_SECS, 0 };
	if (!d.save_ev || event_add(d.save_ev, &save_tv) < 0) {
		log_kv(LOG_CRIT, "event=auth_start_failed reason=events");
		goto out;
	}
	if (!d.lev || !d.hup_ev || !d.term_ev || event_add(d.lev, NULL) < 0 ||
	    event_add(d.hup_ev, NULL) < 0 || event_add(d.term_ev, NULL) < 0) {
		log_kv(LOG_CRIT, "event=auth_start_failed reason=events");
		goto out;
	}
	d.lifeline = lifeline_watch(d.base, on_supervisor_gone, &d);
	log_kv(LOG_INFO, "event=auth_ready users=%zu threads=%d", d.users.n,
	       d.slots);
	event_base_dispatch(d.base);
	known_save_now(&d);
	rc = 0;
out:
	if (d.tp)
		threadpool_free(&d.tp); /* no more job_done() after this */
	while (d.jobs)
		job_free(d.jobs);
	while (d.conns)
		conn_close(d.conns);
	if (d.lev)
		event_free(d.lev);
	if (d.hup_ev)
		event_free(d.hup_ev);
	if (d.term_ev)
		event_free(d.term_ev);
	if (d.save_ev)
		event_free(d.save_ev);
	lifeline_unwatch(&d.lifeline);
	if (d.base)
		event_base_free(d.base);
	close(listen_fd);
	limiter_free(&d.lim);
	resolver_free(&d.resolver);
	users_free(&d.users);
	aliases_free(&d.aliases);
	free(d.dummy);
	free(d.known_path);
	return rc;
}
