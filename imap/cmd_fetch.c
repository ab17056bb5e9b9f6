/* FETCH and UID FETCH (RFC 9051 section 6.4.5, 6.4.9). The response
 * lines come from imap/fetch.h; this file decides where they are built
 * and how fast they go out:
 *   1. \Seen first: when the items set it (BODY[...], RFC822, ...) and
 *      the mailbox is read-write, the unseen messages get \Seen in one
 *      store call, and their responses include FLAGS (RFC 9051 6.4.5).
 *   2. Chunks of responses are built on the thread pool when a file must
 *      be read (on the loop otherwise) and written out; above
 *      CONN_OUTPUT_HIGH_WATER the command pauses until the socket drains
 *      and resumes from on_drain, so FETCH 1:* BODY[] costs one
 *      chunk of memory.
 *   3. A literal of IMAP_FETCH_STREAM_MIN octets or more is not built:
 *      the response holds its "{n}" and a stream (imap_fetch_plan), and
 *      its octets are read from the file on the thread pool, 64 KiB at a
 *      time with one read ahead, and written between the text before
 *      and after it, pausing above CONN_OUTPUT_HIGH_WATER like the rest.
 *      A client that does not read holds about 300 KiB, not the
 *      message. The response of the message with streams is the last
 *      one of its chunk, so responses stay in order. */
#include "imap/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/u32set.h"
#include "core/xmalloc.h"
#include "imap/fetch.h"
#include "net/conn.h"
#include "store/store.h"

/* One chunk of responses: big enough to amortise a pool round trip,
 * small enough to bound memory per session. */
#define FETCH_CHUNK_BYTES (256 * 1024)
/* One read of a streamed literal. */
#define FETCH_READ_BYTES (64 * 1024)

/* The stream being sent: one read on the pool at a time, filling chunk
 * with the next octets of [off, off + left). spill holds what the wire
 * reader gave beyond them (it reads whole pieces): its octet spill_off
 * is wire octet pos. */
struct fetch_reader {
	bool active;      /* a stream of the plan is being sent */
	bool in_flight;   /* a read is on the pool */
	bool ready;       /* chunk holds the result of a read */
	uint64_t off;     /* next octet to read (the job moves it) */
	uint64_t left;    /* octets of the stream not yet written */
	struct buf chunk;
	struct buf spill;
	size_t spill_off;
	uint64_t pos;
	int rc;
	char err[256];
};

struct fetch_cmd {
	struct imap_session *s;
	uint32_t *idx;       /* view indexes, ascending */
	size_t n, pos;
	struct imap_fetch_items items;
	struct imap_fetch_items items_flags; /* items + FLAGS */
	struct imap_fetch_ctx ctx;
	bool needs_file;
	uint32_t *seen_uids; /* messages that just got \Seen, ascending */
	size_t n_seen;
	size_t n_gone;       /* messages that vanished meanwhile */
	int fatal;           /* an error that ends the command */
	char err[256];
	struct buf out;
	size_t sent;         /* octets of out already written */
	struct imap_fetch_plan plan; /* streams of out's last response */
	size_t seg;          /* the next stream of plan */
	struct fetch_reader rd;
};

/* The session owns the command (cmd_ctx) and frees it, also when it
 * dies during a job: session_free waits for the job's done(). */
static void fetch_cmd_free(void *arg)
{
	struct fetch_cmd *f = arg;
	free(f->idx);
	imap_fetch_items_free(&f->items);
	free(f->seen_uids);
	buf_free(&f->out);
	imap_fetch_plan_free(&f->plan);
	buf_free(&f->rd.chunk);
	buf_free(&f->rd.spill);
	free(f);
}

/* Builds responses from f->pos on until a chunk is full (any thread:
 * reads only the mailbox, which nothing else touches meanwhile). */
static void fetch_build(struct fetch_cmd *f, const struct mailbox *mb)
{
	while (f->pos < f->n && f->out.len < FETCH_CHUNK_BYTES && !f->fatal &&
	       f->plan.n == 0) {
		size_t i = f->idx[f->pos++];
		const struct store_msg *m = store_mailbox_msg(mb, i);
		const struct imap_fetch_items *it = &f->items;
		if (f->n_seen && u32set_has(f->seen_uids, f->n_seen, m->uid))
			it = &f->items_flags;
		char err[256];
		int rc = imap_fetch_write_plan(&f->out, mb, i, (uint32_t)i + 1,
					       it, &f->ctx, &f->plan, err,
					       sizeof err);
		if (rc == STORE_ENOENT) {
			f->n_gone++;
		} else if (rc < 0) {
			f->fatal = rc;
			memcpy(f->err, err, sizeof f->err);
		}
	}
}

