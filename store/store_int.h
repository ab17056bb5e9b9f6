/* Internals of the Maildir store shared by the store/ sources; not for protocols.
 * See store.h for the contract and docs/ARCHITECTURE.md for the design. */
#ifndef POSTERN_STORE_INT_H
#define POSTERN_STORE_INT_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "store/store.h"

/* A directory's st_mtim as recorded in the index; {0,0} = do not trust. */
struct store_stamp {
	int64_t sec;
	int64_t nsec;
};

/* A mailbox's keyword names (dovecot-keywords): index i = letter 'a'+i. */
struct store_keywords {
	char *name[STORE_KEYWORDS_MAX];
	size_t n;
	struct store_stamp file; /* mtime of the file loaded (0: none) */
	ino_t ino;
};

#define STORE_INDEX_NAME "postern-index"
#define STORE_UIDSTATE_NAME "postern-uidstate"
#define STORE_LOCK_NAME "postern-lock"
#define STORE_POP3_LOCK_NAME "postern-pop3.lock"
#define STORE_POP3_LOGIN_NAME "postern-pop3-login"
#define STORE_LOG_NAME "postern-log"
#define STORE_KEYWORDS_NAME "dovecot-keywords"
#define STORE_SUBSCRIPTIONS_NAME "subscriptions"
#define STORE_UIDVALIDITY_NAME "postern-uidvalidity"

/* Index and log record size without the name (index.c: rec_put). */
#define STORE_REC_SIZE 64u
/* How far postern-uidstate's MODSEQ ceiling runs ahead of the highest
 * MODSEQ in use: one durable write per this many changes. */
#define STORE_MODSEQ_STEP 4096u
/* The change log is folded into a new index once it is this large, or
 * larger than a quarter of the index (a replay must stay cheaper than a
 * reload). */
#define STORE_LOG_COMPACT_MIN (16u * 1024u)

/* A directory mtime this close to the moment it was read is not trusted
 * next time: a change in the same clock tick would not change it. */
#define STORE_MTIME_SLACK_SEC 2
/* Maildir: files in tmp/ untouched this long are abandoned deliveries. */
#define STORE_TMP_MAX_AGE_SEC (36 * 3600)

/* Strings that live as long as the mailbox (message file names): one
 * allocation per chunk instead of one per name, so that loading a
 * 100 000-message index stays cheap. */
struct strpool {
	char **chunks;
	size_t n_chunks;
	size_t cap_chunks;
	char *cur;
	size_t left;
	size_t bytes;         /* all chunks together */
	bool changed;         /* names added (or dropped by log replay)
	                         since the last repack (mailbox_compact) */
};
char *strpool_dup(struct strpool *sp, const char *s, size_t len);
void strpool_free(struct strpool *sp);

struct msg_vec {
	struct store_msg *v;
	size_t n;
	size_t cap;
};
struct store_msg *msg_vec_push(struct msg_vec *mv);
void msg_vec_reserve(struct msg_vec *mv, size_t n);
/* Gives back unused capacity (some slack stays for the next pushes). */
void msg_vec_trim(struct msg_vec *mv);
/* maildir.c: the Maildir++ "maildirfolder" marker file in a folder
 * (Courier and Dovecot's quota code look for it). */
int store_maildir_folder_mark(const char *dir, char *err, size_t errsz);

struct mailbox {
	char *path;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint64_t modseq_reserved; /* ceiling in postern-uidstate */
	uint64_t log_gen;     /* generation of the index loaded */
	ino_t idx_ino;        /* inode of that index (0: none loaded) */
	struct store_stamp idx_mtime; /* with idx_size: inode numbers are
	                                 reused, these tell files apart */
	ino_t log_ino;        /* inode of the log replayed so far */
	uint64_t log_off;     /* bytes of it replayed (header included) */
	uint64_t idx_size;    /* size of the index file, for compaction */
	/* What store_mailbox_refresh has reported so far. */
	uint64_t seen_modseq;
	size_t seen_count;
	bool seen_valid;
	bool uidvalidity_changed;
	struct store_keywords kw;
	struct store_stamp cur_stamp; /* as recorded in the index */
	struct store_stamp new_stamp;
	struct msg_vec msgs;  /* live messages, ascending UID */
	struct msg_vec tombs; /* expunged by us, file maybe not yet unlinked */
	struct strpool pool;  /* file names added since the index was read */
	void *index_map;      /* the index file mapped read-only: names of
	                         the records loaded from it point here */
	size_t index_map_len;
};

/* Is st the index file mb has loaded? */
bool mailbox_index_same(const struct mailbox *mb, const struct stat *st);
void mailbox_index_note(struct mailbox *mb, const struct stat *st);

/* Shrinks what a long-lived view holds to its messages: vector slack
 * and the mapped index's pages (store_mailbox_open and _refresh). */
