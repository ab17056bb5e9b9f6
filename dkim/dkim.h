/* DKIM signing and verification (RFC 6376; Ed25519 per RFC 8463), pure:
 * no DNS, no files. The caller streams the body into a dkim_body, hands
 * over the header fields, and (verifying) the key record text it looked
 * up at dkim_sig_query_name(). */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H
#include "dkim/canon.h"
#include "dkim/tags.h"

#include <openssl/evp.h>
#include <time.h>

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };
const char *dkim_alg_name(enum dkim_alg a); /* "rsa-sha256" ... */

/* ---- signing ------------------------------------------------------- */

/* Signs a SHA-256 digest (32 bytes) of the canonicalized header data:
 * for rsa-sha256 an RSASSA-PKCS1-v1_5 signature with SHA-256's
 * DigestInfo, for ed25519-sha256 a PureEdDSA signature whose message is
 * the 32 bytes (RFC 8463 3). *siglen holds sig's size on entry (512 is
 * enough for RSA-4096) and the length on return. 0 or -1. This is what a
 * key-holding process runs; dkim_sign_digest_pkey() is the local one. */
typedef int (*dkim_sign_fn)(void *arg, enum dkim_alg alg,
			    const unsigned char digest[32], unsigned char *sig,
			    size_t *siglen);
int dkim_sign_digest_pkey(EVP_PKEY *pkey, enum dkim_alg alg,
			  const unsigned char digest[32], unsigned char *sig,
			  size_t *siglen);

struct dkim_key {
	enum dkim_alg alg;
	const char *domain;   /* d= */
	const char *selector; /* s= */
	EVP_PKEY *pkey;       /* either this ... */
	dkim_sign_fn sign;    /* ... or this, with sign_arg */
	void *sign_arg;
};

/* The algorithm of a private key (RSA or Ed25519), or -1. */
int dkim_key_alg(EVP_PKEY *pkey);

/* Signing one message: relaxed/relaxed, so every key shares one body
 * hash. Feed the body (the bytes after the header's empty line) in any
 * chunks, then sign. */
struct dkim_signer {
	struct dkim_body body;
};
int dkim_signer_init(struct dkim_signer *s);
void dkim_signer_body(struct dkim_signer *s, const void *p, size_t n);
/* Appends one DKIM-Signature field per key to out (CRLF line ends, each
 * field ending in CRLF), to be put above the header. hdrs are the
 * message's fields in order. now is t=; expire (seconds, 0 = none)
 * sets x=. Returns 0, or -1 with *why (no From:, a key that fails). */
int dkim_signer_finish(struct dkim_signer *s, const struct dkim_hdr *hdrs,
		       size_t nhdrs, const struct dkim_key *keys, size_t nkeys,
		       time_t now, long expire, struct buf *out, const char **why);
void dkim_signer_free(struct dkim_signer *s);

/* The header fields signed (each present instance), lowercase; of
 * these, from, to, subject and date are oversigned (named once more
 * than present) so that none can be added on the way. */
extern const char *const dkim_signed_headers[];

/* ---- verifying ------------------------------------------------------ */

/* RFC 8601 2.7.1 result names. */
enum dkim_result {
	DKIM_NONE,
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};
const char *dkim_result_name(enum dkim_result r);

/* A parsed DKIM-Signature; the slices point into the field it came
 * from, which must outlive it. */
struct dkim_sig {
	struct dkim_tags tags;
	struct str field;        /* the whole header field */
	struct str b_raw;        /* b='s value with its surrounding FWS */
	int version;
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	struct str d, s, i;      /* i: empty when absent */
	struct str h[DKIM_H_MAX]; /* h= names, as written */
	size_t nh;
	unsigned char bh[64];
	size_t bh_len;
	unsigned char b[1024];   /* RSA-8192 fits */
	size_t b_len;
	int64_t l;               /* -1: absent */
	int64_t t, x;            /* -1: absent */
};

/* Parses and checks a DKIM-Signature field (RFC 6376 6.1.1): v=1,
 * required tags, a known algorithm (rsa-sha1 is refused, RFC 8301),
 * c=, h= naming From, i= within d=, q=dns/txt, t <= x, x not past (at
 * now). Returns DKIM_NEUTRAL when it may be verified, DKIM_PERMERROR
 * (a malformed signature) or DKIM_FAIL (expired) with *why. */
enum dkim_result dkim_sig_parse(struct str field, time_t now,
				struct dkim_sig *sig, const char **why);

/* "s._domainkey.d" into out; false if it does not fit. */
bool dkim_sig_query_name(const struct dkim_sig *sig, char *out, size_t n);

/* Checks a parsed signature: body_digest is the body hash of the
 * signature's c= body canonicalization (with l=, body_len the whole
 * canonical body length); hdrs the message's fields; key_record the TXT
 * record's text (strings joined), or NULL when there is none (the
 * caller maps a DNS timeout to DKIM_TEMPERROR itself). Returns the
 * result and *why (a fixed string) for all but PASS. */
enum dkim_result dkim_verify_sig(const struct dkim_sig *sig,
				 const unsigned char *body_digest,
				 size_t digest_len, uint64_t body_len,
				 const struct dkim_hdr *hdrs, size_t nhdrs,
				 const char *key_record, const char **why);

/* The body canonicalizer a signature asks for (c=, l=). */
int dkim_sig_body_init(const struct dkim_sig *sig, struct dkim_body *b);

/* The same over a whole message in memory: the field'th header field
 * must be a DKIM-Signature. */
enum dkim_result dkim_verify_message(struct str msg, const struct dkim_hdr *hdrs,
				     size_t nhdrs, size_t body_off, size_t field,
				     const char *key_record, time_t now,
				     struct dkim_sig *sig, const char **why);

/* A key record (RFC 6376 3.6.1) checked against what a signature needs:
 * v=DKIM1, k= matching the algorithm, h= allowing sha256, s= allowing
 * email, p= not revoked, RSA 1024..8192 bits. Returns the public key
 * (caller frees), or NULL with *why and *res (PERMERROR). */
EVP_PKEY *dkim_key_record_parse(const char *record, enum dkim_alg alg,
				bool *strict_i, const char **why);

/* The TXT record text for a private key: "v=DKIM1; k=rsa; p=..." */
int dkim_key_record(EVP_PKEY *pkey, struct buf *out);

#endif
