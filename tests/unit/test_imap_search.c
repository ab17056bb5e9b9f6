/* imap/search: every SEARCH key over a real mailbox (flags, keywords,
 * dates, sizes, sets with * and $, header fields with encoded words,
 * BODY/TEXT with base64, case-insensitive UTF-8, OR/NOT nesting), a
 * vanished file, and the SEARCH/ESEARCH reply. */
#include <stdatomic.h>
#include <time.h>

#include "imap/parse.h"
#include "imap/search.h"
#include "tests/unit/imap_mbox.h"

static bool prog_parse(const char *text, struct imap_search_program *prog)
{
	struct imap_parse_limits lim = imap_parse_limits_default();
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf line = BUF_INIT;
	buf_printf(&line, "a SEARCH %s", text);
	bool ok = false;
	if (imap_parser_feed_line(p, buf_str(&line)) == IMAP_PARSE_DONE) {
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		struct imap_search_error err;
		ok = imap_search_parse(a, n, prog, &err);
		if (!ok)
			fprintf(stderr, "search parse: %s\n", err.reason);
	}
	buf_free(&line);
	imap_parser_free(&p);
	return ok;
}

static struct mailbox *g_mb;
static uint32_t g_saved[4];
static size_t g_nsaved;
static char res_s[1024];

/* The matching sequence numbers as "1 3 4" ("" for none). */
static const char *search(const char *text)
{
	struct imap_search_program prog;
	if (!prog_parse(text, &prog))
		return "PARSE";
	struct imap_search_view v = { .mb = g_mb,
				      .count = store_mailbox_count(g_mb),
				      .saved = g_nsaved ? g_saved : NULL,
				      .n_saved = g_nsaved };
	uint32_t *seqs;
	size_t n;
	char err[256];
	int rc = imap_search_run(&prog, &v, &seqs, &n, err, sizeof err);
	imap_search_free(&prog);
	if (rc != 0)
		return "ERR";
	size_t off = 0;
	res_s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(res_s + off, sizeof res_s - off, "%s%u",
					i ? " " : "", seqs[i]);
	free(seqs);
	return res_s;
}

#define T0 1700000000 /* Tue 14 Nov 2023 22:13:20 UTC */

static void setup(void)
{
	tm_new_maildir();
	tm_deliver("From: Alice <alice@example.org>\r\n"
		   "To: bob@example.org\r\n"
		   "Date: Wed, 1 Jan 2020 10:00:00 +0000\r\n"
		   "Subject: =?UTF-8?B?R1LDnFNTRSBhdXMgQmVybGlu?=\r\n"
		   "\r\n"
		   "hello world\r\n",
		   T0);
	tm_deliver("From: Bob <bob@example.org>\r\n"
		   "To: Bob <bob@example.net>\r\n"
		   "Cc: carol@example.com\r\n"
		   "Subject: attachment\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/mixed; boundary=b1\r\n"
		   "\r\n"
		   "--b1\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: base64\r\n"
		   "\r\n"
		   "TGllYmUgR3LDvHNzZSwgZGFzIFphdWJlcndvcnQgaXN0IEFicmFrYWRhYnJhLg0K\r\n"
		   "--b1--\r\n",
		   T0 + 86400 * 30);
	struct buf big = BUF_INIT;
	buf_appends(&big, "From: carol@example.com\r\n"
			  "Bcc: dave@example.com\r\n"
			  "X-Spam: yes\r\n"
			  "Date: Wed, 15 Nov 2023 23:30:00 -0800\r\n"
			  "Subject: plain\r\n\r\n");
	for (int i = 0; i < 40; i++)
		buf_appends(&big, "padding padding padding padding padding\r\n");
	tm_deliver(buf_cstr(&big), T0 + 86400 * 60);
	buf_free(&big);
	const char *d = "From: eve@example.org\r\n"
			"Subject: Re: gr\xc3\xbcsse\r\n\r\nshort\r\n";
	tm_append(d, strlen(d), STORE_F_SEEN | STORE_F_ANSWERED | STORE_F_DRAFT,
		  "Work", T0 + 86400 * 60);
	g_mb = tm_open();
	tm_set_flags(g_mb, store_mailbox_msg(g_mb, 2)->uid, STORE_FLAGS_ADD,
		     STORE_F_FLAGGED | STORE_F_DELETED, "$Junk");
	g_nsaved = 0;
}

