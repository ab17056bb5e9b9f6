/* Delivery status notifications and the retry schedule (queue/dsn.h).
 *
 * The report is RFC 3464's multipart/report (RFC 6522) with three
 * parts: a human explanation, message/delivery-status, and the
 * original's header (text/rfc822-headers) or the whole original
 * (message/rfc822). Everything we write ourselves is 7-bit with CRLF
 * line ends; only the returned original may carry 8-bit bytes, and
 * then Content-Transfer-Encoding says 8bit (the runner sends the DSN
 * with BODY=8BITMIME when the original had it). */
#include "queue/dsn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mime/header.h"

/* RET=FULL returns the whole message only below this; a bigger one
 * comes back as its header (RFC 3461 6.2 lets the MTA choose the
 * bound). Postfix returns at most 50 kB; a megabyte keeps typical
 * attachments while keeping a bounce storm's disk use bounded. */
#define DSN_RETURN_FULL_MAX (1024 * 1024)
/* The returned header (text/rfc822-headers: every success DSN, and a
 * bounce without RET=FULL) is cut at the last whole field within this.
 * A success DSN goes to an address nobody verified (on port 25 only
 * from trusted clients, smtp/commands.c, but a bounce goes anywhere);
 * an uncapped header would make us reflect up to a whole message of
 * someone else's choosing. Real headers, DKIM and ARC sets included,
 * fit in a few KiB. */
#define DSN_RETURN_HEADERS_MAX (8 * 1024)
/* Our own header and delivery-status lines are folded before this
 * (RFC 5322 2.1.1 SHOULD 78); a word longer than DSN_WORD_MAX is cut
 * so no line passes the 998 octets of RFC 5322 2.1.1's MUST. */
#define DSN_FOLD_AT 78
#define DSN_WORD_MAX 900

static void date_format(struct buf *out, int64_t t)
{
	char s[64];
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) ||
	    strftime(s, sizeof s, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(s, sizeof s, "Thu, 01 Jan 1970 00:00:00 +0000");
	buf_appends(out, s);
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Appends s with anything that is not printable ASCII replaced by '?':
 * a CR or LF in a stored field must never start a header line of its
 * own in the report. */
static void append_printable(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_appendc(out, (c >= 0x20 && c < 0x7f) ? (char)c : '?');
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ENVID and ORCPT are stored as the client sent them, in xtext (RFC
 * 3461 4: kept that way because they are passed on to the next hop);
 * Original-Envelope-Id and Original-Recipient carry them decoded (RFC
 * 3461 6.3 (a) and (d)). A '+' not followed by two upper-case hex
 * digits is kept as it is; octets that decode to non-printable ASCII
 * become '?'. */
static void append_xtext_decoded(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			char c = (char)(hi * 16 + lo);
			append_printable(out, &c, 1);
			i += 2;
		} else {
			append_printable(out, &s[i], 1);
		}
	}
}

/* Decodes one UTF-8 sequence at s[0..n); returns its length, or 0 if
 * it is not valid UTF-8 (then the caller takes one octet). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Appends an address as an RFC 3464 "address-type; address" value.
 * An ASCII address is "rfc822; addr". A UTF-8 one (an SMTPUTF8
 * message) cannot go raw into message/delivery-status, which is 7-bit;
 * RFC 6533 3 gives it the "utf-8" type whose value is
 * utf-8-addr-xtext there: '+', '=', '\', controls and every non-ASCII
 * character as \x{HEX}. We chose that over message/global-delivery-
 * status so that the whole report stays readable by old clients; a
 * byte that is not valid UTF-8 becomes '?'. */
static void append_typed_addr(struct buf *out, const char *addr)
{
	if (is_ascii(addr)) {
		buf_appends(out, "rfc822; ");
		append_printable(out, addr, strlen(addr));
		return;
	}
	buf_appends(out, "utf-8; ");
	const unsigned char *s = (const unsigned char *)addr;
	size_t n = strlen(addr);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = utf8_decode(s + i, n - i, &cp);
		if (l == 0) {
			buf_appendc(out, '?');
			i++;
			continue;
		}
		i += l;
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' &&
		    cp != '\\')
			buf_appendc(out, (char)cp);
		else
			buf_printf(out, "\\x{%02X}", (unsigned)cp);
	}
}

/* The address for the human part: the same 7-bit form, without the
 * type when it is plain rfc822. */
static void append_human_addr(struct buf *out, const char *addr)
{
	if (is_ascii(addr)) {
		append_printable(out, addr, strlen(addr));
		return;
	}
	struct buf t = BUF_INIT;
	append_typed_addr(&t, addr);
	buf_append(out, t.data + strlen("utf-8; "), t.len - strlen("utf-8; "));
	buf_free(&t);
}

