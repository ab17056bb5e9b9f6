/* One mail transaction of the SMTP client (relay/smtpc.h): MAIL, RCPT,
 * DATA, pipelined (RFC 2920) or one command at a time, the body streamed
 * as the socket drains, and one answer per recipient. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "relay/smtpc_int.h"

void smtpc_txn_free(struct smtpc *c)
{
	free(c->res);
	free(c->res_final);
	free(c->rcpt_sent);
	free(c->rcpt_ok);
	free(c->exp);
	c->res = NULL;
	c->res_final = c->rcpt_sent = c->rcpt_ok = NULL;
	c->exp = NULL;
}

bool smtpc_remote_has_dsn(const struct smtpc *c)
{
	return c->ehlo.dsn;
}

void smtpc_txn_notify(struct smtpc *c)
{
	size_t n = c->msg->n_rcpts;
	for (size_t i = 0; i < n; i++)
		c->res[i].remote_dsn = c->ehlo.dsn;
	c->msg = NULL;
	c->body_active = false;
	if (!c->dead)
		c->h.on_result(c->arg, c->res, n);
}

static void end_txn(struct smtpc *c, bool rset)
{
	for (size_t i = 0; i < c->msg->n_rcpts; i++)
		if (!c->res_final[i])
			smtpc_reply_make(&c->res[i], 451, "4.3.0",
					 "transaction ended without an answer");
	smtpc_txn_notify(c);
	if (smtpc_gone(c))
		return;
	if (c->st != S_TXN)
		return; /* the handler quit meanwhile? (not allowed) */
	if (rset) {
		/* The server may still hold part of the failed
		 * transaction (RFC 5321 4.1.1.5). */
		smtpc_send_line(c, "RSET");
		smtpc_enter_state(c, S_RSET);
		smtpc_arm(c, c->timeout);
		return;
	}
	smtpc_become_ready(c);
}

static void exp_push(struct smtpc *c, enum smtpc_expect kind, size_t rcpt)
{
	c->exp[c->exp_tail++] = (struct smtpc_exp){ kind, rcpt };
}

/* An xtext value from the envelope goes on a command line: only what
 * RFC 3461 4 allows in it (no space, '=', control or 8-bit octet), so
 * a damaged envelope can never inject a command; else it is left out. */
static bool dsn_value_ok(const char *v, size_t max)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 33 || ch > 126 || ch == '=')
			return false;
	}
	return true;
}

/* RFC 3461 5.2.1 (c) and (d): NOTIFY and ORCPT as received, only to a
 * server that offers DSN (5.2.2 (a)). */
static void rcpt_dsn_params(struct smtpc *c, size_t i, struct buf *line)
{
	if (!c->ehlo.dsn)
		return;
	unsigned nt = c->msg->notify ? c->msg->notify[i] : 0;
	if (nt & DSN_NOTIFY_NEVER) {
		buf_appends(line, " NOTIFY=NEVER");
	} else if (nt) {
		const char *sep = " NOTIFY=";
		static const struct {
			unsigned bit;
			const char *name;
		} names[] = { { DSN_NOTIFY_SUCCESS, "SUCCESS" },
			      { DSN_NOTIFY_FAILURE, "FAILURE" },
			      { DSN_NOTIFY_DELAY, "DELAY" } };
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
			if (nt & names[k].bit) {
				buf_appends(line, sep);
				buf_appends(line, names[k].name);
				sep = ",";
			}
	}
	const char *o = c->msg->orcpt ? c->msg->orcpt[i] : NULL;
	if (o && dsn_value_ok(o, SMTP_ORCPT_MAX))
		buf_printf(line, " ORCPT=%s", o);
}

/* Sends RCPT for the next recipient not refused locally; false if none
 * is left. */
static bool send_next_rcpt(struct smtpc *c)
{
	while (c->next_rcpt < c->msg->n_rcpts) {
		size_t i = c->next_rcpt++;
		if (!c->rcpt_sent[i])
			continue;
		struct buf line = BUF_INIT;
		buf_printf(&line, "RCPT TO:<%s>", c->msg->rcpts[i]);
		rcpt_dsn_params(c, i, &line);
		smtpc_send_line(c, "%s", buf_cstr(&line));
		buf_free(&line);
		exp_push(c, X_RCPT, i);
		return true;
	}
	return false;
}

