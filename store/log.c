/* postern-log: the append-only change log beside postern-index.
 *
 * Rewriting a 100 000-message index for one flag change costs tens of
 * milliseconds; appending the changed record costs a write (and an
 * fdatasync when it holds a tombstone: see log_append). The index plus its log is the state; once the log grows
 * past a quarter of the index (or STORE_LOG_COMPACT_MIN) the next commit
 * writes a new index instead, which starts a new, empty log.
 *
 * Format, little-endian:
 *   header: "PSTNLOG\0", u64 generation (= the index's; a log of another
 *           generation is stale and ignored)
 *   transactions: u32 body length, body, u32 crc32(body)
 *     body: u32 uidnext, u32 record count, u64 highestmodseq,
 *           i64 cur/ sec, nsec, new/ sec, nsec (the index header's
 *           fields after this change), then the records (index.c
 *           rec_put: full records, state 0 live, 1 tombstone, 2 gone).
 * Replay is an upsert by UID, so applying a transaction twice is
 * harmless. A transaction that is cut short or fails its crc (a crash
 * while appending) ends the replay; the next writer truncates it away.
 * Writers hold the index lock; readers take it too (store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

#define LOG_MAGIC "PSTNLOG"
#define LOG_HDR 16u
#define TXN_HDR 48u


static struct store_msg *insert_at(struct msg_vec *mv, size_t at)
{
	msg_vec_push(mv);
	memmove(&mv->v[at + 1], &mv->v[at],
		(mv->n - 1 - at) * sizeof *mv->v);
	memset(&mv->v[at], 0, sizeof *mv->v);
	return &mv->v[at];
}

void log_apply(struct mailbox *mb, const struct store_msg *m, uint8_t state)
{
	size_t ins = 0, tins = 0;
	long i = store_msgs_find_uid(mb->msgs.v, mb->msgs.n, m->uid, &ins);
	long t = store_msgs_find_uid(mb->tombs.v, mb->tombs.n, m->uid,
				     &tins);
	if (state == 0) {
		struct store_msg *d = i >= 0 ? &mb->msgs.v[i]
					     : insert_at(&mb->msgs, ins);
		*d = *m;
		d->expunged = false;
		d->filename = strpool_dup(&mb->pool, m->filename,
					  strlen(m->filename));
	} else if (i >= 0 && !mb->seen_valid) {
		/* No session view to keep stable: just drop it. */
		memmove(&mb->msgs.v[i], &mb->msgs.v[i + 1],
			(mb->msgs.n - (size_t)i - 1) * sizeof *mb->msgs.v);
		mb->msgs.n--;
	} else if (i >= 0 && !mb->msgs.v[i].expunged) {
		mb->msgs.v[i].expunged = true;
		mb->msgs.v[i].filename = NULL;
		mb->pool.changed = true; /* its name may be dead now */
	}
	if (state == 1 && t < 0) {
		struct store_msg *d = insert_at(&mb->tombs, tins);
		*d = *m;
		d->filename = strpool_dup(&mb->pool, m->filename,
					  strlen(m->filename));
	} else if (state != 1 && t >= 0) {
		mb->pool.changed = true;
		memmove(&mb->tombs.v[t], &mb->tombs.v[t + 1],
			(mb->tombs.n - (size_t)t - 1) * sizeof *mb->tombs.v);
		mb->tombs.n--;
	}
}

static char *log_file(const struct mailbox *mb)
{
	return xasprintf("%s/" STORE_LOG_NAME, mb->path);
}

/* Applies the transactions in p[0..len); returns the bytes consumed. */
static size_t replay_buf(struct mailbox *mb, const unsigned char *p,
			 size_t len)
{
	size_t off = 0;
	while (len - off >= 4) {
		uint32_t blen = get_u32(p + off);
		if (blen < TXN_HDR || len - off - 4 < (size_t)blen + 4)
			break;
		const unsigned char *b = p + off + 4;
		if (crc_of(b, blen) != get_u32(b + blen))
			break;
		uint32_t uidnext = get_u32(b), nrec = get_u32(b + 4);
		size_t r = TXN_HDR;
		bool ok = true;
		/* Check the whole transaction before applying any of it. */
		for (uint32_t k = 0; k < nrec && ok; k++) {
			struct store_msg m;
			uint8_t st;
			size_t used = rec_get(b + r, blen - r, &m, &st);
			ok = used > 0 && m.uid < uidnext;
			r += used;
		}
		if (!ok || r != blen || uidnext == 0)
			break;
		r = TXN_HDR;
		for (uint32_t k = 0; k < nrec; k++) {
			struct store_msg m;
			uint8_t st;
			r += rec_get(b + r, blen - r, &m, &st);
			log_apply(mb, &m, st);
		}
		if (uidnext > mb->uidnext)
			mb->uidnext = uidnext;
		uint64_t hm = get_u64(b + 8);
		if (hm > mb->highestmodseq)
			mb->highestmodseq = hm;
		mb->cur_stamp.sec = (int64_t)get_u64(b + 16);
		mb->cur_stamp.nsec = (int64_t)get_u64(b + 24);
		mb->new_stamp.sec = (int64_t)get_u64(b + 32);
		mb->new_stamp.nsec = (int64_t)get_u64(b + 40);
		off += 4 + (size_t)blen + 4;
	}
	return off;
}

