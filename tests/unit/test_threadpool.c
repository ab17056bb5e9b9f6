/* core/threadpool.c: short jobs always find a thread while heavy jobs
 * hold the others; heavy jobs run in order, at most nthreads - 1 at
 * once; done() runs on the loop. */
#include <event2/event.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "tests/unit/unit.h"

static atomic_int running_heavy, max_heavy, heavy_started, short_ran;
static atomic_bool release;
static int done_count;
static int order[16];
static atomic_int order_n;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Holds its thread until release (at most 5 s). */
static void heavy_work(void *arg)
{
	int id = (int)(intptr_t)arg;
	order[atomic_fetch_add(&order_n, 1) & 15] = id;
	atomic_fetch_add(&heavy_started, 1);
	int now = atomic_fetch_add(&running_heavy, 1) + 1;
	int m = atomic_load(&max_heavy);
	while (now > m && !atomic_compare_exchange_weak(&max_heavy, &m, now))
		;
	for (int i = 0; i < 500 && !atomic_load(&release); i++)
		sleep_ms(10);
	atomic_fetch_sub(&running_heavy, 1);
}

static void short_work(void *arg)
{
	(void)arg;
	atomic_fetch_add(&short_ran, 1);
}

static void count_done(void *arg)
{
	(void)arg;
	done_count++;
}

static void reset(void)
{
	atomic_store(&running_heavy, 0);
	atomic_store(&max_heavy, 0);
	atomic_store(&heavy_started, 0);
	atomic_store(&short_ran, 0);
	atomic_store(&release, false);
	atomic_store(&order_n, 0);
	done_count = 0;
}

/* Waits up to ms for *v to reach want. */
static bool wait_for(atomic_int *v, int want, int ms)
{
	for (int i = 0; i < ms && atomic_load(v) < want; i++)
		sleep_ms(1);
	return atomic_load(v) >= want;
}

static void run_loop_until(struct event_base *base, int want)
{
	for (int i = 0; i < 5000 && done_count < want; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		sleep_ms(1);
	}
}

UNIT_TEST(test_short_jobs_find_a_thread)
{
	reset();
	struct event_base *base = event_base_new();
	struct threadpool *tp = threadpool_new(base, 3);
	for (int i = 0; i < 6; i++)
		threadpool_submit_heavy(tp, heavy_work, count_done,
					(void *)(intptr_t)i);
	CHECK(wait_for(&heavy_started, 2, 2000));
	sleep_ms(50);
	/* Two of three threads hold heavy jobs; four more wait. */
	CHECK_EQ_INT(atomic_load(&heavy_started), 2);
	for (int i = 0; i < 5; i++)
		threadpool_submit(tp, short_work, count_done, NULL);
	CHECK(wait_for(&short_ran, 5, 1000));
	CHECK_EQ_INT(atomic_load(&heavy_started), 2);
	atomic_store(&release, true);
	run_loop_until(base, 11);
	CHECK_EQ_INT(done_count, 11);
	CHECK_EQ_INT(atomic_load(&max_heavy), 2);
	threadpool_free(&tp);
	CHECK(tp == NULL);
	event_base_free(base);
}

/* A pool of one thread still runs heavy jobs. */
UNIT_TEST(test_one_thread)
{
	reset();
	atomic_store(&release, true);
	struct event_base *base = event_base_new();
	struct threadpool *tp = threadpool_new(base, 1);
	threadpool_submit_heavy(tp, heavy_work, count_done, (void *)0);
	threadpool_submit(tp, short_work, count_done, NULL);
	threadpool_submit_heavy(tp, heavy_work, count_done, (void *)1);
	run_loop_until(base, 3);
	CHECK_EQ_INT(done_count, 3);
	CHECK_EQ_INT(atomic_load(&short_ran), 1);
	CHECK_EQ_INT(atomic_load(&heavy_started), 2);
	threadpool_free(&tp);
	event_base_free(base);
}

/* Freeing the pool with heavy jobs still queued runs them all first
 * (like short ones) and frees without calling done(). */
UNIT_TEST(test_free_drains)
{
	reset();
	atomic_store(&release, true);
	struct event_base *base = event_base_new();
	struct threadpool *tp = threadpool_new(base, 2);
	for (int i = 0; i < 4; i++)
		threadpool_submit_heavy(tp, heavy_work, count_done,
					(void *)(intptr_t)i);
	threadpool_submit(tp, short_work, count_done, NULL);
	threadpool_free(&tp);
	CHECK_EQ_INT(atomic_load(&heavy_started), 4);
	CHECK_EQ_INT(atomic_load(&short_ran), 1);
	CHECK_EQ_INT(atomic_load(&max_heavy), 1);
	/* One at a time, in submission order. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(order[i], i);
	CHECK_EQ_INT(done_count, 0);
	event_base_free(base);
}

UNIT_MAIN(test_short_jobs_find_a_thread, test_one_thread, test_free_drains)
