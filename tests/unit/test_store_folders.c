/* Mailbox names (modified UTF-7, Maildir++ directories), folder
 * operations, subscriptions, provisioning, and cross-process change
 * notification. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mutf7.h"
#include "store/notify.h"
#include "store/store.h"
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
	snprintf(g_root, sizeof g_root, "/tmp/postern-test-folders-XXXXXX");
	if (!mkdtemp(g_root))
		abort();
	snprintf(md, sizeof md, "%s/alice", g_root);
	CHECK_EQ_INT(store_maildir_create(md, errbuf, sizeof errbuf), 0);
	return md;
}

static void m7(const char *utf8, const char *want)
{
	struct buf b = BUF_INIT, back = BUF_INIT;
	CHECK_EQ_INT(mutf7_from_utf8(str_from_cstr(utf8), &b), 0);
	CHECK_EQ_STR(buf_cstr(&b), want);
	CHECK_EQ_INT(mutf7_to_utf8(buf_str(&b), &back), 0);
	CHECK_EQ_STR(buf_cstr(&back), utf8);
	buf_free(&b);
	buf_free(&back);
}

static void m7_bad(const char *s)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "keep");
	if (mutf7_to_utf8(str_from_cstr(s), &b) != -1)
		fprintf(stderr, "accepted bad mUTF-7: %s\n", s);
	CHECK_EQ_STR(buf_cstr(&b), "keep");
	buf_free(&b);
}

UNIT_TEST(test_mutf7)
{
	m7("Entwürfe", "Entw&APw-rfe");
	m7("a&b", "a&-b");
	m7("&", "&-");
	m7("", "");
	m7("日本語", "&ZeVnLIqe-");
	m7("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	m7("\xf0\x9f\x98\x80 smile", "&2D3eAA- smile"); /* U+1F600 */
	m7("\x01x", "&AAE-x");
	m7_bad("&");             /* unterminated */
	m7_bad("&Jjo");          /* no '-' */
	m7_bad("&AGE-");         /* encodes 'a' */
	m7_bad("&ZeVnLIqe-&U,BTFw-"); /* two runs in a row */
	m7_bad("&APx-");         /* non-zero padding bits */
	m7_bad("&2D0-");         /* lone high surrogate */
	m7_bad("&3gA-");         /* lone low surrogate */
	m7_bad("&AP-");          /* 12 bits: not a whole unit */
	m7_bad("a\x80");         /* 8-bit */
	m7_bad("tab\there");     /* control */
	m7_bad("&A/w-");         /* '/' is not in the modified alphabet */
	struct buf b = BUF_INIT;
	CHECK_EQ_INT(mutf7_from_utf8(str_from_cstr("\xc0\xaf"), &b), -1);
	CHECK_EQ_INT(mutf7_from_utf8(str_from_cstr("\xed\xa0\x80"), &b), -1);
	CHECK_EQ_INT(mutf7_from_utf8(str_make("a\0b", 3), &b), -1);
	CHECK_EQ_INT(mutf7_from_utf8(str_from_cstr("\xf4\x90\x80\x80"), &b), -1);
	buf_free(&b);
}

static void dir_ok(const char *name, const char *dir, const char *canon)
{
	struct buf d = BUF_INIT, c = BUF_INIT, back = BUF_INIT;
	int rc = store_mboxname_to_dir(str_from_cstr(name), &d, &c, errbuf,
				       sizeof errbuf);
	if (rc != 0)
		fprintf(stderr, "refused %s: %s\n", name, errbuf);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(buf_cstr(&d), dir);
	CHECK_EQ_STR(buf_cstr(&c), canon);
	if (d.len) {
		CHECK_EQ_INT(store_mboxname_from_dir(buf_str(&d), &back), 0);
		CHECK_EQ_STR(buf_cstr(&back), canon);
	}
	buf_free(&d);
	buf_free(&c);
	buf_free(&back);
}

static void name_bad(const char *name, size_t len)
{
	struct buf d = BUF_INIT;
	errbuf[0] = '\0';
	CHECK_EQ_INT(store_mboxname_to_dir(str_make(name, len), &d, NULL,
					   errbuf, sizeof errbuf),
		     STORE_EINVAL);
	CHECK(errbuf[0] != '\0');
	CHECK_EQ_INT(d.len, 0);
	buf_free(&d);
}

