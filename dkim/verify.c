/* DKIM verification (RFC 6376 6; RFC 8463; RFC 8301): the signature's
 * tags, the key record, the hashes. */
#include "dkim/dkim_int.h"

#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	case DKIM_NONE:
		break;
	}
	return "none";
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct str trim(struct str s)
{
	while (s.len && is_ws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* A decimal tag value of at most 12 digits (RFC 6376 3.5: t= and x= are
 * "1*12DIGIT"; l= is "1*76DIGIT", but a body over 10^12 bytes is not a
 * body we see). */
static bool num12(struct str v, int64_t *out)
{
	unsigned long long n;
	if (v.len == 0 || v.len > 12 || !str_to_u64(v, 999999999999ULL, &n))
		return false;
	*out = (int64_t)n;
	return true;
}

/* The domain part of an i= value (after the last '@'). */
static struct str after_at(struct str i)
{
	for (size_t k = i.len; k-- > 0;)
		if (i.p[k] == '@')
			return str_make(i.p + k + 1, i.len - k - 1);
	return (struct str){ NULL, 0 };
}

/* a equals b, or ends with "." b (ASCII case-insensitive). */
static bool same_or_sub(struct str a, struct str b)
{
	if (a.len == b.len)
		return str_cmp_nocase(a, b) == 0;
	if (a.len > b.len && a.p[a.len - b.len - 1] == '.')
		return str_cmp_nocase(str_make(a.p + a.len - b.len, b.len), b) == 0;
	return false;
}

static enum dkim_result perm(const char **why, const char *w)
{
	*why = w;
	return DKIM_PERMERROR;
}

static bool canon_word(struct str w, enum dkim_canon *c)
{
	if (str_eq(w, "simple"))
		*c = DKIM_CANON_SIMPLE;
	else if (str_eq(w, "relaxed"))
		*c = DKIM_CANON_RELAXED;
	else
		return false;
	return true;
}

enum dkim_result dkim_sig_parse(struct str field, time_t now,
				struct dkim_sig *sig, const char **why)
{
	memset(sig, 0, sizeof *sig);
	sig->field = field;
	sig->l = sig->t = sig->x = -1;
	const char *colon = memchr(field.p, ':', field.len);
	if (!colon)
		return perm(why, "not a header field");
	struct str val = str_make(colon + 1, field.len - (size_t)(colon + 1 - field.p));
	if (dkim_tags_parse(val, &sig->tags, why) != 0)
		return DKIM_PERMERROR;
	const struct dkim_tags *t = &sig->tags;
	const struct dkim_tag *v = dkim_tags_get(t, "v"), *a = dkim_tags_get(t, "a"),
			      *b = dkim_tags_get(t, "b"), *bh = dkim_tags_get(t, "bh"),
			      *d = dkim_tags_get(t, "d"), *h = dkim_tags_get(t, "h"),
			      *s = dkim_tags_get(t, "s");
	if (!v || !a || !b || !bh || !d || !h || !s)
		return perm(why, "missing required tag");
	sig->d = d->value; /* first, so that a result can name them */
	sig->s = s->value;
	if (!str_eq(v->value, "1"))
		return perm(why, "incompatible version");
	if (str_eq(a->value, "rsa-sha256"))
		sig->alg = DKIM_RSA_SHA256;
	else if (str_eq(a->value, "ed25519-sha256"))
		sig->alg = DKIM_ED25519_SHA256;
	else if (str_eq(a->value, "rsa-sha1"))
		return perm(why, "rsa-sha1 is not accepted (RFC 8301)");
	else
		return perm(why, "unknown algorithm");
	sig->b_raw = b->raw;
	long n = dkim_base64_decode(b->value, sig->b, sizeof sig->b);
	if (n <= 0)
		return perm(why, "bad b= value");
	sig->b_len = (size_t)n;
	n = dkim_base64_decode(bh->value, sig->bh, sizeof sig->bh);
	if (n != 32)
		return perm(why, "bad bh= value");
	sig->bh_len = (size_t)n;
	if (!sig->d.len || !sig->s.len)
		return perm(why, "empty d= or s=");
	for (size_t k = 0; k < sig->d.len; k++)
		if (is_ws(sig->d.p[k]))
			return perm(why, "bad d= value");
	for (size_t k = 0; k < sig->s.len; k++)
		if (is_ws(sig->s.p[k]))
			return perm(why, "bad s= value");
	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	const struct dkim_tag *c = dkim_tags_get(t, "c");
	if (c) {
		const char *slash = memchr(c->value.p, '/', c->value.len);
		struct str hc = slash ? str_make(c->value.p, (size_t)(slash - c->value.p))
				      : c->value;
		if (!canon_word(hc, &sig->hcanon))
			return perm(why, "unknown canonicalization");
		if (slash && !canon_word(str_make(slash + 1, c->value.len - hc.len - 1),
					 &sig->bcanon))
			return perm(why, "unknown canonicalization");
	}
	/* h=: names separated by ':' with FWS around them; From required. */
	bool from = false;
	struct str hv = h->value;
	size_t start = 0;
	for (size_t k = 0; k <= hv.len; k++) {
		if (k < hv.len && hv.p[k] != ':')
			continue;
		struct str name = trim(str_make(hv.p + start, k - start));
		if (!name.len)
			return perm(why, "empty name in h=");
		if (sig->nh == DKIM_H_MAX)
			return perm(why, "too many names in h=");
		sig->h[sig->nh++] = name;
		if (str_eq_nocase(name, "from"))
			from = true;
		start = k + 1;
	}
	if (!from)
		return perm(why, "From field not signed");
	const struct dkim_tag *i = dkim_tags_get(t, "i");
	if (i) {
		sig->i = i->value;
		struct str dom = after_at(i->value);
		if (!dom.p || !same_or_sub(dom, sig->d))
			return perm(why, "i= not within d=");
	}
	const struct dkim_tag *q = dkim_tags_get(t, "q");
	if (q && !str_eq(q->value, "dns/txt") && !str_eq(q->value, "dns"))
		return perm(why, "unknown query method");
	const struct dkim_tag *l = dkim_tags_get(t, "l"), *tt = dkim_tags_get(t, "t"),
			      *x = dkim_tags_get(t, "x");
	if (l && !num12(l->value, &sig->l))
		return perm(why, "bad l= value");
	if (tt && !num12(tt->value, &sig->t))
		return perm(why, "bad t= value");
	if (x && !num12(x->value, &sig->x))
		return perm(why, "bad x= value");
	if (sig->t >= 0 && sig->x >= 0 && sig->x < sig->t)
		return perm(why, "x= before t=");
	if (sig->x >= 0 && (int64_t)now > sig->x) {
		*why = "signature expired";
		return DKIM_FAIL;
	}
	return DKIM_NEUTRAL;
}

bool dkim_sig_query_name(const struct dkim_sig *sig, char *out, size_t n)
{
	int w = snprintf(out, n, "%.*s._domainkey.%.*s", (int)sig->s.len, sig->s.p,
			 (int)sig->d.len, sig->d.p);
	return w > 0 && (size_t)w < n;
}

int dkim_sig_body_init(const struct dkim_sig *sig, struct dkim_body *b)
{
	return dkim_body_init(b, sig->bcanon, EVP_sha256(), sig->l);
}

/* Whether a colon-separated list (k=, h=, s= of a key record) holds w. */
static bool list_has(struct str list, const char *w)
{
	size_t start = 0;
	for (size_t k = 0; k <= list.len; k++) {
		if (k < list.len && list.p[k] != ':')
			continue;
		if (str_eq(trim(str_make(list.p + start, k - start)), w))
			return true;
		start = k + 1;
	}
	return false;
}

EVP_PKEY *dkim_key_record_parse(const char *record, enum dkim_alg alg,
				bool *strict_i, const char **why)
{
	struct dkim_tags t;
	*strict_i = false;
	if (dkim_tags_parse(str_from_cstr(record), &t, why) != 0)
		return NULL;
	const struct dkim_tag *v = dkim_tags_get(&t, "v"), *k = dkim_tags_get(&t, "k"),
			      *h = dkim_tags_get(&t, "h"), *s = dkim_tags_get(&t, "s"),
			      *p = dkim_tags_get(&t, "p"), *fl = dkim_tags_get(&t, "t");
	if (v && (!str_eq(v->value, "DKIM1") || &t.t[0] != v)) {
		*why = "key record: bad v=";
		return NULL;
	}
	const char *want = alg == DKIM_RSA_SHA256 ? "rsa" : "ed25519";
	if (k ? !str_eq(k->value, want) : alg != DKIM_RSA_SHA256) {
		*why = "key type does not match the algorithm";
		return NULL;
	}
	if (h && !list_has(h->value, "sha256")) {
		*why = "key record does not allow sha256";
		return NULL;
	}
	if (s && !list_has(s->value, "*") && !list_has(s->value, "email")) {
		*why = "key record is not for email";
		return NULL;
	}
	if (fl && list_has(fl->value, "s"))
		*strict_i = true;
	if (!p) {
		*why = "key record without p=";
		return NULL;
	}
	if (p->value.len == 0) {
		*why = "key revoked";
		return NULL;
	}
	/* RSA-8192's SubjectPublicKeyInfo is about 1.1 KB. */
	unsigned char der[2048];
	long n = dkim_base64_decode(p->value, der, sizeof der);
	if (n <= 0) {
		*why = "key record: bad p=";
		return NULL;
	}
	EVP_PKEY *pkey = NULL;
	if (alg == DKIM_ED25519_SHA256) {
		if (n == 32)
			pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
	} else {
		const unsigned char *q = der;
		pkey = d2i_PUBKEY(NULL, &q, n);
		if (pkey && q != der + n) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		if (!pkey) { /* a bare RSAPublicKey, as some publish */
			q = der;
			pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, n);
		}
		if (pkey && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		if (pkey) {
			int bits = EVP_PKEY_get_bits(pkey);
			if (bits < DKIM_RSA_BITS_MIN || bits > DKIM_RSA_BITS_MAX) {
				EVP_PKEY_free(pkey);
				*why = bits < DKIM_RSA_BITS_MIN ? "RSA key too small"
								: "RSA key too large";
				return NULL;
			}
		}
	}
	if (!pkey)
		*why = "key record: unusable public key";
	return pkey;
}

static bool verify_digest(EVP_PKEY *pkey, enum dkim_alg alg,
			  const unsigned char digest[32], const unsigned char *sig,
			  size_t siglen)
{
	int ok = 0;
	if (alg == DKIM_ED25519_SHA256) {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc && EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(mc, sig, siglen, digest, 32) == 1;
		EVP_MD_CTX_free(mc);
	} else {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pkey, NULL);
		ok = pc && EVP_PKEY_verify_init(pc) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		     EVP_PKEY_verify(pc, sig, siglen, digest, 32) == 1;
		EVP_PKEY_CTX_free(pc);
	}
	return ok;
}

enum dkim_result dkim_verify_sig(const struct dkim_sig *sig,
				 const unsigned char *body_digest,
				 size_t digest_len, uint64_t body_len,
				 const struct dkim_hdr *hdrs, size_t nhdrs,
				 const char *key_record, const char **why)
{
	if (!key_record)
		return perm(why, "no key for signature");
	bool strict_i;
	EVP_PKEY *pkey = dkim_key_record_parse(key_record, sig->alg, &strict_i, why);
	if (!pkey)
		return DKIM_PERMERROR;
	enum dkim_result r = DKIM_PASS;
	if (strict_i && sig->i.len) {
		/* t=s: i='s domain must be d= itself (RFC 6376 3.6.1). */
		struct str dom = after_at(sig->i);
		if (dom.len != sig->d.len || str_cmp_nocase(dom, sig->d) != 0) {
			*why = "i= is a subdomain but the key has t=s";
			r = DKIM_PERMERROR;
			goto out;
		}
	}
	if (sig->l >= 0 && body_len < (uint64_t)sig->l) {
		*why = "body shorter than l=";
		r = DKIM_FAIL;
		goto out;
	}
	if (digest_len != sig->bh_len || memcmp(body_digest, sig->bh, digest_len)) {
		*why = "body hash mismatch";
		r = DKIM_FAIL;
		goto out;
	}
	/* The signature field with b='s value (and the FWS around it)
	 * taken out (RFC 6376 3.5 b=, 3.7). */
	struct buf nob = BUF_INIT;
	size_t cut = (size_t)(sig->b_raw.p - sig->field.p);
	buf_append(&nob, sig->field.p, cut);
	buf_append(&nob, sig->b_raw.p + sig->b_raw.len,
		   sig->field.len - cut - sig->b_raw.len);
	unsigned char digest[32];
	int hrc = dkim_hash_headers(sig->hcanon, hdrs, nhdrs, sig->h, sig->nh,
				    buf_str(&nob), digest);
	buf_free(&nob);
	if (hrc != 0) {
		*why = "hash failed";
		r = DKIM_TEMPERROR;
	} else if (!verify_digest(pkey, sig->alg, digest, sig->b, sig->b_len)) {
		*why = "signature mismatch";
		r = DKIM_FAIL;
	}
out:
	EVP_PKEY_free(pkey);
	return r;
}

enum dkim_result dkim_verify_message(struct str msg, const struct dkim_hdr *hdrs,
				     size_t nhdrs, size_t body_off, size_t field,
				     const char *key_record, time_t now,
				     struct dkim_sig *sig, const char **why)
{
	enum dkim_result r = dkim_sig_parse(hdrs[field].field, now, sig, why);
	if (r != DKIM_NEUTRAL)
		return r;
	struct dkim_body b;
	if (dkim_sig_body_init(sig, &b) != 0) {
		*why = "hash failed";
		return DKIM_TEMPERROR;
	}
	dkim_body_update(&b, msg.p + body_off, msg.len - body_off);
	unsigned char digest[EVP_MAX_MD_SIZE];
	int dl = dkim_body_final(&b, digest);
	uint64_t blen = dkim_body_length(&b);
	dkim_body_free(&b);
	if (dl < 0) {
		*why = "hash failed";
		return DKIM_TEMPERROR;
	}
	return dkim_verify_sig(sig, digest, (size_t)dl, blen, hdrs, nhdrs,
			       key_record, why);
}
