/* libFuzzer target for smtp_from_collect (smtp/from_check.h): the From:
 * check of submission. The input is a message; byte 0 picks whether an
 * envelope sender is skipped. On OK the list must be short, free of
 * duplicates, hold no NUL and never the skipped sender; any verdict
 * must be the same when the message is read again. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/from_check.h"

static void check_at(bool ok, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
		abort();
	}
}
#define check(ok) check_at((ok), __LINE__)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *skip = (data[0] & 1) ? "alice@a.test" : NULL;
	char *msg = malloc(size - 1 + 1);
	memcpy(msg, data + 1, size - 1);
	char **a, **b;
	size_t n, m;
	enum smtp_from_verdict v =
		smtp_from_collect(msg, size - 1, skip, &a, &n);
	enum smtp_from_verdict w =
		smtp_from_collect(msg, size - 1, skip, &b, &m);
	check(v == w && n == m);
	if (v != SMTP_FROM_OK)
		check(a == NULL && n == 0);
	check(n <= SMTP_MAX_FROM);
	for (size_t i = 0; i < n; i++) {
		check(strcmp(a[i], b[i]) == 0);
		check(strchr(a[i], '@') != NULL);
		check(!skip || strcasecmp(a[i], skip) != 0);
		for (size_t k = 0; k < i; k++)
			check(strcasecmp(a[i], a[k]) != 0);
	}
	check(smtp_from_verdict_name(v)[0] != '?');
	smtp_from_addrs_free(a, n);
	smtp_from_addrs_free(b, m);
	free(msg);
	return 0;
}
