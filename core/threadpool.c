/* Jobs go to one of two mutex-protected queues (short, heavy) served by
 * N threads; a free thread takes a short job if there is one, else a
 * heavy one if fewer than heavy_max are running. Finished jobs are
 * queued back and the loop is woken through a pipe, so done() always
 * runs on the loop thread and libevent is never touched from a worker
 * thread. */
#include "core/threadpool.h"
#include "core/log.h"
#include "core/xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdbool.h>
#include <unistd.h>

struct tp_job {
	threadpool_fn work, done;
	void *arg;
	bool heavy;
	struct tp_job *next;
};

struct tp_queue {
	struct tp_job *head, *tail;
};

struct threadpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tp_queue todo, heavy, finished;
	bool stopping;
	int nthreads;
	int heavy_running, heavy_max;
	pthread_t *threads;
	int wake_fd[2];
	struct event *wake_ev;
};

static void queue_push(struct tp_queue *q, struct tp_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct tp_job *queue_take_all(struct tp_queue *q)
{
	struct tp_job *j = q->head;
	q->head = q->tail = NULL;
	return j;
}

static struct tp_job *queue_pop(struct tp_queue *q)
{
	struct tp_job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
	}
	return j;
}

/* The next job this thread may run (under tp->mu), or NULL. */
static struct tp_job *take(struct threadpool *tp)
{
	struct tp_job *j = queue_pop(&tp->todo);
	if (j)
		return j;
	if (tp->heavy_running < tp->heavy_max &&
	    (j = queue_pop(&tp->heavy)) != NULL)
		tp->heavy_running++;
	return j;
}

static void *tp_thread(void *arg)
{
	struct threadpool *tp = arg;
	pthread_mutex_lock(&tp->mu);
	for (;;) {
		struct tp_job *j;
		while (!(j = take(tp)) && !tp->stopping)
			pthread_cond_wait(&tp->cv, &tp->mu);
		if (!j)
			break;
		pthread_mutex_unlock(&tp->mu);
		j->work(j->arg);
		pthread_mutex_lock(&tp->mu);
		/* This thread looks for the next job itself, heavy ones
		 * included, so no wakeup is needed for them. */
		if (j->heavy)
			tp->heavy_running--;
		bool was_empty = tp->finished.head == NULL;
		queue_push(&tp->finished, j);
		if (was_empty) {
			char c = 1;
			while (write(tp->wake_fd[1], &c, 1) < 0 && errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&tp->mu);
	return NULL;
}

static void tp_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct threadpool *tp = arg;
	char drain[64];
	while (read(fd, drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&tp->mu);
	struct tp_job *j = queue_take_all(&tp->finished);
	pthread_mutex_unlock(&tp->mu);
	while (j) {
		struct tp_job *next = j->next;
		if (j->done)
			j->done(j->arg);
		free(j);
		j = next;
	}
}

struct threadpool *threadpool_new(struct event_base *base, int nthreads)
{
	struct threadpool *tp = xcalloc(1, sizeof *tp);
	pthread_mutex_init(&tp->mu, NULL);
	pthread_cond_init(&tp->cv, NULL);
	if (pipe2(tp->wake_fd, O_NONBLOCK | O_CLOEXEC) < 0)
		log_fatal("event=threadpool_pipe error=%d", errno);
	tp->wake_ev = event_new(base, tp->wake_fd[0], EV_READ | EV_PERSIST,
				tp_wake, tp);
	event_add(tp->wake_ev, NULL);
	tp->nthreads = nthreads < 1 ? 1 : nthreads;
	tp->heavy_max = tp->nthreads > 1 ? tp->nthreads - 1 : 1;
	tp->threads = xcalloc((size_t)tp->nthreads, sizeof *tp->threads);
	for (int i = 0; i < tp->nthreads; i++)
		if (pthread_create(&tp->threads[i], NULL, tp_thread, tp) != 0)
			log_fatal("event=threadpool_thread error=create");
	return tp;
}

static void submit(struct threadpool *tp, threadpool_fn work,
		   threadpool_fn done, void *arg, bool heavy)
{
	struct tp_job *j = xmalloc(sizeof *j);
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->heavy = heavy;
	pthread_mutex_lock(&tp->mu);
	queue_push(heavy ? &tp->heavy : &tp->todo, j);
	/* A waiting thread that cannot take a heavy job goes back to
	 * sleep; the thread that ends a heavy job takes the next. */
	pthread_cond_signal(&tp->cv);
	pthread_mutex_unlock(&tp->mu);
}

void threadpool_submit(struct threadpool *tp, threadpool_fn work,
		       threadpool_fn done, void *arg)
{
	submit(tp, work, done, arg, false);
}

void threadpool_submit_heavy(struct threadpool *tp, threadpool_fn work,
			     threadpool_fn done, void *arg)
{
	submit(tp, work, done, arg, true);
}

void threadpool_free(struct threadpool **tpp)
{
	struct threadpool *tp = *tpp;
	if (!tp)
		return;
	*tpp = NULL;
	pthread_mutex_lock(&tp->mu);
	tp->stopping = true;
	pthread_cond_broadcast(&tp->cv);
	pthread_mutex_unlock(&tp->mu);
	for (int i = 0; i < tp->nthreads; i++)
		pthread_join(tp->threads[i], NULL);
	struct tp_job *lists[3] = { queue_take_all(&tp->todo),
				    queue_take_all(&tp->heavy),
				    queue_take_all(&tp->finished) };
	for (int k = 0; k < 3; k++)
		while (lists[k]) {
			struct tp_job *next = lists[k]->next;
			free(lists[k]);
			lists[k] = next;
		}
	event_free(tp->wake_ev);
	close(tp->wake_fd[0]);
	close(tp->wake_fd[1]);
	free(tp->threads);
	pthread_mutex_destroy(&tp->mu);
	pthread_cond_destroy(&tp->cv);
	free(tp);
}
