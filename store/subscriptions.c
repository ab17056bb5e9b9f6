/* IMAP subscriptions (store.h: store_mbox_subscribe) and the sorted
 * name sets the folder code shares.
 *
 * Subscriptions live in "<maildir>/subscriptions" in Dovecot 2.3's
 * format: a "V\t2\n\n" header, then one name per line with the
 * hierarchy levels separated by TAB (UTF-8). The older one-name-a-line
 * form (modified UTF-7, '.' between levels, as Dovecot's Maildir++
 * namespace wrote it) is read too. The file is replaced whole (rename)
 * under the root's index lock. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

/* ---- a sorted set of names ---- */

static int cmp_name(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	/* INBOX first, then octet order. */
	bool xi = strcmp(x, "INBOX") == 0, yi = strcmp(y, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x, y);
}

void names_add(struct names *ns, const char *s, size_t len)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? 2 * ns->cap : 16;
		ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
	}
	char *c = xmalloc(len + 1);
	memcpy(c, s, len);
	c[len] = '\0';
	ns->v[ns->n++] = c;
}

void names_sort_uniq(struct names *ns)
{
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof *ns->v, cmp_name);
	size_t k = 0;
	for (size_t i = 0; i < ns->n; i++) {
		if (k > 0 && strcmp(ns->v[k - 1], ns->v[i]) == 0) {
			free(ns->v[i]);
			continue;
		}
		ns->v[k++] = ns->v[i];
	}
	ns->n = k;
}

bool names_has(const struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return true;
	return false;
}

void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}

/* ---- subscriptions ---- */

int subs_read(const char *maildir, struct names *ns)
{
	char *file = xasprintf("%s/" STORE_SUBSCRIPTIONS_NAME, maildir);
	char *data;
	size_t len;
	char e[256];
	int rc = store_read_file(file, &data, &len, e, sizeof e);
	free(file);
	if (rc < 0)
		return rc == STORE_ENOENT ? 0 : rc;
	struct str rest = str_make(data, len);
	bool v2 = len >= 4 && memcmp(data, "V\t2\n", 4) == 0;
	bool first = true;
	while (rest.len > 0) {
		const char *nl = memchr(rest.p, '\n', rest.len);
		size_t ll = nl ? (size_t)(nl - rest.p) : rest.len;
		struct str line = str_make(rest.p, ll);
		rest = nl ? str_make(nl + 1, rest.len - ll - 1) : str_make(NULL, 0);
		if (first && v2) {
			first = false;
			continue;
		}
		first = false;
		if (line.len == 0)
			continue;
		struct buf n = BUF_INIT;
		if (v2) {
			for (size_t i = 0; i < line.len; i++)
				buf_appendc(&n, line.p[i] == '\t' ? STORE_MBOX_SEP
								  : line.p[i]);
		} else {
			/* Old form: ".A.B"'s name as Dovecot's namespace
			 * showed it, "A.B" in modified UTF-7. */
			struct buf d = BUF_INIT;
			buf_appendc(&d, '.');
			buf_append(&d, line.p, line.len);
			if (str_eq_nocase(line, "INBOX"))
				buf_appends(&n, "INBOX");
			else if (store_mboxname_from_dir(buf_str(&d), &n) < 0)
				n.len = 0;
			buf_free(&d);
		}
		struct buf dir = BUF_INIT, canon = BUF_INIT;
		if (n.len && store_mboxname_to_dir(buf_str(&n), &dir, &canon, e,
						   sizeof e) == 0)
			names_add(ns, canon.data, canon.len);
		buf_free(&dir);
		buf_free(&canon);
		buf_free(&n);
	}
	free(data);
	names_sort_uniq(ns);
	return 0;
}

int subs_write(const char *maildir, const struct names *ns, char *err,
		      size_t errsz)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "V\t2\n\n");
	for (size_t i = 0; i < ns->n; i++) {
		for (const char *p = ns->v[i]; *p; p++)
			buf_appendc(&b, *p == STORE_MBOX_SEP ? '\t' : *p);
		buf_appendc(&b, '\n');
	}
	int rc = store_write_atomic(maildir, STORE_SUBSCRIPTIONS_NAME, b.data,
				    b.len, err, errsz);
	buf_free(&b);
	return rc;
}

int subs_rename(const char *maildir, const char *from, const char *to,
		       char *err, size_t errsz)
{
	struct names subs = { 0 }, next = { 0 };
	int rc = subs_read(maildir, &subs);
	if (rc < 0)
		return store_err(err, errsz, rc, "cannot read subscriptions");
	size_t fl = strlen(from);
	bool changed = false;
	for (size_t i = 0; i < subs.n; i++) {
		const char *s = subs.v[i];
		if (strncmp(s, from, fl) == 0 &&
		    (s[fl] == '\0' || s[fl] == STORE_MBOX_SEP)) {
			char *t = xasprintf("%s%s", to, s + fl);
			names_add(&next, t, strlen(t));
			free(t);
			changed = true;
		} else {
			names_add(&next, s, strlen(s));
		}
	}
	names_sort_uniq(&next);
	if (changed)
		rc = subs_write(maildir, &next, err, errsz);
	names_free(&subs);
	names_free(&next);
	return rc;
}

int subs_set_locked(const char *maildir, const char *canon, bool on,
			    char *err, size_t errsz)
{
	struct names subs = { 0 };
	int rc = subs_read(maildir, &subs);
	if (rc < 0)
		return store_err(err, errsz, rc, "cannot read subscriptions");
	bool has = names_has(&subs, canon);
	if (on && !has) {
		names_add(&subs, canon, strlen(canon));
		names_sort_uniq(&subs);
	} else if (!on && has) {
		size_t k = 0;
		for (size_t i = 0; i < subs.n; i++) {
			if (strcmp(subs.v[i], canon) == 0)
				free(subs.v[i]);
			else
				subs.v[k++] = subs.v[i];
		}
		subs.n = k;
	}
	if (on != has)
		rc = subs_write(maildir, &subs, err, errsz);
	names_free(&subs);
	return rc;
}

int store_mbox_subscribe(const char *maildir, struct str name, bool on,
			 char *err, size_t errsz)
{
	struct buf dir = BUF_INIT, canon = BUF_INIT;
	int rc = store_mboxname_to_dir(name, &dir, &canon, err, errsz);
	if (rc == 0) {
		int lockfd = store_index_lock(maildir, err, errsz);
		if (lockfd < 0) {
			rc = lockfd;
		} else {
			rc = subs_set_locked(maildir, canon.data, on, err,
					      errsz);
			close(lockfd);
		}
	}
	buf_free(&dir);
	buf_free(&canon);
	return rc;
}

