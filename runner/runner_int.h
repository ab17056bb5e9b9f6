/* Inside the queue runner (runner/runner.h): its three parts share these
 * types. runner.c keeps the messages and their schedule, runner_dest.c
 * the destinations and their SMTP connections, runner_update.c records
 * results and makes bounces (on pool threads). */
#ifndef POSTERN_QUEUE_RUNNER_INT_H
#define POSTERN_QUEUE_RUNNER_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"
#include "queue/queue.h"
#include "relay/relay.h"
#include "relay/smtpc.h"

struct event_base;
struct event;
struct threadpool;
struct dns;
struct route_table;
struct auth_client;
struct ssl_ctx_st;

/* Messages loaded at once (each holds its envelope and a mapping of its
 * file): a queue of 100 000 waits its turn instead of mapping them all. */
#define RUNNER_ACTIVE_MAX 2000
/* How often the schedule is looked at (retry times are in seconds). */
#define RUNNER_TICK_MS 200

/* This run's outcome for one recipient. */
struct runner_result {
	bool set;
	struct smtpc_reply reply;
	char mta[256]; /* the host that answered, "" = we decided */
};

enum runner_msg_state {
	RMSG_IDLE,     /* waiting for next_attempt (or held) */
	RMSG_LOADING,  /* envelope and file being read on the pool */
	RMSG_ACTIVE,   /* deliveries under way */
	RMSG_UPDATING, /* results being written on the pool */
};

struct runner_msg {
	char id[QUEUE_ID_MAX];
	enum runner_msg_state state;
	int64_t next_attempt;
	bool hold;
	bool dirty;   /* the envelope changed on disk while busy */
	bool gone;    /* deleted on disk while busy */
	bool force;   /* `postern queue retry`: now, whatever the schedule */
	/* while LOADING .. UPDATING */
	struct queue_env env;
	struct queue_msg body;
	size_t hops;
	struct runner_result *res; /* env.n_rcpts */
	size_t jobs_left;          /* deliveries and lookups not yet done */
	/* set by the update job, read by its done() */
	bool removed;
	int64_t new_next_attempt;
	bool new_hold;
	bool bounced, warned_now;
	struct runner_msg *hnext;  /* id hash chain */
	struct runner_msg *prev, *next;
};

struct runner_dest;

/* The recipients of one message that go to one destination. */
struct runner_job {
	struct runner_msg *m;
	struct runner_dest *d;
	size_t *idx;            /* into m->env.rcpts */
	const char **addrs;
	unsigned *notify;       /* RFC 3461, per recipient, for sm */
	const char **orcpt;
	size_t n;
	struct smtpc_msg sm;
	struct runner_job *next; /* in the destination's waiting list */
};

struct runner {
	struct event_base *base;
	const struct config *cfg;
	struct threadpool *pool;
	struct dns *dns;
	struct route_table *routes;
	struct ssl_ctx_st *tls;
	struct auth_client *auth;
	char *smarthost_pass;
	struct event *tick;
	struct event *inotify_ev;
	int inotify_fd;
	int env_wd, dir_wd;
	int lock_fd;  /* queue_dir/runner.lock, flock()ed for life */
	struct event *sig_term, *sig_int;
	struct event *stop_deadline;
	int stop_secs;               /* the deadline stop_deadline was set for */
	struct event *lifeline;      /* EOF: the supervisor is gone */
	bool stopping;
	size_t n_updating; /* results being written */
	struct runner_msg **hash;
	size_t hash_size;
	struct runner_msg *msgs; /* every known message */
	size_t n_msgs, n_active;
	struct runner_dest *dests;
	int n_conns;
};

/* runner.c */
void runner_job_done(struct runner *r, struct runner_job *j);
/* One of a message's jobs (a delivery or a lookup) has its results. */
void runner_msg_job_done(struct runner *r, struct runner_msg *m);
/* Jobs for the recipients marked in remote[], one per domain. */
void runner_dispatch_remote(struct runner *r, struct runner_msg *m,
			    const bool *remote);

/* runner_local.c: recipient i of a bounce, local or not (counts as one
 * of m's jobs; the caller has counted it). */
void runner_local_start(struct runner *r, struct runner_msg *m, size_t i);
void runner_job_fail(struct runner *r, struct runner_job *j,
		     const struct smtpc_reply *why, const char *mta);
void runner_set_result(struct runner_msg *m, size_t i,
		       const struct smtpc_reply *reply, const char *mta);
/* Makes a reply of our own: code, enhanced status, text. */
void runner_reply(struct smtpc_reply *out, int code, const char *status,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* runner_dest.c */
void runner_dest_add(struct runner *r, struct runner_job *j,
		     const char *domain);
void runner_dest_kick_all(struct runner *r);
void runner_dest_free_all(struct runner *r);
/* Stopping: drops waiting jobs (not attempted, nothing recorded) and
 * connections that carry no transaction; the others finish theirs. */
void runner_dest_stop(struct runner *r);
/* Transactions under way. */
size_t runner_in_flight(const struct runner *r);

/* runner.c: when stopping, ends the loop once nothing is in flight. */
void runner_maybe_exit(struct runner *r);

/* runner_update.c: runs on a pool thread; fills m->removed etc. */
void runner_update_work(struct runner *r, struct runner_msg *m, int64_t now);

#endif
