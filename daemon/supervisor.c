/* `postern serve`: the supervisor. Binds every listener (as root if it
 * must), creates the auth and key sockets, forks the key process and
 * gives it the TLS key, then forks the auth process, the queue runner
 * and the workers and keeps them running: a crashed child is restarted
 * and logged, SIGHUP reloads, SIGTERM stops gracefully. Started as root,
 * it stays root (to read root-only keys at a reload); every child leaves
 * root right after fork (child_setup). */
#include "daemon/cli.h"
#include "daemon/worker.h"
#include "auth/authd.h"
#include "runner/runner.h"
#include "core/lifeline.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/ipcount.h"
#include "smtp/rcpt_limit.h"
#include "tls/keyd.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256
/* More crashes than this within RESTART_WINDOW seconds: slow down. */
#define RESTART_BURST 10
#define RESTART_WINDOW 10

struct child {
	pid_t pid;
	int generation;
};

struct supervisor {
	const char *conf_path;
	struct config cfg;
	struct worker_sockets socks;
	int auth_fd;
	char auth_name[64];
	struct ssl_ctx_st *tls;     /* certificate + proxy key (key_id) */
	int keyd_listen;            /* abstract socket workers ask */
	int keyd_ctl;               /* our end of keyd's socketpair */
	char keyd_name[64];
	pid_t keyd_pid;
	uint32_t key_id;            /* keyd's id of the key in force */
	time_t key_retry;           /* keyd lacks it: try again then (0: has it) */
	int key_backoff;            /* seconds till the next try after that */
	bool as_root;               /* children leave root after fork */
	uid_t run_uid;
	gid_t run_gid;
	pid_t auth_pid;
	pid_t queue_pid;
	struct child workers[MAX_WORKERS];
	int nworkers;
	int generation;
	pid_t retiring[MAX_WORKERS * 4];
	int nretiring;
	bool stopping;
	time_t restart_times[RESTART_BURST];
	int restart_idx;
};

