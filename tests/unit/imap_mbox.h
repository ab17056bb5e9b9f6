/* Test helpers shared by the IMAP FETCH/SEARCH/flags tests: a Maildir
 * in a temporary directory, filled through the store API. */
#ifndef POSTERN_TEST_IMAP_MBOX_H
#define POSTERN_TEST_IMAP_MBOX_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/buf.h"
#include "store/store.h"
#include "tests/unit/unit.h"

#define TM_UNUSED __attribute__((unused))

static char tm_root[256];
static char tm_md[300];
static char tm_err[256];

static int tm_rm_cb(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static TM_UNUSED void tm_cleanup(void)
{
	if (tm_root[0])
		nftw(tm_root, tm_rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	tm_root[0] = '\0';
}

static TM_UNUSED const char *tm_new_maildir(void)
{
	tm_cleanup();
	snprintf(tm_root, sizeof tm_root, "/tmp/postern-test-h5-XXXXXX");
	if (!mkdtemp(tm_root))
		abort();
	snprintf(tm_md, sizeof tm_md, "%s/alice", tm_root);
	if (store_maildir_create(tm_md, tm_err, sizeof tm_err) != 0)
		abort();
	return tm_md;
}

static TM_UNUSED struct mailbox *tm_open(void)
{
	struct mailbox *mb = NULL;
	if (store_mailbox_open(tm_md, &mb, tm_err, sizeof tm_err) != 0) {
		fprintf(stderr, "open: %s\n", tm_err);
		abort();
	}
	return mb;
}

static TM_UNUSED void tm_deliver(const char *s, int64_t date)
{
	CHECK_EQ_INT(store_deliver(tm_md, s, strlen(s), date, tm_err,
				   sizeof tm_err), 0);
}

/* Byte-exact: stored verbatim when not all CRLF. */
static TM_UNUSED uint32_t tm_append(const char *s, size_t len, uint32_t flags,
				   const char *kw, int64_t date)
{
	struct iovec iov = { (void *)s, len };
	struct str k = kw ? str_from_cstr(kw) : (struct str){ NULL, 0 };
	uint32_t uid = 0, uv = 0;
	CHECK_EQ_INT(store_mailbox_append(tm_md, &iov, 1, flags, &k,
					  kw ? 1 : 0, date, &uid, &uv, tm_err,
					  sizeof tm_err), 0);
	return uid;
}

static TM_UNUSED void tm_set_flags(struct mailbox *mb, uint32_t uid,
				   enum store_flag_op op, uint32_t flags,
				   const char *kw)
{
	struct str k = kw ? str_from_cstr(kw) : (struct str){ NULL, 0 };
	struct store_flag_update up = { .uids = &uid, .n_uids = 1, .op = op,
					.flags = flags, .keywords = &k,
					.n_keywords = kw ? 1 : 0 };
	struct store_uid_list ch, fl;
	CHECK_EQ_INT(store_mailbox_set_flags(mb, &up, &ch, &fl, tm_err,
					     sizeof tm_err), 0);
	store_uid_list_free(&ch);
	store_uid_list_free(&fl);
}
#endif
