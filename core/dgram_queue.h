/* An output queue for a message socket (SOCK_SEQPACKET or SOCK_DGRAM):
 * messages that did not fit while the socket was full wait here and go
 * out in order, each whole, by non-blocking send(2). The auth client
 * (auth/auth_client.c) and the auth process (auth/authd.c) each keep
 * one per connection.
 *
 * Each message is copied in, and the copy is wiped (explicit_bzero)
 * when it is sent or dropped: some carry passwords. No event loop here:
 * a send that must wait says so, and the caller arms its write event
 * and calls dgram_queue_flush when the socket is writable. */
#ifndef POSTERN_DGRAM_QUEUE_H
#define POSTERN_DGRAM_QUEUE_H
#include <stddef.h>

struct dgram_msg;

struct dgram_queue {
	struct dgram_msg *head, *tail;
	size_t len; /* messages waiting */
};
#define DGRAM_QUEUE_INIT { NULL, NULL, 0 }

enum dgram_rc {
	DGRAM_ERROR = -1, /* send(2) failed (errno); the caller closes */
	DGRAM_SENT = 0,   /* nothing is left waiting */
	DGRAM_WAIT = 1,   /* the socket is full: wait until writable */
};

/* Sends p[0..n) on fd, after those already waiting: at once when none
 * is (no copy made), else or when the socket is full it is queued.
 * DGRAM_SENT, DGRAM_WAIT (queued), or DGRAM_ERROR (nothing queued). The
 * caller bounds dgram_queue_len first. */
enum dgram_rc dgram_queue_send(struct dgram_queue *q, int fd, const void *p,
			       size_t n);
/* Sends what waits, in order, until the socket is full. */
enum dgram_rc dgram_queue_flush(struct dgram_queue *q, int fd);
static inline size_t dgram_queue_len(const struct dgram_queue *q)
{
	return q->len;
}
/* Drops (and wipes) every message waiting; q is empty after. */
void dgram_queue_clear(struct dgram_queue *q);

#endif
