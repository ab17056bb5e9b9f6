/* store/ for IMAP: flags and keywords, MODSEQ, append byte-exactness,
 * expunge, copy/move, change reports, status, and the STORE benchmark. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "store/store.h"
#include "store/store_int.h"
#include "tests/unit/unit.h"

static char g_root[256];
static char errbuf[256];

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
}

static const char *new_maildir(void)
{
	static char md[300];
	if (g_root[0])
		rm_rf(g_root);
	snprintf(g_root, sizeof g_root, "/tmp/postern-test-imap-XXXXXX");
	if (!mkdtemp(g_root))
		abort();
	snprintf(md, sizeof md, "%s/alice", g_root);
	CHECK_EQ_INT(store_maildir_create(md, errbuf, sizeof errbuf), 0);
	return md;
}

static struct mailbox *open_mb(const char *md)
{
	struct mailbox *mb = NULL;
	int rc = store_mailbox_open(md, &mb, errbuf, sizeof errbuf);
	if (rc != 0)
		fprintf(stderr, "open: %d %s\n", rc, errbuf);
	CHECK_EQ_INT(rc, 0);
	if (!mb)
		abort();
	return mb;
}

static void deliver(const char *md, const char *s)
{
	CHECK_EQ_INT(store_deliver(md, s, strlen(s), 1700000000, errbuf,
				   sizeof errbuf), 0);
}

static void deliver_n(const char *md, int n)
{
	for (int i = 0; i < n; i++) {
		char m[64];
		snprintf(m, sizeof m, "Subject: %d\r\n\r\nbody %d\r\n", i, i);
		deliver(md, m);
	}
}

static const struct store_msg *by_uid(const struct mailbox *mb, uint32_t uid)
{
	for (size_t i = 0; i < store_mailbox_count(mb); i++)
		if (store_mailbox_msg(mb, i)->uid == uid)
			return store_mailbox_msg(mb, i);
	return NULL;
}

static int set_flags(struct mailbox *mb, uint32_t uid, enum store_flag_op op,
		     uint32_t flags, const char *kw)
{
	struct str k = kw ? str_from_cstr(kw) : (struct str){ NULL, 0 };
	struct store_flag_update up = { .uids = &uid, .n_uids = 1, .op = op,
					.flags = flags, .keywords = &k,
					.n_keywords = kw ? 1 : 0 };
	struct store_uid_list ch, fl;
	int rc = store_mailbox_set_flags(mb, &up, &ch, &fl, errbuf,
					 sizeof errbuf);
	if (rc == 0)
		CHECK(ch.n <= 1);
	store_uid_list_free(&ch);
	store_uid_list_free(&fl);
	return rc;
}

static void file_of(const char *md, const struct store_msg *m, char *out,
		    size_t cap)
{
	snprintf(out, cap, "%s/cur/%s", md, m->filename);
}

UNIT_TEST(test_flags_keywords_modseq)
{
	const char *md = new_maildir();
	deliver_n(md, 3);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(mb), 3);
	uint64_t hm = store_mailbox_highestmodseq(mb);
	CHECK_EQ_INT(set_flags(mb, 2, STORE_FLAGS_ADD,
			       STORE_F_SEEN | STORE_F_FLAGGED, "$Junk"), 0);
	const struct store_msg *m = by_uid(mb, 2);
	CHECK_EQ_INT(m->flags, STORE_F_SEEN | STORE_F_FLAGGED);
	CHECK_EQ_INT(m->keywords, 1);
	CHECK(m->modseq > hm);
	CHECK(store_mailbox_highestmodseq(mb) == m->modseq);
	CHECK_EQ_STR(store_mailbox_keyword(mb, 0), "$Junk");
	/* The name carries the letters, sorted, and the keyword letter. */
	CHECK(strstr(m->filename, ":2,FSa") != NULL);
	char p[600];
	file_of(md, m, p, sizeof p);
	CHECK_EQ_INT(access(p, F_OK), 0);
	/* No change: no new MODSEQ. */
	uint64_t ms = m->modseq;
	CHECK_EQ_INT(set_flags(mb, 2, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	CHECK_EQ_INT(by_uid(mb, 2)->modseq, ms);
	/* Case-insensitive keyword match; remove it. */
	CHECK_EQ_INT(set_flags(mb, 2, STORE_FLAGS_REMOVE, 0, "$junk"), 0);
	CHECK_EQ_INT(by_uid(mb, 2)->keywords, 0);
	CHECK(by_uid(mb, 2)->modseq > ms);
	CHECK_EQ_INT(set_flags(mb, 3, STORE_FLAGS_SET, STORE_F_DELETED,
			       "Work"), 0);
	uint64_t hm2 = store_mailbox_highestmodseq(mb);
	store_mailbox_close(&mb);

	/* Another open replays the log. */
	mb = open_mb(md);
	CHECK_EQ_INT(by_uid(mb, 2)->flags, STORE_F_SEEN | STORE_F_FLAGGED);
	CHECK_EQ_INT(by_uid(mb, 3)->flags, STORE_F_DELETED);
	CHECK_EQ_INT(by_uid(mb, 3)->keywords, 2);
	CHECK_EQ_STR(store_mailbox_keyword(mb, 1), "Work");
	CHECK_EQ_INT(store_mailbox_highestmodseq(mb), hm2);
	store_mailbox_close(&mb);

	/* Index and log lost: flags and keywords come back from the names,
	 * and MODSEQ does not go backwards. */
	char f[400];
	snprintf(f, sizeof f, "%s/postern-index", md);
	CHECK_EQ_INT(unlink(f), 0);
	snprintf(f, sizeof f, "%s/postern-log", md);
	unlink(f);
	mb = open_mb(md);
	CHECK_EQ_INT(by_uid(mb, 2)->flags, STORE_F_SEEN | STORE_F_FLAGGED);
	CHECK_EQ_INT(by_uid(mb, 3)->keywords, 2);
	CHECK(store_mailbox_highestmodseq(mb) > hm2);
	uint64_t hm3 = store_mailbox_highestmodseq(mb);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, STORE_F_ANSWERED, NULL),
		     0);
	CHECK(by_uid(mb, 1)->modseq > hm3);
	/* CONDSTORE UNCHANGEDSINCE. */
	uint32_t uid = 1;
	struct store_flag_update up = { .uids = &uid, .n_uids = 1,
					.op = STORE_FLAGS_ADD,
					.flags = STORE_F_SEEN,
					.unchangedsince = 1 };
	struct store_uid_list ch, fl;
	CHECK_EQ_INT(store_mailbox_set_flags(mb, &up, &ch, &fl, errbuf,
					     sizeof errbuf), 0);
	CHECK_EQ_INT(ch.n, 0);
	CHECK_EQ_INT(fl.n, 1);
	store_uid_list_free(&ch);
	store_uid_list_free(&fl);
	store_mailbox_close(&mb);
}

