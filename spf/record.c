/* The SPF record parser (RFC 7208 4.5, 4.6.1, 5, 6, 7.1, 12).
 *
 * A record is "v=spf1" and terms separated by spaces. A term whose
 * start is a name followed by "=" is a modifier (RFC 7208 4.6.1: name
 * = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )); anything else is a
 * directive: an optional qualifier, a mechanism's name, and its
 * arguments. CIDR lengths are taken off the end of a term first ("/N",
 * "//N"), as the ABNF's greedy reading gives: a "/" inside a domain-spec
 * is a macro-literal. One pass over the text; no allocation but the
 * term array, sized by the number of spaces. */
#include "spf/record.h"
#include "core/limits.h"
#include "core/xmalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "?";
}

static const char *const mech_names[] = {
	[SPF_M_ALL] = "all",       [SPF_M_INCLUDE] = "include",
	[SPF_M_A] = "a",           [SPF_M_MX] = "mx",
	[SPF_M_PTR] = "ptr",       [SPF_M_IP4] = "ip4",
	[SPF_M_IP6] = "ip6",       [SPF_M_EXISTS] = "exists",
};

const char *spf_mech_name(enum spf_mech m)
{
	return mech_names[m];
}

bool spf_record_is_spf(const char *txt, size_t len)
{
	return len >= 6 && !strncasecmp(txt, "v=spf1", 6) &&
	       (len == 6 || txt[6] == ' ');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_macro_letter(char c, bool exp)
{
	switch (c | 0x20) {
	case 's': case 'l': case 'o': case 'd': case 'i': case 'p':
	case 'h': case 'v':
		return true;
	case 'c': case 'r': case 't':
		return exp;
	default:
		return false;
	}
}

static bool is_delim(char c)
{
	return c && strchr(".-+,/_=", c) != NULL;
}

/* One macro-expand at s (which starts with '%'): its length, or 0. */
static size_t macro_expand_len(const char *s, size_t len, bool exp)
{
	if (len < 2)
		return 0;
	if (s[1] == '%' || s[1] == '_' || s[1] == '-')
		return 2;
	if (s[1] != '{' || len < 4 || !is_macro_letter(s[2], exp))
		return 0;
	size_t i = 3;
	bool nonzero = false;
	while (i < len && is_digit(s[i]))
		nonzero |= s[i++] != '0';
	/* RFC 7208 7.3: a DIGIT transformer "MUST be at least one" */
	if (i > 3 && !nonzero)
		return 0;
	if (i < len && (s[i] == 'r' || s[i] == 'R'))
		i++;
	while (i < len && is_delim(s[i]))
		i++;
	return i < len && s[i] == '}' ? i + 1 : 0;
}

bool spf_macro_string_ok(const char *s, size_t len, bool exp)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			size_t n = macro_expand_len(s + i, len - i, exp);
			if (!n)
				return false;
			i += n;
		} else if ((c >= 0x21 && c <= 0x7e) || (exp && c == ' ')) {
			i++;
		} else {
			return false;
		}
	}
	return true;
}

/* RFC 7208 7.1 domain-end: "." toplabel ["."] / macro-expand, where
 * toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ). */
static bool domain_end_ok(const char *s, size_t len)
{
	/* ends with a macro-expand: find the last one and see that it
	 * reaches the end */
	for (size_t i = 0; i < len;) {
		if (s[i] == '%') {
			size_t n = macro_expand_len(s + i, len - i, false);
			if (!n)
				return false;
			if (i + n == len)
				return true;
			i += n;
		} else {
			i++;
		}
	}
	size_t end = len;
	if (end && s[end - 1] == '.')
		end--;
	size_t start = end;
	while (start > 0 && s[start - 1] != '.')
		start--;
	if (start == 0 || start == end)
		return false; /* no "." before the top label, or it is empty */
	/* no macro-expand may end inside the label: a '%' there means
	 * the label is not all alphanum/'-' anyway */
	bool alpha = false;
	for (size_t i = start; i < end; i++) {
		char c = s[i];
		if (is_alpha(c))
			alpha = true;
		else if (!is_digit(c) && c != '-')
			return false;
	}
	if (s[start] == '-' || s[end - 1] == '-')
		return false;
	bool hyphen = memchr(s + start, '-', end - start) != NULL;
	return alpha || hyphen;
}

