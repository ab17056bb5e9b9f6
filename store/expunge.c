/* IMAP EXPUNGE and COPY/MOVE (store.h). Expunge records tombstones in
 * the log before any file is unlinked (a crash in between cannot bring a
 * message back: the next sync unlinks what a tombstone names), then
 * records the UIDs as gone. Copy links the source files into the
 * destination's cur/ under fresh names with new UIDs; MOVE (RFC 6851)
 * is that copy followed by an expunge of the source messages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

static int expunge_locked(struct mailbox *mb, const uint32_t *uids, size_t n,
			  bool all_deleted, bool need_deleted,
			  struct store_uid_list *out, char *err, size_t errsz)
{
	struct store_msg *tomb = xmalloc((mb->msgs.n + 1) * sizeof *tomb);
	struct log_rec *recs = xmalloc((mb->msgs.n + 1) * sizeof *recs);
	size_t nt = 0;
	for (size_t i = 0; i < (all_deleted ? mb->msgs.n : n); i++) {
		const struct store_msg *m =
			all_deleted ? &mb->msgs.v[i] : mailbox_by_uid(mb, uids[i]);
		if (!m || m->expunged ||
		    (need_deleted && !(m->flags & STORE_F_DELETED)))
			continue;
		tomb[nt] = *m;
		tomb[nt].modseq = ++mb->highestmodseq;
		tomb[nt].filename = xstrdup(m->filename);
		recs[nt] = (struct log_rec){ &tomb[nt], 1 };
		nt++;
	}
	int rc = 0;
	if (nt > 0)
		rc = mailbox_commit(mb, recs, nt, err, errsz);
	if (rc == 0 && nt > 0) {
		char *cdir = xasprintf("%s/cur", mb->path);
		int curfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 0; curfd >= 0 && i < nt; i++) {
			if (unlinkat(curfd, tomb[i].filename, 0) < 0 &&
			    errno != ENOENT) {
				/* The tombstone stays; a later sync retries. */
				recs[i].state = 1;
				continue;
			}
			recs[i].state = 2;
		}
		if (curfd >= 0)
			close(curfd);
		free(cdir);
		mailbox_restamp_cur(mb);
		char e2[256];
		/* Forgetting the tombstones is housekeeping: if it fails,
		 * the next scan drops them (their files are gone). */
		(void)mailbox_commit(mb, recs, nt, e2, sizeof e2);
		for (size_t i = 0; i < nt; i++)
			uid_list_push(out, tomb[i].uid);
	}
	for (size_t i = 0; i < nt; i++)
		free(tomb[i].filename);
	free(tomb);
	free(recs);
	return rc;
}

int store_mailbox_expunge(struct mailbox *mb, const uint32_t *uids,
			  size_t n_uids, struct store_uid_list *expunged,
			  char *err, size_t errsz)
{
	memset(expunged, 0, sizeof *expunged);
	int lockfd = mailbox_lock_sync(mb, err, errsz);
	if (lockfd < 0)
		return lockfd;
	size_t n = 0;
	uint32_t *v = uids ? uids_sorted(uids, n_uids, &n) : NULL;
	int rc = expunge_locked(mb, v, n, uids == NULL, true, expunged, err,
				errsz);
	free(v);
	close(lockfd);
	return rc;
}

/* Links src/name (or the file with the same base, renamed meanwhile by
 * a flag change) to dst. */
