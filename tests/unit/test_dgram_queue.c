/* core/dgram_queue.h over a real SOCK_SEQPACKET pair: sent at once while
 * the socket has room, queued in order once it is full, flushed when
 * the peer reads, an error when the peer is gone. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/dgram_queue.h"
#include "tests/unit/unit.h"

static void pair(int sv[2])
{
	int rc = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv);
	CHECK_EQ_INT(rc, 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
}

/* Message k is "msg <k>" padded to 200 bytes. */
static size_t make(char *out, unsigned k)
{
	memset(out, 'x', 200);
	int n = snprintf(out, 200, "msg %u", k);
	out[n] = ' ';
	return 200;
}

/* Reads what the peer can; checks the numbers follow on from *next. */
static unsigned drain(int fd, unsigned *next)
{
	unsigned got = 0;
	char b[512], want[200];
	ssize_t n;
	while ((n = recv(fd, b, sizeof b, MSG_DONTWAIT)) > 0) {
		size_t wl = make(want, *next);
		CHECK_EQ_MEM(b, (size_t)n, want, wl);
		(*next)++;
		got++;
	}
	return got;
}

/* Sends messages 0, 1, ... until the socket is full: each goes out at
 * once until one is queued. Returns the number of that one. */
static unsigned fill(struct dgram_queue *q, int fd)
{
	char m[200];
	unsigned k = 0;
	enum dgram_rc rc;
	while ((rc = dgram_queue_send(q, fd, m, make(m, k))) == DGRAM_SENT &&
	       k < 100000) {
		k++;
		CHECK_EQ_INT(dgram_queue_len(q), 0);
	}
	CHECK_EQ_INT(rc, DGRAM_WAIT);
	CHECK_EQ_INT(dgram_queue_len(q), 1);
	CHECK(k > 0);
	return k;
}

UNIT_TEST(test_fill_queue_flush)
{
	int sv[2];
	pair(sv);
	struct dgram_queue q = DGRAM_QUEUE_INIT;
	char m[200];
	unsigned k = fill(&q, sv[0]);
	enum dgram_rc rc;
	/* More wait behind it, in order. */
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(dgram_queue_send(&q, sv[0], m, make(m, ++k)),
			     DGRAM_WAIT);
	CHECK_EQ_INT(dgram_queue_len(&q), 6);
	/* Still full: the flush waits and keeps them. */
	CHECK_EQ_INT(dgram_queue_flush(&q, sv[0]), DGRAM_WAIT);
	CHECK_EQ_INT(dgram_queue_len(&q), 6);
	unsigned next = 0, total = 0;
	while (dgram_queue_len(&q) > 0) {
		total += drain(sv[1], &next);
		rc = dgram_queue_flush(&q, sv[0]);
		CHECK(rc == DGRAM_SENT || rc == DGRAM_WAIT);
		if (rc == DGRAM_SENT)
			CHECK_EQ_INT(dgram_queue_len(&q), 0);
	}
	total += drain(sv[1], &next);
	CHECK_EQ_INT(total, k + 1);
	CHECK_EQ_INT(next, k + 1);
	/* Empty again: the next one goes at once. */
	CHECK_EQ_INT(dgram_queue_send(&q, sv[0], m, make(m, next)), DGRAM_SENT);
	CHECK_EQ_INT(drain(sv[1], &next), 1);
	CHECK_EQ_INT(dgram_queue_flush(&q, sv[0]), DGRAM_SENT);
	close(sv[0]);
	close(sv[1]);
}

/* The peer is gone: an error (no SIGPIPE), nothing queued; what waited
 * is dropped by clear (ASan sees no leak). */
UNIT_TEST(test_peer_gone)
{
	int sv[2];
	pair(sv);
	struct dgram_queue q = DGRAM_QUEUE_INIT;
	char m[200];
	unsigned k = fill(&q, sv[0]);
	dgram_queue_send(&q, sv[0], m, make(m, ++k));
	CHECK_EQ_INT(dgram_queue_len(&q), 2);
	close(sv[1]);
	CHECK_EQ_INT(dgram_queue_flush(&q, sv[0]), DGRAM_ERROR);
	CHECK(errno == EPIPE || errno == ECONNRESET);
	CHECK_EQ_INT(dgram_queue_len(&q), 2);
	dgram_queue_clear(&q);
	CHECK_EQ_INT(dgram_queue_len(&q), 0);
	CHECK(q.head == NULL && q.tail == NULL);
	/* With nothing waiting, the send itself fails and queues nothing. */
	CHECK_EQ_INT(dgram_queue_send(&q, sv[0], m, make(m, 0)), DGRAM_ERROR);
	CHECK_EQ_INT(dgram_queue_len(&q), 0);
	dgram_queue_clear(&q);
	close(sv[0]);
}

UNIT_MAIN(test_fill_queue_flush, test_peer_gone)
