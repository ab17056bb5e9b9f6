/* relay/dns.c and route_resolve against a real DNS server: the test
 * starts tests/integration/dnsserver.py (python3-dnslib) on a free
 * loopback port and asks it MX, AAAA/A, NXDOMAIN, NODATA, null MX and
 * SERVFAIL questions through the event loop; a socket that never
 * answers and a port with nothing behind it give DNS_TEMPFAIL within
 * the timeout bound. Prints SKIP (and passes) only when python3-dnslib
 * is missing. Run from the top of the tree (make unit does). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay/dns.h"
#include "relay/route.h"
#include "tests/unit/unit.h"

#define PYTHON "/usr/bin/python3"
#define DNSSERVER "tests/integration/dnsserver.py"

static const char zone_json[] =
	"{"
	"\"b.test\": {\"MX\": [[10, \"mx1.b.test\"], [20, \"mx2.b.test\"], [10, \"mx3.b.test\"]]},"
	"\"mx1.b.test\": {\"A\": [\"127.0.0.1\"], \"AAAA\": [\"::1\"]},"
	"\"mx2.b.test\": {\"A\": [\"127.0.0.2\"]},"
	"\"mx3.b.test\": {\"AAAA\": [\"::3\"]},"
	"\"null.test\": {\"MX\": [[0, \".\"]]},"
	"\"nomx.test\": {\"A\": [\"127.0.0.9\"]},"
	"\"empty.test\": {},"
	"\"badmx.test\": {\"MX\": [[10, \"gone.test\"]]},"
	"\"halfbad.test\": {\"MX\": [[10, \"gone.test\"], [20, \"mx2.b.test\"]]},"
	"\"sf.test\": {\"SERVFAIL\": true},"
	"\"tempmx.test\": {\"MX\": [[10, \"sf.test\"], [20, \"gone.test\"]]},"
	"\"many.test\": {\"MX\": ["
	"[29, \"h29.many.test\"], [28, \"h28.many.test\"], [27, \"h27.many.test\"],"
	"[26, \"h26.many.test\"], [25, \"h25.many.test\"], [24, \"h24.many.test\"],"
	"[23, \"h23.many.test\"], [22, \"h22.many.test\"], [21, \"h21.many.test\"],"
	"[20, \"h20.many.test\"], [19, \"h19.many.test\"], [18, \"h18.many.test\"],"
	"[17, \"h17.many.test\"], [16, \"h16.many.test\"], [15, \"h15.many.test\"],"
	"[14, \"h14.many.test\"], [13, \"h13.many.test\"], [12, \"h12.many.test\"],"
	"[11, \"h11.many.test\"], [10, \"h10.many.test\"], [9, \"h9.many.test\"],"
	"[8, \"h8.many.test\"], [7, \"h7.many.test\"], [6, \"h6.many.test\"],"
	"[5, \"h5.many.test\"], [4, \"h4.many.test\"], [3, \"h3.many.test\"],"
	"[2, \"h2.many.test\"], [1, \"h1.many.test\"], [0, \"h0.many.test\"]]},"
	"\"h0.many.test\": {\"A\": [\"10.0.0.0\", \"10.0.1.0\", \"10.0.2.0\"]},"
	"\"h1.many.test\": {\"A\": [\"10.0.0.1\", \"10.0.1.1\", \"10.0.2.1\"]},"
	"\"h2.many.test\": {\"A\": [\"10.0.0.2\", \"10.0.1.2\", \"10.0.2.2\"]},"
	"\"h3.many.test\": {\"A\": [\"10.0.0.3\", \"10.0.1.3\", \"10.0.2.3\"]},"
	"\"h4.many.test\": {\"A\": [\"10.0.0.4\", \"10.0.1.4\", \"10.0.2.4\"]},"
	"\"h5.many.test\": {\"A\": [\"10.0.0.5\", \"10.0.1.5\", \"10.0.2.5\"]},"
	"\"h6.many.test\": {\"A\": [\"10.0.0.6\", \"10.0.1.6\", \"10.0.2.6\"]},"
	"\"h7.many.test\": {\"A\": [\"10.0.0.7\", \"10.0.1.7\", \"10.0.2.7\"]},"
	"\"big.test\": {\"A\": ["
	"\"10.1.0.1\",\"10.1.0.2\",\"10.1.0.3\",\"10.1.0.4\",\"10.1.0.5\",\"10.1.0.6\","
	"\"10.1.0.7\",\"10.1.0.8\",\"10.1.0.9\",\"10.1.0.10\",\"10.1.0.11\",\"10.1.0.12\","
	"\"10.1.0.13\",\"10.1.0.14\",\"10.1.0.15\",\"10.1.0.16\",\"10.1.0.17\",\"10.1.0.18\","
	"\"10.1.0.19\",\"10.1.0.20\",\"10.1.0.21\",\"10.1.0.22\",\"10.1.0.23\",\"10.1.0.24\","
	"\"10.1.0.25\",\"10.1.0.26\",\"10.1.0.27\",\"10.1.0.28\",\"10.1.0.29\",\"10.1.0.30\","
	"\"10.1.0.31\",\"10.1.0.32\",\"10.1.0.33\",\"10.1.0.34\",\"10.1.0.35\",\"10.1.0.36\","
	"\"10.1.0.37\",\"10.1.0.38\",\"10.1.0.39\",\"10.1.0.40\",\"10.1.0.41\",\"10.1.0.42\"]}"
	"}";

static pid_t server_pid = -1;
static int server_port;
static struct event_base *base;
static struct dns *dns;
static char servers[64];

/* ---- the server ---- */

