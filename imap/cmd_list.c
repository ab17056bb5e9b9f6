/* LIST and LSUB (RFC 9051 section 6.3.9, RFC 3501 section 6.3.9 for
 * LSUB), with LIST-EXTENDED (RFC 5258: selection options SUBSCRIBED,
 * REMOTE, RECURSIVEMATCH; return options SUBSCRIBED, CHILDREN),
 * SPECIAL-USE (RFC 6154, as selection and return option) and
 * LIST-STATUS (RFC 5819). One job on the pool lists the folders
 * (store_mbox_list), picks the entries and reads their STATUS; the
 * reply is written back on the loop. */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/list_match.h"
#include "imap/mutf7.h"
#include "net/conn.h"
#include "store/store.h"

#define SEL_SUBSCRIBED 0x1u
#define SEL_RECURSIVE  0x2u
#define SEL_SPECIAL    0x4u
#define RET_SUBSCRIBED 0x1u
#define RET_STATUS     0x2u

#define SPECIAL_MASK                                                         \
	(STORE_MBOX_SENT | STORE_MBOX_DRAFTS | STORE_MBOX_TRASH |            \
	 STORE_MBOX_JUNK | STORE_MBOX_ARCHIVE)

/* More patterns than this in one LIST is not a client, it is a CPU
 * budget attack (each is matched against every mailbox). */
#define LIST_PATTERNS_MAX 64

/* What to do with a store entry. */
enum show {
	SHOW_NO,
	SHOW_YES,
	SHOW_YES_CHILDINFO, /* RECURSIVEMATCH: it and a child qualify */
	SHOW_CHILDINFO,  /* RECURSIVEMATCH: only its children qualify */
	SHOW_LSUB_PARENT /* LSUB "%": a parent of subscribed names */
};

struct list_job {
	struct imap_session *s;
	bool lsub, extended;
	unsigned sel, ret;
	unsigned order[IMAP_STATUS_ITEMS_MAX];
	size_t n_order;
	struct buf *patterns;
	size_t n_patterns;
	bool lsub_parents;  /* LSUB pattern ending in '%' (RFC 3501 6.3.9) */
	char *maildir;
	struct store_mbox_list list;
	unsigned char *show;
	struct store_status *st;
	int *st_rc;
	int rc;
	char err[256];
};

static void list_job_free(struct list_job *j)
{
	for (size_t i = 0; i < j->n_patterns; i++)
		buf_free(&j->patterns[i]);
	free(j->patterns);
	free(j->maildir);
	store_mbox_list_free(&j->list);
	free(j->show);
	free(j->st);
	free(j->st_rc);
	free(j);
}

static bool matches(const struct list_job *j, const char *name)
{
	struct str n = str_from_cstr(name);
	for (size_t i = 0; i < j->n_patterns; i++)
		if (imap_list_match(buf_str(&j->patterns[i]), n))
			return true;
	return false;
}

/* The selection criteria of RFC 5258 section 3.1, without the pattern. */
static bool selected(const struct list_job *j, uint32_t a)
{
	if (j->sel & SEL_SUBSCRIBED) {
		if (!(a & STORE_MBOX_SUBSCRIBED))
			return false;
	} else if ((a & STORE_MBOX_NONEXISTENT) &&
		   !(a & STORE_MBOX_HASCHILDREN)) {
		/* Only subscribed: not a name plain LIST knows. */
		return false;
	}
	if ((j->sel & SEL_SPECIAL) && !(a & SPECIAL_MASK))
		return false;
	return true;
}

static bool child_selected(const struct list_job *j, size_t i)
{
	const char *name = j->list.v[i].name;
	size_t len = strlen(name);
	for (size_t k = 0; k < j->list.n; k++) {
		const char *c = j->list.v[k].name;
		if (strncmp(c, name, len) == 0 && c[len] == STORE_MBOX_SEP &&
		    selected(j, j->list.v[k].attrs))
			return true;
	}
	return false;
}

