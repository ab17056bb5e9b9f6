/* Address ranges in CIDR notation ("192.0.2.0/24 2001:db8::/32 ::1"),
 * for relay_networks: which clients may relay without AUTH. Parsed
 * once (config load, worker start), matched per connection. */
#ifndef POSTERN_CIDR_H
#define POSTERN_CIDR_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct cidr {
	unsigned char addr[16]; /* IPv4 as an IPv4-mapped IPv6 address */
	unsigned prefix;        /* 0..128, counted on the 16-byte form */
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* Parses a list separated by commas and/or spaces; an address without
 * "/N" is a single host. Host bits set below the prefix are an error
 * (a likely typo: "10.1.2.3/8"). On error returns -1, appends one
 * message naming the bad entry to err and leaves *out empty. */
int cidr_list_parse(const char *text, struct cidr_list *out, struct buf *err);
void cidr_list_free(struct cidr_list *l);
/* Is the numeric address ip (IPv4, IPv6 or IPv4-mapped IPv6) in the
 * list? False for anything unparsable (a Unix socket peer, say). */
bool cidr_list_match(const struct cidr_list *l, const char *ip);

/* The 16-byte form (IPv4 as ::ffff:a.b.c.d) of a numeric address;
 * false if ip is not one. */
bool cidr_addr_parse(const char *ip, unsigned char out[16]);
/* Is a (16-byte form) in the list? */
bool cidr_list_match_addr(const struct cidr_list *l,
			  const unsigned char a[16]);
/* If a is not an ordinary global unicast address, the name of its
 * range ("loopback", "private", "link-local", "unspecified",
 * "shared" (100.64/10), "multicast", "reserved", "nat64-internal",
 * "ipv4-compatible"); NULL for a global one. Outbound mail must not
 * be steered into these by a recipient's address literal or DNS
 * (relay_allowed_internal lists the exceptions). IPv4-mapped and NAT64
 * (64:ff9b::/96) addresses are judged by the IPv4 address inside. */
const char *cidr_addr_internal(const unsigned char a[16]);

#endif
