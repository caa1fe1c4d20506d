/* kmeans.c - weighted k-means (see include/clvtier/kmeans.h).
 * Refs: Lloyd (1982); Arthur & Vassilvitskii (2007) "k-means++" (greedy
 * variant with 2 + ln k trials, as scikit-learn); Bahmani, Moseley,
 * Vattani, Kumar & Vassilvitskii (2012) "Scalable k-means++" (k-means||);
 * Calinski & Harabasz (1974); Davies & Bouldin (1979); Rousseeuw (1987)
 * (silhouettes). */
#include "clvtier/kmeans.h"
#include "numerics/kmeans/kmeans_bench.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/par.h"
#include "clvtier/rng.h"
#include "core/mem_internal.h"
#include "numerics/kmeans/kmeans_dots.h"

#define CT_INF ((double)INFINITY)
#define CT_NAN ((double)NAN)

void ct_kmeans_opts_init(ct_kmeans_opts *o)
{
    memset(o, 0, sizeof *o);
    o->k = 8;
    o->init = CT_KM_INIT_AUTO;
    o->n_init = 1;
    o->max_iter = 300;
    o->tol = 1e-4;
    o->seed = 0;
}

typedef struct km_ctx {
    size_t n, d, k;
    const double *w;
    unsigned n_init, max_iter, threads;
    ct_km_init init;
    ct_km_algo algo;
    const double *given;
    uint64_t seed;
    double tol;
    size_t rb;     /* rows per reduction block (fixed: thread-count independent) */
    size_t tr;     /* rows per GEMM tile */
    size_t stride; /* doubles per block of partial sums, padded to 64 bytes */
    uint64_t *measured; /* NULL, or per reduction block: the rows whose distances greedy
                         * k-means++'s passes computed (ct_kmeans_seed's count; the
                         * pruned passes count per block, the full passes of
                         * km_plusplus all in block 0) */
} km_ctx;

typedef struct km_run {
    double inertia;
    unsigned iterations;
    int converged;
    double *skipped; /* Hamerly: the share skipped per pass (npasses), else NULL */
    size_t npasses;
    double *weight; /* k: the clusters' weights at the end, from the inertia's pass; NULL: none */
} km_run;

typedef double (*km_dist_fn)(const void *X, size_t i, size_t d, const double *c);
typedef void (*km_copy_fn)(const void *X, size_t i, size_t d, double *out);
typedef void (*km_cand_fn)(void *ctx, size_t block, size_t row, const double *d2, size_t m);
typedef ct_status (*km_cands_fn)(const km_ctx *K, const void *X, const void *xn,
                                 const double *cand, size_t m, km_cand_fn fn, void *fctx,
                                 ct_error *err);

/* Greedy k-means++ with pruned passes (kmeans_impl.h): 0 and *st set, or
 * -1 where the FMA-chain kernels are not there (no SIMD, d > 32). */
typedef int (*km_pp_fn)(const km_ctx *K, const void *X, const void *xn, ct_rng *g, double *C,
                        ct_status *st, ct_error *err);

/* k-means|| rounds (kmeans_impl.h): closest[i] = min(closest[i], the
 * squared distance to the nearest of the m candidates cand + first d..),
 * near[i] = first + its index where that lowers it (NULL: not kept),
 * through the fused distance-argmin kernel, pruned by the distances of the
 * earlier candidates (cand .. first) to the new ones where near is kept: 0
 * and *st set, or -1 where the kernel does not apply (no SIMD, d > 32). */
typedef int (*km_cmin_fn)(const km_ctx *K, const void *X, const void *xn, const double *cand,
                          size_t first, size_t m, double *closest, int32_t *near, ct_status *st,
                          ct_error *err);

typedef struct km_ops {
    const void *X, *xn;
    km_cands_fn cands;
    km_copy_fn copy;
    km_dist_fn dist;
    km_pp_fn pp;
    km_cmin_fn cmin;
} km_ops;

void openblas_set_num_threads(int num_threads);

/* Values per block of partial sums (k x d sums, k weights, the inertia),
 * padded to a cache line. */
static size_t km_stride(size_t k, size_t d)
{
    return (k * d + k + 1 + 7) / 8 * 8;
}

/* Rows per reduction block: CT_SUM_BLOCK, or a multiple of it that keeps
 * the partial sums under 2^23 doubles (at most 1024 blocks: as many ranks
 * as that can get rows, since a rank owns whole blocks).  Always a
 * multiple of CT_SUM_BLOCK, so every rank of a distributed run starts on a
 * CT_SUM_BLOCK boundary (ct_comm_sum_blocks). */
static size_t km_rows_per_block(size_t n, size_t d, size_t k)
{
    size_t nbmax = ((size_t)1 << 23) / km_stride(k, d);
    nbmax = nbmax < 8 ? 8 : nbmax > 1024 ? 1024 : nbmax;
    size_t rb = CT_SUM_BLOCK;
    if ((n + rb - 1) / rb > nbmax) {
        rb = ((n + nbmax - 1) / nbmax + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK * CT_SUM_BLOCK;
    }
    return rb;
}

/* --algorithm auto.  Lloyd where its pass is the fused single read of the
 * rows (kmeans_dots: d <= 32) and the bounds do not pay: fewer than 16
 * centres (the distances cost less than reading and writing two bounds a
 * row: 1M x 8, k = 8, to convergence 0.09 s against 0.17 s; 1M x 32, k = 8:
 * 0.14 against 0.15 s), or float data (the bounds' slack for float rounding
 * leaves little to skip: 9% of the distances at 1M x 6, k = 64, against 86%
 * in double).  Hamerly's bounds elsewhere: k >= 16 in double, where customer
 * data (half of them at one point: x = 0) let the bounds skip most rows
 * (2M synthetic customers x 6, k = 64: 9.0 s against 10.5 s for the whole
 * `cluster`), and the GEMM shapes (no SIMD, or d > 32).  Measured with
 * bench/kmeans and `clvtier cluster --json` on 2 cores.
 * Yinyang's group bounds (fused kernel, double) only from 128 centres and 24
 * columns: there a row's group bounds and the measured groups cost less than
 * Hamerly's all-k measure of an undecided row (1M x 32, k = 128, blobs:
 * 0.062 s an iteration against Hamerly's 0.089 and Lloyd's 0.096; 300k x 32,
 * k = 256: 0.036 against 0.048 and 0.063; 300k x 24, k = 128: 0.020 against
 * 0.023 and 0.026).  Below that the bounds' upkeep and the per-group kernel
 * calls cost more than the distances they skip (1M x 8, k = 64: 0.037
 * against 0.025; 2M customers x 6, k = 64, whole `cluster`: 7.5 s against
 * 5.2 s, skipping 95 % against 89 %). */
static ct_km_algo km_auto_algo(size_t k, size_t d, int f32)
{
    int fused = km_dots_isa() != 0 && d <= KM_DOTS_MAXD;
    if (k < 2 || (fused && (k < 16 || f32))) {
        return CT_KM_ALGO_LLOYD;
    }
    return fused && k >= 128 && d >= 24 ? CT_KM_ALGO_YINYANG : CT_KM_ALGO_HAMERLY;
}

static ct_status km_setup(km_ctx *K, size_t n, size_t d, const double *w, const ct_kmeans_opts *o,
                          ct_error *err)
{
    memset(K, 0, sizeof *K);
    /* clvtier's own thread blocks call GEMM: OpenBLAS must not start threads
     * of its own inside them (they would oversubscribe the cores). */
    openblas_set_num_threads(1);
    (void)km_dots_isa(); /* decided once, before any thread asks */
    if (o->k == 0) {
        return ct_fail(err, CT_EINVAL, "k must be >= 1");
    }
    if (n == 0 || d == 0) {
        return ct_fail(err, CT_EINVAL, "no data (%zu rows, %zu columns)", n, d);
    }
    if (o->k > n) {
        return ct_fail(err, CT_EINVAL, "k = %zu is more than the %zu rows", o->k, n);
    }
    if (n > (size_t)INT32_MAX || o->k > (size_t)INT32_MAX) {
        return ct_fail(err, CT_EINVAL, "at most %d rows", INT32_MAX);
    }
    if (o->init == CT_KM_INIT_GIVEN && o->centroids == NULL) {
        return ct_fail(err, CT_EINVAL, "init 'given' needs centroids");
    }
    if (!(o->tol >= 0) || o->max_iter == 0) {
        return ct_fail(err, CT_EINVAL, "tol must be >= 0 and max_iter >= 1");
    }
    if (w != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(w[i]) || w[i] < 0) {
                return ct_fail_at(err, CT_EDATA, "weights", (uint64_t)i + 1, 0,
                                  "row %zu: weight %g must be finite and >= 0", i + 1, w[i]);
            }
        }
    }
    K->n = n;
    K->d = d;
    K->k = o->k;
    K->w = w;
    K->n_init = o->init == CT_KM_INIT_GIVEN ? 1 : (o->n_init ? o->n_init : 1);
    K->max_iter = o->max_iter;
    K->threads = o->threads;
    K->init = o->init;
    K->algo = o->algorithm; /* auto: resolved by the fit, which knows the precision */
    K->given = o->centroids;
    K->seed = o->seed;
    K->tol = o->tol;
    K->stride = km_stride(K->k, d);
    K->rb = km_rows_per_block(n, d, K->k);
    /* GEMM tiles: about 256 KiB of distances (L2), at most 4096 rows */
    size_t tr = 32768 / K->k;
    K->tr = tr < 16 ? 16 : tr > 4096 ? 4096 : tr;
    return CT_OK;
}

