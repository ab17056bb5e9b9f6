#include "mime/message.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "mime/decode.h"
#include "mime/header.h"

/* Strings the tree makes (unfolded values, merged parameters) live in
 * blocks that never move, so slices into them stay valid. */
struct mime_arena_block {
	struct mime_arena_block *next;
	size_t used, cap;
	char data[];
};

static char *arena_alloc(struct mime_message *m, size_t n)
{
	struct mime_arena_block *b = m->arena;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 4000 ? n : 4000;
		b = xmalloc(sizeof *b + cap);
		b->next = m->arena;
		b->used = 0;
		b->cap = cap;
		m->arena = b;
	}
	char *p = b->data + b->used;
	b->used += n;
	return p;
}

static struct str arena_str(struct mime_message *m, const char *p, size_t n)
{
	if (n == 0)
		return str_make("", 0);
	char *d = arena_alloc(m, n);
	memcpy(d, p, n);
	return str_make(d, n);
}

/* ---- RFC 2045 section 5.1 content-type syntax, leniently ---- */

struct lex {
	const char *p;
	size_t len, i;
};

static void lex_skip(struct lex *x)
{
	int depth = 0;
	while (x->i < x->len) {
		char c = x->p[x->i];
		if (depth) {
			if (c == '\\')
				x->i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return;
		}
		x->i++;
	}
}

static bool tspecial(char c)
{
	return c && strchr("()<>@,;:\\\"/[]?=", c);
}

static struct str lex_token(struct lex *x)
{
	lex_skip(x);
	size_t s = x->i;
	while (x->i < x->len) {
		unsigned char c = (unsigned char)x->p[x->i];
		if (c <= ' ' || c == 0x7f || tspecial((char)c))
			break;
		x->i++;
	}
	return str_make(x->p + s, x->i - s);
}

/* A token or quoted string (unquoted into the arena when needed). */
static bool lex_value(struct mime_message *m, struct lex *x, struct str *out)
{
	lex_skip(x);
	if (x->i < x->len && x->p[x->i] == '"') {
		struct buf b = BUF_INIT;
		x->i++;
		while (x->i < x->len && x->p[x->i] != '"') {
			char c = x->p[x->i++];
			if (c == '\\' && x->i < x->len)
				c = x->p[x->i++];
			if (c != '\r' && c != '\n')
				buf_appendc(&b, c);
		}
		if (x->i < x->len)
			x->i++;
		*out = arena_str(m, b.data, b.len);
		buf_free(&b);
		return true;
	}
	/* Lenient: a value runs to ';' or whitespace (real mail has
	 * "name=foo bar.pdf"-free values with '/', '=', '?' etc.). */
	size_t s = x->i;
	while (x->i < x->len && x->p[x->i] != ';' && x->p[x->i] != ' ' &&
	       x->p[x->i] != '\t' && x->p[x->i] != '\r' && x->p[x->i] != '\n')
		x->i++;
	*out = str_make(x->p + s, x->i - s);
	return x->i > s;
}

static uint32_t param_add(struct mime_message *m, struct str name,
			  struct str value, uint32_t *cap)
{
	if (m->nparams == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		m->params = xrealloc(m->params, *cap * sizeof *m->params);
	}
	m->params[m->nparams] = (struct mime_param){ name, value };
	return m->nparams++;
}

/* "name*3*" -> base "name", section 3, extended. False for a plain
 * name (section -1). */
static int param_section(struct str name, struct str *base, bool *ext)
{
	*base = name;
	*ext = false;
	size_t n = name.len;
	if (n && name.p[n - 1] == '*') {
		*ext = true;
		n--;
	}
	size_t d = n;
	while (d > 0 && name.p[d - 1] >= '0' && name.p[d - 1] <= '9')
		d--;
	if (d == n || d == 0 || name.p[d - 1] != '*' || n - d > 4) {
		base->len = n;
		return *ext ? 0 : -1; /* "name*" is a one-piece extended */
	}
	int sec = 0;
	for (size_t k = d; k < n; k++)
		sec = sec * 10 + (name.p[k] - '0');
	base->len = d - 1;
	return sec;
}

struct piece {
	struct str base, value;
	int sec;
	bool ext;
	uint32_t order; /* position in the field */
};

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	int c = str_cmp_nocase(x->base, y->base);
	if (c)
		return c;
	if (x->sec != y->sec)
		return (x->sec > y->sec) - (x->sec < y->sec);
	return (x->order > y->order) - (x->order < y->order);
}

