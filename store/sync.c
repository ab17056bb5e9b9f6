/* Syncing a mailbox's index with its Maildir files (caller holds the
 * index lock).
 *
 * 1. Load postern-index and postern-uidstate; the uidstate file wins on
 *    UIDVALIDITY and UIDNEXT never goes backwards.
 * 2. If the index is valid and the st_mtim of cur/ and new/ equal the
 *    (trusted) values recorded in it, nothing changed: no readdir.
 * 3. Otherwise read cur/ and new/. A cur/ name found in the index keeps
 *    its record. Other files: a ",U=" of a record whose file vanished,
 *    with the same unique part, is that message renamed (flags changed).
 *    When rebuilding (no valid index), a ",U=" that we could have
 *    assigned (below UIDNEXT, or any value when the uidstate file is
 *    lost too) and that no older file holds is kept. Everything else
 *    gets a fresh UID, in arrival (mtime) order. The new
 *    UIDNEXT is written durably to postern-uidstate before any file is
 *    renamed to carry its UID. Records without a file are dropped;
 *    tombstones (expunged by us, unlink pending) delete their file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

struct entry {
	char *name;
	bool in_new;
	bool drop;
	long rec;          /* matching live record in mb->msgs, or -1 */
	uint32_t uid;      /* UID claimed from the name, or assigned */
	uint64_t pop3;     /* pop3_size */
	struct stat st;
	struct mname mn;
};

struct ents {
	struct entry *v;
	size_t n, cap;
};

static void log_mb(enum log_level lvl, const struct mailbox *mb,
		   const char *event, const char *detail)
{
	char esc[LOG_ESC_MAX], esc2[LOG_ESC_MAX];
	log_kv(lvl, "event=%s mailbox=%s detail=%s", event,
	       log_esc(esc, sizeof esc, mb->path, strlen(mb->path)),
	       log_esc(esc2, sizeof esc2, detail, strlen(detail)));
}

static int read_dir(int dfd, const char *dname, bool in_new, struct ents *es,
		    char *err, size_t errsz)
{
	int fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (!d) {
		int e = errno;
		if (fd2 >= 0)
			close(fd2);
		return store_err(err, errsz, store_errno_code(e),
				 "opendir %s: %s", dname, strerror(e));
	}
	rewinddir(d);
	struct dirent *de;
	for (;;) {
		/* readdir() reports errors only through errno, and the
		 * allocations below may leave a stale one: reset it each time. */
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (!mname_acceptable(de->d_name))
			continue;
		if (es->n == es->cap) {
			es->cap = es->cap ? es->cap * 2 : 256;
			es->v = xrealloc(es->v, es->cap * sizeof *es->v);
		}
		struct entry *e = &es->v[es->n++];
		memset(e, 0, sizeof *e);
		e->name = xstrdup(de->d_name);
		e->in_new = in_new;
		e->rec = -1;
	}
	int rc = 0;
	if (errno != 0)
		rc = store_err(err, errsz, STORE_ETEMP, "readdir %s: %s", dname,
			       strerror(errno));
	closedir(d);
	return rc;
}

/* Open-addressing hash of the index's file names. */
struct name_hash {
	long *slot; /* i >= 0: msgs[i]; i < -1: tombs[-i-2]; -1: empty */
	size_t mask;
};

