/* kmeans.h - weighted k-means over a row-major feature matrix (f64 or f32).
 *
 * Lloyd iterations compute distances as |x|^2 - 2 x.c + |c|^2 with OpenBLAS
 * GEMM on cache-sized row tiles, the argmin fused into the same pass, and
 * per-block partial sums reduced in block order: results are bit-identical
 * for any thread count.  The iteration follows scikit-learn's Lloyd (same
 * stopping rules: labels unchanged, or total squared centroid shift <= tol *
 * mean feature variance; a last assignment so labels match the centroids;
 * the passes before it keep no labels, and "unchanged" is read as a pass's
 * cluster sums and weights equal to the pass before's, bit for bit, which
 * unchanged labels imply;
 * empty clusters moved to the points farthest from their centroids).
 * Threads are clvtier's own: the k-means calls set OpenBLAS to one thread
 * (openblas_set_num_threads(1)) for the whole process. 
 * Refs: Lloyd (1982), IEEE Trans. Inf. Theory 28(2); Arthur & Vassilvitskii
 * (2007), "k-means++", SODA; Bahmani et al. (2012), "Scalable k-means++",
 * VLDB 5(7) (k-means||). */
#ifndef CLVTIER_KMEANS_H
#define CLVTIER_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/status.h"
#include "clvtier/types.h"