static bool server_start(void)
{
	int p[2];
	if (pipe(p) != 0)
		return false;
	server_pid = fork();
	if (server_pid < 0)
		return false;
	if (server_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(PYTHON, PYTHON, DNSSERVER, "--port", "0", "--zone", zone_json,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[64];
	size_t n = 0;
	struct pollfd pfd = { p[0], POLLIN, 0 };
	while (n < sizeof line - 1 && poll(&pfd, 1, 15000) == 1) {
		ssize_t r = read(p[0], line + n, 1);
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(p[0]);
	if (sscanf(line, "ready %d", &server_port) != 1) {
		fprintf(stderr, "dnsserver did not start: \"%s\"\n", line);
		return false;
	}
	snprintf(servers, sizeof servers, "127.0.0.1:%d", server_port);
	return true;
}

static void server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
}

/* Runs the loop until *done or the deadline; returns the seconds it
 * took. */
static double loop_until(const int *done, double limit)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		double el = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (*done || el > limit)
			return el;
		struct timeval tv = { 0, 100000 };
		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* ---- answers ---- */

struct mx_result {
	int calls;
	enum dns_status st;
	struct dns_mx mx[16];
	size_t n;
};

static void mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx,
		  size_t n, const char *why)
{
	struct mx_result *r = arg;
	r->calls++;
	r->st = st;
	r->n = n;
	CHECK(why != NULL);
	for (size_t i = 0; i < n && i < 16; i++)
		r->mx[i] = mx[i];
}

struct addr_result {
	int calls;
	enum dns_status st;
	char text[8][64];
	size_t n;
};

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
			  (socklen_t)n);
	else if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
			  (socklen_t)n);
	else
		snprintf(out, n, "?");
}

static void addr_cb(void *arg, enum dns_status st,
		    const struct sockaddr_storage *addrs, const socklen_t *lens,
		    size_t n, const char *why)
{
	struct addr_result *r = arg;
	r->calls++;
	r->st = st;
	r->n = n;
	CHECK(why != NULL);
	for (size_t i = 0; i < n; i++) {
		CHECK(lens[i] == (addrs[i].ss_family == AF_INET6
					  ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in)));
		if (i < 8)
			addr_text(&addrs[i], r->text[i], sizeof r->text[i]);
	}
}

static struct mx_result ask_mx(const char *name)
{
	struct mx_result r;
	memset(&r, 0, sizeof r);
	dns_query_mx(dns, name, mx_cb, &r);
	CHECK_EQ_INT(r.calls, 0); /* never from inside the call */
	loop_until(&r.calls, 10);
	CHECK_EQ_INT(r.calls, 1);
	return r;
}

static struct addr_result ask_addr(struct dns *d, const char *name)
{
	struct addr_result r;
	memset(&r, 0, sizeof r);
	dns_query_addr(d, name, addr_cb, &r);
	CHECK_EQ_INT(r.calls, 0);
	loop_until(&r.calls, 15);
	CHECK_EQ_INT(r.calls, 1);
	return r;
}