static void teardown(void)
{
	store_mailbox_close(&g_mb);
	tm_cleanup();
}

UNIT_TEST(test_flags_keywords)
{
	setup();
	CHECK_EQ_STR(search("ALL"), "1 2 3 4");
	CHECK_EQ_STR(search("SEEN"), "4");
	CHECK_EQ_STR(search("UNSEEN"), "1 2 3");
	CHECK_EQ_STR(search("FLAGGED"), "3");
	CHECK_EQ_STR(search("UNFLAGGED"), "1 2 4");
	CHECK_EQ_STR(search("DELETED"), "3");
	CHECK_EQ_STR(search("UNDELETED"), "1 2 4");
	CHECK_EQ_STR(search("ANSWERED"), "4");
	CHECK_EQ_STR(search("UNANSWERED"), "1 2 3");
	CHECK_EQ_STR(search("DRAFT"), "4");
	CHECK_EQ_STR(search("UNDRAFT"), "1 2 3");
	CHECK_EQ_STR(search("KEYWORD $junk"), "3");
	CHECK_EQ_STR(search("KEYWORD WORK"), "4");
	CHECK_EQ_STR(search("KEYWORD nope"), "");
	CHECK_EQ_STR(search("UNKEYWORD nope"), "1 2 3 4");
	CHECK_EQ_STR(search("UNKEYWORD $Junk"), "1 2 4");
	/* no \Recent in IMAP4rev2 */
	CHECK_EQ_STR(search("NEW"), "");
	CHECK_EQ_STR(search("RECENT"), "");
	CHECK_EQ_STR(search("OLD"), "1 2 3 4");
	CHECK_EQ_STR(search("SEEN ANSWERED DRAFT"), "4");
	teardown();
}

UNIT_TEST(test_dates_sizes)
{
	setup();
	CHECK_EQ_STR(search("BEFORE 14-Dec-2023"), "1");
	CHECK_EQ_STR(search("BEFORE 14-Nov-2023"), "");
	CHECK_EQ_STR(search("ON 14-Nov-2023"), "1");
	CHECK_EQ_STR(search("ON 13-Jan-2024"), "3 4");
	CHECK_EQ_STR(search("SINCE 14-Dec-2023"), "2 3 4");
	CHECK_EQ_STR(search("SINCE 15-Dec-2023"), "3 4");
	/* Date: in its own zone; none -> INTERNALDATE */
	CHECK_EQ_STR(search("SENTON 1-Jan-2020"), "1");
	CHECK_EQ_STR(search("SENTON 15-Nov-2023"), "3");
	CHECK_EQ_STR(search("SENTON 14-Dec-2023"), "2");
	CHECK_EQ_STR(search("SENTBEFORE 2-Jan-2020"), "1");
	CHECK_EQ_STR(search("SENTSINCE 14-Dec-2023"), "2 4");
	CHECK_EQ_STR(search("LARGER 1000"), "3");
	CHECK_EQ_STR(search("SMALLER 1000"), "1 2 4");
	char q[64];
	snprintf(q, sizeof q, "LARGER %llu",
		 (unsigned long long)store_mailbox_msg(g_mb, 3)->size - 1);
	CHECK_EQ_STR(search(q), "1 2 3 4"); /* 4 is the smallest */
	snprintf(q, sizeof q, "SMALLER %llu",
		 (unsigned long long)store_mailbox_msg(g_mb, 3)->size);
	CHECK_EQ_STR(search(q), "");
	snprintf(q, sizeof q, "LARGER %llu",
		 (unsigned long long)store_mailbox_msg(g_mb, 3)->size);
	CHECK_EQ_STR(search(q), "1 2 3");
	teardown();
}

