/* File-system helpers of the store: error reasons, durable atomic
 * writes, whole-file reads, wire sizes, the index lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "mime/crlf.h"
#include "store/store_int.h"

int store_err(char *err, size_t errsz, int code, const char *fmt, ...)
{
	if (err && errsz > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return code;
}

int store_errno_code(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return STORE_ENOENT;
	case EACCES:
	case EPERM:
	case EROFS:
	case ENAMETOOLONG:
	case ELOOP:
		return STORE_EPERM;
	default: /* ENOSPC, EDQUOT, EIO, EMFILE, EINTR, ... */
		return STORE_ETEMP;
	}
}

static ssize_t write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	size_t done = 0;
	while (done < len) {
		ssize_t r = write(fd, p + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int store_fsync_dir(const char *dir, char *err, size_t errsz)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", dir, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return store_err(err, errsz, STORE_ETEMP, "fsync %s: %s", dir,
				 strerror(e));
	}
	close(fd);
	return 0;
}

int store_file_finish(int fd, const char *tmp, int64_t mtime, int e,
		      char *err, size_t errsz)
{
	struct timespec ts[2];
	ts[0] = ts[1] = (struct timespec){ .tv_sec = (time_t)mtime };
	if (!e && (futimens(fd, ts) < 0 || fsync(fd) < 0))
		e = errno;
	/* close() can report a delayed write error (NFS): not durable. */
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(tmp);
		return store_err(err, errsz, store_errno_code(e),
				 "write %s: %s", tmp, strerror(e));
	}
	return 0;
}

int store_write_durable(const char *tmp, int oflags, const void *data,
			size_t len, const struct timespec *mtime, char *err,
			size_t errsz)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | oflags, 0600);
	if (fd < 0) {
		int e = errno;
		return store_err(err, errsz, store_errno_code(e), "open %s: %s",
				 tmp, strerror(e));
	}
	struct timespec ts[2];
	if (mtime)
		ts[0] = ts[1] = *mtime;
	if (write_all(fd, data, len) < 0 || (mtime && futimens(fd, ts) < 0) ||
	    fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return store_err(err, errsz, store_errno_code(e),
				 "write %s: %s", tmp, strerror(e));
	}
	/* close() can report a delayed write error (NFS): not durable. */
	if (close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return store_err(err, errsz, STORE_ETEMP, "close %s: %s", tmp,
				 strerror(e));
	}
	return 0;
}

int store_write_atomic(const char *dir, const char *name, const void *data,
		       size_t len, char *err, size_t errsz)
{
	char *tmp = xasprintf("%s/%s.tmp", dir, name);
	char *dst = xasprintf("%s/%s", dir, name);
	int e;
	int rc = store_write_durable(tmp, O_TRUNC, data, len, NULL, err, errsz);
	if (rc < 0)
		goto out;
	if (rename(tmp, dst) < 0) {
		e = errno;
		rc = store_err(err, errsz, store_errno_code(e),
			       "rename %s: %s", tmp, strerror(e));
		unlink(tmp);
		goto out;
	}
	rc = store_fsync_dir(dir, err, errsz);
out:
	free(tmp);
	free(dst);
	return rc;
}

int store_read_file(const char *file, char **data, size_t *len, char *err,
		    size_t errsz)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return store_err(err, errsz, STORE_ETEMP, "fstat %s: %s", file,
				 strerror(e));
	}
	/* One read of st_size bytes and one that sees EOF, normally. */
	size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
	char *p = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) { /* the file grew: keep reading */
			cap *= 2;
			p = xrealloc(p, cap + 1);
		}
		ssize_t r = read(fd, p + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(p);
			close(fd);
			return store_err(err, errsz, STORE_ETEMP,
					 "read %s: %s", file, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}

int store_file_wire_size(int dirfd, const char *name, uint64_t *wire,
			 uint64_t *file_size, char *err, size_t errsz)
{
	enum { CHUNK = 64 * 1024 };
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", name, strerror(errno));
	char *in = xmalloc(CHUNK), *out = xmalloc(2 * CHUNK + 1);
	struct crlf_state st;
	uint64_t w = 0, fs = 0;
	int rc = 0;
	crlf_init(&st, false);
	for (;;) {
		ssize_t r = read(fd, in, CHUNK);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = store_err(err, errsz, STORE_ETEMP, "read %s: %s",
				       name, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		fs += (uint64_t)r;
		w += crlf_convert(&st, in, (size_t)r, out);
	}
	w += crlf_finish(&st, out);
	free(in);
	free(out);
	close(fd);
	if (rc == 0) {
		*wire = w;
		*file_size = fs;
	}
	return rc;
}

int store_index_lock(const char *path, char *err, size_t errsz)
{
	char *file = xasprintf("%s/" STORE_LOCK_NAME, path);
	int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		int rc = store_err(err, errsz, store_errno_code(e),
				   "open %s: %s", file, strerror(e));
		free(file);
		return rc;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		int rc = store_err(err, errsz, STORE_ETEMP, "flock %s: %s",
				   file, strerror(e));
		free(file);
		return rc;
	}
	free(file);
	return fd;
}
