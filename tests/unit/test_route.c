/* relay/route.c and route_parse.c without DNS: names, host:port, the
 * route table and its errors, TLS levels, destinations, and the MX
 * order (sorted by preference, shuffled among equals). Resolution
 * against a real DNS server is in test_dns.c. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay.h"
#include "relay/route.h"
#include "relay/route_parse.h"
#include "tests/unit/unit.h"

static struct config cfg_make(const char *routes, const char *tls,
			      const char *policy, const char *smarthost,
			      const char *smarthost_tls)
{
	struct config c;
	memset(&c, 0, sizeof c);
	c.relay_port = 25;
	c.relay_routes = (char *)routes;
	c.relay_tls = (char *)tls;
	c.relay_tls_policy = (char *)policy;
	c.smarthost = (char *)smarthost;
	c.smarthost_tls = (char *)smarthost_tls;
	return c;
}

UNIT_TEST(test_name_valid)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "example.com", true },   { "EXAMPLE.com.", true },
		{ "a", true },             { "b.test", true },
		{ "x-y.0.com", true },     { "", false },
		{ ".", false },            { "a..b", false },
		{ ".a", false },           { "a b", false },
		{ "a_b.com", false },      { "a.com..", false },
		{ "caf\xc3\xa9.fr", false }, { "[1.2.3.4]", false },
		{ "a\n.com", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (route_name_valid(str_from_cstr(cases[i].s)) != cases[i].ok)
			fprintf(stderr, "name case %zu: \"%s\"\n", i, cases[i].s);
		CHECK(route_name_valid(str_from_cstr(cases[i].s)) == cases[i].ok);
	}
	char label[70], name[300];
	memset(label, 'a', 63);
	label[63] = '\0';
	CHECK(route_name_valid(str_from_cstr(label)));
	label[63] = 'a';
	label[64] = '\0';
	CHECK(!route_name_valid(str_from_cstr(label)));
	/* 253 characters is the most; 254 is too long */
	memset(name, 'a', sizeof name);
	for (size_t i = 50; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	CHECK(route_name_valid(str_from_cstr(name)));
	name[253] = 'a';
	name[254] = '\0';
	CHECK(!route_name_valid(str_from_cstr(name)));
	/* a length, not a NUL, ends the name */
	CHECK(route_name_valid(str_make("ab\0c", 2)));
	CHECK(!route_name_valid(str_make("ab\0c", 4)));
}

