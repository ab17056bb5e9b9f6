/* Replies that can be longer than the output buffer (STYLE 3): RETR and
 * TOP stream the message file, LIST and UIDL without an argument walk
 * the maildrop. Each writes until the output passes
 * CONN_OUTPUT_HIGH_WATER, asks for on_drain and goes on from there; the
 * session reads no further command until the reply is complete. */
#include "pop3/session.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "net/conn.h"
#include "store/store.h"

/* Message bytes are read in chunks of this size. */
#define RETR_CHUNK (64 * 1024)
/* LIST/UIDL lines written per round before checking the output. */
#define LIST_BATCH 256

/* Scratch space for one chunk. Only the worker's loop thread streams,
 * and a chunk is written out before the next read, so one pair per
 * process is enough (and keeps 192 KB out of every session). */
static char retr_in[RETR_CHUNK];
static char retr_out[2 * RETR_CHUNK + 1];

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
	struct pop3_stream *st = &s->stream;
	*st = (struct pop3_stream){ .kind = POP3_STREAM_MSG, .fd = fd,
				    .top = top, .msg = i };
	crlf_init(&st->crlf, true);
	if (top) {
		pop3_top_init(&st->topcut, lines);
		conn_writes(s->c, "+OK\r\n");
	} else {
		conn_printf(s->c, "+OK %" PRIu64 " octets\r\n",
			    pop3_msg(s, i)->size);
	}
	pop3_set_wait(s, POP3_WAIT_STREAM);
	pop3_stream_pump(s);
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
	s->stream = (struct pop3_stream){ .kind = kind, .fd = -1 };
	pop3_set_wait(s, POP3_WAIT_STREAM);
	pop3_stream_pump(s);
}

enum pump_result { PUMP_MORE, PUMP_END, PUMP_FAIL };

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
			conn_printf(s->c, "%zu %" PRIu64 "\r\n", i + 1, m->size);
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
	ssize_t n;
	do
		n = read(st->fd, retr_in, sizeof retr_in);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_kv(LOG_ERR, "event=message_read_failed proto=pop3 sid=%s "
				"uid=%" PRIu32 " error=\"%s\"",
		       s->c->id, pop3_msg(s, st->msg)->uid, strerror(errno));
		return PUMP_FAIL;
	}
	size_t len = (size_t)n;
	if (st->top)
		len = pop3_top_feed(&st->topcut, retr_in, len);
	size_t out = crlf_convert(&st->crlf, retr_in, len, retr_out);
	conn_write(s->c, retr_out, out);
	st->sent += out;
	if (n == 0 || (st->top && st->topcut.done)) {
		out = crlf_finish(&st->crlf, retr_out);
		conn_write(s->c, retr_out, out);
		st->sent += out;
		return PUMP_END;
	}
	return PUMP_MORE;
}

void pop3_stream_abort(struct pop3_session *s)
{
	if (s->stream.fd >= 0)
		close(s->stream.fd);
	s->stream.fd = -1;
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
