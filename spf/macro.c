/* SPF macro expansion (RFC 7208 7.1-7.3). Linear in the input and
 * bounded in the output (SPF_EXPAND_MAX): a macro's value is split on
 * its delimiters into at most SPF_MACRO_PARTS_MAX parts (a value has
 * at most 512 octets, so no more can exist). */
#include "spf/macro.h"
#include "core/limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define SPF_MACRO_PARTS_MAX 512

static bool fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return false;
}

static void ip_text(const struct sockaddr_storage *ip, bool dotted_nibbles,
		    char *out, size_t n)
{
	if (!ip) {
		snprintf(out, n, "unknown");
		return;
	}
	if (ip->ss_family == AF_INET6) {
		const unsigned char *b =
			((const struct sockaddr_in6 *)ip)->sin6_addr.s6_addr;
		if (dotted_nibbles) {
			size_t o = 0;
			for (int i = 0; i < 16; i++)
				o += (size_t)snprintf(out + o, n - o, "%s%x.%x",
						      i ? "." : "", b[i] >> 4,
						      b[i] & 15);
		} else {
			inet_ntop(AF_INET6, b, out, (socklen_t)n);
		}
		return;
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ip)->sin_addr, out,
		  (socklen_t)n);
}

static void append_escaped(struct buf *out, const char *s, size_t len,
			   bool escape)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~';
		if (!escape || keep)
			buf_appendc(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

bool spf_macro_uses_p(const char *s, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++)
		if (s[i] == '%') {
			if (s[i + 1] == '{' && (s[i + 2] | 0x20) == 'p')
				return true;
			i++; /* "%%" is no macro */
		}
	return false;
}

/* One "%{...}" at s[0..n) (n counts through the '}'). */
static bool expand_one(const char *s, size_t n, const struct spf_macro_ctx *c,
		       bool exp, struct buf *out, char *err, size_t errlen)
{
	char letter = s[2];
	char lower = (char)(letter | 0x20);
	bool upper = letter >= 'A' && letter <= 'Z';
	char tmp[128];
	const char *v = NULL;
	const char *at = c->sender ? strrchr(c->sender, '@') : NULL;
	switch (lower) {
	case 's':
		v = c->sender;
		break;
	case 'l':
		if (at) {
			snprintf(tmp, sizeof tmp, "%.*s", (int)(at - c->sender),
				 c->sender);
			/* a local-part longer than tmp cannot exist (RFC
			 * 5321 4.5.3.1.1: 64 octets) unless SMTPUTF8 */
			v = tmp;
		} else {
			v = "postmaster";
		}
		break;
	case 'o':
		v = at ? at + 1 : c->sender;
		break;
	case 'd':
		v = c->domain;
		break;
	case 'i':
		ip_text(c->ip, true, tmp, sizeof tmp);
		v = tmp;
		break;
	case 'p':
		v = c->validated ? c->validated : "unknown";
		break;
	case 'v':
		v = c->ip && c->ip->ss_family == AF_INET6 ? "ip6" : "in-addr";
		break;
	case 'h':
		v = c->helo;
		break;
	case 'c':
		if (!exp)
			return fail(err, errlen, "%{c} outside exp");
		ip_text(c->ip, false, tmp, sizeof tmp);
		v = tmp;
		break;
	case 'r':
		if (!exp)
			return fail(err, errlen, "%{r} outside exp");
		v = c->receiver ? c->receiver : "unknown";
		break;
	case 't':
		if (!exp)
			return fail(err, errlen, "%{t} outside exp");
		snprintf(tmp, sizeof tmp, "%lld", c->now);
		v = tmp;
		break;
	default:
		return fail(err, errlen, "unknown macro letter");
	}
	if (!v)
		v = "";
	size_t i = 3, keep = 0;
	bool digits = false, reverse = false;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		digits = true;
		if (keep < 1000)
			keep = keep * 10 + (size_t)(s[i] - '0');
		i++;
	}
	if (digits && keep == 0)
		return fail(err, errlen, "macro transformer 0");
	if (i < n && (s[i] | 0x20) == 'r') {
		reverse = true;
		i++;
	}
	const char *delims = s + i;
	size_t nd = n - 1 - i;
	/* split on the delimiters (default "."), RFC 7208 7.3 */
	const char *part[SPF_MACRO_PARTS_MAX];
	size_t plen[SPF_MACRO_PARTS_MAX];
	size_t np = 0;
	size_t vl = strlen(v), start = 0;
	for (size_t k = 0; k <= vl; k++) {
		bool is_delim = k < vl && (nd ? memchr(delims, v[k], nd) != NULL
					      : v[k] == '.');
		if (k == vl || is_delim) {
			if (np == SPF_MACRO_PARTS_MAX)
				return fail(err, errlen, "macro value too long");
			part[np] = v + start;
			plen[np] = k - start;
			np++;
			start = k + 1;
		}
	}
	size_t first = 0;
	if (digits && keep < np)
		first = np - keep; /* rightmost parts, after reversal */
	for (size_t k = first; k < np; k++) {
		size_t idx = reverse ? np - 1 - k : k;
		if (k > first)
			buf_appendc(out, '.');
		append_escaped(out, part[idx], plen[idx], upper);
	}
	return true;
}

