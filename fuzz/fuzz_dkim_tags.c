/* libFuzzer target for the DKIM tag=value list parser (dkim/tags.c,
 * RFC 6376 3.2) and what is built on it: the DKIM-Signature checks
 * (dkim_sig_parse) and key records (dkim_key_record_parse). Invariants
 * are checked with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	struct str in = str_make((const char *)data, size);
	static struct dkim_tags t;
	const char *why = NULL;
	if (dkim_tags_parse(in, &t, &why) == 0) {
		check(t.n <= DKIM_TAGS_MAX);
		for (size_t i = 0; i < t.n; i++) {
			const struct dkim_tag *g = &t.t[i];
			check(g->name.len > 0);
			check(g->name.p >= in.p && g->name.p + g->name.len <= in.p + in.len);
			check(g->raw.p >= in.p && g->raw.p + g->raw.len <= in.p + in.len);
			check(g->value.p >= g->raw.p &&
			      g->value.p + g->value.len <= g->raw.p + g->raw.len);
			check(memchr(g->raw.p, ';', g->raw.len) == NULL);
			if (g->value.len)
				check(!ws(g->value.p[0]) && !ws(g->value.p[g->value.len - 1]));
			for (size_t k = 0; k < i; k++)
				check(!(t.t[k].name.len == g->name.len &&
					!memcmp(t.t[k].name.p, g->name.p, g->name.len)));
			check(dkim_tags_get(&t, "v") == NULL ||
			      str_eq(dkim_tags_get(&t, "v")->name, "v"));
		}
	} else {
		check(why != NULL);
	}

	/* As a DKIM-Signature field. */
	struct buf f = BUF_INIT;
	buf_appends(&f, "DKIM-Signature:");
	buf_append(&f, data, size);
	static struct dkim_sig sig;
	why = NULL;
	enum dkim_result r = dkim_sig_parse(buf_str(&f), 1700000000, &sig, &why);
	if (r == DKIM_NEUTRAL) {
		check(sig.nh > 0 && sig.bh_len == 32 && sig.b_len > 0);
		check(sig.d.len > 0 && sig.s.len > 0);
		char q[600];
		(void)dkim_sig_query_name(&sig, q, sizeof q);
	} else {
		check(why != NULL && (r == DKIM_PERMERROR || r == DKIM_FAIL));
	}
	buf_free(&f);

	/* As a key record. */
	char *rec = malloc(size + 1);
	memcpy(rec, data, size);
	rec[size] = '\0';
	for (int a = 0; a < 2; a++) {
		bool strict;
		why = NULL;
		EVP_PKEY *k = dkim_key_record_parse(rec, (enum dkim_alg)a, &strict, &why);
		if (k) {
			check(dkim_key_alg(k) == a);
			EVP_PKEY_free(k);
		} else {
			check(why != NULL);
		}
	}
	free(rec);
	return 0;
}
