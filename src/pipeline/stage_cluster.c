/* stage_cluster.c - the cluster stage: the one k-range loop (ct_choose_k),
 * `run`'s k-means over a tier model's graded customers (serial or over the
 * ranks), and `clvtier cluster`'s k-means over feature columns of a file
 * (in memory, or streamed from the file for data larger than memory).
 * Both write /clusters with schema_clusters.c's one writer.
 * Ref: Arthur & Vassilvitskii (2007), k-means++; Rousseeuw (1987), silhouettes. */
#include "clvtier/pipeline.h"
#include "clvtier/par.h"
#include "pipeline/stages.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/rng.h"
#include "clvtier/modelfile.h"
#include "clvtier/schema.h"

/* ---- the k-range loop ----------------------------------------------------- */

ct_status ct_choose_k(ct_comm *comm, const ct_krange *kr, ct_kmeans_opts *ko, const double *S,
                      const float *Sf, size_t ns, size_t d, const double *sw, ct_kscore *ks,
                      ct_kmeans_result *best, ct_error *err)
{
    size_t nk = kr->khi - kr->klo + 1, P = (size_t)ct_comm_size(comm);
    size_t me = (size_t)ct_comm_rank(comm);
    ct_status s = CT_OK;
    /* serial: only the best so far is kept; over ranks: this rank's fits */
    ct_kmeans_result *r = calloc(P > 1 ? nk : 1, sizeof *r);
    double *sc = calloc(4 * nk, sizeof *sc);
    memset(best, 0, sizeof *best);
    if (r == NULL || sc == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t q = 0; q < nk && s == CT_OK; q++) {
        if (q % P != me) {
            continue;
        }
        ct_kmeans_result *rq = &r[P > 1 ? q : 0];
        ko->k = kr->klo + q;
        s = Sf != NULL ? ct_kmeans_fit_f32(Sf, ns, d, sw, ko, rq, err)
                       : ct_kmeans_fit(S, ns, d, sw, ko, rq, err);
        if (s == CT_OK && nk > 1) {
            s = ct_kmeans_scores(S, ns, d, sw, rq, kr->sample_max, kr->score_seed, ko->threads,
                                 &ks[q], err);
        } else if (s == CT_OK) {
            ks[q].inertia = rq->inertia;
            ks[q].calinski_harabasz = ks[q].davies_bouldin = ks[q].silhouette = (double)NAN;
        }
        if (s != CT_OK) {
            break;
        }
        double v[4] = {ks[q].inertia, ks[q].calinski_harabasz, ks[q].davies_bouldin,
                       ks[q].silhouette};
        memcpy(sc + 4 * q, v, sizeof v);
        if (P == 1) {
            if (kr->on_k != NULL && nk > 1) {
                kr->on_k(kr->ctx, ko->k, rq, &ks[q]);
            }
            /* the pick over k = klo..k is the final pick's prefix (a scan) */
            if (ct_kmeans_pick_k(ks, q + 1, kr->klo) == ko->k) {
                ct_kmeans_result_free(best);
                *best = *rq;
                memset(rq, 0, sizeof *rq);
            } else {
                ct_kmeans_result_free(rq);
            }
        }
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK && P > 1) { /* one rank's values, zeros elsewhere: exact */
        s = ct_comm_allreduce_sum(comm, sc, 4 * nk, err);
        for (size_t q = 0; q < nk && s == CT_OK; q++) {
            ks[q] = (ct_kscore){sc[4 * q], sc[4 * q + 1], sc[4 * q + 2], sc[4 * q + 3]};
        }
    }
    if (s == CT_OK && P > 1) {
        size_t qb = ct_kmeans_pick_k(ks, nk, kr->klo) - kr->klo, kb = kr->klo + qb;
        if (qb % P == me) {
            *best = r[qb];
            memset(&r[qb], 0, sizeof r[qb]);
        } else {
            best->k = kb;
            best->d = d;
            best->centroids = malloc(kb * d * sizeof *best->centroids);
        }
        s = ct_comm_agree(comm, best->centroids != NULL ? CT_OK
                                                         : ct_fail(err, CT_ENOMEM, "out of memory"),
                          err);
        if (s == CT_OK) {
            s = ct_comm_bcast(comm, best->centroids, kb * d * sizeof *best->centroids,
                              (int)(qb % P), err);
        }
    }
    for (size_t q = 0; r != NULL && q < (P > 1 ? nk : 1); q++) {
        ct_kmeans_result_free(&r[q]);
    }
    free(r);
    free(sc);
    if (s != CT_OK) {
        ct_kmeans_result_free(best);
    }
    return s;
}

/* ---- k-means over the graded customers (serial, or over the ranks) ------- */

