/* Destinations and their connections. A destination is where mail for
 * a domain goes (route_destination: the domain, a static route's host or
 * the smarthost): its addresses are looked up once (route_resolve) while
 * it has work, and up to relay_max_per_destination connections (and
 * relay_max_connections in all) carry its waiting jobs, each connection
 * taking the next job as soon as it is free, so one connection carries
 * many messages. A connection that cannot be made tries the next
 * address -- the next MX (RFC 5321 section 5.1: "try the next") -- and
 * when every address has failed and no other connection is working for
 * the destination, its waiting jobs are deferred with the last reason. */
#include "runner/runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "relay/route.h"

enum dest_state { D_NEW, D_RESOLVING, D_READY };

struct runner_conn;

struct runner_dest {
	struct runner *r;
	char key[320];
	char domain[256];
	enum relay_tls_level tls;
	enum dest_state state;
	struct relay_target *targets;
	size_t n_targets;
	struct runner_job *wait_head, *wait_tail;
	size_t n_wait;
	int n_conns, n_connecting;
	bool broken; /* every address failed: no new connections */
	struct smtpc_reply last_fail;
	char last_mta[256];
	struct runner_conn *conns;
	struct runner_dest *prev, *next;
};

struct runner_conn {
	struct runner_dest *d;
	struct smtpc *c;
	size_t tidx;
	struct runner_job *cur;
	int sent;
	bool ready_once;
	char log_id[400];
	struct runner_conn *prev, *next;
};

static void dest_kick(struct runner_dest *d);

static struct runner_job *wait_pop(struct runner_dest *d)
{
	struct runner_job *j = d->wait_head;
	if (!j)
		return NULL;
	d->wait_head = j->next;
	if (!d->wait_head)
		d->wait_tail = NULL;
	j->next = NULL;
	d->n_wait--;
	return j;
}

static void fail_waiting(struct runner_dest *d, const struct smtpc_reply *why,
			 const char *mta)
{
	struct runner_job *j;
	while ((j = wait_pop(d)))
		runner_job_fail(d->r, j, why, mta);
}

static void dest_free(struct runner_dest *d)
{
	struct runner *r = d->r;
	if (d->prev)
		d->prev->next = d->next;
	else
		r->dests = d->next;
	if (d->next)
		d->next->prev = d->prev;
	free(d->targets);
	free(d);
}

static void on_route(void *arg, enum route_status st,
		     const struct relay_target *targets, size_t n,
		     const char *status, const char *why)
{
	struct runner_dest *d = arg;
	if (d->r->stopping) {
		d->state = D_NEW;
		return;
	}
	if (st == ROUTE_OK && n > 0) {
		d->targets = xcalloc(n, sizeof *d->targets);
		memcpy(d->targets, targets, n * sizeof *targets);
		d->n_targets = n;
		d->state = D_READY;
		dest_kick(d);
		return;
	}
	struct smtpc_reply rep;
	bool perm = st == ROUTE_PERM;
	runner_reply(&rep, perm ? 550 : 451,
		     status && *status ? status : perm ? "5.1.2" : "4.4.3",
		     "%s: %s", d->domain, why && *why ? why : "no route");
	char e[LOG_ESC_MAX];
	log_kv(LOG_WARN, "event=route_failed destination=%s status=%s "
	       "reason=%s", d->key, rep.status,
	       log_esc(e, sizeof e, rep.text, strlen(rep.text)));
	d->state = D_NEW;
	fail_waiting(d, &rep, "");
	dest_kick(d);
}

/* --- connections --------------------------------------------------- */

static void conn_connect(struct runner_conn *rc);

