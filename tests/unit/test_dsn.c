/* queue/dsn.c: who gets a DSN (RFC 3461 NOTIFY, no bounce loops), the
 * report's structure (RFC 3464, RFC 6522) read back with our own MIME
 * parser, the retry schedule and Received: counting. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "mime/date.h"
#include "mime/header.h"
#include "mime/message.h"
#include "queue/dsn.h"
#include "tests/unit/unit.h"

/* The hop count (RFC 5321 6.3) the runner and SMTP take of a message. */
static size_t hops(const char *msg, size_t len)
{
	return mime_header_count(str_make(msg, len), "Received");
}

static const char original[] =
	"Received: from a.example by b.example; Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	"Subject: hello\r\n"
	"Message-ID: <orig@a.example>\r\n"
	"\r\n"
	"Body line one\r\n"
	"--=_postern_dsn_not_random\r\n"
	"Received: from fake (in the body)\r\n";

#define T0 ((int64_t)1795000000)

static struct config test_cfg(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.hostname = "mx.postern.test";
	cfg.queue_retry_min = 300;
	cfg.queue_retry_max = 4000;
	cfg.queue_max_age = 432000;
	return cfg;
}

static struct queue_rcpt rcpt(const char *addr, enum queue_rcpt_state st,
			      unsigned notify)
{
	struct queue_rcpt r;
	memset(&r, 0, sizeof r);
	r.addr = (char *)addr;
	r.state = st;
	r.notify = notify;
	r.status = "";
	r.diag = "";
	r.remote_mta = "";
	return r;
}

static struct queue_env env_make(struct queue_rcpt *r, size_t n)
{
	struct queue_env e;
	memset(&e, 0, sizeof e);
	strcpy(e.id, "20261122T100311-3f9a0c1e");
	e.sender = "alice@postern.test";
	e.created = T0;
	e.rcpts = r;
	e.n_rcpts = n;
	return e;
}

/* The fields of one block of a message/delivery-status body. */
struct ds_block {
	struct str hdr;
};

/* Splits the delivery-status body into blocks separated by empty lines. */
static size_t ds_blocks(struct str body, struct ds_block *out, size_t max)
{
	size_t n = 0;
	const char *p = body.p, *end = body.p + body.len;
	while (p < end && n < max) {
		const char *sep = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		const char *stop = sep ? sep + 2 : end;
		out[n++].hdr = str_make(p, (size_t)(stop - p));
		p = sep ? sep + 4 : end;
	}
	return n;
}

/* The unfolded value of field name in hdr, or "(none)". */
static const char *field(struct str hdr, const char *name, struct buf *tmp)
{
	struct mime_field f;
	buf_clear(tmp);
	if (!mime_header_find(hdr, name, &f))
		return "(none)";
	mime_header_unfold(f.value, tmp);
	return buf_cstr(tmp);
}

static bool every_line_crlf(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			return false;
		if (b->data[i] == '\r' && (i + 1 >= b->len || b->data[i + 1] != '\n'))
			return false;
	}
	return b->len >= 2 && b->data[b->len - 1] == '\n';
}

static bool lines_short(const struct buf *b, size_t max)
{
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n')
			col = 0;
		else if (++col > max)
			return false;
	}
	return true;
}

static bool str_has(struct str s, const char *needle)
{
	return memmem(s.p, s.len, needle, strlen(needle)) != NULL;
}

static bool type_is(struct str a, const char *b)
{
	return str_eq_nocase(a, b);
}

