/* dkim/: the tag-list parser, canonicalization (the streaming body hash
 * fed in random chunks equals the one-shot one and a naive reference, for
 * every message in tests/mime-corpus and edge cases), signing, and
 * verification with its failure reasons. */
#include "unit.h"

#include "dkim/dkim.h"

#include <dirent.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS "tests/mime-corpus"

static struct str S(const char *s)
{
	return str_from_cstr(s);
}

UNIT_TEST(test_tags)
{
	struct dkim_tags t;
	const char *why = NULL;
	CHECK_EQ_INT(dkim_tags_parse(S(" v=1; a = rsa-sha256 ;\r\n\tbh=ab c\r\n d;d=;x_1=y;"), &t, &why), 0);
	CHECK_EQ_INT(t.n, 5);
	CHECK(str_eq(dkim_tags_get(&t, "a")->value, "rsa-sha256"));
	CHECK(str_eq(dkim_tags_get(&t, "bh")->value, "ab c\r\n d"));
	CHECK(str_eq(dkim_tags_get(&t, "d")->value, ""));
	CHECK(str_eq(dkim_tags_get(&t, "x_1")->value, "y"));
	CHECK(dkim_tags_get(&t, "A") == NULL); /* names are case-sensitive */
	/* raw keeps the whitespace around the value */
	CHECK(str_eq(dkim_tags_get(&t, "a")->raw, " rsa-sha256 "));
	CHECK_EQ_INT(dkim_tags_parse(S(""), &t, &why), 0);
	CHECK_EQ_INT(t.n, 0);
	CHECK_EQ_INT(dkim_tags_parse(S("a=1;; b=2"), &t, &why), 0);
	CHECK_EQ_INT(t.n, 2);
	static const char *const bad[] = {
		"a=1; a=2",     /* duplicate (3.2) */
		"a",            /* no '=' */
		"=1",           /* no name */
		"1a=2",         /* name must start with a letter */
		"a-b=1",        /* '-' is not ALNUMPUNC */
		"a=1\x01",      /* control byte */
		"a=\xc3\xa9",   /* not VALCHAR */
		"a b=1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		CHECK_EQ_INT(dkim_tags_parse(S(bad[i]), &t, &why), -1);
		CHECK(why != NULL);
	}
	struct buf many = BUF_INIT;
	for (int i = 0; i <= DKIM_TAGS_MAX; i++)
		buf_printf(&many, "t%d=x;", i);
	CHECK_EQ_INT(dkim_tags_parse(buf_str(&many), &t, &why), -1);
	buf_free(&many);
}

UNIT_TEST(test_base64)
{
	unsigned char out[16];
	CHECK_EQ_INT(dkim_base64_decode(S("aGVs bG8=\r\n"), out, sizeof out), 5);
	CHECK(!memcmp(out, "hello", 5));
	CHECK_EQ_INT(dkim_base64_decode(S("aGVsbG8"), out, sizeof out), 5);
	CHECK_EQ_INT(dkim_base64_decode(S("aGVsbG8=x"), out, sizeof out), -1);
	CHECK_EQ_INT(dkim_base64_decode(S("aGVsbG9="), out, sizeof out), -1); /* leftover bits */
	CHECK_EQ_INT(dkim_base64_decode(S("a"), out, sizeof out), -1);
	CHECK_EQ_INT(dkim_base64_decode(S("a*=="), out, sizeof out), -1);
	CHECK_EQ_INT(dkim_base64_decode(S("aGVsbG8gd29ybGQgYWdhaW4h"), out, 4), -1);
	struct buf b = BUF_INIT;
	dkim_base64_encode((const unsigned char *)"hello", 5, &b);
	CHECK_EQ_STR(buf_cstr(&b), "aGVsbG8=");
	buf_free(&b);
}