#ifdef __cplusplus
extern "C" {
#endif


/* Iterations: Lloyd (every distance every iteration), or Lloyd with
 * Hamerly's bounds or Yinyang's group bounds (Ding et al. 2015): the same
 * labels, rows (and, with Yinyang, groups of centres) that cannot have
 * changed skipped.  Yinyang needs the fused kernels (AVX2 or AVX-512, up to
 * 32 columns) and runs Hamerly's bounds elsewhere.  AUTO: see km_auto_algo
 * (kmeans.c) and bench/. */
typedef enum ct_km_algo {
    CT_KM_ALGO_AUTO,
    CT_KM_ALGO_LLOYD,
    CT_KM_ALGO_HAMERLY,
    CT_KM_ALGO_YINYANG
} ct_km_algo;

typedef struct ct_kmeans_opts {
    size_t k;
    ct_km_algo algorithm;
    ct_km_init init;
    const double *centroids; /* k x d, for CT_KM_INIT_GIVEN */
    unsigned n_init;         /* restarts; the lowest inertia wins (GIVEN: 1) */
    unsigned max_iter;       /* per run (default 300) */
    double tol;              /* relative tolerance (default 1e-4, as scikit-learn) */
    uint64_t seed;
    unsigned threads; /* 0 = default */
    /* ct_kmeans_fit_stream over ranks: 1 leaves each rank only its own
     * rows' labels (rank 0 gets every label by default) */
    int labels_local;
} ct_kmeans_opts;

void ct_kmeans_opts_init(ct_kmeans_opts *o);


/* Cluster X (n x d, row-major; f64 or f32) with optional weights w (NULL = 1).
 * Errors: CT_EINVAL (k = 0, k > n, bad options), CT_EDATA (NaN/Inf in X or a
 * negative or non-finite weight; the message names row and column). */
ct_status ct_kmeans_fit(const double *X, size_t n, size_t d, const double *w,
                        const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err);
ct_status ct_kmeans_fit_f32(const float *X, size_t n, size_t d, const double *w,
                            const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err);

/* ---- data larger than memory ------------------------------------------------
 * A row source: read rows [row0, row0 + nrows) of the n x d matrix into X
 * (row-major) and, when w != NULL, their weights into w (1 when unweighted).
 * Passes read in increasing row order from row 0; single rows may also be
 * asked for (to re-seed empty clusters). */
struct ct_comm;
typedef struct ct_km_source {
    size_t n, d;
    int weighted;
    struct ct_comm *comm; /* NULL: every row here; else the rows are split over its
                           * ranks by whole blocks and each rank reads only its own */
    ct_status (*read)(void *ctx, size_t row0, size_t nrows, double *X, double *w, ct_error *err);
    void *ctx;
} ct_km_source;

/* Out-of-core Lloyd: every iteration streams the rows in blocks of about
 * block_rows (0: 262,144; rounded down to whole reduction blocks of at
 * least 16,384 rows), so memory is O(block x d + k x d) plus the labels (4
 * bytes a row).  The blocks are whole multiples of the in-memory engine's
 * reduction blocks and are reduced in the same order, so from the same
 * centroids (init GIVEN) the result is bit-identical to ct_kmeans_fit with
 * algorithm LLOYD, for any thread count.  Other inits run ct_kmeans_fit (the
 * requested init, n_init, seed) on a deterministic sample of about
 * sample_max rows (0: 1,000,000; row i kept when a hash of (seed, i) is below
 * sample_max / n) and start from its centroids.  With src->comm, every rank
 * calls this collectively and reads only its own rows; all get the same
 * centroids, inertia and weights (bit-identical to one rank), rank 0 all the
 * labels (other ranks, and rank 0 with o->labels_local: their own rows'
 * only, [lo, hi) of ct_kmeans_stream_rows). */
ct_status ct_kmeans_fit_stream(const ct_km_source *src, const ct_kmeans_opts *o,
                               size_t block_rows, size_t sample_max, ct_kmeans_result *r,
                               ct_error *err);

/* The rows [*lo, *hi) that rank `rank` of `nranks` reads in
 * ct_kmeans_fit_stream for these n, d, k and block_rows: *lo is a multiple
 * of CT_SUM_BLOCK (comm.h). */
void ct_kmeans_stream_rows(size_t n, size_t d, size_t k, size_t block_rows, int rank, int nranks,
                           size_t *lo, size_t *hi);

/* Nearest centroid (and squared distance, may be NULL) of each row. */
ct_status ct_kmeans_predict(const double *X, size_t n, size_t d, const double *C, size_t k,
                            unsigned threads, int32_t *labels, double *dist2, ct_error *err);

/* ---- choosing k ----------------------------------------------------------- */

/* Scores of a clustering.  The silhouette uses a deterministic sample of at
 * most sample_max rows (seeded), exact when n <= sample_max, on up to
 * `threads` threads (0: all cores; the result does not depend on it). */
ct_status ct_kmeans_scores(const double *X, size_t n, size_t d, const double *w,
                           const ct_kmeans_result *r, size_t sample_max, uint64_t seed,
                           unsigned threads, ct_kscore *out, ct_error *err);

/* The rule used to pick k from scores[0..m) for k = klo..: the k with the
 * highest silhouette; ties go to the smaller k. */
size_t ct_kmeans_pick_k(const ct_kscore *scores, size_t m, size_t klo);

/* ---- preprocessing ------------------------------------------------------ */


/* Fit on X (n x d) and transform it in place.  log1p of a value <= -1 is
 * CT_EDATA naming the row and column. */
ct_status ct_scaler_fit_transform(ct_scaler *s, double *X, size_t n, size_t d, const double *w,
                                  ct_transform t, ct_scaling sc, ct_error *err);
/* Fit a scaler on rows streamed from src (raw values, transformed here):
 * this rank reads rows [lo, hi) in blocks of `block` rows (lo and block
 * multiples of CT_SUM_BLOCK; ct_kmeans_stream_rows gives lo and hi), and
 * the sums go over src->comm.  zscore and none only (robust needs every
 * value).  z-scores are summed per block of CT_SUM_BLOCK rows and the blocks
 * added in order, here and in ct_scaler_fit_transform, so the scaler is the
 * same bits in memory, streamed, and over any number of ranks. */
ct_status ct_scaler_fit_source(ct_scaler *s, const ct_km_source *src, size_t lo, size_t hi,
                               size_t block, ct_transform t, ct_scaling sc, ct_error *err);
/* Apply a fitted scaler to new rows (in place), or invert it (centroids back
 * to original units). */
ct_status ct_scaler_apply(const ct_scaler *s, double *X, size_t n, ct_error *err);
void ct_scaler_invert(const ct_scaler *s, double *X, size_t n);

#ifdef __cplusplus
}
#endif

#endif