/* Parameters beyond this in one header field are dropped: it bounds
 * the memory one field makes us allocate. */
#define MIME_PARAMS_MAX 256

/* Parses "; a=b; c*0=..." and appends the merged parameters. */
static void params_parse(struct mime_message *m, struct lex *x,
			 uint32_t *first, uint32_t *count, uint32_t *cap)
{
	struct piece *pc = NULL;
	size_t npc = 0, cpc = 0;
	*first = m->nparams;
	while (x->i < x->len) {
		lex_skip(x);
		if (x->i >= x->len)
			break;
		if (x->p[x->i] != ';') {
			/* Garbage: skip to the next ';'. */
			while (x->i < x->len && x->p[x->i] != ';')
				x->i++;
			continue;
		}
		x->i++;
		struct str name = lex_token(x);
		lex_skip(x);
		if (!name.len || x->i >= x->len || x->p[x->i] != '=')
			continue;
		x->i++;
		struct str value;
		if (!lex_value(m, x, &value))
			value = str_make("", 0);
		if (npc == MIME_PARAMS_MAX)
			continue;
		if (npc == cpc) {
			cpc = cpc ? cpc * 2 : 8;
			pc = xrealloc(pc, cpc * sizeof *pc);
		}
		pc[npc].value = value;
		pc[npc].order = (uint32_t)npc;
		pc[npc].sec = param_section(name, &pc[npc].base, &pc[npc].ext);
		if (pc[npc].sec < 0) {
			/* A plain value goes out as it is, unmerged. */
			pc[npc].base = name;
		}
		npc++;
	}
	/* Merge continuations (RFC 2231 section 3): sorted by (name,
	 * section, position), each name's pieces are one run, joined in
	 * section order. Every parameter goes out where its first piece
	 * was: out[order] of that piece. O(n log n), where comparing
	 * every piece with every other used to be O(n^2). */
	struct piece *sorted = npc ? xmalloc(npc * sizeof *sorted) : NULL;
	struct mime_param *out = npc ? xcalloc(npc, sizeof *out) : NULL;
	if (npc)
		memcpy(sorted, pc, npc * sizeof *pc);
	if (npc > 1)
		qsort(sorted, npc, sizeof *sorted, piece_cmp);
	for (size_t i = 0; i < npc;) {
		if (sorted[i].sec == -1) {
			out[sorted[i].order] = (struct mime_param){
				sorted[i].base, sorted[i].value };
			i++;
			continue;
		}
		size_t e = i;
		uint32_t at = sorted[i].order;
		struct buf v = BUF_INIT;
		bool ext = false;
		for (; e < npc && sorted[e].sec != -1 &&
		       str_cmp_nocase(sorted[e].base, sorted[i].base) == 0;
		     e++) {
			if (sorted[e].order < at)
				at = sorted[e].order;
			if (v.len == 0 && !ext)
				ext = sorted[e].ext;
			buf_append(&v, sorted[e].value.p, sorted[e].value.len);
		}
		/* The name as its first piece spells it. */
		struct str nm = pc[at].base;
		if (ext) {
			char *d = arena_alloc(m, nm.len + 1);
			memcpy(d, nm.p, nm.len);
			d[nm.len] = '*';
			nm = str_make(d, nm.len + 1);
		}
		out[at] = (struct mime_param){ nm,
					       arena_str(m, v.data, v.len) };
		buf_free(&v);
		i = e;
	}
	for (size_t i = 0; i < npc; i++)
		if (out[i].name.p)
			param_add(m, out[i].name, out[i].value, cap);
	free(out);
	free(sorted);
	free(pc);
	*count = m->nparams - *first;
}

/* ---- the tree ---- */

struct builder {
	struct mime_message *m;
	uint32_t cap_parts, cap_params;
};

static struct str unfolded(struct mime_message *m, struct str v)
{
	struct buf b = BUF_INIT;
	mime_header_unfold(v, &b);
	struct str s = arena_str(m, b.data ? b.data : "", b.len);
	buf_free(&b);
	return s;
}

