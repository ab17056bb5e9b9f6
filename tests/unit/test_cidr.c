#include "unit.h"

#include "core/cidr.h"

UNIT_TEST(test_parse_match)
{
	struct cidr_list l;
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(cidr_list_parse("10.0.0.0/8, 192.0.2.7 2001:db8::/32,::1",
				     &l, &err), 0);
	CHECK_EQ_INT(l.n, 4);
	CHECK(cidr_list_match(&l, "10.1.2.3"));
	CHECK(cidr_list_match(&l, "::ffff:10.200.0.1"));
	CHECK(!cidr_list_match(&l, "11.0.0.1"));
	CHECK(cidr_list_match(&l, "192.0.2.7"));
	CHECK(!cidr_list_match(&l, "192.0.2.8"));
	CHECK(cidr_list_match(&l, "2001:db8:ffff::1"));
	CHECK(!cidr_list_match(&l, "2001:db9::1"));
	CHECK(cidr_list_match(&l, "::1"));
	CHECK(!cidr_list_match(&l, "::2"));
	CHECK(!cidr_list_match(&l, "garbage"));
	CHECK(!cidr_list_match(&l, ""));
	CHECK(!cidr_list_match(&l, NULL));
	cidr_list_free(&l);
	buf_free(&err);
}

UNIT_TEST(test_odd_prefixes)
{
	struct cidr_list l;
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(cidr_list_parse("172.16.0.0/12 0.0.0.0/0", &l, &err), 0);
	CHECK(cidr_list_match(&l, "172.31.255.255"));
	CHECK(cidr_list_match(&l, "8.8.8.8"));
	/* An IPv4 /0 is all of IPv4, not all of IPv6. */
	CHECK(!cidr_list_match(&l, "2001:db8::1"));
	cidr_list_free(&l);
	CHECK_EQ_INT(cidr_list_parse("172.16.0.0/12", &l, &err), 0);
	CHECK(!cidr_list_match(&l, "172.32.0.0"));
	CHECK(!cidr_list_match(&l, "172.15.255.255"));
	cidr_list_free(&l);
	CHECK_EQ_INT(cidr_list_parse("::/0", &l, &err), 0);
	CHECK(cidr_list_match(&l, "fe80::1"));
	CHECK(cidr_list_match(&l, "1.2.3.4")); /* as ::ffff:1.2.3.4 */
	cidr_list_free(&l);
	CHECK_EQ_INT(cidr_list_parse("", &l, &err), 0);
	CHECK_EQ_INT(l.n, 0);
	CHECK(!cidr_list_match(&l, "127.0.0.1"));
	buf_free(&err);
}

UNIT_TEST(test_errors)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "10.1.2.3/8", "::1/129", "10.0.0.0/",
		"10.0.0/8", "/8", "10.0.0.0/-1", "10.0.0.0/8x", "host.example",
		"2001:db8::1/32", "10.0.0.0/0008", "1.2.3.4 bad",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cidr_list l;
		struct buf err = BUF_INIT;
		CHECK_EQ_INT(cidr_list_parse(bad[i], &l, &err), -1);
		CHECK(err.len > 0);
		CHECK_EQ_INT(l.n, 0);
		CHECK(l.v == NULL);
		buf_free(&err);
	}
}

UNIT_MAIN(test_parse_match, test_odd_prefixes, test_errors)
