/* SMTP paths (MAIL FROM / RCPT TO) and their parameters, RFC 5321
 * 4.1.2, RFC 1870, RFC 6152, RFC 3030, RFC 6531, RFC 4954, RFC 3461. See
 * parse.h for the contract and leniencies. */
#include "smtp/parse.h"

#include <string.h>

#include "smtp/chars.h"

/* RFC 5322 atext, as used by RFC 5321 Atom. */
static bool is_atext(unsigned char c)
{
	return is_letdig(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126. */
static bool is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/* ---- paths ------------------------------------------------------------ */

enum path_err { P_OK, P_SYNTAX, P_TOO_LONG, P_UTF8 };

/* Finds the '>' closing the path that starts at s.p[0] == '<', skipping
 * quoted strings. Returns its index, or 0 if there is none. */
static size_t path_close(struct str s)
{
	bool inq = false;
	for (size_t i = 1; i < s.len; i++) {
		char c = s.p[i];
		if (inq) {
			if (c == '\\')
				i++;
			else if (c == '"')
				inq = false;
		} else if (c == '"') {
			inq = true;
		} else if (c == '>') {
			return i;
		}
	}
	return 0;
}

/* Parses the Local-part at c[*pos]; writes the unquoted form into
 * out->local (bounded) and moves *pos past it. */
static enum path_err parse_local(struct str c, size_t *pos, bool utf8,
				 struct smtp_path *out)
{
	const unsigned char *p = (const unsigned char *)c.p;
	size_t i = *pos, k = 0;
#define PUT(ch)                                       \
	do {                                          \
		if (k < SMTP_LOCAL_MAX)               \
			out->local[k] = (char)(ch);   \
		k++;                                  \
	} while (0)
	if (i < c.len && p[i] == '"') {
		out->flags |= SMTP_PATH_QUOTED;
		i++;
		for (;;) {
			if (i >= c.len)
				return P_SYNTAX;
			if (p[i] == '"')
				break;
			if (p[i] == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= c.len || p[i + 1] < 32 ||
				    p[i + 1] > 126)
					return P_SYNTAX;
				PUT(p[i + 1]);
				i += 2;
			} else if (is_qtext(p[i])) {
				PUT(p[i]);
				i++;
			} else if (p[i] >= 0x80 && utf8) {
				size_t n = smtp_utf8_seq(p + i, c.len - i);
				if (!n)
					return P_SYNTAX;
				for (size_t j = 0; j < n; j++)
					PUT(p[i + j]);
				i += n;
			} else {
				return P_SYNTAX;
			}
		}
		i++; /* closing quote */
	} else {
		/* Dot-string = Atom *("." Atom) */
		for (;;) {
			size_t start = i;
			while (i < c.len) {
				if (is_atext(p[i])) {
					PUT(p[i]);
					i++;
				} else if (p[i] >= 0x80 && utf8) {
					size_t n = smtp_utf8_seq(p + i,
								 c.len - i);
					if (!n)
						return P_SYNTAX;
					for (size_t j = 0; j < n; j++)
						PUT(p[i + j]);
					i += n;
				} else {
					break;
				}
			}
			if (i == start)
				return P_SYNTAX; /* empty, "..", ".a" or "a." */
			if (i < c.len && p[i] == '.') {
				PUT('.');
				i++;
				continue;
			}
			break;
		}
	}
#undef PUT
	if (i - *pos > SMTP_LOCAL_MAX)
		return P_TOO_LONG;
	out->local_len = k; /* k <= i - *pos, so everything was stored */
	*pos = i;
	return P_OK;
}

/* The text between '<' and '>' (RFC 5321 4.1.2 Path without brackets). */
static enum path_err parse_path_body(struct str c, bool rcpt, bool utf8,
				     struct smtp_path *out)
{
	memset(out, 0, sizeof *out);
	if (c.len == 0) {
		if (rcpt)
			return P_SYNTAX;
		out->flags = SMTP_PATH_NULL;
		return P_OK;
	}
	for (size_t i = 0; i < c.len && !utf8; i++)
		if ((unsigned char)c.p[i] >= 0x80)
			return P_UTF8; /* anywhere, the source route too */
	size_t i = 0;
	if (c.p[0] == '@') {
		/* A-d-l = At-domain *( "," At-domain ) ":" */
		out->flags |= SMTP_PATH_SOURCE_ROUTE;
		for (;;) {
			if (i >= c.len || c.p[i] != '@')
				return P_SYNTAX;
			size_t start = ++i;
			while (i < c.len && c.p[i] != ',' && c.p[i] != ':')
				i++;
			if (i >= c.len ||
			    !smtp_is_domain(str_make(c.p + start, i - start),
					    utf8))
				return P_SYNTAX;
			if (c.p[i++] == ':')
				break;
		}
	}
	size_t lstart = i;
	enum path_err pe = parse_local(c, &i, utf8, out);
	if (pe != P_OK)
		return pe;
	if (i == c.len && rcpt && lstart == 0 &&
	    !(out->flags & SMTP_PATH_QUOTED) &&
	    str_eq_nocase(str_make(c.p, i), "postmaster")) {
		out->flags |= SMTP_PATH_POSTMASTER;
		return P_OK;
	}
	if (i >= c.len || c.p[i] != '@')
		return P_SYNTAX;
	struct str dom = str_make(c.p + i + 1, c.len - i - 1);
	if (dom.len > 0 && dom.p[0] == '[') {
		if (!smtp_is_address_literal(dom))
			return P_SYNTAX;
		out->flags |= SMTP_PATH_ADDR_LITERAL;
	} else if (!smtp_is_domain(dom, utf8)) {
		return P_SYNTAX;
	}
	if (dom.len > SMTP_DOMAIN_MAX || c.len + 2 > SMTP_PATH_MAX)
		return P_TOO_LONG;
	for (size_t j = 0; j < dom.len; j++)
		out->domain[j] = lower(dom.p[j]);
	out->domain_len = dom.len;
	for (size_t j = 0; j < dom.len; j++)
		if ((unsigned char)dom.p[j] >= 0x80)
			out->flags |= SMTP_PATH_UTF8;
	for (size_t j = 0; j < out->local_len; j++) {
		if ((unsigned char)out->local[j] >= 0x80)
			out->flags |= SMTP_PATH_UTF8;
		if (out->local[j] == '%')
			out->flags |= SMTP_PATH_PERCENT;
		if (out->local[j] == '!')
			out->flags |= SMTP_PATH_BANG;
	}
	return P_OK;
}

/* Splits "FROM:<...> params" after the keyword: *body is the inside of
 * the brackets, *params what follows the '>' (starting with a space
 * or empty). False if the keyword, the colon or the brackets are
 * missing. */
static bool split_path(struct str args, const char *kw, struct str *body,
		       struct str *params, bool *bad_path)
{
	size_t kwlen = strlen(kw);
	*bad_path = false;
	if (args.len < kwlen || !str_eq_nocase(str_make(args.p, kwlen), kw))
		return false;
	size_t i = kwlen;
	while (i < args.len && args.p[i] == ' ') /* "FROM: <a@b>" */
		i++;
	struct str s = str_make(args.p + i, args.len - i);
	if (s.len == 0 || s.p[0] != '<')
		return false; /* bare address: refused, see parse.h */
	size_t close = path_close(s);
	if (close == 0) {
		*bad_path = true;
		return false;
	}
	*body = str_make(s.p + 1, close - 1);
	*params = str_make(s.p + close + 1, s.len - close - 1);
	if (params->len > 0 && params->p[0] != ' ') {
		*bad_path = true; /* "<a@b>x" */
		return false;
	}
	return true;
}

/* ---- parameters ------------------------------------------------------- */

/* Next "keyword[=value]" from *s; false at the end. */
static bool next_param(struct str *s, struct str *kw, struct str *val,
		       bool *has_val)
{
	size_t i = 0;
	while (i < s->len && s->p[i] == ' ')
		i++;
	if (i == s->len)
		return false;
	size_t start = i;
	while (i < s->len && s->p[i] != ' ')
		i++;
	struct str tok = str_make(s->p + start, i - start);
	*s = str_make(s->p + i, s->len - i);
	const char *eq = memchr(tok.p, '=', tok.len);
	*has_val = eq != NULL;
	*kw = str_make(tok.p, eq ? (size_t)(eq - tok.p) : tok.len);
	*val = eq ? str_make(eq + 1, tok.len - kw->len - 1)
		  : str_make(tok.p + tok.len, 0);
	return true;
}

/* esmtp-keyword and esmtp-value grammar (RFC 5321 4.1.2, RFC 6531). */
static bool param_syntax_ok(struct str kw, struct str val, bool has_val,
			    bool utf8)
{
	if (kw.len == 0 || !is_letdig((unsigned char)kw.p[0]))
		return false;
	for (size_t i = 1; i < kw.len; i++)
		if (!is_letdig((unsigned char)kw.p[i]) && kw.p[i] != '-')
			return false;
	if (!has_val)
		return true;
	if (val.len == 0)
		return false;
	const unsigned char *p = (const unsigned char *)val.p;
	for (size_t i = 0; i < val.len; i++) {
		if (p[i] >= 0x80) {
			size_t n = utf8 ? smtp_utf8_seq(p + i, val.len - i) : 0;
			if (!n)
				return false;
			i += n - 1;
		} else if (p[i] < 33 || p[i] > 126 || p[i] == '=') {
			return false;
		}
	}
	return true;
}

static bool is_dsn_param(struct str kw, bool rcpt)
{
	return rcpt ? (str_eq_nocase(kw, "NOTIFY") || str_eq_nocase(kw, "ORCPT"))
		    : (str_eq_nocase(kw, "RET") || str_eq_nocase(kw, "ENVID"));
}

/* SIZE=1*20DIGIT (RFC 1870 section 3); a value above UINT64_MAX
 * saturates, so the session answers 552 rather than 501. */
static bool parse_size(struct str v, uint64_t *out)
{
	if (v.len == 0 || v.len > SMTP_SIZE_DIGITS_MAX)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (!is_digit((unsigned char)v.p[i]))
			return false;
		unsigned d = (unsigned)(v.p[i] - '0');
		n = (n > (UINT64_MAX - d) / 10) ? UINT64_MAX : n * 10 + d;
	}
	*out = n;
	return true;
}

