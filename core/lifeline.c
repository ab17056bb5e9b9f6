/* The supervisor's lifeline (core/lifeline.h). */
#include "core/lifeline.h"
#include "core/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

/* Inherited through fork: [0] the read end every child watches, [1] the
 * write end only the supervisor keeps. */
static int life_fd[2] = { -1, -1 };
static pid_t supervisor_pid;
static volatile sig_atomic_t alarm_armed;

struct watch {
	struct event *ev;
	void (*gone)(void *arg);
	void *arg;
};
static struct watch watch;

int lifeline_open(void)
{
	if (pipe2(life_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		life_fd[0] = life_fd[1] = -1;
		return -1;
	}
	supervisor_pid = getpid();
	return 0;
}

void lifeline_close(void)
{
	for (int i = 0; i < 2; i++)
		if (life_fd[i] >= 0) {
			close(life_fd[i]);
			life_fd[i] = -1;
		}
}

void lifeline_child(void)
{
	if (life_fd[1] >= 0) {
		close(life_fd[1]);
		life_fd[1] = -1;
	}
}

/* Async-signal-safe: getppid() and alarm() only. Arms the alarm once,
 * so a second signal cannot push the end further away. */
static void backstop(void)
{
	if (alarm_armed)
		return;
	alarm_armed = 1;
	alarm(LIFELINE_GRACE_SECS);
}

static void on_parent_death(int sig)
{
	(void)sig;
	int saved = errno;
	/* The kernel reparents the child before it sends the signal, so
	 * getppid() already names the new parent; a SIGUSR1 sent by hand
	 * while the supervisor lives changes nothing. */
	if (getppid() != supervisor_pid)
		backstop();
	errno = saved;
}

void lifeline_arm(void)
{
	if (life_fd[0] < 0)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_parent_death;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(LIFELINE_SIGNAL, &sa, NULL);
	signal(SIGALRM, SIG_DFL); /* the backstop's end */
	if (prctl(PR_SET_PDEATHSIG, LIFELINE_SIGNAL) != 0)
		log_kv(LOG_WARN, "event=pdeathsig_failed error=\"%s\"",
		       strerror(errno));
	/* The supervisor may have died between fork and prctl: no signal
	 * will come for that, and the pipe may not be watched for a while
	 * yet. */
	if (getppid() != supervisor_pid) {
		log_kv(LOG_WARN, "event=supervisor_gone supervisor_pid=%ld action=exit when=start",
		       (long)supervisor_pid);
		_exit(EX_UNAVAILABLE);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct watch *w = arg;
	char c;
	ssize_t n = read(fd, &c, 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		event_add(w->ev, NULL); /* not EOF: keep watching */
		return;
	}
	if (n > 0) {
		/* Nobody writes; if someone did, it is not a death. */
		event_add(w->ev, NULL);
		return;
	}
	/* EOF (or the pipe is unusable, which is as bad): the last write
	 * end has been closed, so the supervisor is gone. */
	log_kv(LOG_WARN, "event=supervisor_gone supervisor_pid=%ld action=exit",
	       (long)supervisor_pid);
	backstop();
	if (w->gone)
		w->gone(w->arg);
}

struct event *lifeline_watch(struct event_base *base, void (*gone)(void *arg),
			     void *arg)
{
	if (life_fd[0] < 0 || watch.ev)
		return NULL;
	watch.gone = gone;
	watch.arg = arg;
	/* One-shot: EOF stays readable, so it must not fire again. */
	watch.ev = event_new(base, life_fd[0], EV_READ, on_readable, &watch);
	if (!watch.ev || event_add(watch.ev, NULL) != 0) {
		log_kv(LOG_WARN, "event=lifeline_watch_failed");
		if (watch.ev)
			event_free(watch.ev);
		watch.ev = NULL;
		return NULL;
	}
	return watch.ev;
}

void lifeline_unwatch(struct event **evp)
{
	if (!*evp)
		return;
	if (*evp == watch.ev)
		watch.ev = NULL;
	event_free(*evp);
	*evp = NULL;
}
