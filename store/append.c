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
	struct buf b = BUF_INIT;
	/* 'I' marks IMAP-made names apart from deliver.c's (same scheme). */
	buf_printf(&b, "%lld.M%06ldP%ldI%u.", (long long)tv.tv_sec,
		   (long)tv.tv_usec, (long)getpid(),
		   atomic_fetch_add(&unique_counter, 1));
	maildir_host_part(&b);
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* The message: pieces in memory, or a file read from offset 0. */
struct msg_src {
	const struct iovec *iov;
	size_t iovcnt;
	int fd; /* >= 0: read from here instead */
};

#define SRC_CHUNK 65536

/* Calls fn for each piece in order; returns 0 or an errno value. */
static int src_each(const struct msg_src *s,
		    int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	if (s->fd < 0) {
		for (size_t i = 0; i < s->iovcnt; i++) {
			int e = fn(ctx, s->iov[i].iov_base, s->iov[i].iov_len);
			if (e)
				return e;
		}
		return 0;
	}
	char *buf = xmalloc(SRC_CHUNK);
	off_t off = 0;
	int e = 0;
	for (;;) {
		ssize_t r = pread(s->fd, buf, SRC_CHUNK, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			break;
		}
		if (r == 0)
			break;
		off += r;
		if ((e = fn(ctx, buf, (size_t)r)) != 0)
			break;
	}
	free(buf);
	return e;
}

struct clean_scan {
	char prev;
	bool pending_cr, clean;
	uint64_t total;
};

static int clean_piece(void *ctx, const char *p, size_t n)
{
	struct clean_scan *c = ctx;
	for (size_t k = 0; k < n; k++) {
		char ch = p[k];
		if (c->pending_cr && ch != '\n')
			c->clean = false;
		if (ch == '\n' && c->prev != '\r')
			c->clean = false;
		c->pending_cr = ch == '\r';
		c->prev = ch;
	}
	c->total += n;
	return 0;
}

/* Every LF preceded by CR, every CR followed by LF, ends with CRLF. */
static int src_clean(const struct msg_src *s, bool *clean, uint64_t *total)
{
	struct clean_scan c = { .clean = true };
	int e = src_each(s, clean_piece, &c);
	*total = c.total;
	*clean = c.clean && !c.pending_cr && c.total >= 2 && c.prev == '\n';
	return e;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct msg_writer {
	int fd;
	bool clean;
	uint64_t fsize, pop3;
	struct crlf_state cs;
	struct buf out;
	char *scratch;
};

static int write_piece(void *ctx, const char *p, size_t len)
{
	struct msg_writer *w = ctx;
	if (w->clean) {
		/* CRLF -> LF; the message is clean, so a CR is always the
		 * first half of a CRLF. */
		buf_clear(&w->out);
		buf_reserve(&w->out, len);
		for (size_t k = 0; k < len; k++)
			if (p[k] != '\r')
				w->out.data[w->out.len++] = p[k];
		w->fsize += w->out.len;
		return w->out.len ? write_all(w->fd, w->out.data, w->out.len)
				  : 0;
	}
	w->fsize += len;
	/* What POP3 will send: the CRLF-normalised form. */
	for (size_t off = 0; off < len; off += SRC_CHUNK) {
		size_t c = len - off < SRC_CHUNK ? len - off : SRC_CHUNK;
		if (!w->scratch)
			w->scratch = xmalloc(2 * SRC_CHUNK + 1);
		w->pop3 += crlf_convert(&w->cs, p + off, c, w->scratch);
	}
	return write_all(w->fd, p, len);
}

/* Writes the message into a new file at tmp; fills the sizes. */
static int write_msg(const char *tmp, const struct msg_src *src, bool clean,
		     int64_t internal_date, uint64_t *fsize, uint64_t *pop3,
		     char *err, size_t errsz)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", tmp, strerror(errno));
	struct msg_writer w = { .fd = fd, .clean = clean };
	crlf_init(&w.cs, false);
	int e = src_each(src, write_piece, &w);
	char fin[2];
	w.pop3 += crlf_finish(&w.cs, fin);
	free(w.scratch);
	buf_free(&w.out);
	int rc = store_file_finish(fd, tmp, internal_date, e, err, errsz);
	if (rc < 0)
		return rc;
	*fsize = w.fsize;
	*pop3 = w.pop3;
	return 0;
}

static int append_src(const char *path, const struct msg_src *src,
		      uint32_t flags, const struct str *keywords,
		      size_t n_keywords, int64_t internal_date, uint32_t *uid,
		      uint32_t *uidvalidity, char *err, size_t errsz);

int store_mailbox_append(const char *path, const struct iovec *iov,
			 size_t iovcnt, uint32_t flags,
			 const struct str *keywords, size_t n_keywords,
			 int64_t internal_date, uint32_t *uid,
			 uint32_t *uidvalidity, char *err, size_t errsz)
{
	struct msg_src src = { .iov = iov, .iovcnt = iovcnt, .fd = -1 };
	return append_src(path, &src, flags, keywords, n_keywords,
			  internal_date, uid, uidvalidity, err, errsz);
}

int store_mailbox_append_fd(const char *path, int fd, uint32_t flags,
			    const struct str *keywords, size_t n_keywords,
			    int64_t internal_date, uint32_t *uid,
			    uint32_t *uidvalidity, char *err, size_t errsz)
{
	struct msg_src src = { .fd = fd };
	return append_src(path, &src, flags, keywords, n_keywords,
			  internal_date, uid, uidvalidity, err, errsz);
}

static int append_src(const char *path, const struct msg_src *src,
		      uint32_t flags, const struct str *keywords,
		      size_t n_keywords, int64_t internal_date, uint32_t *uid,
		      uint32_t *uidvalidity, char *err, size_t errsz)
{
	if (flags & ~STORE_F_ALL)
		return store_err(err, errsz, STORE_EINVAL, "unknown flags");
	uint64_t total = 0, fsize = 0, pop3 = 0;
	bool clean = false;
	int e = src_clean(src, &clean, &total);
	if (e)
		return store_err(err, errsz, STORE_ETEMP, "read: %s",
				 strerror(e));
	char *base = maildir_unique();
	char *tmp = xasprintf("%s/tmp/%s", path, base);
	char *name = NULL, *dst = NULL, *cdir = xasprintf("%s/cur", path);
	struct mailbox mb = { .path = (char *)path };
	int lockfd = -1;
	int rc = write_msg(tmp, src, clean, internal_date, &fsize, &pop3, err,
			   errsz);
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
		e = errno;
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