UNIT_TEST(test_wanted)
{
	struct queue_rcpt r[2] = {
		rcpt("bob@remote.test", QUEUE_RCPT_FAILED, 0),
		rcpt("carol@remote.test", QUEUE_RCPT_PENDING, 0),
	};
	struct queue_env e = env_make(r, 2);
	CHECK(dsn_wanted(&e, DSN_FAILED));
	CHECK(dsn_wanted(&e, DSN_DELAYED));

	e.sender = ""; /* RFC 5321 6.1: never to the null sender */
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
	e.sender = "alice@postern.test";
	e.is_bounce = true; /* our own DSN failing: dropped, no loop */
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
	e.is_bounce = false;

	r[0].notify = r[1].notify = DSN_NOTIFY_NEVER;
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
	r[0].notify = r[1].notify = DSN_NOTIFY_SUCCESS;
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
	r[0].notify = r[1].notify = DSN_NOTIFY_FAILURE;
	CHECK(dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
	r[0].notify = r[1].notify = DSN_NOTIFY_DELAY;
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(dsn_wanted(&e, DSN_DELAYED));
	r[0].notify = r[1].notify = DSN_NOTIFY_DELAY | DSN_NOTIFY_FAILURE;
	CHECK(dsn_wanted(&e, DSN_FAILED));
	CHECK(dsn_wanted(&e, DSN_DELAYED));

	/* Delivered or already bounced recipients never count. */
	r[0].notify = r[1].notify = 0;
	r[0].state = QUEUE_RCPT_BOUNCED;
	r[1].state = QUEUE_RCPT_DELIVERED;
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	CHECK(!dsn_wanted(&e, DSN_DELAYED));
}

/* Parses the report and checks what every DSN has; returns the tree. */
static void check_shape(const struct buf *out, struct mime_message *m,
			const char *part3_type, const char *part3_sub)
{
	CHECK(every_line_crlf(out));
	CHECK(lines_short(out, 998));
	mime_message_parse(m, out->data, out->len);
	struct mime_part *root = &m->parts[0];
	CHECK(type_is(root->type, "multipart"));
	CHECK(type_is(root->subtype, "report"));
	const struct mime_param *rt = mime_part_param(m, root, "report-type");
	CHECK(rt && str_eq(rt->value, "delivery-status"));
	CHECK_EQ_INT(root->nchildren, 3);
	uint32_t p1 = mime_part_child(m, 0, 1), p2 = mime_part_child(m, 0, 2),
		 p3 = mime_part_child(m, 0, 3);
	CHECK(p1 != MIME_NONE && p2 != MIME_NONE && p3 != MIME_NONE);
	if (p1 == MIME_NONE || p2 == MIME_NONE || p3 == MIME_NONE)
		return;
	CHECK(type_is(m->parts[p1].type, "text"));
	CHECK(type_is(m->parts[p1].subtype, "plain"));
	CHECK(type_is(m->parts[p2].type, "message"));
	CHECK(type_is(m->parts[p2].subtype, "delivery-status"));
	CHECK(type_is(m->parts[p3].type, part3_type));
	CHECK(type_is(m->parts[p3].subtype, part3_sub));

	/* Our own header: 7-bit, from MAILER-DAEMON, auto-replied. */
	struct str hdr = mime_part_header(m, root);
	for (size_t i = 0; i < hdr.len; i++)
		CHECK((unsigned char)hdr.p[i] < 0x80);
	struct buf t = BUF_INIT;
	CHECK_EQ_STR(field(hdr, "From", &t),
		     "Mail Delivery System <MAILER-DAEMON@mx.postern.test>");
	CHECK_EQ_STR(field(hdr, "Auto-Submitted", &t), "auto-replied");
	CHECK_EQ_STR(field(hdr, "MIME-Version", &t), "1.0");
	CHECK(strcmp(field(hdr, "Message-ID", &t), "(none)") != 0);
	struct mime_date d;
	CHECK(mime_date_parse(str_from_cstr(field(hdr, "Date", &t)), &d));
	buf_free(&t);
}

UNIT_TEST(test_failed_headers_default)
{
	struct config cfg = test_cfg();
	struct queue_rcpt r[3] = {
		rcpt("bob@remote.test", QUEUE_RCPT_FAILED, 0),
		rcpt("dave@remote.test", QUEUE_RCPT_DELIVERED, 0),
		rcpt("erin@remote.test", QUEUE_RCPT_FAILED, DSN_NOTIFY_NEVER),
	};
	r[0].status = "5.1.1";
	r[0].diag = "550 5.1.1 <bob@remote.test>: Recipient address rejected: "
		    "User unknown in virtual mailbox table, and this reply is "
		    "long enough to need folding in the report";
	r[0].remote_mta = "mx1.remote.test";
	r[0].last_attempt = T0 + 60;
	struct queue_env e = env_make(r, 3);
	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build(&cfg, &e, DSN_FAILED, original, strlen(original), T0 + 61,
		  &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	struct str hdr = mime_part_header(&m, &m.parts[0]);
	CHECK_EQ_STR(field(hdr, "To", &t), "<alice@postern.test>");
	CHECK_EQ_STR(field(hdr, "Subject", &t),
		     "Undelivered Mail Returned to Sender");

	struct str human = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 1)]);
	CHECK(str_has(human, "bob@remote.test"));
	CHECK(str_has(human, "mx1.remote.test said: 550 5.1.1"));
	CHECK(!str_has(human, "dave@remote.test"));
	CHECK(!str_has(human, "erin@remote.test")); /* NOTIFY=NEVER */

	struct ds_block b[8];
	size_t nb = ds_blocks(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 2)]),
			      b, 8);
	CHECK_EQ_INT(nb, 2); /* per-message + bob only (RFC 3461 5.2.8) */
	CHECK_EQ_STR(field(b[0].hdr, "Reporting-MTA", &t), "dns; mx.postern.test");
	CHECK_EQ_STR(field(b[0].hdr, "Original-Envelope-Id", &t), "(none)");
	struct mime_date d;
	CHECK(mime_date_parse(str_from_cstr(field(b[0].hdr, "Arrival-Date", &t)),
			      &d));
	CHECK_EQ_INT(d.epoch, T0);
	CHECK_EQ_STR(field(b[1].hdr, "Original-Recipient", &t), "(none)");
	CHECK_EQ_STR(field(b[1].hdr, "Final-Recipient", &t),
		     "rfc822; bob@remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Action", &t), "failed");
	CHECK_EQ_STR(field(b[1].hdr, "Status", &t), "5.1.1");
	CHECK_EQ_STR(field(b[1].hdr, "Remote-MTA", &t), "dns; mx1.remote.test");
	/* Folded, and unfolding gives the reply back whole. */
	char want[512];
	snprintf(want, sizeof want, "smtp; %s", r[0].diag);
	CHECK_EQ_STR(field(b[1].hdr, "Diagnostic-Code", &t), want);
	CHECK(str_has(b[1].hdr, "\r\n "));
	CHECK(mime_date_parse(str_from_cstr(field(b[1].hdr, "Last-Attempt-Date",
						  &t)), &d));
	CHECK_EQ_INT(d.epoch, T0 + 60);
	CHECK_EQ_STR(field(b[1].hdr, "Will-Retry-Until", &t), "(none)");

	/* Part 3: the header only, not the body (its fake boundary and
	 * Received: line stay out). */
	struct str p3 = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 3)]);
	CHECK(str_has(p3, "Subject: hello\r\n"));
	CHECK(!str_has(p3, "Body line one"));
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&t);
}

