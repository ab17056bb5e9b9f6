/* The session's \Recent messages (RFC 3501 2.3.2; gone in RFC 9051): the
 * UID ranges it claimed from the store (store_recent_claim) when it
 * selected the mailbox and as new mail arrived. */
#include "imap/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store.h"

/* Enough for a session open for weeks while another one takes turns
 * claiming new mail with it; past it the oldest range is forgotten
 * (those messages stop being \Recent here, which no client minds). */
#define RECENT_RANGES_MAX 1024

bool imap_recent_on(const struct imap_session *s)
{
	return !s->rev2;
}

void imap_recent_add(struct imap_session *s, uint32_t lo, uint32_t hi)
{
	struct imap_selected *sel = &s->sel;
	if (lo >= hi)
		return;
	if (sel->n_recent && sel->recent[sel->n_recent - 1].hi >= lo) {
		if (sel->recent[sel->n_recent - 1].hi < hi)
			sel->recent[sel->n_recent - 1].hi = hi;
		return;
	}
	if (sel->n_recent == RECENT_RANGES_MAX) {
		memmove(sel->recent, sel->recent + 1,
			(RECENT_RANGES_MAX - 1) * sizeof *sel->recent);
		sel->n_recent--;
	}
	sel->recent = xrealloc(sel->recent,
			       (sel->n_recent + 1) * sizeof *sel->recent);
	sel->recent[sel->n_recent++] = (struct imap_uid_range){ lo, hi };
}

bool imap_recent_has(const struct imap_session *s, uint32_t uid)
{
	return imap_uid_ranges_has(s->sel.recent, s->sel.n_recent, uid);
}

/* The position of the first message of the view with a UID >= uid. */
static size_t first_at_or_above(const struct imap_session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->sel.exists;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (store_mailbox_msg(s->sel.mb, mid)->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t imap_recent_count(const struct imap_session *s)
{
	uint32_t n = 0;
	for (size_t i = 0; i < s->sel.n_recent; i++) {
		size_t a = first_at_or_above(s, s->sel.recent[i].lo);
		size_t b = first_at_or_above(s, s->sel.recent[i].hi);
		for (size_t k = a; k < b; k++)
			n += !store_mailbox_msg(s->sel.mb, k)->expunged;
	}
	return n;
}
