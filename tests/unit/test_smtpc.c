/* relay/smtpc.c against a scripted fake server in the same process and
 * event loop: a listener on 127.0.0.1:0 that answers each command line
 * from the test's script and records what it got, byte for byte. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "relay/smtpc.h"
#include "tls/tls.h"
#include "tests/unit/unit.h"

/* ---- the fake server ---- */

struct fake {
	struct event_base *base;
	struct evconnlistener *lis;
	int port;
	struct ssl_ctx_st *tls_ctx;
	struct bufferevent *bev;
	/* script: NULL = default */
	const char *greeting;      /* NULL with silent: says nothing */
	bool silent;               /* answers nothing at all */
	const char *ehlo;
	const char *ehlo_tls;
	const char *helo;
	const char *starttls;
	const char *bad_rcpt;      /* RCPT lines containing it get 550 */
	const char *close_on;      /* a command that makes it hang up */
	const char *reply421_on;   /* a command answered 421 */
	bool implicit_tls;         /* smtps: TLS from the first byte */
	/* recording */
	struct buf cmds;           /* every command line, "\n" after each */
	struct buf data;           /* DATA contents as received, "<END>" after each */
	int max_lines_per_read;
	bool in_data;
	bool tls;
	int login_step;            /* AUTH LOGIN: lines still to come */
};

static void fake_reply(struct fake *f, const char *s)
{
	bufferevent_write(f->bev, s, strlen(s));
}

static void fake_read_cb(struct bufferevent *bev, void *arg);
static void fake_event_cb(struct bufferevent *bev, short what, void *arg);

static void fake_drop(struct fake *f)
{
	if (f->bev)
		bufferevent_free(f->bev);
	f->bev = NULL;
}

static bool verb(const char *line, const char *v)
{
	return strncasecmp(line, v, strlen(v)) == 0;
}

static void fake_line(struct fake *f, char *raw, size_t n)
{
	if (f->in_data) {
		if (n == 3 && memcmp(raw, ".\r\n", 3) == 0) {
			f->in_data = false;
			buf_appends(&f->data, "<END>");
			fake_reply(f, "250 2.0.0 queued\r\n");
		} else {
			buf_append(&f->data, raw, n);
		}
		return;
	}
	buf_append(&f->cmds, raw, n - 2);
	buf_appendc(&f->cmds, '\n');
	buf_cstr(&f->cmds);
	if (f->silent)
		return;
	if (f->login_step > 0) {
		/* RFC 4954 section 4: the challenges are base64 too. */
		fake_reply(f, --f->login_step ? "334 UGFzc3dvcmQ6\r\n"
					      : "235 2.7.0 ok\r\n");
		return;
	}
	if (f->close_on && verb(raw, f->close_on)) {
		fake_drop(f);
		return;
	}
	if (f->reply421_on && verb(raw, f->reply421_on)) {
		fake_reply(f, "421 4.3.2 going down\r\n");
		return;
	}
	if (verb(raw, "EHLO")) {
		fake_reply(f, f->tls && f->ehlo_tls ? f->ehlo_tls
			      : f->ehlo ? f->ehlo : "250 fake\r\n");
	} else if (verb(raw, "HELO")) {
		fake_reply(f, f->helo ? f->helo : "250 fake\r\n");
	} else if (verb(raw, "STARTTLS")) {
		fake_reply(f, f->starttls ? f->starttls : "220 go\r\n");
		struct bufferevent *tb = tls_bev_upgrade(f->base, f->bev,
							 f->tls_ctx);
		f->bev = tb;
		f->tls = true;
		bufferevent_setcb(tb, fake_read_cb, NULL, fake_event_cb, f);
		bufferevent_enable(tb, EV_READ | EV_WRITE);
	} else if (verb(raw, "MAIL")) {
		fake_reply(f, "250 2.1.0 ok\r\n");
	} else if (verb(raw, "RCPT")) {
		if (f->bad_rcpt && strstr(f->cmds.data + f->cmds.len - (n - 1),
					  f->bad_rcpt))
			fake_reply(f, "550 5.1.1 no such user\r\n");
		else
			fake_reply(f, "250 2.1.5 ok\r\n");
	} else if (verb(raw, "DATA")) {
		f->in_data = true;
		fake_reply(f, "354 go ahead\r\n");
	} else if (verb(raw, "RSET")) {
		fake_reply(f, "250 2.0.0 reset\r\n");
	} else if (verb(raw, "QUIT")) {
		fake_reply(f, "221 2.0.0 bye\r\n");
	} else if (verb(raw, "AUTH PLAIN")) {
		fake_reply(f, "235 2.7.0 ok\r\n");
	} else if (verb(raw, "AUTH LOGIN")) {
		f->login_step = 2;
		fake_reply(f, "334 VXNlcm5hbWU6\r\n");
	} else {
		fake_reply(f, "500 5.5.1 what\r\n");
	}
}