UNIT_TEST(test_failed_full_envid_orcpt)
{
	struct config cfg = test_cfg();
	struct queue_rcpt r[2] = {
		rcpt("bob@remote.test", QUEUE_RCPT_FAILED, DSN_NOTIFY_FAILURE),
		rcpt("carol@remote.test", QUEUE_RCPT_FAILED, 0),
	};
	r[0].orcpt = "rfc822;Bob+2BTag@remote.test";
	r[0].status = "5.4.6";
	r[0].diag = "mail loop: too many Received: fields"; /* our reason */
	r[1].status = "bogus";
	struct queue_env e = env_make(r, 2);
	e.envid = "QQ+2Bid+3D1";
	e.ret = DSN_RET_FULL;
	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build(&cfg, &e, DSN_FAILED, original, strlen(original), T0, &out);
	struct mime_message m;
	check_shape(&out, &m, "message", "rfc822");
	uint32_t p3 = mime_part_child(&m, 0, 3);
	CHECK(m.parts[p3].flags & MIME_PART_MESSAGE);
	/* The whole original came back, its body too; the boundary we
	 * chose is not the one faked in the body. */
	struct str body3 = mime_part_body(&m, &m.parts[p3]);
	CHECK_EQ_MEM(body3.p, body3.len, original, strlen(original));

	struct ds_block b[8];
	size_t nb = ds_blocks(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 2)]),
			      b, 8);
	CHECK_EQ_INT(nb, 3);
	CHECK_EQ_STR(field(b[0].hdr, "Original-Envelope-Id", &t), "QQ+id=1");
	CHECK_EQ_STR(field(b[1].hdr, "Original-Recipient", &t),
		     "rfc822; Bob+Tag@remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Status", &t), "5.4.6");
	CHECK_EQ_STR(field(b[1].hdr, "Remote-MTA", &t), "(none)");
	CHECK_EQ_STR(field(b[1].hdr, "Diagnostic-Code", &t),
		     "X-Postern; mail loop: too many Received: fields");
	CHECK_EQ_STR(field(b[1].hdr, "Last-Attempt-Date", &t), "(none)");
	CHECK_EQ_STR(field(b[2].hdr, "Final-Recipient", &t),
		     "rfc822; carol@remote.test");
	CHECK_EQ_STR(field(b[2].hdr, "Status", &t), "5.0.0"); /* RFC 3461 6.3 (g) */
	CHECK_EQ_STR(field(b[2].hdr, "Diagnostic-Code", &t), "(none)");
	mime_message_free(&m);
	buf_free(&out);

	/* RET=HDRS: the header only. */
	e.ret = DSN_RET_HDRS;
	dsn_build(&cfg, &e, DSN_FAILED, original, strlen(original), T0, &out);
	check_shape(&out, &m, "text", "rfc822-headers");
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&t);
}

