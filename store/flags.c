/* IMAP STORE: flags and keywords of a set of UIDs, in one durable step
 * under the index lock (store.h: store_mailbox_set_flags). The Maildir
 * name carries the system flags and keyword letters, so other programs
 * (and an index rebuild) see them; the change log records the new
 * MODSEQs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/u32set.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

void store_uid_list_free(struct store_uid_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void uid_list_push(struct store_uid_list *l, uint32_t uid)
{
	/* Grows by doubling: capacity is the next power of two >= n. */
	if ((l->n & (l->n - 1)) == 0)
		l->v = xrealloc(l->v, (l->n ? 2 * l->n : 1) * sizeof *l->v);
	l->v[l->n++] = uid;
}

int store_mailbox_set_flags(struct mailbox *mb,
			    const struct store_flag_update *up,
			    struct store_uid_list *changed,
			    struct store_uid_list *failed, char *err,
			    size_t errsz)
{
	memset(changed, 0, sizeof *changed);
	memset(failed, 0, sizeof *failed);
	if (up->flags & ~STORE_F_ALL)
		return store_err(err, errsz, STORE_EINVAL, "unknown flags");
	int lockfd = mailbox_lock_sync(mb, err, errsz);
	if (lockfd < 0)
		return lockfd;
	uint32_t kw = 0;
	int rc = keywords_bits(mb, up->keywords, up->n_keywords,
			       up->op != STORE_FLAGS_REMOVE, &kw, err, errsz);
	if (rc < 0) {
		close(lockfd);
		return rc;
	}
	size_t n;
	uint32_t *uids = u32set_copy(up->uids, up->n_uids, &n);
	struct store_msg *nm = xmalloc((n + 1) * sizeof *nm);
	struct log_rec *recs = xmalloc((n + 1) * sizeof *recs);
	size_t nr = 0;
	char *cdir = xasprintf("%s/cur", mb->path);
	int curfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (curfd < 0)
		rc = store_err(err, errsz, store_errno_code(errno),
			       "open %s: %s", cdir, strerror(errno));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct store_msg *m = mailbox_by_uid(mb, uids[i]);
		if (!m || m->expunged)
			continue;
		if (up->unchangedsince && m->modseq > up->unchangedsince) {
			uid_list_push(failed, m->uid);
			continue;
		}
		uint32_t f = m->flags, k = m->keywords;
		switch (up->op) {
		case STORE_FLAGS_SET:
			f = up->flags;
			k = kw;
			break;
		case STORE_FLAGS_ADD:
			f |= up->flags;
			k |= kw;
			break;
		case STORE_FLAGS_REMOVE:
			f &= ~up->flags;
			k &= ~kw;
			break;
		}
		if (f == m->flags && k == m->keywords)
			continue;
		char *name = mname_with_info(m->filename, f, k);
		if (strlen(name) > 255 ||
		    renameat(curfd, m->filename, curfd, name) < 0) {
			int e = strlen(name) > 255 ? ENAMETOOLONG : errno;
			free(name);
			if (e == ENOENT)
				continue; /* renamed by another program: the
					     next sync finds it */
			rc = store_err(err, errsz, store_errno_code(e),
				       "rename %s: %s", m->filename,
				       strerror(e));
			break;
		}
		nm[nr] = *m;
		nm[nr].flags = f;
		nm[nr].keywords = k;
		nm[nr].modseq = ++mb->highestmodseq;
		nm[nr].filename = name;
		recs[nr] = (struct log_rec){ &nm[nr], 0 };
		nr++;
	}
	if (nr > 0) {
		mailbox_restamp_cur(mb);
		int crc = mailbox_commit(mb, recs, nr, err, errsz);
		if (rc == 0)
			rc = crc;
		for (size_t i = 0; rc == 0 && i < nr; i++)
			uid_list_push(changed, nm[i].uid);
	}
	for (size_t i = 0; i < nr; i++)
		free(nm[i].filename);
	if (curfd >= 0)
		close(curfd);
	close(lockfd);
	free(cdir);
	free(nm);
	free(recs);
	free(uids);
	if (rc < 0) {
		store_uid_list_free(changed);
		store_uid_list_free(failed);
	}
	return rc;
}