UNIT_TEST(test_sets)
{
	setup();
	uint32_t u[4];
	for (size_t i = 0; i < 4; i++)
		u[i] = store_mailbox_msg(g_mb, i)->uid;
	char q[64];
	CHECK_EQ_STR(search("2:*"), "2 3 4");
	CHECK_EQ_STR(search("*"), "4");
	CHECK_EQ_STR(search("*:3"), "3 4");
	CHECK_EQ_STR(search("1,3"), "1 3");
	CHECK_EQ_STR(search("5:9"), "");
	snprintf(q, sizeof q, "UID %u:*", u[1]);
	CHECK_EQ_STR(search(q), "2 3 4");
	snprintf(q, sizeof q, "UID %u,%u", u[0], u[3]);
	CHECK_EQ_STR(search(q), "1 4");
	CHECK_EQ_STR(search("UID *"), "4");
	CHECK_EQ_STR(search("UID 4000000000:*"), "4");
	CHECK_EQ_STR(search("$"), "");
	g_saved[0] = u[0];
	g_saved[1] = u[2];
	g_nsaved = 2;
	CHECK_EQ_STR(search("$"), "1 3");
	CHECK_EQ_STR(search("UID $"), "1 3");
	CHECK_EQ_STR(search("NOT $"), "2 4");
	CHECK_EQ_STR(search("$ FLAGGED"), "3");
	/* the view can be shorter than the mailbox */
	struct imap_search_program prog;
	CHECK(prog_parse("*", &prog));
	struct imap_search_view v = { .mb = g_mb, .count = 2 };
	uint32_t *seqs;
	size_t n;
	char err[128];
	CHECK_EQ_INT(imap_search_run(&prog, &v, &seqs, &n, err, sizeof err), 0);
	CHECK_EQ_INT(n, 1);
	CHECK(n == 1 && seqs[0] == 2);
	free(seqs);
	imap_search_free(&prog);
	teardown();
}

UNIT_TEST(test_headers)
{
	setup();
	CHECK_EQ_STR(search("FROM alice"), "1");
	CHECK_EQ_STR(search("FROM EXAMPLE.ORG"), "1 2 4");
	CHECK_EQ_STR(search("TO bob"), "1 2");
	CHECK_EQ_STR(search("TO example.net"), "2");
	CHECK_EQ_STR(search("CC carol"), "2");
	CHECK_EQ_STR(search("BCC dave"), "3");
	/* encoded word, raw UTF-8, both cases */
	CHECK_EQ_STR(search("CHARSET UTF-8 SUBJECT \"gr\xc3\xbcsse\""), "1 4");
	CHECK_EQ_STR(search("SUBJECT \"GR\xc3\x9cSSE\""), "1 4");
	CHECK_EQ_STR(search("SUBJECT \"aus berlin\""), "1");
	CHECK_EQ_STR(search("SUBJECT nothing-like-it"), "");
	CHECK_EQ_STR(search("HEADER X-Spam \"\""), "3");
	CHECK_EQ_STR(search("HEADER x-spam YES"), "3");
	CHECK_EQ_STR(search("HEADER X-Spam no"), "");
	CHECK_EQ_STR(search("HEADER Subject \"\""), "1 2 3 4");
	teardown();
}

UNIT_TEST(test_body_text)
{
	setup();
	CHECK_EQ_STR(search("BODY zauberwort"), "2");
	CHECK_EQ_STR(search("BODY \"ABRAKADABRA.\""), "2");
	CHECK_EQ_STR(search("BODY \"GR\xc3\x9cSSE\""), "2");
	CHECK_EQ_STR(search("BODY padding"), "3");
	CHECK_EQ_STR(search("BODY example"), "");
	CHECK_EQ_STR(search("TEXT \"gr\xc3\xbcsse\""), "1 2 4");
	CHECK_EQ_STR(search("TEXT alice"), "1");
	CHECK_EQ_STR(search("TEXT hello"), "1");
	CHECK_EQ_STR(search("BODY \"\""), "1 2 3 4");
	teardown();
}

