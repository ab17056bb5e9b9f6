/* deliver/local.c and store_deliverv: one message to several INBOXes. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/config.h"
#include "core/spool.h"
#include "deliver/local.h"
#include "store/store.h"
#include "tests/unit/unit.h"

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

static char *make_root(void)
{
	char tmpl[] = "/tmp/postern-unit-deliver-XXXXXX";
	char *d = mkdtemp(tmpl);
	CHECK(d != NULL);
	return strdup(d ? d : "/nonexistent");
}

/* The single file in DIR/new/: its bytes into out (malloc'ed), its name
 * into name. Returns the number of files found. */
static int read_new(const char *maildir, char **out, size_t *len, char *name,
		    size_t namesz)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/new", maildir);
	DIR *d = opendir(dir);
	int n = 0;
	*out = NULL;
	*len = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(name, namesz, "%s", de->d_name);
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		free(*out);
		*out = malloc(1 << 20);
		*len = fread(*out, 1, 1 << 20, f);
		fclose(f);
	}
	closedir(d);
	return n;
}

static const char body[] = "Subject: hi\r\n\r\nline 1\r\n.line 2\r\nno final newline";
static const char stored[] = "Return-Path: <a@b.example>\nReceived: from x\n"
			     "\tby y\nSubject: hi\n\nline 1\n.line 2\n"
			     "no final newline\n";

UNIT_TEST(test_multiple_users_and_headers)
{
	char *root = make_root();
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.mail_dir = root;
	const char *users[] = { "alice", "bob@example.org", "carol" };
	struct deliver_result res[3];
	static const char hdr[] = "Return-Path: <a@b.example>\r\n"
				  "Received: from x\r\n\tby y\r\n";
	size_t ok = deliver_local(&cfg, STR_LIT(hdr), body, sizeof body - 1,
				  1700000000, users, 3, res);
	CHECK_EQ_INT(ok, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(res[i].status, DELIVER_OK);
		char md[512], name[512];
		snprintf(md, sizeof md, "%s/%s", root, users[i]);
		char *data;
		size_t len;
		CHECK_EQ_INT(read_new(md, &data, &len, name, sizeof name), 1);
		CHECK_EQ_MEM(data, len, stored, sizeof stored - 1);
		/* S= is the file size, W= the size with CRLF line ends */
		char want[64];
		snprintf(want, sizeof want, ",S=%zu,W=%zu", sizeof stored - 1,
			 sizeof stored - 1 + 8);
		CHECK(strstr(name, want) != NULL);
		free(data);
		/* the store reads it back with the same sizes */
		struct mailbox *mb;
		char err[256];
		CHECK_EQ_INT(store_mailbox_open(md, &mb, err, sizeof err), 0);
		if (mb) {
			CHECK_EQ_INT(store_mailbox_count(mb), 1);
			const struct store_msg *m = store_mailbox_msg(mb, 0);
			CHECK_EQ_INT(m->size, sizeof stored - 1 + 8);
			CHECK_EQ_INT(m->internal_date, 1700000000);
			store_mailbox_close(&mb);
		}
	}
	rm_rf(root);
	free(root);
}

UNIT_TEST(test_no_headers)
{
	char *root = make_root();
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.mail_dir = root;
	const char *users[] = { "alice" };
	struct deliver_result res[1];
	static const char msg[] = "Subject: x\n\nbody\n";
	CHECK_EQ_INT(deliver_local(&cfg, str_make("", 0), msg, sizeof msg - 1, 0,
				   users, 1, res), 1);
	char md[512], name[512];
	snprintf(md, sizeof md, "%s/alice", root);
	char *data;
	size_t len;
	CHECK_EQ_INT(read_new(md, &data, &len, name, sizeof name), 1);
	CHECK_EQ_MEM(data, len, msg, sizeof msg - 1);
	free(data);
	rm_rf(root);
	free(root);
}

/* One recipient whose Maildir cannot be made (its path is a file; the
 * tests run as root, so permissions would not stop a write). */
UNIT_TEST(test_failing_recipient)
{
	char *root = make_root();
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.mail_dir = root;
	char path[512];
	snprintf(path, sizeof path, "%s/broken", root);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	const char *users[] = { "alice", "broken", "bob", "../evil" };
	struct deliver_result res[4];
	static const char msg[] = "Subject: x\n\nbody\n";
	size_t ok = deliver_local(&cfg, STR_LIT("Return-Path: <>\n"), msg,
				  sizeof msg - 1, 0, users, 4, res);
	CHECK_EQ_INT(ok, 2);
	CHECK_EQ_INT(res[0].status, DELIVER_OK);
	CHECK_EQ_INT(res[1].status, DELIVER_TEMP);
	CHECK(res[1].why[0] != '\0');
	CHECK_EQ_INT(res[2].status, DELIVER_OK);
	CHECK_EQ_INT(res[3].status, DELIVER_PERM);
	CHECK_EQ_STR(deliver_status_name(res[1].status), "tempfail");
	for (int i = 0; i < 3; i += 2) {
		char md[512], name[512];
		snprintf(md, sizeof md, "%s/%s", root, users[i]);
		char *data;
		size_t len;
		CHECK_EQ_INT(read_new(md, &data, &len, name, sizeof name), 1);
		CHECK_EQ_MEM(data, len, "Return-Path: <>\nSubject: x\n\nbody\n",
			     sizeof "Return-Path: <>\nSubject: x\n\nbody\n" - 1);
		free(data);
	}
	rm_rf(root);
	free(root);
}