/* scikit-learn's _tolerance: tol * mean over features of the variance.
 * Sums per reduction block (rows in order), blocks added in order: the same
 * bits for the in-memory (prepare in kmeans_impl.h), streamed and
 * distributed engines. */
static void km_tol_block(const void *X, size_t r0, size_t r1, size_t d, km_copy_fn copy,
                         const double *mean, double *row, double *acc)
{
    memset(acc, 0, d * sizeof *acc);
    for (size_t i = r0; i < r1; i++) {
        copy(X, i, d, row);
        for (size_t c = 0; c < d; c++) {
            acc[c] += mean == NULL ? row[c] : (row[c] - mean[c]) * (row[c] - mean[c]);
        }
    }
}

/* out[0..m) = the blocks' first m partials (stride apart) added in block
 * order. */
static void km_reduce(const double *part, size_t nb, size_t stride, size_t m, double *out)
{
    memset(out, 0, m * sizeof *out);
    for (size_t b = 0; b < nb; b++) {
        const double *a = part + b * stride;
        for (size_t q = 0; q < m; q++) {
            out[q] += a[q];
        }
    }
}

/* Lloyd's strict stop ("labels unchanged"), the in-memory and streamed
 * engines alike: this pass's reduced sums and weights (m values) equal the
 * pass before's, bit for bit, which unchanged labels imply (the same rows
 * added in the same order); prev then holds this pass's.  it: the pass. */
static int km_pass_repeats(double *prev, const double *now, size_t m, unsigned it)
{
    int same = it > 0 && memcmp(prev, now, m * sizeof *now) == 0;
    memcpy(prev, now, m * sizeof *prev);
    return same;
}

/* New centres from cluster sums (k x d) and weights (empty clusters keep
 * theirs); move2[j] (may be NULL) = the squared move of centre j.  Returns
 * the total squared move, clusters added in order. */
static double km_update(double *C, const double *sums, const double *wk, size_t k, size_t d,
                        double *move2)
{
    double shift = 0;
    for (size_t j = 0; j < k; j++) {
        double pj2 = 0;
        for (size_t c = 0; c < d; c++) {
            double v = wk[j] > 0 ? sums[j * d + c] / wk[j] : C[j * d + c];
            double t = v - C[j * d + c];
            pj2 += t * t;
            C[j * d + c] = v;
        }
        if (move2 != NULL) {
            move2[j] = pj2;
        }
        shift += pj2;
    }
    return shift;
}

/* The m (at most cap) largest v seen, in decreasing order; ties keep the
 * earlier row. */
static void km_top_add(size_t *top, double *td, size_t *m, size_t cap, size_t i, double v)
{
    if (*m < cap || v > td[*m - 1]) {
        size_t pos = *m < cap ? (*m)++ : *m - 1;
        while (pos > 0 && td[pos - 1] < v) {
            td[pos] = td[pos - 1];
            top[pos] = top[pos - 1];
            pos--;
        }
        td[pos] = v;
        top[pos] = i;
    }
}

/* Empty cluster e takes row `row` (weight wp) away from cluster `old`. */
static void km_move(double *sums, double *wk, size_t d, size_t old, size_t e, const double *row,
                    double wp)
{
    for (size_t c = 0; c < d; c++) {
        sums[old * d + c] -= wp * row[c];
        sums[e * d + c] = wp * row[c];
    }
    wk[old] -= wp;
    wk[e] = wp;
}

static ct_status km_relocate(const km_ctx *K, double *sums, double *wk, size_t nempty,
                             const int32_t *labels, const double *C, km_dist_fn dist,
                             km_copy_fn copy, const void *X, ct_error *err)
{
    size_t n = K->n, d = K->d, k = K->k;
    size_t *top = malloc(nempty * sizeof *top);
    double *td = malloc(nempty * sizeof *td), *row = malloc(d * sizeof *row);
    if (top == NULL || td == NULL || row == NULL) {
        free(top);
        free(td);
        free(row);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        km_top_add(top, td, &m, nempty, i, dist(X, i, d, C + (size_t)labels[i] * d));
    }
    size_t q = 0;
    for (size_t e = 0; e < k && q < m; e++) {
        if (wk[e] != 0) {
            continue;
        }
        size_t p = top[q++];
        copy(X, p, d, row);
        km_move(sums, wk, d, (size_t)labels[p], e, row, K->w != NULL ? K->w[p] : 1.0);
    }
    free(top);
    free(td);
    free(row);
    return CT_OK;
}

/* ---- initialisation --------------------------------------------------------- */

static size_t weighted_pick(const km_ctx *K, ct_rng *g)
{
    if (K->w == NULL) { /* the loop below with weights 1: sums exact, the row floor(u n) */
        double u = floor(ct_rng_uniform(g) * (double)K->n);
        return u < (double)(K->n - 1) ? (size_t)u : K->n - 1;
    }
    double tot = 0;
    for (size_t i = 0; i < K->n; i++) {
        tot += K->w != NULL ? K->w[i] : 1.0;
    }
    double u = ct_rng_uniform(g) * tot, c = 0;
    for (size_t i = 0; i < K->n; i++) {
        c += K->w != NULL ? K->w[i] : 1.0;
        if (c > u) {
            return i;
        }
    }
    return K->n - 1;
}

