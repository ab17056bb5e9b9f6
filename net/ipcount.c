/* Shared connection counts (net/ipcount.h).
 *
 * One table in MAP_SHARED memory: a header (mutex, hash key, per-slot
 * owners and totals) and an array of entries, linear probing from
 * SipHash(key) with backward-shift deletion, so chains never hold dead
 * entries. An entry is (key, slot) -> count: the same key counted by two
 * workers is two entries in the same chain, and a lookup sums them. */
#include "net/ipcount.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Worker processes, plus retiring generations after quick SIGHUPs. */
#define IPCOUNT_SLOTS 1024
#define IPCOUNT_MIN_ENTRIES 1024

struct ipcount_entry {
	struct ipcount_key key;
	uint8_t used;
	uint16_t slot;
	uint32_t count;
};

struct ipcount_table {
	pthread_mutex_t lock;
	uint64_t k[4];      /* k[0..1]: placement; k[2..3]: user digests */
	size_t mask;        /* entries - 1 (a power of two) */
	size_t used;
	pid_t owner[IPCOUNT_SLOTS];
	uint32_t live[IPCOUNT_SLOTS]; /* connections per slot */
	uint32_t cap[IPCOUNT_SLOTS];  /* > 0: the slot accepts, up to this */
	struct ipcount_entry e[];
};

static struct ipcount_table *table;
static int my_slot = -1;
static pid_t my_pid;

/* SipHash-2-4 (Aumasson and Bernstein, 2012). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                             \
	do {                                                                 \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);    \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);    \
	} while (0)

static uint64_t siphash24(uint64_t k0, uint64_t k1, const void *data,
			  size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | p[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static struct ipcount_table *table_new(size_t max_keys)
{
	size_t n = IPCOUNT_MIN_ENTRIES;
	while (n < 2 * max_keys && n < ((size_t)1 << 28))
		n *= 2;
	size_t bytes = sizeof(struct ipcount_table) + n * sizeof(struct ipcount_entry);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct ipcount_table *t = p; /* zero-filled by the kernel */
	t->mask = n - 1;
	if (getrandom(t->k, sizeof t->k, 0) != (ssize_t)sizeof t->k) {
		munmap(p, bytes);
		return NULL;
	}
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&t->lock, &a);
	pthread_mutexattr_destroy(&a);
	return t;
}

int ipcount_init(size_t max_keys)
{
	if (table)
		return 0;
	table = table_new(max_keys);
	return table ? 0 : -1;
}

static size_t home_of(const struct ipcount_table *t, const struct ipcount_key *k)
{
	return (size_t)siphash24(t->k[0], t->k[1], k, sizeof *k) & t->mask;
}

size_t ipcount_home(const struct ipcount_key *k)
{
	return table ? home_of(table, k) : 0;
}

static bool key_eq(const struct ipcount_key *a, const struct ipcount_key *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

static void insert_raw(struct ipcount_table *t, const struct ipcount_entry *x)
{
	size_t i = home_of(t, &x->key);
	while (t->e[i].used)
		i = (i + 1) & t->mask;
	t->e[i] = *x;
	t->used++;
}

/* Rebuilds the chains from the entries that hold a count, dropping
 * those of slot drop (>= 0) and duplicates of one (key, slot), which
 * only a process killed in the middle of a deletion leaves behind. */
static void rebuild(struct ipcount_table *t, int drop)
{
	size_t n = t->mask + 1, keep = 0, have = 0;
	for (size_t i = 0; i < n; i++)
		have += t->e[i].used != 0;
	struct ipcount_entry *v = malloc((have ? have : 1) * sizeof *v);
	if (!v)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct ipcount_entry *x = &t->e[i];
		if (x->used && x->count > 0 && (drop < 0 || x->slot != drop))
			v[keep++] = *x;
	}
	memset(t->e, 0, n * sizeof *t->e);
	t->used = 0;
	for (size_t i = 0; i < keep; i++) {
		size_t j = home_of(t, &v[i].key);
		while (t->e[j].used && !(t->e[j].slot == v[i].slot &&
					 key_eq(&t->e[j].key, &v[i].key)))
			j = (j + 1) & t->mask;
		if (t->e[j].used)
			continue; /* a duplicate */
		t->e[j] = v[i];
		t->used++;
	}
	free(v);
}

