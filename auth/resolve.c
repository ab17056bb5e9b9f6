/* Recipient resolution: local domains, aliases, +tags (auth/resolve.h). */
#include "auth/resolve.h"
#include "core/xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lookups one address may cost, whatever the aliases look like: nesting
 * multiplies fan-out, so a small file could otherwise ask for 1000^8. */
#define RESOLVE_STEPS_MAX 10000

struct resolver {
	const struct users *users;
	const struct aliases *aliases;
	char **domains; /* lower case, no trailing dot, sorted, unique */
	size_t n_domains;
	char delim[16]; /* recipient_delimiter characters; "" = off */
};

/* A domain as compared: one trailing dot is not part of it. */
static struct str domain_norm(struct str d)
{
	if (d.len && d.p[d.len - 1] == '.')
		d.len--;
	return d;
}

static int dom_cmp_str(struct str a, const char *b)
{
	size_t blen = strlen(b), n = a.len < blen ? a.len : blen;
	for (size_t i = 0; i < n; i++) {
		int d = (unsigned char)ascii_lower(a.p[i]) - (unsigned char)b[i];
		if (d)
			return d;
	}
	return a.len < blen ? -1 : a.len > blen;
}

static int dom_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void add_domain(struct resolver *r, size_t *cap, struct str d)
{
	d = domain_norm(d);
	if (d.len == 0)
		return;
	if (r->n_domains == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		r->domains = xrealloc(r->domains, *cap * sizeof *r->domains);
	}
	char *s = xstrndup(d.p, d.len);
	for (char *p = s; *p; p++)
		*p = ascii_lower(*p);
	r->domains[r->n_domains++] = s;
}

/* The domain of a name that is an address, else an empty slice. */
static struct str domain_of(const char *name)
{
	const char *at = strrchr(name, '@');
	return at ? str_from_cstr(at + 1) : str_make("", 0);
}

struct resolver *resolver_new(const struct config *cfg,
			      const struct users *users,
			      const struct aliases *aliases)
{
	struct resolver *r = xcalloc(1, sizeof *r);
	r->users = users;
	r->aliases = aliases;
	snprintf(r->delim, sizeof r->delim, "%s",
		 cfg->recipient_delimiter ? cfg->recipient_delimiter : "");
	size_t cap = 0;
	add_domain(r, &cap, STR_LIT("localhost"));
	if (cfg->hostname)
		add_domain(r, &cap, str_from_cstr(cfg->hostname));
	const char *p = cfg->local_domains ? cfg->local_domains : "";
	while (*p) {
		size_t n = strcspn(p, ", \t");
		add_domain(r, &cap, str_make(p, n));
		p += n;
		p += strspn(p, ", \t");
	}
	for (size_t i = 0; i < users->n; i++)
		add_domain(r, &cap, domain_of(users->v[i].name));
	for (size_t i = 0; i < aliases->n; i++)
		add_domain(r, &cap, domain_of(aliases->v[i].source));
	qsort(r->domains, r->n_domains, sizeof *r->domains, dom_cmp);
	size_t o = 0;
	for (size_t i = 0; i < r->n_domains; i++) {
		if (o && !strcmp(r->domains[o - 1], r->domains[i]))
			free(r->domains[i]);
		else
			r->domains[o++] = r->domains[i];
	}
	r->n_domains = o;
	return r;
}

void resolver_free(struct resolver **rp)
{
	struct resolver *r = *rp;
	if (!r)
		return;
	for (size_t i = 0; i < r->n_domains; i++)
		free(r->domains[i]);
	free(r->domains);
	free(r);
	*rp = NULL;
}

bool resolver_domain_is_local(const struct resolver *r, struct str domain)
{
	domain = domain_norm(domain);
	size_t lo = 0, hi = r->n_domains;
	if (domain.len == 0)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = dom_cmp_str(domain, r->domains[mid]);
		if (d == 0)
			return true;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* One resolution in progress. */
struct walk {
	const struct resolver *r;
	struct resolve_result *out;
	const struct alias_entry *stack[RESOLVE_DEPTH_MAX];
	size_t depth;   /* aliases on the stack */
	size_t steps;
	size_t cap;
	bool done;      /* status is final (an error) */
};

static void fail(struct walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->out->why, sizeof w->out->why, fmt, ap);
	va_end(ap);
	w->out->status = RESOLVE_ERROR;
	w->done = true;
}

static void add_user(struct walk *w, const struct user_entry *u)
{
	struct resolve_result *o = w->out;
	for (size_t i = 0; i < o->n_users; i++)
		if (o->users[i] == u->name)
			return;
	if (o->n_users == RESOLVE_USERS_MAX) {
		fail(w, "expands to more than %d users", RESOLVE_USERS_MAX);
		return;
	}
	if (o->n_users == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4;
		o->users = xrealloc(o->users, w->cap * sizeof *o->users);
	}
	o->users[o->n_users++] = u->name;
}

/* What one local part (at a local domain, or bare) names: the alias or
 * user found first in the documented order. */
struct hit {
	const struct alias_entry *alias;
	const struct user_entry *user;
	struct str key; /* the name matched (for the self-reference rule) */
	char buf[RESOLVE_ADDRESS_MAX + 1];
};