typedef struct pp_ctx {
    const km_ctx *K;
    double *closest;
    double *part; /* per block x m */
    size_t m;
    int mode; /* 0: store closest = d2[0]; 1: partial potentials; 2: closest = min(closest, min d2) */
    int32_t *near; /* modes 0 and 2, may be NULL: the index of the nearest candidate so far */
    size_t first;  /* the index of d2[0] among the candidates */
} pp_ctx;

static void pp_fn(void *vctx, size_t b, size_t row, const double *d2, size_t m)
{
    pp_ctx *c = vctx;
    double wi = c->K->w != NULL ? c->K->w[row] : 1.0;
    if (c->mode == 0) {
        c->closest[row] = d2[0];
        if (c->near != NULL) {
            c->near[row] = (int32_t)c->first;
        }
    } else if (c->mode == 1) {
        for (size_t t = 0; t < m; t++) {
            double v = d2[t] < c->closest[row] ? d2[t] : c->closest[row];
            c->part[b * m + t] += wi * v;
        }
    } else {
        double v = c->closest[row];
        size_t at = SIZE_MAX;
        for (size_t t = 0; t < m; t++) { /* strictly smaller: ties keep the earlier candidate */
            if (d2[t] < v) {
                v = d2[t];
                at = t;
            }
        }
        c->closest[row] = v;
        if (c->near != NULL && at != SIZE_MAX) {
            c->near[row] = (int32_t)(c->first + at);
        }
    }
}

static double weighted_sum(const km_ctx *K, const double *v)
{
    double s = 0;
    for (size_t i = 0; i < K->n; i++) {
        s += (K->w != NULL ? K->w[i] : 1.0) * v[i];
    }
    return s;
}

/* The block of K->rb rows where D^2 sampling at rv in [0, total) falls:
 * the block totals btot (w D summed in row order) added in block order;
 * *before (may be NULL): their sum up to that block. */
static size_t pp_sample_block(const km_ctx *K, const double *btot, double rv, double *before)
{
    size_t nb = ct_par_nblocks(K->n, K->rb), b = 0;
    double acc = 0;
    for (; b + 1 < nb && acc + btot[b] < rv; b++) {
        acc += btot[b];
    }
    if (before != NULL) {
        *before = acc;
    }
    return b;
}

/* The row picked by D^2 sampling at rv: its block (pp_sample_block), then
 * the rows within it.  The same row for any thread count. */
static size_t pp_sample(const km_ctx *K, const double *D, const double *btot, double rv)
{
    double acc;
    size_t b = pp_sample_block(K, btot, rv, &acc);
    size_t r0 = b * K->rb, r1 = r0 + K->rb < K->n ? r0 + K->rb : K->n;
    for (size_t i = r0; i < r1; i++) {
        acc += (K->w != NULL ? K->w[i] : 1.0) * D[i];
        if (acc >= rv) {
            return i;
        }
    }
    return r1 - 1;
}

/* The trial of the lowest potential (pot[t]: its blocks' partials
 * part[b * stride + off + t], in block order); ties to the earlier trial. */
static size_t pp_best(const double *part, size_t nb, size_t stride, size_t off, size_t L,
                      double *pot)
{
    size_t best = 0;
    for (size_t t = 0; t < L; t++) {
        pot[t] = 0;
        for (size_t b = 0; b < nb; b++) {
            pot[t] += part[b * stride + off + t];
        }
        if (pot[t] < pot[best]) {
            best = t;
        }
    }
    return best;
}

/* Greedy k-means++ (scikit-learn's _kmeans_plusplus) on the data of ops:
 * with pruned passes where the kernels allow (ops->pp), else every row's
 * distance to every trial. */
static ct_status km_plusplus(const km_ctx *K, const km_ops *ops, ct_rng *g, double *C,
                             ct_error *err)
{
    ct_status pst;
    if (ops->pp != NULL && ops->pp(K, ops->X, ops->xn, g, C, &pst, err) == 0) {
        return pst;
    }
    size_t n = K->n, d = K->d, k = K->k;
    size_t L = 2 + (size_t)log((double)k);
    size_t nb = ct_par_nblocks(n, K->rb);
    double *closest = ct_malloc_big(n, sizeof *closest), *cum = ct_malloc_big(n, sizeof *cum);
    double *cand = malloc(L * d * sizeof *cand), *part = malloc(nb * L * sizeof *part);
    double pot[64];
    ct_status s = CT_OK;
    if (!closest || !cum || !cand || !part || L > 64) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        ops->copy(ops->X, weighted_pick(K, g), d, C);
        if (K->measured != NULL) {
            K->measured[0] += n;
        }
        pp_ctx pc = {K, closest, NULL, 1, 0, NULL, 0};
        s = ops->cands(K, ops->X, ops->xn, C, 1, pp_fn, &pc, err);
    }
    double cur = s == CT_OK ? weighted_sum(K, closest) : 0;
    for (size_t c = 1; c < k && s == CT_OK; c++) {
        double acc = 0;
        for (size_t i = 0; i < n; i++) {
            acc += (K->w != NULL ? K->w[i] : 1.0) * closest[i];
            cum[i] = acc;
        }
        for (size_t t = 0; t < L; t++) {
            double rv = ct_rng_uniform(g) * cur;
            size_t lo = 0, hi = n; /* first index with cum >= rv */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cum[mid] < rv) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            ops->copy(ops->X, lo < n ? lo : n - 1, d, cand + t * d);
        }
        memset(part, 0, nb * L * sizeof *part);
        if (K->measured != NULL) { /* two passes over every row: the trials, the update */
            K->measured[0] += 2 * n;
        }
        pp_ctx pc = {K, closest, part, L, 1, NULL, 0};
        s = ops->cands(K, ops->X, ops->xn, cand, L, pp_fn, &pc, err);
        if (s != CT_OK) {
            break;
        }
        size_t best = pp_best(part, nb, L, 0, L, pot);
        memcpy(C + c * d, cand + best * d, d * sizeof *C);
        pc.mode = 2;
        pc.m = 1;
        s = ops->cands(K, ops->X, ops->xn, cand + best * d, 1, pp_fn, &pc, err);
        cur = pot[best];
    }
    free(closest);
    free(cum);
    free(cand);
    free(part);
    return s;
}

static ct_status km_random(const km_ctx *K, const km_ops *ops, ct_rng *g, double *C, ct_error *err)
{
    size_t n = K->n;
    uint32_t *idx = malloc(n * sizeof *idx);
    if (idx == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        idx[i] = (uint32_t)i;
    }
    for (size_t j = 0; j < K->k; j++) { /* partial Fisher-Yates */
        size_t r = j + (size_t)ct_rng_below(g, n - j);
        uint32_t t = idx[j];
        idx[j] = idx[r];
        idx[r] = t;
        ops->copy(ops->X, idx[j], K->d, C + j * K->d);
    }
    free(idx);
    return CT_OK;
}

typedef struct par_sample {
    const km_ctx *K;
    const double *closest;
    double l, phi;
    uint64_t seed, stream;
    unsigned char *pick;
} par_sample;

/* Each row picked with probability l w D / phi, against a SplitMix64
 * stream per block (keyed by the seed, the round and the block): a hash a
 * row instead of a Mersenne Twister set up per block and a call per row
 * (5 rounds over 10M rows: 0.22 -> 0.03 s). */