static void fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int lines = 0;
	char raw[4096];
	while (f->bev == bev) {
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		if (p.pos < 0)
			break;
		size_t n = (size_t)p.pos + 1;
		if (n > sizeof raw) {
			/* Long data lines: record them in pieces. */
			evbuffer_remove(in, raw, sizeof raw);
			buf_append(&f->data, raw, sizeof raw);
			continue;
		}
		evbuffer_remove(in, raw, n);
		if (!f->in_data)
			lines++;
		fake_line(f, raw, n);
	}
	if (lines > f->max_lines_per_read)
		f->max_lines_per_read = lines;
}

static void fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct fake *f = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fake_drop(f);
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd,
			struct sockaddr *sa, int len, void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	struct fake *f = arg;
	if (f->implicit_tls) {
		f->bev = tls_bev_accept(f->base, fd, f->tls_ctx);
		f->tls = true;
	} else {
		f->bev = bufferevent_socket_new(f->base, fd,
						BEV_OPT_CLOSE_ON_FREE);
	}
	bufferevent_setcb(f->bev, fake_read_cb, NULL, fake_event_cb, f);
	bufferevent_enable(f->bev, EV_READ | EV_WRITE);
	if (!f->silent)
		fake_reply(f, f->greeting ? f->greeting : "220 fake ESMTP\r\n");
}

