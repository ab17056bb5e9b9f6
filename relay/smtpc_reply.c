/* SMTP replies as the client reads them: see smtpc_reply.h. */
#include "relay/smtpc_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void smtpc_reply_init(struct smtpc_reply_parser *p)
{
	memset(p, 0, sizeof *p);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 section 2: class "." subject "." detail, 1-3 digits each
 * after the class; the class must be the reply's own (RFC 2034 section
 * 4), and it must be followed by a space or the end of the text. */
static size_t enhanced_status_len(struct str t, int code)
{
	if (t.len < 5 || t.p[0] != (char)('0' + code / 100) || t.p[1] != '.')
		return 0;
	size_t i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < t.len && is_digit(t.p[i]) && i - start < 4)
			i++;
		if (i == start || i - start > 3)
			return 0;
		if (part == 0) {
			if (i >= t.len || t.p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < t.len && t.p[i] != ' ')
		return 0;
	return i;
}

static void text_append(struct smtpc_reply_parser *p, struct str t)
{
	struct smtpc_reply *r = &p->reply;
	if (p->text_len > 0 && p->text_len < sizeof r->text - 1)
		r->text[p->text_len++] = ' ';
	for (size_t i = 0; i < t.len && p->text_len < sizeof r->text - 1; i++) {
		unsigned char c = (unsigned char)t.p[i];
		/* Printable ASCII only: the text ends up in logs and
		 * bounces, and nothing from the wire gets to act there. */
		r->text[p->text_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	r->text[p->text_len] = '\0';
}

static void ehlo_keyword(struct smtpc_ehlo *e, struct str t)
{
	struct str kw, rest;
	if (!str_next_token(t, &kw, &rest))
		return;
	if (str_eq_nocase(kw, "PIPELINING")) {
		e->pipelining = true;
	} else if (str_eq_nocase(kw, "STARTTLS")) {
		e->starttls = true;
	} else if (str_eq_nocase(kw, "8BITMIME")) {
		e->eightbitmime = true;
	} else if (str_eq_nocase(kw, "SMTPUTF8")) {
		e->smtputf8 = true;
	} else if (str_eq_nocase(kw, "DSN")) {
		e->dsn = true;
	} else if (str_eq_nocase(kw, "SIZE")) {
		/* RFC 1870 section 4: no number, or 0, means no limit
		 * announced; a number we cannot read is taken as none. */
		unsigned long long n = 0;
		struct str num, more;
		e->size = true;
		e->size_max = 0;
		if (str_next_token(rest, &num, &more) &&
		    str_to_u64(num, ~0ULL, &n))
			e->size_max = n;
	} else if (str_eq_nocase(kw, "AUTH") ||
		   (kw.len > 5 && str_eq_nocase(str_make(kw.p, 5), "AUTH="))) {
		/* "AUTH=PLAIN LOGIN" is what old servers said (before RFC
		 * 4954); its mechanisms count the same. */
		struct str mechs = rest;
		struct str m;
		if (kw.len > 5) {
			m = str_make(kw.p + 5, kw.len - 5);
			if (str_eq_nocase(m, "PLAIN"))
				e->auth_plain = true;
			else if (str_eq_nocase(m, "LOGIN"))
				e->auth_login = true;
		}
		while (str_next_token(mechs, &m, &mechs)) {
			if (str_eq_nocase(m, "PLAIN"))
				e->auth_plain = true;
			else if (str_eq_nocase(m, "LOGIN"))
				e->auth_login = true;
		}
	}
}

enum smtpc_reply_status smtpc_reply_feed(struct smtpc_reply_parser *p,
					 struct str line)
{
	if (p->error)
		return SMTPC_REPLY_ERROR;
	if (line.len > SMTPC_REPLY_LINE_MAX) {
		p->error = "reply line too long";
		return SMTPC_REPLY_ERROR;
	}
	if (++p->lines > SMTPC_REPLY_LINES_MAX) {
		p->error = "too many reply lines";
		return SMTPC_REPLY_ERROR;
	}
	/* RFC 5321 4.2: Reply-code ::= %x32-35 %x30-35 %x30-39. */
	if (line.len < 3 || line.p[0] < '2' || line.p[0] > '5' ||
	    line.p[1] < '0' || line.p[1] > '5' || !is_digit(line.p[2])) {
		p->error = "reply without a valid code";
		return SMTPC_REPLY_ERROR;
	}
	int code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 +
		   (line.p[2] - '0');
	bool last = true;
	if (line.len > 3) {
		if (line.p[3] == '-') {
			last = false;
		} else if (line.p[3] != ' ') {
			p->error = "reply code not followed by space or '-'";
			return SMTPC_REPLY_ERROR;
		}
	}
	if (p->lines == 1) {
		p->reply.code = code;
	} else if (code != p->reply.code) {
		/* 4.2.1: every line of a multiline reply has the same code;
		 * a change is either a broken server or an injection. */
		p->error = "reply lines with different codes";
		return SMTPC_REPLY_ERROR;
	}
	struct str t = line.len > 4 ? str_make(line.p + 4, line.len - 4)
				    : str_make("", 0);
	if (p->lines == 1) {
		size_t n = enhanced_status_len(t, code);
		if (n > 0 && n < sizeof p->reply.status) {
			memcpy(p->reply.status, t.p, n);
			p->reply.status[n] = '\0';
		}
	} else {
		ehlo_keyword(&p->ehlo, t);
	}
	text_append(p, t);
	if (!last)
		return SMTPC_REPLY_MORE;
	if (!p->reply.status[0])
		smtpc_reply_default_status(&p->reply);
	return SMTPC_REPLY_DONE;
}

void smtpc_reply_default_status(struct smtpc_reply *r)
{
	int cls = r->code / 100;
	if (cls != 2 && cls != 4 && cls != 5)
		cls = 4;
	snprintf(r->status, sizeof r->status, "%d.0.0", cls);
}

void smtpc_reply_make(struct smtpc_reply *r, int code, const char *status,
		      const char *fmt, ...)
{
	r->code = code;
	r->remote_dsn = false;
	snprintf(r->status, sizeof r->status, "%s", status);
	int n = snprintf(r->text, sizeof r->text, "(postern) ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text + n, sizeof r->text - (size_t)n, fmt, ap);
	va_end(ap);
	/* Our text may quote the remote's words: keep it printable. */
	for (char *c = r->text; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
}
