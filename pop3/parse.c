#include "pop3/parse.h"

#include <string.h>

#include "core/limits.h"

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

enum pop3_parse_status pop3_parse_line(struct str line, struct pop3_line *out)
{
	*out = (struct pop3_line){ .verb = { line.p, 0 },
				   .rest = { line.p, 0 } };
	if (line.len == 0)
		return POP3_PARSE_EMPTY;
	if (memchr(line.p, '\0', line.len))
		return POP3_PARSE_NUL;
	const char *sp = memchr(line.p, ' ', line.len);
	size_t vlen = sp ? (size_t)(sp - line.p) : line.len;
	out->verb = str_make(line.p, vlen);
	if (sp) {
		out->has_rest = true;
		out->rest = str_make(sp + 1, line.len - vlen - 1);
	}
	if (vlen < POP3_VERB_MIN || vlen > POP3_VERB_MAX)
		return POP3_PARSE_BAD_VERB;
	for (size_t i = 0; i < vlen; i++)
		if (!is_alpha(line.p[i]))
			return POP3_PARSE_BAD_VERB;
	return POP3_PARSE_OK;
}

int pop3_split_args(const struct pop3_line *pl, struct str *argv, size_t max)
{
	if (!pl->has_rest)
		return 0;
	struct str s = pl->rest;
	size_t n = 0;
	for (;;) {
		const char *sp = memchr(s.p, ' ', s.len);
		size_t len = sp ? (size_t)(sp - s.p) : s.len;
		if (len == 0)
			return POP3_ARGS_EMPTY;
		if (n == max)
			return POP3_ARGS_TOO_MANY;
		argv[n++] = str_make(s.p, len);
		if (!sp)
			return (int)n;
		s = str_make(sp + 1, s.len - len - 1);
	}
}

static bool all_digits(struct str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

enum pop3_num_status pop3_parse_msgnum(struct str s, size_t count,
				       size_t *out)
{
	if (!all_digits(s))
		return POP3_NUM_SYNTAX;
	/* Leading zeros are still decimal; skip them so that "0001" works
	 * and a long run of zeros cannot overflow anything. */
	while (s.len > 1 && s.p[0] == '0')
		s = str_make(s.p + 1, s.len - 1);
	unsigned long long v;
	if (!str_to_u64(s, (unsigned long long)SIZE_MAX, &v))
		return POP3_NUM_RANGE; /* digits, but larger than any count */
	if (v == 0 || v > count)
		return POP3_NUM_RANGE;
	*out = (size_t)v;
	return POP3_NUM_OK;
}

bool pop3_parse_count(struct str s, uint64_t *out)
{
	if (!all_digits(s))
		return false;
	while (s.len > 1 && s.p[0] == '0')
		s = str_make(s.p + 1, s.len - 1);
	unsigned long long v;
	if (!str_to_u64(s, (unsigned long long)INT64_MAX, &v))
		v = (unsigned long long)INT64_MAX;
	*out = v;
	return true;
}

bool pop3_name_ok(struct str s)
{
	if (s.len == 0 || s.len > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

void pop3_top_init(struct pop3_top *t, uint64_t lines)
{
	*t = (struct pop3_top){ .lines_left = lines };
}

size_t pop3_top_feed(struct pop3_top *t, const char *p, size_t n)
{
	if (t->done)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			t->line_len++;
			t->last_cr = p[i] == '\r';
			continue;
		}
		bool empty = t->line_len == 0 || (t->line_len == 1 && t->last_cr);
		t->line_len = 0;
		t->last_cr = false;
		if (!t->in_body) {
			if (empty)
				t->in_body = true;
		} else {
			t->lines_left--;
		}
		if (t->in_body && t->lines_left == 0) {
			t->done = true;
			return i + 1;
		}
	}
	return n;
}
