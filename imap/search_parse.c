/* The SEARCH program; the contract is in search_parse.h. */
#include "imap/search_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define NUMBER64_MAX 0x7fffffffffffffffULL

enum key_arg { ARG_NONE, ARG_STRING, ARG_DATE, ARG_NUMBER, ARG_KEYWORD,
	       ARG_SEQSET, ARG_HEADER, ARG_NOT, ARG_OR };

static const struct {
	const char *name;
	enum imap_search_type type;
	enum key_arg arg;
} keys[] = {
	{ "ALL", IMAP_SK_ALL, ARG_NONE },
	{ "ANSWERED", IMAP_SK_ANSWERED, ARG_NONE },
	{ "BCC", IMAP_SK_BCC, ARG_STRING },
	{ "BEFORE", IMAP_SK_BEFORE, ARG_DATE },
	{ "BODY", IMAP_SK_BODY, ARG_STRING },
	{ "CC", IMAP_SK_CC, ARG_STRING },
	{ "DELETED", IMAP_SK_DELETED, ARG_NONE },
	{ "DRAFT", IMAP_SK_DRAFT, ARG_NONE },
	{ "FLAGGED", IMAP_SK_FLAGGED, ARG_NONE },
	{ "FROM", IMAP_SK_FROM, ARG_STRING },
	{ "HEADER", IMAP_SK_HEADER, ARG_HEADER },
	{ "KEYWORD", IMAP_SK_KEYWORD, ARG_KEYWORD },
	{ "LARGER", IMAP_SK_LARGER, ARG_NUMBER },
	{ "NEW", IMAP_SK_NEW, ARG_NONE },
	{ "NOT", IMAP_SK_NOT, ARG_NOT },
	{ "OLD", IMAP_SK_OLD, ARG_NONE },
	{ "ON", IMAP_SK_ON, ARG_DATE },
	{ "OR", IMAP_SK_OR, ARG_OR },
	{ "RECENT", IMAP_SK_RECENT, ARG_NONE },
	{ "SEEN", IMAP_SK_SEEN, ARG_NONE },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE, ARG_DATE },
	{ "SENTON", IMAP_SK_SENTON, ARG_DATE },
	{ "SENTSINCE", IMAP_SK_SENTSINCE, ARG_DATE },
	{ "SINCE", IMAP_SK_SINCE, ARG_DATE },
	{ "SMALLER", IMAP_SK_SMALLER, ARG_NUMBER },
	{ "SUBJECT", IMAP_SK_SUBJECT, ARG_STRING },
	{ "TEXT", IMAP_SK_TEXT, ARG_STRING },
	{ "TO", IMAP_SK_TO, ARG_STRING },
	{ "UID", IMAP_SK_UID, ARG_SEQSET },
	{ "UNANSWERED", IMAP_SK_UNANSWERED, ARG_NONE },
	{ "UNDELETED", IMAP_SK_UNDELETED, ARG_NONE },
	{ "UNDRAFT", IMAP_SK_UNDRAFT, ARG_NONE },
	{ "UNFLAGGED", IMAP_SK_UNFLAGGED, ARG_NONE },
	{ "UNKEYWORD", IMAP_SK_UNKEYWORD, ARG_KEYWORD },
	{ "UNSEEN", IMAP_SK_UNSEEN, ARG_NONE },
};

struct ctx {
	const struct imap_arg *args;
	size_t count;
	struct imap_search_error *err;
};

