/* relay/route_parse.h: names, host:port, lists, and the MX order. */
#include "relay/route_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool route_is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

bool route_name_valid(struct str s)
{
	if (s.len > 0 && s.p[s.len - 1] == '.')
		s.len--;
	if (s.len == 0 || s.len > ROUTE_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (route_is_ldh(s.p[i])) {
			if (++label > ROUTE_LABEL_MAX)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

static bool route_is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool route_list_next(struct str *rest, struct str *item)
{
	size_t i = 0;
	while (i < rest->len && route_is_sep(rest->p[i]))
		i++;
	size_t start = i;
	while (i < rest->len && !route_is_sep(rest->p[i]))
		i++;
	*item = str_make(rest->p + start, i - start);
	*rest = str_make(rest->p + i, rest->len - i);
	return item->len > 0;
}

static bool route_port_parse(struct str s, int *port)
{
	unsigned long long v;
	if (!str_to_u64(s, 65535, &v) || v == 0)
		return false;
	*port = (int)v;
	return true;
}

bool route_hostport_parse(struct str s, int default_port, char *host,
			  size_t hostsz, int *port, const char **why)
{
	struct str h, p = { NULL, 0 };
	bool has_port = false, bracket = false;
	if (s.len > 0 && s.p[0] == '[') {
		const char *end = memchr(s.p, ']', s.len);
		if (!end) {
			*why = "missing ']'";
			return false;
		}
		h = str_make(s.p + 1, (size_t)(end - s.p) - 1);
		size_t after = (size_t)(end - s.p) + 1;
		if (after < s.len) {
			if (s.p[after] != ':') {
				*why = "expected ':port' after ']'";
				return false;
			}
			has_port = true;
			p = str_make(s.p + after + 1, s.len - after - 1);
		}
		bracket = true;
	} else {
		const char *c = memchr(s.p, ':', s.len);
		if (c && memchr(c + 1, ':', s.len - (size_t)(c - s.p) - 1)) {
			*why = "an IPv6 address must be in [brackets]";
			return false;
		}
		h = c ? str_make(s.p, (size_t)(c - s.p)) : s;
		if (c) {
			has_port = true;
			p = str_make(c + 1, s.len - (size_t)(c - s.p) - 1);
		}
	}
	*port = default_port;
	if (has_port && !route_port_parse(p, port)) {
		*why = "bad port (1-65535)";
		return false;
	}
	if (h.len == 0 || h.len >= hostsz || h.len > ROUTE_NAME_MAX + 1) {
		*why = "bad host name";
		return false;
	}
	for (size_t i = 0; i < h.len; i++)
		host[i] = ascii_lower(h.p[i]);
	host[h.len] = '\0';
	unsigned char a[sizeof(struct in6_addr)];
	if (bracket) {
		if (inet_pton(AF_INET6, host, a) != 1) {
			*why = "bad IPv6 address in [brackets]";
			return false;
		}
		return true;
	}
	if (inet_pton(AF_INET, host, a) == 1)
		return true;
	if (!route_name_valid(h)) {
		*why = "bad host name";
		return false;
	}
	if (host[h.len - 1] == '.')
		host[h.len - 1] = '\0';
	return true;
}

/* splitmix64: small, good enough to spread load, and deterministic from
 * the seed so the order is testable. Not for secrets. */
static uint64_t route_rand_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void route_mx_order(struct dns_mx *mx, size_t n, uint64_t seed)
{
	/* Insertion sort: n is at most a DNS answer's worth, and a stable
	 * sort keeps the shuffle below the only source of reordering. */
	for (size_t i = 1; i < n; i++) {
		struct dns_mx t = mx[i];
		size_t j = i;
		while (j > 0 && mx[j - 1].pref > t.pref) {
			mx[j] = mx[j - 1];
			j--;
		}
		mx[j] = t;
	}
	uint64_t rs = seed;
	for (size_t lo = 0; lo < n;) {
		size_t hi = lo + 1;
		while (hi < n && mx[hi].pref == mx[lo].pref)
			hi++;
		/* Fisher-Yates over [lo, hi). */
		for (size_t i = hi - 1; i > lo; i--) {
			size_t j = lo + (size_t)(route_rand_next(&rs) % (i - lo + 1));
			if (j != i) {
				struct dns_mx t = mx[i];
				mx[i] = mx[j];
				mx[j] = t;
			}
		}
		lo = hi;
	}
}
