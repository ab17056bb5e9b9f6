/* relay/relay.h: the TLS level names used by relay_tls,
 * relay_tls_policy and smarthost_tls. */
#include "relay/relay.h"
#include "core/buf.h"

static const char *const relay_tls_names[] = {
	[RELAY_TLS_NONE] = "none",
	[RELAY_TLS_MAY] = "may",
	[RELAY_TLS_ENCRYPT] = "encrypt",
	[RELAY_TLS_VERIFY] = "verify",
	[RELAY_TLS_SMTPS] = "smtps",
};

const char *relay_tls_level_name(enum relay_tls_level l)
{
	if ((unsigned)l < sizeof relay_tls_names / sizeof relay_tls_names[0])
		return relay_tls_names[l];
	return "?";
}

int relay_tls_level_parse(const char *s, int allow_smtps)
{
	for (int i = 0; i < (int)(sizeof relay_tls_names / sizeof relay_tls_names[0]); i++) {
		if (i == RELAY_TLS_SMTPS && !allow_smtps)
			continue;
		if (str_eq_nocase(str_from_cstr(s), relay_tls_names[i]))
			return i;
	}
	return -1;
}
