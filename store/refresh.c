/* What an IMAP session asks of an open mailbox besides changing it:
 * change reports (store_mailbox_refresh), STATUS, the exact wire form of
 * a message, keyword names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "mime/crlf.h"
#include "store/store_int.h"

void store_changes_free(struct store_changes *ch)
{
	store_uid_list_free(&ch->expunged);
	store_uid_list_free(&ch->changed);
	free(ch->exp_pos);
	memset(ch, 0, sizeof *ch);
}

static int refresh_view(struct mailbox *mb, struct store_changes *ch,
			char *err, size_t errsz)
{
	/* Stat-level check first: an idle session's refresh costs a few
	 * stat() calls and no lock. */
	if (mailbox_maybe_changed(mb)) {
		int lockfd = mailbox_lock_sync(mb, err, errsz);
		if (lockfd < 0)
			return lockfd;
		close(lockfd);
	}
	/* Every change (an expunge too) raises HIGHESTMODSEQ, and new
	 * messages raise the count: nothing to walk if neither moved. */
	if (!mb->uidvalidity_changed && mb->highestmodseq == mb->seen_modseq &&
	    mb->msgs.n == mb->seen_count)
		return 0;
	if (mb->uidvalidity_changed) {
		/* The old view means nothing any more. */
		size_t kept = 0;
		for (size_t i = 0; i < mb->msgs.n; i++)
			if (!mb->msgs.v[i].expunged)
				mb->msgs.v[kept++] = mb->msgs.v[i];
		mb->msgs.n = kept;
		ch->uidvalidity_changed = true;
		ch->n_new = kept;
		mb->uidvalidity_changed = false;
		mb->seen_count = kept;
		mb->seen_modseq = mb->highestmodseq;
		return 0;
	}
	size_t old_n = mb->seen_count < mb->msgs.n ? mb->seen_count
						   : mb->msgs.n;
	size_t kept = 0, old_kept = 0, n_exp = 0;
	for (size_t i = 0; i < mb->msgs.n; i++)
		n_exp += mb->msgs.v[i].expunged && i < old_n;
	if (n_exp > 0)
		ch->exp_pos = xmalloc(n_exp * sizeof *ch->exp_pos);
	for (size_t i = 0; i < mb->msgs.n; i++) {
		struct store_msg *m = &mb->msgs.v[i];
		if (m->expunged) {
			/* Arrived and went between two reports: the session
			 * never saw it, so it is not reported either. */
			if (i < old_n) {
				ch->exp_pos[ch->expunged.n] = i;
				uid_list_push(&ch->expunged, m->uid);
			}
			continue;
		}
		if (i < old_n) {
			old_kept++;
			if (m->modseq > mb->seen_modseq)
				uid_list_push(&ch->changed, m->uid);
		}
		mb->msgs.v[kept++] = *m;
	}
	mb->msgs.n = kept;
	ch->n_new = kept - old_kept;
	mb->seen_count = kept;
	mb->seen_modseq = mb->highestmodseq;
	return 0;
}

int store_mailbox_refresh(struct mailbox *mb, struct store_changes *ch,
			  char *err, size_t errsz)
{
	memset(ch, 0, sizeof *ch);
	int rc = refresh_view(mb, ch, err, errsz);
	/* An idle session (IDLE, NOOP) passes here regularly: whatever the
	 * commands before made the view hold beyond its messages goes. */
	mailbox_compact(mb);
	return rc;
}

int store_mailbox_status(const char *path, struct store_status *st,
			 char *err, size_t errsz)
{
	struct mailbox *mb;
	int rc = store_mailbox_open(path, &mb, err, errsz);
	if (rc < 0)
		return rc;
	memset(st, 0, sizeof *st);
	uint32_t recent_from = 1;
	char e2[256];
	if (store_recent_claim(path, 0, false, &recent_from, e2, sizeof e2) < 0)
		recent_from = UINT32_MAX; /* unknown: none */
	for (size_t i = 0; i < mb->msgs.n; i++) {
		const struct store_msg *m = &mb->msgs.v[i];
		st->messages++;
		st->recent += m->uid >= recent_from;
		st->size += m->size;
		if (!(m->flags & STORE_F_SEEN))
			st->unseen++;
		if (m->flags & STORE_F_DELETED)
			st->deleted++;
	}
	st->uidnext = mb->uidnext;
	st->uidvalidity = mb->uidvalidity;
	st->highestmodseq = mb->highestmodseq;
	store_mailbox_close(&mb);
	return 0;
}

const char *store_mailbox_keyword(const struct mailbox *mb, size_t i)
{
	return i < mb->kw.n ? mb->kw.name[i] : NULL;
}

size_t store_mailbox_keyword_count(const struct mailbox *mb)
{
	return mb->kw.n;
}

struct store_wire_reader {
	int fd;
	bool verbatim;
	bool done;
	struct crlf_state cs;
	char *in;
};

#define WIRE_CHUNK 65536

int store_wire_open(const struct mailbox *mb, size_t i,
		    struct store_wire_reader **out, char *err, size_t errsz)
{
	int fd = store_msg_open(mb, i, err, errsz);
	if (fd < 0)
		return fd;
	const struct store_msg *m = store_mailbox_msg(mb, i);
	struct store_wire_reader *r = xcalloc(1, sizeof *r);
	r->fd = fd;
	r->verbatim = m->size == m->file_size;
	crlf_init(&r->cs, false);
	r->in = xmalloc(WIRE_CHUNK);
	*out = r;
	return 0;
}

int store_wire_read(struct store_wire_reader *r, struct buf *out, size_t max,
		    char *err, size_t errsz)
{
	if (r->done)
		return 0;
	size_t want = max / 2 ? max / 2 : 1;
	if (r->verbatim)
		want = max ? max : 1;
	if (want > WIRE_CHUNK)
		want = WIRE_CHUNK;
	ssize_t n;
	do
		n = read(r->fd, r->in, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return store_err(err, errsz, STORE_ETEMP, "read: %s",
				 strerror(errno));
	if (r->verbatim) {
		buf_append(out, r->in, (size_t)n);
	} else {
		buf_reserve(out, 2 * (size_t)n + 2);
		out->len += crlf_convert(&r->cs, r->in, (size_t)n,
					 out->data + out->len);
		if (n == 0)
			out->len += crlf_finish(&r->cs, out->data + out->len);
		buf_cstr(out);
	}
	if (n == 0) {
		r->done = true;
		return 0;
	}
	return 1;
}

int store_wire_rewind(struct store_wire_reader *r, char *err, size_t errsz)
{
	if (lseek(r->fd, 0, SEEK_SET) < 0)
		return store_err(err, errsz, STORE_ETEMP, "lseek: %s",
				 strerror(errno));
	r->done = false;
	crlf_init(&r->cs, false);
	return 0;
}

void store_wire_close(struct store_wire_reader **rp)
{
	struct store_wire_reader *r = *rp;
	if (!r)
		return;
	close(r->fd);
	free(r->in);
	free(r);
	*rp = NULL;
}

int store_msg_read_wire(const struct mailbox *mb, size_t i, struct buf *out,
			char *err, size_t errsz)
{
	struct store_wire_reader *r;
	int rc = store_wire_open(mb, i, &r, err, errsz);
	if (rc < 0)
		return rc;
	while ((rc = store_wire_read(r, out, 2 * WIRE_CHUNK, err, errsz)) > 0)
		;
	store_wire_close(&r);
	return rc;
}