UNIT_TEST(test_logic)
{
	setup();
	CHECK_EQ_STR(search("OR SEEN FLAGGED"), "3 4");
	CHECK_EQ_STR(search("NOT SEEN"), "1 2 3");
	CHECK_EQ_STR(search("NOT NOT SEEN"), "4");
	CHECK_EQ_STR(search("NOT (OR SEEN FLAGGED)"), "1 2");
	CHECK_EQ_STR(search("OR (FROM alice BODY hello) OR BODY zauber "
			    "KEYWORD work"),
		     "1 2 4");
	CHECK_EQ_STR(search("(UNSEEN (NOT DELETED)) OR TEXT berlin BODY abra"),
		     "1 2");
	CHECK_EQ_STR(search("OR (OR 1 2) (OR 3 4) NOT 2:3"), "1 4");
	CHECK_EQ_STR(search("FROM bob NOT TO bob"), "");
	teardown();
}

UNIT_TEST(test_vanished)
{
	setup();
	char path[700];
	snprintf(path, sizeof path, "%s/cur/%s", tm_md,
		 store_mailbox_msg(g_mb, 1)->filename);
	CHECK_EQ_INT(unlink(path), 0);
	CHECK_EQ_STR(search("BODY zauberwort"), "");
	/* searched as an empty message */
	CHECK_EQ_STR(search("NOT BODY zauberwort"), "1 2 3 4");
	CHECK_EQ_STR(search("NOT FROM bob"), "1 2 3 4");
	CHECK_EQ_STR(search("UNSEEN"), "1 2 3");
	teardown();
}

/* A file that cannot be read (a directory in its place): keys that need
 * no file still answer, and AND/OR try them first. */
UNIT_TEST(test_unreadable)
{
	setup();
	char path[700];
	snprintf(path, sizeof path, "%s/cur/%s", tm_md,
		 store_mailbox_msg(g_mb, 3)->filename);
	CHECK_EQ_INT(unlink(path), 0);
	CHECK_EQ_INT(mkdir(path, 0700), 0);
	CHECK_EQ_STR(search("UNSEEN BODY zauberwort"), "2");
	CHECK_EQ_STR(search("BODY zauberwort UNSEEN"), "2");
	CHECK_EQ_STR(search("OR SEEN FROM bob"), "2 4");
	CHECK_EQ_STR(search("NOT (UNSEEN OR FROM zzz BODY qqq)"), "1 2 3 4");
	CHECK_EQ_STR(search("BODY zauberwort"), "ERR");
	CHECK_EQ_STR(search("OR FROM bob SEEN"), "2 4");
	CHECK_EQ_STR(search("FROM bob"), "ERR");
	CHECK_EQ_INT(rmdir(path), 0);
	teardown();
}

static const char *result(const char *text, bool uid, bool force,
			  const uint32_t *v, size_t n)
{
	struct imap_search_program prog;
	if (!prog_parse(text, &prog))
		return "PARSE";
	struct buf b = BUF_INIT;
	imap_search_write_result(&b, &prog, STR_LIT("a1"), uid, force, v, n);
	snprintf(res_s, sizeof res_s, "%s", b.len ? buf_cstr(&b) : "");
	buf_free(&b);
	imap_search_free(&prog);
	return res_s;
}

UNIT_TEST(test_result)
{
	const uint32_t v[] = { 2, 5, 6, 7 };
	CHECK_EQ_STR(result("ALL", false, false, v, 4), "* SEARCH 2 5 6 7\r\n");
	CHECK_EQ_STR(result("ALL", false, false, v, 0), "* SEARCH\r\n");
	CHECK_EQ_STR(result("ALL", true, true, v, 4),
		     "* ESEARCH (TAG \"a1\") UID ALL 2,5:7\r\n");
	CHECK_EQ_STR(result("ALL", false, true, v, 0),
		     "* ESEARCH (TAG \"a1\")\r\n");
	CHECK_EQ_STR(result("RETURN (MIN MAX COUNT ALL) ALL", true, false, v, 4),
		     "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 7 COUNT 4 ALL 2,5:7\r\n");
	CHECK_EQ_STR(result("RETURN (MIN MAX COUNT ALL) ALL", false, false, v, 0),
		     "* ESEARCH (TAG \"a1\") COUNT 0\r\n");
	CHECK_EQ_STR(result("RETURN () ALL", false, false, v, 1),
		     "* ESEARCH (TAG \"a1\") ALL 2\r\n");
	CHECK_EQ_STR(result("RETURN (COUNT) ALL", false, false, v, 3),
		     "* ESEARCH (TAG \"a1\") COUNT 3\r\n");
	CHECK_EQ_STR(result("RETURN (SAVE) ALL", false, true, v, 3), "");
	CHECK_EQ_STR(result("RETURN (SAVE MIN) ALL", false, false, v, 3),
		     "* ESEARCH (TAG \"a1\") MIN 2\r\n");
}