/* RFC 6376 3.4.5's example. */
UNIT_TEST(test_canon_header)
{
	struct buf b = BUF_INIT;
	dkim_canon_header(DKIM_CANON_RELAXED, S("A: X"), &b);
	dkim_canon_header(DKIM_CANON_RELAXED, S("B : Y\t\r\n\tZ  "), &b);
	CHECK_EQ_STR(buf_cstr(&b), "a:X\r\nb:Y Z\r\n");
	buf_clear(&b);
	dkim_canon_header(DKIM_CANON_SIMPLE, S("B : Y\t\n\tZ  "), &b);
	CHECK_EQ_STR(buf_cstr(&b), "B : Y\t\r\n\tZ  \r\n");
	buf_clear(&b);
	dkim_canon_header(DKIM_CANON_RELAXED, S("Subject:"), &b);
	CHECK_EQ_STR(buf_cstr(&b), "subject:\r\n");
	buf_free(&b);

	struct dkim_hdr h[4];
	size_t body;
	const char *m = "A: 1\r\n\tcont\r\nB:2\nbroken\nC : 3\r\n\r\nbody";
	CHECK_EQ_INT(dkim_split_header(S(m), h, 4, &body), 3);
	CHECK(str_eq(h[0].field, "A: 1\r\n\tcont"));
	CHECK(str_eq(h[0].name, "A"));
	CHECK(str_eq(h[2].name, "C"));
	CHECK_EQ_STR(m + body, "body");
	CHECK_EQ_INT(dkim_split_header(S(m), h, 2, &body), -1);
}

static void hash_oneshot(enum dkim_canon c, int64_t l, const char *p, size_t n,
			 unsigned char *d, uint64_t *len)
{
	struct dkim_body b;
	dkim_body_init(&b, c, EVP_sha256(), l);
	dkim_body_update(&b, p, n);
	CHECK_EQ_INT(dkim_body_final(&b, d), 32);
	*len = dkim_body_length(&b);
	dkim_body_free(&b);
}

static void hash_chunked(enum dkim_canon c, int64_t l, const char *p, size_t n,
			 unsigned char *d, unsigned seed)
{
	struct dkim_body b;
	dkim_body_init(&b, c, EVP_sha256(), l);
	srand(seed);
	for (size_t off = 0; off < n;) {
		size_t k = (size_t)(rand() % 7 == 0 ? 1 : rand() % 300);
		if (k > n - off)
			k = n - off;
		dkim_body_update(&b, p + off, k);
		off += k;
	}
	CHECK_EQ_INT(dkim_body_final(&b, d), 32);
	dkim_body_free(&b);
}

/* A naive canonicalizer straight from RFC 6376 3.4.3/3.4.4, line by line
 * on a copy: the reference for the streaming one. */
static void reference(enum dkim_canon c, const char *p, size_t n, struct buf *out)
{
	buf_clear(out);
	struct buf lines = BUF_INIT; /* canonical lines, each + CRLF */
	size_t i = 0;
	while (i < n) {
		size_t e = i;
		while (e < n && p[e] != '\n')
			e++;
		size_t le = e;
		if (e < n && le > i && p[le - 1] == '\r')
			le--;
		struct buf line = BUF_INIT;
		if (c == DKIM_CANON_SIMPLE) {
			buf_append(&line, p + i, le - i);
		} else {
			bool ws = false;
			for (size_t k = i; k < le; k++) {
				if (p[k] == ' ' || p[k] == '\t') {
					ws = true;
					continue;
				}
				if (ws)
					buf_appendc(&line, ' ');
				ws = false;
				buf_appendc(&line, p[k]);
			}
		}
		buf_append(&lines, line.data ? line.data : "", line.len);
		buf_append(&lines, "\r\n", 2);
		buf_free(&line);
		i = e < n ? e + 1 : n;
	}
	/* drop empty lines at the end */
	while (lines.len >= 2 && (lines.len == 2 || (lines.data[lines.len - 3] == '\n')) &&
	       lines.data[lines.len - 2] == '\r')
		lines.len -= 2;
	if (lines.len == 0 && c == DKIM_CANON_SIMPLE)
		buf_append(&lines, "\r\n", 2);
	buf_append(out, lines.data ? lines.data : "", lines.len);
	buf_free(&lines);
}

static void check_body(const char *p, size_t n, const char *what)
{
	for (int c = 0; c < 2; c++) {
		unsigned char one[EVP_MAX_MD_SIZE], chunk[EVP_MAX_MD_SIZE], ref[32];
		uint64_t len;
		hash_oneshot((enum dkim_canon)c, -1, p, n, one, &len);
		struct buf r = BUF_INIT;
		reference((enum dkim_canon)c, p, n, &r);
		unsigned rl = 0;
		EVP_Digest(r.data ? r.data : "", r.len, ref, &rl, EVP_sha256(), NULL);
		if (memcmp(one, ref, 32) != 0 || len != r.len) {
			fprintf(stderr, "%s: canon %d differs from the reference\n", what, c);
			CHECK(0);
		}
		for (unsigned seed = 1; seed <= 4; seed++) {
			hash_chunked((enum dkim_canon)c, -1, p, n, chunk, seed);
			if (memcmp(one, chunk, 32) != 0) {
				fprintf(stderr, "%s: canon %d seed %u chunked differs\n", what, c, seed);
				CHECK(0);
			}
		}
		/* l=: the hash of the reference's first l bytes */
		int64_t l = (int64_t)(r.len / 2);
		hash_oneshot((enum dkim_canon)c, l, p, n, one, &len);
		hash_chunked((enum dkim_canon)c, l, p, n, chunk, 9);
		EVP_Digest(r.data ? r.data : "", (size_t)l, ref, &rl, EVP_sha256(), NULL);
		CHECK(!memcmp(one, ref, 32));
		CHECK(!memcmp(chunk, ref, 32));
		CHECK_EQ_INT(len, r.len);
		buf_free(&r);
	}
}

