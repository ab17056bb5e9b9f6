/* The key process: its messages, and TLS handshakes (1.2 and 1.3, RSA
 * and ECDSA) whose server side holds only a proxy key and asks a real
 * keyd, forked here, for every signature. */
#include "unit.h"

#include "tls/key_proto.h"
#include "tls/keyd.h"
#include "tls/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- messages -------------------------------------------------------- */

UNIT_TEST(test_proto_round_trip)
{
	unsigned char in[32], buf[IPC_MSG_MAX];
	memset(in, 0xab, sizeof in);
	struct key_msg m = { .type = KEY_MSG_SIGN, .code = KEY_OP_ECDSA,
			     .key_id = 7, .id = 99, .data = in, .len = 32 };
	size_t n = key_proto_encode(buf, sizeof buf, &m);
	CHECK_EQ_INT(n, KEY_PROTO_HDR + 32);
	struct key_msg d;
	CHECK_EQ_INT(key_proto_decode(buf, n, &d), 0);
	CHECK_EQ_INT(d.type, KEY_MSG_SIGN);
	CHECK_EQ_INT(d.code, KEY_OP_ECDSA);
	CHECK_EQ_INT(d.key_id, 7);
	CHECK_EQ_INT(d.id, 99);
	CHECK_EQ_MEM(d.data, d.len, in, sizeof in);
	/* every truncation and one octet too many are refused */
	for (size_t i = 0; i < n; i++)
		CHECK(key_proto_decode(buf, i, &d) < 0);
	buf[n] = 0;
	CHECK(key_proto_decode(buf, n + 1, &d) < 0);
}

UNIT_TEST(test_proto_rules)
{
	unsigned char in[KEYD_DATA_MAX + 1] = { 0 }, buf[IPC_MSG_MAX + 64];
	struct key_msg d;
	/* unknown op, empty input, input over the limit */
	struct key_msg m = { .type = KEY_MSG_SIGN, .code = 9, .data = in, .len = 1 };
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &m), 0);
	m.code = KEY_OP_RSA_RAW;
	m.len = 0;
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &m), 0);
	m.len = KEYD_DATA_MAX + 1;
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &m), 0);
	m.len = KEYD_DATA_MAX;
	CHECK(key_proto_encode(buf, sizeof buf, &m) > 0);
	/* a failed reply carries nothing; an OK one something */
	struct key_msg r = { .type = KEY_MSG_SIGN_REPLY, .code = KEY_ST_NO_KEY,
			     .data = in, .len = 4 };
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &r), 0);
	r.len = 0;
	size_t n = key_proto_encode(buf, sizeof buf, &r);
	CHECK_EQ_INT(n, KEY_PROTO_HDR);
	CHECK_EQ_INT(key_proto_decode(buf, n, &d), 0);
	buf[1] = KEY_ST_OK; /* OK with no signature */
	CHECK(key_proto_decode(buf, n, &d) < 0);
	buf[1] = 200;       /* unknown status */
	CHECK(key_proto_decode(buf, n, &d) < 0);
	buf[0] = 77;        /* unknown type */
	buf[1] = 0;
	CHECK(key_proto_decode(buf, n, &d) < 0);
	/* ADD: id must be 0; the key must fit one datagram */
	struct key_msg a = { .type = KEY_MSG_ADD, .key_id = 1, .id = 5,
			     .data = in, .len = 10 };
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &a), 0);
	a.id = 0;
	CHECK(key_proto_encode(buf, sizeof buf, &a) > 0);
	static unsigned char big[IPC_MSG_MAX];
	a.data = big;
	a.len = KEY_PROTO_DER_MAX + 1;
	CHECK_EQ_INT(key_proto_encode(buf, sizeof buf, &a), 0);
	/* a length field that disagrees with the datagram */
	m.len = 8;
	n = key_proto_encode(buf, sizeof buf, &m);
	buf[2] ^= 1;
	CHECK(key_proto_decode(buf, n, &d) < 0);
}

/* ---- keyd, end to end ------------------------------------------------- */

static char dir[] = "/tmp/postern-test-keyd-XXXXXX";

struct kd {
	pid_t pid;
	int ctl;
	char name[64];
};