static void list_work(void *arg)
{
	struct list_job *j = arg;
	j->rc = store_mbox_list(j->maildir, &j->list, j->err, sizeof j->err);
	if (j->rc < 0)
		return;
	size_t n = j->list.n;
	j->show = xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++) {
		const struct store_mbox *e = &j->list.v[i];
		if (!matches(j, e->name))
			continue;
		if (selected(j, e->attrs))
			j->show[i] = (j->sel & SEL_RECURSIVE) &&
						     child_selected(j, i)
					     ? SHOW_YES_CHILDINFO
					     : SHOW_YES;
		else if ((j->sel & SEL_RECURSIVE) && child_selected(j, i))
			j->show[i] = SHOW_CHILDINFO;
		else if (j->lsub_parents && child_selected(j, i))
			j->show[i] = SHOW_LSUB_PARENT;
	}
	if (!(j->ret & RET_STATUS))
		return;
	/* RFC 5819 section 2: STATUS for each selectable mailbox listed;
	 * one that fails is left out silently. */
	j->st = xcalloc(n ? n : 1, sizeof *j->st);
	j->st_rc = xcalloc(n ? n : 1, sizeof *j->st_rc);
	for (size_t i = 0; i < n; i++) {
		j->st_rc[i] = STORE_ENOENT;
		if (!j->show[i] || (j->list.v[i].attrs & STORE_MBOX_NONEXISTENT))
			continue;
		struct buf path = BUF_INIT;
		char err[256];
		j->st_rc[i] = store_mboxname_path(
			j->maildir, str_from_cstr(j->list.v[i].name), &path, err,
			sizeof err);
		if (j->st_rc[i] == 0)
			j->st_rc[i] = store_mailbox_status(buf_cstr(&path),
							   &j->st[i], err,
							   sizeof err);
		buf_free(&path);
	}
}

static void attr(struct buf *b, bool *first, const char *a)
{
	if (!*first)
		buf_appendc(b, ' ');
	*first = false;
	buf_appends(b, a);
}

static void write_entry(const struct list_job *j, struct buf *b, size_t i)
{
	const struct imap_session *s = j->s;
	const struct store_mbox *e = &j->list.v[i];
	uint32_t a = e->attrs;
	bool first = true;
	buf_appends(b, j->lsub ? "* LSUB (" : "* LIST (");
	if (j->show[i] == SHOW_LSUB_PARENT) {
		attr(b, &first, "\\Noselect");
	} else {
		/* \NonExistent is RFC 5258's and RFC 9051's; a rev1 client
		 * using plain LIST or LSUB knows \Noselect, which it implies. */
		if (a & STORE_MBOX_NONEXISTENT)
			attr(b, &first,
			     (j->extended || s->rev2) && !j->lsub ? "\\NonExistent"
								 : "\\Noselect");
		if (!j->lsub) {
			if (a & STORE_MBOX_HASCHILDREN)
				attr(b, &first, "\\HasChildren");
			else if (!(a & STORE_MBOX_NONEXISTENT))
				attr(b, &first, "\\HasNoChildren");
			if ((j->ret & RET_SUBSCRIBED) &&
			    (a & STORE_MBOX_SUBSCRIBED))
				attr(b, &first, "\\Subscribed");
			/* RFC 6154 section 2: sent whether asked or not. */
			if (a & STORE_MBOX_SENT)
				attr(b, &first, "\\Sent");
			if (a & STORE_MBOX_DRAFTS)
				attr(b, &first, "\\Drafts");
			if (a & STORE_MBOX_TRASH)
				attr(b, &first, "\\Trash");
			if (a & STORE_MBOX_JUNK)
				attr(b, &first, "\\Junk");
			if (a & STORE_MBOX_ARCHIVE)
				attr(b, &first, "\\Archive");
		}
	}
	buf_appends(b, ") \"/\" ");
	imap_mboxname_write(s, b, e->name);
	/* RFC 5258 section 3.5: a descendant meets the selection, whether
	 * the name itself does or not (the table there, and "eps2" in
	 * section 5 example 9: "(\Subscribed) ... CHILDINFO"). */
	if ((j->show[i] == SHOW_CHILDINFO ||
	     j->show[i] == SHOW_YES_CHILDINFO) && (j->sel & SEL_SUBSCRIBED))
		buf_appends(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_appends(b, "\r\n");
	if ((j->ret & RET_STATUS) && j->st_rc[i] == 0)
		imap_status_write(s, b, e->name, j->order, j->n_order,
				  &j->st[i]);
}

static void list_done(void *arg)
{
	struct list_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		list_job_free(j);
		return;
	}
	const char *verb = j->lsub ? "LSUB" : "LIST";
	if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=list_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		imap_cmd_donef(s, IMAP_NO, "[UNAVAILABLE] %s failed, try again "
					   "later", verb);
		list_job_free(j);
		return;
	}
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < j->list.n; i++) {
		if (!j->show[i])
			continue;
		write_entry(j, &b, i);
		if (b.len >= 16384) {
			imap_write_buf(s, &b);
			buf_clear(&b);
		}
	}
	imap_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_donef(s, IMAP_OK, "%s completed", verb);
	list_job_free(j);
}

