/* libFuzzer target: LIST patterns and APPEND date-times. The NFA matcher
 * is checked against a plain backtracking matcher on short inputs (where
 * backtracking is cheap), and must stay fast on long ones. Input:
 * pattern NUL name (NUL-less input is also fed to the date parser). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/datetime.h"
#include "imap/list_match.h"

static bool eq(char p, char c, size_t k, size_t nocase)
{
	return p == c || (k < nocase && ascii_lower(p) == ascii_lower(c));
}

static bool slow(const char *p, size_t pn, const char *n, size_t nn, size_t k,
		 size_t nocase)
{
	if (pn == 0)
		return nn == 0;
	if (*p == '*' || *p == '%') {
		for (size_t i = 0; i <= nn; i++) {
			if (slow(p + 1, pn - 1, n + i, nn - i, k + i, nocase))
				return true;
			if (i < nn && *p == '%' && n[i] == '/')
				return false;
		}
		return false;
	}
	return nn > 0 && eq(*p, *n, k, nocase) &&
	       slow(p + 1, pn - 1, n + 1, nn - 1, k + 1, nocase);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	const char *nul = memchr(d, '\0', size);
	if (!nul) {
		int64_t e;
		(void)imap_datetime_parse(str_make(d, size), &e);
		return 0;
	}
	struct str pat = str_make(d, (size_t)(nul - d));
	struct str name = str_make(nul + 1, size - pat.len - 1);
	bool got = imap_list_match(pat, name);
	size_t wild = 0;
	for (size_t i = 0; i < pat.len; i++)
		wild += pat.p[i] == '*' || pat.p[i] == '%';
	if (wild <= 6 && name.len <= 64 && pat.len <= IMAP_LIST_PATTERN_MAX) {
		size_t nocase = 0;
		if (name.len >= 5 && memcmp(name.p, "INBOX", 5) == 0 &&
		    (name.len == 5 || name.p[5] == '/'))
			nocase = 5;
		if (got != slow(pat.p, pat.len, name.p, name.len, 0, nocase))
			abort();
	}
	struct buf b = BUF_INIT;
	imap_list_pattern_join(name, pat, &b);
	if (b.len > name.len + pat.len)
		abort();
	imap_list_root(pat, &b);
	if (b.len > pat.len)
		abort();
	buf_free(&b);
	return 0;
}