static void table_lock(struct ipcount_table *t)
{
	if (pthread_mutex_lock(&t->lock) == EOWNERDEAD) {
		/* Its holder died mid-change: the chains may hold a torn or
		 * duplicated entry. Its own counts go when it is reaped. */
		pthread_mutex_consistent(&t->lock);
		rebuild(t, -1);
	}
}

static void table_unlock(struct ipcount_table *t)
{
	pthread_mutex_unlock(&t->lock);
}

/* The slot of this process, claimed at first use (after fork: a pid
 * change means we are a new child and must not count in the parent's).
 * A process without the supervisor's table makes its own. */
static int slot(void)
{
	pid_t pid = getpid();
	if (my_slot >= 0 && my_pid == pid)
		return my_slot;
	my_slot = -1;
	my_pid = pid;
	if (!table && ipcount_init(0) != 0)
		return -1;
	table_lock(table);
	for (int s = 0; s < IPCOUNT_SLOTS; s++)
		if (table->owner[s] == 0) {
			table->owner[s] = pid;
			table->live[s] = 0;
			table->cap[s] = 0;
			my_slot = s;
			break;
		}
	table_unlock(table);
	return my_slot;
}

void ipcount_release(pid_t pid)
{
	if (!table || pid <= 0)
		return;
	table_lock(table);
	for (int s = 0; s < IPCOUNT_SLOTS; s++) {
		if (table->owner[s] != pid)
			continue;
		rebuild(table, s);
		table->live[s] = 0;
		table->cap[s] = 0;
		table->owner[s] = 0;
	}
	table_unlock(table);
}

/* Sums k's count over every slot; *mine = the entry of slot s, if any. */
static unsigned lookup(struct ipcount_table *t, const struct ipcount_key *k,
		       int s, struct ipcount_entry **mine)
{
	unsigned n = 0;
	*mine = NULL;
	for (size_t i = home_of(t, k); t->e[i].used; i = (i + 1) & t->mask) {
		struct ipcount_entry *x = &t->e[i];
		if (!key_eq(&x->key, k))
			continue;
		n += x->count;
		if (x->slot == s)
			*mine = x;
	}
	return n;
}

/* Backward-shift deletion (Knuth 6.4 algorithm R): the entries after
 * the hole that may move into it do, so no chain is ever cut. */
static void delete_at(struct ipcount_table *t, size_t i)
{
	size_t j = i;
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->e[j].used)
			break;
		size_t h = home_of(t, &t->e[j].key);
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		t->e[i] = t->e[j];
		i = j;
	}
	memset(&t->e[i], 0, sizeof t->e[i]);
	t->used--;
}

enum ipcount_result ipcount_add(const struct ipcount_key *k, unsigned limit)
{
	int s = slot();
	if (s < 0)
		return IPCOUNT_OK; /* every slot taken: cannot count */
	struct ipcount_table *t = table;
	enum ipcount_result r = IPCOUNT_OK;
	table_lock(t);
	struct ipcount_entry *mine;
	unsigned n = lookup(t, k, s, &mine);
	if (limit > 0 && n >= limit) {
		r = IPCOUNT_OVER;
	} else if (mine) {
		mine->count++;
	} else if (t->used + 1 > (t->mask + 1) / 2) {
		/* Past half full, chains get long: refuse rather than slow
		 * every lookup down. */
		r = IPCOUNT_FULL;
	} else {
		struct ipcount_entry x = { .key = *k, .used = 1,
					   .slot = (uint16_t)s, .count = 1 };
		insert_raw(t, &x);
	}
	table_unlock(t);
	return r;
}

