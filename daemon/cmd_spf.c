/* `postern spf IP SENDER [--helo NAME] [--identity mailfrom|helo]`:
 * one SPF evaluation (spf/spf.h) with the configured resolver, on an
 * event loop of its own, printed with the chain of lookups: for an
 * admin asking "why did this fail?", and for the tests, which compare
 * it with pyspf. */
#include "daemon/cli.h"
#include "relay/dns.h"
#include "spf/spf.h"
#include "core/buf.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

struct spf_cli {
	struct event_base *base;
	bool done;
};

static void on_done(void *arg, const struct spf_answer *a)
{
	struct spf_cli *c = arg;
	printf("result: %s\n", spf_result_name(a->result));
	printf("identity: %s %s\n", a->identity, a->sender);
	printf("domain: %s\n", a->domain);
	printf("explanation: %s\n", a->explanation);
	printf("lookups: %u, void lookups: %u\n", a->lookups, a->void_lookups);
	printf("chain:\n%s", a->trace);
	c->done = true;
	event_base_loopbreak(c->base);
}

static int usage_err(const char *why)
{
	fprintf(stderr, "postern spf: %s\n"
			"usage: postern -c CONF spf IP SENDER [--helo NAME] "
			"[--identity mailfrom|helo]\n",
		why);
	return EX_USAGE;
}

int cmd_spf(const struct config *cfg, int argc, char **argv)
{
	const char *ip = NULL, *sender = NULL, *helo = "";
	enum spf_identity id = SPF_ID_MAILFROM;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--helo") && i + 1 < argc) {
			helo = argv[++i];
		} else if (!strcmp(argv[i], "--identity") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "helo"))
				id = SPF_ID_HELO;
			else if (strcmp(argv[i], "mailfrom") != 0)
				return usage_err("--identity is mailfrom or helo");
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return usage_err("unknown option");
		} else if (!ip) {
			ip = argv[i];
		} else if (!sender) {
			sender = argv[i];
		} else {
			return usage_err("too many arguments");
		}
	}
	if (!ip || !sender)
		return usage_err("IP and SENDER are needed");
	if (!strcmp(sender, "<>"))
		sender = "";
	struct spf_request rq;
	memset(&rq, 0, sizeof rq);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&rq.ip;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&rq.ip;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return usage_err("IP is no IPv4 or IPv6 address");
	if (id == SPF_ID_HELO && !helo[0])
		return usage_err("--identity helo needs --helo NAME");
	if (!sender[0] && !helo[0])
		return usage_err("a null SENDER needs --helo NAME");
	rq.helo = helo;
	rq.sender = sender;
	rq.receiver = cfg->hostname;
	rq.identity = id;
	rq.trace = true;

	struct spf_cli c = { 0 };
	c.base = event_base_new();
	if (!c.base) {
		fprintf(stderr, "postern spf: cannot make an event loop\n");
		return EX_OSERR;
	}
	struct buf err = BUF_INIT;
	struct dns *dns = dns_new(c.base, cfg->dns_resolver, &err);
	if (!dns) {
		fprintf(stderr, "postern spf: %s", buf_cstr(&err));
		buf_free(&err);
		event_base_free(c.base);
		return EX_CONFIG;
	}
	buf_free(&err);
	struct spf_eval *e = spf_start(dns, c.base, &rq, on_done, &c);
	(void)e; /* freed by itself after on_done */
	while (!c.done)
		event_base_dispatch(c.base);
	dns_free(&dns);
	event_base_free(c.base);
	return EX_OK;
}