static bool domain_spec_ok(const char *s, size_t len)
{
	return len > 0 && spf_macro_string_ok(s, len, false) &&
	       domain_end_ok(s, len);
}

/* "/N" at the end of s[0..*len): takes it off and returns N, or -1
 * when there is none; -2 when N has a leading zero or is too long
 * (then it is no CIDR and the rest stays). */
static int take_cidr(const char *s, size_t *len, bool dual)
{
	size_t e = *len, i = e;
	while (i > 0 && is_digit(s[i - 1]))
		i--;
	if (i == e || i == 0 || s[i - 1] != '/')
		return -1;
	size_t slash = i - 1;
	if (dual && (slash == 0 || s[slash - 1] != '/'))
		return -1;
	if (!dual && slash > 0 && s[slash - 1] == '/')
		return -1;
	if ((e - i > 1 && s[i] == '0') || e - i > 3)
		return -1;
	int n = 0;
	for (size_t k = i; k < e; k++)
		n = n * 10 + (s[k] - '0');
	*len = dual ? slash - 1 : slash;
	return n;
}

static bool fail(char *err, size_t errlen, const char *what, const char *t,
		 size_t tl)
{
	snprintf(err, errlen, "%s: %.*s", what, (int)(tl > 200 ? 200 : tl), t);
	return false;
}

static bool parse_modifier(const char *t, size_t tl, size_t eq,
			   struct spf_record *r, char *err, size_t errlen)
{
	const char *v = t + eq + 1;
	size_t vl = tl - eq - 1;
	bool redirect = eq == 8 && !strncasecmp(t, "redirect", 8);
	bool exp = eq == 3 && !strncasecmp(t, "exp", 3);
	if (redirect || exp) {
		if ((redirect && r->redirect) || (exp && r->exp))
			return fail(err, errlen,
				    "modifier given twice (RFC 7208 6)", t, tl);
		if (!domain_spec_ok(v, vl))
			return fail(err, errlen, "invalid domain-spec", t, tl);
		if (redirect) {
			r->redirect = v;
			r->redirect_len = vl;
		} else {
			r->exp = v;
			r->exp_len = vl;
		}
		return true;
	}
	/* RFC 7208 6: unknown modifiers are ignored, but must still be
	 * valid macro-strings. */
	if (!spf_macro_string_ok(v, vl, false))
		return fail(err, errlen, "invalid macro-string", t, tl);
	return true;
}

