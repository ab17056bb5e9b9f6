/* smtp/rcpt_limit.h: a set-associative table of exact addresses, placed
 * by a keyed hash (a random key per process) so that nobody can choose
 * addresses that share a set with a victim's. */
#include "smtp/rcpt_limit.h"

#include <stdlib.h>
#include <string.h>
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
	struct rcpt_limit_entry e[RCPT_LIMIT_SLOTS];
};

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

struct rcpt_limit *rcpt_limit_new(void)
{
	struct rcpt_limit *t = xcalloc(1, sizeof *t);
	if (getrandom(&t->key, sizeof t->key, GRND_NONBLOCK) !=
	    (ssize_t)sizeof t->key) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->key = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
	}
	return t;
}

void rcpt_limit_free(struct rcpt_limit **t)
{
	free(*t);
	*t = NULL;
}

struct rcpt_limit *rcpt_limit_table(void)
{
	static struct rcpt_limit *t;
	if (!t)
		t = rcpt_limit_new();
	return t;
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
	return hit->count;
}
