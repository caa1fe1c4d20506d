/* kmeans_bench.h - hooks for bench/kmeans.c (not installed). */
#ifndef CLVTIER_KMEANS_BENCH_H
#define CLVTIER_KMEANS_BENCH_H

#include "clvtier/kmeans.h"

/* Time `iters` Lloyd iterations from the given centroids (for bench/):
 * returns the inertia of the last assignment; the centroids are updated. */
ct_status ct_kmeans_lloyd_steps(const double *X, const float *Xf, size_t n, size_t d, double *C,
                                size_t k, unsigned iters, unsigned threads, double *inertia,
                                ct_error *err);

#endif