static enum smtp_err mail_param(struct str kw, struct str val, bool has_val,
				unsigned ext, struct smtp_mail_params *mp)
{
	if (str_eq_nocase(kw, "SIZE") && (ext & SMTP_EXT_SIZE)) {
		if (mp->has_size)
			return SMTP_ERR_PARAM_DUP;
		if (!has_val || !parse_size(val, &mp->size))
			return SMTP_ERR_SIZE_BAD;
		mp->has_size = true;
		return SMTP_OK;
	}
	if (str_eq_nocase(kw, "BODY") &&
	    (ext & (SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME))) {
		if (mp->body != SMTP_BODY_NONE)
			return SMTP_ERR_PARAM_DUP;
		if (!has_val)
			return SMTP_ERR_BODY_BAD;
		if (str_eq_nocase(val, "7BIT"))
			mp->body = SMTP_BODY_7BIT;
		else if (str_eq_nocase(val, "8BITMIME") &&
			 (ext & SMTP_EXT_8BITMIME))
			mp->body = SMTP_BODY_8BITMIME;
		else if (str_eq_nocase(val, "BINARYMIME") &&
			 (ext & SMTP_EXT_BINARYMIME))
			mp->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_ERR_BODY_BAD;
		return SMTP_OK;
	}
	if (str_eq_nocase(kw, "SMTPUTF8") && (ext & SMTP_EXT_SMTPUTF8)) {
		if (mp->smtputf8)
			return SMTP_ERR_PARAM_DUP;
		if (has_val)
			return SMTP_ERR_SMTPUTF8_VALUE;
		mp->smtputf8 = true;
		return SMTP_OK;
	}
	if (str_eq_nocase(kw, "AUTH") && (ext & SMTP_EXT_AUTH)) {
		if (mp->has_auth)
			return SMTP_ERR_PARAM_DUP;
		if (!has_val || val.len > SMTP_AUTH_PARAM_MAX)
			return SMTP_ERR_AUTH_BAD;
		if (str_eq(val, "<>")) {
			mp->auth_null = true;
		} else if (smtp_is_xtext(val)) {
			mp->auth = val;
		} else {
			return SMTP_ERR_AUTH_BAD;
		}
		mp->has_auth = true;
		return SMTP_OK;
	}
	if (ext & SMTP_EXT_DSN) {
		/* RFC 3461 4.5 and 5.1 (a): a repeated RET or ENVID, or a
		 * bad value, is a 501. */
		if (str_eq_nocase(kw, "RET")) {
			if (mp->ret != DSN_RET_NONE)
				return SMTP_ERR_PARAM_DUP;
			if (has_val && str_eq_nocase(val, "FULL"))
				mp->ret = DSN_RET_FULL;
			else if (has_val && str_eq_nocase(val, "HDRS"))
				mp->ret = DSN_RET_HDRS;
			else
				return SMTP_ERR_RET_BAD;
			return SMTP_OK;
		}
		if (str_eq_nocase(kw, "ENVID")) {
			if (mp->has_envid)
				return SMTP_ERR_PARAM_DUP;
			if (!has_val || val.len > SMTP_ENVID_MAX ||
			    !smtp_is_xtext_printable(val))
				return SMTP_ERR_ENVID_BAD;
			mp->has_envid = true;
			mp->envid = val;
			return SMTP_OK;
		}
	}
	return is_dsn_param(kw, false) ? SMTP_ERR_DSN_UNSUPPORTED
				       : SMTP_ERR_UNKNOWN_PARAM;
}

