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
#include "core/limits.h"
#include "core/log.h"
#include "tests/unit/unit.h"

#define DELAY_MS 300

static char dir[] = "/tmp/postern-authd-XXXXXX";
static char users_path[128];
static char aliases_path[128];
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

static void write_aliases(const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.new", aliases_path);
	FILE *f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	rename(tmp, aliases_path);
}

/* 40 users with 250-octet names: "big" expands to more than one reply
 * can carry. */
#define LONG_USERS 40
static void long_name(char *out, int i)
{
	snprintf(out, 252, "u%02d", i);
	memset(out + 3, 'x', 247);
	out[250] = '\0';
}

static const char *aliases_text(const char *team)
{
	static struct buf b = BUF_INIT;
	char name[256];
	buf_clear(&b);
	buf_printf(&b, "# test aliases\nteam: %s\n", team);
	buf_appends(&b, "loop1: loop2\nloop2: loop1\n"
			"info@test.example: bob\n"
			"big: big1, big2\n");
	for (int h = 0; h < 2; h++) {
		buf_printf(&b, "big%d:", h + 1);
		for (int i = h * LONG_USERS / 2; i < (h + 1) * LONG_USERS / 2; i++) {
			long_name(name, i);
			buf_printf(&b, " %s", name);
		}
		buf_appends(&b, "\n");
	}
	return buf_cstr(&b);
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
	struct buf text = BUF_INIT;
	buf_printf(&text,
		 "# test users\n"
		 "Alice:%s\n"
		 "bob:{PLAIN}tanstaaf::::::pop3_dele=hide\n"
		 "carol:{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n"
		 "tim:{PLAIN}tanstaaftanstaaf\n"
		 "sam@example.org:{PLAIN}sam-pw\n",
		 y);
	for (int i = 0; i < LONG_USERS; i++) {
		char name[256];
		long_name(name, i);
		buf_printf(&text, "%s:{PLAIN}pw\n", name);
	}
	free(y);
	write_users(buf_cstr(&text));
	buf_free(&text);
	snprintf(aliases_path, sizeof aliases_path, "%s/aliases", dir);
	write_aliases(aliases_text("alice, Bob"));
	cfg.users_file = users_path;
	cfg.aliases_file = aliases_path;
	cfg.local_domains = "";
	cfg.recipient_delimiter = "+";
	cfg.hostname = "test.example";
	cfg.auth_fail_delay_ms = DELAY_MS;
	cfg.auth_fail_limit = 3;
	cfg.auth_fail_delay_max_ms = 1500;
	cfg.auth_fail_window = 60;
	cfg.auth_flood_limit = 12;
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

static void run_at(struct outcome *o, const char *user, const char *secret,
		   const char *ip)
{
	start(o, AUTH_MECH_PASSWORD, user, secret, NULL, ip, NULL);
	wait_for(&o, 1);
	CHECK_EQ_INT(o->calls, 1);
}

/* A new auth process (a fresh limiter), ready for requests. */
static void restart_authd(void)
{
	struct outcome o;
	stop_authd();
	start_authd();
	usleep(100 * 1000);
	/* The first request notices the old one is gone. */
	for (int i = 0; i < 3; i++) {
		run_at(&o, "tim", "tanstaaftanstaaf", "192.0.2.254");
		if (o.status != AUTH_TEMPFAIL)
			break;
	}
	CHECK_EQ_INT(o.status, AUTH_OK);
}

/* Failures slow a (user, network) down; they never lock the owner out.
 * The limiter's own rules are in test_limiter.c; this is the timing. */
UNIT_TEST(test_slowed)
{
	struct outcome o, p;
	struct outcome *both[] = { &o, &p };
	char home[32], a[32], b[32];
	restart_authd();
	next_ip(home, sizeof home);
	next_ip(a, sizeof a);
	next_ip(b, sizeof b);
	/* alice logs in from home: a known pair from now on. (Both alice
	 * and the unknown user cost one yescrypt hash.) */
	run_at(&o, "alice", "yes-pw", home);
	CHECK_EQ_INT(o.status, AUTH_OK);
	/* Three free failures each: alice from a, and a user who does not
	 * exist from b. */
	for (int i = 0; i < 3; i++) {
		start(&o, AUTH_MECH_PASSWORD, "alice", "guess", NULL, a, NULL);
		start(&p, AUTH_MECH_PASSWORD, "nobody", "guess", NULL, b, NULL);
		wait_for(both, 2);
		CHECK_EQ_INT(o.status, AUTH_FAILED);
		CHECK_EQ_INT(p.status, AUTH_FAILED);
	}
	/* The fourth is 1 s later, for both alike. */
	start(&o, AUTH_MECH_PASSWORD, "alice", "guess", NULL, a, NULL);
	start(&p, AUTH_MECH_PASSWORD, "nobody", "guess", NULL, b, NULL);
	wait_for(both, 2);
	CHECK_EQ_INT(o.status, AUTH_FAILED);
	CHECK_EQ_INT(p.status, AUTH_FAILED);
	CHECK(o.ms >= 1000 + DELAY_MS - 5 && o.ms < 1000 + DELAY_MS + 1500);
	CHECK(p.ms >= 1000 + DELAY_MS - 5);
	/* The same time for both, unless a check took longer than the
	 * delay itself (a busy test machine): then it proves nothing. */
	double d = o.ms - p.ms;
	if (o.ms < 1000 + DELAY_MS + 100 && p.ms < 1000 + DELAY_MS + 100)
		CHECK(d < 60 && d > -60);
	else
		fprintf(stderr, "slowed: checks slower than the delay "
			"(%.1f ms, %.1f ms): timing not compared\n", o.ms, p.ms);
	/* The right password from there works, late (capped at 1.5 s). */
	run_at(&o, "Alice", "yes-pw", a);
	CHECK_EQ_INT(o.status, AUTH_OK);
	CHECK(o.ms >= 1500 - 5 && o.ms < 1500 + 1500);
	/* From home, at once: failures elsewhere do not count there. */
	run_at(&o, "alice", "yes-pw", home);
	CHECK_EQ_INT(o.status, AUTH_OK);
	CHECK(o.ms < 1000);
}

/* A network that floods is refused, even the right password; others are
 * not; its known pairs are not. */
UNIT_TEST(test_flood_blocked)
{
	struct outcome os[12], o;
	struct outcome *all[12];
	char ip[32], other[32], user[16];
	next_ip(ip, sizeof ip);
	next_ip(other, sizeof other);
	run_at(&o, "alice", "yes-pw", ip);
	CHECK_EQ_INT(o.status, AUTH_OK);
	/* 12 = cfg.auth_flood_limit */
	for (int i = 0; i < 12; i++) {
		snprintf(user, sizeof user, "x%d", i);
		all[i] = &os[i];
		start(&os[i], AUTH_MECH_PASSWORD, user, "g", NULL, ip, NULL);
	}
	wait_for(all, 12);
	CHECK_EQ_INT(os[11].status, AUTH_BLOCKED);
	CHECK_EQ_STR(os[11].reason, "net_flood");
	CHECK(os[11].ms >= DELAY_MS - 5);
	run_at(&o, "carol", "password", ip);
	CHECK_EQ_INT(o.status, AUTH_BLOCKED);
	CHECK_EQ_STR(o.reason, "net_flood");
	run_at(&o, "alice", "yes-pw", ip);
	CHECK_EQ_INT(o.status, AUTH_OK);
	run_at(&o, "carol", "password", other);
	CHECK_EQ_INT(o.status, AUTH_OK);
}

/* Hashing is shared out per network: a login from elsewhere does not
 * wait behind hundreds of checks from one flooding address, and that
 * address's excess is answered "try later" at once. (Before, every
 * request waited its turn in one queue.) */
UNIT_TEST(test_fair_hashing)
{
	enum { FLOOD = 600 };
	struct outcome *os = calloc(FLOOD, sizeof *os);
	struct outcome **all = calloc(FLOOD, sizeof *all);
	struct outcome o;
	char user[16];
	/* The limiter off, so that only the hashing bound is at work. */
	cfg.auth_fail_limit = 1000000;
	cfg.auth_flood_limit = 0;
	restart_authd();
	/* One yescrypt check, for scale (the test machine may be busy). */
	double one = 0;
	for (int k = 0; k < 2; k++) {
		run_at(&o, "alice", "yes-pw", "203.0.113.9");
		CHECK_EQ_INT(o.status, AUTH_OK);
		one = o.ms > one ? o.ms : one;
	}
	for (int i = 0; i < FLOOD; i++) {
		snprintf(user, sizeof user, "n%d", i);
		all[i] = &os[i];
		start(&os[i], AUTH_MECH_PASSWORD, user, "g", NULL,
		      "198.51.100.66", NULL);
	}
	/* While the flood is queued, logins from another address. */
	double worst = 0;
	for (int k = 0; k < 3; k++) {
		run_at(&o, "alice", "yes-pw", "203.0.113.9");
		CHECK_EQ_INT(o.status, AUTH_OK);
		if (o.ms > worst)
			worst = o.ms;
	}
	if (getenv("TEST_VERBOSE") || worst >= 4 * one + 500)
		fprintf(stderr, "fair: one check %.1f ms; a login during a "
			"flood of %d: %.1f ms\n", one, FLOOD, worst);
	CHECK(worst < 4 * one + 500);
	int busy = 0;
	for (int i = 0; i < FLOOD; i++)
		busy += os[i].calls && os[i].status == AUTH_TEMPFAIL &&
			strcmp(os[i].reason, "net_busy") == 0;
	CHECK(busy >= FLOOD - AUTH_NET_JOBS_MAX - 1);
	/* The rest are still waiting their turn: drop them. */
	stop_authd();
	wait_for(all, FLOOD);
	for (int i = 0; i < FLOOD; i++)
		CHECK_EQ_INT(os[i].calls, 1);
	cfg.auth_fail_limit = 3;
	cfg.auth_flood_limit = 12;
	restart_authd();
	free(os);
	free(all);
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

/* ---- recipient lookups ---- */

struct rcpt_outcome {
	int calls;
	bool in_call;
	enum auth_rcpt_status status;
	size_t n;
	char users[4][300];
	char reason[80];
};

static void on_rcpt(void *arg, const struct auth_rcpt_result *res)
{
	struct rcpt_outcome *o = arg;
	o->calls++;
	o->in_call = inside_verify;
	o->status = res->status;
	o->n = res->n_users;
	for (size_t i = 0; i < res->n_users && i < 4; i++)
		snprintf(o->users[i], sizeof o->users[i], "%s", res->users[i]);
	snprintf(o->reason, sizeof o->reason, "%s", res->reason);
}

static uint64_t rcpt_start(struct rcpt_outcome *o, const char *addr)
{
	memset(o, 0, sizeof *o);
	inside_verify = true;
	uint64_t id = auth_client_lookup_rcpt(ac, str_from_cstr(addr), "r1",
					      on_rcpt, o);
	inside_verify = false;
	CHECK(id != 0);
	return id;
}

static void rcpt_wait(struct rcpt_outcome *o)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (o->calls == 0 && ms_since(&t0) < 10000)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(o->calls, 1);
	CHECK(!o->in_call);
}

static void rcpt(struct rcpt_outcome *o, const char *addr)
{
	rcpt_start(o, addr);
	rcpt_wait(o);
}

UNIT_TEST(test_rcpt)
{
	struct rcpt_outcome o;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rcpt(&o, "alice@localhost");
	CHECK(ms_since(&t0) < DELAY_MS); /* no failure delay */
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_INT(o.n, 1);
	CHECK_EQ_STR(o.users[0], "Alice");
	rcpt(&o, "postmaster");
	CHECK_EQ_INT(o.status, AUTH_RCPT_UNKNOWN);
	rcpt(&o, "tim");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "tim");
	/* A user named as an address; its domain is local. */
	rcpt(&o, "SAM@example.org");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "sam@example.org");
	/* Plus-addressing, at the hostname. */
	rcpt(&o, "alice+lists@test.example");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "Alice");
	/* An alias with two targets. */
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_INT(o.n, 2);
	CHECK_EQ_STR(o.users[0], "Alice");
	CHECK_EQ_STR(o.users[1], "bob");
	rcpt(&o, "info@test.example");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "bob");
	/* Unknown at a local domain; a domain that is not ours. */
	rcpt(&o, "nobody@example.org");
	CHECK_EQ_INT(o.status, AUTH_RCPT_UNKNOWN);
	CHECK_EQ_INT(o.n, 0);
	CHECK_EQ_STR(o.reason, "unknown_user");
	rcpt(&o, "alice@elsewhere.test");
	CHECK_EQ_INT(o.status, AUTH_RCPT_NOT_LOCAL);
	CHECK_EQ_INT(o.n, 0);
	/* An alias loop is an error of the aliases file. */
	rcpt(&o, "loop1@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_ERROR);
	CHECK_EQ_INT(o.n, 0);
	CHECK_EQ_STR(o.reason, "alias_error");
	/* 40 names of 250 octets do not fit one IPC message. */
	rcpt(&o, "big@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_ERROR);
	CHECK_EQ_STR(o.reason, "too_many_targets");
	rcpt(&o, "big1@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_INT(o.n, LONG_USERS / 2);
	/* Refused by the client itself, still never from inside the call. */
	char longaddr[600];
	memset(longaddr, 'a', sizeof longaddr - 1);
	longaddr[sizeof longaddr - 1] = '\0';
	rcpt(&o, longaddr);
	CHECK_EQ_INT(o.status, AUTH_RCPT_UNKNOWN);
	CHECK_EQ_STR(o.reason, "address_too_long");
	rcpt(&o, "a\r\nb@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_UNKNOWN);
	/* Password checks and lookups interleave on one connection. */
	struct outcome v;
	char ip[32];
	next_ip(ip, sizeof ip);
	start(&v, AUTH_MECH_PASSWORD, "bob", "tanstaaf", NULL, ip, NULL);
	rcpt(&o, "bob");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	struct outcome *p = &v;
	wait_for(&p, 1);
	CHECK_EQ_INT(v.status, AUTH_OK);
}

UNIT_TEST(test_rcpt_cancel)
{
	struct rcpt_outcome a, b;
	uint64_t id = rcpt_start(&a, "alice@localhost");
	rcpt_start(&b, "bob@localhost");
	CHECK(b.calls == 0);
	auth_client_cancel(ac, id);
	rcpt_wait(&b);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 100)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(a.calls, 0);
	CHECK_EQ_INT(b.status, AUTH_RCPT_LOCAL);
}

UNIT_TEST(test_rcpt_reload)
{
	struct rcpt_outcome o;
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.n, 2);
	usleep(1100 * 1000);
	write_aliases(aliases_text("carol"));
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_INT(o.n, 1);
	CHECK_EQ_STR(o.users[0], "carol");
	/* A broken file is logged and the old set kept. */
	usleep(1100 * 1000);
	write_aliases("team: carol\nteam: bob\n");
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "carol");
	/* SIGHUP re-reads at once. */
	write_aliases(aliases_text("tim"));
	kill(child, SIGHUP);
	usleep(200 * 1000);
	rcpt(&o, "team@localhost");
	CHECK_EQ_STR(o.users[0], "tim");
	/* A removed file is no aliases; users still resolve. */
	usleep(1100 * 1000);
	unlink(aliases_path);
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_UNKNOWN);
	rcpt(&o, "tim@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	/* A users file change rebuilds the resolver too. */
	usleep(1100 * 1000);
	write_aliases(aliases_text("alice, bob"));
	struct buf text = BUF_INIT;
	CHECK(users_read_file(users_path, USERS_FILE_MAX, &text) == 0);
	buf_appends(&text, "frank:{PLAIN}f-pw\n");
	write_users(buf_cstr(&text));
	buf_free(&text);
	rcpt(&o, "frank@test.example");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
	CHECK_EQ_STR(o.users[0], "frank");
	rcpt(&o, "team@localhost");
	CHECK_EQ_INT(o.n, 2);
}

UNIT_TEST(test_rcpt_unavailable)
{
	struct rcpt_outcome o;
	/* A lookup in flight when the auth process dies. */
	kill(child, SIGSTOP);
	rcpt_start(&o, "alice@localhost");
	usleep(50 * 1000);
	kill(child, SIGKILL);
	int st;
	waitpid(child, &st, 0);
	child = -1;
	rcpt_wait(&o);
	CHECK_EQ_INT(o.status, AUTH_RCPT_TEMPFAIL);
	CHECK_EQ_STR(o.reason, "auth_unavailable");
	/* Nobody listening. */
	rcpt(&o, "alice@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_TEMPFAIL);
	/* Back again. */
	start_authd();
	usleep(100 * 1000);
	rcpt(&o, "alice@localhost");
	CHECK_EQ_INT(o.status, AUTH_RCPT_LOCAL);
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
	unlink(aliases_path);
	rmdir(dir);
}

UNIT_MAIN(test_ok, test_failed_timing, test_apop_cram, test_slowed,
	  test_flood_blocked, test_fair_hashing,
	  test_authzid, test_cancel, test_reload, test_rcpt, test_rcpt_cancel,
	  test_rcpt_reload, test_rcpt_unavailable, test_unavailable)
