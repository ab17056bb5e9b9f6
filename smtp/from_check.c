/* Submission: the From: header must belong to the authenticated user,
 * as the envelope sender must (RFC 6409 section 6.1 leaves the policy to
 * the MSA; ours is the one users expect: you send as yourself or as an
 * alias that reaches you). Checked after the end of the data, before
 * delivery, with the same lookup as MAIL FROM; addresses equal to the
 * already-checked envelope sender need no second lookup. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_client.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "mime/addr.h"
#include "mime/header.h"
#include "net/conn.h"
#include "smtp/from_check.h"
#include "smtp/session.h"

static void from_check_next(struct smtp_session *s);

void smtp_from_check_clear(struct smtp_session *s)
{
	smtp_from_addrs_free(s->from_addrs, s->n_from);
	s->from_addrs = NULL;
	s->n_from = s->i_from = 0;
}

void smtp_from_addrs_free(char **addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

const char *smtp_from_verdict_name(enum smtp_from_verdict v)
{
	switch (v) {
	case SMTP_FROM_OK:
		return "ok";
	case SMTP_FROM_MULTIPLE:
		return "from_multiple";
	case SMTP_FROM_CONTROL:
		return "from_control_bytes";
	case SMTP_FROM_TOO_MANY:
		return "from_too_many";
	}
	return "?";
}

/* Is the raw field value clean? Printable ASCII, HTAB, the CRLF (or
 * LF) of a fold, and UTF-8 (RFC 6532) above U+009F. A NUL, another
 * control, a bare CR, DEL, a C1 control (U+0080..U+009F) or bytes that
 * are not UTF-8 are refused: clients show them differently (or stop at
 * a NUL), so the address a reader sees need not be the one we checked. */
static bool value_clean(struct str v)
{
	const unsigned char *p = (const unsigned char *)v.p;
	size_t n = v.len;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
			i++;
			continue;
		}
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n') {
			i++;
			continue;
		}
		if (c == '\n') {
			i++;
			continue;
		}
		if (c < 0x80)
			return false; /* NUL, other C0, bare CR, DEL */
		size_t len;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp <= 0x9f)
			return false;
		i += len;
	}
	return true;
}

static bool listed(char **v, size_t n, const char *skip, const char *a)
{
	if (skip && !strcasecmp(skip, a))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(v[i], a))
			return true;
	return false;
}

/* Every mailbox of the From: field (RFC 5322 3.6.2 allows a list).
 * RFC 5322 3.6 allows exactly one From: field: a second one is refused,
 * not checked or ignored, as readers differ on which one they show. */
enum smtp_from_verdict smtp_from_collect(const char *msg, size_t len,
					 const char *skip, char ***addrs,
					 size_t *n)
{
	*addrs = NULL;
	*n = 0;
	size_t hlen;
	if (!msg)
		msg = "", len = 0;
	mime_header_split(msg, len, &hlen);
	struct mime_header_iter it;
	mime_header_iter_init(&it, str_make(msg, hlen));
	struct mime_field f, from;
	size_t fields = 0;
	while (mime_header_next(&it, &f))
		if (str_eq_nocase(f.name, "From") && fields++ == 0)
			from = f;
	if (fields == 0)
		return SMTP_FROM_OK;
	if (fields > 1)
		return SMTP_FROM_MULTIPLE;
	if (!value_clean(from.value))
		return SMTP_FROM_CONTROL;
	enum smtp_from_verdict v = SMTP_FROM_OK;
	struct buf value = BUF_INIT, addr = BUF_INIT;
	mime_header_unfold(from.value, &value);
	struct mime_addr_list l;
	mime_addr_parse(buf_str(&value), &l);
	char **out = NULL;
	size_t m = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].kind != MIME_ADDR_MAILBOX)
			continue;
		buf_clear(&addr);
		buf_append(&addr, l.v[i].mailbox.p, l.v[i].mailbox.len);
		buf_appendc(&addr, '@');
		buf_append(&addr, l.v[i].host.p, l.v[i].host.len);
		const char *a = buf_cstr(&addr);
		if (listed(out, m, skip, a))
			continue;
		if (m >= SMTP_MAX_FROM) {
			v = SMTP_FROM_TOO_MANY;
			break;
		}
		out = xrealloc(out, (m + 1) * sizeof *out);
		out[m++] = xstrdup(a);
	}
	mime_addr_list_free(&l);
	buf_free(&value);
	buf_free(&addr);
	if (v != SMTP_FROM_OK) {
		smtp_from_addrs_free(out, m);
		return v;
	}
	*addrs = out;
	*n = m;
	return SMTP_FROM_OK;
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
	enum smtp_from_verdict v = smtp_from_collect(
		s->msg.data, s->msg.len, s->sender, &s->from_addrs, &s->n_from);
	if (v != SMTP_FROM_OK) {
		/* A malformed header is a media error (RFC 3463 X.6.0); a
		 * list too long to check is refused like one not owned. */
		log_kv(LOG_INFO, "event=message result=refused proto=%s "
		       "sid=%s reason=%s", s->lmtp ? "lmtp" : "smtp", s->c->id,
		       smtp_from_verdict_name(v));
		smtp_reply(s, v == SMTP_FROM_MULTIPLE
				      ? "550 5.6.0 A message has exactly one "
					"From: field (RFC 5322 3.6)"
			      : v == SMTP_FROM_CONTROL
				      ? "550 5.6.0 Control characters or "
					"invalid UTF-8 in the From: field"
				      : "553 5.7.1 Too many addresses in the "
					"From: field");
		smtp_reset_transaction(s);
		if (s->in_input)
			s->wait = SMTP_WAIT_NONE;
		else
			smtp_resume(s);
		return;
	}
	from_check_next(s);
}
