/* libFuzzer target: the shared server-side SASL driver as POP3, SMTP and
 * IMAP drive it. Byte 0 picks the mechanism and whether the first line
 * is an initial response; the rest is the client's lines split at LF.
 * Invariants: a finished or failed exchange holds nothing; credentials
 * are non-empty slices inside the driver's memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_server.h"

static void check_creds(const struct sasl_server_creds *cr)
{
	if (!cr->mech_name || cr->user.len == 0 || cr->secret.len == 0)
		abort();
	if (cr->mech == AUTH_MECH_PASSWORD &&
	    (memchr(cr->user.p, 0, cr->user.len) ||
	     memchr(cr->secret.p, 0, cr->secret.len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum sasl_server_mech m = (enum sasl_server_mech)(1 + data[0] % 3);
	bool ir = data[0] & 0x10;
	struct str rest = { (const char *)data + 1, size - 1 };
	struct sasl_server s;
	memset(&s, 0, sizeof s);
	const char *ch;
	struct sasl_server_creds cr;
	enum sasl_server_error e;
	enum sasl_server_result r;
	struct str line = rest;
	const char *nl = memchr(rest.p, '\n', rest.len);
	if (nl) {
		line.len = (size_t)(nl - rest.p);
		rest.p = nl + 1;
		rest.len -= line.len + 1;
	} else {
		rest.len = 0;
	}
	r = sasl_server_start(&s, m, ir ? &line : NULL, "fuzz.example", &ch, &cr,
			      &e);
	for (int steps = 0; steps < 8; steps++) {
		if (r == SASL_SERVER_DONE) {
			check_creds(&cr);
			break;
		}
		if (r == SASL_SERVER_FAILED) {
			if (sasl_server_active(&s) || e == SASL_SERVER_E_NONE)
				abort();
			break;
		}
		if (!ch)
			abort();
		line = rest;
		nl = memchr(rest.p, '\n', rest.len);
		if (nl) {
			line.len = (size_t)(nl - rest.p);
			rest.p = nl + 1;
			rest.len -= line.len + 1;
		} else {
			rest.len = 0;
		}
		r = sasl_server_step(&s, line, &ch, &cr, &e);
	}
	sasl_server_clear(&s);
	if (sasl_server_active(&s))
		abort();
	return 0;
}
