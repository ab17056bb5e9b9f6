/* FETCH items; the contract is in fetch_items.h. A section atom arrives
 * whole from the command parser ("BODY.PEEK[1.HEADER.FIELDS (A "B")]<0.9>",
 * quoted names still escaped) and is taken apart here. */
#include "imap/fetch_items.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define NUMBER64_MAX 0x7fffffffffffffffULL

static const struct {
	const char *name;
	unsigned flag;
} simple_items[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "UID", IMAP_FETCH_UID },
	{ "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
};

/* RFC 9051 section 6.4.5: the macros, only alone and never in a list. */
#define FETCH_FAST (IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | \
		    IMAP_FETCH_RFC822_SIZE)
#define FETCH_ALL (FETCH_FAST | IMAP_FETCH_ENVELOPE)
#define FETCH_FULL (FETCH_ALL | IMAP_FETCH_BODY)

static void section_free(struct imap_fetch_section *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		free(s->fields[i]);
	free(s->fields);
	free(s->echo);
}

void imap_fetch_items_free(struct imap_fetch_items *items)
{
	for (size_t i = 0; i < items->nsections; i++)
		section_free(&items->sections[i]);
	free(items->sections);
	*items = (struct imap_fetch_items){ 0 };
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Decimal at s[*i] up to max; leading zeros refused when nz. */
static bool number(struct str s, size_t *i, uint64_t max, bool nz,
		   uint64_t *out)
{
	size_t k = *i;
	uint64_t v = 0;
	if (k == s.len || !digit(s.p[k]) || (nz && s.p[k] == '0'))
		return false;
	for (; k < s.len && digit(s.p[k]); k++) {
		uint64_t d = (uint64_t)(s.p[k] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*i = k;
	*out = v;
	return true;
}

static bool field_char(unsigned char c)
{
	/* RFC 5322 section 3.6.8: ftext is %d33-57 / %d59-126. */
	return c >= 33 && c <= 126 && c != ':';
}

/* A header name at s[*i]: atom or quoted string (RFC 9051
 * header-fld-name = astring), appended upper-cased to a new string. */
static char *field_name(struct str s, size_t *i, const char **reason)
{
	struct buf b = BUF_INIT;
	size_t k = *i;
	if (k < s.len && s.p[k] == '"') {
		for (k++; k < s.len && s.p[k] != '"'; k++) {
			if (s.p[k] == '\\' && k + 1 < s.len)
				k++;
			buf_appendc(&b, s.p[k]);
		}
		if (k == s.len)
			goto bad;
		k++;
	} else {
		for (; k < s.len && s.p[k] != ' ' && s.p[k] != ')'; k++)
			buf_appendc(&b, s.p[k]);
	}
	if (b.len == 0)
		goto bad;
	for (size_t j = 0; j < b.len; j++) {
		if (!field_char((unsigned char)b.data[j]))
			goto bad;
		if (b.data[j] >= 'a' && b.data[j] <= 'z')
			b.data[j] = (char)(b.data[j] - 32);
	}
	*i = k;
	return (char *)buf_cstr(&b);
bad:
	buf_free(&b);
	*reason = "Invalid header field name";
	return NULL;
}

/* "(" name *(SP name) ")" ending s. */
static bool field_list(struct str s, size_t i, struct imap_fetch_section *sec,
		       const char **reason)
{
	if (i + 1 >= s.len || s.p[i] != ' ' || s.p[i + 1] != '(') {
		*reason = "Missing header field list";
		return false;
	}
	i += 2;
	for (;;) {
		if (sec->nfields == IMAP_SECTION_FIELDS_MAX) {
			*reason = "Too many header fields";
			return false;
		}
		char *f = field_name(s, &i, reason);
		if (!f)
			return false;
		sec->fields = xrealloc(sec->fields, (sec->nfields + 1) *
							    sizeof *sec->fields);
		sec->fields[sec->nfields++] = f;
		if (i < s.len && s.p[i] == ')' && i + 1 == s.len)
			return true;
		if (i + 1 >= s.len || s.p[i] != ' ' || s.p[i + 1] == ' ' ||
		    s.p[i + 1] == ')') {
			*reason = "Invalid header field list";
			return false;
		}
		i++;
	}
}

/* The text between '[' and ']'. */
static bool section_spec(struct str s, struct imap_fetch_section *sec,
			 const char **reason)
{
	size_t i = 0;
	while (i < s.len && digit(s.p[i])) {
		uint64_t v;
		if (s.p[i] == '0') {
			*reason = "Invalid part number 0";
			return false;
		}
		if (!number(s, &i, UINT32_MAX, true, &v)) {
			*reason = "Invalid part number";
			return false;
		}
		if (sec->nparts == IMAP_SECTION_PARTS_MAX) {
			*reason = "Part number too deep";
			return false;
		}
		sec->part[sec->nparts++] = (uint32_t)v;
		if (i == s.len)
			return true;
		if (s.p[i] != '.' || i + 1 == s.len) {
			*reason = "Invalid section";
			return false;
		}
		i++;
	}
	if (i == s.len)
		return true; /* [] */
	if (sec->kind != IMAP_SECTION_BODY) {
		*reason = "Invalid BINARY section";
		return false;
	}
	struct str t = str_make(s.p + i, s.len - i);
	size_t sp = 0;
	while (sp < t.len && t.p[sp] != ' ')
		sp++;
	struct str word = str_make(t.p, sp);
	if (str_eq_nocase(t, "HEADER")) {
		sec->text = IMAP_SECTION_TEXT_HEADER;
	} else if (str_eq_nocase(t, "TEXT")) {
		sec->text = IMAP_SECTION_TEXT_TEXT;
	} else if (str_eq_nocase(t, "MIME")) {
		if (sec->nparts == 0) {
			*reason = "MIME needs a part number";
			return false;
		}
		sec->text = IMAP_SECTION_TEXT_MIME;
	} else if (str_eq_nocase(word, "HEADER.FIELDS") ||
		   str_eq_nocase(word, "HEADER.FIELDS.NOT")) {
		sec->text = word.len == 13 ? IMAP_SECTION_TEXT_FIELDS
					   : IMAP_SECTION_TEXT_FIELDS_NOT;
		return field_list(t, sp, sec, reason);
	} else {
		*reason = "Invalid section";
		return false;
	}
	return true;
}

static bool atom_safe(const char *f)
{
	for (; *f; f++)
		if (strchr("(){%*\"\\]", *f))
			return false;
	return true;
}

/* RFC 9051 section 7.5.2: BODY[<section>]<<origin octet>>; PEEK is not
 * echoed; header names are echoed upper-cased, as atoms when they can
 * be. */
static void section_echo(struct imap_fetch_section *sec)
{
	static const char *const kinds[] = { "BODY", "BINARY", "BINARY.SIZE" };
	static const char *const texts[] = { "", "HEADER", "HEADER.FIELDS",
					     "HEADER.FIELDS.NOT", "MIME",
					     "TEXT" };
	struct buf b = BUF_INIT;
	buf_appends(&b, kinds[sec->kind]);
	buf_appendc(&b, '[');
	for (size_t i = 0; i < sec->nparts; i++)
		buf_printf(&b, "%s%u", i ? "." : "", sec->part[i]);
	if (sec->text != IMAP_SECTION_TEXT_NONE) {
		if (sec->nparts)
			buf_appendc(&b, '.');
		buf_appends(&b, texts[sec->text]);
	}
	if (sec->nfields) {
		buf_appends(&b, " (");
		for (size_t i = 0; i < sec->nfields; i++) {
			const char *f = sec->fields[i];
			if (i)
				buf_appendc(&b, ' ');
			if (atom_safe(f)) {
				buf_appends(&b, f);
				continue;
			}
			buf_appendc(&b, '"');
			for (; *f; f++) {
				if (*f == '"' || *f == '\\')
					buf_appendc(&b, '\\');
				buf_appendc(&b, *f);
			}
			buf_appendc(&b, '"');
		}
		buf_appendc(&b, ')');
	}
	buf_appendc(&b, ']');
	if (sec->partial)
		buf_printf(&b, "<%llu>", (unsigned long long)sec->origin);
	sec->echo = (char *)buf_cstr(&b);
}

/* The end of the section text: the ']' outside quoted names. */
static size_t section_close(struct str s, size_t i)
{
	for (; i < s.len && s.p[i] != ']'; i++) {
		if (s.p[i] != '"')
			continue;
		for (i++; i < s.len && s.p[i] != '"'; i++)
			if (s.p[i] == '\\')
				i++;
		if (i >= s.len)
			return s.len;
	}
	return i;
}

static bool section_item(struct str s, size_t open,
			 struct imap_fetch_section *sec, const char **reason)
{
	struct str name = str_make(s.p, open);
	if (str_eq_nocase(name, "BODY")) {
		sec->kind = IMAP_SECTION_BODY;
	} else if (str_eq_nocase(name, "BODY.PEEK")) {
		sec->kind = IMAP_SECTION_BODY;
		sec->peek = true;
	} else if (str_eq_nocase(name, "BINARY")) {
		sec->kind = IMAP_SECTION_BINARY;
	} else if (str_eq_nocase(name, "BINARY.PEEK")) {
		sec->kind = IMAP_SECTION_BINARY;
		sec->peek = true;
	} else if (str_eq_nocase(name, "BINARY.SIZE")) {
		sec->kind = IMAP_SECTION_BINARY_SIZE;
		sec->peek = true;
	} else {
		*reason = "Unknown FETCH item";
		return false;
	}
	size_t close = section_close(s, open + 1);
	if (close == s.len) {
		*reason = "Missing ] in section";
		return false;
	}
	if (!section_spec(str_make(s.p + open + 1, close - open - 1), sec,
			  reason))
		return false;
	size_t i = close + 1;
	if (i < s.len) {
		/* RFC 9051 section 9, partial: "<" number64 "." nz-number64 ">" */
		if (sec->kind == IMAP_SECTION_BINARY_SIZE || s.p[i] != '<') {
			*reason = "Invalid text after section";
			return false;
		}
		i++;
		if (!number(s, &i, NUMBER64_MAX, false, &sec->origin) ||
		    i == s.len || s.p[i] != '.') {
			*reason = "Invalid partial";
			return false;
		}
		i++;
		if (!number(s, &i, NUMBER64_MAX, true, &sec->count) ||
		    i + 1 != s.len || s.p[i] != '>') {
			*reason = "Invalid partial";
			return false;
		}
		sec->partial = true;
	}
	section_echo(sec);
	return true;
}

static bool item(struct str s, struct imap_fetch_items *out,
		 const char **reason)
{
	const char *open = memchr(s.p, '[', s.len);
	if (!open) {
		for (size_t i = 0; i < sizeof simple_items / sizeof simple_items[0];
		     i++) {
			if (str_eq_nocase(s, simple_items[i].name)) {
				out->flags |= simple_items[i].flag;
				if (simple_items[i].flag & (IMAP_FETCH_RFC822 |
							    IMAP_FETCH_RFC822_TEXT))
					out->sets_seen = true;
				return true;
			}
		}
		*reason = "Unknown FETCH item";
		return false;
	}
	struct imap_fetch_section sec = { 0 };
	if (!section_item(s, (size_t)(open - s.p), &sec, reason)) {
		section_free(&sec);
		return false;
	}
	if (!sec.peek)
		out->sets_seen = true;
	out->sections = xrealloc(out->sections, (out->nsections + 1) *
							 sizeof *out->sections);
	out->sections[out->nsections++] = sec;
	return true;
}

bool imap_fetch_items_parse(const struct imap_arg *arg,
			    struct imap_fetch_items *out, const char **reason)
{
	*out = (struct imap_fetch_items){ 0 };
	if (arg->type == IMAP_ARG_ATOM) {
		if (str_eq_nocase(arg->s, "ALL"))
			out->flags = FETCH_ALL;
		else if (str_eq_nocase(arg->s, "FAST"))
			out->flags = FETCH_FAST;
		else if (str_eq_nocase(arg->s, "FULL"))
			out->flags = FETCH_FULL;
		else if (!item(arg->s, out, reason))
			goto bad;
		return true;
	}
	if (arg->type != IMAP_ARG_LIST) {
		*reason = "Invalid FETCH item";
		return false;
	}
	if (arg->count == 0) {
		*reason = "Empty FETCH item list";
		return false;
	}
	for (size_t i = 0; i < arg->count; i++) {
		if (arg->list[i].type != IMAP_ARG_ATOM) {
			*reason = "Invalid FETCH item";
			goto bad;
		}
		if (!item(arg->list[i].s, out, reason))
			goto bad;
	}
	return true;
bad:
	imap_fetch_items_free(out);
	return false;
}
