/* postern-index: the per-mailbox cache of message metadata, and
 * postern-uidstate: the tiny durable record of UIDVALIDITY, UIDNEXT and
 * the MODSEQ reservation.
 *
 * postern-index, all integers little-endian:
 *   header (80 bytes)
 *     0  magic "PSTNIDX\0"          8  u32 version (2)
 *    12  u32 uidvalidity           16  u32 uidnext
 *    20  u32 count (records)       24  u32 reserved (0)
 *    32  u64 highestmodseq
 *    40  i64 cur/ mtime sec        48  i64 cur/ mtime nsec
 *    56  i64 new/ mtime sec        64  i64 new/ mtime nsec
 *        (0,0 = untrusted: the next open rescans the directory)
 *    72  u64 generation: the postern-log that continues this index
 *        carries the same number (log.c)
 *   count records, ascending UID (64 bytes + name), see rec_put()
 *   u32 crc32 (zlib) of everything before it.
 * Anything that does not check out makes the index invalid, and the
 * caller rebuilds it from the file names. Version 1 indexes (72-byte
 * header, 52-byte records: no keyword bits, no POP3 size) are read too,
 * and written back as version 2 at the next index write.
 *
 * postern-uidstate: "<uidvalidity> <uidnext> <modseq>\n". modseq is a
 * ceiling: no MODSEQ above it was ever recorded, so an index rebuilt after
 * loss starts there and MODSEQs never go backwards (RFC 7162 section 3.1
 * needs them to grow forever). It is raised in steps of
 * STORE_MODSEQ_STEP, so one durable write covers thousands of changes.
 * The two-field form of older versions reads as modseq 0. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

#define IDX_MAGIC "PSTNIDX"
#define IDX_VERSION 2u
#define IDX_HDR 80u
#define IDX_HDR_V1 72u
#define IDX_REC_V1 52u
#define IDX_NAME_MAX 255u

void put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}
void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
uint16_t get_u16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return le16toh(v);
}
uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return le32toh(v);
}
uint64_t get_u64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return le64toh(v);
}

uint32_t crc_of(const unsigned char *p, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (len > 0) {
		uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

static bool invalid(const char *path, const char *why)
{
	char esc[LOG_ESC_MAX];
	log_kv(LOG_WARN, "event=index_invalid mailbox=%s reason=\"%s\"",
	       log_esc(esc, sizeof esc, path, strlen(path)), why);
	return false;
}

static size_t rec_get_v1(const unsigned char *r, size_t avail,
			 struct store_msg *m, uint8_t *state);

/* Maps the index read-only. The file is only ever replaced by rename
 * (store_write_atomic), never rewritten or truncated in place, so the
 * mapping stays valid (the old inode lives on while it is mapped) and the
 * names in it can be pointed at for as long as mb keeps it. */
static int index_map(const char *file, void **map, size_t *len, char *err,
		     size_t errsz)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_err(err, errsz, store_errno_code(errno),
				 "open %s: %s", file, strerror(errno));
	struct stat st;
	int rc = 0;
	*map = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0) {
		rc = store_err(err, errsz, STORE_ETEMP, "fstat %s: %s", file,
			       strerror(errno));
	} else if (st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);
		if (p == MAP_FAILED)
			rc = store_err(err, errsz, STORE_ETEMP, "mmap %s: %s",
				       file, strerror(errno));
		else {
			*map = p;
			*len = (size_t)st.st_size;
		}
	}
	close(fd);
	return rc;
}

void index_unmap(struct mailbox *mb)
{
	if (mb->index_map)
		munmap(mb->index_map, mb->index_map_len);
	mb->index_map = NULL;
	mb->index_map_len = 0;
}

void index_release_pages(const struct mailbox *mb)
{
	/* A private read-only file mapping: dropped pages come back from
	 * the page cache (or disk) when a name is next read, so a session
	 * that sits idle holds none of them. */
	if (mb->index_map)
		(void)madvise(mb->index_map, mb->index_map_len, MADV_DONTNEED);
}

