/* Sorted uint32 sets (core/u32set.h). */
#include "core/u32set.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

size_t u32set_make(uint32_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, u32_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[i] != v[k - 1])
			v[k++] = v[i];
	return k;
}

uint32_t *u32set_copy(const uint32_t *v, size_t n, size_t *out_n)
{
	uint32_t *c = xmalloc((n + 1) * sizeof *c);
	if (n > 0)
		memcpy(c, v, n * sizeof *c);
	*out_n = u32set_make(c, n);
	return c;
}

bool u32set_has(const uint32_t *v, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] == x)
			return true;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
