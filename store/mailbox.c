/* struct mailbox: open (lock, sync, write the index), accessors, message
 * access and the POP3 commit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/u32set.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

/* Chunks grow from STRPOOL_CHUNK_MIN to STRPOOL_CHUNK: a view that
 * gains a few names (deliveries, flag renames) stays small, a directory
 * scan of a large mailbox still makes few allocations. */
#define STRPOOL_CHUNK (64 * 1024)
#define STRPOOL_CHUNK_MIN 512
/* Repacking copies every name the pool holds: worth it only when it
 * gives back at least this much (and an eighth of what stays). */
#define STRPOOL_REPACK_MIN 256

char *strpool_dup(struct strpool *sp, const char *s, size_t len)
{
	if (len + 1 > sp->left) {
		size_t sz = STRPOOL_CHUNK;
		if (sp->n_chunks < 7)
			sz = (size_t)STRPOOL_CHUNK_MIN << sp->n_chunks;
		if (sz < len + 1)
			sz = len + 1;
		if (sp->n_chunks == sp->cap_chunks) {
			sp->cap_chunks = sp->cap_chunks ? sp->cap_chunks * 2 : 16;
			sp->chunks = xrealloc(sp->chunks,
					      sp->cap_chunks * sizeof *sp->chunks);
		}
		sp->cur = sp->chunks[sp->n_chunks++] = xmalloc(sz);
		sp->left = sz;
		sp->bytes += sz;
	}
	sp->changed = true;
	char *p = sp->cur;
	memcpy(p, s, len);
	p[len] = '\0';
	sp->cur += len + 1;
	sp->left -= len + 1;
	return p;
}

void strpool_free(struct strpool *sp)
{
	for (size_t i = 0; i < sp->n_chunks; i++)
		free(sp->chunks[i]);
	free(sp->chunks);
	memset(sp, 0, sizeof *sp);
}

void msg_vec_reserve(struct msg_vec *mv, size_t n)
{
	if (n > mv->cap) {
		mv->cap = n;
		mv->v = xrealloc(mv->v, mv->cap * sizeof *mv->v);
	}
}

long store_msgs_find_uid(const struct store_msg *v, size_t n, uint32_t uid,
			 size_t *ins)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].uid == uid)
			return (long)mid;
		if (v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ins)
		*ins = lo;
	return -1;
}

void msg_vec_trim(struct msg_vec *mv)
{
	/* A little slack stays, so that a mailbox that gains a message at
	 * each refresh does not move its whole vector each time. */
	size_t keep = mv->n + mv->n / 16 + 4;
	if (mv->n == 0) {
		free(mv->v);
		mv->v = NULL;
		mv->cap = 0;
	} else if (mv->cap > keep) {
		mv->v = xrealloc(mv->v, keep * sizeof *mv->v);
		mv->cap = keep;
	}
}

struct store_msg *msg_vec_push(struct msg_vec *mv)
{
	if (mv->n == mv->cap) {
		mv->cap = mv->cap ? mv->cap * 2 : 64;
		mv->v = xrealloc(mv->v, mv->cap * sizeof *mv->v);
	}
	struct store_msg *m = &mv->v[mv->n++];
	memset(m, 0, sizeof *m);
	return m;
}

void mailbox_clear(struct mailbox *mb)
{
	free(mb->msgs.v);
	free(mb->tombs.v);
	strpool_free(&mb->pool);
	index_unmap(mb);
	memset(&mb->msgs, 0, sizeof mb->msgs);
	memset(&mb->tombs, 0, sizeof mb->tombs);
	mb->uidvalidity = mb->uidnext = 0;
	mb->highestmodseq = 0;
	mb->cur_stamp = mb->new_stamp = (struct store_stamp){ 0, 0 };
}

/* A name that points into the mapped index belongs to the mapping;
 * every other one to the pool. (Compared as integers: the mapping and
 * the pool's chunks are unrelated objects.) */
