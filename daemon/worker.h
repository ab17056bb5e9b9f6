/* A worker process: one event loop serving every protocol on the shared
 * listening sockets. */
#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H
#include <stdbool.h>

#include "core/config.h"

struct ssl_ctx_st;

/* The listening sockets a worker serves; -1 where there is none. */
struct worker_sockets {
	int tcp[LISTEN__COUNT]; /* by listener kind */
	int lmtp_unix;          /* LMTP on cfg->lmtp_socket */
};

/* Does this build serve the listener kind? (Others are not bound.) */
bool worker_serves(enum listener_kind kind);
/* Runs until SIGTERM (graceful stop within cfg->shutdown_timeout),
 * SIGUSR2 (retire after a reload: stop accepting, exit when the last
 * session ends) or the supervisor's death (core/lifeline.h: stop
 * accepting, drop every session, exit). Stopping to accept closes the
 * worker's copies of the listening sockets in socks. Returns the
 * process exit code. */
int worker_run(const struct config *cfg, const struct worker_sockets *socks,
	       struct ssl_ctx_st *tls, const char *auth_socket);

#endif