bool index_read(struct mailbox *mb)
{
	char *file = xasprintf("%s/" STORE_INDEX_NAME, mb->path);
	void *data = NULL;
	char err[256];
	size_t len = 0;
	int rc = index_map(file, &data, &len, err, sizeof err);
	free(file);
	mailbox_clear(mb);
	if (rc == STORE_ENOENT)
		return false; /* first open, or deleted: quietly rebuild */
	if (rc < 0)
		return invalid(mb->path, err);

	const unsigned char *p = (const unsigned char *)data;
	bool ok = false;
	const char *why = "truncated";
	if (len < IDX_HDR_V1 + 4)
		goto out;
	why = "bad checksum";
	if (crc_of(p, len - 4) != get_u32(p + len - 4))
		goto out;
	why = "bad magic or version";
	uint32_t version = get_u32(p + 8);
	if (memcmp(p, IDX_MAGIC, 8) != 0 ||
	    (version != IDX_VERSION && version != 1))
		goto out;
	/* Version 1 (POP3 only) is read once and written as version 2, so
	 * an upgrade keeps POP3's hidden and first-retrieval marks, which
	 * only the index holds. */
	size_t hdr = version == 1 ? IDX_HDR_V1 : IDX_HDR;
	size_t recsz = version == 1 ? IDX_REC_V1 : STORE_REC_SIZE;
	why = "truncated";
	if (len < hdr + 4)
		goto out;
	mb->uidvalidity = get_u32(p + 12);
	mb->uidnext = get_u32(p + 16);
	uint32_t count = get_u32(p + 20);
	mb->highestmodseq = get_u64(p + 32);
	mb->cur_stamp.sec = (int64_t)get_u64(p + 40);
	mb->cur_stamp.nsec = (int64_t)get_u64(p + 48);
	mb->new_stamp.sec = (int64_t)get_u64(p + 56);
	mb->new_stamp.nsec = (int64_t)get_u64(p + 64);
	mb->log_gen = version == 1 ? 0 : get_u64(p + 72);
	why = "bad header";
	if (mb->uidvalidity == 0 || mb->uidnext == 0)
		goto out;

	size_t off = hdr, end = len - 4;
	why = "bad count";
	if (count > (end - off) / (recsz + 2))
		goto out;
	msg_vec_reserve(&mb->msgs, count);
	uint32_t prev_uid = 0;
	why = "bad record";
	for (uint32_t i = 0; i < count; i++) {
		struct store_msg m;
		uint8_t state;
		size_t used = version == 1
				      ? rec_get_v1(p + off, end - off, &m, &state)
				      : rec_get(p + off, end - off, &m, &state);
		if (used == 0 || m.uid <= prev_uid || m.uid >= mb->uidnext ||
		    state > 1)
			goto out;
		prev_uid = m.uid;
		*msg_vec_push(state ? &mb->tombs : &mb->msgs) = m;
		off += used;
	}
	why = "trailing bytes";
	if (off != end)
		goto out;
	ok = true;
out:
	if (!ok) {
		if (data)
			munmap(data, len);
		mailbox_clear(mb);
		return invalid(mb->path, why);
	}
	mb->index_map = data;
	mb->index_map_len = len;
	index_release_pages(mb);
	return true;
}

/* Version 1 records: the first 52 bytes of rec_put's layout (no keyword
 * bits, no POP3 size), then the name. Keywords come from the name's
 * letters; POP3 size was the wire size then (no verbatim appends). */
static size_t rec_get_v1(const unsigned char *r, size_t avail,
			 struct store_msg *m, uint8_t *state)
{
	if (avail < IDX_REC_V1)
		return 0;
	size_t nlen = get_u16(r + 50);
	*state = r[49];
	if (*state > 1 || r[48] > 1 || nlen == 0 || nlen > IDX_NAME_MAX ||
	    avail - IDX_REC_V1 < nlen + 1)
		return 0;
	const char *name = (const char *)r + IDX_REC_V1;
	/* The name must end in its NUL exactly (the mapped index is not
	 * NUL-terminated as a whole: no strlen here). */
	if (memchr(name, '/', nlen) ||
	    memchr(name, '\0', nlen + 1) != name + nlen)
		return 0;
	memset(m, 0, sizeof *m);
	m->uid = get_u32(r);
	m->flags = get_u32(r + 4);
	m->size = m->pop3_size = get_u64(r + 8);
	m->file_size = get_u64(r + 16);
	m->internal_date = (int64_t)get_u64(r + 24);
	m->modseq = get_u64(r + 32);
	m->pop3_first_retr = (int64_t)get_u64(r + 40);
	m->pop3_hidden = r[48] != 0;
	m->filename = (char *)name;
	struct mname mn;
	mname_parse(name, &mn);
	m->keywords = keywords_of_info(mn.info);
	return m->uid ? IDX_REC_V1 + nlen + 1 : 0;
}

