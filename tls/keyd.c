/* The key process (keyd.h): holds the private keys, signs for workers.
 * A main thread takes keys from the supervisor's socketpair and accepts
 * workers' connections; each connection gets a thread of its own that
 * answers one request at a time (a worker has one request in flight at
 * most), so workers on several cores sign in parallel as they did when
 * they held the key. Also the key loader (keyd_send_key), which runs in
 * a short-lived child of the supervisor. OpenSSL's non-deprecated API
 * only: the proxy key the workers use is tls/key_proxy.c. */
#include "tls/keyd.h"
#include "tls/key_proto.h"
#include "core/limits.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RSA keys up to this many bits (KEYD_DATA_MAX octets of modulus). */
#define KEYD_RSA_BITS_MAX (KEYD_DATA_MAX * 8)
/* A connection's thread needs a few pages of its own and OpenSSL's. */
#define KEYD_THREAD_STACK (256 * 1024)

struct kslot {
	uint32_t id;
	EVP_PKEY *pkey; /* NULL: free slot */
};

struct keyd {
	pthread_rwlock_t lock; /* keys */
	struct kslot keys[KEYD_KEYS_MAX];
	pthread_mutex_t conn_lock;
	int nconns;
	uid_t peer_uid;
};

struct kconn {
	struct keyd *d;
	int fd;
	long pid;
};

static volatile sig_atomic_t keyd_stop_sig;

static void on_term(int sig)
{
	keyd_stop_sig = sig;
}

static void log_ssl_errors(const char *event)
{
	unsigned long e;
	char tmp[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, tmp, sizeof tmp);
		log_kv(LOG_ERR, "event=%s openssl=\"%s\"", event, tmp);
	}
}

/* The key with this id, with a reference of its own, or NULL. */
static EVP_PKEY *key_get(struct keyd *d, uint32_t id)
{
	EVP_PKEY *k = NULL;
	pthread_rwlock_rdlock(&d->lock);
	for (int i = 0; i < KEYD_KEYS_MAX; i++)
		if (d->keys[i].pkey && d->keys[i].id == id) {
			k = d->keys[i].pkey;
			EVP_PKEY_up_ref(k);
			break;
		}
	pthread_rwlock_unlock(&d->lock);
	return k;
}

/* Takes k as key id: replaces the key of the same id, else fills a free
 * slot, else evicts the oldest (lowest id; ids only grow). */
static void key_add(struct keyd *d, uint32_t id, EVP_PKEY *k)
{
	pthread_rwlock_wrlock(&d->lock);
	int slot = -1;
	for (int i = 0; i < KEYD_KEYS_MAX && slot < 0; i++)
		if (d->keys[i].pkey && d->keys[i].id == id)
			slot = i;
	for (int i = 0; i < KEYD_KEYS_MAX && slot < 0; i++)
		if (!d->keys[i].pkey)
			slot = i;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < KEYD_KEYS_MAX; i++)
			if (d->keys[i].id < d->keys[slot].id)
				slot = i;
		log_kv(LOG_INFO, "event=keyd_key_evicted key_id=%lu",
		       (unsigned long)d->keys[slot].id);
	}
	EVP_PKEY_free(d->keys[slot].pkey); /* clears the old key's numbers */
	d->keys[slot].id = id;
	d->keys[slot].pkey = k;
	pthread_rwlock_unlock(&d->lock);
}

/* Does the operation fit the key? (Lengths as key_proto.h says.) */
static int op_fits(EVP_PKEY *k, const struct key_msg *m)
{
	int base = EVP_PKEY_get_base_id(k);
	size_t size = (size_t)EVP_PKEY_get_size(k);
	switch (m->code) {
	case KEY_OP_RSA_PKCS1:
		return base == EVP_PKEY_RSA && m->len + 11 <= size;
	case KEY_OP_RSA_RAW:
		return base == EVP_PKEY_RSA && m->len == size;
	case KEY_OP_ECDSA:
		return base == EVP_PKEY_EC && m->len <= KEY_PROTO_DIGEST_MAX;
	default:
		return 0;
	}
}

