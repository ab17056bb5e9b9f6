/* Internals of the Maildir store shared by the store/ sources; not for protocols.
 * See store.h for the contract and docs/ARCHITECTURE.md for the design. */
#ifndef POSTERN_STORE_INT_H
#define POSTERN_STORE_INT_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store/store.h"

#define STORE_INDEX_NAME "postern-index"
#define STORE_UIDSTATE_NAME "postern-uidstate"
#define STORE_LOCK_NAME "postern-lock"
#define STORE_POP3_LOCK_NAME "postern-pop3.lock"
#define STORE_POP3_LOGIN_NAME "postern-pop3-login"

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
};
char *strpool_dup(struct strpool *sp, const char *s, size_t len);
void strpool_free(struct strpool *sp);

/* A directory's st_mtim as recorded in the index; {0,0} = do not trust. */
struct store_stamp {
	int64_t sec;
	int64_t nsec;
};

struct msg_vec {
	struct store_msg *v;
	size_t n;
	size_t cap;
};
struct store_msg *msg_vec_push(struct msg_vec *mv);
void msg_vec_reserve(struct msg_vec *mv, size_t n);

struct mailbox {
	char *path;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	struct store_stamp cur_stamp; /* as recorded in the index */
	struct store_stamp new_stamp;
	struct msg_vec msgs;  /* live messages, ascending UID */
	struct msg_vec tombs; /* expunged by us, file maybe not yet unlinked */
	struct strpool pool;  /* file names added since the index was read */
	char *index_data;     /* the index file's bytes: names point here */
};

/* Resets a mailbox's contents (not its path) to empty. */
void mailbox_clear(struct mailbox *mb);

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
int index_write(const struct mailbox *mb, char *err, size_t errsz);
/* Returns 0 and fills the values, or -1 if missing or unparsable. */
int uidstate_read(const char *path, uint32_t *uidvalidity, uint32_t *uidnext);
int uidstate_write(const char *path, uint32_t uidvalidity, uint32_t uidnext,
		   char *err, size_t errsz);

/* sync.c: brings mb (path set, contents loaded or not) in line with the
 * files; the caller holds the index lock. *dirty says whether the index
 * must be written. */
int mailbox_sync_locked(struct mailbox *mb, bool *dirty, char *err,
			size_t errsz);

#endif
