#include "core/buf.h"
#include "core/xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct str str_from_cstr(const char *s)
{
	return (struct str){ s, strlen(s) };
}

int str_cmp_nocase(struct str a, struct str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	for (size_t i = 0; i < n; i++) {
		int d = (unsigned char)ascii_lower(a.p[i]) -
			(unsigned char)ascii_lower(b.p[i]);
		if (d)
			return d;
	}
	return a.len < b.len ? -1 : a.len > b.len;
}

bool str_eq_nocase(struct str a, const char *b)
{
	size_t n = strlen(b);
	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a.p[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

bool str_eq(struct str a, const char *b)
{
	size_t n = strlen(b);
	return a.len == n && memcmp(a.p, b, n) == 0;
}

bool str_next_token(struct str s, struct str *tok, struct str *rest)
{
	if (s.len == 0)
		return false;
	const char *sp = memchr(s.p, ' ', s.len);
	if (!sp) {
		*tok = s;
		*rest = (struct str){ s.p + s.len, 0 };
		return true;
	}
	*tok = (struct str){ s.p, (size_t)(sp - s.p) };
	*rest = (struct str){ sp + 1, s.len - (size_t)(sp - s.p) - 1 };
	return true;
}

bool str_to_u64(struct str s, unsigned long long max, unsigned long long *out)
{
	if (s.len == 0 || s.len > 20)
		return false;
	unsigned long long v = 0;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c < '0' || c > '9')
			return false;
		unsigned d = (unsigned)(c - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_appends(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_appendc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		buf_append(b, tmp, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *buf_cstr(struct buf *b)
{
	if (!b->data)
		buf_reserve(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}
