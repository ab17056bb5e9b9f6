/* CIDR lists (core/cidr.h). Both families live in one 16-byte form,
 * IPv4 as ::ffff:a.b.c.d, so "10.0.0.0/8" also matches a client that
 * reaches a dual-stack listener as ::ffff:10.1.2.3. */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

static bool addr_parse(const char *s, unsigned char out[16], bool *v4)
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, s, out) == 1;
}

static bool prefix_match(const unsigned char *a, const unsigned char *net,
			 unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

static int parse_one(const char *item, struct cidr *c, struct buf *err)
{
	char host[64];
	const char *slash = strchr(item, '/');
	size_t hl = slash ? (size_t)(slash - item) : strlen(item);
	if (hl == 0 || hl >= sizeof host)
		goto bad;
	memcpy(host, item, hl);
	host[hl] = '\0';
	bool v4;
	if (!addr_parse(host, c->addr, &v4))
		goto bad;
	unsigned max = v4 ? 32 : 128, bits = max;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			goto bad;
		bits = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max)
			goto bad;
	}
	c->prefix = v4 ? 96 + bits : bits;
	unsigned char zero[16];
	memcpy(zero, c->addr, 16);
	for (unsigned i = c->prefix; i < 128; i++)
		zero[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	if (memcmp(zero, c->addr, 16) != 0) {
		buf_printf(err, "\"%s\": host bits set below the prefix", item);
		return -1;
	}
	return 0;
bad:
	buf_printf(err, "\"%s\" is not an address or address/prefix", item);
	return -1;
}

int cidr_list_parse(const char *text, struct cidr_list *out, struct buf *err)
{
	out->v = NULL;
	out->n = 0;
	char *copy = xstrdup(text ? text : "");
	char *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		struct cidr c;
		if (parse_one(tok, &c, err) < 0) {
			rc = -1;
			break;
		}
		out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
		out->v[out->n++] = c;
	}
	free(copy);
	if (rc < 0)
		cidr_list_free(out);
	return rc;
}

void cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool cidr_list_match(const struct cidr_list *l, const char *ip)
{
	unsigned char a[16];
	bool v4;
	if (!l || l->n == 0 || !ip || !addr_parse(ip, a, &v4))
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (prefix_match(a, l->v[i].addr, l->v[i].prefix))
			return true;
	return false;
}

bool cidr_addr_parse(const char *ip, unsigned char out[16])
{
	bool v4;
	return ip && addr_parse(ip, out, &v4);
}

bool cidr_list_match_addr(const struct cidr_list *l, const unsigned char a[16])
{
	if (!l)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (prefix_match(a, l->v[i].addr, l->v[i].prefix))
			return true;
	return false;
}

struct special_range {
	unsigned char net[16];
	unsigned prefix; /* on the 16-byte form */
	const char *name;
};

#define V4(a, b, c, d) { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }

/* RFC 6890 (special-purpose registries), the ranges that reach a host
 * or network of our own rather than the Internet. */
static const struct special_range special[] = {
	{ V4(0, 0, 0, 0), 96 + 8, "unspecified" },   /* "this network" */
	{ V4(10, 0, 0, 0), 96 + 8, "private" },      /* RFC 1918 */
	{ V4(100, 64, 0, 0), 96 + 10, "shared" },    /* RFC 6598 CGNAT */
	{ V4(127, 0, 0, 0), 96 + 8, "loopback" },
	{ V4(169, 254, 0, 0), 96 + 16, "link-local" },
	{ V4(172, 16, 0, 0), 96 + 12, "private" },
	{ V4(192, 0, 0, 0), 96 + 24, "reserved" },   /* IETF protocols */
	{ V4(192, 168, 0, 0), 96 + 16, "private" },
	{ V4(198, 18, 0, 0), 96 + 15, "reserved" },  /* benchmarking */
	{ V4(224, 0, 0, 0), 96 + 4, "multicast" },
	{ V4(240, 0, 0, 0), 96 + 4, "reserved" },    /* and broadcast */
	{ { 0 }, 128, "unspecified" },               /* :: */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128,
	  "loopback" },                              /* ::1 */
	{ { 0 }, 96, "ipv4-compatible" },            /* ::a.b.c.d */
	{ { 0xfe, 0x80 }, 10, "link-local" },
	{ { 0xfe, 0xc0 }, 10, "private" },           /* old site-local */
	{ { 0xfc }, 7, "private" },                  /* RFC 4193 ULA */
	{ { 0xff }, 8, "multicast" },
	{ { 0x01 }, 64, "reserved" },                /* 100::/64 discard */
};

const char *cidr_addr_internal(const unsigned char a[16])
{
	/* RFC 6052: the well-known NAT64 prefix reaches the IPv4 inside */
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (memcmp(a, nat64, sizeof nat64) == 0) {
		unsigned char m[16] = V4(a[12], a[13], a[14], a[15]);
		return cidr_addr_internal(m) ? "nat64-internal" : NULL;
	}
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
		if (prefix_match(a, special[i].net, special[i].prefix))
			return special[i].name;
	return NULL;
}