static bool failf(struct ctx *c, const char *what, struct str s)
{
	char shown[41];
	size_t n = s.len < 40 ? s.len : 40;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		shown[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	shown[n] = '\0';
	snprintf(c->err->reason, sizeof c->err->reason, "%s%s%s", what,
		 n ? ": " : "", shown);
	return false;
}

static bool fail(struct ctx *c, const char *what)
{
	return failf(c, what, str_make("", 0));
}

static void key_free(struct imap_search_key *k)
{
	for (size_t i = 0; i < k->nchild; i++)
		key_free(&k->child[i]);
	free(k->child);
	free(k->field);
	free((char *)k->value.p);
	imap_seqset_free(&k->set);
	*k = (struct imap_search_key){ 0 };
}

void imap_search_free(struct imap_search_program *prog)
{
	key_free(&prog->root);
	free(prog->charset);
	*prog = (struct imap_search_program){ 0 };
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 9051 section 9: date-text = date-day "-" date-month "-" date-year,
 * date-day = 1*2DIGIT; a date may also be quoted. */
static bool date_parse(struct str s, struct imap_search_date *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const uint8_t mdays[] = { 31, 29, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31 };
	size_t i = 0;
	unsigned d = 0;
	while (i < s.len && i < 2 && s.p[i] >= '0' && s.p[i] <= '9')
		d = d * 10 + (unsigned)(s.p[i++] - '0');
	if (i == 0 || s.len != i + 9 || s.p[i] != '-' || s.p[i + 4] != '-')
		return false;
	unsigned m = 0;
	for (; m < 12; m++)
		if (str_eq_nocase(str_make(s.p + i + 1, 3),
				  (const char[]){ months[m * 3],
						  months[m * 3 + 1],
						  months[m * 3 + 2], 0 }))
			break;
	if (m == 12)
		return false;
	unsigned y = 0;
	for (size_t k = i + 5; k < s.len; k++) {
		if (s.p[k] < '0' || s.p[k] > '9')
			return false;
		y = y * 10 + (unsigned)(s.p[k] - '0');
	}
	if (d < 1 || d > mdays[m] || (m == 1 && d == 29 && !leap(y)))
		return false;
	*out = (struct imap_search_date){ (uint16_t)y, (uint8_t)(m + 1),
					  (uint8_t)d };
	return true;
}

static struct str copy(struct str s)
{
	char *p = xmalloc(s.len + 1);
	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return str_make(p, s.len);
}

static const struct imap_arg *next_arg(struct ctx *c, size_t *i,
				       const char *key)
{
	if (*i == c->count) {
		failf(c, "Missing argument to", str_from_cstr(key));
		return NULL;
	}
	return &c->args[(*i)++];
}

static bool key_parse(struct ctx *c, size_t *i, unsigned depth,
		      struct imap_search_key *k);

static bool children(struct ctx *c, size_t *i, size_t n, unsigned depth,
		     struct imap_search_key *k)
{
	/* Zeroed keys free cleanly, so nchild covers the whole array
	 * even when a child fails half-way. */
	k->child = xcalloc(n, sizeof *k->child);
	k->nchild = n;
	for (size_t j = 0; j < n; j++)
		if (!key_parse(c, i, depth + 1, &k->child[j]))
			return false;
	return true;
}

static bool list_parse(struct ctx *c, const struct imap_arg *list,
		       unsigned depth, struct imap_search_key *k)
{
	k->type = IMAP_SK_AND;
	if (list->count == 0)
		return fail(c, "Empty search key list");
	struct ctx sub = { list->list, list->count, c->err };
	size_t i = 0, used = 0;
	k->child = xcalloc(list->count, sizeof *k->child);
	k->nchild = list->count; /* see children() */
	while (i < list->count)
		if (!key_parse(&sub, &i, depth + 1, &k->child[used++]))
			return false;
	k->nchild = used;
	return true;
}

static bool key_parse(struct ctx *c, size_t *i, unsigned depth,
		      struct imap_search_key *k)
{
	if (depth > IMAP_SEARCH_DEPTH_MAX)
		return fail(c, "Search keys nested too deep");
	if (*i >= c->count)
		return fail(c, "Missing search key");
	const struct imap_arg *a = &c->args[(*i)++];
	if (a->type == IMAP_ARG_LIST)
		return list_parse(c, a, depth, k);
	if (a->type != IMAP_ARG_ATOM)
		return fail(c, "Invalid search key");
	const char *reason = NULL;
	if (a->s.len && ((a->s.p[0] >= '0' && a->s.p[0] <= '9') ||
			 a->s.p[0] == '*' || a->s.p[0] == '$')) {
		k->type = IMAP_SK_SEQSET;
		if (!imap_seqset_parse(a->s, &k->set, &reason))
			return fail(c, reason);
		return true;
	}
	size_t t = 0, nkeys = sizeof keys / sizeof keys[0];
	while (t < nkeys && !str_eq_nocase(a->s, keys[t].name))
		t++;
	if (t == nkeys)
		return failf(c, "Unknown search key", a->s);
	k->type = keys[t].type;
	const char *name = keys[t].name;
	const struct imap_arg *v;
	struct str s;
	switch (keys[t].arg) {
	case ARG_NONE:
		return true;
	case ARG_NOT:
		if (*i == c->count)
			return failf(c, "Missing argument to", a->s);
		return children(c, i, 1, depth, k);
	case ARG_OR:
		if (*i + 1 >= c->count)
			return failf(c, "Missing argument to", a->s);
		return children(c, i, 2, depth, k);
	case ARG_STRING:
		if (!(v = next_arg(c, i, name)))
			return false;
		if (!imap_arg_astring(v, &s))
			return failf(c, "Invalid string for", a->s);
		k->value = copy(s);
		return true;
	case ARG_HEADER:
		if (!(v = next_arg(c, i, name)))
			return false;
		if (!imap_arg_astring(v, &s) || s.len == 0 ||
		    memchr(s.p, '\0', s.len) || memchr(s.p, ':', s.len))
			return fail(c, "Invalid header field name");
		k->field = (char *)copy(s).p;
		if (!(v = next_arg(c, i, name)))
			return false;
		if (!imap_arg_astring(v, &s))
			return failf(c, "Invalid string for", a->s);
		k->value = copy(s);
		return true;
	case ARG_KEYWORD:
		/* flag-keyword = atom */
		if (!(v = next_arg(c, i, name)))
			return false;
		if (v->type != IMAP_ARG_ATOM ||
		    memchr(v->s.p, '[', v->s.len) ||
		    memchr(v->s.p, '%', v->s.len) ||
		    memchr(v->s.p, '*', v->s.len) ||
		    memchr(v->s.p, ']', v->s.len) ||
		    memchr(v->s.p, '\\', v->s.len))
			return fail(c, "Invalid keyword");
		k->value = copy(v->s);
		return true;
	case ARG_DATE:
		if (!(v = next_arg(c, i, name)))
			return false;
		if ((v->type != IMAP_ARG_ATOM && v->type != IMAP_ARG_QUOTED) ||
		    !date_parse(v->s, &k->date))
			return failf(c, "Invalid date for", a->s);
		return true;
	case ARG_NUMBER: {
		if (!(v = next_arg(c, i, name)))
			return false;
		unsigned long long n;
		if (v->type != IMAP_ARG_ATOM ||
		    !str_to_u64(v->s, NUMBER64_MAX, &n))
			return failf(c, "Invalid number for", a->s);
		k->number = n;
		return true;
	}
	case ARG_SEQSET:
		if (!(v = next_arg(c, i, name)))
			return false;
		if (v->type != IMAP_ARG_ATOM)
			return fail(c, "Invalid sequence set");
		if (!imap_seqset_parse(v->s, &k->set, &reason))
			return fail(c, reason);
		return true;
	}
	return fail(c, "Invalid search key");
}

static bool return_opts(struct ctx *c, const struct imap_arg *list,
			struct imap_search_program *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_SEARCH_RET_MIN },     { "MAX", IMAP_SEARCH_RET_MAX },
		{ "ALL", IMAP_SEARCH_RET_ALL },     { "COUNT", IMAP_SEARCH_RET_COUNT },
		{ "SAVE", IMAP_SEARCH_RET_SAVE },
	};
	if (list->type != IMAP_ARG_LIST)
		return fail(c, "Invalid RETURN options");
	out->esearch = true;
	for (size_t i = 0; i < list->count; i++) {
		size_t o = 0, n = sizeof opts / sizeof opts[0];
		while (o < n && !imap_arg_is_atom(&list->list[i], opts[o].name))
			o++;
		if (o == n)
			return failf(c, "Unknown RETURN option",
				     list->list[i].type == IMAP_ARG_LIST
					     ? str_make("(", 1)
					     : list->list[i].s);
		out->ret |= opts[o].bit;
	}
	/* RFC 4731 section 3.1: RETURN () is RETURN (ALL). */
	if (list->count == 0)
		out->ret = IMAP_SEARCH_RET_ALL;
	return true;
}

