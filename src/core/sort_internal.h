/* sort_internal.h - LSD radix sort of (uint64 key, uint32 index) pairs.
 * Stable; O(n) with 4 passes of 16 bits (passes whose digit is constant
 * are skipped).  Not installed. */
#ifndef CLVTIER_SORT_INTERNAL_H
#define CLVTIER_SORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Sort key[0..n) ascending, permuting idx alongside.  Returns 0, or -1 when
 * out of memory (arrays untouched). */
int ct_radix_sort_u64(uint64_t *key, uint32_t *idx, size_t n);

/* Order-preserving map of a double to uint64 (NaN sorts last). */
uint64_t ct_double_key(double v);

#endif
