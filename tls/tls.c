/* OpenSSL behind one narrow file (see tls.h): contexts, TLS bufferevents
 * (libevent's OpenSSL filter does the want-read/want-write dance), and
 * the self-signed pair that `postern init` makes. */
#include "tls/tls.h"
#include "tls/key_proxy.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static void ssl_errors(struct buf *err)
{
	unsigned long e;
	char tmp[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, tmp, sizeof tmp);
		buf_printf(err, " (%s)", tmp);
	}
}

/* A server context with our settings and cert's chain; NULL with the
 * reason in err. */
static SSL_CTX *server_ctx_with_cert(const char *cert, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		buf_appends(err, "cannot create TLS context");
		ssl_errors(err);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Modern AEAD suites with forward secrecy for TLS 1.2; OpenSSL's
	 * TLS 1.3 defaults are all good. ECDHE only: the key process
	 * (keyd.h) signs but never decrypts. */
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1:!MD5");
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				 SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		buf_printf(err, "cannot load certificate %s", cert);
		ssl_errors(err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct ssl_ctx_st *tls_server_ctx_new(const char *cert, const char *key,
				      struct buf *err)
{
	SSL_CTX *ctx = server_ctx_with_cert(cert, err);
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		buf_printf(err, "cannot load key %s or it does not match the certificate", key);
		ssl_errors(err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct ssl_ctx_st *tls_server_ctx_new_keyd(const char *cert, uint32_t key_id,
					   struct buf *err)
{
	SSL_CTX *ctx = server_ctx_with_cert(cert, err);
	if (!ctx)
		return NULL;
	X509 *x = SSL_CTX_get0_certificate(ctx);
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	struct buf why = BUF_INIT;
	EVP_PKEY *proxy = pub ? key_proxy_new(pub, key_id, &why) : NULL;
	if (!proxy || SSL_CTX_use_PrivateKey(ctx, proxy) != 1) {
		buf_printf(err, "certificate %s: %s", cert,
			   why.len ? buf_cstr(&why) : "cannot use its key");
		ssl_errors(err);
		buf_free(&why);
		EVP_PKEY_free(proxy);
		SSL_CTX_free(ctx);
		return NULL;
	}
	buf_free(&why);
	EVP_PKEY_free(proxy); /* the context holds its own reference */
	return ctx;
}

void tls_ctx_free(struct ssl_ctx_st **ctx)
{
	if (*ctx)
		SSL_CTX_free(*ctx);
	*ctx = NULL;
}

struct bufferevent *tls_bev_accept(struct event_base *base, int fd,
				   struct ssl_ctx_st *ctx)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	struct bufferevent *bev = bufferevent_openssl_socket_new(
		base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *tls_bev_upgrade(struct event_base *base,
				    struct bufferevent *under,
				    struct ssl_ctx_st *ctx)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	struct bufferevent *bev = bufferevent_openssl_filter_new(
		base, under, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct ssl_ctx_st *tls_client_ctx_new(const char *ca_file, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		buf_appends(err, "cannot create TLS context");
		ssl_errors(err);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				 SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	int ok = ca_file[0] ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
			    : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		buf_printf(err, "cannot load CA certificates %s",
			   ca_file[0] ? ca_file : "(system default)");
		ssl_errors(err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Opportunistic TLS (RFC 7435) takes any certificate; the
	 * connections that must verify turn it on for themselves. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static bool name_is_ip(const char *name)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, name, tmp) == 1 ||
	       inet_pton(AF_INET6, name, tmp) == 1;
}

static SSL *client_ssl_new(struct ssl_ctx_st *ctx, const char *name,
			   bool verify)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	bool ip = name && name_is_ip(name);
	if (name && name[0] && !ip &&
	    SSL_set_tlsext_host_name(ssl, name) != 1)
		goto fail;
	if (verify) {
		if (!name || !name[0])
			goto fail;
		/* An IP literal is matched against iPAddress entries, a
		 * name against dNSName (RFC 6125), never the CN. */
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set_hostflags(vp,
			X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
			    : SSL_set1_host(ssl, name);
		if (ok != 1)
			goto fail;
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

/* The client's TLS bufferevent: over another one (STARTTLS) when under
 * is set, else on fd (implicit TLS). */
static struct bufferevent *client_bev(struct event_base *base,
				      struct bufferevent *under, int fd,
				      struct ssl_ctx_st *ctx, const char *name,
				      bool verify)
{
	SSL *ssl = client_ssl_new(ctx, name, verify);
	if (!ssl)
		return NULL;
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev =
		under ? bufferevent_openssl_filter_new(
				base, under, ssl, BUFFEREVENT_SSL_CONNECTING, opts)
		      : bufferevent_openssl_socket_new(
				base, fd, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *tls_bev_connect_upgrade(struct event_base *base,
					    struct bufferevent *under,
					    struct ssl_ctx_st *ctx,
					    const char *name, bool verify)
{
	return client_bev(base, under, -1, ctx, name, verify);
}

struct bufferevent *tls_bev_connect(struct event_base *base, int fd,
				    struct ssl_ctx_st *ctx, const char *name,
				    bool verify)
{
	return client_bev(base, NULL, fd, ctx, name, verify);
}

const char *tls_bev_verify_error(struct bufferevent *bev)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl)
		return NULL;
	long r = SSL_get_verify_result(ssl);
	if (r == X509_V_OK)
		return NULL;
	return X509_verify_cert_error_string(r);
}

const char *tls_bev_desc(struct bufferevent *bev, char *buf, size_t n)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl) {
		snprintf(buf, n, "none");
		return buf;
	}
	snprintf(buf, n, "%s/%s", SSL_get_version(ssl),
		 SSL_get_cipher_name(ssl));
	return buf;
}

const char *tls_bev_error(struct bufferevent *bev, char *buf, size_t n)
{
	unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
	if (!e) {
		snprintf(buf, n, "closed");
		return buf;
	}
	ERR_error_string_n(e, buf, n);
	/* Drain the rest so it does not show up on another connection. */
	while (bufferevent_get_openssl_error(bev))
		;
	return buf;
}

static int write_pem(const char *path, int mode, int (*fn)(FILE *, void *),
		     void *obj)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	int ok = fn(f, obj);
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static int pem_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

int tls_make_self_signed(const char *cert_path, const char *key_path,
			 const char *hostname, struct buf *err)
{
	int rc = -1;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!key || !x)
		goto out;
	X509_set_version(x, 2);
	unsigned char serial[16];
	FILE *ur = fopen("/dev/urandom", "rb");
	if (!ur || fread(serial, 1, sizeof serial, ur) != sizeof serial) {
		if (ur)
			fclose(ur);
		goto out;
	}
	fclose(ur);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * 825);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	char san[600];
	snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1",
		 hostname);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3,
						  NID_subject_alt_name, san);
	if (!ext)
		goto out;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	if (write_pem(key_path, 0600, pem_key, key) < 0) {
		buf_printf(err, "cannot write %s: %m", key_path);
		goto out_noerr;
	}
	if (write_pem(cert_path, 0644, pem_cert, x) < 0) {
		buf_printf(err, "cannot write %s: %m", cert_path);
		goto out_noerr;
	}
	rc = 0;
	goto out_noerr;
out:
	buf_appends(err, "cannot make a self-signed certificate");
	ssl_errors(err);
out_noerr:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