static ct_status sample_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const par_sample *P = vctx;
    const uint64_t gamma = 0x9e3779b97f4a7c15ULL;
    uint64_t key = ct_mix64(P->seed ^ ct_mix64(P->stream + b));
    double scale = P->phi > 0 ? P->l / P->phi : 0.0;
    (void)err;
    for (size_t i = begin; i < end; i++) {
        double wi = P->K->w != NULL ? P->K->w[i] : 1.0;
        double u = (double)(ct_mix64(key + (uint64_t)(i - begin) * gamma) >> 11) * 0x1.0p-53;
        P->pick[i] = u < scale * wi * P->closest[i];
    }
    return CT_OK;
}

/* k-means|| (Bahmani et al. 2012): 5 rounds oversampling l = 2k points in
 * expectation, each candidate weighted by the rows nearest to it, then
 * weighted k-means++ and Lloyd on the candidates give the k centres. */
static ct_status km_parallel(const km_ctx *K, const km_ops *ops, ct_rng *g, unsigned run,
                             double *C, ct_error *err)
{
    size_t n = K->n, d = K->d, k = K->k, cap = 11 * k + 16, m = 0;
    size_t nb = ct_par_nblocks(n, K->rb);
    double *closest = ct_malloc_big(n, sizeof *closest), *cand = malloc(cap * d * sizeof *cand);
    unsigned char *pick = ct_malloc_big(n, 1);
    int32_t *near = ct_malloc_big(n, sizeof *near);
    ct_status s = CT_OK;
    if (!closest || !cand || !pick || !near) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        ops->copy(ops->X, weighted_pick(K, g), d, cand);
        m = 1;
        if (ops->cmin(K, ops->X, ops->xn, cand, 0, 1, closest, near, &s, err) != 0) {
            pp_ctx pc = {K, closest, NULL, 1, 0, near, 0};
            s = ops->cands(K, ops->X, ops->xn, cand, 1, pp_fn, &pc, err);
        }
    }
    for (unsigned round = 0; round < 5 && s == CT_OK; round++) {
        par_sample P = {K, closest, 2.0 * (double)k, weighted_sum(K, closest), K->seed,
                        ((uint64_t)run << 40) | ((uint64_t)(round + 1) << 32), pick};
        if (!(P.phi > 0)) {
            break; /* every row is a candidate already */
        }
        s = ct_par_for(n, K->rb, K->threads, sample_block, &P, err);
        size_t first = m;
        for (size_t i = 0; i < n && s == CT_OK; i++) {
            if (pick[i]) {
                if (m == cap) {
                    double *nc = realloc(cand, 2 * cap * d * sizeof *nc);
                    if (nc == NULL) {
                        s = ct_fail(err, CT_ENOMEM, "out of memory");
                        break;
                    }
                    cand = nc;
                    cap *= 2;
                }
                ops->copy(ops->X, i, d, cand + m * d);
                m++;
            }
        }
        if (s == CT_OK && m > first &&
            ops->cmin(K, ops->X, ops->xn, cand, first, m - first, closest, near, &s, err) != 0) {
            pp_ctx pc = {K, closest, NULL, m - first, 2, near, first};
            s = ops->cands(K, ops->X, ops->xn, cand + first * d, m - first, pp_fn, &pc, err);
        }
    }
    double *cw = NULL, *part = NULL;
    if (s == CT_OK) {
        cw = calloc(m, sizeof *cw);
        part = calloc(nb * m, sizeof *part);
        if (cw == NULL || part == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    if (s == CT_OK) {
        /* each candidate weighted by the rows nearest to it: the nearest was
         * tracked as the candidates came (ties to the earlier one, as a pass
         * over all of them would give), summed per block, blocks in order */
        for (size_t b = 0; b < nb; b++) {
            size_t r0 = b * K->rb, r1 = r0 + K->rb < n ? r0 + K->rb : n;
            double *pb = part + b * m;
            for (size_t i = r0; i < r1; i++) {
                pb[near[i]] += K->w != NULL ? K->w[i] : 1.0;
            }
            for (size_t t = 0; t < m; t++) {
                cw[t] += pb[t];
            }
        }
    }
    if (s == CT_OK) {
        if (m <= k) {
            /* too few candidates (tiny or duplicated data): take them all, then
             * random rows for the rest */
            memcpy(C, cand, m * d * sizeof *C);
            for (size_t j = m; j < k; j++) {
                ops->copy(ops->X, (size_t)ct_rng_below(g, n), d, C + j * d);
            }
        } else {
            ct_kmeans_opts o;
            ct_kmeans_result r;
            ct_kmeans_opts_init(&o);
            o.k = k;
            o.init = CT_KM_INIT_KMEANSPP;
            o.max_iter = 30;
            o.seed = ct_mix64(K->seed ^ ((uint64_t)run << 20) ^ 0x5eedULL);
            o.threads = K->threads;
            s = ct_kmeans_fit(cand, m, d, cw, &o, &r, err);
            if (s == CT_OK) {
                memcpy(C, r.centroids, k * d * sizeof *C);
                ct_kmeans_result_free(&r);
            }
        }
    }
    free(closest);
    free(cand);
    free(pick);
    free(near);
    free(cw);
    free(part);
    return s;
}

static ct_status km_init(const km_ctx *K, const km_ops *ops, unsigned run, double *C, ct_error *err)
{
    if (K->init == CT_KM_INIT_GIVEN) {
        for (size_t q = 0; q < K->k * K->d; q++) {
            if (!isfinite(K->given[q])) {
                return ct_fail(err, CT_EDATA, "initial centroid %zu, column %zu is not finite",
                               q / K->d + 1, q % K->d + 1);
            }
        }
        memcpy(C, K->given, K->k * K->d * sizeof *C);
        return CT_OK;
    }
    ct_rng *g = ct_rng_new(K->seed, run);
    if (g == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s;
    ct_km_init how = K->init;
    if (how == CT_KM_INIT_AUTO) {
        how = K->n <= 100000 ? CT_KM_INIT_KMEANSPP : CT_KM_INIT_PARALLEL;
    }
    if (how == CT_KM_INIT_RANDOM) {
        s = km_random(K, ops, g, C, err);
    } else if (how == CT_KM_INIT_PARALLEL) {
        s = km_parallel(K, ops, g, run, C, err);
    } else {
        s = km_plusplus(K, ops, g, C, err);
    }
    ct_rng_free(g);
    return s;
}

/* ---- Yinyang's groups ------------------------------------------------------------
 * Ding et al. (2015): about k / 10 groups (at most 64: a row's groups to
 * measure are the bits of a word), found once per run by five Lloyd
 * iterations over the starting centres themselves, from the centres
 * g k / t (deterministic; ties to the first group). */
static size_t km_ngroups(size_t k)
{
    size_t t = k / 10;
    return t < 1 ? 1 : t > 64 ? 64 : t;
}

/* grp[j] = the group of centre j, numbered 0.. in order with empty groups
 * dropped; returns their number.  G: t d + t scratch. */
static size_t km_groups(const double *C, size_t k, size_t d, size_t t, uint32_t *grp, double *G)
{
    double *cnt = G + t * d;
    for (size_t g = 0; g < t; g++) {
        memcpy(G + g * d, C + (g * k / t) * d, d * sizeof *G);
    }
    for (int it = 0; it < 5; it++) {
        for (size_t j = 0; j < k; j++) {
            double best = CT_INF;
            for (size_t g = 0; g < t; g++) {
                double e = 0;
                for (size_t c = 0; c < d; c++) {
                    double v = C[j * d + c] - G[g * d + c];
                    e += v * v;
                }
                if (e < best) {
                    best = e;
                    grp[j] = (uint32_t)g;
                }
            }
        }
        memset(cnt, 0, t * sizeof *cnt);
        for (size_t j = 0; j < k; j++) {
            cnt[grp[j]] += 1;
        }
        for (size_t g = 0; g < t; g++) { /* an empty group keeps its centre */
            if (cnt[g] > 0) {
                memset(G + g * d, 0, d * sizeof *G);
            }
        }
        for (size_t j = 0; j < k; j++) {
            for (size_t c = 0; c < d; c++) {
                G[grp[j] * d + c] += C[j * d + c] / cnt[grp[j]];
            }
        }
    }
    uint32_t map[64];
    size_t ng = 0;
    memset(cnt, 0, t * sizeof *cnt);
    for (size_t j = 0; j < k; j++) {
        cnt[grp[j]] += 1;
    }
    for (size_t g = 0; g < t; g++) {
        map[g] = (uint32_t)ng;
        ng += cnt[g] > 0;
    }
    for (size_t j = 0; j < k; j++) {
        grp[j] = map[grp[j]];
    }
    return ng;
}

/* ---- scratch kept across the blocks of a pass ------------------------------------
 * A block takes a free slot's buffer and gives it back, so a pass's threads
 * allocate their scratch once, not once a block (k-means||'s pruned rounds
 * had called malloc and free for 4 MB a block of 16,384 rows at 32
 * columns).  Beyond KM_POOL_SLOTS blocks at once (threads), a block
 * allocates its own. */
#define KM_POOL_SLOTS 64
typedef struct km_pool {
    atomic_int busy[KM_POOL_SLOTS];
    void *mem[KM_POOL_SLOTS];
    size_t size[KM_POOL_SLOTS];
} km_pool;

/* Bytes km_carve takes for n items of `size`: whole 64-byte lines. */
static size_t km_carved(size_t n, size_t size)
{
    return (n * size + 63) / 64 * 64;
}

/* Carves n items of `size` bytes from *at (64-byte aligned) and moves *at on. */
static void *km_carve(unsigned char **at, size_t n, size_t size)
{
    void *p = *at;
    *at += km_carved(n, size);
    return p;
}

static void km_pool_init(km_pool *p)
{
    for (int q = 0; q < KM_POOL_SLOTS; q++) {
        atomic_init(&p->busy[q], 0);
        p->mem[q] = NULL;
        p->size[q] = 0;
    }
}

/* At least `bytes` of scratch (64-byte aligned), its slot in *slot (-1:
 * the block's own); NULL: out of memory. */
static void *km_pool_take(km_pool *p, size_t bytes, int *slot)
{
    for (int q = 0; q < KM_POOL_SLOTS; q++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&p->busy[q], &expect, 1)) {
            if (p->size[q] < bytes) {
                free(p->mem[q]);
                p->mem[q] = aligned_alloc(64, km_carved(bytes, 1));
                p->size[q] = p->mem[q] != NULL ? bytes : 0;
            }
            if (p->mem[q] == NULL) {
                atomic_store(&p->busy[q], 0);
                return NULL;
            }
            *slot = q;
            return p->mem[q];
        }
    }
    *slot = -1;
    return aligned_alloc(64, km_carved(bytes, 1));
}

