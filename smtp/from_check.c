/* Submission: the From: header must belong to the authenticated user,
 * as the envelope sender must (RFC 6409 section 6.1 leaves the policy to
 * the MSA; ours is the one users expect: you send as yourself or as an
 * alias that reaches you). Checked after the end of the data, before
 * delivery, with the same lookup as MAIL FROM; addresses equal to the
 * already-checked envelope sender need no second lookup. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_client.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "mime/addr.h"
#include "mime/header.h"
#include "net/conn.h"
#include "smtp/session.h"

static void from_check_next(struct smtp_session *s);

void smtp_from_check_clear(struct smtp_session *s)
{
	for (size_t i = 0; i < s->n_from; i++)
		free(s->from_addrs[i]);
	free(s->from_addrs);
	s->from_addrs = NULL;
	s->n_from = s->i_from = 0;
}

static bool seen(const struct smtp_session *s, const char *a)
{
	if (s->sender && !strcasecmp(s->sender, a))
		return true;
	for (size_t i = 0; i < s->n_from; i++)
		if (!strcasecmp(s->from_addrs[i], a))
			return true;
	return false;
}

/* Every mailbox of every From: field (RFC 5322 allows a list; a second
 * From: field is not allowed, so it is checked as well, not ignored). */
static void collect(struct smtp_session *s)
{
	size_t hlen;
	mime_header_split(s->msg.data ? s->msg.data : "", s->msg.len, &hlen);
	struct mime_header_iter it;
	mime_header_iter_init(&it, str_make(s->msg.data ? s->msg.data : "",
					    hlen));
	struct mime_field f;
	struct buf value = BUF_INIT, addr = BUF_INIT;
	while (mime_header_next(&it, &f)) {
		if (!str_eq_nocase(f.name, "From"))
			continue;
		buf_clear(&value);
		mime_header_unfold(f.value, &value);
		struct mime_addr_list l;
		mime_addr_parse(buf_str(&value), &l);
		for (size_t i = 0; i < l.n; i++) {
			if (l.v[i].kind != MIME_ADDR_MAILBOX)
				continue;
			buf_clear(&addr);
			buf_append(&addr, l.v[i].mailbox.p, l.v[i].mailbox.len);
			buf_appendc(&addr, '@');
			buf_append(&addr, l.v[i].host.p, l.v[i].host.len);
			const char *a = buf_cstr(&addr);
			if (seen(s, a) || s->n_from >= SMTP_MAX_FROM)
				continue;
			s->from_addrs = xrealloc(s->from_addrs,
						 (s->n_from + 1) *
							 sizeof *s->from_addrs);
			s->from_addrs[s->n_from++] = xstrdup(a);
		}
		mime_addr_list_free(&l);
	}
	buf_free(&value);
	buf_free(&addr);
}

static void from_check_end(struct smtp_session *s, const char *reply,
			   const char *reason)
{
	char a[LOG_ESC_MAX];
	smtp_log_value(a, sizeof a, s->from_addrs[s->i_from]);
	log_kv(LOG_INFO, "event=message result=refused proto=%s sid=%s "
	       "reason=%s from_header=%s", s->lmtp ? "lmtp" : "smtp",
	       s->c->id, reason, a);
	smtp_reply(s, reply);
	smtp_from_check_clear(s);
	smtp_reset_transaction(s);
	/* As lookup_done(): the input loop may still be on the stack. */
	if (s->in_input)
		s->wait = SMTP_WAIT_NONE;
	else
		smtp_resume(s);
}

static void from_done(void *arg, const struct auth_rcpt_result *res)
{
	struct smtp_session *s = arg;
	s->req_id = 0;
	if (s->dead || !s->c)
		return;
	if (res->status == AUTH_RCPT_ERROR ||
	    res->status == AUTH_RCPT_TEMPFAIL) {
		from_check_end(s, "451 4.3.0 Temporary lookup failure; try "
				  "again later", "from_lookup_failed");
		return;
	}
	if (res->status != AUTH_RCPT_LOCAL ||
	    !smtp_rcpt_has_user(res, s->auth_user)) {
		from_check_end(s, "553 5.7.1 From: header address not owned "
				  "by you", "from_not_owned");
		return;
	}
	s->i_from++;
	from_check_next(s);
}

static void from_check_next(struct smtp_session *s)
{
	if (s->i_from == s->n_from) {
		smtp_from_check_clear(s);
		smtp_message_deliver(s);
		return;
	}
	smtp_set_wait(s, SMTP_WAIT_LOOKUP);
	s->req_id = auth_client_lookup_rcpt(s->env->auth,
					    str_from_cstr(s->from_addrs[s->i_from]),
					    s->c->id, from_done, s);
	if (s->req_id == 0) {
		struct auth_rcpt_result r = { .status = AUTH_RCPT_TEMPFAIL,
					      .reason = "lookup_unavailable" };
		from_done(s, &r);
	}
}

void smtp_from_check_start(struct smtp_session *s)
{
	smtp_from_check_clear(s);
	collect(s);
	from_check_next(s);
}
