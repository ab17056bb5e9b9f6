/* IDLE (RFC 2177, RFC 9051 section 6.3.13): "+ idling", then untagged
 * updates as they happen, until the client's DONE. A change reported by
 * the process's watcher starts a refresh at once, so a delivery by SMTP,
 * LMTP, `postern deliver` or another session reaches an idling client
 * within the inotify latency plus one refresh. A keepalive line every
 * IMAP_IDLE_KEEPALIVE seconds keeps NAT boxes from dropping the
 * connection. */
#include "imap/session.h"

#include <event2/event.h>

#include "net/conn.h"

/* Often enough for NAT and firewall idle timers (commonly 5 minutes). */
#define IMAP_IDLE_KEEPALIVE 120

static void idle_refresh(struct imap_session *s);

/* The keepalive every IMAP_IDLE_KEEPALIVE seconds. When inotify could
 * not watch the mailbox (limits), the timer ticks every second instead
 * and polls, so that new mail still arrives within a second; otherwise
 * an idle connection costs no wakeups in between. */
static bool idle_polls(const struct imap_session *s)
{
	return s->state == IMAP_SELECTED && s->sel.watch < 0;
}

static void idle_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct imap_session *s = arg;
	if (s->wait != IMAP_WAIT_IDLE)
		return;
	bool poll = idle_polls(s);
	if (!poll || ++s->idle_ticks % IMAP_IDLE_KEEPALIVE == 0)
		imap_writes(s, "* OK Still here\r\n");
	if (poll)
		idle_refresh(s);
}

void imap_idle_stop(struct imap_session *s)
{
	if (s->idle_timer)
		event_del(s->idle_timer);
}

/* After a refresh while idling: stay idle, go again, or end. */
static void after_refresh(struct imap_session *s)
{
	if (s->idle_done) {
		s->idle_done = false;
		s->wait = IMAP_WAIT_NONE;
		imap_cmd_done(s, IMAP_OK, "IDLE terminated");
		return;
	}
	if (s->sel.changed)
		idle_refresh(s);
}

static void idle_refresh(struct imap_session *s)
{
	if (s->state != IMAP_SELECTED || s->sel.refreshing)
		return;
	imap_sync_report(s, true, after_refresh);
}

void imap_notify_changed(struct imap_session *s)
{
	s->sel.changed = true;
	if (s->wait == IMAP_WAIT_IDLE && !s->dead)
		idle_refresh(s);
}

void imap_cmd_idle(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	(void)args;
	(void)n;
	if (!s->idle_timer)
		s->idle_timer = event_new(s->env->base, -1, EV_PERSIST, idle_tick, s);
	s->idle_ticks = 0;
	struct timeval tv = { idle_polls(s) ? 1 : IMAP_IDLE_KEEPALIVE, 0 };
	event_add(s->idle_timer, &tv);
	s->idle_done = false;
	imap_writes(s, "+ idling\r\n");
	imap_set_wait(s, IMAP_WAIT_IDLE);
	/* A client may idle for hours: the parsed command (IDLE takes no
	 * arguments, the tag is kept in s->tag) and the last command's reply
	 * text are not needed again before DONE. process_input frees the
	 * line buffer once this line is done with. */
	imap_parser_release(s->parser);
	buf_free(&s->done_text);
	/* What happened since the last report goes out now. */
	if (s->state == IMAP_SELECTED)
		idle_refresh(s);
}

void imap_idle_input(struct imap_session *s, struct str line)
{
	imap_idle_stop(s);
	bool done = str_eq_nocase(line, "DONE");
	if (s->sel.refreshing) {
		/* The refresh in flight ends the command; input waits. */
		s->idle_done = true;
		imap_set_wait(s, IMAP_WAIT_JOB);
		if (!done)
			imap_bad_untagged(s, "Expected DONE");
		return;
	}
	s->wait = IMAP_WAIT_NONE;
	if (done)
		imap_cmd_done(s, IMAP_OK, "IDLE terminated");
	else
		imap_cmd_done(s, IMAP_BAD, "Expected DONE");
}
