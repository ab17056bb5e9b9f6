/* Where mail for a domain goes, in the order to try (RFC 5321 section 5):
 *   1. smarthost, if set: everything goes there (host[:port]);
 *   2. a static route from relay_routes (domain=host[:port]);
 *   3. the domain's MX records, lowest preference first, the order
 *      shuffled among equal preferences; a null MX (RFC 7505) is a
 *      permanent failure; no MX at all means the domain's own AAAA/A
 *      (the implicit MX, section 5.1); each host's addresses, IPv6 and
 *      IPv4, at cfg->relay_port.
 * Also the TLS level each destination gets. The table is parsed once
 * from the config (route_table_new) and then read-only. */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H
#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"
#include "core/config.h"
#include "relay/relay.h"

struct dns;
struct route_table;

/* Bounds on what one domain can make us try (a hostile zone with 1000
 * MX records must not make 1000 connections). */
#define ROUTE_MX_MAX 10
#define ROUTE_TARGETS_MAX 20

/* Parses relay_routes, relay_tls, relay_tls_policy, smarthost and
 * smarthost_tls; NULL with one "key: problem\n" line per problem in err
 * (check-config prints them). */
struct route_table *route_table_new(const struct config *cfg, struct buf *err);
void route_table_free(struct route_table **t);

/* The TLS level for mail to this domain (the smarthost's when one is
 * set). */
enum relay_tls_level route_tls_level(const struct route_table *t,
				     const char *domain);
/* The destination key the runner groups connections by: the smarthost,
 * the route's host:port, or the domain itself (lowercased). */
void route_destination(const struct route_table *t, const char *domain,
		       char *out, size_t n);

enum route_status {
	ROUTE_OK,   /* targets[0..n) to try in order */
	ROUTE_TEMP, /* DNS trouble: retry later (4.4.3) */
	ROUTE_PERM, /* no such domain (5.1.2), null MX (5.1.10) */
};
/* status: the enhanced status code for a failure ("5.1.10"); why: the
 * text for the bounce and the log. */
typedef void (*route_fn)(void *arg, enum route_status st,
			 const struct relay_target *targets, size_t n,
			 const char *status, const char *why);
/* Resolves domain asynchronously; fn is called once, from the loop.
 * Unless the route is the smarthost or a static route (the admin's
 * choice), addresses DNS or an address literal lead to are checked
 * (route_check_addr) and left out: when none is left, the domain fails
 * for good, 5.4.6 if one was ourselves, else 5.4.4. */
void route_resolve(const struct route_table *t, struct dns *d,
		   const char *domain, route_fn fn, void *arg);

enum route_addr_verdict {
	ROUTE_ADDR_OK,
	ROUTE_ADDR_SELF,     /* one of our addresses at one of our SMTP
				ports: a loop */
	ROUTE_ADDR_INTERNAL, /* loopback, private, link-local... and not in
				relay_allowed_internal */
};
/* Judges one address (ss) at port; *range names why ("loopback",
 * "ourselves"...) when it is not OK. */
enum route_addr_verdict route_check_addr(const struct route_table *t,
					 const struct sockaddr_storage *ss,
					 int port, const char **range);

#endif
