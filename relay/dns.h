/* Asynchronous DNS on the event loop (c-ares): MX and address lookups
 * for the queue runner. Never blocks; every query's callback is called
 * exactly once -- from the loop, never from inside dns_query_*, and
 * with DNS_TEMPFAIL when dns_free() cancels it. */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H
#include <stddef.h>
#include <sys/socket.h>
#include "core/buf.h"

struct event_base;
struct dns;

enum dns_status {
	DNS_OK,       /* answers follow (n >= 1) */
	DNS_NXDOMAIN, /* the name does not exist: permanent */
	DNS_NODATA,   /* the name exists, no record of that type */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, refused, cancelled: retry later */
};

/* servers: "IP[:PORT],..." (cfg->dns_resolver); "" = /etc/resolv.conf.
 * NULL with the reason in err if it cannot be set up. */
struct dns *dns_new(struct event_base *base, const char *servers,
		    struct buf *err);
void dns_free(struct dns **d);

struct dns_mx {
	int pref;
	char host[256]; /* "" for a null MX (RFC 7505: "." as exchange) */
};
/* mx in the order the server gave them; route.c sorts. */
typedef void (*dns_mx_fn)(void *arg, enum dns_status st,
			  const struct dns_mx *mx, size_t n, const char *why);
void dns_query_mx(struct dns *d, const char *domain, dns_mx_fn fn, void *arg);

/* Both AAAA and A, IPv6 first; port 0 in each. An IP literal host is
 * answered without a query. */
typedef void (*dns_addr_fn)(void *arg, enum dns_status st,
			    const struct sockaddr_storage *addrs,
			    const socklen_t *lens, size_t n, const char *why);
void dns_query_addr(struct dns *d, const char *host, dns_addr_fn fn,
		    void *arg);

/* One family only (AF_INET: A, AF_INET6: AAAA): SPF asks for the
 * client's family (RFC 7208 5.3, 5.4, 5.5, 5.7). Otherwise as above. */
void dns_query_addr_family(struct dns *d, const char *host, int family,
			   dns_addr_fn fn, void *arg);

/* TXT records, each one's character-strings joined without separator
 * (RFC 7208 3.3); txt[i] is NUL-terminated (a NUL inside shows in
 * lens[i] > strlen). At most DNS_TXT_MAX records. */
typedef void (*dns_txt_fn)(void *arg, enum dns_status st,
			   const char *const *txt, const size_t *lens,
			   size_t n, const char *why);
void dns_query_txt(struct dns *d, const char *name, dns_txt_fn fn,
		   void *arg);

/* PTR names for an address (the in-addr.arpa / ip6.arpa name is made
 * here), without the trailing dot, at most DNS_PTR_MAX. */
typedef void (*dns_ptr_fn)(void *arg, enum dns_status st,
			   const char *const *names, size_t n,
			   const char *why);
void dns_query_ptr(struct dns *d, const struct sockaddr *addr,
		   dns_ptr_fn fn, void *arg);

/* Calls fn(arg) soon from the loop (or from dns_free, if it comes
 * first): for a caller that must answer its own caller "from the loop"
 * without a query (route.c on a name it refuses). */
void dns_call_soon(struct dns *d, void (*fn)(void *arg), void *arg);

#endif