bool imap_search_parse(const struct imap_arg *args, size_t count,
		       struct imap_search_program *out,
		       struct imap_search_error *err)
{
	*out = (struct imap_search_program){ 0 };
	*err = (struct imap_search_error){ 0 };
	struct ctx c = { args, count, err };
	size_t i = 0;
	if (i < count && imap_arg_is_atom(&args[i], "RETURN")) {
		if (i + 1 == count || !return_opts(&c, &args[i + 1], out)) {
			if (i + 1 == count)
				fail(&c, "Missing RETURN options");
			goto bad;
		}
		i += 2;
	}
	if (i < count && imap_arg_is_atom(&args[i], "CHARSET")) {
		struct str cs;
		if (i + 1 == count || !imap_arg_astring(&args[i + 1], &cs)) {
			fail(&c, "Missing charset");
			goto bad;
		}
		out->charset = (char *)copy(cs).p;
		i += 2;
		if (!str_eq_nocase(cs, "UTF-8") && !str_eq_nocase(cs, "US-ASCII")) {
			err->badcharset = true;
			failf(&c, "Unsupported charset", cs);
			goto bad;
		}
	}
	if (i == count) {
		fail(&c, "Missing search key");
		goto bad;
	}
	out->root.type = IMAP_SK_AND;
	out->root.child = xcalloc(count - i, sizeof *out->root.child);
	out->root.nchild = count - i; /* see children() */
	size_t used = 0;
	while (i < count)
		if (!key_parse(&c, &i, 1, &out->root.child[used++]))
			goto bad;
	out->root.nchild = used;
	return true;
bad:
	imap_search_free(out);
	return false;
}

unsigned imap_search_needs(const struct imap_search_key *key)
{
	unsigned n = IMAP_SEARCH_NEEDS_INDEX;
	switch (key->type) {
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
	case IMAP_SK_BCC: case IMAP_SK_CC: case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT: case IMAP_SK_TO: case IMAP_SK_HEADER:
		n |= IMAP_SEARCH_NEEDS_HEADERS;
		break;
	case IMAP_SK_BODY:
		n |= IMAP_SEARCH_NEEDS_BODY;
		break;
	case IMAP_SK_TEXT:
		n |= IMAP_SEARCH_NEEDS_HEADERS | IMAP_SEARCH_NEEDS_BODY;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < key->nchild; i++)
		n |= imap_search_needs(&key->child[i]);
	return n;
}
