/* Recipient resolution, shared by SMTP, LMTP and `postern deliver`.
 *
 * Local domains: localhost, cfg->hostname, every domain in
 * cfg->local_domains, the domain of every user named as an address
 * (bob@example.org) and of every alias whose source is an address.
 * Domains compare ignoring ASCII case and one trailing dot.
 *
 * An address LOCAL@DOMAIN at a local domain (or a bare LOCAL, as given to
 * `postern deliver` or RFC 5321 "postmaster") is looked up in this order,
 * the first match winning:
 *   1. alias LOCAL@DOMAIN   2. user LOCAL@DOMAIN
 *   3. alias LOCAL          4. user LOCAL        (bare: every local domain)
 * and if nothing matches and LOCAL holds a recipient_delimiter character
 * after its first octet, again with LOCAL cut before that character
 * (alice+tag -> alice; alice+ -> alice).
 * Alias targets are resolved the same way (a bare target has no domain:
 * steps 3 and 4), recursively, at most RESOLVE_DEPTH_MAX levels deep.
 * An alias reached again below itself is a loop (RESOLVE_ERROR) unless
 * a user of the same name exists: then it means that user's mailbox
 * ("alice: alice, archive" keeps a copy for alice). A target that names
 * no user or alias is an error of the aliases file (RESOLVE_ERROR).
 *
 * The resolver is built once from the config, the users and the aliases
 * (which it borrows: they must outlive it) and is then read-only: no I/O,
 * no locks, safe to share between threads. Lookups are O(log n). */
#ifndef POSTERN_RESOLVE_H
#define POSTERN_RESOLVE_H
#include <stdbool.h>
#include <stddef.h>

#include "auth/users.h"
#include "core/buf.h"
#include "core/config.h"
#include "auth/aliases.h"

/* RFC 5321 section 4.5.3.1.3: a path is at most 256 octets; longer
 * addresses are not looked up at all. */
#define RESOLVE_ADDRESS_MAX 256
/* Alias nesting: deeper chains are an error (they are always mistakes). */
#define RESOLVE_DEPTH_MAX 8
/* Distinct users one address may expand to; one alias line already
 * allows ALIASES_TARGETS_MAX, nesting must not multiply that. */
#define RESOLVE_USERS_MAX 1000

enum resolve_status {
	RESOLVE_LOCAL,            /* users[] holds the mailboxes */
	RESOLVE_NOT_LOCAL_DOMAIN, /* not ours: relay denied or queue */
	RESOLVE_UNKNOWN_USER,     /* local domain, no such user or alias */
	RESOLVE_ERROR,            /* alias loop, too deep, dangling target */
};

struct resolve_result {
	enum resolve_status status;
	/* RESOLVE_LOCAL: canonical user names (as in the users file),
	 * each once, in the order first reached. Borrowed from the users. */
	const char **users;
	size_t n_users;
	char why[256]; /* RESOLVE_ERROR: what is wrong, for the log */
};

struct resolver;

struct resolver *resolver_new(const struct config *cfg,
			      const struct users *users,
			      const struct aliases *aliases);
void resolver_free(struct resolver **r);

/* Is this domain (no '@') one of ours? */
bool resolver_domain_is_local(const struct resolver *r, struct str domain);

/* Resolves one address ("local@domain" or a bare "local"; no angle
 * brackets, no quoted local parts). Fills *out; free it with
 * resolve_result_free whatever the status. Returns out->status. */
enum resolve_status resolver_resolve(const struct resolver *r,
				     struct str address,
				     struct resolve_result *out);
void resolve_result_free(struct resolve_result *res);

/* True if "postmaster" resolves (RFC 5321 section 4.5.1 requires it):
 * for check-config to warn when it does not. */
bool resolver_has_postmaster(const struct resolver *r);

/* Checks that every alias resolves (no loop, no dangling target),
 * appending "path:line: message\n" per problem to err; returns the
 * number of problems. For check-config. */
size_t resolver_check_aliases(const struct resolver *r, const char *path,
			      struct buf *err);

#endif
