/* The login limiter, with the clock passed in. */
#include <stdio.h>

#include "auth/limiter.h"
#include "tests/unit/unit.h"

UNIT_TEST(test_block_by_user)
{
	struct limiter *l = limiter_new(3, 60, 300, 0);
	struct str u = STR_LIT("Alice");
	time_t t = 1000;
	CHECK(limiter_check(l, "1.1.1.1", u, t) == LIMITER_OK);
	limiter_fail(l, "1.1.1.1", u, t);
	limiter_fail(l, "2.2.2.2", STR_LIT("alice"), t + 1);
	CHECK(limiter_check(l, "3.3.3.3", u, t + 2) == LIMITER_OK);
	limiter_fail(l, "3.3.3.3", STR_LIT("ALICE"), t + 2);
	CHECK(limiter_check(l, "4.4.4.4", u, t + 3) == LIMITER_BLOCKED_USER);
	CHECK(limiter_check(l, "4.4.4.4", STR_LIT("bob"), t + 3) == LIMITER_OK);
	CHECK(limiter_check(l, "4.4.4.4", u, t + 2 + 299) == LIMITER_BLOCKED_USER);
	CHECK(limiter_check(l, "4.4.4.4", u, t + 2 + 300) == LIMITER_OK);
	limiter_free(&l);
	CHECK(l == NULL);
}

UNIT_TEST(test_block_by_ip)
{
	struct limiter *l = limiter_new(3, 60, 300, 0);
	time_t t = 1000;
	limiter_fail(l, "1.1.1.1", STR_LIT("a"), t);
	limiter_fail(l, "1.1.1.1", STR_LIT("b"), t);
	/* Success clears the user, not the IP. */
	limiter_success(l, "1.1.1.1", STR_LIT("c"), t);
	limiter_fail(l, "1.1.1.1", STR_LIT("c"), t);
	CHECK(limiter_check(l, "1.1.1.1", STR_LIT("d"), t) == LIMITER_BLOCKED_IP);
	CHECK(limiter_check(l, "1.1.1.2", STR_LIT("d"), t) == LIMITER_OK);
	CHECK(limiter_check(l, "1.1.1.1", (struct str){ "", 0 }, t) == LIMITER_BLOCKED_IP);
	limiter_free(&l);
}

UNIT_TEST(test_window)
{
	struct limiter *l = limiter_new(3, 60, 300, 0);
	time_t t = 1000;
	limiter_fail(l, "ip", STR_LIT("u"), t);
	limiter_fail(l, "ip", STR_LIT("u"), t + 30);
	/* The window started at the first failure: it is over. */
	limiter_fail(l, "ip", STR_LIT("u"), t + 61);
	CHECK(limiter_check(l, "ip", STR_LIT("u"), t + 62) == LIMITER_OK);
	limiter_fail(l, "ip", STR_LIT("u"), t + 62);
	limiter_fail(l, "ip", STR_LIT("u"), t + 63);
	CHECK(limiter_check(l, "ip", STR_LIT("u"), t + 64) == LIMITER_BLOCKED_IP);
	/* Stale entries go away when looked at. */
	CHECK(limiter_check(l, "ip", STR_LIT("u"), t + 10000) == LIMITER_OK);
	CHECK_EQ_INT(limiter_size(l), 0);
	limiter_free(&l);
}

UNIT_TEST(test_success_clears_user)
{
	struct limiter *l = limiter_new(2, 60, 300, 0);
	limiter_fail(l, "a", STR_LIT("u"), 10);
	limiter_success(l, "b", STR_LIT("U"), 11);
	limiter_fail(l, "c", STR_LIT("u"), 12);
	CHECK(limiter_check(l, "d", STR_LIT("u"), 13) == LIMITER_OK);
	limiter_fail(l, "e", STR_LIT("u"), 14);
	CHECK(limiter_check(l, "d", STR_LIT("u"), 15) == LIMITER_BLOCKED_USER);
	limiter_free(&l);
}

UNIT_TEST(test_disabled)
{
	struct limiter *l = limiter_new(0, 60, 300, 0);
	for (int i = 0; i < 100; i++)
		limiter_fail(l, "a", STR_LIT("u"), 10);
	CHECK(limiter_check(l, "a", STR_LIT("u"), 10) == LIMITER_OK);
	limiter_free(&l);
}

UNIT_TEST(test_bounded)
{
	struct limiter *l = limiter_new(2, 60, 300, 100);
	char ip[32];
	limiter_fail(l, "victim", STR_LIT(""), 5);
	limiter_fail(l, "victim", STR_LIT(""), 5);
	CHECK(limiter_check(l, "victim", STR_LIT(""), 6) == LIMITER_BLOCKED_IP);
	for (int i = 0; i < 10000; i++) {
		snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
		limiter_fail(l, ip, STR_LIT(""), 7);
		CHECK(limiter_size(l) <= 100);
	}
	/* The oldest went first. */
	CHECK(limiter_check(l, "victim", STR_LIT(""), 8) == LIMITER_OK);
	CHECK(limiter_check(l, "10.0.39.15", STR_LIT(""), 8) == LIMITER_OK);
	limiter_fail(l, "10.0.39.15", STR_LIT(""), 8);
	CHECK(limiter_check(l, "10.0.39.15", STR_LIT(""), 8) == LIMITER_BLOCKED_IP);
	/* Long user names are fine. */
	char name[600];
	memset(name, 'x', sizeof name);
	limiter_fail(l, "z", str_make(name, sizeof name), 9);
	limiter_free(&l);
}

UNIT_MAIN(test_block_by_user, test_block_by_ip, test_window,
	  test_success_clears_user, test_disabled, test_bounded)
