/* relay/route.h: the route table from the config, and the resolution
 * of a domain into addresses to try (RFC 5321 section 5.1). */
#include "relay/route.h"
#include "relay/idna.h"
#include "core/cidr.h"
#include "core/xmalloc.h"
#include "relay/dns.h"
#include "relay/route_parse.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct route_host {
	char host[256];
	int port;
};

/* "domain=..." entries; a domain starting with '.' matches every name
 * below it (".example.com": a.example.com, not example.com). */
struct route_entry {
	char domain[ROUTE_NAME_MAX + 2];
	struct route_host to;
};
struct route_policy {
	char domain[ROUTE_NAME_MAX + 2];
	enum relay_tls_level level;
};

struct route_table {
	struct route_entry *routes;
	size_t n_routes;
	struct route_policy *policies;
	size_t n_policies;
	enum relay_tls_level tls_default;
	bool has_smarthost;
	struct route_host smarthost;
	enum relay_tls_level smarthost_tls;
	int relay_port;
	char self[256]; /* our hostname, lowercase, no trailing dot */
	/* Where DNS and address literals may not lead (route_check_addr):
	 * internal ranges unless allowed, and ourselves. */
	struct cidr_list allowed_internal;
	struct cidr_list own;  /* our interface addresses, at start */
	struct route_listen {
		unsigned char addr[16];
		bool any;      /* 0.0.0.0 or :: */
		int port;
	} listen[4];           /* our SMTP, submission(s), LMTP ports */
	size_t n_listen;
};

/* Splits "domain=value" and checks the domain (a leading '.' allowed). */
static bool route_item_split(struct str item, char *domain, size_t dsz,
			     struct str *value, const char **why)
{
	const char *eq = memchr(item.p, '=', item.len);
	if (!eq) {
		*why = "expected domain=value";
		return false;
	}
	struct str d = str_make(item.p, (size_t)(eq - item.p));
	*value = str_make(eq + 1, item.len - d.len - 1);
	struct str name = d;
	if (name.len > 1 && name.p[0] == '.')
		name = str_make(name.p + 1, name.len - 1);
	if (!route_name_valid(name) || d.len >= dsz) {
		*why = "bad domain";
		return false;
	}
	size_t n = d.len;
	if (d.p[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		domain[i] = ascii_lower(d.p[i]);
	domain[n] = '\0';
	return true;
}

static void route_err(struct buf *err, const char *key, struct str item,
		      const char *why)
{
	buf_printf(err, "%s: \"%.*s\": %s\n", key, (int)item.len, item.p, why);
}

static int route_parse_routes(struct route_table *t, const char *s,
			      struct buf *err)
{
	int bad = 0;
	struct str rest = str_from_cstr(s), item;
	while (route_list_next(&rest, &item)) {
		struct route_entry e;
		struct str value;
		const char *why;
		if (!route_item_split(item, e.domain, sizeof e.domain, &value, &why) ||
		    !route_hostport_parse(value, t->relay_port, e.to.host,
					  sizeof e.to.host, &e.to.port, &why)) {
			route_err(err, "relay_routes", item, why);
			bad = 1;
			continue;
		}
		t->routes = xrealloc(t->routes, (t->n_routes + 1) * sizeof *t->routes);
		t->routes[t->n_routes++] = e;
	}
	return bad;
}

static int route_parse_policies(struct route_table *t, const char *s,
				struct buf *err)
{
	int bad = 0;
	struct str rest = str_from_cstr(s), item;
	while (route_list_next(&rest, &item)) {
		struct route_policy p;
		struct str value;
		const char *why = "expected none, may, encrypt or verify";
		char level[16];
		int l = -1;
		if (route_item_split(item, p.domain, sizeof p.domain, &value, &why) &&
		    value.len < sizeof level) {
			memcpy(level, value.p, value.len);
			level[value.len] = '\0';
			l = relay_tls_level_parse(level, 0);
			why = "expected none, may, encrypt or verify";
		}
		if (l < 0) {
			route_err(err, "relay_tls_policy", item, why);
			bad = 1;
			continue;
		}
		p.level = (enum relay_tls_level)l;
		t->policies = xrealloc(t->policies,
				       (t->n_policies + 1) * sizeof *t->policies);
		t->policies[t->n_policies++] = p;
	}
	return bad;
}

/* A host name as DNS gives it, the way we compare it: lowercase,
 * without the trailing dot. */
static void route_name_norm(const char *in, char *out, size_t n)
{
	size_t l = strlen(in);
	if (l > 0 && in[l - 1] == '.')
		l--;
	if (l >= n)
		l = n - 1;
	for (size_t k = 0; k < l; k++)
		out[k] = ascii_lower(in[k]);
	out[l] = '\0';
}

/* Our own addresses (every interface's, read once at start: a blocking
 * but short netlink call) and the ports we take mail on: a target
 * among them is a loop (RFC 5321 5.1: we would send the mail to
 * ourselves). */
static void route_own_addresses(struct route_table *t, const struct config *cfg)
{
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
					     i->ifa_addr->sa_family != AF_INET6))
				continue;
			char ip[INET6_ADDRSTRLEN];
			const void *a = i->ifa_addr->sa_family == AF_INET
				? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			struct cidr c = { .prefix = 128 };
			if (!inet_ntop(i->ifa_addr->sa_family, a, ip, sizeof ip) ||
			    !cidr_addr_parse(ip, c.addr))
				continue;
			t->own.v = xrealloc(t->own.v, (t->own.n + 1) * sizeof *t->own.v);
			t->own.v[t->own.n++] = c;
		}
		freeifaddrs(ifa);
	}
	static const enum listener_kind kinds[] = {
		LISTEN_SMTP, LISTEN_SUBMISSION, LISTEN_SUBMISSIONS, LISTEN_LMTP,
	};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		const struct listener_conf *l = &cfg->listen[kinds[k]];
		if (!l->enabled)
			continue;
		struct route_listen *r = &t->listen[t->n_listen];
		if (!cidr_addr_parse(l->host, r->addr))
			continue;
		const char *range = cidr_addr_internal(r->addr);
		r->any = range && !strcmp(range, "unspecified");
		r->port = l->port;
		t->n_listen++;
	}
}

