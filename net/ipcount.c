/* Shared per-address connection counts (net/ipcount.h). */
#include "net/ipcount.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Workers plus the retiring generations after a few quick SIGHUPs. */
#define IPCOUNT_SLOTS 64
#define IPCOUNT_BUCKETS 16384

struct ipcount_table {
	_Atomic pid_t owner[IPCOUNT_SLOTS];
	_Atomic uint32_t count[IPCOUNT_SLOTS][IPCOUNT_BUCKETS];
};

static struct ipcount_table *table;
static int my_slot = -1;
static pid_t my_pid;

int ipcount_init(void)
{
	if (table)
		return 0;
	void *p = mmap(NULL, sizeof *table, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	table = p; /* zero-filled by the kernel */
	return 0;
}

void ipcount_release(pid_t pid)
{
	if (!table || pid <= 0)
		return;
	for (int s = 0; s < IPCOUNT_SLOTS; s++) {
		if (atomic_load(&table->owner[s]) != pid)
			continue;
		for (size_t b = 0; b < IPCOUNT_BUCKETS; b++)
			atomic_store(&table->count[s][b], 0);
		atomic_store(&table->owner[s], 0);
	}
}

/* FNV-1a over the address text. */
static size_t bucket_of(const char *ip)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)ip; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h % IPCOUNT_BUCKETS;
}

/* The slot of this process, claimed at first use (after fork: a pid
 * change means we are a new child and must not count in the parent's). */
static int slot(void)
{
	pid_t pid = getpid();
	if (my_slot >= 0 && my_pid == pid)
		return my_slot;
	my_slot = -1;
	my_pid = pid;
	if (!table)
		return -1;
	for (int s = 0; s < IPCOUNT_SLOTS; s++) {
		pid_t free_owner = 0;
		if (atomic_compare_exchange_strong(&table->owner[s],
						   &free_owner, pid)) {
			my_slot = s;
			break;
		}
	}
	return my_slot;
}

size_t ipcount_get(const char *ip)
{
	if (slot() < 0)
		return (size_t)-1;
	size_t b = bucket_of(ip), n = 0;
	for (int s = 0; s < IPCOUNT_SLOTS; s++)
		if (atomic_load(&table->owner[s]))
			n += atomic_load(&table->count[s][b]);
	return n;
}

void ipcount_add(const char *ip, int delta)
{
	int s = slot();
	if (s < 0)
		return;
	_Atomic uint32_t *c = &table->count[s][bucket_of(ip)];
	if (delta > 0)
		atomic_fetch_add(c, 1);
	else if (atomic_load(c) > 0)
		atomic_fetch_sub(c, 1); /* only this process writes its slot */
}
