/* LIST patterns. The matcher runs the pattern as an NFA (one state per
 * pattern position, all live states advanced together per name octet)
 * rather than by backtracking, so "*%*%*%...x" costs pattern x name
 * steps, not an exponential number. */
#include "imap/list_match.h"

#include <string.h>

static bool is_wild(char c)
{
	return c == '*' || c == '%';
}

/* Epsilon moves: a wildcard also matches the empty run. */
static void closure(unsigned char *st, size_t m, const char *p)
{
	for (size_t i = 0; i < m; i++)
		if (st[i] && is_wild(p[i]))
			st[i + 1] = 1;
}

bool imap_list_match(struct str pattern, struct str name)
{
	size_t m = pattern.len;
	if (m > IMAP_LIST_PATTERN_MAX)
		return false;
	const char *p = pattern.p;
	/* INBOX is case-insensitive, other names are not (RFC 9051 5.1). */
	size_t nocase = 0;
	if (name.len >= 5 && memcmp(name.p, "INBOX", 5) == 0 &&
	    (name.len == 5 || name.p[5] == '/'))
		nocase = 5;
	unsigned char a[IMAP_LIST_PATTERN_MAX + 1], b[IMAP_LIST_PATTERN_MAX + 1];
	unsigned char *cur = a, *nxt = b;
	memset(cur, 0, m + 1);
	cur[0] = 1;
	closure(cur, m, p);
	for (size_t k = 0; k < name.len; k++) {
		char c = name.p[k];
		bool live = false;
		memset(nxt, 0, m + 1);
		for (size_t i = 0; i < m; i++) {
			if (!cur[i])
				continue;
			char pc = p[i];
			if (pc == '*' || (pc == '%' && c != '/')) {
				nxt[i] = 1;
				live = true;
			} else if (pc == c ||
				   (k < nocase && ascii_lower(pc) == ascii_lower(c))) {
				nxt[i + 1] = 1;
				live = true;
			}
		}
		if (!live)
			return false;
		closure(nxt, m, p);
		unsigned char *t = cur;
		cur = nxt;
		nxt = t;
	}
	return cur[m] != 0;
}

void imap_list_pattern_join(struct str ref, struct str pattern,
			    struct buf *out)
{
	buf_clear(out);
	buf_append(out, ref.p, ref.len);
	if (ref.len && ref.p[ref.len - 1] == '/' && pattern.len &&
	    pattern.p[0] == '/') {
		pattern.p++;
		pattern.len--;
	}
	buf_append(out, pattern.p, pattern.len);
}

void imap_list_root(struct str ref, struct buf *out)
{
	buf_clear(out);
	const char *slash = memchr(ref.p, '/', ref.len);
	if (slash)
		buf_append(out, ref.p, (size_t)(slash - ref.p) + 1);
}