UNIT_TEST(test_mx)
{
	struct mx_result r = ask_mx("b.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 3);
	int seen = 0;
	for (size_t i = 0; i < r.n; i++) {
		if (strcmp(r.mx[i].host, "mx1.b.test") == 0 && r.mx[i].pref == 10)
			seen |= 1;
		if (strcmp(r.mx[i].host, "mx2.b.test") == 0 && r.mx[i].pref == 20)
			seen |= 2;
		if (strcmp(r.mx[i].host, "mx3.b.test") == 0 && r.mx[i].pref == 10)
			seen |= 4;
	}
	CHECK_EQ_INT(seen, 7);
	r = ask_mx("B.TEST.");
	CHECK_EQ_INT(r.st, DNS_OK);
	r = ask_mx("null.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.mx[0].host, "");
	CHECK_EQ_INT(r.mx[0].pref, 0);
	r = ask_mx("nx.test");
	CHECK_EQ_INT(r.st, DNS_NXDOMAIN);
	CHECK_EQ_INT(r.n, 0);
	r = ask_mx("nomx.test");
	CHECK_EQ_INT(r.st, DNS_NODATA);
	r = ask_mx("sf.test");
	CHECK_EQ_INT(r.st, DNS_TEMPFAIL);
	/* 30 records: more than fit in 512 bytes of UDP, so this also
	 * goes over TCP after the truncated answer */
	r = ask_mx("many.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 30);
}

UNIT_TEST(test_addr)
{
	struct addr_result r = ask_addr(dns, "mx1.b.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_STR(r.text[0], "::1"); /* IPv6 first */
	CHECK_EQ_STR(r.text[1], "127.0.0.1");
	r = ask_addr(dns, "mx2.b.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.text[0], "127.0.0.2");
	r = ask_addr(dns, "mx3.b.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.text[0], "::3");
	r = ask_addr(dns, "gone.test");
	CHECK_EQ_INT(r.st, DNS_NXDOMAIN);
	CHECK_EQ_INT(r.n, 0);
	r = ask_addr(dns, "empty.test");
	CHECK_EQ_INT(r.st, DNS_NODATA);
	r = ask_addr(dns, "sf.test");
	CHECK_EQ_INT(r.st, DNS_TEMPFAIL);
	/* a bounded number of addresses from a long answer */
	r = ask_addr(dns, "big.test");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK(r.n >= 1 && r.n <= 32);
}

UNIT_TEST(test_literals)
{
	/* no server at all: literals never reach it */
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, "127.0.0.1:9", &err);
	CHECK(d != NULL);
	if (!d)
		return;
	struct addr_result r = ask_addr(d, "192.0.2.7");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.text[0], "192.0.2.7");
	r = ask_addr(d, "2001:db8::7");
	CHECK_EQ_INT(r.st, DNS_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.text[0], "2001:db8::7");
	dns_free(&d);
	CHECK(d == NULL);
	buf_free(&err);
}

UNIT_TEST(test_bad_servers)
{
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, "not an address", &err);
	CHECK(d == NULL);
	CHECK(err.len > 0);
	buf_free(&err);
}

static int again_calls;
static struct dns *again_dns;
static struct addr_result again_r;
/* A caller that asks again from a cancelled callback: dns_free must
 * answer that one too. */
static void again_cb(void *arg, enum dns_status st, const struct dns_mx *mx,
		     size_t n, const char *why)
{
	mx_cb(arg, st, mx, n, why);
	again_calls++;
	dns_query_addr(again_dns, "mx1.b.test", addr_cb, &again_r);
}

UNIT_TEST(test_cancel)
{
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, servers, &err);
	CHECK(d != NULL);
	if (!d)
		return;
	struct mx_result a, b;
	struct addr_result c, lit;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	memset(&lit, 0, sizeof lit);
	memset(&again_r, 0, sizeof again_r);
	again_dns = d;
	again_calls = 0;
	dns_query_mx(d, "b.test", mx_cb, &a);
	dns_query_mx(d, "nomx.test", again_cb, &b);
	dns_query_addr(d, "mx1.b.test", addr_cb, &c);
	dns_query_addr(d, "127.0.0.1", addr_cb, &lit); /* answered, undelivered */
	dns_free(&d);
	CHECK(d == NULL);
	CHECK_EQ_INT(a.calls, 1);
	CHECK_EQ_INT(a.st, DNS_TEMPFAIL);
	CHECK_EQ_INT(b.calls, 1);
	CHECK_EQ_INT(b.st, DNS_TEMPFAIL);
	CHECK_EQ_INT(c.calls, 1);
	CHECK_EQ_INT(c.st, DNS_TEMPFAIL);
	CHECK_EQ_INT(c.n, 0);
	CHECK_EQ_INT(lit.calls, 1);
	CHECK_EQ_INT(lit.st, DNS_TEMPFAIL);
	CHECK_EQ_INT(again_calls, 1);
	CHECK_EQ_INT(again_r.calls, 1);
	CHECK_EQ_INT(again_r.st, DNS_TEMPFAIL);
	/* nothing left behind on the loop */
	int never = 0;
	loop_until(&never, 0.3);
	CHECK_EQ_INT(a.calls, 1);
	CHECK_EQ_INT(lit.calls, 1);
	buf_free(&err);
}

/* 2 tries, 2 s then 4 s per server (dns.c): well under this. */
#define TEMPFAIL_BOUND 10.0

UNIT_TEST(test_timeouts)
{
	/* A socket that never reads: the queries time out. */
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(s, (struct sockaddr *)&sin, sizeof sin) == 0);
	socklen_t sl = sizeof sin;
	getsockname(s, (struct sockaddr *)&sin, &sl);
	char srv[64];
	snprintf(srv, sizeof srv, "127.0.0.1:%d", ntohs(sin.sin_port));
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, srv, &err);
	CHECK(d != NULL);
	if (d) {
		struct mx_result r;
		memset(&r, 0, sizeof r);
		dns_query_mx(d, "b.test", mx_cb, &r);
		double el = loop_until(&r.calls, TEMPFAIL_BOUND + 5);
		CHECK_EQ_INT(r.calls, 1);
		CHECK_EQ_INT(r.st, DNS_TEMPFAIL);
		CHECK(el < TEMPFAIL_BOUND);
		CHECK(el > 1.0); /* it did wait for an answer */
		dns_free(&d);
	}
	close(s);
	/* Nothing listening (the port of the socket just closed): the
	 * refusal ends it, as a temporary failure. */
	d = dns_new(base, srv, &err);
	CHECK(d != NULL);
	if (d) {
		struct addr_result r;
		memset(&r, 0, sizeof r);
		dns_query_addr(d, "mx1.b.test", addr_cb, &r);
		double el = loop_until(&r.calls, TEMPFAIL_BOUND + 5);
		CHECK_EQ_INT(r.calls, 1);
		CHECK_EQ_INT(r.st, DNS_TEMPFAIL);
		CHECK(el < TEMPFAIL_BOUND);
		dns_free(&d);
	}
	buf_free(&err);
}