static void fake_start(struct fake *f, struct event_base *base)
{
	f->base = base;
	struct sockaddr_in sin = { 0 };
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lis = evconnlistener_new_bind(base, fake_accept, f,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
					 8, (struct sockaddr *)&sin, sizeof sin);
	if (!f->lis)
		abort();
	socklen_t sl = sizeof sin;
	getsockname(evconnlistener_get_fd(f->lis), (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
}

static void fake_stop(struct fake *f)
{
	fake_drop(f);
	evconnlistener_free(f->lis);
	buf_free(&f->cmds);
	buf_free(&f->data);
}

static const char *fake_cmds(struct fake *f)
{
	return f->cmds.data ? buf_cstr(&f->cmds) : "";
}

/* ---- the client side ---- */

#define MAX_MSGS 3
#define MAX_RCPTS 4

struct client {
	struct event_base *base;
	struct smtpc *c;
	const struct smtpc_msg *msgs;
	size_t n_msgs, next;
	int ready;
	int results;
	struct smtpc_reply res[MAX_MSGS][MAX_RCPTS];
	size_t nres[MAX_MSGS];
	bool closed, failed;
	struct smtpc_reply why;
	bool free_on_result;
	char desc[200];
	bool in_call; /* set around smtpc_* calls: callbacks must not come */
	bool cb_inside_call;
};

static void cl_ready(void *arg)
{
	struct client *cl = arg;
	if (cl->in_call)
		cl->cb_inside_call = true;
	cl->ready++;
	cl->in_call = true;
	if (cl->next < cl->n_msgs)
		smtpc_send(cl->c, &cl->msgs[cl->next++]);
	else
		smtpc_quit(cl->c);
	cl->in_call = false;
}

static void cl_result(void *arg, const struct smtpc_reply *r, size_t n)
{
	struct client *cl = arg;
	if (cl->in_call)
		cl->cb_inside_call = true;
	if (cl->results < MAX_MSGS && n <= MAX_RCPTS) {
		memcpy(cl->res[cl->results], r, n * sizeof *r);
		cl->nres[cl->results] = n;
	}
	cl->results++;
	smtpc_peer_desc(cl->c, cl->desc, sizeof cl->desc);
	if (cl->free_on_result) {
		/* Allowed inside a callback: no more callbacks after it. */
		smtpc_free(&cl->c);
		cl->closed = true;
		event_base_loopexit(cl->base, NULL);
	}
}

static void cl_close(void *arg, bool failed, const struct smtpc_reply *why)
{
	struct client *cl = arg;
	if (cl->in_call)
		cl->cb_inside_call = true;
	cl->closed = true;
	cl->failed = failed;
	cl->why = *why;
	cl->c = NULL;
	event_base_loopexit(cl->base, NULL);
}

static const struct smtpc_handler handler = { cl_ready, cl_result, cl_close };

static struct smtpc_opts default_opts(void)
{
	struct smtpc_opts o = { 0 };
	o.helo = "client.test";
	o.tls = RELAY_TLS_NONE;
	o.connect_timeout = 5;
	o.timeout = 5;
	o.log_id = "qid=test";
	return o;
}

static void run(struct event_base *base, int port, const struct smtpc_opts *o,
		const struct smtpc_msg *msgs, size_t n, struct client *cl)
{
	bool free_on_result = cl->free_on_result;
	memset(cl, 0, sizeof *cl);
	cl->free_on_result = free_on_result;
	cl->base = base;
	cl->msgs = msgs;
	cl->n_msgs = n;
	struct relay_target t = { 0 };
	snprintf(t.host, sizeof t.host, "mx.test");
	struct sockaddr_in *sin = (struct sockaddr_in *)&t.addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((uint16_t)port);
	t.addr_len = sizeof *sin;
	cl->in_call = true;
	cl->c = smtpc_connect(base, &t, o, &handler, cl);
	cl->in_call = false;
	struct timeval limit = { 20, 0 };
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	CHECK(cl->closed);
	CHECK(!cl->cb_inside_call);
	if (!cl->closed)
		smtpc_free(&cl->c);
	/* Let the fake server see the EOF. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static const char *two_rcpts[] = { "good@x.test", "bad@x.test" };
static const char *one_rcpt[] = { "good@x.test" };
static const char *bad_only[] = { "bad@x.test" };

static struct smtpc_msg msg_make(const char **rcpts, size_t n, const char *data)
{
	struct smtpc_msg m = { 0 };
	m.sender = "from@y.test";
	m.rcpts = rcpts;
	m.n_rcpts = n;
	m.data = data;
	m.len = strlen(data);
	return m;
}

UNIT_TEST(test_plain_two_rcpts_one_refused)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.bad_rcpt = "bad@";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(two_rcpts, 2, "Subject: hi\r\n\r\nbody\r\n");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.results, 1);
	CHECK_EQ_INT(cl.res[0][0].code, 250);
	CHECK_EQ_STR(cl.res[0][0].status, "2.0.0");
	CHECK_EQ_STR(cl.desc, "mx.test (fake) tls=none");
	CHECK_EQ_INT(cl.res[0][1].code, 550);
	CHECK_EQ_STR(cl.res[0][1].status, "5.1.1");
	CHECK_EQ_STR(fake_cmds(&f), "EHLO client.test\nMAIL FROM:<from@y.test>\n"
		     "RCPT TO:<good@x.test>\nRCPT TO:<bad@x.test>\nDATA\nQUIT\n");
	CHECK_EQ_STR(buf_cstr(&f.data), "Subject: hi\r\n\r\nbody\r\n<END>");
	CHECK_EQ_INT(f.max_lines_per_read, 1);
	CHECK_EQ_INT(cl.why.code, 221);
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_pipelining)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.bad_rcpt = "bad@";
	f.ehlo = "250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m[2] = {
		msg_make(two_rcpts, 2, "a\r\n"),
		/* Nobody accepted, DATA still says 354: a lone dot. */
		msg_make(bad_only, 1, "b\r\n"),
	};
	m[0].body_8bit = true;
	struct client cl = { 0 };
	run(base, f.port, &o, m, 2, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.results, 2);
	CHECK_EQ_INT(cl.res[0][0].code, 250);
	CHECK_EQ_INT(cl.res[0][1].code, 550);
	CHECK_EQ_INT(cl.res[1][0].code, 550);
	CHECK_EQ_STR(fake_cmds(&f),
		     "EHLO client.test\n"
		     "MAIL FROM:<from@y.test> SIZE=3 BODY=8BITMIME\n"
		     "RCPT TO:<good@x.test>\nRCPT TO:<bad@x.test>\nDATA\n"
		     "MAIL FROM:<from@y.test> SIZE=3\n"
		     "RCPT TO:<bad@x.test>\nDATA\nRSET\nQUIT\n");
	CHECK_EQ_STR(buf_cstr(&f.data), "a\r\n<END><END>");
	CHECK(f.max_lines_per_read >= 4);
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_helo_fallback_and_rset)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.bad_rcpt = "bad@";
	f.ehlo = "502 5.5.1 no EHLO here\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m[2] = {
		msg_make(bad_only, 1, "x"),
		msg_make(one_rcpt, 1, "y"),
	};
	struct client cl = { 0 };
	run(base, f.port, &o, m, 2, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.results, 2);
	CHECK_EQ_INT(cl.res[0][0].code, 550);
	CHECK_EQ_INT(cl.res[1][0].code, 250);
	CHECK_EQ_STR(fake_cmds(&f),
		     "EHLO client.test\nHELO client.test\n"
		     "MAIL FROM:<from@y.test>\nRCPT TO:<bad@x.test>\nRSET\n"
		     "MAIL FROM:<from@y.test>\nRCPT TO:<good@x.test>\nDATA\n"
		     "QUIT\n");
	CHECK_EQ_STR(buf_cstr(&f.data), "y\r\n<END>");
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_greeting_421)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.greeting = "421 4.3.2 shutting down\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.ready, 0);
	CHECK_EQ_INT(cl.results, 0);
	CHECK_EQ_INT(cl.why.code, 421);
	CHECK_EQ_STR(cl.why.status, "4.3.2");
	CHECK_EQ_STR(fake_cmds(&f), "");
	fake_stop(&f);

	/* 554: refused, but as a temporary failure of this host. */
	f = (struct fake){ 0 };
	f.greeting = "554 5.7.1 go away\r\n";
	fake_start(&f, base);
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.why.code / 100, 4);
	CHECK_EQ_STR(cl.why.status, "4.7.1");
	CHECK(strstr(cl.why.text, "554 5.7.1 go away") != NULL);
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_connection_refused)
{
	struct event_base *base = event_base_new();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { 0 };
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&sin, sizeof sin);
	socklen_t sl = sizeof sin;
	getsockname(s, (struct sockaddr *)&sin, &sl);
	close(s); /* bound, never listened: nobody there */
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	struct client cl = { 0 };
	run(base, ntohs(sin.sin_port), &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.results, 0);
	CHECK_EQ_INT(cl.why.code, 421);
	CHECK_EQ_STR(cl.why.status, "4.4.1");
	CHECK(strstr(cl.why.text, "(postern) cannot connect") == cl.why.text);
	event_base_free(base);
}