static int link_msg(int srcfd, const char *name, int dstfd, const char *dst)
{
	if (linkat(srcfd, name, dstfd, dst, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	size_t blen = strcspn(name, ":");
	int dfd = dup(srcfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	struct dirent *de;
	int rc = -1;
	errno = ENOENT;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, name, blen) == 0 &&
		    (de->d_name[blen] == ':' || de->d_name[blen] == '\0')) {
			rc = linkat(srcfd, de->d_name, dstfd, dst, 0);
			break;
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

/* When the file system refuses a hard link (another mount, a link
 * count limit): a real copy through the destination's tmp/, keeping the
 * file's mtime (the internal date). */
static int copy_bytes(int srcfd, const char *name, const char *dst_path,
		      int dstfd, const char *dst)
{
	int in = openat(srcfd, name, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	char *base = maildir_unique();
	char *tmp = xasprintf("%s/tmp/%s", dst_path, base);
	free(base);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int e = out < 0 ? errno : 0;
	char *buf = xmalloc(65536);
	while (!e) {
		ssize_t r = read(in, buf, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : 0;
			break;
		}
		for (ssize_t done = 0; !e && done < r;) {
			ssize_t w = write(out, buf + done, (size_t)(r - done));
			if (w < 0 && errno != EINTR)
				e = errno;
			else if (w > 0)
				done += w;
		}
	}
	free(buf);
	struct stat st;
	if (!e && fstat(in, &st) == 0) {
		struct timespec ts[2] = { st.st_mtim, st.st_mtim };
		(void)futimens(out, ts);
	}
	if (!e && fsync(out) < 0)
		e = errno;
	if (out >= 0 && close(out) < 0 && !e)
		e = errno;
	close(in);
	if (!e && renameat(AT_FDCWD, tmp, dstfd, dst) < 0)
		e = errno;
	if (e)
		unlink(tmp);
	free(tmp);
	errno = e;
	return e ? -1 : 0;
}

struct copy_item {
	struct store_msg m;  /* source record (filename owned) */
	char *kwnames[STORE_KEYWORDS_MAX];
	size_t nkw;
	char *dst_name;
	bool linked;
};

int store_mailbox_copy(struct mailbox *mb, const uint32_t *uids,
		       size_t n_uids, const char *dst_path, bool move,
		       struct store_uid_list *src, struct store_uid_list *dst,
		       uint32_t *dst_uidvalidity, char *err, size_t errsz)
{
	memset(src, 0, sizeof *src);
	memset(dst, 0, sizeof *dst);
	int lockfd = mailbox_lock_sync(mb, err, errsz);
	if (lockfd < 0)
		return lockfd;
	size_t n;
	uint32_t *v = uids_sorted(uids, n_uids, &n);
	struct copy_item *it = xcalloc(n + 1, sizeof *it);
	size_t ni = 0;
	for (size_t i = 0; i < n; i++) {
		const struct store_msg *m = mailbox_by_uid(mb, v[i]);
		if (!m || m->expunged)
			continue;
		struct copy_item *c = &it[ni++];
		c->m = *m;
		c->m.filename = xstrdup(m->filename);
		for (size_t k = 0; k < STORE_KEYWORDS_MAX; k++)
			if ((m->keywords & (1u << k)) && k < mb->kw.n &&
			    mb->kw.name[k])
				c->kwnames[c->nkw++] = xstrdup(mb->kw.name[k]);
	}
	/* The source lock is not held while the destination's is: two
	 * copies in opposite directions must not deadlock. A source file
	 * renamed meanwhile is found by its base name (link_msg). */
	close(lockfd);
	free(v);

	struct mailbox d = { .path = (char *)dst_path };
	char *scdir = xasprintf("%s/cur", mb->path);
	char *dcdir = xasprintf("%s/cur", dst_path);
	int sfd = -1, dfd = -1, rc = 0;
	struct log_rec *recs = xmalloc((ni + 1) * sizeof *recs);
	struct store_msg *nm = xmalloc((ni + 1) * sizeof *nm);
	int dlock = mailbox_lock_sync(&d, err, errsz);
	if (dlock < 0) {
		rc = dlock;
		goto out;
	}
	sfd = open(scdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(dcdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || dfd < 0) {
		rc = store_err(err, errsz, store_errno_code(errno),
			       "open %s: %s", sfd < 0 ? scdir : dcdir,
			       strerror(errno));
		goto out;
	}
	if ((uint64_t)d.uidnext + ni >= UINT32_MAX) {
		rc = store_err(err, errsz, STORE_EPERM, "UID space exhausted");
		goto out;
	}
	uint32_t first = d.uidnext;
	d.uidnext += (uint32_t)ni;
	if (ni > 0 && (rc = uidstate_write(dst_path, d.uidvalidity, d.uidnext,
					   d.modseq_reserved, err, errsz)) < 0)
		goto out;
	for (size_t i = 0; i < ni; i++) {
		struct copy_item *c = &it[i];
		struct str names[STORE_KEYWORDS_MAX];
		for (size_t k = 0; k < c->nkw; k++)
			names[k] = str_from_cstr(c->kwnames[k]);
		uint32_t kw = 0;
		if ((rc = keywords_bits(&d, names, c->nkw, true, &kw, err,
					errsz)) < 0)
			goto out;
		char *base = maildir_unique();
		struct buf nb = BUF_INIT;
		buf_printf(&nb, "%s,S=%llu,W=%llu,U=%u:2,", base,
			   (unsigned long long)c->m.file_size,
			   (unsigned long long)c->m.size,
			   (unsigned)(first + i));
		flags_info(c->m.flags, kw, NULL, &nb);
		free(base);
		c->dst_name = xstrdup(buf_cstr(&nb));
		buf_free(&nb);
		if (link_msg(sfd, c->m.filename, dfd, c->dst_name) < 0 &&
		    !((errno == EXDEV || errno == EPERM || errno == EMLINK ||
		       errno == EOPNOTSUPP || errno == ENOSYS) &&
		      copy_bytes(sfd, c->m.filename, dst_path, dfd,
				 c->dst_name) == 0)) {
			int e = errno;
			rc = store_err(err, errsz,
				       e == ENOENT ? STORE_ENOENT
						   : store_errno_code(e),
				       "link %s: %s", c->m.filename,
				       strerror(e));
			goto out;
		}
		c->linked = true;
		nm[i] = c->m;
		nm[i].uid = first + (uint32_t)i;
		nm[i].keywords = kw;
		nm[i].modseq = ++d.highestmodseq;
		nm[i].pop3_first_retr = 0;
		nm[i].pop3_hidden = false;
		nm[i].filename = c->dst_name;
		recs[i] = (struct log_rec){ &nm[i], 0 };
	}
	if (ni > 0) {
		if ((rc = store_fsync_dir(dcdir, err, errsz)) < 0)
			goto out;
		mailbox_restamp_cur(&d);
		if ((rc = mailbox_commit(&d, recs, ni, err, errsz)) < 0)
			goto out;
	}
	*dst_uidvalidity = d.uidvalidity;
	for (size_t i = 0; i < ni; i++) {
		uid_list_push(src, it[i].m.uid);
		uid_list_push(dst, first + (uint32_t)i);
	}
out:
	if (rc < 0)
		for (size_t i = 0; i < ni && dfd >= 0; i++)
			if (it[i].linked)
				unlinkat(dfd, it[i].dst_name, 0);
	if (dlock >= 0)
		close(dlock);
	if (rc == 0 && move && src->n > 0) {
		struct store_uid_list gone = { 0 };
		lockfd = mailbox_lock_sync(mb, err, errsz);
		rc = lockfd < 0 ? lockfd
				: expunge_locked(mb, src->v, src->n, false,
						 false, &gone, err, errsz);
		if (lockfd >= 0)
			close(lockfd);
		store_uid_list_free(&gone);
		if (rc < 0) {
			/* All or nothing: take the copies back. */
			struct store_uid_list x = { 0 };
			char e2[256];
			int l2 = mailbox_lock_sync(&d, e2, sizeof e2);
			if (l2 >= 0) {
				(void)expunge_locked(&d, dst->v, dst->n, false,
						     false, &x, e2, sizeof e2);
				close(l2);
			}
			store_uid_list_free(&x);
		}
	}
	if (rc < 0) {
		store_uid_list_free(src);
		store_uid_list_free(dst);
	}
	for (size_t i = 0; i < ni; i++) {
		free(it[i].m.filename);
		free(it[i].dst_name);
		for (size_t k = 0; k < it[i].nkw; k++)
			free(it[i].kwnames[k]);
	}
	free(it);
	free(nm);
	free(recs);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	free(scdir);
	free(dcdir);
	mailbox_clear(&d);
	for (size_t i = 0; i < d.kw.n; i++)
		free(d.kw.name[i]);
	return rc;
}