/* store_deliverv writes what store_deliver writes for the same bytes,
 * wherever the pieces are cut (a CRLF split across two pieces too). */
UNIT_TEST(test_deliverv_matches_deliver)
{
	static const char *const inputs[] = {
		"a\r\nb\r\n", "a\r\r\nb", "\r", "x\r", "\r\n\r\n", "a\nb\rc\r\n.",
		"", "no newline", "\r\r\r\n\n",
	};
	char *root = make_root();
	for (size_t t = 0; t < sizeof inputs / sizeof inputs[0]; t++) {
		const char *in = inputs[t];
		size_t n = strlen(in);
		for (size_t cut = 0; cut <= n; cut++) {
			char a[512], b[512], err[256];
			snprintf(a, sizeof a, "%s/a%zu_%zu", root, t, cut);
			snprintf(b, sizeof b, "%s/b%zu_%zu", root, t, cut);
			CHECK_EQ_INT(store_maildir_create(a, err, sizeof err), 0);
			CHECK_EQ_INT(store_maildir_create(b, err, sizeof err), 0);
			CHECK_EQ_INT(store_deliver(a, in, n, 0, err, sizeof err), 0);
			struct iovec iov[3] = {
				{ (void *)in, cut },
				{ (void *)"", 0 },
				{ (void *)(in + cut), n - cut },
			};
			CHECK_EQ_INT(store_deliverv(b, iov, 3, 0, err, sizeof err), 0);
			char *da, *db, na[512], nb[512];
			size_t la, lb;
			CHECK_EQ_INT(read_new(a, &da, &la, na, sizeof na), 1);
			CHECK_EQ_INT(read_new(b, &db, &lb, nb, sizeof nb), 1);
			CHECK_EQ_MEM(da, la, db, lb);
			CHECK_EQ_STR(strstr(na, ",S="), strstr(nb, ",S="));
			free(da);
			free(db);
		}
	}
	rm_rf(root);
	free(root);
}

/* A body larger than the writer's buffer. */
UNIT_TEST(test_large_body)
{
	char *root = make_root();
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.mail_dir = root;
	size_t n = 300000;
	char *msg = malloc(n);
	for (size_t i = 0; i < n; i++)
		msg[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'a';
	const char *users[] = { "alice" };
	struct deliver_result res[1];
	CHECK_EQ_INT(deliver_local(&cfg, STR_LIT("X: y\r\n"), msg, n, 0, users, 1,
				   res), 1);
	char md[512], name[512];
	snprintf(md, sizeof md, "%s/alice", root);
	char *data;
	size_t len;
	CHECK_EQ_INT(read_new(md, &data, &len, name, sizeof name), 1);
	CHECK_EQ_INT(len, 5 + n - n / 80);
	CHECK(data && !memcmp(data, "X: y\naaa", 8));
	free(data);
	free(msg);
	rm_rf(root);
	free(root);
}

/* deliver_local_fd: the same files as deliver_local from memory, for a
 * message in a spool file bigger than the store's copy buffer, with a
 * CRLF split across the pieces it reads; the fd's offset is untouched;
 * a file shorter than the length given delivers nothing. */
UNIT_TEST(test_from_spool_fd)
{
	char *root = make_root();
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.mail_dir = root;
	size_t n = 200000;
	char *msg = malloc(n);
	for (size_t i = 0; i < n; i++)
		msg[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'a';
	msg[65535] = '\r'; /* a CRLF across the 64 KiB pieces */
	msg[65536] = '\n';
	int fd = spool_open(root);
	CHECK(fd >= 0);
	CHECK_EQ_INT(spool_append(fd, msg, n), 0);
	off_t pos = lseek(fd, 0, SEEK_CUR);
	const char *users[] = { "alice", "bob" };
	struct deliver_result res[2];
	CHECK_EQ_INT(deliver_local_fd(&cfg, STR_LIT("X: y\r\n"), fd, n, 0,
				      users, 1, res), 1);
	CHECK_EQ_INT(deliver_local(&cfg, STR_LIT("X: y\r\n"), msg, n, 0,
				   users + 1, 1, res + 1), 1);
	CHECK(lseek(fd, 0, SEEK_CUR) == pos);
	char md[512], name[512];
	char *a, *b;
	size_t alen, blen;
	snprintf(md, sizeof md, "%s/alice", root);
	CHECK_EQ_INT(read_new(md, &a, &alen, name, sizeof name), 1);
	snprintf(md, sizeof md, "%s/bob", root);
	CHECK_EQ_INT(read_new(md, &b, &blen, name, sizeof name), 1);
	CHECK(alen > n / 2);
	CHECK_EQ_MEM(a, alen, b, blen);
	free(a);
	free(b);
	/* shorter than said: a temporary failure, nothing in new/ */
	users[0] = "carol";
	CHECK_EQ_INT(deliver_local_fd(&cfg, STR_LIT(""), fd, n + 1, 0, users,
				      1, res), 0);
	CHECK_EQ_INT(res[0].status, DELIVER_TEMP);
	snprintf(md, sizeof md, "%s/carol", root);
	CHECK_EQ_INT(read_new(md, &a, &alen, name, sizeof name), 0);
	close(fd);
	free(msg);
	rm_rf(root);
	free(root);
}

UNIT_MAIN(test_multiple_users_and_headers, test_no_headers,
	  test_failing_recipient, test_deliverv_matches_deliver,
	  test_large_body, test_from_spool_fd)