static void fetch_pump(struct imap_session *s);

static void fetch_job_work(void *arg)
{
	struct fetch_cmd *f = arg;
	fetch_build(f, f->s->sel.mb);
}

static void fetch_job_done(void *arg)
{
	struct fetch_cmd *f = arg;
	if (imap_job_finish(f->s))
		fetch_pump(f->s);
}

static void fetch_finish(struct imap_session *s, struct fetch_cmd *f)
{
	if (f->fatal == IMAP_FETCH_EUNKNOWN_CTE) {
		imap_cmd_done(s, IMAP_NO, "[UNKNOWN-CTE] Unknown "
					  "Content-Transfer-Encoding");
	} else if (f->fatal) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=fetch_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, f->err, strlen(f->err)));
		imap_cmd_done(s, IMAP_NO, "[SERVERBUG] Cannot read the message");
	} else if (f->n_gone && !s->cmd_uid) {
		/* RFC 9051 section 7.5.1: no EXPUNGE during FETCH, so say
		 * some are gone (UID FETCH just omits them: its EXPUNGEs
		 * follow before the tagged OK). */
		imap_cmd_done(s, IMAP_NO, "[EXPUNGEISSUED] Some of the requested "
					  "messages no longer exist");
	} else {
		imap_cmd_done(s, IMAP_OK, s->cmd_uid ? "UID FETCH completed"
						     : "FETCH completed");
	}
}

/* ---- streamed literals ---- */

/* Fills rd->chunk with the next octets of the stream (thread pool). */
static void read_wire(struct fetch_reader *rd, struct imap_fetch_plan *p,
		      size_t want)
{
	while (rd->chunk.len < want) {
		size_t avail = rd->spill.len - rd->spill_off;
		if (rd->off < rd->pos) {
			/* A second stream of the message, before the first. */
			int rc = store_wire_rewind(p->wire, rd->err,
						   sizeof rd->err);
			if (rc < 0) {
				rd->rc = rc;
				return;
			}
			rd->pos = 0;
			buf_clear(&rd->spill);
			rd->spill_off = 0;
			continue;
		}
		if (rd->off >= rd->pos + avail) {
			rd->pos += avail;
			buf_clear(&rd->spill);
			rd->spill_off = 0;
			int rc = store_wire_read(p->wire, &rd->spill,
						 FETCH_READ_BYTES, rd->err,
						 sizeof rd->err);
			if (rc < 0) {
				rd->rc = rc;
				return;
			}
			if (rd->spill.len == 0) {
				rd->rc = STORE_ETEMP;
				snprintf(rd->err, sizeof rd->err,
					 "message file shorter than its size");
				return;
			}
			continue;
		}
		size_t skip = (size_t)(rd->off - rd->pos);
		rd->spill_off += skip;
		rd->pos += skip;
		avail -= skip;
		size_t take = want - rd->chunk.len;
		if (take > avail)
			take = avail;
		buf_append(&rd->chunk, rd->spill.data + rd->spill_off, take);
		rd->spill_off += take;
		rd->pos += take;
		rd->off += take;
	}
}

static void read_tmp(struct fetch_reader *rd, int fd, size_t want)
{
	buf_reserve(&rd->chunk, want);
	while (rd->chunk.len < want) {
		ssize_t n = pread(fd, rd->chunk.data + rd->chunk.len,
				  want - rd->chunk.len, (off_t)rd->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rd->rc = STORE_ETEMP;
			snprintf(rd->err, sizeof rd->err, "spool read: %s",
				 n < 0 ? strerror(errno) : "short");
			return;
		}
		rd->chunk.len += (size_t)n;
		rd->off += (uint64_t)n;
	}
}