/* RFC 3461 4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element,
 * any case; NEVER only alone. 0 if v is not one. */
static unsigned parse_notify(struct str v)
{
	if (str_eq_nocase(v, "NEVER"))
		return DSN_NOTIFY_NEVER;
	unsigned bits = 0;
	size_t i = 0;
	for (;;) {
		size_t start = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		struct str el = str_make(v.p + start, i - start);
		if (str_eq_nocase(el, "SUCCESS"))
			bits |= DSN_NOTIFY_SUCCESS;
		else if (str_eq_nocase(el, "FAILURE"))
			bits |= DSN_NOTIFY_FAILURE;
		else if (str_eq_nocase(el, "DELAY"))
			bits |= DSN_NOTIFY_DELAY;
		else
			return 0; /* NEVER in a list, empty element, other */
		if (i == v.len)
			return bits;
		i++; /* the comma */
	}
}

/* RFC 3461 4.2: addr-type ";" xtext, addr-type an RFC 822 atom, the
 * xtext printable US-ASCII once decoded, the whole at most 500. */
static bool orcpt_ok(struct str v)
{
	const char *semi = memchr(v.p, ';', v.len);
	if (!semi || semi == v.p || v.len > SMTP_ORCPT_MAX)
		return false;
	for (const char *c = v.p; c < semi; c++)
		if (!is_atext((unsigned char)*c))
			return false;
	size_t tl = (size_t)(semi - v.p) + 1;
	return smtp_is_xtext_printable(str_make(v.p + tl, v.len - tl));
}

