/* \Recent (RFC 3501 section 2.3.2): a message is recent in the one
 * session that is first told of it. What has been handed out is one
 * number per mailbox, the lowest UID not yet claimed, in
 * <mailbox>/postern-recent (4 octets, little-endian) -- Dovecot keeps
 * the same number in its index header. It is soft state: no fsync; if
 * it is lost, messages are recent once more, which clients take as
 * "new to you", never as lost mail. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/store_int.h"

#define RECENT_FILE "postern-recent"

int store_recent_claim(const char *mbox_path, uint32_t upto, bool claim,
		       uint32_t *from, char *err, size_t errsz)
{
	char path[4096];
	*from = 1;
	if (snprintf(path, sizeof path, "%s/" RECENT_FILE, mbox_path) >=
	    (int)sizeof path)
		return store_err(err, errsz, STORE_EPERM, "path too long");
	int fd = open(path, (claim ? O_RDWR | O_CREAT : O_RDONLY) |
				    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == ENOENT && !claim)
			return 0; /* nothing claimed yet */
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", path, strerror(errno));
	}
	int rc = 0;
	unsigned char b[4];
	if (flock(fd, claim ? LOCK_EX : LOCK_SH) < 0) {
		rc = store_err(err, errsz, STORE_ETEMP, "flock %s: %s", path,
			       strerror(errno));
		goto out;
	}
	ssize_t n = pread(fd, b, sizeof b, 0);
	if (n == (ssize_t)sizeof b) {
		uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
			     (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		if (v > 0)
			*from = v;
	}
	if (claim && upto > *from) {
		b[0] = (unsigned char)upto;
		b[1] = (unsigned char)(upto >> 8);
		b[2] = (unsigned char)(upto >> 16);
		b[3] = (unsigned char)(upto >> 24);
		if (pwrite(fd, b, sizeof b, 0) != (ssize_t)sizeof b)
			rc = store_err(err, errsz, store_errno_code(errno),
				       "write %s: %s", path, strerror(errno));
	}
out:
	close(fd);
	return rc;
}