static int do_sign(EVP_PKEY *k, const struct key_msg *m, unsigned char *out,
		   size_t *outlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	int ok = c && EVP_PKEY_sign_init(c) == 1;
	if (ok && m->code != KEY_OP_ECDSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, m->code == KEY_OP_RSA_RAW
						     ? RSA_NO_PADDING
						     : RSA_PKCS1_PADDING) == 1;
	*outlen = KEYD_DATA_MAX;
	ok = ok && EVP_PKEY_sign(c, out, outlen, m->data, m->len) == 1;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

static void conn_gone(struct kconn *c)
{
	close(c->fd);
	pthread_mutex_lock(&c->d->conn_lock);
	c->d->nconns--;
	pthread_mutex_unlock(&c->d->conn_lock);
	free(c);
}

/* One worker's connection: request, signature, reply, until it closes.
 * A malformed request closes it (the worker reconnects). */
static void *conn_main(void *arg)
{
	struct kconn *c = arg;
	unsigned char in[IPC_MSG_MAX + 1];
	unsigned char out[KEY_PROTO_HDR + KEYD_DATA_MAX];
	unsigned char sig[KEYD_DATA_MAX];
	for (;;) {
		ssize_t n = recv(c->fd, in, sizeof in, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		struct key_msg m;
		if (key_proto_decode(in, (size_t)n, &m) < 0 ||
		    m.type != KEY_MSG_SIGN) {
			log_kv(LOG_ERR, "event=keyd_conn_closed reason=bad_request pid=%ld bytes=%zd",
			       c->pid, n);
			break;
		}
		struct key_msg r = { .type = KEY_MSG_SIGN_REPLY,
				     .key_id = m.key_id, .id = m.id };
		EVP_PKEY *k = key_get(c->d, m.key_id);
		size_t siglen = 0;
		if (!k) {
			r.code = KEY_ST_NO_KEY;
		} else if (!op_fits(k, &m)) {
			r.code = KEY_ST_BAD_INPUT;
		} else if (do_sign(k, &m, sig, &siglen) < 0 || siglen == 0 ||
			   siglen > KEYD_DATA_MAX) {
			r.code = KEY_ST_FAILED;
			log_ssl_errors("keyd_sign_failed");
		} else {
			r.data = sig;
			r.len = siglen;
		}
		EVP_PKEY_free(k);
		if (r.code != KEY_ST_OK)
			log_kv(LOG_WARN, "event=keyd_refused pid=%ld key_id=%lu op=%s bytes=%zu status=%s",
			       c->pid, (unsigned long)m.key_id,
			       key_proto_op_name(m.code), m.len,
			       key_proto_status_name(r.code));
		size_t olen = key_proto_encode(out, sizeof out, &r);
		if (olen == 0 ||
		    send(c->fd, out, olen, MSG_NOSIGNAL) != (ssize_t)olen)
			break;
	}
	conn_gone(c);
	return NULL;
}

static void on_accept(struct keyd *d, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_kv(LOG_ERR, "event=accept_failed error=\"%s\"", strerror(errno));
		return;
	}
	struct ucred cred = { 0 };
	socklen_t clen = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    cred.uid != d->peer_uid) {
		log_kv(LOG_WARN, "event=keyd_conn_refused reason=peer_uid uid=%ld pid=%ld",
		       (long)cred.uid, (long)cred.pid);
		close(fd);
		return;
	}
	pthread_mutex_lock(&d->conn_lock);
	bool room = d->nconns < KEYD_CONNS_MAX;
	if (room)
		d->nconns++;
	pthread_mutex_unlock(&d->conn_lock);
	if (!room) {
		log_kv(LOG_WARN, "event=keyd_conn_refused reason=too_many pid=%ld",
		       (long)cred.pid);
		close(fd);
		return;
	}
	struct kconn *c = calloc(1, sizeof *c);
	if (!c)
		log_fatal("event=out_of_memory what=keyd_conn");
	c->d = d;
	c->fd = fd;
	c->pid = (long)cred.pid;
	/* Signals stay with the main thread: the new thread starts with
	 * all of them blocked. */
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, KEYD_THREAD_STACK);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int rc = pthread_create(&t, &at, conn_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		log_kv(LOG_ERR, "event=keyd_conn_refused reason=thread error=\"%s\"",
		       strerror(rc));
		conn_gone(c);
		return;
	}
	log_kv(LOG_DEBUG, "event=keyd_conn_open pid=%ld", c->pid);
}

static void ctl_reply(int fd, uint32_t key_id, int status)
{
	unsigned char out[KEY_PROTO_HDR];
	struct key_msg r = { .type = KEY_MSG_ADD_REPLY, .code = (uint8_t)status,
			     .key_id = key_id };
	size_t n = key_proto_encode(out, sizeof out, &r);
	if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
		log_kv(LOG_ERR, "event=keyd_ctl_send_failed error=\"%s\"", strerror(errno));
}