static bool name_in_pool(const struct mailbox *mb, const char *name)
{
	uintptr_t p = (uintptr_t)name, base = (uintptr_t)mb->index_map;
	return name && !(mb->index_map && p >= base &&
			 p < base + mb->index_map_len);
}

static size_t pool_names_size(const struct mailbox *mb,
			      const struct msg_vec *mv)
{
	size_t n = 0;
	for (size_t i = 0; i < mv->n; i++)
		if (name_in_pool(mb, mv->v[i].filename))
			n += strlen(mv->v[i].filename) + 1;
	return n;
}

static char *pool_names_move(const struct mailbox *mb, struct msg_vec *mv,
			     char *to)
{
	for (size_t i = 0; i < mv->n; i++) {
		char *name = mv->v[i].filename;
		if (!name_in_pool(mb, name))
			continue;
		size_t len = strlen(name) + 1;
		memcpy(to, name, len);
		mv->v[i].filename = to;
		to += len;
	}
	return to;
}

/* Log replay gives a message a fresh copy of its name at each rename
 * (every flag change is one) and the old copy stays in the pool, so a
 * view kept open over a mailbox whose flags change would hold every
 * name its messages ever had, plus the slack of the last chunk. When
 * that is a good part of the pool, the names in use move into one
 * allocation of their exact size. Only the view itself points into
 * the pool (expunge and copy jobs take their own copies), and callers
 * already expect mailbox_compact to move the vectors. */
static void strpool_repack(struct mailbox *mb)
{
	struct strpool *sp = &mb->pool;
	if (!sp->changed)
		return;
	sp->changed = false;
	size_t need = pool_names_size(mb, &mb->msgs) +
		      pool_names_size(mb, &mb->tombs);
	size_t waste = sp->bytes > need ? sp->bytes - need : 0;
	if (waste < STRPOOL_REPACK_MIN || waste < need / 8)
		return;
	if (need == 0) {
		strpool_free(sp);
		return;
	}
	char *chunk = xmalloc(need);
	char *end = pool_names_move(mb, &mb->msgs, chunk);
	end = pool_names_move(mb, &mb->tombs, end);
	for (size_t i = 0; i < sp->n_chunks; i++)
		free(sp->chunks[i]);
	sp->chunks = xrealloc(sp->chunks, sizeof *sp->chunks);
	sp->chunks[0] = chunk;
	sp->n_chunks = sp->cap_chunks = 1;
	sp->cur = end;
	sp->left = 0;
	sp->bytes = need;
}

void mailbox_compact(struct mailbox *mb)
{
	msg_vec_trim(&mb->msgs);
	msg_vec_trim(&mb->tombs);
	strpool_repack(mb);
	index_release_pages(mb);
}

/* Lock, sync, write the index if needed. The caller unlocks. */
static int lock_and_sync(struct mailbox *mb, int *lockfd, bool *dirty,
			 char *err, size_t errsz)
{
	*lockfd = store_index_lock(mb->path, err, errsz);
	if (*lockfd < 0)
		return *lockfd;
	int rc = mailbox_sync_locked(mb, dirty, err, errsz);
	if (rc == 0)
		rc = keywords_load(mb, err, errsz);
	if (rc < 0) {
		close(*lockfd);
		*lockfd = -1;
	}
	return rc;
}

int mailbox_lock_sync(struct mailbox *mb, char *err, size_t errsz)
{
	int lockfd;
	bool dirty;
	int rc = lock_and_sync(mb, &lockfd, &dirty, err, errsz);
	if (rc < 0)
		return rc;
	if (dirty) {
		char werr[256];
		/* The index is a cache: failing to write it (disk full) must
		 * not keep a user from reading and deleting mail. */
		if (index_write(mb, werr, sizeof werr) < 0) {
			char esc[LOG_ESC_MAX];
			log_kv(LOG_WARN, "event=index_write_failed detail=%s",
			       log_esc(esc, sizeof esc, werr, strlen(werr)));
		}
	}
	return lockfd;
}