/* With a k range, k is chosen on a deterministic sample of about KSEL_MAX
 * graded customers (customer g kept when a hash of (seed, g) is below
 * KSEL_MAX / ng: no aliasing with any order of the rows); the n_init
 * restarts of the seeding also run on that sample.  Then one Lloyd run on
 * everyone starts from the sample's solution: neither choosing k nor
 * seeding needs millions of rows.  With at most KSEL_MAX graded customers
 * and one k, the sample is everyone and its fit is the result.  50,000:
 * the silhouettes that choose k are taken on 4,000 of them anyway, and
 * 50,000 rows place k <= 10 centres in a few features to about 1 % of a
 * standard deviation; on 1M synthetic customers (vip4.ini, k 4..10) the
 * same k as with 200,000, final inertia 2e-6 higher, 99.95 % of the
 * customers in the same tier, the cluster stage 3x faster (greedy
 * k-means++ instead of k-means|| at this size, a quarter of the rows). */
#define KSEL_MAX ((size_t)50000)

typedef struct ksel {
    int sub;       /* a sample (else everyone) */
    size_t cap;    /* at most this many rows */
    double p;      /* the share kept */
    uint64_t salt; /* from the model's seed */
} ksel;

static ksel ksel_plan(const ct_tier_model *m, size_t ng)
{
    ksel k = {ng > KSEL_MAX, ng > KSEL_MAX ? KSEL_MAX + KSEL_MAX / 10 : ng,
              (double)KSEL_MAX / (double)ng, ct_mix64(m->seed ^ 0x6b73656cULL)};
    return k;
}

/* Whether graded customer g is in the sample. */
static int ksel_keep(const ksel *k, size_t g)
{
    return !k->sub || (double)(ct_mix64(k->salt + g) >> 11) * 0x1.0p-53 < k->p;
}

static void model_km_opts(const ct_tier_model *m, unsigned threads, ct_kmeans_opts *ko)
{
    ct_kmeans_opts_init(ko);
    ko->n_init = m->n_init;
    ko->seed = m->seed;
    ko->threads = threads;
}

/* Serial: scale X (ng graded rows, in place), choose k, fit everyone. */
ct_status ct_cluster_model_serial(const ct_tier_model *m, double *X, const double *w, size_t ng,
                                  unsigned threads, ct_scaler *scl, ct_kmeans_result *km,
                                  ct_kscore *ks, size_t *k_sample, ct_error *err)
{
    size_t d = m->nfeat, nk = m->k_hi - m->k_lo + 1;
    ct_status s = ct_scaler_fit_transform(scl, X, ng, d, w, m->transform, m->scale, err);
    if (s != CT_OK) {
        return s;
    }
    ksel ks_ = ksel_plan(m, ng);
    int sub = ks_.sub;
    size_t cap = ks_.cap, ns = 0;
    double *S = sub ? malloc(cap * d * sizeof *S) : X;
    double *sw = sub && w != NULL ? malloc(cap * sizeof *sw) : (double *)(uintptr_t)w;
    if (S == NULL || (w != NULL && sw == NULL)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t g = 0; s == CT_OK && sub && g < ng && ns < cap; g++) {
        if (ksel_keep(&ks_, g)) {
            memcpy(S + ns * d, X + g * d, d * sizeof *S);
            if (w != NULL) {
                sw[ns] = w[g];
            }
            ns++;
        }
    }
    ns = sub ? ns : ng;
    ct_kmeans_opts ko;
    model_km_opts(m, threads, &ko);
    ct_kmeans_result best;
    memset(&best, 0, sizeof best);
    if (s == CT_OK) {
        ct_krange kr = {m->k_lo, m->k_hi, 4000, m->seed, NULL, NULL};
        s = ct_choose_k(NULL, &kr, &ko, S, NULL, ns, d, sw, ks, &best, err);
    }
    if (sub) {
        free(S);
        free(sw);
    }
    if (s == CT_OK && nk == 1 && !sub) {
        *km = best; /* the sample was everyone */
        return CT_OK;
    }
    if (s == CT_OK) {
        *k_sample = ns;
        ko.k = best.k;
        ko.init = CT_KM_INIT_GIVEN;
        ko.centroids = best.centroids;
        s = ct_kmeans_fit(X, ng, d, w, &ko, km, err);
    }
    ct_kmeans_result_free(&best);
    return s;
}

/* Rows kept in memory as d values and a weight each, rows [lo, hi) of the
 * whole: a ct_km_source for the scaler and the distributed Lloyd. */
typedef struct packed_rows {
    const double *R;
    size_t d, lo;
} packed_rows;

