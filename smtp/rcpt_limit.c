/* smtp/rcpt_limit.h: a set-associative table of exact addresses, placed
 * by a keyed hash (a random key per table) so that nobody can choose
 * addresses that share a set with a victim's. The server's table is
 * shared by every worker (MAP_SHARED, made by the supervisor before the
 * first fork) under a process-shared robust mutex: a worker killed while
 * holding it leaves the table usable (EOWNERDEAD: the entry it was
 * writing is at worst a count off by one). */
#include "smtp/rcpt_limit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "core/cidr.h"
#include "core/xmalloc.h"

struct rcpt_limit_entry {
	unsigned char addr[16];
	uint32_t count;
	bool used;
	int64_t last;
};

struct rcpt_limit {
	uint64_t key;
	bool shared;          /* mapped shared, mu guards e[] */
	pthread_mutex_t mu;
	struct rcpt_limit_entry e[RCPT_LIMIT_SLOTS];
};

/* The table rcpt_limit_table() gives: the shared one once made. */
static struct rcpt_limit *process_table;

_Static_assert(RCPT_LIMIT_SLOTS % RCPT_LIMIT_WAYS == 0, "whole sets");

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static void table_key(struct rcpt_limit *t)
{
	if (getrandom(&t->key, sizeof t->key, GRND_NONBLOCK) !=
	    (ssize_t)sizeof t->key) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->key = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
	}
}

struct rcpt_limit *rcpt_limit_new(void)
{
	struct rcpt_limit *t = xcalloc(1, sizeof *t);
	table_key(t);
	return t;
}

struct rcpt_limit *rcpt_limit_new_shared(void)
{
	struct rcpt_limit *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	table_key(t); /* the mapping is zeroed: every entry unused */
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0 ||
	    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&t->mu, &a) != 0) {
		munmap(t, sizeof *t);
		return NULL;
	}
	pthread_mutexattr_destroy(&a);
	t->shared = true;
	return t;
}

void rcpt_limit_free(struct rcpt_limit **t)
{
	if (*t && (*t)->shared) {
		pthread_mutex_destroy(&(*t)->mu);
		munmap(*t, sizeof **t);
	} else {
		free(*t);
	}
	*t = NULL;
}

int rcpt_limit_share(void)
{
	if (process_table)
		return 0;
	process_table = rcpt_limit_new_shared();
	return process_table ? 0 : -1;
}

struct rcpt_limit *rcpt_limit_table(void)
{
	if (!process_table)
		process_table = rcpt_limit_new();
	return process_table;
}

static void table_lock(struct rcpt_limit *t)
{
	if (t->shared && pthread_mutex_lock(&t->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&t->mu);
}

static void table_unlock(struct rcpt_limit *t)
{
	if (t->shared)
		pthread_mutex_unlock(&t->mu);
}

unsigned rcpt_limit_note(struct rcpt_limit *t, const char *ip, int64_t now,
			 int window)
{
	unsigned char a[16];
	if (!cidr_addr_parse(ip, a))
		return 0;
	/* IPv6 by its /64: one host usually holds a whole /64, and
	 * counting each of its 2^64 addresses apart would count nothing */
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (memcmp(a, mapped, sizeof mapped) != 0)
		memset(a + 8, 0, 8);
	uint64_t w0, w1;
	memcpy(&w0, a, 8);
	memcpy(&w1, a + 8, 8);
	table_lock(t);
	uint64_t h = mix(mix(w0 ^ t->key) ^ w1);
	size_t set = (size_t)(h % (RCPT_LIMIT_SLOTS / RCPT_LIMIT_WAYS));
	struct rcpt_limit_entry *e = &t->e[set * RCPT_LIMIT_WAYS];
	struct rcpt_limit_entry *hit = NULL, *victim = &e[0];
	for (size_t i = 0; i < RCPT_LIMIT_WAYS; i++) {
		if (e[i].used && !memcmp(e[i].addr, a, 16)) {
			hit = &e[i];
			break;
		}
		if (!e[i].used ? victim->used : (victim->used &&
						 e[i].last < victim->last))
			victim = &e[i];
	}
	if (!hit) {
		hit = victim;
		memcpy(hit->addr, a, 16);
		hit->used = true;
		hit->count = 0;
	} else if (now - hit->last >= window) {
		hit->count = 0;
	}
	hit->last = now;
	if (hit->count < UINT32_MAX)
		hit->count++;
	unsigned n = hit->count;
	table_unlock(t);
	return n;
}
