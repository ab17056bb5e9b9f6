/* The auth process (docs/ARCHITECTURE.md, "Processes"): secrets stay
 * out of the workers that parse the Internet's input. It holds the users
 * file and answers workers' auth requests (auth/auth_proto.h) over an
 * AF_UNIX SOCK_SEQPACKET socket:
 *  - only peers with our own uid (SO_PEERCRED) are served;
 *  - password checks run on a small thread pool;
 *  - the limiter (auth/limiter.h) counts failures per IP and per user;
 *  - every non-OK answer leaves exactly auth_fail_delay_ms after its
 *    request arrived, whatever the cause; OK leaves at once;
 *  - the users file is re-read when it changes (checked at most once a
 *    second, when a request comes) and on SIGHUP; a broken new file is
 *    logged and the old one kept.
 *  - recipient lookups (AUTH_MSG_RCPT) are resolved with auth/resolve.h
 *    over the users and the aliases file (aliases_file; missing = none,
 *    reloaded on the same triggers as the users file) and answered at
 *    once: no delay, no limiter, logged at debug level only.
 * One log line per outcome: event=auth ... result=ok|failed|blocked. */
#ifndef POSTERN_AUTHD_H
#define POSTERN_AUTHD_H
#include "core/config.h"

/* listen_fd: a bound, listening AF_UNIX SOCK_SEQPACKET socket. Runs
 * until SIGTERM; returns 0 then, or 1 if it could not start. Takes
 * ownership of listen_fd. */
int authd_run(const struct config *cfg, int listen_fd);

#endif