/* Appends "name: value" CRLF, value made printable and folded at
 * spaces so that lines stay near DSN_FOLD_AT; a run without spaces is
 * cut at DSN_WORD_MAX. Runs of spaces become one, so no folded line is
 * only white space (RFC 5322 3.2.2). Unfolding (RFC 5322 2.2.3) gives
 * back the value but for those runs and the cuts. */
static void append_field(struct buf *out, const char *name, const char *value,
			 size_t vlen)
{
	struct buf v = BUF_INIT;
	append_printable(&v, value, vlen);
	buf_appends(out, name);
	buf_appends(out, ": ");
	size_t col = strlen(name) + 2;
	const char *p = v.data ? v.data : "", *end = p + v.len;
	while (p < end && *p == ' ')
		p++;
	bool first = true;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t wlen = sp ? (size_t)(sp - p) : (size_t)(end - p);
		if (wlen > DSN_WORD_MAX)
			wlen = DSN_WORD_MAX;
		if (!first && col + 1 + wlen > DSN_FOLD_AT) {
			buf_appends(out, "\r\n ");
			col = 1;
		} else if (!first) {
			buf_appendc(out, ' ');
			col++;
		}
		buf_append(out, p, wlen);
		col += wlen;
		first = false;
		p += wlen;
		while (p < end && *p == ' ')
			p++;
	}
	buf_appends(out, "\r\n");
	buf_free(&v);
}

static void append_field_s(struct buf *out, const char *name, struct buf *v)
{
	append_field(out, name, v->data ? v->data : "", v->len);
	buf_clear(v);
}

/* Human text: wraps words of s onto lines of at most DSN_FOLD_AT,
 * each starting with indent. */
static void append_wrapped(struct buf *out, const char *indent, const char *s)
{
	struct buf t = BUF_INIT;
	append_field(&t, "", s, strlen(s));
	/* append_field wrote ": value\r\n" with " " continuation lines;
	 * reuse its folding and swap the prefixes. */
	const char *p = t.data + 2, *end = t.data + t.len;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		buf_appends(out, indent);
		buf_append(out, p, (size_t)(eol - p));
		buf_appends(out, "\r\n");
		p = eol + 2;
		if (p < end && *p == ' ')
			p++;
	}
	buf_free(&t);
}

/* Is recipient i in a DSN of this kind? NOTIFY absent (0) means
 * FAILURE and DELAY (RFC 3461 4.1 lets us choose; Postfix does the
 * same), never SUCCESS (5.2.2 (e), 5.2.3 (c)). */
static bool rcpt_listed(const struct queue_env *env, size_t i,
			enum dsn_kind kind, const bool *only)
{
	const struct queue_rcpt *r = &env->rcpts[i];
	if ((r->notify & DSN_NOTIFY_NEVER) || (only && !only[i]))
		return false;
	switch (kind) {
	case DSN_FAILED:
		return r->state == QUEUE_RCPT_FAILED &&
		       (r->notify == 0 || (r->notify & DSN_NOTIFY_FAILURE));
	case DSN_DELAYED:
		return r->state == QUEUE_RCPT_PENDING &&
		       (r->notify == 0 || (r->notify & DSN_NOTIFY_DELAY));
	case DSN_RELAYED:
	case DSN_DELIVERED:
		return r->state == QUEUE_RCPT_DELIVERED &&
		       (r->notify & DSN_NOTIFY_SUCCESS);
	}
	return false;
}

bool dsn_wanted_some(const struct queue_env *env, enum dsn_kind kind,
		     const bool *only)
{
	/* RFC 5321 6.1 and RFC 3461 6.1: nothing goes to the null sender,
	 * and a failed DSN of ours is dropped, not bounced back. */
	if (!env->sender || env->sender[0] == '\0' || env->is_bounce)
		return false;
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (rcpt_listed(env, i, kind, only))
			return true;
	return false;
}

bool dsn_wanted(const struct queue_env *env, enum dsn_kind kind)
{
	return dsn_wanted_some(env, kind, NULL);
}

/* An RFC 3463 status-code: class "." subject "." detail, class 2, 4
 * or 5, subject and detail 1-3 digits. */