static int bind_listener(const struct listener_conf *l, enum listener_kind kind)
{
	struct addrinfo hints = { 0 }, *ai;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	char port[8];
	snprintf(port, sizeof port, "%d", l->port);
	int rc = getaddrinfo(l->host, port, &hints, &ai);
	if (rc != 0) {
		log_kv(LOG_ERR, "event=bind_failed proto=%s addr=%s:%d error=\"%s\"",
		       config_listener_name(kind), l->host, l->port,
		       gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 1024) != 0) {
		log_kv(LOG_ERR, "event=bind_failed proto=%s addr=%s:%d error=\"%s\"",
		       config_listener_name(kind), l->host, l->port,
		       strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* LMTP for the host's own MTA (Postfix: lmtp:unix:PATH). A stale socket
 * left by a crash is replaced; anything else at the path is an error, so
 * a typo can never delete a file. Mode 0660: the MTA's user must be put
 * in run_user's group (or given the path through its own ACL).
 *
 * No link is ever followed: a symbolic link at the path is refused, not
 * removed; the mode is set at creation (umask around bind(), so no
 * chmod); bind() never follows a link at its last component (an
 * existing path is EADDRINUSE); and the owner is set through an
 * O_PATH|O_NOFOLLOW descriptor that must still be a socket, so a link
 * slipped in after bind() is refused, not followed (root must never
 * chown, say, /etc/shadow for whoever can write this directory). */
static int bind_unix_listener(const char *path, const char *run_user)
{
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			log_kv(LOG_ERR, "event=bind_failed proto=lmtp addr=%s error=\"is a symbolic link; refusing to follow or remove it\"",
			       path);
			return -1;
		}
		if (!S_ISSOCK(st.st_mode)) {
			log_kv(LOG_ERR, "event=bind_failed proto=lmtp addr=%s error=\"exists and is not a socket\"",
			       path);
			return -1;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	mode_t old = umask(0117);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
		 listen(fd, 128) == 0;
	umask(old);
	if (!ok) {
		log_kv(LOG_ERR, "event=bind_failed proto=lmtp addr=%s error=\"%s\"",
		       path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct passwd *pw = geteuid() == 0 && run_user[0] ? getpwnam(run_user)
							  : NULL;
	const char *why = NULL;
	if (pw) {
		if (cli_chown_nofollow(AT_FDCWD, path, S_IFSOCK, pw->pw_uid,
				       pw->pw_gid, &why) != 0)
			ok = 0;
	} else if (lstat(path, &st) != 0) {
		why = strerror(errno);
		ok = 0;
	} else if (!S_ISSOCK(st.st_mode)) {
		why = S_ISLNK(st.st_mode) ? "is a symbolic link" : "is not a socket";
		ok = 0;
	}
	if (!ok) {
		/* Replaced under us: what is there now is not ours to remove. */
		log_kv(LOG_ERR, "event=bind_failed proto=lmtp addr=%s error=\"after bind: %s; not followed\"",
		       path, why);
		close(fd);
		return -1;
	}
	return fd;
}

/* The auth process and keyd listen on abstract Unix sockets (no file to
 * clean up or to get wrong permissions on); they check each peer's uid.
 * kind is "auth" or "keyd". */
static int bind_ipc_socket(const char *kind, char *name, size_t namesz)
{
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return -1;
	snprintf(name, namesz, "postern-%s-%ld-%02x%02x%02x%02x%02x%02x%02x%02x",
		 kind, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	memcpy(sun.sun_path + 1, name, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	if (bind(fd, (struct sockaddr *)&sun, len) != 0 || listen(fd, 128) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* RLIMIT_NOFILE: the soft limit is often 1024, far below what
 * max_connections needs; raise it to what a worker needs, up to the hard
 * limit. Workers inherit it and fit their connection cap to it
 * (daemon/worker.c). */
static void raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t per_worker = cfg->worker_max_connections > 0
				    ? (rlim_t)cfg->worker_max_connections
				    : (rlim_t)cfg->max_connections;
	rlim_t need = per_worker * CONN_FDS_PER_CONN + WORKER_FD_START +
		      WORKER_FD_SPARE;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return;
	/* The hard limit is the administrator's (systemd LimitNOFILE=,
	 * prlimit); only the soft one is ours to raise. */
	struct rlimit nrl = rl;
	nrl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
			       ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nrl) != 0)
		nrl = rl;
	if (nrl.rlim_cur < need)
		log_kv(LOG_WARN, "event=fd_limit nofile=%llu needed=%llu effect=\"workers serve fewer connections\"",
		       (unsigned long long)nrl.rlim_cur, (unsigned long long)need);
	else
		log_kv(LOG_INFO, "event=fd_limit nofile=%llu", (unsigned long long)nrl.rlim_cur);
}

static int worker_count(const struct config *cfg)
{
	if (cfg->workers > 0)
		return cfg->workers > MAX_WORKERS ? MAX_WORKERS : cfg->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (n > MAX_WORKERS ? MAX_WORKERS : (int)n);
}

static void child_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Everything a child does right after fork, before its role runs: the
 * default signal mask, its name in the log, no key socket (only keyd
 * and the supervisor hold those), when the supervisor is root run_user
 * for good, and the lifeline (core/lifeline.h), so that it exits when
 * the supervisor dies. lifeline_arm() comes after the last change of
 * uid or gid: a credential change clears PR_SET_PDEATHSIG. keyd does
 * its own (spawn_keyd): it leaves the file system before root. Exits if
 * it cannot leave root. */
static void child_setup(struct supervisor *s, const char *role)
{
	child_reset_signals();
	log_init(role);
	lifeline_child();
	if (s->keyd_listen >= 0)
		close(s->keyd_listen);
	if (s->keyd_ctl >= 0)
		close(s->keyd_ctl);
	if (s->as_root && cli_become(s->run_uid, s->run_gid) != 0)
		_exit(EX_OSERR);
	lifeline_arm();
}

static void close_listeners(struct supervisor *s)
{
	for (int k = 0; k < LISTEN__COUNT; k++)
		if (s->socks.tcp[k] >= 0)
			close(s->socks.tcp[k]);
	if (s->socks.lmtp_unix >= 0)
		close(s->socks.lmtp_unix);
}

/* The key process: it leaves the file system (an empty root it cannot
 * write to), then root, and is never dumpable (no ptrace or
 * /proc/PID/mem by run_user's other processes, no core file); the keys
 * come afterwards over the socketpair (load_key). Returns its pid, or
 * -1 after a log line. */
static pid_t spawn_keyd(struct supervisor *s)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
		log_kv(LOG_ERR, "event=keyd_start_failed error=\"%s\"", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid != 0) {
		close(sp[1]);
		if (pid < 0) {
			log_kv(LOG_ERR, "event=keyd_start_failed error=\"%s\"", strerror(errno));
			close(sp[0]);
			return -1;
		}
		if (s->keyd_ctl >= 0)
			close(s->keyd_ctl);
		s->keyd_ctl = sp[0];
		return pid;
	}
	close(sp[0]);
	child_reset_signals();
	log_init("keyd");
	/* It ends when its socketpair to the supervisor reads EOF; holding
	 * the lifeline's write end would keep the other children alive. */
	lifeline_child();
	prctl(PR_SET_NAME, "postern-keyd", 0, 0, 0);
	close_listeners(s);
	if (s->auth_fd >= 0)
		close(s->auth_fd);
	if (s->keyd_ctl >= 0)
		close(s->keyd_ctl);
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	keyd_prepare();
	if (s->as_root) {
		if (cli_chroot_empty() != 0) {
			log_kv(LOG_CRIT, "event=keyd_start_failed reason=chroot error=\"%s\"",
			       strerror(errno));
			_exit(EX_OSERR);
		}
		if (cli_become(s->run_uid, s->run_gid) != 0)
			_exit(EX_OSERR);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_kv(LOG_CRIT, "event=keyd_start_failed reason=prctl error=\"%s\"",
		       strerror(errno));
		_exit(EX_OSERR);
	}
	_exit(keyd_run(sp[1], s->keyd_listen,
		       s->as_root ? s->run_uid : geteuid()));
}

/* Gives keyd the private key at path as key_id, to go with the
 * certificate of ctx. A short-lived child reads it (as root when we
 * are) and hands it over: the key never enters the supervisor's memory,
 * which every worker is a copy of. 0, or -1 with a sentence naming the
 * file and the reason in err. */
static int load_key(struct supervisor *s, const char *path, uint32_t key_id,
		    struct ssl_ctx_st *ctx, struct buf *err)
{
	int p[2];
	if (s->keyd_ctl < 0 || s->keyd_pid <= 0) {
		buf_printf(err, "key %s: the key process is not running", path);
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		buf_printf(err, "key %s: pipe: %s", path, strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		buf_printf(err, "key %s: fork: %s", path, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child_reset_signals();
		log_init("keyload");
		struct buf e = BUF_INIT;
		int rc = keyd_send_key(s->keyd_ctl, key_id, path, ctx, &e);
		if (rc < 0 && write(p[1], e.data, e.len) < 0)
			rc = -1;
		_exit(rc < 0 ? 1 : 0);
	}
	close(p[1]);
	char msg[1024];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(p[0], msg + n, sizeof msg - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof msg)
			break;
	}
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 0)
		return 0;
	if (n)
		buf_append(err, msg, n);
	else
		buf_printf(err, "key %s: the key loader died (status %d)", path, st);
	return -1;
}

/* Gives a restarted keyd the key in force, read afresh (it must still
 * match the certificate in force). On failure tries again later, 1 s
 * then doubling up to a minute (the loop calls this when key_retry is
 * due): TLS handshakes fail until it works or a reload brings a pair. */
static void keyd_reload_key(struct supervisor *s)
{
	struct buf err = BUF_INIT;
	if (load_key(s, s->cfg.tls_key, s->key_id, s->tls, &err) < 0) {
		char e[LOG_ESC_MAX];
		s->key_backoff = s->key_backoff ? s->key_backoff * 2 : 1;
		if (s->key_backoff > 60)
			s->key_backoff = 60;
		s->key_retry = time(NULL) + s->key_backoff;
		log_kv(LOG_ERR, "event=keyd_key_failed key_id=%lu error=%s retry_in=%d effect=\"TLS handshakes fail\"",
		       (unsigned long)s->key_id, log_esc(e, sizeof e, err.data, err.len),
		       s->key_backoff);
	} else {
		s->key_retry = 0;
		s->key_backoff = 0;
		log_kv(LOG_INFO, "event=keyd_restarted pid=%ld key_id=%lu",
		       (long)s->keyd_pid, (unsigned long)s->key_id);
	}
	buf_free(&err);
}

/* keyd died: a new one, and the key in force again. */
static void restart_keyd(struct supervisor *s)
{
	s->key_retry = 0;
	s->key_backoff = 0;
	s->keyd_pid = spawn_keyd(s);
	if (s->keyd_pid <= 0) {
		s->keyd_pid = 0;
		return;
	}
	keyd_reload_key(s);
}

static pid_t spawn_auth(struct supervisor *s)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	child_setup(s, "auth");
	for (int k = 0; k < LISTEN__COUNT; k++)
		if (s->socks.tcp[k] >= 0)
			close(s->socks.tcp[k]);
	if (s->socks.lmtp_unix >= 0)
		close(s->socks.lmtp_unix);
	_exit(authd_run(&s->cfg, s->auth_fd));
}

/* The queue runner: outbound delivery. It needs no listener and no
 * privilege; it asks the auth process about local addresses. */
static pid_t spawn_queue(struct supervisor *s)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	child_setup(s, "queue");
	for (int k = 0; k < LISTEN__COUNT; k++)
		if (s->socks.tcp[k] >= 0)
			close(s->socks.tcp[k]);
	if (s->socks.lmtp_unix >= 0)
		close(s->socks.lmtp_unix);
	close(s->auth_fd);
	_exit(queue_runner_run(&s->cfg, s->auth_name));
}

static pid_t spawn_worker(struct supervisor *s)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	child_setup(s, "worker");
	close(s->auth_fd);
	_exit(worker_run(&s->cfg, &s->socks, s->tls, s->auth_name));
}

static void start_workers(struct supervisor *s)
{
	s->nworkers = worker_count(&s->cfg);
	for (int i = 0; i < s->nworkers; i++) {
		s->workers[i].pid = spawn_worker(s);
		s->workers[i].generation = s->generation;
	}
}

/* Too many restarts in a short time means a crash loop: pause a second
 * so the log stays readable and the machine usable. */
static void restart_throttle(struct supervisor *s)
{
	time_t now = time(NULL);
	time_t oldest = s->restart_times[s->restart_idx];
	s->restart_times[s->restart_idx] = now;
	s->restart_idx = (s->restart_idx + 1) % RESTART_BURST;
	if (oldest && now - oldest < RESTART_WINDOW) {
		log_kv(LOG_WARN, "event=restart_throttled burst=%d window=%d",
		       RESTART_BURST, RESTART_WINDOW);
		sleep(1);
	}
}

static void describe_status(int status, char *buf, size_t n)
{
	if (WIFSIGNALED(status))
		snprintf(buf, n, "signal=%d", WTERMSIG(status));
	else
		snprintf(buf, n, "exit=%d", WEXITSTATUS(status));
}

static void reap_children(struct supervisor *s)
{
	int status;
	pid_t pid;
	char how[32];
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* its connections are gone: so are their per-IP counts */
		ipcount_release(pid);
		describe_status(status, how, sizeof how);
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (pid == s->auth_pid) {
			s->auth_pid = 0;
			if (s->stopping)
				continue;
			log_kv(LOG_ERR, "event=auth_exit pid=%ld %s action=restart",
			       (long)pid, how);
			restart_throttle(s);
			s->auth_pid = spawn_auth(s);
			continue;
		}
		if (pid == s->keyd_pid) {
			s->keyd_pid = 0;
			if (s->stopping)
				continue;
			log_kv(LOG_ERR, "event=keyd_exit pid=%ld %s action=restart",
			       (long)pid, how);
			restart_throttle(s);
			restart_keyd(s);
			continue;
		}
		if (pid == s->queue_pid) {
			s->queue_pid = 0;
			if (s->stopping)
				continue;
			log_kv(clean ? LOG_WARN : LOG_ERR,
			       "event=queue_exit pid=%ld %s action=restart",
			       (long)pid, how);
			restart_throttle(s);
			s->queue_pid = spawn_queue(s);
			continue;
		}
		bool found = false;
		for (int i = 0; i < s->nworkers; i++) {
			if (s->workers[i].pid != pid)
				continue;
			found = true;
			s->workers[i].pid = 0;
			if (s->stopping)
				break;
			log_kv(clean ? LOG_WARN : LOG_ERR,
			       "event=worker_exit pid=%ld %s action=restart",
			       (long)pid, how);
			restart_throttle(s);
			s->workers[i].pid = spawn_worker(s);
			log_kv(LOG_INFO, "event=worker_restarted old_pid=%ld pid=%ld",
			       (long)pid, (long)s->workers[i].pid);
			break;
		}
		if (found)
			continue;
		for (int i = 0; i < s->nretiring; i++)
			if (s->retiring[i] == pid) {
				s->retiring[i] = s->retiring[--s->nretiring];
				log_kv(LOG_INFO, "event=worker_retired pid=%ld %s",
				       (long)pid, how);
				break;
			}
	}
}

static bool listeners_equal(const struct config *a, const struct config *b)
{
	for (int k = 0; k < LISTEN__COUNT; k++) {
		const struct listener_conf *x = &a->listen[k], *y = &b->listen[k];
		if (x->enabled != y->enabled ||
		    (x->enabled && (x->port != y->port || strcmp(x->host, y->host))))
			return false;
	}
	return true;
}

/* SIGHUP: a new generation of workers with the new config and
 * certificate; the old ones stop accepting and exit when their last
 * session ends, so nobody is dropped. */
/* Stops the auth process and waits (briefly) for it to exit: it writes
 * the logins' known networks to state_dir as it goes, and its successor
 * must read them after that. True if it was reaped here. */
static bool auth_stop_wait(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < AUTH_STOP_WAIT_MS / 10; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			log_kv(LOG_INFO, "event=auth_exit pid=%ld status=%d "
			       "reason=reload", (long)pid,
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			return true;
		}
		if (r < 0)
			return errno == ECHILD;
		usleep(10000);
	}
	return false; /* reaped later, with the retiring ones */
}

