/* postern-index: the per-mailbox cache of message metadata, and
 * postern-uidstate: the tiny durable record of UIDVALIDITY/UIDNEXT.
 *
 * postern-index, all integers little-endian:
 *   header (72 bytes)
 *     0  magic "PSTNIDX\0"          8  u32 version (1)
 *    12  u32 uidvalidity           16  u32 uidnext
 *    20  u32 count (records)       24  u32 reserved (0)
 *    32  u64 highestmodseq
 *    40  i64 cur/ mtime sec        48  i64 cur/ mtime nsec
 *    56  i64 new/ mtime sec        64  i64 new/ mtime nsec
 *        (0,0 = untrusted: the next open rescans the directory)
 *   count records, ascending UID (52 bytes + name)
 *     0  u32 uid        4  u32 flags       8  u64 size (wire)
 *    16  u64 file_size 24  i64 internal_date
 *    32  u64 modseq    40  i64 pop3_first_retr
 *    48  u8 pop3_hidden 49 u8 state (0 live, 1 expunged: file to unlink)
 *    50  u16 name length, then the name (1..255 bytes, no '/', no NUL)
 *        and a NUL (so that loaded names point into the file's bytes)
 *   u32 crc32 (zlib) of everything before it.
 * Anything that does not check out makes the index invalid, and the
 * caller rebuilds it from the file names. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

#define IDX_MAGIC "PSTNIDX"
#define IDX_VERSION 1u
#define IDX_HDR 72u
#define IDX_REC 52u
#define IDX_NAME_MAX 255u

static void put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t get_u16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return le16toh(v);
}
static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return le32toh(v);
}
static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return le64toh(v);
}

static uint32_t crc_of(const unsigned char *p, size_t len)
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

bool index_read(struct mailbox *mb)
{
	char *file = xasprintf("%s/" STORE_INDEX_NAME, mb->path);
	char *data = NULL, err[256];
	size_t len = 0;
	int rc = store_read_file(file, &data, &len, err, sizeof err);
	free(file);
	mailbox_clear(mb);
	if (rc == STORE_ENOENT)
		return false; /* first open, or deleted: quietly rebuild */
	if (rc < 0)
		return invalid(mb->path, err);

	const unsigned char *p = (const unsigned char *)data;
	bool ok = false;
	const char *why = "truncated";
	if (len < IDX_HDR + 4)
		goto out;
	why = "bad checksum";
	if (crc_of(p, len - 4) != get_u32(p + len - 4))
		goto out;
	why = "bad magic or version";
	if (memcmp(p, IDX_MAGIC, 8) != 0 || get_u32(p + 8) != IDX_VERSION)
		goto out;
	mb->uidvalidity = get_u32(p + 12);
	mb->uidnext = get_u32(p + 16);
	uint32_t count = get_u32(p + 20);
	mb->highestmodseq = get_u64(p + 32);
	mb->cur_stamp.sec = (int64_t)get_u64(p + 40);
	mb->cur_stamp.nsec = (int64_t)get_u64(p + 48);
	mb->new_stamp.sec = (int64_t)get_u64(p + 56);
	mb->new_stamp.nsec = (int64_t)get_u64(p + 64);
	why = "bad header";
	if (mb->uidvalidity == 0 || mb->uidnext == 0)
		goto out;

	size_t off = IDX_HDR, end = len - 4;
	why = "bad count";
	if (count > (end - off) / (IDX_REC + 2))
		goto out;
	msg_vec_reserve(&mb->msgs, count);
	uint32_t prev_uid = 0;
	why = "bad record";
	for (uint32_t i = 0; i < count; i++) {
		if (end - off < IDX_REC)
			goto out;
		const unsigned char *r = p + off;
		size_t nlen = get_u16(r + 50);
		if (nlen == 0 || nlen > IDX_NAME_MAX ||
		    end - off - IDX_REC < nlen + 1)
			goto out;
		const char *name = (const char *)r + IDX_REC;
		if (memchr(name, '/', nlen) || strlen(name) != nlen)
			goto out;
		uint32_t uid = get_u32(r);
		uint8_t state = r[49];
		if (uid <= prev_uid || uid >= mb->uidnext || state > 1 ||
		    r[48] > 1)
			goto out;
		prev_uid = uid;
		struct store_msg *m = msg_vec_push(state ? &mb->tombs : &mb->msgs);
		m->uid = uid;
		m->flags = get_u32(r + 4);
		m->size = get_u64(r + 8);
		m->file_size = get_u64(r + 16);
		m->internal_date = (int64_t)get_u64(r + 24);
		m->modseq = get_u64(r + 32);
		m->pop3_first_retr = (int64_t)get_u64(r + 40);
		m->pop3_hidden = r[48] != 0;
		m->filename = (char *)name; /* lives in mb->index_data */
		off += IDX_REC + nlen + 1;
	}
	why = "trailing bytes";
	if (off != end)
		goto out;
	ok = true;
