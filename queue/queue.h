/* The outbound queue on disk: mail for other domains waits here until
 * the queue runner (runner/runner.h) has delivered it or bounced it.
 *
 * Layout under cfg->queue_dir (one directory, any number of processes):
 *   tmp/        files being written; anything here at start-up is junk
 *   msg/ID      the message exactly as it will be sent (trace headers
 *               included), CRLF or LF line ends as received
 *   env/ID      the envelope: sender, recipients and their state, retry
 *               times -- a small "key value" text file, rewritten whole
 *               (tmp/ + fsync + rename + fsync env/) on every change
 *   lock        flock()ed around every read-modify-write of an envelope,
 *               so `postern queue hold` and the runner never lose each
 *               other's changes
 * A message is queued when env/ID exists: msg/ID is made durable first,
 * then env/ID, so a crash leaves at worst an orphan msg/ file (removed by
 * queue_recover) and never an envelope without its message. The runner
 * learns of new and changed envelopes through inotify on env/.
 *
 * Every function here blocks on disk: call it from a pool thread or a
 * CLI, never from an event loop. All are thread-safe. */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/dsn_param.h"

/* "20261122T100311-3f9a0c1e" style ids: sortable by arrival, unique. */
#define QUEUE_ID_MAX 40

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,   /* not yet delivered; retried */
	QUEUE_RCPT_DELIVERED, /* a 2xx from the remote: done */
	QUEUE_RCPT_FAILED,    /* permanent failure: in the bounce */
	QUEUE_RCPT_BOUNCED,   /* failed and the sender was told (or needn't be) */
};

struct queue_rcpt {
	char *addr;       /* forward-path without <>, as the client gave it */
	char *orcpt;      /* RFC 3461 ORCPT ("rfc822;a@b") or NULL */
	unsigned notify;  /* DSN_NOTIFY_* (core/dsn_param.h), 0 = none */
	enum queue_rcpt_state state;
	int attempts;
	int64_t last_attempt;  /* unix seconds, 0 = never */
	/* The last result, printable one-line text ("" when none):
	 * status is the enhanced code ("4.4.1"), diag the remote's reply
	 * ("550 5.1.1 <x@y>: no such user") or our reason, remote_mta the
	 * host that answered. */
	char *status;
	char *diag;
	char *remote_mta;
};

struct queue_env {
	char id[QUEUE_ID_MAX];
	char *sender;          /* reverse-path without <>; "" = null sender */
	int64_t created;       /* unix seconds */
	int64_t next_attempt;  /* unix seconds; 0 = now */
	int attempts;          /* delivery runs so far */
	bool hold;             /* `postern queue hold`: not tried until release */
	bool warned;           /* the delay warning went out */
	bool body_8bit;        /* received with BODY=8BITMIME */
	bool smtputf8;         /* received with SMTPUTF8 */
	bool is_bounce;        /* made by us: its failure is never bounced */
	char *envid;           /* RFC 3461 ENVID or NULL */
	enum dsn_ret ret;
	uint64_t size;         /* octets of msg/ID */
	char *auth_user;       /* who submitted it ("" = relayed), for the log */
	struct queue_rcpt *rcpts;
	size_t n_rcpts;
};

/* Creates the directories; removes files left in tmp/ and msg/ files
 * without an envelope (a crash between the two renames). */
int queue_recover(const char *dir, struct buf *err);
int queue_init(const char *dir, struct buf *err);

/* Makes a new, empty envelope: created = now, a fresh id. Fill sender
 * and add recipients with queue_env_add_rcpt, then queue_enqueue. */
void queue_env_new(struct queue_env *env, int64_t now);
void queue_env_add_rcpt(struct queue_env *env, const char *addr,
			const char *orcpt, unsigned notify);
void queue_env_free(struct queue_env *env);

/* Stores headers followed by data (the message as it will be sent) and
 * env, durably: fsync of both files and both directories before it
 * returns 0. Sets env->size. On error returns -1, appends the reason to
 * err and leaves nothing queued. */
int queue_enqueue(const char *dir, struct queue_env *env, struct str headers,
		  const char *data, size_t len, struct buf *err);
/* queue_enqueue for a message in a spool file (core/spool.h): headers,
 * then len bytes of fd from offset 0, copied file to file
 * (spool_copy), never whole in memory. The caller keeps and closes fd. */
int queue_enqueue_fd(const char *dir, struct queue_env *env,
		     struct str headers, int fd, uint64_t len, struct buf *err);

/* Queues a notification the caller built (queue/dsn.h) from the null
 * sender to `to` (NOTIFY=NEVER), marked as made by us (is_bounce: its
 * own failure is never bounced, RFC 5321 6.1). The one way the queue
 * runner's bounces and SMTP's "delivered" DSNs are queued. Writes the
 * new message's id to id_out (id_size >= QUEUE_ID_MAX), and returns
 * what queue_enqueue returns. */
int queue_enqueue_notification(const char *dir, const char *to,
			       bool body_8bit, struct str dsn, int64_t now,
			       char *id_out, size_t id_size, struct buf *err);

/* Reads env/ID. -1 with err when it is missing or damaged. */
int queue_env_load(const char *dir, const char *id, struct queue_env *env,
		   struct buf *err);

/* What a queue_update callback wants done with the message. */
enum queue_verdict {
	QUEUE_KEEP,    /* write the changed envelope back */
	QUEUE_REMOVE,  /* delete envelope and message (done or deleted) */
	QUEUE_UNCHANGED, /* nothing to write */
};
typedef enum queue_verdict (*queue_update_fn)(struct queue_env *env,
					       void *arg);
/* Under the queue lock: loads env/ID, calls fn, then does what it says,
 * durably. Returns 0, 1 if the message is no longer queued (fn is not
 * called), or -1 with err. */
int queue_update(const char *dir, const char *id, queue_update_fn fn,
		 void *arg, struct buf *err);

/* Every queued envelope, oldest first (by id). Damaged ones are skipped
 * and named in err. *out is an array of *n; free with queue_list_free. */
int queue_list(const char *dir, struct queue_env **out, size_t *n,
	       struct buf *err);
void queue_list_free(struct queue_env **list, size_t n);

/* The message file, mapped read-only. */
struct queue_msg {
	const char *data;
	size_t len;
};
int queue_msg_open(const char *dir, const char *id, struct queue_msg *m,
		   struct buf *err);
void queue_msg_close(struct queue_msg *m);

/* Asks the runner to try every message that is not held now: creates
 * dir/retry, which the runner watches (and looks for when it starts),
 * instead of rewriting every envelope -- a queue of 10 000 messages is
 * retried at once, not after 10 000 fsyncs. */
int queue_retry_all(const char *dir, struct buf *err);
#define QUEUE_RETRY_FILE "retry"

const char *queue_rcpt_state_name(enum queue_rcpt_state s);
/* Is the id made only of the characters queue ids use (no '/', no
 * "..")? The CLI checks what it is given. */
bool queue_id_valid(const char *id);

#endif
