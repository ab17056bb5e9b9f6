/* The supervisor's lifeline: how every child of `postern serve` notices
 * that the supervisor has gone (kill -9, the OOM killer, a crash) and
 * exits at once, so that the listening ports are released and a new
 * `serve` can bind them. Two mechanisms, one a backstop for the other:
 *
 *  - A pipe made by the supervisor before its first fork. Only the
 *    supervisor keeps the write end (every child closes it; both ends
 *    are O_CLOEXEC); nobody ever writes. When the supervisor dies the
 *    kernel closes that last write end and the read end, which each
 *    child watches in its event loop, reads EOF: the child stops in
 *    order (Postfix's and Dovecot's children watch their master so).
 *  - PR_SET_PDEATHSIG, for a child whose loop is busy or not yet
 *    running (the queue runner waiting for its lock, a worker thread
 *    pool still joining): the signal arms alarm(LIFELINE_GRACE_SECS),
 *    and a child still alive then is ended by SIGALRM's default action.
 *
 * Linux only (prctl); elsewhere the pipe alone would do. */
#ifndef POSTERN_LIFELINE_H
#define POSTERN_LIFELINE_H

struct event;
struct event_base;

/* A child that saw the supervisor go has this long to stop in order
 * (close its listeners and sessions, let its pool threads finish);
 * then SIGALRM ends it. Orderly exits take milliseconds. */
#define LIFELINE_GRACE_SECS 2
/* The parent-death signal. Nothing else in the children uses it; one
 * sent by hand while the supervisor lives is ignored. */
#define LIFELINE_SIGNAL SIGUSR1

/* Supervisor, before its first fork: makes the pipe and remembers its
 * own pid. Returns 0, or -1 with errno. */
int lifeline_open(void);
/* Supervisor, at exit (children see EOF: they are gone by then). */
void lifeline_close(void);

/* Child, first thing after fork: closes the inherited write end (only
 * the supervisor may hold it, or EOF would never come). */
void lifeline_child(void);
/* Child, after its LAST credential change (setuid/setgid clear the
 * parent-death signal, prctl(2)): sets PR_SET_PDEATHSIG, then checks
 * getppid() for a supervisor that died before that, and if so logs
 * event=supervisor_gone and exits at once (nothing is open yet that
 * needs an orderly stop). */
void lifeline_arm(void);

/* Child: watches the read end on base. On EOF it logs
 * event=supervisor_gone, arms the alarm above and calls gone(arg), once;
 * gone must make the loop end soon (stop listening first). Returns the
 * event to free with lifeline_unwatch, or NULL outside a child of
 * `serve` (unit tests) or on failure. */
struct event *lifeline_watch(struct event_base *base, void (*gone)(void *arg),
			     void *arg);
/* Frees the event of lifeline_watch and sets *evp to NULL; NULL is
 * fine. */
void lifeline_unwatch(struct event **evp);

#endif
