/* kmeans_bench.h - hooks for bench/kmeans.c (not installed). */
#ifndef CLVTIER_KMEANS_BENCH_H
#define CLVTIER_KMEANS_BENCH_H

#include "clvtier/kmeans.h"

/* Time `iters` Lloyd iterations from the given centroids, rows weighted by
 * w (NULL: 1) (for bench/ and tests/): returns the inertia of the last
 * assignment and the iterations run (fewer than iters where no label
 * changed); the centroids are updated. */
ct_status ct_kmeans_lloyd_steps(const double *X, const float *Xf, size_t n, size_t d,
                                const double *w, double *C, size_t k, unsigned iters,
                                unsigned threads, double *inertia, unsigned *ran,
                                ct_error *err);

/* ct_kmeans_lloyd_steps with the caller's labels (lab: n) and row norms (xn:
 * n floats where Xf is given, else n doubles), so that repeated calls touch
 * no fresh memory: on the VMs here a call's first touch of its 8 MB at 1M
 * rows cost 20-80 ms of page faults and TLB flushes, which made bench's
 * difference of two calls' times vary 0.5-2.3 ms an iteration at 1M x 8,
 * k = 8, f32.  What lab and xn held is overwritten. */
ct_status ct_kmeans_lloyd_steps_ws(const double *X, const float *Xf, size_t n, size_t d,
                                   const double *w, double *C, size_t k, unsigned iters,
                                   unsigned threads, int32_t *lab, void *xn, double *inertia,
                                   unsigned *ran, ct_error *err);

/* The start alone (o->init, o->seed, run 0) of ct_kmeans_fit on X (f64):
 * C (o->k x d) gets the centroids the fit would start from.  measured (may
 * be NULL): greedy k-means++'s rows measured, summed over its passes (the
 * rows whose distances to the pass's centres were computed: all of them in
 * an unpruned pass, those the triangle test keeps in a pruned one); 0 for
 * the other starts. */
ct_status ct_kmeans_seed(const double *X, size_t n, size_t d, const ct_kmeans_opts *o, double *C,
                         uint64_t *measured, ct_error *err);

#endif
