/* IMAP APPEND (store.h: store_mailbox_append): write the message into
 * tmp/, fsync, take a UID (durable in postern-uidstate first), link it
 * into cur/ under its final name, fsync cur/, record it in the log.
 *
 * Byte-exactness: IMAP must hand back exactly what was appended. A
 * "clean" message (every line ends in CRLF, no bare CR, final CRLF) is
 * stored with LF line ends like every delivery, so that other Maildir
 * programs read it normally; anything else is stored verbatim with W=
 * equal to S=. Readers (refresh.c: store_msg_read_wire) send a file whose
 * size equals its wire size as it is, and convert LF to CRLF otherwise:
 * an LF-form file always has at least one LF, so its wire size is larger
 * than its file size, and the two cases cannot be confused. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/crlf.h"
#include "store/store_int.h"

static atomic_uint unique_counter;

char *maildir_unique(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char host[256];
	if (gethostname(host, sizeof host) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	struct buf b = BUF_INIT;
	/* 'I' marks IMAP-made names apart from deliver.c's (same scheme). */
	buf_printf(&b, "%lld.M%06ldP%ldI%u.", (long long)tv.tv_sec,
		   (long)tv.tv_usec, (long)getpid(),
		   atomic_fetch_add(&unique_counter, 1));
	for (const char *p = host; *p && b.len < 200; p++) {
		if (*p == '/')
			buf_appends(&b, "\\057");
		else if (*p == ':')
			buf_appends(&b, "\\072");
		else if (*p == ',')
			buf_appends(&b, "\\054");
		else
			buf_appendc(&b, *p);
	}
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* Every LF preceded by CR, every CR followed by LF, ends with CRLF. */
static bool iov_clean(const struct iovec *iov, size_t n, uint64_t *total)
{
	char prev = 0;
	bool pending_cr = false, clean = true;
	uint64_t t = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = iov[i].iov_base;
		for (size_t k = 0; k < iov[i].iov_len; k++) {
			char c = p[k];
			if (pending_cr && c != '\n')
				clean = false;
			if (c == '\n' && prev != '\r')
				clean = false;
			pending_cr = c == '\r';
			prev = c;
		}
		t += iov[i].iov_len;
	}
	*total = t;
	return clean && !pending_cr && t >= 2 && prev == '\n';
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
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

/* Writes the message into a new file at tmp; fills the sizes. */
static int write_msg(const char *tmp, const struct iovec *iov, size_t n,
		     bool clean, int64_t internal_date, uint64_t *fsize,
		     uint64_t *pop3, char *err, size_t errsz)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", tmp, strerror(errno));
	struct buf out = BUF_INIT;
	struct crlf_state cs;
	crlf_init(&cs, false);
	uint64_t fs = 0, ps = 0;
	int e = 0;
	char *scratch = NULL;
	for (size_t i = 0; i < n && !e; i++) {
		const char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		if (clean) {
			/* CRLF -> LF; the message is clean, so a CR is
			 * always the first half of a CRLF. */
			buf_clear(&out);
			for (size_t k = 0; k < len; k++)
				if (p[k] != '\r')
					buf_appendc(&out, p[k]);
			if (out.len && write_all(fd, out.data, out.len) < 0)
				e = errno;
			fs += out.len;
		} else {
			if (write_all(fd, p, len) < 0)
				e = errno;
			fs += len;
			/* What POP3 will send: the CRLF-normalised form. */
			for (size_t off = 0; off < len; off += 65536) {
				size_t c = len - off < 65536 ? len - off : 65536;
				if (!scratch)
					scratch = xmalloc(2 * 65536 + 1);
				ps += crlf_convert(&cs, p + off, c, scratch);
			}
		}
	}
	char fin[2];
	ps += crlf_finish(&cs, fin);
	free(scratch);
	buf_free(&out);
	struct timespec ts[2];
	ts[0] = ts[1] = (struct timespec){ .tv_sec = (time_t)internal_date };
	if (!e && (futimens(fd, ts) < 0 || fsync(fd) < 0))
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(tmp);
		return store_err(err, errsz, store_errno_code(e),
				 "write %s: %s", tmp, strerror(e));
	}
	*fsize = fs;
	*pop3 = ps;
	return 0;
}