enum route_addr_verdict route_check_addr(const struct route_table *t,
					 const struct sockaddr_storage *ss,
					 int port, const char **range)
{
	char ip[INET6_ADDRSTRLEN] = "";
	const void *a = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	unsigned char a16[16];
	*range = NULL;
	if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
	    !inet_ntop(ss->ss_family, a, ip, sizeof ip) ||
	    !cidr_addr_parse(ip, a16)) {
		*range = "unknown";
		return ROUTE_ADDR_INTERNAL;
	}
	const char *r = cidr_addr_internal(a16);
	for (size_t i = 0; i < t->n_listen; i++) {
		const struct route_listen *l = &t->listen[i];
		if (l->port != port)
			continue;
		/* A wildcard listener takes every address of ours, the whole
		 * loopback range and 0.0.0.0 included. */
		if (!memcmp(l->addr, a16, 16) ||
		    (l->any && (cidr_list_match_addr(&t->own, a16) ||
				(r && (!strcmp(r, "loopback") ||
				       !strcmp(r, "unspecified")))))) {
			*range = "ourselves";
			return ROUTE_ADDR_SELF;
		}
	}
	if (r && !cidr_list_match_addr(&t->allowed_internal, a16)) {
		*range = r;
		return ROUTE_ADDR_INTERNAL;
	}
	return ROUTE_ADDR_OK;
}

struct route_table *route_table_new(const struct config *cfg, struct buf *err)
{
	struct route_table *t = xcalloc(1, sizeof *t);
	int bad = 0;
	t->relay_port = cfg->relay_port > 0 ? cfg->relay_port : 25;
	route_name_norm(cfg->hostname ? cfg->hostname : "", t->self,
			sizeof t->self);
	int l = relay_tls_level_parse(cfg->relay_tls ? cfg->relay_tls : "may", 0);
	if (l < 0) {
		buf_printf(err, "relay_tls: \"%s\": expected none, may, encrypt or verify\n",
			   cfg->relay_tls);
		bad = 1;
	}
	t->tls_default = l < 0 ? RELAY_TLS_MAY : (enum relay_tls_level)l;
	bad |= route_parse_routes(t, cfg->relay_routes ? cfg->relay_routes : "", err);
	bad |= route_parse_policies(t, cfg->relay_tls_policy ? cfg->relay_tls_policy : "",
				    err);
	l = relay_tls_level_parse(cfg->smarthost_tls ? cfg->smarthost_tls : "verify", 1);
	if (l < 0) {
		buf_printf(err, "smarthost_tls: \"%s\": expected none, may, encrypt, verify or smtps\n",
			   cfg->smarthost_tls);
		bad = 1;
	}
	t->smarthost_tls = l < 0 ? RELAY_TLS_VERIFY : (enum relay_tls_level)l;
	if (cfg->smarthost && cfg->smarthost[0]) {
		/* 465 is the implicit-TLS submission port (RFC 8314
		 * section 3.3); any other port (587...) is accepted. */
		int def = t->smarthost_tls == RELAY_TLS_SMTPS ? 465 : 25;
		const char *why;
		struct str s = str_from_cstr(cfg->smarthost);
		if (!route_hostport_parse(s, def, t->smarthost.host,
					  sizeof t->smarthost.host,
					  &t->smarthost.port, &why)) {
			route_err(err, "smarthost", s, why);
			bad = 1;
		}
		t->has_smarthost = true;
	}
	struct buf why = BUF_INIT;
	if (cidr_list_parse(cfg->relay_allowed_internal, &t->allowed_internal,
			    &why) != 0) {
		buf_printf(err, "relay_allowed_internal: %.*s\n", (int)why.len,
			   why.data ? why.data : "");
		bad = 1;
	}
	buf_free(&why);
	route_own_addresses(t, cfg);
	if (bad) {
		route_table_free(&t);
		return NULL;
	}
	return t;
}

