/* The login limiter (see limiter.h): two bounded tables -- counters,
 * and the pairs that logged in -- each a chained hash table with a
 * secret seed plus a doubly linked list in touch order for eviction. */
#include "auth/limiter.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/xmalloc.h"

/* kind ':' net '\0' user */
#define KEY_MAX (2 + LIMITER_NET_MAX + 1 + AUTH_NAME_MAX)

struct lentry {
	struct lentry *hnext;          /* hash chain */
	struct lentry *prev, *next;    /* touch order: head = oldest */
	uint64_t hash;
	time_t window_start;           /* known pairs: the last success */
	time_t blocked_until;
	int count;
	size_t keylen;
	char key[];
};

struct ltab {
	size_t max, n, nbuckets;
	uint64_t seed;
	struct lentry **buckets;
	struct lentry *oldest, *newest;
};

struct limiter {
	struct limiter_params p;
	struct ltab counters, known;
};

static void tab_init(struct ltab *t, size_t max)
{
	t->max = max;
	t->nbuckets = 64;
	while (t->nbuckets < t->max && t->nbuckets < (1u << 20))
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	/* A secret seed keeps remote peers from choosing colliding keys. */
	if (RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1)
		t->seed = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
}

static void tab_free(struct ltab *t)
{
	for (struct lentry *e = t->oldest, *nx; e; e = nx) {
		nx = e->next;
		free(e);
	}
	free(t->buckets);
}

struct limiter *limiter_new(const struct limiter_params *p)
{
	struct limiter *l = xcalloc(1, sizeof *l);
	l->p = *p;
	if (l->p.window <= 0)
		l->p.window = 1;
	if (l->p.block_time < 0)
		l->p.block_time = 0;
	if (l->p.delay_max_ms < 0)
		l->p.delay_max_ms = 0;
	tab_init(&l->counters,
		 p->max_entries ? p->max_entries : LIMITER_DEFAULT_ENTRIES);
	tab_init(&l->known,
		 p->max_known ? p->max_known : LIMITER_DEFAULT_ENTRIES / 4);
	return l;
}

void limiter_free(struct limiter **lp)
{
	struct limiter *l = *lp;
	if (!l)
		return;
	tab_free(&l->counters);
	tab_free(&l->known);
	free(l);
	*lp = NULL;
}

size_t limiter_size(const struct limiter *l)
{
	return l->counters.n;
}

size_t limiter_known_size(const struct limiter *l)
{
	return l->known.n;
}

static uint64_t hash_key(const struct ltab *t, const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
}

static void list_unlink(struct ltab *t, struct lentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->newest = e->prev;
	e->prev = e->next = NULL;
}