void ipcount_sub(const struct ipcount_key *k)
{
	int s = slot();
	if (s < 0)
		return;
	struct ipcount_table *t = table;
	table_lock(t);
	struct ipcount_entry *mine;
	lookup(t, k, s, &mine);
	if (mine && --mine->count == 0)
		delete_at(t, (size_t)(mine - t->e));
	table_unlock(t);
}

unsigned ipcount_get(const struct ipcount_key *k)
{
	if (slot() < 0)
		return 0;
	table_lock(table);
	struct ipcount_entry *mine;
	unsigned n = lookup(table, k, -1, &mine);
	table_unlock(table);
	return n;
}

static unsigned total_locked(const struct ipcount_table *t)
{
	unsigned n = 0;
	for (int s = 0; s < IPCOUNT_SLOTS; s++)
		if (t->owner[s])
			n += t->live[s];
	return n;
}

bool ipcount_conn_open(unsigned limit)
{
	int s = slot();
	if (s < 0)
		return true;
	bool ok;
	table_lock(table);
	ok = limit == 0 || total_locked(table) < limit;
	if (ok)
		table->live[s]++;
	table_unlock(table);
	return ok;
}

void ipcount_conn_close(void)
{
	int s = slot();
	if (s < 0)
		return;
	table_lock(table);
	if (table->live[s] > 0)
		table->live[s]--;
	table_unlock(table);
}

unsigned ipcount_conn_total(void)
{
	if (slot() < 0)
		return 0;
	table_lock(table);
	unsigned n = total_locked(table);
	table_unlock(table);
	return n;
}

void ipcount_set_accepting(bool accepting, unsigned cap)
{
	int s = slot();
	if (s < 0)
		return;
	table_lock(table);
	table->cap[s] = accepting ? (cap ? cap : 1) : 0;
	table_unlock(table);
}

bool ipcount_room_elsewhere(void)
{
	int me = slot();
	if (me < 0)
		return false;
	bool room = false;
	table_lock(table);
	for (int s = 0; s < IPCOUNT_SLOTS && !room; s++)
		room = s != me && table->owner[s] && table->cap[s] &&
		       table->live[s] < table->cap[s];
	table_unlock(table);
	return room;
}

static void key_from_bytes(struct ipcount_key *k, enum ipcount_class cls,
			   int family, const void *a)
{
	memset(k, 0, sizeof *k);
	k->cls = (uint8_t)cls;
	if (family == AF_INET) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, a, 4);
		return;
	}
	memcpy(k->addr, a, 16);
	/* An IPv4-mapped address is that IPv4 address, counted exactly;
	 * any other IPv6 address counts for its /64. */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };
	if (memcmp(k->addr, mapped, sizeof mapped) != 0)
		memset(k->addr + 8, 0, 8);
}

bool ipcount_key_sockaddr(struct ipcount_key *k, enum ipcount_class cls,
			  const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		key_from_bytes(k, cls, AF_INET, &in->sin_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		key_from_bytes(k, cls, AF_INET6, &in6->sin6_addr);
		return true;
	}
	return false;
}

bool ipcount_key_ip(struct ipcount_key *k, enum ipcount_class cls,
		    const char *ip)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		key_from_bytes(k, cls, AF_INET, a);
		return true;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		key_from_bytes(k, cls, AF_INET6, a);
		return true;
	}
	return false;
}

void ipcount_key_user(struct ipcount_key *k, enum ipcount_class cls,
		      const char *user)
{
	k->cls = (uint8_t)cls;
	if (!table)
		(void)slot(); /* the digest key lives in the table */
	uint64_t k2 = table ? table->k[2] : 0, k3 = table ? table->k[3] : 0;
	size_t n = strlen(user);
	uint64_t h[2] = { siphash24(k2, k3, user, n),
			  siphash24(k3 ^ 0x5bd1e995u, k2, user, n) };
	memcpy(k->user, h, sizeof h);
}
