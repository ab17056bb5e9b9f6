/* Delivery into a Maildir (tmp/ -> fsync -> new/ -> fsync new/). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/crlf.h"
#include "store/store_int.h"

static atomic_uint deliver_counter;

/* The host part of a Maildir name: '/' and ':' (and our ',') escaped as
 * the Maildir spec says ("\057", "\072"). */
static void host_part(struct buf *b)
{
	char host[256];
	if (gethostname(host, sizeof host) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	for (const char *p = host; *p; p++) {
		if (*p == '/')
			buf_appends(b, "\\057");
		else if (*p == ':')
			buf_appends(b, "\\072");
		else if (*p == ',')
			buf_appends(b, "\\054");
		else
			buf_appendc(b, *p);
	}
}

/* CRLF -> LF, final LF added when missing; bare CRs stay. */
static char *to_lf(const char *data, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		out[o++] = data[i];
	}
	if (o > 0 && out[o - 1] != '\n')
		out[o++] = '\n';
	*outlen = o;
	return out;
}

int store_deliver(const char *path, const char *data, size_t len,
		  int64_t internal_date, char *err, size_t errsz)
{
	size_t flen;
	char *body = to_lf(data, len, &flen);
	uint64_t wire = crlf_wire_size(body, flen);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned q = atomic_fetch_add(&deliver_counter, 1);
	struct buf base = BUF_INIT;
	buf_printf(&base, "%lld.M%06ldP%ldQ%u.", (long long)tv.tv_sec,
		   (long)tv.tv_usec, (long)getpid(), q);
	host_part(&base);
	buf_cstr(&base);

	char *tmp = xasprintf("%s/tmp/%s", path, base.data);
	char *dst = xasprintf("%s/new/%s,S=%zu,W=%llu", path, base.data, flen,
			      (unsigned long long)wire);
	char *newdir = xasprintf("%s/new", path);
	int e;
	const struct timespec mtime = { .tv_sec = (time_t)internal_date };
	int rc = store_write_durable(tmp, O_EXCL, body, flen, &mtime, err, errsz);
	if (rc < 0) {
		/* Whatever the cause, the sender keeps the message and retries. */
		if (rc != STORE_EPERM && rc != STORE_ENOENT)
			rc = STORE_ETEMP;
		goto out;
	}
	/* link() + unlink() never replaces an existing file, unlike
	 * rename(); the name is unique anyway (time, pid, counter). */
	if (link(tmp, dst) < 0 &&
	    !((errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) &&
	      rename(tmp, dst) == 0)) {
		e = errno;
		rc = store_err(err, errsz,
			       e == EEXIST ? STORE_ETEMP : store_errno_code(e),
			       "link %s: %s", dst, strerror(e));
		unlink(tmp);
		goto out;
	}
	unlink(tmp);
	rc = store_fsync_dir(newdir, err, errsz);
	if (rc < 0) {
		/* Not durable: take it back so nobody says OK for it. */
		unlink(dst);
		rc = STORE_ETEMP;
	}
out:
	free(tmp);
	free(dst);
	free(newdir);
	free(body);
	buf_free(&base);
	return rc;
}
