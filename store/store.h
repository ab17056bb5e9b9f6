/* The mail store: Maildir++ files plus a per-mailbox index.
 *
 * Layout of one user's store (the INBOX is the Maildir root):
 *   <mail_dir>/<user>/{cur,new,tmp}/        messages
 *   <mail_dir>/<user>/.Folder.Sub/{cur,new,tmp}/   other mailboxes (IMAP)
 *   <mailbox>/postern-index        derived cache: may be deleted any time
 *   <mailbox>/postern-log          changes since the index was written
 *   <mailbox>/postern-uidstate     UIDVALIDITY, UIDNEXT, MODSEQ ceiling
 *   <mailbox>/dovecot-keywords     keyword names of the letters a-z
 *   <maildir>/subscriptions        IMAP subscriptions (Dovecot's format)
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

#include "core/buf.h"

#define STORE_ETEMP (-1)   /* try again later: disk full, I/O error, lock */
#define STORE_EPERM (-2)   /* will not work: permissions, corrupt names */
#define STORE_ENOENT (-3)  /* no such mailbox or message */
#define STORE_EBUSY (-4)   /* lock held by another session */
#define STORE_EEXIST (-5)  /* the mailbox name is taken */
#define STORE_EINVAL (-6)  /* a name or argument we refuse (err says why) */

/* System flags (IMAP names in comments; Maildir letters in brackets). */
#define STORE_F_SEEN     0x01u /* \Seen [S] */
#define STORE_F_ANSWERED 0x02u /* \Answered [R] */
#define STORE_F_FLAGGED  0x04u /* \Flagged [F] */
#define STORE_F_DELETED  0x08u /* \Deleted [T] */
#define STORE_F_DRAFT    0x10u /* \Draft [D] */
#define STORE_F_ALL      0x1fu

/* Keywords are stored as Maildir letters a-z (Dovecot's dovecot-keywords
 * maps them to names), so a mailbox holds at most 26 distinct keywords;
 * a 27th is refused (STORE_EPERM). */
#define STORE_KEYWORDS_MAX 26

