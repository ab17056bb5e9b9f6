/* IMAP mailbox names <-> Maildir++ folder directories (store.h).
 *
 * "A/B" (UTF-8, '/' separated) is the directory ".A.B" below the user's
 * Maildir, each component in modified UTF-7 (RFC 3501 5.1.3) as Dovecot's
 * default Maildir++ layout has it, so that folders migrated from Dovecot
 * keep their names. INBOX (any case, RFC 9051 5.1) is the Maildir itself;
 * its children are ".INBOX.x", again as in Dovecot.
 *
 * '.' cannot appear in a component: it separates components on disk, so
 * "a.b" and "a/b" would be one directory. Dovecot refuses such names in
 * this layout too; an escape would make the directory names differ from
 * Dovecot's for the same IMAP name, which defeats the migration. */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/mutf7.h"
#include "store/store_int.h"

/* Directory names are file names. */
#define DIRNAME_MAX 255

static bool is_inbox(struct str c)
{
	return str_eq_nocase(c, "INBOX");
}

/* Controls: C0, DEL, and C1 (U+0080..U+009F, UTF-8 "\xc2\x80".."\xc2\x9f"). */
static const char *component_problem(struct str c)
{
	if (c.len == 0)
		return "empty hierarchy level (leading, trailing or doubled '/')";
	if (c.len > STORE_MBOX_COMPONENT_MAX)
		return "a hierarchy level is too long";
	const unsigned char *p = (const unsigned char *)c.p;
	for (size_t i = 0; i < c.len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "control character in name";
		if (p[i] == 0xc2 && i + 1 < c.len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			return "control character in name";
		if (p[i] == '.')
			return "'.' is not allowed in a mailbox name "
			       "(it separates levels on disk)";
	}
	if (!mutf7_utf8_valid(c))
		return "name is not valid UTF-8";
	return NULL;
}

int store_mboxname_to_dir(struct str name, struct buf *dir, struct buf *canon,
			  char *err, size_t errsz)
{
	if (name.len == 0)
		return store_err(err, errsz, STORE_EINVAL, "empty mailbox name");
	if (name.len > STORE_MBOX_NAME_MAX)
		return store_err(err, errsz, STORE_EINVAL,
				 "mailbox name too long");
	struct buf d = BUF_INIT, cn = BUF_INIT;
	size_t start = 0;
	int rc = 0;
	bool first = true;
	for (size_t i = 0; i <= name.len; i++) {
		if (i < name.len && name.p[i] != STORE_MBOX_SEP)
			continue;
		struct str c = str_make(name.p + start, i - start);
		start = i + 1;
		const char *why = component_problem(c);
		if (why) {
			rc = store_err(err, errsz, STORE_EINVAL, "%s", why);
			break;
		}
		if (first && is_inbox(c))
			c = STR_LIT("INBOX");
		if (!first)
			buf_appendc(&cn, STORE_MBOX_SEP);
		buf_append(&cn, c.p, c.len);
		if (first && c.len == 5 && memcmp(c.p, "INBOX", 5) == 0 &&
		    i == name.len) {
			first = false;
			break; /* INBOX itself: the Maildir root */
		}
		buf_appendc(&d, '.');
		if (mutf7_from_utf8(c, &d) < 0) {
			rc = store_err(err, errsz, STORE_EINVAL,
				       "name is not valid UTF-8");
			break;
		}
		first = false;
	}
	if (rc == 0 && d.len > DIRNAME_MAX)
		rc = store_err(err, errsz, STORE_EINVAL,
			       "mailbox name too long for the Maildir++ layout");
	if (rc == 0) {
		buf_append(dir, d.data ? d.data : "", d.len);
		buf_cstr(dir);
		if (canon) {
			buf_append(canon, cn.data, cn.len);
			buf_cstr(canon);
		}
	}
	buf_free(&d);
	buf_free(&cn);
	return rc;
}

int store_mboxname_from_dir(struct str dirname, struct buf *name)
{
	if (dirname.len < 2 || dirname.p[0] != '.' || dirname.len > DIRNAME_MAX)
		return -1;
	struct buf n = BUF_INIT;
	size_t start = 1;
	int rc = 0;
	for (size_t i = 1; i <= dirname.len && rc == 0; i++) {
		if (i < dirname.len && dirname.p[i] != '.')
			continue;
		struct str c = str_make(dirname.p + start, i - start);
		if (start > 1)
			buf_appendc(&n, STORE_MBOX_SEP);
		start = i + 1;
		if (c.len == 0 || mutf7_to_utf8(c, &n) < 0)
			rc = -1;
	}
	/* Only canonical spellings: a directory that the name would not
	 * map back to (".inbox.x", "..x", non-canonical mUTF-7, ".INBOX")
	 * is not a mailbox we can address. */
	if (rc == 0) {
		struct buf back = BUF_INIT;
		char e[128];
		rc = store_mboxname_to_dir(buf_str(&n), &back, NULL, e,
					   sizeof e);
		if (rc == 0 && (back.len != dirname.len ||
				memcmp(back.data, dirname.p, back.len) != 0))
			rc = -1;
		buf_free(&back);
	}
	if (rc == 0) {
		buf_append(name, n.data, n.len);
		buf_cstr(name);
	}
	buf_free(&n);
	return rc < 0 ? -1 : 0;
}

int store_mboxname_path(const char *maildir, struct str name, struct buf *path,
			char *err, size_t errsz)
{
	struct buf d = BUF_INIT;
	int rc = store_mboxname_to_dir(name, &d, NULL, err, errsz);
	if (rc == 0) {
		buf_appends(path, maildir);
		if (d.len) {
			buf_appendc(path, '/');
			buf_append(path, d.data, d.len);
		}
		buf_cstr(path);
	}
	buf_free(&d);
	return rc;
}
