/* Sequence sets against a session's announced view (imap/msgset.c):
 * sequence numbers past the view are refused, UIDs that do not exist are
 * ignored, '*' and '$', huge UID ranges, and messages the client has not
 * been told about stay out. */
#include "imap/session.h"
#include "tests/unit/imap_mbox.h"

static struct imap_arg atom(const char *s)
{
	struct imap_arg a;
	memset(&a, 0, sizeof a);
	a.type = IMAP_ARG_ATOM;
	a.s = str_from_cstr(s);
	return a;
}

/* idx as "1,2,5" (1-based) for easy comparison. */
static bool eval(struct imap_session *s, const char *set, bool uid,
		 const char *want)
{
	struct imap_arg a = atom(set);
	uint32_t *idx;
	size_t n;
	const char *reason = NULL;
	if (!imap_msgset_arg(s, &a, uid, &idx, &n, &reason))
		return want == NULL;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%u", i ? "," : "", idx[i] + 1);
	bool ok = want && strcmp(buf_cstr(&b), want) == 0;
	if (!ok)
		fprintf(stderr, "%s (uid %d): got \"%s\"\n", set, uid,
			buf_cstr(&b));
	buf_free(&b);
	free(idx);
	return ok;
}

UNIT_TEST(test_msgset)
{
	tm_new_maildir();
	for (int i = 0; i < 5; i++)
		tm_deliver("Subject: x\n\nbody\n", 1700000000 + i);
	struct mailbox *mb = tm_open();
	CHECK_EQ_INT(store_mailbox_count(mb), 5);
	/* Expunge UID 2 so UIDs are 1,3,4,5: a gap. */
	tm_set_flags(mb, 2, STORE_FLAGS_ADD, STORE_F_DELETED, NULL);
	struct store_uid_list ex = { 0 };
	CHECK(store_mailbox_expunge(mb, NULL, 0, &ex, tm_err, sizeof tm_err) == 0);
	store_uid_list_free(&ex);
	struct store_changes ch;
	memset(&ch, 0, sizeof ch);
	CHECK(store_mailbox_refresh(mb, &ch, tm_err, sizeof tm_err) == 0);
	store_changes_free(&ch);
	CHECK_EQ_INT(store_mailbox_count(mb), 4);

	struct imap_session s;
	memset(&s, 0, sizeof s);
	s.state = IMAP_SELECTED;
	s.sel.mb = mb;
	s.sel.exists = 3; /* the fourth message is not announced yet */

	CHECK(eval(&s, "1:*", false, "1,2,3"));
	CHECK(eval(&s, "*", false, "3"));
	CHECK(eval(&s, "3:1", false, "1,2,3"));
	CHECK(eval(&s, "2,2,1", false, "1,2"));
	CHECK(eval(&s, "4", false, NULL));      /* past the view: BAD */
	CHECK(eval(&s, "1:4", false, NULL));
	CHECK(eval(&s, "0", false, NULL));
	CHECK(eval(&s, "x", false, NULL));
	CHECK(eval(&s, "1:*", true, "1,2,3"));
	CHECK(eval(&s, "2", true, ""));         /* expunged UID: nothing */
	CHECK(eval(&s, "3:4", true, "2,3"));
	CHECK(eval(&s, "5", true, ""));         /* not announced */
	CHECK(eval(&s, "1:4294967295", true, "1,2,3"));
	CHECK(eval(&s, "100:*", true, "3"));    /* n:* is *:n (RFC 9051 9) */
	/* "$": the saved UIDs that are in the view. */
	uint32_t saved[] = { 2, 4, 5 };
	s.sel.saved = saved;
	s.sel.n_saved = 3;
	CHECK(eval(&s, "$", false, "3"));
	CHECK(eval(&s, "$", true, "3"));
	s.sel.saved = NULL;
	s.sel.n_saved = 0;
	CHECK(eval(&s, "$", false, ""));

	uint32_t v[] = { 0, 2 };
	imap_msgset_to_uids(&s, v, 2);
	CHECK_EQ_INT(v[0], 1);
	CHECK_EQ_INT(v[1], 4);

	/* An empty view: '*' is an error for numbers, nothing for UIDs. */
	s.sel.exists = 0;
	CHECK(eval(&s, "*", false, NULL));
	CHECK(eval(&s, "1:*", true, ""));
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_MAIN(test_msgset)
