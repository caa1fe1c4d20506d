/* sort.c - LSD radix sort of 64-bit keys with a 32-bit payload.
 * Ref: Knuth, TAOCP vol. 3, sec. 5.2.5 (radix sorting). */
#include "core/sort_internal.h"

#include <stdlib.h>
#include <string.h>

uint64_t ct_double_key(double v)
{
    uint64_t u;
    if (v != v) {
        return UINT64_MAX;
    }
    if (v == 0) {
        v = 0.0; /* -0 and +0 are equal */
    }
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | 0x8000000000000000ULL;
}

int ct_radix_sort_u64(uint64_t *key, uint32_t *idx, size_t n)
{
    enum { BITS = 16, R = 1 << BITS };
    uint64_t *k2;
    uint32_t *i2;
    size_t *cnt;

    if (n < 2) {
        return 0;
    }
    k2 = malloc(n * sizeof *k2);
    i2 = malloc(n * sizeof *i2);
    cnt = malloc(R * sizeof *cnt);
    if (k2 == NULL || i2 == NULL || cnt == NULL) {
        free(k2);
        free(i2);
        free(cnt);
        return -1;
    }
    uint64_t *ks = key, *kd = k2;
    uint32_t *is = idx, *id = i2;
    for (unsigned shift = 0; shift < 64; shift += BITS) {
        memset(cnt, 0, R * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            cnt[(ks[i] >> shift) & (R - 1)]++;
        }
        if (cnt[(ks[0] >> shift) & (R - 1)] == n) {
            continue; /* every key has this digit: the pass would not move anything */
        }
        size_t sum = 0;
        for (size_t b = 0; b < R; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t d = cnt[(ks[i] >> shift) & (R - 1)]++;
            kd[d] = ks[i];
            id[d] = is[i];
        }
        uint64_t *tk = ks;
        ks = kd;
        kd = tk;
        uint32_t *ti = is;
        is = id;
        id = ti;
    }
    if (ks != key) {
        memcpy(key, ks, n * sizeof *key);
        memcpy(idx, is, n * sizeof *idx);
    }
    free(k2);
    free(i2);
    free(cnt);
    return 0;
}

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

double ct_select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo]) {
            swap_d(&v[mid], &v[lo]);
        }
        if (v[hi] < v[lo]) {
            swap_d(&v[hi], &v[lo]);
        }
        if (v[hi] < v[mid]) {
            swap_d(&v[hi], &v[mid]);
        }
        double p = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) {
                i++;
            }
            while (v[j] > p) {
                j--;
            }
            if (i <= j) {
                swap_d(&v[i], &v[j]);
                i++;
                if (j == 0) {
                    break;
                }
                j--;
            }
        }
        if (k <= j) {
            hi = j;
        } else if (k >= i) {
            lo = i;
        } else {
            return v[k];
        }
    }
    return v[k];
}
