/* Every device in sync: the selected mailbox's view and the untagged
 * EXISTS / EXPUNGE / FETCH FLAGS that keep the client's copy of it true.
 *
 * One inotify watcher per worker process (store/notify.h), its fd in the
 * worker's event loop; each session with a selected mailbox watches it.
 * A report only marks the session "changed" (or, in IDLE, starts a
 * refresh at once). What changed is learnt from store_mailbox_refresh
 * on the thread pool, only at moments RFC 9051 section 7.5.1 allows an
 * EXPUNGE: at the end of a command other than FETCH, STORE and SEARCH,
 * and during IDLE. The view (store.h) keeps sequence numbers stable in
 * between: messages gone stay in it marked expunged until the refresh
 * reports them; new ones may appear at its end, and are addressed only
 * once announced (sel.exists). */
#include "imap/session.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/flags.h"
#include "net/conn.h"
#include "store/notify.h"
#include "store/store.h"

/* ---- the process's watcher ---- */

static struct store_notify *notifier;
static struct event *notifier_ev;
static bool notifier_failed;
/* store_notify_read is running: its reports may start IDLE refreshes,
 * which must not read the descriptor again from inside it. */
static bool notifier_reading;

static void on_report(void *cookie, void *arg)
{
	(void)arg;
	imap_notify_changed(cookie);
}

/* Hands every pending report to its session now. Returns false when the
 * reports cannot be trusted to be complete (read error). */
static bool notifier_drain(void)
{
	if (!notifier || notifier_reading)
		return notifier != NULL;
	notifier_reading = true;
	int rc = store_notify_read(notifier, on_report, NULL);
	notifier_reading = false;
	if (rc < 0) {
		log_kv(LOG_WARN, "event=notify_read_failed proto=imap");
		return false;
	}
	return true;
}

static void on_notify_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notifier_drain();
}

static struct store_notify *notifier_get(struct event_base *base)
{
	if (notifier || notifier_failed)
		return notifier;
	char err[256];
	if (store_notify_open(&notifier, err, sizeof err) < 0) {
		/* Sessions still see changes at every command's end. */
		notifier_failed = true;
		char why[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=notify_open_failed proto=imap error=%s",
		       log_esc(why, sizeof why, err, strlen(err)));
		return NULL;
	}
	notifier_ev = event_new(base, store_notify_fd(notifier),
				EV_READ | EV_PERSIST, on_notify_readable, NULL);
	event_add(notifier_ev, NULL);
	return notifier;
}

void imap_sync_watch(struct imap_session *s)
{
	struct store_notify *n = notifier_get(s->env->base);
	if (!n)
		return;
	char err[256];
	s->sel.watch = store_notify_add(n, s->sel.path, s, err, sizeof err);
	/* A change between the mailbox's open (on the pool) and this watch
	 * was seen by nobody: the first refresh must look. */
	s->sel.changed = true;
	if (s->sel.watch < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=notify_add_failed proto=imap sid=%s "
		       "error=%s", s->c ? s->c->id : "-",
		       log_esc(why, sizeof why, err, strlen(err)));
	}
}

void imap_sync_unwatch(struct imap_session *s)
{
	if (s->sel.watch >= 0 && notifier)
		store_notify_remove(notifier, s->sel.watch);
	s->sel.watch = -1;
}

void imap_selected_free(struct imap_session *s)
{
	imap_sync_unwatch(s);
	store_mailbox_close(&s->sel.mb);
	free(s->sel.name);
	free(s->sel.path);
	free(s->sel.saved);
	free(s->sel.own);
	free(s->sel.recent);
	memset(&s->sel, 0, sizeof s->sel);
	s->sel.watch = -1;
}

/* ---- reports ---- */

void imap_sync_announce_new(struct imap_session *s)
{
	if (!s->sel.mb)
		return;
	size_t count = store_mailbox_count(s->sel.mb);
	if (count > s->sel.exists) {
		s->sel.exists = (uint32_t)count;
		imap_untagged(s, "%u EXISTS", s->sel.exists);
	}
	/* RFC 3501 7.3.2: RECENT whenever the number changes. */
	if (imap_recent_on(s)) {
		uint32_t r = imap_recent_count(s);
		if (r != s->sel.recent_announced) {
			s->sel.recent_announced = r;
			imap_untagged(s, "%u RECENT", r);
		}
	}
}

static uint64_t flags_hash(const struct buf *b)
{
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
	for (size_t i = 0; i < b->len; i++)
		h = (h ^ (unsigned char)b->data[i]) * 0x100000001b3u;
	return h;
}

