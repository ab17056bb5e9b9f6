/* spf/: the record parser (RFC 7208 4.6, 5, 6, 12), macro expansion
 * against the examples of RFC 7208 7.4, and the evaluator's contract
 * (callback from the loop, the time bound, cancel) against a DNS port
 * where nothing answers. Evaluations against real policies are in
 * tests/integration/test_spf.py (compared with pyspf). */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/limits.h"
#include "relay/dns.h"
#include "spf/macro.h"
#include "spf/record.h"
#include "spf/spf.h"
#include "tests/unit/unit.h"

static bool parses(const char *txt)
{
	struct spf_record r;
	char err[256];
	bool ok = spf_record_parse(txt, strlen(txt), &r, err, sizeof err);
	if (ok)
		spf_record_free(&r);
	return ok;
}

UNIT_TEST(record_valid)
{
	static const char *const ok[] = {
		"v=spf1",
		"v=spf1 ",
		"V=SPF1 -ALL",
		"v=spf1 +all",
		"v=spf1  ip4:192.0.2.0/24   -all  ",
		"v=spf1 ip4:192.0.2.1 ip4:10.0.0.0/0 ip6:2001:db8::/32 ip6:::1",
		"v=spf1 a a:example.org a/24 a//64 a:example.org/24//64 ~all",
		"v=spf1 mx mx:example.org. mx/0 ?all",
		"v=spf1 ptr ptr:example.org -all",
		"v=spf1 include:_spf.example.org -all",
		"v=spf1 exists:%{i}.%{l1r-}.lp._spf.%{d2} -all",
		"v=spf1 exists:%{ir}.%{v}._spf.%{d}",
		"v=spf1 -exists:%{i}.%{s1}.100/86400.rate.%{d}",
		"v=spf1 mx:%%%_/.Clara.de/27",
		"v=spf1 redirect=_spf.example.org",
		"v=spf1 -all exp=explain._spf.%{d}",
		"v=spf1 moo=bar foo.bar-baz_9=%{d}x -all",
		"v=spf1 unknown= -all",
		"v=spf1 a:foo.1-2",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!parses(ok[i])) {
			fprintf(stderr, "should parse: %s\n", ok[i]);
			CHECK(0);
		}
}

UNIT_TEST(record_permerror)
{
	static const char *const bad[] = {
		"v=spf1 foo",
		"v=spf1 =a",
		"v=spf1 -all:x",
		"v=spf1 ip4:192.0.2.300",
		"v=spf1 ip4:192.0.02.1",
		"v=spf1 ip4:192.0.2.1/33",
		"v=spf1 ip4:192.0.2.1/024",
		"v=spf1 ip4:192.0.2.1//24",
		"v=spf1 ip4",
		"v=spf1 ip6:2001:db8::/129",
		"v=spf1 ip6:2001:db8:zzzz::",
		"v=spf1 a/33",
		"v=spf1 a//129",
		"v=spf1 a:localhost",
		"v=spf1 a:example.com:8080",
		"v=spf1 a:example.123",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 exists",
		"v=spf1 include:example.org/24",
		"v=spf1 ptr/24",
		"v=spf1 a:%{x}.example.org",
		"v=spf1 a:%{c}.example.org",
		"v=spf1 a:%.example.org",
		"v=spf1 a:%{d.example.org",
		"v=spf1 redirect=a.test redirect=b.test",
		"v=spf1 exp=a.test exp=b.test",
		"v=spf1 redirect=",
		"v=spf1 moo=%",
		"v=spf1 a:exa\tmple.org",
		"v=spf1 a:ex\xc3\xa4mple.org",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parses(bad[i])) {
			fprintf(stderr, "should fail: %s\n", bad[i]);
			CHECK(0);
		}
	CHECK(!spf_record_is_spf("v=spf10", 7));
	CHECK(!spf_record_is_spf("v=spf1-all", 10));
	CHECK(spf_record_is_spf("v=spf1", 6));
}

