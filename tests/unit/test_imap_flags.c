/* imap/flags: parsing STORE/APPEND flag lists, writing a message's and
 * a mailbox's flags. */
#include "imap/flags.h"
#include "imap/parse.h"
#include "tests/unit/imap_mbox.h"

static struct imap_arg atom(const char *s)
{
	return (struct imap_arg){ .type = IMAP_ARG_ATOM,
				  .s = str_from_cstr(s) };
}

static bool parse_list(const char *const *words, size_t n,
		       struct imap_flag_list *fl, const char **reason)
{
	struct imap_arg kids[16], list;
	for (size_t i = 0; i < n; i++)
		kids[i] = atom(words[i]);
	list = (struct imap_arg){ .type = IMAP_ARG_LIST, .list = kids,
				  .count = n };
	return imap_flag_list_parse(&list, 1, fl, reason);
}

UNIT_TEST(test_parse_list)
{
	const char *w[] = { "\\seen", "\\DRAFT", "$Label1", "foo", "FOO",
			    "\\Answered", "\\Flagged", "\\Deleted" };
	struct imap_flag_list fl;
	const char *reason = NULL;
	CHECK(parse_list(w, 8, &fl, &reason));
	CHECK_EQ_INT(fl.flags, STORE_F_ALL);
	CHECK_EQ_INT(fl.n_keywords, 2);
	CHECK(str_eq(fl.keywords[0], "$Label1"));
	CHECK(str_eq(fl.keywords[1], "foo"));
	imap_flag_list_free(&fl);
	CHECK(fl.keywords == NULL);

	CHECK(parse_list(w, 0, &fl, &reason));
	CHECK_EQ_INT(fl.flags, 0);
	CHECK_EQ_INT(fl.n_keywords, 0);
	imap_flag_list_free(&fl);
}

UNIT_TEST(test_parse_bare)
{
	struct imap_arg a[2] = { atom("\\Seen"), atom("kw") };
	struct imap_flag_list fl;
	const char *reason = NULL;
	CHECK(imap_flag_list_parse(a, 1, &fl, &reason));
	CHECK_EQ_INT(fl.flags, STORE_F_SEEN);
	imap_flag_list_free(&fl);
	CHECK(imap_flag_list_parse(a, 2, &fl, &reason));
	CHECK_EQ_INT(fl.flags, STORE_F_SEEN);
	CHECK_EQ_INT(fl.n_keywords, 1);
	imap_flag_list_free(&fl);
	CHECK(!imap_flag_list_parse(a, 0, &fl, &reason));
}

UNIT_TEST(test_parse_errors)
{
	static const char *const bad[] = { "\\Recent", "\\recent", "\\Foo",
					   "\\*", "a]b", "a%b", "x*",
					   "\xc3\xa4", "\\" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct imap_flag_list fl;
		const char *reason = NULL;
		CHECK(!parse_list(&bad[i], 1, &fl, &reason));
		CHECK(reason != NULL);
		CHECK(fl.keywords == NULL);
	}
	struct imap_arg q = { .type = IMAP_ARG_QUOTED,
			      .s = STR_LIT("\\Seen") };
	struct imap_flag_list fl;
	const char *reason = NULL;
	CHECK(!imap_flag_list_parse(&q, 1, &fl, &reason));
	struct imap_arg inner[1] = { atom("x") };
	struct imap_arg nested[1] = { { .type = IMAP_ARG_LIST, .list = inner,
					.count = 1 } };
	struct imap_arg outer = { .type = IMAP_ARG_LIST, .list = nested,
				  .count = 1 };
	CHECK(!imap_flag_list_parse(&outer, 1, &fl, &reason));
}

UNIT_TEST(test_write)
{
	tm_new_maildir();
	tm_deliver("Subject: a\r\n\r\nx\r\n", 1700000000);
	struct mailbox *mb = tm_open();
	uint32_t uid = store_mailbox_msg(mb, 0)->uid;
	tm_set_flags(mb, uid, STORE_FLAGS_ADD, STORE_F_SEEN, "$Label1");
	tm_set_flags(mb, uid, STORE_FLAGS_ADD, STORE_F_DRAFT | STORE_F_FLAGGED,
		     "Work");
	const struct store_msg *m = store_mailbox_msg(mb, 0);
	struct buf b = BUF_INIT;
	imap_flags_write(&b, mb, m->flags, m->keywords);
	CHECK_EQ_STR(buf_cstr(&b), "(\\Seen \\Flagged \\Draft $Label1 Work)");
	buf_clear(&b);
	imap_flags_write(&b, mb, 0, 0);
	CHECK_EQ_STR(buf_cstr(&b), "()");
	buf_clear(&b);
	imap_flags_write_mailbox(&b, mb, false);
	CHECK_EQ_STR(buf_cstr(&b), "(\\Seen \\Answered \\Flagged \\Deleted "
				   "\\Draft $Label1 Work)");
	buf_clear(&b);
	imap_flags_write_mailbox(&b, mb, true);
	CHECK_EQ_STR(buf_cstr(&b), "(\\Seen \\Answered \\Flagged \\Deleted "
				   "\\Draft $Label1 Work \\*)");
	CHECK_EQ_STR(imap_flag_name(STORE_F_DELETED), "\\Deleted");
	CHECK(imap_flag_name(0x100) == NULL);
	buf_free(&b);
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_MAIN(test_parse_list, test_parse_bare, test_parse_errors, test_write)