void imap_sync_flags_write(struct imap_session *s, struct buf *out)
{
	struct buf b = BUF_INIT;
	imap_flags_write_mailbox(&b, s->sel.mb, false);
	s->sel.flags_sig = flags_hash(&b);
	buf_append(out, b.data, b.len);
	buf_free(&b);
}

/* A keyword new to the mailbox (this session's STORE, or another's)
 * would otherwise appear in FETCH FLAGS without ever being in FLAGS,
 * which clients keep as the mailbox's keyword list (RFC 9051 7.3.5:
 * "MUST be remembered"). PERMANENTFLAGS goes with it: RFC 9051 7.1
 * requires a new one without \* once the keyword limit is reached.
 * Dovecot sends both in the same order. A hash of the list, not the
 * list, is kept: an idle session's memory is counted. */
void imap_sync_announce_flags(struct imap_session *s)
{
	if (!s->sel.mb)
		return;
	struct buf b = BUF_INIT;
	imap_flags_write_mailbox(&b, s->sel.mb, false);
	uint64_t sig = flags_hash(&b);
	if (sig != s->sel.flags_sig) {
		s->sel.flags_sig = sig;
		buf_clear(&b);
		buf_appends(&b, "* FLAGS ");
		imap_flags_write_mailbox(&b, s->sel.mb, false);
		buf_appends(&b, "\r\n");
		if (!s->sel.readonly) {
			buf_appends(&b, "* OK [PERMANENTFLAGS ");
			imap_flags_write_mailbox(&b, s->sel.mb, true);
			buf_appends(&b, "] Flags permitted\r\n");
		}
		imap_write_buf(s, &b);
	}
	buf_free(&b);
}

void imap_sync_note_own(struct imap_session *s, const uint32_t *uids,
			size_t n)
{
	for (size_t k = 0; k < n; k++) {
		long i = store_mailbox_find_uid(s->sel.mb, uids[k]);
		if (i < 0)
			continue;
		if (s->sel.n_own == s->sel.cap_own) {
			s->sel.cap_own = s->sel.cap_own ? 2 * s->sel.cap_own : 16;
			s->sel.own = xrealloc(s->sel.own,
					      s->sel.cap_own * sizeof *s->sel.own);
		}
		s->sel.own[s->sel.n_own++] = (struct imap_own_change){
			uids[k], store_mailbox_msg(s->sel.mb, (size_t)i)->modseq
		};
	}
}

static int own_cmp(const void *a, const void *b)
{
	const struct imap_own_change *x = a, *y = b;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->modseq < y->modseq ? -1 : x->modseq > y->modseq;
}

/* The message's current state is one this session made and reported
 * (sel.own sorted by own_cmp: the last entry of a UID is its latest). */
static bool is_own(const struct imap_session *s, const struct store_msg *m)
{
	size_t lo = 0, hi = s->sel.n_own;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->sel.own[mid].uid <= m->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && s->sel.own[lo - 1].uid == m->uid &&
	       s->sel.own[lo - 1].modseq == m->modseq;
}

/* Writes what a refresh found, in the order that keeps sequence numbers
 * right: EXPUNGEs (from the highest position, each on the view as the
 * client has it), then EXISTS, then FETCH FLAGS on the new numbering. */
static void report_changes(struct imap_session *s,
			   const struct store_changes *ch)
{
	for (size_t k = ch->expunged.n; k-- > 0;) {
		size_t pos = ch->exp_pos[k];
		if (pos < s->sel.exists) {
			imap_untagged(s, "%zu EXPUNGE", pos + 1);
			s->sel.exists--;
		}
	}
	imap_sync_announce_new(s);
	imap_sync_announce_flags(s);
	if (s->sel.n_own)
		qsort(s->sel.own, s->sel.n_own, sizeof *s->sel.own, own_cmp);
	struct buf b = BUF_INIT;
	for (size_t k = 0; k < ch->changed.n; k++) {
		long i = store_mailbox_find_uid(s->sel.mb, ch->changed.v[k]);
		if (i < 0 || (size_t)i >= s->sel.exists)
			continue;
		const struct store_msg *m = store_mailbox_msg(s->sel.mb, (size_t)i);
		if (m->expunged || is_own(s, m))
			continue;
		buf_clear(&b);
		buf_printf(&b, "* %ld FETCH (UID %u FLAGS ", i + 1, m->uid);
		imap_flags_write(&b, s->sel.mb,
				 m->flags | (imap_recent_has(s, m->uid)
						     ? IMAP_FLAG_RECENT : 0),
				 m->keywords);
		buf_appends(&b, ")\r\n");
		imap_write_buf(s, &b);
	}
	buf_free(&b);
	s->sel.n_own = 0;
}

