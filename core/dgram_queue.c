/* Output queue for message sockets (core/dgram_queue.h). */
#include "core/dgram_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/xmalloc.h"

struct dgram_msg {
	struct dgram_msg *next;
	size_t len;
	char data[];
};

static void msg_free(struct dgram_msg *m)
{
	explicit_bzero(m->data, m->len);
	free(m);
}

/* 1 sent, 0 the socket is full, -1 error. */
static int send_one(int fd, const void *p, size_t n)
{
	for (;;) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r >= 0)
			return 1; /* a message socket sends all or nothing */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -1;
	}
}

enum dgram_rc dgram_queue_flush(struct dgram_queue *q, int fd)
{
	while (q->head) {
		struct dgram_msg *m = q->head;
		int r = send_one(fd, m->data, m->len);
		if (r < 0)
			return DGRAM_ERROR;
		if (r == 0)
			return DGRAM_WAIT;
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
		msg_free(m);
	}
	return DGRAM_SENT;
}

enum dgram_rc dgram_queue_send(struct dgram_queue *q, int fd, const void *p,
			       size_t n)
{
	if (!q->head) {
		int r = send_one(fd, p, n);
		if (r < 0)
			return DGRAM_ERROR;
		if (r > 0)
			return DGRAM_SENT;
	}
	struct dgram_msg *m = xmalloc(sizeof *m + n);
	m->next = NULL;
	m->len = n;
	if (n > 0)
		memcpy(m->data, p, n);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->len++;
	return DGRAM_WAIT;
}

void dgram_queue_clear(struct dgram_queue *q)
{
	for (struct dgram_msg *m = q->head, *nx; m; m = nx) {
		nx = m->next;
		msg_free(m);
	}
	q->head = q->tail = NULL;
	q->len = 0;
}
