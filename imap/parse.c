/* The IMAP command parser; the contract is in parse.h. Everything a
 * command holds (tag, name, atoms, unescaped quoted strings, in-memory
 * literals) is copied into one buffer, the tree into one node array
 * linked by index; on DONE the nodes are laid out breadth-first so that
 * every list's children are one contiguous array of struct imap_arg. */
#include "imap/parse.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define NONE UINT32_MAX
/* number64 (RFC 9051 section 9): at most 2^63 - 1. */
#define NUMBER64_MAX 0x7fffffffffffffffULL

struct node {
	enum imap_arg_type type;
	bool literal8;
	uint32_t parent, first, last, next, count;
	size_t off, len;
	uint64_t size;
	void *cookie;
};

enum state {
	ST_START,            /* a new command's first line */
	ST_ARGS,             /* after a literal: the rest of the command */
	ST_LITERAL,          /* literal bytes announced */
	ST_DONE,
	ST_DISCARD_LITERAL,  /* dropping a failed command's literal */
	ST_DISCARD_LINE,     /* dropping a failed command's next line */
};

struct imap_parser {
	struct imap_parse_limits lim;
	enum state st;
	struct buf data;
	struct node *nodes;
	size_t nnodes, capnodes;
	struct imap_arg *tree;
	size_t tag_off, tag_len, cmd_off, cmd_len;
	bool tag_known;
	uint32_t cur;        /* the open list (0: the command itself) */
	unsigned depth;
	uint32_t lit_node;
	uint64_t remaining;
	bool append_msg_seen; /* APPEND: its message literal was announced */
	struct imap_literal_info lit;
	struct imap_parse_error err;
};

struct imap_parse_limits imap_parse_limits_default(void)
{
	return (struct imap_parse_limits){
		.max_command = IMAP_PARSE_COMMAND_MAX,
		.max_line = IMAP_PARSE_LINE_MAX,
		.max_literal = IMAP_PARSE_LITERAL_MAX,
		.max_nonsync_literal = IMAP_PARSE_NONSYNC_MAX,
		.max_depth = IMAP_PARSE_DEPTH_MAX,
		.max_args = IMAP_PARSE_ARGS_MAX,
	};
}

static void nodes_clear(struct imap_parser *p)
{
	if (p->capnodes * sizeof *p->nodes > IMAP_PARSE_KEEP_BYTES) {
		free(p->nodes);
		p->nodes = NULL;
		p->capnodes = 0;
	}
	if (!p->nodes) {
		p->capnodes = 8;
		p->nodes = xmalloc(p->capnodes * sizeof *p->nodes);
	}
	p->nodes[0] = (struct node){ .type = IMAP_ARG_LIST, .parent = NONE,
				     .first = NONE, .last = NONE,
				     .next = NONE };
	p->nnodes = 1;
}

void imap_parser_reset(struct imap_parser *p)
{
	if (p->data.cap > IMAP_PARSE_KEEP_BYTES)
		buf_free(&p->data);
	else
		buf_clear(&p->data);
	free(p->tree);
	p->tree = NULL;
	nodes_clear(p);
	p->tag_off = p->tag_len = p->cmd_off = p->cmd_len = 0;
	p->tag_known = false;
	p->append_msg_seen = false;
	p->cur = 0;
	p->depth = 0;
	p->lit_node = NONE;
	if (p->st != ST_DISCARD_LITERAL && p->st != ST_DISCARD_LINE) {
		p->st = ST_START;
		p->remaining = 0;
	}
}

struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof *p);
	p->lim = limits ? *limits : imap_parse_limits_default();
	buf_init(&p->data);
	p->st = ST_START;
	imap_parser_reset(p);
	return p;
}

void imap_parser_release(struct imap_parser *p)
{
	buf_free(&p->data);
	free(p->tree);
	p->tree = NULL;
	free(p->nodes);
	p->nodes = NULL; /* nodes_clear allocates them again */
	p->nnodes = p->capnodes = 0;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (!p)
		return;
	buf_free(&p->data);
	free(p->nodes);
	free(p->tree);
	free(p);
	*pp = NULL;
}