static bool parse_directive(const char *t, size_t tl, struct spf_term *m,
			    char *err, size_t errlen)
{
	const char *s = t;
	size_t n = tl;
	m->qual = SPF_PASS;
	switch (s[0]) {
	case '+':
		m->qual = SPF_PASS;
		break;
	case '-':
		m->qual = SPF_FAIL;
		break;
	case '~':
		m->qual = SPF_SOFTFAIL;
		break;
	case '?':
		m->qual = SPF_NEUTRAL;
		break;
	default:
		s--, n++;
		break;
	}
	s++, n--;
	size_t nl = 0;
	while (nl < n && (is_alpha(s[nl]) || is_digit(s[nl])))
		nl++;
	bool found = false;
	for (size_t k = 0; k < sizeof mech_names / sizeof mech_names[0]; k++)
		if (strlen(mech_names[k]) == nl &&
		    !strncasecmp(s, mech_names[k], nl)) {
			m->mech = (enum spf_mech)k;
			found = true;
		}
	if (!found || nl == 0)
		return fail(err, errlen, "unknown mechanism", t, tl);
	const char *a = s + nl; /* the arguments: ":..." and CIDRs */
	size_t al = n - nl;
	m->cidr4 = 32;
	m->cidr6 = 128;
	int c6 = -1, c4 = -1;
	if (m->mech == SPF_M_A || m->mech == SPF_M_MX) {
		c6 = take_cidr(a, &al, true);
		c4 = take_cidr(a, &al, false);
	} else if (m->mech != SPF_M_ALL) {
		if (take_cidr(a, &al, true) >= 0)
			return fail(err, errlen, "dual CIDR not allowed", t, tl);
		c4 = take_cidr(a, &al, false);
	}
	if (m->mech == SPF_M_ALL) {
		if (al)
			return fail(err, errlen, "\"all\" takes no argument", t,
				    tl);
		return true;
	}
	if (al && a[0] != ':')
		return fail(err, errlen, "unknown mechanism", t, tl);
	const char *spec = al ? a + 1 : NULL;
	size_t sl = al ? al - 1 : 0;
	switch (m->mech) {
	case SPF_M_IP4:
	case SPF_M_IP6: {
		bool v4 = m->mech == SPF_M_IP4;
		if (c4 > (v4 ? 32 : 128))
			return fail(err, errlen, "invalid CIDR length", t, tl);
		char ip[64];
		if (!spec || sl == 0 || sl >= sizeof ip)
			return fail(err, errlen, "invalid address", t, tl);
		memcpy(ip, spec, sl);
		ip[sl] = '\0';
		if (inet_pton(v4 ? AF_INET : AF_INET6, ip, m->addr) != 1)
			return fail(err, errlen, "invalid address", t, tl);
		if (v4)
			m->cidr4 = c4 >= 0 ? c4 : 32;
		else
			m->cidr6 = c4 >= 0 ? c4 : 128;
		return true;
	}
	case SPF_M_A:
	case SPF_M_MX:
		if (c4 > 32 || c6 > 128)
			return fail(err, errlen, "invalid CIDR length", t, tl);
		if (c4 >= 0)
			m->cidr4 = c4;
		if (c6 >= 0)
			m->cidr6 = c6;
		break;
	default:
		if (c4 >= 0)
			return fail(err, errlen, "CIDR not allowed", t, tl);
		break;
	}
	if ((m->mech == SPF_M_INCLUDE || m->mech == SPF_M_EXISTS) && !spec)
		return fail(err, errlen, "domain-spec missing", t, tl);
	if (spec && !domain_spec_ok(spec, sl))
		return fail(err, errlen, "invalid domain-spec", t, tl);
	m->spec = spec;
	m->spec_len = sl;
	return true;
}

bool spf_record_parse(const char *txt, size_t len, struct spf_record *r,
		      char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	if (!spf_record_is_spf(txt, len))
		return fail(err, errlen, "not an SPF record", txt, len);
	if (len > SPF_RECORD_MAX)
		return fail(err, errlen, "record too long", txt, 40);
	size_t max = 1;
	for (size_t i = 0; i < len; i++)
		max += txt[i] == ' ';
	r->terms = xcalloc(max, sizeof *r->terms);
	size_t i = 6;
	while (i < len) {
		while (i < len && txt[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t e = i;
		while (e < len && txt[e] != ' ')
			e++;
		const char *t = txt + i;
		size_t tl = e - i;
		i = e;
		size_t nm = 0;
		if (is_alpha(t[0]))
			while (nm < tl && (is_alpha(t[nm]) || is_digit(t[nm]) ||
					   t[nm] == '-' || t[nm] == '_' ||
					   t[nm] == '.'))
				nm++;
		bool ok;
		if (nm > 0 && nm < tl && t[nm] == '=')
			ok = parse_modifier(t, tl, nm, r, err, errlen);
		else
			ok = parse_directive(t, tl, &r->terms[r->n_terms++], err,
					     errlen);
		if (!ok) {
			spf_record_free(r);
			return false;
		}
	}
	return true;
}

void spf_record_free(struct spf_record *r)
{
	free(r->terms);
	memset(r, 0, sizeof *r);
}