static void read_work(void *arg)
{
	struct fetch_cmd *f = arg;
	struct fetch_reader *rd = &f->rd;
	const struct imap_fetch_stream *st = &f->plan.v[f->seg];
	size_t want = rd->left < FETCH_READ_BYTES ? (size_t)rd->left
						  : FETCH_READ_BYTES;
	buf_clear(&rd->chunk);
	rd->rc = 0;
	if (st->src == IMAP_FETCH_SRC_TMP)
		read_tmp(rd, f->plan.tmp_fd, want);
	else
		read_wire(rd, &f->plan, want);
	if (rd->rc == 0 && st->nul_to_80) {
		/* as write_text_literal does (RFC 9051 section 4.3) */
		char *p = rd->chunk.data, *z;
		size_t n = rd->chunk.len;
		while (n && (z = memchr(p, '\0', n)) != NULL) {
			*z = (char)0x80;
			n -= (size_t)(z - p) + 1;
			p = z + 1;
		}
	}
}

static void read_done(void *arg)
{
	struct fetch_cmd *f = arg;
	struct imap_session *s = f->s;
	f->rd.in_flight = false;
	f->rd.ready = true;
	if (imap_job_finish(s) && s->wait == IMAP_WAIT_JOB)
		fetch_pump(s);
}

static void read_next(struct imap_session *s, struct fetch_cmd *f)
{
	f->rd.in_flight = true;
	imap_job_submit(s, read_work, read_done, f);
}

/* Sends what a read brought and reads ahead; false while waiting for
 * the read or the socket. */
static bool stream_step(struct imap_session *s, struct fetch_cmd *f)
{
	struct fetch_reader *rd = &f->rd;
	if (rd->ready) {
		rd->ready = false;
		if (rd->rc < 0) {
			/* Part of a literal is out: nothing can follow it. */
			char why[LOG_ESC_MAX];
			log_kv(LOG_ERR, "event=fetch_failed proto=imap sid=%s "
			       "error=%s", s->c->id,
			       log_esc(why, sizeof why, rd->err,
				       strlen(rd->err)));
			imap_close(s, "fetch_read_failed");
			return false;
		}
		imap_write(s, rd->chunk.data, rd->chunk.len);
		rd->left -= rd->chunk.len;
		buf_clear(&rd->chunk);
		if (rd->left == 0) {
			rd->active = false;
			f->seg++;
			return true;
		}
		read_next(s, f);
	}
	if (conn_output_len(s->c) > CONN_OUTPUT_HIGH_WATER) {
		s->drain_fn = fetch_pump;
		imap_set_wait(s, IMAP_WAIT_DRAIN);
		conn_want_drain(s->c);
		return false;
	}
	if (!rd->in_flight)
		read_next(s, f);
	imap_set_wait(s, IMAP_WAIT_JOB);
	return false;
}

/* Writes what was built (its streams in their places), then builds more
 * or waits for the socket. */
static void fetch_pump(struct imap_session *s)
{
	struct fetch_cmd *f = s->cmd_ctx;
	for (;;) {
		if (s->c->closing)
			return;
		if (f->rd.active) {
			if (!stream_step(s, f))
				return;
			continue;
		}
		size_t end = f->seg < f->plan.n ? f->plan.v[f->seg].at
						: f->out.len;
		if (end > f->sent) {
			imap_write(s, f->out.data + f->sent, end - f->sent);
			f->sent = end;
		}
		if (f->seg < f->plan.n) {
			const struct imap_fetch_stream *st = &f->plan.v[f->seg];
			f->rd.active = true;
			f->rd.off = st->off;
			f->rd.left = st->len;
			if (f->seg == 0) {
				/* where the build left the file */
				f->rd.pos = f->plan.wire_pos;
				buf_clear(&f->rd.spill);
				f->rd.spill_off = 0;
			}
			if (st->len == 0) {
				f->rd.active = false;
				f->seg++;
			}
			continue;
		}
		buf_clear(&f->out);
		f->sent = 0;
		if (f->plan.n) {
			imap_fetch_plan_reset(&f->plan);
			f->seg = 0;
		}
		if (f->pos >= f->n || f->fatal) {
			fetch_finish(s, f);
			return;
		}
		if (conn_output_len(s->c) > CONN_OUTPUT_HIGH_WATER) {
			s->drain_fn = fetch_pump;
			imap_set_wait(s, IMAP_WAIT_DRAIN);
			conn_want_drain(s->c);
			return;
		}
		if (f->needs_file) {
			imap_set_wait(s, IMAP_WAIT_JOB);
			imap_job_submit_heavy(s, fetch_job_work, fetch_job_done, f);
			return;
		}
		fetch_build(f, s->sel.mb);
	}
}

