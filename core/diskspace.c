/* Free space on a file system, cached (diskspace.h). */
#include "core/diskspace.h"

#include <pthread.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

/* mail_dir and queue_dir, with room for a test's or a CLI's extra one;
 * past that the oldest entry is replaced. */
#define CACHE_SLOTS 4
#define CACHE_PATH_MAX 512

struct slot {
	char path[CACHE_PATH_MAX];
	int64_t at_ms; /* 0 = empty */
	uint64_t avail;
};

static struct slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1 so that a real time is never 0 (empty) */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

static int stat_avail(const char *path, uint64_t *avail)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return -1;
	*avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

int disk_space_avail(const char *path, uint64_t *avail)
{
	if (strlen(path) >= CACHE_PATH_MAX)
		return stat_avail(path, avail);
	int64_t now = now_ms();
	pthread_mutex_lock(&cache_mu);
	struct slot *hit = NULL, *old = &cache[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].at_ms && !strcmp(cache[i].path, path))
			hit = &cache[i];
		if (cache[i].at_ms < old->at_ms)
			old = &cache[i];
	}
	if (hit && now - hit->at_ms < DISK_SPACE_CACHE_MS) {
		*avail = hit->avail;
		pthread_mutex_unlock(&cache_mu);
		return 0;
	}
	pthread_mutex_unlock(&cache_mu);
	/* The call itself outside the lock: a stalled NFS mount must not
	 * hold up the other paths. */
	uint64_t a;
	if (stat_avail(path, &a) < 0)
		return -1;
	pthread_mutex_lock(&cache_mu);
	struct slot *s = hit ? hit : old;
	if (!hit || strcmp(s->path, path) != 0)
		strcpy(s->path, path); /* length checked above */
	s->at_ms = now;
	s->avail = a;
	pthread_mutex_unlock(&cache_mu);
	*avail = a;
	return 0;
}

bool disk_space_low(const char *path, uint64_t need, uint64_t *avail)
{
	uint64_t a = UINT64_MAX;
	if (need == 0 || disk_space_avail(path, &a) < 0) {
		if (avail)
			*avail = a;
		return false;
	}
	if (avail)
		*avail = a;
	return a < need;
}

void disk_space_forget(void)
{
	pthread_mutex_lock(&cache_mu);
	memset(cache, 0, sizeof cache);
	pthread_mutex_unlock(&cache_mu);
}