/* ATOM-CHAR plus what we take in atoms on purpose: ']' (ASTRING-CHAR),
 * '%' and '*' (LIST patterns, sequence sets) and '\' (flags such as
 * \Seen are atoms in STORE and SEARCH). */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '"';
}

/* RFC 9051 section 9: tag = 1*<any ASTRING-CHAR except "+">. */
static bool tag_char(unsigned char c)
{
	return atom_char(c) && c != '%' && c != '*' && c != '\\' && c != '+';
}

/* RFC 7888 section 3: the end of every line is checked for "{N+}". */
static bool line_nonsync_tail(struct str line, uint64_t *n)
{
	size_t i = line.len;
	if (i < 4 || line.p[i - 1] != '}' || line.p[i - 2] != '+')
		return false;
	i -= 2;
	size_t end = i;
	while (i > 0 && line.p[i - 1] >= '0' && line.p[i - 1] <= '9')
		i--;
	if (i == 0 || i == end || line.p[i - 1] != '{')
		return false;
	unsigned long long v;
	if (!str_to_u64(str_make(line.p + i, end - i), NUMBER64_MAX, &v))
		return false;
	*n = v;
	return true;
}

static void discard_after(struct imap_parser *p, struct str line)
{
	uint64_t n;
	if (line_nonsync_tail(line, &n)) {
		p->remaining = n;
		p->st = n ? ST_DISCARD_LITERAL : ST_DISCARD_LINE;
	} else {
		p->remaining = 0;
		p->st = ST_START;
	}
}

static enum imap_parse_result fail(struct imap_parser *p, struct str line,
				   const char *reason, bool toobig)
{
	p->err = (struct imap_parse_error){
		.reason = reason,
		.tag_known = p->tag_known,
		.tag = p->tag_known ? str_make(p->data.data + p->tag_off,
					       p->tag_len)
				    : str_make("", 0),
		.toobig = toobig,
	};
	discard_after(p, line);
	p->err.discarding = p->st != ST_START;
	return IMAP_PARSE_ERROR;
}

static uint32_t node_add(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->nnodes == p->capnodes) {
		p->capnodes *= 2;
		p->nodes = xrealloc(p->nodes, p->capnodes * sizeof *p->nodes);
	}
	uint32_t i = (uint32_t)p->nnodes++;
	p->nodes[i] = (struct node){ .type = type, .parent = p->cur,
				     .first = NONE, .last = NONE,
				     .next = NONE, .off = p->data.len };
	struct node *parent = &p->nodes[p->cur];
	if (parent->last == NONE)
		parent->first = i;
	else
		p->nodes[parent->last].next = i;
	parent->last = i;
	parent->count++;
	return i;
}

static bool args_full(const struct imap_parser *p)
{
	return p->nnodes - 1 >= p->lim.max_args;
}

static bool too_big(const struct imap_parser *p, size_t more)
{
	return p->data.len + more > p->lim.max_command;
}