void route_table_free(struct route_table **tp)
{
	struct route_table *t = *tp;
	if (!t)
		return;
	*tp = NULL;
	free(t->routes);
	free(t->policies);
	cidr_list_free(&t->allowed_internal);
	cidr_list_free(&t->own);
	free(t);
}

/* Lowercases domain into out without a trailing dot; false if too long. */
static bool route_domain_key(const char *domain, char *out, size_t n)
{
	/* a UTF-8 domain is keyed by its A-labels, as policies name it */
	char alabels[ROUTE_NAME_MAX + 2];
	if (!idna_is_ascii(domain)) {
		if (!idna_domain_to_ascii(domain, alabels, sizeof alabels))
			return false;
		domain = alabels;
	}
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len >= n)
		return false;
	for (size_t i = 0; i < len; i++)
		out[i] = ascii_lower(domain[i]);
	out[len] = '\0';
	return true;
}

/* An exact entry beats a ".parent" one; among parents the longest. */
static bool route_domain_match(const char *pattern, const char *key,
			       size_t *score)
{
	size_t pl = strlen(pattern), kl = strlen(key);
	if (pattern[0] != '.') {
		if (strcmp(pattern, key) != 0)
			return false;
		*score = SIZE_MAX;
		return true;
	}
	if (kl <= pl || strcmp(key + kl - pl, pattern) != 0)
		return false;
	*score = pl;
	return true;
}

static const struct route_entry *route_find(const struct route_table *t,
					    const char *key)
{
	const struct route_entry *best = NULL;
	size_t best_score = 0, score;
	for (size_t i = 0; i < t->n_routes; i++)
		if (route_domain_match(t->routes[i].domain, key, &score) &&
		    (!best || score > best_score)) {
			best = &t->routes[i];
			best_score = score;
		}
	return best;
}

enum relay_tls_level route_tls_level(const struct route_table *t,
				     const char *domain)
{
	if (t->has_smarthost)
		return t->smarthost_tls;
	char key[ROUTE_NAME_MAX + 2];
	if (!route_domain_key(domain, key, sizeof key))
		return t->tls_default;
	const struct route_policy *best = NULL;
	size_t best_score = 0, score;
	for (size_t i = 0; i < t->n_policies; i++)
		if (route_domain_match(t->policies[i].domain, key, &score) &&
		    (!best || score > best_score)) {
			best = &t->policies[i];
			best_score = score;
		}
	return best ? best->level : t->tls_default;
}

static void route_host_name(const struct route_host *h, char *out, size_t n)
{
	if (strchr(h->host, ':'))
		snprintf(out, n, "[%s]:%d", h->host, h->port);
	else
		snprintf(out, n, "%s:%d", h->host, h->port);
}

void route_destination(const struct route_table *t, const char *domain,
		       char *out, size_t n)
{
	if (n == 0)
		return;
	if (t->has_smarthost) {
		route_host_name(&t->smarthost, out, n);
		return;
	}
	char key[ROUTE_NAME_MAX + 2];
	if (!route_domain_key(domain, key, sizeof key)) {
		snprintf(out, n, "%s", domain);
		return;
	}
	const struct route_entry *e = route_find(t, key);
	if (e)
		route_host_name(&e->to, out, n);
	else
		snprintf(out, n, "%s", key);
}

/* ---- resolution ---- */

