/* SASL and challenge/response helpers: pure functions, no I/O, no
 * allocation except into the caller's buffers. Everything here sees
 * untrusted bytes straight from the network (fuzz/fuzz_sasl.c). */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/limits.h"

/* Strict RFC 4648 section 4 base64: the standard alphabet, length a
 * multiple of 4, '=' only as final padding, no whitespace, and the pad
 * bits of the last group must be zero (section 3.5). The empty string
 * decodes to nothing. Appends the bytes to out; returns 0, or -1 (out is
 * then restored to its old length). */
int sasl_b64_decode(struct str in, struct buf *out);
/* The encoder is core/base64.h's base64_encode. */

/* A SASL initial response (RFC 4422 section 4, RFC 5034 section 4): "="
 * alone is an empty response; anything else is strict base64. */
int sasl_decode_initial(struct str in, struct buf *out);
/* A client's "*" line cancels the exchange (RFC 4422 section 3.5). */
bool sasl_is_cancel(struct str line);

/* RFC 4616: message = [authzid] NUL authcid NUL passwd.
 * Exactly two NULs; authcid and passwd 1..255 octets, authzid 0..255.
 * The slices point into msg. Returns 0, or -1 on any violation. */
struct sasl_plain {
	struct str authzid;
	struct str authcid;
	struct str passwd;
};
#define SASL_PLAIN_FIELD_MAX 255
int sasl_plain_decode(struct str msg, struct sasl_plain *out);

/* The LOGIN mechanism (draft-murchison-sasl-login): the server prompts
 * "Username:" then "Password:" (base64 below); each response is one
 * base64 line. An initial response, if any, is the user name. */
#define SASL_LOGIN_PROMPT_USER "VXNlcm5hbWU6"
#define SASL_LOGIN_PROMPT_PASS "UGFzc3dvcmQ6"
enum sasl_step { SASL_CONTINUE, SASL_DONE, SASL_ERROR };
struct sasl_login {
	int step; /* 0 = want user, 1 = want password, 2 = done */
	size_t user_len, pass_len;
	char user[AUTH_NAME_MAX];
	char pass[AUTH_SECRET_MAX];
};
void sasl_login_init(struct sasl_login *l);
/* Feeds one decoded response (NULL = none yet, e.g. no initial
 * response). SASL_CONTINUE: send *prompt (base64) and call again with
 * the next decoded line. SASL_DONE: user/pass are set. SASL_ERROR: a
 * field is empty, too long or holds a NUL. */
enum sasl_step sasl_login_step(struct sasl_login *l, const struct str *in,
			       const char **prompt);
/* Wipes the password. */
void sasl_login_clear(struct sasl_login *l);

/* CRAM-MD5 (RFC 2195). The challenge "<random.time@hostname>" is
 * written into out (NUL-terminated; returns its length, or 0 if it did
 * not fit). */
#define SASL_CRAM_CHALLENGE_MAX 320
size_t sasl_cram_challenge(char *out, size_t outsz, const char *hostname);
/* Splits a decoded response "user SP digest" at the last space; digest
 * must be 32 lowercase hex digits, user 1..AUTH_NAME_MAX octets without
 * NUL. Slices point into resp. Returns 0 or -1. */
int sasl_cram_parse(struct str resp, struct str *user, struct str *digest);
/* digest_hex == hex(HMAC-MD5(key = secret, challenge)), in constant
 * time (hex digits compared case-insensitively). */
bool sasl_cram_verify(struct str challenge, struct str secret,
		      struct str digest_hex);
/* APOP (RFC 1939 section 7): digest_hex == hex(MD5(timestamp secret)). */
bool sasl_apop_verify(struct str timestamp, struct str secret,
		      struct str digest_hex);
/* True if s is exactly 32 hex digits (either case). */
bool sasl_is_md5_hex(struct str s);

#endif
