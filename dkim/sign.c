/* DKIM signing (RFC 6376 5; RFC 8463): DKIM-Signature fields for
 * rsa-sha256 and ed25519-sha256, relaxed/relaxed. */
#include "dkim/dkim_int.h"
#include "core/xmalloc.h"

#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6376 5.4.1 lists what SHOULD be signed; we add the MIME fields
 * (a changed Content-Type changes what a reader sees) and the list
 * fields (RFC 2369/2919) a mailing list would otherwise add under our
 * name. Oversigned: the fields a reader trusts most. */
const char *const dkim_signed_headers[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding", "content-disposition", "content-language",
	"resent-date", "resent-from", "resent-to", "resent-cc", "sender",
	"list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post",
	"list-subscribe", "list-post", "list-owner", "list-archive", NULL,
};
static const char *const oversigned[] = { "from", "to", "subject", "date", NULL };

const char *dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

int dkim_key_alg(EVP_PKEY *pkey)
{
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		return DKIM_RSA_SHA256;
	case EVP_PKEY_ED25519:
		return DKIM_ED25519_SHA256;
	default:
		return -1;
	}
}

int dkim_hash_headers(enum dkim_canon c, const struct dkim_hdr *hdrs,
		      size_t nhdrs, const struct str *names, size_t nnames,
		      struct str sig_nob, unsigned char digest[32])
{
	bool *used = xcalloc(nhdrs ? nhdrs : 1, sizeof *used);
	struct buf data = BUF_INIT;
	for (size_t k = 0; k < nnames; k++) {
		for (size_t j = nhdrs; j-- > 0;) {
			if (used[j] || str_cmp_nocase(hdrs[j].name, names[k]) != 0)
				continue;
			used[j] = true;
			dkim_canon_header(c, hdrs[j].field, &data);
			break;
		}
	}
	dkim_canon_header(c, sig_nob, &data);
	data.len -= 2; /* the signature field goes in without its CRLF */
	unsigned len = 0;
	int rc = EVP_Digest(data.data, data.len, digest, &len, EVP_sha256(), NULL) == 1 &&
			 len == 32
		 ? 0
		 : -1;
	buf_free(&data);
	free(used);
	return rc;
}

int dkim_sign_digest_pkey(EVP_PKEY *pkey, enum dkim_alg alg,
			  const unsigned char digest[32], unsigned char *sig,
			  size_t *siglen)
{
	if (dkim_key_alg(pkey) != (int)alg)
		return -1;
	int ok = 0;
	if (alg == DKIM_ED25519_SHA256) {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc && EVP_DigestSignInit(mc, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestSign(mc, sig, siglen, digest, 32) == 1;
		EVP_MD_CTX_free(mc);
	} else {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pkey, NULL);
		ok = pc && EVP_PKEY_sign_init(pc) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		     EVP_PKEY_sign(pc, sig, siglen, digest, 32) == 1;
		EVP_PKEY_CTX_free(pc);
	}
	return ok ? 0 : -1;
}

int dkim_signer_init(struct dkim_signer *s)
{
	return dkim_body_init(&s->body, DKIM_CANON_RELAXED, EVP_sha256(), -1);
}

void dkim_signer_body(struct dkim_signer *s, const void *p, size_t n)
{
	dkim_body_update(&s->body, p, n);
}

void dkim_signer_free(struct dkim_signer *s)
{
	dkim_body_free(&s->body);
}

/* d= and s=: letters, digits, '-', '.', '_' (a selector may hold dots,
 * RFC 6376 3.1); nothing that could break the tag list or the field. */
static bool name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 253)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* Lines of the field stay at most FOLD_AT octets (RFC 5322 2.1.1 asks
 * for 78 at most). */
#define FOLD_AT 76

struct folder {
	struct buf *b;
	size_t line; /* octets in the current line */
};

/* Appends a piece; starts a new line ("\r\n\t") first if it would not fit. */
static void fold_add(struct folder *f, const char *p, size_t n, bool space)
{
	if (f->line + (space ? 1 : 0) + n > FOLD_AT && f->line > 1) {
		buf_appends(f->b, "\r\n\t");
		f->line = 1;
	} else if (space) {
		buf_appendc(f->b, ' ');
		f->line++;
	}
	buf_append(f->b, p, n);
	f->line += n;
}

static void fold_tag(struct folder *f, const char *tag)
{
	fold_add(f, tag, strlen(tag), true);
}