UNIT_TEST(test_hostport)
{
	static const struct {
		const char *s;
		bool ok;
		const char *host;
		int port;
	} cases[] = {
		{ "mx.example.com", true, "mx.example.com", 25 },
		{ "MX.Example.COM:2525", true, "mx.example.com", 2525 },
		{ "mx.example.com.:587", true, "mx.example.com", 587 },
		{ "127.0.0.1:10025", true, "127.0.0.1", 10025 },
		{ "[::1]", true, "::1", 25 },
		{ "[::1]:2525", true, "::1", 2525 },
		{ "[2001:DB8::1]:465", true, "2001:db8::1", 465 },
		{ "::1", false, NULL, 0 },
		{ "::1:25", false, NULL, 0 },
		{ "[::1", false, NULL, 0 },
		{ "[::1]x", false, NULL, 0 },
		{ "[1.2.3.4]", false, NULL, 0 },
		{ "[nothost]", false, NULL, 0 },
		{ "host:0", false, NULL, 0 },
		{ "host:65536", false, NULL, 0 },
		{ "host:", false, NULL, 0 },
		{ "host:+25", false, NULL, 0 },
		{ "host:2x", false, NULL, 0 },
		{ ":25", false, NULL, 0 },
		{ "bad_host", false, NULL, 0 },
		{ "", false, NULL, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char host[256] = "";
		int port = -1;
		const char *why = NULL;
		bool ok = route_hostport_parse(str_from_cstr(cases[i].s), 25, host,
					       sizeof host, &port, &why);
		if (ok != cases[i].ok)
			fprintf(stderr, "hostport case %zu: \"%s\" (%s)\n", i,
				cases[i].s, why ? why : "ok");
		CHECK(ok == cases[i].ok);
		if (ok && cases[i].ok) {
			CHECK_EQ_STR(host, cases[i].host);
			CHECK_EQ_INT(port, cases[i].port);
		}
		if (!ok)
			CHECK(why != NULL);
	}
}

UNIT_TEST(test_list)
{
	struct str rest = str_from_cstr("  a=b,c=d ,, e=f\tg=h  "), item;
	const char *want[] = { "a=b", "c=d", "e=f", "g=h" };
	size_t n = 0;
	while (route_list_next(&rest, &item)) {
		CHECK(n < 4);
		if (n < 4)
			CHECK(str_eq(item, want[n]));
		n++;
	}
	CHECK_EQ_INT(n, 4);
	rest = str_from_cstr(" , ");
	CHECK(!route_list_next(&rest, &item));
}

UNIT_TEST(test_tls_level_names)
{
	CHECK_EQ_INT(relay_tls_level_parse("none", 0), RELAY_TLS_NONE);
	CHECK_EQ_INT(relay_tls_level_parse("may", 0), RELAY_TLS_MAY);
	CHECK_EQ_INT(relay_tls_level_parse("ENCRYPT", 0), RELAY_TLS_ENCRYPT);
	CHECK_EQ_INT(relay_tls_level_parse("verify", 0), RELAY_TLS_VERIFY);
	CHECK_EQ_INT(relay_tls_level_parse("smtps", 0), -1);
	CHECK_EQ_INT(relay_tls_level_parse("smtps", 1), RELAY_TLS_SMTPS);
	CHECK_EQ_INT(relay_tls_level_parse("", 1), -1);
	CHECK_EQ_INT(relay_tls_level_parse("mayx", 1), -1);
	for (int l = RELAY_TLS_NONE; l <= RELAY_TLS_SMTPS; l++)
		CHECK_EQ_INT(relay_tls_level_parse(relay_tls_level_name(l), 1), l);
	CHECK_EQ_STR(relay_tls_level_name((enum relay_tls_level)99), "?");
}

UNIT_TEST(test_table_ok)
{
	struct config c = cfg_make("b.test=127.0.0.1:2525, c.test=[::1] .sub.test=relay.sub.test",
				   "may", "b.test=verify .sub.test=encrypt,x.test=none",
				   "", "verify");
	struct buf err = BUF_INIT;
	struct route_table *t = route_table_new(&c, &err);
	CHECK(t != NULL);
	CHECK_EQ_INT(err.len, 0);
	if (!t)
		return;
	char d[300];
	route_destination(t, "B.Test", d, sizeof d);
	CHECK_EQ_STR(d, "127.0.0.1:2525");
	route_destination(t, "c.test.", d, sizeof d);
	CHECK_EQ_STR(d, "[::1]:25");
	route_destination(t, "a.sub.test", d, sizeof d);
	CHECK_EQ_STR(d, "relay.sub.test:25");
	route_destination(t, "sub.test", d, sizeof d);
	CHECK_EQ_STR(d, "sub.test");
	route_destination(t, "Other.Example", d, sizeof d);
	CHECK_EQ_STR(d, "other.example");
	route_destination(t, "Other.Example", d, 5);
	CHECK_EQ_STR(d, "othe");
	CHECK_EQ_INT(route_tls_level(t, "b.test"), RELAY_TLS_VERIFY);
	CHECK_EQ_INT(route_tls_level(t, "B.TEST."), RELAY_TLS_VERIFY);
	CHECK_EQ_INT(route_tls_level(t, "deep.a.sub.test"), RELAY_TLS_ENCRYPT);
	CHECK_EQ_INT(route_tls_level(t, "x.test"), RELAY_TLS_NONE);
	CHECK_EQ_INT(route_tls_level(t, "y.test"), RELAY_TLS_MAY);
	route_table_free(&t);
	CHECK(t == NULL);
	route_table_free(&t);
	buf_free(&err);
}

UNIT_TEST(test_table_smarthost)
{
	static const struct {
		const char *host, *tls;
		const char *dest;
		int level;
	} cases[] = {
		{ "relay.isp.example", "verify", "relay.isp.example:25", RELAY_TLS_VERIFY },
		{ "relay.isp.example", "smtps", "relay.isp.example:465", RELAY_TLS_SMTPS },
		{ "relay.isp.example:587", "encrypt", "relay.isp.example:587", RELAY_TLS_ENCRYPT },
		{ "[2001:db8::25]:2525", "none", "[2001:db8::25]:2525", RELAY_TLS_NONE },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c = cfg_make("b.test=10.0.0.1", "none", "b.test=may",
					   cases[i].host, cases[i].tls);
		struct buf err = BUF_INIT;
		struct route_table *t = route_table_new(&c, &err);
		CHECK(t != NULL);
		if (!t)
			continue;
		char d[300];
		/* the smarthost takes everything, routes and policies too */
		route_destination(t, "b.test", d, sizeof d);
		CHECK_EQ_STR(d, cases[i].dest);
		CHECK_EQ_INT(route_tls_level(t, "b.test"), cases[i].level);
		CHECK_EQ_INT(route_tls_level(t, "z.test"), cases[i].level);
		route_table_free(&t);
		buf_free(&err);
	}
}

UNIT_TEST(test_table_errors)
{
	static const struct {
		const char *routes, *tls, *policy, *smarthost, *smarthost_tls;
		const char *err;
	} cases[] = {
		{ "b.test", "may", "", "", "verify",
		  "relay_routes: \"b.test\": expected domain=value\n" },
		{ "b.test=", "may", "", "", "verify",
		  "relay_routes: \"b.test=\": bad host name\n" },
		{ "b_x.test=h", "may", "", "", "verify",
		  "relay_routes: \"b_x.test=h\": bad domain\n" },
		{ "b.test=::1", "may", "", "", "verify",
		  "relay_routes: \"b.test=::1\": an IPv6 address must be in [brackets]\n" },
		{ "b.test=h:99999", "may", "", "", "verify",
		  "relay_routes: \"b.test=h:99999\": bad port (1-65535)\n" },
		{ "", "sometimes", "", "", "verify",
		  "relay_tls: \"sometimes\": expected none, may, encrypt or verify\n" },
		{ "", "smtps", "", "", "verify",
		  "relay_tls: \"smtps\": expected none, may, encrypt or verify\n" },
		{ "", "may", "b.test=smtps", "", "verify",
		  "relay_tls_policy: \"b.test=smtps\": expected none, may, encrypt or verify\n" },
		{ "", "may", "b.test", "", "verify",
		  "relay_tls_policy: \"b.test\": expected domain=value\n" },
		{ "", "may", "", "relay:", "verify",
		  "smarthost: \"relay:\": bad port (1-65535)\n" },
		{ "", "may", "", "relay", "always",
		  "smarthost_tls: \"always\": expected none, may, encrypt, verify or smtps\n" },
		/* every problem is reported, not just the first */
		{ "a=b c", "x", "", "", "verify",
		  "relay_tls: \"x\": expected none, may, encrypt or verify\n"
		  "relay_routes: \"c\": expected domain=value\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c = cfg_make(cases[i].routes, cases[i].tls,
					   cases[i].policy, cases[i].smarthost,
					   cases[i].smarthost_tls);
		struct buf err = BUF_INIT;
		struct route_table *t = route_table_new(&c, &err);
		CHECK(t == NULL);
		CHECK_EQ_STR(buf_cstr(&err), cases[i].err);
		route_table_free(&t);
		buf_free(&err);
	}
}

static void mx_fill(struct dns_mx *mx, const int *prefs, size_t n)
{
	memset(mx, 0, n * sizeof *mx);
	for (size_t i = 0; i < n; i++) {
		mx[i].pref = prefs[i];
		snprintf(mx[i].host, sizeof mx[i].host, "mx%zu", i);
	}
}

UNIT_TEST(test_mx_order_sorted)
{
	static const int prefs[] = { 30, 10, 20, 10, 0, 65535, 20, 10 };
	const size_t n = sizeof prefs / sizeof prefs[0];
	for (uint64_t seed = 0; seed < 50; seed++) {
		struct dns_mx mx[8];
		mx_fill(mx, prefs, n);
		route_mx_order(mx, n, seed);
		for (size_t i = 1; i < n; i++)
			CHECK(mx[i - 1].pref <= mx[i].pref);
		CHECK_EQ_STR(mx[0].host, "mx4");         /* pref 0 */
		CHECK_EQ_STR(mx[n - 1].host, "mx5");     /* pref 65535 */
		CHECK_EQ_STR(mx[n - 2].host, "mx0");     /* pref 30 */
		/* the same seed, the same order */
		struct dns_mx again[8];
		mx_fill(again, prefs, n);
		route_mx_order(again, n, seed);
		CHECK(memcmp(mx, again, sizeof mx) == 0);
	}
	route_mx_order(NULL, 0, 1);
	struct dns_mx one = { 5, "only" };
	route_mx_order(&one, 1, 7);
	CHECK_EQ_STR(one.host, "only");
}

UNIT_TEST(test_mx_order_shuffled)
{
	/* Three equal preferences: over many seeds each of the 6 orders
	 * shows up, and each host leads about a third of the time. */
	static const int prefs[] = { 10, 10, 10, 5 };
	int seen[6] = { 0 }, first[3] = { 0 };
	for (uint64_t seed = 0; seed < 600; seed++) {
		struct dns_mx mx[4];
		mx_fill(mx, prefs, 4);
		route_mx_order(mx, 4, seed * 7919 + 1);
		CHECK_EQ_STR(mx[0].host, "mx3");
		int a = mx[1].host[2] - '0', b = mx[2].host[2] - '0';
		CHECK(a != b && a >= 0 && a < 3 && b >= 0 && b < 3);
		/* encode the permutation as (first, second) */
		static const int idx[3][3] = { { -1, 0, 1 }, { 2, -1, 3 }, { 4, 5, -1 } };
		if (a >= 0 && a < 3 && b >= 0 && b < 3 && idx[a][b] >= 0)
			seen[idx[a][b]]++;
		if (a >= 0 && a < 3)
			first[a]++;
	}
	for (int i = 0; i < 6; i++)
		CHECK(seen[i] > 50);
	for (int i = 0; i < 3; i++)
		CHECK(first[i] > 150 && first[i] < 250);
}

UNIT_MAIN(test_name_valid, test_hostport, test_list, test_tls_level_names,
	  test_table_ok, test_table_smarthost, test_table_errors,
	  test_mx_order_sorted, test_mx_order_shuffled)