/* In slices (issue 10): the same result however it is cut; a cancel
 * flag or a CPU limit stops it, even inside one message's keys. */
static enum imap_search_status stepped(const char *text,
				       struct imap_search_limits *lim,
				       unsigned *steps, char *out, size_t outsz)
{
	struct imap_search_program prog;
	CHECK(prog_parse(text, &prog));
	struct imap_search_view v = { .mb = g_mb,
				      .count = store_mailbox_count(g_mb) };
	struct imap_search_state *st = imap_search_start(&prog, &v);
	enum imap_search_status r;
	*steps = 0;
	do {
		r = imap_search_step(st, lim);
		(*steps)++;
	} while (r == IMAP_SEARCH_MORE && *steps < 100);
	out[0] = '\0';
	if (r == IMAP_SEARCH_DONE) {
		uint32_t *seqs;
		size_t n, off = 0;
		imap_search_take(st, &seqs, &n);
		for (size_t i = 0; i < n; i++)
			off += (size_t)snprintf(out + off, outsz - off, "%s%u",
						i ? " " : "", seqs[i]);
		free(seqs);
	}
	imap_search_state_free(&st);
	CHECK(st == NULL);
	imap_search_free(&prog);
	return r;
}

UNIT_TEST(test_slices)
{
	setup();
	char out[256];
	unsigned steps;
	/* 1 ns slices: one message per step, 4 steps and a last one. */
	struct imap_search_limits lim = { .slice_ns = 1 };
	CHECK_EQ_INT(stepped("TEXT \"gr\xc3\xbcsse\"", &lim, &steps, out,
			     sizeof out), IMAP_SEARCH_DONE);
	CHECK_EQ_STR(out, "1 2 4");
	CHECK(steps >= 4);
	CHECK_EQ_INT(stepped("NOT SEEN", &lim, &steps, out, sizeof out),
		     IMAP_SEARCH_DONE);
	CHECK_EQ_STR(out, "1 2 3");
	/* No limits: one step. */
	CHECK_EQ_INT(stepped("BODY padding", NULL, &steps, out, sizeof out),
		     IMAP_SEARCH_DONE);
	CHECK_EQ_STR(out, "3");
	CHECK_EQ_INT(steps, 1);
	/* A closed session: nothing more is done. */
	atomic_bool cancel = true;
	struct imap_search_limits cl = { .cancel = &cancel };
	CHECK_EQ_INT(stepped("BODY padding", &cl, &steps, out, sizeof out),
		     IMAP_SEARCH_CANCELLED);
	CHECK_EQ_INT(steps, 1);
	/* Thousands of keys on one message hit a 1 ms CPU limit before
	 * the message is done (checked every 1024 keys). */
	struct buf many = BUF_INIT;
	for (int i = 0; i < 3000; i++)
		buf_printf(&many, "%sNOT BODY zz%d", i ? " " : "", i);
	struct imap_search_limits cpu = { .cpu_limit_ns = 1000000 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	CHECK_EQ_INT(stepped(buf_cstr(&many), &cpu, &steps, out, sizeof out),
		     IMAP_SEARCH_OVER_LIMIT);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	CHECK_EQ_INT(steps, 1);
	/* (compiling 3000 keys takes a while under ASan) */
	CHECK(t1.tv_sec - t0.tv_sec < 2);
	CHECK_EQ_INT(stepped(buf_cstr(&many), NULL, &steps, out, sizeof out),
		     IMAP_SEARCH_DONE);
	CHECK_EQ_STR(out, "1 2 3 4");
	buf_free(&many);
	teardown();
}

UNIT_MAIN(test_flags_keywords, test_dates_sizes, test_sets, test_headers,
	  test_body_text, test_logic, test_vanished, test_unreadable,
	  test_result, test_slices)