static void put_stamp(unsigned char *p, struct store_stamp s)
{
	put_u64(p, (uint64_t)s.sec);
	put_u64(p + 8, (uint64_t)s.nsec);
}

/* One message record, as in the index and the change log:
 *   0 u32 uid        4 u32 flags       8 u64 size (IMAP wire)
 *  16 u64 file_size 24 i64 internal_date
 *  32 u64 modseq    40 i64 pop3_first_retr
 *  48 u8 pop3_hidden 49 u8 state (0 live, 1 expunged: file to unlink,
 *                                 2 gone: forget the UID; log only)
 *  50 u16 name length (0 only for state 2)
 *  52 u32 keywords (bit i = letter 'a' + i)
 *  56 u64 pop3_size
 *  then the name (no '/', no NUL) and a NUL. */
void rec_put(struct buf *b, const struct store_msg *m, uint8_t state)
{
	unsigned char r[STORE_REC_SIZE];
	size_t nlen = state == 2 ? 0 : strlen(m->filename);
	if ((state != 2 && nlen == 0) || nlen > IDX_NAME_MAX)
		log_fatal("event=index_bad_name uid=%u len=%zu", m->uid, nlen);
	memset(r, 0, sizeof r);
	put_u32(r, m->uid);
	put_u32(r + 4, m->flags);
	put_u64(r + 8, m->size);
	put_u64(r + 16, m->file_size);
	put_u64(r + 24, (uint64_t)m->internal_date);
	put_u64(r + 32, m->modseq);
	put_u64(r + 40, (uint64_t)m->pop3_first_retr);
	r[48] = m->pop3_hidden ? 1 : 0;
	r[49] = state;
	put_u16(r + 50, (uint16_t)nlen);
	put_u32(r + 52, m->keywords);
	put_u64(r + 56, m->pop3_size);
	buf_append(b, r, STORE_REC_SIZE);
	buf_append(b, state == 2 ? "" : m->filename, nlen + 1);
}

size_t rec_get(const unsigned char *r, size_t avail, struct store_msg *m,
	       uint8_t *state)
{
	if (avail < STORE_REC_SIZE)
		return 0;
	size_t nlen = get_u16(r + 50);
	*state = r[49];
	if (*state > 2 || r[48] > 1 || (nlen == 0) != (*state == 2) ||
	    nlen > IDX_NAME_MAX || avail - STORE_REC_SIZE < nlen + 1)
		return 0;
	const char *name = (const char *)r + STORE_REC_SIZE;
	/* The name must end in its NUL exactly (the mapped index is not
	 * NUL-terminated as a whole: no strlen here). */
	if (memchr(name, '/', nlen) ||
	    memchr(name, '\0', nlen + 1) != name + nlen)
		return 0;
	memset(m, 0, sizeof *m);
	m->uid = get_u32(r);
	m->flags = get_u32(r + 4);
	m->size = get_u64(r + 8);
	m->file_size = get_u64(r + 16);
	m->internal_date = (int64_t)get_u64(r + 24);
	m->modseq = get_u64(r + 32);
	m->pop3_first_retr = (int64_t)get_u64(r + 40);
	m->pop3_hidden = r[48] != 0;
	m->keywords = get_u32(r + 52);
	m->pop3_size = get_u64(r + 56);
	m->filename = nlen ? (char *)name : NULL;
	if (m->uid == 0)
		return 0;
	return STORE_REC_SIZE + nlen + 1;
}