/* ---- route_resolve, end to end ---- */

struct route_result {
	int calls;
	enum route_status st;
	char status[16];
	char why[400];
	size_t n;
	struct relay_target t[ROUTE_TARGETS_MAX];
};

static void route_cb(void *arg, enum route_status st,
		     const struct relay_target *targets, size_t n,
		     const char *status, const char *why)
{
	struct route_result *r = arg;
	r->calls++;
	r->st = st;
	r->n = n;
	snprintf(r->status, sizeof r->status, "%s", status ? status : "");
	snprintf(r->why, sizeof r->why, "%s", why ? why : "");
	CHECK(n <= ROUTE_TARGETS_MAX);
	for (size_t i = 0; i < n && i < ROUTE_TARGETS_MAX; i++)
		r->t[i] = targets[i];
}

static int target_port(const struct relay_target *t)
{
	if (t->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&t->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
}

static struct route_result resolve(const struct route_table *t,
				   const char *domain)
{
	struct route_result r;
	memset(&r, 0, sizeof r);
	route_resolve(t, dns, domain, route_cb, &r);
	CHECK_EQ_INT(r.calls, 0);
	loop_until(&r.calls, 15);
	CHECK_EQ_INT(r.calls, 1);
	if (r.calls != 1)
		fprintf(stderr, "route %s: no answer\n", domain);
	return r;
}

static struct route_table *table(const char *routes, const char *smarthost,
				 const char *smarthost_tls)
{
	struct config c;
	memset(&c, 0, sizeof c);
	c.relay_port = 2525;
	c.relay_routes = (char *)routes;
	c.relay_tls = (char *)"may";
	c.relay_tls_policy = (char *)"";
	c.smarthost = (char *)smarthost;
	c.smarthost_tls = (char *)smarthost_tls;
	/* the fake DNS answers with loopback addresses (::1, ::3,
	 * 127.0.0.x, 10.x), which the runner refuses unless allowed */
	c.relay_allowed_internal = (char *)"127.0.0.0/8 10.0.0.0/8 ::/96";
	struct buf err = BUF_INIT;
	struct route_table *t = route_table_new(&c, &err);
	CHECK(t != NULL);
	if (!t)
		fprintf(stderr, "%s", buf_cstr(&err));
	buf_free(&err);
	return t;
}

UNIT_TEST(test_route_mx)
{
	struct route_table *t = table("", "", "verify");
	if (!t)
		return;
	int mx1_first = 0;
	for (int round = 0; round < 20; round++) {
		struct route_result r = resolve(t, "b.test");
		CHECK_EQ_INT(r.st, ROUTE_OK);
		CHECK_EQ_INT(r.n, 4);
		if (r.n != 4)
			break;
		/* mx1 (::1, 127.0.0.1) and mx3 (::3) at 10, in either
		 * order; mx2 at 20 last */
		char a[64];
		if (strcmp(r.t[0].host, "mx1.b.test") == 0) {
			mx1_first++;
			CHECK_EQ_STR(r.t[1].host, "mx1.b.test");
			CHECK_EQ_STR(r.t[2].host, "mx3.b.test");
			addr_text(&r.t[0].addr, a, sizeof a);
			CHECK_EQ_STR(a, "::1");
			addr_text(&r.t[1].addr, a, sizeof a);
			CHECK_EQ_STR(a, "127.0.0.1");
		} else {
			CHECK_EQ_STR(r.t[0].host, "mx3.b.test");
			CHECK_EQ_STR(r.t[1].host, "mx1.b.test");
			CHECK_EQ_STR(r.t[2].host, "mx1.b.test");
		}
		CHECK_EQ_STR(r.t[3].host, "mx2.b.test");
		addr_text(&r.t[3].addr, a, sizeof a);
		CHECK_EQ_STR(a, "127.0.0.2");
		for (size_t i = 0; i < r.n; i++) {
			CHECK_EQ_INT(target_port(&r.t[i]), 2525);
			CHECK(r.t[i].addr_len > 0);
		}
	}
	/* shuffled among equals: both orders in 20 rounds (chance of
	 * failing by luck: 2 in a million) */
	CHECK(mx1_first > 0 && mx1_first < 20);

	struct route_result r = resolve(t, "null.test");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	CHECK_EQ_STR(r.status, "5.1.10");
	r = resolve(t, "nx.test");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	CHECK_EQ_STR(r.status, "5.1.2");
	r = resolve(t, "NoMX.test."); /* implicit MX */
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.t[0].host, "nomx.test");
	r = resolve(t, "empty.test"); /* no MX, no address */
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	CHECK_EQ_STR(r.status, "5.4.4");
	r = resolve(t, "badmx.test"); /* the only MX host does not exist */
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	CHECK_EQ_STR(r.status, "5.4.4");
	r = resolve(t, "halfbad.test"); /* one MX host skipped */
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.t[0].host, "mx2.b.test");
	r = resolve(t, "tempmx.test"); /* DNS trouble beats "not found" */
	CHECK_EQ_INT(r.st, ROUTE_TEMP);
	CHECK_EQ_STR(r.status, "4.4.3");
	r = resolve(t, "sf.test");
	CHECK_EQ_INT(r.st, ROUTE_TEMP);
	CHECK_EQ_STR(r.status, "4.4.3");
	r = resolve(t, "many.test"); /* 30 MX: ROUTE_MX_MAX hosts tried */
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, ROUTE_TARGETS_MAX);
	CHECK_EQ_STR(r.t[0].host, "h0.many.test");
	CHECK_EQ_STR(r.t[3].host, "h1.many.test");
	CHECK_EQ_STR(r.t[ROUTE_TARGETS_MAX - 1].host, "h6.many.test");
	r = resolve(t, "bad_name.test"); /* refused before any query */
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	CHECK_EQ_STR(r.status, "5.1.2");
	r = resolve(t, "a..b");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	r = resolve(t, "b.test..");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	r = resolve(t, "");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	r = resolve(t, "[127.0.0.5]"); /* RFC 5321 address literal */
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(target_port(&r.t[0]), 2525);
	r = resolve(t, "[IPv6:2001:db8::5]");
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	r = resolve(t, "[999.0.0.1]");
	CHECK_EQ_INT(r.st, ROUTE_PERM);
	route_table_free(&t);
}