int store_mailbox_append(const char *path, const struct iovec *iov,
			 size_t iovcnt, uint32_t flags,
			 const struct str *keywords, size_t n_keywords,
			 int64_t internal_date, uint32_t *uid,
			 uint32_t *uidvalidity, char *err, size_t errsz)
{
	if (flags & ~STORE_F_ALL)
		return store_err(err, errsz, STORE_EINVAL, "unknown flags");
	uint64_t total, fsize = 0, pop3 = 0;
	bool clean = iov_clean(iov, iovcnt, &total);
	char *base = maildir_unique();
	char *tmp = xasprintf("%s/tmp/%s", path, base);
	char *name = NULL, *dst = NULL, *cdir = xasprintf("%s/cur", path);
	struct mailbox mb = { .path = (char *)path };
	int lockfd = -1;
	int rc = write_msg(tmp, iov, iovcnt, clean, internal_date, &fsize,
			   &pop3, err, errsz);
	if (rc < 0)
		goto out;
	if (clean)
		pop3 = total;
	lockfd = mailbox_lock_sync(&mb, err, errsz);
	if (lockfd < 0) {
		rc = lockfd;
		goto out;
	}
	uint32_t kw = 0;
	if ((rc = keywords_bits(&mb, keywords, n_keywords, true, &kw, err,
				errsz)) < 0)
		goto out;
	if (mb.uidnext == UINT32_MAX) {
		rc = store_err(err, errsz, STORE_EPERM, "UID space exhausted");
		goto out;
	}
	/* The UID is durable before any name shows it. */
	uint32_t u = mb.uidnext++;
	if ((rc = uidstate_write(path, mb.uidvalidity, mb.uidnext,
				 mb.modseq_reserved, err, errsz)) < 0)
		goto out;
	struct buf nb = BUF_INIT;
	buf_printf(&nb, "%s,S=%llu,W=%llu,U=%u:2,", base,
		   (unsigned long long)fsize, (unsigned long long)total,
		   (unsigned)u);
	flags_info(flags, kw, NULL, &nb);
	name = xstrdup(buf_cstr(&nb));
	buf_free(&nb);
	dst = xasprintf("%s/%s", cdir, name);
	if (link(tmp, dst) < 0 &&
	    !((errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) &&
	      rename(tmp, dst) == 0)) {
		int e = errno;
		rc = store_err(err, errsz, store_errno_code(e), "link %s: %s",
			       dst, strerror(e));
		goto out;
	}
	unlink(tmp);
	if ((rc = store_fsync_dir(cdir, err, errsz)) < 0) {
		unlink(dst);
		goto out;
	}
	struct store_msg m = {
		.uid = u, .flags = flags, .keywords = kw, .size = total,
		.pop3_size = pop3, .file_size = fsize,
		.internal_date = internal_date,
		.modseq = ++mb.highestmodseq, .filename = name,
	};
	mailbox_restamp_cur(&mb);
	struct log_rec r = { &m, 0 };
	if ((rc = mailbox_commit(&mb, &r, 1, err, errsz)) < 0) {
		/* Not recorded: take it back so nobody says OK for it (the
		 * UID stays used, which is allowed). */
		unlink(dst);
		goto out;
	}
	*uid = u;
	*uidvalidity = mb.uidvalidity;
out:
	if (rc < 0)
		unlink(tmp);
	if (lockfd >= 0)
		close(lockfd);
	mailbox_clear(&mb);
	for (size_t i = 0; i < mb.kw.n; i++)
		free(mb.kw.name[i]);
	free(base);
	free(tmp);
	free(name);
	free(dst);
	free(cdir);
	return rc;
}