UNIT_TEST(test_mboxname)
{
	dir_ok("INBOX", "", "INBOX");
	dir_ok("inbox", "", "INBOX");
	dir_ok("Sent", ".Sent", "Sent");
	dir_ok("Entwürfe", ".Entw&APw-rfe", "Entwürfe");
	dir_ok("a/b/c", ".a.b.c", "a/b/c");
	dir_ok("INBOX/child", ".INBOX.child", "INBOX/child");
	dir_ok("Inbox/child", ".INBOX.child", "INBOX/child");
	dir_ok("x/INBOX", ".x.INBOX", "x/INBOX");
	dir_ok("A&B", ".A&-B", "A&B");
	dir_ok("with space", ".with space", "with space");
	name_bad("", 0);
	name_bad("/a", 2);
	name_bad("a/", 2);
	name_bad("a//b", 4);
	name_bad("..", 2);
	name_bad("a/../b", 6);
	name_bad("a.b", 3);
	name_bad("a\nb", 3);
	name_bad("a\rb", 3);
	name_bad("a\0b", 3);
	name_bad("a\x7f", 2);
	name_bad("a\xc2\x85", 3); /* C1 NEL */
	name_bad("\xff", 1);
	char big[300];
	memset(big, 'x', sizeof big);
	name_bad(big, 256);
	/* Components within limits but a directory name over 255. */
	char two[300];
	memset(two, 'y', sizeof two);
	two[150] = '/';
	name_bad(two, 300);
	/* Directories we do not own. */
	struct buf n = BUF_INIT;
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr(".INBOX"), &n), -1);
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr(".inbox.x"), &n), -1);
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr("..x"), &n), -1);
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr(".a..b"), &n), -1);
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr(".a&AGE-"), &n), -1);
	CHECK_EQ_INT(store_mboxname_from_dir(str_from_cstr("cur"), &n), -1);
	CHECK_EQ_INT(n.len, 0);
	buf_free(&n);
}

static uint32_t attrs_of(const struct store_mbox_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return l->v[i].attrs;
	return 0xffffffffu;
}

static void list(const char *md, struct store_mbox_list *l)
{
	CHECK_EQ_INT(store_mbox_list(md, l, errbuf, sizeof errbuf), 0);
}

