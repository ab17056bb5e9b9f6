/* The login limiter, with the clock passed in. */
#include <stdio.h>

#include "auth/limiter.h"
#include "tests/unit/unit.h"

#define DAY 86400

static struct limiter *mk(int free, int flood)
{
	struct limiter_params p = {
		.free_tries = free,
		.window = 60,
		.delay_max_ms = 15000,
		.flood = flood,
		.block_time = 300,
		.known_ttl = 30 * DAY,
	};
	return limiter_new(&p);
}

static int attempt(struct limiter *l, const char *ip, const char *user,
		   time_t t, struct limiter_verdict *v)
{
	struct limiter_verdict tmp;
	if (!v)
		v = &tmp;
	limiter_attempt(l, ip, str_from_cstr(user), t, v);
	return v->blocked ? -1 : v->delay_ms;
}

/* Failures slow down, from free_tries on, doubling up to the cap; the
 * right password still gets through, late. */
UNIT_TEST(test_slow_down_not_refuse)
{
	struct limiter *l = mk(3, 0);
	time_t t = 1000;
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "Alice", t, NULL), 0);
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, NULL), 0);
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "ALICE", t, NULL), 0);
	struct limiter_verdict v;
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, &v), 1000);
	CHECK_EQ_STR(v.reason, "user_net");
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, NULL), 2000);
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, NULL), 4000);
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, NULL), 8000);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t, NULL), 15000);
	/* Another user from there: only the network's count, which starts
	 * later (NET_FACTOR). */
	CHECK(attempt(l, "1.1.1.1", "bob", t, &v) == 15000);
	CHECK_EQ_STR(v.reason, "net");
	/* The window ends. */
	CHECK_EQ_INT(attempt(l, "1.1.1.1", "alice", t + 61, NULL), 0);
	limiter_free(&l);
}

/* Ten failures from anywhere no longer lock the owner out: a network
 * that logged in before has its own budget. */
UNIT_TEST(test_known_network_unaffected)
{
	struct limiter *l = mk(3, 50);
	time_t t = 1000;
	attempt(l, "10.0.0.1", "alice", t, NULL);
	limiter_success(l, "10.0.0.1", STR_LIT("Alice"), t);
	CHECK(limiter_known(l, "10.0.0.1", STR_LIT("alice"), t + 1));
	CHECK(!limiter_known(l, "10.0.0.2", STR_LIT("alice"), t + 1));
	CHECK(!limiter_known(l, "10.0.0.1", STR_LIT("bob"), t + 1));
	/* 30 failures for alice from 192.0.2.7, and many from a botnet. */
	for (int i = 0; i < 30; i++)
		attempt(l, "192.0.2.7", "alice", t + 2, NULL);
	for (int i = 0; i < 30; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "198.51.100.%d", i);
		attempt(l, ip, "alice", t + 2, NULL);
	}
	struct limiter_verdict v;
	CHECK_EQ_INT(attempt(l, "10.0.0.1", "ALICE", t + 3, &v), 0);
	CHECK(v.known);
	/* A new network is slowed by the user's count, not refused. */
	CHECK_EQ_INT(attempt(l, "203.0.113.1", "alice", t + 3, &v), 15000);
	CHECK(!v.known);
	CHECK_EQ_STR(v.reason, "user");
	/* The attacker's own network: slowed, never refused for alice. */
	CHECK_EQ_INT(attempt(l, "192.0.2.7", "alice", t + 3, &v), 15000);
	CHECK(!v.blocked);
	/* Its success clears its pair count and makes it known. */
	limiter_success(l, "192.0.2.7", STR_LIT("alice"), t + 3);
	CHECK_EQ_INT(attempt(l, "192.0.2.7", "alice", t + 4, &v), 0);
	CHECK(v.known);
	/* Memories fade. */
	CHECK(!limiter_known(l, "10.0.0.1", STR_LIT("alice"), t + 31 * DAY));
	limiter_free(&l);
}

/* The known pair's own failures still slow it down. */
UNIT_TEST(test_known_pair_own_budget)
{
	struct limiter *l = mk(2, 5);
	limiter_success(l, "10.0.0.1", STR_LIT("alice"), 10);
	CHECK_EQ_INT(attempt(l, "10.0.0.1", "alice", 11, NULL), 0);
	CHECK_EQ_INT(attempt(l, "10.0.0.1", "alice", 11, NULL), 0);
	CHECK_EQ_INT(attempt(l, "10.0.0.1", "alice", 11, NULL), 1000);
	/* ... and are not refused even when its network floods. */
	for (int i = 0; i < 10; i++)
		attempt(l, "10.0.0.1", "x", 12, NULL);
	CHECK_EQ_INT(attempt(l, "10.0.0.1", "y", 12, NULL), -1);
	CHECK(attempt(l, "10.0.0.1", "alice", 12, NULL) > 0);
	limiter_free(&l);
}