static void keyd_start(struct kd *k)
{
	snprintf(k->name, sizeof k->name, "postern-test-keyd-%ld-%ld",
		 (long)getpid(), (long)time(NULL));
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t nl = strlen(k->name);
	memcpy(sa.sun_path + 1, k->name, nl);
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nl);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sl) != 0 ||
	    listen(lfd, 16) != 0) {
		perror("keyd socket");
		exit(1);
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
		exit(1);
	k->pid = fork();
	if (k->pid == 0) {
		close(sp[0]);
		keyd_prepare();
		_exit(keyd_run(sp[1], lfd, getuid()));
	}
	close(sp[1]);
	close(lfd);
	k->ctl = sp[0];
	keyd_client_set_socket(k->name);
}

static void keyd_stop(struct kd *k)
{
	close(k->ctl);
	int st;
	waitpid(k->pid, &st, 0);
}

static int write_pem_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	int ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

/* A self-signed pair of the given key type in dir/<tag>.{crt,key}. */
static void make_pair(const char *tag, const char *type, char *cert,
		      char *key)
{
	sprintf(cert, "%s/%s.crt", dir, tag);
	sprintf(key, "%s/%s.key", dir, tag);
	EVP_PKEY *k = !strcmp(type, "RSA") ? EVP_RSA_gen(2048)
		      : !strcmp(type, "EC") ? EVP_EC_gen("P-256")
					    : EVP_PKEY_Q_keygen(NULL, NULL, type);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, k, !strcmp(type, "ED25519") ? NULL : EVP_sha256());
	FILE *f = fopen(cert, "w");
	PEM_write_X509(f, x);
	fclose(f);
	write_pem_key(key, k);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A handshake over memory between a client limited to version and sctx;
 * 1 when it completes. */
static int handshake_sigalgs(SSL_CTX *sctx, int version, const char *sigalgs)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
	if (sigalgs && SSL_CTX_set1_sigalgs_list(cctx, sigalgs) != 1)
		return 0;
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *cb, *sb;
	BIO_new_bio_pair(&cb, 0, &sb, 0);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	int cdone = 0, sdone = 0, ok = 0;
	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!sdone) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	ok = cdone && sdone && SSL_version(c) == version;
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return ok;
}

static int handshake(SSL_CTX *sctx, int version)
{
	return handshake_sigalgs(sctx, version, NULL);
}

static void check_type(const char *type)
{
	char cert[256], key[256];
	make_pair(type, type, cert, key);
	struct kd k;
	keyd_start(&k);
	struct buf err = BUF_INIT;
	SSL_CTX *ctx = tls_server_ctx_new_keyd(cert, 1, &err);
	CHECK(ctx != NULL);
	if (!ctx) {
		fprintf(stderr, "%s\n", buf_cstr(&err));
		keyd_stop(&k);
		return;
	}
	/* keyd has no key 1 yet: the handshake fails */
	CHECK(!handshake(ctx, TLS1_3_VERSION));
	CHECK_EQ_INT(keyd_send_key(k.ctl, 1, key, ctx, &err), 0);
	if (err.len)
		fprintf(stderr, "%s\n", buf_cstr(&err));
	CHECK(handshake(ctx, TLS1_3_VERSION));
	CHECK(handshake(ctx, TLS1_2_VERSION));
	CHECK(handshake(ctx, TLS1_3_VERSION));
	/* each signature scheme (PKCS #1 v1.5 is TLS 1.2 only) */
	if (!strcmp(type, "RSA")) {
		CHECK(handshake_sigalgs(ctx, TLS1_2_VERSION, "RSA+SHA256"));
		CHECK(handshake_sigalgs(ctx, TLS1_2_VERSION, "RSA+SHA512"));
		CHECK(handshake_sigalgs(ctx, TLS1_2_VERSION, "rsa_pss_rsae_sha384"));
		CHECK(handshake_sigalgs(ctx, TLS1_3_VERSION, "rsa_pss_rsae_sha512"));
	} else {
		CHECK(handshake_sigalgs(ctx, TLS1_2_VERSION, "ECDSA+SHA384"));
		CHECK(handshake_sigalgs(ctx, TLS1_3_VERSION, "ECDSA+SHA256"));
	}
	/* keyd stopped: the next handshake fails within the timeout */
	kill(k.pid, SIGSTOP);
	usleep(100 * 1000); /* the stop reaches every thread */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(!handshake(ctx, TLS1_3_VERSION));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= KEYD_TIMEOUT_MS - 50 && ms < KEYD_TIMEOUT_MS + 1000);
	kill(k.pid, SIGCONT);
	/* and works again, on a new connection */
	CHECK(handshake(ctx, TLS1_2_VERSION));
	SSL_CTX_free(ctx);
	keyd_stop(&k);
	buf_free(&err);
}