static void km_pool_give(km_pool *p, int slot, void *mem)
{
    if (slot < 0) {
        free(mem);
    } else {
        atomic_store(&p->busy[slot], 0);
    }
}

static void km_pool_free(km_pool *p)
{
    for (int q = 0; q < KM_POOL_SLOTS; q++) {
        free(p->mem[q]);
        p->mem[q] = NULL;
        p->size[q] = 0;
    }
}

/* ---- the typed halves ------------------------------------------------------- */

#define KM_REAL double
#define KM_F64 1
#define KM_EPS DBL_EPSILON
#define KM_SUF(x) x##_f64
#define KM_GEMM cblas_dgemm
#include "numerics/kmeans/kmeans_impl.h"
#undef KM_REAL
#undef KM_F64
#undef KM_EPS
#undef KM_SUF
#undef KM_GEMM

#define KM_REAL float
#define KM_F64 0
#define KM_EPS FLT_EPSILON
#define KM_SUF(x) x##_f32
#define KM_GEMM cblas_sgemm
#include "numerics/kmeans/kmeans_impl.h"
#undef KM_REAL
#undef KM_F64
#undef KM_SUF
#undef KM_GEMM

ct_status ct_kmeans_fit(const double *X, size_t n, size_t d, const double *w,
                        const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err)
{
    return fit_f64(X, n, d, w, o, r, err);
}

ct_status ct_kmeans_fit_f32(const float *X, size_t n, size_t d, const double *w,
                            const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err)
{
    return fit_f32(X, n, d, w, o, r, err);
}

ct_status ct_kmeans_seed(const double *X, size_t n, size_t d, const ct_kmeans_opts *o, double *C,
                         uint64_t *measured, ct_error *err)
{
    km_ctx K;
    ct_status s = km_setup(&K, n, d, NULL, o, err);
    double *xn = s == CT_OK ? ct_malloc_big(n, sizeof *xn) : NULL;
    size_t nb = s == CT_OK ? ct_par_nblocks(n, K.rb) : 0;
    K.measured = s == CT_OK && measured != NULL ? calloc(nb, sizeof *K.measured) : NULL;
    if (s == CT_OK && (xn == NULL || (measured != NULL && K.measured == NULL))) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        row_norms_f64(X, n, d, xn, K.threads);
        km_ops ops = {X,           xn,           candidates_f64, row_copy_f64, row_sqdist_f64,
                      pp_pruned_f64, cand_min_f64};
        s = km_init(&K, &ops, 0, C, err);
    }
    if (s == CT_OK && measured != NULL) { /* the blocks' counts, in order */
        *measured = 0;
        for (size_t b = 0; b < nb; b++) {
            *measured += K.measured[b];
        }
    }
    free(K.measured);
    free(xn);
    return s;
}

