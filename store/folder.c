/* IMAP folder operations on a user's Maildir++ (store.h): LIST data,
 * CREATE, DELETE, RENAME, and the new user's defaults. Subscriptions are
 * in subscriptions.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

static const struct {
	const char *name;
	uint32_t attr;
} special[] = {
	{ "Sent", STORE_MBOX_SENT },   { "Drafts", STORE_MBOX_DRAFTS },
	{ "Trash", STORE_MBOX_TRASH }, { "Junk", STORE_MBOX_JUNK },
	{ "Archive", STORE_MBOX_ARCHIVE },
};

/* ---- directories ---- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Folder names on disk (canonical ones only). */
static int folders_read(const char *maildir, struct names *ns, char *err,
			size_t errsz)
{
	DIR *d = opendir(maildir);
	if (!d)
		return store_err(err, errsz, store_errno_code(errno),
				 "opendir %s: %s", maildir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		struct buf n = BUF_INIT;
		if (store_mboxname_from_dir(str_from_cstr(de->d_name), &n) == 0)
			names_add(ns, n.data, n.len);
		buf_free(&n);
	}
	closedir(d);
	return 0;
}

/* ---- LIST ---- */

static void list_add(struct store_mbox_list *l, const char *name,
		     uint32_t attrs)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].attrs = attrs;
	l->n++;
}