static bool find(const struct resolver *r, struct str local,
		 struct str domain, bool has_domain, struct hit *h)
{
	h->alias = NULL;
	h->user = NULL;
	if (has_domain && local.len + 1 + domain.len <= RESOLVE_ADDRESS_MAX) {
		memcpy(h->buf, local.p, local.len);
		h->buf[local.len] = '@';
		memcpy(h->buf + local.len + 1, domain.p, domain.len);
		h->key = str_make(h->buf, local.len + 1 + domain.len);
		if ((h->alias = aliases_lookup(r->aliases, h->key)) ||
		    (h->user = users_lookup(r->users, h->key)))
			return true;
	}
	h->key = local;
	return (h->alias = aliases_lookup(r->aliases, local)) ||
	       (h->user = users_lookup(r->users, local));
}

static void expand(struct walk *w, struct str addr);

static void expand_alias(struct walk *w, const struct hit *h)
{
	const struct alias_entry *a = h->alias;
	for (size_t i = 0; i < w->depth; i++) {
		if (w->stack[i] != a)
			continue;
		/* "alice: alice, archive": the name means the mailbox. */
		const struct user_entry *u = users_lookup(w->r->users, h->key);
		if (u)
			add_user(w, u);
		else
			fail(w, "alias loop through \"%s\" (line %u)",
			     a->source, a->line);
		return;
	}
	if (w->depth == RESOLVE_DEPTH_MAX) {
		fail(w, "aliases nested more than %d deep at \"%s\" (line %u)",
		     RESOLVE_DEPTH_MAX, a->source, a->line);
		return;
	}
	w->stack[w->depth++] = a;
	for (size_t i = 0; i < a->n_targets && !w->done; i++)
		expand(w, str_from_cstr(a->targets[i]));
	w->depth--;
}

static void expand(struct walk *w, struct str addr)
{
	const struct resolver *r = w->r;
	const struct alias_entry *parent = w->depth ? w->stack[w->depth - 1] : NULL;
	if (++w->steps > RESOLVE_STEPS_MAX) {
		fail(w, "aliases expand to more than %d names", RESOLVE_STEPS_MAX);
		return;
	}
	const char *at = addr.len ? memrchr(addr.p, '@', addr.len) : NULL;
	struct str local = addr, domain = str_make("", 0);
	if (at) {
		local = str_make(addr.p, (size_t)(at - addr.p));
		domain = domain_norm(str_make(at + 1, addr.len - local.len - 1));
		if (!resolver_domain_is_local(r, domain)) {
			if (parent)
				fail(w, "alias \"%s\" (line %u): target is not at a local domain",
				     parent->source, parent->line);
			else
				w->out->status = RESOLVE_NOT_LOCAL_DOMAIN;
			w->done = true;
			return;
		}
	}
	struct hit h;
	bool found = local.len > 0 && addr.len <= RESOLVE_ADDRESS_MAX &&
		     find(r, local, domain, at != NULL, &h);
	if (!found && local.len > 1 && r->delim[0]) {
		size_t cut = 1;
		while (cut < local.len && (local.p[cut] == '\0' ||
					   !strchr(r->delim, local.p[cut])))
			cut++;
		if (cut < local.len)
			found = find(r, str_make(local.p, cut), domain,
				     at != NULL, &h);
	}
	if (!found) {
		if (parent)
			fail(w, "alias \"%s\" (line %u): no such user or alias",
			     parent->source, parent->line);
		else
			w->out->status = RESOLVE_UNKNOWN_USER;
		w->done = true;
		return;
	}
	if (h.user)
		add_user(w, h.user);
	else
		expand_alias(w, &h);
}

enum resolve_status resolver_resolve(const struct resolver *r,
				     struct str address,
				     struct resolve_result *out)
{
	memset(out, 0, sizeof *out);
	out->status = RESOLVE_LOCAL;
	struct walk w = { .r = r, .out = out };
	expand(&w, address);
	if (out->status != RESOLVE_LOCAL) {
		free(out->users);
		out->users = NULL;
		out->n_users = 0;
	}
	return out->status;
}

void resolve_result_free(struct resolve_result *res)
{
	free(res->users);
	res->users = NULL;
	res->n_users = 0;
}

bool resolver_has_postmaster(const struct resolver *r)
{
	struct resolve_result res;
	bool ok = resolver_resolve(r, STR_LIT("postmaster"), &res) ==
		  RESOLVE_LOCAL;
	resolve_result_free(&res);
	return ok;
}

size_t resolver_check_aliases(const struct resolver *r, const char *path,
			      struct buf *err)
{
	size_t bad = 0;
	for (size_t i = 0; i < r->aliases->n; i++) {
		const struct alias_entry *a = &r->aliases->v[i];
		struct resolve_result res;
		if (resolver_resolve(r, str_from_cstr(a->source), &res) ==
		    RESOLVE_ERROR) {
			buf_printf(err, "%s:%u: %s\n", path, a->line, res.why);
			bad++;
		}
		resolve_result_free(&res);
	}
	return bad;
}