struct route_job_host {
	struct route_job *job;
	char name[256];
	enum dns_status st;
	char why[320];
	size_t n;
	struct sockaddr_storage addrs[ROUTE_TARGETS_MAX];
	socklen_t lens[ROUTE_TARGETS_MAX];
};

struct route_job {
	const struct route_table *t;
	struct dns *dns;
	route_fn fn;
	void *arg;
	char domain[256];
	int port;
	/* admin-configured (smarthost, route): a failure is never a bounce */
	bool configured;
	bool implicit_mx;
	size_t n_hosts, pending;
	struct route_job_host hosts[ROUTE_MX_MAX];
	/* for a failure found before any query */
	enum route_status st;
	const char *status;
	char why[320];
};

static void route_job_finish(struct route_job *j, enum route_status st,
			     const struct relay_target *targets, size_t n,
			     const char *status, const char *why)
{
	j->fn(j->arg, st, targets, n, status, why);
	free(j);
}

static void route_job_soon_cb(void *arg)
{
	struct route_job *j = arg;
	route_job_finish(j, j->st, NULL, 0, j->status, j->why);
}

/* Fails from the loop, as route.h promises. */
static void route_job_fail_soon(struct route_job *j, enum route_status st,
				const char *status, const char *why)
{
	j->st = st;
	j->status = status;
	snprintf(j->why, sizeof j->why, "%s", why);
	dns_call_soon(j->dns, route_job_soon_cb, j);
}

static void route_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* "127.0.0.1 (loopback) of mx.example" for the bounce and the log. */
static void route_addr_describe(const struct sockaddr_storage *ss,
				const char *host, const char *range, char *out,
				size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	inet_ntop(ss->ss_family, a, ip, sizeof ip);
	if (strcmp(ip, host) != 0)
		snprintf(out, n, "%s is %s, of %.60s", ip, range, host);
	else
		snprintf(out, n, "%s is %s", ip, range);
}

/* All hosts answered: the targets in host order (MX order), each
 * host's addresses IPv6 first; or why there are none. */
static void route_job_done(struct route_job *j)
{
	struct relay_target *tg = xcalloc(ROUTE_TARGETS_MAX, sizeof *tg);
	size_t n = 0;
	size_t n_temp = 0, n_ok = 0, n_self = 0, n_internal = 0;
	const struct route_job_host *first_bad = NULL, *temp = NULL;
	char refused[160] = "";
	for (size_t i = 0; i < j->n_hosts; i++) {
		const struct route_job_host *h = &j->hosts[i];
		if (h->st == DNS_OK)
			n_ok++;
		else if (!first_bad)
			first_bad = h;
		if (h->st == DNS_TEMPFAIL) {
			n_temp++;
			if (!temp)
				temp = h;
		}
		for (size_t k = 0; h->st == DNS_OK && k < h->n && n < ROUTE_TARGETS_MAX; k++) {
			/* Checked here, on the addresses we will connect to,
			 * after DNS: a name that resolves (or is rebound)
			 * into our network is caught whatever the name. The
			 * admin's smarthost and routes are trusted. */
			const char *range;
			enum route_addr_verdict v = j->configured
				? ROUTE_ADDR_OK
				: route_check_addr(j->t, &h->addrs[k], j->port, &range);
			if (v != ROUTE_ADDR_OK) {
				n_self += v == ROUTE_ADDR_SELF;
				n_internal += v == ROUTE_ADDR_INTERNAL;
				if (!refused[0] || v == ROUTE_ADDR_SELF)
					route_addr_describe(&h->addrs[k], h->name,
							    range, refused,
							    sizeof refused);
				continue;
			}
			snprintf(tg[n].host, sizeof tg[n].host, "%s", h->name);
			tg[n].addr = h->addrs[k];
			tg[n].addr_len = h->lens[k];
			route_set_port(&tg[n].addr, j->port);
			n++;
		}
	}
	char why[700];
	if (n == 0 && n_temp == 0 && (n_self > 0 || n_internal > 0)) {
		/* Every address is ourselves or internal: a loop (RFC 5321
		 * 5.1, as a best MX naming us) or a place outbound mail
		 * must not go (relay_allowed_internal). */
		if (n_self > 0) {
			snprintf(why, sizeof why, "mail for %s loops back to "
				 "myself (%s)", j->domain, refused);
			route_job_finish(j, ROUTE_PERM, NULL, 0, "5.4.6", why);
		} else {
			snprintf(why, sizeof why, "mail for %s would go to an "
				 "internal address (%s), which is not in "
				 "relay_allowed_internal", j->domain, refused);
			route_job_finish(j, ROUTE_PERM, NULL, 0, "5.4.4", why);
		}
	} else if (n > 0) {
		snprintf(why, sizeof why, "%zu addresses from %zu of %zu hosts for %s",
			 n, n_ok, j->n_hosts, j->domain);
		route_job_finish(j, ROUTE_OK, tg, n, NULL, why);
	} else if (n_temp > 0 || j->configured) {
		/* Any temporary trouble, or a configured host (smarthost,
		 * route) that does not resolve: the admin can fix that, and
		 * the mail must wait for it, not bounce. */
		const struct route_job_host *h = temp ? temp : first_bad;
		snprintf(why, sizeof why, "no address for %s: %s", j->domain,
			 h ? h->why : "no host");
		route_job_finish(j, ROUTE_TEMP, NULL, 0, "4.4.3", why);
	} else {
		/* Every MX host (or the domain itself, as the implicit MX)
		 * answered "no such name" or "no address record": the
		 * domain's own DNS says its mail cannot be delivered, and
		 * Postfix bounces this too (5.4.4 "Host or domain name not
		 * found"). Waiting 5 days for a zone to change only delays
		 * the same bounce; a real DNS outage is TEMPFAIL, above. */
		snprintf(why, sizeof why, "%s: %s", j->implicit_mx
				? "domain has no MX and no address"
				: "no MX host of the domain has an address",
			 first_bad ? first_bad->why : j->domain);
		route_job_finish(j, ROUTE_PERM, NULL, 0, "5.4.4", why);
	}
	free(tg);
}