ct_status ct_kmeans_predict(const double *X, size_t n, size_t d, const double *C, size_t k,
                            unsigned threads, int32_t *labels, double *dist2, ct_error *err)
{
    ct_kmeans_opts o;
    km_ctx K;
    ct_kmeans_opts_init(&o);
    o.k = k;
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = C;
    o.threads = threads;
    ct_status s = km_setup(&K, n, d, NULL, &o, err);
    if (s != CT_OK) {
        return s;
    }
    double *xn = ct_malloc_big(n, sizeof *xn), *CR = malloc(k * d * sizeof *CR),
           *cn = malloc(k * sizeof *cn);
    if (!xn || !CR || !cn) {
        free(xn);
        free(CR);
        free(cn);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    row_norms_f64(X, n, d, xn, threads);
    to_real_f64(C, k, d, CR, cn);
    pass_f64 P = {X, CR, cn, xn, NULL, n, d, k, K.tr, labels, dist2, NULL, 0};
    s = run_pass_f64(&P, K.rb, threads, err);
    free(xn);
    free(CR);
    free(cn);
    return s;
}

ct_status ct_kmeans_lloyd_steps_ws(const double *X, const float *Xf, size_t n, size_t d,
                                   const double *w, double *C, size_t k, unsigned iters,
                                   unsigned threads, int32_t *lab, void *xn, double *inertia,
                                   unsigned *ran, ct_error *err)
{
    ct_kmeans_opts o;
    km_ctx K;
    km_run res = {0, 0, 0, NULL, 0, NULL};
    ct_kmeans_opts_init(&o);
    o.k = k;
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = C;
    o.threads = threads;
    o.tol = 0;
    o.max_iter = iters;
    ct_status s = km_setup(&K, n, d, w, &o, err);
    if (s == CT_OK && Xf != NULL) {
        row_norms_f32(Xf, n, d, xn, threads);
        s = lloyd_f32(&K, Xf, xn, C, iters, -1.0, lab, &res, err);
    } else if (s == CT_OK) {
        row_norms_f64(X, n, d, xn, threads);
        s = lloyd_f64(&K, X, xn, C, iters, -1.0, lab, &res, err);
    }
    if (s == CT_OK) {
        *inertia = res.inertia;
        *ran = res.iterations;
    }
    return s;
}

ct_status ct_kmeans_lloyd_steps(const double *X, const float *Xf, size_t n, size_t d,
                                const double *w, double *C, size_t k, unsigned iters,
                                unsigned threads, double *inertia, unsigned *ran,
                                ct_error *err)
{
    int32_t *lab = ct_malloc_big(n, sizeof *lab);
    void *xn = ct_malloc_big(n, Xf != NULL ? sizeof(float) : sizeof(double));
    ct_status s = lab != NULL && xn != NULL
                      ? ct_kmeans_lloyd_steps_ws(X, Xf, n, d, w, C, k, iters, threads, lab, xn,
                                                 inertia, ran, err)
                      : ct_fail(err, CT_ENOMEM, "out of memory");
    free(lab);
    free(xn);
    return s;
}

/* ---- out-of-core and distributed Lloyd (see kmeans.h) ------------------------------
 * Rows are read in blocks of B rows, B a whole number of reduction blocks
 * (rb rows).  With a communicator of P ranks, rank r owns a contiguous run
 * of those read blocks; every sum is kept per reduction block, the blocks'
 * partials are gathered by every rank (ct_comm_allgatherv) and added in
 * block order - so the bits do not depend on P, on the threads, or on
 * streaming, and equal the in-memory engine's. */

typedef struct km_stream {
    const ct_km_source *src;
    ct_comm *comm;
    int P, me;
    size_t B;           /* rows per read: a whole number of reduction blocks */
    size_t lo, hi;      /* this rank's rows */
    size_t *blo;        /* P + 1: first reduction block of each rank */
    double *X, *w, *xn; /* B x d, B, B */
} km_stream;

static ct_status ks_read(km_stream *S, size_t row0, size_t nr, ct_error *err)
{
    const ct_km_source *src = S->src;
    size_t d = src->d;
    ct_status s = src->read(src->ctx, row0, nr, S->X, src->weighted ? S->w : NULL, err);
    if (s != CT_OK) {
        return s;
    }
    for (size_t i = 0; i < nr; i++) {
        for (size_t c = 0; c < d; c++) {
            if (!isfinite(S->X[i * d + c])) {
                return ct_fail_at(err, CT_EDATA, "features", (uint64_t)(row0 + i) + 1,
                                  (unsigned)c + 1, "row %zu, column %zu: %g is not a finite number",
                                  row0 + i + 1, c + 1, S->X[i * d + c]);
            }
        }
        if (src->weighted && (!isfinite(S->w[i]) || S->w[i] < 0)) {
            return ct_fail_at(err, CT_EDATA, "weights", (uint64_t)(row0 + i) + 1, 0,
                              "row %zu: weight %g must be finite and >= 0", row0 + i + 1, S->w[i]);
        }
        if (!src->weighted) {
            S->w[i] = 1.0;
        }
    }
    row_norms_f64(S->X, nr, d, S->xn, 1);
    return CT_OK;
}

/* Gather per-reduction-block partials (`per` doubles a block; this rank's
 * are already in place in part) from every rank. */
static ct_status ks_gather(km_stream *S, double *part, size_t per, ct_error *err)
{
    if (S->P == 1) {
        return CT_OK;
    }
    size_t bytes[1024];
    for (int r = 0; r < S->P; r++) {
        bytes[r] = (S->blo[r + 1] - S->blo[r]) * per * sizeof *part;
    }
    size_t mine = S->blo[S->me] * per, tot = S->blo[S->P] * per;
    double *all = malloc((tot ? tot : 1) * sizeof *all);
    if (all == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = ct_comm_allgatherv(S->comm, part + mine, all, bytes, err);
    if (s == CT_OK) {
        memcpy(part, all, tot * sizeof *part);
    }
    free(all);
    return s;
}

/* km_relocate over the stream and the ranks: the farthest rows from their
 * centres, by (distance descending, row ascending), as the serial scan
 * keeps them. */
typedef struct ks_cand {
    double v;
    uint64_t row;
} ks_cand;

static int cmp_cand(const void *a, const void *b)
{
    const ks_cand *x = a, *y = b;
    if (x->v != y->v) {
        return x->v > y->v ? -1 : 1;
    }
    return (x->row > y->row) - (x->row < y->row);
}

static ct_status ks_relocate(const km_ctx *K, km_stream *S, double *sums, double *wk,
                             size_t nempty, const int32_t *labels, const double *C, ct_error *err)
{
    size_t d = K->d, k = K->k, m = 0, P = (size_t)S->P;
    size_t *top = malloc(nempty * sizeof *top);
    double *td = malloc(nempty * sizeof *td), *row = malloc((d + 2) * sizeof *row);
    ks_cand *mine = calloc(nempty, sizeof *mine), *all = calloc(nempty * P, sizeof *all);
    ct_status s = top && td && row && mine && all ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    for (size_t row0 = S->lo; row0 < S->hi && s == CT_OK; row0 += S->B) {
        size_t nr = S->hi - row0 < S->B ? S->hi - row0 : S->B;
        s = ks_read(S, row0, nr, err);
        for (size_t i = 0; i < nr && s == CT_OK; i++) {
            km_top_add(top, td, &m, nempty, row0 + i,
                       sqdist_f64(S->X + i * d, C + (size_t)labels[row0 + i] * d, d));
        }
    }
    s = ct_comm_agree(S->comm, s, err);
    for (size_t q = 0; q < nempty && s == CT_OK; q++) { /* unused slots sort last */
        mine[q].v = q < m ? td[q] : -CT_INF;
        mine[q].row = q < m ? (uint64_t)top[q] : UINT64_MAX;
    }
    size_t bytes[1024];
    for (size_t r = 0; r < P; r++) {
        bytes[r] = nempty * sizeof *mine;
    }
    if (s == CT_OK) {
        s = ct_comm_allgatherv(S->comm, mine, all, bytes, err);
    }
    if (s == CT_OK) {
        qsort(all, nempty * P, sizeof *all, cmp_cand);
    }
    size_t q = 0;
    for (size_t e = 0; e < k && q < nempty && s == CT_OK; e++) {
        if (wk[e] != 0) {
            continue;
        }
        if (all[q].row == UINT64_MAX) {
            break;
        }
        size_t p = (size_t)all[q++].row;
        int owner = 0;
        while (owner + 1 < S->P && p >= S->blo[owner + 1] * K->rb) {
            owner++;
        }
        if (owner == S->me) { /* only the owner knows the row and its label */
            s = ks_read(S, p, 1, err);
            memcpy(row, S->X, d * sizeof *row);
            row[d] = S->w[0];
            row[d + 1] = (double)labels[p];
        }
        s = ct_comm_agree(S->comm, s, err);
        if (s == CT_OK) {
            s = ct_comm_bcast(S->comm, row, (d + 2) * sizeof *row, owner, err);
        }
        if (s == CT_OK) {
            km_move(sums, wk, d, (size_t)row[d + 1], e, row, row[d]);
        }
    }
    free(top);
    free(td);
    free(row);
    free(mine);
    free(all);
    return s;
}

/* The tolerance as the in-memory fit computes it (prepare in kmeans_impl.h):
 * the same sums in the same order. */
static ct_status ks_tolerance(const km_ctx *K, km_stream *S, double *tol_abs, ct_error *err)
{
    size_t n = K->n, d = K->d, nb = S->blo[S->P];
    *tol_abs = 0;
    if (K->tol == 0) {
        return CT_OK;
    }
    double *mean = calloc(d, sizeof *mean), *var = calloc(d, sizeof *var), tot = 0;
    double *part = calloc(nb * d, sizeof *part), *row = malloc(d * sizeof *row);
    ct_status s = mean && var && part && row ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    for (int pass = 0; pass < 2 && s == CT_OK; pass++) {
        for (size_t row0 = S->lo; row0 < S->hi && s == CT_OK; row0 += S->B) {
            size_t nr = S->hi - row0 < S->B ? S->hi - row0 : S->B;
            s = ks_read(S, row0, nr, err);
            for (size_t r0 = 0; r0 < nr && s == CT_OK; r0 += K->rb) {
                km_tol_block(S->X, r0, nr - r0 < K->rb ? nr : r0 + K->rb, d, row_copy_f64,
                             pass == 0 ? NULL : mean, row, part + (row0 + r0) / K->rb * d);
            }
        }
        s = ct_comm_agree(S->comm, s, err);
        if (s == CT_OK) {
            s = ks_gather(S, part, d, err);
        }
        double *t = pass == 0 ? mean : var;
        for (size_t b = 0; b < nb && s == CT_OK; b++) {
            for (size_t c = 0; c < d; c++) {
                t[c] += part[b * d + c];
            }
        }
        for (size_t c = 0; c < d && pass == 0; c++) {
            mean[c] /= (double)n;
        }
    }
    for (size_t c = 0; c < d; c++) {
        tot += var[c] / (double)n;
    }
    *tol_abs = K->tol * tot / (double)d;
    free(mean);
    free(var);
    free(part);
    free(row);
    return s;
}

/* Starting centroids from an in-memory fit on a sample: row i is taken when
 * a hash of (seed, i) falls below cap / n - deterministic, about cap rows,
 * blind to any period in the row order (every step-th row is not), and the
 * same rows in the same order however the rows are split over ranks. */
static ct_status ks_init(const km_ctx *K, km_stream *S, const ct_kmeans_opts *o, size_t sample_max,
                         double *C, ct_error *err)
{
    size_t n = K->n, d = K->d;
    if (K->init == CT_KM_INIT_GIVEN) {
        for (size_t q = 0; q < K->k * d; q++) {
            if (!isfinite(K->given[q])) {
                return ct_fail(err, CT_EDATA, "initial centroid %zu, column %zu is not finite",
                               q / d + 1, q % d + 1);
            }
        }
        memcpy(C, K->given, K->k * d * sizeof *C);
        return CT_OK;
    }
    size_t cap = sample_max ? sample_max : 1000000, ns = 0, room = 0;
    double p = cap >= n ? 1.0 : (double)cap / (double)n;
    uint64_t salt = ct_mix64(K->seed ^ 0x5a4d504c45ULL);
    double *Y = NULL, *Yall = NULL;
    ct_status s = CT_OK;
    for (size_t row0 = S->lo; row0 < S->hi && s == CT_OK; row0 += S->B) {
        size_t nr = S->hi - row0 < S->B ? S->hi - row0 : S->B;
        s = ks_read(S, row0, nr, err);
        for (size_t i = 0; i < nr && s == CT_OK; i++) {
            if (p < 1.0 && (double)(ct_mix64(salt + row0 + i) >> 11) * 0x1.0p-53 >= p) {
                continue;
            }
            if (ns == room) {
                room = room ? 2 * room : 4096;
                double *ny = realloc(Y, room * (d + 1) * sizeof *Y);
                if (ny == NULL) {
                    s = ct_fail(err, CT_ENOMEM, "out of memory for the sample");
                    break;
                }
                Y = ny;
            }
            memcpy(Y + ns * (d + 1), S->X + i * d, d * sizeof *Y);
            Y[ns * (d + 1) + d] = S->w[i]; /* the weight rides along */
            ns++;
        }
    }
    s = ct_comm_agree(S->comm, s, err);
    /* every rank's sample, in rank (= row) order */
    size_t tot = 0;
    void *gathered = NULL;
    if (s == CT_OK) {
        s = ct_comm_allgather_rows(S->comm, Y, ns, (d + 1) * sizeof *Y, &gathered, &tot, err);
    }
    Yall = gathered;
    free(Y);
    Y = NULL;
    if (s == CT_OK && tot < K->k) {
        s = ct_fail(err, CT_EINVAL, "the sample of %zu rows is smaller than k = %zu", tot, K->k);
    }
    if (s == CT_OK) {
        double *X2 = malloc(tot * d * sizeof *X2), *w2 = malloc(tot * sizeof *w2);
        ct_kmeans_result sr;
        s = X2 && w2 ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory for the sample");
        for (size_t i = 0; i < tot && s == CT_OK; i++) {
            memcpy(X2 + i * d, Yall + i * (d + 1), d * sizeof *X2);
            w2[i] = Yall[i * (d + 1) + d];
        }
        free(Yall);
        Yall = NULL;
        if (s == CT_OK) {
            s = ct_kmeans_fit(X2, tot, d, S->src->weighted ? w2 : NULL, o, &sr, err);
        }
        if (s == CT_OK) {
            memcpy(C, sr.centroids, K->k * d * sizeof *C);
            ct_kmeans_result_free(&sr);
        }
        free(X2);
        free(w2);
    }
    free(Y);
    free(Yall);
    return s;
}

/* Rows per read of the stream engine: whole reduction blocks. */
static size_t stream_read_rows(size_t rb, size_t block_rows)
{
    size_t B = block_rows ? block_rows : 262144;
    return B < rb ? rb : B / rb * rb;
}

/* The first reduction block of rank q of P: ranks own contiguous runs of
 * read blocks. */
static size_t stream_first_block(size_t n, size_t rb, size_t B, int q, int P)
{
    size_t nb = ct_par_nblocks(n, rb), nread = (n + B - 1) / B;
    size_t b = nread * (size_t)q / (size_t)P * (B / rb);
    return b < nb ? b : nb;
}

void ct_kmeans_stream_rows(size_t n, size_t d, size_t k, size_t block_rows, int rank, int nranks,
                           size_t *lo, size_t *hi)
{
    size_t rb = km_rows_per_block(n, d, k), B = stream_read_rows(rb, block_rows);
    size_t a = stream_first_block(n, rb, B, rank, nranks) * rb;
    size_t b = stream_first_block(n, rb, B, rank + 1, nranks) * rb;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

ct_status ct_kmeans_fit_stream(const ct_km_source *src, const ct_kmeans_opts *o,
                               size_t block_rows, size_t sample_max, ct_kmeans_result *r,
                               ct_error *err)
{
    km_ctx K;
    size_t n = src->n, d = src->d;
    memset(r, 0, sizeof *r);
    ct_status s = km_setup(&K, n, d, NULL, o, err);
    if (s != CT_OK) {
        return s;
    }
    km_stream S;
    memset(&S, 0, sizeof S);
    S.src = src;
    S.comm = src->comm;
    S.P = ct_comm_size(src->comm);
    S.me = ct_comm_rank(src->comm);
    if (S.P > 1024) {
        return ct_fail(err, CT_EINVAL, "at most 1024 ranks");
    }
    size_t k = K.k, rb = K.rb, nb = ct_par_nblocks(n, rb), stride = K.stride;
    size_t B = stream_read_rows(rb, block_rows);
    S.blo = malloc(((size_t)S.P + 1) * sizeof *S.blo);
    if (S.blo != NULL) {
        for (int q = 0; q <= S.P; q++) {
            S.blo[q] = stream_first_block(n, rb, B, q, S.P);
        }
        S.lo = S.blo[S.me] * rb;
        S.hi = S.blo[S.me + 1] * rb < n ? S.blo[S.me + 1] * rb : n;
    }
    S.B = B;
    S.X = malloc(B * d * sizeof(double));
    S.w = malloc(B * sizeof(double));
    S.xn = malloc(B * sizeof(double));
    double *C = malloc(k * d * sizeof *C), *CR = malloc(k * d * sizeof *CR);
    double *cn = malloc(k * sizeof *cn), *part = calloc(nb * stride, sizeof *part);
    double *Cn = malloc((k * d + k) * sizeof *Cn), *was = malloc((k * d + k) * sizeof *was);
    double *pin = calloc(nb * (k + 1), sizeof *pin);
    int32_t *labels = ct_malloc_big(n, sizeof *labels);
    if (!S.blo || !S.X || !S.w || !S.xn || !C || !CR || !cn || !part || !Cn || !was || !pin ||
        !labels) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for streaming k-means (n = %zu)", n);
    }
    s = ct_comm_agree(S.comm, s, err);
    double tol_abs = 0;
    if (s == CT_OK) {
        s = ks_tolerance(&K, &S, &tol_abs, err);
    }
    if (s == CT_OK) {
        s = ks_init(&K, &S, o, sample_max, C, err);
    }
    s = ct_comm_agree(S.comm, s, err);
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        labels[i] = -1;
    }
    int strict = 0, stop = 0;
    unsigned it;
    for (it = 0; it < K.max_iter && s == CT_OK; it++) {
        to_real_f64(C, k, d, CR, cn);
        for (size_t row0 = S.lo; row0 < S.hi && s == CT_OK; row0 += B) {
            size_t nr = S.hi - row0 < B ? S.hi - row0 : B;
            s = ks_read(&S, row0, nr, err);
            if (s != CT_OK) {
                break;
            }
            pass_f64 P = {S.X,  CR,     cn, S.xn,   src->weighted ? S.w : NULL,         nr, d, k,
                          K.tr, labels + row0, NULL, part + row0 / rb * stride, stride};
            s = run_pass_f64(&P, rb, K.threads, err);
        }
        s = ct_comm_agree(S.comm, s, err);
        if (s == CT_OK) {
            s = ks_gather(&S, part, stride, err);
        }
        if (s != CT_OK) {
            break;
        }
        double *sums = Cn, *wk = Cn + k * d;
        km_reduce(part, nb, stride, k * d + k, Cn);
        int same = km_pass_repeats(was, Cn, k * d + k, it); /* every rank has them all */
        size_t nempty = 0;
        for (size_t j = 0; j < k; j++) {
            nempty += wk[j] == 0;
        }
        if (nempty > 0) {
            s = ks_relocate(&K, &S, sums, wk, nempty, labels, C, err);
            if (s != CT_OK) {
                break;
            }
        }
        double shift = km_update(C, sums, wk, k, d, NULL);
        if (same) {
            /* the centres are the last pass's: so are its labels, unless refilled */
            strict = nempty == 0;
            stop = 1;
            break;
        }
        if (shift <= tol_abs) {
            stop = 1;
            break;
        }
    }
    /* the labels of the final centres (unless they are already), then the
     * inertia and cluster weights per block */
    if (s == CT_OK) {
        r->centroids = C;
        r->labels = labels;
        r->weight = calloc(k, sizeof *r->weight);
        C = NULL;
        labels = NULL;
        s = r->weight != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
        to_real_f64(r->centroids, k, d, CR, cn);
    }
    for (size_t row0 = S.lo; row0 < S.hi && s == CT_OK; row0 += B) {
        size_t nr = S.hi - row0 < B ? S.hi - row0 : B;
        s = ks_read(&S, row0, nr, err);
        if (s == CT_OK && !strict) {
            pass_f64 P = {S.X,  CR, cn, S.xn, NULL, nr, d, k, K.tr, r->labels + row0,
                          NULL, NULL, 0};
            s = run_pass_f64(&P, rb, K.threads, err);
        }
        if (s == CT_OK) {
            /* per block: (inertia, weights) */
            size_t b0 = row0 / rb, nbl = (nr + rb - 1) / rb;
            double *tmpin = malloc(nbl * sizeof *tmpin), *tmpwk = malloc(nbl * k * sizeof *tmpwk);
            if (tmpin == NULL || tmpwk == NULL) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
            } else {
                block_sums_f64(S.X, nr, d, src->weighted ? S.w : NULL, r->centroids,
                               r->labels + row0, k, rb, tmpin, tmpwk);
                for (size_t b = 0; b < nbl; b++) {
                    pin[(b0 + b) * (k + 1)] = tmpin[b];
                    memcpy(pin + (b0 + b) * (k + 1) + 1, tmpwk + b * k, k * sizeof *pin);
                }
            }
            free(tmpin);
            free(tmpwk);
        }
    }
    s = ct_comm_agree(S.comm, s, err);
    if (s == CT_OK) {
        s = ks_gather(&S, pin, k + 1, err);
    }
    /* the labels on rank 0 */
    if (s == CT_OK && S.P > 1 && !o->labels_local) {
        size_t bytes[1024];
        for (int q = 0; q < S.P; q++) {
            size_t a = S.blo[q] * rb, b = S.blo[q + 1] * rb;
            a = a < n ? a : n;
            b = b < n ? b : n;
            bytes[q] = (b - a) * sizeof(int32_t);
        }
        int32_t *all = S.me == 0 ? malloc(n * sizeof *all) : NULL;
        s = S.me != 0 || all != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
        s = ct_comm_agree(S.comm, s, err);
        if (s == CT_OK) {
            s = ct_comm_gatherv(S.comm, r->labels + S.lo, all, bytes, err);
        }
        if (s == CT_OK && S.me == 0) {
            memcpy(r->labels, all, n * sizeof *all);
        }
        free(all);
    }
    if (s == CT_OK) {
        double in = 0;
        for (size_t b = 0; b < nb; b++) {
            in += pin[b * (k + 1)];
            for (size_t j = 0; j < k; j++) {
                r->weight[j] += pin[b * (k + 1) + 1 + j];
            }
        }
        r->n = n;
        r->d = d;
        r->k = k;
        r->inertia = in;
        r->iterations = it < K.max_iter ? it + 1 : K.max_iter;
        r->algorithm = CT_KM_ALGO_LLOYD;
        r->converged = stop;
    } else {
        ct_kmeans_result_free(r);
    }
    free(S.blo);
    free(S.X);
    free(S.w);
    free(S.xn);
    free(C);
    free(CR);
    free(cn);
    free(part);
    free(Cn);
    free(pin);
    free(labels);
    free(was);
    return s;
}
