/* Spool files (core/spool.h). */
#include "core/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/xmalloc.h"

int spool_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
		       errno == EINVAL)) {
		/* No O_TMPFILE on this file system: a named file,
		 * unlinked at once. */
		char *tmpl = xasprintf("%s/postern-spool.XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
		free(tmpl);
	}
	return fd;
}

int spool_append(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int spool_copy(int out, int in, uint64_t len)
{
	loff_t off = 0;
	/* In the kernel, without a trip through user space (and a
	 * reflink where the file system shares blocks). */
	while ((uint64_t)off < len) {
		uint64_t left = len - (uint64_t)off;
		size_t want = left > (1u << 30) ? (1u << 30) : (size_t)left;
		ssize_t n = copy_file_range(in, &off, out, NULL, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && off == 0 &&
		    (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
		     errno == EOPNOTSUPP || errno == EBADF))
			break; /* not here: copy by hand */
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO; /* in is shorter than len */
			return -1;
		}
	}
	if ((uint64_t)off >= len)
		return 0;
	char *buf = xmalloc(65536);
	int rc = 0;
	while ((uint64_t)off < len) {
		uint64_t left = len - (uint64_t)off;
		size_t want = left > 65536 ? 65536 : (size_t)left;
		ssize_t n = pread(in, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			rc = -1;
			break;
		}
		if (spool_append(out, buf, (size_t)n) < 0) {
			rc = -1;
			break;
		}
		off += n;
	}
	int e = errno;
	free(buf);
	errno = e;
	return rc;
}