static void route_addr_cb(void *arg, enum dns_status st,
			  const struct sockaddr_storage *addrs,
			  const socklen_t *lens, size_t n, const char *why)
{
	struct route_job_host *h = arg;
	struct route_job *j = h->job;
	h->st = st;
	snprintf(h->why, sizeof h->why, "%s", why ? why : "");
	for (size_t i = 0; st == DNS_OK && i < n && h->n < ROUTE_TARGETS_MAX; i++) {
		h->addrs[h->n] = addrs[i];
		h->lens[h->n] = lens[i];
		h->n++;
	}
	if (--j->pending == 0)
		route_job_done(j);
}

/* Looks up every host at once: the answers come back in any order,
 * route_job_done puts them in MX order. */
static void route_job_lookup_hosts(struct route_job *j)
{
	j->pending = j->n_hosts;
	for (size_t i = 0; i < j->n_hosts; i++) {
		j->hosts[i].job = j;
		j->hosts[i].st = DNS_TEMPFAIL;
	}
	/* dns_query_addr never answers from inside itself, so j lives
	 * through this loop. */
	for (size_t i = 0; i < j->n_hosts; i++)
		dns_query_addr(j->dns, j->hosts[i].name, route_addr_cb, &j->hosts[i]);
}

static uint64_t route_seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
		return s;
	/* No entropy yet (early boot): spreading load does not need it. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
}

static void route_mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx,
			size_t n, const char *why)
{
	struct route_job *j = arg;
	char text[700];
	switch (st) {
	case DNS_TEMPFAIL:
		snprintf(text, sizeof text, "MX lookup for %s failed: %s", j->domain, why);
		route_job_finish(j, ROUTE_TEMP, NULL, 0, "4.4.3", text);
		return;
	case DNS_NXDOMAIN:
		snprintf(text, sizeof text, "domain %s does not exist", j->domain);
		route_job_finish(j, ROUTE_PERM, NULL, 0, "5.1.2", text);
		return;
	case DNS_NODATA:
		/* RFC 5321 section 5.1: no MX records: the domain itself is
		 * the implicit MX, preference 0. */
		j->implicit_mx = true;
		snprintf(j->hosts[0].name, sizeof j->hosts[0].name, "%s", j->domain);
		j->n_hosts = 1;
		route_job_lookup_hosts(j);
		return;
	case DNS_OK:
		break;
	}
	/* RFC 7505 section 4.1: a null MX (one record, exchange ".") says
	 * the domain accepts no mail: fail at once, 5.1.10. A "." mixed
	 * with real MX records breaks section 3; like Postfix we skip the
	 * "." and try the others. */
	if (n == 1 && mx[0].host[0] == '\0') {
		snprintf(text, sizeof text, "domain %s accepts no mail (null MX)",
			 j->domain);
		route_job_finish(j, ROUTE_PERM, NULL, 0, "5.1.10", text);
		return;
	}
	struct dns_mx *v = xcalloc(n ? n : 1, sizeof *v);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (route_name_valid(str_from_cstr(mx[i].host)))
			v[m++] = mx[i];
	route_mx_order(v, m, route_seed());
	/* RFC 5321 section 5.1: when we are one of the MX hosts (a backup
	 * MX), every record of our preference or higher MUST go: only
	 * better ones may get the mail, or it would come back to us. */
	for (size_t i = 0; i < m; i++) {
		char name[256];
		route_name_norm(v[i].host, name, sizeof name);
		if (j->t->self[0] && !strcmp(name, j->t->self)) {
			size_t keep = 0;
			while (keep < m && v[keep].pref < v[i].pref)
				keep++;
			m = keep;
			if (m == 0) {
				free(v);
				snprintf(text, sizeof text, "mail for %s loops "
					 "back to myself (%s is its best MX)",
					 j->domain, j->t->self);
				route_job_finish(j, ROUTE_PERM, NULL, 0, "5.4.6",
						 text);
				return;
			}
			break;
		}
	}
	for (size_t i = 0; i < m && j->n_hosts < ROUTE_MX_MAX; i++) {
		struct route_job_host *h = &j->hosts[j->n_hosts++];
		route_name_norm(v[i].host, h->name, sizeof h->name);
	}
	free(v);
	if (j->n_hosts == 0) {
		snprintf(text, sizeof text, "no usable MX host for %s", j->domain);
		route_job_finish(j, ROUTE_TEMP, NULL, 0, "4.4.3", text);
		return;
	}
	route_job_lookup_hosts(j);
}