UNIT_TEST(test_keyword_limit)
{
	const char *md = new_maildir();
	deliver_n(md, 1);
	struct mailbox *mb = open_mb(md);
	for (int i = 0; i < 26; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, 0, k), 0);
	}
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, 0, "one-too-many"),
		     STORE_EPERM);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, 0, "bad\\kw"),
		     STORE_EINVAL);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->keywords, 0x3ffffffu);
	store_mailbox_close(&mb);
}

static void check_append(const char *md, const char *data, size_t len,
			 bool lf_form)
{
	struct iovec iov[2] = { { (void *)data, len / 2 },
				{ (void *)(data + len / 2), len - len / 2 } };
	uint32_t uid = 0, uv = 0;
	struct str kw = STR_LIT("$Forwarded");
	CHECK_EQ_INT(store_mailbox_append(md, iov, 2, STORE_F_SEEN, &kw, 1,
					  1600000000, &uid, &uv, errbuf,
					  sizeof errbuf), 0);
	CHECK(uid > 0);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_uidvalidity(mb), uv);
	const struct store_msg *m = by_uid(mb, uid);
	CHECK(m != NULL);
	if (!m) {
		store_mailbox_close(&mb);
		return;
	}
	CHECK_EQ_INT(m->size, len);
	CHECK_EQ_INT(m->flags, STORE_F_SEEN);
	CHECK_EQ_INT(m->internal_date, 1600000000);
	CHECK_EQ_STR(store_mailbox_keyword(mb, 0), "$Forwarded");
	CHECK_EQ_INT(m->keywords, 1);
	if (!(lf_form ? m->file_size < len : m->file_size == len))
		fprintf(stderr, "len %zu file %llu lf %d\n", len,
			(unsigned long long)m->file_size, lf_form);
	CHECK(lf_form ? m->file_size < len : m->file_size == len);
	struct buf out = BUF_INIT;
	CHECK_EQ_INT(store_msg_read_wire(mb, (size_t)(m - store_mailbox_msg(mb, 0)),
					 &out, errbuf, sizeof errbuf), 0);
	CHECK_EQ_MEM(out.data, out.len, data, len);
	/* POP3 sends the CRLF form: its size is what crlf conversion gives. */
	struct buf p3 = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			buf_appendc(&p3, '\r');
		buf_appendc(&p3, data[i]);
	}
	if (len > 0 && data[len - 1] != '\n')
		buf_appends(&p3, "\r\n");
	CHECK_EQ_INT(m->pop3_size, p3.len);
	buf_free(&p3);
	buf_free(&out);
	store_mailbox_close(&mb);
}

