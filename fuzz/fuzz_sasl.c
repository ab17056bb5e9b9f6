/* libFuzzer target: everything that decodes SASL input from clients
 * (base64, PLAIN, LOGIN, CRAM-MD5 responses) and the auth IPC decoders.
 * Strict base64 is canonical: what decodes must encode back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_proto.h"
#include "auth/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = { (const char *)data, size };
	struct buf dec = BUF_INIT, enc = BUF_INIT;

	if (sasl_b64_decode(in, &dec) == 0) {
		sasl_b64_encode(&enc, dec.data, dec.len);
		if (enc.len != size || (size && memcmp(enc.data, data, size)))
			abort();
	}
	buf_clear(&dec);
	(void)sasl_decode_initial(in, &dec);

	struct sasl_plain p;
	if (sasl_plain_decode(in, &p) == 0 &&
	    (p.authcid.len == 0 || p.passwd.len == 0 ||
	     memchr(p.authcid.p, 0, p.authcid.len) ||
	     p.authzid.len + p.authcid.len + p.passwd.len + 2 != size))
		abort();

	struct str user, digest;
	if (sasl_cram_parse(in, &user, &digest) == 0) {
		if (digest.len != 32 || user.len == 0)
			abort();
		(void)sasl_cram_verify(STR_LIT("<1.2@h>"), STR_LIT("k"), digest);
	}
	(void)sasl_apop_verify(STR_LIT("<1.2@h>"), in, in);

	struct sasl_login l;
	const char *prompt;
	sasl_login_init(&l);
	(void)sasl_login_step(&l, NULL, &prompt);
	(void)sasl_login_step(&l, &in, &prompt);
	(void)sasl_login_step(&l, &in, &prompt);
	sasl_login_clear(&l);

	struct auth_proto_request rq;
	struct auth_proto_reply rp;
	(void)auth_proto_decode_request(data, size, &rq);
	(void)auth_proto_decode_reply(data, size, &rp);

	buf_free(&dec);
	buf_free(&enc);
	return 0;
}
