/* Delivery into a Maildir (tmp/ -> fsync -> new/ -> fsync new/). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static atomic_uint deliver_counter;

/* The host part of a Maildir name: '/' and ':' (and our ',') escaped as
 * the Maildir spec says ("\057", "\072"). Worked out once per process:
 * every delivery needs it. */
static char host_escaped[256 * 4 + 1];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void host_init(void)
{
	char host[256];
	if (gethostname(host, sizeof host) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	char *o = host_escaped;
	for (const char *p = host; *p; p++) {
		const char *esc = *p == '/' ? "\\057" : *p == ':' ? "\\072" :
				  *p == ',' ? "\\054" : NULL;
		if (esc) {
			memcpy(o, esc, 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

void maildir_host_part(struct buf *b)
{
	pthread_once(&host_once, host_init);
	buf_appends(b, host_escaped);
}

/* The stored form: CRLF -> LF, a final LF added when missing, bare CRs
 * kept; converted while writing, so the body is never copied whole. */
struct lf_writer {
	int fd;
	int err;          /* errno of the first failed write, 0 = none */
	bool pending_cr;  /* an input CR that may be the start of a CRLF */
	bool prev_cr;     /* last output byte was CR (for the wire size) */
	char last;        /* last output byte */
	uint64_t flen;    /* output bytes */
	uint64_t wire;    /* crlf_wire_size() of the output so far */
	size_t used;
	char buf[65536];
};

static void lw_flush(struct lf_writer *w)
{
	size_t done = 0;
	while (!w->err && done < w->used) {
		ssize_t r = write(w->fd, w->buf + done, w->used - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			w->err = errno;
		else
			done += (size_t)r;
	}
	w->used = 0;
}

static inline void lw_out(struct lf_writer *w, char c)
{
	if (c == '\n' && !w->prev_cr)
		w->wire++;
	w->wire++;
	w->prev_cr = c == '\r';
	w->last = c;
	w->flen++;
	w->buf[w->used++] = c;
	if (w->used == sizeof w->buf)
		lw_flush(w);
}

static void lw_in(struct lf_writer *w, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (w->pending_cr) {
			w->pending_cr = false;
			if (c == '\n') {
				lw_out(w, '\n');
				continue;
			}
			lw_out(w, '\r');
		}
		if (c == '\r')
			w->pending_cr = true;
		else
			lw_out(w, c);
	}
}

static void lw_finish(struct lf_writer *w)
{
	if (w->pending_cr)
		lw_out(w, '\r');
	w->pending_cr = false;
	if (w->flen > 0 && w->last != '\n')
		lw_out(w, '\n');
	lw_flush(w);
}

/* The rest of a message from a spool file: len bytes from offset 0,
 * through lw_in in pieces of a fixed size. */
static void read_fd(struct lf_writer *w, int fd, uint64_t len)
{
	char *in = xmalloc(65536);
	uint64_t off = 0;
	while (off < len && !w->err) {
		size_t want = len - off > 65536 ? 65536 : (size_t)(len - off);
		ssize_t n = pread(fd, in, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? errno : EIO; /* short: not all of it */
			break;
		}
		lw_in(w, in, (size_t)n);
		off += (uint64_t)n;
	}
	free(in);
}

/* Streams the pieces into a new file at tmp: open, write, mtime, fsync,
 * close; on failure the file is unlinked. */
static int write_pieces(const char *tmp, const struct iovec *iov,
			size_t iovcnt, int in_fd, uint64_t in_len,
			int64_t internal_date, uint64_t *flen, uint64_t *wire,
			char *err, size_t errsz)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		return store_err(err, errsz, store_errno_code(e), "open %s: %s",
				 tmp, strerror(e));
	}
	struct lf_writer *w = xcalloc(1, sizeof *w);
	w->fd = fd;
	for (size_t i = 0; i < iovcnt && !w->err; i++)
		lw_in(w, iov[i].iov_base, iov[i].iov_len);
	if (in_fd >= 0 && !w->err)
		read_fd(w, in_fd, in_len);
	lw_finish(w);
	int e = w->err;
	*flen = w->flen;
	*wire = w->wire;
	free(w);
	return store_file_finish(fd, tmp, internal_date, e, err, errsz);
}

int store_deliverv(const char *path, const struct iovec *iov, size_t iovcnt,
		   int64_t internal_date, char *err, size_t errsz)
{
	return store_deliverv_fd(path, iov, iovcnt, -1, 0, internal_date, err,
				 errsz);
}

int store_deliverv_fd(const char *path, const struct iovec *iov,
		      size_t iovcnt, int fd, uint64_t len,
		      int64_t internal_date, char *err, size_t errsz)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned q = atomic_fetch_add(&deliver_counter, 1);
	struct buf base = BUF_INIT;
	buf_printf(&base, "%lld.M%06ldP%ldQ%u.", (long long)tv.tv_sec,
		   (long)tv.tv_usec, (long)getpid(), q);
	maildir_host_part(&base);
	buf_cstr(&base);

	char *tmp = xasprintf("%s/tmp/%s", path, base.data);
	char *dst = NULL;
	char *newdir = xasprintf("%s/new", path);
	uint64_t flen = 0, wire = 0;
	int e;
	int rc = write_pieces(tmp, iov, iovcnt, fd, len, internal_date, &flen,
			      &wire, err, errsz);
	if (rc < 0) {
		/* Whatever the cause, the sender keeps the message and retries. */
		if (rc != STORE_EPERM && rc != STORE_ENOENT)
			rc = STORE_ETEMP;
		goto out;
	}
	dst = xasprintf("%s/new/%s,S=%llu,W=%llu", path, base.data,
			(unsigned long long)flen, (unsigned long long)wire);
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
	buf_free(&base);
	return rc;
}

int store_deliver(const char *path, const char *data, size_t len,
		  int64_t internal_date, char *err, size_t errsz)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	return store_deliverv(path, &iov, 1, internal_date, err, errsz);
}
