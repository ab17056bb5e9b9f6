/* Recording a run's results (a pool thread, under the queue lock):
 * each recipient's reply goes into its envelope line; 2xx is done, 5xx
 * failed, 4xx waits for the next attempt on the retry schedule. Failed
 * recipients are bounced to the sender -- the bounce is queued durably
 * before the envelope says so, so a crash in between sends it twice
 * rather than never -- and a message still waiting after
 * queue_delay_warning gets one delay warning. A recipient that asked
 * for NOTIFY=SUCCESS and was handed to a server without DSN gets a
 * "relayed" DSN (RFC 3461 5.2.2 (b)); unlike a bounce it is not made
 * durable before the envelope says "delivered" -- redelivering to the
 * remote would be worse than a lost success notice after a crash in
 * between. A message with no recipient left pending leaves the queue. */
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
	/* phase 1 -> 2: notifications to queue once the lock is released
	 * (queue_enqueue takes the lock itself) */
	struct buf bounce, delay, relayed;
	struct queue_env snapshot_sender; /* only .sender etc are used */
	bool want_bounce, want_delay, want_relayed;
	bool bounce_queued, delay_queued;
	bool *relayed_now; /* [n_rcpts]: delivered this run, no DSN there */
};

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v ? v : "");
}

/* Queues a notification (already built) from the null sender to
 * sender. */
static bool queue_notification(const struct config *cfg, const char *id,
			       const char *sender, bool body_8bit,
			       const struct buf *dsn, const char *kind,
			       int64_t now)
{
	struct queue_env b;
	queue_env_new(&b, now);
	set_str(&b.sender, "");
	b.is_bounce = true;
	b.body_8bit = body_8bit;
	queue_env_add_rcpt(&b, sender, NULL, DSN_NOTIFY_NEVER);
	struct buf err = BUF_INIT;
	int rc = queue_enqueue(cfg->queue_dir, &b, str_make("", 0), dsn->data,
			       dsn->len, &err);
	if (rc != 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=notification_failed id=%s kind=%s "
		       "error=%s", id, kind,
		       log_esc(e, sizeof e, err.data, err.len));
	} else {
		log_kv(LOG_INFO, "event=notification id=%s kind=%s dsn_id=%s",
		       id, kind, b.id);
	}
	buf_free(&err);
	queue_env_free(&b);
	return rc == 0;
}

static bool has_state(const struct queue_env *env, enum queue_rcpt_state st)
{
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (env->rcpts[i].state == st)
			return true;
	return false;
}

static bool delay_due(const struct config *cfg, const struct queue_env *env,
		      int64_t now)
{
	return has_state(env, QUEUE_RCPT_PENDING) && !env->warned &&
	       cfg->queue_delay_warning > 0 &&
	       now - env->created >= cfg->queue_delay_warning;
}

/* Failed recipients are bounced (or need not be), then nothing pending
 * means the message is done. */
static enum queue_verdict settle(struct update_ctx *u, struct queue_env *env)
{
	struct runner_msg *m = u->m;
	const struct config *cfg = u->r->cfg;
	if (!has_state(env, QUEUE_RCPT_FAILED) &&
	    !has_state(env, QUEUE_RCPT_PENDING)) {
		m->removed = true;
		return QUEUE_REMOVE;
	}
	env->next_attempt = queue_next_attempt(cfg, env->attempts, u->now);
	/* A recipient this run did not get to (the runner was stopping)
	 * is tried as soon as it runs again. */
	for (size_t i = 0; i < env->n_rcpts && i < m->env.n_rcpts; i++)
		if (env->rcpts[i].state == QUEUE_RCPT_PENDING && !m->res[i].set)
			env->next_attempt = u->now;
	/* The last try comes at the end of the maximum age, not long after
	 * it, as Postfix's maximal_queue_lifetime does. */
	int64_t deadline = env->created + cfg->queue_max_age;
	if (env->next_attempt > deadline && u->now < deadline)
		env->next_attempt = deadline;
	m->new_next_attempt = env->next_attempt;
	m->new_hold = env->hold;
	return QUEUE_KEEP;
}

/* Phase 1, under the lock: this run's replies into the envelope; the
 * notifications it calls for are built (not queued: see above). */
