/* SPF macro expansion (RFC 7208 7), pure. */
#ifndef POSTERN_SPF_MACRO_H
#define POSTERN_SPF_MACRO_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "core/buf.h"

struct spf_macro_ctx {
	const char *sender;   /* s: local-part@domain (never empty) */
	const char *domain;   /* d: the current domain */
	const char *helo;     /* h */
	const struct sockaddr_storage *ip; /* i, c, v (IPv4 as AF_INET) */
	const char *validated; /* p: the validated name, NULL = "unknown" */
	const char *receiver; /* r: NULL = "unknown" */
	long long now;        /* t */
};

/* Expands s[0..len) into out (appended). exp: an explanation string
 * (c, r, t allowed, spaces kept). domain: the result is a domain name:
 * a trailing dot is removed and leftmost labels dropped until it is at
 * most 253 octets (RFC 7208 7.3). False (err set) on a syntax error:
 * a permerror. The result is at most SPF_EXPAND_MAX octets. */
bool spf_macro_expand(const char *s, size_t len,
		      const struct spf_macro_ctx *c, bool exp, bool domain,
		      struct buf *out, char *err, size_t errlen);

/* True when s uses the p macro (which needs a DNS lookup first). */
bool spf_macro_uses_p(const char *s, size_t len);

#endif