/* Unknown user and wrong password count the same: nothing here knows
 * which names exist. Success undoes the attempt's counts. */
UNIT_TEST(test_success_undoes)
{
	struct limiter *l = mk(2, 0);
	for (int i = 0; i < 5; i++) {
		attempt(l, "a", "u", 10, NULL);
		limiter_success(l, "a", STR_LIT("u"), 10);
	}
	CHECK_EQ_INT(limiter_size(l), 0);
	CHECK_EQ_INT(limiter_known_size(l), 1);
	limiter_free(&l);
}

/* A flooding network is refused, with the reason; others are not. */
UNIT_TEST(test_flood)
{
	struct limiter *l = mk(3, 20);
	struct limiter_verdict v;
	char user[32];
	int first = -1;
	for (int i = 0; i < 25; i++) {
		snprintf(user, sizeof user, "u%d", i);
		attempt(l, "192.0.2.1", user, 100, &v);
		if (v.flood_started)
			first = i;
	}
	CHECK_EQ_INT(first, 19);
	CHECK_EQ_INT(attempt(l, "192.0.2.1", "alice", 101, &v), -1);
	CHECK_EQ_STR(v.reason, "net_flood");
	CHECK(!v.flood_started);
	CHECK_EQ_INT(attempt(l, "192.0.2.2", "alice", 101, NULL), 0);
	/* The block ends after block_time. */
	CHECK_EQ_INT(attempt(l, "192.0.2.1", "alice", 100 + 300, NULL), 0);
	limiter_free(&l);
}

/* IPv6: a /64 is one network; a /56 floods at WIDE_FACTOR times. */
UNIT_TEST(test_ipv6_prefixes)
{
	char net[LIMITER_NET_MAX];
	limiter_net_of("2001:db8:1:2:3:4:5:6", 64, net);
	CHECK_EQ_STR(net, "2001:db8:1:2::/64");
	limiter_net_of("2001:db8:1:2ff:3:4:5:6", 56, net);
	CHECK_EQ_STR(net, "2001:db8:1:200::/56");
	limiter_net_of("::ffff:192.0.2.9", 64, net);
	CHECK_EQ_STR(net, "192.0.2.9");
	limiter_net_of("192.0.2.9", 56, net);
	CHECK_EQ_STR(net, "192.0.2.9");
	limiter_net_of("unix", 64, net);
	CHECK_EQ_STR(net, "unix");

	struct limiter *l = mk(3, 10);
	/* Three addresses of one /64 share alice's budget. */
	attempt(l, "2001:db8:0:1::1", "alice", 10, NULL);
	attempt(l, "2001:db8:0:1::2", "alice", 10, NULL);
	attempt(l, "2001:db8:0:1:ffff:ffff:ffff:ffff", "alice", 10, NULL);
	struct limiter_verdict v;
	CHECK_EQ_INT(attempt(l, "2001:db8:0:1:abcd::9", "alice", 10, &v),
		     1000);
	CHECK_EQ_STR(v.reason, "user_net");
	/* The next /64 is another network (alice's user count is at 4:
	 * slowed for that, not for the pair). */
	CHECK_EQ_INT(attempt(l, "2001:db8:0:2::1", "bob", 10, NULL), 0);
	/* The /64 floods after 10 (4 so far + 6). */
	for (int i = 0; i < 5; i++)
		CHECK(attempt(l, "2001:db8:0:1::77", "x", 10, NULL) >= 0);
	CHECK_EQ_INT(attempt(l, "2001:db8:0:1::78", "y", 10, &v), -1);
	CHECK_EQ_STR(v.reason, "net_flood");
	CHECK_EQ_INT(attempt(l, "2001:db8:0:1::1", "bob", 10, NULL), -1);
	/* Walking through the /64s of one /56: the /56 floods at 40. */
	int blocked_at = -1;
	for (int i = 0; i < 60 && blocked_at < 0; i++) {
		char ip[64];
		snprintf(ip, sizeof ip, "2001:db8:0:%x::1", 0x10 + i % 32);
		attempt(l, ip, "x", 11, &v);
		if (v.blocked)
			blocked_at = i;
	}
	/* 11 attempts counted in the /56 so far (0:1 and 0:2 are in
	 * 0:0/56; refused ones do not count). */
	CHECK_EQ_INT(blocked_at, 40 - 11 - 1);
	CHECK_EQ_STR(v.reason, "wide_flood");
	CHECK_EQ_INT(attempt(l, "2001:db8:0:ff::1", "z", 11, NULL), -1);
	CHECK_EQ_INT(attempt(l, "2001:db8:0:100::1", "z", 11, NULL), 0);
	limiter_free(&l);
}

