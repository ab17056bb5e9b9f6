/* The proxy key (key_proxy.h). libssl signs with whatever EVP_PKEY the
 * context holds; OpenSSL 3 has no provider-free way to hand that
 * operation to another process, but it keeps "foreign" legacy keys -- an
 * RSA with an RSA_METHOD of its own, an EC_KEY with its own
 * EC_KEY_METHOD (ossl_rsa_is_foreign, ossl_ec_key_is_foreign) -- on the
 * legacy code path, which calls the method. So: an RSA whose private
 * encryption is a request to keyd (PKCS #1 v1.5 padding for TLS 1.2's
 * RSA signatures; RSA_NO_PADDING for RSA-PSS, which OpenSSL pads before
 * calling us), and an EC_KEY whose ECDSA signing is one. OpenSMTPD's ca
 * process does the same. These APIs are deprecated in OpenSSL 3.0; this
 * file is the only one that uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tls/key_proxy.h"
#include "tls/keyd.h"
#include "tls/key_proto.h"
#include "core/limits.h"
#include "core/log.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdint.h>

static pthread_once_t proxy_once = PTHREAD_ONCE_INIT;
static RSA_METHOD *proxy_rsa;
static EC_KEY_METHOD *proxy_ec;
static int rsa_idx = -1, ec_idx = -1;

static uint32_t rsa_key_id(RSA *rsa)
{
	return (uint32_t)(uintptr_t)RSA_get_ex_data(rsa, rsa_idx);
}

static uint32_t ec_key_id(EC_KEY *ec)
{
	return (uint32_t)(uintptr_t)EC_KEY_get_ex_data(ec, ec_idx);
}

static int proxy_rsa_priv_enc(int flen, const unsigned char *from,
			      unsigned char *to, RSA *rsa, int padding)
{
	int op = padding == RSA_PKCS1_PADDING ? KEY_OP_RSA_PKCS1
		 : padding == RSA_NO_PADDING  ? KEY_OP_RSA_RAW
					      : 0;
	if (!op || flen <= 0) {
		log_kv(LOG_ERR, "event=keyd_request_failed reason=padding padding=%d",
		       padding);
		return -1;
	}
	long n = keyd_client_op(rsa_key_id(rsa), op, from, (size_t)flen, to,
				(size_t)RSA_size(rsa));
	return n < 0 ? -1 : (int)n;
}

/* RSA key exchange is never negotiated (ECDHE suites only, tls.c), so
 * there is nothing to decrypt; keyd offers no decryption. */
static int proxy_rsa_priv_dec(int flen, const unsigned char *from,
			      unsigned char *to, RSA *rsa, int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)padding;
	log_kv(LOG_ERR, "event=keyd_request_failed reason=decrypt_unsupported key_id=%lu",
	       (unsigned long)rsa_key_id(rsa));
	return -1;
}