void mailbox_compact(struct mailbox *mb);
/* Resets a mailbox's contents (not its path) to empty. */
void mailbox_clear(struct mailbox *mb);
/* Message of a UID among mb->msgs (expunged-in-view entries included),
 * or NULL (store_msgs_find_uid). */
struct store_msg *mailbox_by_uid(struct mailbox *mb, uint32_t uid);
/* Takes the index lock and brings mb up to date (log replay, or reload,
 * or directory scan; a scan writes a fresh index). Messages that left
 * the store stay in mb->msgs marked expunged until store_mailbox_refresh
 * reports them. Returns the lock fd, or a negative STORE_E* code. */
int mailbox_lock_sync(struct mailbox *mb, char *err, size_t errsz);
/* Records own changes under the lock: appends the records to the log
 * (durably) or, when the log is large, writes a new index. */
struct log_rec {
	const struct store_msg *m;
	uint8_t state; /* 0 live, 1 tombstone, 2 gone */
};
int mailbox_commit(struct mailbox *mb, const struct log_rec *recs, size_t n,
		   char *err, size_t errsz);
/* After own changes to cur/ under the lock: the new cur/ time is
 * recorded as trusted if the old one was (nobody else changed cur/
 * before us; see ARCHITECTURE.md on the remaining window). */
void mailbox_restamp_cur(struct mailbox *mb);
/* Cheap check (stat only): may the mailbox on disk differ from mb? */
bool mailbox_maybe_changed(const struct mailbox *mb);

/* log.c: postern-log, the append-only change log beside the index. */
/* Replays the log on top of the loaded index (from mb->log_off, or the
 * start if the log file was replaced). Returns true if anything was
 * applied. A torn last transaction is ignored. */
bool log_replay(struct mailbox *mb);
int log_append(struct mailbox *mb, const struct log_rec *recs, size_t n,
	       char *err, size_t errsz);
/* Replaces the log with an empty one of mb->log_gen. */
int log_reset(struct mailbox *mb, char *err, size_t errsz);
/* Applies one record to mb (replay and own commits share it). */
void log_apply(struct mailbox *mb, const struct store_msg *m, uint8_t state);

/* flags.c: small helpers shared by the IMAP operations. */
struct store_uid_list;
void uid_list_push(struct store_uid_list *l, uint32_t uid);

/* append.c: a fresh Maildir base name "<sec>.M<usec>P<pid>Q<n>.<host>"
 * (heap), and placing a file into cur/ with a new UID. */
char *maildir_unique(void);
/* deliver.c: this host's name as a Maildir unique name ends, with '/', ':'
 * and ',' escaped; computed once per process. */
struct buf;
void maildir_host_part(struct buf *b);

/* subscriptions.c: sorted sets of names (INBOX first, then octets) and
 * the subscriptions file. */
struct names {
	char **v;
	size_t n, cap;
};
void names_add(struct names *ns, const char *s, size_t len);
void names_sort_uniq(struct names *ns);
bool names_has(const struct names *ns, const char *s);
void names_free(struct names *ns);
/* Reads the subscribed names (canonical, sorted); a missing file is an
 * empty set. */
int subs_read(const char *maildir, struct names *ns);
int subs_write(const char *maildir, const struct names *ns, char *err,
	       size_t errsz);
/* The caller holds the root's index lock. */
int subs_set_locked(const char *maildir, const char *canon, bool on,
		    char *err, size_t errsz);
/* Subscriptions of from and its children now name to. */
int subs_rename(const char *maildir, const char *from, const char *to,
		char *err, size_t errsz);

/* keywords.c: dovecot-keywords ("<n> <name>" per line, n 0..25 = a..z). */
int keywords_load(struct mailbox *mb, char *err, size_t errsz);
/* Bits for the names, adding new names to the file (durably) under the
 * index lock. STORE_EPERM if more than STORE_KEYWORDS_MAX would exist. */
int keywords_bits(struct mailbox *mb, const struct str *names, size_t n,
		  bool create, uint32_t *bits, char *err, size_t errsz);
/* Maildir info letters for flags and keywords: "DFRST" order, then a-z,
 * plus any letters of old_info that are neither (e.g. 'P'). */
void flags_info(uint32_t flags, uint32_t keywords, const char *old_info,
		struct buf *out);
uint32_t keywords_of_info(const char *info);
/* The name with its ":2," part replaced by new letters (heap). */
char *mname_with_info(const char *name, uint32_t flags, uint32_t keywords);

/* Binary-compatible record helpers (index.c). */
void put_u16(unsigned char *p, uint16_t v);
void put_u32(unsigned char *p, uint32_t v);
void put_u64(unsigned char *p, uint64_t v);
uint16_t get_u16(const unsigned char *p);
uint32_t get_u32(const unsigned char *p);
uint64_t get_u64(const unsigned char *p);
uint32_t crc_of(const unsigned char *p, size_t len);
struct buf;
void rec_put(struct buf *b, const struct store_msg *m, uint8_t state);
/* Parses one record; returns its length or 0 if it does not check out.
 * m->filename points into r. */
