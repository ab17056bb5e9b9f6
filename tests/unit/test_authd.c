/* The auth process and the worker's auth client, together, over a real
 * abstract SOCK_SEQPACKET socket: an authd runs in a forked child. */
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_client.h"
#include "auth/authd.h"
#include "auth/passwd.h"
#include "auth/sasl.h"
#include "auth/users.h"
#include "core/log.h"
#include "tests/unit/unit.h"

#define DELAY_MS 300

static char dir[] = "/tmp/postern-authd-XXXXXX";
static char users_path[128];
static char sock_name[64];
static struct config cfg;
static pid_t child = -1;
static struct event_base *base;
static struct auth_client *ac;
static int ip_seq;

struct outcome {
	int calls;
	enum auth_status status;
	char user[300];
	char reason[80];
	enum pop3_dele_mode dele;
	double ms;
	struct timespec start;
	bool in_verify;
};
static bool inside_verify;

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1000.0 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_done(void *arg, const struct auth_result *res)
{
	struct outcome *o = arg;
	o->calls++;
	o->in_verify = inside_verify;
	o->status = res->status;
	snprintf(o->user, sizeof o->user, "%s", res->user);
	snprintf(o->reason, sizeof o->reason, "%s", res->reason);
	o->dele = res->pop3_dele_mode;
	o->ms = ms_since(&o->start);
}

static void write_users(const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.new", users_path);
	FILE *f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	rename(tmp, users_path);
}

static void start_authd(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(sock_name);
	memcpy(sa.sun_path + 1, sock_name, n);
	if (fd < 0 ||
	    bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0 ||
	    listen(fd, 16) < 0) {
		perror("authd socket");
		exit(1);
	}
	child = fork();
	if (child == 0) {
		log_init("auth");
		_exit(authd_run(&cfg, fd));
	}
	close(fd);
}

static void stop_authd(void)
{
	int st;
	if (child <= 0)
		return;
	kill(child, SIGTERM);
	waitpid(child, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	child = -1;
}

static void next_ip(char *buf, size_t n)
{
	snprintf(buf, n, "192.0.2.%d", ++ip_seq);
}

static void start(struct outcome *o, enum auth_mech mech, const char *user,
		  const char *secret, const char *challenge, const char *ip,
		  uint64_t *id)
{
	memset(o, 0, sizeof *o);
	clock_gettime(CLOCK_MONOTONIC, &o->start);
	struct auth_request req = {
		.mech = mech,
		.service = "pop3",
		.authzid = { "", 0 },
		.user = str_from_cstr(user),
		.secret = str_from_cstr(secret),
		.challenge = str_from_cstr(challenge ? challenge : ""),
		.remote_ip = ip,
		.session_id = "t1",
		.secured = true,
	};
	inside_verify = true;
	uint64_t i = auth_client_verify(ac, &req, on_done, o);
	inside_verify = false;
	CHECK(i != 0);
	if (id)
		*id = i;
}

static void wait_for(struct outcome **os, int n)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int done = 0;
		for (int i = 0; i < n; i++)
			done += os[i]->calls;
		if (done >= n || ms_since(&t0) > 10000)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static void run(struct outcome *o, enum auth_mech mech, const char *user,
		const char *secret, const char *challenge)
{
	char ip[32];
	next_ip(ip, sizeof ip);
	start(o, mech, user, secret, challenge, ip, NULL);
	wait_for(&o, 1);
	CHECK_EQ_INT(o->calls, 1);
	CHECK(!o->in_verify);
}

static void setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(users_path, sizeof users_path, "%s/users", dir);
	snprintf(sock_name, sizeof sock_name, "postern-test-authd-%ld",
		 (long)getpid());
	char *y = passwd_hash(PASSWD_YESCRYPT, STR_LIT("yes-pw"));
	char text[1024];
	snprintf(text, sizeof text,
		 "# test users\n"
		 "Alice:%s\n"
		 "bob:{PLAIN}tanstaaf::::::pop3_dele=hide\n"
		 "carol:{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n"
		 "tim:{PLAIN}tanstaaftanstaaf\n",
		 y);
	free(y);
	write_users(text);
	cfg.users_file = users_path;
	cfg.hostname = "test.example";
	cfg.auth_fail_delay_ms = DELAY_MS;
	cfg.auth_fail_limit = 3;
	cfg.auth_fail_window = 60;
	cfg.auth_block_time = 60;
	cfg.pop3_dele_mode = POP3_DELE_EXPUNGE;
	log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);
	start_authd();
	base = event_base_new();
	ac = auth_client_new(base, sock_name);
}