static uint64_t count_lf(const char *p, size_t n)
{
	uint64_t c = 0;
	const char *e = p + n;
	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

static void header_parse(struct builder *bd, struct mime_part *pt,
			 bool digest_child)
{
	struct mime_message *m = bd->m;
	struct mime_header_iter it;
	struct mime_field f;
	bool have_ct = false;
	mime_header_iter_init(&it, str_make(m->data + pt->hdr_off, pt->hdr_len));
	pt->param_first = pt->disp_param_first = m->nparams;
	while (mime_header_next(&it, &f)) {
		if (f.name.len < 8 || !str_eq_nocase(str_make(f.name.p, 8),
						     "content-"))
			continue;
		struct str n = str_make(f.name.p + 8, f.name.len - 8);
		if (str_eq_nocase(n, "type") && !have_ct) {
			struct lex x = { f.value.p, f.value.len, 0 };
			struct str t = lex_token(&x);
			lex_skip(&x);
			if (!t.len || x.i >= x.len || x.p[x.i] != '/')
				continue; /* invalid: keep the default */
			x.i++;
			struct str st = lex_token(&x);
			if (!st.len)
				continue;
			have_ct = true;
			pt->type = t;
			pt->subtype = st;
			params_parse(m, &x, &pt->param_first, &pt->param_count,
				     &bd->cap_params);
		} else if (str_eq_nocase(n, "transfer-encoding") && !pt->cte.p) {
			struct lex x = { f.value.p, f.value.len, 0 };
			struct str t = lex_token(&x);
			if (t.len)
				pt->cte = t;
		} else if (str_eq_nocase(n, "id") && !pt->id.p) {
			pt->id = unfolded(m, f.value);
		} else if (str_eq_nocase(n, "description") && !pt->description.p) {
			pt->description = unfolded(m, f.value);
		} else if (str_eq_nocase(n, "md5") && !pt->md5.p) {
			pt->md5 = unfolded(m, f.value);
		} else if (str_eq_nocase(n, "language") && !pt->language.p) {
			pt->language = unfolded(m, f.value);
		} else if (str_eq_nocase(n, "location") && !pt->location.p) {
			pt->location = unfolded(m, f.value);
		} else if (str_eq_nocase(n, "disposition") && !pt->disposition.p) {
			struct lex x = { f.value.p, f.value.len, 0 };
			struct str t = lex_token(&x);
			if (!t.len)
				continue;
			pt->disposition = t;
			params_parse(m, &x, &pt->disp_param_first,
				     &pt->disp_param_count, &bd->cap_params);
		}
	}
	if (!have_ct) {
		/* RFC 2045 section 5.2 and RFC 2046 section 5.1.5. */
		if (digest_child) {
			pt->type = STR_LIT("message");
			pt->subtype = STR_LIT("rfc822");
		} else {
			pt->type = STR_LIT("text");
			pt->subtype = STR_LIT("plain");
			uint32_t first = m->nparams;
			param_add(m, STR_LIT("charset"), STR_LIT("us-ascii"),
				  &bd->cap_params);
			pt->param_first = first;
			pt->param_count = 1;
		}
	}
}

static uint32_t part_new(struct builder *bd)
{
	struct mime_message *m = bd->m;
	if (m->nparts == bd->cap_parts) {
		bd->cap_parts = bd->cap_parts ? bd->cap_parts * 2 : 8;
		m->parts = xrealloc(m->parts, bd->cap_parts * sizeof *m->parts);
	}
	struct mime_part *p = &m->parts[m->nparts];
	memset(p, 0, sizeof *p);
	p->parent = p->first_child = p->next_sibling = MIME_NONE;
	return m->nparts++;
}

static uint32_t parse_part(struct builder *bd, size_t off, size_t len,
			   uint32_t parent, unsigned depth, bool is_message,
			   bool digest_child);

/* Does the line at p (n bytes to the range end) start with "--" and
 * the boundary? Sets *close for "--boundary--". Like Dovecot, what
 * follows on the line is ignored (RFC 2046 section 5.1.1 allows only
 * transport padding there, and boundaries must not be prefixes of each
 * other). */
static bool is_delimiter(const char *p, size_t n, struct str bnd, bool *close)
{
	if (n < bnd.len + 2 || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, bnd.p, bnd.len) != 0)
		return false;
	*close = n >= bnd.len + 4 && p[bnd.len + 2] == '-' &&
		 p[bnd.len + 3] == '-';
	return true;
}