/* A key from the supervisor's loader. -1 when the supervisor is gone. */
static int on_ctl(struct keyd *d, int fd)
{
	static unsigned char msg[IPC_MSG_MAX + 1];
	ssize_t n = recv(fd, msg, sizeof msg, MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return -1;
	struct key_msg m;
	if (key_proto_decode(msg, (size_t)n, &m) < 0 || m.type != KEY_MSG_ADD) {
		log_kv(LOG_ERR, "event=keyd_key_refused reason=bad_message bytes=%zd", n);
		OPENSSL_cleanse(msg, sizeof msg);
		ctl_reply(fd, 0, KEY_ST_BAD_INPUT);
		return 0;
	}
	const unsigned char *p = m.data;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)m.len);
	OPENSSL_cleanse(msg, sizeof msg);
	int base = k ? EVP_PKEY_get_base_id(k) : 0;
	int st = KEY_ST_OK;
	if (!k) {
		log_ssl_errors("keyd_key_refused");
		st = KEY_ST_BAD_INPUT;
	} else if ((base != EVP_PKEY_RSA && base != EVP_PKEY_EC) ||
		   EVP_PKEY_get_size(k) > KEYD_DATA_MAX) {
		log_kv(LOG_ERR, "event=keyd_key_refused key_id=%lu reason=type",
		       (unsigned long)m.key_id);
		EVP_PKEY_free(k);
		st = KEY_ST_BAD_INPUT;
	} else {
		key_add(d, m.key_id, k);
		log_kv(LOG_INFO, "event=keyd_key_loaded key_id=%lu type=%s bits=%d",
		       (unsigned long)m.key_id, base == EVP_PKEY_RSA ? "rsa" : "ec",
		       EVP_PKEY_get_bits(k));
	}
	ERR_clear_error();
	ctl_reply(fd, m.key_id, st);
	return 0;
}

void keyd_prepare(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		log_kv(LOG_WARN, "event=keyd_rand_failed");
	/* Loads the implementations a key and a signature need. */
	const char *names[] = { "RSA", "EC" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, names[i], NULL);
		EVP_PKEY_CTX_free(c);
	}
	ERR_clear_error();
}

int keyd_run(int ctl_fd, int listen_fd, uid_t peer_uid)
{
	static struct keyd d = {
		.lock = PTHREAD_RWLOCK_INITIALIZER,
		.conn_lock = PTHREAD_MUTEX_INITIALIZER,
	};
	d.peer_uid = peer_uid;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Blocked but while in ppoll, so a signal never slips in between
	 * the flag's check and the wait. */
	sigset_t term, waiting;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_kv(LOG_CRIT, "event=keyd_start_failed error=\"%s\"", strerror(errno));
		return 1;
	}
	log_kv(LOG_INFO, "event=keyd_ready uid=%ld peer_uid=%ld", (long)geteuid(),
	       (long)peer_uid);
	struct pollfd p[2] = { { .fd = ctl_fd, .events = POLLIN },
			       { .fd = listen_fd, .events = POLLIN } };
	const char *why = "signal";
	while (!keyd_stop_sig) {
		int n = ppoll(p, 2, NULL, &waiting);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_kv(LOG_ERR, "event=keyd_poll_failed error=\"%s\"", strerror(errno));
			why = "poll";
			break;
		}
		if (p[0].revents && on_ctl(&d, ctl_fd) < 0) {
			/* Its socketpair is keyd's lifeline: the same line
			 * as every other child (core/lifeline.c). */
			log_kv(LOG_WARN, "event=supervisor_gone action=exit");
			why = "supervisor_gone";
			break;
		}
		if (p[1].revents & POLLIN)
			on_accept(&d, listen_fd);
	}
	log_kv(LOG_INFO, "event=keyd_stop reason=%s", why);
	/* The connections' threads end with the process; the keys are
	 * cleared first. */
	pthread_rwlock_wrlock(&d.lock);
	for (int i = 0; i < KEYD_KEYS_MAX; i++) {
		EVP_PKEY_free(d.keys[i].pkey);
		d.keys[i].pkey = NULL;
	}
	return 0;
}

/* ---- the supervisor's key loader -------------------------------- */

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return -1;
}

static void ssl_reasons(struct buf *err)
{
	unsigned long e;
	char tmp[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, tmp, sizeof tmp);
		buf_printf(err, " (%s)", tmp);
	}
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends the ADD message and waits for keyd's answer to it (answers to
 * an earlier loader that gave up are skipped). */