UNIT_TEST(test_append_byte_exact)
{
	const char *md = new_maildir();
	static const char clean[] = "Subject: a\r\n\r\nbody\r\n";
	check_append(md, clean, sizeof clean - 1, true);
	static const char bare_lf[] = "Subject: b\n\nbody\r\nmore\n";
	check_append(md, bare_lf, sizeof bare_lf - 1, false);
	static const char bare_cr[] = "Subject: c\r\n\r\nx\ry\r\n";
	check_append(md, bare_cr, sizeof bare_cr - 1, false);
	static const char nul[] = "Subject: d\r\n\r\na\0b\r\n";
	check_append(md, nul, sizeof nul - 1, true); /* NUL: still clean */
	static const char no_end[] = "Subject: e\r\n\r\nno newline";
	check_append(md, no_end, sizeof no_end - 1, false);
	char big[5000];
	memset(big, 'x', sizeof big);
	memcpy(big + sizeof big - 2, "\r\n", 2);
	check_append(md, big, sizeof big, true);
	/* After losing the index, the sizes come back the same. */
	char f[400];
	snprintf(f, sizeof f, "%s/postern-index", md);
	unlink(f);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(mb), 6);
	CHECK_EQ_INT(store_mailbox_msg(mb, 1)->size, sizeof bare_lf - 1);
	CHECK_EQ_INT(store_mailbox_msg(mb, 1)->pop3_size, sizeof bare_lf - 1 + 3);
	store_mailbox_close(&mb);
}