/* list-mailbox (RFC 9051 section 9): an atom with wildcards, or a
 * string; in UTF-8 like any mailbox name. */
static bool pattern_arg(const struct imap_session *s, const struct imap_arg *a,
			struct buf *out)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED &&
	    a->type != IMAP_ARG_LITERAL)
		return false;
	struct str p = a->s;
	if (memchr(p.p, '\0', p.len) || p.len > IMAP_LIST_PATTERN_MAX)
		return false;
	if (s->utf8) {
		if (!mutf7_utf8_valid(p))
			return false;
		buf_append(out, p.p, p.len);
		return true;
	}
	size_t base = out->len;
	if (mutf7_to_utf8(p, out) == 0)
		return true;
	/* Not modified UTF-7 ("&'+" is three legal ATOM-CHARs): taken as
	 * it stands, as Dovecot does, it matches the names that are spelt
	 * so (their '&' is "&-" on the wire); a BAD would refuse a legal
	 * list-mailbox (RFC 3501 section 9). */
	out->len = base;
	if (!mutf7_utf8_valid(p))
		return false;
	buf_append(out, p.p, p.len);
	return true;
}

static bool parse_selection(struct list_job *j, const struct imap_arg *l)
{
	bool other = false, recursive = false;
	for (size_t i = 0; i < l->count; i++) {
		const struct imap_arg *o = &l->list[i];
		if (imap_arg_is_atom(o, "SUBSCRIBED")) {
			j->sel |= SEL_SUBSCRIBED;
			j->ret |= RET_SUBSCRIBED; /* RFC 5258 section 3.1 */
			other = true;
		} else if (imap_arg_is_atom(o, "SPECIAL-USE")) {
			j->sel |= SEL_SPECIAL;
			other = true;
		} else if (imap_arg_is_atom(o, "REMOTE")) {
			/* no remote mailboxes here */
		} else if (imap_arg_is_atom(o, "RECURSIVEMATCH")) {
			recursive = true;
		} else {
			return false;
		}
	}
	/* RFC 5258 section 3.1: RECURSIVEMATCH alone (or with REMOTE
	 * only) is a BAD. */
	if (recursive && !other)
		return false;
	if (recursive)
		j->sel |= SEL_RECURSIVE;
	return true;
}

