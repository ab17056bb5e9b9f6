/* The worker's side of the auth process (see auth_client.h). One
 * SOCK_SEQPACKET connection per worker, opened lazily and again after a
 * failure. Requests wait in a small hash table by id; on a disconnect
 * they all move to a failed list that a deferred event drains, so done()
 * never runs inside auth_client_verify() or in the middle of our own
 * bookkeeping. Password checks and recipient lookups share the table and
 * one id space; each request remembers which callback it has. */
#include "auth/auth_client.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/auth_proto.h"
#include "core/dgram_queue.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define AC_BUCKETS 256
/* Requests queued while the socket is full: a worker holds about one
 * per connecting client, so this is generous. */
#define AC_OUTQ_MAX 4096

struct ac_req {
	struct ac_req *hnext;          /* bucket chain, or failed list */
	uint64_t id;
	auth_done_fn done;             /* password check, or */
	auth_rcpt_fn rdone;            /* recipient lookup */
	void *arg;
	/* Recipient lookups the client refuses itself (address over the
	 * wire limit) fail with this instead of TEMPFAIL. */
	const char *fail_reason;
};

struct auth_client {
	struct event_base *base;
	char *name;
	int fd;
	struct event *rev, *wev, *fail_ev;
	struct ac_req *buckets[AC_BUCKETS];
	struct ac_req *failed;         /* waiting for the deferred done() */
	/* Messages the full socket did not take yet: copies, wiped once
	 * sent, so a request can go (answered, cancelled) meanwhile. */
	struct dgram_queue outq;
	struct buf msg;                /* the request being encoded */
	uint64_t next_id;
	int busy;                      /* inside a callback of ours */
	bool dead;                     /* auth_client_free() while busy */
};

static struct ac_req **bucket(struct auth_client *ac, uint64_t id)
{
	return &ac->buckets[id % AC_BUCKETS];
}

static struct ac_req *take(struct auth_client *ac, uint64_t id)
{
	for (struct ac_req **pp = bucket(ac, id); *pp; pp = &(*pp)->hnext) {
		if ((*pp)->id == id) {
			struct ac_req *r = *pp;
			*pp = r->hnext;
			r->hnext = NULL;
			return r;
		}
	}
	return NULL;
}

static void ac_disconnect(struct auth_client *ac, const char *why)
{
	if (ac->fd >= 0) {
		log_kv(LOG_WARN, "event=auth_client_disconnect reason=%s", why);
		event_free(ac->rev);
		event_free(ac->wev);
		ac->rev = ac->wev = NULL;
		close(ac->fd);
		ac->fd = -1;
	}
	/* Drop the out queue: its messages went nowhere. */
	dgram_queue_clear(&ac->outq);
	/* Every pending request fails, later, from fail_ev. */
	for (size_t i = 0; i < AC_BUCKETS; i++) {
		while (ac->buckets[i]) {
			struct ac_req *r = ac->buckets[i];
			ac->buckets[i] = r->hnext;
			r->hnext = ac->failed;
			ac->failed = r;
		}
	}
	if (ac->failed)
		event_active(ac->fail_ev, EV_TIMEOUT, 0);
}

static void ac_maybe_free(struct auth_client *ac);

static void on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct auth_client *ac = arg;
	(void)fd;
	(void)what;
	ac->busy++;
	while (ac->failed && !ac->dead) {
		struct ac_req *r = ac->failed;
		ac->failed = r->hnext;
		struct auth_result res = {
			.status = AUTH_TEMPFAIL,
			.user = "",
			.pop3_dele_mode = POP3_DELE_EXPUNGE,
			.reason = "auth_unavailable",
		};
		struct auth_rcpt_result rres = {
			.status = r->fail_reason ? AUTH_RCPT_UNKNOWN :
						   AUTH_RCPT_TEMPFAIL,
			.users = NULL,
			.n_users = 0,
			.reason = r->fail_reason ? r->fail_reason :
						   "auth_unavailable",
		};
		auth_done_fn done = r->done;
		auth_rcpt_fn rdone = r->rdone;
		void *arg2 = r->arg;
		free(r);
		if (rdone)
			rdone(arg2, &rres);
		else
			done(arg2, &res);
	}
	ac->busy--;
	ac_maybe_free(ac);
}

/* After a send or flush: arms the write event while messages wait. */
static void ac_sent(struct auth_client *ac, enum dgram_rc rc)
{
	if (rc == DGRAM_ERROR)
		ac_disconnect(ac, "send_failed");
	else if (rc == DGRAM_WAIT)
		event_add(ac->wev, NULL);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct auth_client *ac = arg;
	(void)what;
	ac_sent(ac, dgram_queue_flush(&ac->outq, fd));
}

/* A reply of the wrong kind for its id: the auth process is broken. The
 * request fails like every other pending one. */
static void mismatch(struct auth_client *ac, struct ac_req *r)
{
	r->hnext = ac->failed;
	ac->failed = r;
	ac_disconnect(ac, "bad_reply");
}