static void parse_multipart(struct builder *bd, uint32_t self, struct str bnd,
			    unsigned depth)
{
	struct mime_message *m = bd->m;
	size_t b = m->parts[self].body_off;
	size_t e = b + m->parts[self].body_len;
	bool digest = str_eq_nocase(m->parts[self].subtype, "digest");
	size_t pos = b;
	size_t part_start = 0;
	bool in_part = false;
	uint32_t last = MIME_NONE;
	while (pos < e) {
		const char *lf = memchr(m->data + pos, '\n', e - pos);
		size_t next = lf ? (size_t)(lf - m->data) + 1 : e;
		bool close = false;
		if (m->data[pos] == '-' &&
		    is_delimiter(m->data + pos, e - pos, bnd, &close)) {
			if (in_part) {
				/* The line end before the delimiter belongs
				 * to it (RFC 2046 section 5.1.1). */
				size_t end = pos;
				if (end > part_start && m->data[end - 1] == '\n')
					end--;
				if (end > part_start && m->data[end - 1] == '\r')
					end--;
				if (m->nparts >= MIME_PARTS_MAX)
					return;
				uint32_t c = parse_part(bd, part_start,
							end - part_start, self,
							depth + 1, false, digest);
				if (last == MIME_NONE)
					m->parts[self].first_child = c;
				else
					m->parts[last].next_sibling = c;
				last = c;
				m->parts[self].nchildren++;
			}
			if (close)
				return; /* the epilogue is not a part */
			in_part = true;
			part_start = next;
		}
		pos = next;
	}
	if (in_part && m->nparts < MIME_PARTS_MAX) {
		/* No close delimiter: the last part runs to the end of the
		 * enclosing body. */
		uint32_t c = parse_part(bd, part_start, e - part_start, self,
					depth + 1, false, digest);
		if (last == MIME_NONE)
			m->parts[self].first_child = c;
		else
			m->parts[last].next_sibling = c;
		m->parts[self].nchildren++;
	}
}

static uint32_t parse_part(struct builder *bd, size_t off, size_t len,
			   uint32_t parent, unsigned depth, bool is_message,
			   bool digest_child)
{
	struct mime_message *m = bd->m;
	uint32_t self = part_new(bd);
	struct mime_part *pt = &m->parts[self];
	pt->parent = parent;
	pt->depth = (uint16_t)depth;
	pt->hdr_off = off;
	mime_header_split(m->data + off, len, &pt->hdr_len);
	pt->body_off = off + pt->hdr_len;
	pt->body_len = len - pt->hdr_len;
	pt->body_lines = count_lf(m->data + pt->body_off, pt->body_len);
	if (is_message)
		pt->flags |= MIME_PART_IS_MESSAGE;
	header_parse(bd, pt, digest_child);
	if (depth >= MIME_DEPTH_MAX)
		return self;
	if (str_eq_nocase(pt->type, "multipart")) {
		/* Without a boundary it has no parts (Dovecot alike). */
		const struct mime_param *bp = mime_part_param(m, pt, "boundary");
		pt->flags |= MIME_PART_MULTIPART;
		if (!bp || bp->value.len == 0)
			return self;
		parse_multipart(bd, self, bp->value, depth);
	} else if (str_eq_nocase(pt->type, "message") &&
		   (str_eq_nocase(pt->subtype, "rfc822") ||
		    str_eq_nocase(pt->subtype, "global"))) {
		/* An encoded message is opaque (RFC 2046 section 5.2.1
		 * allows only 7bit, 8bit and binary). */
		struct str cte = pt->cte;
		if (cte.p && !str_eq_nocase(cte, "7bit") &&
		    !str_eq_nocase(cte, "8bit") && !str_eq_nocase(cte, "binary"))
			return self;
		if (m->nparts >= MIME_PARTS_MAX)
			return self;
		size_t boff = pt->body_off, blen = pt->body_len;
		uint32_t c = parse_part(bd, boff, blen, self, depth + 1, true,
					false);
		m->parts[self].first_child = c;
		m->parts[self].nchildren = 1;
		m->parts[self].flags |= MIME_PART_MESSAGE;
	}
	return self;
}

void mime_message_parse(struct mime_message *m, const char *data, size_t len)
{
	memset(m, 0, sizeof *m);
	m->data = data ? data : "";
	m->len = data ? len : 0;
	struct builder bd = { m, 0, 0 };
	parse_part(&bd, 0, m->len, MIME_NONE, 0, true, false);
}