static int index_write_file(const struct mailbox *mb, char *err,
			    size_t errsz)
{
	struct buf b = BUF_INIT;
	unsigned char h[IDX_HDR];
	size_t live = 0;
	for (size_t k = 0; k < mb->msgs.n; k++)
		live += !mb->msgs.v[k].expunged;
	size_t total = live + mb->tombs.n;
	if (total > UINT32_MAX)
		log_fatal("event=index_too_many count=%zu", total);
	memset(h, 0, sizeof h);
	memcpy(h, IDX_MAGIC, 8);
	put_u32(h + 8, IDX_VERSION);
	put_u32(h + 12, mb->uidvalidity);
	put_u32(h + 16, mb->uidnext);
	put_u32(h + 20, (uint32_t)total);
	put_u64(h + 32, mb->highestmodseq);
	put_stamp(h + 40, mb->cur_stamp);
	put_stamp(h + 56, mb->new_stamp);
	put_u64(h + 72, mb->log_gen);
	buf_reserve(&b, IDX_HDR + total * (STORE_REC_SIZE + 64) + 4);
	buf_append(&b, h, IDX_HDR);

	/* Merge live records and tombstones in UID order. */
	size_t i = 0, j = 0;
	uint32_t prev = 0;
	while (i < mb->msgs.n || j < mb->tombs.n) {
		const struct store_msg *m;
		uint8_t state;
		if (i < mb->msgs.n && mb->msgs.v[i].expunged) {
			i++; /* gone from the store; only this view shows it */
			continue;
		}
		if (j == mb->tombs.n ||
		    (i < mb->msgs.n && mb->msgs.v[i].uid < mb->tombs.v[j].uid)) {
			m = &mb->msgs.v[i++];
			state = 0;
		} else {
			m = &mb->tombs.v[j++];
			state = 1;
		}
		if (m->uid <= prev || m->uid >= mb->uidnext)
			log_fatal("event=index_order_broken uid=%u prev=%u "
				  "uidnext=%u", m->uid, prev, mb->uidnext);
		prev = m->uid;
		rec_put(&b, m, state);
	}
	unsigned char c[4];
	put_u32(c, crc_of((const unsigned char *)b.data, b.len));
	buf_append(&b, c, 4);
	int rc = store_write_atomic(mb->path, STORE_INDEX_NAME, b.data, b.len,
				    err, errsz);
	buf_free(&b);
	return rc;
}

int index_write(struct mailbox *mb, char *err, size_t errsz)
{
	int rc = modseq_reserve(mb, err, errsz);
	if (rc < 0)
		return rc;
	/* A new generation: the old log (if any) is folded in and must not
	 * be replayed on top of this index, so it is replaced right after.
	 * A crash in between leaves a log of the old generation, which
	 * readers ignore. */
	uint64_t old_gen = mb->log_gen;
	mb->log_gen = old_gen + 1;
	rc = index_write_file(mb, err, errsz);
	if (rc < 0) {
		mb->log_gen = old_gen;
		return rc;
	}
	char *file = xasprintf("%s/" STORE_INDEX_NAME, mb->path);
	struct stat st;
	if (stat(file, &st) == 0)
		mailbox_index_note(mb, &st);
	else
		mb->idx_ino = 0;
	free(file);
	return log_reset(mb, err, errsz);
}

int modseq_reserve(struct mailbox *mb, char *err, size_t errsz)
{
	if (mb->highestmodseq <= mb->modseq_reserved)
		return 0;
	uint64_t res = mb->highestmodseq + STORE_MODSEQ_STEP;
	int rc = uidstate_write(mb->path, mb->uidvalidity, mb->uidnext, res,
				err, errsz);
	if (rc == 0)
		mb->modseq_reserved = res;
	return rc;
}

int uidstate_read(const char *path, uint32_t *uidvalidity, uint32_t *uidnext,
		  uint64_t *modseq)
{
	char *file = xasprintf("%s/" STORE_UIDSTATE_NAME, path);
	char *data = NULL, err[256];
	size_t len = 0;
	int rc = store_read_file(file, &data, &len, err, sizeof err);
	free(file);
	if (rc < 0)
		return -1;
	/* "<uidvalidity> <uidnext>[ <modseq>]\n", the first two non-zero. */
	struct str s = str_make(data, len), a, bb, c;
	unsigned long long uv, un, ms = 0;
	rc = -1;
	if (len > 0 && data[len - 1] == '\n') {
		s.len--;
		if (str_next_token(s, &a, &s) && str_next_token(s, &bb, &c) &&
		    str_to_u64(a, UINT32_MAX, &uv) &&
		    str_to_u64(bb, UINT32_MAX, &un) && uv > 0 && un > 0 &&
		    (c.len == 0 || str_to_u64(c, UINT64_MAX, &ms))) {
			*uidvalidity = (uint32_t)uv;
			*uidnext = (uint32_t)un;
			*modseq = ms;
			rc = 0;
		}
	}
	free(data);
	return rc;
}

int uidstate_write(const char *path, uint32_t uidvalidity, uint32_t uidnext,
		   uint64_t modseq, char *err, size_t errsz)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%u %u %llu\n",
			 (unsigned)uidvalidity, (unsigned)uidnext,
			 (unsigned long long)modseq);
	return store_write_atomic(path, STORE_UIDSTATE_NAME, line, (size_t)n,
				  err, errsz);
}
