/* The pure parts of route.c, apart so the tests reach them: name
 * checks, "host[:port]", the list syntax of relay_routes and
 * relay_tls_policy, and the MX order. Not for other layers. */
#ifndef POSTERN_ROUTE_PARSE_H
#define POSTERN_ROUTE_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "relay/dns.h"

/* RFC 1035 section 2.3.4: a name is at most 255 octets on the wire,
 * 253 as text; a label at most 63. */
#define ROUTE_NAME_MAX 253
#define ROUTE_LABEL_MAX 63

/* A host or domain name we are willing to look up: labels of letters,
 * digits and '-' (RFC 1123 section 2.1), separated by single dots, one
 * trailing dot allowed, within the limits above. Anything else (spaces,
 * '_', UTF-8, "..") is refused before any query. */
bool route_name_valid(struct str s);

/* Next item of a list separated by commas and/or white space; false at
 * the end. */
bool route_list_next(struct str *rest, struct str *item);

/* "host", "host:port", "[v6]" or "[v6]:port" -> host (brackets
 * removed, lowercased) and port (default_port if none). A host is a
 * valid name or an IP address; an IPv6 address must be in brackets.
 * false with a reason in *why. */
bool route_hostport_parse(struct str s, int default_port, char *host,
			  size_t hostsz, int *port, const char **why);

/* Orders MX records for trying (RFC 5321 section 5.1): ascending
 * preference, equal preferences in an order shuffled from seed (so the
 * load spreads over them). Pure: same input and seed, same order. */
void route_mx_order(struct dns_mx *mx, size_t n, uint64_t seed);

#endif
