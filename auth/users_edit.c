/* Editing the users file for `postern user` (see users.h): change one
 * line, keep every other byte, replace the file atomically. */
#include "auth/users.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"

static const char *dele_name(enum pop3_dele_mode m)
{
	return m == POP3_DELE_HIDE ? "hide" : "expunge";
}

/* Rewrites extra_fields with pop3_dele set (replacing any old one). */
static void edit_extra(struct buf *out, struct str extra,
		       enum pop3_dele_mode m)
{
	struct str tok, rest = extra;
	bool done = false, first = true;
	while (rest.len && str_next_token(rest, &tok, &rest)) {
		bool is_dele = tok.len >= 10 && memcmp(tok.p, "pop3_dele=", 10) == 0;
		if (is_dele && done)
			continue;
		if (!first)
			buf_appendc(out, ' ');
		first = false;
		if (is_dele) {
			buf_printf(out, "pop3_dele=%s", dele_name(m));
			done = true;
		} else {
			buf_append(out, tok.p, tok.len);
		}
	}
	if (!done)
		buf_printf(out, "%spop3_dele=%s", first ? "" : " ",
			   dele_name(m));
}

static void edit_line(struct buf *out, struct str line,
		      const struct users_edit *e)
{
	bool cr = line.len && line.p[line.len - 1] == '\r';
	if (cr)
		line.len--;
	struct str f[8];
	size_t nf = users_split_fields(line, f);
	if (e->op == USERS_EDIT_SET_PASSWORD) {
		buf_append(out, f[0].p, f[0].len);
		buf_appendc(out, ':');
		buf_appends(out, e->password);
		if (nf > 2) {
			size_t off = (size_t)(f[2].p - line.p) - 1;
			buf_append(out, line.p + off, line.len - off);
		}
	} else { /* USERS_EDIT_SET_DELE */
		if (nf < 8) {
			buf_append(out, line.p, line.len);
			for (size_t i = nf; i < 8; i++)
				buf_appendc(out, ':');
			edit_extra(out, (struct str){ "", 0 }, e->pop3_dele);
		} else {
			buf_append(out, line.p, (size_t)(f[7].p - line.p));
			edit_extra(out, f[7], e->pop3_dele);
		}
	}
	if (cr)
		buf_appendc(out, '\r');
}

enum users_edit_status users_edit_text(struct str in, const char *path,
				       const struct users_edit *e,
				       struct buf *out, struct buf *err)
{
	struct users u;
	users_init(&u);
	if (users_parse(&u, in.p ? in.p : "", in.len, path, err) < 0)
		return USERS_EDIT_BAD_FILE;
	const struct user_entry *ent = users_lookup(&u, e->name);
	unsigned target = ent ? ent->line : 0;
	users_free(&u);
	if (e->op == USERS_EDIT_ADD) {
		if (!users_name_valid(e->name)) {
			buf_appends(err, "invalid user name\n");
			return USERS_EDIT_BAD_NAME;
		}
		if (target) {
			buf_appends(err, "user exists\n");
			return USERS_EDIT_EXISTS;
		}
	} else if (!target) {
		buf_appends(err, "no such user\n");
		return USERS_EDIT_NO_USER;
	}

	unsigned lineno = 0;
	size_t pos = 0;
	while (pos < in.len) {
		const char *nl = memchr(in.p + pos, '\n', in.len - pos);
		size_t end = nl ? (size_t)(nl - in.p) : in.len;
		struct str line = { in.p + pos, end - pos };
		size_t next = nl ? end + 1 : in.len;
		lineno++;
		if (lineno != target) {
			buf_append(out, in.p + pos, next - pos);
		} else if (e->op != USERS_EDIT_DELETE) {
			edit_line(out, line, e);
			if (nl)
				buf_appendc(out, '\n');
		}
		pos = next;
	}
	if (e->op == USERS_EDIT_ADD) {
		if (out->len && out->data[out->len - 1] != '\n')
			buf_appendc(out, '\n');
		buf_append(out, e->name.p, e->name.len);
		buf_appendc(out, ':');
		buf_appends(out, e->password);
		if (e->set_pop3_dele)
			buf_printf(out, "::::::pop3_dele=%s",
				   dele_name(e->pop3_dele));
		buf_appendc(out, '\n');
	}
	buf_cstr(out);
	/* Never write a file the server would refuse to load (an edited
	 * line may have grown past USERS_LINE_MAX, say). */
	users_init(&u);
	if (users_parse(&u, out->data, out->len, path, err) < 0)
		return USERS_EDIT_BAD_FILE;
	users_free(&u);
	return USERS_EDIT_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Opens and locks the current file; retries if it was replaced while
 * we waited for the lock. Returns the fd, -1 if it does not exist (and
 * create is false), or -2 on error. */
static int lock_file(const char *path, bool create, struct buf *err)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | (create ? O_CREAT : 0),
			      0600);
		if (fd < 0 && errno == ENOENT && !create)
			return -1;
		if (fd < 0)
			goto fail;
		if (flock(fd, LOCK_EX) < 0) {
			close(fd);
			goto fail;
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
fail:
	buf_printf(err, "%s: %s\n", path, strerror(errno));
	return -2;
}

static int replace_file(const char *path, const struct stat *old,
			const struct buf *text, struct buf *err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *dcopy = xstrdup(path);
	const char *dir = dirname(dcopy);
	int rc = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		buf_printf(err, "%s: %s\n", tmp, strerror(errno));
		goto out;
	}
	/* The new file takes the old one's owner, group and mode (root
	 * editing root:run_user 0640 keeps it so: the auth process reads
	 * it through that group), less any access for others: it holds
	 * hashes. Owner first: chown may clear mode bits. */
	if ((old && (old->st_uid != geteuid() || old->st_gid != getegid()) &&
	     fchown(fd, old->st_uid, old->st_gid) < 0) ||
	    fchmod(fd, old ? old->st_mode & 07770 : 0600) < 0 ||
	    write_all(fd, text->data ? text->data : "", text->len) < 0 ||
	    fsync(fd) < 0) {
		buf_printf(err, "%s: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		buf_printf(err, "%s: %s\n", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		buf_printf(err, "%s: fsync: %s\n", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = 0;
out:
	free(tmp);
	free(dcopy);
	return rc;
}

static void wipe(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

enum users_edit_status users_edit(const char *path, const struct users_edit *e,
				  struct buf *err)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct stat st;
	bool have_st = false;
	enum users_edit_status r;
	int fd = lock_file(path, e->op == USERS_EDIT_ADD, err);
	if (fd == -2)
		return USERS_EDIT_IO;
	if (fd >= 0) {
		if (fstat(fd, &st) < 0 ||
		    users_read_fd(fd, USERS_FILE_MAX, &in) < 0) {
			buf_printf(err, "%s: %s\n", path, strerror(errno));
			r = USERS_EDIT_IO;
			goto out;
		}
		have_st = true;
	}
	r = users_edit_text(buf_str(&in), path, e, &out, err);
	if (r == USERS_EDIT_OK &&
	    replace_file(path, have_st ? &st : NULL, &out, err) < 0)
		r = USERS_EDIT_IO;
out:
	if (fd >= 0)
		close(fd); /* drops the lock */
	wipe(&in);
	wipe(&out);
	return r;
}
