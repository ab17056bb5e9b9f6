/* core/lifeline.c: a child notices its supervisor's death, through the
 * pipe when its loop runs and through PR_SET_PDEATHSIG + SIGALRM when
 * it is busy. The test process is the subreaper of the orphans, so it
 * can wait for them. */
#include "unit.h"

#include "core/lifeline.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GONE_EXIT 42

static void on_gone(void *arg)
{
	event_base_loopbreak(arg);
}

/* The child: an event loop watching the lifeline (busy == false), or a
 * loop that never returns to an event loop (busy == true). */
static void child(bool busy)
{
	lifeline_child();
	lifeline_arm();
	if (busy)
		for (;;)
			pause(); /* never looks at the pipe */
	struct event_base *base = event_base_new();
	struct event *ev = lifeline_watch(base, on_gone, base);
	if (!ev)
		_exit(2);
	event_base_dispatch(base);
	lifeline_unwatch(&ev);
	event_base_free(base);
	_exit(GONE_EXIT);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts a supervisor that starts one child, kills the supervisor, and
 * returns the child's wait status and how long it outlived it. */
static int run(bool busy, double *took)
{
	int report[2];
	CHECK(pipe(report) == 0);
	pid_t sup = fork();
	if (sup == 0) {
		close(report[0]);
		if (lifeline_open() != 0)
			_exit(1);
		pid_t c = fork();
		if (c == 0) {
			close(report[1]);
			child(busy);
		}
		/* the child has armed the death signal once it runs; give it
		 * a moment to reach its loop */
		usleep(200 * 1000);
		if (write(report[1], &c, sizeof c) != (ssize_t)sizeof c)
			_exit(1);
		for (;;)
			pause();
	}
	close(report[1]);
	pid_t c = 0;
	CHECK(read(report[0], &c, sizeof c) == (ssize_t)sizeof c);
	close(report[0]);
	kill(sup, SIGKILL);
	double t0 = now();
	int st = 0;
	CHECK(waitpid(sup, &st, 0) == sup);
	/* the orphan comes to us, the subreaper; one still there after
	 * twice the grace is a failure (and is killed, not left behind) */
	st = 0;
	pid_t got;
	while ((got = waitpid(c, &st, WNOHANG)) == 0 &&
	       now() - t0 < 2 * LIFELINE_GRACE_SECS + 2)
		usleep(10 * 1000);
	if (got != c) {
		fprintf(stderr, "child %ld outlived its supervisor\n", (long)c);
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		st = -1;
	}
	CHECK(got == c);
	*took = now() - t0;
	return st;
}

UNIT_TEST(test_loop_child_sees_eof)
{
	double took = 0;
	int st = run(false, &took);
	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == GONE_EXIT);
	CHECK(took < 1.0);
}

UNIT_TEST(test_busy_child_ended_by_backstop)
{
	double took = 0;
	int st = run(true, &took);
	CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM);
	CHECK(took >= LIFELINE_GRACE_SECS - 1 && took < LIFELINE_GRACE_SECS + 2);
}

UNIT_TEST(test_no_lifeline_outside_serve)
{
	/* This process never opened one (unit tests, CLI commands). */
	struct event_base *base = event_base_new();
	CHECK(lifeline_watch(base, on_gone, base) == NULL);
	lifeline_arm(); /* a no-op */
	event_base_free(base);
}

int main(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	void (*tests[])(void) = { test_no_lifeline_outside_serve,
				  test_loop_child_sees_eof,
				  test_busy_child_ended_by_backstop };
	int pass = 0, fail = 0;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		unit_current_failed = 0;
		tests[i]();
		if (unit_current_failed)
			fail++;
		else
			pass++;
	}
	(void)unit_failed_checks;
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}
