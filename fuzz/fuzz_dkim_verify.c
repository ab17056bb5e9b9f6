/* libFuzzer target for DKIM verification (dkim/verify.c, canon.c) over
 * a message and a key record: the input's first line is the key record
 * text, the rest the message. Every DKIM-Signature in it is verified
 * (no crash, a result with a reason); the body hash fed in two pieces
 * equals the one-shot one; and the message signed with a fixed Ed25519
 * key verifies (pass) with that key's record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static EVP_PKEY *ed;
static char *ed_record;

static void setup(void)
{
	if (ed)
		return;
	unsigned char seed[32];
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(i * 7 + 1);
	ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	struct buf b = BUF_INIT;
	check(ed && dkim_key_record(ed, &b) == 0);
	ed_record = (char *)buf_cstr(&b);
}

#define NH 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	setup();
	const char *nl = memchr(data, '\n', size);
	size_t rl = nl ? (size_t)(nl - (const char *)data) : size;
	char *rec = malloc(rl + 1);
	memcpy(rec, data, rl);
	rec[rl] = '\0';
	struct str msg = nl ? str_make(nl + 1, size - rl - 1) : str_make("", 0);

	static struct dkim_hdr h[NH];
	size_t body;
	long n = dkim_split_header(msg, h, NH, &body);
	if (n < 0) {
		free(rec);
		return 0;
	}
	check(body <= msg.len);
	static struct dkim_sig sig;
	for (long i = 0; i < n; i++) {
		check(h[i].name.len <= h[i].field.len);
		if (!str_eq_nocase(h[i].name, "DKIM-Signature"))
			continue;
		const char *why = NULL;
		enum dkim_result r = dkim_verify_message(msg, h, (size_t)n, body,
							 (size_t)i, rec, 1700000000,
							 &sig, &why);
		check(r != DKIM_NONE && (r == DKIM_PASS || why != NULL));
	}

	/* Body hash: one shot == two pieces, both canonicalizations. */
	for (int c = 0; c < 2; c++) {
		unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
		struct dkim_body b;
		check(dkim_body_init(&b, (enum dkim_canon)c, EVP_sha256(), -1) == 0);
		dkim_body_update(&b, msg.p + body, msg.len - body);
		check(dkim_body_final(&b, d1) == 32);
		dkim_body_free(&b);
		size_t cut = (msg.len - body) / 2;
		check(dkim_body_init(&b, (enum dkim_canon)c, EVP_sha256(), 10) == 0);
		check(dkim_body_final(&b, d2) == 32);
		dkim_body_free(&b);
		check(dkim_body_init(&b, (enum dkim_canon)c, EVP_sha256(), -1) == 0);
		dkim_body_update(&b, msg.p + body, cut);
		dkim_body_update(&b, msg.p + body + cut, msg.len - body - cut);
		check(dkim_body_final(&b, d2) == 32);
		dkim_body_free(&b);
		check(!memcmp(d1, d2, 32));
	}

	/* Sign, then verify our own signature. */
	struct dkim_key key = { DKIM_ED25519_SHA256, "example.org", "fz", ed, NULL, NULL };
	struct dkim_signer s;
	check(dkim_signer_init(&s) == 0);
	dkim_signer_body(&s, msg.p + body, msg.len - body);
	struct buf out = BUF_INIT;
	const char *why = NULL;
	bool has_from = false;
	for (long i = 0; i < n; i++)
		if (str_eq_nocase(h[i].name, "from"))
			has_from = true;
	int rc = dkim_signer_finish(&s, h, (size_t)n, &key, 1, 1700000000, 0, &out, &why);
	dkim_signer_free(&s);
	check(rc == 0 || !has_from);
	/* (a message that starts with WSP would continue our field) */
	bool ws0 = msg.len && (msg.p[0] == ' ' || msg.p[0] == '\t');
	if (rc == 0 && n + 1 < NH && !ws0) {
		size_t siglen = out.len;
		buf_append(&out, msg.p, msg.len);
		static struct dkim_hdr h2[NH];
		size_t body2;
		long n2 = dkim_split_header(buf_str(&out), h2, NH, &body2);
		check(n2 == n + 1 && body2 == body + siglen);
		enum dkim_result r = dkim_verify_message(buf_str(&out), h2, (size_t)n2,
							 body2, 0, ed_record, 1700000000,
							 &sig, &why);
		check(r == DKIM_PASS);
	}
	buf_free(&out);
	free(rec);
	return 0;
}
