/* Where mailboxes live and how they come to exist. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "store/store_int.h"

int store_user_maildir(const char *mail_dir, const char *user, char *out,
		       size_t outsz)
{
	/* users_name_valid ran already; this is the last line of defence
	 * against a name that would leave mail_dir. */
	if (!mail_dir || !user || !*mail_dir || !*user ||
	    strcmp(user, ".") == 0 || strcmp(user, "..") == 0 ||
	    strchr(user, '/') != NULL)
		return STORE_EPERM;
	int n = snprintf(out, outsz, "%s/%s", mail_dir, user);
	if (n < 0 || (size_t)n >= outsz)
		return STORE_EPERM;
	return 0;
}

static int mkdir_one(const char *dir, bool *made, char *err, size_t errsz)
{
	if (mkdir(dir, 0700) == 0) {
		*made = true;
		return 0;
	}
	if (errno == EEXIST) {
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return store_err(err, errsz, STORE_EPERM,
				 "mkdir %s: exists and is not a directory",
				 dir);
	}
	return store_err(err, errsz, store_errno_code(errno), "mkdir %s: %s",
			 dir, strerror(errno));
}

/* mkdir -p, fsyncing each parent whose entries changed. */
static int mkdir_p(const char *dir, char *err, size_t errsz)
{
	char *p = xstrdup(dir);
	int rc = 0;
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1; rc == 0; s++) {
		bool last = (*s == '\0');
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		bool made = false;
		rc = mkdir_one(p, &made, err, errsz);
		if (rc == 0 && made) {
			char *parent = xstrdup(p), *sl = strrchr(parent, '/');
			if (sl) {
				if (sl == parent)
					sl[1] = '\0';
				else
					*sl = '\0';
				rc = store_fsync_dir(sl ? parent : ".", err,
						     errsz);
			}
			free(parent);
		}
		if (last)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

static int make_subdirs(const char *maildir, char *err, size_t errsz)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	bool any = false;
	for (size_t i = 0; i < 3; i++) {
		char *d = xasprintf("%s/%s", maildir, sub[i]);
		int rc = mkdir_one(d, &any, err, errsz);
		free(d);
		if (rc < 0)
			return rc;
	}
	return any ? store_fsync_dir(maildir, err, errsz) : 0;
}

int store_maildir_folder_mark(const char *dir, char *err, size_t errsz)
{
	char *marker = xasprintf("%s/maildirfolder", dir);
	int rc = 0;
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = store_err(err, errsz, store_errno_code(errno),
			       "open %s: %s", marker, strerror(errno));
	else
		close(fd);
	free(marker);
	return rc;
}

int store_maildir_create(const char *maildir, char *err, size_t errsz)
{
	int rc = mkdir_p(maildir, err, errsz);
	if (rc < 0)
		return rc;
	/* A Maildir++ folder "<root>/.Name": the root must be a Maildir
	 * too, and the folder carries the "maildirfolder" marker. */
	const char *slash = strrchr(maildir, '/');
	const char *base = slash ? slash + 1 : maildir;
	if (base[0] == '.' && base[1] != '\0' && strcmp(base, "..") != 0) {
		char *root = slash ? xstrndup(maildir, (size_t)(slash - maildir))
				   : xstrdup(".");
		if (!*root) {
			free(root);
			root = xstrdup("/");
		}
		rc = make_subdirs(root, err, errsz);
		free(root);
		if (rc < 0)
			return rc;
		rc = store_maildir_folder_mark(maildir, err, errsz);
		if (rc < 0)
			return rc;
	}
	return make_subdirs(maildir, err, errsz);
}