static bool status_valid(const char *s)
{
	if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
		if (n < 1 || n > 3)
			return false;
		s += n;
		if (part == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* Did the diagnostic come from the remote server, i.e. is it an SMTP
 * reply ("550 5.1.1 ...")? Then it is the "smtp" Diagnostic-Code (RFC
 * 3464 9.2); otherwise it is our own reason. */
static bool diag_is_smtp_reply(const struct queue_rcpt *r)
{
	const char *d = r->diag;
	return r->remote_mta && r->remote_mta[0] && d && d[0] >= '2' &&
	       d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
	       d[2] <= '9' && (d[3] == '\0' || d[3] == ' ' || d[3] == '-');
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* Appends p[0..n) with every line end made CRLF (bare LF and bare CR
 * alike), ending in CRLF. */
static void append_crlf(struct buf *out, const char *p, size_t n)
{
	buf_reserve(out, n + n / 32 + 2);
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		buf_append(out, p + start, i - start);
		buf_appends(out, "\r\n");
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	buf_append(out, p + start, n - start);
	if (n > start)
		buf_appends(out, "\r\n");
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char r[32];
	if (nbytes > sizeof r)
		nbytes = sizeof r;
	if (getrandom(r, nbytes, 0) != (ssize_t)nbytes) {
		/* Without entropy the boundary is still checked against
		 * the content below; uniqueness of the Message-ID then
		 * rests on the time and pid. */
		uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		for (size_t i = 0; i < nbytes; i++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			r[i] = (unsigned char)(x >> 56);
		}
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* A boundary that does not occur in the returned content (RFC 2046
 * 5.1.1): 128 random bits make a clash unlikely, the check makes it
 * impossible. */
static void boundary_make(char *out, size_t n, const char *content,
			  size_t clen)
{
	for (int tries = 0; tries < 16; tries++) {
		char hex[33];
		random_hex(hex, 16);
		snprintf(out, n, "=_postern_dsn_%s", hex);
		if (!memmem(content, clen, out, strlen(out)))
			return;
	}
	/* 16 clashes with random strings: the content is built to
	 * collide (it cannot be, it never saw the string) -- keep the
	 * last one anyway, it is random. */
}

static void human_part(const struct config *cfg, const struct queue_env *env,
		       enum dsn_kind kind, const bool *only, bool full,
		       bool too_big, bool cut, struct buf *out)
{
	struct buf t = BUF_INIT;
	buf_printf(out, "This is the mail delivery system at ");
	append_printable(out, cfg->hostname, strlen(cfg->hostname));
	buf_appends(out, ".\r\n\r\n");
	if (kind == DSN_FAILED) {
		append_wrapped(out, "",
			       "Your message could not be delivered to the "
			       "recipients below. The failure is permanent: "
			       "the message will not be tried again.");
	} else if (kind == DSN_DELIVERED) {
		append_wrapped(out, "",
			       "Your message was delivered to the mailboxes "
			       "of the recipients below.");
	} else if (kind == DSN_RELAYED) {
		append_wrapped(out, "",
			       "Your message was handed on to the mail "
			       "servers of the recipients below. Those servers "
			       "do not offer delivery notifications, so you "
			       "will hear no more about it unless they report "
			       "a failure.");
	} else {
		buf_appends(&t, "Your message has not yet been delivered to "
				"the recipients below. You need not do "
				"anything: delivery will be tried again until ");
		date_format(&t, env->created + cfg->queue_max_age);
		buf_appends(&t, ", and you will be told if it fails then.");
		append_wrapped(out, "", buf_cstr(&t));
		buf_clear(&t);
	}
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (!rcpt_listed(env, i, kind, only))
			continue;
		buf_appends(out, "\r\n<");
		append_human_addr(out, r->addr);
		buf_appends(out, ">\r\n");
		if (r->diag && r->diag[0]) {
			if (r->remote_mta && r->remote_mta[0])
				buf_printf(&t, "%s said: %s", r->remote_mta,
					   r->diag);
			else
				buf_appends(&t, r->diag);
		} else {
			buf_appends(&t, kind == DSN_FAILED    ? "delivery failed"
					: kind == DSN_DELAYED ? "not yet delivered"
							      : "delivered");
		}
		append_wrapped(out, "    ", buf_cstr(&t));
		buf_clear(&t);
	}
	buf_appends(out, "\r\n");
	if (full)
		append_wrapped(out, "", "The delivery report and your message "
					"follow.");
	else if (too_big)
		append_wrapped(out, "", "The delivery report and the header of "
					"your message follow (the message is "
					"too large to be returned whole).");
	else
		append_wrapped(out, "", "The delivery report and the header of "
					"your message follow.");
	if (cut && !full)
		append_wrapped(out, "", "Only the first fields of the header "
					"are returned: it is too long to return "
					"whole.");
	buf_free(&t);
}

static const char *action_name(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_RELAYED:
		return "relayed";
	case DSN_DELIVERED:
		return "delivered";
	}
	return "failed";
}

/* RFC 3461 6.3 (g): 5.0.0, 4.0.0 or 2.0.0 when there is no better
 * code. A failure may keep a 4.x.x (a transient condition that lasted
 * until the message expired, RFC 3463 2); a delay is transient and a
 * success successful by definition. */
static const char *status_for(const struct queue_rcpt *r, enum dsn_kind kind)
{
	const char *st = r->status;
	bool ok = status_valid(st);
	switch (kind) {
	case DSN_FAILED:
		return ok && st[0] != '2' ? st : "5.0.0";
	case DSN_DELAYED:
		return ok && st[0] == '4' ? st : "4.0.0";
	case DSN_RELAYED:
	case DSN_DELIVERED:
		return ok && st[0] == '2' ? st : "2.0.0";
	}
	return "5.0.0";
}

static void status_part(const struct config *cfg, const struct queue_env *env,
			enum dsn_kind kind, const bool *only, struct buf *out)
{
	struct buf v = BUF_INIT;
	buf_appends(&v, "dns; ");
	buf_appends(&v, cfg->hostname);
	append_field_s(out, "Reporting-MTA", &v);
	if (env->id[0])
		append_field(out, "X-Postern-Queue-ID", env->id,
			     strnlen(env->id, QUEUE_ID_MAX));
	if (env->envid) {
		append_xtext_decoded(&v, env->envid);
		append_field_s(out, "Original-Envelope-Id", &v);
	}
	date_format(&v, env->created);
	append_field_s(out, "Arrival-Date", &v);
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (!rcpt_listed(env, i, kind, only))
			continue;
		buf_appends(out, "\r\n");
		const char *semi = r->orcpt ? strchr(r->orcpt, ';') : NULL;
		if (semi) {
			/* "rfc822;a+2Bb@c" -> "rfc822; a+b@c" */
			const char *type = r->orcpt;
			while (*type == ' ')
				type++;
			append_printable(&v, type, (size_t)(semi - type));
			buf_appends(&v, "; ");
			const char *a = semi + 1;
			while (*a == ' ')
				a++;
			append_xtext_decoded(&v, a);
			append_field_s(out, "Original-Recipient", &v);
		}
		append_typed_addr(&v, r->addr);
		append_field_s(out, "Final-Recipient", &v);
		buf_printf(out, "Action: %s\r\n", action_name(kind));
		buf_printf(out, "Status: %s\r\n", status_for(r, kind));
		if (r->remote_mta && r->remote_mta[0]) {
			buf_appends(&v, "dns; ");
			buf_appends(&v, r->remote_mta);
			append_field_s(out, "Remote-MTA", &v);
		}
		if (r->diag && r->diag[0]) {
			/* A reason of our own (loop, expired, no MX) gets
			 * an extension type, as Postfix's "X-Postfix". */
			buf_appends(&v, diag_is_smtp_reply(r) ? "smtp; "
							     : "X-Postern; ");
			buf_appends(&v, r->diag);
			append_field_s(out, "Diagnostic-Code", &v);
		}
		if (r->last_attempt > 0) {
			date_format(&v, r->last_attempt);
			append_field_s(out, "Last-Attempt-Date", &v);
		}
		if (kind == DSN_DELAYED) {
			date_format(&v, env->created + cfg->queue_max_age);
			append_field_s(out, "Will-Retry-Until", &v);
		}
	}
	buf_free(&v);
}

void dsn_build(const struct config *cfg, const struct queue_env *env,
	       enum dsn_kind kind, const char *msg, size_t msg_len,
	       int64_t now, struct buf *out)
{
	dsn_build_some(cfg, env, kind, NULL, msg, msg_len, now, out);
}

static const char *subject_for(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILED:
		return "Undelivered Mail Returned to Sender";
	case DSN_DELAYED:
		return "Delayed Mail (still being retried)";
	case DSN_RELAYED:
	case DSN_DELIVERED:
		return "Successful Mail Delivery Report";
	}
	return "Delivery Status Notification";
}

static const char *headers_description(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILED:
		return "Undelivered Message Headers";
	case DSN_DELAYED:
		return "Delayed Message Headers";
	case DSN_RELAYED:
	case DSN_DELIVERED:
		return "Message Headers";
	}
	return "Message Headers";
}

