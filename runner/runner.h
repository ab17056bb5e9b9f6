/* The queue runner: the process that delivers the outbound queue
 * (queue/queue.h). One event loop: it learns of queued mail through
 * inotify on the queue's env/ directory, finds the recipient's servers
 * (relay/route.h, relay/dns.h), delivers over SMTP (relay/smtpc.h) with
 * per-destination and total connection limits and connection reuse,
 * records each recipient's result durably (queue_update on a pool
 * thread), retries on the schedule of queue/dsn.h, and bounces or warns
 * the sender (RFC 3464). Bounces for a local sender go straight into
 * the sender's INBOX (deliver/local.h), the sender found through the
 * auth process, like SMTP RCPT.
 *
 * Delivery is at-least-once: a result is recorded only after the remote
 * has answered, so a crash in between means the message is sent again
 * after the restart -- never lost. */
#ifndef POSTERN_QUEUE_RUNNER_H
#define POSTERN_QUEUE_RUNNER_H
#include "core/config.h"

/* Runs until SIGTERM; returns an exit code (sysexits.h). auth_socket
 * is the auth process's socket name. */
int queue_runner_run(const struct config *cfg, const char *auth_socket);

#endif