void mime_message_free(struct mime_message *m)
{
	free(m->parts);
	free(m->params);
	while (m->arena) {
		struct mime_arena_block *n = m->arena->next;
		free(m->arena);
		m->arena = n;
	}
	memset(m, 0, sizeof *m);
}

static const struct mime_param *param_in(const struct mime_message *m,
					 uint32_t first, uint32_t count,
					 const char *name)
{
	for (uint32_t i = 0; i < count; i++)
		if (str_eq_nocase(m->params[first + i].name, name))
			return &m->params[first + i];
	return NULL;
}

const struct mime_param *mime_part_param(const struct mime_message *m,
					 const struct mime_part *p,
					 const char *name)
{
	return param_in(m, p->param_first, p->param_count, name);
}

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ascii_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool mime_param_decode(const struct mime_message *m, const struct mime_part *p,
		       bool disposition, const char *name, struct buf *out)
{
	uint32_t first = disposition ? p->disp_param_first : p->param_first;
	uint32_t count = disposition ? p->disp_param_count : p->param_count;
	const struct mime_param *pp = param_in(m, first, count, name);
	if (pp) {
		mime_header_decode(pp->value, out);
		return true;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct str n = m->params[first + i].name;
		if (n.len == strlen(name) + 1 && n.p[n.len - 1] == '*' &&
		    str_eq_nocase(str_make(n.p, n.len - 1), name)) {
			pp = &m->params[first + i];
			break;
		}
	}
	if (!pp)
		return false;
	/* RFC 2231 section 4: charset'language'%XX-encoded. */
	struct str v = pp->value, cs = { NULL, 0 };
	const char *q1 = v.len ? memchr(v.p, '\'', v.len) : NULL;
	const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(v.p + v.len - q1 - 1))
			    : NULL;
	if (q2) {
		cs = str_make(v.p, (size_t)(q1 - v.p));
		v = str_make(q2 + 1, (size_t)(v.p + v.len - q2 - 1));
	}
	struct buf raw = BUF_INIT;
	for (size_t i = 0; i < v.len; i++) {
		int hi = i + 2 < v.len && v.p[i] == '%' ? hexdig(v.p[i + 1]) : -1;
		int lo = hi >= 0 ? hexdig(v.p[i + 2]) : -1;
		if (lo >= 0) {
			buf_appendc(&raw, (char)(hi * 16 + lo));
			i += 2;
		} else {
			buf_appendc(&raw, v.p[i]);
		}
	}
	mime_charset_to_utf8(cs, buf_str(&raw), out);
	buf_free(&raw);
	return true;
}

uint32_t mime_part_child(const struct mime_message *m, uint32_t part,
			 uint32_t n)
{
	if (part >= m->nparts || n == 0)
		return MIME_NONE;
	uint32_t c = m->parts[part].first_child;
	while (c != MIME_NONE && --n > 0)
		c = m->parts[c].next_sibling;
	return c;
}

/* Number k inside a message node: a multipart's k-th part, or for any
 * other message part 1 is its own body. */
static uint32_t in_message(const struct mime_message *m, uint32_t msg,
			   uint32_t k)
{
	if (m->parts[msg].flags & MIME_PART_MULTIPART)
		return mime_part_child(m, msg, k);
	return k == 1 ? msg : MIME_NONE;
}

uint32_t mime_part_find(const struct mime_message *m, const uint32_t *path,
			size_t n)
{
	if (m->nparts == 0)
		return MIME_NONE;
	uint32_t cur = 0;
	/* The last step was "part 1 of something that is not multipart":
	 * then a further ".1" is not the part again (Dovecot alike). */
	bool via_self = false;
	for (size_t i = 0; i < n; i++) {
		const struct mime_part *p = &m->parts[cur];
		uint32_t msg = MIME_NONE;
		if (i == 0)
			msg = cur;
		else if (p->flags & MIME_PART_MESSAGE)
			msg = p->first_child;
		if (msg != MIME_NONE) {
			cur = in_message(m, msg, path[i]);
			via_self = !(m->parts[msg].flags & MIME_PART_MULTIPART);
		} else if (p->flags & MIME_PART_MULTIPART) {
			cur = mime_part_child(m, cur, path[i]);
			via_self = false;
		} else if (path[i] == 1 && !via_self) {
			via_self = true; /* x.1 of a leaf is the leaf */
		} else {
			cur = MIME_NONE;
		}
		if (cur == MIME_NONE)
			return MIME_NONE;
	}
	return cur;
}