/* Cuts the header msg[0..*len) after its last whole field that ends
 * within DSN_RETURN_HEADERS_MAX; true if anything was left out. */
static bool header_cut(const char *msg, size_t *len)
{
	if (*len <= DSN_RETURN_HEADERS_MAX)
		return false;
	struct mime_header_iter it;
	struct mime_field f;
	size_t keep = 0;
	mime_header_iter_init(&it, str_make(msg, *len));
	while (mime_header_next(&it, &f)) {
		size_t end = (size_t)(f.whole.p - msg) + f.whole.len;
		if (end > DSN_RETURN_HEADERS_MAX)
			break;
		keep = end;
	}
	*len = keep;
	return true;
}

void dsn_build_some(const struct config *cfg, const struct queue_env *env,
		    enum dsn_kind kind, const bool *only, const char *msg,
		    size_t msg_len, int64_t now, struct buf *out)
{
	if (!msg)
		msg_len = 0;
	/* RFC 3461 6.2: the whole message only for a failure with
	 * RET=FULL, and only up to our bound; else its header. */
	bool too_big = msg_len > DSN_RETURN_FULL_MAX;
	bool full = kind == DSN_FAILED && env->ret == DSN_RET_FULL && !too_big;
	size_t ret_len = msg_len;
	bool cut = false;
	if (!full) {
		mime_header_split(msg ? msg : "", msg_len, &ret_len);
		cut = header_cut(msg ? msg : "", &ret_len);
	}
	const char *ret = msg ? msg : "";
	bool eight = has_8bit(ret, ret_len);

	char boundary[64];
	boundary_make(boundary, sizeof boundary, ret, ret_len);

	struct buf v = BUF_INIT;
	buf_appends(out, "From: Mail Delivery System <MAILER-DAEMON@");
	append_printable(out, cfg->hostname, strlen(cfg->hostname));
	buf_appends(out, ">\r\n");
	/* A UTF-8 sender cannot appear in a 7-bit header (RFC 2047 does
	 * not cover addr-spec); the envelope still carries it, so the
	 * header names no one rather than carry raw 8-bit. */
	const char *sender = env->sender ? env->sender : "";
	if (is_ascii(sender)) {
		buf_appendc(&v, '<');
		buf_appends(&v, sender);
		buf_appendc(&v, '>');
	} else {
		buf_appends(&v, "undisclosed-recipients:;");
	}
	append_field_s(out, "To", &v);
	buf_printf(out, "Subject: %s\r\n", subject_for(kind));
	date_format(&v, now);
	append_field_s(out, "Date", &v);
	char rnd[17];
	random_hex(rnd, 8);
	buf_appends(&v, "<");
	buf_printf(&v, "%lld.%s.", (long long)now, rnd);
	append_printable(&v, env->id, strnlen(env->id, QUEUE_ID_MAX));
	buf_appendc(&v, '@');
	buf_appends(&v, cfg->hostname);
	buf_appendc(&v, '>');
	append_field_s(out, "Message-ID", &v);
	/* RFC 3834 5: an automatic reply; keeps vacation responders and
	 * the like from answering it. */
	buf_appends(out, "Auto-Submitted: auto-replied\r\n");
	buf_appends(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; "
			"report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n",
		   boundary);
	if (eight)
		buf_appends(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_appends(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	buf_printf(out, "--%s\r\n", boundary);
	buf_appends(out, "Content-Description: Notification\r\n"
			 "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	human_part(cfg, env, kind, only, full,
		   too_big && kind == DSN_FAILED && env->ret == DSN_RET_FULL,
		   cut, out);

	buf_printf(out, "\r\n--%s\r\n", boundary);
	buf_appends(out, "Content-Description: Delivery report\r\n"
			 "Content-Type: message/delivery-status\r\n\r\n");
	status_part(cfg, env, kind, only, out);

	buf_printf(out, "\r\n--%s\r\n", boundary);
	if (full)
		buf_appends(out, "Content-Description: Undelivered Message\r\n"
				 "Content-Type: message/rfc822\r\n");
	else
		buf_printf(out, "Content-Description: %s\r\n",
			   headers_description(kind));
	if (!full)
		buf_appends(out, "Content-Type: text/rfc822-headers\r\n");
	if (eight)
		buf_appends(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_appends(out, "\r\n");
	append_crlf(out, ret, ret_len);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
	buf_free(&v);
}

int64_t queue_next_attempt(const struct config *cfg, int attempts,
			   int64_t now)
{
	int64_t max = cfg->queue_retry_max > 0 ? cfg->queue_retry_max : 1;
	int64_t delay = cfg->queue_retry_min > 0 ? cfg->queue_retry_min : 1;
	/* Doubling stops at the ceiling, so neither the shift count nor
	 * the product can overflow whatever attempts is. */
	for (int i = 1; i < attempts && delay < max; i++)
		delay *= 2;
	if (delay > max)
		delay = max;
	if (now > INT64_MAX - delay)
		return INT64_MAX;
	return now + delay;
}