void store_mbox_list_free(struct store_mbox_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int store_mbox_list(const char *maildir, struct store_mbox_list *out,
		    char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	struct names ex = { 0 }, all = { 0 }, subs = { 0 };
	int rc = folders_read(maildir, &ex, err, errsz);
	if (rc < 0)
		return rc;
	names_add(&ex, "INBOX", 5);
	names_sort_uniq(&ex);
	if ((rc = subs_read(maildir, &subs)) < 0) {
		store_err(err, errsz, rc, "cannot read subscriptions");
		names_free(&ex);
		return rc;
	}
	/* Every existing name, its parents, and the subscribed names. */
	for (size_t i = 0; i < ex.n; i++) {
		const char *s = ex.v[i];
		names_add(&all, s, strlen(s));
		for (const char *p = strchr(s, STORE_MBOX_SEP); p;
		     p = strchr(p + 1, STORE_MBOX_SEP))
			names_add(&all, s, (size_t)(p - s));
	}
	/* A subscribed name's parents too, existing or not: LSUB "%" shows
	 * them as \Noselect (RFC 3501 6.3.9) and LIST (SUBSCRIBED
	 * RECURSIVEMATCH) as \NonExistent with CHILDINFO (RFC 5258 3.5). */
	for (size_t i = 0; i < subs.n; i++) {
		const char *s = subs.v[i];
		names_add(&all, s, strlen(s));
		for (const char *p = strchr(s, STORE_MBOX_SEP); p;
		     p = strchr(p + 1, STORE_MBOX_SEP))
			names_add(&all, s, (size_t)(p - s));
	}
	names_sort_uniq(&all);
	for (size_t i = 0; i < all.n; i++) {
		const char *s = all.v[i];
		size_t sl = strlen(s);
		uint32_t a = 0;
		bool exists = names_has(&ex, s);
		if (!exists)
			a |= STORE_MBOX_NONEXISTENT;
		bool kids = false;
		for (size_t k = 0; k < ex.n && !kids; k++)
			kids = strncmp(ex.v[k], s, sl) == 0 &&
			       ex.v[k][sl] == STORE_MBOX_SEP;
		a |= kids ? STORE_MBOX_HASCHILDREN : STORE_MBOX_HASNOCHILDREN;
		if (names_has(&subs, s))
			a |= STORE_MBOX_SUBSCRIBED;
		for (size_t k = 0; k < sizeof special / sizeof special[0]; k++)
			if (exists && strcmp(s, special[k].name) == 0)
				a |= special[k].attr;
		list_add(out, s, a);
	}
	names_free(&ex);
	names_free(&all);
	names_free(&subs);
	return 0;
}

/* ---- CREATE ---- */

/* A UIDVALIDITY never given before in this Maildir: a recreated mailbox
 * must not reuse the UIDs of its previous life under the same value
 * (RFC 9051 6.3.4). The caller holds the root's index lock. */
static int next_uidvalidity(const char *maildir, uint32_t *out, char *err,
			    size_t errsz)
{
	char *file = xasprintf("%s/" STORE_UIDVALIDITY_NAME, maildir);
	char *data;
	size_t len;
	unsigned long long last = 0;
	if (store_read_file(file, &data, &len, err, errsz) == 0) {
		struct str s = str_make(data, len);
		if (s.len && data[s.len - 1] == '\n')
			s.len--;
		if (!str_to_u64(s, UINT32_MAX, &last))
			last = 0;
		free(data);
	}
	free(file);
	uint32_t uv = (uint32_t)time(NULL);
	if (uv <= last)
		uv = (uint32_t)last + 1;
	if (uv == 0)
		uv = 1;
	char line[16];
	int n = snprintf(line, sizeof line, "%u\n", (unsigned)uv);
	int rc = store_write_atomic(maildir, STORE_UIDVALIDITY_NAME, line,
				    (size_t)n, err, errsz);
	if (rc == 0)
		*out = uv;
	return rc;
}

static void rm_tree(const char *path);

static int make_folder(const char *maildir, const char *path, char *err,
		       size_t errsz)
{
	uint32_t uv = 0;
	int rc = next_uidvalidity(maildir, &uv, err, errsz);
	if (rc < 0)
		return rc;
	/* Made under a name outside the Maildir++ namespace (no leading
	 * '.'), with its uidstate, then renamed into place: the folder
	 * never exists half made. */
	char *unique = maildir_unique();
	char *tmpdir = xasprintf("%s/postern-new.%s", maildir, unique);
	free(unique);
	rc = store_maildir_create(tmpdir, err, errsz);
	if (rc == 0) {
		rc = store_maildir_folder_mark(tmpdir, err, errsz);
	}
	if (rc == 0)
		rc = uidstate_write(tmpdir, uv, 1, 0, err, errsz);
	if (rc == 0 && rename(tmpdir, path) < 0)
		rc = store_err(err, errsz,
			       errno == EEXIST || errno == ENOTEMPTY
				       ? STORE_EEXIST
				       : store_errno_code(errno),
			       "rename %s: %s", tmpdir, strerror(errno));
	if (rc == 0)
		rc = store_fsync_dir(maildir, err, errsz);
	if (rc < 0)
		rm_tree(tmpdir);
	free(tmpdir);
	return rc;
}

static int create_locked(const char *maildir, struct str name, char *err,
			 size_t errsz)
{
	struct buf dir = BUF_INIT, canon = BUF_INIT, path = BUF_INIT;
	int rc = store_mboxname_to_dir(name, &dir, &canon, err, errsz);
	if (rc < 0)
		goto out;
	if (dir.len == 0) {
		rc = store_err(err, errsz, STORE_EEXIST, "INBOX always exists");
		goto out;
	}
	/* Parents first (RFC 9051 6.3.4), as real mailboxes. */
	for (size_t i = 1; i <= dir.len; i++) {
		if (i < dir.len && dir.data[i] != '.')
			continue;
		buf_clear(&path);
		buf_printf(&path, "%s/", maildir);
		buf_append(&path, dir.data, i);
		buf_cstr(&path);
		if (is_dir(path.data)) {
			if (i == dir.len)
				rc = store_err(err, errsz, STORE_EEXIST,
					       "mailbox exists");
			continue;
		}
		if (i == 6 && memcmp(dir.data, ".INBOX", 6) == 0)
			continue; /* INBOX is the root */
		if ((rc = make_folder(maildir, path.data, err, errsz)) < 0)
			break;
	}
out:
	buf_free(&dir);
	buf_free(&canon);
	buf_free(&path);
	return rc;
}

int store_mbox_create(const char *maildir, struct str name, char *err,
		      size_t errsz)
{
	int lockfd = store_index_lock(maildir, err, errsz);
	if (lockfd < 0)
		return lockfd;
	int rc = create_locked(maildir, name, err, errsz);
	close(lockfd);
	return rc;
}

/* ---- DELETE ---- */

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	/* Best effort: what cannot be removed stays outside the
	 * namespace, invisible. */
	if (flag == FTW_DP)
		(void)rmdir(p);
	else
		(void)unlink(p);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int store_mbox_delete(const char *maildir, struct str name, char *err,
		      size_t errsz)
{
	struct buf dir = BUF_INIT, path = BUF_INIT;
	int rc = store_mboxname_to_dir(name, &dir, NULL, err, errsz);
	if (rc < 0)
		goto out;
	if (dir.len == 0) {
		rc = store_err(err, errsz, STORE_EPERM,
			       "INBOX cannot be deleted");
		goto out;
	}
	buf_printf(&path, "%s/%s", maildir, dir.data);
	if (!is_dir(path.data)) {
		rc = store_err(err, errsz, STORE_ENOENT, "no such mailbox");
		goto out;
	}
	/* Out of the namespace in one step (a name without the leading
	 * '.' is never listed), then removed at leisure. */
	char *unique = maildir_unique();
	char *trash = xasprintf("%s/postern-deleted.%s", maildir, unique);
	free(unique);
	if (rename(path.data, trash) < 0) {
		rc = store_err(err, errsz, store_errno_code(errno),
			       "rename %s: %s", path.data, strerror(errno));
	} else {
		rc = store_fsync_dir(maildir, err, errsz);
		rm_tree(trash);
	}
	free(trash);
out:
	buf_free(&dir);
	buf_free(&path);
	return rc;
}

/* ---- RENAME ---- */

static int rename_inbox(const char *maildir, struct str to, char *err,
			size_t errsz)
{
	int rc = store_mbox_create(maildir, to, err, errsz);
	if (rc < 0)
		return rc;
	struct buf path = BUF_INIT;
	store_mboxname_path(maildir, to, &path, err, errsz);
	struct mailbox *mb;
	rc = store_mailbox_open(maildir, &mb, err, errsz);
	if (rc == 0) {
		size_t n = store_mailbox_count(mb);
		uint32_t *uids = xmalloc((n + 1) * sizeof *uids);
		for (size_t i = 0; i < n; i++)
			uids[i] = store_mailbox_msg(mb, i)->uid;
		struct store_uid_list s, d;
		uint32_t uv;
		if (n > 0)
			rc = store_mailbox_copy(mb, uids, n, path.data, true,
						&s, &d, &uv, err, errsz);
		if (n > 0 && rc == 0) {
			store_uid_list_free(&s);
			store_uid_list_free(&d);
		}
		free(uids);
		store_mailbox_close(&mb);
	}
	buf_free(&path);
	return rc;
}

int store_mbox_rename(const char *maildir, struct str from, struct str to,
		      char *err, size_t errsz)
{
	struct buf fd = BUF_INIT, td = BUF_INIT, fc = BUF_INIT, tc = BUF_INIT;
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct names ex = { 0 };
	int lockfd = -1;
	int rc = store_mboxname_to_dir(from, &fd, &fc, err, errsz);
	if (rc == 0)
		rc = store_mboxname_to_dir(to, &td, &tc, err, errsz);
	if (rc < 0)
		goto out;
	if (td.len == 0) {
		rc = store_err(err, errsz, STORE_EEXIST, "INBOX always exists");
		goto out;
	}
	if (fd.len == 0) {
		rc = rename_inbox(maildir, to, err, errsz);
		goto out;
	}
	lockfd = store_index_lock(maildir, err, errsz);
	if (lockfd < 0) {
		rc = lockfd;
		lockfd = -1;
		goto out;
	}
	buf_printf(&a, "%s/%s", maildir, fd.data);
	if (!is_dir(a.data)) {
		rc = store_err(err, errsz, STORE_ENOENT, "no such mailbox");
		goto out;
	}
	/* "RENAME a a/b" would move a into its own child; Dovecot refuses
	 * it too. */
	if (tc.len > fc.len && !strncmp(tc.data, fc.data, fc.len) &&
	    tc.data[fc.len] == STORE_MBOX_SEP) {
		rc = store_err(err, errsz, STORE_EINVAL,
			       "a mailbox cannot be moved into itself");
		goto out;
	}
	/* The mailbox and its children move together; no target may
	 * exist. */
	if ((rc = folders_read(maildir, &ex, err, errsz)) < 0)
		goto out;
	size_t fl = fc.len;
	struct names pairs = { 0 };
	for (size_t i = 0; i < ex.n; i++) {
		const char *s = ex.v[i];
		if (strncmp(s, fc.data, fl) != 0 ||
		    (s[fl] != '\0' && s[fl] != STORE_MBOX_SEP))
			continue;
		char *t = xasprintf("%s%s", tc.data, s + fl);
		struct buf sd = BUF_INIT, tdd = BUF_INIT;
		if (store_mboxname_to_dir(str_from_cstr(t), &tdd, NULL, err,
					  errsz) < 0 ||
		    store_mboxname_to_dir(str_from_cstr(s), &sd, NULL, err,
					  errsz) < 0) {
			rc = STORE_EINVAL;
		} else {
			buf_clear(&b);
			buf_printf(&b, "%s/%s", maildir, tdd.data);
			if (is_dir(b.data))
				rc = store_err(err, errsz, STORE_EEXIST,
					       "mailbox %s exists", t);
			names_add(&pairs, sd.data, sd.len);
			names_add(&pairs, tdd.data, tdd.len);
		}
		free(t);
		buf_free(&sd);
		buf_free(&tdd);
		if (rc < 0)
			break;
	}
	/* Parents of the new name (not the name itself). */
	const char *slash = strrchr(tc.data, STORE_MBOX_SEP);
	if (rc == 0 && slash) {
		struct str parent = str_make(tc.data, (size_t)(slash - tc.data));
		rc = create_locked(maildir, parent, err, errsz);
		if (rc == STORE_EEXIST)
			rc = 0;
	}
	for (size_t i = 0; rc == 0 && i + 1 < pairs.n; i += 2) {
		buf_clear(&a);
		buf_clear(&b);
		buf_printf(&a, "%s/%s", maildir, pairs.v[i]);
		buf_printf(&b, "%s/%s", maildir, pairs.v[i + 1]);
		if (renameat2(AT_FDCWD, a.data, AT_FDCWD, b.data,
			      RENAME_NOREPLACE) < 0 &&
		    !(errno == EINVAL && rename(a.data, b.data) == 0))
			rc = store_err(err, errsz,
				       errno == EEXIST ? STORE_EEXIST
						       : store_errno_code(errno),
				       "rename %s: %s", a.data,
				       strerror(errno));
	}
	names_free(&pairs);
	if (rc == 0)
		rc = store_fsync_dir(maildir, err, errsz);
	if (rc == 0)
		rc = subs_rename(maildir, fc.data, tc.data, err, errsz);
out:
	if (lockfd >= 0)
		close(lockfd);
	names_free(&ex);
	buf_free(&fd);
	buf_free(&td);
	buf_free(&fc);
	buf_free(&tc);
	buf_free(&a);
	buf_free(&b);
	return rc;
}

int store_user_provision(const char *maildir, char *err, size_t errsz)
{
	int rc = store_maildir_create(maildir, err, errsz);
	if (rc < 0)
		return rc;
	int lockfd = store_index_lock(maildir, err, errsz);
	if (lockfd < 0)
		return lockfd;
	rc = subs_set_locked(maildir, "INBOX", true, err, errsz);
	for (size_t i = 0; rc == 0 && i < sizeof special / sizeof special[0];
	     i++) {
		rc = create_locked(maildir, str_from_cstr(special[i].name),
				   err, errsz);
		if (rc == STORE_EEXIST)
			rc = 0;
		if (rc == 0)
			rc = subs_set_locked(maildir, special[i].name, true,
					      err, errsz);
	}
	close(lockfd);
	return rc;
}