/* RFC 5321 section 4.1.3: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
static bool route_address_literal(const char *domain, char *ip, size_t n)
{
	size_t len = strlen(domain);
	if (len < 3 || domain[0] != '[' || domain[len - 1] != ']')
		return false;
	const char *p = domain + 1;
	size_t l = len - 2;
	int af = AF_INET;
	if (l > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		p += 5;
		l -= 5;
		af = AF_INET6;
	}
	if (l >= n)
		return false;
	memcpy(ip, p, l);
	ip[l] = '\0';
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(af, ip, a) == 1;
}

void route_resolve(const struct route_table *t, struct dns *d,
		   const char *domain, route_fn fn, void *arg)
{
	struct route_job *j = xcalloc(1, sizeof *j);
	j->t = t;
	j->dns = d;
	j->fn = fn;
	j->arg = arg;
	j->port = t->relay_port;
	char ip[ROUTE_NAME_MAX + 2];
	if (t->has_smarthost) {
		j->configured = true;
		j->port = t->smarthost.port;
		snprintf(j->domain, sizeof j->domain, "%s", t->smarthost.host);
		snprintf(j->hosts[0].name, sizeof j->hosts[0].name, "%s", t->smarthost.host);
		j->n_hosts = 1;
		route_job_lookup_hosts(j);
		return;
	}
	/* RFC 5891 section 5: an SMTPUTF8 domain is looked up by its
	 * A-labels ("xn--..."). */
	char alabels[ROUTE_NAME_MAX + 2];
	if (!idna_is_ascii(domain)) {
		if (!idna_domain_to_ascii(domain, alabels, sizeof alabels)) {
			snprintf(j->domain, sizeof j->domain, "%.60s", domain);
			route_job_fail_soon(j, ROUTE_PERM, "5.1.2",
					    "invalid internationalized domain "
					    "name");
			return;
		}
		domain = alabels;
	}
	if (route_address_literal(domain, ip, sizeof ip)) {
		snprintf(j->domain, sizeof j->domain, "%s", domain);
		snprintf(j->hosts[0].name, sizeof j->hosts[0].name, "%s", ip);
		j->n_hosts = 1;
		route_job_lookup_hosts(j);
		return;
	}
	if (!route_name_valid(str_from_cstr(domain)) ||
	    !route_domain_key(domain, j->domain, sizeof j->domain)) {
		snprintf(j->domain, sizeof j->domain, "%.60s", domain);
		route_job_fail_soon(j, ROUTE_PERM, "5.1.2",
				    "invalid domain name");
		return;
	}
	const struct route_entry *e = route_find(t, j->domain);
	if (e) {
		j->configured = true;
		j->port = e->to.port;
		snprintf(j->hosts[0].name, sizeof j->hosts[0].name, "%s", e->to.host);
		j->n_hosts = 1;
		route_job_lookup_hosts(j);
		return;
	}
	dns_query_mx(d, j->domain, route_mx_cb, j);
}