static ct_status packed_read(void *ctx, size_t row0, size_t nr, double *X, double *w,
                             ct_error *err)
{
    const packed_rows *p = ctx;
    (void)err;
    for (size_t i = 0; i < nr; i++) {
        const double *r = p->R + (row0 - p->lo + i) * (p->d + 1);
        memcpy(X + i * p->d, r, p->d * sizeof *X);
        if (w != NULL) {
            w[i] = r[p->d];
        }
    }
    return CT_OK;
}

/* km's ng labels, which rank 0 holds, on every rank (NULL on failure). */
static int32_t *root_labels(ct_comm *comm, const ct_kmeans_result *km, size_t ng, ct_status *s,
                            ct_error *err)
{
    int32_t *all = ct_comm_rank(comm) == 0 ? km->labels : malloc((ng ? ng : 1) * sizeof *all);
    *s = ct_comm_agree(comm, all != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"), err);
    if (*s == CT_OK) {
        *s = ct_comm_bcast(comm, all, ng * sizeof *all, 0, err);
    }
    if (*s != CT_OK && all != km->labels) {
        free(all);
        all = NULL;
    }
    return all;
}

/* clvtier-mpi: the same k-means, bit for bit, over every rank's graded rows
 * (X, ngl rows in row order; the ranks' rows follow each other): the rows
 * move to whole CT_SUM_BLOCKs per rank for the scaler and the sample, then
 * to the Lloyd engine's blocks (ct_kmeans_fit_stream).  Every rank gets the
 * centroids and its own graded rows' labels (mine_lab, ngl of them), in
 * the order of X.  Collective; the status is the same on every rank. */
ct_status ct_cluster_model_ranks(ct_comm *comm, const ct_tier_model *m, const double *X,
                                 const double *w, size_t ngl, size_t ng, size_t g0,
                                 unsigned threads, ct_scaler *scl, ct_kmeans_result *km,
                                 int32_t *mine_lab, ct_kscore *ks, size_t *k_sample, ct_error *err)
{
    size_t d = m->nfeat, nk = m->k_hi - m->k_lo + 1, rb = (d + 1) * sizeof(double);
    size_t P = (size_t)ct_comm_size(comm), me = (size_t)ct_comm_rank(comm);
    size_t nblk = (ng + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    size_t a0 = nblk * me / P * CT_SUM_BLOCK, a1 = nblk * (me + 1) / P * CT_SUM_BLOCK;
    a0 = a0 < ng ? a0 : ng;
    a1 = a1 < ng ? a1 : ng;
    double *mine = malloc((ngl ? ngl : 1) * rb), *A = malloc((a1 > a0 ? a1 - a0 : 1) * rb);
    double *S = NULL, *E = NULL;
    ct_status s = mine && A ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK && m->scale == CT_SC_ROBUST) {
        s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                       "[features] scale = robust needs every value on one machine: use zscore "
                       "or none with clvtier-mpi");
    }
    for (size_t i = 0; i < ngl && s == CT_OK; i++) {
        memcpy(mine + i * (d + 1), X + i * d, d * sizeof *mine);
        mine[i * (d + 1) + d] = w != NULL ? w[i] : 1.0;
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_move_rows(comm, mine, g0, ngl, rb, a0, a1, A, err);
    }
    free(mine);
    /* the scaler over whole blocks, as in memory; then scale these rows */
    packed_rows pa = {A, d, a0};
    ct_km_source src = {ng, d, w != NULL, comm, packed_read, &pa};
    if (s == CT_OK) {
        s = ct_scaler_fit_source(scl, &src, a0, a1, 4 * CT_SUM_BLOCK, m->transform, m->scale, err);
    }
    for (size_t i = 0; i < a1 - a0 && s == CT_OK; i++) {
        s = ct_scaler_apply(scl, A + i * (d + 1), 1, err);
    }
    s = ct_comm_agree(comm, s, err);
    /* the sample (everyone when there are few), in row order on every rank */
    ksel ks_ = ksel_plan(m, ng);
    int sub = ks_.sub;
    size_t cap = ks_.cap, nsl = 0, ns = 0;
    double *sw = NULL, *L = malloc((a1 > a0 ? a1 - a0 : 1) * rb);
    void *all = NULL;
    if (s == CT_OK && L == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < a1 - a0 && s == CT_OK; i++) {
        if (ksel_keep(&ks_, a0 + i)) {
            memcpy(L + nsl++ * (d + 1), A + i * (d + 1), rb);
        }
    }
    s = ct_comm_agree(comm, s, err);
    size_t tot = 0;
    if (s == CT_OK) {
        s = ct_comm_allgather_rows(comm, L, nsl, rb, &all, &tot, err);
    }
    free(L);
    if (s == CT_OK) {
        S = malloc((tot ? tot : 1) * d * sizeof *S);
        sw = malloc((tot ? tot : 1) * sizeof *sw);
        s = ct_comm_agree(comm, S && sw ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"), err);
    }
    ns = tot < cap ? tot : cap;
    const double *Y = all;
    for (size_t i = 0; i < ns && s == CT_OK; i++) {
        memcpy(S + i * d, Y + i * (d + 1), d * sizeof *S);
        sw[i] = Y[i * (d + 1) + d];
    }
    free(all);
    ct_kmeans_opts ko;
    model_km_opts(m, threads, &ko);
    ct_kmeans_result best;
    memset(&best, 0, sizeof best);
    if (s == CT_OK) { /* the same on every rank */
        ct_krange kr = {m->k_lo, m->k_hi, 4000, m->seed, NULL, NULL};
        s = ct_choose_k(comm, &kr, &ko, S, NULL, ns, d, w != NULL ? sw : NULL, ks, &best, err);
    }
    free(S);
    free(sw);
    if (s == CT_OK && nk == 1 && !sub) { /* the sample was everyone: its labels, */
        *km = best;                           /* on rank 0, are every rank's */
        free(A);
        int32_t *every = root_labels(comm, km, ng, &s, err);
        if (s == CT_OK) {
            memcpy(mine_lab, every + g0, ngl * sizeof *mine_lab);
        }
        if (every != km->labels) {
            free(every);
        }
        return s;
    }
    /* one Lloyd run on everyone, from the sample's solution, on the
     * engine's blocks of rows */
    size_t lo = 0, hi = 0;
    if (s == CT_OK) {
        *k_sample = ns;
        ct_kmeans_stream_rows(ng, d, best.k, 0, (int)me, (int)P, &lo, &hi);
        E = malloc((hi > lo ? hi - lo : 1) * rb);
        s = ct_comm_agree(comm, E != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"), err);
    }
    if (s == CT_OK) {
        s = ct_comm_move_rows(comm, A, a0, a1 - a0, rb, lo, hi, E, err);
    }
    free(A);
    packed_rows pe = {E, d, lo};
    ct_km_source es = {ng, d, w != NULL, comm, packed_read, &pe};
    if (s == CT_OK) {
        ko.k = best.k;
        ko.init = CT_KM_INIT_GIVEN;
        ko.centroids = best.centroids;
        ko.labels_local = 1;
        s = ct_kmeans_fit_stream(&es, &ko, 0, 0, km, err);
    }
    free(E);
    ct_kmeans_result_free(&best);
    /* the labels back to the ranks that hold those customers */
    if (s == CT_OK) {
        s = ct_comm_move_rows(comm, km->labels + lo, lo, hi - lo, sizeof(int32_t), g0, g0 + ngl,
                              mine_lab, err);
    }
    return s;
}


/* ---- `clvtier cluster`: feature columns of a file --------------------------- */

/* The tables features are looked up in, in this order. */
#define FT_TABLES 4
static const char *const FT_GROUP[FT_TABLES] = {"/customers", "/features", "/scores", "/scores"};

/* Feature columns of a file (and of a scores file), read in row blocks:
 * raw, or transformed and scaled by scl.  The one feature lookup of the
 * cluster stage, for the in-memory and the streamed k-means alike. */
typedef struct feat_src {
    const char *path;
    ct_table *tab[FT_TABLES];
    int t[CT_CLUSTER_MAXF]; /* table of feature j */
    long j[CT_CLUSTER_MAXF]; /* its column there */
    const char (*names)[64];
    long wj; /* weight column of /customers, or -1 */
    size_t n, d;
    double *col;
    size_t cap;
    const ct_scaler *scl;
    ct_transform tf;
    /* clvtier-mpi: this rank's rows kept after they are first read (scaled),
     * so later passes do not go back to the file; rows [c0, c0 + cn). */
    int caching;
    double *cx, *cw;
    size_t c0, cn, ccap;
} feat_src;

static void feat_close(feat_src *h)
{
    for (int t = 0; t < FT_TABLES; t++) {
        ct_table_close(h->tab[t]);
    }
    free(h->col);
    free(h->cx);
    free(h->cw);
    memset(h, 0, sizeof *h);
}

/* Open the tables of f (and /scores of fs, may be NULL) that exist, check
 * that they have one row per customer, and find each feature: the first
 * numeric column of that name in /customers, /features, /scores. */
static ct_status feat_open(feat_src *h, const char *path, const ct_file *f, const ct_file *fs,
                           const char (*names)[64], size_t d, ct_error *err)
{
    const ct_file *file[FT_TABLES] = {f, f, f, fs};
    int have_n = 0;
    memset(h, 0, sizeof *h);
    h->path = path;
    h->names = names;
    h->d = d;
    h->wj = -1;
    for (int t = 0; t < FT_TABLES; t++) {
        if (file[t] == NULL || !ct_file_has_group(file[t], FT_GROUP[t])) {
            continue;
        }
        ct_status s = ct_table_open(&h->tab[t], file[t], FT_GROUP[t], err);
        if (s != CT_OK) {
            return s;
        }
        if (!have_n) {
            h->n = ct_table_nrows(h->tab[t]);
            have_n = 1;
        } else if (ct_table_nrows(h->tab[t]) != h->n) {
            return ct_fail_at(err, CT_EDIM, ct_file_path(file[t]), 0, 0,
                              "table %s has %zu rows, but %zu customers", FT_GROUP[t],
                              ct_table_nrows(h->tab[t]), h->n);
        }
    }
    for (size_t j = 0; j < d; j++) {
        h->j[j] = -1;
        for (int t = 0; t < FT_TABLES && h->j[j] < 0; t++) {
            long jj = h->tab[t] != NULL ? ct_table_find(h->tab[t], names[j]) : -1;
            if (jj >= 0 && ct_table_coltype(h->tab[t], (size_t)jj) != CT_STRING) {
                h->t[j] = t;
                h->j[j] = jj;
            }
        }
        if (h->j[j] < 0) {
            return ct_fail_at(err, CT_EINVAL, path, 0, 0,
                              "feature '%s' not found in /customers, /features or /scores",
                              names[j]);
        }
    }
    if (h->n == 0) {
        return ct_fail_at(err, CT_EDATA, path, 0, 0, "no customers to cluster");
    }
    if (h->tab[0] != NULL) {
        h->wj = ct_table_find(h->tab[0], "weight");
    }
    return CT_OK;
}

/* Serve rows from the cache when it holds them all. */
static int feat_cached(const feat_src *h, size_t row0, size_t nr, double *X, double *w)
{
    if (h->cx == NULL || row0 < h->c0 || row0 + nr > h->c0 + h->cn) {
        return 0;
    }
    memcpy(X, h->cx + (row0 - h->c0) * h->d, nr * h->d * sizeof *X);
    if (w != NULL) {
        memcpy(w, h->cw + (row0 - h->c0), nr * sizeof *w);
    }
    return 1;
}

/* Append rows just read when they continue the cached run (a pass reads
 * this rank's rows in order from its first). */
static void feat_keep(feat_src *h, size_t row0, size_t nr, const double *X, const double *w)
{
    if (h->cn == 0) {
        h->c0 = row0;
    }
    if (row0 != h->c0 + h->cn) {
        return; /* a single row (relocation) or out of order: not kept */
    }
    if (h->cn + nr > h->ccap) {
        size_t cap = h->ccap ? 2 * h->ccap : 262144;
        while (cap < h->cn + nr) {
            cap *= 2;
        }
        double *x2 = realloc(h->cx, cap * h->d * sizeof *x2);
        if (x2 == NULL) {
            h->caching = 0; /* memory is short: read from the file */
            return;
        }
        h->cx = x2;
        double *w2 = realloc(h->cw, cap * sizeof *w2);
        if (w2 == NULL) {
            h->caching = 0;
            return;
        }
        h->cw = w2;
        h->ccap = cap;
    }
    memcpy(h->cx + h->cn * h->d, X, nr * h->d * sizeof *X);
    for (size_t i = 0; i < nr; i++) {
        h->cw[h->cn + i] = w != NULL ? w[i] : 1.0;
    }
    h->cn += nr;
}

/* Rows [row0, row0 + nr) into X (row-major) and w (NULL: not wanted; no
 * weight column: 1): a ct_km_source reader. */
static ct_status feat_read(void *ctx, size_t row0, size_t nr, double *X, double *w, ct_error *err)
{
    feat_src *h = ctx;
    size_t d = h->d;
    ct_status s;
    if (h->caching && feat_cached(h, row0, nr, X, w)) {
        return CT_OK;
    }
    if (nr > h->cap) {
        double *p = realloc(h->col, nr * sizeof *p);
        if (p == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        h->col = p;
        h->cap = nr;
    }
    for (size_t j = 0; j < d; j++) {
        CT_TRY(ct_table_read(h->tab[h->t[j]], (size_t)h->j[j], row0, nr, CT_FLOAT64, h->col, err));
        for (size_t i = 0; i < nr; i++) {
            double v = h->col[i];
            if (!isfinite(v) || (h->tf == CT_TF_LOG1P && !(v > -1))) {
                return ct_fail_at(err, CT_EDATA, h->path, (uint64_t)(row0 + i) + 1,
                                  (unsigned)j + 1,
                                  "customer row %zu, feature '%s' (column %zu): %g is not a "
                                  "finite number%s",
                                  row0 + i + 1, h->names[j], j + 1, v,
                                  h->tf == CT_TF_LOG1P ? " above -1 (log1p)" : "");
            }
            X[i * d + j] = v;
        }
    }
    if (w != NULL && h->wj >= 0) {
        CT_TRY(ct_table_read(h->tab[0], (size_t)h->wj, row0, nr, CT_FLOAT64, w, err));
    } else if (w != NULL) {
        for (size_t i = 0; i < nr; i++) {
            w[i] = 1.0;
        }
    }
    s = h->scl != NULL ? ct_scaler_apply(h->scl, X, nr, err) : CT_OK;
    if (s == CT_OK && h->caching) {
        feat_keep(h, row0, nr, X, w);
    }
done:
    return s;
}

/* Per-cluster weighted sums of the features of rows [0, nr) (X row-major,
 * d columns; w NULL: weight 1), k x d values per block of CT_SUM_BLOCK
 * rows into part: added in block order (ct_comm_sum_blocks), the same bits
 * in memory, streamed and over ranks. */
static void mean_parts(const double *X, const double *w, const int32_t *labels, size_t nr,
                       size_t d, size_t k, double *part)
{
    for (size_t b = 0; b * CT_SUM_BLOCK < nr; b++) {
        double *p = part + b * k * d;
        size_t i1 = (b + 1) * CT_SUM_BLOCK < nr ? (b + 1) * CT_SUM_BLOCK : nr;
        memset(p, 0, k * d * sizeof *p);
        for (size_t i = b * CT_SUM_BLOCK; i < i1; i++) {
            double wi = w != NULL ? w[i] : 1.0;
            for (size_t j = 0; j < d; j++) {
                p[(size_t)labels[i] * d + j] += wi * X[i * d + j];
            }
        }
    }
}

/* Sums into means; clusters without weight get NaN. */
static void mean_finish(double *mean, const double *weight, size_t k, size_t d)
{
    for (size_t q = 0; q < k * d; q++) {
        double wq = weight[q / d];
        mean[q] = wq > 0 ? mean[q] / wq : (double)NAN;
    }
}

void ct_cluster_summary_free(ct_cluster_summary *r)
{
    if (r == NULL) {
        return;
    }
    free(r->weight);
    free(r->mean);
    free(r->ks);
    free(r->skipped);
    memset(r, 0, sizeof *r);
}

/* /clusters (+ /clusters_k) into the output, and the summary. */
static ct_status write_result(const ct_cluster_stage *o, const ct_kmeans_result *best,
                              const ct_scaler *scl, const double *orig, double *mean,
                              ct_kscore *ks, size_t nk, size_t klo, size_t lab0, size_t nlab,
                              ct_cluster_summary *sum, ct_error *err)
{
    size_t k = best->k;
    ct_file *out = NULL;
    ct_status s;
    /* clvtier-mpi: all ranks write the file together, each its own labels */
    ct_create_opts co = {0, o->command, ct_comm_size(o->comm) > 1 ? o->comm : NULL};
    ct_clusters_meta cm = {o->features, o->transform, o->scaling, orig, mean, 1, o->km.seed, nk,
                           -1, -1};
    CT_TRY(ct_file_create(&out, o->output, &co, err));
    CT_TRY(ct_clusters_write(out, best->labels + lab0, nlab, best, scl, &cm, err));
    CT_TRY(ct_kscores_write(out, ks, nk, klo, err));
    s = ct_file_commit(out, err);
    out = NULL;
    if (s == CT_OK) {
        sum->k = k;
        sum->d = o->d;
        sum->nk = nk;
        sum->klo = klo;
        sum->inertia = best->inertia;
        sum->iterations = best->iterations;
        sum->converged = best->converged;
        sum->algorithm = best->algorithm;
        size_t np = best->skipped != NULL ? best->npasses : 0;
        sum->skipped = np > 0 ? malloc(np * sizeof *sum->skipped) : NULL;
        sum->weight = malloc(k * sizeof *sum->weight);
        if (sum->weight == NULL || (np > 0 && sum->skipped == NULL)) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        } else {
            memcpy(sum->weight, best->weight, k * sizeof *sum->weight);
            if (np > 0) {
                memcpy(sum->skipped, best->skipped, np * sizeof *sum->skipped);
            }
            sum->npasses = np;
        }
        sum->mean = mean; /* the summary owns them now */
        sum->ks = ks;
    }
done:
    ct_file_close(out);
    return s;
}

/* The centroids of --init FILE.csv (d columns) into *C, *k; they must agree
 * with -k/--k-range when those were given (else a usage error). */
static ct_status read_init(const ct_cluster_stage *o, size_t d, const char *what, double **C,
                           size_t *k, ct_cluster_summary *sum, ct_error *err)
{
    ct_status s = ct_centroids_read(o->init_file, d, C, k, err);
    if (s == CT_OK && o->klo != 0 && (o->klo != o->khi || o->klo != *k)) {
        sum->usage_error = 1;
        s = ct_fail(err, CT_EINVAL, "%s has %zu centroids but %s asks otherwise", o->init_file,
                    *k, what);
    }
    return s;
}

/* --stream (and clvtier-mpi): Lloyd over row blocks read from the file. */
static ct_status cluster_stream(const ct_cluster_stage *o, feat_src *h, ct_cluster_summary *sum,
                                ct_error *err)
{
    size_t d = o->d, n = h->n, kinit = 0;
    ct_comm *comm = ct_comm_size(o->comm) > 1 ? o->comm : NULL;
    int rank = ct_comm_rank(comm), ranks = ct_comm_size(comm);
    ct_km_source src = {n, d, h->wj >= 0, comm, feat_read, h};
    ct_kmeans_opts ko = o->km;
    ct_scaler scl;
    ct_kmeans_result best;
    double *Cinit = NULL, *orig = NULL, *mean = NULL, *X = NULL, *w = NULL, *part = NULL;
    ct_kscore *ks = NULL;
    ct_status s = CT_OK;
    memset(&scl, 0, sizeof scl);
    memset(&best, 0, sizeof best);
    if (o->init_file != NULL) {
        CT_TRY(read_init(o, d, "-k", &Cinit, &kinit, sum, err));
        ko.k = kinit;
    } else {
        ko.k = o->klo;
    }
    size_t k = ko.k, B = o->block_rows ? o->block_rows : 262144;
    /* this rank's rows of the k-means [lo, hi), read Bs at a time */
    size_t lo = 0, hi = 0, Bs = B < CT_SUM_BLOCK ? CT_SUM_BLOCK : B / CT_SUM_BLOCK * CT_SUM_BLOCK;
    ct_kmeans_stream_rows(n, d, k, o->block_rows, rank, ranks, &lo, &hi);
    h->scl = NULL;
    h->tf = o->transform;
    CT_TRY(ct_scaler_fit_source(&scl, &src, lo, hi, Bs, o->transform, o->scaling, err));
    h->scl = &scl;
    if (Cinit != NULL) {
        CT_TRY(ct_scaler_apply(&scl, Cinit, k, err));
        ko.centroids = Cinit;
    }
    double t0 = ct_seconds();
    h->caching = ranks > 1; /* over ranks, each keeps its own (scaled) rows after the first pass */
    ko.labels_local = 1;    /* each rank writes its own rows' labels */
    s = ct_kmeans_fit_stream(&src, &ko, o->block_rows, 0, &best, err);
    h->caching = 0;
    free(h->cx);
    free(h->cw);
    h->cx = h->cw = NULL;
    h->cn = h->ccap = 0;
    sum->seconds = ct_seconds() - t0;
    if (s != CT_OK) {
        goto done;
    }
    /* feature means per cluster in original units: one more pass, each rank
     * over its own rows; then every rank writes its labels into the file */
    size_t nbl = (hi - lo + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    orig = malloc(k * d * sizeof *orig);
    mean = malloc(k * d * sizeof *mean);
    X = malloc(Bs * d * sizeof *X);
    w = malloc(Bs * sizeof *w);
    part = malloc((nbl ? nbl : 1) * k * d * sizeof *part);
    ks = malloc(sizeof *ks);
    if (!orig || !mean || !X || !w || !part || !ks) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    memcpy(orig, best.centroids, k * d * sizeof *orig);
    ct_scaler_invert(&scl, orig, k);
    h->scl = NULL; /* raw rows from here */
    h->tf = CT_TF_NONE;
    for (size_t row0 = lo; row0 < hi && s == CT_OK; row0 += Bs) {
        size_t nr = hi - row0 < Bs ? hi - row0 : Bs;
        s = feat_read(h, row0, nr, X, w, err);
        if (s == CT_OK) {
            mean_parts(X, w, best.labels + row0, nr, d, k, part + (row0 - lo) / CT_SUM_BLOCK * k * d);
        }
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_sum_blocks(comm, part, nbl, k * d, mean, err);
    }
    if (s == CT_OK) {
        mean_finish(mean, best.weight, k, d);
        *ks = (ct_kscore){best.inertia, (double)NAN, (double)NAN, (double)NAN};
        s = write_result(o, &best, &scl, orig, mean, ks, 1, k, lo, hi - lo, sum, err);
        if (s == CT_OK) {
            mean = NULL; /* the summary's */
            ks = NULL;
        }
    }
done:
    free(Cinit);
    free(orig);
    free(mean);
    free(X);
    free(w);
    free(part);
    free(ks);
    ct_kmeans_result_free(&best);
    ct_scaler_free(&scl);
    return s;
}

/* In memory: every row read, scaled, k chosen, feature means per cluster. */
static ct_status cluster_memory(const ct_cluster_stage *o, feat_src *h, ct_cluster_summary *sum,
                                ct_error *err)
{
    size_t n = h->n, d = o->d, klo = o->klo, khi = o->khi, kinit = 0;
    double *X = malloc(n * d * sizeof *X), *w = NULL, *Cinit = NULL, *orig = NULL, *mean = NULL;
    double *part = NULL;
    float *F = NULL;
    ct_kscore *ks = NULL;
    ct_kmeans_opts ko = o->km;
    ct_kmeans_result best;
    ct_scaler scl;
    ct_status s = CT_OK;
    memset(&best, 0, sizeof best);
    memset(&scl, 0, sizeof scl);
    if (X == NULL || (h->wj >= 0 && (w = malloc(n * sizeof *w)) == NULL)) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    CT_TRY(feat_read(h, 0, n, X, w, err));
    if (o->init_file != NULL) {
        CT_TRY(read_init(o, d, "-k/--k-range", &Cinit, &kinit, sum, err));
        klo = khi = kinit;
    }
    CT_TRY(ct_scaler_fit_transform(&scl, X, n, d, w, o->transform, o->scaling, err));
    if (Cinit != NULL) {
        CT_TRY(ct_scaler_apply(&scl, Cinit, kinit, err));
        ko.centroids = Cinit;
    }
    if (o->f32) {
        F = malloc(n * d * sizeof *F);
        if (F == NULL) {
            CT_FAIL(err, CT_ENOMEM, "out of memory");
        }
        for (size_t q = 0; q < n * d; q++) {
            F[q] = (float)X[q];
        }
    }
    size_t nk = khi - klo + 1;
    ks = calloc(nk, sizeof *ks);
    if (ks == NULL) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    ct_krange kr = {klo, khi, o->sample, ko.seed, o->on_k, o->ctx};
    double t0 = ct_seconds();
    s = ct_choose_k(NULL, &kr, &ko, X, F, n, d, w, ks, &best, err);
    sum->seconds = ct_seconds() - t0;
    if (s != CT_OK) {
        goto done;
    }
    /* centroids in original units; per-cluster feature means for the profile */
    size_t k = best.k, nb = (n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    orig = malloc(k * d * sizeof *orig);
    mean = malloc(k * d * sizeof *mean);
    part = malloc(nb * k * d * sizeof *part);
    if (orig == NULL || mean == NULL || part == NULL) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    memcpy(orig, best.centroids, k * d * sizeof *orig);
    ct_scaler_invert(&scl, orig, k);
    ct_scaler_invert(&scl, X, n); /* X back to original units */
    mean_parts(X, w, best.labels, n, d, k, part);
    CT_TRY(ct_comm_sum_blocks(NULL, part, nb, k * d, mean, err));
    mean_finish(mean, best.weight, k, d);
    s = write_result(o, &best, &scl, orig, mean, ks, nk, klo, 0, n, sum, err);
    if (s == CT_OK) {
        mean = NULL; /* the summary's */
        ks = NULL;
    }
done:
    free(X);
    free(w);
    free(F);
    free(Cinit);
    free(orig);
    free(mean);
    free(part);
    free(ks);
    ct_kmeans_result_free(&best);
    ct_scaler_free(&scl);
    return s;
}

ct_status ct_stage_cluster(const ct_cluster_stage *o, ct_cluster_summary *sum, ct_error *err)
{
    ct_file *f = NULL, *fs = NULL;
    feat_src h;
    ct_status s;
    memset(sum, 0, sizeof *sum);
    memset(&h, 0, sizeof h);
    for (size_t j = 0; j < o->d; j++) { /* clusters become tiers: the guard applies */
        const char *hit = ct_protected_attribute(o->names[j]);
        if (hit != NULL) {
            return ct_fail(err, CT_EPROTECTED,
                           "feature '%s' is a protected attribute (%s); it may only be audited "
                           "(a model's [protected] audit), never used to cluster customers",
                           o->names[j], hit);
        }
    }
    CT_TRY(ct_file_open(&f, o->data, err));
    if (o->scores != NULL) {
        CT_TRY(ct_file_open(&fs, o->scores, err));
    }
    int stream = o->stream || ct_comm_size(o->comm) > 1; /* over ranks the rows are split */
    s = feat_open(&h, o->data, f, fs, o->names, o->d, err);
    if (stream) {
        s = ct_comm_agree(ct_comm_size(o->comm) > 1 ? o->comm : NULL, s, err);
    }
    if (s != CT_OK) {
        goto done;
    }
    s = stream ? cluster_stream(o, &h, sum, err) : cluster_memory(o, &h, sum, err);
done:
    feat_close(&h);
    ct_file_close(f);
    ct_file_close(fs);
    if (s != CT_OK) {
        ct_cluster_summary_free(sum);
    }
    return s;
}
