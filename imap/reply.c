/* Everything the session writes: untagged data, the tagged end of a
 * command (after the mailbox updates RFC 9051 section 7.5.1 allows), and
 * the bad-command budget (imap_max_bad_commands). */
#include "imap/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "net/conn.h"

void imap_write(struct imap_session *s, const void *p, size_t n)
{
	if (s->c && !s->c->closing)
		conn_write(s->c, p, n);
}

void imap_writes(struct imap_session *s, const char *str)
{
	imap_write(s, str, strlen(str));
}

void imap_write_buf(struct imap_session *s, const struct buf *b)
{
	if (b->len)
		imap_write(s, b->data, b->len);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = (int)sizeof line - 1;
	imap_writes(s, "* ");
	imap_write(s, line, (size_t)n);
	imap_writes(s, "\r\n");
}

bool imap_count_bad(struct imap_session *s)
{
	s->bad_commands++;
	int max = s->cfg->imap_max_bad_commands;
	if (max > 0 && s->bad_commands >= max) {
		log_kv(LOG_INFO,
		       "event=too_many_bad_commands proto=imap sid=%s count=%d",
		       s->c->id, s->bad_commands);
		imap_writes(s, "* BYE Too many invalid commands\r\n");
		imap_close(s, "too_many_bad_commands");
		return true;
	}
	return false;
}

void imap_bad_untagged(struct imap_session *s, const char *text)
{
	if (imap_count_bad(s))
		return;
	imap_untagged(s, "BAD %s", text);
}

static const char *result_name(enum imap_result r)
{
	switch (r) {
	case IMAP_OK:
		return "OK";
	case IMAP_NO:
		return "NO";
	case IMAP_BAD:
		return "BAD";
	}
	return "BAD";
}

/* The tagged line, then the next command. */
static void finish(struct imap_session *s)
{
	if (s->dead)
		return;
	struct buf line = BUF_INIT;
	buf_append(&line, s->tag.data ? s->tag.data : "*", s->tag.len ? s->tag.len : 1);
	buf_printf(&line, " %s ", result_name(s->done_result));
	buf_append(&line, s->done_text.data ? s->done_text.data : "",
		   s->done_text.len);
	buf_appends(&line, "\r\n");
	imap_write_buf(s, &line);
	buf_free(&line);
	bool logout = s->state == IMAP_LOGOUT;
	imap_cmd_reset(s);
	if (logout) {
		imap_close(s, "logout");
		return;
	}
	imap_resume(s);
}

void imap_cmd_done(struct imap_session *s, enum imap_result r,
		   const char *text)
{
	if (s->dead || s->c->closing)
		return;
	if (r == IMAP_BAD) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO,
		       "event=command_error proto=imap sid=%s reason=%s",
		       s->c->id, log_esc(why, sizeof why, text, strlen(text)));
		if (imap_count_bad(s)) {
			imap_cmd_reset(s);
			return;
		}
	}
	s->done_result = r;
	buf_clear(&s->done_text);
	/* resp-text is one line (RFC 9051 section 9: TEXT-CHAR excludes CR
	 * and LF), and some texts quote a store error, which may name a
	 * file another program put in the Maildir: any byte outside
	 * printable ASCII is sent as '?' (docs/CONVENTIONS.md). */
	for (const char *p = text; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		buf_appendc(&s->done_text, ch >= 0x20 && ch < 0x7f ? (char)ch
								 : '?');
	}
	enum imap_sync_mode m = imap_cmd_sync_mode(s);
	if (s->state != IMAP_SELECTED || m == IMAP_SYNC_NONE) {
		finish(s);
		return;
	}
	imap_sync_report(s, m == IMAP_SYNC_FULL, finish);
}

void imap_cmd_donef(struct imap_session *s, enum imap_result r,
		    const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	imap_cmd_done(s, r, text);
}