UNIT_TEST(test_full_too_big)
{
	/* RET=FULL over the bound: header only, and LF line ends of the
	 * queued copy come back as CRLF. */
	struct config cfg = test_cfg();
	struct queue_rcpt r[1] = { rcpt("bob@remote.test", QUEUE_RCPT_FAILED, 0) };
	struct queue_env e = env_make(r, 1);
	e.ret = DSN_RET_FULL;
	size_t big = 2 * 1024 * 1024;
	char *msg = malloc(big);
	CHECK(msg != NULL);
	if (!msg)
		return;
	const char head[] = "Subject: big\nX-Eight: caf\xc3\xa9\n\n";
	memset(msg, 'a', big);
	memcpy(msg, head, strlen(head));
	for (size_t i = strlen(head) + 70; i < big; i += 72)
		msg[i] = '\n';
	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build(&cfg, &e, DSN_FAILED, msg, big, T0, &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	CHECK(out.len < 16384);
	struct str hdr = mime_part_header(&m, &m.parts[0]);
	CHECK_EQ_STR(field(hdr, "Content-Transfer-Encoding", &t), "8bit");
	struct str p3 = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 3)]);
	const char want[] = "Subject: big\r\nX-Eight: caf\xc3\xa9\r\n";
	CHECK(p3.len >= strlen(want) && memcmp(p3.p, want, strlen(want)) == 0);
	CHECK(str_has(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 1)]),
		      "too large"));
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&t);
	free(msg);
}

UNIT_TEST(test_delayed)
{
	struct config cfg = test_cfg();
	struct queue_rcpt r[3] = {
		rcpt("bob@remote.test", QUEUE_RCPT_PENDING, 0),
		rcpt("carol@remote.test", QUEUE_RCPT_PENDING,
		     DSN_NOTIFY_FAILURE), /* no DELAY: not listed */
		rcpt("dave@remote.test", QUEUE_RCPT_FAILED, 0),
	};
	r[0].status = "4.4.1";
	r[2].status = "5.1.1";
	r[0].diag = "connect to mx1.remote.test[192.0.2.1]:25: Connection refused";
	r[0].last_attempt = T0 + 3600;
	struct queue_env e = env_make(r, 3);
	e.ret = DSN_RET_FULL; /* a delay returns only the header anyway */
	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build(&cfg, &e, DSN_DELAYED, original, strlen(original),
		  T0 + 4 * 3600, &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	struct str hdr = mime_part_header(&m, &m.parts[0]);
	CHECK_EQ_STR(field(hdr, "Subject", &t), "Delayed Mail (still being retried)");
	struct ds_block b[8];
	size_t nb = ds_blocks(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 2)]),
			      b, 8);
	CHECK_EQ_INT(nb, 2);
	CHECK_EQ_STR(field(b[1].hdr, "Final-Recipient", &t),
		     "rfc822; bob@remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Action", &t), "delayed");
	CHECK_EQ_STR(field(b[1].hdr, "Status", &t), "4.4.1");
	CHECK_EQ_STR(field(b[1].hdr, "Diagnostic-Code", &t),
		     "X-Postern; connect to mx1.remote.test[192.0.2.1]:25: "
		     "Connection refused");
	struct mime_date d;
	CHECK(mime_date_parse(str_from_cstr(field(b[1].hdr, "Will-Retry-Until",
						  &t)), &d));
	CHECK_EQ_INT(d.epoch, T0 + cfg.queue_max_age);
	struct str human = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 1)]);
	CHECK(str_has(human, "tried again until"));
	CHECK(!str_has(human, "carol@"));
	CHECK(!str_has(human, "dave@"));
	mime_message_free(&m);
	r[0].status = "5.1.1"; /* not a delay's code */
	buf_clear(&out);
	dsn_build(&cfg, &e, DSN_DELAYED, original, strlen(original),
		  T0 + 4 * 3600, &out);
	CHECK(str_has(buf_str(&out), "Status: 4.0.0\r\n"));
	buf_free(&out);
	buf_free(&t);
}