UNIT_TEST(test_route_configured)
{
	struct route_table *t = table("b.test=mx2.b.test:2600 g.test=gone.test "
				      "l.test=[::1]:2601",
				      "", "verify");
	if (!t)
		return;
	struct route_result r = resolve(t, "B.test");
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.t[0].host, "mx2.b.test");
	CHECK_EQ_INT(target_port(&r.t[0]), 2600);
	r = resolve(t, "l.test");
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_STR(r.t[0].host, "::1");
	CHECK_EQ_INT(target_port(&r.t[0]), 2601);
	/* a configured host that does not resolve: wait, never bounce */
	r = resolve(t, "g.test");
	CHECK_EQ_INT(r.st, ROUTE_TEMP);
	CHECK_EQ_STR(r.status, "4.4.3");
	route_table_free(&t);

	t = table("b.test=10.0.0.1", "mx1.b.test", "smtps");
	if (!t)
		return;
	r = resolve(t, "b.test");
	CHECK_EQ_INT(r.st, ROUTE_OK);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_STR(r.t[0].host, "mx1.b.test");
	CHECK_EQ_INT(target_port(&r.t[0]), 465);
	CHECK_EQ_INT(target_port(&r.t[1]), 465);
	r = resolve(t, "anything.example");
	CHECK_EQ_INT(r.st, ROUTE_OK);
	route_table_free(&t);
}