static int give_to_keyd(int ctl_fd, uint32_t key_id, const char *path,
			const unsigned char *der, size_t dlen, struct buf *err)
{
	unsigned char *msg = OPENSSL_malloc(IPC_MSG_MAX);
	if (!msg) {
		buf_appends(err, "out of memory");
		return -1;
	}
	unsigned char junk[KEY_PROTO_HDR + 1];
	while (recv(ctl_fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
	struct key_msg m = { .type = KEY_MSG_ADD, .key_id = key_id,
			     .data = der, .len = dlen };
	size_t n = key_proto_encode(msg, IPC_MSG_MAX, &m);
	int rc = -1;
	if (n == 0) {
		buf_printf(err, "key %s: too big for the key process", path);
		goto out;
	}
	if (send(ctl_fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n) {
		buf_printf(err, "key %s: cannot hand it to the key process: %s",
			   path, strerror(errno));
		goto out;
	}
	long deadline = mono_ms() + KEYD_LOAD_TIMEOUT_MS;
	for (;;) {
		long left = deadline - mono_ms();
		struct pollfd p = { .fd = ctl_fd, .events = POLLIN };
		int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			buf_printf(err, "key %s: the key process did not answer", path);
			goto out;
		}
		unsigned char rep[KEY_PROTO_HDR + 1];
		ssize_t r = recv(ctl_fd, rep, sizeof rep, MSG_DONTWAIT);
		struct key_msg a;
		if (r <= 0) {
			buf_printf(err, "key %s: the key process is gone", path);
			goto out;
		}
		if (key_proto_decode(rep, (size_t)r, &a) < 0 ||
		    a.type != KEY_MSG_ADD_REPLY || a.key_id != key_id)
			continue;
		if (a.code != KEY_ST_OK) {
			buf_printf(err, "key %s: the key process refused it (%s)",
				   path, key_proto_status_name(a.code));
			goto out;
		}
		rc = 0;
		break;
	}
out:
	OPENSSL_clear_free(msg, IPC_MSG_MAX);
	return rc;
}

int keyd_send_key(int ctl_fd, uint32_t key_id, const char *key_path,
		  struct ssl_ctx_st *ctx, struct buf *err)
{
	int rc = -1;
	unsigned char *file = NULL, *der = NULL;
	size_t flen = 0, fcap = 0;
	int dlen = 0;
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	int fd = open(key_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		buf_printf(err, "cannot read key %s: %s", key_path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEYD_KEY_FILE_MAX) {
		buf_printf(err, "key %s: not a regular file of at most %d octets",
			   key_path, KEYD_KEY_FILE_MAX);
		goto out;
	}
	fcap = (size_t)st.st_size + 1;
	file = OPENSSL_malloc(fcap);
	if (!file) {
		buf_appends(err, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, file + flen, fcap - flen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_printf(err, "cannot read key %s: %s", key_path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		flen += (size_t)n;
		if (flen == fcap) {
			buf_printf(err, "key %s: changed while read", key_path);
			goto out;
		}
	}
	bio = BIO_new_mem_buf(file, (int)flen);
	k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	if (!k) {
		buf_printf(err, "key %s: not an unencrypted PEM private key", key_path);
		ssl_reasons(err);
		goto out;
	}
	int base = EVP_PKEY_get_base_id(k);
	if (base != EVP_PKEY_RSA && base != EVP_PKEY_EC) {
		buf_printf(err, "key %s: unsupported key type %s (the key process signs with RSA and ECDSA keys only)",
			   key_path, EVP_PKEY_get0_type_name(k));
		goto out;
	}
	if (EVP_PKEY_get_size(k) > KEYD_DATA_MAX) {
		buf_printf(err, "key %s: %d bits is more than the key process takes (RSA up to %d)",
			   key_path, EVP_PKEY_get_bits(k), KEYD_RSA_BITS_MAX);
		goto out;
	}
	X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
	if (!x || X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		buf_printf(err, "key %s does not match the certificate", key_path);
		goto out;
	}
	dlen = i2d_PrivateKey(k, &der);
	if (dlen <= 0 || (size_t)dlen > KEY_PROTO_DER_MAX) {
		buf_printf(err, "key %s: too big to hand to the key process", key_path);
		goto out;
	}
	if (give_to_keyd(ctl_fd, key_id, key_path, der, (size_t)dlen, err) < 0)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	if (der)
		OPENSSL_clear_free(der, (size_t)dlen);
	BIO_free(bio);
	EVP_PKEY_free(k);
	if (file)
		OPENSSL_clear_free(file, fcap);
	if (fd >= 0)
		close(fd);
	return rc;
}
