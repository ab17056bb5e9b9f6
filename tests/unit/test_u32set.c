/* core/u32set.h: sorted uint32 sets, made and asked. */
#include <stdint.h>
#include <stdlib.h>

#include "core/u32set.h"
#include "tests/unit/unit.h"

UNIT_TEST(test_make)
{
	uint32_t v[] = { 7, 3, 3, UINT32_MAX, 0, 7, 1, 0, UINT32_MAX };
	size_t n = u32set_make(v, sizeof v / sizeof v[0]);
	const uint32_t want[] = { 0, 1, 3, 7, UINT32_MAX };
	CHECK_EQ_MEM(v, n * sizeof *v, want, sizeof want);
	/* Already a set: unchanged. */
	CHECK_EQ_INT(u32set_make(v, n), 5);
	CHECK_EQ_MEM(v, n * sizeof *v, want, sizeof want);
	CHECK_EQ_INT(u32set_make(v, 0), 0);
	CHECK_EQ_INT(u32set_make(NULL, 0), 0);
	uint32_t one[] = { 42 };
	CHECK_EQ_INT(u32set_make(one, 1), 1);
	CHECK_EQ_INT(one[0], 42);
	uint32_t same[] = { 5, 5, 5, 5 };
	CHECK_EQ_INT(u32set_make(same, 4), 1);
	CHECK_EQ_INT(same[0], 5);
}

UNIT_TEST(test_copy)
{
	const uint32_t in[] = { 9, 2, 9, 4 };
	size_t n = 99;
	uint32_t *c = u32set_copy(in, 4, &n);
	const uint32_t want[] = { 2, 4, 9 };
	CHECK_EQ_MEM(c, n * sizeof *c, want, sizeof want);
	CHECK_EQ_INT(in[0], 9); /* the input is left as it is */
	free(c);
	/* Empty (even from NULL): a pointer all the same. */
	c = u32set_copy(NULL, 0, &n);
	CHECK(c != NULL);
	CHECK_EQ_INT(n, 0);
	free(c);
}

UNIT_TEST(test_has)
{
	const uint32_t s[] = { 1, 4, 5, 100, 4000000000u, UINT32_MAX };
	const size_t n = sizeof s / sizeof s[0];
	/* Against a linear scan, for every prefix of the set. */
	const uint32_t probes[] = { 0, 1, 2, 4, 5, 6, 99, 100, 101,
				    3999999999u, 4000000000u, UINT32_MAX - 1,
				    UINT32_MAX };
	for (size_t k = 0; k <= n; k++) {
		for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
			bool want = false;
			for (size_t j = 0; j < k; j++)
				want |= s[j] == probes[i];
			CHECK(u32set_has(s, k, probes[i]) == want);
		}
	}
	CHECK(!u32set_has(NULL, 0, 0));
}

/* A large set made from random values: every member found, and values
 * between members not. */
UNIT_TEST(test_large)
{
	enum { N = 10000 };
	uint32_t *v = malloc(N * sizeof *v);
	uint32_t x = 12345;
	for (size_t i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (x >> 4) & ~1u; /* even: odd values are absent */
	}
	size_t n = u32set_make(v, N);
	CHECK(n > 0 && n <= N);
	for (size_t i = 1; i < n; i++)
		CHECK(v[i - 1] < v[i]);
	for (size_t i = 0; i < n; i++) {
		CHECK(u32set_has(v, n, v[i]));
		CHECK(!u32set_has(v, n, v[i] + 1));
	}
	free(v);
}

UNIT_MAIN(test_make, test_copy, test_has, test_large)
