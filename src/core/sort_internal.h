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

/* The k-th smallest of v[0..n) (quickselect, median-of-three pivots; v is
 * reordered so that no value after index k is smaller). No NaN in v. */
double ct_select_kth(double *v, size_t n, size_t k);

/* Order-preserving map of a double to uint64 (NaN sorts last). */
uint64_t ct_double_key(double v);

#endif
