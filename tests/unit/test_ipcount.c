#include "unit.h"

#include "net/ipcount.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ipcount_key key(const char *ip)
{
	struct ipcount_key k;
	CHECK(ipcount_key_ip(&k, IPCOUNT_PRELOGIN, ip));
	return k;
}

/* An IPv4 address other than ip whose probe chain starts at the same
 * slot: with an unkeyed hash bucket, it would have shared ip's count. */
static void colliding(const char *ip, char *out, size_t n)
{
	struct ipcount_key a = key(ip);
	for (unsigned i = 1; i < 1u << 20; i++) {
		snprintf(out, n, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255,
			 i & 255);
		struct ipcount_key b = key(out);
		if (ipcount_home(&b) == ipcount_home(&a) && strcmp(out, ip))
			return;
	}
	CHECK(!"no colliding address found");
}

UNIT_TEST(test_exact_addresses)
{
	CHECK_EQ_INT(ipcount_init(0), 0);
	struct ipcount_key a = key("192.0.2.1"), b = key("192.0.2.2");
	CHECK_EQ_INT(ipcount_add(&a, 0), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_add(&a, 0), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_get(&a), 2);
	CHECK_EQ_INT(ipcount_get(&b), 0);
	/* the IPv4-mapped form is the same address */
	struct ipcount_key m = key("::ffff:192.0.2.1");
	CHECK_EQ_INT(ipcount_get(&m), 2);
	ipcount_sub(&a);
	ipcount_sub(&m);
	CHECK_EQ_INT(ipcount_get(&a), 0);
	ipcount_sub(&a); /* never below zero */
	CHECK_EQ_INT(ipcount_get(&a), 0);
}

UNIT_TEST(test_colliding_addresses_do_not_share)
{
	char other[32];
	colliding("203.0.113.7", other, sizeof other);
	struct ipcount_key a = key("203.0.113.7"), b = key(other);
	CHECK_EQ_INT(ipcount_home(&a), ipcount_home(&b));
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(ipcount_add(&a, 3), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_add(&a, 3), IPCOUNT_OVER);
	/* the victim in the same chain keeps its whole budget */
	CHECK_EQ_INT(ipcount_get(&b), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(ipcount_add(&b, 3), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_get(&a), 3);
	CHECK_EQ_INT(ipcount_get(&b), 3);
	/* deleting the first of the chain keeps the second reachable */
	for (int i = 0; i < 3; i++)
		ipcount_sub(&a);
	CHECK_EQ_INT(ipcount_get(&a), 0);
	CHECK_EQ_INT(ipcount_get(&b), 3);
	for (int i = 0; i < 3; i++)
		ipcount_sub(&b);
	CHECK_EQ_INT(ipcount_get(&b), 0);
}

UNIT_TEST(test_ipv6_per_64)
{
	struct ipcount_key a = key("2001:db8:1:2::1");
	struct ipcount_key b = key("2001:db8:1:2:ffff:eeee:dddd:5");
	struct ipcount_key c = key("2001:db8:1:3::1");
	CHECK_EQ_INT(ipcount_add(&a, 2), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_add(&b, 2), IPCOUNT_OK);
	/* two addresses of one /64 share its count... */
	CHECK_EQ_INT(ipcount_get(&a), 2);
	CHECK_EQ_INT(ipcount_add(&a, 2), IPCOUNT_OVER);
	/* ...the next /64 does not */
	CHECK_EQ_INT(ipcount_add(&c, 2), IPCOUNT_OK);
	ipcount_sub(&a);
	ipcount_sub(&a);
	ipcount_sub(&c);
	CHECK_EQ_INT(ipcount_get(&b), 0);
	CHECK_EQ_INT(ipcount_get(&c), 0);
}

UNIT_TEST(test_user_keys)
{
	struct ipcount_key alice = key("198.51.100.1"), bob = alice,
			   alice_pop = alice, addr = alice;
	ipcount_key_user(&alice, IPCOUNT_USER_IMAP, "alice");
	ipcount_key_user(&bob, IPCOUNT_USER_IMAP, "bob");
	ipcount_key_user(&alice_pop, IPCOUNT_USER_POP3, "alice");
	CHECK_EQ_INT(ipcount_add(&alice, 1), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_add(&alice, 1), IPCOUNT_OVER);
	CHECK_EQ_INT(ipcount_add(&bob, 1), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_add(&alice_pop, 1), IPCOUNT_OK);
	CHECK_EQ_INT(ipcount_get(&addr), 0);
	ipcount_sub(&alice);
	ipcount_sub(&bob);
	ipcount_sub(&alice_pop);
}

UNIT_TEST(test_release_drops_a_dead_process)
{
	struct ipcount_key a = key("192.0.2.50");
	CHECK_EQ_INT(ipcount_add(&a, 0), IPCOUNT_OK);
	CHECK(ipcount_conn_open(0));
	pid_t pid = fork();
	if (pid == 0) {
		/* a worker: counts, then dies without taking anything back */
		for (int i = 0; i < 5; i++)
			ipcount_add(&a, 0);
		ipcount_conn_open(0);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK_EQ_INT(ipcount_get(&a), 6);
	CHECK_EQ_INT(ipcount_conn_total(), 2);
	ipcount_release(pid);
	CHECK_EQ_INT(ipcount_get(&a), 1);
	CHECK_EQ_INT(ipcount_conn_total(), 1);
	ipcount_sub(&a);
	ipcount_conn_close();
	CHECK_EQ_INT(ipcount_conn_total(), 0);
}

UNIT_TEST(test_server_total_and_full_table)
{
	CHECK(ipcount_conn_open(2));
	CHECK(ipcount_conn_open(2));
	CHECK(!ipcount_conn_open(2));
	ipcount_conn_close();
	CHECK(ipcount_conn_open(2));
	ipcount_conn_close();
	ipcount_conn_close();
	/* the table refuses past half full instead of growing chains */
	char ip[32];
	int ok = 0, full = 0;
	for (int i = 0; i < 1200; i++) {
		snprintf(ip, sizeof ip, "172.16.%d.%d", i / 256, i % 256);
		struct ipcount_key k = key(ip);
		enum ipcount_result r = ipcount_add(&k, 0);
		ok += r == IPCOUNT_OK;
		full += r == IPCOUNT_FULL;
	}
	CHECK_EQ_INT(ok, 512);
	CHECK_EQ_INT(full, 1200 - 512);
	for (int i = 0; i < 1200; i++) {
		snprintf(ip, sizeof ip, "172.16.%d.%d", i / 256, i % 256);
		struct ipcount_key k = key(ip);
		ipcount_sub(&k);
	}
	struct ipcount_key k = key("172.16.0.0");
	CHECK_EQ_INT(ipcount_add(&k, 0), IPCOUNT_OK);
	ipcount_sub(&k);
}

UNIT_MAIN(test_exact_addresses, test_colliding_addresses_do_not_share,
	  test_ipv6_per_64, test_user_keys, test_release_drops_a_dead_process,
	  test_server_total_and_full_table)