static bool parse_return(struct list_job *j, const struct imap_arg *l,
			 const char **reason)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct imap_arg *o = &l->list[i];
		if (imap_arg_is_atom(o, "SUBSCRIBED")) {
			j->ret |= RET_SUBSCRIBED;
		} else if (imap_arg_is_atom(o, "CHILDREN") ||
			   imap_arg_is_atom(o, "SPECIAL-USE")) {
			/* sent always */
		} else if (imap_arg_is_atom(o, "STATUS") && i + 1 < l->count) {
			if (!imap_status_items_parse(&l->list[++i], j->order,
						     &j->n_order, reason))
				return false;
			j->ret |= RET_STATUS;
		} else {
			*reason = "Unknown LIST return option";
			return false;
		}
	}
	return true;
}

/* `LIST ref ""` (RFC 9051 6.3.9): the delimiter and the root name. */
static void write_root(struct imap_session *s, bool lsub, struct str ref)
{
	struct buf root = BUF_INIT, b = BUF_INIT;
	imap_list_root(ref, &root);
	buf_appends(&b, lsub ? "* LSUB (\\Noselect) \"/\" "
			     : "* LIST (\\Noselect) \"/\" ");
	imap_mboxname_write(s, &b, buf_cstr(&root));
	buf_appends(&b, "\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	buf_free(&root);
}

static void list_start(struct imap_session *s, const struct imap_arg *args,
		       size_t n, bool lsub)
{
	struct list_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->lsub = lsub;
	const char *reason = "Bad LIST arguments";
	size_t i = 0;
	if (!lsub && args[0].type == IMAP_ARG_LIST) {
		j->extended = true;
		if (!parse_selection(j, &args[0])) {
			reason = "Bad LIST selection option";
			goto bad;
		}
		i = 1;
	}
	if (i + 2 > n)
		goto bad;
	struct buf ref = BUF_INIT;
	if (!pattern_arg(s, &args[i], &ref)) {
		buf_free(&ref);
		goto bad;
	}
	const struct imap_arg *pats = &args[i + 1];
	size_t npats = 1;
	if (!lsub && pats->type == IMAP_ARG_LIST) {
		j->extended = true;
		npats = pats->count;
		pats = pats->list;
		if (npats == 0 || npats > LIST_PATTERNS_MAX) {
			buf_free(&ref);
			goto bad;
		}
	}
	i += 2;
	if (i < n) {
		if (lsub || n != i + 2 || !imap_arg_is_atom(&args[i], "RETURN") ||
		    args[i + 1].type != IMAP_ARG_LIST ||
		    !parse_return(j, &args[i + 1], &reason)) {
			buf_free(&ref);
			goto bad;
		}
		j->extended = true;
	}
	if (lsub)
		j->sel = SEL_SUBSCRIBED;
	j->patterns = xcalloc(npats, sizeof *j->patterns);
	bool root = false;
	struct buf p = BUF_INIT;
	for (size_t k = 0; k < npats; k++) {
		buf_clear(&p);
		if (!pattern_arg(s, &pats[k], &p)) {
			buf_free(&p);
			buf_free(&ref);
			reason = "Bad mailbox pattern";
			goto bad;
		}
		if (p.len == 0) {
			root = true;
			continue;
		}
		buf_init(&j->patterns[j->n_patterns]);
		imap_list_pattern_join(buf_str(&ref), buf_str(&p),
				       &j->patterns[j->n_patterns]);
		j->n_patterns++;
	}
	buf_free(&p);
	if (root)
		write_root(s, lsub, buf_str(&ref));
	buf_free(&ref);
	if (j->n_patterns == 0) {
		list_job_free(j);
		imap_cmd_done(s, IMAP_OK, lsub ? "LSUB completed"
					       : "LIST completed");
		return;
	}
	if (lsub) {
		struct str lp = buf_str(&j->patterns[0]);
		j->lsub_parents = lp.len && lp.p[lp.len - 1] == '%';
	}
	j->maildir = xstrdup(s->maildir);
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, list_work, list_done, j);
	return;
bad:
	list_job_free(j);
	imap_cmd_done(s, IMAP_BAD, reason);
}

void imap_cmd_list(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	list_start(s, args, n, false);
}

void imap_cmd_lsub(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	list_start(s, args, n, true);
}