UNIT_TEST(test_ok)
{
	setup();
	struct outcome o;
	run(&o, AUTH_MECH_PASSWORD, "alice", "yes-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	CHECK_EQ_STR(o.user, "Alice");
	CHECK_EQ_INT(o.dele, POP3_DELE_EXPUNGE);
	CHECK(o.ms < DELAY_MS);
	run(&o, AUTH_MECH_PASSWORD, "BOB", "tanstaaf", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	CHECK_EQ_STR(o.user, "bob");
	CHECK_EQ_INT(o.dele, POP3_DELE_HIDE);
	run(&o, AUTH_MECH_PASSWORD, "carol", "password", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
}

UNIT_TEST(test_failed_timing)
{
	struct outcome a, b, c;
	struct outcome *all[] = { &a, &b, &c };
	char ip1[32], ip2[32], ip3[32];
	next_ip(ip1, sizeof ip1);
	next_ip(ip2, sizeof ip2);
	next_ip(ip3, sizeof ip3);
	start(&a, AUTH_MECH_PASSWORD, "alice", "wrong", NULL, ip1, NULL);
	start(&b, AUTH_MECH_PASSWORD, "nobody", "wrong", NULL, ip2, NULL);
	start(&c, AUTH_MECH_PASSWORD, "tim", "wrong", NULL, ip3, NULL);
	wait_for(all, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(all[i]->calls, 1);
		CHECK_EQ_INT(all[i]->status, AUTH_FAILED);
		CHECK_EQ_STR(all[i]->user, "");
		/* Not before the delay; not much after it either (the
		 * bound is loose for loaded test machines). */
		CHECK(all[i]->ms >= DELAY_MS - 5 && all[i]->ms < DELAY_MS + 2000);
	}
	CHECK_EQ_STR(a.reason, "bad_password");
	CHECK_EQ_STR(b.reason, "unknown_user");
	double d = a.ms - b.ms;
	if (!(d < 60 && d > -60))
		fprintf(stderr, "bad_password %.1f ms, unknown_user %.1f ms\n",
			a.ms, b.ms);
	CHECK(d < 60 && d > -60);
}

UNIT_TEST(test_apop_cram)
{
	struct outcome o;
	/* RFC 1939 section 7's example, for a {PLAIN} account. */
	run(&o, AUTH_MECH_APOP, "bob", "c4c9334bac560ecc979e58001b3e22fb",
	    "<1896.697170952@dbc.mtview.ca.us>");
	CHECK_EQ_INT(o.status, AUTH_OK);
	run(&o, AUTH_MECH_APOP, "bob", "c4c9334bac560ecc979e58001b3e22fc",
	    "<1896.697170952@dbc.mtview.ca.us>");
	CHECK_EQ_INT(o.status, AUTH_FAILED);
	CHECK(o.ms >= DELAY_MS - 5);
	run(&o, AUTH_MECH_APOP, "alice", "c4c9334bac560ecc979e58001b3e22fb",
	    "<1896.697170952@dbc.mtview.ca.us>");
	CHECK_EQ_INT(o.status, AUTH_FAILED);
	CHECK_EQ_STR(o.reason, "scheme");
	CHECK(o.ms >= DELAY_MS - 5);
	/* RFC 2195's example. */
	run(&o, AUTH_MECH_CRAM_MD5, "tim", "b913a602c7eda7a495b4e6e7334d3890",
	    "<1896.697170952@postoffice.reston.mci.net>");
	CHECK_EQ_INT(o.status, AUTH_OK);
	CHECK_EQ_STR(o.user, "tim");
}

UNIT_TEST(test_blocked)
{
	struct outcome o;
	for (int i = 0; i < 3; i++) {
		run(&o, AUTH_MECH_PASSWORD, "carol", "guess", NULL);
		CHECK_EQ_INT(o.status, AUTH_FAILED);
	}
	/* Right password, but carol is blocked now. */
	run(&o, AUTH_MECH_PASSWORD, "Carol", "password", NULL);
	CHECK_EQ_INT(o.status, AUTH_BLOCKED);
	CHECK_EQ_STR(o.reason, "blocked_user");
	CHECK(o.ms >= DELAY_MS - 5 && o.ms < DELAY_MS + 500);
	/* Per IP. */
	char ip[32];
	next_ip(ip, sizeof ip);
	for (int i = 0; i < 3; i++) {
		start(&o, AUTH_MECH_PASSWORD, i == 1 ? "x" : "y", "g", NULL, ip,
		      NULL);
		struct outcome *p = &o;
		wait_for(&p, 1);
	}
	start(&o, AUTH_MECH_PASSWORD, "alice", "yes-pw", NULL, ip, NULL);
	struct outcome *p = &o;
	wait_for(&p, 1);
	CHECK_EQ_INT(o.status, AUTH_BLOCKED);
	CHECK_EQ_STR(o.reason, "blocked_ip");
}

UNIT_TEST(test_authzid)
{
	struct outcome o;
	memset(&o, 0, sizeof o);
	clock_gettime(CLOCK_MONOTONIC, &o.start);
	struct auth_request req = {
		.mech = AUTH_MECH_PASSWORD, .service = "imap",
		.authzid = STR_LIT("bob"), .user = STR_LIT("tim"),
		.secret = STR_LIT("tanstaaftanstaaf"), .remote_ip = "198.51.100.1",
		.session_id = "s",
	};
	auth_client_verify(ac, &req, on_done, &o);
	struct outcome *p = &o;
	wait_for(&p, 1);
	CHECK_EQ_INT(o.status, AUTH_FAILED);
	CHECK_EQ_STR(o.reason, "authzid");
	memset(&o, 0, sizeof o);
	req.authzid = STR_LIT("TIM");
	auth_client_verify(ac, &req, on_done, &o);
	wait_for(&p, 1);
	CHECK_EQ_INT(o.status, AUTH_OK);
}

UNIT_TEST(test_cancel)
{
	struct outcome a, b;
	uint64_t id;
	char ip[32];
	next_ip(ip, sizeof ip);
	start(&a, AUTH_MECH_PASSWORD, "bob", "wrong", NULL, ip, &id);
	start(&b, AUTH_MECH_PASSWORD, "bob", "tanstaaf", NULL, ip, NULL);
	auth_client_cancel(ac, id);
	struct outcome *p = &b;
	wait_for(&p, 1);
	/* Give a's reply time to arrive and be dropped. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < DELAY_MS + 100)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(a.calls, 0);
	CHECK_EQ_INT(b.calls, 1);
	CHECK_EQ_INT(b.status, AUTH_OK);
}

UNIT_TEST(test_reload)
{
	struct outcome o;
	run(&o, AUTH_MECH_PASSWORD, "dave", "d-pw", NULL);
	CHECK_EQ_STR(o.reason, "unknown_user");
	sleep(1);
	struct buf text = BUF_INIT;
	CHECK(users_read_file(users_path, USERS_FILE_MAX, &text) == 0);
	buf_appends(&text, "dave:{PLAIN}d-pw\n");
	write_users(buf_cstr(&text));
	run(&o, AUTH_MECH_PASSWORD, "dave", "d-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	/* A broken file is ignored: the old one stays. */
	sleep(1);
	write_users("broken line\n");
	run(&o, AUTH_MECH_PASSWORD, "dave", "d-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	/* SIGHUP re-reads at once. */
	buf_appends(&text, "erin:{PLAIN}e-pw\n");
	write_users(buf_cstr(&text));
	kill(child, SIGHUP);
	usleep(200 * 1000);
	run(&o, AUTH_MECH_PASSWORD, "erin", "e-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	buf_free(&text);
}

UNIT_TEST(test_unavailable)
{
	struct outcome o;
	char ip[32];
	next_ip(ip, sizeof ip);
	/* A request in flight when the auth process goes away. */
	start(&o, AUTH_MECH_PASSWORD, "alice", "wrong", NULL, ip, NULL);
	usleep(50 * 1000);
	stop_authd();
	struct outcome *p = &o;
	wait_for(&p, 1);
	CHECK_EQ_INT(o.calls, 1);
	CHECK_EQ_INT(o.status, AUTH_TEMPFAIL);
	CHECK_EQ_STR(o.reason, "auth_unavailable");
	/* Nobody listening: fails, but never from inside verify(). */
	run(&o, AUTH_MECH_PASSWORD, "alice", "yes-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_TEMPFAIL);
	/* It reconnects when the auth process is back. */
	start_authd();
	usleep(100 * 1000);
	run(&o, AUTH_MECH_PASSWORD, "alice", "yes-pw", NULL);
	CHECK_EQ_INT(o.status, AUTH_OK);
	/* Freeing with a request pending: done() is never called. */
	start(&o, AUTH_MECH_PASSWORD, "alice", "wrong", NULL, ip, NULL);
	auth_client_free(&ac);
	CHECK(ac == NULL);
	stop_authd();
	event_base_free(base);
	CHECK_EQ_INT(o.calls, 0);
	unlink(users_path);
	rmdir(dir);
}

UNIT_MAIN(test_ok, test_failed_timing, test_apop_cram, test_blocked,
	  test_authzid, test_cancel, test_reload, test_unavailable)