UNIT_TEST(test_hostile_fields)
{
	/* CR/LF in stored text never starts a header line of the report;
	 * a UTF-8 address takes RFC 6533's utf-8 type, 7-bit. */
	struct config cfg = test_cfg();
	struct queue_rcpt r[1] = {
		rcpt("j\xc3\xb8rgen@r\xc3\xa9mote.test", QUEUE_RCPT_FAILED, 0),
	};
	r[0].diag = "550 no\r\nX-Injected: yes";
	r[0].remote_mta = "mx.remote.test\r\nX-Injected: yes";
	struct queue_env e = env_make(r, 1);
	e.sender = "\xc3\xa5sa@postern.test";
	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build(&cfg, &e, DSN_FAILED, "", 0, T0, &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	CHECK(!str_has(buf_str(&out), "\nX-Injected"));
	struct str hdr = mime_part_header(&m, &m.parts[0]);
	CHECK_EQ_STR(field(hdr, "To", &t), "undisclosed-recipients:;");
	struct str ds = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 2)]);
	for (size_t i = 0; i < ds.len; i++)
		CHECK((unsigned char)ds.p[i] < 0x80);
	struct ds_block b[4];
	size_t nb = ds_blocks(ds, b, 4);
	CHECK_EQ_INT(nb, 2);
	CHECK_EQ_STR(field(b[1].hdr, "Final-Recipient", &t),
		     "utf-8; j\\x{F8}rgen@r\\x{E9}mote.test");
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&t);
}

UNIT_TEST(test_long_diag)
{
	/* A huge reply: runs of spaces and a 3000-octet word still give
	 * lines under 998 octets and no line of only white space. */
	struct config cfg = test_cfg();
	struct queue_rcpt r[1] = { rcpt("bob@remote.test", QUEUE_RCPT_FAILED, 0) };
	static char diag[6000];
	memset(diag, ' ', 2000);
	memcpy(diag, "550", 3);
	memset(diag + 2000, 'x', 3000);
	memcpy(diag + 5000, "   end", 7);
	r[0].diag = diag;
	r[0].remote_mta = "mx.remote.test";
	struct queue_env e = env_make(r, 1);
	struct buf out = BUF_INIT;
	dsn_build(&cfg, &e, DSN_FAILED, original, strlen(original), T0, &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	CHECK(!str_has(buf_str(&out), "\r\n \r\n"));
	CHECK(!str_has(buf_str(&out), "\r\n    \r\n"));
	mime_message_free(&m);
	buf_free(&out);
}

UNIT_TEST(test_odd_messages)
{
	/* Whatever the queued bytes are (bare CR or LF, no blank line,
	 * NUL, lines that look like our boundary), the report stays
	 * CRLF, three parts, and the returned bytes come back. */
	struct config cfg = test_cfg();
	struct queue_rcpt r[1] = { rcpt("bob@remote.test", QUEUE_RCPT_FAILED, 0) };
	struct queue_env e = env_make(r, 1);
	unsigned seed = 12345;
	char msg[600];
	const char alphabet[] = "ab:- \r\n\r\n\0\x80=_postern_dsn_Received";
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(seed % sizeof msg);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			msg[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		seed = seed * 1103515245u + 12345u;
		e.ret = (seed >> 8) & 1 ? DSN_RET_FULL : DSN_RET_NONE;
		struct buf out = BUF_INIT;
		dsn_build(&cfg, &e, (seed >> 9) & 1 ? DSN_FAILED : DSN_DELAYED,
			  round == 0 ? NULL : msg, round == 0 ? 0 : len, T0, &out);
		struct mime_message m;
		bool full = e.ret == DSN_RET_FULL && strstr(out.data,
			"Action: failed") != NULL;
		check_shape(&out, &m, full ? "message" : "text",
			    full ? "rfc822" : "rfc822-headers");
		(void)hops(msg, len);
		mime_message_free(&m);
		buf_free(&out);
		if (unit_current_failed)
			break;
	}
}

UNIT_TEST(test_schedule)
{
	struct config cfg = test_cfg();
	CHECK_EQ_INT(queue_next_attempt(&cfg, 1, T0), T0 + 300);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 2, T0), T0 + 600);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 3, T0), T0 + 1200);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 4, T0), T0 + 2400);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 5, T0), T0 + 4000);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 6, T0), T0 + 4000);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 1000000, T0), T0 + 4000);
	CHECK_EQ_INT(queue_next_attempt(&cfg, INT32_MAX, T0), T0 + 4000);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 0, T0), T0 + 300);
	CHECK_EQ_INT(queue_next_attempt(&cfg, -5, T0), T0 + 300);
	CHECK_EQ_INT(queue_next_attempt(&cfg, 3, INT64_MAX - 10), INT64_MAX);
	cfg.queue_retry_min = 86400;
	cfg.queue_retry_max = 86400;
	CHECK_EQ_INT(queue_next_attempt(&cfg, 40, T0), T0 + 86400);
	cfg.queue_retry_min = 1000; /* min above max: the max wins */
	cfg.queue_retry_max = 10;
	CHECK_EQ_INT(queue_next_attempt(&cfg, 1, T0), T0 + 10);
}

