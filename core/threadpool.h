/* A small pool of threads for work that may block (fsync, directory
 * scans, password hashing) so that the event loop never does.
 * work() runs on a pool thread; done() runs later on the loop thread
 * that owns the pool. Jobs are not cancelled: a caller whose object
 * dies meanwhile must keep it alive (or mark it dead) until done();
 * a long job should watch a flag of its own and stop early.
 *
 * Two classes of jobs, so that one user's heavy work cannot stall
 * everyone's short work (issue 10):
 * - short (threadpool_submit): a login, a delivery, a SELECT, an APPEND
 *   commit -- small, bounded jobs that someone is waiting for. They are
 *   taken first, and always find a thread that no heavy job can hold.
 * - heavy (threadpool_submit_heavy): SEARCH over message files, FETCH
 *   of bodies, COPY -- jobs whose size a client chooses. They run on at
 *   most nthreads - 1 threads at once (all of them in a one-thread
 *   pool), in submission order; a heavy job that resubmits itself in
 *   slices takes turns with the others. */
#ifndef POSTERN_THREADPOOL_H
#define POSTERN_THREADPOOL_H

struct event_base;
struct threadpool;

typedef void (*threadpool_fn)(void *arg);

struct threadpool *threadpool_new(struct event_base *base, int nthreads);
void threadpool_submit(struct threadpool *tp, threadpool_fn work,
		       threadpool_fn done, void *arg);
void threadpool_submit_heavy(struct threadpool *tp, threadpool_fn work,
			     threadpool_fn done, void *arg);
/* Waits for running jobs, runs no more done() callbacks, frees. */
void threadpool_free(struct threadpool **tp);

#endif