UNIT_TEST(test_expunge_and_refresh)
{
	const char *md = new_maildir();
	deliver_n(md, 5);
	struct mailbox *a = open_mb(md), *b = open_mb(md);
	struct store_changes ch;
	/* Nothing changed. */
	CHECK_EQ_INT(store_mailbox_refresh(b, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n + ch.changed.n + ch.n_new, 0);
	store_changes_free(&ch);

	CHECK_EQ_INT(set_flags(a, 2, STORE_FLAGS_ADD, STORE_F_DELETED, NULL), 0);
	CHECK_EQ_INT(set_flags(a, 4, STORE_FLAGS_ADD, STORE_F_DELETED, NULL), 0);
	CHECK_EQ_INT(set_flags(a, 5, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	struct store_uid_list ex;
	uint32_t want[] = { 1, 2, 4 }; /* 1 lacks \Deleted: kept */
	CHECK_EQ_INT(store_mailbox_expunge(a, want, 3, &ex, errbuf,
					   sizeof errbuf), 0);
	CHECK_EQ_INT(ex.n, 2);
	CHECK_EQ_INT(ex.v[0], 2);
	CHECK_EQ_INT(ex.v[1], 4);
	store_uid_list_free(&ex);
	/* a's view keeps them until it refreshes. */
	CHECK_EQ_INT(store_mailbox_count(a), 5);
	CHECK(store_mailbox_msg(a, 1)->expunged);
	CHECK_EQ_INT(store_msg_open(a, 1, errbuf, sizeof errbuf), STORE_ENOENT);
	deliver(md, "Subject: new\r\n\r\nnew\r\n");

	CHECK_EQ_INT(store_mailbox_refresh(b, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n, 2);
	CHECK_EQ_INT(ch.expunged.v[0], 2);
	CHECK_EQ_INT(ch.exp_pos[0], 1);
	CHECK_EQ_INT(ch.expunged.v[1], 4);
	CHECK_EQ_INT(ch.exp_pos[1], 3);
	CHECK_EQ_INT(ch.changed.n, 1); /* 5: \Seen (2 and 4 are gone) */
	CHECK_EQ_INT(ch.changed.v[0], 5);
	CHECK_EQ_INT(ch.n_new, 1);
	CHECK_EQ_INT(store_mailbox_count(b), 4);
	CHECK_EQ_INT(store_mailbox_msg(b, 3)->uid, 6);
	store_changes_free(&ch);
	CHECK_EQ_INT(store_mailbox_refresh(a, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n, 2);
	CHECK_EQ_INT(ch.n_new, 1);
	store_changes_free(&ch);
	CHECK_EQ_INT(store_mailbox_count(a), 4);

	/* POP3 QUIT (DELE = expunge) shows up too. */
	struct mailbox *p = open_mb(md);
	uint32_t del = 1;
	struct store_pop3_update pu = { .expunge = &del, .n_expunge = 1,
					.now = 1700000000 };
	CHECK_EQ_INT(store_mailbox_pop3_commit(p, &pu, errbuf, sizeof errbuf),
		     0);
	store_mailbox_close(&p);
	CHECK_EQ_INT(store_mailbox_refresh(a, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n, 1);
	CHECK_EQ_INT(ch.expunged.v[0], 1);
	CHECK_EQ_INT(ch.exp_pos[0], 0);
	store_changes_free(&ch);

	struct store_status st;
	CHECK_EQ_INT(store_mailbox_status(md, &st, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(st.messages, 3);
	CHECK_EQ_INT(st.unseen, 2);
	CHECK_EQ_INT(st.uidnext, 7);
	CHECK_EQ_INT(st.highestmodseq, store_mailbox_highestmodseq(a));
	store_mailbox_close(&a);
	store_mailbox_close(&b);
}

UNIT_TEST(test_copy_move)
{
	const char *md = new_maildir();
	char dst[400];
	snprintf(dst, sizeof dst, "%s/.Archive", md);
	CHECK_EQ_INT(store_maildir_create(dst, errbuf, sizeof errbuf), 0);
	deliver_n(md, 3);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(set_flags(mb, 2, STORE_FLAGS_ADD, STORE_F_FLAGGED, "Todo"),
		     0);
	uint32_t uids[] = { 3, 2 };
	struct store_uid_list s, d;
	uint32_t uv = 0;
	CHECK_EQ_INT(store_mailbox_copy(mb, uids, 2, dst, false, &s, &d, &uv,
					errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(s.v[0], 2);
	CHECK_EQ_INT(d.v[0], 1);
	CHECK_EQ_INT(s.v[1], 3);
	CHECK_EQ_INT(d.v[1], 2);
	store_uid_list_free(&s);
	store_uid_list_free(&d);
	struct mailbox *am = open_mb(dst);
	CHECK_EQ_INT(store_mailbox_uidvalidity(am), uv);
	CHECK_EQ_INT(store_mailbox_count(am), 2);
	CHECK_EQ_INT(by_uid(am, 1)->flags, STORE_F_FLAGGED);
	CHECK_EQ_STR(store_mailbox_keyword(am, by_uid(am, 1)->keywords == 1 ? 0 : 9),
		     "Todo");
	store_mailbox_close(&am);

	uint32_t one = 1;
	CHECK_EQ_INT(store_mailbox_copy(mb, &one, 1, dst, true, &s, &d, &uv,
					errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(d.v[0], 3);
	store_uid_list_free(&s);
	store_uid_list_free(&d);
	struct store_changes ch;
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n, 1);
	CHECK_EQ_INT(ch.expunged.v[0], 1);
	store_changes_free(&ch);
	CHECK_EQ_INT(store_mailbox_count(mb), 2);
	/* A missing destination: nothing happens. */
	char nodst[400];
	snprintf(nodst, sizeof nodst, "%s/.Nope", md);
	CHECK(store_mailbox_copy(mb, uids, 2, nodst, true, &s, &d, &uv, errbuf,
				 sizeof errbuf) == STORE_ENOENT);
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(ch.expunged.n, 0);
	store_changes_free(&ch);
	store_mailbox_close(&mb);
}

UNIT_TEST(test_append_fd)
{
	const char *md = new_maildir();
	char tmpf[] = "/tmp/postern-test-append-XXXXXX";
	int fd = mkstemp(tmpf);
	CHECK(fd >= 0);
	unlink(tmpf);
	/* Large, with bare LFs spread over several read chunks. */
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 20000; i++)
		buf_appends(&msg, i % 1000 == 7 ? "bare line\n" : "a line\r\n");
	CHECK(write(fd, msg.data, msg.len) == (ssize_t)msg.len);
	uint32_t uid = 0, uv = 0;
	CHECK_EQ_INT(store_mailbox_append_fd(md, fd, STORE_F_DRAFT, NULL, 0,
					     1600000000, &uid, &uv, errbuf,
					     sizeof errbuf), 0);
	close(fd);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(mb), 1);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->uid, uid);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->size, msg.len);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->pop3_size, msg.len + 20);
	struct buf out = BUF_INIT;
	CHECK_EQ_INT(store_msg_read_wire(mb, 0, &out, errbuf, sizeof errbuf), 0);
	CHECK_EQ_MEM(out.data, out.len, msg.data, msg.len);
	/* Streaming in small pieces gives the same octets. */
	struct store_wire_reader *r;
	struct buf pieces = BUF_INIT;
	CHECK_EQ_INT(store_wire_open(mb, 0, &r, errbuf, sizeof errbuf), 0);
	int rc;
	while ((rc = store_wire_read(r, &pieces, 100, errbuf, sizeof errbuf)) > 0)
		;
	CHECK_EQ_INT(rc, 0);
	store_wire_close(&r);
	CHECK_EQ_MEM(pieces.data, pieces.len, msg.data, msg.len);
	buf_free(&pieces);
	buf_free(&out);
	buf_free(&msg);
	store_mailbox_close(&mb);
	/* No such mailbox: ENOENT (IMAP's TRYCREATE). */
	char nope[400];
	snprintf(nope, sizeof nope, "%s/.Nope", md);
	struct iovec iov = { "x\r\n", 3 };
	CHECK_EQ_INT(store_mailbox_append(nope, &iov, 1, 0, NULL, 0, 1, &uid,
					  &uv, errbuf, sizeof errbuf),
		     STORE_ENOENT);
}

/* Two processes change flags at once; a third handle follows through
 * the log and through compactions (index rewrites). */
UNIT_TEST(test_concurrent_and_compaction)
{
	const char *md = new_maildir();
	deliver_n(md, 20);
	struct mailbox *watch = open_mb(md);
	enum { ROUNDS = 800 };
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct mailbox *mb = open_mb(md);
			for (int r = 0; r < ROUNDS; r++) {
				uint32_t uid = (uint32_t)(1 + k * 10 + r % 10);
				if (set_flags(mb, uid,
					      (r / 10) % 2 ? STORE_FLAGS_REMOVE
							   : STORE_FLAGS_ADD,
					      k ? STORE_F_FLAGGED
						: STORE_F_SEEN, NULL) != 0)
					_exit(1);
			}
			store_mailbox_close(&mb);
			_exit(0);
		}
	}
	/* Refresh while they work: every report is consistent. */
	uint64_t last = store_mailbox_highestmodseq(watch);
	for (int i = 0; i < 50; i++) {
		struct store_changes ch;
		CHECK_EQ_INT(store_mailbox_refresh(watch, &ch, errbuf,
						   sizeof errbuf), 0);
		CHECK(store_mailbox_highestmodseq(watch) >= last);
		last = store_mailbox_highestmodseq(watch);
		CHECK_EQ_INT(ch.expunged.n + ch.n_new, 0);
		store_changes_free(&ch);
		usleep(2000);
	}
	for (int k = 0; k < 2; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct store_changes ch;
	CHECK_EQ_INT(store_mailbox_refresh(watch, &ch, errbuf, sizeof errbuf),
		     0);
	store_changes_free(&ch);
	/* Each did an even number of add/remove pairs: flags are back. */
	struct mailbox *fresh = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(watch), 20);
	CHECK_EQ_INT(store_mailbox_highestmodseq(fresh),
		     store_mailbox_highestmodseq(watch));
	for (size_t i = 0; i < 20; i++) {
		CHECK_EQ_INT(store_mailbox_msg(watch, i)->flags, 0);
		CHECK_EQ_INT(store_mailbox_msg(watch, i)->modseq,
			     store_mailbox_msg(fresh, i)->modseq);
	}
	/* 1600 changes, one MODSEQ each. */
	CHECK(store_mailbox_highestmodseq(fresh) >= 2 * ROUNDS);
	/* The log was folded into the index at least once. */
	char f[400];
	struct stat st;
	snprintf(f, sizeof f, "%s/postern-log", md);
	CHECK_EQ_INT(stat(f, &st), 0);
	CHECK(st.st_size < 2 * ROUNDS * 150);
	store_mailbox_close(&fresh);
	store_mailbox_close(&watch);
}

/* A new UIDVALIDITY under an open session: the view is replaced. */
UNIT_TEST(test_uidvalidity_change)
{
	const char *md = new_maildir();
	deliver_n(md, 2);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, STORE_F_DELETED, NULL),
		     0);
	struct store_uid_list ex;
	CHECK_EQ_INT(store_mailbox_expunge(mb, NULL, 0, &ex, errbuf,
					   sizeof errbuf), 0);
	CHECK_EQ_INT(ex.n, 1);
	store_uid_list_free(&ex);
	char f[400];
	snprintf(f, sizeof f, "%s/postern-uidstate", md);
	int fd = open(f, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "12345 100 0\n", 12) == 12);
	close(fd);
	struct store_changes ch;
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	CHECK(ch.uidvalidity_changed);
	CHECK_EQ_INT(ch.n_new, 1);
	store_changes_free(&ch);
	CHECK_EQ_INT(store_mailbox_uidvalidity(mb), 12345);
	CHECK_EQ_INT(store_mailbox_count(mb), 1);
	CHECK(!store_mailbox_msg(mb, 0)->expunged);
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	CHECK(!ch.uidvalidity_changed);
	store_changes_free(&ch);
	store_mailbox_close(&mb);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* An index as version 1 (POP3-only postern) wrote it survives the
 * upgrade with its POP3 marks. */
UNIT_TEST(test_index_v1_upgrade)
{
	const char *md = new_maildir();
	deliver_n(md, 2);
	struct mailbox *mb = open_mb(md);
	struct buf b = BUF_INIT;
	unsigned char h[72] = { 0 };
	memcpy(h, "PSTNIDX", 8);
	put_le(h + 8, 1, 4);
	put_le(h + 12, store_mailbox_uidvalidity(mb), 4);
	put_le(h + 16, store_mailbox_uidnext(mb), 4);
	put_le(h + 20, 2, 4);
	put_le(h + 32, 7, 8);
	buf_append(&b, h, sizeof h);
	for (size_t i = 0; i < 2; i++) {
		const struct store_msg *m = store_mailbox_msg(mb, i);
		unsigned char r[52] = { 0 };
		put_le(r, m->uid, 4);
		put_le(r + 8, m->size, 8);
		put_le(r + 16, m->file_size, 8);
		put_le(r + 24, (uint64_t)m->internal_date, 8);
		put_le(r + 32, 3, 8);
		put_le(r + 40, i == 0 ? 1700000123 : 0, 8);
		r[48] = i == 1; /* hidden from POP3 */
		put_le(r + 50, strlen(m->filename), 2);
		buf_append(&b, r, sizeof r);
		buf_append(&b, m->filename, strlen(m->filename) + 1);
	}
	unsigned char c[4];
	put_le(c, crc32(0, (const unsigned char *)b.data, (unsigned)b.len), 4);
	buf_append(&b, c, 4);
	store_mailbox_close(&mb);
	char f[400];
	snprintf(f, sizeof f, "%s/postern-index", md);
	int fd = open(f, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len);
	close(fd);
	snprintf(f, sizeof f, "%s/postern-log", md);
	unlink(f);
	buf_free(&b);
	mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(mb), 2);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->pop3_first_retr, 1700000123);
	CHECK(store_mailbox_msg(mb, 1)->pop3_hidden);
	CHECK_EQ_INT(store_mailbox_msg(mb, 1)->pop3_size,
		     store_mailbox_msg(mb, 1)->size);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	store_mailbox_close(&mb);
	mb = open_mb(md);
	CHECK_EQ_INT(store_mailbox_msg(mb, 0)->flags, STORE_F_SEEN);
	CHECK(store_mailbox_msg(mb, 1)->pop3_hidden);
	store_mailbox_close(&mb);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* STORE of one flag in a 100 000-message mailbox. */
UNIT_TEST(test_store_100k_bench)
{
	const char *md = new_maildir();
	enum { N = 100000 };
	char cdir[400];
	snprintf(cdir, sizeof cdir, "%s/cur", md);
	int dfd = open(cdir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < N; i++) {
		char name[128];
		snprintf(name, sizeof name,
			 "1700000000.M%dP1.host,S=20,W=21,U=%d:2,", i, i + 1);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0600);
		if (fd < 0) {
			CHECK(!"create");
			break;
		}
		if (write(fd, "Subject: x\n\nbody\n123", 20) != 20)
			CHECK(!"write");
		close(fd);
	}
	close(dfd);
	struct mailbox *mb = open_mb(md);
	store_mailbox_close(&mb);
	struct timespec old[2] = { { time(NULL) - 60, 0 },
				   { time(NULL) - 60, 0 } };
	char ndir[400];
	snprintf(ndir, sizeof ndir, "%s/new", md);
	utimensat(AT_FDCWD, cdir, old, 0);
	utimensat(AT_FDCWD, ndir, old, 0);
	mb = open_mb(md); /* records trusted directory times */
	CHECK_EQ_INT(store_mailbox_count(mb), N);
	enum { R = 200 };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < R; r++)
		CHECK_EQ_INT(set_flags(mb, (uint32_t)(r * 397 % N + 1),
				       r % 2 ? STORE_FLAGS_REMOVE
					     : STORE_FLAGS_ADD,
				       STORE_F_SEEN, NULL), 0);
	double per = ms_since(&t0) / R;
	struct store_changes ch;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	double refresh = ms_since(&t0);
	store_changes_free(&ch);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < 100; r++) {
		CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf,
						   sizeof errbuf), 0);
		CHECK_EQ_INT(ch.changed.n + ch.n_new + ch.expunged.n, 0);
		store_changes_free(&ch);
	}
	double idle = ms_since(&t0) / 100;
	store_changes_free(&ch);
	/* Another session catches up through the log. */
	struct mailbox *other = open_mb(md);
	CHECK_EQ_INT(set_flags(other, 5, STORE_FLAGS_ADD, STORE_F_FLAGGED,
			       NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	double other_ms = ms_since(&t0);
	CHECK_EQ_INT(ch.changed.n, 1);
	store_changes_free(&ch);
	fprintf(stderr, "100k: STORE one flag %.3f ms (avg of %d, incl. "
		"fdatasync), refresh after own %.3f ms, idle refresh %.3f ms, "
		"refresh after another session's STORE %.3f ms\n",
		per, R, refresh, idle, other_ms);
	CHECK(per < 10.0);
	store_mailbox_close(&other);
	store_mailbox_close(&mb);
}

/* A view's names point into its mapped index, whose pages it gives back
 * (store_int.h: mailbox_compact): they must read back after that, and
 * after another session replaced the index file under it. */
static void read_all(struct mailbox *mb, size_t want)
{
	CHECK_EQ_INT(store_mailbox_count(mb), want);
	for (size_t i = 0; i < store_mailbox_count(mb); i++) {
		struct buf b = BUF_INIT;
		int rc = store_msg_read_wire(mb, i, &b, errbuf, sizeof errbuf);
		if (rc != 0)
			fprintf(stderr, "read %zu: %d %s\n", i, rc, errbuf);
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(b.len, store_mailbox_msg(mb, i)->size);
		buf_free(&b);
	}
}

UNIT_TEST(test_view_names_mapped)
{
	const char *md = new_maildir();
	deliver_n(md, 40);
	struct mailbox *first = open_mb(md);
	store_mailbox_close(&first);
	struct mailbox *mb = open_mb(md); /* loads the index written above */
	read_all(mb, 40);
	struct store_changes ch;
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	store_changes_free(&ch);
	read_all(mb, 40);
	/* Another session rebuilds the index (a new file) and renames a
	 * message: mb still reads every message through its old mapping. */
	char idx[600];
	snprintf(idx, sizeof idx, "%s/postern-index", md);
	CHECK_EQ_INT(unlink(idx), 0);
	struct mailbox *other = open_mb(md);
	CHECK_EQ_INT(set_flags(other, 7, STORE_FLAGS_ADD, STORE_F_SEEN, NULL),
		     0);
	read_all(mb, 40);
	CHECK_EQ_INT(store_mailbox_refresh(mb, &ch, errbuf, sizeof errbuf), 0);
	CHECK(ch.changed.n >= 1); /* a rebuild may renumber MODSEQs */
	CHECK(!ch.uidvalidity_changed);
	store_changes_free(&ch);
	read_all(mb, 40);
	CHECK(strstr(by_uid(mb, 7)->filename, ":2,S") != NULL);
	store_mailbox_close(&other);
	store_mailbox_close(&mb);
}

/* Each logged rename gives the view a new copy of the message's name
 * (store_int.h: log_apply) and the old copy is dead; compaction keeps
 * only the copies in use, and those still open the right files. */
UNIT_TEST(test_view_names_repacked)
{
	const char *md = new_maildir();
	deliver_n(md, 40);
	struct mailbox *first = open_mb(md);
	store_mailbox_close(&first);
	struct mailbox *mb = open_mb(md); /* names in the mapped index */
	CHECK_EQ_INT(mb->pool.bytes, 0);
	size_t names = 0;
	for (int round = 0; round < 20; round++) {
		names = 0;
		for (uint32_t uid = 1; uid <= 10; uid++) {
			struct store_msg m = *mailbox_by_uid(mb, uid);
			char name[256];
			snprintf(name, sizeof name, "%s", m.filename);
			m.filename = name;
			log_apply(mb, &m, 0);
			names += strlen(name) + 1;
		}
		CHECK(mb->pool.bytes >= names);
		mailbox_compact(mb);
		/* The first round leaves too little waste to bother. */
		if (round > 0) {
			CHECK_EQ_INT(mb->pool.bytes, names);
			CHECK_EQ_INT(mb->pool.n_chunks, 1);
		}
		read_all(mb, 40);
	}
	/* A name added after a repack goes into a new chunk, and the next
	 * compaction leaves a pool with no waste alone. */
	struct store_msg m = *mailbox_by_uid(mb, 11);
	log_apply(mb, &m, 0);
	names += strlen(m.filename) + 1;
	CHECK_EQ_INT(mb->pool.n_chunks, 2);
	mailbox_compact(mb);
	read_all(mb, 40);
	CHECK(mb->pool.bytes >= names);
	/* An expunge drops the name from the pool. */
	for (uint32_t uid = 1; uid <= 10; uid++) {
		struct store_msg e = *mailbox_by_uid(mb, uid);
		log_apply(mb, &e, 2);
	}
	mailbox_compact(mb);
	CHECK(mb->pool.bytes < names);
	store_mailbox_close(&mb);
}

/* In a busy mailbox cur/ was always touched within the last seconds, so
 * its stamp is never trusted and every change starts with a scan; a
 * scan that finds what the view knows must not rewrite the index. */
UNIT_TEST(test_busy_mailbox_keeps_its_index)
{
	const char *md = new_maildir();
	deliver_n(md, 5);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	/* Every change appends to the log; an index rewrite would have
	 * started a new, empty one. */
	char logp[400];
	snprintf(logp, sizeof logp, "%s/postern-log", md);
	struct stat st;
	CHECK_EQ_INT(stat(logp, &st), 0);
	off_t last = st.st_size;
	for (int i = 0; i < 6; i++) {
		CHECK_EQ_INT(set_flags(mb, 1 + (uint32_t)(i / 2),
				       i % 2 ? STORE_FLAGS_REMOVE
					     : STORE_FLAGS_ADD,
				       STORE_F_FLAGGED, NULL), 0);
		CHECK_EQ_INT(stat(logp, &st), 0);
		CHECK(st.st_size > last);
		last = st.st_size;
	}
	/* and a file that another program drops in is still found */
	deliver(md, "Subject: late\r\n\r\nx\r\n");
	struct mailbox *other = open_mb(md);
	CHECK_EQ_INT(store_mailbox_count(other), 6);
	store_mailbox_close(&other);
	store_mailbox_close(&mb);
}

/* A flag change's log record is not synced: if a crash loses the log's
 * tail, the flag is still in the file name, and the next open finds it
 * (the recorded cur/ time no longer matches, so cur/ is scanned). */
UNIT_TEST(test_lost_log_tail_keeps_flags)
{
	const char *md = new_maildir();
	deliver_n(md, 3);
	struct mailbox *mb = open_mb(md);
	char logp[400];
	snprintf(logp, sizeof logp, "%s/postern-log", md);
	struct stat st;
	off_t before = stat(logp, &st) == 0 ? st.st_size : 0;
	uint64_t modseq_before = store_mailbox_highestmodseq(mb);
	CHECK_EQ_INT(set_flags(mb, 2, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	store_mailbox_close(&mb);
	CHECK_EQ_INT(stat(logp, &st), 0);
	CHECK(st.st_size > before);
	CHECK_EQ_INT(truncate(logp, before), 0); /* the crash */
	struct mailbox *again = open_mb(md);
	const struct store_msg *m = by_uid(again, 2);
	CHECK(m != NULL && (m->flags & STORE_F_SEEN));
	CHECK(by_uid(again, 1) && !(by_uid(again, 1)->flags & STORE_F_SEEN));
	/* and the change is newer than anything before it */
	CHECK(m && m->modseq > modseq_before);
	store_mailbox_close(&again);
}

static uint64_t file_u64(const char *md, const char *name, off_t at)
{
	char p[400];
	unsigned char b[8];
	snprintf(p, sizeof p, "%s/%s", md, name);
	int fd = open(p, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ_INT(pread(fd, b, 8, at), 8);
	close(fd);
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* A new index whose log could not be started (the disk filled between
 * the two writes, or a crash): the old generation's log is left, which
 * readers ignore. The next writer must start a new log, not append to
 * the stale one, where its change (a tombstone too) would be lost. */
UNIT_TEST(test_stale_log_is_never_appended_to)
{
	const char *md = new_maildir();
	deliver_n(md, 3);
	struct mailbox *mb = open_mb(md);
	CHECK_EQ_INT(set_flags(mb, 1, STORE_FLAGS_ADD, STORE_F_SEEN, NULL), 0);
	char blocker[400];
	snprintf(blocker, sizeof blocker, "%s/postern-log.tmp", md);
	CHECK_EQ_INT(mkdir(blocker, 0700), 0); /* log_reset cannot write */
	CHECK(index_write(mb, errbuf, sizeof errbuf) < 0);
	CHECK_EQ_INT(rmdir(blocker), 0);
	store_mailbox_close(&mb);
	/* the index is one generation ahead of the log */
	uint64_t gen = file_u64(md, "postern-index", 72);
	CHECK(file_u64(md, "postern-log", 8) + 1 == gen);

	/* the same session, and a new one, change something */
	struct mailbox *a = open_mb(md);
	CHECK_EQ_INT(set_flags(a, 2, STORE_FLAGS_ADD, STORE_F_FLAGGED, NULL),
		     0);
	CHECK_EQ_INT(file_u64(md, "postern-log", 8), gen);
	struct stat st;
	char logp[400];
	snprintf(logp, sizeof logp, "%s/postern-log", md);
	CHECK_EQ_INT(stat(logp, &st), 0);
	CHECK(st.st_size > 16); /* the transaction is in the current log */
	struct mailbox *b = open_mb(md);
	CHECK(b->log_off == (uint64_t)st.st_size); /* and replayed from it */
	const struct store_msg *m = by_uid(b, 2);
	CHECK(m && (m->flags & STORE_F_FLAGGED));
	store_mailbox_close(&a);
	store_mailbox_close(&b);
}

UNIT_TEST(test_cleanup)
{
	if (g_root[0])
		rm_rf(g_root);
}

UNIT_MAIN(test_flags_keywords_modseq, test_keyword_limit,
	  test_append_byte_exact, test_expunge_and_refresh, test_copy_move,
	  test_append_fd, test_concurrent_and_compaction,
	  test_index_v1_upgrade, test_uidvalidity_change,
	  test_store_100k_bench, test_view_names_mapped,
	  test_view_names_repacked, test_busy_mailbox_keeps_its_index,
	  test_lost_log_tail_keeps_flags, test_stale_log_is_never_appended_to,
	  test_cleanup)