UNIT_TEST(test_count_received)
{
	CHECK_EQ_INT(hops(original, strlen(original)), 1);
	const char folded[] =
		"Received: from a\r\n"
		"\tby b;\r\n"
		" Received: not a field (continuation)\r\n"
		"received : from c by d\r\n"
		"RECEIVED:from e\n"
		"X-Received: no\r\n"
		"Received-SPF: pass\r\n"
		"Subject: x\r\n"
		"\r\n"
		"Received: body\r\n";
	CHECK_EQ_INT(hops(folded, strlen(folded)), 3);
	CHECK_EQ_INT(hops("", 0), 0);
	CHECK_EQ_INT(hops(NULL, 0), 0);
	const char nobody[] = "Received: a\r\nReceived: b";
	CHECK_EQ_INT(hops(nobody, strlen(nobody)), 2);
	const char body_only[] = "\r\nReceived: a\r\n";
	CHECK_EQ_INT(hops(body_only, strlen(body_only)), 0);
}

/* RFC 3461 5.2.2 (b) and 5.2.3 (a): success DSNs list only delivered
 * recipients that asked for SUCCESS, among those the caller names;
 * Action relayed/delivered, Status 2.0.0, and only the header even
 * with RET=FULL (4.3). */
UNIT_TEST(test_success)
{
	struct config cfg = test_cfg();
	struct queue_rcpt r[4] = {
		rcpt("bob@remote.test", QUEUE_RCPT_DELIVERED,
		     DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE),
		rcpt("carol@remote.test", QUEUE_RCPT_DELIVERED, 0),
		rcpt("dave@remote.test", QUEUE_RCPT_DELIVERED,
		     DSN_NOTIFY_SUCCESS), /* an earlier run's */
		rcpt("erin@remote.test", QUEUE_RCPT_PENDING,
		     DSN_NOTIFY_SUCCESS),
	};
	r[0].status = "2.0.0";
	r[0].diag = "250 2.0.0 Ok: queued as 42";
	r[0].remote_mta = "mx.remote.test";
	r[0].orcpt = "rfc822;bob+2Bx@remote.test";
	struct queue_env e = env_make(r, 4);
	e.ret = DSN_RET_FULL;
	e.envid = "QQ+2B1";
	bool now[4] = { true, true, false, true };
	CHECK(dsn_wanted_some(&e, DSN_RELAYED, now));
	bool none[4] = { false, true, false, true };
	CHECK(!dsn_wanted_some(&e, DSN_RELAYED, none));
	CHECK(!dsn_wanted(&e, DSN_FAILED));
	e.sender = "";
	CHECK(!dsn_wanted_some(&e, DSN_RELAYED, now));
	e.sender = "alice@postern.test";
	e.is_bounce = true;
	CHECK(!dsn_wanted_some(&e, DSN_DELIVERED, NULL));
	e.is_bounce = false;

	struct buf out = BUF_INIT, t = BUF_INIT;
	dsn_build_some(&cfg, &e, DSN_RELAYED, now, original, strlen(original),
		       T0 + 60, &out);
	struct mime_message m;
	check_shape(&out, &m, "text", "rfc822-headers");
	struct str hdr = mime_part_header(&m, &m.parts[0]);
	CHECK_EQ_STR(field(hdr, "Subject", &t), "Successful Mail Delivery Report");
	struct ds_block b[8];
	size_t nb = ds_blocks(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 2)]),
			      b, 8);
	CHECK_EQ_INT(nb, 2);
	CHECK_EQ_STR(field(b[0].hdr, "Original-Envelope-Id", &t), "QQ+1");
	CHECK_EQ_STR(field(b[1].hdr, "Final-Recipient", &t),
		     "rfc822; bob@remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Original-Recipient", &t),
		     "rfc822; bob+x@remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Action", &t), "relayed");
	CHECK_EQ_STR(field(b[1].hdr, "Status", &t), "2.0.0");
	CHECK_EQ_STR(field(b[1].hdr, "Remote-MTA", &t), "dns; mx.remote.test");
	CHECK_EQ_STR(field(b[1].hdr, "Diagnostic-Code", &t),
		     "smtp; 250 2.0.0 Ok: queued as 42");
	struct str human = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 1)]);
	CHECK(!str_has(human, "carol@"));
	CHECK(!str_has(human, "dave@"));
	CHECK(!str_has(human, "erin@"));
	struct str ret = mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 3)]);
	CHECK(str_has(ret, "Subject: hello"));
	CHECK(!str_has(ret, "Body line one"));
	mime_message_free(&m);

	/* delivered: a bad stored status still gives 2.0.0 */
	r[0].status = "5.1.1";
	buf_clear(&out);
	dsn_build_some(&cfg, &e, DSN_DELIVERED, NULL, original,
		       strlen(original), T0 + 60, &out);
	CHECK(str_has(buf_str(&out), "Action: delivered\r\n"));
	CHECK(str_has(buf_str(&out), "Status: 2.0.0\r\n"));
	CHECK(str_has(buf_str(&out), "dave@remote.test"));
	CHECK(!str_has(buf_str(&out), "carol@remote.test"));
	buf_free(&out);
	buf_free(&t);
}

