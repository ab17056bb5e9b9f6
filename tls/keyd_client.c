/* A worker's side of the key process (keyd.h): one SOCK_SEQPACKET
 * connection, opened on first use and again after any failure, and a
 * synchronous round trip per private-key operation. It runs inside the
 * TLS handshake (from tls/key_proxy.c), on the worker's loop, where the
 * signature itself used to run: the loop waits about as long as it
 * waited for the signature before (docs/ARCHITECTURE.md, "Processes"). */
#include "tls/keyd.h"
#include "tls/key_proto.h"
#include "core/limits.h"
#include "core/log.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	char name[64];
	int fd;
	uint64_t next_id;
} kc = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .next_id = 1 };

void keyd_client_set_socket(const char *name)
{
	pthread_mutex_lock(&kc.lock);
	snprintf(kc.name, sizeof kc.name, "%s", name);
	if (kc.fd >= 0)
		close(kc.fd);
	kc.fd = -1;
	pthread_mutex_unlock(&kc.lock);
}

static int kc_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t nlen = strlen(kc.name);
	if (nlen == 0 || nlen + 1 > sizeof sa.sun_path) {
		errno = EINVAL;
		return -1;
	}
	memcpy(sa.sun_path + 1, kc.name, nlen); /* abstract: leading NUL */
	socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				     1 + nlen);
	/* Non-blocking: with keyd gone, its listening socket (the
	 * supervisor's) still takes connections until the backlog is full;
	 * then connect fails at once (EAGAIN) instead of blocking the loop. */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, slen) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The connection failed (or keyd answered nonsense): drop it, so the
 * next operation connects afresh and no late answer is ever taken for
 * another request's. */
static long kc_fail(const char *why, uint32_t key_id, int op)
{
	log_kv(LOG_ERR, "event=keyd_request_failed reason=%s key_id=%lu op=%s effect=\"TLS handshake fails\"",
	       why, (unsigned long)key_id, key_proto_op_name(op));
	if (kc.fd >= 0)
		close(kc.fd);
	kc.fd = -1;
	return -1;
}

static long kc_op(uint32_t key_id, int op, const unsigned char *in,
		  size_t inlen, unsigned char *out, size_t outcap)
{
	unsigned char msg[KEY_PROTO_HDR + KEYD_DATA_MAX];
	struct key_msg m = { .type = KEY_MSG_SIGN, .code = (uint8_t)op,
			     .key_id = key_id, .id = kc.next_id++,
			     .data = in, .len = inlen };
	size_t n = key_proto_encode(msg, sizeof msg, &m);
	if (n == 0) {
		log_kv(LOG_ERR, "event=keyd_request_failed reason=bad_input key_id=%lu op=%s bytes=%zu",
		       (unsigned long)key_id, key_proto_op_name(op), inlen);
		return -1;
	}
	long deadline = now_ms() + KEYD_TIMEOUT_MS;
	ssize_t r;
	unsigned char rep[KEY_PROTO_HDR + KEYD_DATA_MAX + 1];
	/* A connection kept from earlier may lead to a keyd that has died
	 * since (restarted: same socket, new process): the first send or
	 * read tells; then once more on a fresh connection, within the same
	 * deadline. */
	for (int attempt = 0;; attempt++) {
		bool fresh = kc.fd < 0;
		if (fresh && (kc.fd = kc_connect()) < 0)
			return kc_fail(errno == EAGAIN ? "keyd_backlog_full"
							: "connect_failed",
				       key_id, op);
		if (send(kc.fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
			if (!fresh && attempt == 0) {
				close(kc.fd);
				kc.fd = -1;
				continue;
			}
			return kc_fail("send_failed", key_id, op);
		}
		for (;;) {
			long left = deadline - now_ms();
			struct pollfd p = { .fd = kc.fd, .events = POLLIN };
			int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0)
				return kc_fail("poll_failed", key_id, op);
			if (pr == 0)
				return kc_fail("timeout", key_id, op);
			break;
		}
		r = recv(kc.fd, rep, sizeof rep, MSG_DONTWAIT);
		if (r <= 0 && !fresh && attempt == 0) {
			close(kc.fd);
			kc.fd = -1;
			continue;
		}
		break;
	}
	struct key_msg a;
	if (r <= 0)
		return kc_fail("keyd_gone", key_id, op);
	if (key_proto_decode(rep, (size_t)r, &a) < 0 ||
	    a.type != KEY_MSG_SIGN_REPLY || a.id != m.id || a.key_id != key_id)
		return kc_fail("bad_reply", key_id, op);
	if (a.code != KEY_ST_OK) {
		log_kv(LOG_ERR, "event=keyd_request_failed reason=%s key_id=%lu op=%s effect=\"TLS handshake fails\"",
		       key_proto_status_name(a.code), (unsigned long)key_id,
		       key_proto_op_name(op));
		return -1;
	}
	if (a.len > outcap)
		return kc_fail("reply_too_long", key_id, op);
	memcpy(out, a.data, a.len);
	return (long)a.len;
}

long keyd_client_op(uint32_t key_id, int op, const unsigned char *in,
		    size_t inlen, unsigned char *out, size_t outcap)
{
	pthread_mutex_lock(&kc.lock);
	long rc = kc_op(key_id, op, in, inlen, out, outcap);
	pthread_mutex_unlock(&kc.lock);
	return rc;
}