static int proxy_ec_sign(int type, const unsigned char *dgst, int dlen,
			 unsigned char *sig, unsigned int *siglen,
			 const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	(void)type;
	(void)kinv;
	(void)r;
	*siglen = 0;
	int size = ECDSA_size(ec);
	if (dlen <= 0 || size <= 0)
		return 0;
	long n = keyd_client_op(ec_key_id(ec), KEY_OP_ECDSA, dgst, (size_t)dlen,
				sig, (size_t)size);
	if (n < 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *proxy_ec_sign_sig(const unsigned char *dgst, int dlen,
				    const BIGNUM *kinv, const BIGNUM *r,
				    EC_KEY *ec)
{
	(void)kinv;
	(void)r;
	unsigned char der[KEYD_DATA_MAX];
	if (dlen <= 0)
		return NULL;
	long n = keyd_client_op(ec_key_id(ec), KEY_OP_ECDSA, dgst, (size_t)dlen,
				der, sizeof der);
	if (n < 0)
		return NULL;
	const unsigned char *p = der;
	return d2i_ECDSA_SIG(NULL, &p, n);
}

static void proxy_init(void)
{
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	proxy_rsa = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	proxy_ec = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (!proxy_rsa || !proxy_ec || rsa_idx < 0 || ec_idx < 0 ||
	    RSA_meth_set1_name(proxy_rsa, "postern keyd proxy") != 1 ||
	    RSA_meth_set_priv_enc(proxy_rsa, proxy_rsa_priv_enc) != 1 ||
	    RSA_meth_set_priv_dec(proxy_rsa, proxy_rsa_priv_dec) != 1)
		log_fatal("event=out_of_memory what=key_proxy");
	/* The private half lives elsewhere: OpenSSL must not look for it. */
	RSA_meth_set_flags(proxy_rsa, RSA_meth_get_flags(proxy_rsa) |
					      RSA_FLAG_EXT_PKEY);
	EC_KEY_METHOD_set_sign(proxy_ec, proxy_ec_sign, NULL, proxy_ec_sign_sig);
}

static EVP_PKEY *rsa_proxy(EVP_PKEY *pub, uint32_t key_id)
{
	const RSA *src = EVP_PKEY_get0_RSA(pub);
	RSA *rsa = RSA_new();
	EVP_PKEY *p = EVP_PKEY_new();
	BIGNUM *n = src ? BN_dup(RSA_get0_n(src)) : NULL;
	BIGNUM *e = src ? BN_dup(RSA_get0_e(src)) : NULL;
	if (!rsa || !p || !n || !e || RSA_set_method(rsa, proxy_rsa) != 1 ||
	    RSA_set0_key(rsa, n, e, NULL) != 1) {
		BN_free(n);
		BN_free(e);
		goto fail;
	}
	RSA_set_flags(rsa, RSA_FLAG_EXT_PKEY);
	if (RSA_set_ex_data(rsa, rsa_idx, (void *)(uintptr_t)key_id) != 1 ||
	    EVP_PKEY_assign_RSA(p, rsa) != 1)
		goto fail;
	return p;
fail:
	RSA_free(rsa);
	EVP_PKEY_free(p);
	return NULL;
}

static EVP_PKEY *ec_proxy(EVP_PKEY *pub, uint32_t key_id)
{
	const EC_KEY *src = EVP_PKEY_get0_EC_KEY(pub);
	EC_KEY *ec = EC_KEY_new();
	EVP_PKEY *p = EVP_PKEY_new();
	if (!src || !ec || !p || EC_KEY_set_method(ec, proxy_ec) != 1 ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(src)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(src)) != 1 ||
	    EC_KEY_set_ex_data(ec, ec_idx, (void *)(uintptr_t)key_id) != 1 ||
	    EVP_PKEY_assign_EC_KEY(p, ec) != 1) {
		EC_KEY_free(ec);
		EVP_PKEY_free(p);
		return NULL;
	}
	return p;
}

struct evp_pkey_st *key_proxy_new(struct evp_pkey_st *pub, uint32_t key_id,
				  struct buf *err)
{
	pthread_once(&proxy_once, proxy_init);
	int base = EVP_PKEY_get_base_id(pub);
	EVP_PKEY *p = NULL;
	if (base == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_size(pub) > KEYD_DATA_MAX) {
			buf_printf(err, "RSA keys of %d bits are more than the key process takes (up to %d)",
				   EVP_PKEY_get_bits(pub), KEYD_DATA_MAX * 8);
			return NULL;
		}
		p = rsa_proxy(pub, key_id);
	} else if (base == EVP_PKEY_EC) {
		p = ec_proxy(pub, key_id);
	} else {
		buf_printf(err, "unsupported key type %s (the key process signs with RSA and ECDSA keys only)",
			   EVP_PKEY_get0_type_name(pub));
		return NULL;
	}
	if (!p)
		buf_appends(err, "cannot make the proxy key");
	return p;
}
