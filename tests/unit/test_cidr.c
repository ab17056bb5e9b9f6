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

static const char *internal(const char *ip)
{
	unsigned char a[16];
	CHECK(cidr_addr_parse(ip, a));
	const char *r = cidr_addr_internal(a);
	return r ? r : "global";
}

UNIT_TEST(test_internal_ranges)
{
	static const char *const cases[][2] = {
		{ "127.0.0.1", "loopback" },   { "127.255.1.2", "loopback" },
		{ "::1", "loopback" },         { "::ffff:127.0.0.1", "loopback" },
		{ "169.254.169.254", "link-local" },
		{ "fe80::1", "link-local" },   { "febf::1", "link-local" },
		{ "10.0.0.1", "private" },     { "172.16.0.1", "private" },
		{ "172.31.255.255", "private" }, { "192.168.1.1", "private" },
		{ "fd00::1", "private" },      { "fc00::1", "private" },
		{ "fec0::1", "private" },      { "0.0.0.0", "unspecified" },
		{ "0.1.2.3", "unspecified" },  { "::", "unspecified" },
		{ "100.64.0.1", "shared" },    { "224.0.0.1", "multicast" },
		{ "ff02::1", "multicast" },    { "255.255.255.255", "reserved" },
		{ "::7f00:1", "ipv4-compatible" },
		{ "64:ff9b::7f00:1", "nat64-internal" },
		{ "64:ff9b::808:808", "global" },
		{ "8.8.8.8", "global" },       { "172.32.0.1", "global" },
		{ "172.15.255.255", "global" }, { "192.0.2.1", "global" },
		{ "2001:db8::1", "global" },   { "2a00:1450::1", "global" },
		{ "::ffff:8.8.4.4", "global" }, { "100.128.0.1", "global" },
		{ "fe00::1", "global" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_EQ_STR(internal(cases[i][0]), cases[i][1]);
	unsigned char a[16];
	CHECK(!cidr_addr_parse("host.example", a));
	CHECK(!cidr_addr_parse(NULL, a));
	struct cidr_list l;
	struct buf err = BUF_INIT;
	CHECK_EQ_INT(cidr_list_parse("127.0.0.0/8 fd00::/8", &l, &err), 0);
	CHECK(cidr_addr_parse("::ffff:127.0.0.2", a));
	CHECK(cidr_list_match_addr(&l, a));
	CHECK(cidr_addr_parse("10.0.0.1", a));
	CHECK(!cidr_list_match_addr(&l, a));
	CHECK(!cidr_list_match_addr(NULL, a));
	cidr_list_free(&l);
	buf_free(&err);
}

UNIT_MAIN(test_parse_match, test_odd_prefixes, test_errors,
	  test_internal_ranges)