UNIT_TEST(test_lost_mid_transaction)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.close_on = "DATA";
	f.bad_rcpt = "bad@";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(two_rcpts, 2, "x");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.results, 1);
	CHECK_EQ_INT(cl.res[0][0].code, 421);
	CHECK_EQ_STR(cl.res[0][0].status, "4.4.2");
	/* A recipient refused for good stays refused. */
	CHECK_EQ_INT(cl.res[0][1].code, 550);
	CHECK_EQ_STR(cl.why.status, "4.4.2");
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_dot_stuffing_and_line_ends)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(one_rcpt, 1,
		"From: a\n\n.dot\r\nbare\rcr\n..two\n.\nlast");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.res[0][0].code, 250);
	CHECK_EQ_STR(buf_cstr(&f.data), "From: a\r\n\r\n..dot\r\nbare\r\ncr\r\n"
					"...two\r\n..\r\nlast\r\n<END>");
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_size_and_smtputf8)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.ehlo = "250-fake\r\n250 SIZE 10\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m[3] = {
		msg_make(two_rcpts, 2, "this is longer than ten"),
		msg_make(one_rcpt, 1, "short"),
		msg_make(one_rcpt, 1, "utf8"),
	};
	m[2].smtputf8 = true;
	struct client cl = { 0 };
	run(base, f.port, &o, m, 3, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.results, 3);
	CHECK_EQ_INT(cl.res[0][0].code, 552);
	CHECK_EQ_STR(cl.res[0][0].status, "5.3.4");
	CHECK_EQ_INT(cl.res[0][1].code, 552);
	CHECK_EQ_INT(cl.res[1][0].code, 250);
	CHECK_EQ_INT(cl.res[2][0].code, 550);
	CHECK_EQ_STR(cl.res[2][0].status, "5.6.7");
	CHECK_EQ_STR(fake_cmds(&f), "EHLO client.test\n"
		     "MAIL FROM:<from@y.test> SIZE=5\nRCPT TO:<good@x.test>\n"
		     "DATA\nQUIT\n");
	fake_stop(&f);
	event_base_free(base);
}

