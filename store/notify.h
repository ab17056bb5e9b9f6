/* Change notification across processes for IMAP IDLE and unsolicited
 * responses (RFC 2177, RFC 9051 7): one inotify descriptor per process,
 * watching each mailbox a session has open.
 *
 * What is watched, and why it catches every writer:
 *   <mailbox>/new, <mailbox>/cur: entries created, renamed in or out,
 *     deleted: deliveries by SMTP/LMTP/`postern deliver` and other
 *     programs (new/), APPEND/COPY (cur/), EXPUNGE and POP3 QUIT
 *     (unlink in cur/), flag changes (rename in cur/), another Maildir
 *     program.
 *   <mailbox> itself, names postern-log (appended on every STORE,
 *     EXPUNGE, APPEND, COPY), postern-index and dovecot-keywords
 *     (replaced by rename): postern's own commits, POP3 QUIT included.
 *   The mailbox directory going away (DELETE, RENAME) is reported too.
 * A report says "look again", nothing more: the caller then runs
 * store_mailbox_refresh (cheap when nothing changed), which is the only
 * source of truth. A session's own changes are reported to it as well.
 *
 * Not thread-safe: one struct per event loop. No call blocks. */
#ifndef POSTERN_STORE_NOTIFY_H
#define POSTERN_STORE_NOTIFY_H
#include <stddef.h>

struct store_notify;

/* Returns 0 and a watcher, or a negative STORE_E* code (inotify limits). */
int store_notify_open(struct store_notify **out, char *err, size_t errsz);
void store_notify_close(struct store_notify **n);
/* The descriptor to poll for reading (non-blocking, close-on-exec). */
int store_notify_fd(const struct store_notify *n);
/* Watches the mailbox at path; cookie comes back with its reports.
 * Returns a watch id >= 0 (for store_notify_remove) or a negative
 * STORE_E* code. Several watches of one mailbox are fine. */
int store_notify_add(struct store_notify *n, const char *path, void *cookie,
		     char *err, size_t errsz);
void store_notify_remove(struct store_notify *n, int id);
/* Reads whatever events are pending and calls cb once per watch whose
 * mailbox changed (in no particular order). Returns the number of
 * reports (0: nothing pending), or a negative STORE_E* code. The
 * callback may call store_notify_remove. */
int store_notify_read(struct store_notify *n,
		      void (*cb)(void *cookie, void *arg), void *arg);

#endif