static void reload(struct supervisor *s)
{
	struct config next;
	struct buf err = BUF_INIT;
	if (config_load(s->conf_path, &next, &err) != 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=reload_failed reason=config errors=%s",
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		config_free(&next);
		return;
	}
	if (!listeners_equal(&s->cfg, &next) ||
	    strcmp(s->cfg.lmtp_socket, next.lmtp_socket) != 0)
		log_kv(LOG_WARN, "event=reload_warning reason=\"listener changes need a restart\"");
	free(next.lmtp_socket);
	next.lmtp_socket = xstrdup(s->cfg.lmtp_socket);
	/* run_user can't change without root; keep the one in force. */
	free(next.run_user);
	next.run_user = xstrdup(s->cfg.run_user);
	buf_clear(&err);
	/* The new pair: the certificate read here, the key by load_key as
	 * root (a Let's Encrypt key is 0600 root). Either failing keeps the
	 * pair in force, with their paths (keyd may need the key again). */
	uint32_t key_id = s->key_id + 1;
	struct ssl_ctx_st *tls = tls_server_ctx_new_keyd(next.tls_cert, key_id, &err);
	if (tls && load_key(s, next.tls_key, key_id, tls, &err) < 0)
		tls_ctx_free(&tls);
	if (!tls) {
		char e[LOG_ESC_MAX], c[LOG_ESC_MAX], k[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=reload_failed what=tls cert=%s key=%s error=%s effect=\"keeping the certificate and key in force\"",
		       log_esc(c, sizeof c, next.tls_cert, strlen(next.tls_cert)),
		       log_esc(k, sizeof k, next.tls_key, strlen(next.tls_key)),
		       log_esc(e, sizeof e, err.data, err.len));
		free(next.tls_cert);
		free(next.tls_key);
		next.tls_cert = xstrdup(s->cfg.tls_cert);
		next.tls_key = xstrdup(s->cfg.tls_key);
	}
	buf_free(&err);
	memcpy(next.listen, s->cfg.listen, sizeof next.listen);
	for (int i = 0; i < s->nworkers; i++)
		if (s->workers[i].pid > 0 && s->nretiring < MAX_WORKERS * 4) {
			kill(s->workers[i].pid, SIGUSR2);
			s->retiring[s->nretiring++] = s->workers[i].pid;
			s->workers[i].pid = 0;
		}
	config_free(&s->cfg);
	s->cfg = next;
	if (tls) {
		tls_ctx_free(&s->tls);
		s->tls = tls;
		s->key_id = key_id;
		s->key_retry = 0;
		s->key_backoff = 0;
	}
	log_set_level(s->cfg.log_level);
	s->generation++;
	/* A fresh auth process takes the new settings and users; the old one
	 * is retired (a login in flight at this instant gets [SYS/TEMP]). */
	if (s->auth_pid > 0 && !auth_stop_wait(s->auth_pid) &&
	    s->nretiring < MAX_WORKERS * 4)
		s->retiring[s->nretiring++] = s->auth_pid;
	s->auth_pid = spawn_auth(s);
	/* The queue runner restarts with the new routes; what it was
	 * sending is sent again (at-least-once, runner/runner.h). */
	if (s->queue_pid > 0 && s->nretiring < MAX_WORKERS * 4) {
		kill(s->queue_pid, SIGTERM);
		s->retiring[s->nretiring++] = s->queue_pid;
	}
	s->queue_pid = spawn_queue(s);
	start_workers(s);
	if (tls)
		log_kv(LOG_INFO, "event=reloaded workers=%d retiring=%d key_id=%lu",
		       s->nworkers, s->nretiring, (unsigned long)s->key_id);
	else
		log_kv(LOG_ERR, "event=reload_incomplete failed=tls workers=%d retiring=%d key_id=%lu",
		       s->nworkers, s->nretiring, (unsigned long)s->key_id);
}