static size_t hash_name(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static const char *hash_key(const struct mailbox *mb, long v)
{
	return v >= 0 ? mb->msgs.v[v].filename : mb->tombs.v[-v - 2].filename;
}

static void hash_build(struct name_hash *h, const struct mailbox *mb)
{
	size_t n = mb->msgs.n + mb->tombs.n, size = 16;
	while (size < 2 * n)
		size *= 2;
	h->slot = xmalloc(size * sizeof *h->slot);
	h->mask = size - 1;
	for (size_t i = 0; i < size; i++)
		h->slot[i] = -1;
	for (size_t k = 0; k < n; k++) {
		long v = k < mb->msgs.n ? (long)k : -(long)(k - mb->msgs.n) - 2;
		if (v >= 0 && mb->msgs.v[v].expunged)
			continue; /* gone already: only the view keeps it */
		size_t i = hash_name(hash_key(mb, v)) & h->mask;
		while (h->slot[i] != -1)
			i = (i + 1) & h->mask;
		h->slot[i] = v;
	}
}

static long hash_find(const struct name_hash *h, const struct mailbox *mb,
		      const char *name)
{
	size_t i = hash_name(name) & h->mask;
	while (h->slot[i] != -1) {
		if (strcmp(hash_key(mb, h->slot[i]), name) == 0)
			return h->slot[i];
		i = (i + 1) & h->mask;
	}
	return -1;
}



static int cmp_ts(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Claims by UID: for one UID the oldest file (ctime: a copy is newer)
 * wins; the others are the "later" duplicates. */
static int cmp_claim(const void *pa, const void *pb)
{
	const struct entry *a = *(struct entry *const *)pa;
	const struct entry *b = *(struct entry *const *)pb;
	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	int c = cmp_ts(&a->st.st_ctim, &b->st.st_ctim);
	return c ? c : strcmp(a->name, b->name);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Compares Maildir names with runs of digits taken as numbers, so that
 * "1.M16319P7" comes before "1.M161490P7" even where a delivering
 * program does not zero-pad its microseconds (Postfix's M field). */
static int name_cmp_natural(const char *a, const char *b)
{
	while (*a && *b) {
		if (is_digit(*a) && is_digit(*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = 0, lb = 0;
			while (is_digit(a[la]))
				la++;
			while (is_digit(b[lb]))
				lb++;
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = memcmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : (*b ? -1 : 0);
}

/* New UIDs follow arrival order: the file's time, then its name (which
 * for Maildir names starts with the delivery time). */
static int cmp_arrival(const void *pa, const void *pb)
{
	const struct entry *a = *(struct entry *const *)pa;
	const struct entry *b = *(struct entry *const *)pb;
	int c = cmp_ts(&a->st.st_mtim, &b->st.st_mtim);
	if (c)
		return c;
	c = name_cmp_natural(a->name, b->name);
	return c ? c : strcmp(a->name, b->name);
}

static int cmp_msg_uid(const void *pa, const void *pb)
{
	const struct store_msg *a = pa, *b = pb;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

static struct store_stamp stamp_of(const struct stat *st)
{
	return (struct store_stamp){ (int64_t)st->st_mtim.tv_sec,
				     (int64_t)st->st_mtim.tv_nsec };
}

static bool stamp_trusted_eq(struct store_stamp rec, const struct stat *st)
{
	struct store_stamp now = stamp_of(st);
	return (rec.sec != 0 || rec.nsec != 0) && rec.sec == now.sec &&
	       rec.nsec == now.nsec;
}

/* What to record for a directory read at time now. */
static struct store_stamp stamp_to_record(const struct stat *st, time_t now)
{
	if ((int64_t)now - (int64_t)st->st_mtim.tv_sec <= STORE_MTIME_SLACK_SEC)
		return (struct store_stamp){ 0, 0 };
	return stamp_of(st);
}

/* Renames without replacing an existing file. */
static int rename_noreplace(int ofd, const char *oname, int nfd,
			    const char *nname)
{
	if (renameat2(ofd, oname, nfd, nname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (faccessat(nfd, nname, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(ofd, oname, nfd, nname);
}

static void clean_tmp(struct mailbox *mb, time_t now)
{
	char *tdir = xasprintf("%s/tmp", mb->path);
	DIR *d = opendir(tdir);
	free(tdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtim.tv_sec > STORE_TMP_MAX_AGE_SEC &&
		    now - st.st_ctim.tv_sec > STORE_TMP_MAX_AGE_SEC &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_mb(LOG_INFO, mb, "tmp_file_removed", de->d_name);
	}
	closedir(d);
}

/* Settles UIDVALIDITY/UIDNEXT from the index (if valid) and the uidstate
 * file. Returns whether the uidstate file must be (re)written; *any_uid
 * says that file UIDs are accepted whatever their value (both lost).
 * A mailbox postern has never seen that Dovecot left behind takes over
 * Dovecot's UIDs (dv is filled then). */
static bool settle_uids(struct mailbox *mb, bool *valid, bool *any_uid,
			struct dovecot_uidlist *dv)
{
	uint32_t suv, sun;
	uint64_t sms = 0;
	bool have = uidstate_read(mb->path, &suv, &sun, &sms) == 0;
	*any_uid = false;
	mb->modseq_reserved = have ? sms : 0;
	/* MODSEQs never go backwards: a rebuilt index starts at the
	 * ceiling recorded before any of them was handed out. */
	if (!*valid && sms > mb->highestmodseq)
		mb->highestmodseq = sms;
	if (*valid && have) {
		if (suv != mb->uidvalidity) {
			log_mb(LOG_WARN, mb, "index_uidvalidity_mismatch",
			       "rebuilding from uidstate");
			mailbox_clear(mb);
			*valid = false;
			mb->uidvalidity = suv;
			mb->uidnext = sun;
			mb->modseq_reserved = sms;
			mb->highestmodseq = sms;
			return false;
		}
		if (sun >= mb->uidnext) {
			mb->uidnext = sun;
			return false;
		}
		return true;
	}
	if (*valid)
		return true;
	if (have) {
		mb->uidvalidity = suv;
		mb->uidnext = sun;
		if (sms > mb->highestmodseq)
			mb->highestmodseq = sms;
		return false;
	}
	if (dovecot_uidlist_read(mb->path, dv)) {
		log_mb(LOG_INFO, mb, "dovecot_uidlist_imported",
		       "UIDVALIDITY and UIDs kept from Dovecot");
		mb->uidvalidity = dv->uidvalidity;
		mb->uidnext = dv->uidnext;
		return true;
	}
	/* Both lost: a new UIDVALIDITY (time-based, never 0). */
	mb->uidvalidity = (uint32_t)time(NULL);
	if (mb->uidvalidity == 0)
		mb->uidvalidity = 1;
	mb->uidnext = 1;
	*any_uid = true;
	return true;
}

/* Sizes and target name of an entry that was not in the index under its
 * name; renames it into cur/. Returns false when it must be dropped. */
static bool place_entry(struct mailbox *mb, struct entry *e, int curfd,
			int newfd)
{
	const struct store_msg *rec = e->rec >= 0 ? &mb->msgs.v[e->rec] : NULL;
	uint64_t fsize = (uint64_t)e->st.st_size, wsize, crlf = 0;
	char err[256];
	int dfd = e->in_new ? newfd : curfd;
	if (rec && rec->file_size == fsize) {
		wsize = rec->size;
		crlf = rec->pop3_size;
	} else if (e->mn.has_s && e->mn.s == fsize && e->mn.has_w) {
		wsize = e->mn.w;
		/* W= equal to S=: stored with CRLF, or appended verbatim
		 * (bare CR/LF): only reading tells what POP3 sends. */
		if (wsize != fsize)
			crlf = wsize;
		else if (store_file_wire_size(dfd, e->name, &crlf, &fsize, err,
					      sizeof err) < 0)
			crlf = wsize;
	} else if (store_file_wire_size(dfd, e->name, &wsize, &fsize, err,
					sizeof err) < 0) {
		log_mb(LOG_WARN, mb, "message_unreadable", err);
		return false;
	} else {
		crlf = wsize;
	}
	e->pop3 = crlf;
	char *target = mname_format(&e->mn, fsize, wsize, e->uid);
	if (e->in_new || strcmp(target, e->name) != 0) {
		if (rename_noreplace(e->in_new ? newfd : curfd, e->name, curfd,
				     target) < 0) {
			int en = errno;
			free(target);
			if (en == ENOENT)
				return false; /* gone meanwhile */
			snprintf(err, sizeof err, "%s: rename: %s", e->name,
				 strerror(en));
			log_mb(LOG_WARN, mb, "message_rename_failed", err);
			if (e->in_new)
				return false; /* retried at the next sync */
			target = xstrdup(e->name); /* usable, UID not in name */
		}
	}
	free(e->name);
	e->name = target;
	e->st.st_size = (off_t)fsize;
	e->mn.w = wsize; /* reused below as the wire size */
	return true;
}

/* Same unique part (up to the first ',' or ':'): the same message. */
static bool same_unique(const char *a, const char *b)
{
	size_t la = strcspn(a, ",:"), lb = strcspn(b, ",:");
	return la == lb && memcmp(a, b, la) == 0;
}

static int scan(struct mailbox *mb, bool valid, bool any_uid, bool write_state,
		const struct dovecot_uidlist *dv, const struct stat *cur_st,
		const struct stat *new_st, char *err, size_t errsz)
{
	struct ents es = { 0 };
	struct name_hash h = { 0 };
	struct entry **un = NULL;
	bool *seen = NULL;
	int rc = 0;
	char *cdir = xasprintf("%s/cur", mb->path);
	char *ndir = xasprintf("%s/new", mb->path);
	int curfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int newfd = open(ndir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	if (curfd < 0 || newfd < 0) {
		rc = store_err(err, errsz, store_errno_code(errno),
			       "open %s: %s", curfd < 0 ? cdir : ndir,
			       strerror(errno));
		goto out;
	}
	if ((rc = read_dir(curfd, cdir, false, &es, err, errsz)) < 0 ||
	    (rc = read_dir(newfd, ndir, true, &es, err, errsz)) < 0)
		goto out;
	clean_tmp(mb, now);

	/* Known names keep their records; tombstoned names are unlinked. */
	hash_build(&h, mb);
	seen = xcalloc(mb->msgs.n + 1, sizeof *seen);
	bool *tomb_keep = xcalloc(mb->tombs.n + 1, sizeof *tomb_keep);
	size_t n_un = 0;
	un = xmalloc((es.n + 1) * sizeof *un);
	for (size_t i = 0; i < es.n; i++) {
		struct entry *e = &es.v[i];
		long v = e->in_new ? -1 : hash_find(&h, mb, e->name);
		if (v >= 0) {
			e->rec = v;
			seen[v] = true;
			continue;
		}
		if (v < -1) {
			if (unlinkat(curfd, e->name, 0) < 0 && errno != ENOENT)
				tomb_keep[-v - 2] = true;
			e->drop = true;
			continue;
		}
		if (fstatat(e->in_new ? newfd : curfd, e->name, &e->st,
			    AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(e->st.st_mode)) {
			e->drop = true;
			continue;
		}
		mname_parse(e->name, &e->mn);
		if (e->mn.has_u && (any_uid || e->mn.u < mb->uidnext))
			e->uid = e->mn.u;
		else if (!e->mn.has_u)
			e->uid = dovecot_uidlist_find(dv, e->name);
		un[n_un++] = e;
	}

	/* UIDs claimed by names: a renamed known file, an expunged one, a
	 * rebuild, or a duplicate that must get a new UID. */
	if (n_un > 1)
		qsort(un, n_un, sizeof *un, cmp_claim);
	uint32_t last_claim = 0, max_uid = 0;
	for (size_t i = 0; i < n_un; i++) {
		struct entry *e = un[i];
		if (e->uid == 0)
			continue;
		long r = store_msgs_find_uid(mb->msgs.v, mb->msgs.n, e->uid,
					     NULL);
		long t = r >= 0 ? -1
				: store_msgs_find_uid(mb->tombs.v, mb->tombs.n,
						      e->uid, NULL);
		if (r >= 0 && !seen[r] && !mb->msgs.v[r].expunged &&
		    same_unique(mb->msgs.v[r].filename, e->name)) {
			seen[r] = true; /* renamed, e.g. its flags changed */
			e->rec = r;
		} else if (t >= 0 && same_unique(mb->tombs.v[t].filename,
						 e->name)) {
			if (unlinkat(e->in_new ? newfd : curfd, e->name, 0) < 0 &&
			    errno != ENOENT)
				tomb_keep[t] = true;
			e->drop = true;
			continue;
		} else if (valid || e->uid == last_claim) {
			/* A copy, or a file from elsewhere: with a valid index
			 * every UID we gave is known, so taking this one could
			 * reuse an expunged UID. */
			e->uid = 0;
			continue;
		}
		last_claim = e->uid;
		if (e->uid > max_uid)
			max_uid = e->uid;
	}
	if (max_uid >= mb->uidnext) {
		if (max_uid == UINT32_MAX)
			log_fatal("event=uid_space_exhausted");
		mb->uidnext = max_uid + 1;
	}

	/* Fresh UIDs in arrival order; durable before any name shows them. */
	if (n_un > 1)
		qsort(un, n_un, sizeof *un, cmp_arrival);
	uint32_t first_new = mb->uidnext;
	for (size_t i = 0; i < n_un; i++) {
		if (un[i]->drop || un[i]->uid != 0)
			continue;
		if (mb->uidnext == UINT32_MAX) {
			log_mb(LOG_ERR, mb, "uid_space_exhausted", un[i]->name);
			un[i]->drop = true;
			continue;
		}
		un[i]->uid = mb->uidnext++;
	}
	if (write_state || mb->uidnext != first_new) {
		char serr[256];
		if (uidstate_write(mb->path, mb->uidvalidity, mb->uidnext,
				   mb->modseq_reserved, serr, sizeof serr) < 0) {
			log_mb(LOG_ERR, mb, "uidstate_write_failed", serr);
			/* Leave new files unnumbered until it can be written. */
			for (size_t i = 0; i < n_un; i++)
				if (un[i]->uid >= first_new)
					un[i]->drop = true;
			mb->uidnext = first_new;
			cur_st = new_st = NULL;
		}
	}

	/* Build the new message list. */
	struct msg_vec nm = { 0 };
	for (size_t i = 0; i < mb->msgs.n; i++) {
		if (seen[i])
			continue;
		if (!mb->msgs.v[i].expunged)
			mb->highestmodseq++; /* removed by another program */
		/* A session's view keeps it, marked, until
		 * store_mailbox_refresh reports it. */
		if (!mb->seen_valid)
			continue;
		struct store_msg *m = msg_vec_push(&nm);
		*m = mb->msgs.v[i];
		m->expunged = true;
		m->filename = NULL;
	}
	for (size_t i = 0; i < es.n; i++) {
		struct entry *e = &es.v[i];
		if (e->drop)
			continue;
		if (e->rec >= 0 && e->uid == 0) { /* known under this name */
			*msg_vec_push(&nm) = mb->msgs.v[e->rec];
			continue;
		}
		/* Before place_entry: it replaces the name mn points into. */
		uint32_t kw = keywords_of_info(e->mn.info);
		if (!place_entry(mb, e, curfd, newfd)) {
			if (e->rec >= 0)
				mb->highestmodseq++;
			if (e->rec >= 0 && mb->seen_valid) {
				struct store_msg *g = msg_vec_push(&nm);
				*g = mb->msgs.v[e->rec];
				g->expunged = true;
				g->filename = NULL;
			}
			continue;
		}
		struct store_msg *m = msg_vec_push(&nm);
		if (e->rec >= 0) {
			*m = mb->msgs.v[e->rec];
			if (m->flags != e->mn.flags || m->keywords != kw)
				m->modseq = ++mb->highestmodseq;
		} else {
			memset(m, 0, sizeof *m);
			m->uid = e->uid;
			m->internal_date = (int64_t)e->st.st_mtim.tv_sec;
			m->modseq = ++mb->highestmodseq;
		}
		m->flags = e->mn.flags;
		m->keywords = kw;
		m->file_size = (uint64_t)e->st.st_size;
		m->size = e->mn.w;
		m->pop3_size = e->pop3;
		m->filename = strpool_dup(&mb->pool, e->name, strlen(e->name));
	}
	if (nm.n > 1)
		qsort(nm.v, nm.n, sizeof *nm.v, cmp_msg_uid);
	for (size_t i = 1; i < nm.n; i++)
		if (nm.v[i].uid == nm.v[i - 1].uid)
			log_fatal("event=sync_duplicate_uid uid=%u", nm.v[i].uid);
	free(mb->msgs.v);
	mb->msgs = nm;

	size_t kept = 0;
	for (size_t i = 0; i < mb->tombs.n; i++)
		if (tomb_keep[i])
			mb->tombs.v[kept++] = mb->tombs.v[i];
	mb->tombs.n = kept;
	free(tomb_keep);

	mb->cur_stamp = cur_st ? stamp_to_record(cur_st, now)
			       : (struct store_stamp){ 0, 0 };
	mb->new_stamp = new_st ? stamp_to_record(new_st, now)
			       : (struct store_stamp){ 0, 0 };
out:
	for (size_t i = 0; i < es.n; i++)
		free(es.v[i].name);
	free(es.v);
	free(h.slot);
	free(seen);
	free(un);
	if (curfd >= 0)
		close(curfd);
	if (newfd >= 0)
		close(newfd);
	free(cdir);
	free(ndir);
	return rc;
}

/* Loads what changed since mb was last synced: the log's new
 * transactions, or, if the index file was replaced (or never loaded),
 * the whole index and its log. On a reload the previous view is moved to
 * *old (names dropped) so that keep_markers can carry its messages that
 * are gone. Returns whether mb holds a valid index state. */
static bool catch_up(struct mailbox *mb, struct msg_vec *old)
{
	char *file = xasprintf("%s/" STORE_INDEX_NAME, mb->path);
	struct stat st;
	bool have = stat(file, &st) == 0;
	free(file);
	if (have && mailbox_index_same(mb, &st)) {
		log_replay(mb);
		return true;
	}
	if (mb->msgs.n > 0) {
		old->v = xmalloc(mb->msgs.n * sizeof *old->v);
		memcpy(old->v, mb->msgs.v, mb->msgs.n * sizeof *old->v);
		old->n = old->cap = mb->msgs.n;
		for (size_t i = 0; i < old->n; i++)
			old->v[i].filename = NULL;
	}
	bool valid = index_read(mb);
	if (valid)
		mailbox_index_note(mb, &st);
	else
		mb->idx_ino = 0;
	mb->log_ino = 0;
	mb->log_off = 0;
	if (valid)
		log_replay(mb);
	return valid;
}

/* Messages of the previous view that the reloaded state lacks stay in
 * the view as expunged markers (store.h: store_msg.expunged). */
static void keep_markers(struct mailbox *mb, const struct msg_vec *old)
{
	size_t extra = 0;
	for (size_t i = 0; i < old->n; i++)
		if (!mailbox_by_uid(mb, old->v[i].uid))
			extra++;
	if (extra == 0)
		return;
	size_t n0 = mb->msgs.n;
	msg_vec_reserve(&mb->msgs, n0 + extra);
	for (size_t i = 0; i < old->n; i++) {
		const struct store_msg *o = &old->v[i];
		if (store_msgs_find_uid(mb->msgs.v, n0, o->uid, NULL) >= 0)
			continue;
		struct store_msg *m = msg_vec_push(&mb->msgs);
		*m = *o;
		m->expunged = true;
		m->filename = NULL;
	}
	qsort(mb->msgs.v, mb->msgs.n, sizeof *mb->msgs.v, cmp_msg_uid);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0x100000001b3ull;
}

/* Everything a scan can change and the index records: when a scan
 * (forced by a directory touched less than STORE_MTIME_SLACK_SEC ago,
 * as in a busy mailbox where each flag change renames a file) finds
 * what the view already says, there is nothing to write -- and the
 * index rewrite with its four fsyncs was most of the cost of a STORE. */
static uint64_t view_signature(const struct mailbox *mb)
{
	uint64_t h = 1469598103934665603ull;
	h = mix(h, mb->uidvalidity);
	h = mix(h, mb->uidnext);
	h = mix(h, mb->highestmodseq);
	h = mix(h, mb->kw.n);
	h = mix(h, (uint64_t)mb->cur_stamp.sec);
	h = mix(h, (uint64_t)mb->cur_stamp.nsec);
	h = mix(h, (uint64_t)mb->new_stamp.sec);
	h = mix(h, (uint64_t)mb->new_stamp.nsec);
	h = mix(h, mb->msgs.n);
	for (size_t i = 0; i < mb->msgs.n; i++) {
		const struct store_msg *m = &mb->msgs.v[i];
		h = mix(h, m->uid);
		h = mix(h, ((uint64_t)m->flags << 32) | m->keywords);
		h = mix(h, ((uint64_t)m->expunged << 1) | m->pop3_hidden);
		h = mix(h, m->size ^ (m->file_size << 17));
		h = mix(h, (uint64_t)m->internal_date ^ m->modseq);
		for (const char *p = m->filename; p && *p; p++)
			h = mix(h, (unsigned char)*p);
	}
	h = mix(h, mb->tombs.n);
	for (size_t i = 0; i < mb->tombs.n; i++)
		h = mix(h, mb->tombs.v[i].uid);
	return h;
}

int mailbox_sync_locked(struct mailbox *mb, bool *dirty, char *err,
			size_t errsz)
{
	*dirty = false;
	struct msg_vec old = { 0 };
	uint32_t old_uv = mb->uidvalidity;
	bool valid = catch_up(mb, &old), any_uid;
	struct dovecot_uidlist dv = { 0 };
	bool write_state = settle_uids(mb, &valid, &any_uid, &dv);

	struct stat cur_st, new_st;
	char *cdir = xasprintf("%s/cur", mb->path);
	char *ndir = xasprintf("%s/new", mb->path);
	int rc = 0;
	if (stat(cdir, &cur_st) < 0 || stat(ndir, &new_st) < 0) {
		rc = store_err(err, errsz, store_errno_code(errno),
			       "stat %s/{cur,new}: %s", mb->path,
			       strerror(errno));
		goto out;
	}
	if (valid && stamp_trusted_eq(mb->cur_stamp, &cur_st) &&
	    stamp_trusted_eq(mb->new_stamp, &new_st)) {
		/* Nothing changed since the index was written. */
		char serr[256];
		if (write_state &&
		    uidstate_write(mb->path, mb->uidvalidity, mb->uidnext,
				   mb->modseq_reserved, serr, sizeof serr) < 0)
			log_mb(LOG_WARN, mb, "uidstate_write_failed", serr);
		goto out;
	}
	uint64_t before = valid ? view_signature(mb) : 0;
	rc = scan(mb, valid, any_uid, write_state, &dv, &cur_st, &new_st, err,
		  errsz);
	if (rc == 0)
		*dirty = !valid || view_signature(mb) != before;
out:
	if (old.n > 0 && mb->uidvalidity == old_uv && mb->seen_valid)
		keep_markers(mb, &old);
	else if (old_uv != 0 && mb->uidvalidity != old_uv)
		mb->uidvalidity_changed = true;
	free(old.v);
	dovecot_uidlist_free(&dv);
	free(cdir);
	free(ndir);
	return rc;
}