UNIT_TEST(test_handshake_rsa)
{
	check_type("RSA");
}

UNIT_TEST(test_handshake_ec)
{
	check_type("EC");
}

UNIT_TEST(test_refusals)
{
	char cert[256], key[256], cert2[256], key2[256], ecert[256], ekey[256];
	make_pair("a", "EC", cert, key);
	make_pair("b", "EC", cert2, key2);
	make_pair("ed", "ED25519", ecert, ekey);
	struct kd k;
	keyd_start(&k);
	struct buf err = BUF_INIT;
	/* an Ed25519 certificate: refused with its type named */
	SSL_CTX *ctx = tls_server_ctx_new_keyd(ecert, 1, &err);
	CHECK(ctx == NULL);
	CHECK(strstr(buf_cstr(&err), "unsupported key type ED25519") != NULL);
	buf_clear(&err);
	ctx = tls_server_ctx_new_keyd(cert, 1, &err);
	CHECK(ctx != NULL);
	/* the key of another certificate */
	CHECK(keyd_send_key(k.ctl, 1, key2, ctx, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "does not match the certificate") != NULL);
	CHECK(strstr(buf_cstr(&err), key2) != NULL);
	buf_clear(&err);
	/* a missing file, and one that is no key */
	CHECK(keyd_send_key(k.ctl, 1, "/nonexistent/key.pem", ctx, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "/nonexistent/key.pem: No such file") != NULL);
	buf_clear(&err);
	CHECK(keyd_send_key(k.ctl, 1, cert, ctx, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "not an unencrypted PEM private key") != NULL);
	buf_clear(&err);
	/* an Ed25519 key file */
	CHECK(keyd_send_key(k.ctl, 1, ekey, ctx, &err) < 0);
	CHECK(strstr(buf_cstr(&err), "unsupported key type ED25519") != NULL);
	buf_clear(&err);
	CHECK(!handshake(ctx, TLS1_3_VERSION));
	CHECK_EQ_INT(keyd_send_key(k.ctl, 1, key, ctx, &err), 0);
	CHECK(handshake(ctx, TLS1_3_VERSION));
	SSL_CTX_free(ctx);
	/* requests that do not fit the key: refused, the connection stays */
	unsigned char in[256], out[KEYD_DATA_MAX];
	memset(in, 1, sizeof in);
	CHECK_EQ_INT(keyd_client_op(1, KEY_OP_RSA_RAW, in, 256, out, sizeof out), -1);
	CHECK_EQ_INT(keyd_client_op(1, KEY_OP_ECDSA, in, 65, out, sizeof out), -1);
	CHECK(keyd_client_op(1, KEY_OP_ECDSA, in, 32, out, sizeof out) > 0);
	CHECK_EQ_INT(keyd_client_op(2, KEY_OP_ECDSA, in, 32, out, sizeof out), -1);
	/* a malformed message closes the connection */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t nl = strlen(k.name);
	memcpy(sa.sun_path + 1, k.name, nl);
	CHECK(connect(fd, (struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nl)) == 0);
	unsigned char bad[KEY_PROTO_HDR + 4] = { KEY_MSG_SIGN, KEY_OP_ECDSA, 9, 0 };
	CHECK(send(fd, bad, sizeof bad, 0) == (ssize_t)sizeof bad);
	CHECK_EQ_INT(recv(fd, out, sizeof out, 0), 0);
	close(fd);
	/* the supervisor gone (EOF on the socketpair): keyd exits */
	close(k.ctl);
	int st = -1;
	CHECK_EQ_INT(waitpid(k.pid, &st, 0), k.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	buf_free(&err);
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void setup(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(cleanup);
}

UNIT_TEST(test_setup)
{
	setup();
}

UNIT_MAIN(test_proto_round_trip, test_proto_rules, test_setup,
	  test_handshake_rsa, test_handshake_ec, test_refusals)