UNIT_TEST(record_terms)
{
	const char *txt = "v=spf1 -mx:%{d}/27//64 ?ip4:10.1.2.3/8 "
			  "ip6:2001:db8::/48 redirect=r.example exp=e.example";
	struct spf_record r;
	char err[128];
	CHECK(spf_record_parse(txt, strlen(txt), &r, err, sizeof err));
	CHECK_EQ_INT(r.n_terms, 3);
	CHECK_EQ_INT(r.terms[0].mech, SPF_M_MX);
	CHECK_EQ_INT(r.terms[0].qual, SPF_FAIL);
	CHECK_EQ_MEM(r.terms[0].spec, r.terms[0].spec_len, "%{d}", 4);
	CHECK_EQ_INT(r.terms[0].cidr4, 27);
	CHECK_EQ_INT(r.terms[0].cidr6, 64);
	CHECK_EQ_INT(r.terms[1].mech, SPF_M_IP4);
	CHECK_EQ_INT(r.terms[1].qual, SPF_NEUTRAL);
	CHECK_EQ_INT(r.terms[1].cidr4, 8);
	CHECK_EQ_MEM(r.terms[1].addr, 4, "\x0a\x01\x02\x03", 4);
	CHECK_EQ_INT(r.terms[2].cidr6, 48);
	CHECK_EQ_MEM(r.redirect, r.redirect_len, "r.example", 9);
	CHECK_EQ_MEM(r.exp, r.exp_len, "e.example", 9);
	spf_record_free(&r);
}

static struct sockaddr_storage ip4, ip6;

static struct spf_macro_ctx rfc_ctx(bool v6)
{
	struct spf_macro_ctx c = {
		.sender = "strong-bad@email.example.com",
		.domain = "email.example.com",
		.helo = "mx.example.org",
		.ip = v6 ? &ip6 : &ip4,
		.receiver = "mx.receiver.example",
		.now = 1234567890,
	};
	return c;
}

static void expect(const char *in, bool v6, bool exp, const char *out)
{
	struct spf_macro_ctx c = rfc_ctx(v6);
	struct buf b = BUF_INIT;
	char err[128] = "";
	bool ok = spf_macro_expand(in, strlen(in), &c, exp, !exp, &b, err,
				   sizeof err);
	if (!ok || strcmp(buf_cstr(&b), out) != 0) {
		fprintf(stderr, "%s -> %s (%s), expected %s\n", in,
			ok ? buf_cstr(&b) : "error", err, out);
		unit_current_failed = 1;
	}
	buf_free(&b);
}

static bool expand_fails(const char *in, bool exp)
{
	struct spf_macro_ctx c = rfc_ctx(false);
	struct buf b = BUF_INIT;
	char err[128];
	bool ok = spf_macro_expand(in, strlen(in), &c, exp, false, &b, err,
				   sizeof err);
	buf_free(&b);
	return !ok;
}

UNIT_TEST(macro_rfc7208_7_4)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ip4;
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.3", &s4->sin_addr);
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ip6;
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::cb01", &s6->sin6_addr);

	expect("%{s}", false, false, "strong-bad@email.example.com");
	expect("%{o}", false, false, "email.example.com");
	expect("%{d}", false, false, "email.example.com");
	expect("%{d4}", false, false, "email.example.com");
	expect("%{d3}", false, false, "email.example.com");
	expect("%{d2}", false, false, "example.com");
	expect("%{d1}", false, false, "com");
	expect("%{dr}", false, false, "com.example.email");
	expect("%{d2r}", false, false, "example.email");
	expect("%{l}", false, false, "strong-bad");
	expect("%{l-}", false, false, "strong.bad");
	expect("%{lr}", false, false, "strong-bad");
	expect("%{lr-}", false, false, "bad.strong");
	expect("%{l1r-}", false, false, "strong");
	expect("%{ir}.%{v}._spf.%{d2}", false, false,
	       "3.2.0.192.in-addr._spf.example.com");
	expect("%{lr-}.lp._spf.%{d2}", false, false,
	       "bad.strong.lp._spf.example.com");
	expect("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", false, false,
	       "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	expect("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", false, false,
	       "3.2.0.192.in-addr.strong.lp._spf.example.com");
	expect("%{d2}.trusted-domains.example.net", false, false,
	       "example.com.trusted-domains.example.net");
	expect("%{ir}.%{v}._spf.%{d2}", true, false,
	       "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
	       ".ip6._spf.example.com");
	/* uppercase: URL-escaped (RFC 7208 7.3) */
	expect("%{S}", false, true, "strong-bad%40email.example.com");
	expect("%%%_%-", false, true, "% %20");
	/* exp only: c, r, t */
	expect("%{c} %{r} %{t}", false, true,
	       "192.0.2.3 mx.receiver.example 1234567890");
	expect("%{c}", true, true, "2001:db8::cb01");
	expect("%{h}.%{p}", false, false, "mx.example.org.unknown");
	/* a domain loses its trailing dot */
	expect("%{d}.", false, false, "email.example.com");
	CHECK(expand_fails("%{c}", false));
	CHECK(expand_fails("%{x}", true));
	CHECK(expand_fails("%{d0}", false));
	CHECK(expand_fails("%", false));
	CHECK(expand_fails("%{d", false));
	CHECK(expand_fails("%{d2x}", false));
	CHECK(spf_macro_uses_p("a.%{p}", 6));
	CHECK(!spf_macro_uses_p("a.%%{p}", 7));
}

