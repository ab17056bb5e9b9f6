/* See memtrim.h. The trim runs from a timer rather than in the close
 * path so that a mass disconnect (a NAT box dropping, a client pool
 * reconnecting) pays for one walk of the heap, not one per connection;
 * malloc_trim holds each arena's lock while it walks it, a few ms for
 * a heap of hundreds of MB, hence only after a real drop. */
#include "net/memtrim.h"

#include <event2/event.h>
#include <malloc.h>
#include <time.h>

#include "core/log.h"

/* Below this peak the heap a burst left is too small to matter. */
#define MEMTRIM_MIN_PEAK 64
#define MEMTRIM_DELAY_SECS 1

static size_t peak_live;
static size_t cur_live;
static struct event *trim_ev;

static void memtrim_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int released = malloc_trim(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long us = (t1.tv_sec - t0.tv_sec) * 1000000L +
		  (t1.tv_nsec - t0.tv_nsec) / 1000;
	log_kv(LOG_INFO, "event=malloc_trim peak=%zu live=%zu released=%d us=%ld",
	       peak_live, cur_live, released, us);
	peak_live = cur_live;
}

void memtrim_conn_opened(size_t live)
{
	cur_live = live;
	if (live > peak_live)
		peak_live = live;
}

void memtrim_conn_closed(struct event_base *base, size_t live)
{
	cur_live = live;
	if (peak_live < MEMTRIM_MIN_PEAK || live * 2 > peak_live)
		return;
	if (!trim_ev) {
		trim_ev = evtimer_new(base, memtrim_run, NULL);
		if (!trim_ev)
			return;
	}
	if (evtimer_pending(trim_ev, NULL))
		return;
	struct timeval tv = { MEMTRIM_DELAY_SECS, 0 };
	evtimer_add(trim_ev, &tv);
}