struct refresh_job {
	struct imap_session *s;
	struct mailbox *mb;
	char *recent_path;    /* claim \Recent of new mail here, or NULL */
	bool recent_claim;    /* SELECT (true) or EXAMINE (false) */
	uint32_t recent_lo, recent_hi;
	struct store_changes ch;
	int rc;
	char err[256];
	void (*then)(struct imap_session *s);
};

static void refresh_work(void *arg)
{
	struct refresh_job *j = arg;
	j->rc = store_mailbox_refresh(j->mb, &j->ch, j->err, sizeof j->err);
	if (j->rc < 0 || !j->recent_path || j->ch.n_new == 0)
		return;
	/* New mail: this session is told of it now, so it is \Recent here
	 * unless another session was told first (RFC 3501 2.3.2). */
	char e[256];
	j->recent_hi = store_mailbox_uidnext(j->mb);
	if (store_recent_claim(j->recent_path, j->recent_hi, j->recent_claim,
			       &j->recent_lo, e, sizeof e) < 0)
		j->recent_lo = j->recent_hi;
}

/* The selection cannot go on: RFC 9051 has no response for a mailbox
 * that vanished under a session; like Dovecot we end the session. */
static void selection_lost(struct imap_session *s, const char *why)
{
	log_kv(LOG_INFO, "event=mailbox_lost proto=imap sid=%s reason=%s",
	       s->c->id, why);
	imap_untagged(s, "BYE %s", strcmp(why, "uidvalidity_changed") == 0
					   ? "UIDVALIDITY changed, please reconnect"
					   : "Selected mailbox was deleted, "
					     "please reconnect");
	imap_close(s, why);
}

static void refresh_done(void *arg)
{
	struct refresh_job *j = arg;
	struct imap_session *s = j->s;
	if (imap_job_finish(s)) {
		s->sel.refreshing = false;
		if (j->rc == STORE_ENOENT) {
			selection_lost(s, "mailbox_deleted");
		} else if (j->rc < 0) {
			s->sel.changed = true; /* look again next time */
			char why[LOG_ESC_MAX];
			log_kv(LOG_WARN, "event=refresh_failed proto=imap sid=%s "
			       "error=%s", s->c->id,
			       log_esc(why, sizeof why, j->err, strlen(j->err)));
			j->then(s);
		} else if (j->ch.uidvalidity_changed) {
			selection_lost(s, "uidvalidity_changed");
		} else {
			if (j->recent_path)
				imap_recent_add(s, j->recent_lo, j->recent_hi);
			report_changes(s, &j->ch);
			j->then(s);
		}
	}
	store_changes_free(&j->ch);
	free(j->recent_path);
	free(j);
}

/* Whether a refresh could find anything. Without a watch, always. With
 * one, only after a report since the last refresh began: inotify queues
 * an event before the change's system call returns, so reading the
 * descriptor here (non-blocking) sees every change that completed before
 * this moment, our own commits included. Most commands of a session that
 * nobody else touches then end without a hop to the thread pool and the
 * store's lock, stat and log read (the benchmark's IDLE and DONE). */
static bool refresh_needed(struct imap_session *s)
{
	if (s->sel.watch < 0)
		return true;
	if (!notifier_drain())
		return true;
	return s->sel.changed;
}

void imap_sync_report(struct imap_session *s, bool allow_expunge,
		      void (*then)(struct imap_session *s))
{
	if (s->state != IMAP_SELECTED || !s->sel.mb) {
		then(s);
		return;
	}
	if (!allow_expunge) {
		imap_sync_announce_new(s);
		then(s);
		return;
	}
	/* Marked first: a report for s during the drain must not start a
	 * second refresh from idle.c. */
	s->sel.refreshing = true;
	if (!refresh_needed(s)) {
		s->sel.refreshing = false;
		imap_sync_announce_new(s);
		then(s);
		return;
	}
	s->sel.changed = false;
	struct refresh_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->mb = s->sel.mb;
	j->then = then;
	if (imap_recent_on(s)) {
		j->recent_path = xstrdup(s->sel.path);
		j->recent_claim = !s->sel.readonly;
	}
	if (s->wait != IMAP_WAIT_IDLE)
		imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, refresh_work, refresh_done, j);
}
