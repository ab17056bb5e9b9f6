/* `postern queue list|show|retry|delete|hold|release`: the outbound
 * queue as an admin sees it. Every change goes through queue_update(),
 * under the queue's lock, so the runner never loses it; the runner
 * notices it through inotify on env/. */
#include "daemon/cli.h"
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

/* Queue contents come from the network: never let them drive the
 * terminal. Bytes >= 0x80 are kept (UTF-8 addresses). */
static void put_safe(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

static void puts_safe(FILE *f, const char *s)
{
	put_safe(f, s ? s : "", s ? strlen(s) : 0);
}

static void age_text(char *out, size_t n, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(out, n, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(out, n, "%lldm", (long long)(secs / 60));
	else if (secs < 86400 * 2)
		snprintf(out, n, "%lldh", (long long)(secs / 3600));
	else
		snprintf(out, n, "%lldd", (long long)(secs / 86400));
}

static void time_text(char *out, size_t n, int64_t t)
{
	if (t == 0) {
		snprintf(out, n, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static bool rcpt_open(const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_PENDING || r->state == QUEUE_RCPT_FAILED;
}

static const char *last_error(const struct queue_env *e)
{
	const char *best = "";
	int64_t when = -1;
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct queue_rcpt *r = &e->rcpts[i];
		if (rcpt_open(r) && r->diag && r->diag[0] &&
		    r->last_attempt > when) {
			best = r->diag;
			when = r->last_attempt;
		}
	}
	return best;
}

static int queue_open(const struct config *cfg)
{
	struct buf err = BUF_INIT;
	if (queue_init(cfg->queue_dir, &err) < 0) {
		fprintf(stderr, "postern: queue %s: %s\n", cfg->queue_dir,
			buf_cstr(&err));
		buf_free(&err);
		return EX_CANTCREAT;
	}
	buf_free(&err);
	return 0;
}

static int cmd_list(const struct config *cfg)
{
	struct queue_env *list;
	size_t n;
	struct buf err = BUF_INIT;
	if (queue_list(cfg->queue_dir, &list, &n, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return EX_IOERR;
	}
	if (err.len > 0)
		fprintf(stderr, "postern: skipped: %s", buf_cstr(&err));
	buf_free(&err);
	if (n == 0) {
		printf("Queue is empty.\n");
		return EX_OK;
	}
	printf("%-31s %5s %5s %4s  %s\n", "ID", "AGE", "TRIES", "HOLD",
	       "SENDER -> RECIPIENTS (STATE)  LAST-ERROR");
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n; i++) {
		const struct queue_env *e = &list[i];
		char age[32];
		age_text(age, sizeof age, now - e->created);
		printf("%-31s %5s %5d %4s  <", e->id, age, e->attempts,
		       e->hold ? "yes" : "no");
		puts_safe(stdout, e->sender);
		printf("> ->");
		for (size_t k = 0; k < e->n_rcpts; k++) {
			const struct queue_rcpt *r = &e->rcpts[k];
			if (!rcpt_open(r))
				continue;
			printf(" ");
			puts_safe(stdout, r->addr);
			printf(" (%s)", queue_rcpt_state_name(r->state));
		}
		const char *why = last_error(e);
		if (why[0]) {
			printf("  ");
			puts_safe(stdout, why);
		}
		printf("\n");
	}
	printf("%zu message%s in the queue.\n", n, n == 1 ? "" : "s");
	queue_list_free(&list, n);
	return EX_OK;
}

static const char *ret_name(enum dsn_ret r)
{
	return r == DSN_RET_FULL ? "full" : r == DSN_RET_HDRS ? "hdrs"
							      : "default";
}

static void notify_text(char *out, size_t n, unsigned v)
{
	if (v == 0) {
		snprintf(out, n, "default");
		return;
	}
	snprintf(out, n, "%s%s%s%s", v & DSN_NOTIFY_NEVER ? "never," : "",
		 v & DSN_NOTIFY_SUCCESS ? "success," : "",
		 v & DSN_NOTIFY_FAILURE ? "failure," : "",
		 v & DSN_NOTIFY_DELAY ? "delay," : "");
	size_t l = strlen(out);
	if (l > 0 && out[l - 1] == ',')
		out[l - 1] = '\0';
}

static void show_field(const char *name, const char *v)
{
	printf("%-14s ", name);
	if (v)
		puts_safe(stdout, v);
	else
		printf("-");
	printf("\n");
}

/* The header section: up to the first empty line. */
static void show_header(const char *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		const char *eol = memchr(p + off, '\n', len - off);
		size_t end = eol ? (size_t)(eol - p) : len, l = end - off;
		if (l > 0 && p[off + l - 1] == '\r')
			l--;
		if (l == 0)
			break;
		put_safe(stdout, p + off, l);
		printf("\n");
		off = end + 1;
	}
}

static int unknown_id(const char *id)
{
	fprintf(stderr, "postern: no message \"");
	puts_safe(stderr, id);
	fprintf(stderr, "\" in the queue\n");
	return EX_DATAERR;
}

static int cmd_show(const struct config *cfg, const char *id)
{
	if (!queue_id_valid(id))
		return unknown_id(id);
	struct queue_env e;
	struct buf err = BUF_INIT;
	if (queue_env_load(cfg->queue_dir, id, &e, &err) < 0) {
		bool damaged = strstr(buf_cstr(&err), "damaged") != NULL;
		if (!damaged) {
			buf_free(&err);
			return unknown_id(id);
		}
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return EX_DATAERR;
	}
	char t[64], u[64];
	show_field("id", e.id);
	show_field("sender", e.sender);
	time_text(t, sizeof t, e.created);
	show_field("created", t);
	time_text(t, sizeof t, e.next_attempt);
	show_field("next_attempt", e.next_attempt ? t : "now");
	printf("%-14s %d\n", "attempts", e.attempts);
	show_field("hold", e.hold ? "yes" : "no");
	show_field("warned", e.warned ? "yes" : "no");
	show_field("body", e.body_8bit ? "8BITMIME" : "7BIT");
	show_field("smtputf8", e.smtputf8 ? "yes" : "no");
	show_field("is_bounce", e.is_bounce ? "yes" : "no");
	show_field("envid", e.envid);
	show_field("ret", ret_name(e.ret));
	printf("%-14s %llu\n", "size", (unsigned long long)e.size);
	show_field("auth_user", e.auth_user[0] ? e.auth_user : "-");
	for (size_t i = 0; i < e.n_rcpts; i++) {
		const struct queue_rcpt *r = &e.rcpts[i];
		printf("recipient      ");
		puts_safe(stdout, r->addr);
		printf("\n");
		show_field("  state", queue_rcpt_state_name(r->state));
		printf("%-14s %d\n", "  attempts", r->attempts);
		time_text(t, sizeof t, r->last_attempt);
		show_field("  last_attempt", t);
		notify_text(u, sizeof u, r->notify);
		show_field("  notify", u);
		show_field("  orcpt", r->orcpt);
		show_field("  status", r->status);
		show_field("  remote_mta", r->remote_mta);
		show_field("  diagnostic", r->diag);
	}
	struct queue_msg m;
	int rc = EX_OK;
	if (queue_msg_open(cfg->queue_dir, id, &m, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		rc = EX_IOERR;
	} else {
		printf("\n");
		show_header(m.data, m.len);
		queue_msg_close(&m);
	}
	queue_env_free(&e);
	buf_free(&err);
	return rc;
}

enum action { A_RETRY, A_DELETE, A_HOLD, A_RELEASE };

static enum queue_verdict apply(struct queue_env *e, void *arg)
{
	switch (*(enum action *)arg) {
	case A_RETRY:
		e->next_attempt = 0;
		return QUEUE_KEEP;
	case A_DELETE:
		return QUEUE_REMOVE;
	case A_HOLD:
		if (e->hold)
			return QUEUE_UNCHANGED;
		e->hold = true;
		return QUEUE_KEEP;
	case A_RELEASE:
		/* Released mail goes at once, as Postfix's postsuper -H. */
		e->hold = false;
		e->next_attempt = 0;
		return QUEUE_KEEP;
	}
	return QUEUE_UNCHANGED;
}

static const char *const done_text[] = {
	[A_RETRY] = "will be retried now",
	[A_DELETE] = "deleted",
	[A_HOLD] = "held",
	[A_RELEASE] = "released",
};

static int act_one(const struct config *cfg, const char *id, enum action a)
{
	if (!queue_id_valid(id))
		return unknown_id(id);
	struct buf err = BUF_INIT;
	int rc = queue_update(cfg->queue_dir, id, apply, &a, &err);
	if (rc < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return EX_IOERR;
	}
	buf_free(&err);
	if (rc == 1)
		return unknown_id(id);
	printf("%s: %s\n", id, done_text[a]);
	return EX_OK;
}

static int retry_all(const struct config *cfg)
{
	struct queue_env *list;
	size_t n;
	struct buf err = BUF_INIT;
	if (queue_list(cfg->queue_dir, &list, &n, &err) < 0 ||
	    queue_retry_all(cfg->queue_dir, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return EX_IOERR;
	}
	buf_free(&err);
	size_t due = 0;
	for (size_t i = 0; i < n; i++)
		due += !list[i].hold;
	queue_list_free(&list, n);
	printf("%zu message%s will be retried now.\n", due,
	       due == 1 ? "" : "s");
	return EX_OK;
}

int cmd_queue(const struct config *cfg, int argc, char **argv)
{
	static const struct {
		const char *name;
		int args; /* -1: 0 or 1 */
		enum action a;
	} cmds[] = {
		{ "list", 0, A_RETRY }, { "show", 1, A_RETRY },
		{ "retry", -1, A_RETRY }, { "delete", 1, A_DELETE },
		{ "hold", 1, A_HOLD }, { "release", 1, A_RELEASE },
	};
	if (argc < 2)
		goto usage;
	size_t k = sizeof cmds / sizeof cmds[0];
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name))
			k = i;
	if (k == sizeof cmds / sizeof cmds[0])
		goto usage;
	int nargs = argc - 2;
	if (cmds[k].args >= 0 ? nargs != cmds[k].args : nargs > 1)
		goto usage;
	int rc = queue_open(cfg);
	if (rc != 0)
		return rc;
	if (!strcmp(cmds[k].name, "list"))
		return cmd_list(cfg);
	if (!strcmp(cmds[k].name, "show"))
		return cmd_show(cfg, argv[2]);
	if (!strcmp(cmds[k].name, "retry") && nargs == 0)
		return retry_all(cfg);
	return act_one(cfg, argv[2], cmds[k].a);
usage:
	fprintf(stderr, "usage: postern -c CONF queue list | show ID | "
			"retry [ID] | delete ID | hold ID | release ID\n");
	return EX_USAGE;
}