out:
	if (!ok) {
		free(data);
		mailbox_clear(mb);
		return invalid(mb->path, why);
	}
	mb->index_data = data;
	return true;
}

static void put_stamp(unsigned char *p, struct store_stamp s)
{
	put_u64(p, (uint64_t)s.sec);
	put_u64(p + 8, (uint64_t)s.nsec);
}

static void append_rec(struct buf *b, const struct store_msg *m, uint8_t state)
{
	unsigned char r[IDX_REC];
	size_t nlen = strlen(m->filename);
	if (nlen == 0 || nlen > IDX_NAME_MAX)
		log_fatal("event=index_bad_name uid=%u len=%zu", m->uid, nlen);
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
	buf_append(b, r, IDX_REC);
	buf_append(b, m->filename, nlen + 1);
}

int index_write(const struct mailbox *mb, char *err, size_t errsz)
{
	struct buf b = BUF_INIT;
	unsigned char h[IDX_HDR];
	size_t total = mb->msgs.n + mb->tombs.n;
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
	buf_reserve(&b, IDX_HDR + total * (IDX_REC + 64) + 4);
	buf_append(&b, h, IDX_HDR);

	/* Merge live records and tombstones in UID order. */
	size_t i = 0, j = 0;
	uint32_t prev = 0;
	while (i < mb->msgs.n || j < mb->tombs.n) {
		const struct store_msg *m;
		uint8_t state;
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
		append_rec(&b, m, state);
	}
	unsigned char c[4];
	put_u32(c, crc_of((const unsigned char *)b.data, b.len));
	buf_append(&b, c, 4);
	int rc = store_write_atomic(mb->path, STORE_INDEX_NAME, b.data, b.len,
				    err, errsz);
	buf_free(&b);
	return rc;
}

int uidstate_read(const char *path, uint32_t *uidvalidity, uint32_t *uidnext)
{
	char *file = xasprintf("%s/" STORE_UIDSTATE_NAME, path);
	char *data = NULL, err[256];
	size_t len = 0;
	int rc = store_read_file(file, &data, &len, err, sizeof err);
	free(file);
	if (rc < 0)
		return -1;
	/* Exactly "<uidvalidity> <uidnext>\n", both non-zero. */
	struct str s = str_make(data, len), a, bb;
	unsigned long long uv, un;
	rc = -1;
	if (len > 0 && data[len - 1] == '\n') {
		s.len--;
		if (str_next_token(s, &a, &bb) &&
		    str_to_u64(a, UINT32_MAX, &uv) &&
		    str_to_u64(bb, UINT32_MAX, &un) && uv > 0 && un > 0) {
			*uidvalidity = (uint32_t)uv;
			*uidnext = (uint32_t)un;
			rc = 0;
		}
	}
	free(data);
	return rc;
}

int uidstate_write(const char *path, uint32_t uidvalidity, uint32_t uidnext,
		   char *err, size_t errsz)
{
	char line[32];
	int n = snprintf(line, sizeof line, "%u %u\n", (unsigned)uidvalidity,
			 (unsigned)uidnext);
	return store_write_atomic(path, STORE_UIDSTATE_NAME, line, (size_t)n,
				  err, errsz);
}
