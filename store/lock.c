/* POP3 maildrop lock (RFC 1939 section 8: one session per maildrop) and
 * LOGIN-DELAY bookkeeping (RFC 2449 section 6.5). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "store/store_int.h"

int store_pop3_lock(const char *path, char *err, size_t errsz)
{
	char *file = xasprintf("%s/" STORE_POP3_LOCK_NAME, path);
	/* flock() locks belong to the open file description: a second
	 * open() in this same process conflicts too, as it must. */
	int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int rc;
	if (fd < 0) {
		rc = store_err(err, errsz, store_errno_code(errno),
			       "open %s: %s", file, strerror(errno));
		free(file);
		return rc;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		close(fd);
		if (e == EWOULDBLOCK)
			rc = store_err(err, errsz, STORE_EBUSY,
				       "%s: held by another session", file);
		else
			rc = store_err(err, errsz, STORE_ETEMP, "flock %s: %s",
				       file, strerror(e));
		free(file);
		return rc;
	}
	free(file);
	return fd;
}

int64_t store_pop3_login_touch(const char *path, int64_t now,
			       int64_t min_gap)
{
	char *file = xasprintf("%s/" STORE_POP3_LOGIN_NAME, path);
	struct stat st;
	int64_t since = INT64_MAX;
	if (stat(file, &st) == 0) {
		since = now - (int64_t)st.st_mtim.tv_sec;
		if (since < 0)
			since = 0; /* the clock went back */
	} else {
		int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	/* A refused login is not a login: it must not push the wait back. */
	if (since < min_gap) {
		free(file);
		return since;
	}
	/* Best effort: failing to record a login must not refuse it. */
	struct timespec ts[2] = { { .tv_sec = (time_t)now, .tv_nsec = 0 },
				  { .tv_sec = (time_t)now, .tv_nsec = 0 } };
	(void)utimensat(AT_FDCWD, file, ts, 0);
	free(file);
	return since;
}