bool log_replay(struct mailbox *mb)
{
	char *file = log_file(mb);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	free(file);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		mb->log_ino = 0;
		mb->log_off = 0;
		return false;
	}
	uint64_t from = mb->log_off;
	unsigned char h[LOG_HDR];
	/* The header is read every time: an inode number alone may be a
	 * reused one. */
	bool same = st.st_ino == mb->log_ino &&
		    pread(fd, h, LOG_HDR, 0) == (ssize_t)LOG_HDR &&
		    get_u64(h + 8) == mb->log_gen &&
		    (uint64_t)st.st_size >= mb->log_off;
	if (!same) {
		mb->log_ino = st.st_ino;
		if (pread(fd, h, LOG_HDR, 0) != (ssize_t)LOG_HDR ||
		    memcmp(h, LOG_MAGIC, 8) != 0 ||
		    get_u64(h + 8) != mb->log_gen) {
			/* Stale (an index was written after it) or broken:
			 * the next writer replaces it. */
			mb->log_off = (uint64_t)st.st_size;
			close(fd);
			return false;
		}
		from = LOG_HDR;
	}
	bool applied = false;
	if ((uint64_t)st.st_size > from) {
		size_t len = (size_t)((uint64_t)st.st_size - from);
		unsigned char *p = xmalloc(len);
		ssize_t r = pread(fd, p, len, (off_t)from);
		if (r > 0) {
			size_t used = replay_buf(mb, p, (size_t)r);
			applied = used > 0;
			mb->log_off = from + used;
		}
		free(p);
	} else {
		mb->log_off = from;
	}
	close(fd);
	return applied;
}

int log_reset(struct mailbox *mb, char *err, size_t errsz)
{
	unsigned char h[LOG_HDR];
	memcpy(h, LOG_MAGIC, 8);
	put_u64(h + 8, mb->log_gen);
	int rc = store_write_atomic(mb->path, STORE_LOG_NAME, h, sizeof h, err,
				    errsz);
	if (rc < 0)
		return rc;
	char *file = log_file(mb);
	struct stat st;
	mb->log_ino = stat(file, &st) == 0 ? st.st_ino : 0;
	mb->log_off = LOG_HDR;
	free(file);
	return 0;
}

static void put_stamp(unsigned char *p, struct store_stamp s)
{
	put_u64(p, (uint64_t)s.sec);
	put_u64(p + 8, (uint64_t)s.nsec);
}

int log_append(struct mailbox *mb, const struct log_rec *recs, size_t n,
	       char *err, size_t errsz)
{
	char *file = log_file(mb);
	int fd = open(file, O_RDWR | O_CLOEXEC);
	struct stat st;
	int rc = 0;
	unsigned char lh[LOG_HDR];
	/* Only a log of this index's generation: a stale one (the index
	 * was written but the disk filled, or the process died, before
	 * its log was replaced) is ignored by every reader, so whatever
	 * went into it would be lost -- a tombstone too. */
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_ino != mb->log_ino ||
			mb->log_off < LOG_HDR ||
			pread(fd, lh, LOG_HDR, 0) != (ssize_t)LOG_HDR ||
			memcmp(lh, LOG_MAGIC, 8) != 0 ||
			get_u64(lh + 8) != mb->log_gen)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		/* Missing or stale: start this generation's log. */
		if ((rc = log_reset(mb, err, errsz)) < 0)
			goto out;
		fd = open(file, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			rc = store_err(err, errsz, store_errno_code(errno),
				       "open %s: %s", file, strerror(errno));
			goto out;
		}
	}
	struct buf b = BUF_INIT;
	unsigned char h[4 + TXN_HDR];
	memset(h, 0, sizeof h);
	put_u32(h + 4, mb->uidnext);
	put_u32(h + 8, (uint32_t)n);
	put_u64(h + 12, mb->highestmodseq);
	put_stamp(h + 20, mb->cur_stamp);
	put_stamp(h + 36, mb->new_stamp);
	buf_append(&b, h, sizeof h);
	for (size_t k = 0; k < n; k++)
		rec_put(&b, recs[k].m, recs[k].state);
	put_u32((unsigned char *)b.data, (uint32_t)(b.len - 4));
	unsigned char c[4];
	put_u32(c, crc_of((const unsigned char *)b.data + 4, b.len - 4));
	buf_append(&b, c, 4);
	/* A torn transaction of a crashed writer ends at log_off: cut it. */
	size_t done = 0;
	if (ftruncate(fd, (off_t)mb->log_off) < 0)
		rc = store_err(err, errsz, store_errno_code(errno),
			       "ftruncate %s: %s", file, strerror(errno));
	while (rc == 0 && done < b.len) {
		ssize_t w = pwrite(fd, b.data + done, b.len - done,
				   (off_t)(mb->log_off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = store_err(err, errsz, store_errno_code(errno),
				       "write %s: %s", file, strerror(errno));
		else
			done += (size_t)w;
	}
	/* Only a tombstone must survive a crash: it keeps an expunged
	 * message from coming back if its unlink is lost. Everything else
	 * a transaction says is also in the file names (flags, U=) and is
	 * found again by the scan that a lost or torn tail forces (its
	 * recorded directory times no longer match); MODSEQs stay unique
	 * through the reservation in postern-uidstate. So flag changes
	 * and appends are not synced -- Dovecot's mail_fsync=optimized
	 * makes the same choice -- and a STORE costs a write, not a disk
	 * round trip. */
	bool must_sync = false;
	for (size_t k = 0; k < n; k++)
		must_sync |= recs[k].state != 0;
	if (rc == 0 && must_sync && fdatasync(fd) < 0)
		rc = store_err(err, errsz, STORE_ETEMP, "fdatasync %s: %s",
			       file, strerror(errno));
	if (rc == 0) {
		mb->log_off += b.len;
	} else if (ftruncate(fd, (off_t)mb->log_off) < 0) {
		/* Readers stop at the torn transaction; the next writer
		 * cuts it. */
	}
	buf_free(&b);
	close(fd);
out:
	free(file);
	return rc;
}
