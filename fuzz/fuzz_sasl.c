/* libFuzzer target: everything that decodes SASL input from clients
 * (base64, PLAIN, LOGIN, CRAM-MD5 responses) and the auth IPC decoders.
 * Strict base64 is canonical: what decodes must encode back to itself;
 * so are the recipient lookup messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_proto.h"
#include "auth/sasl.h"
#include "core/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = { (const char *)data, size };
	struct buf dec = BUF_INIT, enc = BUF_INIT;

	if (sasl_b64_decode(in, &dec) == 0) {
		base64_encode(&enc, dec.data, dec.len);
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

	/* Recipient lookups: whatever decodes re-encodes to the same bytes. */
	struct auth_proto_rcpt rc;
	if (auth_proto_decode_rcpt(data, size, &rc) == 0) {
		char sid[AUTH_PROTO_SID_MAX + 1];
		memcpy(sid, rc.session_id.p, rc.session_id.len);
		sid[rc.session_id.len] = '\0';
		buf_clear(&enc);
		if (rc.id == 0 ||
		    auth_proto_encode_rcpt(&enc, rc.id, rc.address, sid) < 0 ||
		    enc.len != size || memcmp(enc.data, data, size))
			abort();
	}
	struct auth_proto_rcpt_reply rr;
	if (auth_proto_decode_rcpt_reply(data, size, &rr) == 0) {
		if (rr.n_users > AUTH_PROTO_RCPT_USERS_MAX ||
		    (rr.status == AUTH_RCPT_LOCAL) != (rr.n_users > 0))
			abort();
		const char **users = malloc((rr.n_users + 1) * sizeof *users);
		char *names = malloc(size + rr.n_users + 1);
		size_t pos = 0, out = 0;
		for (size_t i = 0; i < rr.n_users; i++) {
			struct str u = auth_proto_rcpt_user(&rr, i, &pos);
			if (u.len == 0 || u.len > AUTH_NAME_MAX ||
			    memchr(u.p, 0, u.len))
				abort();
			memcpy(names + out, u.p, u.len);
			names[out + u.len] = '\0';
			users[i] = names + out;
			out += u.len + 1;
		}
		rr.users = users;
		buf_clear(&enc);
		if (auth_proto_encode_rcpt_reply(&enc, &rr) < 0 ||
		    enc.len != size || memcmp(enc.data, data, size))
			abort();
		free(users);
		free(names);
	}

	buf_free(&dec);
	buf_free(&enc);
	return 0;
}