UNIT_TEST(macro_long_domain_cut)
{
	/* RFC 7208 7.3: leftmost labels dropped until <= 253 octets */
	char in[400];
	size_t o = 0;
	for (int i = 0; i < 30; i++)
		o += (size_t)snprintf(in + o, sizeof in - o, "label%03d.", i);
	snprintf(in + o, sizeof in - o, "%%{d}");
	struct spf_macro_ctx c = rfc_ctx(false);
	struct buf b = BUF_INIT;
	char err[64];
	CHECK(spf_macro_expand(in, strlen(in), &c, false, true, &b, err,
			       sizeof err));
	CHECK(b.len <= 253);
	CHECK(b.len > 200);
	CHECK(!strncmp(b.data, "label", 5));
	CHECK(!strcmp(b.data + b.len - 17, "email.example.com"));
	buf_free(&b);
}

struct got {
	int calls;
	enum spf_result r;
	char expl[256];
	struct event_base *base;
	struct spf_eval **self; /* cancelled from the callback when set */
};

static void on_done(void *arg, const struct spf_answer *a)
{
	struct got *g = arg;
	g->calls++;
	g->r = a->result;
	snprintf(g->expl, sizeof g->expl, "%s", a->explanation);
	if (g->self)
		spf_cancel(g->self);
	event_base_loopbreak(g->base);
}

/* A bound UDP socket nobody reads: every query would take c-ares'
 * whole timeout (6 s). */
UNIT_TEST(eval_time_bound_and_cancel)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%u", ntohs(sa.sin_port));
	struct event_base *base = event_base_new();
	struct buf err = BUF_INIT;
	struct dns *d = dns_new(base, server, &err);
	CHECK(d != NULL);
	struct spf_request rq;
	memset(&rq, 0, sizeof rq);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&rq.ip;
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.3", &s4->sin_addr);
	rq.helo = "mx.example.org";
	rq.sender = "u@example.org";
	rq.time_max_ms = 300;
	struct got g = { .base = base };
	/* not a domain: "none", but from the loop, not inside spf_start */
	rq.sender = "u@nodot";
	struct spf_eval *e = spf_start(d, base, &rq, on_done, &g);
	CHECK(e != NULL);
	CHECK_EQ_INT(g.calls, 0);
	event_base_dispatch(base);
	CHECK_EQ_INT(g.calls, 1);
	CHECK_EQ_INT(g.r, SPF_NONE);
	/* the time bound: temperror long before c-ares gives up */
	g.calls = 0;
	rq.sender = "u@example.org";
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	spf_start(d, base, &rq, on_done, &g);
	event_base_dispatch(base);
	gettimeofday(&t1, NULL);
	CHECK_EQ_INT(g.calls, 1);
	CHECK_EQ_INT(g.r, SPF_TEMPERROR);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	if (!(ms >= 250 && ms < 1900))
		fprintf(stderr, "took %ld ms\n", ms);
	CHECK(ms >= 250 && ms < 1900);
	/* cancelled: no callback, ever, and nothing leaks (ASan) */
	g.calls = 0;
	e = spf_start(d, base, &rq, on_done, &g);
	spf_cancel(&e);
	CHECK(e == NULL);
	spf_cancel(&e);
	struct timeval tv = { 0, 400000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	CHECK_EQ_INT(g.calls, 0);
	/* spf_cancel from inside the callback: no double free (ASan) */
	g.calls = 0;
	rq.sender = "u@nodot";
	e = spf_start(d, base, &rq, on_done, &g);
	g.self = &e;
	event_base_dispatch(base);
	CHECK_EQ_INT(g.calls, 1);
	CHECK(e == NULL);
	g.self = NULL;
	g.calls = 0;
	rq.sender = "u@example.org";
	/* dns_free cancels the query an evaluation waits on */
	e = spf_start(d, base, &rq, on_done, &g);
	spf_cancel(&e);
	dns_free(&d);
	CHECK_EQ_INT(g.calls, 0);
	buf_free(&err);
	event_base_free(base);
	close(fd);
}

UNIT_MAIN(record_valid, record_permerror, record_terms, macro_rfc7208_7_4,
	  macro_long_domain_cut, eval_time_bound_and_cancel)