static bool bracket_prefix(const char *s, size_t n)
{
	static const char *const names[] = { "BODY", "BODY.PEEK", "BINARY",
					     "BINARY.PEEK", "BINARY.SIZE" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (str_eq_nocase(str_make(s, n), names[i]))
			return true;
	return false;
}

/* The end of an atom that starts at line[pos], or 0 with *reason set. */
static size_t atom_end(struct str line, size_t pos, const char **reason)
{
	size_t i = pos;
	while (i < line.len && atom_char((unsigned char)line.p[i]) &&
	       line.p[i] != '[')
		i++;
	if (i == line.len || line.p[i] != '[')
		goto plain;
	if (!bracket_prefix(line.p + pos, i - pos)) {
		while (i < line.len && atom_char((unsigned char)line.p[i]))
			i++;
		goto plain;
	}
	/* A FETCH section: up to the ']', with SP, parens and quoted
	 * header names inside (RFC 9051 section 9, section-spec). */
	for (i++; i < line.len && line.p[i] != ']'; i++) {
		unsigned char c = (unsigned char)line.p[i];
		if (c == '"') {
			for (i++; i < line.len && line.p[i] != '"'; i++) {
				if (line.p[i] == '\\' && i + 1 < line.len)
					i++;
				if ((unsigned char)line.p[i] < 0x20 ||
				    line.p[i] == 0x7f) {
					*reason = "Invalid character in section";
					return 0;
				}
			}
			if (i == line.len)
				break;
		} else if (c < 0x20 || c >= 0x7f) {
			*reason = "Invalid character in section";
			return 0;
		}
	}
	if (i == line.len) {
		*reason = "Missing ] in section";
		return 0;
	}
	i++;
	if (i < line.len && line.p[i] == '<') {
		for (i++; i < line.len && line.p[i] != '>'; i++)
			if ((line.p[i] < '0' || line.p[i] > '9') &&
			    line.p[i] != '.') {
				*reason = "Invalid partial";
				return 0;
			}
		if (i == line.len) {
			*reason = "Missing > in partial";
			return 0;
		}
		i++;
	}
	return i;
plain:
	if (i == pos) {
		*reason = "Invalid character";
		return 0;
	}
	return i;
}

/* APPEND takes at most three literals: the mailbox name, and one
 * message, either at the top level or as the literal8 in "UTF8 (...)"
 * (RFC 9051 section 6.3.12, RFC 6855 section 4; MULTIAPPEND, RFC 3502,
 * is not offered). Any other literal is refused when it is announced,
 * before the session opens a spool file for it or sends "+": one APPEND
 * holds at most one spool (a literal's position is all it takes to
 * know). NULL when the literal may come; marks the message as seen. */
static const char *append_literal_check(struct imap_parser *p)
{
	if (p->append_msg_seen)
		return "APPEND takes one message literal";
	if (p->depth == 0) {
		if (p->nodes[0].count >= 1)
			p->append_msg_seen = true;
		return NULL;
	}
	/* Inside a list: only "UTF8 (literal8)" at the top level. */
	const struct node *list = &p->nodes[p->cur];
	if (p->depth == 1 && list->count == 0 && list->parent == 0) {
		uint32_t prev = NONE;
		for (uint32_t k = p->nodes[0].first; k != NONE && k != p->cur;
		     k = p->nodes[k].next)
			prev = k;
		if (prev != NONE && p->nodes[prev].type == IMAP_ARG_ATOM &&
		    str_eq_nocase(str_make(p->data.data + p->nodes[prev].off,
					   p->nodes[prev].len),
				  "UTF8")) {
			p->append_msg_seen = true;
			return NULL;
		}
	}
	return "Literal not allowed here in APPEND";
}

static enum imap_parse_result announce_literal(struct imap_parser *p,
					       struct str line, size_t pos)
{
	bool l8 = line.p[pos] == '~';
	size_t i = pos + 1 + l8, d0 = i;
	while (i < line.len && line.p[i] >= '0' && line.p[i] <= '9')
		i++;
	if (i == d0)
		return fail(p, line, "Invalid literal size", false);
	unsigned long long size;
	if (!str_to_u64(str_make(line.p + d0, i - d0), NUMBER64_MAX, &size))
		return fail(p, line, "Literal size too large", true);
	bool sync = true;
	if (i < line.len && line.p[i] == '+') {
		sync = false;
		i++;
	}
	if (i >= line.len || line.p[i] != '}')
		return fail(p, line, "Invalid literal", false);
	if (i + 1 != line.len)
		return fail(p, line, "Literal must end the line", false);
	if (args_full(p))
		return fail(p, line, "Too many arguments", false);
	if (!sync && p->lim.max_nonsync_literal &&
	    size > p->lim.max_nonsync_literal)
		return fail(p, line, "Non-synchronizing literal too large",
			    true);
	bool append = false;
	if (str_eq(str_make(p->data.data + p->cmd_off, p->cmd_len),
		   "APPEND")) {
		const char *why = append_literal_check(p);
		if (why)
			return fail(p, line, why, false);
		append = p->depth == 0 && p->nodes[0].count >= 1;
	}
	bool in_mem = size <= p->lim.max_literal && !too_big(p, size);
	if (!in_mem && !append)
		return fail(p, line, "Literal too large", true);
	p->lit_node = node_add(p, IMAP_ARG_LITERAL);
	p->nodes[p->lit_node].literal8 = l8;
	p->nodes[p->lit_node].size = size;
	p->remaining = size;
	p->st = ST_LITERAL;
	p->lit = (struct imap_literal_info){
		.size = size,
		.sync = sync,
		.literal8 = l8,
		.append_message = append,
		.in_memory_ok = in_mem,
		.tag = str_make(p->data.data + p->tag_off, p->tag_len),
		.command = str_make(p->data.data + p->cmd_off, p->cmd_len),
	};
	return IMAP_PARSE_NEED_LITERAL;
}

/* A quoted string at line[pos] ('"'): unescaped into data. */
static enum imap_parse_result add_quoted(struct imap_parser *p,
					 struct str line, size_t *pos)
{
	uint32_t n = node_add(p, IMAP_ARG_QUOTED);
	size_t i = *pos + 1;
	for (; i < line.len && line.p[i] != '"'; i++) {
		char c = line.p[i];
		if (c == '\\') {
			if (i + 1 == line.len ||
			    (line.p[i + 1] != '\\' && line.p[i + 1] != '"'))
				return fail(p, line,
					    "Invalid escape in quoted string",
					    false);
			c = line.p[++i];
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return fail(p, line,
				    "Invalid character in quoted string",
				    false);
		}
		buf_appendc(&p->data, c);
	}
	if (i == line.len)
		return fail(p, line, "Unterminated quoted string", false);
	p->nodes[n].len = p->data.len - p->nodes[n].off;
	*pos = i + 1;
	return IMAP_PARSE_MORE;
}

static void tree_build(struct imap_parser *p)
{
	size_t n = p->nnodes - 1;
	p->tree = xmalloc((n ? n : 1) * sizeof *p->tree);
	uint32_t *from = xmalloc((n ? n : 1) * sizeof *from);
	size_t pos = 0;
	/* Slot i holds node from[i]; a list's children go to the end. */
	for (size_t i = 0, list = 0;; i++) {
		if (i > 0) {
			if (i > pos)
				break;
			list = from[i - 1];
			if (p->nodes[list].type != IMAP_ARG_LIST)
				continue;
			p->tree[i - 1].list = p->tree + pos;
		}
		for (uint32_t c = p->nodes[list].first; c != NONE;
		     c = p->nodes[c].next) {
			const struct node *nd = &p->nodes[c];
			from[pos] = c;
			p->tree[pos++] = (struct imap_arg){
				.type = nd->type,
				.literal8 = nd->literal8,
				.s = str_make(p->data.data + nd->off, nd->len),
				.count = nd->count,
				.cookie = nd->cookie,
				.size = nd->type == IMAP_ARG_LITERAL ? nd->len
								      : nd->size,
			};
		}
	}
	free(from);
}

/* Arguments from line[pos]; need_sep: an argument just ended. */
static enum imap_parse_result parse_args(struct imap_parser *p,
					 struct str line, size_t pos,
					 bool need_sep)
{
	bool after_open = false;
	for (;;) {
		if (too_big(p, 0))
			return fail(p, line, "Command too long", false);
		if (pos == line.len) {
			if (!need_sep && !after_open)
				return fail(p, line, "Trailing space", false);
			if (p->depth > 0)
				return fail(p, line, "Missing )", false);
			tree_build(p);
			p->st = ST_DONE;
			return IMAP_PARSE_DONE;
		}
		char c = line.p[pos];
		if (c == ')') {
			if (!need_sep && !after_open)
				return fail(p, line, "Space before )", false);
			if (p->depth == 0)
				return fail(p, line, "Unexpected )", false);
			p->cur = p->nodes[p->cur].parent;
			p->depth--;
			pos++;
			need_sep = true;
			after_open = false;
			continue;
		}
		if (need_sep) {
			if (c != ' ')
				return fail(p, line, "Missing space", false);
			pos++;
			need_sep = false;
			if (pos < line.len && line.p[pos] == ' ')
				return fail(p, line, "Double space", false);
			if (pos < line.len && line.p[pos] == ')')
				return fail(p, line, "Space before )", false);
			continue;
		}
		if (after_open && c == ' ')
			return fail(p, line, "Space after (", false);
		after_open = false;
		if (args_full(p))
			return fail(p, line, "Too many arguments", false);
		if (c == '(') {
			if (p->depth >= p->lim.max_depth)
				return fail(p, line, "Lists nested too deep",
					    false);
			p->cur = node_add(p, IMAP_ARG_LIST);
			p->depth++;
			pos++;
			after_open = true;
			continue;
		}
		if (c == '"') {
			enum imap_parse_result r = add_quoted(p, line, &pos);
			if (r != IMAP_PARSE_MORE)
				return r;
			need_sep = true;
			continue;
		}
		if (c == '{' || (c == '~' && pos + 1 < line.len &&
				 line.p[pos + 1] == '{'))
			return announce_literal(p, line, pos);
		const char *reason = "Invalid character";
		size_t end = atom_end(line, pos, &reason);
		if (!end)
			return fail(p, line, reason, false);
		uint32_t n = node_add(p, IMAP_ARG_ATOM);
		buf_append(&p->data, line.p + pos, end - pos);
		p->nodes[n].len = end - pos;
		pos = end;
		need_sep = true;
	}
}

static enum imap_parse_result start_command(struct imap_parser *p,
					    struct str line)
{
	imap_parser_reset(p); /* a failed command may have left data */
	size_t i = 0;
	while (i < line.len && tag_char((unsigned char)line.p[i]))
		i++;
	if (line.len == 0)
		return fail(p, line, "Empty command line", false);
	if (i == 0 || (i < line.len && line.p[i] != ' '))
		return fail(p, line, i ? "Invalid character in tag"
				       : "Missing or invalid tag",
			    false);
	p->tag_off = p->data.len;
	p->tag_len = i;
	buf_append(&p->data, line.p, i);
	p->tag_known = true;
	if (line.len > p->lim.max_line)
		return fail(p, line, "Line too long", false);
	if (i == line.len || i + 1 == line.len)
		return fail(p, line, "Missing command", false);
	size_t c0 = ++i;
	while (i < line.len && atom_char((unsigned char)line.p[i]) &&
	       line.p[i] != '[' && line.p[i] != ']' && line.p[i] != '%' &&
	       line.p[i] != '*' && line.p[i] != '\\')
		i++;
	if (i == c0 || (i < line.len && line.p[i] != ' '))
		return fail(p, line, "Invalid command name", false);
	p->cmd_off = p->data.len;
	p->cmd_len = i - c0;
	for (size_t k = c0; k < i; k++) {
		char ch = line.p[k];
		buf_appendc(&p->data,
			    (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch);
	}
	return parse_args(p, line, i, true);
}

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     struct str line)
{
	if (line.len && line.p[line.len - 1] == '\r')
		line.len--;
	switch (p->st) {
	case ST_START:
		return start_command(p, line);
	case ST_ARGS:
		if (line.len > p->lim.max_line)
			return fail(p, line, "Line too long", false);
		p->st = ST_START; /* until parse_args says otherwise */
		return parse_args(p, line, 0, true);
	case ST_DISCARD_LINE:
		discard_after(p, line);
		return IMAP_PARSE_MORE;
	case ST_LITERAL:
		/* An empty literal needs no feeding: the session, seeing
		 * nothing remaining, reads the next line. */
		if (p->remaining == 0 && p->lit.in_memory_ok) {
			p->st = ST_ARGS;
			return imap_parser_feed_line(p, line);
		}
		break;
	case ST_DONE:
	case ST_DISCARD_LITERAL:
		break;
	}
	abort(); /* the session broke the contract in parse.h */
}

const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p)
{
	return &p->lit;
}