bool spf_macro_expand(const char *s, size_t len,
		      const struct spf_macro_ctx *c, bool exp, bool domain,
		      struct buf *out, char *err, size_t errlen)
{
	size_t base = out->len;
	for (size_t i = 0; i < len;) {
		if (out->len - base > SPF_EXPAND_MAX)
			return fail(err, errlen, "expansion too long");
		unsigned char ch = (unsigned char)s[i];
		if (ch != '%') {
			if (!((ch >= 0x21 && ch <= 0x7e) || (exp && ch == ' ')))
				return fail(err, errlen,
					    "invalid character in macro-string");
			buf_appendc(out, (char)ch);
			i++;
			continue;
		}
		if (i + 1 >= len)
			return fail(err, errlen, "lone % in macro-string");
		char nx = s[i + 1];
		if (nx == '%' || nx == '_' || nx == '-') {
			buf_appends(out, nx == '%' ? "%" : nx == '_' ? " " : "%20");
			i += 2;
			continue;
		}
		if (nx != '{')
			return fail(err, errlen, "invalid macro");
		const char *close = memchr(s + i, '}', len - i);
		if (!close || close - (s + i) < 3)
			return fail(err, errlen, "invalid macro");
		size_t n = (size_t)(close - (s + i)) + 1;
		/* transformers and delimiters only (RFC 7208 7.1) */
		size_t k = 3;
		while (k < n - 1 && s[i + k] >= '0' && s[i + k] <= '9')
			k++;
		if (k < n - 1 && (s[i + k] | 0x20) == 'r')
			k++;
		for (; k < n - 1; k++)
			if (!memchr(".-+,/_=", s[i + k], 7))
				return fail(err, errlen, "invalid macro");
		if (!expand_one(s + i, n, c, exp, out, err, errlen))
			return false;
		i += n;
	}
	if (out->len - base > SPF_EXPAND_MAX)
		return fail(err, errlen, "expansion too long");
	if (domain) {
		if (out->len > base && out->data[out->len - 1] == '.')
			out->len--;
		/* RFC 7208 7.3: drop leftmost labels until <= 253 */
		size_t from = base;
		while (out->len - from > 253) {
			char *dot = memchr(out->data + from, '.', out->len - from);
			if (!dot) {
				from = out->len;
				break;
			}
			from = (size_t)(dot - out->data) + 1;
		}
		if (from > base) {
			memmove(out->data + base, out->data + from, out->len - from);
			out->len -= from - base;
		}
	}
	buf_cstr(out);
	return true;
}
