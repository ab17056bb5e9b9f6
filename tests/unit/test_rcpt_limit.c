#include "unit.h"

#include <stdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smtp/rcpt_limit.h"

UNIT_TEST(test_counts_and_window)
{
	struct rcpt_limit *t = rcpt_limit_new();
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.1", 100, 60), 1);
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.1", 110, 60), 2);
	CHECK_EQ_INT(rcpt_limit_note(t, "::ffff:192.0.2.1", 120, 60), 3);
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.2", 120, 60), 1);
	CHECK_EQ_INT(rcpt_limit_note(t, "2001:db8::1", 120, 60), 1);
	/* the same /64 is one source; the next /64 another */
	CHECK_EQ_INT(rcpt_limit_note(t, "2001:db8::ffff:1:2", 121, 60), 2);
	CHECK_EQ_INT(rcpt_limit_note(t, "2001:db8:0:1::1", 121, 60), 1);
	/* a whole window of quiet forgets them */
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.1", 179, 60), 4);
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.1", 239, 60), 1);
	CHECK_EQ_INT(rcpt_limit_note(t, "unix", 240, 60), 0);
	CHECK_EQ_INT(rcpt_limit_note(t, "", 240, 60), 0);
	rcpt_limit_free(&t);
	CHECK(t == NULL);
}

UNIT_TEST(test_bounded)
{
	/* far more addresses than slots: the table stays the same size,
	 * the most recent ones are kept */
	struct rcpt_limit *t = rcpt_limit_new();
	char ip[64];
	for (unsigned i = 0; i < 10 * RCPT_LIMIT_SLOTS; i++) {
		snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		CHECK_EQ_INT(rcpt_limit_note(t, ip, 1000 + i, 1 << 30), 1);
	}
	snprintf(ip, sizeof ip, "10.%u.%u.%u", ((10 * RCPT_LIMIT_SLOTS - 1) >> 16) & 255,
		 ((10 * RCPT_LIMIT_SLOTS - 1) >> 8) & 255,
		 (10 * RCPT_LIMIT_SLOTS - 1) & 255);
	CHECK_EQ_INT(rcpt_limit_note(t, ip, 1000 + 10 * RCPT_LIMIT_SLOTS, 1 << 30),
		     2);
	rcpt_limit_free(&t);
}

/* The shared table counts across processes, and survives a process
 * killed while it held the lock (robust mutex). */
UNIT_TEST(test_shared_across_fork)
{
	struct rcpt_limit *t = rcpt_limit_new_shared();
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.9", 100, 60), 1);
	pid_t pid = fork();
	if (pid == 0) {
		rcpt_limit_note(t, "192.0.2.9", 101, 60);
		rcpt_limit_note(t, "192.0.2.9", 102, 60);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	CHECK_EQ_INT(rcpt_limit_note(t, "192.0.2.9", 103, 60), 4);
	rcpt_limit_free(&t);
	CHECK(t == NULL);
}

UNIT_MAIN(test_counts_and_window, test_bounded, test_shared_across_fork)
