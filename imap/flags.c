/* IMAP flag lists: see flags.h. */
#include "imap/flags.h"

#include <stdlib.h>

#include "core/xmalloc.h"

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
	{ "\\Seen", STORE_F_SEEN },       { "\\Answered", STORE_F_ANSWERED },
	{ "\\Flagged", STORE_F_FLAGGED }, { "\\Deleted", STORE_F_DELETED },
	{ "\\Draft", STORE_F_DRAFT },
};
#define N_SYSTEM_FLAGS (sizeof system_flags / sizeof system_flags[0])

const char *imap_flag_name(uint32_t bit)
{
	for (size_t i = 0; i < N_SYSTEM_FLAGS; i++)
		if (system_flags[i].bit == bit)
			return system_flags[i].name;
	return NULL;
}

/* RFC 9051 section 9: atom = 1*ATOM-CHAR; ATOM-CHAR excludes
 * atom-specials "(" ")" "{" SP CTL list-wildcards quoted-specials
 * resp-specials, and 8-bit bytes are no CHAR at all. A keyword is an
 * atom (flag-keyword), so '\' may only lead a system flag. */
static bool keyword_valid(struct str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
		switch (c) {
		case '(': case ')': case '{': case '%': case '*':
		case '"': case '\\': case ']':
			return false;
		default:
			break;
		}
	}
	return true;
}

static bool add_one(const struct imap_arg *a, struct imap_flag_list *out,
		    size_t cap, const char **reason)
{
	if (a->type != IMAP_ARG_ATOM) {
		*reason = "Flags must be atoms";
		return false;
	}
	struct str s = a->s;
	if (s.len > 0 && s.p[0] == '\\') {
		for (size_t i = 0; i < N_SYSTEM_FLAGS; i++) {
			if (str_eq_nocase(s, system_flags[i].name)) {
				out->flags |= system_flags[i].bit;
				return true;
			}
		}
		/* RFC 9051 removed \Recent: a client may not set it, and
		 * flag-extension names we do not know are not flags. */
		*reason = str_eq_nocase(s, "\\Recent")
				  ? "\\Recent cannot be set"
				  : "Unknown system flag";
		return false;
	}
	if (!keyword_valid(s)) {
		*reason = "Invalid keyword";
		return false;
	}
	for (size_t i = 0; i < out->n_keywords; i++)
		if (str_cmp_nocase(out->keywords[i], s) == 0)
			return true;
	if (out->n_keywords == cap)
		abort(); /* cap is the number of arguments */
	out->keywords[out->n_keywords++] = s;
	return true;
}

bool imap_flag_list_parse(const struct imap_arg *args, size_t n,
			  struct imap_flag_list *out, const char **reason)
{
	*out = (struct imap_flag_list){ 0 };
	const struct imap_arg *items = args;
	size_t count = n;
	if (n == 1 && args[0].type == IMAP_ARG_LIST) {
		items = args[0].list;
		count = args[0].count;
	}
	if (n == 0) {
		*reason = "Missing flags";
		return false;
	}
	if (count)
		out->keywords = xcalloc(count, sizeof *out->keywords);
	for (size_t i = 0; i < count; i++) {
		if (!add_one(&items[i], out, count, reason)) {
			imap_flag_list_free(out);
			return false;
		}
	}
	return true;
}

void imap_flag_list_free(struct imap_flag_list *fl)
{
	free(fl->keywords);
	*fl = (struct imap_flag_list){ 0 };
}

void imap_flags_write(struct buf *out, const struct mailbox *mb,
		      uint32_t flags, uint64_t keywords)
{
	bool first = true;
	buf_appendc(out, '(');
	for (size_t i = 0; i < N_SYSTEM_FLAGS; i++) {
		if (!(flags & system_flags[i].bit))
			continue;
		if (!first)
			buf_appendc(out, ' ');
		buf_appends(out, system_flags[i].name);
		first = false;
	}
	if (flags & IMAP_FLAG_RECENT) {
		if (!first)
			buf_appendc(out, ' ');
		buf_appends(out, "\\Recent");
		first = false;
	}
	for (size_t i = 0; mb && i < 64 && keywords >> i; i++) {
		if (!((keywords >> i) & 1))
			continue;
		const char *kw = store_mailbox_keyword(mb, i);
		if (!kw)
			continue;
		if (!first)
			buf_appendc(out, ' ');
		buf_appends(out, kw);
		first = false;
	}
	buf_appendc(out, ')');
}

void imap_flags_write_mailbox(struct buf *out, const struct mailbox *mb,
			      bool permanent)
{
	buf_appendc(out, '(');
	for (size_t i = 0; i < N_SYSTEM_FLAGS; i++) {
		if (i)
			buf_appendc(out, ' ');
		buf_appends(out, system_flags[i].name);
	}
	size_t n = store_mailbox_keyword_count(mb);
	for (size_t i = 0; i < n; i++) {
		const char *kw = store_mailbox_keyword(mb, i);
		if (kw) {
			buf_appendc(out, ' ');
			buf_appends(out, kw);
		}
	}
	/* RFC 9051 section 7.1: \* means new keywords may be created,
	 * which stops being true once the store's letters run out. */
	if (permanent && n < STORE_KEYWORDS_MAX)
		buf_appends(out, " \\*");
	buf_appendc(out, ')');
}

bool imap_uid_ranges_has(const struct imap_uid_range *r, size_t n,
			 uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uid < r[mid].lo)
			hi = mid;
		else if (uid >= r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
