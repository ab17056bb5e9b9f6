/* The users file parser and lookup (see users.h). */
#include "auth/users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "core/limits.h"
#include "core/xmalloc.h"

#define USERS_MAX_ERRORS 20

bool users_name_valid(struct str name)
{
	if (name.len == 0 || name.len > AUTH_NAME_MAX || name.p[0] == '.')
		return false;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '+' || c == '-' || c == '@'))
			return false;
	}
	return true;
}

void users_init(struct users *u)
{
	u->v = NULL;
	u->n = 0;
}

void users_free(struct users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		if (u->v[i].password) {
			explicit_bzero(u->v[i].password,
				       strlen(u->v[i].password));
			free(u->v[i].password);
		}
	}
	free(u->v);
	users_init(u);
}

void users_swap(struct users *a, struct users *b)
{
	struct users t = *a;
	*a = *b;
	*b = t;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	return str_cmp_nocase(str_make(a, alen), str_make(b, blen));
}

static int entry_cmp(const void *x, const void *y)
{
	const struct user_entry *a = x, *b = y;
	int d = name_cmp(a->name, strlen(a->name), b->name, strlen(b->name));
	if (d)
		return d;
	return a->line < b->line ? -1 : a->line > b->line;
}

const struct user_entry *users_lookup(const struct users *u, struct str name)
{
	size_t lo = 0, hi = u->n;
	if (name.len == 0 || name.len > AUTH_NAME_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct user_entry *e = &u->v[mid];
		int d = name_cmp(name.p, name.len, e->name, strlen(e->name));
		if (d == 0)
			return e;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum pop3_dele_mode users_pop3_dele(const struct user_entry *e,
				    enum pop3_dele_mode dflt)
{
	return e && e->has_pop3_dele ? e->pop3_dele : dflt;
}

struct parser {
	const char *path;
	struct buf *err;
	int nerr;
};

static void perr(struct parser *ps, unsigned line, const char *msg,
		 struct str detail)
{
	if (++ps->nerr > USERS_MAX_ERRORS)
		return;
	buf_printf(ps->err, "%s:%u: %s", ps->path, line, msg);
	if (detail.len) {
		buf_appends(ps->err, ": ");
		for (size_t i = 0; i < detail.len && i < 64; i++) {
			unsigned char c = (unsigned char)detail.p[i];
			buf_appendc(ps->err,
				    c >= 0x20 && c < 0x7f ? (char)c : '?');
		}
	}
	buf_appendc(ps->err, '\n');
}

static bool is_blank_or_comment(struct str line)
{
	size_t i = 0;
	while (i < line.len && (line.p[i] == ' ' || line.p[i] == '\t'))
		i++;
	return i == line.len || line.p[i] == '#';
}

size_t users_split_fields(struct str line, struct str f[8])
{
	size_t nf = 0, start = 0;
	for (size_t i = 0; i <= line.len; i++) {
		if (nf == 7) {
			f[nf++] = (struct str){ line.p + start,
						line.len - start };
			break;
		}
		if (i == line.len || line.p[i] == ':') {
			f[nf++] = (struct str){ line.p + start, i - start };
			start = i + 1;
		}
	}
	return nf;
}

static bool parse_extra(struct parser *ps, unsigned lineno, struct str extra,
			struct user_entry *e)
{
	struct str tok, rest = extra;
	bool ok = true;
	while (rest.len) {
		if (!str_next_token(rest, &tok, &rest))
			break;
		if (tok.len == 0)
			continue;
		const char *eq = memchr(tok.p, '=', tok.len);
		struct str key = { tok.p, eq ? (size_t)(eq - tok.p) : tok.len };
		if (!str_eq(key, "pop3_dele"))
			continue;
		struct str val = { eq ? eq + 1 : tok.p + tok.len,
				   eq ? tok.len - key.len - 1 : 0 };
		if (str_eq(val, "expunge")) {
			e->pop3_dele = POP3_DELE_EXPUNGE;
		} else if (str_eq(val, "hide")) {
			e->pop3_dele = POP3_DELE_HIDE;
		} else {
			perr(ps, lineno,
			     "pop3_dele must be expunge or hide", val);
			ok = false;
			continue;
		}
		e->has_pop3_dele = true;
	}
	return ok;
}

static bool parse_line(struct parser *ps, unsigned lineno, struct str line,
		       struct user_entry *e)
{
	struct str f[8];
	size_t nf = users_split_fields(line, f);
	if (!users_name_valid(f[0])) {
		perr(ps, lineno, "bad user name", f[0]);
		return false;
	}
	memset(e, 0, sizeof *e);
	e->line = lineno;
	struct str pw = nf > 1 ? f[1] : (struct str){ line.p, 0 };
	enum passwd_kind kind;
	struct str data;
	struct buf why = BUF_INIT;
	/* A hash we cannot check (an unknown {SCHEME}) locks out only its
	 * own account -- the login fails with reason=bad_hash and
	 * check-config warns -- so that one odd line in a migrated Dovecot
	 * file does not lock out everybody. */
	(void)passwd_parse(pw, &kind, &data, &why);
	buf_free(&why);
	if (nf == 8 && !parse_extra(ps, lineno, f[7], e))
		return false;
	e->name = xstrndup(f[0].p, f[0].len);
	e->password = xstrndup(pw.p, pw.len);
	return true;
}

int users_parse(struct users *u, const char *data, size_t len,
		const char *path, struct buf *err)
{
	struct parser ps = { path, err, 0 };
	struct users nu;
	size_t cap = 0;
	users_init(&nu);
	users_free(u);
	unsigned lineno = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		struct str line = { data + pos, end - pos };
		pos = nl ? end + 1 : len;
		lineno++;
		if (line.len > USERS_LINE_MAX) {
			perr(&ps, lineno, "line too long", (struct str){ 0 });
			continue;
		}
		if (line.len && line.p[line.len - 1] == '\r')
			line.len--;
		if (memchr(line.p, '\0', line.len)) {
			perr(&ps, lineno, "NUL byte in line", (struct str){ 0 });
			continue;
		}
		if (is_blank_or_comment(line))
			continue;
		struct user_entry e;
		if (!parse_line(&ps, lineno, line, &e))
			continue;
		if (nu.n == cap) {
			cap = cap ? cap * 2 : 16;
			nu.v = xrealloc(nu.v, cap * sizeof *nu.v);
		}
		nu.v[nu.n++] = e;
	}
	if (nu.n > 1)
		if (nu.n > 1)
			qsort(nu.v, nu.n, sizeof *nu.v, entry_cmp);
	for (size_t i = 1; i < nu.n; i++) {
		if (name_cmp(nu.v[i - 1].name, strlen(nu.v[i - 1].name),
			     nu.v[i].name, strlen(nu.v[i].name)) == 0) {
			char msg[64];
			snprintf(msg, sizeof msg, "duplicate user (line %u)",
				 nu.v[i - 1].line);
			perr(&ps, nu.v[i].line, msg,
			     str_from_cstr(nu.v[i].name));
		}
	}
	if (ps.nerr) {
		if (ps.nerr > USERS_MAX_ERRORS)
			buf_printf(err, "%s: %d more errors\n", path,
				   ps.nerr - USERS_MAX_ERRORS);
		users_free(&nu);
		return -1;
	}
	*u = nu;
	return 0;
}

int users_read_fd(int fd, size_t max, struct buf *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		if (out->len > max) {
			errno = EFBIG;
			return -1;
		}
		buf_reserve(out, 65536);
		ssize_t n = read(fd, out->data + out->len,
				 out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	buf_cstr(out);
	return 0;
}

int users_read_file(const char *path, size_t max, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = users_read_fd(fd, max, out);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int users_load(struct users *u, const char *path, struct buf *err)
{
	struct buf text = BUF_INIT;
	users_free(u);
	if (users_read_file(path, USERS_FILE_MAX, &text) < 0) {
		buf_printf(err, "%s: %s\n", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	int r = users_parse(u, text.data ? text.data : "", text.len, path,
			    err);
	if (text.data)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	return r;
}