bool mailbox_index_same(const struct mailbox *mb, const struct stat *st)
{
	return mb->idx_ino != 0 && st->st_ino == mb->idx_ino &&
	       (uint64_t)st->st_size == mb->idx_size &&
	       st->st_mtim.tv_sec == mb->idx_mtime.sec &&
	       st->st_mtim.tv_nsec == mb->idx_mtime.nsec;
}

void mailbox_index_note(struct mailbox *mb, const struct stat *st)
{
	mb->idx_ino = st->st_ino;
	mb->idx_size = (uint64_t)st->st_size;
	mb->idx_mtime = (struct store_stamp){ (int64_t)st->st_mtim.tv_sec,
					      (int64_t)st->st_mtim.tv_nsec };
}

struct store_msg *mailbox_by_uid(struct mailbox *mb, uint32_t uid)
{
	long i = store_msgs_find_uid(mb->msgs.v, mb->msgs.n, uid, NULL);
	return i >= 0 ? &mb->msgs.v[i] : NULL;
}

long store_mailbox_find_uid(const struct mailbox *mb, uint32_t uid)
{
	return store_msgs_find_uid(mb->msgs.v, mb->msgs.n, uid, NULL);
}

int mailbox_commit(struct mailbox *mb, const struct log_rec *recs, size_t n,
		   char *err, size_t errsz)
{
	int rc = modseq_reserve(mb, err, errsz);
	if (rc < 0)
		return rc;
	/* Copy first: recs may point into mb->msgs, which log_apply may
	 * grow (and so move). */
	struct store_msg *copy = xmalloc((n + 1) * sizeof *copy);
	for (size_t i = 0; i < n; i++)
		copy[i] = *recs[i].m;
	for (size_t i = 0; i < n; i++)
		log_apply(mb, &copy[i], recs[i].state);
	free(copy);
	uint64_t limit = mb->idx_size / 4;
	if (limit < STORE_LOG_COMPACT_MIN)
		limit = STORE_LOG_COMPACT_MIN;
	if (mb->log_off > limit)
		return index_write(mb, err, errsz);
	rc = log_append(mb, recs, n, err, errsz);
	if (rc < 0) {
		/* mb already shows the change: make the disk agree, or
		 * make the next sync reload it from disk. */
		char e2[256];
		if (index_write(mb, e2, sizeof e2) == 0)
			return 0;
		mb->idx_ino = 0;
	}
	return rc;
}

void mailbox_restamp_cur(struct mailbox *mb)
{
	if (mb->cur_stamp.sec == 0 && mb->cur_stamp.nsec == 0)
		return; /* untrusted already: the next sync scans */
	char *cdir = xasprintf("%s/cur", mb->path);
	struct stat st;
	if (stat(cdir, &st) == 0)
		mb->cur_stamp = (struct store_stamp){ (int64_t)st.st_mtim.tv_sec,
						      (int64_t)st.st_mtim.tv_nsec };
	else
		mb->cur_stamp = (struct store_stamp){ 0, 0 };
	free(cdir);
}

static bool stamp_differs(struct store_stamp s, const char *dir)
{
	struct stat st;
	if (s.sec == 0 && s.nsec == 0)
		return true;
	if (stat(dir, &st) < 0)
		return true;
	return st.st_mtim.tv_sec != s.sec || st.st_mtim.tv_nsec != s.nsec;
}