/* Lets go of an answered request before its callback runs; returns its
 * callback argument. */
static void *req_release(struct ac_req *r)
{
	void *arg = r->arg;
	free(r);
	return arg;
}

/* One recipient reply; -1 if the connection was dropped. */
static int rcpt_reply(struct auth_client *ac, const char *msg, size_t n)
{
	struct auth_proto_rcpt_reply rep;
	if (auth_proto_decode_rcpt_reply(msg, n, &rep) < 0) {
		ac_disconnect(ac, "bad_reply");
		return -1;
	}
	struct ac_req *r = take(ac, rep.id);
	if (!r)
		return 0; /* cancelled meanwhile */
	if (!r->rdone) {
		mismatch(ac, r);
		return -1;
	}
	/* NUL-terminated copies of the names, and the array of them. */
	char reason[AUTH_PROTO_REASON_MAX + 1];
	memcpy(reason, rep.reason.p, rep.reason.len);
	reason[rep.reason.len] = '\0';
	const char **users = NULL;
	char *names = NULL;
	if (rep.n_users) {
		users = xmalloc(rep.n_users * sizeof *users);
		names = xmalloc(n + rep.n_users); /* names + NULs < that */
		size_t pos = 0, out = 0;
		for (size_t i = 0; i < rep.n_users; i++) {
			struct str u = auth_proto_rcpt_user(&rep, i, &pos);
			memcpy(names + out, u.p, u.len);
			names[out + u.len] = '\0';
			users[i] = names + out;
			out += u.len + 1;
		}
	}
	struct auth_rcpt_result res = {
		.status = rep.status,
		.users = users,
		.n_users = rep.n_users,
		.reason = reason,
	};
	auth_rcpt_fn done = r->rdone;
	void *arg2 = req_release(r);
	done(arg2, &res);
	free(users);
	free(names);
	return 0;
}

/* Answers a password check; -1 when the reply did not fit its request
 * (the connection is then dropped). */
static int verify_reply(struct auth_client *ac, const struct auth_proto_reply *rep)
{
	struct ac_req *r = take(ac, rep->id);
	if (!r)
		return 0; /* cancelled meanwhile */
	if (!r->done) {
		mismatch(ac, r);
		return -1;
	}
	char user[AUTH_NAME_MAX + 1], reason[AUTH_PROTO_REASON_MAX + 1];
	memcpy(user, rep->user.p, rep->user.len);
	user[rep->user.len] = '\0';
	memcpy(reason, rep->reason.p, rep->reason.len);
	reason[rep->reason.len] = '\0';
	struct auth_result res = {
		.status = rep->status,
		.user = user,
		.pop3_dele_mode = rep->pop3_dele,
		.reason = reason,
	};
	auth_done_fn done = r->done;
	void *arg2 = req_release(r);
	done(arg2, &res);
	return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct auth_client *ac = arg;
	char msg[IPC_MSG_MAX + 1];
	(void)what;
	ac->busy++;
	for (int i = 0; i < 64 && !ac->dead && ac->fd == fd; i++) {
		ssize_t n = recv(fd, msg, sizeof msg, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		struct auth_proto_reply rep;
		if (n <= 0) {
			ac_disconnect(ac, n == 0 ? "eof" : "recv_failed");
			break;
		}
		if ((size_t)n <= IPC_MSG_MAX &&
		    auth_proto_type(msg, (size_t)n) == AUTH_MSG_RCPT_REPLY) {
			if (rcpt_reply(ac, msg, (size_t)n) < 0)
				break;
			continue;
		}
		if ((size_t)n > IPC_MSG_MAX ||
		    auth_proto_decode_reply(msg, (size_t)n, &rep) < 0) {
			ac_disconnect(ac, "bad_reply");
			break;
		}
		if (verify_reply(ac, &rep) < 0)
			break;
	}
	ac->busy--;
	ac_maybe_free(ac);
}

static int ac_connect(struct auth_client *ac)
{
	struct sockaddr_un sa;
	size_t nlen = strlen(ac->name);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (nlen == 0 || nlen + 1 > sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path + 1, ac->name, nlen); /* abstract: leading NUL */
	socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				     1 + nlen);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, slen) < 0) {
		/* A Unix socket connects at once or not at all; EAGAIN is
		 * a full backlog: try again with the next request. */
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	ac->fd = fd;
	ac->rev = event_new(ac->base, fd, EV_READ | EV_PERSIST, on_read, ac);
	ac->wev = event_new(ac->base, fd, EV_WRITE, on_write, ac);
	if (!ac->rev || !ac->wev)
		log_fatal("event=out_of_memory what=event");
	event_add(ac->rev, NULL);
	return 0;
}

struct auth_client *auth_client_new(struct event_base *base,
				    const char *socket_name)
{
	struct auth_client *ac = xcalloc(1, sizeof *ac);
	ac->base = base;
	ac->name = xstrdup(socket_name);
	ac->fd = -1;
	ac->next_id = 1;
	ac->fail_ev = event_new(base, -1, 0, on_fail, ac);
	if (!ac->fail_ev)
		log_fatal("event=out_of_memory what=event");
	return ac;
}

