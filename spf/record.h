/* SPF records (RFC 7208 4.5, 4.6, 5, 6, 12): the parser, pure. A
 * record is parsed whole before anything is evaluated; any syntax
 * error anywhere makes it a permerror (RFC 7208 4.6). */
#ifndef POSTERN_SPF_RECORD_H
#define POSTERN_SPF_RECORD_H
#include <stdbool.h>
#include <stddef.h>

/* RFC 7208 2.6. */
enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};
const char *spf_result_name(enum spf_result r);

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};
const char *spf_mech_name(enum spf_mech m);

/* One directive. spec points into the parsed text (not NUL-terminated),
 * spec_len 0 when the mechanism has no domain-spec. */
struct spf_term {
	enum spf_mech mech;
	enum spf_result qual; /* PASS, FAIL, SOFTFAIL or NEUTRAL */
	const char *spec;
	size_t spec_len;
	int cidr4, cidr6; /* a, mx, ip4, ip6: prefix lengths (defaults 32/128) */
	unsigned char addr[16]; /* ip4 (first 4 bytes), ip6 */
};

struct spf_record {
	struct spf_term *terms; /* owned */
	size_t n_terms;
	const char *redirect; /* NULL when absent; else a domain-spec */
	size_t redirect_len;
	const char *exp;
	size_t exp_len;
};

/* True when txt is an SPF record: "v=spf1" (any case) then a space or
 * the end (RFC 7208 4.5). */
bool spf_record_is_spf(const char *txt, size_t len);

/* Parses txt (which must stay alive as long as r). Returns true, or
 * false with the reason in err (the record is then a permerror, and r
 * holds nothing to free). */
bool spf_record_parse(const char *txt, size_t len, struct spf_record *r,
		      char *err, size_t errlen);
void spf_record_free(struct spf_record *r);

/* The macro-string syntax of RFC 7208 7.1 (exp: the letters c, r, t are
 * allowed, and spaces). */
bool spf_macro_string_ok(const char *s, size_t len, bool exp);

#endif