static void list_push(struct ltab *t, struct lentry *e)
{
	e->prev = t->newest;
	e->next = NULL;
	if (t->newest)
		t->newest->next = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void remove_entry(struct ltab *t, struct lentry *e)
{
	struct lentry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(t, e);
	free(e);
	t->n--;
}

/* Finds a key; with create, makes it (evicting the oldest if full) and
 * marks it the most recently touched. */
static struct lentry *get(struct ltab *t, const char *key, size_t n,
			  bool create)
{
	uint64_t h = hash_key(t, key, n);
	struct lentry *e = t->buckets[h & (t->nbuckets - 1)];
	while (e && !(e->hash == h && e->keylen == n &&
		      memcmp(e->key, key, n) == 0))
		e = e->hnext;
	if (e && create) {
		list_unlink(t, e);
		list_push(t, e);
	}
	if (e || !create)
		return e;
	if (t->n >= t->max)
		remove_entry(t, t->oldest);
	e = xcalloc(1, sizeof *e + n);
	e->hash = h;
	e->keylen = n;
	memcpy(e->key, key, n);
	struct lentry **b = &t->buckets[h & (t->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	list_push(t, e);
	t->n++;
	return e;
}

void limiter_net_of(const char *ip, int prefix6, char out[LIMITER_NET_MAX])
{
	unsigned char a[16];
	if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') &&
	    inet_pton(AF_INET, ip + 7, a) == 1)
		ip += 7; /* an IPv4-mapped address is the IPv4 one */
	if (inet_pton(AF_INET, ip, a) == 1) {
		inet_ntop(AF_INET, a, out, LIMITER_NET_MAX);
		return;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		int bits = prefix6 > 0 && prefix6 < 128 ? prefix6 : 128;
		for (int i = 0; i < 16; i++) {
			int keep = bits - i * 8;
			if (keep <= 0)
				a[i] = 0;
			else if (keep < 8)
				a[i] &= (unsigned char)(0xff00 >> keep);
		}
		char s[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a, s, sizeof s);
		snprintf(out, LIMITER_NET_MAX, "%s/%d", s, bits);
		return;
	}
	snprintf(out, LIMITER_NET_MAX, "%s", ip);
}

/* kind ':' a ['\0' user, case-folded] */
static size_t make_key(char *dst, char kind, const char *a, struct str user)
{
	size_t n = 0, alen = a ? strlen(a) : 0;
	dst[n++] = kind;
	dst[n++] = ':';
	if (alen > LIMITER_NET_MAX)
		alen = LIMITER_NET_MAX;
	memcpy(dst + n, a, alen);
	n += alen;
	if (a && user.p) {
		dst[n++] = '\0';
	}
	size_t ulen = user.p ? user.len : 0;
	if (ulen > AUTH_NAME_MAX)
		ulen = AUTH_NAME_MAX;
	for (size_t i = 0; i < ulen; i++) {
		char c = user.p[i];
		dst[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	return n;
}

static const struct str NO_USER = { NULL, 0 };

/* The pair's memory of a success, if still fresh. */
static struct lentry *known_entry(struct limiter *l, const char *net,
				  struct str user, time_t now)
{
	char key[KEY_MAX];
	struct lentry *e = get(&l->known, key, make_key(key, 'k', net, user),
			       false);
	if (e && now - e->window_start >= l->p.known_ttl) {
		remove_entry(&l->known, e);
		e = NULL;
	}
	return e;
}

bool limiter_known(struct limiter *l, const char *ip, struct str user,
		   time_t now)
{
	char net[LIMITER_NET_MAX];
	limiter_net_of(ip, 64, net);
	return known_entry(l, net, user, now) != NULL;
}

/* A counter with its window brought up to date (count 0 when over). */
static struct lentry *counter(struct limiter *l, const char *key, size_t n,
			      time_t now, bool create)
{
	struct lentry *e = get(&l->counters, key, n, create);
	if (e && e->blocked_until <= now &&
	    now - e->window_start >= l->p.window) {
		e->count = 0;
		e->window_start = now;
	}
	return e;
}

/* Adds one; returns the count before. */
static int bump(struct limiter *l, const char *key, size_t n, time_t now)
{
	struct lentry *e = counter(l, key, n, now, true);
	if (e->count == 0)
		e->window_start = now;
	return e->count++;
}

static void unbump(struct limiter *l, const char *key, size_t n, time_t now)
{
	struct lentry *e = counter(l, key, n, now, false);
	if (!e)
		return;
	if (e->count > 0)
		e->count--;
	if (e->count == 0 && e->blocked_until <= now)
		remove_entry(&l->counters, e);
}

static bool is_blocked(struct limiter *l, const char *key, size_t n,
		       time_t now)
{
	struct lentry *e = get(&l->counters, key, n, false);
	return e && e->blocked_until > now;
}

/* Starts a block if count (before this attempt) + 1 reaches limit. */
static bool flood(struct limiter *l, const char *key, size_t n, int before,
		  int limit, time_t now)
{
	if (limit <= 0 || before + 1 < limit)
		return false;
	struct lentry *e = counter(l, key, n, now, true);
	e->blocked_until = now + l->p.block_time;
	e->count = 0;
	e->window_start = now;
	return true;
}

static int penalty(const struct limiter *l, int before, int free)
{
	if (before < free)
		return 0;
	int steps = before - free;
	long long ms = (long long)LIMITER_PENALTY_INIT_MS << (steps > 20 ? 20 : steps);
	return ms > l->p.delay_max_ms ? l->p.delay_max_ms : (int)ms;
}

static void worse(struct limiter_verdict *v, int ms, const char *why)
{
	if (ms > v->delay_ms) {
		v->delay_ms = ms;
		v->reason = why;
	}
}

void limiter_attempt(struct limiter *l, const char *ip, struct str user,
		     time_t now, struct limiter_verdict *v)
{
	char net[LIMITER_NET_MAX], wide[LIMITER_NET_MAX], key[KEY_MAX];
	memset(v, 0, sizeof *v);
	if (l->p.free_tries <= 0)
		return;
	limiter_net_of(ip, 64, net);
	limiter_net_of(ip, 56, wide);
	bool has_wide = strcmp(net, wide) != 0;
	v->known = known_entry(l, net, user, now) != NULL;
	if (!v->known) {
		if (is_blocked(l, key, make_key(key, 'n', net, NO_USER), now)) {
			v->blocked = true;
			v->reason = "net_flood";
			return;
		}
		if (has_wide &&
		    is_blocked(l, key, make_key(key, 'w', wide, NO_USER), now)) {
			v->blocked = true;
			v->reason = "wide_flood";
			return;
		}
	}
	int free = l->p.free_tries;
	size_t n = make_key(key, 'p', net, user);
	worse(v, penalty(l, bump(l, key, n, now), free), "user_net");
	if (!v->known) {
		n = make_key(key, 'u', "", user);
		worse(v, penalty(l, bump(l, key, n, now), free), "user");
	}
	n = make_key(key, 'n', net, NO_USER);
	int before = bump(l, key, n, now);
	bool f = flood(l, key, n, before, l->p.flood, now);
	if (!v->known)
		worse(v, penalty(l, before, free * LIMITER_NET_FACTOR), "net");
	const char *why = "net_flood";
	if (has_wide) {
		n = make_key(key, 'w', wide, NO_USER);
		before = bump(l, key, n, now);
		if (flood(l, key, n, before, l->p.flood * LIMITER_WIDE_FACTOR,
			  now) && !f) {
			f = true;
			why = "wide_flood";
		}
	}
	if (f && !v->known) {
		v->blocked = true;
		v->flood_started = true;
		v->reason = why;
		v->delay_ms = 0;
	}
}

void limiter_success(struct limiter *l, const char *ip, struct str user,
		     time_t now)
{
	char net[LIMITER_NET_MAX], wide[LIMITER_NET_MAX], key[KEY_MAX];
	limiter_net_of(ip, 64, net);
	limiter_net_of(ip, 56, wide);
	bool known = known_entry(l, net, user, now) != NULL;
	if (l->p.free_tries > 0) {
		struct lentry *e = get(&l->counters, key,
				       make_key(key, 'p', net, user), false);
		if (e)
			remove_entry(&l->counters, e);
		if (!known)
			unbump(l, key, make_key(key, 'u', "", user), now);
		unbump(l, key, make_key(key, 'n', net, NO_USER), now);
		if (strcmp(net, wide) != 0)
			unbump(l, key, make_key(key, 'w', wide, NO_USER), now);
	}
	struct lentry *k = get(&l->known, key, make_key(key, 'k', net, user),
			       true);
	k->window_start = now;
}

/* ---- known pairs across restarts (limiter.h) ---- */

void limiter_known_export(const struct limiter *l, time_t now,
			  struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	for (const struct lentry *e = l->known.oldest; e; e = e->next) {
		if (now - e->window_start >= l->p.known_ttl)
			continue;
		buf_printf(out, "%lld ", (long long)(now - e->window_start));
		for (size_t i = 0; i < e->keylen; i++) {
			unsigned char c = (unsigned char)e->key[i];
			char h[2] = { hex[c >> 4], hex[c & 15] };
			buf_append(out, h, 2);
		}
		buf_append(out, "\n", 1);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One line "<age> <hex key>" into a known pair; false if malformed. A
 * key must look like make_key(.., 'k', net, user) made it: "k:", a
 * network, a NUL, a user name, nothing else. */
static bool import_line(struct limiter *l, const char *p, size_t n,
			time_t now)
{
	size_t i = 0;
	long long age = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && i < 12)
		age = age * 10 + (p[i++] - '0');
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	i++;
	size_t hlen = n - i;
	if (hlen == 0 || hlen % 2 || hlen / 2 > KEY_MAX)
		return false;
	char key[KEY_MAX];
	size_t klen = hlen / 2;
	for (size_t k = 0; k < klen; k++) {
		int hi = hexval(p[i + 2 * k]), lo = hexval(p[i + 2 * k + 1]);
		if (hi < 0 || lo < 0)
			return false;
		key[k] = (char)(hi << 4 | lo);
	}
	const char *nul = klen > 2 ? memchr(key, '\0', klen) : NULL;
	if (klen < 4 || key[0] != 'k' || key[1] != ':' || !nul ||
	    nul == key + 2 || (size_t)(nul - key - 2) > LIMITER_NET_MAX ||
	    nul == key + klen - 1 ||
	    (size_t)(key + klen - nul - 1) > AUTH_NAME_MAX ||
	    memchr(nul + 1, '\0', (size_t)(key + klen - nul - 1)))
		return false;
	if (age < 0 || age >= l->p.known_ttl)
		return false;
	struct lentry *e = get(&l->known, key, klen, true);
	e->window_start = now - (time_t)age;
	return true;
}

size_t limiter_known_import(struct limiter *l, const char *text, size_t len,
			    time_t now)
{
	size_t n = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break; /* a cut last line is not a pair */
		n += import_line(l, p, (size_t)(nl - p), now);
		p = nl + 1;
	}
	return n;
}