bool mailbox_maybe_changed(const struct mailbox *mb)
{
	struct stat st;
	char *f = xasprintf("%s/" STORE_INDEX_NAME, mb->path);
	bool ch = stat(f, &st) < 0 || !mailbox_index_same(mb, &st);
	free(f);
	if (!ch) {
		f = xasprintf("%s/" STORE_LOG_NAME, mb->path);
		ch = stat(f, &st) < 0 ? mb->log_ino != 0
				      : (st.st_ino != mb->log_ino ||
					 (uint64_t)st.st_size != mb->log_off);
		free(f);
	}
	if (!ch) {
		f = xasprintf("%s/cur", mb->path);
		ch = stamp_differs(mb->cur_stamp, f);
		free(f);
	}
	if (!ch) {
		f = xasprintf("%s/new", mb->path);
		ch = stamp_differs(mb->new_stamp, f);
		free(f);
	}
	if (!ch) {
		f = xasprintf("%s/" STORE_KEYWORDS_NAME, mb->path);
		if (stat(f, &st) == 0)
			ch = st.st_ino != mb->kw.ino ||
			     st.st_mtim.tv_sec != mb->kw.file.sec ||
			     st.st_mtim.tv_nsec != mb->kw.file.nsec;
		free(f);
	}
	return ch;
}

int store_mailbox_open(const char *path, struct mailbox **out, char *err,
		       size_t errsz)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st) < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "stat %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return store_err(err, errsz, STORE_ENOENT,
				 "%s: not a directory", path);
	struct mailbox *mb = xcalloc(1, sizeof *mb);
	mb->path = xstrdup(path);
	int lockfd = mailbox_lock_sync(mb, err, errsz);
	if (lockfd < 0) {
		store_mailbox_close(&mb);
		return lockfd;
	}
	close(lockfd);
	mailbox_compact(mb);
	mb->seen_valid = true;
	mb->seen_count = mb->msgs.n;
	mb->seen_modseq = mb->highestmodseq;
	mb->uidvalidity_changed = false;
	*out = mb;
	return 0;
}

void store_mailbox_close(struct mailbox **mbp)
{
	struct mailbox *mb = *mbp;
	if (!mb)
		return;
	mailbox_clear(mb);
	for (size_t i = 0; i < mb->kw.n; i++)
		free(mb->kw.name[i]);
	free(mb->path);
	free(mb);
	*mbp = NULL;
}

size_t store_mailbox_count(const struct mailbox *mb)
{
	return mb->msgs.n;
}

const struct store_msg *store_mailbox_msg(const struct mailbox *mb, size_t i)
{
	if (i >= mb->msgs.n)
		log_fatal("event=store_msg_out_of_range i=%zu n=%zu", i,
			  mb->msgs.n);
	return &mb->msgs.v[i];
}

uint32_t store_mailbox_uidvalidity(const struct mailbox *mb)
{
	return mb->uidvalidity;
}

uint32_t store_mailbox_uidnext(const struct mailbox *mb)
{
	return mb->uidnext;
}

uint64_t store_mailbox_highestmodseq(const struct mailbox *mb)
{
	return mb->highestmodseq;
}

const char *store_mailbox_path(const struct mailbox *mb)
{
	return mb->path;
}

/* The file may have been renamed by another program (its flags changed):
 * look for the same base name ("<unique>,...") before ':'. */
static int open_renamed(int curfd, const char *filename)
{
	size_t blen = strcspn(filename, ":");
	int dfd = dup(curfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	int fd = -1;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, filename, blen) == 0 &&
		    (de->d_name[blen] == ':' || de->d_name[blen] == '\0')) {
			fd = openat(curfd, de->d_name, O_RDONLY | O_CLOEXEC);
			break;
		}
	}
	closedir(d);
	if (fd < 0 && !de)
		errno = ENOENT;
	return fd;
}