/* SIGTERM, and SIGKILL if keyd has not gone within 2 s (it may be in
 * the middle of nothing but a signature). */
static void stop_keyd(struct supervisor *s)
{
	if (s->keyd_pid <= 0)
		return;
	kill(s->keyd_pid, SIGTERM);
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	int st;
	for (int i = 0; waitpid(s->keyd_pid, &st, WNOHANG) == 0; i++) {
		if (i == 100) {
			log_kv(LOG_WARN, "event=stop_forced what=keyd pid=%ld",
			       (long)s->keyd_pid);
			kill(s->keyd_pid, SIGKILL);
			waitpid(s->keyd_pid, &st, 0);
			break;
		}
		nanosleep(&tick, NULL);
	}
	s->keyd_pid = 0;
}

static int live_children(const struct supervisor *s)
{
	int n = (s->auth_pid > 0 ? 1 : 0) + (s->queue_pid > 0 ? 1 : 0) +
		(s->keyd_pid > 0 ? 1 : 0);
	for (int i = 0; i < s->nworkers; i++)
		n += s->workers[i].pid > 0;
	return n + s->nretiring;
}

static void signal_all(struct supervisor *s, int sig)
{
	if (s->queue_pid > 0)
		kill(s->queue_pid, sig);
	for (int i = 0; i < s->nworkers; i++)
		if (s->workers[i].pid > 0)
			kill(s->workers[i].pid, sig);
	for (int i = 0; i < s->nretiring; i++)
		kill(s->retiring[i], sig);
}

