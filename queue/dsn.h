/* Delivery status notifications (RFC 3464, multipart/report RFC 6522)
 * and the retry schedule: what the queue runner tells a sender, and
 * when it tries again. Pure functions: no I/O. */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/config.h"
#include "queue/queue.h"

enum dsn_kind {
	DSN_FAILED,    /* the recipients in QUEUE_RCPT_FAILED */
	DSN_DELAYED,   /* the recipients still QUEUE_RCPT_PENDING */
	/* Success (RFC 3461 5.2.2 (b) and 5.2.3 (a)): recipients in
	 * QUEUE_RCPT_DELIVERED whose NOTIFY has SUCCESS. "relayed": handed
	 * to a server that does not offer DSN, so it will not tell;
	 * "delivered": put into a mailbox of ours. Status 2.0.0. */
	DSN_RELAYED,
	DSN_DELIVERED,
};

/* Should the sender hear about this at all? Never for the null sender
 * or a message we made ourselves (no bounce loops, RFC 5321 6.1), and
 * only for recipients whose NOTIFY asks for it. */
bool dsn_wanted(const struct queue_env *env, enum dsn_kind kind);
/* The same, only among the recipients i with only[i] (an array of
 * env->n_rcpts; NULL = all): a success DSN is about the recipients
 * this run delivered, not those an earlier run did. */
bool dsn_wanted_some(const struct queue_env *env, enum dsn_kind kind,
		     const bool *only);

/* Builds the notification, whole, into out: From: MAILER-DAEMON@
 * cfg->hostname, To: the envelope sender, a human-readable first part,
 * a message/delivery-status part (Reporting-MTA, Arrival-Date, per
 * recipient Final-Recipient/Original-Recipient, Action, Status,
 * Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until for
 * a delay) and the original message's header (text/rfc822-headers, cut
 * after the last whole field within 8 KiB), or
 * the whole message for RET=FULL, cut at a bound. CRLF line ends. The
 * DSN goes to env->sender from the null sender. */
void dsn_build(const struct config *cfg, const struct queue_env *env,
	       enum dsn_kind kind, const char *msg, size_t msg_len,
	       int64_t now, struct buf *out);
/* dsn_build listing only the recipients i with only[i] (NULL = all).
 * A success DSN always returns the header only (RFC 3461 4.3). */
void dsn_build_some(const struct config *cfg, const struct queue_env *env,
		    enum dsn_kind kind, const bool *only, const char *msg,
		    size_t msg_len, int64_t now, struct buf *out);

/* When to try again after `attempts` delivery runs (>= 1):
 * queue_retry_min doubled per attempt, at most queue_retry_max. */
int64_t queue_next_attempt(const struct config *cfg, int attempts,
			   int64_t now);

#endif