/* dns_free while route_resolve waits on it: each caller hears once. */
UNIT_TEST(test_route_cancel)
{
	struct route_table *t = table("", "", "verify");
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, servers, &err);
	CHECK(d != NULL && t != NULL);
	if (!d || !t) {
		route_table_free(&t);
		dns_free(&d);
		buf_free(&err);
		return;
	}
	struct route_result a, b, c;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	route_resolve(t, d, "b.test", route_cb, &a);
	route_resolve(t, d, "bad_name", route_cb, &b);
	route_resolve(t, d, "[127.0.0.1]", route_cb, &c);
	/* let the MX answer come in, so a's host lookups are under way */
	int never = 0;
	loop_until(&never, 0.0);
	dns_free(&d);
	CHECK_EQ_INT(a.calls, 1);
	CHECK_EQ_INT(b.calls, 1);
	CHECK_EQ_INT(c.calls, 1);
	CHECK_EQ_INT(b.st, ROUTE_PERM);
	CHECK(a.st == ROUTE_TEMP || a.st == ROUTE_OK);
	route_table_free(&t);
	buf_free(&err);
}

static bool have_dnslib(void)
{
	if (access(PYTHON, X_OK) != 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(PYTHON, PYTHON, "-c", "import dnslib.server", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!have_dnslib()) {
		printf("SKIP: python3-dnslib is not installed\n");
		printf("0 passed, 0 failed\n");
		return 0;
	}
	if (!server_start()) {
		server_stop();
		printf("0 passed, 1 failed\n");
		return 1;
	}
	base = event_base_new();
	struct buf err = BUF_INIT;
	dns = dns_new(base, servers, &err);
	if (!dns) {
		fprintf(stderr, "dns_new: %s", buf_cstr(&err));
		server_stop();
		printf("0 passed, 1 failed\n");
		return 1;
	}
	void (*tests[])(void) = { test_mx, test_addr, test_literals,
				  test_bad_servers, test_cancel, test_timeouts,
				  test_route_mx, test_route_configured,
				  test_route_cancel };
	int pass = 0, fail = 0;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		unit_current_failed = 0;
		tests[i]();
		if (unit_current_failed)
			fail++;
		else
			pass++;
	}
	(void)unit_failed_checks;
	dns_free(&dns);
	event_base_free(base);
	buf_free(&err);
	server_stop();
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}