UNIT_TEST(test_folders)
{
	const char *md = new_maildir();
	struct store_mbox_list l;
	CHECK_EQ_INT(store_user_provision(md, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(store_user_provision(md, errbuf, sizeof errbuf), 0);
	list(md, &l);
	CHECK_EQ_INT(l.n, 6);
	CHECK_EQ_STR(l.v[0].name, "INBOX");
	CHECK_EQ_INT(attrs_of(&l, "INBOX"),
		     STORE_MBOX_HASNOCHILDREN | STORE_MBOX_SUBSCRIBED);
	CHECK_EQ_INT(attrs_of(&l, "Sent"), STORE_MBOX_HASNOCHILDREN |
						   STORE_MBOX_SUBSCRIBED |
						   STORE_MBOX_SENT);
	CHECK(attrs_of(&l, "Junk") & STORE_MBOX_JUNK);
	CHECK(attrs_of(&l, "Archive") & STORE_MBOX_ARCHIVE);
	store_mbox_list_free(&l);
	/* The file is Dovecot 2.3's. */
	char f[400];
	snprintf(f, sizeof f, "%s/subscriptions", md);
	FILE *fp = fopen(f, "r");
	char line[64] = "";
	CHECK(fp && fgets(line, sizeof line, fp));
	CHECK_EQ_STR(line, "V\t2\n");
	if (fp)
		fclose(fp);

	/* CREATE with parents; EEXIST; INBOX. */
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("a/b/c"), errbuf,
				       sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("a/b"), errbuf,
				       sizeof errbuf), STORE_EEXIST);
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("inbox"), errbuf,
				       sizeof errbuf), STORE_EEXIST);
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("INBOX/kid"), errbuf,
				       sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("Entwürfe"), errbuf,
				       sizeof errbuf), 0);
	snprintf(f, sizeof f, "%s/.Entw&APw-rfe/cur", md);
	CHECK_EQ_INT(access(f, F_OK), 0);
	snprintf(f, sizeof f, "%s/.INBOX.kid/maildirfolder", md);
	CHECK_EQ_INT(access(f, F_OK), 0);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "a"), STORE_MBOX_HASCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "a/b/c"), STORE_MBOX_HASNOCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "INBOX"),
		     STORE_MBOX_HASCHILDREN | STORE_MBOX_SUBSCRIBED);
	CHECK_EQ_INT(attrs_of(&l, "Entwürfe"), STORE_MBOX_HASNOCHILDREN);
	store_mbox_list_free(&l);

	/* A mailbox recreated under a deleted one's name: new UIDVALIDITY. */
	char p[400];
	snprintf(p, sizeof p, "%s/.a.b", md);
	struct mailbox *mb;
	CHECK_EQ_INT(store_mailbox_open(p, &mb, errbuf, sizeof errbuf), 0);
	uint32_t uv1 = store_mailbox_uidvalidity(mb);
	store_mailbox_close(&mb);

	/* DELETE keeps children: the parent becomes \NonExistent. */
	CHECK_EQ_INT(store_mbox_delete(md, STR_LIT("a/b"), errbuf,
				       sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_delete(md, STR_LIT("a/b"), errbuf,
				       sizeof errbuf), STORE_ENOENT);
	CHECK_EQ_INT(store_mbox_delete(md, STR_LIT("INBOX"), errbuf,
				       sizeof errbuf), STORE_EPERM);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "a/b"),
		     STORE_MBOX_NONEXISTENT | STORE_MBOX_HASCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "a/b/c"), STORE_MBOX_HASNOCHILDREN);
	store_mbox_list_free(&l);
	CHECK_EQ_INT(store_mbox_create(md, STR_LIT("a/b"), errbuf,
				       sizeof errbuf), 0);
	CHECK_EQ_INT(store_mailbox_open(p, &mb, errbuf, sizeof errbuf), 0);
	CHECK(store_mailbox_uidvalidity(mb) != uv1);
	store_mailbox_close(&mb);

	/* RENAME with children, subscriptions follow. */
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("a/b/c"), true, errbuf,
					  sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_rename(md, STR_LIT("a"), STR_LIT("x/y"), errbuf,
				       sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_rename(md, STR_LIT("Sent"), STR_LIT("Trash"),
				       errbuf, sizeof errbuf), STORE_EEXIST);
	CHECK_EQ_INT(store_mbox_rename(md, STR_LIT("nope"), STR_LIT("z"),
				       errbuf, sizeof errbuf), STORE_ENOENT);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "a"), 0xffffffffu);
	CHECK_EQ_INT(attrs_of(&l, "x"), STORE_MBOX_HASCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "x/y/b"), STORE_MBOX_HASCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "x/y/b/c"),
		     STORE_MBOX_HASNOCHILDREN | STORE_MBOX_SUBSCRIBED);
	store_mbox_list_free(&l);

	/* Subscribed but absent; unsubscribe. */
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("ghost"), true, errbuf,
					  sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("bad.name"), true, errbuf,
					  sizeof errbuf), STORE_EINVAL);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "ghost"), STORE_MBOX_NONEXISTENT |
						    STORE_MBOX_HASNOCHILDREN |
						    STORE_MBOX_SUBSCRIBED);
	store_mbox_list_free(&l);
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("ghost"), false, errbuf,
					  sizeof errbuf), 0);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "ghost"), 0xffffffffu);
	store_mbox_list_free(&l);

	/* A subscribed name's parents are listed even when nothing of
	 * them exists: LSUB "%" and RECURSIVEMATCH need them. */
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("gone/kid"), true,
					  errbuf, sizeof errbuf), 0);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "gone"), STORE_MBOX_NONEXISTENT |
						   STORE_MBOX_HASNOCHILDREN);
	CHECK_EQ_INT(attrs_of(&l, "gone/kid"), STORE_MBOX_NONEXISTENT |
						       STORE_MBOX_HASNOCHILDREN |
						       STORE_MBOX_SUBSCRIBED);
	store_mbox_list_free(&l);
	CHECK_EQ_INT(store_mbox_subscribe(md, STR_LIT("gone/kid"), false,
					  errbuf, sizeof errbuf), 0);
	list(md, &l);
	CHECK_EQ_INT(attrs_of(&l, "gone"), 0xffffffffu);
	store_mbox_list_free(&l);

	/* RENAME INBOX: messages move, INBOX stays, empty. */
	CHECK_EQ_INT(store_deliver(md, "S: 1\n\nx\n", 8, 1700000000, errbuf,
				   sizeof errbuf), 0);
	CHECK_EQ_INT(store_deliver(md, "S: 2\n\ny\n", 8, 1700000000, errbuf,
				   sizeof errbuf), 0);
	CHECK_EQ_INT(store_mbox_rename(md, STR_LIT("INBOX"), STR_LIT("old"),
				       errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(store_mailbox_open(md, &mb, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(store_mailbox_count(mb), 0);
	store_mailbox_close(&mb);
	snprintf(p, sizeof p, "%s/.old", md);
	CHECK_EQ_INT(store_mailbox_open(p, &mb, errbuf, sizeof errbuf), 0);
	CHECK_EQ_INT(store_mailbox_count(mb), 2);
	store_mailbox_close(&mb);
	list(md, &l);
	CHECK(attrs_of(&l, "INBOX/kid") != 0xffffffffu);
	store_mbox_list_free(&l);
}

struct hits {
	int n;
	void *last;
};

static void on_change(void *cookie, void *arg)
{
	struct hits *h = arg;
	h->n++;
	h->last = cookie;
}

/* Waits up to ms for a report about cookie. */
static bool wait_report(struct store_notify *n, void *cookie, int ms)
{
	struct hits h = { 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { store_notify_fd(n), POLLIN, 0 };
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
				      (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return false;
		if (poll(&pfd, 1, left) <= 0)
			return false;
		CHECK(store_notify_read(n, on_change, &h) >= 0);
		if (h.n > 0 && h.last == cookie)
			return true;
	}
}

static void drain(struct store_notify *n)
{
	struct hits h = { 0 };
	usleep(20000);
	store_notify_read(n, on_change, &h);
}

/* Runs fn in a child process (another process changes the mailbox). */
static void in_child(void (*fn)(const char *), const char *md)
{
	pid_t pid = fork();
	if (pid == 0) {
		fn(md);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void child_deliver(const char *md)
{
	char e[256];
	if (store_deliver(md, "S: n\n\nx\n", 8, 1700000000, e, sizeof e) < 0)
		_exit(1);
}

static void child_store(const char *md)
{
	char e[256];
	struct mailbox *mb;
	if (store_mailbox_open(md, &mb, e, sizeof e) < 0)
		_exit(1);
	uint32_t uid = store_mailbox_msg(mb, 0)->uid;
	struct store_flag_update up = { .uids = &uid, .n_uids = 1,
					.op = STORE_FLAGS_ADD,
					.flags = STORE_F_FLAGGED };
	struct store_uid_list c, f;
	if (store_mailbox_set_flags(mb, &up, &c, &f, e, sizeof e) < 0 ||
	    c.n != 1)
		_exit(1);
	store_uid_list_free(&c);
	store_uid_list_free(&f);
	store_mailbox_close(&mb);
}

static void child_pop3_quit(const char *md)
{
	char e[256];
	struct mailbox *mb;
	if (store_mailbox_open(md, &mb, e, sizeof e) < 0)
		_exit(1);
	uint32_t uid = store_mailbox_msg(mb, 0)->uid;
	struct store_pop3_update up = { .expunge = &uid, .n_expunge = 1,
					.now = 1700000000 };
	if (store_mailbox_pop3_commit(mb, &up, e, sizeof e) < 0)
		_exit(1);
	store_mailbox_close(&mb);
}

static void child_append(const char *md)
{
	char e[256];
	struct iovec iov = { "S: a\r\n\r\nz\r\n", 11 };
	uint32_t uid, uv;
	if (store_mailbox_append(md, &iov, 1, 0, NULL, 0, 1700000000, &uid,
				 &uv, e, sizeof e) < 0)
		_exit(1);
}

UNIT_TEST(test_notify)
{
	const char *md = new_maildir();
	char other[400];
	snprintf(other, sizeof other, "%s/.Other", md);
	CHECK_EQ_INT(store_maildir_create(other, errbuf, sizeof errbuf), 0);
	struct store_notify *n;
	CHECK_EQ_INT(store_notify_open(&n, errbuf, sizeof errbuf), 0);
	int cookie_a, cookie_b;
	int wa = store_notify_add(n, md, &cookie_a, errbuf, sizeof errbuf);
	int wb = store_notify_add(n, other, &cookie_b, errbuf, sizeof errbuf);
	CHECK(wa >= 0 && wb >= 0);
	CHECK(store_notify_add(n, "/nonexistent/x", NULL, errbuf,
			       sizeof errbuf) == STORE_ENOENT);
	struct hits h = { 0 };
	CHECK_EQ_INT(store_notify_read(n, on_change, &h), 0);

	in_child(child_deliver, md);
	CHECK(wait_report(n, &cookie_a, 1000));
	/* Opening syncs new/ into cur/: changes, drained here. */
	struct mailbox *mb;
	CHECK_EQ_INT(store_mailbox_open(md, &mb, errbuf, sizeof errbuf), 0);
	store_mailbox_close(&mb);
	drain(n);
	in_child(child_store, md);
	CHECK(wait_report(n, &cookie_a, 1000));
	drain(n);
	in_child(child_append, md);
	CHECK(wait_report(n, &cookie_a, 1000));
	drain(n);
	in_child(child_pop3_quit, md);
	CHECK(wait_report(n, &cookie_a, 1000));
	drain(n);
	in_child(child_deliver, other);
	CHECK(wait_report(n, &cookie_b, 1000));
	store_notify_remove(n, wb);
	drain(n);
	in_child(child_deliver, other);
	CHECK(!wait_report(n, &cookie_b, 200));
	store_notify_remove(n, wa);
	store_notify_close(&n);
	CHECK(n == NULL);
}

UNIT_TEST(test_cleanup)
{
	if (g_root[0])
		rm_rf(g_root);
}

UNIT_MAIN(test_mutf7, test_mboxname, test_folders, test_notify, test_cleanup)
