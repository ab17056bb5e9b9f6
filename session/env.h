/* The environment a worker hands every protocol session it starts: its
 * event loop, the configuration, its connection to the auth process,
 * its thread pool, the TLS context for STLS/STARTTLS and the parsed
 * relay networks. It belongs to the worker process (daemon/worker.c
 * builds it), not to the connection: net/ knows connections only. */
#ifndef POSTERN_SESSION_ENV_H
#define POSTERN_SESSION_ENV_H

#include "core/cidr.h"
#include "core/config.h"

struct event_base;
struct auth_client;
struct threadpool;
struct ssl_ctx_st;

struct session_env {
	struct event_base *base;
	const struct config *cfg;
	struct auth_client *auth;
	struct threadpool *pool;
	struct ssl_ctx_st *tls; /* for STLS/STARTTLS */
	const struct cidr_list *relay_nets; /* cfg->relay_networks, parsed */
};

#endif
