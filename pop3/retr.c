/* Replies that can be longer than the output buffer, written a piece
 * at a time so that memory does not grow with the reply: RETR and
 * TOP stream the message file, LIST and UIDL without an argument walk
 * the maildrop. Each writes until the output passes
 * CONN_OUTPUT_HIGH_WATER, asks for on_drain and goes on from there; the
 * session reads no further command until the reply is complete. */
#include "pop3/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/xmalloc.h"
#include "core/log.h"
#include "net/conn.h"
#include "store/store.h"

/* Message bytes are read in chunks of this size. */
#define RETR_CHUNK (64 * 1024)
/* LIST/UIDL lines written per round before checking the output. */
#define LIST_BATCH 256

/* Converted output for one chunk. Only the worker's loop thread
 * converts, and a chunk is written out before the next, so one buffer
 * per process is enough. */
static char retr_out[2 * RETR_CHUNK + 1];

/* Reads one message file, a chunk at a time, on the thread pool: on a
 * cold disk a read blocks, and the loop serves everybody else meanwhile.
 * It owns the fd and the buffer; a session that goes away while a read
 * is in flight leaves them to the read's done(), which frees them. */
struct pop3_reader {
	struct pop3_session *s;
	int fd;
	bool in_flight;   /* a read job is on the pool */
	bool ready;       /* buf holds n bytes not yet sent */
	bool abandoned;   /* the stream ended while a read was in flight */
	ssize_t n;        /* bytes read; 0 = end of file; -1 = error */
	int err;
	char buf[RETR_CHUNK];
};

static void reader_free(struct pop3_reader *rd)
{
	close(rd->fd);
	free(rd);
}

static void reader_work(void *arg)
{
	struct pop3_reader *rd = arg;
	do
		rd->n = read(rd->fd, rd->buf, sizeof rd->buf);
	while (rd->n < 0 && errno == EINTR);
	rd->err = rd->n < 0 ? errno : 0;
}

static void reader_done(void *arg)
{
	struct pop3_reader *rd = arg;
	struct pop3_session *s = rd->s;
	rd->in_flight = false;
	if (rd->abandoned) {
		reader_free(rd);
	} else {
		rd->ready = true;
		if (!s->dead && s->wait == POP3_WAIT_STREAM)
			pop3_stream_pump(s);
	}
	pop3_job_done(s);
}

static void reader_next(struct pop3_session *s, struct pop3_reader *rd)
{
	rd->in_flight = true;
	pop3_job_submit(s, reader_work, reader_done, rd);
}

static void start_msg(struct pop3_session *s, size_t i, bool top,
		      uint64_t lines)
{
	char err[256];
	int fd = store_msg_open(s->mb, s->msg_idx[i], err, sizeof err);
	if (fd < 0) {
		char e[LOG_ESC_MAX];
		log_kv(LOG_WARN, "event=message_unavailable proto=pop3 sid=%s "
				 "uid=%" PRIu32 " error=%s",
		       s->c->id, pop3_msg(s, i)->uid,
		       log_esc(e, sizeof e, err, strlen(err)));
		conn_writes(s->c, "-ERR [SYS/TEMP] message no longer "
				  "available\r\n");
		return;
	}
	struct pop3_reader *rd = xmalloc(sizeof *rd);
	*rd = (struct pop3_reader){ .s = s, .fd = fd };
	struct pop3_stream *st = &s->stream;
	*st = (struct pop3_stream){ .kind = POP3_STREAM_MSG, .rd = rd,
				    .top = top, .msg = i };
	crlf_init(&st->crlf, true);
	if (top) {
		pop3_top_init(&st->topcut, lines);
		conn_writes(s->c, "+OK\r\n");
	} else {
		conn_printf(s->c, "+OK %" PRIu64 " octets\r\n",
			    pop3_msg(s, i)->pop3_size);
	}
	pop3_set_wait(s, POP3_WAIT_STREAM);
	reader_next(s, rd);
}

void pop3_cmd_retr(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	size_t i;
	if (pop3_msg_arg(s, argv[0], &i))
		start_msg(s, i, false, 0);
}

