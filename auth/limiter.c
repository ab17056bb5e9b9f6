/* The login limiter (see limiter.h): a chained hash table of keys plus
 * a doubly linked list in touch order for eviction. */
#include "auth/limiter.h"

#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/xmalloc.h"

struct lentry {
	struct lentry *hnext;          /* hash chain */
	struct lentry *prev, *next;    /* touch order: head = oldest */
	uint64_t hash;
	time_t window_start;
	time_t blocked_until;
	int count;
	size_t keylen;
	char key[]; /* "i:" ip or "u:" folded user */
};

struct limiter {
	int limit, window, block_time;
	size_t max_entries, n, nbuckets;
	uint64_t seed;
	struct lentry **buckets;
	struct lentry *oldest, *newest;
};

struct limiter *limiter_new(int limit, int window, int block_time,
			    size_t max_entries)
{
	struct limiter *l = xcalloc(1, sizeof *l);
	l->limit = limit;
	l->window = window > 0 ? window : 1;
	l->block_time = block_time > 0 ? block_time : 0;
	l->max_entries = max_entries ? max_entries : LIMITER_DEFAULT_ENTRIES;
	l->nbuckets = 64;
	while (l->nbuckets < l->max_entries && l->nbuckets < (1u << 20))
		l->nbuckets *= 2;
	l->buckets = xcalloc(l->nbuckets, sizeof *l->buckets);
	/* A secret seed keeps remote peers from choosing colliding keys. */
	if (RAND_bytes((unsigned char *)&l->seed, sizeof l->seed) != 1)
		l->seed = (uint64_t)(uintptr_t)l ^ (uint64_t)time(NULL);
	return l;
}

void limiter_free(struct limiter **lp)
{
	struct limiter *l = *lp;
	if (!l)
		return;
	for (struct lentry *e = l->oldest, *nx; e; e = nx) {
		nx = e->next;
		free(e);
	}
	free(l->buckets);
	free(l);
	*lp = NULL;
}

size_t limiter_size(const struct limiter *l)
{
	return l->n;
}

static uint64_t hash_key(const struct limiter *l, const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ l->seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
}

/* Builds a key: kind ('i' or 'u') ":" value, case-folded for users. */
static size_t make_key(char *dst, char kind, const char *p, size_t n)
{
	if (n > AUTH_NAME_MAX)
		n = AUTH_NAME_MAX;
	dst[0] = kind;
	dst[1] = ':';
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		dst[2 + i] = (kind == 'u' && c >= 'A' && c <= 'Z') ?
				     (char)(c + 32) : c;
	}
	return n + 2;
}

static void list_unlink(struct limiter *l, struct lentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->newest = e->prev;
	e->prev = e->next = NULL;
}

static void list_push(struct limiter *l, struct lentry *e)
{
	e->prev = l->newest;
	e->next = NULL;
	if (l->newest)
		l->newest->next = e;
	else
		l->oldest = e;
	l->newest = e;
}

static void remove_entry(struct limiter *l, struct lentry *e)
{
	struct lentry **pp = &l->buckets[e->hash & (l->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(l, e);
	free(e);
	l->n--;
}

static struct lentry *find(struct limiter *l, const char *key, size_t n,
			   uint64_t h)
{
	for (struct lentry *e = l->buckets[h & (l->nbuckets - 1)]; e;
	     e = e->hnext)
		if (e->hash == h && e->keylen == n && memcmp(e->key, key, n) == 0)
			return e;
	return NULL;
}

static struct lentry *get(struct limiter *l, const char *key, size_t n,
			  bool create)
{
	uint64_t h = hash_key(l, key, n);
	struct lentry *e = find(l, key, n, h);
	if (e || !create)
		return e;
	if (l->n >= l->max_entries)
		remove_entry(l, l->oldest);
	e = xcalloc(1, sizeof *e + n);
	e->hash = h;
	e->keylen = n;
	memcpy(e->key, key, n);
	struct lentry **b = &l->buckets[h & (l->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	list_push(l, e);
	l->n++;
	return e;
}

/* True if the key is blocked now; drops the entry if it is stale. */
static bool blocked(struct limiter *l, const char *key, size_t n, time_t now)
{
	struct lentry *e = get(l, key, n, false);
	if (!e)
		return false;
	if (e->blocked_until > now)
		return true;
	if (now - e->window_start >= l->window)
		remove_entry(l, e); /* window and block are both over */
	return false;
}

enum limiter_verdict limiter_check(struct limiter *l, const char *ip,
				   struct str user, time_t now)
{
	char key[AUTH_NAME_MAX + 2];
	if (l->limit <= 0)
		return LIMITER_OK;
	if (blocked(l, key, make_key(key, 'i', ip, strlen(ip)), now))
		return LIMITER_BLOCKED_IP;
	if (user.len &&
	    blocked(l, key, make_key(key, 'u', user.p, user.len), now))
		return LIMITER_BLOCKED_USER;
	return LIMITER_OK;
}

static void fail_key(struct limiter *l, const char *key, size_t n, time_t now)
{
	struct lentry *e = get(l, key, n, true);
	list_unlink(l, e);
	list_push(l, e);
	if (e->count == 0 || now - e->window_start >= l->window) {
		e->count = 0;
		e->window_start = now;
	}
	if (++e->count >= l->limit) {
		e->blocked_until = now + l->block_time;
		e->count = 0;
		e->window_start = now;
	}
}

void limiter_fail(struct limiter *l, const char *ip, struct str user,
		  time_t now)
{
	char key[AUTH_NAME_MAX + 2];
	if (l->limit <= 0)
		return;
	fail_key(l, key, make_key(key, 'i', ip, strlen(ip)), now);
	if (user.len)
		fail_key(l, key, make_key(key, 'u', user.p, user.len), now);
}

void limiter_success(struct limiter *l, const char *ip, struct str user,
		     time_t now)
{
	char key[AUTH_NAME_MAX + 2];
	(void)ip;
	(void)now;
	if (!user.len)
		return;
	struct lentry *e = get(l, key, make_key(key, 'u', user.p, user.len),
			       false);
	if (e && e->blocked_until <= now)
		remove_entry(l, e);
}
