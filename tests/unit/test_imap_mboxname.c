/* Mailbox names between the client and the store (imap/mboxname.c):
 * modified UTF-7 for IMAP4rev1 clients, UTF-8 once enabled, INBOX in
 * any case, NUL and invalid forms refused, and names written back in the
 * client's form. */
#include "imap/session.h"
#include "tests/unit/unit.h"

static struct imap_arg quoted(const char *s, size_t len)
{
	struct imap_arg a;
	memset(&a, 0, sizeof a);
	a.type = IMAP_ARG_QUOTED;
	a.s = str_make(s, len);
	return a;
}

static const char *arg_to_utf8(struct imap_session *s, const char *in,
			       size_t len, struct buf *out)
{
	struct imap_arg a = quoted(in, len);
	const char *reason = NULL;
	buf_clear(out);
	if (!imap_mboxname_arg(s, &a, out, &reason))
		return NULL;
	return buf_cstr(out);
}

UNIT_TEST(test_names_in)
{
	struct imap_session s;
	memset(&s, 0, sizeof s);
	struct buf b = BUF_INIT;
	CHECK_EQ_STR(arg_to_utf8(&s, "inbox", 5, &b), "INBOX");
	CHECK_EQ_STR(arg_to_utf8(&s, "Entw&APw-rfe", 12, &b), "Entw\xc3\xbc" "rfe");
	CHECK_EQ_STR(arg_to_utf8(&s, "a&-b", 4, &b), "a&b");
	CHECK(arg_to_utf8(&s, "Entw\xc3\xbc" "rfe", 9, &b) == NULL);
	CHECK(arg_to_utf8(&s, "a&AGE", 5, &b) == NULL); /* unterminated */
	CHECK(arg_to_utf8(&s, "a\0b", 3, &b) == NULL);
	s.utf8 = true;
	CHECK_EQ_STR(arg_to_utf8(&s, "Entw\xc3\xbc" "rfe", 9, &b), "Entw\xc3\xbc" "rfe");
	/* After ENABLE the '&' is a plain character. */
	CHECK_EQ_STR(arg_to_utf8(&s, "a&-b", 4, &b), "a&-b");
	CHECK(arg_to_utf8(&s, "\xc3\x28", 2, &b) == NULL);
	CHECK_EQ_STR(arg_to_utf8(&s, "INBOX", 5, &b), "INBOX");
	buf_free(&b);
}

UNIT_TEST(test_names_out)
{
	struct imap_session s;
	memset(&s, 0, sizeof s);
	struct buf b = BUF_INIT;
	imap_mboxname_write(&s, &b, "Entw\xc3\xbc" "rfe");
	CHECK_EQ_STR(buf_cstr(&b), "\"Entw&APw-rfe\"");
	buf_clear(&b);
	s.utf8 = true;
	imap_mboxname_write(&s, &b, "Entw\xc3\xbc" "rfe");
	CHECK_EQ_STR(buf_cstr(&b), "\"Entw\xc3\xbc" "rfe\"");
	buf_clear(&b);
	imap_mboxname_write(&s, &b, "a\"b");
	CHECK_EQ_STR(buf_cstr(&b), "\"a\\\"b\"");
	buf_free(&b);
}

UNIT_TEST(test_names_path)
{
	struct imap_session s;
	memset(&s, 0, sizeof s);
	s.maildir = (char *)"/m/alice";
	struct buf path = BUF_INIT, canon = BUF_INIT;
	char err[256];
	CHECK(imap_mboxname_path(&s, STR_LIT("INBOX"), &path, &canon, err,
				 sizeof err) == 0);
	CHECK_EQ_STR(buf_cstr(&path), "/m/alice");
	buf_clear(&path);
	buf_clear(&canon);
	CHECK(imap_mboxname_path(&s, STR_LIT("inbox/x"), &path, &canon, err,
				 sizeof err) == 0);
	CHECK_EQ_STR(buf_cstr(&path), "/m/alice/.INBOX.x");
	CHECK_EQ_STR(buf_cstr(&canon), "INBOX/x");
	buf_clear(&path);
	CHECK(imap_mboxname_path(&s, STR_LIT("../x"), &path, NULL, err,
				 sizeof err) < 0);
	CHECK(imap_mboxname_path(&s, STR_LIT("a.b"), &path, NULL, err,
				 sizeof err) < 0);
	buf_free(&path);
	buf_free(&canon);
}

UNIT_MAIN(test_names_in, test_names_out, test_names_path)
