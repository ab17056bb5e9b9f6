/* Sets of uint32 (UIDs, message indexes) as sorted arrays without
 * repeats: made once by sorting, then asked by binary search. The array
 * and its count stay the caller's (a uint32_t * and a size_t), so a set
 * lives in any struct and passes through any API as it is. */
#ifndef POSTERN_U32SET_H
#define POSTERN_U32SET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sorts v[0..n) ascending and drops repeats, in place; returns the
 * count kept (v[0..count) is then a set). */
size_t u32set_make(uint32_t *v, size_t n);
/* A set made from a copy of v[0..n) (malloc'ed, never NULL: room for at
 * least one element); *out_n gets its count. v is left as it is. */
uint32_t *u32set_copy(const uint32_t *v, size_t n, size_t *out_n);
/* Is x in the set v[0..n) (ascending; v may be NULL when n is 0)?
 * O(log n). */
bool u32set_has(const uint32_t *v, size_t n, uint32_t x);

#endif