void pop3_cmd_top(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	size_t i;
	uint64_t lines;
	if (!pop3_msg_arg(s, argv[0], &i))
		return;
	if (!pop3_parse_count(argv[1], &lines)) {
		pop3_bad_command(s, "Invalid line count");
		return;
	}
	start_msg(s, i, true, lines);
}

void pop3_list_all(struct pop3_session *s, enum pop3_stream_kind kind)
{
	if (kind == POP3_STREAM_LIST)
		conn_printf(s->c, "+OK %zu messages (%" PRIu64 " octets)\r\n",
			    s->n_msgs - s->n_deleted,
			    s->total_size - s->deleted_size);
	else
		conn_writes(s->c, "+OK\r\n");
	s->stream = (struct pop3_stream){ .kind = kind };
	pop3_set_wait(s, POP3_WAIT_STREAM);
	pop3_stream_pump(s);
}

/* PUMP_WAIT: nothing to send until a read completes. */
enum pump_result { PUMP_MORE, PUMP_WAIT, PUMP_END, PUMP_FAIL };

static enum pump_result pump_list(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	char uidl[POP3_UIDL_LEN + 1];
	for (int k = 0; k < LIST_BATCH && st->next < s->n_msgs; st->next++) {
		size_t i = st->next;
		if (s->marks[i] & POP3_M_DELETED)
			continue;
		const struct store_msg *m = pop3_msg(s, i);
		if (st->kind == POP3_STREAM_LIST)
			conn_printf(s->c, "%zu %" PRIu64 "\r\n", i + 1,
				    m->pop3_size);
		else
			conn_printf(s->c, "%zu %s\r\n", i + 1,
				    pop3_uidl(s, i, uidl));
		k++;
	}
	return st->next < s->n_msgs ? PUMP_MORE : PUMP_END;
}

static enum pump_result pump_msg(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	struct pop3_reader *rd = st->rd;
	if (!rd->ready)
		return PUMP_WAIT;
	rd->ready = false;
	if (rd->n < 0) {
		log_kv(LOG_ERR, "event=message_read_failed proto=pop3 sid=%s "
				"uid=%" PRIu32 " error=\"%s\"",
		       s->c->id, pop3_msg(s, st->msg)->uid, strerror(rd->err));
		return PUMP_FAIL;
	}
	size_t len = (size_t)rd->n;
	if (st->top)
		len = pop3_top_feed(&st->topcut, rd->buf, len);
	size_t out = crlf_convert(&st->crlf, rd->buf, len, retr_out);
	conn_write(s->c, retr_out, out);
	st->sent += out;
	if (rd->n == 0 || (st->top && st->topcut.done)) {
		out = crlf_finish(&st->crlf, retr_out);
		conn_write(s->c, retr_out, out);
		st->sent += out;
		return PUMP_END;
	}
	/* Read ahead while this chunk goes out. */
	reader_next(s, rd);
	return PUMP_MORE;
}

void pop3_stream_abort(struct pop3_session *s)
{
	struct pop3_reader *rd = s->stream.rd;
	if (rd) {
		if (rd->in_flight)
			rd->abandoned = true;
		else
			reader_free(rd);
	}
	s->stream.rd = NULL;
	s->stream.kind = POP3_STREAM_NONE;
}

static void stream_end(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	conn_writes(s->c, ".\r\n");
	if (st->kind == POP3_STREAM_MSG && st->top) {
		s->n_top++;
	} else if (st->kind == POP3_STREAM_MSG) {
		s->marks[st->msg] |= POP3_M_RETR;
		s->n_retr++;
		s->retr_bytes += st->sent;
	}
	pop3_stream_abort(s);
	pop3_resume(s);
}

void pop3_stream_pump(struct pop3_session *s)
{
	while (conn_output_len(s->c) <= CONN_OUTPUT_HIGH_WATER) {
		enum pump_result r = s->stream.kind == POP3_STREAM_MSG
					     ? pump_msg(s)
					     : pump_list(s);
		if (r == PUMP_WAIT)
			return; /* reader_done() pumps again */
		if (r == PUMP_END) {
			stream_end(s);
			return;
		}
		if (r == PUMP_FAIL) {
			/* Half a message is out: no -ERR can follow it. */
			pop3_stream_abort(s);
			pop3_close(s, "message_read_failed");
			return;
		}
	}
	conn_want_drain(s->c);
}
