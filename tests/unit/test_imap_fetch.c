/* imap/fetch: whole FETCH responses over a real mailbox in a temporary
 * directory: index items, literals, sections, partials, BINARY with
 * base64/QP and literal8, missing parts, a vanished file. */
#include "imap/fetch.h"
#include "imap/parse.h"
#include "tests/unit/imap_mbox.h"

/* Items as a client writes them, e.g. "(UID BODY.PEEK[1]<0.5>)". */
static bool items_parse(const char *text, struct imap_fetch_items *it)
{
	struct imap_parse_limits lim = imap_parse_limits_default();
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf line = BUF_INIT;
	buf_printf(&line, "a FETCH 1 %s", text);
	bool ok = false;
	if (imap_parser_feed_line(p, buf_str(&line)) == IMAP_PARSE_DONE) {
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		const char *reason;
		ok = n == 2 && imap_fetch_items_parse(&a[1], it, &reason);
	}
	buf_free(&line);
	imap_parser_free(&p);
	return ok;
}

static char out_s[8192];
static size_t out_len;

/* The FETCH response (or "ERR <rc>") as a C string in out_s. */
static const char *fetch(const struct mailbox *mb, size_t i, const char *items,
			 const struct imap_fetch_ctx *ctx)
{
	struct imap_fetch_items it;
	if (!items_parse(items, &it)) {
		fprintf(stderr, "items: %s\n", items);
		return "PARSE";
	}
	struct buf b = BUF_INIT;
	char err[256];
	struct imap_fetch_ctx none = { 0 };
	int rc = imap_fetch_write(&b, mb, i, (uint32_t)i + 1, &it,
				  ctx ? ctx : &none, err, sizeof err);
	if (rc != 0) {
		CHECK_EQ_INT(b.len, 0);
		snprintf(out_s, sizeof out_s, "ERR %d", rc);
	} else {
		CHECK(b.len < sizeof out_s);
		memcpy(out_s, b.data, b.len);
		out_s[b.len] = '\0';
		out_len = b.len;
	}
	buf_free(&b);
	imap_fetch_items_free(&it);
	return out_s;
}

#define MSG1 "From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\nHello\r\n"

#define MSG2                                                               \
	"From: bob@example.org\r\n"                                        \
	"Subject: parts\r\n"                                               \
	"MIME-Version: 1.0\r\n"                                            \
	"Content-Type: multipart/mixed; boundary=XX\r\n"                   \
	"\r\n"                                                             \
	"--XX\r\n"                                                         \
	"Content-Type: text/plain; charset=utf-8\r\n"                      \
	"Content-Transfer-Encoding: quoted-printable\r\n"                  \
	"\r\n"                                                             \
	"Gr=C3=BC=C3=9Fe=\r\n"                                             \
	" z\r\n"                                                           \
	"--XX\r\n"                                                         \
	"Content-Type: application/octet-stream\r\n"                       \
	"Content-Transfer-Encoding: base64\r\n"                            \
	"\r\n"                                                             \
	"AAEC/w==\r\n"                                                     \
	"--XX\r\n"                                                         \
	"Content-Type: text/plain\r\n"                                     \
	"Content-Transfer-Encoding: x-unknown\r\n"                         \
	"\r\n"                                                             \
	"odd\r\n"                                                          \
	"--XX--\r\n"

/* 2023-11-14 22:13:20 UTC */
#define T0 1700000000

static struct mailbox *setup(void)
{
	tm_new_maildir();
	tm_deliver(MSG1, T0);
	tm_deliver(MSG2, T0 + 86400 * 30);
	/* bare LF, a NUL, no final newline: stored verbatim */
	tm_append("Subject: lf\n\nnul\0byte", 21, 0, NULL, 86400 * 3 + 5);
	struct mailbox *mb = tm_open();
	tm_set_flags(mb, store_mailbox_msg(mb, 0)->uid, STORE_FLAGS_ADD,
		     STORE_F_SEEN, "$Label1");
	return mb;
}