uint64_t imap_parser_literal_remaining(const struct imap_parser *p)
{
	return (p->st == ST_LITERAL || p->st == ST_DISCARD_LITERAL)
		       ? p->remaining
		       : 0;
}

enum imap_parse_result imap_parser_feed_literal(struct imap_parser *p,
						const void *data, size_t n,
						size_t *used)
{
	if (p->st != ST_LITERAL && p->st != ST_DISCARD_LITERAL)
		abort();
	if (p->st == ST_LITERAL && !p->lit.in_memory_ok)
		abort();
	size_t take = n < p->remaining ? n : (size_t)p->remaining;
	*used = take;
	p->remaining -= take;
	if (p->st == ST_DISCARD_LITERAL) {
		if (p->remaining == 0)
			p->st = ST_DISCARD_LINE;
		return IMAP_PARSE_MORE;
	}
	if (take) {
		buf_append(&p->data, data, take);
		p->nodes[p->lit_node].len += take;
	}
	if (p->remaining == 0)
		p->st = ST_ARGS;
	return IMAP_PARSE_MORE;
}

void imap_parser_literal_external(struct imap_parser *p, void *cookie)
{
	if (p->st != ST_LITERAL || p->nodes[p->lit_node].len != 0)
		abort();
	struct node *nd = &p->nodes[p->lit_node];
	nd->type = IMAP_ARG_EXTERNAL;
	nd->cookie = cookie;
	p->remaining = 0;
	p->st = ST_ARGS;
}

