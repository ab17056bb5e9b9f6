/* A bounce's recipient is the original sender, who may be one of ours:
 * the auth process says (as for SMTP RCPT), and a local one gets the
 * bounce straight into the INBOX (deliver_local, on the pool); a remote
 * one goes out like any other recipient. */
#include "runner/runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_client.h"
#include "core/threadpool.h"
#include "core/xmalloc.h"
#include "deliver/local.h"

struct local_job {
	struct runner *r;
	struct runner_msg *m;
	size_t idx;
	char **users;
	size_t n_users;
	struct deliver_result *results;
	uint64_t lookup_id;
};

static void local_work(void *arg)
{
	struct local_job *lj = arg;
	struct runner_msg *m = lj->m;
	deliver_local(lj->r->cfg, str_from_cstr("Return-Path: <>\r\n"),
		      m->body.data, m->body.len, (int64_t)time(NULL),
		      (const char *const *)lj->users, lj->n_users,
		      lj->results);
}

static void local_done(void *arg)
{
	struct local_job *lj = arg;
	struct smtpc_reply rep;
	enum deliver_status worst = DELIVER_OK;
	const char *why = "";
	for (size_t i = 0; i < lj->n_users; i++)
		if (lj->results[i].status > worst) {
			worst = lj->results[i].status;
			why = lj->results[i].why;
		}
	if (worst == DELIVER_OK)
		runner_reply(&rep, 250, "2.0.0", "delivered to the mailbox");
	else if (worst == DELIVER_TEMP)
		runner_reply(&rep, 451, "4.3.0", "mailbox: %s", why);
	else
		runner_reply(&rep, 550, "5.2.0", "mailbox: %s", why);
	runner_set_result(lj->m, lj->idx, &rep, "local");
	for (size_t i = 0; i < lj->n_users; i++)
		free(lj->users[i]);
	free(lj->users);
	free(lj->results);
	struct runner *r = lj->r;
	struct runner_msg *m = lj->m;
	free(lj);
	runner_msg_job_done(r, m);
}

static void lookup_done(void *arg, const struct auth_rcpt_result *res)
{
	struct local_job *lj = arg;
	struct runner *r = lj->r;
	struct runner_msg *m = lj->m;
	struct smtpc_reply rep;
	switch (res->status) {
	case AUTH_RCPT_LOCAL:
		lj->n_users = res->n_users;
		lj->users = xcalloc(res->n_users ? res->n_users : 1,
				    sizeof *lj->users);
		for (size_t i = 0; i < res->n_users; i++)
			lj->users[i] = xstrdup(res->users[i]);
		lj->results = xcalloc(res->n_users ? res->n_users : 1,
				      sizeof *lj->results);
		threadpool_submit(r->pool, local_work, local_done, lj);
		return;
	case AUTH_RCPT_NOT_LOCAL: {
		bool *remote = xcalloc(m->env.n_rcpts, sizeof *remote);
		remote[lj->idx] = true;
		runner_dispatch_remote(r, m, remote);
		free(remote);
		free(lj);
		runner_msg_job_done(r, m);
		return;
	}
	case AUTH_RCPT_UNKNOWN:
		runner_reply(&rep, 550, "5.1.1", "no such local user");
		break;
	default:
		runner_reply(&rep, 451, "4.3.0", "recipient lookup failed: %s",
			     res->reason ? res->reason : "auth");
		break;
	}
	runner_set_result(m, lj->idx, &rep, "local");
	free(lj);
	runner_msg_job_done(r, m);
}

void runner_local_start(struct runner *r, struct runner_msg *m, size_t i)
{
	struct local_job *lj = xcalloc(1, sizeof *lj);
	lj->r = r;
	lj->m = m;
	lj->idx = i;
	const char *a = m->env.rcpts[i].addr;
	auth_client_lookup_rcpt(r->auth, str_make(a, strlen(a)), m->id,
				lookup_done, lj);
}
