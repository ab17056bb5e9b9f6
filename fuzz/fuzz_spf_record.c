/* libFuzzer target for spf/record.c and spf/macro.c: an SPF record as
 * a DNS TXT answer can hold anything. The first byte picks the
 * client's family; the rest is the record. Invariants (abort() on
 * breach): a parsed record's terms lie inside the input and are valid
 * macro-strings; every domain-spec of a record that parses expands
 * unless too long (a syntax error is a permerror at parse time); an
 * expanded domain is at most 253 octets; every expansion is bounded. The input is also expanded as an explanation
 * string and as a domain-spec, whether or not it parses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "spf/macro.h"
#include "spf/record.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void expand_check(const char *s, size_t len,
			 const struct spf_macro_ctx *c, bool exp, bool domain,
			 bool must)
{
	struct buf b = BUF_INIT;
	char err[128];
	bool ok = spf_macro_expand(s, len, c, exp, domain, &b, err, sizeof err);
	/* what parsed always expands, unless the result would be too
	 * long (a permerror when evaluated) */
	check(!must || ok || strstr(err, "too long"));
	if (ok) {
		check(b.len <= SPF_EXPAND_MAX + 3 * 256);
		if (domain)
			check(b.len <= 253);
	}
	check(ok == spf_macro_string_ok(s, len, exp) || !ok);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > SPF_RECORD_MAX + 64)
		return 0;
	struct sockaddr_storage ip;
	memset(&ip, 0, sizeof ip);
	if (data[0] & 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ip;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::cb01", &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ip;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.3", &s4->sin_addr);
	}
	const char *txt = (const char *)data + 1;
	size_t len = size - 1;
	struct spf_macro_ctx c = {
		.sender = "strong-bad@email.example.com",
		.domain = "email.example.com",
		.helo = "mx.example.org",
		.ip = &ip,
		.receiver = "mx.receiver.example",
		.now = 1234567890,
	};
	expand_check(txt, len, &c, true, false, false);
	expand_check(txt, len, &c, false, true, false);

	struct spf_record r;
	char err[256];
	if (!spf_record_parse(txt, len, &r, err, sizeof err))
		return 0;
	for (size_t i = 0; i < r.n_terms; i++) {
		const struct spf_term *t = &r.terms[i];
		check(t->cidr4 >= 0 && t->cidr4 <= 32);
		check(t->cidr6 >= 0 && t->cidr6 <= 128);
		if (!t->spec_len)
			continue;
		check(t->spec >= txt && t->spec + t->spec_len <= txt + len);
		if (t->mech == SPF_M_IP4 || t->mech == SPF_M_IP6)
			continue;
		check(spf_macro_string_ok(t->spec, t->spec_len, false));
		expand_check(t->spec, t->spec_len, &c, false, true, true);
	}
	if (r.redirect)
		expand_check(r.redirect, r.redirect_len, &c, false, true, true);
	if (r.exp)
		expand_check(r.exp, r.exp_len, &c, false, true, true);
	spf_record_free(&r);
	return 0;
}
