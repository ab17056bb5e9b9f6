/* The aliases file: parse once into a sorted table (auth/aliases.h). */
#include "auth/aliases.h"
#include "auth/users.h"
#include "core/xmalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIASES_ERRORS_MAX 20

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	return str_cmp_nocase(str_make(a, alen), str_make(b, blen));
}

static int entry_cmp(const void *x, const void *y)
{
	const struct alias_entry *a = x, *b = y;
	int d = name_cmp(a->source, strlen(a->source), b->source,
			 strlen(b->source));
	if (d)
		return d;
	return a->line < b->line ? -1 : a->line > b->line;
}

void aliases_init(struct aliases *a)
{
	a->v = NULL;
	a->n = 0;
}

void aliases_free(struct aliases *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].source);
		for (size_t t = 0; t < a->v[i].n_targets; t++)
			free(a->v[i].targets[t]);
		free(a->v[i].targets);
	}
	free(a->v);
	aliases_init(a);
}

void aliases_swap(struct aliases *a, struct aliases *b)
{
	struct aliases t = *a;
	*a = *b;
	*b = t;
}

/* A user name or address: the users file's characters, and at most one
 * '@' with something on both sides of it. */
static bool name_ok(struct str s)
{
	if (!users_name_valid(s))
		return false;
	const char *at = memchr(s.p, '@', s.len);
	if (!at)
		return true;
	size_t i = (size_t)(at - s.p);
	return i > 0 && i + 1 < s.len && !memchr(at + 1, '@', s.len - i - 1);
}

static void errf(struct buf *err, unsigned *nerr, const char *path,
		 unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void errf(struct buf *err, unsigned *nerr, const char *path,
		 unsigned line, const char *fmt, ...)
{
	if ((*nerr)++ >= ALIASES_ERRORS_MAX)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	buf_printf(err, "%s:%u: %s\n", path, line, msg);
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

static struct str trim(struct str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.len--;
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
			 s.p[s.len - 1] == '\r'))
		s.len--;
	return s;
}

/* One non-blank, non-comment line into e; false (with a message) if bad. */
static bool parse_line(struct str line, unsigned lineno, const char *path,
		       struct alias_entry *e, struct buf *err, unsigned *nerr)
{
	const char *colon = memchr(line.p, ':', line.len);
	if (!colon) {
		errf(err, nerr, path, lineno, "expected \"source: target, ...\"");
		return false;
	}
	struct str src = trim(str_make(line.p, (size_t)(colon - line.p)));
	if (!name_ok(src)) {
		errf(err, nerr, path, lineno, "bad alias name \"%.*s\"",
		     (int)(src.len > 200 ? 200 : src.len), src.p);
		return false;
	}
	memset(e, 0, sizeof *e);
	e->line = lineno;
	const char *p = colon + 1, *end = line.p + line.len;
	size_t cap = 0;
	bool ok = true;
	while (p < end) {
		while (p < end && (is_sep(*p) || *p == '\r'))
			p++;
		const char *s = p;
		while (p < end && !is_sep(*p) && *p != '\r')
			p++;
		if (p == s)
			break;
		struct str t = str_make(s, (size_t)(p - s));
		if (!name_ok(t)) {
			errf(err, nerr, path, lineno, "bad target \"%.*s\"",
			     (int)(t.len > 200 ? 200 : t.len), t.p);
			ok = false;
			break;
		}
		if (e->n_targets == ALIASES_TARGETS_MAX) {
			errf(err, nerr, path, lineno, "more than %d targets",
			     ALIASES_TARGETS_MAX);
			ok = false;
			break;
		}
		if (e->n_targets == cap) {
			cap = cap ? cap * 2 : 4;
			e->targets = xrealloc(e->targets, cap * sizeof *e->targets);
		}
		e->targets[e->n_targets++] = xstrndup(t.p, t.len);
	}
	if (ok && e->n_targets == 0) {
		errf(err, nerr, path, lineno, "alias \"%.*s\" has no target",
		     (int)src.len, src.p);
		ok = false;
	}
	if (!ok) {
		for (size_t i = 0; i < e->n_targets; i++)
			free(e->targets[i]);
		free(e->targets);
		return false;
	}
	e->source = xstrndup(src.p, src.len);
	return true;
}

int aliases_parse(struct aliases *a, const char *data, size_t len,
		  const char *path, struct buf *err)
{
	aliases_free(a);
	struct aliases out;
	aliases_init(&out);
	size_t cap = 0;
	unsigned nerr = 0, lineno = 0;
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct str line = str_make(p, (size_t)(le - p));
		p = nl ? nl + 1 : end;
		lineno++;
		if (line.len > ALIASES_LINE_MAX) {
			errf(err, &nerr, path, lineno, "line longer than %d bytes",
			     ALIASES_LINE_MAX);
			continue;
		}
		if (memchr(line.p, '\0', line.len)) {
			errf(err, &nerr, path, lineno, "NUL byte");
			continue;
		}
		line = trim(line);
		if (line.len == 0 || line.p[0] == '#')
			continue;
		struct alias_entry e;
		if (!parse_line(line, lineno, path, &e, err, &nerr))
			continue;
		if (out.n == cap) {
			cap = cap ? cap * 2 : 16;
			out.v = xrealloc(out.v, cap * sizeof *out.v);
		}
		out.v[out.n++] = e;
	}
	if (out.n > 1)
		qsort(out.v, out.n, sizeof *out.v, entry_cmp);
	for (size_t i = 1; i < out.n; i++)
		if (!name_cmp(out.v[i - 1].source, strlen(out.v[i - 1].source),
			      out.v[i].source, strlen(out.v[i].source)))
			errf(err, &nerr, path, out.v[i].line,
			     "alias \"%s\" already defined on line %u",
			     out.v[i].source, out.v[i - 1].line);
	if (nerr > ALIASES_ERRORS_MAX)
		buf_printf(err, "%s: %u more errors\n", path,
			   nerr - ALIASES_ERRORS_MAX);
	if (nerr) {
		aliases_free(&out);
		return -1;
	}
	*a = out;
	return 0;
}

int aliases_load(const char *path, struct aliases *out, struct buf *err)
{
	aliases_free(out);
	struct buf text = BUF_INIT;
	if (users_read_file(path, ALIASES_FILE_MAX, &text) < 0) {
		int e = errno;
		buf_free(&text);
		if (e == ENOENT)
			return 0;
		buf_printf(err, "%s: %s\n", path,
			   e == EFBIG ? "file too large" : strerror(e));
		return -1;
	}
	int rc = aliases_parse(out, text.data ? text.data : "", text.len, path,
			       err);
	buf_free(&text);
	return rc;
}

const struct alias_entry *aliases_lookup(const struct aliases *a,
					 struct str source)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct alias_entry *e = &a->v[mid];
		int d = name_cmp(source.p, source.len, e->source,
				 strlen(e->source));
		if (d == 0)
			return e;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