UNIT_TEST(test_disabled)
{
	struct limiter *l = mk(0, 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(attempt(l, "a", "u", 10, NULL), 0);
	limiter_free(&l);
}

UNIT_TEST(test_bounded)
{
	struct limiter_params p = {
		.free_tries = 2, .window = 60, .delay_max_ms = 15000,
		.flood = 0, .block_time = 300, .max_entries = 100,
		.max_known = 10, .known_ttl = DAY,
	};
	struct limiter *l = limiter_new(&p);
	char ip[32];
	limiter_success(l, "victim", STR_LIT("alice"), 5);
	for (int i = 0; i < 10000; i++) {
		snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
		attempt(l, ip, "alice", 7, NULL);
		CHECK(limiter_size(l) <= 100);
	}
	/* Failures never evict a known pair; only other successes do. */
	CHECK(limiter_known(l, "victim", STR_LIT("alice"), 8));
	for (int i = 0; i < 20; i++) {
		snprintf(ip, sizeof ip, "10.1.0.%d", i);
		limiter_success(l, ip, STR_LIT("bob"), 8);
		CHECK(limiter_known_size(l) <= 10);
	}
	CHECK(!limiter_known(l, "victim", STR_LIT("alice"), 8));
	/* Long user names are fine. */
	char name[600];
	memset(name, 'x', sizeof name);
	limiter_attempt(l, "z", str_make(name, sizeof name), 9,
			&(struct limiter_verdict){ 0 });
	limiter_success(l, "z", str_make(name, sizeof name), 9);
	limiter_free(&l);
	CHECK(l == NULL);
}

/* Known pairs outlive the process: exported as ages, imported into a
 * new limiter whose clock starts elsewhere (a reboot), in the same
 * order; expired and malformed lines are left out. */
UNIT_TEST(test_known_export_import)
{
	struct limiter *a = mk(3, 0);
	limiter_success(a, "10.0.0.1", STR_LIT("Alice"), 100);
	limiter_success(a, "2001:db8:1:2::7", STR_LIT("bob"), 200);
	limiter_success(a, "10.0.0.9", STR_LIT("carol"), 300);
	struct buf out = BUF_INIT;
	/* alice's success is over 30 days old by now: not exported */
	limiter_known_export(a, 300 + 30 * DAY - 150, &out);
	CHECK(out.len > 0);
	limiter_free(&a);

	struct limiter *b = mk(3, 0);
	time_t t = 7;
	CHECK_EQ_INT((int)limiter_known_import(b, out.data, out.len, t), 2);
	CHECK(!limiter_known(b, "10.0.0.1", STR_LIT("alice"), t));
	CHECK(limiter_known(b, "2001:db8:1:2::99", STR_LIT("bob"), t));
	CHECK(limiter_known(b, "10.0.0.9", STR_LIT("carol"), t));
	/* their ages came along: bob's 30 days - 50 s, carol's - 150 s */
	CHECK(limiter_known(b, "2001:db8:1:2::1", STR_LIT("bob"), t + 49));
	CHECK(!limiter_known(b, "2001:db8:1:2::1", STR_LIT("bob"), t + 50));
	CHECK(limiter_known(b, "10.0.0.9", STR_LIT("carol"), t + 149));
	limiter_free(&b);

	/* Fresh pairs come back known, and judged by their own budget. */
	a = mk(3, 0);
	limiter_success(a, "10.0.0.1", STR_LIT("alice"), 100);
	buf_clear(&out);
	limiter_known_export(a, 160, &out);
	limiter_free(&a);
	b = mk(3, 0);
	CHECK_EQ_INT((int)limiter_known_import(b, out.data, out.len, 1), 1);
	for (int i = 0; i < 20; i++)
		attempt(b, "192.0.2.66", "alice", 2, NULL);
	struct limiter_verdict v;
	CHECK_EQ_INT(attempt(b, "10.0.0.1", "alice", 2, &v), 0);
	CHECK(v.known);

	/* Junk is skipped, line by line; a cut last line is not a pair. */
	static const char junk[] =
		"x 6b3a31\n"            /* not an age */
		"5\n"                   /* no key */
		"5 6b3a\n"              /* no NUL, no user */
		"5 6b3a3100616c\n"      /* "k:1" NUL "al": fine */
		"5 6a3a3100616c\n"      /* kind 'j' */
		"5 6b3a3100616\n"       /* odd hex */
		"5 6B3A3100616C\n"      /* upper-case hex */
		"5 6b3a00616c\n"        /* empty network */
		"5 6b3a3100\n"          /* empty user */
		"99999999999999 6b3a3100616c\n"
		"5 6b3a3200616c";         /* cut */
	CHECK_EQ_INT((int)limiter_known_import(b, junk, sizeof junk - 1, 1), 1);
	CHECK(limiter_known(b, "1", STR_LIT("al"), 1));
	CHECK(!limiter_known(b, "2", STR_LIT("al"), 1));
	limiter_free(&b);
	buf_free(&out);
}

UNIT_MAIN(test_known_export_import, test_slow_down_not_refuse, test_known_network_unaffected,
	  test_known_pair_own_budget, test_success_undoes, test_flood,
	  test_ipv6_prefixes, test_disabled, test_bounded)
