/* libFuzzer target for the route configuration parsers (relay/route.c,
 * route_parse.c): the input is split at LF into relay_routes,
 * relay_tls_policy, smarthost, smarthost_tls, relay_tls and a
 * recipient domain. A table that parses must answer for the domain; a
 * refusal must say why. The MX order runs over the input bytes as
 * preferences. Invariants are checked with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/route.h"
#include "relay/route_parse.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *field[6] = { (char *)"", (char *)"", (char *)"", (char *)"verify",
			   (char *)"may", (char *)"example.com" };
	char *p = copy;
	for (int i = 0; i < 6 && p; i++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		field[i] = p;
		p = nl ? nl + 1 : NULL;
	}
	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.relay_port = 25;
	cfg.relay_routes = field[0];
	cfg.relay_tls_policy = field[1];
	cfg.smarthost = field[2];
	cfg.smarthost_tls = field[3];
	cfg.relay_tls = field[4];
	struct buf err = BUF_INIT;
	struct route_table *t = route_table_new(&cfg, &err);
	if (t) {
		check(err.len == 0);
		char dest[300];
		route_destination(t, field[5], dest, sizeof dest);
		check(strlen(dest) < sizeof dest);
		int l = (int)route_tls_level(t, field[5]);
		check(l >= RELAY_TLS_NONE && l <= RELAY_TLS_SMTPS);
		route_table_free(&t);
		check(t == NULL);
	} else {
		check(err.len > 0 && err.data[err.len - 1] == '\n');
	}
	buf_free(&err);

	char host[256];
	int port;
	const char *why = NULL;
	struct str s = str_make((const char *)data, size);
	if (route_hostport_parse(s, 25, host, sizeof host, &port, &why))
		check(port >= 1 && port <= 65535 && strlen(host) < sizeof host);
	else
		check(why != NULL);
	(void)route_name_valid(s);

	struct dns_mx mx[64];
	size_t n = size < 64 ? size : 64;
	memset(mx, 0, sizeof mx);
	for (size_t i = 0; i < n; i++) {
		mx[i].pref = data[i] & 7;
		mx[i].host[0] = (char)i;
	}
	route_mx_order(mx, n, size);
	int seen[64] = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			check(mx[i - 1].pref <= mx[i].pref);
		check(!seen[(unsigned char)mx[i].host[0]]++);
	}
	free(copy);
	return 0;
}
