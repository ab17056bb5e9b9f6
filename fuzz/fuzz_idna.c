/* libFuzzer target for relay/idna.c: a recipient's domain as an
 * SMTPUTF8 client may send it. Whatever the input, the result is
 * ASCII and within DNS's limits; an ASCII input comes back unchanged,
 * and a short output buffer gives a refusal, never a cut name. Invariants are checked with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/idna.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1024)
		return 0;
	char in[1025], out[260];
	memcpy(in, data, size);
	in[size] = '\0';
	size_t n = strlen(in);
	if (!idna_domain_to_ascii(in, out, sizeof out))
		return 0;
	size_t len = strlen(out);
	check(len <= 253);
	check(idna_is_ascii(out));
	if (idna_is_ascii(in))
		check(len == n && memcmp(in, out, n) == 0);
	/* a short output buffer never overflows and never lies */
	char small[16];
	if (idna_domain_to_ascii(in, small, sizeof small))
		check(strcmp(small, out) == 0);
	return 0;
}
