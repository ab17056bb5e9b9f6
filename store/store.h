/* The mail store: Maildir++ files plus a per-mailbox index.
 *
 * Layout of one user's store (the INBOX is the Maildir root):
 *   <mail_dir>/<user>/{cur,new,tmp}/        messages
 *   <mail_dir>/<user>/.Folder.Sub/{cur,new,tmp}/   other mailboxes (IMAP)
 *   <mailbox>/postern-index        derived cache: may be deleted any time
 *   <mailbox>/postern-uidstate     UIDVALIDITY and UIDNEXT (tiny, durable)
 *   <mailbox>/postern-lock         flock()ed while the index is synced
 *   <mailbox>/postern-pop3.lock    flock()ed by the POP3 session holding it
 *
 * Message files are named "<unique>,S=<file size>,W=<wire size>,U=<uid>:2,<flags>"
 * once postern has seen them; S= and W= are Dovecot's fields. The UID in
 * the name is what lets an index rebuild keep every UID (and so every
 * POP3 UIDL) unchanged. Files dropped into new/ or cur/ by other
 * programs get a UID and are renamed into cur/ at the next sync.
 *
 * Every function here may block on disk: call them off the event loop
 * (core/threadpool.h), except the accessors marked "no I/O".
 * Errors: functions return 0 on success or a negative STORE_E* code, and
 * write a human-readable reason into err (errsz >= 128). */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ETEMP (-1)   /* try again later: disk full, I/O error, lock */
#define STORE_EPERM (-2)   /* will not work: permissions, corrupt names */
#define STORE_ENOENT (-3)  /* no such mailbox or message */
#define STORE_EBUSY (-4)   /* lock held by another session */

/* System flags (IMAP names in comments; Maildir letters in brackets). */
#define STORE_F_SEEN     0x01u /* \Seen [S] */
#define STORE_F_ANSWERED 0x02u /* \Answered [R] */
#define STORE_F_FLAGGED  0x04u /* \Flagged [F] */
#define STORE_F_DELETED  0x08u /* \Deleted [T] */
#define STORE_F_DRAFT    0x10u /* \Draft [D] */

struct store_msg {
	uint32_t uid;
	uint32_t flags;           /* STORE_F_* */
	uint64_t size;            /* octets as sent: CRLF line ends, a final
	                             CRLF added if the file lacks one */
	uint64_t file_size;       /* octets on disk */
	int64_t internal_date;    /* seconds since the epoch */
	uint64_t modseq;
	int64_t pop3_first_retr;  /* first RETR by POP3 (0 = never) */
	bool pop3_hidden;         /* deleted by POP3 in hide mode */
	char *filename;           /* basename inside cur/ */
};

struct mailbox;

/* The Maildir of a user below mail_dir: writes "<mail_dir>/<user>" into
 * out. The user name must already be valid (users_name_valid). */
int store_user_maildir(const char *mail_dir, const char *user, char *out,
		       size_t outsz);

/* Creates the Maildir (and parents' missing cur/new/tmp) if absent. */
int store_maildir_create(const char *maildir, char *err, size_t errsz);

/* Opens a mailbox directory and syncs its index with the files: new
 * files get UIDs, vanished files are dropped, a missing or corrupt index
 * is rebuilt from file names without changing UIDs or UIDVALIDITY.
 * Messages are ordered by UID. */
int store_mailbox_open(const char *path, struct mailbox **out, char *err,
		       size_t errsz);
void store_mailbox_close(struct mailbox **mb);

/* Accessors: no I/O. */
size_t store_mailbox_count(const struct mailbox *mb);
const struct store_msg *store_mailbox_msg(const struct mailbox *mb, size_t i);
uint32_t store_mailbox_uidvalidity(const struct mailbox *mb);
uint32_t store_mailbox_uidnext(const struct mailbox *mb);
uint64_t store_mailbox_highestmodseq(const struct mailbox *mb);
const char *store_mailbox_path(const struct mailbox *mb);

/* Opens message i for reading (raw file bytes: LF or CRLF line ends).
 * Returns an fd >= 0, or STORE_ENOENT if another program removed it. */
int store_msg_open(const struct mailbox *mb, size_t i, char *err,
		   size_t errsz);

/* What a POP3 session does at QUIT, applied in one step under the index
 * lock: the index is written once, atomically, so either every change is
 * recorded or none is (files are unlinked only after the index commit;
 * a crash in between leaves files that the next sync drops).
 *   expunge: UIDs to remove from the store
 *   hide:    UIDs to mark pop3_hidden (IMAP still sees them)
 *   retr:    UIDs retrieved this session; pop3_first_retr = now if unset */
struct store_pop3_update {
	const uint32_t *expunge;
	size_t n_expunge;
	const uint32_t *hide;
	size_t n_hide;
	const uint32_t *retr;
	size_t n_retr;
	int64_t now;
};
/* On success mb is refreshed to the state just committed (including
 * other sessions' changes): message indexes and store_msg pointers taken
 * before the call are invalid. On failure mb is unchanged. UIDs that are
 * no longer in the mailbox are ignored. */
int store_mailbox_pop3_commit(struct mailbox *mb,
			      const struct store_pop3_update *up, char *err,
			      size_t errsz);

/* Delivers one message into the mailbox at path (a Maildir root):
 * CRLF line ends are stored as LF, a missing final newline is added,
 * the file is written in tmp/, fsync()ed, renamed into new/, and new/
 * is fsync()ed. Returns 0 only when the message is durable.
 * On STORE_ETEMP nothing is left behind in new/. */
int store_deliver(const char *path, const char *data, size_t len,
		  int64_t internal_date, char *err, size_t errsz);

/* store_deliver for a message given in pieces, e.g. header lines the
 * caller adds in front of a body it holds: the pieces are converted as
 * one stream (a CRLF split between two pieces is one line end) and
 * written straight to the file in small chunks, so a large body is
 * never copied in memory. Same durability and results as store_deliver. */
struct iovec;
int store_deliverv(const char *path, const struct iovec *iov, size_t iovcnt,
		   int64_t internal_date, char *err, size_t errsz);

/* Takes the POP3 maildrop lock of a mailbox without waiting. Returns an
 * fd >= 0 that holds the lock until closed (the kernel drops it if the
 * process dies, so no lock outlives its session), or STORE_EBUSY. */
int store_pop3_lock(const char *path, char *err, size_t errsz);

/* LOGIN-DELAY bookkeeping: returns the seconds since the last recorded
 * POP3 login to this mailbox (INT64_MAX if none) and, if that is at
 * least min_gap, records now as the last login. */
int64_t store_pop3_login_touch(const char *path, int64_t now,
			       int64_t min_gap);

#endif