static void stop(struct supervisor *s)
{
	s->stopping = true;
	signal_all(s, SIGTERM);
	/* Workers get shutdown_timeout to finish sessions, plus a margin to
	 * flush and exit; after that nothing is waited for. */
	time_t deadline = time(NULL) + s->cfg.shutdown_timeout + 5;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	for (;;) {
		reap_children(s);
		int workers_left = live_children(s) - (s->auth_pid > 0) -
				   (s->keyd_pid > 0);
		if (workers_left == 0)
			break;
		if (time(NULL) >= deadline) {
			log_kv(LOG_WARN, "event=stop_forced workers=%d", workers_left);
			signal_all(s, SIGKILL);
			deadline = time(NULL) + 5;
		}
		nanosleep(&tick, NULL);
	}
	/* The auth process and keyd go last: workers may still be asking
	 * them. */
	if (s->auth_pid > 0) {
		kill(s->auth_pid, SIGTERM);
		int st;
		waitpid(s->auth_pid, &st, 0);
		s->auth_pid = 0;
	}
	stop_keyd(s);
}

int cmd_serve(const char *conf_path, struct config *cfg)
{
	struct supervisor *s = xcalloc(1, sizeof *s);
	s->conf_path = conf_path;
	s->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg); /* ours now */
	log_init("supervisor");
	signal(SIGPIPE, SIG_IGN);
	int rc = EX_OK;
	s->socks.lmtp_unix = -1;
	s->auth_fd = -1;
	s->keyd_listen = -1;
	s->keyd_ctl = -1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (geteuid() == 0) {
		rc = cli_run_user_ids(&s->cfg, &s->run_uid, &s->run_gid);
		if (rc != 0)
			goto out;
		s->as_root = true;
	}
	for (int k = 0; k < LISTEN__COUNT; k++)
		s->socks.tcp[k] = -1;
	if (s->cfg.lmtp_socket[0] && worker_serves(LISTEN_LMTP)) {
		s->socks.lmtp_unix = bind_unix_listener(s->cfg.lmtp_socket,
							s->cfg.run_user);
		if (s->socks.lmtp_unix < 0) {
			rc = EX_OSERR;
			goto out;
		}
	}
	for (int k = 0; k < LISTEN__COUNT; k++) {
		s->socks.tcp[k] = -1;
		if (!s->cfg.listen[k].enabled || !worker_serves((enum listener_kind)k))
			continue;
		s->socks.tcp[k] = bind_listener(&s->cfg.listen[k], (enum listener_kind)k);
		if (s->socks.tcp[k] < 0) {
			rc = EX_OSERR;
			goto out;
		}
	}
	s->auth_fd = bind_ipc_socket("auth", s->auth_name, sizeof s->auth_name);
	s->keyd_listen = bind_ipc_socket("keyd", s->keyd_name, sizeof s->keyd_name);
	if (s->auth_fd < 0 || s->keyd_listen < 0) {
		log_kv(LOG_ERR, "event=ipc_socket_failed error=\"%s\"", strerror(errno));
		rc = EX_OSERR;
		goto out;
	}
	keyd_client_set_socket(s->keyd_name); /* for the workers */
	s->keyd_pid = spawn_keyd(s);
	if (s->keyd_pid <= 0) {
		s->keyd_pid = 0;
		rc = EX_OSERR;
		goto out;
	}
	struct buf err = BUF_INIT;
	s->key_id = 1;
	s->tls = tls_server_ctx_new_keyd(s->cfg.tls_cert, s->key_id, &err);
	if (!s->tls || load_key(s, s->cfg.tls_key, s->key_id, s->tls, &err) < 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_ERR, "event=tls_failed error=%s",
		       log_esc(e, sizeof e, err.data, err.len));
		buf_free(&err);
		rc = EX_CONFIG;
		goto out;
	}
	buf_free(&err);
	raise_nofile(&s->cfg);
	if (lifeline_open() != 0) {
		log_kv(LOG_ERR, "event=lifeline_failed error=\"%s\"", strerror(errno));
		rc = EX_OSERR;
		goto out;
	}

	/* Room for twice today's max_connections: a reload may raise it,
	 * and retiring workers still hold theirs. */
	if (ipcount_init(2 * (size_t)s->cfg.max_connections) != 0)
		log_kv(LOG_WARN, "event=ipcount_unavailable reason=\"mmap failed\" effect=\"connection limits count per worker\"");
	if (rcpt_limit_share() != 0)
		log_kv(LOG_WARN, "event=rcpt_limit_unavailable reason=\"mmap failed\" effect=\"unknown recipients count per worker\"");
	s->auth_pid = spawn_auth(s);
	s->queue_pid = spawn_queue(s);
	start_workers(s);
	for (int k = 0; k < LISTEN__COUNT; k++)
		if (s->socks.tcp[k] >= 0)
			log_kv(LOG_INFO, "event=listening proto=%s addr=%s:%d",
			       config_listener_name((enum listener_kind)k),
			       s->cfg.listen[k].host, s->cfg.listen[k].port);
	if (s->socks.lmtp_unix >= 0)
		log_kv(LOG_INFO, "event=listening proto=lmtp addr=%s",
		       s->cfg.lmtp_socket);
	log_kv(LOG_INFO, "event=started workers=%d uid=%ld", s->nworkers,
	       (long)getuid());

	for (;;) {
		siginfo_t si;
		struct timespec ts = { 1, 0 };
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGCHLD || sig < 0)
			reap_children(s);
		if (s->key_retry && s->keyd_pid > 0 && time(NULL) >= s->key_retry)
			keyd_reload_key(s);
		else if (sig == SIGHUP)
			reload(s);
		else if (sig == SIGTERM || sig == SIGINT) {
			log_kv(LOG_INFO, "event=stopping signal=%d", sig);
			stop(s);
			break;
		}
	}
	log_kv(LOG_INFO, "event=stopped");
out:
	for (int k = 0; k < LISTEN__COUNT; k++)
		if (s->socks.tcp[k] >= 0)
			close(s->socks.tcp[k]);
	if (s->socks.lmtp_unix >= 0) {
		close(s->socks.lmtp_unix);
		unlink(s->cfg.lmtp_socket);
	}
	if (s->auth_fd >= 0)
		close(s->auth_fd);
	lifeline_close();
	stop_keyd(s);
	if (s->keyd_listen >= 0)
		close(s->keyd_listen);
	if (s->keyd_ctl >= 0)
		close(s->keyd_ctl);
	tls_ctx_free(&s->tls);
	config_free(&s->cfg);
	free(s);
	return rc;
}
