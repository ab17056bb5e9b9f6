#include "mime/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define NIL_OFF SIZE_MAX

/* While parsing, slices are offsets into the string buffer (which may
 * move); they become pointers at the end. */
struct span {
	size_t off, len;
};

struct raw_addr {
	enum mime_addr_kind kind;
	struct span name, adl, mailbox, host;
};

struct parser {
	const char *p;
	size_t len, i;
	struct buf *sb;
	struct raw_addr *v;
	size_t n, cap;
	struct buf comment; /* the last comment's text */
};

static const struct span nil = { NIL_OFF, 0 };

static struct span save(struct parser *ps, const char *p, size_t n)
{
	struct span s = { ps->sb->len, n };
	buf_append(ps->sb, p, n);
	buf_appendc(ps->sb, '\0');
	return s;
}

static void emit(struct parser *ps, struct raw_addr a)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 8;
		ps->v = xrealloc(ps->v, ps->cap * sizeof *ps->v);
	}
	ps->v[ps->n++] = a;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != '\0';
}

/* Skips whitespace and comments; the text of the last comment is kept
 * (it may become a display name: "a@b (Name)"). */
static void skip_cfws(struct parser *ps)
{
	while (ps->i < ps->len) {
		char c = ps->p[ps->i];
		if (is_ws(c)) {
			ps->i++;
			continue;
		}
		if (c != '(')
			return;
		int depth = 0;
		buf_clear(&ps->comment);
		while (ps->i < ps->len) {
			c = ps->p[ps->i++];
			if (c == '\\' && ps->i < ps->len) {
				buf_appendc(&ps->comment, ps->p[ps->i++]);
				continue;
			}
			if (c == '(' && depth++ == 0)
				continue;
			if (c == ')' && --depth == 0)
				break;
			buf_appendc(&ps->comment, c);
		}
	}
}

/* A quoted string at ps->i (on the '"'): appends its content to out
 * unquoted (and to raw with the quotes, if raw). */
static void quoted(struct parser *ps, struct buf *out, struct buf *raw)
{
	size_t start = ps->i++;
	while (ps->i < ps->len && ps->p[ps->i] != '"') {
		char c = ps->p[ps->i++];
		if (c == '\\' && ps->i < ps->len)
			c = ps->p[ps->i++];
		if (c != '\r' && c != '\n')
			buf_appendc(out, c);
	}
	if (ps->i < ps->len)
		ps->i++;
	if (raw)
		buf_append(raw, ps->p + start, ps->i - start);
}

static void atom(struct parser *ps, struct buf *out)
{
	size_t s = ps->i;
	while (ps->i < ps->len && !is_ws(ps->p[ps->i]) &&
	       !is_special(ps->p[ps->i]))
		ps->i++;
	buf_append(out, ps->p + s, ps->i - s);
}

/* A domain (or domain literal) up to a delimiter. */
static void domain(struct parser *ps, struct buf *out)
{
	for (;;) {
		skip_cfws(ps);
		if (ps->i >= ps->len)
			return;
		char c = ps->p[ps->i];
		if (c == '[') {
			size_t s = ps->i;
			while (ps->i < ps->len && ps->p[ps->i] != ']')
				ps->i++;
			if (ps->i < ps->len)
				ps->i++;
			buf_append(out, ps->p + s, ps->i - s);
		} else if (c == '.') {
			buf_appendc(out, '.');
			ps->i++;
		} else if (!is_special(c)) {
			atom(ps, out);
		} else {
			return;
		}
	}
}

static struct span span_of(struct parser *ps, const struct buf *b,
			   const char *missing)
{
	if (b->len == 0)
		return missing ? save(ps, missing, strlen(missing)) : nil;
	return save(ps, b->data, b->len);
}

/* Inside "<...>": [route ":"] local "@" domain. */
static void angle(struct parser *ps, struct raw_addr *a)
{
	struct buf route = BUF_INIT, local = BUF_INIT, dom = BUF_INIT;
	struct buf junk = BUF_INIT;
	ps->i++; /* '<' */
	skip_cfws(ps);
	if (ps->i < ps->len && ps->p[ps->i] == '@') {
		/* RFC 5322 section 4.4 obs-route: "@a,@b:" */
		while (ps->i < ps->len && ps->p[ps->i] != ':' &&
		       ps->p[ps->i] != '>') {
			char c = ps->p[ps->i];
			if (c == '@' || c == ',') {
				buf_appendc(&route, c);
				ps->i++;
				domain(ps, &route);
			} else if (!is_ws(c)) {
				ps->i++;
			} else {
				skip_cfws(ps);
			}
		}
		if (ps->i < ps->len && ps->p[ps->i] == ':')
			ps->i++;
	}
	for (;;) {
		skip_cfws(ps);
		if (ps->i >= ps->len)
			break;
		char c = ps->p[ps->i];
		if (c == '"')
			quoted(ps, &junk, &local);
		else if (c == '.') {
			buf_appendc(&local, '.');
			ps->i++;
		} else if (!is_special(c))
			atom(ps, &local);
		else
			break;
	}
	if (ps->i < ps->len && ps->p[ps->i] == '@') {
		ps->i++;
		domain(ps, &dom);
	}
	/* Whatever else is before '>' is dropped. */
	while (ps->i < ps->len && ps->p[ps->i] != '>')
		ps->i++;
	if (ps->i < ps->len)
		ps->i++;
	a->adl = span_of(ps, &route, NULL);
	a->mailbox = span_of(ps, &local, "MISSING_MAILBOX");
	a->host = span_of(ps, &dom, "MISSING_DOMAIN");
	buf_free(&route);
	buf_free(&local);
	buf_free(&dom);
	buf_free(&junk);
}

