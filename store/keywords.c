/* IMAP keywords in Maildir names, as Dovecot stores them: the letters
 * a-z after ":2," stand for keywords 0-25, whose names are listed in the
 * mailbox's dovecot-keywords file ("<n> <name>" per line). The file is
 * only replaced whole (rename), under the index lock, and a name is
 * added to it durably before any file name uses its letter, so the
 * mapping survives the loss of postern's index and a migration to or
 * from Dovecot keeps keywords. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

static void kw_clear(struct store_keywords *kw)
{
	for (size_t i = 0; i < kw->n; i++)
		free(kw->name[i]);
	memset(kw, 0, sizeof *kw);
}

/* A keyword name we keep: an IMAP atom without '\' (RFC 9051 flag-keyword),
 * no spaces or controls. */
static bool kw_name_ok(struct str s)
{
	if (s.len == 0 || s.len > 128)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

int keywords_load(struct mailbox *mb, char *err, size_t errsz)
{
	char *file = xasprintf("%s/" STORE_KEYWORDS_NAME, mb->path);
	struct stat st;
	if (stat(file, &st) < 0) {
		free(file);
		kw_clear(&mb->kw);
		return 0;
	}
	if (st.st_ino == mb->kw.ino && st.st_mtim.tv_sec == mb->kw.file.sec &&
	    st.st_mtim.tv_nsec == mb->kw.file.nsec) {
		free(file);
		return 0;
	}
	char *data;
	size_t len;
	int rc = store_read_file(file, &data, &len, err, errsz);
	free(file);
	if (rc == STORE_ENOENT) {
		kw_clear(&mb->kw);
		return 0;
	}
	if (rc < 0)
		return rc;
	kw_clear(&mb->kw);
	/* Lines "<index> <name>"; a line that does not parse is skipped,
	 * as Dovecot does, so one bad line does not lose the others. */
	struct str rest = str_make(data, len);
	while (rest.len > 0) {
		const char *nl = memchr(rest.p, '\n', rest.len);
		size_t ll = nl ? (size_t)(nl - rest.p) : rest.len;
		struct str line = str_make(rest.p, ll), num, name;
		rest = nl ? str_make(nl + 1, rest.len - ll - 1) : str_make(NULL, 0);
		unsigned long long idx;
		if (!str_next_token(line, &num, &name) ||
		    !str_to_u64(num, STORE_KEYWORDS_MAX - 1, &idx) ||
		    !kw_name_ok(name) || mb->kw.name[idx])
			continue;
		char *nm = xmalloc(name.len + 1);
		memcpy(nm, name.p, name.len);
		nm[name.len] = '\0';
		mb->kw.name[idx] = nm;
		if (idx + 1 > mb->kw.n)
			mb->kw.n = (size_t)idx + 1;
	}
	free(data);
	mb->kw.ino = st.st_ino;
	mb->kw.file = (struct store_stamp){ (int64_t)st.st_mtim.tv_sec,
					    (int64_t)st.st_mtim.tv_nsec };
	return 0;
}

static int kw_write(struct mailbox *mb, char *err, size_t errsz)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < mb->kw.n; i++)
		if (mb->kw.name[i])
			buf_printf(&b, "%zu %s\n", i, mb->kw.name[i]);
	int rc = store_write_atomic(mb->path, STORE_KEYWORDS_NAME,
				    b.data ? b.data : "", b.len, err, errsz);
	buf_free(&b);
	if (rc == 0) {
		char *file = xasprintf("%s/" STORE_KEYWORDS_NAME, mb->path);
		struct stat st;
		if (stat(file, &st) == 0) {
			mb->kw.ino = st.st_ino;
			mb->kw.file = (struct store_stamp){
				(int64_t)st.st_mtim.tv_sec,
				(int64_t)st.st_mtim.tv_nsec };
		}
		free(file);
	}
	return rc;
}

int keywords_bits(struct mailbox *mb, const struct str *names, size_t n,
		  bool create, uint32_t *bits, char *err, size_t errsz)
{
	uint32_t out = 0;
	bool added = false;
	for (size_t k = 0; k < n; k++) {
		if (!kw_name_ok(names[k]))
			return store_err(err, errsz, STORE_EINVAL,
					 "invalid keyword");
		size_t i, free_slot = STORE_KEYWORDS_MAX;
		for (i = 0; i < mb->kw.n; i++) {
			if (!mb->kw.name[i]) {
				if (free_slot == STORE_KEYWORDS_MAX)
					free_slot = i;
				continue;
			}
			/* Keywords are case-insensitive (RFC 9051 2.3.2). */
			if (str_eq_nocase(names[k], mb->kw.name[i]))
				break;
		}
		if (i < mb->kw.n) {
			out |= 1u << i;
			continue;
		}
		if (!create)
			continue; /* matches no message */
		if (free_slot == STORE_KEYWORDS_MAX) {
			if (mb->kw.n == STORE_KEYWORDS_MAX)
				return store_err(err, errsz, STORE_EPERM,
						 "too many keywords in this "
						 "mailbox (at most %d)",
						 STORE_KEYWORDS_MAX);
			free_slot = mb->kw.n++;
		}
		char *nm = xmalloc(names[k].len + 1);
		memcpy(nm, names[k].p, names[k].len);
		nm[names[k].len] = '\0';
		mb->kw.name[free_slot] = nm;
		out |= 1u << free_slot;
		added = true;
	}
	if (added) {
		int rc = kw_write(mb, err, errsz);
		if (rc < 0) {
			/* Forget the names: the next load reads the file. */
			mb->kw.ino = 0;
			return rc;
		}
	}
	*bits = out;
	return 0;
}

uint32_t keywords_of_info(const char *info)
{
	uint32_t kw = 0;
	for (const char *p = info; p && *p && *p != ','; p++)
		if (*p >= 'a' && *p <= 'z')
			kw |= 1u << (*p - 'a');
	return kw;
}

void flags_info(uint32_t flags, uint32_t keywords, const char *old_info,
		struct buf *out)
{
	/* Maildir wants the letters in ASCII order; keep letters that are
	 * not ours (P = passed) and Dovecot's ",..." extension as they
	 * were. */
	static const struct {
		char c;
		uint32_t f;
	} sys[] = { { 'D', STORE_F_DRAFT },    { 'F', STORE_F_FLAGGED },
		    { 'R', STORE_F_ANSWERED }, { 'S', STORE_F_SEEN },
		    { 'T', STORE_F_DELETED } };
	bool keep[128] = { false };
	const char *ext = NULL;
	for (const char *p = old_info; p && *p; p++) {
		if (*p == ',') {
			ext = p;
			break;
		}
		if (*p >= 'A' && *p <= 'Z' && !strchr("DFRST", *p))
			keep[(unsigned char)*p] = true;
	}
	for (int c = 'A'; c <= 'Z'; c++) {
		bool on = keep[c];
		for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
			if (sys[i].c == c && (flags & sys[i].f))
				on = true;
		if (on)
			buf_appendc(out, (char)c);
	}
	for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (keywords & (1u << i))
			buf_appendc(out, (char)('a' + i));
	if (ext)
		buf_appends(out, ext);
}

char *mname_with_info(const char *name, uint32_t flags, uint32_t keywords)
{
	struct mname mn;
	mname_parse(name, &mn);
	struct buf b = BUF_INIT;
	buf_append(&b, name, mn.base_len);
	buf_appends(&b, ":2,");
	flags_info(flags, keywords, mn.info, &b);
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}