static enum smtp_err rcpt_param(struct str kw, struct str val, bool has_val,
				unsigned ext, struct smtp_rcpt_params *rp)
{
	if (!(ext & SMTP_EXT_DSN) || !is_dsn_param(kw, true))
		return is_dsn_param(kw, true) ? SMTP_ERR_DSN_UNSUPPORTED
					      : SMTP_ERR_UNKNOWN_PARAM;
	/* RFC 3461 4.5 and 5.1 (b): repeated or bad -> 501. */
	if (str_eq_nocase(kw, "NOTIFY")) {
		if (rp->notify)
			return SMTP_ERR_PARAM_DUP;
		rp->notify = has_val ? parse_notify(val) : 0;
		return rp->notify ? SMTP_OK : SMTP_ERR_NOTIFY_BAD;
	}
	if (rp->has_orcpt)
		return SMTP_ERR_PARAM_DUP;
	if (!has_val || !orcpt_ok(val))
		return SMTP_ERR_ORCPT_BAD;
	rp->has_orcpt = true;
	rp->orcpt = val;
	return SMTP_OK;
}

static enum smtp_err map_path_err(enum path_err pe, bool rcpt)
{
	switch (pe) {
	case P_OK:
		return SMTP_OK;
	case P_TOO_LONG:
		return rcpt ? SMTP_ERR_RCPT_TOO_LONG : SMTP_ERR_SENDER_TOO_LONG;
	case P_UTF8:
		return rcpt ? SMTP_ERR_RCPT_UTF8 : SMTP_ERR_SENDER_UTF8;
	case P_SYNTAX:
		break;
	}
	return rcpt ? SMTP_ERR_RCPT_ADDR_SYNTAX : SMTP_ERR_SENDER_SYNTAX;
}

