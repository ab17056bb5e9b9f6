/* Mailbox names between the client and the store. The store speaks
 * UTF-8 with '/' (store_mboxname_*); the client speaks UTF-8 once it has
 * enabled IMAP4rev2 or UTF8=ACCEPT, and modified UTF-7 before (RFC 9051
 * section 5.1, RFC 3501 section 5.1.3, RFC 6855 section 3). */
#include "imap/session.h"

#include <string.h>

#include "core/mutf7.h"
#include "imap/istring.h"
#include "store/store.h"

/* INBOX is case-insensitive (RFC 9051 section 5.1), so is its prefix. */
static bool is_inbox(struct str n)
{
	return n.len == 5 && str_eq_nocase(n, "INBOX");
}

bool imap_mboxname_arg(const struct imap_session *s, const struct imap_arg *a,
		       struct buf *utf8, const char **reason)
{
	struct str name;
	if (!imap_arg_astring(a, &name)) {
		*reason = "Mailbox name expected";
		return false;
	}
	if (memchr(name.p, '\0', name.len)) {
		*reason = "NUL in mailbox name";
		return false;
	}
	if (is_inbox(name)) {
		buf_appends(utf8, "INBOX");
		return true;
	}
	if (s->utf8) {
		if (!mutf7_utf8_valid(name)) {
			*reason = "Mailbox name is not valid UTF-8";
			return false;
		}
		buf_append(utf8, name.p, name.len);
		return true;
	}
	if (mutf7_to_utf8(name, utf8) < 0) {
		*reason = "Mailbox name is not valid modified UTF-7";
		return false;
	}
	return true;
}

void imap_mboxname_write(const struct imap_session *s, struct buf *out,
			 const char *utf8)
{
	struct str n = str_from_cstr(utf8);
	if (s->utf8) {
		istring_write(out, n, true);
		return;
	}
	struct buf m = BUF_INIT;
	if (mutf7_from_utf8(n, &m) < 0) /* the store only holds valid names */
		buf_append(&m, n.p, n.len);
	istring_write(out, buf_str(&m), false);
	buf_free(&m);
}

int imap_mboxname_path(const struct imap_session *s, struct str utf8,
		       struct buf *path, struct buf *canon, char *err,
		       size_t errsz)
{
	if (canon) {
		struct buf dir = BUF_INIT;
		int rc = store_mboxname_to_dir(utf8, &dir, canon, err, errsz);
		buf_free(&dir);
		if (rc < 0)
			return rc;
	}
	return store_mboxname_path(s->maildir, utf8, path, err, errsz);
}

bool imap_mboxname_is_selected(const struct imap_session *s,
			       const char *canon)
{
	return s->state == IMAP_SELECTED && s->sel.name &&
	       strcmp(s->sel.name, canon) == 0;
}