void imap_parser_literal_refuse(struct imap_parser *p)
{
	if (p->st != ST_LITERAL || p->nodes[p->lit_node].len != 0)
		abort();
	if (p->lit.sync) {
		p->remaining = 0;
		p->st = ST_START;
	} else {
		p->st = p->remaining ? ST_DISCARD_LITERAL : ST_DISCARD_LINE;
	}
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return &p->err;
}

struct str imap_parser_tag(const struct imap_parser *p)
{
	return str_make(p->data.data + p->tag_off, p->tag_len);
}

struct str imap_parser_command(const struct imap_parser *p)
{
	return str_make(p->data.data + p->cmd_off, p->cmd_len);
}

bool imap_parser_command_is(const struct imap_parser *p, const char *name)
{
	return str_eq_nocase(imap_parser_command(p), name);
}

const struct imap_arg *imap_parser_args(const struct imap_parser *p,
					size_t *count)
{
	*count = p->st == ST_DONE ? p->nodes[0].count : 0;
	return p->tree;
}

bool imap_arg_is_atom(const struct imap_arg *a, const char *word)
{
	return a->type == IMAP_ARG_ATOM && str_eq_nocase(a->s, word);
}

bool imap_arg_is_nil(const struct imap_arg *a)
{
	return imap_arg_is_atom(a, "NIL");
}

bool imap_arg_astring(const struct imap_arg *a, struct str *out)
{
	if (a->type == IMAP_ARG_ATOM) {
		/* 1*ASTRING-CHAR: our atoms may also hold '%' '*' and
		 * a FETCH section, which an astring may not. */
		for (size_t i = 0; i < a->s.len; i++) {
			char c = a->s.p[i];
			if (c == '%' || c == '*' || c == ' ' || c == '"')
				return false;
		}
	} else if (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL) {
		return false;
	}
	*out = a->s;
	return true;
}

bool imap_arg_string(const struct imap_arg *a, struct str *out)
{
	if (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
		return false;
	*out = a->s;
	return true;
}