enum smtp_err smtp_parse_mail(struct str args, unsigned ext,
			      struct smtp_path *path,
			      struct smtp_mail_params *params)
{
	struct str body, rest, kw, val;
	bool bad_path, has_val;
	*params = (struct smtp_mail_params){ 0 };
	memset(path, 0, sizeof *path);
	if (!split_path(args, "FROM:", &body, &rest, &bad_path))
		return bad_path ? SMTP_ERR_SENDER_SYNTAX : SMTP_ERR_MAIL_SYNTAX;
	bool utf8_vals = (ext & SMTP_EXT_SMTPUTF8) != 0;
	while (next_param(&rest, &kw, &val, &has_val)) {
		if (!param_syntax_ok(kw, val, has_val, utf8_vals))
			return SMTP_ERR_PARAM_SYNTAX;
		enum smtp_err e = mail_param(kw, val, has_val, ext, params);
		if (e != SMTP_OK)
			return e;
	}
	return map_path_err(parse_path_body(body, false, params->smtputf8,
					    path),
			    false);
}

enum smtp_err smtp_parse_rcpt(struct str args, unsigned ext, bool utf8,
			      struct smtp_path *path,
			      struct smtp_rcpt_params *params)
{
	struct str body, rest, kw, val;
	bool bad_path, has_val;
	memset(path, 0, sizeof *path);
	*params = (struct smtp_rcpt_params){ 0 };
	if (!split_path(args, "TO:", &body, &rest, &bad_path))
		return bad_path ? SMTP_ERR_RCPT_ADDR_SYNTAX
				: SMTP_ERR_RCPT_SYNTAX;
	while (next_param(&rest, &kw, &val, &has_val)) {
		if (!param_syntax_ok(kw, val, has_val,
				     (ext & SMTP_EXT_SMTPUTF8) != 0))
			return SMTP_ERR_PARAM_SYNTAX;
		enum smtp_err e = rcpt_param(kw, val, has_val, ext, params);
		if (e != SMTP_OK)
			return e;
	}
	return map_path_err(parse_path_body(body, true, utf8, path), true);
}