static enum queue_verdict apply_results(struct queue_env *env, void *arg)
{
	struct update_ctx *u = arg;
	struct runner_msg *m = u->m;
	const struct config *cfg = u->r->cfg;
	/* The recipients are those loaded (`postern queue` never changes
	 * them); a count that differs means someone replaced the file. */
	if (env->n_rcpts != m->env.n_rcpts)
		return QUEUE_UNCHANGED;
	size_t tried = 0;
	for (size_t i = 0; i < env->n_rcpts; i++)
		tried += m->res[i].set;
	bool owed = has_state(env, QUEUE_RCPT_FAILED);
	if (tried == 0 && !owed && has_state(env, QUEUE_RCPT_PENDING))
		return QUEUE_UNCHANGED; /* stopped before anything was tried */
	env->attempts++;
	for (size_t i = 0; i < env->n_rcpts; i++) {
		struct queue_rcpt *q = &env->rcpts[i];
		const struct runner_result *res = &m->res[i];
		if (!res->set || q->state != QUEUE_RCPT_PENDING)
			continue;
		q->attempts++;
		q->last_attempt = u->now;
		set_str(&q->status, res->reply.status);
		/* a remote's reply is kept with its code, as the DSN's
		 * Diagnostic-Code: smtp; wants it (RFC 3464 2.3.6) */
		char diag[SMTPC_TEXT_MAX + 8];
		snprintf(diag, sizeof diag, "%d %s", res->reply.code,
			 res->reply.text);
		set_str(&q->diag, res->mta[0] ? diag : res->reply.text);
		set_str(&q->remote_mta, res->mta);
		if (res->reply.code >= 200 && res->reply.code < 300) {
			q->state = QUEUE_RCPT_DELIVERED;
			/* A remote server that did not offer DSN will not
			 * report success: we do (RFC 3461 5.2.2 (b)). */
			u->relayed_now[i] = res->mta[0] &&
					    strcmp(res->mta, "local") != 0 &&
					    !res->reply.remote_dsn;
		} else if (res->reply.code >= 500) {
			q->state = QUEUE_RCPT_FAILED;
		}
	}
	if (dsn_wanted_some(env, DSN_RELAYED, u->relayed_now)) {
		dsn_build_some(cfg, env, DSN_RELAYED, u->relayed_now,
			       m->body.data, m->body.len, u->now, &u->relayed);
		u->want_relayed = true;
	}
	if (has_state(env, QUEUE_RCPT_FAILED)) {
		if (dsn_wanted(env, DSN_FAILED)) {
			dsn_build(cfg, env, DSN_FAILED, m->body.data,
				  m->body.len, u->now, &u->bounce);
			u->want_bounce = true;
		} else {
			for (size_t i = 0; i < env->n_rcpts; i++)
				if (env->rcpts[i].state == QUEUE_RCPT_FAILED)
					env->rcpts[i].state = QUEUE_RCPT_BOUNCED;
		}
	}
	if (delay_due(cfg, env, u->now)) {
		if (dsn_wanted(env, DSN_DELAYED)) {
			dsn_build(cfg, env, DSN_DELAYED, m->body.data,
				  m->body.len, u->now, &u->delay);
			u->want_delay = true;
		} else {
			env->warned = true;
		}
	}
	if (u->want_bounce || u->want_delay || u->want_relayed) {
		u->snapshot_sender.sender = xstrdup(env->sender);
		u->snapshot_sender.body_8bit = env->body_8bit;
		m->new_next_attempt = u->now;
		m->new_hold = env->hold;
		return QUEUE_KEEP; /* settled in phase 3 */
	}
	return settle(u, env);
}

/* Phase 3, under the lock again: what phase 2 managed to queue. */
static enum queue_verdict apply_notified(struct queue_env *env, void *arg)
{
	struct update_ctx *u = arg;
	if (env->n_rcpts != u->m->env.n_rcpts)
		return QUEUE_UNCHANGED;
	if (u->bounce_queued)
		for (size_t i = 0; i < env->n_rcpts; i++)
			if (env->rcpts[i].state == QUEUE_RCPT_FAILED)
				env->rcpts[i].state = QUEUE_RCPT_BOUNCED;
	if (u->delay_queued)
		env->warned = true;
	return settle(u, env);
}

static void log_update_error(const char *id, int rc, const struct buf *err)
{
	if (rc >= 0)
		return;
	char e[LOG_ESC_MAX];
	log_kv(LOG_ERR, "event=queue_update_failed id=%s error=%s", id,
	       log_esc(e, sizeof e, err->data, err->len));
}

/* A crash between the phases costs a second copy of a notification,
 * never a lost one: the envelope says "bounced" or "warned" only after
 * the notification is durable in the queue. */
void runner_update_work(struct runner *r, struct runner_msg *m, int64_t now)
{
	struct update_ctx u = { .r = r, .m = m, .now = now };
	u.relayed_now = xcalloc(m->env.n_rcpts ? m->env.n_rcpts : 1,
				sizeof *u.relayed_now);
	struct buf err = BUF_INIT;
	const char *dir = r->cfg->queue_dir;
	m->removed = false;
	m->bounced = m->warned_now = false;
	m->new_next_attempt = now + r->cfg->queue_retry_min;
	m->new_hold = false;
	int rc = queue_update(dir, m->id, apply_results, &u, &err);
	log_update_error(m->id, rc, &err);
	if (rc == 1)
		m->removed = true; /* deleted meanwhile (postern queue delete) */
	if (rc == 0 && (u.want_bounce || u.want_delay || u.want_relayed)) {
		const char *to = u.snapshot_sender.sender;
		bool b8 = u.snapshot_sender.body_8bit;
		if (u.want_bounce)
			m->bounced = u.bounce_queued = queue_notification(
				r->cfg, m->id, to, b8, &u.bounce, "failed", now);
		if (u.want_delay)
			m->warned_now = u.delay_queued = queue_notification(
				r->cfg, m->id, to, b8, &u.delay, "delayed", now);
		if (u.want_relayed)
			(void)queue_notification(r->cfg, m->id, to, b8,
						 &u.relayed, "relayed", now);
		buf_clear(&err);
		rc = queue_update(dir, m->id, apply_notified, &u, &err);
		log_update_error(m->id, rc, &err);
		if (rc == 1)
			m->removed = true;
	}
	free(u.snapshot_sender.sender);
	buf_free(&u.bounce);
	buf_free(&u.delay);
	buf_free(&u.relayed);
	free(u.relayed_now);
	buf_free(&err);
}