static void conn_on_ready(void *arg)
{
	struct runner_conn *rc = arg;
	struct runner_dest *d = rc->d;
	struct runner *r = d->r;
	if (!rc->ready_once) {
		rc->ready_once = true;
		d->n_connecting--;
		d->broken = false;
	}
	struct runner_job *j = NULL;
	if (!r->stopping &&
	    rc->sent < r->cfg->relay_max_messages_per_connection)
		j = wait_pop(d);
	if (!j) {
		smtpc_quit(rc->c);
		return;
	}
	rc->cur = j;
	smtpc_send(rc->c, &j->sm);
}

static void conn_on_result(void *arg, const struct smtpc_reply *rcpt,
			   size_t n)
{
	struct runner_conn *rc = arg;
	struct runner_job *j = rc->cur;
	rc->cur = NULL;
	rc->sent++;
	if (!j)
		return;
	const char *mta = rc->d->targets[rc->tidx].host;
	for (size_t k = 0; k < n && k < j->n; k++)
		runner_set_result(j->m, j->idx[k], &rcpt[k], mta);
	runner_job_done(rc->d->r, j);
}

static void conn_free(struct runner_conn *rc)
{
	struct runner_dest *d = rc->d;
	if (rc->prev)
		rc->prev->next = rc->next;
	else
		d->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	d->n_conns--;
	d->r->n_conns--;
	free(rc);
}

static void conn_on_close(void *arg, bool failed, const struct smtpc_reply *why)
{
	struct runner_conn *rc = arg;
	struct runner_dest *d = rc->d;
	struct runner *r = d->r;
	rc->c = NULL;
	const char *mta = d->targets[rc->tidx].host;
	if (rc->cur) {
		/* smtpc reports the transaction first; be safe anyway */
		struct runner_job *j = rc->cur;
		rc->cur = NULL;
		runner_job_fail(r, j, why, mta);
	}
	if (failed && why) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=relay_failed destination=%s host=%s "
		       "status=%s reason=%s", d->key, mta, why->status,
		       log_esc(e, sizeof e, why->text, strlen(why->text)));
	}
	if (!rc->ready_once) {
		if (why) {
			d->last_fail = *why;
			snprintf(d->last_mta, sizeof d->last_mta, "%s", mta);
		}
		if (++rc->tidx < d->n_targets && !r->stopping) {
			conn_connect(rc);
			return;
		}
		d->n_connecting--;
		d->broken = true;
	}
	bool was_full = r->n_conns >= r->cfg->relay_max_connections;
	conn_free(rc);
	if (r->stopping) {
		runner_maybe_exit(r);
		return;
	}
	if (d->broken && d->n_conns == 0) {
		if (d->last_fail.code < 400)
			runner_reply(&d->last_fail, 451, "4.4.1",
				     "no server for %s answered", d->domain);
		fail_waiting(d, &d->last_fail, d->last_mta);
	}
	dest_kick(d);
	if (was_full)
		runner_dest_kick_all(r);
}

static const struct smtpc_handler conn_handler = {
	.on_ready = conn_on_ready,
	.on_result = conn_on_result,
	.on_close = conn_on_close,
};

static void conn_connect(struct runner_conn *rc)
{
	struct runner_dest *d = rc->d;
	struct runner *r = d->r;
	const struct config *cfg = r->cfg;
	struct smtpc_opts o = { 0 };
	o.helo = cfg->hostname;
	o.tls = d->tls;
	o.tls_name = d->targets[rc->tidx].host;
	o.tls_ctx = r->tls;
	if (cfg->smarthost[0] && cfg->smarthost_user[0]) {
		o.auth_user = cfg->smarthost_user;
		o.auth_pass = r->smarthost_pass;
	}
	o.connect_timeout = cfg->relay_connect_timeout;
	o.timeout = cfg->relay_timeout;
	o.log_id = rc->log_id;
	rc->c = smtpc_connect(r->base, &d->targets[rc->tidx], &o,
			      &conn_handler, rc);
}

