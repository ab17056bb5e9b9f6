/* The key process ("keyd"): the only process that holds TLS private
 * keys. The supervisor forks it with one end of a socketpair (the
 * control channel, over which it is given keys) and an abstract
 * SOCK_SEQPACKET listening socket on which workers ask it for private-key
 * operations (tls/key_proto.h). Workers' TLS contexts hold the
 * certificate and a proxy key whose private operations come here
 * (tls_server_ctx_new_keyd, tls/key_proxy.c). */
#ifndef POSTERN_KEYD_H
#define POSTERN_KEYD_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct ssl_ctx_st;

/* keyd's main, in the child after it left root and the file system
 * (the supervisor's business): serves peers whose uid is peer_uid on
 * listen_fd, one thread per connection, and takes keys from ctl_fd.
 * Returns (the exit code) on SIGTERM or when ctl_fd reads EOF (the
 * supervisor is gone). */
int keyd_run(int ctl_fd, int listen_fd, uid_t peer_uid);

/* Warms up what keyd will need and cannot load once chrooted (the
 * random generator, the algorithm implementations). Call before the
 * chroot. */
void keyd_prepare(void);

/* In the supervisor's short-lived key loader: reads the PEM private key
 * at key_path, checks that it is an RSA or EC key and matches the
 * certificate of ctx (from tls_server_ctx_new_keyd), gives it to keyd as
 * key_id over ctl_fd and waits for keyd's answer (KEYD_LOAD_TIMEOUT_MS).
 * Every copy of the key's bytes is cleansed before it returns. 0, or -1
 * with a sentence naming the file and the reason appended to err. */
int keyd_send_key(int ctl_fd, uint32_t key_id, const char *key_path,
		  struct ssl_ctx_st *ctx, struct buf *err);

/* Worker side. The abstract socket name to ask (set by the supervisor
 * before it forks; inherited). */
void keyd_client_set_socket(const char *name);
/* One private-key operation (KEY_OP_*) with the key key_id: a
 * synchronous round trip of at most KEYD_TIMEOUT_MS. The result goes to
 * out (outcap octets); returns its length, or -1 after a log line (keyd
 * gone, slow, or refusing). Connects on first use and again after any
 * failure. Thread-safe (one request at a time per process). */
long keyd_client_op(uint32_t key_id, int op, const unsigned char *in,
		    size_t inlen, unsigned char *out, size_t outcap);

#endif
