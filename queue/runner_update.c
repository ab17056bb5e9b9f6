/* Recording a run's results (a pool thread, under the queue lock):
 * each recipient's reply goes into its envelope line; 2xx is done, 5xx
 * failed, 4xx waits for the next attempt on the retry schedule. Failed
 * recipients are bounced to the sender -- the bounce is queued durably
 * before the envelope says so, so a crash in between sends it twice
 * rather than never -- and a message still waiting after
 * queue_delay_warning gets one delay warning. A message with no
 * recipient left pending leaves the queue. */
#include "queue/runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/dsn.h"

struct update_ctx {
	struct runner *r;
	struct runner_msg *m;
	int64_t now;
};

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v ? v : "");
}

/* Queues a notification from the null sender to env->sender. */
static bool queue_notification(const struct config *cfg,
			       const struct queue_env *env, enum dsn_kind kind,
			       const struct runner_msg *m, int64_t now)
{
	struct buf dsn = BUF_INIT;
	dsn_build(cfg, env, kind, m->body.data, m->body.len, now, &dsn);
	struct queue_env b;
	queue_env_new(&b, now);
	set_str(&b.sender, "");
	b.is_bounce = true;
	b.body_8bit = env->body_8bit;
	b.smtputf8 = env->smtputf8;
	queue_env_add_rcpt(&b, env->sender, NULL, QUEUE_NOTIFY_NEVER);
	struct buf err = BUF_INIT;
	int rc = queue_enqueue(cfg->queue_dir, &b, str_make("", 0), dsn.data,
			       dsn.len, &err);
	if (rc != 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=bounce_failed id=%s error=%s", env->id,
		       log_esc(e, sizeof e, err.data, err.len));
	} else {
		log_kv(LOG_INFO, "event=notification id=%s kind=%s dsn_id=%s",
		       env->id, kind == DSN_FAILED ? "failed" : "delayed",
		       b.id);
	}
	buf_free(&err);
	buf_free(&dsn);
	queue_env_free(&b);
	return rc == 0;
}

static enum queue_verdict apply(struct queue_env *env, void *arg)
{
	struct update_ctx *u = arg;
	struct runner_msg *m = u->m;
	const struct config *cfg = u->r->cfg;
	/* The recipients are those loaded (`postern queue` never changes
	 * them); a count that differs means someone replaced the file. */
	if (env->n_rcpts != m->env.n_rcpts)
		return QUEUE_UNCHANGED;
	env->attempts++;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		struct queue_rcpt *q = &env->rcpts[i];
		const struct runner_result *res = &m->res[i];
		if (!res->set || q->state != QUEUE_RCPT_PENDING)
			continue;
		q->attempts++;
		q->last_attempt = u->now;
		set_str(&q->status, res->reply.status);
		set_str(&q->diag, res->reply.text);
		set_str(&q->remote_mta, res->mta);
		if (res->reply.code >= 200 && res->reply.code < 300)
			q->state = QUEUE_RCPT_DELIVERED;
		else if (res->reply.code >= 500)
			q->state = QUEUE_RCPT_FAILED;
	}
	bool failed = false;
	size_t pending = 0;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		failed |= env->rcpts[i].state == QUEUE_RCPT_FAILED;
		pending += env->rcpts[i].state == QUEUE_RCPT_PENDING;
	}
	if (failed) {
		if (dsn_wanted(env, DSN_FAILED))
			m->bounced = queue_notification(cfg, env, DSN_FAILED,
							m, u->now);
		/* Not bounced (the bounce could not be queued): it stays
		 * FAILED and the next run tries the bounce again. */
		if (m->bounced || !dsn_wanted(env, DSN_FAILED))
			for (size_t i = 0; i < env->n_rcpts; i++)
				if (env->rcpts[i].state == QUEUE_RCPT_FAILED)
					env->rcpts[i].state =
						QUEUE_RCPT_BOUNCED;
	}
	bool unbounced = false;
	for (size_t i = 0; i < env->n_rcpts; i++)
		unbounced |= env->rcpts[i].state == QUEUE_RCPT_FAILED;
	if (pending == 0 && !unbounced) {
		m->removed = true;
		return QUEUE_REMOVE;
	}
	if (pending && !env->warned && cfg->queue_delay_warning > 0 &&
	    u->now - env->created >= cfg->queue_delay_warning) {
		if (!dsn_wanted(env, DSN_DELAYED))
			env->warned = true;
		else if (queue_notification(cfg, env, DSN_DELAYED, m, u->now))
			env->warned = m->warned_now = true;
	}
	env->next_attempt = queue_next_attempt(cfg, env->attempts, u->now);
	/* The last try comes at the end of the maximum age, not long after
	 * it: Postfix's bounce after maximal_queue_lifetime does the same. */
	int64_t deadline = env->created + cfg->queue_max_age;
	if (env->next_attempt > deadline && u->now < deadline)
		env->next_attempt = deadline;
	m->new_next_attempt = env->next_attempt;
	m->new_hold = env->hold;
	return QUEUE_KEEP;
}

void runner_update_work(struct runner *r, struct runner_msg *m, int64_t now)
{
	struct update_ctx u = { r, m, now };
	struct buf err = BUF_INIT;
	m->removed = false;
	m->bounced = m->warned_now = false;
	m->new_next_attempt = now + r->cfg->queue_retry_min;
	m->new_hold = false;
	int rc = queue_update(r->cfg->queue_dir, m->id, apply, &u, &err);
	if (rc == 1) {
		m->removed = true; /* deleted meanwhile (postern queue delete) */
	} else if (rc < 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=queue_update_failed id=%s error=%s",
		       m->id, log_esc(e, sizeof e, err.data, err.len));
	}
	buf_free(&err);
}