static void conn_start(struct runner_dest *d)
{
	static unsigned long serial;
	struct runner_conn *rc = xcalloc(1, sizeof *rc);
	rc->d = d;
	snprintf(rc->log_id, sizeof rc->log_id, "dest=%s conn=%lu", d->key,
		 ++serial);
	rc->next = d->conns;
	if (d->conns)
		d->conns->prev = rc;
	d->conns = rc;
	d->n_conns++;
	d->n_connecting++;
	d->r->n_conns++;
	conn_connect(rc);
}

/* --- destinations -------------------------------------------------- */

static void dest_kick(struct runner_dest *d)
{
	struct runner *r = d->r;
	const struct config *cfg = r->cfg;
	if (r->stopping)
		return;
	if (d->state == D_NEW && d->n_wait > 0) {
		d->state = D_RESOLVING;
		route_resolve(r->routes, r->dns, d->domain, on_route, d);
		return;
	}
	if (d->state == D_READY)
		while (!d->broken && d->n_wait > (size_t)d->n_connecting &&
		       d->n_conns < cfg->relay_max_per_destination &&
		       r->n_conns < cfg->relay_max_connections)
			conn_start(d);
	if (d->n_wait == 0 && d->n_conns == 0 && d->state != D_RESOLVING)
		dest_free(d);
}

void runner_dest_add(struct runner *r, struct runner_job *j,
		     const char *domain)
{
	char key[320], dest[300];
	enum relay_tls_level tls = route_tls_level(r->routes, domain);
	route_destination(r->routes, domain, dest, sizeof dest);
	snprintf(key, sizeof key, "%s/%s", dest, relay_tls_level_name(tls));
	struct runner_dest *d = r->dests;
	while (d && strcmp(d->key, key) != 0)
		d = d->next;
	if (!d) {
		d = xcalloc(1, sizeof *d);
		d->r = r;
		snprintf(d->key, sizeof d->key, "%s", key);
		snprintf(d->domain, sizeof d->domain, "%s", domain);
		d->tls = tls;
		d->state = D_NEW;
		d->next = r->dests;
		if (r->dests)
			r->dests->prev = d;
		r->dests = d;
	}
	j->d = d;
	if (d->wait_tail)
		d->wait_tail->next = j;
	else
		d->wait_head = j;
	d->wait_tail = j;
	d->n_wait++;
	dest_kick(d);
}

void runner_dest_kick_all(struct runner *r)
{
	struct runner_dest *next;
	for (struct runner_dest *d = r->dests; d; d = next) {
		next = d->next;
		dest_kick(d);
	}
}

static void job_free(struct runner_job *j)
{
	free(j->idx);
	free(j->addrs);
	free(j);
}

size_t runner_in_flight(const struct runner *r)
{
	size_t n = 0;
	for (const struct runner_dest *d = r->dests; d; d = d->next)
		for (const struct runner_conn *rc = d->conns; rc; rc = rc->next)
			n += rc->cur != NULL;
	return n;
}

void runner_dest_stop(struct runner *r)
{
	for (struct runner_dest *d = r->dests; d; d = d->next) {
		struct runner_job *j;
		while ((j = wait_pop(d)))
			runner_job_done(r, j); /* no result: not attempted */
		struct runner_conn *next;
		for (struct runner_conn *rc = d->conns; rc; rc = next) {
			next = rc->next;
			if (rc->cur)
				continue;
			if (rc->c)
				smtpc_free(&rc->c);
			if (!rc->ready_once)
				d->n_connecting--;
			conn_free(rc);
		}
	}
}

void runner_dest_free_all(struct runner *r)
{
	while (r->dests) {
		struct runner_dest *d = r->dests;
		while (d->conns) {
			struct runner_conn *rc = d->conns;
			if (rc->c)
				smtpc_free(&rc->c);
			if (rc->cur)
				job_free(rc->cur);
			conn_free(rc);
		}
		struct runner_job *j;
		while ((j = wait_pop(d)))
			job_free(j);
		dest_free(d);
	}
}