/* RFC 3461 5.2.1: RET, ENVID, NOTIFY and ORCPT go on as received to a
 * server that offers DSN, and not at all (5.2.2 (a)) to one that does
 * not; each result says which it was. A damaged value is left out. */
UNIT_TEST(test_dsn_params)
{
	static const unsigned notify[2] = {
		DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, 0
	};
	static const char *const orcpt[2] = { "rfc822;good+2B1@x.test",
					      "rfc822;bad\r\nQUIT" };
	for (int offer = 0; offer < 2; offer++) {
		struct event_base *base = event_base_new();
		struct fake f = { 0 };
		f.ehlo = offer ? "250-fake\r\n250 DSN\r\n" : "250 fake\r\n";
		fake_start(&f, base);
		struct smtpc_opts o = default_opts();
		struct smtpc_msg m = msg_make(two_rcpts, 2, "x");
		m.ret = DSN_RET_HDRS;
		m.envid = "QQ+2B1";
		m.notify = notify;
		m.orcpt = orcpt;
		struct client cl = { 0 };
		run(base, f.port, &o, &m, 1, &cl);
		CHECK(!cl.failed);
		CHECK_EQ_INT(cl.res[0][0].code, 250);
		CHECK_EQ_INT(cl.res[0][0].remote_dsn, offer);
		if (offer)
			CHECK_EQ_STR(fake_cmds(&f),
				     "EHLO client.test\n"
				     "MAIL FROM:<from@y.test> RET=HDRS "
				     "ENVID=QQ+2B1\n"
				     "RCPT TO:<good@x.test> NOTIFY=SUCCESS,DELAY "
				     "ORCPT=rfc822;good+2B1@x.test\n"
				     "RCPT TO:<bad@x.test>\nDATA\nQUIT\n");
		else
			CHECK_EQ_STR(fake_cmds(&f),
				     "EHLO client.test\n"
				     "MAIL FROM:<from@y.test>\n"
				     "RCPT TO:<good@x.test>\n"
				     "RCPT TO:<bad@x.test>\nDATA\nQUIT\n");
		fake_stop(&f);
		event_base_free(base);
	}
}