UNIT_TEST(test_header_capped)
{
	/* A huge header comes back cut at a field boundary, within 8 KiB,
	 * for a success DSN and a bounce alike; a small one whole. */
	struct config cfg = test_cfg();
	struct queue_rcpt r[1] = { rcpt("bob@remote.test",
					QUEUE_RCPT_DELIVERED,
					DSN_NOTIFY_SUCCESS) };
	struct queue_env e = env_make(r, 1);
	struct buf msg = BUF_INIT;
	buf_appends(&msg, "Subject: first\r\n");
	for (int i = 0; i < 1000; i++)
		buf_printf(&msg, "X-F-%04d: %s\r\n\t%s\r\n", i,
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	buf_appends(&msg, "\r\nbody\r\n");
	for (int k = 0; k < 2; k++) {
		enum dsn_kind kind = k ? DSN_FAILED : DSN_DELIVERED;
		r[0].state = k ? QUEUE_RCPT_FAILED : QUEUE_RCPT_DELIVERED;
		r[0].notify = k ? 0 : DSN_NOTIFY_SUCCESS;
		struct buf out = BUF_INIT;
		dsn_build(&cfg, &e, kind, msg.data, msg.len, T0, &out);
		struct mime_message m;
		check_shape(&out, &m, "text", "rfc822-headers");
		struct str p3 = mime_part_body(
			&m, &m.parts[mime_part_child(&m, 0, 3)]);
		CHECK(p3.len > 4096 && p3.len <= 8 * 1024 + 2);
		CHECK(p3.len >= 14 && !memcmp(p3.p, "Subject: first", 14));
		/* the last field is whole: its continuation line is there */
		const char tail[] = "\tbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n";
		CHECK(str_has(p3, tail));
		size_t tl = strlen(tail);
		CHECK(p3.len >= tl + 2);
		CHECK(!memcmp(p3.p + p3.len - tl - 2, tail, tl) ||
		      !memcmp(p3.p + p3.len - tl, tail, tl));
		CHECK(!str_has(p3, "body"));
		CHECK(str_has(mime_part_body(&m, &m.parts[mime_part_child(&m, 0, 1)]),
			      "Only the first fields"));
		CHECK(out.len < 16384);
		mime_message_free(&m);
		buf_free(&out);
	}
	buf_free(&msg);
}

UNIT_MAIN(test_wanted, test_success, test_header_capped, test_failed_headers_default,
	  test_failed_full_envid_orcpt, test_full_too_big, test_delayed,
	  test_hostile_fields, test_long_diag, test_odd_messages, test_schedule, test_count_received)