UNIT_TEST(test_index_items)
{
	struct mailbox *mb = setup();
	CHECK(store_mailbox_count(mb) == 3);
	char want[512];
	snprintf(want, sizeof want,
		 "* 1 FETCH (UID %u FLAGS (\\Seen $Label1) RFC822.SIZE %zu)\r\n",
		 store_mailbox_msg(mb, 0)->uid, strlen(MSG1));
	CHECK_EQ_STR(fetch(mb, 0, "(UID RFC822.SIZE FLAGS)", NULL), want);
	CHECK_EQ_STR(fetch(mb, 0, "INTERNALDATE", NULL),
		     "* 1 FETCH (INTERNALDATE \"14-Nov-2023 22:13:20 +0000\")\r\n");
	CHECK_EQ_STR(fetch(mb, 2, "INTERNALDATE", NULL),
		     "* 3 FETCH (INTERNALDATE \" 4-Jan-1970 00:00:05 +0000\")\r\n");
	/* UID FETCH: UID first although not asked */
	struct imap_fetch_ctx uid = { .uid = true };
	snprintf(want, sizeof want, "* 3 FETCH (UID %u FLAGS ())\r\n",
		 store_mailbox_msg(mb, 2)->uid);
	CHECK_EQ_STR(fetch(mb, 2, "FLAGS", &uid), want);
	snprintf(want, sizeof want, "* 3 FETCH (UID %u RFC822.SIZE 21)\r\n",
		 store_mailbox_msg(mb, 2)->uid);
	CHECK_EQ_STR(fetch(mb, 2, "(RFC822.SIZE UID)", &uid), want);
	struct imap_fetch_ctx ms = { .modseq = true };
	snprintf(want, sizeof want, "* 1 FETCH (FLAGS (\\Seen $Label1) MODSEQ (%llu))\r\n",
		 (unsigned long long)store_mailbox_msg(mb, 0)->modseq);
	CHECK_EQ_STR(fetch(mb, 0, "FLAGS", &ms), want);

	struct imap_fetch_items it;
	CHECK(items_parse("FAST", &it));
	CHECK(!imap_fetch_needs_file(&it));
	imap_fetch_items_free(&it);
	CHECK(items_parse("(FLAGS MODSEQ UID)", &it));
	CHECK(!imap_fetch_needs_file(&it));
	imap_fetch_items_free(&it);
	CHECK(items_parse("ALL", &it));
	CHECK(imap_fetch_needs_file(&it));
	imap_fetch_items_free(&it);
	CHECK(items_parse("BODY.PEEK[]", &it));
	CHECK(imap_fetch_needs_file(&it));
	imap_fetch_items_free(&it);
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_TEST(test_bodies)
{
	struct mailbox *mb = setup();
	CHECK_EQ_STR(fetch(mb, 0, "BODY[]", NULL),
		     "* 1 FETCH (BODY[] {55}\r\n" MSG1 ")\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "RFC822", NULL),
		     "* 1 FETCH (RFC822 {55}\r\n" MSG1 ")\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "(RFC822.HEADER RFC822.TEXT)", NULL),
		     "* 1 FETCH (RFC822.HEADER {48}\r\n"
		     "From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\n"
		     " RFC822.TEXT {7}\r\nHello\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY.PEEK[HEADER]", NULL),
		     "* 1 FETCH (BODY[HEADER] {48}\r\n"
		     "From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY.PEEK[TEXT]", NULL),
		     "* 1 FETCH (BODY[TEXT] {7}\r\nHello\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY.PEEK[HEADER.FIELDS (subject)]", NULL),
		     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {15}\r\n"
		     "Subject: hi\r\n\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY.PEEK[HEADER.FIELDS.NOT (subject)]", NULL),
		     "* 1 FETCH (BODY[HEADER.FIELDS.NOT (SUBJECT)] {35}\r\n"
		     "From: Alice <alice@example.org>\r\n\r\n)\r\n");
	/* part 1 of a non-multipart message is its body */
	CHECK_EQ_STR(fetch(mb, 0, "BODY.PEEK[1]", NULL),
		     "* 1 FETCH (BODY[1] {7}\r\nHello\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY[]<6.5>", NULL),
		     "* 1 FETCH (BODY[]<6> {5}\r\nAlice)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY[TEXT]<3.100>", NULL),
		     "* 1 FETCH (BODY[TEXT]<3> {4}\r\nlo\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 0, "BODY[]<1000.10>", NULL),
		     "* 1 FETCH (BODY[]<1000> {0}\r\n)\r\n");
	/* multipart: parts, MIME header, missing part is empty */
	CHECK_EQ_STR(fetch(mb, 1, "BODY.PEEK[1]", NULL),
		     "* 2 FETCH (BODY[1] {20}\r\nGr=C3=BC=C3=9Fe=\r\n z)\r\n");
	CHECK_EQ_STR(fetch(mb, 1, "BODY.PEEK[1.MIME]", NULL),
		     "* 2 FETCH (BODY[1.MIME] {88}\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Transfer-Encoding: quoted-printable\r\n\r\n)\r\n");
	CHECK_EQ_STR(fetch(mb, 1, "BODY.PEEK[9]", NULL),
		     "* 2 FETCH (BODY[9] {0}\r\n)\r\n");
	/* verbatim message: sizes exact; NUL goes out as 0x80 in BODY */
	CHECK_EQ_STR(fetch(mb, 2, "BODY.PEEK[]", NULL),
		     "* 3 FETCH (BODY[] {21}\r\nSubject: lf\n\nnul\x80" "byte)\r\n");
	CHECK_EQ_STR(fetch(mb, 2, "BODY.PEEK[TEXT]", NULL),
		     "* 3 FETCH (BODY[TEXT] {8}\r\nnul\x80" "byte)\r\n");
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_TEST(test_binary)
{
	struct mailbox *mb = setup();
	CHECK_EQ_STR(fetch(mb, 1, "BINARY.PEEK[1]", NULL),
		     "* 2 FETCH (BINARY[1] {9}\r\nGr\xc3\xbc\xc3\x9f" "e z)\r\n");
	CHECK_EQ_STR(fetch(mb, 1, "(BINARY.SIZE[1] BINARY.SIZE[2])", NULL),
		     "* 2 FETCH (BINARY.SIZE[1] 9 BINARY.SIZE[2] 4)\r\n");
	/* decoded NUL: literal8 */
	struct buf b = BUF_INIT;
	buf_appends(&b, "* 2 FETCH (BINARY[2] ~{4}\r\n");
	buf_append(&b, "\0\1\2\xff", 4);
	buf_appends(&b, ")\r\n");
	fetch(mb, 1, "BINARY.PEEK[2]", NULL);
	CHECK_EQ_MEM(out_s, out_len, b.data, b.len);
	buf_free(&b);
	/* the literal8 header is enough to check after the NUL */
	CHECK(strncmp(out_s, "* 2 FETCH (BINARY[2] ~{4}\r\n", 27) == 0);
	CHECK_EQ_STR(fetch(mb, 1, "BINARY.PEEK[2]<1.2>", NULL),
		     "* 2 FETCH (BINARY[2]<1> {2}\r\n\1\2)\r\n");
	CHECK_EQ_STR(fetch(mb, 1, "BINARY.PEEK[1]<2.2>", NULL),
		     "* 2 FETCH (BINARY[1]<2> {2}\r\n\xc3\xbc)\r\n");
	CHECK_EQ_STR(fetch(mb, 1, "BINARY.PEEK[3]", NULL),
		     "ERR -100");
	CHECK_EQ_STR(fetch(mb, 1, "(FLAGS BINARY.SIZE[3])", NULL),
		     "ERR -100");
	CHECK_EQ_STR(fetch(mb, 1, "BINARY.PEEK[7]", NULL),
		     "* 2 FETCH (BINARY[7] {0}\r\n)\r\n");
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_TEST(test_structure)
{
	struct mailbox *mb = setup();
	const char *r = fetch(mb, 0, "ENVELOPE", NULL);
	CHECK_EQ_STR(r, "* 1 FETCH (ENVELOPE (NIL \"hi\" "
			"((\"Alice\" NIL \"alice\" \"example.org\")) "
			"((\"Alice\" NIL \"alice\" \"example.org\")) "
			"((\"Alice\" NIL \"alice\" \"example.org\")) "
			"NIL NIL NIL NIL NIL))\r\n");
	r = fetch(mb, 0, "BODY", NULL);
	CHECK_EQ_STR(r, "* 1 FETCH (BODY (\"text\" \"plain\" "
			"(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1))\r\n");
	r = fetch(mb, 1, "(BODYSTRUCTURE UID)", NULL);
	CHECK(strncmp(r, "* 2 FETCH (UID ", 15) == 0);
	CHECK(strstr(r, "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\")"
			" NIL NIL \"quoted-printable\" 20 1") != NULL);
	CHECK(strstr(r, "\"mixed\" (\"boundary\" \"XX\")") != NULL);
	/* the macro ALL = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE */
	r = fetch(mb, 0, "ALL", NULL);
	CHECK(strncmp(r, "* 1 FETCH (FLAGS (\\Seen $Label1) INTERNALDATE "
			 "\"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 55 "
			 "ENVELOPE (NIL \"hi\"", 93) == 0);
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_TEST(test_vanished)
{
	struct mailbox *mb = setup();
	char path[700];
	snprintf(path, sizeof path, "%s/cur/%s", tm_md,
		 store_mailbox_msg(mb, 1)->filename);
	CHECK_EQ_INT(unlink(path), 0);
	struct imap_fetch_items it;
	CHECK(items_parse("(FLAGS BODY.PEEK[])", &it));
	struct buf b = BUF_INIT;
	buf_appends(&b, "keep");
	char err[256];
	struct imap_fetch_ctx ctx = { 0 };
	CHECK_EQ_INT(imap_fetch_write(&b, mb, 1, 2, &it, &ctx, err, sizeof err),
		     STORE_ENOENT);
	CHECK_EQ_STR(buf_cstr(&b), "keep");
	/* index-only items still answer */
	imap_fetch_items_free(&it);
	CHECK(items_parse("FLAGS", &it));
	buf_clear(&b);
	CHECK_EQ_INT(imap_fetch_write(&b, mb, 1, 2, &it, &ctx, err, sizeof err), 0);
	CHECK_EQ_STR(buf_cstr(&b), "* 2 FETCH (FLAGS ())\r\n");
	CHECK_EQ_INT(imap_fetch_write(&b, mb, 7, 8, &it, &ctx, err, sizeof err),
		     STORE_ENOENT);
	imap_fetch_items_free(&it);
	buf_free(&b);
	store_mailbox_close(&mb);
	tm_cleanup();
}

UNIT_MAIN(test_index_items, test_bodies, test_binary, test_structure,
	  test_vanished)
