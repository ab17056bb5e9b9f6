/* The store work of a POP3 session, run on the thread pool:
 *  - at login: create the Maildir if needed, take the maildrop lock,
 *    apply LOGIN-DELAY, open and sync the mailbox, expire old messages,
 *    and fix the list of messages this session shows (RFC 1939 section
 *    8: later arrivals wait for the next login);
 *  - at QUIT (UPDATE state): one commit of deletions and retrievals.
 * The session may die while a job runs; the job's done() then only
 * releases what the job took (pop3_job_done frees the session). */
#include "pop3/session.h"

#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/threadpool.h"
#include "core/u32set.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "store/store.h"

#define SECS_PER_DAY 86400

enum login_result { LOGIN_OK, LOGIN_DELAYED, LOGIN_IN_USE, LOGIN_FAILED };

struct login_job {
	struct pop3_session *s;
	/* in */
	char *user;
	char *mail_dir;
	int64_t now;
	int login_delay;
	int expire_days;
	enum pop3_dele_mode dele_mode;
	/* out */
	enum login_result result;
	int lock_tries;
	struct mailbox *mb;
	int lock_fd;
	uint32_t *idx;
	size_t n;
	uint64_t total;
	size_t expired;
	int store_rc; /* STORE_E* of a failure */
	char err[256];
};

/* RFC 2449 EXPIRE: messages first retrieved more than expire_days ago
 * go at login. Returns the UIDs (sorted) in *out. */
static size_t collect_expired(struct login_job *j, uint32_t **out)
{
	*out = NULL;
	if (j->expire_days <= 0)
		return 0;
	int64_t limit = (int64_t)j->expire_days * SECS_PER_DAY;
	size_t count = store_mailbox_count(j->mb), n = 0;
	uint32_t *uids = NULL;
	for (size_t i = 0; i < count; i++) {
		const struct store_msg *m = store_mailbox_msg(j->mb, i);
		if (m->pop3_hidden || m->pop3_first_retr == 0 ||
		    j->now - m->pop3_first_retr < limit)
			continue;
		if (!uids)
			uids = xmalloc(count * sizeof *uids);
		uids[n++] = m->uid;
	}
	*out = uids;
	return n;
}

static void login_work(void *arg)
{
	struct login_job *j = arg;
	char path[PATH_MAX];
	j->result = LOGIN_FAILED;
	j->lock_fd = -1;
	if (store_user_maildir(j->mail_dir, j->user, path, sizeof path) < 0) {
		snprintf(j->err, sizeof j->err, "maildir path too long");
		return;
	}
	if ((j->store_rc = store_maildir_create(path, j->err, sizeof j->err)) < 0)
		return;
	int fd = store_pop3_lock(path, j->err, sizeof j->err);
	if (fd < 0) {
		if (fd == STORE_EBUSY)
			j->result = LOGIN_IN_USE;
		return;
	}
	if (j->login_delay > 0 &&
	    store_pop3_login_touch(path, j->now, j->login_delay) <
		    j->login_delay) {
		close(fd);
		j->result = LOGIN_DELAYED;
		return;
	}
	if ((j->store_rc = store_mailbox_open(path, &j->mb, j->err,
					      sizeof j->err)) < 0) {
		close(fd);
		return;
	}
	j->lock_fd = fd;

	uint32_t *expired;
	j->expired = collect_expired(j, &expired);
	if (j->expired > 0) {
		bool hide = j->dele_mode == POP3_DELE_HIDE;
		struct store_pop3_update up = {
			.expunge = hide ? NULL : expired,
			.n_expunge = hide ? 0 : j->expired,
			.hide = hide ? expired : NULL,
			.n_hide = hide ? j->expired : 0,
			.now = j->now,
		};
		char err[256];
		/* On failure they are still not shown; the next login
		 * tries again. */
		if (store_mailbox_pop3_commit(j->mb, &up, err, sizeof err) < 0) {
			char e[LOG_ESC_MAX];
			log_kv(LOG_WARN, "event=pop3_expire_failed error=%s",
			       log_esc(e, sizeof e, err, strlen(err)));
		}
	}
	size_t count = store_mailbox_count(j->mb);
	j->idx = xmalloc((count ? count : 1) * sizeof *j->idx);
	for (size_t i = 0; i < count; i++) {
		const struct store_msg *m = store_mailbox_msg(j->mb, i);
		if (m->pop3_hidden ||
		    (j->expired && u32set_has(expired, j->expired, m->uid)))
			continue;
		j->idx[j->n++] = (uint32_t)i;
		j->total += m->pop3_size;
	}
	free(expired);
	j->result = LOGIN_OK;
}

