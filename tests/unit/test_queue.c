#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "core/spool.h"
#include "queue/queue.h"
#include "queue/queue_env.h"

static char *tmp_queue(void)
{
	char tmpl[] = "/tmp/postern-test-queue-XXXXXX";
	char *d = mkdtemp(tmpl);
	CHECK(d != NULL);
	char *q = xasprintf("%s/spool/queue", d);
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(queue_recover(q, &err), 0);
	buf_free(&err);
	return q;
}

static void rm_rf(const char *dir)
{
	/* dir is TMP/spool/queue: remove TMP. */
	char *top = xstrdup(dir);
	*strrchr(top, '/') = '\0';
	*strrchr(top, '/') = '\0';
	char *cmd = xasprintf("rm -rf '%s'", top);
	free(top);
	CHECK_EQ_INT(system(cmd), 0);
	free(cmd);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, data, len), (long long)len);
	close(fd);
}

static bool file_exists(const char *dir, const char *sub, const char *id)
{
	char *p = xasprintf("%s/%s/%s", dir, sub, id);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static void make_env(struct queue_env *env, const char *sender)
{
	queue_env_new(env, 1795000000);
	free(env->sender);
	env->sender = xstrdup(sender);
	queue_env_add_rcpt(env, "bob@remote.example", NULL, 0);
	queue_env_add_rcpt(env, "carol@other.example", "rfc822;carol@other.example",
			   DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
}

UNIT_TEST(test_ids)
{
	struct queue_env a, b;
	queue_env_new(&a, 1795000000);
	queue_env_new(&b, 1795000000);
	CHECK(queue_id_valid(a.id));
	CHECK(strcmp(a.id, b.id) != 0);
	CHECK(!strncmp(a.id, "2026118T", 8) || strlen(a.id) > 20);
	CHECK_EQ_INT(strlen(a.id), 31);
	queue_env_free(&a);
	queue_env_free(&b);
	/* Later seconds sort later. */
	queue_env_new(&a, 1795000000);
	queue_env_new(&b, 1795000001);
	CHECK(strcmp(a.id, b.id) < 0);
	queue_env_free(&a);
	queue_env_free(&b);
	CHECK(!queue_id_valid(""));
	CHECK(!queue_id_valid("../env/x"));
	CHECK(!queue_id_valid("a/b"));
	CHECK(!queue_id_valid(".."));
	CHECK(!queue_id_valid("-x"));
	CHECK(!queue_id_valid("a.b"));
	CHECK(!queue_id_valid("0123456789012345678901234567890123456789"));
	CHECK(queue_id_valid("20261122T100311-3f9a0c1e"));
}

UNIT_TEST(test_round_trip)
{
	char *q = tmp_queue();
	struct queue_env env;
	make_env(&env, "alice@local.example");
	env.body_8bit = true;
	env.envid = xstrdup("ENV-1");
	env.ret = DSN_RET_HDRS;
	free(env.auth_user);
	env.auth_user = xstrdup("alice");
	struct buf err = BUF_INIT;
	const char *hdr = "Received: by x\r\n";
	const char *body = "Subject: hi\r\n\r\nbody\r\n";
	CHECK_EQ_INT(queue_enqueue(q, &env, str_from_cstr(hdr), body,
				   strlen(body), &err), 0);
	CHECK_EQ_INT(env.size, strlen(hdr) + strlen(body));
	CHECK(file_exists(q, "env", env.id));
	CHECK(file_exists(q, "msg", env.id));

	struct queue_env got;
	CHECK_EQ_INT(queue_env_load(q, env.id, &got, &err), 0);
	CHECK_EQ_STR(got.id, env.id);
	CHECK_EQ_STR(got.sender, "alice@local.example");
	CHECK_EQ_INT(got.created, 1795000000);
	CHECK(got.body_8bit && !got.smtputf8 && !got.hold);
	CHECK_EQ_STR(got.envid, "ENV-1");
	CHECK_EQ_INT(got.ret, DSN_RET_HDRS);
	CHECK_EQ_STR(got.auth_user, "alice");
	CHECK_EQ_INT(got.size, env.size);
	CHECK_EQ_INT(got.n_rcpts, 2);
	CHECK_EQ_STR(got.rcpts[0].addr, "bob@remote.example");
	CHECK(got.rcpts[0].orcpt == NULL);
	CHECK_EQ_STR(got.rcpts[0].diag, "");
	CHECK_EQ_STR(got.rcpts[1].orcpt, "rfc822;carol@other.example");
	CHECK_EQ_INT(got.rcpts[1].notify,
		     DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
	CHECK_EQ_INT(got.rcpts[1].state, QUEUE_RCPT_PENDING);
	queue_env_free(&got);

	struct queue_msg m;
	CHECK_EQ_INT(queue_msg_open(q, env.id, &m, &err), 0);
	CHECK_EQ_INT(m.len, env.size);
	CHECK(m.len == env.size && !memcmp(m.data, hdr, strlen(hdr)) &&
	      !memcmp(m.data + strlen(hdr), body, strlen(body)));
	queue_msg_close(&m);
	CHECK(m.data == NULL);
	queue_env_free(&env);
	CHECK_EQ_INT(err.len, 0);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

static enum queue_verdict mark(struct queue_env *env, void *arg)
{
	(void)arg;
	env->attempts++;
	env->next_attempt = 1795000600;
	env->rcpts[0].state = QUEUE_RCPT_DELIVERED;
	env->rcpts[0].attempts = 1;
	env->rcpts[0].last_attempt = 1795000001;
	free(env->rcpts[0].diag);
	env->rcpts[0].diag = xstrdup("250 2.0.0 Ok: queued as ABC");
	free(env->rcpts[1].remote_mta);
	env->rcpts[1].remote_mta = xstrdup("mx.other.example");
	return QUEUE_KEEP;
}

static enum queue_verdict drop(struct queue_env *env, void *arg)
{
	(void)env;
	(*(int *)arg)++;
	return QUEUE_REMOVE;
}

static enum queue_verdict peek(struct queue_env *env, void *arg)
{
	*(int *)arg = env->attempts;
	return QUEUE_UNCHANGED;
}

UNIT_TEST(test_update_list_remove)
{
	char *q = tmp_queue();
	struct buf err = BUF_INIT;
	char ids[3][QUEUE_ID_MAX];
	for (int i = 0; i < 3; i++) {
		struct queue_env env;
		make_env(&env, i == 1 ? "" : "a@b.example");
		env.created += i;
		CHECK_EQ_INT(queue_enqueue(q, &env, STR_LIT(""), "x\r\n", 3,
					   &err), 0);
		memcpy(ids[i], env.id, QUEUE_ID_MAX);
		queue_env_free(&env);
	}
	CHECK_EQ_INT(queue_update(q, ids[1], mark, NULL, &err), 0);
	int attempts = -1;
	CHECK_EQ_INT(queue_update(q, ids[1], peek, &attempts, &err), 0);
	CHECK_EQ_INT(attempts, 1);

	struct queue_env *list;
	size_t n;
	CHECK_EQ_INT(queue_list(q, &list, &n, &err), 0);
	CHECK_EQ_INT(n, 3);
	for (size_t i = 0; i < n && i < 3; i++)
		CHECK_EQ_STR(list[i].id, ids[i]);
	if (n == 3) {
		CHECK_EQ_STR(list[1].sender, "");
		CHECK_EQ_INT(list[1].next_attempt, 1795000600);
		CHECK_EQ_INT(list[1].rcpts[0].state, QUEUE_RCPT_DELIVERED);
		CHECK_EQ_STR(list[1].rcpts[0].diag,
			     "250 2.0.0 Ok: queued as ABC");
		CHECK_EQ_STR(list[1].rcpts[1].remote_mta, "mx.other.example");
	}
	queue_list_free(&list, n);
	CHECK(list == NULL);

	int calls = 0;
	CHECK_EQ_INT(queue_update(q, ids[0], drop, &calls, &err), 0);
	CHECK_EQ_INT(calls, 1);
	CHECK(!file_exists(q, "env", ids[0]));
	CHECK(!file_exists(q, "msg", ids[0]));
	/* Gone: 1, and fn is not called. */
	CHECK_EQ_INT(queue_update(q, ids[0], drop, &calls, &err), 1);
	CHECK_EQ_INT(calls, 1);
	CHECK_EQ_INT(queue_update(q, "../../etc", drop, &calls, &err), -1);
	CHECK_EQ_INT(calls, 1);
	CHECK_EQ_INT(queue_list(q, &list, &n, &err), 0);
	CHECK_EQ_INT(n, 2);
	queue_list_free(&list, n);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

UNIT_TEST(test_hostile_values)
{
	static const char *const vals[] = {
		"a b", "line\r\nrcpt pending 0 0 0 x@y . . . .", "%41",
		"-", ".", "%", "\x7f\x01\t", "caf\xc3\xa9@exampl\xc3\xa9.org",
		"--", "..", "a%", "end",
	};
	char *q = tmp_queue();
	struct buf err = BUF_INIT;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		struct queue_env env;
		queue_env_new(&env, 1795000000);
		free(env.sender);
		env.sender = xstrdup(vals[i]);
		queue_env_add_rcpt(&env, vals[i], vals[i], 0);
		free(env.rcpts[0].diag);
		env.rcpts[0].diag = xstrdup(vals[i]);
		env.envid = xstrdup(vals[i]);
		CHECK_EQ_INT(queue_enqueue(q, &env, STR_LIT(""), "", 0, &err), 0);
		struct queue_env got;
		CHECK_EQ_INT(queue_env_load(q, env.id, &got, &err), 0);
		CHECK_EQ_STR(got.sender, vals[i]);
		CHECK_EQ_INT(got.n_rcpts, 1);
		if (got.n_rcpts == 1) {
			CHECK_EQ_STR(got.rcpts[0].addr, vals[i]);
			CHECK_EQ_STR(got.rcpts[0].orcpt, vals[i]);
			CHECK_EQ_STR(got.rcpts[0].diag, vals[i]);
		}
		CHECK_EQ_STR(got.envid, vals[i]);
		queue_env_free(&got);
		/* One line per key: no value may add one. */
		struct buf text = BUF_INIT;
		queue_env_format(&env, &text);
		size_t lines = 0;
		for (size_t k = 0; k < text.len; k++) {
			unsigned char c = (unsigned char)text.data[k];
			lines += c == '\n';
			CHECK(c == '\n' || c >= 0x20);
			CHECK(c != 0x7f);
		}
		CHECK_EQ_INT(lines, 17);
		buf_free(&text);
		queue_env_free(&env);
	}
	CHECK_EQ_INT(err.len, 0);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

static void expect_damaged(const char *text, const char *why)
{
	struct queue_env env;
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(queue_env_parse(text, strlen(text), &env, &err), -1);
	if (!strstr(buf_cstr(&err), why))
		fprintf(stderr, "damaged: got \"%s\", wanted \"%s\"\n",
			buf_cstr(&err), why);
	CHECK(strstr(buf_cstr(&err), why) != NULL);
	CHECK(env.rcpts == NULL && env.sender == NULL);
	buf_free(&err);
}

#define HEAD "postern-queue 1\nid 20261122T100311-000001-3f9a0c1e\n" \
	"sender a@b\ncreated 1\nnext_attempt 0\nattempts 0\nhold 0\nsize 3\n"
#define RCPT "rcpt pending 0 0 0 x@y - . . .\n"

/* The DSN parameters on disk (core/dsn_param.h): NOTIFY as the number
 * of its bits, RET by name. Envelopes written before stay readable, so
 * these values never change. */
UNIT_TEST(test_dsn_params_on_disk)
{
	const char *text = HEAD "ret full\n"
		"rcpt pending 0 0 1 a@y - . . .\n"
		"rcpt pending 0 0 10 b@y - . . .\n"
		"rcpt pending 0 0 4 c@y - . . .\n" "end\n";
	struct queue_env env;
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(queue_env_parse(text, strlen(text), &env, &err), 0);
	CHECK_EQ_INT(env.ret, DSN_RET_FULL);
	CHECK_EQ_INT(env.n_rcpts, 3);
	if (env.n_rcpts == 3) {
		CHECK_EQ_INT(env.rcpts[0].notify, DSN_NOTIFY_NEVER);
		CHECK_EQ_INT(env.rcpts[1].notify,
			     DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
		CHECK_EQ_INT(env.rcpts[2].notify, DSN_NOTIFY_FAILURE);
	}
	env.ret = DSN_RET_HDRS;
	env.rcpts[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	struct buf out = BUF_INIT;
	queue_env_format(&env, &out);
	CHECK(strstr(buf_cstr(&out), "\nret hdrs\n") != NULL);
	CHECK(strstr(buf_cstr(&out), "\nrcpt pending 0 0 6 a@y ") != NULL);
	env.ret = DSN_RET_NONE;
	buf_clear(&out);
	queue_env_format(&env, &out);
	CHECK(strstr(buf_cstr(&out), "\nret default\n") != NULL);
	buf_free(&out);
	buf_free(&err);
	queue_env_free(&env);
}

UNIT_TEST(test_damaged)
{
	struct queue_env env;
	struct buf err = BUF_INIT;
	const char *good = HEAD RCPT "end\n";
	CHECK_EQ_INT(queue_env_parse(good, strlen(good), &env, &err), 0);
	CHECK_EQ_STR(env.auth_user, "");
	queue_env_free(&env);
	buf_free(&err);

	expect_damaged("", "empty");
	expect_damaged("postern-queue 2\n", "version");
	expect_damaged(HEAD RCPT, "cut short");
	expect_damaged(HEAD RCPT "end", "cut short");
	expect_damaged(HEAD "end\n", "no recipients");
	expect_damaged(HEAD RCPT "end\nsender x\n", "after the end");
	expect_damaged(HEAD "sender c@d\n" RCPT "end\n", "repeated");
	expect_damaged(HEAD "colour blue\n" RCPT "end\n", "unknown key");
	expect_damaged(HEAD "warned\n" RCPT "end\n", "missing field");
	expect_damaged(HEAD "warned 2\n" RCPT "end\n", "boolean");
	expect_damaged(HEAD "ret some\n" RCPT "end\n", "ret");
	expect_damaged(HEAD "envid a b\n" RCPT "end\n", "extra");
	expect_damaged(HEAD "envid a%0\n" RCPT "end\n", "escape");
	expect_damaged(HEAD "envid a%00b\n" RCPT "end\n", "escape");
	expect_damaged(HEAD "envid a%zzb\n" RCPT "end\n", "escape");
	expect_damaged(HEAD "envid a\tb\n" RCPT "end\n", "control");
	expect_damaged(HEAD "envid a\rb\n" RCPT "end\n", "control");
	expect_damaged(HEAD "rcpt pending 0 0 0 x@y - . .\nend\n", "missing");
	expect_damaged(HEAD "rcpt gone 0 0 0 x@y - . . .\nend\n", "state");
	expect_damaged(HEAD "rcpt pending -1 0 0 x@y - . . .\nend\n", "number");
	expect_damaged(HEAD "rcpt pending 0 0 16 x@y - . . .\nend\n", "number");
	expect_damaged(HEAD "rcpt pending 0 0 0 . - . . .\nend\n", "empty");
	expect_damaged(HEAD "rcpt pending 0 0 0 - - . . .\nend\n", "missing");
	expect_damaged(HEAD "rcpt pending 0 0 0 x@y - . . . \nend\n", "trailing");
	expect_damaged(HEAD "attempts 99999999999\n", "repeated");
	expect_damaged("postern-queue 1\nid ../x\nsender a\n", "bad id");
	expect_damaged("postern-queue 1\ncreated 1\n" RCPT "end\n", "missing");
	expect_damaged("postern-queue 1\nid x\ncreated 99999999999999999999\n",
		       "number");
	expect_damaged("postern-queue 1\n\n", "malformed");
	expect_damaged("postern-queue 1\n sender a\n", "malformed");
}

UNIT_TEST(test_damaged_on_disk)
{
	char *q = tmp_queue();
	struct buf err = BUF_INIT;
	struct queue_env env;
	make_env(&env, "a@b.example");
	CHECK_EQ_INT(queue_enqueue(q, &env, STR_LIT(""), "x", 1, &err), 0);
	char *path = xasprintf("%s/env/%s", q, env.id);
	/* Cut in half, as a full disk might leave it. */
	struct buf text = BUF_INIT;
	queue_env_format(&env, &text);
	write_file(path, text.data, text.len / 2);
	struct queue_env got;
	CHECK_EQ_INT(queue_env_load(q, env.id, &got, &err), -1);
	CHECK(strstr(buf_cstr(&err), "damaged") != NULL);
	buf_clear(&err);
	/* The list skips it and says so. */
	struct queue_env *list;
	size_t n;
	CHECK_EQ_INT(queue_list(q, &list, &n, &err), 0);
	CHECK_EQ_INT(n, 0);
	CHECK(strstr(buf_cstr(&err), env.id) != NULL);
	queue_list_free(&list, n);
	buf_clear(&err);
	/* An envelope naming another id is damaged too. */
	struct queue_env other;
	make_env(&other, "a@b.example");
	buf_clear(&text);
	queue_env_format(&other, &text);
	write_file(path, text.data, text.len);
	CHECK_EQ_INT(queue_env_load(q, env.id, &got, &err), -1);
	buf_clear(&err);
	/* Missing. */
	CHECK_EQ_INT(queue_env_load(q, other.id, &got, &err), -1);
	buf_free(&text);
	queue_env_free(&other);
	queue_env_free(&env);
	free(path);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

UNIT_TEST(test_recover)
{
	char *q = tmp_queue();
	struct buf err = BUF_INIT;
	struct queue_env env;
	make_env(&env, "a@b.example");
	CHECK_EQ_INT(queue_enqueue(q, &env, STR_LIT(""), "x", 1, &err), 0);
	/* A crash between the renames, and one mid-write. */
	char *orphan = xasprintf("%s/msg/20261122T100311-000001-deadbeef", q);
	char *junk = xasprintf("%s/tmp/20261122T100311-000002-0.msg", q);
	char *alien = xasprintf("%s/msg/README.txt", q);
	write_file(orphan, "y", 1);
	write_file(junk, "z", 1);
	write_file(alien, "w", 1);
	CHECK_EQ_INT(queue_recover(q, &err), 0);
	CHECK(access(orphan, F_OK) < 0 && errno == ENOENT);
	CHECK(access(junk, F_OK) < 0 && errno == ENOENT);
	CHECK(access(alien, F_OK) == 0);
	CHECK(file_exists(q, "msg", env.id));
	CHECK(file_exists(q, "env", env.id));
	CHECK_EQ_INT(err.len, 0);
	/* A removal cut short after its (unsynced) message unlink: the
	 * envelope goes too; the message had been delivered. */
	struct queue_env half;
	make_env(&half, "c@d.example");
	CHECK_EQ_INT(queue_enqueue(q, &half, STR_LIT(""), "x", 1, &err), 0);
	char *half_msg = xasprintf("%s/msg/%s", q, half.id);
	CHECK_EQ_INT(unlink(half_msg), 0);
	CHECK_EQ_INT(queue_recover(q, &err), 0);
	CHECK(!file_exists(q, "env", half.id));
	CHECK(file_exists(q, "env", env.id));
	free(half_msg);
	queue_env_free(&half);
	/* An enqueue with no recipient is refused and leaves nothing. */
	struct queue_env empty;
	queue_env_new(&empty, 1795000000);
	CHECK_EQ_INT(queue_enqueue(q, &empty, STR_LIT(""), "", 0, &err), -1);
	CHECK(!file_exists(q, "msg", empty.id));
	queue_env_free(&empty);
	/* A queue dir that cannot be made. */
	buf_clear(&err);
	char *bad = xasprintf("%s/msg/%s/sub", q, env.id);
	CHECK_EQ_INT(queue_init(bad, &err), -1);
	CHECK(err.len > 0);
	free(bad);
	free(orphan);
	free(junk);
	free(alien);
	queue_env_free(&env);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

/* queue_enqueue_fd: headers, then the spool file's bytes (copied file
 * to file), the size counted; a short file queues nothing. */
UNIT_TEST(test_enqueue_from_fd)
{
	char *q = tmp_queue();
	struct buf err = BUF_INIT;
	size_t n = 300000;
	char *body = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	int fd = spool_open(q);
	CHECK(fd >= 0);
	CHECK_EQ_INT(spool_append(fd, body, n), 0);
	struct queue_env env;
	make_env(&env, "alice@local.example");
	CHECK_EQ_INT(queue_enqueue_fd(q, &env, STR_LIT("Received: by x\r\n"),
				      fd, n, &err), 0);
	CHECK_EQ_INT(env.size, 16 + n);
	struct queue_msg m;
	CHECK_EQ_INT(queue_msg_open(q, env.id, &m, &err), 0);
	CHECK_EQ_INT(m.len, 16 + n);
	CHECK(m.len == 16 + n && !memcmp(m.data, "Received: by x\r\n", 16) &&
	      !memcmp(m.data + 16, body, n));
	queue_msg_close(&m);
	queue_env_free(&env);
	make_env(&env, "alice@local.example");
	CHECK_EQ_INT(queue_enqueue_fd(q, &env, STR_LIT(""), fd, n + 1, &err),
		     -1);
	CHECK(!file_exists(q, "msg", env.id));
	CHECK(!file_exists(q, "env", env.id));
	queue_env_free(&env);
	close(fd);
	free(body);
	buf_free(&err);
	rm_rf(q);
	free(q);
}

UNIT_MAIN(test_enqueue_from_fd, test_ids, test_round_trip, test_update_list_remove,
	  test_hostile_values, test_dsn_params_on_disk, test_damaged,
	  test_damaged_on_disk, test_recover)