struct store_msg {
	/* Ordered so that no padding is left: a session's view of a mailbox
	 * holds one of these per message. */
	uint32_t uid;
	uint32_t flags;           /* STORE_F_* */
	uint32_t keywords;        /* bit i: keyword i of the mailbox
	                             (store_mailbox_keyword) */
	bool pop3_hidden;         /* deleted by POP3 in hide mode */
	bool expunged;            /* gone from the store, still in this view
	                             until store_mailbox_refresh reports it
	                             (its data can no longer be read) */
	uint64_t size;            /* IMAP wire size (RFC822.SIZE): the
	                             octets store_msg_read_wire returns */
	uint64_t pop3_size;       /* octets POP3 sends before dot-stuffing:
	                             the file with every line end made CRLF
	                             and a final CRLF; == size except for
	                             messages appended with bare CR/LF */
	uint64_t file_size;       /* octets on disk */
	int64_t internal_date;    /* seconds since the epoch */
	uint64_t modseq;
	int64_t pop3_first_retr;  /* first RETR by POP3 (0 = never) */
	char *filename;           /* basename inside cur/ (NULL if expunged);
	                             may point into a mapped file whose pages
	                             are read from disk when first touched:
	                             read it only where I/O is allowed */
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

/* The exact octets IMAP sends for message i (store_msg.size of them):
 * a file whose size equals its wire size (appended verbatim, or stored
 * with CRLF) is returned as it is; otherwise every LF becomes CRLF and
 * a final CRLF is added. Appends to out. STORE_ENOENT if it is gone. */
int store_msg_read_wire(const struct mailbox *mb, size_t i, struct buf *out,
			char *err, size_t errsz);
/* Streaming form: a reader over the same octets, in pieces. */
struct store_wire_reader;
int store_wire_open(const struct mailbox *mb, size_t i,
		    struct store_wire_reader **out, char *err, size_t errsz);
/* Appends up to about max octets to out; returns 1 if more follows, 0 at
 * the end, or a negative STORE_E* code. */
int store_wire_read(struct store_wire_reader *r, struct buf *out, size_t max,
		    char *err, size_t errsz);
/* Back to the first octet (the file stays open: a message removed
 * meanwhile can still be read). */
int store_wire_rewind(struct store_wire_reader *r, char *err, size_t errsz);
void store_wire_close(struct store_wire_reader **r);

/* Keyword names of this mailbox (no I/O): index i is bit i of
 * store_msg.keywords; NULL past the end. */
const char *store_mailbox_keyword(const struct mailbox *mb, size_t i);
size_t store_mailbox_keyword_count(const struct mailbox *mb);

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

/* ---- IMAP: flags, append, expunge, copy/move, changes ---- */

/* Changes flags and keywords of the messages with the given UIDs, in one
 * durable step under the index lock. Each message whose flags or
 * keywords actually change gets a new MODSEQ (strictly increasing per
 * mailbox). Its Maildir name is renamed to carry the new letters.
 *   op: SET replaces, ADD adds, REMOVE removes.
 *   unchangedsince: 0, or CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3):
 *     a message whose MODSEQ is above it is not changed and its UID is
 *     put into *failed.
 * UIDs no longer in the mailbox are ignored. Keywords are matched
 * case-insensitively (RFC 9051 2.3.2); new names are added to the
 * mailbox (at most STORE_KEYWORDS_MAX). On success *changed lists the
 * UIDs changed (ascending; their new state is in mb); the caller frees
 * both arrays. Other sessions' changes picked up on the way are kept for
 * store_mailbox_refresh. */
enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
struct str;
struct store_flag_update {
	const uint32_t *uids;
	size_t n_uids;
	enum store_flag_op op;
	uint32_t flags;             /* STORE_F_* */
	const struct str *keywords; /* names (atoms), n_keywords of them */
	size_t n_keywords;
	uint64_t unchangedsince;    /* 0 = unconditional */
};
struct store_uid_list {
	uint32_t *v;
	size_t n;
};
void store_uid_list_free(struct store_uid_list *l);
int store_mailbox_set_flags(struct mailbox *mb,
			    const struct store_flag_update *up,
			    struct store_uid_list *changed,
			    struct store_uid_list *failed, char *err,
			    size_t errsz);

/* IMAP APPEND (RFC 9051 6.3.12, UIDPLUS RFC 4315 APPENDUID): stores one
 * message given in pieces into the mailbox at path with flags, keywords
 * and internal date, and returns its UID and the mailbox UIDVALIDITY.
 * Durable before return: the file and cur/ are fsync()ed and
 * postern-uidstate records the UID before it is handed out.
 * Byte-exact: a message whose every line ends in CRLF (and that ends in
 * CRLF) is stored LF-form like deliveries; anything else (bare LF, bare
 * CR, no final CRLF, empty) is stored verbatim, named with W= equal to
 * S=, and store_msg_read_wire returns it unchanged. \Recent does not
 * exist here (IMAP4rev2). STORE_ENOENT: no such mailbox (IMAP's
 * [TRYCREATE]). */
struct iovec;
int store_mailbox_append(const char *path, const struct iovec *iov,
			 size_t iovcnt, uint32_t flags,
			 const struct str *keywords, size_t n_keywords,
			 int64_t internal_date, uint32_t *uid,
			 uint32_t *uidvalidity, char *err, size_t errsz);
/* The same for a message the caller spooled to a file (a large literal):
 * fd is read from offset 0 to its end with pread (its offset is left
 * alone); the caller keeps and closes it. */
int store_mailbox_append_fd(const char *path, int fd, uint32_t flags,
			    const struct str *keywords, size_t n_keywords,
			    int64_t internal_date, uint32_t *uid,
			    uint32_t *uidvalidity, char *err, size_t errsz);

/* IMAP EXPUNGE / UID EXPUNGE / CLOSE: removes the messages with the
 * given UIDs (all messages if uids is NULL) that have \Deleted at the
 * time of the call (re-checked under the lock), durably: the change is
 * recorded before any file is unlinked. *expunged gets the UIDs removed
 * (ascending). The removed messages stay in mb's view marked expunged
 * until store_mailbox_refresh reports them, so the caller's sequence
 * numbers stay stable; the caller sends its EXPUNGE responses from that
 * report. */
int store_mailbox_expunge(struct mailbox *mb, const uint32_t *uids,
			  size_t n_uids, struct store_uid_list *expunged,
			  char *err, size_t errsz);

/* IMAP COPY / MOVE (RFC 6851) with COPYUID (RFC 4315): copies the
 * messages with the given UIDs (ascending order of source UID) into the
 * mailbox at dst_path (a mailbox of the same user, mb itself included:
 * the copies get new UIDs there, and a MOVE then expunges the originals)
 * with their flags, keywords and internal date, by hard links where the
 * file system allows. All or nothing: on failure no message is left in
 * the destination. *src and *dst get the UID pairs (same length, src
 * ascending); *dst_uidvalidity the destination's UIDVALIDITY. With move,
 * the copied messages are then expunged from mb (whatever their flags),
 * reported like store_mailbox_expunge's. */
int store_mailbox_copy(struct mailbox *mb, const uint32_t *uids,
		       size_t n_uids, const char *dst_path, bool move,
		       struct store_uid_list *src, struct store_uid_list *dst,
		       uint32_t *dst_uidvalidity, char *err, size_t errsz);

/* Re-syncs mb with the store (other sessions, POP3, deliveries, other
 * programs) and reports what changed since the previous report (or
 * since open). Cheap when nothing changed: a few stat() calls.
 *   expunged: UIDs gone, ascending, with their 0-based positions in the
 *     view before this call (exp_pos, same order): the caller sends
 *     "EXPUNGE <pos+1>" for them from last to first, or uses VANISHED.
 *     They are then removed from mb.
 *   changed: UIDs present before whose flags, keywords (or MODSEQ)
 *     changed since the last report, ascending, including the caller's
 *     own STOREs.
 *   n_new: messages added at the end of mb (UIDs above all before);
 *     store_mailbox_count(mb) - n_new is where they start.
 *   uidvalidity_changed: the index was rebuilt with a new UIDVALIDITY:
 *     the view is replaced wholesale; an IMAP session must end.
 * Between reports, other calls on mb may append new messages at the end
 * of the view (never reorder or remove): a session addresses only the
 * messages it has announced. STORE_ENOENT: the mailbox was deleted or
 * renamed (an IMAP session should end its selection).
 * The caller frees the lists with store_changes_free. */
struct store_changes {
	struct store_uid_list expunged;
	size_t *exp_pos;
	struct store_uid_list changed;
	size_t n_new;
	bool uidvalidity_changed;
};
int store_mailbox_refresh(struct mailbox *mb, struct store_changes *ch,
			  char *err, size_t errsz);
void store_changes_free(struct store_changes *ch);

/* STATUS / LIST-STATUS without a session (RFC 9051 6.3.11): the mailbox
 * is synced like an open and the values come from its index. */
struct store_status {
	uint32_t messages, uidnext, uidvalidity, unseen, deleted;
	uint64_t size;          /* sum of wire sizes */
	uint64_t highestmodseq;
};
int store_mailbox_status(const char *path, struct store_status *st,
			 char *err, size_t errsz);

/* ---- IMAP: mailbox names and folders ---- */

/* IMAP names are UTF-8 with '/' as the hierarchy separator (RFC 9051
 * 5.1); INBOX (any case) is the Maildir root and "INBOX/x" is a folder
 * below it. On disk (Maildir++, as Dovecot lays it out) a folder is the
 * directory ".<c1>.<c2>..." of the user's Maildir, each component in
 * modified UTF-7: "Entwürfe" is ".Entw&APw-rfe", "INBOX/x" ".INBOX.x".
 * Refused (STORE_EINVAL with the reason): empty names and components
 * (so a leading, trailing or doubled '/'), "." or ".." components, any
 * '.' in a component (it would be the Maildir++ separator; Dovecot
 * refuses it the same way), control characters (C0, DEL, C1), invalid
 * UTF-8, components over STORE_MBOX_COMPONENT_MAX octets, names over
 * STORE_MBOX_NAME_MAX, and names whose directory would exceed the 255
 * octets of a file name. A CREATE's trailing '/' is the IMAP layer's to
 * strip first (RFC 9051 6.3.4). */
#define STORE_MBOX_SEP '/'
#define STORE_MBOX_COMPONENT_MAX 255
#define STORE_MBOX_NAME_MAX 1024
/* Validates name; appends its directory relative to the Maildir ("" for
 * INBOX, else ".A.B") to dir and, if canon is not NULL, the canonical
 * name (INBOX spelt in capitals) to canon. */
int store_mboxname_to_dir(struct str name, struct buf *dir, struct buf *canon,
			  char *err, size_t errsz);
/* The reverse, for a directory entry name below the Maildir. Returns 0,
 * or -1 if it is not a folder postern could have made (then out is
 * unchanged). */
int store_mboxname_from_dir(struct str dirname, struct buf *name);
/* "<maildir>/<dir>" of a name (validated as above). */
int store_mboxname_path(const char *maildir, struct str name, struct buf *path,
			char *err, size_t errsz);

/* Attributes reported by store_mbox_list (RFC 9051 7.3.1, RFC 6154). */
#define STORE_MBOX_NOSELECT      0x001u /* never set by this backend */
#define STORE_MBOX_NONEXISTENT   0x002u /* a parent only, or subscribed
                                           but absent; implies Noselect */
#define STORE_MBOX_HASCHILDREN   0x004u
#define STORE_MBOX_HASNOCHILDREN 0x008u
#define STORE_MBOX_SUBSCRIBED    0x010u
#define STORE_MBOX_SENT          0x020u
#define STORE_MBOX_DRAFTS        0x040u
#define STORE_MBOX_TRASH         0x080u
#define STORE_MBOX_JUNK          0x100u
#define STORE_MBOX_ARCHIVE       0x200u
struct store_mbox {
	char *name;     /* UTF-8, '/' separated, canonical */
	uint32_t attrs; /* STORE_MBOX_* */
};
struct store_mbox_list {
	struct store_mbox *v;
	size_t n;
};
/* Every mailbox of the user (INBOX first, then by name, octet order),
 * with hierarchy-only parents (\NonExistent \HasChildren) and
 * subscribed names that do not exist (\NonExistent \Subscribed).
 * Pattern matching is the caller's. */
int store_mbox_list(const char *maildir, struct store_mbox_list *out,
		    char *err, size_t errsz);
void store_mbox_list_free(struct store_mbox_list *l);
/* CREATE: makes the mailbox and any missing parents (RFC 9051 6.3.4),
 * each with a fresh UIDVALIDITY (never reused for a name, so a mailbox
 * recreated under a deleted one's name cannot reuse its UIDs).
 * STORE_EEXIST if it exists (INBOX always does). */
int store_mbox_create(const char *maildir, struct str name, char *err,
		      size_t errsz);
/* DELETE (RFC 9051 6.3.5): removes the mailbox and its messages; its
 * children stay (the name then lists as \NonExistent \HasChildren,
 * which implies \Noselect). INBOX: STORE_EPERM; a name with no mailbox:
 * STORE_ENOENT. Atomic for other sessions: the directory is first
 * renamed out of the Maildir++ namespace, then removed. */
int store_mbox_delete(const char *maildir, struct str name, char *err,
		      size_t errsz);
/* RENAME (RFC 9051 6.3.6): renames the mailbox and its children, and
 * keeps subscriptions following them. Renaming INBOX creates the new
 * mailbox, moves every INBOX message into it (UIDs are new there) and
 * leaves INBOX empty (its children are not moved). STORE_EEXIST if the
 * new name exists; parents of the new name are created. */
int store_mbox_rename(const char *maildir, struct str from, struct str to,
		      char *err, size_t errsz);
/* SUBSCRIBE / UNSUBSCRIBE: the name need not exist (RFC 9051 6.3.7);
 * it is validated like any name. Idempotent. */
int store_mbox_subscribe(const char *maildir, struct str name, bool on,
			 char *err, size_t errsz);
/* A new user's mailboxes: the Maildir (INBOX), Sent, Drafts, Trash, Junk
 * and Archive, all subscribed. Idempotent: what exists is left alone.
 * The IMAP login calls it. */
int store_user_provision(const char *maildir, char *err, size_t errsz);

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
/* store_deliverv with the message's rest in a spool file: the pieces,
 * then len bytes of fd from offset 0 (pread: its offset is left alone;
 * the caller keeps and closes it), converted as one stream in pieces of
 * a fixed size, so memory does not grow with the message. A file
 * shorter than len is an error (STORE_ETEMP). */
int store_deliverv_fd(const char *path, const struct iovec *iov,
		      size_t iovcnt, int fd, uint64_t len,
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