static void login_job_free(struct login_job *j)
{
	if (j->mb)
		store_mailbox_close(&j->mb);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	free(j->idx);
	free(j->user);
	free(j->mail_dir);
	free(j);
}

/* A client that sends QUIT and reconnects without waiting for the reply
 * can reach another worker before its first session has let go of the
 * maildrop; like Dovecot, wait a moment for the lock before saying
 * [IN-USE]. The retries run from a loop timer, so no thread sleeps. */
#define POP3_LOCK_TRIES 10
#define POP3_LOCK_RETRY_MS 100

static void login_done(void *arg);

static void login_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct login_job *j = arg;
	struct pop3_session *s = j->s;
	if (s->dead) {
		login_job_free(j);
		pop3_job_done(s);
		return;
	}
	/* Still counted in s->pending_jobs: resubmit without a new count. */
	threadpool_submit(s->env->pool, login_work, login_done, j);
}

static void login_done(void *arg)
{
	struct login_job *j = arg;
	struct pop3_session *s = j->s;
	if (!s->dead && j->result == LOGIN_IN_USE &&
	    ++j->lock_tries < POP3_LOCK_TRIES) {
		struct timeval tv = { 0, POP3_LOCK_RETRY_MS * 1000 };
		event_base_once(s->env->base, -1, EV_TIMEOUT, login_retry, j, &tv);
		return;
	}
	if (s->dead) {
		login_job_free(j);
		pop3_job_done(s);
		return;
	}
	char user[LOG_ESC_MAX];
	log_esc(user, sizeof user, j->user, strlen(j->user));
	switch (j->result) {
	case LOGIN_OK:
		s->mb = j->mb;
		s->lock_fd = j->lock_fd;
		s->msg_idx = j->idx;
		s->n_msgs = j->n;
		s->total_size = j->total;
		s->marks = xcalloc(j->n ? j->n : 1, 1);
		s->user = j->user;
		j->mb = NULL;
		j->lock_fd = -1;
		j->idx = NULL;
		j->user = NULL;
		log_kv(LOG_INFO,
		       "event=login proto=pop3 sid=%s remote=%s user=%s mech=%s "
		       "tls=%s messages=%zu octets=%" PRIu64 " expired=%zu",
		       s->c->id, s->c->remote_ip, user, s->mech_name,
		       s->c->tls ? "yes" : "no", s->n_msgs, s->total_size,
		       j->expired);
		conn_writes(s->c, "+OK Logged in.\r\n");
		pop3_enter_state(s, POP3_TRANSACTION);
		break;
	case LOGIN_DELAYED:
		log_kv(LOG_INFO, "event=login_failed proto=pop3 sid=%s user=%s "
				 "mech=%s reason=login_delay",
		       s->c->id, user, s->mech_name);
		conn_printf(s->c, "-ERR [LOGIN-DELAY] Minimum time between "
				  "logins is %d seconds\r\n",
			    j->login_delay);
		break;
	case LOGIN_IN_USE:
		log_kv(LOG_INFO, "event=login_failed proto=pop3 sid=%s user=%s "
				 "mech=%s reason=in_use",
		       s->c->id, user, s->mech_name);
		conn_writes(s->c, "-ERR [IN-USE] Mailbox is locked by another "
				  "POP3 session\r\n");
		break;
	case LOGIN_FAILED: {
		char err[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=login_failed proto=pop3 sid=%s user=%s "
				"mech=%s reason=store error=%s",
		       s->c->id, user, s->mech_name,
		       log_esc(err, sizeof err, j->err, strlen(j->err)));
		/* RFC 3206: PERM when only an administrator can fix it. */
		if (j->store_rc == STORE_EPERM)
			conn_writes(s->c, "-ERR [SYS/PERM] Cannot open the "
					  "mailbox; tell the administrator\r\n");
		else
			conn_writes(s->c, "-ERR [SYS/TEMP] Cannot open the "
					  "mailbox; try again later\r\n");
		break;
	}
	}
	login_job_free(j);
	pop3_job_done(s);
	pop3_resume(s);
}

