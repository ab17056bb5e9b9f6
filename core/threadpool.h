/* A small pool of threads for work that may block (fsync, directory
 * scans, password hashing) so that the event loop never does.
 * work() runs on a pool thread; done() runs later on the loop thread
 * that owns the pool. Jobs are not cancelled: a caller whose object
 * dies meanwhile must keep it alive (or mark it dead) until done(). */
#ifndef POSTERN_THREADPOOL_H
#define POSTERN_THREADPOOL_H

struct event_base;
struct threadpool;

typedef void (*threadpool_fn)(void *arg);

struct threadpool *threadpool_new(struct event_base *base, int nthreads);
void threadpool_submit(struct threadpool *tp, threadpool_fn work,
		       threadpool_fn done, void *arg);
/* Waits for running jobs, runs no more done() callbacks, frees. */
void threadpool_free(struct threadpool **tp);

#endif