/* ---- \Seen first ---- */

struct seen_job {
	struct fetch_cmd *f;
	struct imap_session *s;
	struct mailbox *mb;
	uint32_t *uids;
	size_t n;
	struct store_uid_list changed, failed;
	int rc;
	char err[256];
};

static void seen_work(void *arg)
{
	struct seen_job *j = arg;
	struct store_flag_update up = {
		.uids = j->uids,
		.n_uids = j->n,
		.op = STORE_FLAGS_ADD,
		.flags = STORE_F_SEEN,
	};
	j->rc = store_mailbox_set_flags(j->mb, &up, &j->changed, &j->failed,
					j->err, sizeof j->err);
}

static void seen_done(void *arg)
{
	struct seen_job *j = arg;
	struct fetch_cmd *f = j->f;
	if (imap_job_finish(j->s)) {
		if (j->rc < 0) {
			/* The fetch goes on; the flag just did not stick. */
			char why[LOG_ESC_MAX];
			log_kv(LOG_WARN, "event=fetch_seen_failed proto=imap "
			       "sid=%s error=%s", j->s->c->id,
			       log_esc(why, sizeof why, j->err, strlen(j->err)));
		} else {
			imap_sync_note_own(j->s, j->changed.v, j->changed.n);
			/* The store call may have read keywords another
			 * session made; FLAGS goes before FETCH shows them. */
			imap_sync_announce_flags(j->s);
			f->seen_uids = j->changed.v;
			f->n_seen = j->changed.n;
			j->changed.v = NULL;
			j->changed.n = 0;
		}
		fetch_pump(j->s);
	}
	free(j->uids);
	store_uid_list_free(&j->changed);
	store_uid_list_free(&j->failed);
	free(j);
}

static bool start_seen(struct imap_session *s, struct fetch_cmd *f)
{
	uint32_t *uids = xmalloc((f->n + 1) * sizeof *uids);
	size_t k = 0;
	for (size_t p = 0; p < f->n; p++) {
		const struct store_msg *m = store_mailbox_msg(s->sel.mb, f->idx[p]);
		if (!m->expunged && !(m->flags & STORE_F_SEEN))
			uids[k++] = m->uid;
	}
	if (k == 0) {
		free(uids);
		return false;
	}
	struct seen_job *j = xcalloc(1, sizeof *j);
	j->f = f;
	j->s = s;
	j->mb = s->sel.mb;
	j->uids = uids;
	j->n = k;
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, seen_work, seen_done, j);
	return true;
}

void imap_cmd_fetch(struct imap_session *s, const struct imap_arg *args,
		    size_t n)
{
	/* CHANGEDSINCE and other modifiers need CONDSTORE, not offered. */
	if (n == 3) {
		imap_cmd_done(s, IMAP_BAD, "FETCH modifiers are not supported");
		return;
	}
	const char *reason;
	struct fetch_cmd *f = xcalloc(1, sizeof *f);
	f->s = s;
	if (!imap_msgset_arg(s, &args[0], s->cmd_uid, &f->idx, &f->n,
			     &reason) ||
	    !imap_fetch_items_parse(&args[1], &f->items, &reason)) {
		free(f->idx);
		free(f);
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	f->items_flags = f->items;
	f->items_flags.flags |= IMAP_FETCH_FLAGS;
	f->ctx.utf8 = s->utf8;
	f->ctx.rev2 = s->rev2;
	f->ctx.uid = s->cmd_uid;
	/* Read while the command runs; the ranges change only in a refresh,
	 * which waits for the command to end. */
	f->ctx.recent = s->sel.recent;
	f->ctx.n_recent = s->sel.n_recent;
	f->needs_file = imap_fetch_needs_file(&f->items);
	char *tmp = xasprintf("%s/tmp", store_mailbox_path(s->sel.mb));
	imap_fetch_plan_init(&f->plan, tmp);
	free(tmp);
	s->cmd_ctx = f;
	s->cmd_ctx_free = fetch_cmd_free;
	if (f->items.sets_seen && !s->sel.readonly && start_seen(s, f))
		return;
	fetch_pump(s);
}