UNIT_TEST(test_body_known)
{
	/* RFC 6376 3.4.5 */
	struct buf r = BUF_INIT;
	const char *ex = " C \r\nD \t E\r\n\r\n\r\n";
	reference(DKIM_CANON_RELAXED, ex, strlen(ex), &r);
	CHECK_EQ_STR(buf_cstr(&r), " C\r\nD E\r\n");
	reference(DKIM_CANON_SIMPLE, ex, strlen(ex), &r);
	CHECK_EQ_STR(buf_cstr(&r), " C \r\nD \t E\r\n");
	buf_free(&r);
	/* The well-known hashes of an empty body (RFC 6376 3.4.3/3.4.4). */
	unsigned char d[EVP_MAX_MD_SIZE];
	uint64_t len;
	struct buf b64 = BUF_INIT;
	hash_oneshot(DKIM_CANON_SIMPLE, -1, "", 0, d, &len);
	dkim_base64_encode(d, 32, &b64);
	CHECK_EQ_STR(buf_cstr(&b64), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	buf_clear(&b64);
	hash_oneshot(DKIM_CANON_RELAXED, -1, "\r\n \r\n\t\r\n", 8, d, &len);
	dkim_base64_encode(d, 32, &b64);
	CHECK_EQ_STR(buf_cstr(&b64), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	CHECK_EQ_INT(len, 0);
	buf_free(&b64);
}

UNIT_TEST(test_body_streaming_edges)
{
	static const char *const edges[] = {
		"", "\r\n", "\n", "\r", "x", "x\r", "x\r\r\n", "a\r\n\r\n\r\n",
		"a \t \r\n \r\n\t\r\nb", "a\rb\r\n", " lead\r\n\r\ntrail  ",
		"\r\n\r\nx\r\n\r\n", "a\n\nb\n\n\n", "tab\there  \t\r\n",
		"\r\r\n\r", "line\r\n \r\n", "x  \r", "  ",
	};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		check_body(edges[i], strlen(edges[i]), edges[i]);
	/* Every chunk edge through a CR LF, WSP runs and empty lines. */
	const char *m = "a  \r\n\r\n \t\r\nb\t\tc\r\n\r\n";
	size_t n = strlen(m);
	unsigned char one[EVP_MAX_MD_SIZE], two[EVP_MAX_MD_SIZE];
	uint64_t len;
	for (int c = 0; c < 2; c++) {
		hash_oneshot((enum dkim_canon)c, -1, m, n, one, &len);
		for (size_t cut = 0; cut <= n; cut++) {
			struct dkim_body b;
			dkim_body_init(&b, (enum dkim_canon)c, EVP_sha256(), -1);
			dkim_body_update(&b, m, cut);
			dkim_body_update(&b, m + cut, n - cut);
			dkim_body_final(&b, two);
			dkim_body_free(&b);
			CHECK(!memcmp(one, two, 32));
		}
	}
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[8192];
	size_t k;
	while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, k);
	fclose(f);
	buf_cstr(&b);
	*n = b.len;
	return b.data;
}

UNIT_TEST(test_body_corpus)
{
	DIR *d = opendir(CORPUS);
	CHECK(d != NULL);
	if (!d)
		return;
	struct dirent *de;
	int count = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml"))
			continue;
		char path[512];
		snprintf(path, sizeof path, CORPUS "/%s", de->d_name);
		size_t n;
		char *msg = slurp(path, &n);
		CHECK(msg != NULL);
		if (!msg)
			continue;
		check_body(msg, n, de->d_name);
		/* and its LF-only form */
		struct buf lf = BUF_INIT;
		for (size_t i = 0; i < n; i++)
			if (!(msg[i] == '\r' && i + 1 < n && msg[i + 1] == '\n'))
				buf_appendc(&lf, msg[i]);
		check_body(lf.data ? lf.data : "", lf.len, de->d_name);
		buf_free(&lf);
		free(msg);
		count++;
	}
	closedir(d);
	CHECK(count >= 20);
}