size_t rec_get(const unsigned char *r, size_t avail, struct store_msg *m,
	       uint8_t *state);

/* errors.c / fsutil.c */
int store_err(char *err, size_t errsz, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Maps an errno from a failed syscall to a STORE_E* code. */
int store_errno_code(int e);
int store_fsync_dir(const char *dir, char *err, size_t errsz);
/* Writes dir/name atomically and durably: dir/name.tmp, fsync, rename,
 * fsync dir. */
/* Writes a new file at tmp (open flags | oflags, mode 0600), sets its
 * mtime if given, fsyncs and closes it; on any failure it is unlinked. */
struct timespec;
/* Finishes a message file written at tmp through fd: mtime (the
 * internal date), fsync, close. e is the errno of a failed write, or 0.
 * On any failure the file is unlinked and the STORE_E* code returned. */
int store_file_finish(int fd, const char *tmp, int64_t mtime, int e,
		      char *err, size_t errsz);
int store_write_durable(const char *tmp, int oflags, const void *data,
			size_t len, const struct timespec *mtime, char *err,
			size_t errsz);
int store_write_atomic(const char *dir, const char *name, const void *data,
		       size_t len, char *err, size_t errsz);
/* Reads a whole file into a fresh heap buffer (NUL-terminated). */
int store_read_file(const char *file, char **data, size_t *len, char *err,
		    size_t errsz);
/* Wire size (crlf_convert + crlf_finish, no dot-stuffing) of a file. */
int store_file_wire_size(int dirfd, const char *name, uint64_t *wire,
			 uint64_t *file_size, char *err, size_t errsz);
/* Takes the index lock (blocking); returns the fd to close to release. */
int store_index_lock(const char *path, char *err, size_t errsz);

/* name.c: Maildir file names "<base>[,S=n][,W=n][,U=n][:2,<flags>]". */
struct mname {
	const char *name;
	size_t base_len;      /* up to ':' (or the whole name) */
	bool has_s, has_w, has_u;
	uint64_t s, w;
	uint32_t u;
	uint32_t flags;       /* STORE_F_* from the ":2," letters */
	const char *info;     /* the letters after ":2,", or NULL */
};
void mname_parse(const char *name, struct mname *out);
/* Our canonical name: base without S=/W=/U= fields, then
 * ",S=<file_size>,W=<size>,U=<uid>:2,<letters>" (letters kept as they
 * were, or none). Returns a heap string. */
char *mname_format(const struct mname *mn, uint64_t file_size,
		   uint64_t size, uint32_t uid);
/* A name we accept as a message file (no '/', not hidden, not empty). */
bool mname_acceptable(const char *name);

/* dovecot.c: Dovecot's dovecot-uidlist, imported at first sight. */
struct dovecot_uid {
	uint32_t uid;
	char *name;
};
struct dovecot_uidlist {
	uint32_t uidvalidity, uidnext;
	struct dovecot_uid *v; /* sorted by base name */
	size_t n, cap;
};
/* Returns false (and an empty list) when there is none or it does not
 * parse as a whole. */
bool dovecot_uidlist_read(const char *mailbox_path, struct dovecot_uidlist *dl);
/* The UID Dovecot gave the file with this name's base, or 0. */
uint32_t dovecot_uidlist_find(const struct dovecot_uidlist *dl,
			      const char *name);
void dovecot_uidlist_free(struct dovecot_uidlist *dl);

/* index.c */
/* Loads postern-index into mb (cleared first). Returns true if the index
 * was present and valid; false leaves mb empty (the reason is logged). */
bool index_read(struct mailbox *mb);
/* Unmaps the index loaded by index_read (names into it become invalid). */
void index_unmap(struct mailbox *mb);
/* Gives the mapped index's pages back to the page cache: they are read
 * again only when a message file name is needed. */
void index_release_pages(const struct mailbox *mb);
/* Writes the whole index (a new generation) and an empty log for it. */
int index_write(struct mailbox *mb, char *err, size_t errsz);
/* Raises the MODSEQ ceiling in postern-uidstate (durably) if
 * mb->highestmodseq passed it: call before recording such MODSEQs. */
int modseq_reserve(struct mailbox *mb, char *err, size_t errsz);
/* Returns 0 and fills the values, or -1 if missing or unparsable. */
int uidstate_read(const char *path, uint32_t *uidvalidity, uint32_t *uidnext,
		  uint64_t *modseq);
int uidstate_write(const char *path, uint32_t uidvalidity, uint32_t uidnext,
		   uint64_t modseq, char *err, size_t errsz);

/* sync.c: brings mb (path set, contents loaded or not) in line with the
 * files; the caller holds the index lock. *dirty says whether the index
 * must be written. */
int mailbox_sync_locked(struct mailbox *mb, bool *dirty, char *err,
			size_t errsz);

#endif