/* One mailbox or group start, up to the next ',' or ';' (not eaten). */
static void one(struct parser *ps, bool *in_group)
{
	struct buf phrase = BUF_INIT, raw = BUF_INIT, dom = BUF_INIT;
	struct raw_addr a = { MIME_ADDR_MAILBOX, nil, nil, nil, nil };
	bool done = false, had_at = false;
	buf_clear(&ps->comment);
	while (!done) {
		skip_cfws(ps);
		if (ps->i >= ps->len)
			break;
		char c = ps->p[ps->i];
		switch (c) {
		case '"':
			if (phrase.len)
				buf_appendc(&phrase, ' ');
			quoted(ps, &phrase, &raw);
			break;
		case '.':
			buf_appendc(&phrase, '.');
			buf_appendc(&raw, '.');
			ps->i++;
			break;
		case '<':
			a.name = phrase.len ? span_of(ps, &phrase, NULL) : nil;
			angle(ps, &a);
			skip_cfws(ps);
			emit(ps, a);
			done = true;
			buf_clear(&raw);
			break;
		case ':':
			if (*in_group) { /* nested groups are not allowed */
				ps->i++;
				break;
			}
			ps->i++;
			a.kind = MIME_ADDR_GROUP_START;
			a.mailbox = save(ps, phrase.data ? phrase.data : "",
					 phrase.len);
			emit(ps, a);
			*in_group = true;
			buf_free(&phrase);
			buf_free(&raw);
			buf_free(&dom);
			return;
		case '@':
			ps->i++;
			had_at = true;
			domain(ps, &dom);
			break;
		case ',':
		case ';':
			done = true;
			break;
		default:
			if (is_special(c)) { /* stray ">", "[" etc.: skip */
				ps->i++;
				break;
			}
			if (phrase.len)
				buf_appendc(&phrase, ' ');
			{
				size_t k = raw.len;
				atom(ps, &raw);
				buf_append(&phrase, raw.data + k, raw.len - k);
			}
			break;
		}
	}
	if (raw.len || had_at) {
		/* A bare addr-spec: "local@domain (Comment)". */
		a.name = ps->comment.len ? span_of(ps, &ps->comment, NULL) : nil;
		a.mailbox = span_of(ps, &raw, "MISSING_MAILBOX");
		a.host = span_of(ps, &dom, "MISSING_DOMAIN");
		emit(ps, a);
	}
	buf_free(&phrase);
	buf_free(&raw);
	buf_free(&dom);
}

static struct str to_str(const struct buf *sb, struct span s)
{
	if (s.off == NIL_OFF)
		return (struct str){ NULL, 0 };
	return str_make(sb->data + s.off, s.len);
}

void mime_addr_parse(struct str value, struct mime_addr_list *out)
{
	struct parser ps = { value.p, value.len, 0, &out->strings, NULL, 0, 0,
			     BUF_INIT };
	buf_init(&out->strings);
	bool in_group = false;
	while (ps.i < ps.len) {
		size_t before = ps.i;
		one(&ps, &in_group);
		skip_cfws(&ps);
		if (ps.i < ps.len && ps.p[ps.i] == ',')
			ps.i++;
		else if (ps.i < ps.len && ps.p[ps.i] == ';') {
			ps.i++;
			if (in_group) {
				struct raw_addr e = { MIME_ADDR_GROUP_END, nil,
						      nil, nil, nil };
				emit(&ps, e);
				in_group = false;
			}
		}
		if (ps.i == before)
			ps.i++; /* no progress: never loop */
	}
	if (in_group) { /* an unterminated group still ends */
		struct raw_addr e = { MIME_ADDR_GROUP_END, nil, nil, nil, nil };
		emit(&ps, e);
	}
	buf_free(&ps.comment);
	out->n = ps.n;
	out->v = ps.n ? xcalloc(ps.n, sizeof *out->v) : NULL;
	for (size_t k = 0; k < ps.n; k++) {
		out->v[k].kind = ps.v[k].kind;
		out->v[k].name = to_str(&out->strings, ps.v[k].name);
		out->v[k].adl = to_str(&out->strings, ps.v[k].adl);
		out->v[k].mailbox = to_str(&out->strings, ps.v[k].mailbox);
		out->v[k].host = to_str(&out->strings, ps.v[k].host);
	}
	free(ps.v);
}

void mime_addr_list_free(struct mime_addr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
	buf_free(&l->strings);
}