UNIT_TEST(test_timeout)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.silent = true;
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	o.timeout = 1;
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.why.code, 421);
	CHECK_EQ_STR(cl.why.status, "4.4.2");
	CHECK(strstr(cl.why.text, "timeout") != NULL);
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_large_body)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.ehlo = "250-fake\r\n250 PIPELINING\r\n";
	fake_start(&f, base);
	size_t n = 3 * 1024 * 1024;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 100 == 99) ? '\n' : (char)('a' + i % 26);
	big[n] = '\0';
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(one_rcpt, 1, big);
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(!cl.failed);
	CHECK_EQ_INT(cl.res[0][0].code, 250);
	/* Every LF became CRLF, a last CRLF was added; "<END>" follows. */
	CHECK_EQ_INT(f.data.len, n + n / 100 + 2 + 5);
	CHECK_EQ_MEM(f.data.data + f.data.len - 7, 7, "\r\n<END>", 7);
	free(big);
	fake_stop(&f);
	event_base_free(base);
}

/* ---- TLS ---- */

static char tls_dir[64];
static char tls_cert[128], tls_key[128];

static void tls_setup(void)
{
	if (tls_dir[0])
		return;
	snprintf(tls_dir, sizeof tls_dir, "/tmp/test_smtpc.XXXXXX");
	if (!mkdtemp(tls_dir))
		abort();
	snprintf(tls_cert, sizeof tls_cert, "%s/cert.pem", tls_dir);
	snprintf(tls_key, sizeof tls_key, "%s/key.pem", tls_dir);
	struct buf err = BUF_INIT;
	if (tls_make_self_signed(tls_cert, tls_key, "mx.test", &err) < 0) {
		fprintf(stderr, "%s\n", buf_cstr(&err));
		abort();
	}
	buf_free(&err);
}

static void tls_cleanup(void)
{
	if (!tls_dir[0])
		return;
	unlink(tls_cert);
	unlink(tls_key);
	rmdir(tls_dir);
}

struct tls_run {
	struct client cl;
	struct fake f;
	const char *auth_user;
	const char *ehlo_tls;
	bool implicit;
};

static void run_tls(struct tls_run *tr, enum relay_tls_level level,
		    const char *ehlo, const char *starttls, const char *name,
		    bool with_ca, const struct smtpc_msg *m, size_t n)
{
	tls_setup();
	struct event_base *base = event_base_new();
	struct buf err = BUF_INIT;
	struct ssl_ctx_st *sctx = tls_server_ctx_new(tls_cert, tls_key, &err);
	struct ssl_ctx_st *cctx = tls_client_ctx_new(with_ca ? tls_cert : "",
						     &err);
	CHECK(sctx && cctx);
	memset(&tr->f, 0, sizeof tr->f);
	tr->f.implicit_tls = tr->implicit;
	tr->f.tls_ctx = sctx;
	tr->f.ehlo = ehlo;
	tr->f.ehlo_tls = tr->ehlo_tls ? tr->ehlo_tls
		       : "250-fake\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";
	tr->f.starttls = starttls;
	fake_start(&tr->f, base);
	struct smtpc_opts o = default_opts();
	o.tls = level;
	o.tls_ctx = cctx;
	o.tls_name = name;
	o.auth_user = tr->auth_user;
	o.auth_pass = "pass";
	memset(&tr->cl, 0, sizeof tr->cl);
	run(base, tr->f.port, &o, m, n, &tr->cl);
	evconnlistener_free(tr->f.lis);
	fake_drop(&tr->f);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	buf_free(&err);
	event_base_free(base);
}

static const char *ehlo_starttls = "250-fake\r\n250-STARTTLS\r\n250 SIZE 1000000\r\n";

