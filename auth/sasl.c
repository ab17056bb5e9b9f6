/* SASL decoders and challenge/response digests (see sasl.h). */
#include "auth/sasl.h"
#include "core/base64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int b64_value(unsigned char c)
{
	return base64_value(c, '/');
}

int sasl_b64_decode(struct str in, struct buf *out)
{
	size_t old = out->len;
	if (in.len % 4 != 0)
		return -1;
	buf_reserve(out, in.len / 4 * 3);
	for (size_t i = 0; i < in.len; i += 4) {
		const unsigned char *q = (const unsigned char *)in.p + i;
		bool last = i + 4 == in.len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (q[k] == '=' && last && k >= 2) {
				/* "x==" or "xx=": no data after a pad. */
				if (k == 2 && q[3] != '=')
					goto bad;
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = b64_value(q[k]);
			if (v[k] < 0 || pad)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		unsigned char o[3] = { (unsigned char)(w >> 16),
				       (unsigned char)(w >> 8),
				       (unsigned char)w };
		/* Canonical encoding: the bits under the padding are zero. */
		if ((pad == 1 && (v[2] & 0x3)) || (pad == 2 && (v[1] & 0xf)))
			goto bad;
		buf_append(out, o, (size_t)(3 - pad));
	}
	return 0;
bad:
	out->len = old;
	if (out->data)
		out->data[old] = '\0';
	return -1;
}

int sasl_decode_initial(struct str in, struct buf *out)
{
	if (in.len == 1 && in.p[0] == '=')
		return 0;
	if (in.len == 0)
		return -1; /* an absent initial response is not "empty" */
	return sasl_b64_decode(in, out);
}

bool sasl_is_cancel(struct str line)
{
	return line.len == 1 && line.p[0] == '*';
}

int sasl_plain_decode(struct str msg, struct sasl_plain *out)
{
	const char *nul1 = memchr(msg.p, '\0', msg.len);
	if (!nul1)
		return -1;
	size_t off1 = (size_t)(nul1 - msg.p);
	const char *nul2 = memchr(nul1 + 1, '\0', msg.len - off1 - 1);
	if (!nul2)
		return -1;
	size_t off2 = (size_t)(nul2 - msg.p);
	if (memchr(nul2 + 1, '\0', msg.len - off2 - 1))
		return -1;
	struct sasl_plain r = {
		.authzid = { msg.p, off1 },
		.authcid = { nul1 + 1, off2 - off1 - 1 },
		.passwd = { nul2 + 1, msg.len - off2 - 1 },
	};
	if (r.authzid.len > SASL_PLAIN_FIELD_MAX ||
	    r.authcid.len == 0 || r.authcid.len > SASL_PLAIN_FIELD_MAX ||
	    r.passwd.len == 0 || r.passwd.len > SASL_PLAIN_FIELD_MAX)
		return -1;
	*out = r;
	return 0;
}

void sasl_login_init(struct sasl_login *l)
{
	memset(l, 0, sizeof *l);
}

enum sasl_step sasl_login_step(struct sasl_login *l, const struct str *in,
			       const char **prompt)
{
	*prompt = NULL;
	if (l->step == 0 && !in) {
		*prompt = SASL_LOGIN_PROMPT_USER;
		return SASL_CONTINUE;
	}
	if (l->step >= 2 || !in || in->len == 0 ||
	    memchr(in->p, '\0', in->len))
		return SASL_ERROR;
	if (l->step == 0) {
		if (in->len > sizeof l->user)
			return SASL_ERROR;
		memcpy(l->user, in->p, in->len);
		l->user_len = in->len;
		l->step = 1;
		*prompt = SASL_LOGIN_PROMPT_PASS;
		return SASL_CONTINUE;
	}
	if (in->len > sizeof l->pass)
		return SASL_ERROR;
	memcpy(l->pass, in->p, in->len);
	l->pass_len = in->len;
	l->step = 2;
	return SASL_DONE;
}

void sasl_login_clear(struct sasl_login *l)
{
	OPENSSL_cleanse(l, sizeof *l);
}

size_t sasl_cram_challenge(char *out, size_t outsz, const char *hostname)
{
	uint64_t r;
	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		return 0;
	int n = snprintf(out, outsz, "<%llu.%lld@%s>",
			 (unsigned long long)(r % 10000000000ULL),
			 (long long)time(NULL), hostname);
	if (n < 0 || (size_t)n >= outsz)
		return 0;
	return (size_t)n;
}

static bool is_hex(unsigned char c, bool lower_only)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (!lower_only && c >= 'A' && c <= 'F');
}

bool sasl_is_md5_hex(struct str s)
{
	if (s.len != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!is_hex((unsigned char)s.p[i], false))
			return false;
	return true;
}

int sasl_cram_parse(struct str resp, struct str *user, struct str *digest)
{
	if (resp.len < 34)
		return -1;
	size_t sp = resp.len - 33;
	if (resp.p[sp] != ' ')
		return -1;
	for (size_t i = sp + 1; i < resp.len; i++)
		if (!is_hex((unsigned char)resp.p[i], true))
			return -1;
	if (sp == 0 || sp > AUTH_NAME_MAX || memchr(resp.p, '\0', sp))
		return -1;
	*user = (struct str){ resp.p, sp };
	*digest = (struct str){ resp.p + sp + 1, 32 };
	return 0;
}

/* Compares a computed 16-byte digest with a client's hex form. */
static bool digest_matches(const unsigned char md[16], struct str hex)
{
	static const char digits[] = "0123456789abcdef";
	char want[32], got[32];
	if (!sasl_is_md5_hex(hex))
		return false;
	for (size_t i = 0; i < 16; i++) {
		want[2 * i] = digits[md[i] >> 4];
		want[2 * i + 1] = digits[md[i] & 15];
	}
	for (size_t i = 0; i < 32; i++) {
		char c = hex.p[i];
		got[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
	}
	return CRYPTO_memcmp(want, got, 32) == 0;
}

bool sasl_cram_verify(struct str challenge, struct str secret,
		      struct str digest_hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (secret.len > AUTH_SECRET_MAX)
		return false;
	if (!HMAC(EVP_md5(), secret.p, (int)secret.len,
		  (const unsigned char *)challenge.p, challenge.len, md,
		  &mdlen) ||
	    mdlen != 16)
		return false;
	bool ok = digest_matches(md, digest_hex);
	OPENSSL_cleanse(md, sizeof md);
	return ok;
}

bool sasl_apop_verify(struct str timestamp, struct str secret,
		      struct str digest_hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool ok = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return false;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, timestamp.p, timestamp.len) == 1 &&
	    EVP_DigestUpdate(ctx, secret.p, secret.len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16)
		ok = digest_matches(md, digest_hex);
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof md);
	return ok;
}