int store_msg_open(const struct mailbox *mb, size_t i, char *err,
		   size_t errsz)
{
	const struct store_msg *m = store_mailbox_msg(mb, i);
	if (m->expunged)
		return store_err(err, errsz, STORE_ENOENT,
				 "message %u was expunged", (unsigned)m->uid);
	char *cdir = xasprintf("%s/cur", mb->path);
	int curfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1, e;
	if (curfd >= 0) {
		fd = openat(curfd, m->filename, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			fd = open_renamed(curfd, m->filename);
	}
	e = errno;
	if (curfd >= 0)
		close(curfd);
	int rc = fd;
	if (fd < 0)
		rc = store_err(err, errsz, store_errno_code(e), "open %s/%s: %s",
			       cdir, m->filename, strerror(e));
	free(cdir);
	return rc;
}

static int cmp_msg_uid(const void *pa, const void *pb)
{
	const struct store_msg *a = pa, *b = pb;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

int store_mailbox_pop3_commit(struct mailbox *mb,
			      const struct store_pop3_update *up, char *err,
			      size_t errsz)
{
	int lockfd;
	bool dirty;
	/* Re-read under the lock: another session may have changed it.
	 * The work happens on a copy so that a failure leaves mb as it
	 * was. */
	struct mailbox *live = mb, next = { .path = mb->path };
	mb = &next;
	int rc = lock_and_sync(mb, &lockfd, &dirty, err, errsz);
	if (rc < 0) {
		mailbox_clear(mb);
		return rc;
	}

	for (size_t i = 0; i < up->n_retr; i++) {
		struct store_msg *m = mailbox_by_uid(mb, up->retr[i]);
		if (m && m->pop3_first_retr == 0) {
			m->pop3_first_retr = up->now > 0 ? up->now : 1;
			m->modseq = ++mb->highestmodseq;
			dirty = true;
		}
	}
	for (size_t i = 0; i < up->n_hide; i++) {
		struct store_msg *m = mailbox_by_uid(mb, up->hide[i]);
		if (m && !m->pop3_hidden) {
			m->pop3_hidden = true;
			m->modseq = ++mb->highestmodseq;
			dirty = true;
		}
	}
	/* Expunged records become tombstones: kept in the index until
	 * a sync sees their file gone, so a crash between the index write
	 * and the unlink cannot bring the message back. */
	size_t first_tomb = mb->tombs.n;
	if (up->n_expunge > 0) {
		size_t n_ex;
		uint32_t *ex = u32set_copy(up->expunge, up->n_expunge, &n_ex);
		size_t kept = 0, j = 0;
		for (size_t i = 0; i < mb->msgs.n; i++) {
			struct store_msg *m = &mb->msgs.v[i];
			while (j < n_ex && ex[j] < m->uid)
				j++;
			if (j < n_ex && ex[j] == m->uid) {
				*msg_vec_push(&mb->tombs) = *m;
				mb->highestmodseq++;
				continue;
			}
			mb->msgs.v[kept++] = *m;
		}
		if (kept != mb->msgs.n)
			dirty = true;
		mb->msgs.n = kept;
		free(ex);
		/* Tombstones stay sorted by UID for the index writer. */
		if (mb->tombs.n > first_tomb && first_tomb > 0)
			qsort(mb->tombs.v, mb->tombs.n, sizeof *mb->tombs.v,
			      cmp_msg_uid);
	}
	if (dirty) {
		rc = index_write(mb, err, errsz);
		if (rc < 0) {
			close(lockfd);
			mailbox_clear(mb);
			return rc;
		}
	}
	/* Under the lock still, so no sync can see a tombstoned file as
	 * a new one between the index write and the unlink. */
	char *cdir = xasprintf("%s/cur", mb->path);
	int curfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = first_tomb; curfd >= 0 && i < mb->tombs.n; i++) {
		if (unlinkat(curfd, mb->tombs.v[i].filename, 0) < 0 &&
		    errno != ENOENT) {
			char esc[LOG_ESC_MAX];
			log_kv(LOG_WARN, "event=expunge_unlink_failed file=%s "
			       "error=\"%s\"", log_esc(esc, sizeof esc,
			       mb->tombs.v[i].filename,
			       strlen(mb->tombs.v[i].filename)),
			       strerror(errno));
		}
	}
	if (curfd >= 0)
		close(curfd);
	free(cdir);
	close(lockfd);
	/* The session's view becomes the committed state (POP3 keeps no
	 * view of its own). */
	for (size_t i = 0; i < live->kw.n; i++)
		free(live->kw.name[i]);
	mailbox_clear(live);
	*live = next;
	return 0;
}