UNIT_TEST(test_starttls_discards_injected)
{
	struct tls_run tr = { 0 };
	struct smtpc_msg m = msg_make(one_rcpt, 1, "secret\n");
	run_tls(&tr, RELAY_TLS_MAY, ehlo_starttls, "220 go\r\n250 injected\r\n",
		NULL, false, &m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.results, 1);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	/* The EHLO inside TLS got the server's real answer (PIPELINING:
	 * MAIL, RCPT and DATA in one go), not "250 injected". */
	CHECK_EQ_STR(fake_cmds(&tr.f),
		     "EHLO client.test\nSTARTTLS\nEHLO client.test\n"
		     "MAIL FROM:<from@y.test>\nRCPT TO:<good@x.test>\nDATA\n"
		     "QUIT\n");
	CHECK(tr.f.tls);
	CHECK(tr.f.max_lines_per_read >= 3);
	CHECK(strncmp(tr.cl.desc, "mx.test (fake) tls=TLSv1.", 25) == 0);
	CHECK(strstr(tr.cl.desc, " unverified") != NULL);
	CHECK_EQ_STR(buf_cstr(&tr.f.data), "secret\r\n<END>");
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_starttls_large_body)
{
	struct tls_run tr = { 0 };
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 80 == 79) ? '\n' : (char)('A' + i % 26);
	big[n] = '\0';
	struct smtpc_msg m = msg_make(one_rcpt, 1, big);
	run_tls(&tr, RELAY_TLS_ENCRYPT, ehlo_starttls, NULL, NULL, false, &m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	CHECK_EQ_INT(tr.f.data.len, n + n / 80 + 2 + 5);
	free(big);
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_encrypt_not_offered)
{
	struct tls_run tr = { 0 };
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	run_tls(&tr, RELAY_TLS_ENCRYPT, "250-fake\r\n250 SIZE 100\r\n", NULL,
		NULL, false, &m, 1);
	CHECK(tr.cl.failed);
	CHECK_EQ_INT(tr.cl.ready, 0);
	CHECK_EQ_INT(tr.cl.why.code, 421);
	CHECK_EQ_STR(tr.cl.why.status, "4.7.0");
	CHECK_EQ_STR(tr.cl.why.text, "(postern) TLS is required for this "
		     "destination but the server did not offer STARTTLS");
	CHECK_EQ_STR(fake_cmds(&tr.f), "EHLO client.test\n");
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_verify)
{
	struct tls_run tr = { 0 };
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	run_tls(&tr, RELAY_TLS_VERIFY, ehlo_starttls, NULL, "mx.test", true,
		&m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);

	run_tls(&tr, RELAY_TLS_VERIFY, ehlo_starttls, NULL, "wrong.test", true,
		&m, 1);
	CHECK(tr.cl.failed);
	CHECK_EQ_INT(tr.cl.ready, 0);
	CHECK_EQ_STR(tr.cl.why.status, "4.7.5");
	CHECK(strstr(tr.cl.why.text, "did not verify") != NULL);
	CHECK(strstr(fake_cmds(&tr.f), "MAIL") == NULL);
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);

	/* The right name but a CA that does not know the certificate. */
	run_tls(&tr, RELAY_TLS_VERIFY, ehlo_starttls, NULL, "mx.test", false,
		&m, 1);
	CHECK(tr.cl.failed);
	CHECK_EQ_STR(tr.cl.why.status, "4.7.5");
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_auth_only_over_tls)
{
	/* Configured AUTH, no STARTTLS offered: never sent in clear. */
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.ehlo = "250-fake\r\n250 AUTH PLAIN LOGIN\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	o.auth_user = "user";
	o.auth_pass = "pass";
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_STR(cl.why.status, "4.7.0");
	CHECK_EQ_STR(fake_cmds(&f), "EHLO client.test\n");
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_auth_plain_over_tls)
{
	struct tls_run tr = { 0 };
	tr.auth_user = "user";
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	/* AUTH only over TLS verified for the server's name */
	run_tls(&tr, RELAY_TLS_VERIFY, ehlo_starttls, NULL, "mx.test", true,
		&m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	/* RFC 4616: "" NUL "user" NUL "pass". */
	CHECK(strstr(fake_cmds(&tr.f), "STARTTLS\nEHLO client.test\n"
		     "AUTH PLAIN AHVzZXIAcGFzcw==\nMAIL") != NULL);
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_auth_login_over_tls)
{
	struct tls_run tr = { 0 };
	tr.auth_user = "user";
	tr.ehlo_tls = "250-fake\r\n250 AUTH CRAM-MD5 LOGIN\r\n";
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	run_tls(&tr, RELAY_TLS_VERIFY, ehlo_starttls, NULL, "mx.test", true,
		&m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	CHECK(strstr(fake_cmds(&tr.f), "STARTTLS\nEHLO client.test\n"
		     "AUTH LOGIN\ndXNlcg==\ncGFzcw==\nMAIL") != NULL);
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_smtps)
{
	struct tls_run tr = { 0 };
	tr.implicit = true;
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	run_tls(&tr, RELAY_TLS_SMTPS, "250 fake\r\n", NULL, "mx.test", true,
		&m, 1);
	CHECK(!tr.cl.failed);
	CHECK_EQ_INT(tr.cl.res[0][0].code, 250);
	CHECK_EQ_STR(fake_cmds(&tr.f), "EHLO client.test\n"
		     "MAIL FROM:<from@y.test>\nRCPT TO:<good@x.test>\nDATA\n"
		     "QUIT\n");
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);

	tr.implicit = true;
	run_tls(&tr, RELAY_TLS_SMTPS, "250 fake\r\n", NULL, "wrong.test", true,
		&m, 1);
	CHECK(tr.cl.failed);
	CHECK_EQ_INT(tr.cl.ready, 0);
	CHECK_EQ_STR(tr.cl.why.status, "4.7.5");
	buf_free(&tr.f.cmds);
	buf_free(&tr.f.data);
}

UNIT_TEST(test_421_mid_transaction)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	f.reply421_on = "RCPT TO:<bad@";
	f.ehlo = "250-fake\r\n250 PIPELINING\r\n";
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(two_rcpts, 2, "x");
	struct client cl = { 0 };
	run(base, f.port, &o, &m, 1, &cl);
	CHECK(cl.failed);
	CHECK_EQ_INT(cl.results, 1);
	CHECK_EQ_INT(cl.res[0][0].code, 421);
	CHECK_EQ_INT(cl.res[0][1].code, 421);
	CHECK_EQ_STR(cl.res[0][1].status, "4.3.2");
	CHECK_EQ_INT(cl.why.code, 421);
	CHECK_EQ_STR(buf_cstr(&f.data), "");
	fake_stop(&f);
	event_base_free(base);
}

UNIT_TEST(test_free_inside_callback)
{
	struct event_base *base = event_base_new();
	struct fake f = { 0 };
	fake_start(&f, base);
	struct smtpc_opts o = default_opts();
	struct smtpc_msg m = msg_make(one_rcpt, 1, "x");
	struct client cl = { 0 };
	cl.free_on_result = true;
	run(base, f.port, &o, &m, 1, &cl);
	CHECK_EQ_INT(cl.results, 1);
	CHECK_EQ_INT(cl.res[0][0].code, 250);
	CHECK(cl.c == NULL);
	fake_stop(&f);
	event_base_free(base);
}

UNIT_MAIN(test_plain_two_rcpts_one_refused, test_pipelining,
	  test_helo_fallback_and_rset, test_greeting_421,
	  test_connection_refused, test_lost_mid_transaction,
	  test_dot_stuffing_and_line_ends, test_size_and_smtputf8, test_dsn_params,
	  test_timeout, test_large_body, test_starttls_discards_injected,
	  test_starttls_large_body, test_encrypt_not_offered, test_verify,
	  test_auth_only_over_tls, test_auth_plain_over_tls,
	  test_auth_login_over_tls, test_smtps,
	  test_421_mid_transaction, test_free_inside_callback, tls_cleanup)