int dkim_signer_finish(struct dkim_signer *s, const struct dkim_hdr *hdrs,
		       size_t nhdrs, const struct dkim_key *keys, size_t nkeys,
		       time_t now, long expire, struct buf *out, const char **why)
{
	unsigned char bh[EVP_MAX_MD_SIZE];
	int bhl = dkim_body_final(&s->body, bh);
	if (bhl != 32) {
		*why = "body hash failed";
		return -1;
	}
	/* The h= list: each present instance, the oversigned once more. */
	struct str names[DKIM_H_MAX];
	size_t nn = 0;
	bool have_from = false;
	for (size_t k = 0; dkim_signed_headers[k]; k++) {
		const char *name = dkim_signed_headers[k];
		size_t count = 0;
		for (size_t j = 0; j < nhdrs; j++)
			if (str_eq_nocase(hdrs[j].name, name))
				count++;
		if (!strcmp(name, "from"))
			have_from = count > 0;
		for (size_t o = 0; oversigned[o]; o++)
			if (!strcmp(oversigned[o], name))
				count++;
		for (size_t c = 0; c < count && nn < DKIM_H_MAX; c++)
			names[nn++] = str_from_cstr(name);
	}
	if (!have_from) {
		*why = "the message has no From: field";
		return -1;
	}
	struct buf bh64 = BUF_INIT, tmp = BUF_INIT, b64 = BUF_INIT;
	dkim_base64_encode(bh, 32, &bh64);
	int rc = 0;
	for (size_t k = 0; k < nkeys && rc == 0; k++) {
		const struct dkim_key *key = &keys[k];
		if (!name_ok(key->domain) || !name_ok(key->selector)) {
			*why = "bad domain or selector";
			rc = -1;
			break;
		}
		struct buf field = BUF_INIT;
		struct folder f = { &field, 0 };
		buf_appends(&field, "DKIM-Signature:");
		f.line = field.len;
		fold_tag(&f, "v=1;");
		buf_clear(&tmp);
		buf_printf(&tmp, "a=%s;", dkim_alg_name(key->alg));
		fold_tag(&f, buf_cstr(&tmp));
		fold_tag(&f, "c=relaxed/relaxed;");
		buf_clear(&tmp);
		buf_printf(&tmp, "d=%s;", key->domain);
		fold_tag(&f, buf_cstr(&tmp));
		buf_clear(&tmp);
		buf_printf(&tmp, "s=%s;", key->selector);
		fold_tag(&f, buf_cstr(&tmp));
		buf_clear(&tmp);
		buf_printf(&tmp, "t=%lld;", (long long)now);
		fold_tag(&f, buf_cstr(&tmp));
		if (expire > 0) {
			buf_clear(&tmp);
			buf_printf(&tmp, "x=%lld;", (long long)now + expire);
			fold_tag(&f, buf_cstr(&tmp));
		}
		for (size_t j = 0; j < nn; j++) {
			buf_clear(&tmp);
			buf_printf(&tmp, "%s%.*s%s", j == 0 ? "h=" : "",
				   (int)names[j].len, names[j].p,
				   j + 1 == nn ? ";" : ":");
			fold_add(&f, tmp.data, tmp.len, j == 0);
		}
		buf_clear(&tmp);
		buf_printf(&tmp, "bh=%s;", buf_cstr(&bh64));
		fold_tag(&f, buf_cstr(&tmp));
		fold_tag(&f, "b=");
		/* The signature covers the field with b= empty, as written. */
		unsigned char digest[32];
		unsigned char sig[1024];
		size_t siglen = sizeof sig;
		int src = -1;
		if (dkim_hash_headers(DKIM_CANON_RELAXED, hdrs, nhdrs, names, nn,
				      buf_str(&field), digest) == 0) {
			if (key->sign)
				src = key->sign(key->sign_arg, key->alg, digest,
						sig, &siglen);
			else if (key->pkey)
				src = dkim_sign_digest_pkey(key->pkey, key->alg,
							    digest, sig, &siglen);
		}
		if (src != 0) {
			*why = "signing failed";
			rc = -1;
			buf_free(&field);
			break;
		}
		buf_clear(&b64);
		dkim_base64_encode(sig, siglen, &b64);
		for (size_t off = 0; off < b64.len;) {
			size_t room = f.line < FOLD_AT ? FOLD_AT - f.line : 0;
			if (room < 8) {
				buf_appends(&field, "\r\n\t");
				f.line = 1;
				continue;
			}
			size_t take = b64.len - off < room ? b64.len - off : room;
			buf_append(&field, b64.data + off, take);
			f.line += take;
			off += take;
		}
		buf_appends(&field, "\r\n");
		buf_append(out, field.data, field.len);
		buf_free(&field);
	}
	buf_free(&bh64);
	buf_free(&tmp);
	buf_free(&b64);
	return rc;
}

int dkim_key_record(EVP_PKEY *pkey, struct buf *out)
{
	int alg = dkim_key_alg(pkey);
	unsigned char *der = NULL;
	int len = -1;
	if (alg == DKIM_RSA_SHA256) {
		len = i2d_PUBKEY(pkey, &der);
	} else if (alg == DKIM_ED25519_SHA256) {
		size_t l = 32;
		der = OPENSSL_malloc(32);
		if (der && EVP_PKEY_get_raw_public_key(pkey, der, &l) == 1)
			len = (int)l;
	}
	if (len <= 0) {
		OPENSSL_free(der);
		return -1;
	}
	buf_printf(out, "v=DKIM1; k=%s; p=", alg == DKIM_RSA_SHA256 ? "rsa" : "ed25519");
	dkim_base64_encode(der, (size_t)len, out);
	OPENSSL_free(der);
	return 0;
}