/* ---- sign and verify ------------------------------------------------ */

static EVP_PKEY *rsa_key, *ed_key;

static void keys(void)
{
	if (!rsa_key)
		rsa_key = EVP_RSA_gen(2048);
	if (!ed_key)
		ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static char *record(EVP_PKEY *k)
{
	struct buf b = BUF_INIT;
	CHECK_EQ_INT(dkim_key_record(k, &b), 0);
	return (char *)buf_cstr(&b);
}

static const char MSG[] =
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.net\r\n"
	"Subject:  hello\r\n\tworld\r\n"
	"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
	"Message-ID: <1@example.org>\r\n"
	"X-Unsigned: yes\r\n"
	"\r\n"
	"Hi Bob,  \r\n\r\nbye\r\n\r\n";

/* Signs msg with the keys, returns fields + msg. */
static char *sign_msg(const char *msg, const struct dkim_key *k, size_t nk,
		      long expire)
{
	struct dkim_hdr h[64];
	size_t body;
	long nh = dkim_split_header(S(msg), h, 64, &body);
	CHECK(nh > 0);
	struct dkim_signer s;
	CHECK_EQ_INT(dkim_signer_init(&s), 0);
	dkim_signer_body(&s, msg + body, strlen(msg) - body);
	struct buf out = BUF_INIT;
	const char *why = NULL;
	int rc = dkim_signer_finish(&s, h, (size_t)nh, k, nk, time(NULL), expire,
				    &out, &why);
	dkim_signer_free(&s);
	if (rc != 0) {
		buf_free(&out);
		return NULL;
	}
	buf_appends(&out, msg);
	return (char *)buf_cstr(&out);
}

/* Verifies the n'th DKIM-Signature of msg against rec. */
static enum dkim_result verify_n(const char *msg, size_t n, const char *rec,
				 const char **why)
{
	struct dkim_hdr h[64];
	size_t body;
	long nh = dkim_split_header(S(msg), h, 64, &body);
	for (long i = 0; i < nh; i++) {
		if (!str_eq_nocase(h[i].name, "DKIM-Signature") || n-- > 0)
			continue;
		struct dkim_sig *sig = malloc(sizeof *sig);
		enum dkim_result r = dkim_verify_message(S(msg), h, (size_t)nh, body,
							 (size_t)i, rec, time(NULL),
							 sig, why);
		free(sig);
		return r;
	}
	*why = "no signature";
	return DKIM_NONE;
}

static int cb_calls;
static int sign_cb(void *arg, enum dkim_alg alg, const unsigned char digest[32],
		   unsigned char *sig, size_t *siglen)
{
	cb_calls++;
	return dkim_sign_digest_pkey(arg, alg, digest, sig, siglen);
}

UNIT_TEST(test_sign_verify)
{
	keys();
	char *rr = record(rsa_key), *er = record(ed_key);
	struct dkim_key k[2] = {
		{ DKIM_RSA_SHA256, "example.org", "202612r", rsa_key, NULL, NULL },
		{ DKIM_ED25519_SHA256, "example.org", "202612e", NULL, sign_cb, ed_key },
	};
	char *m = sign_msg(MSG, k, 2, 0);
	CHECK(m != NULL);
	CHECK_EQ_INT(cb_calls, 1);
	const char *why = "";
	CHECK_EQ_INT(verify_n(m, 0, rr, &why), DKIM_PASS);
	CHECK_EQ_INT(verify_n(m, 1, er, &why), DKIM_PASS);
	/* Oversigning: h= has each of From/To/Subject/Date once more than
	 * present; lines stay under 78. */
	CHECK(strstr(m, "h=from:from:subject:subject:date:date:to:to:") != NULL);
	CHECK(strstr(m, "x-unsigned") == NULL);
	for (const char *p = m, *e; (e = strstr(p, "\r\n")); p = e + 2)
		CHECK(e - p < 78);
	/* the wrong key */
	CHECK_EQ_INT(verify_n(m, 0, er, &why), DKIM_PERMERROR);
	CHECK_EQ_STR(why, "key type does not match the algorithm");
	CHECK_EQ_INT(verify_n(m, 0, NULL, &why), DKIM_PERMERROR);
	CHECK_EQ_STR(why, "no key for signature");
	/* tampering */
	char *t = strdup(m);
	char *hi = strstr(t, "Hi Bob");
	hi[0] = 'h';
	CHECK_EQ_INT(verify_n(t, 0, rr, &why), DKIM_FAIL);
	CHECK_EQ_STR(why, "body hash mismatch");
	CHECK_EQ_INT(verify_n(t, 1, er, &why), DKIM_FAIL);
	CHECK_EQ_STR(why, "body hash mismatch");
	free(t);
	t = strdup(m);
	char *subj = strstr(t, "hello");
	subj[0] = 'j';
	CHECK_EQ_INT(verify_n(t, 0, rr, &why), DKIM_FAIL);
	CHECK_EQ_STR(why, "signature mismatch");
	CHECK_EQ_INT(verify_n(t, 1, er, &why), DKIM_FAIL);
	CHECK_EQ_STR(why, "signature mismatch");
	free(t);
	/* Whitespace changes are fine under relaxed/relaxed; an unsigned
	 * field may change. */
	struct buf b = BUF_INIT;
	buf_appends(&b, m);
	char *u = strstr(b.data, "X-Unsigned: yes");
	memcpy(u, "X-Unsigned: no!", 15);
	char *hb = strstr(b.data, "Hi Bob,  ");
	memcpy(hb, "Hi \tBob,", 8);
	CHECK_EQ_INT(verify_n(b.data, 0, rr, &why), DKIM_PASS);
	buf_free(&b);
	/* A second From: added above (oversigned) or below fails. */
	for (int below = 0; below < 2; below++) {
		struct buf a = BUF_INIT;
		if (!below) {
			buf_appends(&a, "From: Mallory <m@evil.example>\r\n");
			buf_appends(&a, m);
		} else {
			const char *to = strstr(m, "To: bob");
			buf_append(&a, m, (size_t)(to - m));
			buf_appends(&a, "From: Mallory <m@evil.example>\r\n");
			buf_appends(&a, to);
		}
		CHECK_EQ_INT(verify_n(buf_cstr(&a), 0, rr, &why), DKIM_FAIL);
		CHECK_EQ_STR(why, "signature mismatch");
		buf_free(&a);
	}
	/* An added Cc: (absent when signed, not oversigned) does not break
	 * it; an added To: (oversigned) does. */
	struct buf a = BUF_INIT;
	buf_appends(&a, "Cc: x@example.com\r\n");
	buf_appends(&a, m);
	CHECK_EQ_INT(verify_n(buf_cstr(&a), 0, rr, &why), DKIM_PASS);
	buf_clear(&a);
	buf_appends(&a, "To: x@example.com\r\n");
	buf_appends(&a, m);
	CHECK_EQ_INT(verify_n(buf_cstr(&a), 0, rr, &why), DKIM_FAIL);
	buf_free(&a);
	free(m);
	/* No From: no signature. */
	CHECK(sign_msg("To: a@b\r\n\r\nx\r\n", k, 1, 0) == NULL);
	/* x=: expired */
	m = sign_msg(MSG, k, 1, 100);
	CHECK(strstr(m, "x=") != NULL);
	CHECK_EQ_INT(verify_n(m, 0, rr, &why), DKIM_PASS);
	struct dkim_hdr h[64];
	size_t body;
	long nh = dkim_split_header(S(m), h, 64, &body);
	struct dkim_sig *sig = malloc(sizeof *sig);
	CHECK_EQ_INT(dkim_verify_message(S(m), h, (size_t)nh, body, 0, rr,
					 time(NULL) + 101, sig, &why), DKIM_FAIL);
	CHECK_EQ_STR(why, "signature expired");
	free(sig);
	free(m);
	free(rr);
	free(er);
}

/* A signature with the given tags over MSG, for the parse checks. */
static enum dkim_result parse_sig(const char *tags, const char **why)
{
	struct buf f = BUF_INIT;
	buf_printf(&f, "DKIM-Signature: %s", tags);
	struct dkim_sig *sig = malloc(sizeof *sig);
	enum dkim_result r = dkim_sig_parse(buf_str(&f), time(NULL), sig, why);
	free(sig);
	buf_free(&f);
	return r;
}

#define BH "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"

UNIT_TEST(test_sig_parse)
{
	const char *why = "";
	CHECK_EQ_INT(parse_sig("v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA", &why),
		     DKIM_NEUTRAL);
	static const struct { const char *tags, *why; } bad[] = {
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH, "missing required tag" },
		{ "v=2; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA", "incompatible version" },
		{ "v=1; a=rsa-sha1; d=example.org; s=s; h=from; " BH " b=AAAA", "rsa-sha1 is not accepted (RFC 8301)" },
		{ "v=1; a=rsa-md5; d=example.org; s=s; h=from; " BH " b=AAAA", "unknown algorithm" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=to:subject; " BH " b=AAAA", "From field not signed" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; i=@evil.example", "i= not within d=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; c=fancy", "unknown canonicalization" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; x=5; t=10", "x= before t=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", "bad bh= value" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; b=AAAA", "duplicate tag" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from::to; " BH " b=AAAA", "empty name in h=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; q=http", "unknown query method" },
		{ "v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; l=-1", "bad l= value" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = "";
		CHECK_EQ_INT(parse_sig(bad[i].tags, &why), DKIM_PERMERROR);
		CHECK_EQ_STR(why, bad[i].why);
	}
	CHECK_EQ_INT(parse_sig("v=1; a=rsa-sha256; d=example.org; s=s; h=from; " BH " b=AAAA; x=5", &why),
		     DKIM_FAIL);
	CHECK_EQ_STR(why, "signature expired");
	CHECK_EQ_INT(parse_sig("v=1; a=rsa-sha256; d=example.org; s=s; h=From : To; " BH
			       " b=AAAA; i=a@Sub.Example.ORG; c=relaxed", &why),
		     DKIM_NEUTRAL);
}

UNIT_TEST(test_key_records)
{
	keys();
	const char *why = "";
	bool strict;
	EVP_PKEY *p;
	char *rr = record(rsa_key);
	p = dkim_key_record_parse(rr, DKIM_RSA_SHA256, &strict, &why);
	CHECK(p != NULL);
	EVP_PKEY_free(p);
	struct buf b = BUF_INIT;
	/* a record without v= and k= (both optional; k defaults to rsa) */
	buf_printf(&b, "t=s; h=sha1:sha256; s=email; %s", strstr(rr, "p="));
	p = dkim_key_record_parse(buf_cstr(&b), DKIM_RSA_SHA256, &strict, &why);
	CHECK(p != NULL);
	CHECK(strict);
	EVP_PKEY_free(p);
	static const struct { const char *rec, *why; } bad[] = {
		{ "v=DKIM1; k=rsa; p=", "key revoked" },
		{ "v=DKIM1; k=rsa", "key record without p=" },
		{ "v=DKIM2; p=AAAA", "key record: bad v=" },
		{ "k=rsa; v=DKIM1; p=AAAA", "key record: bad v=" },
		{ "v=DKIM1; k=rsa; h=sha1; p=AAAA", "key record does not allow sha256" },
		{ "v=DKIM1; k=rsa; s=im; p=AAAA", "key record is not for email" },
		{ "v=DKIM1; k=rsa; p=AAAA", "key record: unusable public key" },
		{ "v=DKIM1; k=rsa; p=!!", "key record: bad p=" },
		{ "v=DKIM1; k=ed25519; p=AAAA", "key type does not match the algorithm" },
		{ "v=DKIM1; k=rsa; k=rsa; p=AAAA", "duplicate tag" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = "";
		CHECK(dkim_key_record_parse(bad[i].rec, DKIM_RSA_SHA256, &strict, &why) == NULL);
		CHECK_EQ_STR(why, bad[i].why);
	}
	/* RSA below 1024 bits (RFC 8301 3.2) */
	EVP_PKEY *small = EVP_RSA_gen(768);
	if (small) {
		char *sr = record(small);
		CHECK(dkim_key_record_parse(sr, DKIM_RSA_SHA256, &strict, &why) == NULL);
		CHECK_EQ_STR(why, "RSA key too small");
		free(sr);
		EVP_PKEY_free(small);
	}
	char *er = record(ed_key);
	CHECK(strncmp(er, "v=DKIM1; k=ed25519; p=", 22) == 0);
	CHECK_EQ_INT(strlen(er), 22 + 44);
	p = dkim_key_record_parse(er, DKIM_ED25519_SHA256, &strict, &why);
	CHECK(p != NULL);
	EVP_PKEY_free(p);
	buf_free(&b);
	free(rr);
	free(er);
}

UNIT_MAIN(test_tags, test_base64, test_canon_header, test_body_known,
	  test_body_streaming_edges, test_body_corpus, test_sign_verify,
	  test_sig_parse, test_key_records)