void pop3_login_start(struct pop3_session *s, const char *user)
{
	struct login_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->user = xstrdup(user);
	j->mail_dir = xstrdup(s->cfg->mail_dir);
	j->now = (int64_t)time(NULL);
	j->login_delay = s->cfg->pop3_login_delay;
	j->expire_days = s->cfg->pop3_expire_days;
	j->dele_mode = s->dele_mode;
	j->lock_fd = -1;
	pop3_set_wait(s, POP3_WAIT_MAILDROP);
	pop3_job_submit(s, login_work, login_done, j);
}

struct update_job {
	struct pop3_session *s;
	struct store_pop3_update up;
	uint32_t *deleted, *retr;
	int rc;
	char err[256];
};

static void update_work(void *arg)
{
	struct update_job *j = arg;
	j->rc = store_mailbox_pop3_commit(j->s->mb, &j->up, j->err,
					  sizeof j->err);
}

/* The store's reason, made safe for a reply line. */
static void printable(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

static void update_done(void *arg)
{
	struct update_job *j = arg;
	struct pop3_session *s = j->s;
	size_t n_del = j->up.n_expunge + j->up.n_hide;
	if (j->rc == 0) {
		s->n_expunged = (unsigned)n_del;
	} else {
		char user[LOG_ESC_MAX], err[LOG_ESC_MAX];
		const char *u = s->user ? s->user : "";
		log_kv(LOG_ERR, "event=pop3_commit_failed proto=pop3 sid=%s "
				"user=%s error=%s",
		       s->c ? s->c->id : "-",
		       log_esc(user, sizeof user, u, strlen(u)),
		       log_esc(err, sizeof err, j->err, strlen(j->err)));
	}
	/* Give up the maildrop before saying goodbye: a client that logs
	 * straight back in must not find it still locked. */
	pop3_maildrop_free(s);
	if (!s->dead) {
		if (j->rc == 0) {
			conn_printf(s->c, "+OK Bye, %zu messages deleted.\r\n",
				    n_del);
		} else {
			printable(j->err);
			conn_printf(s->c, "-ERR [SYS/TEMP] Some deleted messages "
					  "not removed: %.200s\r\n",
				    j->err);
		}
		pop3_close(s, "quit");
	}
	free(j->deleted);
	free(j->retr);
	free(j);
	pop3_job_done(s);
}

void pop3_update_start(struct pop3_session *s)
{
	pop3_enter_state(s, POP3_UPDATE);
	struct update_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->deleted = xmalloc((s->n_deleted ? s->n_deleted : 1) * sizeof(uint32_t));
	j->retr = xmalloc((s->n_msgs ? s->n_msgs : 1) * sizeof(uint32_t));
	size_t nd = 0, nr = 0;
	for (size_t i = 0; i < s->n_msgs; i++) {
		uint32_t uid = pop3_msg(s, i)->uid;
		if (s->marks[i] & POP3_M_DELETED)
			j->deleted[nd++] = uid;
		/* Only a first retrieval needs recording (for EXPIRE); a
		 * leave-on-server client re-reading old mail costs no write. */
		if ((s->marks[i] & POP3_M_RETR) &&
		    pop3_msg(s, i)->pop3_first_retr == 0)
			j->retr[nr++] = uid;
	}
	if (nd == 0 && nr == 0) {
		free(j->deleted);
		free(j->retr);
		free(j);
		pop3_maildrop_free(s);
		conn_writes(s->c, "+OK Bye\r\n");
		pop3_close(s, "quit");
		return;
	}
	bool hide = s->dele_mode == POP3_DELE_HIDE;
	j->up = (struct store_pop3_update){
		.expunge = hide ? NULL : j->deleted,
		.n_expunge = hide ? 0 : nd,
		.hide = hide ? j->deleted : NULL,
		.n_hide = hide ? nd : 0,
		.retr = j->retr,
		.n_retr = nr,
		.now = (int64_t)time(NULL),
	};
	pop3_set_wait(s, POP3_WAIT_COMMIT);
	pop3_job_submit(s, update_work, update_done, j);
}

void pop3_maildrop_free(struct pop3_session *s)
{
	if (s->mb)
		store_mailbox_close(&s->mb);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
	free(s->msg_idx);
	free(s->marks);
	s->msg_idx = NULL;
	s->marks = NULL;
	s->n_msgs = 0;
}
