/* Sequence sets against the session's view (imap/session.h). The view
 * is what the client has been told: messages 1..sel.exists. A set is
 * tested message by message (never expanded), so "1:4294967295" costs
 * one pass over the mailbox, not four billion steps. */
#include "imap/session.h"

#include <stdlib.h>

#include "core/xmalloc.h"
#include "imap/seqset.h"
#include "store/store.h"

/* The saved result (UIDs, ascending) against the view. */
static void saved_to_idx(const struct imap_session *s, uint32_t **idx,
			 size_t *n)
{
	const struct mailbox *mb = s->sel.mb;
	uint32_t *v = xmalloc((s->sel.n_saved + 1) * sizeof *v);
	size_t k = 0, j = 0;
	for (size_t i = 0; i < s->sel.exists && j < s->sel.n_saved; i++) {
		uint32_t uid = store_mailbox_msg(mb, i)->uid;
		while (j < s->sel.n_saved && s->sel.saved[j] < uid)
			j++;
		if (j < s->sel.n_saved && s->sel.saved[j] == uid)
			v[k++] = (uint32_t)i;
	}
	*idx = v;
	*n = k;
}

bool imap_msgset_arg(const struct imap_session *s, const struct imap_arg *a,
		     bool uid, uint32_t **idx, size_t *n, const char **reason)
{
	*idx = NULL;
	*n = 0;
	if (a->type != IMAP_ARG_ATOM) {
		*reason = "Invalid sequence set";
		return false;
	}
	struct imap_seqset set, res;
	if (!imap_seqset_parse(a->s, &set, reason))
		return false;
	if (set.saved) {
		imap_seqset_free(&set);
		saved_to_idx(s, idx, n);
		return true;
	}
	const struct mailbox *mb = s->sel.mb;
	uint32_t exists = s->sel.exists;
	uint32_t star;
	if (uid) {
		star = exists ? store_mailbox_msg(mb, exists - 1)->uid : 0;
	} else {
		/* RFC 9051 section 9: a message number must exist; '*' in
		 * an empty mailbox is an error too. */
		if (set.max_number > exists || (set.has_star && exists == 0)) {
			imap_seqset_free(&set);
			*reason = "Invalid message sequence number";
			return false;
		}
		star = exists;
	}
	/* An empty mailbox with a UID '*' matches nothing (UIDs > 0). */
	if (uid && star == 0) {
		imap_seqset_free(&set);
		*idx = xmalloc(sizeof **idx);
		return true;
	}
	imap_seqset_resolve(&set, star, &res);
	imap_seqset_free(&set);
	uint64_t cap = imap_seqset_count(&res);
	if (cap > exists)
		cap = exists;
	uint32_t *v = xmalloc((size_t)(cap + 1) * sizeof *v);
	size_t k = 0;
	for (uint32_t i = 0; i < exists && k < cap; i++) {
		uint32_t key = uid ? store_mailbox_msg(mb, i)->uid : i + 1;
		if (imap_seqset_contains(&res, key))
			v[k++] = i;
	}
	imap_seqset_free(&res);
	*idx = v;
	*n = k;
	return true;
}

void imap_msgset_to_uids(const struct imap_session *s, uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = store_mailbox_msg(s->sel.mb, v[i])->uid;
}