void smtpc_txn_pump(struct smtpc *c)
{
	char chunk[SMTPC_BODY_CHUNK];
	struct evbuffer *out = bufferevent_get_output(c->bev);
	while (c->body_active && !c->body.finished &&
	       smtpc_out_len(c) < SMTPC_OUT_HIGH) {
		size_t n = smtpc_body_encode(&c->body, chunk, sizeof chunk);
		evbuffer_add(out, chunk, n);
	}
	if (!c->body_active)
		return;
	if (c->body.finished) {
		c->body_active = false;
		smtpc_arm(c, c->timeout > SMTPC_DATA_END_TIMEOUT
			  ? c->timeout : SMTPC_DATA_END_TIMEOUT);
	} else {
		/* The socket is moving: the data-block timeout restarts
		 * (RFC 5321 4.5.3.2.5). */
		smtpc_arm(c, c->timeout);
	}
}

void smtpc_txn_reply(struct smtpc *c, const struct smtpc_reply *r)
{
	if (c->exp_head == c->exp_tail) {
		smtpc_fail_made(c, "4.5.0", "unexpected reply from %s: %d %s",
				c->target.host, r->code, r->text);
		return;
	}
	struct smtpc_exp x = c->exp[c->exp_head++];
	bool ok = r->code / 100 == 2;
	size_t n = c->msg->n_rcpts;
	switch (x.kind) {
	case X_MAIL:
		if (!ok) {
			c->mail_failed = true;
			for (size_t i = 0; i < n; i++)
				if (!c->res_final[i]) {
					c->res[i] = *r;
					c->res_final[i] = true;
				}
			if (!c->pipelining)
				end_txn(c, true);
			return;
		}
		if (!c->pipelining)
			send_next_rcpt(c);
		return;
	case X_RCPT:
		if (ok && !c->mail_failed) {
			c->rcpt_ok[x.rcpt] = true;
			c->n_ok++;
		} else if (!c->res_final[x.rcpt]) {
			c->res[x.rcpt] = *r;
			c->res_final[x.rcpt] = true;
		}
		if (c->pipelining || send_next_rcpt(c))
			return;
		if (c->n_ok == 0) {
			end_txn(c, true);
			return;
		}
		smtpc_send_line(c, "DATA");
		exp_push(c, X_DATA, 0);
		return;
	case X_DATA:
		if (r->code == 354 && (c->mail_failed || c->n_ok == 0)) {
			/* RFC 2920 3.1: no recipient was accepted but the
			 * pipelined DATA was: end it with a lone dot. */
			evbuffer_add(bufferevent_get_output(c->bev), ".\r\n", 3);
			exp_push(c, X_ABORT_DOT, 0);
			return;
		}
		if (r->code == 354) {
			exp_push(c, X_DOT, 0);
			smtpc_body_init(&c->body, c->msg->data, c->msg->len);
			c->body_active = true;
			smtpc_txn_pump(c);
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (!c->res_final[i]) {
				c->res[i] = *r;
				c->res_final[i] = true;
			}
		end_txn(c, true);
		return;
	case X_ABORT_DOT:
		end_txn(c, true);
		return;
	case X_DOT: {
		bool early = c->body_active;
		for (size_t i = 0; i < n; i++)
			if (!c->res_final[i]) {
				c->res[i] = *r;
				c->res_final[i] = true;
			}
		if (!early) {
			end_txn(c, false);
			return;
		}
		/* A reply before our end of data: we cannot know what the
		 * server will make of the rest, so the connection ends. */
		c->body_active = false;
		smtpc_txn_notify(c);
		if (smtpc_gone(c))
			return;
		smtpc_fail_made(c, "4.5.0", "%s replied before the end of the data",
				c->target.host);
		return;
	}
	}
}

/* Addresses go on a command line: nothing that could end it or break
 * out of the angle brackets (a CR or LF would be command injection). */
static bool addr_ok(const char *a, bool empty_ok)
{
	size_t n = strlen(a);
	if ((n == 0 && !empty_ok) || n > SMTP_PATH_MAX - 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

static void refuse_all(struct smtpc *c, int code, const char *status,
		       const char *text)
{
	for (size_t i = 0; i < c->msg->n_rcpts; i++)
		if (!c->res_final[i]) {
			smtpc_reply_make(&c->res[i], code, status, "%s", text);
			c->res_final[i] = true;
			c->rcpt_sent[i] = false;
		}
}

void smtpc_send(struct smtpc *c, const struct smtpc_msg *msg)
{
	if (c->st != S_READY || c->msg)
		log_fatal("smtpc_send in state %s", smtpc_state_name(c->st));
	size_t n = msg->n_rcpts;
	smtpc_txn_free(c);
	c->msg = msg;
	c->res = xcalloc(n ? n : 1, sizeof *c->res);
	c->res_final = xcalloc(n ? n : 1, sizeof *c->res_final);
	c->rcpt_sent = xcalloc(n ? n : 1, sizeof *c->rcpt_sent);
	c->rcpt_ok = xcalloc(n ? n : 1, sizeof *c->rcpt_ok);
	c->exp = xcalloc(n + 3, sizeof *c->exp);
	c->exp_head = c->exp_tail = 0;
	c->n_ok = 0;
	c->next_rcpt = 0;
	c->mail_failed = false;
	c->body_active = false;
	c->pipelining = c->ehlo.pipelining;
	smtpc_enter_state(c, S_TXN);

	size_t n_send = 0;
	for (size_t i = 0; i < n; i++) {
		c->rcpt_sent[i] = addr_ok(msg->rcpts[i], false);
		if (c->rcpt_sent[i]) {
			n_send++;
		} else {
			smtpc_reply_make(&c->res[i], 553, "5.1.3",
					 "the recipient address cannot be sent");
			c->res_final[i] = true;
		}
	}
	char text[SMTPC_TEXT_MAX];
	if (msg->smtputf8 && !c->ehlo.smtputf8) {
		/* RFC 6531 3.4: without SMTPUTF8 at the server, a message
		 * that needs it is not sent; 5.6.7 is its status. */
		snprintf(text, sizeof text, "the message needs SMTPUTF8 but "
			 "%s does not offer it", c->target.host);
		refuse_all(c, 550, "5.6.7", text);
	} else if (c->ehlo.size && c->ehlo.size_max &&
		   msg->len > c->ehlo.size_max) {
		/* RFC 1870 6.1: do not send what the server said it
		 * would not take; 5.3.4 "message too big for system". */
		snprintf(text, sizeof text, "the message (%zu octets) is "
			 "larger than %s accepts (%llu)", msg->len,
			 c->target.host, c->ehlo.size_max);
		refuse_all(c, 552, "5.3.4", text);
	} else if (!addr_ok(msg->sender, true)) {
		refuse_all(c, 550, "5.1.7", "the sender address cannot be sent");
	}
	n_send = 0;
	for (size_t i = 0; i < n; i++)
		n_send += c->rcpt_sent[i];
	if (n_send == 0) {
		c->pend_result = true;
		event_active(c->defer, EV_TIMEOUT, 1);
		return;
	}

	struct buf mail = BUF_INIT;
	buf_printf(&mail, "MAIL FROM:<%s>", msg->sender);
	if (c->ehlo.size)
		buf_printf(&mail, " SIZE=%zu", msg->len);
	if (msg->body_8bit && c->ehlo.eightbitmime)
		buf_appends(&mail, " BODY=8BITMIME");
	if (msg->smtputf8)
		buf_appends(&mail, " SMTPUTF8");
	/* RFC 3461 5.2.1 (a) and (b): RET and ENVID as received. */
	if (c->ehlo.dsn && msg->ret == DSN_RET_FULL)
		buf_appends(&mail, " RET=FULL");
	else if (c->ehlo.dsn && msg->ret == DSN_RET_HDRS)
		buf_appends(&mail, " RET=HDRS");
	if (c->ehlo.dsn && msg->envid &&
	    dsn_value_ok(msg->envid, SMTP_ENVID_MAX))
		buf_printf(&mail, " ENVID=%s", msg->envid);
	smtpc_send_line(c, "%s", buf_cstr(&mail));
	buf_free(&mail);
	exp_push(c, X_MAIL, 0);
	if (c->pipelining) {
		/* RFC 2920 3.1: MAIL and RCPT anywhere in a group, DATA
		 * last; all of it goes in one write. */
		while (send_next_rcpt(c))
			;
		smtpc_send_line(c, "DATA");
		exp_push(c, X_DATA, 0);
	}
	smtpc_arm(c, c->timeout);
}