/* Is the session id one the wire accepts? (Else it is the caller's bug.) */
static bool cs_ok(const char *sid)
{
	size_t n = sid ? strlen(sid) : 0;
	if (n > AUTH_PROTO_SID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)sid[i] <= 0x20 || (unsigned char)sid[i] >= 0x7f)
			return false;
	return true;
}

static struct ac_req *req_new(struct auth_client *ac, void *arg)
{
	struct ac_req *r = xcalloc(1, sizeof *r);
	r->id = ac->next_id++;
	if (ac->next_id == 0)
		ac->next_id = 1;
	r->arg = arg;
	return r;
}

/* Sends r's message (ac->msg), or fails r later. */
static void send_req(struct auth_client *ac, struct ac_req *r, bool bad)
{
	/* Into the table first, so a failure below fails it like any other
	 * pending request: asynchronously. */
	r->hnext = *bucket(ac, r->id);
	*bucket(ac, r->id) = r;
	if (bad) {
		/* Over-long fields: the worker checks lengths, so this is
		 * a bug there; answer "unavailable" rather than crash. */
		if (!r->fail_reason)
			log_kv(LOG_ERR, "event=auth_client_error "
					"reason=request_too_long");
		take(ac, r->id);
		r->hnext = ac->failed;
		ac->failed = r;
		event_active(ac->fail_ev, EV_TIMEOUT, 0);
		return;
	}
	if (ac->fd < 0 && ac_connect(ac) < 0) {
		char esc[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=auth_client_connect_failed socket=%s "
				"error=%s",
		       log_esc(esc, sizeof esc, ac->name, strlen(ac->name)),
		       strerror(errno));
		ac_disconnect(ac, "connect_failed");
		return;
	}
	if (dgram_queue_len(&ac->outq) >= AC_OUTQ_MAX) {
		ac_disconnect(ac, "output_full");
		return;
	}
	ac_sent(ac, dgram_queue_send(&ac->outq, ac->fd, ac->msg.data,
				     ac->msg.len));
}

/* Submits r, whose message is encoded in ac->msg (unless bad); never
 * calls back from here. */
static uint64_t submit(struct auth_client *ac, struct ac_req *r, bool bad)
{
	uint64_t id = r->id;
	send_req(ac, r, bad);
	/* The secret leaves our memory (the queue wipes its own copy). */
	if (ac->msg.data)
		explicit_bzero(ac->msg.data, ac->msg.cap);
	buf_clear(&ac->msg);
	return id;
}

uint64_t auth_client_verify(struct auth_client *ac,
			    const struct auth_request *req,
			    auth_done_fn done, void *arg)
{
	struct ac_req *r = req_new(ac, arg);
	r->done = done;
	bool bad = auth_proto_encode_request(&ac->msg, r->id, req) < 0;
	return submit(ac, r, bad);
}

uint64_t auth_client_lookup_rcpt(struct auth_client *ac, struct str address,
				 const char *session_id, auth_rcpt_fn done,
				 void *arg)
{
	struct ac_req *r = req_new(ac, arg);
	r->rdone = done;
	bool bad = auth_proto_encode_rcpt(&ac->msg, r->id, address,
					  session_id) < 0;
	if (bad && address.len > AUTH_PROTO_ADDRESS_MAX)
		r->fail_reason = "address_too_long";
	else if (bad && cs_ok(session_id))
		r->fail_reason = "bad_address"; /* control characters */
	return submit(ac, r, bad);
}

void auth_client_cancel(struct auth_client *ac, uint64_t id)
{
	struct ac_req *r = take(ac, id);
	if (!r) {
		for (struct ac_req **pp = &ac->failed; *pp; pp = &(*pp)->hnext) {
			if ((*pp)->id == id) {
				r = *pp;
				*pp = r->hnext;
				break;
			}
		}
	}
	if (r)
		free(r);
}

static void ac_destroy(struct auth_client *ac)
{
	if (ac->fd >= 0) {
		event_free(ac->rev);
		event_free(ac->wev);
		close(ac->fd);
	}
	dgram_queue_clear(&ac->outq);
	for (size_t i = 0; i < AC_BUCKETS; i++)
		for (struct ac_req *r = ac->buckets[i], *nx; r; r = nx) {
			nx = r->hnext;
			free(r);
		}
	for (struct ac_req *r = ac->failed, *nx; r; r = nx) {
		nx = r->hnext;
		free(r);
	}
	event_free(ac->fail_ev);
	buf_free(&ac->msg); /* wiped after each request */
	free(ac->name);
	free(ac);
}

static void ac_maybe_free(struct auth_client *ac)
{
	if (ac->dead && ac->busy == 0)
		ac_destroy(ac);
}

void auth_client_free(struct auth_client **acp)
{
	struct auth_client *ac = *acp;
	if (!ac)
		return;
	*acp = NULL;
	ac->dead = true;
	ac_maybe_free(ac);
}
