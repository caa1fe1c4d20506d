/* kmeans_impl.h - the type-dependent half of kmeans.c, included once for
 * double (KM_SUF(x) = x##_f64, KM_GEMM = cblas_dgemm) and once for float.
 * Distances use the expansion |x|^2 - 2 x.c + |c|^2 with GEMM on row tiles
 * of TR rows; sums are accumulated in double. */

/* G (nr x k) = X . C^T: the SIMD kernel for few columns, else GEMM. */
static void KM_SUF(dots)(const KM_REAL *X, size_t nr, size_t d, const KM_REAL *C, size_t k,
                         KM_REAL *G)
{
    if (KM_SUF(km_dots)(X, nr, d, C, k, G) == 0) {
        return;
    }
    KM_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nr, (blasint)k, (blasint)d, 1, X,
            (blasint)d, C, (blasint)d, 0, G, (blasint)k);
}

/* Rows [r0, r0 + nr) against centres C (k x d): label and squared distance. */
static void KM_SUF(assign_tile)(const KM_REAL *X, size_t d, size_t r0, size_t nr,
                                const KM_REAL *C, const KM_REAL *cn, size_t k, const KM_REAL *xn,
                                KM_REAL *G, int32_t *lab, double *dist)
{
    if (KM_SUF(km_assign)(X + r0 * d, nr, d, C, cn, k, lab, G, NULL) == 0) {
        for (size_t r = 0; r < nr; r++) { /* G holds the smallest |c|^2 - 2 x.c */
            double d2 = (double)xn[r0 + r] + (double)G[r];
            dist[r] = d2 > 0 ? d2 : 0.0;
        }
        return;
    }
    KM_SUF(dots)(X + r0 * d, nr, d, C, k, G);
    for (size_t r = 0; r < nr; r++) {
        const KM_REAL *g = G + r * k;
        /* The minimum of cn[j] - 2 g[j] with four independent accumulators
         * (one chain of k dependent comparisons would be latency-bound),
         * then the first index holding it: ties go to the lowest index, as
         * in scikit-learn, and the values compared are computed identically. */
        KM_REAL m0 = cn[0] - 2 * g[0], m1 = m0, m2 = m0, m3 = m0;
        size_t j = 1;
        for (; j + 3 < k; j += 4) {
            KM_REAL v0 = cn[j] - 2 * g[j], v1 = cn[j + 1] - 2 * g[j + 1];
            KM_REAL v2 = cn[j + 2] - 2 * g[j + 2], v3 = cn[j + 3] - 2 * g[j + 3];
            m0 = v0 < m0 ? v0 : m0;
            m1 = v1 < m1 ? v1 : m1;
            m2 = v2 < m2 ? v2 : m2;
            m3 = v3 < m3 ? v3 : m3;
        }
        for (; j < k; j++) {
            KM_REAL v = cn[j] - 2 * g[j];
            m0 = v < m0 ? v : m0;
        }
        m0 = m1 < m0 ? m1 : m0;
        m2 = m3 < m2 ? m3 : m2;
        KM_REAL bv = m2 < m0 ? m2 : m0;
        size_t best = 0;
        while (cn[best] - 2 * g[best] != bv) {
            best++;
        }
        double d2 = (double)xn[r0 + r] + (double)bv;
        lab[r] = (int32_t)best;
        dist[r] = d2 > 0 ? d2 : 0.0;
    }
}

typedef struct KM_SUF(pass) {
    const KM_REAL *X, *C, *cn, *xn;
    const double *w;
    size_t n, d, k, tr;
    int32_t *labels; /* NULL (with part, without dist): the sums only, no labels kept */
    double *dist;    /* may be NULL */
    double *part;    /* per block: sums (k x d), weights (k), labels changed; NULL: labels only */
    size_t stride;
} KM_SUF(pass);

static ct_status KM_SUF(pass_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    KM_SUF(pass) *P = vctx;
    size_t k = P->k, d = P->d;
    double *acc = P->part != NULL ? P->part + b * P->stride : NULL;
    if (acc != NULL) {
        memset(acc, 0, P->stride * sizeof *acc);
    }
    if (acc != NULL && P->dist == NULL &&
        KM_SUF(km_lloyd)(P->X + begin * d, end - begin, d, P->C, P->cn, k,
                         P->w != NULL ? P->w + begin : NULL,
                         P->labels != NULL ? P->labels + begin : NULL, acc, acc + k * d,
                         acc + k * d + k) == 0) {
        return CT_OK; /* one streaming read of the block: labels, moves and sums fused */
    }
    KM_REAL *G = malloc(P->tr * k * sizeof *G);
    double *dist = malloc(P->tr * sizeof *dist);
    /* the tile's labels before the pass (labels kept), or its labels (none kept) */
    int32_t *tl = malloc(P->tr * sizeof *tl);
    if (G == NULL || dist == NULL || tl == NULL) {
        free(G);
        free(dist);
        free(tl);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t r0 = begin; r0 < end; r0 += P->tr) {
        size_t nr = end - r0 < P->tr ? end - r0 : P->tr;
        int32_t *lt = P->labels != NULL ? P->labels + r0 : tl;
        if (P->labels != NULL) {
            memcpy(tl, lt, nr * sizeof *tl);
        }
        KM_SUF(assign_tile)(P->X, d, r0, nr, P->C, P->cn, k, P->xn, G, lt, dist);
        if (P->dist != NULL) {
            memcpy(P->dist + r0, dist, nr * sizeof *dist);
        }
        if (acc != NULL) {
            double *sums = acc, *wk = acc + k * d;
            for (size_t r = 0; r < nr; r++) {
                size_t i = r0 + r, j = (size_t)lt[r];
                double wi = P->w != NULL ? P->w[i] : 1.0;
                const KM_REAL *x = P->X + i * d;
                double *s = sums + j * d;
                for (size_t c = 0; c < d; c++) {
                    s[c] += wi * (double)x[c];
                }
                wk[j] += wi;
                acc[k * d + k] += P->labels != NULL && tl[r] != lt[r];
            }
        }
    }
    free(G);
    free(dist);
    free(tl);
    return CT_OK;
}

/* One assignment pass (and, with part != NULL, the per-block statistics). */
static ct_status KM_SUF(run_pass)(KM_SUF(pass) *P, size_t rb, unsigned threads, ct_error *err)
{
    return ct_par_for(P->n, rb, threads, KM_SUF(pass_block), P, err);
}

static void KM_SUF(to_real)(const double *C, size_t k, size_t d, KM_REAL *CR, KM_REAL *cn)
{
    for (size_t j = 0; j < k; j++) {
        double s = 0;
        for (size_t c = 0; c < d; c++) {
            CR[j * d + c] = (KM_REAL)C[j * d + c];
            s += (double)CR[j * d + c] * (double)CR[j * d + c];
        }
        cn[j] = (KM_REAL)s;
    }
}

typedef struct KM_SUF(norms) {
    const KM_REAL *X;
    size_t d;
    KM_REAL *xn;
} KM_SUF(norms);

static ct_status KM_SUF(norms_block)(void *vctx, size_t b, size_t begin, size_t end,
                                     ct_error *err)
{
    const KM_SUF(norms) *P = vctx;
    size_t d = P->d;
    (void)b;
    (void)err;
    for (size_t i = begin; i < end; i++) {
        double s = 0;
        for (size_t c = 0; c < d; c++) {
            s += (double)P->X[i * d + c] * (double)P->X[i * d + c];
        }
        P->xn[i] = (KM_REAL)s;
    }
    return CT_OK;
}

/* |x|^2 of every row, each in column order (the same for any thread count;
 * one thread read 10M x 32 in 0.13 s). */
static void KM_SUF(row_norms)(const KM_REAL *X, size_t n, size_t d, KM_REAL *xn, unsigned threads)
{
    KM_SUF(norms) P = {X, d, xn};
    ct_error e;
    (void)ct_par_for(n, CT_SUM_BLOCK, threads, KM_SUF(norms_block), &P, &e); /* never fails */
}

static double KM_SUF(sqdist)(const KM_REAL *x, const double *c, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double t = (double)x[j] - c[j];
        s += t * t;
    }
    return s;
}

/* |x - c|^2 in eight interleaved sums (column q in sum q mod 8): eight
 * add chains in flight instead of one, for Hamerly's bound on a row's own
 * distance, where any rounding of that order is inside the test's slack
 * (the labels come from the kernels; the bound only decides what to
 * measure). */
static double KM_SUF(sqdist8)(const KM_REAL *x, const double *c, size_t d)
{
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= d; j += 8) {
        for (size_t q = 0; q < 8; q++) {
            double t = (double)x[j + q] - c[j + q];
            s[q] += t * t;
        }
    }
    for (; j < d; j++) {
        double t = (double)x[j] - c[j];
        s[j % 8] += t * t;
    }
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Per reduction block of rb rows (X's first row starts a block): the
 * weighted inertia (pin[b]) and, when pwk != NULL, the weight per cluster
 * (pwk[b * k + j]), rows in order within the block.  Adding the blocks in
 * order gives the same bits however the blocks are split (threads, a stream,
 * ranks). */
static void KM_SUF(block_sums)(const KM_REAL *X, size_t nr, size_t d, const double *w,
                               const double *C, const int32_t *labels, size_t k, size_t rb,
                               double *pin, double *pwk)
{
    for (size_t b = 0, r0 = 0; r0 < nr; b++, r0 += rb) {
        size_t r1 = nr - r0 < rb ? nr : r0 + rb;
        double in = 0;
        if (pwk != NULL) {
            memset(pwk + b * k, 0, k * sizeof *pwk);
        }
        for (size_t i = r0; i < r1; i++) {
            double wi = w != NULL ? w[i] : 1.0;
            in += wi * KM_SUF(sqdist)(X + i * d, C + (size_t)labels[i] * d, d);
            if (pwk != NULL) {
                pwk[b * k + (size_t)labels[i]] += wi;
            }
        }
        pin[b] = in;
    }
}

/* block_sums over the threads, a reduction block a job: each block's sums
 * are the serial loop's (a pass over the rows at the end of every fit, twice,
 * had run on one core). */
typedef struct KM_SUF(bsums) {
    const KM_REAL *X;
    const double *w, *C;
    const int32_t *labels;
    size_t d, k, rb;
    double *pin, *pwk;
} KM_SUF(bsums);

static ct_status KM_SUF(bsums_block)(void *vctx, size_t b, size_t begin, size_t end,
                                     ct_error *err)
{
    const KM_SUF(bsums) *P = vctx;
    (void)err;
    KM_SUF(block_sums)(P->X + begin * P->d, end - begin, P->d, P->w != NULL ? P->w + begin : NULL,
                       P->C, P->labels + begin, P->k, P->rb, P->pin + b,
                       P->pwk != NULL ? P->pwk + b * P->k : NULL);
    return CT_OK;
}

static ct_status KM_SUF(block_sums_par)(const km_ctx *K, const KM_REAL *X, const double *C,
                                        const int32_t *labels, double *pin, double *pwk,
                                        ct_error *err)
{
    KM_SUF(bsums) P = {X, K->w, C, labels, K->d, K->k, K->rb, pin, pwk};
    return ct_par_for(K->n, K->rb, K->threads, KM_SUF(bsums_block), &P, err);
}

/* The inertia, blocks added in order, and (wk not NULL) the clusters'
 * weights from the same pass (a fit had read the rows once more for them);
 * NaN: out of memory. */
static double KM_SUF(inertia)(const km_ctx *K, const KM_REAL *X, const double *C,
                              const int32_t *labels, double *wk)
{
    size_t nb = ct_par_nblocks(K->n, K->rb), k = K->k;
    double *pin = malloc(nb * sizeof *pin), in = 0;
    double *pwk = wk != NULL ? malloc(nb * k * sizeof *pwk) : NULL;
    ct_error e2;
    if (pin == NULL || (wk != NULL && pwk == NULL) ||
        KM_SUF(block_sums_par)(K, X, C, labels, pin, pwk, &e2) != CT_OK) {
        free(pin);
        free(pwk);
        return CT_NAN;
    }
    for (size_t b = 0; b < nb; b++) {
        in += pin[b];
    }
    if (wk != NULL) {
        km_reduce(pwk, nb, k, k, wk);
    }
    free(pin);
    free(pwk);
    return in;
}

/* Squared distance of row i to a double centre. */
static double KM_SUF(row_sqdist)(const void *Xv, size_t i, size_t d, const double *c)
{
    const KM_REAL *X = Xv;
    return KM_SUF(sqdist)(X + i * d, c, d);
}

static void KM_SUF(row_copy)(const void *Xv, size_t i, size_t d, double *out)
{
    const KM_REAL *X = Xv;
    for (size_t c = 0; c < d; c++) {
        out[c] = (double)X[i * d + c];
    }
}

/* Lloyd from C (k x d, updated).  Follows scikit-learn's _kmeans_single_lloyd.
 * Its passes keep no labels (each would read and write 8 bytes a row
 * beside the row's own: a quarter more traffic at 8 float columns): they
 * converge strictly when a pass's sums and weights are those of the pass
 * before, bit for bit, which no label changing implies (the same rows added
 * in the same order).  The labels come from one pass over the final centres,
 * and, before empty clusters are refilled, from the same centres again. */
static ct_status KM_SUF(lloyd)(const km_ctx *K, const KM_REAL *X, const KM_REAL *xn, double *C,
                               unsigned max_iter, double tol_abs, int32_t *labels,
                               km_run *out, ct_error *err)
{
    size_t n = K->n, d = K->d, k = K->k;
    size_t nb = ct_par_nblocks(n, K->rb), stride = K->stride;
    KM_REAL *CR = malloc(k * d * sizeof *CR), *cn = malloc(k * sizeof *cn);
    double *part = malloc(nb * stride * sizeof *part);
    double *Cn = malloc((k * d + k + 1) * sizeof *Cn), *was = malloc((k * d + k) * sizeof *was);
    out->skipped = NULL;
    out->npasses = 0;
    ct_status s = CT_OK;
    if (!CR || !cn || !part || !Cn || !was) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for k-means (n = %zu, k = %zu)", n, k);
    }
    int stop = 0;
    unsigned it = 0;
    for (it = 0; it < max_iter && s == CT_OK; it++) {
        KM_SUF(to_real)(C, k, d, CR, cn);
        KM_SUF(pass) P = {X, CR, cn, xn, K->w, n, d, k, K->tr, NULL, NULL, part, stride};
        s = KM_SUF(run_pass)(&P, K->rb, K->threads, err);
        if (s != CT_OK) {
            break;
        }
        /* reduce the blocks in order */
        double *sums = Cn, *wk = Cn + k * d;
        km_reduce(part, nb, stride, k * d + k + 1, Cn);
        int same = km_pass_repeats(was, Cn, k * d + k, it);
        /* empty clusters take the points farthest from their centres */
        size_t nempty = 0;
        for (size_t j = 0; j < k; j++) {
            nempty += wk[j] == 0;
        }
        if (nempty > 0) {
            KM_SUF(pass) L = {X, CR, cn, xn, K->w, n, d, k, K->tr, labels, NULL, NULL, 0};
            s = KM_SUF(run_pass)(&L, K->rb, K->threads, err);
            if (s == CT_OK) {
                s = km_relocate(K, sums, wk, nempty, labels, C, KM_SUF(row_sqdist),
                                KM_SUF(row_copy), X, err);
            }
            if (s != CT_OK) {
                break;
            }
        }
        double shift = km_update(C, sums, wk, k, d, NULL);
        if (same || shift <= tol_abs) {
            stop = 1;
            break;
        }
    }
    if (s == CT_OK) {
        /* the labels of the final centres */
        KM_SUF(to_real)(C, k, d, CR, cn);
        KM_SUF(pass) P = {X, CR, cn, xn, K->w, n, d, k, K->tr, labels, NULL, NULL, 0};
        s = KM_SUF(run_pass)(&P, K->rb, K->threads, err);
    }
    if (s == CT_OK) {
        /* inertia from exact distances, blocks in order */
        out->inertia = KM_SUF(inertia)(K, X, C, labels, out->weight);
        s = isnan(out->inertia) ? ct_fail(err, CT_ENOMEM, "out of memory") : CT_OK;
        out->iterations = it < max_iter ? it + 1 : max_iter;
        out->converged = stop;
    }
    free(CR);
    free(cn);
    free(part);
    free(Cn);
    free(was);
    return s;
}

/* ---- Hamerly's bounds ---------------------------------------------------------
 * Hamerly (2010) "Making k-means even faster": per row an upper bound u on
 * the distance to its own centre and a lower bound l on the distance to any
 * other; a row whose u stays below max(l, half the distance from its centre
 * to the nearest other centre) keeps its label without any distance work.
 * The rows that cannot be decided are gathered into tiles and assigned
 * exactly as in Lloyd (GEMM, expanded distances, ties to the lowest index),
 * so the labels are Lloyd's; the bounds carry a slack for the rounding of
 * the expanded distances (KM_EPS).  Cluster sums are updated by the moves
 * only, per fixed block, reduced in block order: bit-identical for any
 * thread count, equal to Lloyd's sums up to rounding. */

/* Rows idx[0..nr) (gathered into Xt/xnt) against C: best and second best. */
static void KM_SUF(assign2_tile)(const KM_REAL *Xt, const KM_REAL *xnt, size_t d, size_t nr,
                                 const KM_REAL *C, const KM_REAL *cn, size_t k, KM_REAL *G,
                                 int32_t *lab, double *d1, double *d2)
{
    if (k >= 2 && KM_SUF(km_assign)(Xt, nr, d, C, cn, k, lab, G, G + nr) == 0) {
        for (size_t r = 0; r < nr; r++) {
            double x1 = (double)xnt[r] + (double)G[r], x2 = (double)xnt[r] + (double)G[nr + r];
            d1[r] = x1 > 0 ? x1 : 0.0;
            d2[r] = x2 > 0 ? x2 : 0.0;
        }
        return;
    }
    KM_SUF(dots)(Xt, nr, d, C, k, G);
    for (size_t r = 0; r < nr; r++) {
        const KM_REAL *g = G + r * k;
        KM_REAL b1 = cn[0] - 2 * g[0], b2 = (KM_REAL)INFINITY;
        size_t best = 0;
        for (size_t j = 1; j < k; j++) {
            KM_REAL v = cn[j] - 2 * g[j];
            if (v < b1) {
                b2 = b1;
                b1 = v;
                best = j;
            } else if (v < b2) {
                b2 = v;
            }
        }
        double x1 = (double)xnt[r] + (double)b1, x2 = (double)xnt[r] + (double)b2;
        lab[r] = (int32_t)best;
        d1[r] = x1 > 0 ? x1 : 0.0;
        d2[r] = x2 > 0 ? x2 : 0.0;
    }
}

typedef struct KM_SUF(hpass) {
    const KM_REAL *X, *CR, *cn, *xn;
    const double *w, *C;
    size_t n, d, k, tr;
    int32_t *labels;
    double *u, *l;
    const double *s, *p; /* half distance to the nearest other centre; shift of each centre */
    double pmax, pmax2, cnmax;
    size_t jmax;
    int full;     /* every row exactly, fresh sums (first pass, after a relocation) */
    double *part; /* per block: sums (or their changes) k x d, weights k, moves */
    size_t stride;
    double *ndist; /* per block: row-centre distances computed */
    /* Yinyang (lb != NULL): ng groups of centres; per row a lower bound on
     * the distance to each group's centres other than its own (n x ng) */
    double *lb;
    size_t ng;
    const uint32_t *grp;  /* k: each centre's group */
    const size_t *goff;   /* ng + 1: group g is positions goff[g] .. goff[g + 1] */
    const int32_t *gidx;  /* k: the centre at each position (by group, then index) */
    const KM_REAL *CG, *cnG; /* the centres (and |c|^2) in that order */
    const double *cum;    /* (max_iter + 2) x ng: per pass, each group's largest shifts
                           * added up over the passes before it */
    uint32_t *stamp;      /* n: the pass a row's group bounds were brought to */
    size_t pass;
    const double *CGp;    /* f64 with AVX-512: each group's centres packed for
                           * km_group_assign_f64 (group g at CGp + gpo[g]); else NULL */
    const size_t *gpo;
} KM_SUF(hpass);

/* Row i measured, its label now `now`: the block's sums (acc: k x d, then
 * the weights k, then the moves) take all of it in a full pass, else the
 * move only; rows come in row order, so the sums do not depend on tiles. */
static void KM_SUF(hmove)(KM_SUF(hpass) *P, size_t i, int32_t now, double *acc)
{
    size_t d = P->d, k = P->k;
    int32_t old = P->labels[i];
    double wi = P->w != NULL ? P->w[i] : 1.0, *sums = acc, *wk = acc + k * d;
    const KM_REAL *x = P->X + i * d;
    if (P->full) {
        for (size_t c = 0; c < d; c++) {
            sums[(size_t)now * d + c] += wi * (double)x[c];
        }
        wk[now] += wi;
    } else if (old != now) {
        for (size_t c = 0; c < d; c++) {
            sums[(size_t)old * d + c] -= wi * (double)x[c];
            sums[(size_t)now * d + c] += wi * (double)x[c];
        }
        wk[old] -= wi;
        wk[now] += wi;
    }
    acc[k * d + k] += old != now;
    P->labels[i] = now;
}

static void KM_SUF(hflush)(KM_SUF(hpass) *P, const size_t *idx, size_t nr, KM_REAL *Xt,
                           KM_REAL *xnt, KM_REAL *G, int32_t *lab, double *d1, double *d2,
                           double *acc)
{
    size_t d = P->d, k = P->k;
    for (size_t r = 0; r < nr; r++) {
        memcpy(Xt + r * d, P->X + idx[r] * d, d * sizeof *Xt);
        xnt[r] = P->xn[idx[r]];
    }
    KM_SUF(assign2_tile)(Xt, xnt, d, nr, P->CR, P->cn, k, G, lab, d1, d2);
    for (size_t r = 0; r < nr; r++) {
        size_t i = idx[r];
        P->u[i] = sqrt(d1[r]);
        P->l[i] = sqrt(d2[r]);
        KM_SUF(hmove)(P, i, lab[r], acc);
    }
}

#ifndef HAM_CHUNK
#define HAM_CHUNK 512 /* rows per vector bound test */
#endif

/* A block's rows to assign over all k (hflush's tiles) and its counts. */
typedef struct KM_SUF(htile) {
    KM_REAL *G, *Xt, *xnt;
    double *d1, *d2, *acc;
    size_t *idx;
    int32_t *lab;
    size_t nr, own, full; /* rows in the tile; distances to the own centre; rows over all k */
} KM_SUF(htile);

static void KM_SUF(htile_free)(KM_SUF(htile) *t)
{
    free(t->G);
    free(t->Xt);
    free(t->xnt);
    free(t->d1);
    free(t->d2);
    free(t->idx);
    free(t->lab);
}

static void KM_SUF(hpush)(KM_SUF(hpass) *P, KM_SUF(htile) *t, size_t i)
{
    t->idx[t->nr++] = i;
    t->full++;
    if (t->nr == P->tr) {
        KM_SUF(hflush)(P, t->idx, t->nr, t->Xt, t->xnt, t->G, t->lab, t->d1, t->d2, t->acc);
        t->nr = 0;
    }
}

/* The own distances (ud[q]) of the rows i0 + und[q] the bound test left:
 * the vector kernel's (kmeans_dots), else sqdist8's, the same bits. */
static void KM_SUF(own_dists)(const KM_SUF(hpass) *P, size_t i0, const uint32_t *und, long nq,
                              double *ud)
{
    if (KM_SUF(km_own_dist)(P->X, P->d, i0, und, nq, P->labels, P->C, ud) == 0) {
        return;
    }
    for (long q = 0; q < nq; q++) {
        size_t i = i0 + und[q];
        ud[q] = sqrt(KM_SUF(sqdist8)(P->X + i * P->d, P->C + (size_t)P->labels[i] * P->d, P->d));
    }
}

/* Row i failed the bound test (m; xe, the rounding slack in squared
 * units): its distance to its own centre (u, own_dists) tightens its
 * bound; still undecided, it goes to the tile. */
static void KM_SUF(hmeasure)(KM_SUF(hpass) *P, KM_SUF(htile) *t, size_t i, double u, double m,
                             double xe)
{
    t->own++;
    P->u[i] = u;
    if (!km_bound_clears(u, m, xe)) {
        KM_SUF(hpush)(P, t, i);
    }
}

static ct_status KM_SUF(hpass_block)(void *vctx, size_t b, size_t begin, size_t end,
                                     ct_error *err)
{
    KM_SUF(hpass) *P = vctx;
    size_t k = P->k, d = P->d, tr = P->tr;
    KM_SUF(htile) t = {malloc(tr * k * sizeof(KM_REAL)),
                       malloc(tr * d * sizeof(KM_REAL)),
                       malloc(tr * sizeof(KM_REAL)),
                       malloc(tr * sizeof(double)),
                       malloc(tr * sizeof(double)),
                       P->part + b * P->stride,
                       malloc(tr * sizeof(size_t)),
                       malloc(tr * sizeof(int32_t)),
                       0,
                       0,
                       0};
    if (!t.G || !t.Xt || !t.xnt || !t.d1 || !t.d2 || !t.idx || !t.lab) {
        KM_SUF(htile_free)(&t);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    memset(t.acc, 0, P->stride * sizeof *t.acc);
    const double eps = 8 * (double)KM_EPS;
    /* the bound test a vector of rows at a time (kmeans_dots; row by row
     * without the vector units), then the undecided rows in row order */
    uint32_t und[HAM_CHUNK];
    double um[HAM_CHUNK], us[HAM_CHUNK], ud[HAM_CHUNK];
    for (size_t i0 = begin; !P->full && i0 < end; i0 += HAM_CHUNK) {
        size_t cn = end - i0 < HAM_CHUNK ? end - i0 : HAM_CHUNK;
        long nu = KM_SUF(km_hamerly_test)(P->labels + i0, P->u + i0, P->l + i0, P->xn + i0, cn,
                                          P->p, P->s, (int32_t)P->jmax, P->pmax, P->pmax2,
                                          P->cnmax, eps, und, um, us);
        KM_SUF(own_dists)(P, i0, und, nu, ud);
        for (long q = 0; q < nu; q++) {
            KM_SUF(hmeasure)(P, &t, i0 + und[q], ud[q], um[q], us[q]);
        }
    }
    for (size_t i = begin; P->full && i < end; i++) {
        KM_SUF(hpush)(P, &t, i);
    }
    if (t.nr > 0) {
        KM_SUF(hflush)(P, t.idx, t.nr, t.Xt, t.xnt, t.G, t.lab, t.d1, t.d2, t.acc);
    }
    P->ndist[b] = (double)t.own + (double)t.full * (double)k;
    KM_SUF(htile_free)(&t);
    return CT_OK;
}

/* ---- Yinyang (Ding et al. 2015) ----------------------------------------------
 * The centres fall into ng groups (km_groups, once per run); a row keeps u,
 * an upper bound on its distance to its own centre, l, a lower bound on the
 * distance to any other (the least of its group bounds when they were last
 * set), and per group a lower bound on the distance to the group's other
 * centres.  Hamerly's vectorised test (u + p[a] against max(s[a], l minus
 * the largest other shift)) decides most rows without touching the group
 * bounds; an undecided row's group bounds are then lowered by each group's
 * largest shifts since they were set (cum, stamp: added up per pass), and
 * the groups whose bound still exceeds u (tightened to the exact own
 * distance) are not measured.  The groups left are measured with the fused
 * kernel over the group's centres (f64 with AVX-512: km_group_assign_f64,
 * the group's centres in the lanes and the rows read where they are; else
 * km_assign over copies of the rows), whose value for a row and a centre is
 * the FMA chain Lloyd's pass computes; the new label is the first index of
 * the least value among them (a centre in a skipped group is farther by
 * more than the rounding slack, as in Hamerly's test), so the labels are
 * Lloyd's.  Sums follow the moves in row order (hmove). */
#define YY_TILE 256

typedef struct KM_SUF(ytile) {
    size_t *und;
    uint64_t *msk;
    size_t *pos; /* ng x YY_TILE: each group's rows (their places in und) */
    KM_REAL *xnu, *Xg, *R1, *R2, *v1, *v2;
    int32_t *RJ, *lab;
    const KM_REAL *rows[YY_TILE]; /* a group's rows (km_group_assign_f64) */
} KM_SUF(ytile);

static void KM_SUF(ytile_free)(KM_SUF(ytile) *t)
{
    free(t->und);
    free(t->msk);
    free(t->pos);
    free(t->xnu);
    free(t->Xg);
    free(t->R1);
    free(t->R2);
    free(t->v1);
    free(t->v2);
    free(t->RJ);
    free(t->lab);
}

/* The undecided rows und[0..nu) over the groups in their masks. */
static void KM_SUF(yflush)(KM_SUF(hpass) *P, KM_SUF(ytile) *y, size_t nu, double *acc,
                           double *ndist)
{
    size_t d = P->d, ng = P->ng, cnt[64] = {0};
    for (size_t q = 0; q < nu; q++) { /* each group's rows, in row order */
        y->xnu[q] = P->xn[y->und[q]];
        for (uint64_t b = y->msk[q]; b != 0; b &= b - 1) {
            size_t g = (size_t)__builtin_ctzll(b);
            y->pos[g * YY_TILE + cnt[g]++] = q;
        }
    }
    for (size_t g = 0; g < ng; g++) {
        size_t nr = cnt[g], g0 = P->goff[g], kg = P->goff[g + 1] - g0;
        const size_t *pos = y->pos + g * YY_TILE;
        if (nr == 0) {
            continue;
        }
#if KM_F64
        if (P->CGp != NULL) { /* the rows where they are, the centres in the lanes */
            for (size_t r = 0; r < nr; r++) {
                y->rows[r] = P->X + y->und[pos[r]] * d;
            }
            km_group_assign_f64(y->rows, nr, d, P->CGp + P->gpo[g], kg, y->lab, y->v1, y->v2);
        } else
#endif
        {
            for (size_t r = 0; r < nr; r++) {
                memcpy(y->Xg + r * d, P->X + y->und[pos[r]] * d, d * sizeof *y->Xg);
            }
            /* yinyang runs only where the kernel does (fit falls back to Hamerly) */
            (void)KM_SUF(km_assign)(y->Xg, nr, d, P->CG + g0 * d, P->cnG + g0, kg, y->lab, y->v1,
                                    y->v2);
        }
        for (size_t r = 0; r < nr; r++) {
            size_t q = pos[r];
            y->R1[q * ng + g] = y->v1[r];
            y->R2[q * ng + g] = y->v2[r];
            y->RJ[q * ng + g] = P->gidx[g0 + (size_t)y->lab[r]];
        }
        *ndist += (double)nr * (double)kg;
    }
    for (size_t q = 0; q < nu; q++) {
        size_t i = y->und[q], bg = ng;
        KM_REAL bv = 0;
        int32_t bj = -1;
        for (uint64_t b = y->msk[q]; b != 0; b &= b - 1) { /* the least value, ties to the
                                                              * first index */
            size_t g = (size_t)__builtin_ctzll(b);
            KM_REAL v = y->R1[q * ng + g];
            int32_t j = y->RJ[q * ng + g];
            if (bj < 0 || v < bv || (v == bv && j < bj)) {
                bv = v;
                bj = j;
                bg = g;
            }
        }
        double xq = (double)y->xnu[q], *L = P->lb + i * ng;
        for (uint64_t b = y->msk[q]; b != 0; b &= b - 1) {
            size_t g = (size_t)__builtin_ctzll(b);
            double e = xq + (double)(g == bg ? y->R2[q * ng + g] : y->R1[q * ng + g]);
            L[g] = sqrt(e > 0 ? e : 0.0);
        }
        double e = xq + (double)bv, glb = CT_INF;
        for (size_t g = 0; g < ng; g++) {
            glb = L[g] < glb ? L[g] : glb;
        }
        P->l[i] = glb;
        P->u[i] = sqrt(e > 0 ? e : 0.0);
        KM_SUF(hmove)(P, i, bj, acc);
    }
}

/* Row i to the tile with the groups mk to measure; a full tile is measured. */
static void KM_SUF(ypush)(KM_SUF(hpass) *P, KM_SUF(ytile) *y, size_t *nu, size_t i, uint64_t mk,
                          double *acc, double *ndist)
{
    y->und[*nu] = i;
    y->msk[(*nu)++] = mk;
    if (*nu == YY_TILE) {
        KM_SUF(yflush)(P, y, *nu, acc, ndist);
        *nu = 0;
    }
}

/* The rows the global test left (a: km_yfilter's arguments, kmeans_dots.h)
 * with their own distances: each one's tightens u; still undecided, its
 * group bounds are brought to this pass (the shifts since they were set,
 * rounded up) and it goes to out[] with the groups whose bound does not
 * exceed u by the slack, and then its own group (the own centre's value is
 * needed beside the others'); where every group's bound clears u the
 * label stands.  km_yfilter's vector code, else this loop; returns the
 * rows out. */
static long KM_SUF(yfilter)(const km_yfilter_args *a, long nq, size_t *out, uint64_t *omk)
{
    long no = km_yfilter(a, nq, out, omk);
    if (no >= 0) {
        return no;
    }
    no = 0;
    const size_t ng = a->ng;
    const double *c1 = a->cum + (size_t)a->pass * ng;
    for (long q = 0; q < nq; q++) {
        size_t i = a->i0 + a->und[q];
        double u = a->ud[q], xe = a->us[q];
        a->u[i] = u;
        if (km_bound_clears(u, a->um[q], xe)) {
            continue;
        }
        double *L = a->lb + i * ng, glb = CT_INF;
        const double *c0 = a->cum + (size_t)a->stamp[i] * ng;
        uint64_t mk = 0;
        for (size_t g = 0; g < ng; g++) {
            L[g] -= (c1[g] - c0[g]) * (1 + 1e-12) + 1e-12 * c1[g];
            glb = L[g] < glb ? L[g] : glb;
            if (!km_bound_clears(u, L[g], xe)) {
                mk |= (uint64_t)1 << g;
            }
        }
        a->stamp[i] = a->pass;
        a->l[i] = glb; /* each group lowered by its own shifts: tighter than l */
        if (mk != 0) {
            out[no] = i;
            omk[no++] = mk | (uint64_t)1 << a->grp[a->lab[i]];
        }
    }
    return no;
}

static ct_status KM_SUF(ypass_block)(void *vctx, size_t b, size_t begin, size_t end,
                                     ct_error *err)
{
    KM_SUF(hpass) *P = vctx;
    size_t d = P->d, ng = P->ng, T = YY_TILE, nu = 0;
    KM_SUF(ytile) y = {malloc(T * sizeof(size_t)),       malloc(T * sizeof(uint64_t)),
                       malloc(T * ng * sizeof(size_t)),       malloc(T * sizeof(KM_REAL)),
                       malloc(T * d * sizeof(KM_REAL)),  malloc(T * ng * sizeof(KM_REAL)),
                       malloc(T * ng * sizeof(KM_REAL)), malloc(T * sizeof(KM_REAL)),
                       malloc(T * sizeof(KM_REAL)),      malloc(T * ng * sizeof(int32_t)),
                       malloc(T * sizeof(int32_t)),      {NULL}};
    if (!y.und || !y.msk || !y.pos || !y.xnu || !y.Xg || !y.R1 || !y.R2 || !y.v1 || !y.v2 ||
        !y.RJ || !y.lab) {
        KM_SUF(ytile_free)(&y);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    double *acc = P->part + b * P->stride, ndist = 0;
    memset(acc, 0, P->stride * sizeof *acc);
    const uint64_t all = ng >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << ng) - 1;
    /* Hamerly's test with l the least group bound (a lower bound on the
     * distance to every other centre, lowered by the largest other shift) */
    uint32_t und[HAM_CHUNK];
    double um[HAM_CHUNK], us[HAM_CHUNK], ud[HAM_CHUNK];
    size_t yo[HAM_CHUNK];
    uint64_t yomk[HAM_CHUNK];
    for (size_t i0 = begin; i0 < end; i0 += HAM_CHUNK) {
        size_t cn = end - i0 < HAM_CHUNK ? end - i0 : HAM_CHUNK;
        if (P->full) {
            for (size_t i = i0; i < i0 + cn; i++) {
                P->stamp[i] = (uint32_t)P->pass;
                KM_SUF(ypush)(P, &y, &nu, i, all, acc, &ndist);
            }
            continue;
        }
        long nq = KM_SUF(km_hamerly_test)(P->labels + i0, P->u + i0, P->l + i0, P->xn + i0, cn,
                                          P->p, P->s, (int32_t)P->jmax, P->pmax, P->pmax2,
                                          P->cnmax, 8 * (double)KM_EPS, und, um, us);
        KM_SUF(own_dists)(P, i0, und, nq, ud);
        km_yfilter_args fa = {i0,     ng,     und,    ud,     um,     us,           P->labels,
                              P->grp, P->u,   P->l,   P->lb,  P->stamp, P->cum, (uint32_t)P->pass};
        long no = KM_SUF(yfilter)(&fa, nq, yo, yomk);
        ndist += (double)nq;
        for (long q = 0; q < no; q++) {
            KM_SUF(ypush)(P, &y, &nu, yo[q], yomk[q], acc, &ndist);
        }
    }
    if (nu > 0) {
        KM_SUF(yflush)(P, &y, nu, acc, &ndist);
    }
    P->ndist[b] = ndist;
    KM_SUF(ytile_free)(&y);
    return CT_OK;
}

/* Lloyd's iterations (same stopping rules, same labels) with Hamerly's
 * bounds, or (yinyang) with Yinyang's group bounds. */
static ct_status KM_SUF(hamerly)(const km_ctx *K, const KM_REAL *X, const KM_REAL *xn, double *C,
                                 unsigned max_iter, double tol_abs, int32_t *labels, int yy,
                                 km_run *out, ct_error *err)
{
    size_t n = K->n, d = K->d, k = K->k;
    size_t ng = yy ? km_ngroups(k) : 0;
    size_t nb = ct_par_nblocks(n, K->rb), stride = K->stride;
    KM_REAL *CR = malloc(k * d * sizeof *CR), *cn = malloc(k * sizeof *cn);
    double *part = malloc(nb * stride * sizeof *part);
    double *Cn = calloc(k * d + k, sizeof *Cn), *u = ct_malloc_big(n, sizeof *u);
    double *l = ct_malloc_big(n, sizeof *l), *sh = malloc(k * sizeof *sh);
    double *pj = calloc(k, sizeof *pj);
    double *ndist = malloc(nb * sizeof *ndist);
    /* Yinyang: the groups, the centres in group order, the bounds */
    uint32_t *grp = yy ? malloc(k * sizeof *grp) : NULL;
    size_t *goff = yy ? calloc(ng + 1, sizeof *goff) : NULL;
    int32_t *gidx = yy ? malloc(k * sizeof *gidx) : NULL;
    KM_REAL *CG = yy ? malloc(k * d * sizeof *CG) : NULL, *cnG = yy ? malloc(k * sizeof *cnG) : NULL;
    double *cum = yy ? calloc(((size_t)max_iter + 2) * ng, sizeof *cum) : NULL;
    double *lb = yy ? ct_malloc_big(n, ng * sizeof *lb) : NULL;
    uint32_t *stamp = yy ? ct_malloc_big(n, sizeof *stamp) : NULL;
    double *gscr = yy ? malloc((ng * d + ng) * sizeof *gscr) : NULL;
    size_t *gpo = yy ? calloc(ng + 1, sizeof *gpo) : NULL; /* the packed groups (KM_F64) */
    double *CGp = NULL;
    out->skipped = malloc(((size_t)max_iter + 1) * sizeof *out->skipped);
    out->npasses = 0;
    ct_status s = CT_OK;
    if (!CR || !cn || !part || !Cn || !u || !l || !sh || !pj || !ndist || !out->skipped ||
        (yy && (!grp || !goff || !gidx || !CG || !cnG || !cum || !lb || !stamp || !gscr ||
                !gpo))) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for k-means (n = %zu, k = %zu)", n, k);
    }
    if (s == CT_OK && yy) {
        ng = km_groups(C, k, d, ng, grp, gscr);
        for (size_t j = 0; j < k; j++) { /* positions by group, then index */
            goff[grp[j] + 1]++;
        }
        for (size_t g = 0; g < ng; g++) {
            goff[g + 1] += goff[g];
        }
        for (size_t j = 0, q[64] = {0}; j < k; j++) {
            gidx[goff[grp[j]] + q[grp[j]]++] = (int32_t)j;
        }
#if KM_F64
        for (size_t g = 0; g < ng; g++) {
            gpo[g + 1] = gpo[g] + km_group_packed(goff[g + 1] - goff[g], d);
        }
        CGp = malloc(gpo[ng] * sizeof *CGp); /* NULL: the copies and km_assign instead */
#endif
    }
    int strict = 0, stop = 0, full = 1;
    unsigned it = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        labels[i] = -1;
    }
    KM_SUF(hpass) P = {X, CR, cn, xn, K->w, C, n, d, k, K->tr, labels, u, l, sh, pj,
                       0, 0, 0, 0, 1, part, stride, ndist, lb, ng, grp, goff, gidx, CG, cnG, cum, stamp, 0,
                       NULL, gpo};
    double *sums = Cn, *wk = Cn + k * d;
    for (it = 0; it <= max_iter && s == CT_OK; it++) {
        /* it == max_iter: the last assignment only (labels for the final centres) */
        KM_SUF(to_real)(C, k, d, CR, cn);
        P.cnmax = 0;
        for (size_t j = 0; j < k; j++) {
            double m = CT_INF;
            for (size_t j2 = 0; j2 < k; j2++) {
                if (j2 != j) {
                    double t = sqrt(KM_SUF(sqdist)(CR + j2 * d, C + j * d, d));
                    m = t < m ? t : m;
                }
            }
            sh[j] = 0.5 * m;
            P.cnmax = (double)cn[j] > P.cnmax ? (double)cn[j] : P.cnmax;
        }
        for (size_t q = 0; yy && q < k; q++) {
            memcpy(CG + q * d, CR + (size_t)gidx[q] * d, d * sizeof *CG);
            cnG[q] = cn[gidx[q]];
        }
#if KM_F64
        P.CGp = CGp;
        for (size_t g = 0; CGp != NULL && g < ng; g++) {
            if (km_group_pack_f64(CG + goff[g] * d, cnG + goff[g], goff[g + 1] - goff[g], d,
                                  CGp + gpo[g]) != 0) {
                P.CGp = NULL; /* no kernel for this CPU or group */
            }
        }
#endif
        P.full = full;
        P.pass = it;
        s = ct_par_for(n, K->rb, K->threads, yy ? KM_SUF(ypass_block) : KM_SUF(hpass_block), &P,
                       err);
        if (s != CT_OK) {
            break;
        }
        double moved = 0, dist = 0;
        if (full) {
            memset(Cn, 0, (k * d + k) * sizeof *Cn);
        }
        for (size_t b = 0; b < nb; b++) {
            dist += ndist[b];
        }
        out->skipped[out->npasses++] = 1.0 - dist / ((double)n * (double)k);
        for (size_t b = 0; b < nb; b++) {
            const double *a = part + b * stride;
            for (size_t q = 0; q < k * d + k; q++) {
                Cn[q] += a[q];
            }
            moved += a[k * d + k];
        }
        full = 0;
        if (stop || it == max_iter) {
            break; /* that was the final assignment */
        }
        size_t nempty = 0;
        for (size_t j = 0; j < k; j++) {
            nempty += wk[j] <= 0;
            wk[j] = wk[j] < 0 ? 0 : wk[j]; /* rounding of the running sums */
        }
        if (nempty > 0) {
            s = km_relocate(K, sums, wk, nempty, labels, C, KM_SUF(row_sqdist),
                            KM_SUF(row_copy), X, err);
            if (s != CT_OK) {
                break;
            }
            full = 1; /* the moved sums no longer follow the labels: start over */
        }
        double shift = km_update(C, sums, wk, k, d, pj);
        P.pmax = P.pmax2 = 0;
        P.jmax = 0;
        double *c1 = yy ? cum + (size_t)(it + 1) * ng : NULL; /* the groups' largest shifts */
        for (size_t g = 0; g < ng; g++) {
            c1[g] = 0;
        }
        for (size_t j = 0; j < k; j++) {
            pj[j] = sqrt(pj[j]);
            if (yy && pj[j] > c1[grp[j]]) {
                c1[grp[j]] = pj[j];
            }
            if (pj[j] > P.pmax) {
                P.pmax2 = P.pmax;
                P.pmax = pj[j];
                P.jmax = j;
            } else if (pj[j] > P.pmax2) {
                P.pmax2 = pj[j];
            }
        }
        for (size_t g = 0; g < ng; g++) { /* added up over the passes */
            c1[g] += c1[(ptrdiff_t)g - (ptrdiff_t)ng];
        }
        if (moved == 0 && it > 0) {
            strict = 1; /* no label changed: the centres are final and so are the labels */
            break;
        }
        if (shift <= tol_abs) {
            stop = 1; /* one more (bounded) assignment for the final centres */
        }
    }
    if (s == CT_OK) {
        out->inertia = KM_SUF(inertia)(K, X, C, labels, out->weight);
        s = isnan(out->inertia) ? ct_fail(err, CT_ENOMEM, "out of memory") : CT_OK;
        out->iterations = strict ? it + 1 : it < max_iter ? it : max_iter;
        out->converged = strict || stop;
    }
    free(CR);
    free(cn);
    free(part);
    free(Cn);
    free(u);
    free(l);
    free(sh);
    free(pj);
    free(ndist);
    free(grp);
    free(goff);
    free(gidx);
    free(CG);
    free(cnG);
    free(cum);
    free(stamp);
    free(lb);
    free(gscr);
    free(gpo);
    free(CGp);
    if (s != CT_OK) {
        free(out->skipped);
        out->skipped = NULL;
    }
    return s;
}

/* Squared distances of every row to `m` candidate centres (m x d, double),
 * reduced per row by fn. */
typedef struct KM_SUF(cand) {
    const KM_REAL *X, *xn;
    const KM_REAL *CR, *cn;
    size_t d, m, tr;
    km_cand_fn fn;
    void *fctx;
} KM_SUF(cand);

static ct_status KM_SUF(cand_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    KM_SUF(cand) *P = vctx;
    KM_REAL *G = malloc(P->tr * P->m * sizeof *G);
    double *row = malloc(P->m * sizeof *row);
    if (G == NULL || row == NULL) {
        free(G);
        free(row);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t r0 = begin; r0 < end; r0 += P->tr) {
        size_t nr = end - r0 < P->tr ? end - r0 : P->tr;
        KM_SUF(dots)(P->X + r0 * P->d, nr, P->d, P->CR, P->m, G);
        for (size_t r = 0; r < nr; r++) {
            for (size_t t = 0; t < P->m; t++) {
                double d2 = (double)P->xn[r0 + r] + (double)P->cn[t] - 2.0 * (double)G[r * P->m + t];
                row[t] = d2 > 0 ? d2 : 0.0;
            }
            P->fn(P->fctx, b, r0 + r, row, P->m);
        }
    }
    free(G);
    free(row);
    return CT_OK;
}

static ct_status KM_SUF(candidates)(const km_ctx *K, const void *Xv, const void *xnv,
                                    const double *cand, size_t m, km_cand_fn fn, void *fctx,
                                    ct_error *err)
{
    KM_REAL *CR = malloc(m * K->d * sizeof *CR), *cn = malloc(m * sizeof *cn);
    if (CR == NULL || cn == NULL) {
        free(CR);
        free(cn);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    KM_SUF(to_real)(cand, m, K->d, CR, cn);
    size_t tr = m > 0 ? 65536 / m : 256;
    tr = tr < 16 ? 16 : tr > 512 ? 512 : tr;
    KM_SUF(cand) P = {Xv, xnv, CR, cn, K->d, m, tr, fn, fctx};
    ct_status s = ct_par_for(K->n, K->rb, K->threads, KM_SUF(cand_block), &P, err);
    free(CR);
    free(cn);
    return s;
}

/* The slack for the rounding of xn + zn - 2 x.z: (d + 2) units of KM_EPS / 2
 * of |x|^2 + |z|^2, and as much for D: twice that, with room. */
static double KM_SUF(pp_delta)(size_t d, double xnmax, double znmax)
{
    return 2 * ((double)d + 4) * (double)KM_EPS * (xnmax + znmax);
}

/* k-means|| rounds through the fused kernel (km_cmin_fn): per row the first
 * candidate with the smallest |c|^2 - 2 x.c (each x.c one FMA chain, so
 * the bits do not depend on the tile or the thread), d2 = |x|^2 + that
 * (0 at least), and closest lowered only when d2 is smaller (ties keep the
 * earlier candidate).  Against GEMM, the per-candidate distances and the
 * scan (what a round cost): k-means|| on 2M x 32, k = 64, 2.3-2.9 s ->
 * 0.81-0.92 s (2 threads, alternated).
 *
 * Pruned (Raff 2021, as greedy k-means++ below): a new candidate z can
 * lower a row's closest D only if |c_near - z|^2 < 4 (D + delta), delta
 * the rounding of the expanded distances (pp_delta, per row).  Each earlier
 * candidate's new ones sorted by that distance make a row's candidates a
 * prefix of its near's list.  The lists are cut into chunks of L (the
 * vector's lanes), each laid out transposed (km_chunks' layout), and a row is
 * measured against the chunks that hold its prefix, candidates in the
 * lanes (km_chunks: the same |c|^2 - 2 x.c, bit for bit): a superset of
 * its prefix holds every candidate that can lower its D, so the minimum,
 * first index among ties, is that over all candidates, and the round's
 * closest and near are those of measuring every candidate
 * (CLVTIER_PP_NOPRUNE=1).  On the bench's blobs (10M x 32, k = 64) a row's
 * prefix is 7-9 of the round's 112-139 candidates after the first round.
 * The chunks are built per tile where a group of rows first needs them
 * (km_chunk_build, into a ring of CMIN_HALVES), not stored per list: a
 * stored table of every list's chunks (64 MB at 2M x 32, k = 256) came from
 * DRAM and doubled the seeding at large k, and stored only where it fits
 * 16 MB it was level at k = 64 (10M x 32: 1.65-1.84 s against 1.66-1.77,
 * alternated).  A row whose prefix reaches past half the list (nall
 * chunks) is measured against all of the candidates in index order with
 * the fused kernel, as is a tile where more than
 * three quarters of the rows would be (streamed), and rows of fewer than
 * 12 columns (cand_min).  A first round of 64 candidates or more splits
 * (cmin_pruned). */
typedef struct KM_SUF(cmin) {
    const KM_REAL *X, *xn, *CR, *cn;
    size_t d, m;
    double *closest;
    int32_t *near;
    size_t first;
    const uint32_t *ord; /* per earlier candidate (then per one of the split's s): the new
                          * ones (m), nearest first; NULL: every row against every one */
    size_t lanes, chs;   /* a chunk: lanes candidates, chs values (km_chunks' layout) */
    size_t nall;         /* a row whose prefix needs more chunks takes every candidate */
    const double *thr;   /* the same rows, nthr each: the squared distance that opens
                          * chunk j (1 - 1e-12), +inf past the list */
    size_t nthr;
    double deps, znmax;  /* delta of a row: deps (|x|^2 + znmax) */
    km_pool *pool;       /* the pruned tiles' scratch */
    size_t s;            /* split: s of the round's candidates measured first for every row
                          * (0: none); CR, cn and m are then the others' */
    const KM_REAL *CS, *csn;    /* those s (s x d) and their |z|^2 */
    const uint32_t *sidx, *ridx; /* the s and the others' indices in the round, ascending */
} KM_SUF(cmin);

#define CMIN_TILE 512           /* rows measured against all candidates at a time */
#define CMIN_ROWS 16384         /* a pruned tile's rows (see cmin_tile) */
#define CMIN_HALVES 16          /* km_chunks' halves (four items each) a call */

/* Row i's result: candidate t (its index in the round) at kernel value v,
 * or with a split the first half's (vs, ts) where that is smaller or tied
 * at a lower index; closest and near follow where it lowers closest. */
static inline void KM_SUF(cmin_take)(const KM_SUF(cmin) *P, size_t i, KM_REAL v, uint32_t t,
                                     KM_REAL vs, uint32_t ts)
{
    if (P->s > 0 && !(v < vs || (v == vs && t < ts))) {
        v = vs;
        t = ts;
    }
    double d2 = (double)P->xn[i] + (double)v;
    d2 = d2 > 0 ? d2 : 0.0;
    if (d2 < P->closest[i]) {
        P->closest[i] = d2;
        if (P->near != NULL) {
            P->near[i] = (int32_t)(P->first + t);
        }
    }
}

/* The rows begin..begin + nr against every candidate of CR in index order
 * (fused, streamed), each combined with its first half (vs, ts: split
 * only; NULL otherwise): -1 no kernel. */
static int KM_SUF(cmin_all)(const KM_SUF(cmin) *P, size_t begin, size_t nr, const KM_REAL *vs,
                            const uint32_t *ts)
{
    int32_t lab[CMIN_TILE];
    KM_REAL v1[CMIN_TILE];
    for (size_t r0 = 0; r0 < nr; r0 += CMIN_TILE) {
        size_t nt = nr - r0 < CMIN_TILE ? nr - r0 : CMIN_TILE;
        if (KM_SUF(km_assign)(P->X + (begin + r0) * P->d, nt, P->d, P->CR, P->cn, P->m, lab, v1,
                              NULL) != 0) {
            return -1;
        }
        for (size_t r = 0; r < nt; r++) {
            uint32_t t = P->s > 0 ? P->ridx[lab[r]] : (uint32_t)lab[r];
            KM_SUF(cmin_take)(P, begin + r0 + r, v1[r], t, vs != NULL ? vs[r0 + r] : 0,
                              vs != NULL ? ts[r0 + r] : 0);
        }
    }
    return 0;
}

/* The chunks of a row's prefix: how many of thr (+inf past the list) lie
 * under lim, eight at a time (the count is branch-free). */
#ifndef KM_V2D_DEFINED
#define KM_V2D_DEFINED
typedef double km_v2d __attribute__((vector_size(16)));
typedef long long km_v2l __attribute__((vector_size(16)));
#endif
static inline size_t KM_SUF(cmin_nchunks)(const double *thr, double lim)
{
    size_t c = 0, n8;
    km_v2d l2 = {lim, lim};
    do {
        km_v2d t0, t1, t2, t3;
        memcpy(&t0, thr + c, sizeof t0);
        memcpy(&t1, thr + c + 2, sizeof t1);
        memcpy(&t2, thr + c + 4, sizeof t2);
        memcpy(&t3, thr + c + 6, sizeof t3);
        km_v2l m = (t0 < l2) + (t1 < l2) + ((t2 < l2) + (t3 < l2)); /* -1 where under */
        n8 = (size_t)(-(m[0] + m[1]));
        c += n8;
    } while (n8 == 8);
    return c;
}

/* cmin_tile's queue of km_chunks' items: halves of four rows with a chunk each. */
typedef struct KM_SUF(cmin_q) {
    const KM_REAL *x[4 * CMIN_HALVES], *z[CMIN_HALVES];
    uint32_t r[4 * CMIN_HALVES], t[4 * CMIN_HALVES]; /* r: the item's row, UINT32_MAX: a pad */
    KM_REAL v[4 * CMIN_HALVES];
    size_t n; /* items queued: whole halves */
} KM_SUF(cmin_q);

/* The queued items measured, each row's least value (least index where
 * tied) kept in vb, tb; the queue emptied.  -1: no kernel. */
static int KM_SUF(cmin_flush)(KM_SUF(cmin_q) *Q, size_t d, KM_REAL *vb, uint32_t *tb)
{
    if (Q->n > 0 && KM_SUF(km_chunks)(Q->x, Q->z, Q->n / 4, d, Q->v, Q->t) != 0) {
        return -1;
    }
    for (size_t e = 0; e < Q->n; e++) {
        uint32_t r = Q->r[e];
        if (r != UINT32_MAX && (Q->v[e] < vb[r] || (Q->v[e] == vb[r] && Q->t[e] < tb[r]))) {
            vb[r] = Q->v[e];
            tb[r] = Q->t[e];
        }
    }
    Q->n = 0;
    return 0;
}

/* The rows begin..end (at most CMIN_ROWS) against their prefixes: 0, -1
 * no kernel.  First each row's chunk count (its reads of X started, in row
 * order); then the rows grouped by near (a counting sort), and per group
 * and chunk its rows that need the chunk, four to a half, go to km_chunks
 * (a chunk is loaded once for four rows); a row's result is the least value
 * over its items, the least index where tied.  The rows past nall chunks
 * are copied together and measured against all candidates.  A
 * group's chunk j is built in the ring where its first half needs it and
 * serves the group's later halves until the queue is flushed.  Bigger tiles
 * leave fewer halves part empty: 8,192 rows against 2,048 at 10M x 32,
 * k = 64, 1.33-1.80 halves' slots a row against 1.35-2.26 (for 1.22-1.64
 * items a row), seeding 1.62-1.64 s against 1.90 (2 threads, alternated in
 * one process); CMIN_ROWS is 16,384 (4 MB of X at 32 columns, one block at
 * 10M rows), the rows coming back from L3 or DRAM once more.
 *
 * Split (P->s > 0, the first round: every row's D is the distance to one
 * point, so no row's prefix is short): the s candidates spread farthest
 * apart are measured first for every row, with the fused kernel in row
 * order; the row's nearest of them (vs, ts) then bounds the others as an
 * earlier candidate would (near' and D' = min(D, its distance) choose and
 * cut the prefix), and the round's minimum is the smaller of the two
 * halves' kernel values, the lower index where they tie (cmin_take): the
 * value and index a pass over all the candidates gives, compared before
 * |x|^2 is added, as the fused kernel compares them. */
static int KM_SUF(cmin_tile)(const KM_SUF(cmin) *P, size_t begin, size_t end, unsigned char *mem)
{
    size_t nr = end - begin, d = P->d, na = P->first, ne = na + P->s;
    size_t nall = P->nall, chs = P->chs, L = P->lanes, m = P->m;
    size_t ns = P->s > 0 ? nr : 0;
    unsigned char *p = mem;
    uint32_t *nch = km_carve(&p, nr, sizeof *nch), *grp = km_carve(&p, nr, sizeof *grp);
    uint32_t *rows = km_carve(&p, nr, sizeof *rows), *at = km_carve(&p, ne + 1, sizeof *at);
    uint32_t *tb = km_carve(&p, nr, sizeof *tb), *ts = km_carve(&p, ns, sizeof *ts);
    KM_REAL *vb = km_carve(&p, nr, sizeof *vb), *vs = km_carve(&p, ns, sizeof *vs);
    KM_REAL *Xb = km_carve(&p, CMIN_TILE * d, sizeof *Xb);
    KM_REAL *ring = km_carve(&p, CMIN_HALVES * chs, sizeof *ring); /* chunks built, by half */
    int32_t lt[CMIN_TILE];
    int rc = 0;
    /* the split's first half, row by row: vs, ts (its index in the round) and
     * near' (grp) */
    for (size_t r0 = 0; r0 < ns && rc == 0; r0 += CMIN_TILE) {
        size_t nt = ns - r0 < CMIN_TILE ? ns - r0 : CMIN_TILE;
        if (KM_SUF(km_assign)(P->X + (begin + r0) * d, nt, d, P->CS, P->csn, P->s, lt, vs + r0,
                              NULL) != 0) {
            rc = -1;
            break;
        }
        for (size_t r = r0; r < r0 + nt; r++) {
            ts[r] = P->sidx[lt[r - r0]];
            grp[r] = (uint32_t)(na + (size_t)lt[r - r0]);
        }
    }
    /* each row's chunks: 0 (no candidate can lower D), 1..nall, or nall + 1
     * (all candidates) */
    size_t nfull = 0;
    memset(at, 0, (ne + 1) * sizeof *at);
    for (size_t r = 0; r < nr && rc == 0; r++) {
        size_t i = begin + r, a = (size_t)P->near[i];
        double D = P->closest[i];
        for (size_t o = 0; o < d * sizeof(KM_REAL); o += 64) {
            __builtin_prefetch((const char *)(P->X + i * d) + o);
        }
        if (ns > 0) {
            double d2 = (double)P->xn[i] + (double)vs[r];
            d2 = d2 > 0 ? d2 : 0.0;
            a = d2 < D ? grp[r] : a;
            D = d2 < D ? d2 : D;
        }
        double lim = 4 * (D + P->deps * ((double)P->xn[i] + P->znmax));
        size_t c = KM_SUF(cmin_nchunks)(P->thr + a * P->nthr, lim);
        nch[r] = (uint32_t)(c > nall ? nall + 1 : c);
        grp[r] = (uint32_t)a;
        nfull += c > nall;
        at[a] += c > 0 && c <= nall;
    }
    if (rc == 0 && 4 * nfull > 3 * nr) { /* mostly rows taking all: streamed */
        return KM_SUF(cmin_all)(P, begin, nr, ns > 0 ? vs : NULL, ts);
    }
    /* the rows with chunks, grouped by near (at[a]: group a's start) */
    size_t npre = 0;
    for (size_t a = 0; a < ne; a++) {
        uint32_t h = at[a];
        at[a] = (uint32_t)npre;
        npre += h;
    }
    for (size_t r = 0; r < nr && rc == 0; r++) {
        if (nch[r] > 0 && nch[r] <= nall) {
            rows[at[grp[r]]++] = (uint32_t)r;
        }
        vb[r] = (KM_REAL)INFINITY;
        tb[r] = UINT32_MAX;
    }
    /* per group and chunk j, its rows that need j, four to a half (the last
     * padded with its last row, whose result is dropped) */
    KM_SUF(cmin_q) Q;
    Q.n = 0;
    for (size_t a = 0, g0 = 0; a < ne && rc == 0; g0 = at[a], a++) {
        uint32_t mx = 0;
        for (size_t q = g0; q < at[a]; q++) {
            mx = nch[rows[q]] > mx ? nch[rows[q]] : mx;
        }
        for (uint32_t j = 0; j < mx && rc == 0; j++) {
            /* built in the ring at the half that first needs it (it stays
             * there until the queue is flushed) */
            const KM_REAL *z = NULL;
            for (size_t q = g0; q < at[a] && rc == 0; q++) {
                if (nch[rows[q]] > j) {
                    if (z == NULL) {
                        KM_REAL *zb = ring + (Q.n / 4) * chs;
                        if (KM_SUF(km_chunk_build)(zb, P->CR, P->cn, P->ord + a * m + j * L,
                                                   m - j * L < L ? m - j * L : L, d) != 0) {
                            rc = -1;
                            break;
                        }
                        z = zb;
                    }
                    if (Q.n % 4 == 0) {
                        Q.z[Q.n / 4] = z;
                    }
                    Q.x[Q.n] = P->X + (begin + rows[q]) * d;
                    Q.r[Q.n++] = rows[q];
                    if (Q.n == 4 * CMIN_HALVES) {
                        rc = KM_SUF(cmin_flush)(&Q, d, vb, tb);
                        z = NULL; /* the ring is free again */
                    }
                }
            }
            for (; Q.n % 4 != 0; Q.n++) { /* pad the half */
                Q.x[Q.n] = Q.x[Q.n - 1];
                Q.r[Q.n] = UINT32_MAX;
            }
            rc = rc == 0 && Q.n == 4 * CMIN_HALVES ? KM_SUF(cmin_flush)(&Q, d, vb, tb) : rc;
        }
    }
    rc = rc == 0 ? KM_SUF(cmin_flush)(&Q, d, vb, tb) : rc;
    /* the results in row order; the rows taking all, CMIN_TILE at a time */
    size_t nx = 0;
    for (size_t r = 0; r <= nr && rc == 0; r++) {
        if (nx == CMIN_TILE || (r == nr && nx > 0)) {
            KM_REAL v1[CMIN_TILE];
            if (KM_SUF(km_assign)(Xb, nx, d, P->CR, P->cn, P->m, lt, v1, NULL) != 0) {
                rc = -1;
                break;
            }
            for (size_t e = 0; e < nx; e++) {
                uint32_t rr = rows[e], t = P->s > 0 ? P->ridx[lt[e]] : (uint32_t)lt[e];
                KM_SUF(cmin_take)(P, begin + rr, v1[e], t, ns > 0 ? vs[rr] : 0,
                                  ns > 0 ? ts[rr] : 0);
            }
            nx = 0;
        }
        if (r == nr) {
            break;
        }
        if (nch[r] > nall) {
            memcpy(Xb + nx * d, P->X + (begin + r) * d, d * sizeof *Xb);
            rows[nx++] = (uint32_t)r; /* rows[] is free again */
        } else if (nch[r] > 0 && tb[r] < P->m) { /* (not where every value overflowed) */
            uint32_t t = P->s > 0 ? P->ridx[tb[r]] : tb[r];
            KM_SUF(cmin_take)(P, begin + r, vb[r], t, ns > 0 ? vs[r] : 0, ns > 0 ? ts[r] : 0);
        } else if (ns > 0) { /* no other candidate can lower D': S's */
            KM_SUF(cmin_take)(P, begin + r, vs[r], ts[r], vs[r], ts[r]);
        }
    }
    return rc;
}

/* Scratch of a tile of nr rows. */
static size_t KM_SUF(cmin_bytes)(const KM_SUF(cmin) *P, size_t nr)
{
    size_t ns = P->s > 0 ? nr : 0;
    return 4 * km_carved(nr, sizeof(uint32_t)) + km_carved(P->first + P->s + 1, sizeof(uint32_t)) +
           km_carved(ns, sizeof(uint32_t)) + km_carved(nr, sizeof(KM_REAL)) +
           km_carved(ns, sizeof(KM_REAL)) + km_carved(CMIN_TILE * P->d, sizeof(KM_REAL)) +
           km_carved(CMIN_HALVES * P->chs, sizeof(KM_REAL));
}

static int KM_SUF(cmin_pruned)(const KM_SUF(cmin) *P, size_t begin, size_t end)
{
    int pslot, rc = 0;
    unsigned char *mem = km_pool_take(P->pool, KM_SUF(cmin_bytes)(P, CMIN_ROWS), &pslot);
    if (mem == NULL) {
        return -2;
    }
    for (size_t r0 = begin; r0 < end && rc == 0; r0 += CMIN_ROWS) {
        rc = KM_SUF(cmin_tile)(P, r0, end - r0 < CMIN_ROWS ? end : r0 + CMIN_ROWS, mem);
    }
    km_pool_give(P->pool, pslot, mem);
    return rc;
}

static ct_status KM_SUF(cmin_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const KM_SUF(cmin) *P = vctx;
    (void)b;
    for (size_t i = begin; i < end && P->first == 0; i++) { /* the first centre: from +inf */
        P->closest[i] = CT_INF;
        if (P->near != NULL) {
            P->near[i] = 0;
        }
    }
    int rc = P->ord != NULL ? KM_SUF(cmin_pruned)(P, begin, end) : 1;
    if (rc == 1) {
        rc = KM_SUF(cmin_all)(P, begin, end - begin, NULL, NULL);
    }
    if (rc == -2) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    return rc == 0 ? CT_OK : ct_fail(err, CT_EINTERNAL, "k-means||: no fused kernel");
}

/* Each earlier candidate's new ones, nearest first (ties by index); once
 * for both halves. */
#ifndef KM_DZ_DEFINED
#define KM_DZ_DEFINED
typedef struct {
    double v;
    uint32_t t;
} km_dz;

static int km_dz_cmp(const void *pa, const void *pb)
{
    const km_dz *a = pa, *b = pb;
    return a->v < b->v ? -1 : a->v > b->v ? 1 : a->t < b->t ? -1 : a->t > b->t;
}
#endif

/* |a - b|^2 over d doubles, in order. */
static double KM_SUF(cand_sqdist)(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t c = 0; c < d; c++) {
        s += (a[c] - b[c]) * (a[c] - b[c]);
    }
    return s;
}

/* The split's first half: CMIN_SPLIT of the m new candidates, each the
 * farthest from the earlier ones and those taken so far (ties to the lower
 * index), into sidx ascending; the others into ridx ascending. */
#define CMIN_SPLIT 16
static void KM_SUF(cand_spread)(const double *cand, size_t first, size_t m, size_t d, size_t s,
                                double *mind, unsigned char *in, uint32_t *sidx, uint32_t *ridx)
{
    for (size_t t = 0; t < m; t++) {
        mind[t] = CT_INF;
        for (size_t a = 0; a < first; a++) {
            double v = KM_SUF(cand_sqdist)(cand + a * d, cand + (first + t) * d, d);
            mind[t] = v < mind[t] ? v : mind[t];
        }
    }
    memset(in, 0, m);
    for (size_t q = 0; q < s; q++) {
        size_t best = m;
        for (size_t t = 0; t < m; t++) {
            if (!in[t] && (best == m || mind[t] > mind[best])) {
                best = t;
            }
        }
        in[best] = 1;
        for (size_t t = 0; t < m; t++) {
            double v = KM_SUF(cand_sqdist)(cand + (first + best) * d, cand + (first + t) * d, d);
            mind[t] = v < mind[t] ? v : mind[t];
        }
    }
    size_t ns = 0, nr = 0;
    for (size_t t = 0; t < m; t++) {
        if (in[t]) {
            sidx[ns++] = (uint32_t)t;
        } else {
            ridx[nr++] = (uint32_t)t;
        }
    }
}

/* cand_min's lists: per earlier candidate a (then per one of the split's
 * s), the new ones nearest first (ord) and the squared distance that opens
 * each chunk of L (thr). */
typedef struct KM_SUF(lists) {
    const double *cand, *cs;
    size_t first, s, mr, d, L, nreal, nthr;
    double *thr;
    uint32_t *ord;
} KM_SUF(lists);

static ct_status KM_SUF(lists_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const KM_SUF(lists) *Ls = vctx;
    size_t mr = Ls->mr, d = Ls->d, nthr = Ls->nthr;
    km_dz *tmp = malloc((mr + 1) * sizeof *tmp);
    (void)b;
    if (tmp == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t a = begin; a < end; a++) {
        const double *x = a < Ls->first ? Ls->cand + a * d : Ls->cs + (a - Ls->first) * d;
        for (size_t t = 0; t < mr; t++) {
            tmp[t] = (km_dz){KM_SUF(cand_sqdist)(x, Ls->cs + (Ls->s + t) * d, d), (uint32_t)t};
        }
        qsort(tmp, mr, sizeof *tmp, km_dz_cmp);
        for (size_t j = 0; j < nthr; j++) {
            Ls->thr[a * nthr + j] = j < Ls->nreal ? tmp[j * Ls->L].v * (1 - 1e-12) : CT_INF;
        }
        for (size_t t = 0; t < mr; t++) {
            Ls->ord[a * mr + t] = tmp[t].t;
        }
    }
    free(tmp);
    return CT_OK;
}

static int KM_SUF(cand_min)(const km_ctx *K, const void *Xv, const void *xnv, const double *cand,
                            size_t first, size_t m, double *closest, int32_t *near,
                            ct_status *st, ct_error *err)
{
    size_t d = K->d;
    if (km_dots_isa() == 0 || d > KM_DOTS_MAXD || m > KM_ASSIGN_MAXK) {
        return -1;
    }
    /* below 12 columns the fused kernel measures a row against every
     * candidate in fewer cycles than finding and grouping its prefix (2M x
     * 6 customers, k = 64: 1.0 s against 1.4 s; 2M x 12: 1.57 against 1.49) */
    int prune = near != NULL && first > 0 && d >= 12 && getenv("CLVTIER_PP_NOPRUNE") == NULL;
    /* fewer earlier candidates than CMIN_SPLIT (the first round): split */
    size_t s = prune && first < CMIN_SPLIT && m >= 4 * CMIN_SPLIT ? CMIN_SPLIT : 0;
    size_t mr = m - s, ne = first + s; /* the candidates pruned, the tables' rows */
    /* a row whose prefix needs more than half the list (nall chunks) takes all */
    size_t L = km_chunk_lanes(sizeof(KM_REAL)), chs = (d + 2) * L;
    size_t nreal = (mr + L - 1) / L, nall = (mr / 2 + L - 1) / L;
    nall = nall < 1 ? 1 : nall > nreal ? nreal : nall;
    size_t nthr = (nreal + 7) / 8 * 8 + 8; /* +inf from nreal on, 8 at least */
    KM_REAL *CR = malloc(m * d * sizeof *CR), *cn = malloc(m * sizeof *cn);
    double *thr = prune ? malloc(ne * nthr * sizeof *thr) : NULL;
    uint32_t *ord = prune ? malloc(ne * mr * sizeof *ord) : NULL;
    uint32_t *sidx = malloc((m + 1) * sizeof *sidx), *ridx = malloc((m + 1) * sizeof *ridx);
    double *mind = malloc((m + 1) * sizeof *mind), *cs = malloc((m + 1) * d * sizeof *cs);
    unsigned char *in = malloc(m + 1);
    if (!CR || !cn || !sidx || !ridx || !mind || !cs || !in ||
        (prune && (!thr || !ord))) {
        free(in);
        free(ord);
        free(CR);
        free(cn);
        free(thr);
        free(sidx);
        free(ridx);
        free(mind);
        free(cs);
        *st = ct_fail(err, CT_ENOMEM, "out of memory");
        return 0;
    }
    if (s > 0) {
        KM_SUF(cand_spread)(cand, first, m, d, s, mind, in, sidx, ridx);
    } else {
        for (size_t t = 0; t < m; t++) {
            ridx[t] = (uint32_t)t;
        }
    }
    /* cs: the candidates in split order (S, then the others); CR: the others */
    for (size_t t = 0; t < m; t++) {
        size_t from = t < s ? sidx[t] : ridx[t - s];
        memcpy(cs + t * d, cand + (first + from) * d, d * sizeof *cs);
    }
    KM_SUF(to_real)(cs + s * d, mr, d, CR, cn);
    KM_SUF(to_real)(cs, s, d, CR + mr * d, cn + mr); /* S after the others */
    double znmax = 0;
    for (size_t a = 0; a < first + m && prune; a++) {
        double v = 0;
        for (size_t c = 0; c < d; c++) {
            v += cand[a * d + c] * cand[a * d + c];
        }
        znmax = v > znmax ? v : znmax;
    }
    KM_SUF(lists) Ls = {cand, cs, first, s, mr, d, L, nreal, nthr, thr, ord};
    if (prune) { /* the lists, sorted in blocks of 16 on the threads */
        *st = ct_par_for(ne, 16, K->threads, KM_SUF(lists_block), &Ls, err);
    }
    /* pp_delta's slack, per row: the candidates' largest |z|^2 (1.5 for the
     * rounding of znmax itself) */
    km_pool pool;
    km_pool_init(&pool);
    KM_SUF(cmin) P = {Xv, xnv, CR, cn, d, mr, closest, near, first,
                      ord, L, chs, nall, thr, nthr, KM_SUF(pp_delta)(d, 1, 0), 1.5 * znmax, &pool,
                      s, CR + mr * d, cn + mr, sidx, ridx};
    if (*st == CT_OK) {
        *st = ct_par_for(K->n, K->rb, K->threads, KM_SUF(cmin_block), &P, err);
    }
    km_pool_free(&pool);
    free(CR);
    free(cn);
    free(thr);
    free(ord);
    free(sidx);
    free(ridx);
    free(mind);
    free(cs);
    free(in);
    return 0;
}

/* ---- greedy k-means++ with pruned passes ------------------------------------
 * The choices of km_plusplus (the same trials, potentials and picks) with
 * far fewer distances (Raff 2021, "Exact acceleration of k-means++ and
 * k-means||").  Per row: D, the squared distance to the nearest centre chosen
 * so far, and near, its index.  A candidate z can lower D only if
 * |c_near - z| < 2 sqrt(D) (triangle inequality); with the rounding of the
 * expanded distances (delta) the test is |c_near - z|^2 < 4 (D + delta), so a
 * row that fails it would have come out with min(D, d2) = D anyway, and is
 * not computed.  The rows that pass are gathered into tiles and computed
 * with the FMA-chain kernel, whose bits do not depend on the tile: the
 * potentials (summed per reduction block in row order) are those of
 * computing every row (CLVTIER_PP_NOPRUNE=1 does, for the tests).  D^2
 * sampling walks the block totals (pp_sample). */

typedef struct KM_SUF(ppj) {
    const km_ctx *K;
    const KM_REAL *X, *xn;
    double *D;
    int32_t *near;
    const KM_REAL *Z, *zn; /* m candidates (m x d), |z|^2 */
    size_t m;
    int update;            /* 1: one candidate, the new centre newj: lower D; 0: potentials */
    int pend;              /* potentials whose column 0 is the last centre chosen (newj), not
                            * yet applied: it lowers D first, the trials are columns 1.. */
    int32_t newj;
    const double *dz2;     /* per centre so far: the least squared distance to a candidate */
    double delta;
    int prune;
    double *part; /* per block: potentials (m) or, updating, the block's total */
    size_t tr;
} KM_SUF(ppj);

/* A measured row i (g: its m values in G): the last centre chosen first
 * where it is pending (it lowers D and near: D as the trials see it), then
 * vb[t] = w min(D, d2_t) for the trials t = pend.. m (km_plusplus's d2),
 * D and near following when updating. */
static void KM_SUF(pp_row)(KM_SUF(ppj) *P, size_t i, const KM_REAL *g, double wi, double *vb)
{
    size_t m = P->m;
    double Di = P->D[i];
    if (P->pend) {
        double d2 = (double)P->xn[i] + (double)P->zn[0] - 2.0 * (double)g[0];
        d2 = d2 > 0 ? d2 : 0.0;
        if (d2 < Di) {
            P->D[i] = Di = d2;
            P->near[i] = P->newj;
        }
    }
    for (size_t t = (size_t)P->pend; t < m; t++) {
        double d2 = (double)P->xn[i] + (double)P->zn[t] - 2.0 * (double)g[t];
        d2 = d2 > 0 ? d2 : 0.0;
        double v = d2 < Di ? d2 : Di;
        if (P->update && v < Di) {
            P->D[i] = v;
            P->near[i] = P->newj;
        }
        vb[t] = wi * v;
    }
}

/* Rows r0.. r0 + nr in order: v_t = min(D, d2_t) where computed (at[r]:
 * the row in G; tr: left out by the triangle test, v_t = D), pot[t] += w
 * v_t; updating, D and near follow.  The sums run in a local array (m <=
 * 64): no store to D can alias them. */
static void KM_SUF(pp_sums)(KM_SUF(ppj) *P, size_t r0, size_t nr, const uint32_t *at,
                            const KM_REAL *G, double *pot)
{
    size_t m = P->m;
    double a[64];
    memcpy(a, pot, m * sizeof *a);
    for (size_t r = 0; r < nr; r++) {
        size_t i = r0 + r;
        double wi = P->K->w != NULL ? P->K->w[i] : 1.0, vb[64];
        if (at[r] == P->tr) {
            double v = wi * P->D[i];
            for (size_t t = (size_t)P->pend; t < m; t++) {
                a[t] += v;
            }
            continue;
        }
        KM_SUF(pp_row)(P, i, G + at[r] * m, wi, vb);
        for (size_t t = (size_t)P->pend; t < m; t++) {
            a[t] += vb[t];
        }
    }
    memcpy(pot, a, m * sizeof *pot);
}

/* A block's rows a tile at a time: the rows the triangle test keeps are
 * gathered into G (the rest point at its last row, tr, of -inf: their
 * d2 is +inf, so v = D, as before), then summed in row order; up to 8
 * columns (k below 403) the vector kernel km_pp_rows does the sums, every
 * row through the same operations without a branch on whether it was
 * measured (the scalar sums' branches and per-column loops had been 40 %
 * of greedy k-means++'s time at 10M x 32, k = 64). */
static ct_status KM_SUF(pp_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    KM_SUF(ppj) *P = vctx;
    size_t d = P->K->d, m = P->m, tr = P->tr;
    KM_REAL *G = malloc((tr + 1) * m * sizeof *G);
    size_t *idx = malloc(tr * sizeof *idx);
    uint32_t *at = malloc(tr * sizeof *at);
    if (!G || !idx || !at) {
        free(G);
        free(idx);
        free(at);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t t = 0; t < m; t++) {
        G[tr * m + t] = (KM_REAL)-INFINITY;
    }
    double *pot = P->part + b * m, acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memset(pot, 0, m * sizeof *pot);
    int vec = m <= 8, low0 = P->pend || P->update;
    for (size_t r0 = begin; r0 < end; r0 += tr) {
        size_t nr = end - r0 < tr ? end - r0 : tr, na = 0;
        for (size_t r = 0; r < nr; r++) {
            size_t i = r0 + r;
            /* some dz_t (1 - 1e-12) < lim exactly when the least does (rounding is monotone) */
            int need = !P->prune || P->dz2[P->near[i]] * (1 - 1e-12) < 4 * (P->D[i] + P->delta);
            at[r] = need ? (uint32_t)na : (uint32_t)tr;
            idx[na] = i;
            na += (size_t)need;
        }
        if (P->K->measured != NULL) { /* block b is this thread's alone during a pass */
            P->K->measured[b] += na;
        }
        int rc = na > 0 ? KM_SUF(km_dots_chain)(P->X, idx, na, d, P->Z, m, G) : 0;
        if (rc == 0 && vec) {
            rc = KM_SUF(km_pp_rows)(P->xn + r0, P->zn, G, at, nr, m, P->pend, low0, P->newj,
                                    P->K->w != NULL ? P->K->w + r0 : NULL, P->D + r0,
                                    P->near + r0, acc);
        } else if (rc == 0) {
            KM_SUF(pp_sums)(P, r0, nr, at, G, pot);
        }
        if (rc != 0) {
            free(G);
            free(idx);
            free(at);
            return rc == -2 ? ct_fail(err, CT_ENOMEM, "out of memory")
                            : ct_fail(err, CT_EINTERNAL, "k-means++: no FMA-chain kernel");
        }
    }
    for (size_t t = (size_t)P->pend; t < m && vec; t++) {
        pot[t] = acc[t];
    }
    free(G);
    free(idx);
    free(at);
    return CT_OK;
}

/* |a - b|^2 over d values, in double. */
static double KM_SUF(real_sqdist)(const KM_REAL *a, const KM_REAL *b, size_t d)
{
    double s2 = 0;
    for (size_t q = 0; q < d; q++) {
        double e = (double)a[q] - (double)b[q];
        s2 += e * e;
    }
    return s2;
}

static int KM_SUF(pp_pruned)(const km_ctx *K, const void *Xv, const void *xnv, ct_rng *g,
                             double *C, ct_status *st, ct_error *err)
{
    const KM_REAL *X = Xv, *xn = xnv;
    size_t n = K->n, d = K->d, k = K->k, L = 2 + (size_t)log((double)k);
    if (L > 63 || km_dots_isa() == 0 || d > KM_DOTS_MAXD) {
        return -1; /* d > 32 or no SIMD: km_plusplus's full passes */
    }
    size_t nb = ct_par_nblocks(n, K->rb), M = L + 1; /* the last centre, then the trials */
    double *D = ct_malloc_big(n, sizeof *D), *part = malloc(nb * M * sizeof *part);
    double *btot = malloc(nb * sizeof *btot), *dz2 = malloc(k * sizeof *dz2);
    double *scratch = malloc(nb * sizeof *scratch), *dzu = malloc(k * sizeof *dzu);
    int32_t *near = ct_calloc_table(n, sizeof *near);
    KM_REAL *Z = malloc(M * d * sizeof *Z), *zn = malloc(M * sizeof *zn);
    KM_REAL *CR = malloc(k * d * sizeof *CR), *crn = malloc(k * sizeof *crn);
    double *cand = malloc(M * d * sizeof *cand), pot[64];
    unsigned char *fresh = calloc(nb, 1); /* blocks whose D has the last centre already */
    ct_status s = CT_OK;
    if (!D || !part || !btot || !dz2 || !scratch || !dzu || !near || !Z || !zn || !CR || !crn ||
        !cand || !fresh) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    double xnmax = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        xnmax = (double)xn[i] > xnmax ? (double)xn[i] : xnmax;
    }
    size_t tr = 512;
    int prune = getenv("CLVTIER_PP_NOPRUNE") == NULL;
    /* the first centre; every row's distance to it (D starts at +inf: nothing pruned) */
    if (s == CT_OK) {
        size_t i0 = weighted_pick(K, g);
        KM_SUF(row_copy)(X, i0, d, C);
        KM_SUF(to_real)(C, 1, d, CR, crn);
        for (size_t i = 0; i < n; i++) {
            D[i] = CT_INF;
        }
        double dz_inf = 0;
        KM_SUF(ppj) P = {.K = K, .X = X, .xn = xn, .D = D, .near = near, .Z = CR, .zn = crn,
                         .m = 1, .update = 1, .newj = 0, .dz2 = &dz_inf, .part = btot, .tr = tr};
        s = ct_par_for(n, K->rb, K->threads, KM_SUF(pp_block), &P, err);
    }
    double cur = 0, crmax = s == CT_OK ? (double)crn[0] : 0;
    for (size_t b = 0; b < nb && s == CT_OK; b++) {
        cur += btot[b];
    }
    /* Each step's one pass over the rows applies the last centre chosen
     * (column 0: it lowers D and near, as a pass of its own did) and then
     * sums the trials' potentials; the block totals of the new D are the
     * chosen trial's potentials (the same sums, row by row), and the blocks
     * the next draws walk get the last centre beforehand (min(D, d2) twice
     * is min(D, d2) once). */
    for (size_t c = 1; c < k && s == CT_OK; c++) {
        size_t pend = c >= 2, m = L + pend, last = c - 1;
        double delta_c = KM_SUF(pp_delta)(d, xnmax, crmax);
        if (pend) {
            for (size_t j = 0; j < c; j++) { /* every centre's distance to the last one */
                dzu[j] = KM_SUF(real_sqdist)(CR + j * d, CR + last * d, d);
            }
            memset(fresh, 0, nb);
            memcpy(cand, C + last * d, d * sizeof *cand);
        }
        for (size_t t = 0; t < L && s == CT_OK; t++) {
            double rv = ct_rng_uniform(g) * cur;
            size_t b = pp_sample_block(K, btot, rv, NULL);
            if (pend && !fresh[b]) {
                size_t r0 = b * K->rb, r1 = r0 + K->rb < n ? r0 + K->rb : n;
                KM_SUF(ppj) U = {.K = K, .X = X, .xn = xn, .D = D, .near = near,
                                 .Z = CR + last * d, .zn = crn + last, .m = 1, .update = 1,
                                 .newj = (int32_t)last, .dz2 = dzu, .delta = delta_c,
                                 .prune = prune, .part = scratch, .tr = tr};
                s = KM_SUF(pp_block)(&U, b, r0, r1, err);
                fresh[b] = 1;
            }
            KM_SUF(row_copy)(X, pp_sample(K, D, btot, rv), d, cand + (pend + t) * d);
        }
        if (s != CT_OK) {
            break;
        }
        KM_SUF(to_real)(cand, m, d, Z, zn);
        double znmax = crmax;
        for (size_t q = 0; q < m; q++) {
            znmax = (double)zn[q] > znmax ? (double)zn[q] : znmax;
        }
        for (size_t j = 0; j < c; j++) {
            dz2[j] = CT_INF;
            for (size_t t = 0; t < m; t++) {
                double v = KM_SUF(real_sqdist)(CR + j * d, Z + t * d, d);
                dz2[j] = v < dz2[j] ? v : dz2[j];
            }
        }
        double delta = KM_SUF(pp_delta)(d, xnmax, znmax);
        KM_SUF(ppj) P = {.K = K, .X = X, .xn = xn, .D = D, .near = near, .Z = Z, .zn = zn,
                         .m = m, .pend = (int)pend, .newj = (int32_t)last, .dz2 = dz2,
                         .delta = delta, .prune = prune, .part = part, .tr = tr};
        s = ct_par_for(n, K->rb, K->threads, KM_SUF(pp_block), &P, err);
        if (s != CT_OK) {
            break;
        }
        size_t best = pp_best(part, nb, m, pend, L, pot);
        memcpy(C + c * d, cand + (pend + best) * d, d * sizeof *C);
        memcpy(CR + c * d, Z + (pend + best) * d, d * sizeof *CR);
        crn[c] = zn[pend + best];
        crmax = (double)crn[c] > crmax ? (double)crn[c] : crmax;
        for (size_t b = 0; b < nb; b++) { /* the new centre's D, block by block */
            btot[b] = part[b * m + pend + best];
        }
        cur = pot[best];
    }
    free(D);
    free(part);
    free(btot);
    free(dz2);
    free(scratch);
    free(dzu);
    free(near);
    free(Z);
    free(zn);
    free(CR);
    free(crn);
    free(cand);
    free(fresh);
    *st = s;
    return 0;
}

/* A fit's first passes over the rows, on the threads: every value finite
 * (the first that is not, in row order, is the error), |x|^2 of each row,
 * and the tolerance's sums (scikit-learn's _tolerance, summed as
 * km_tol_block does: per reduction block, rows in order, blocks added in
 * order, so the bits of the streamed and distributed engines).  The check
 * and the mean's sums ride the norms' pass, the squared deviations a
 * second: these had been a serial check, the norms and two serial passes
 * for the variance (with the weights taken from the last inertia pass, a
 * fit of one iteration at 10M x 32, f64, k = 8, 2 threads: 2.55-2.8 ->
 * 1.46-1.74 s). */
typedef struct KM_SUF(prep) {
    const KM_REAL *X;
    size_t d;
    KM_REAL *xn;
    double *part;       /* per block: the d sums */
    const double *mean; /* NULL: the first pass (check, norms, sums); else deviations */
    size_t *bad;        /* per block: the first value not finite (i d + c), or SIZE_MAX */
} KM_SUF(prep);

static ct_status KM_SUF(prep_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const KM_SUF(prep) *P = vctx;
    size_t d = P->d;
    double *acc = P->part + b * d;
    (void)err;
    memset(acc, 0, d * sizeof *acc);
    if (P->mean != NULL) {
        for (size_t i = begin; i < end; i++) {
            for (size_t c = 0; c < d; c++) {
                double v = (double)P->X[i * d + c];
                acc[c] += (v - P->mean[c]) * (v - P->mean[c]);
            }
        }
        return CT_OK;
    }
    size_t bad = SIZE_MAX, i = begin;
    const KM_REAL *X = P->X;
    /* four rows at a time: four norm chains in flight (one row's, each
     * added in column order, had waited on its adds), the sums still
     * taking the rows in order; a value not finite makes its row's norm
     * not finite, and only such rows are searched */
    for (; i + 4 <= end; i += 4) {
        double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        const KM_REAL *x = X + i * d;
        for (size_t c = 0; c < d; c++) {
            double v0 = (double)x[c], v1 = (double)x[d + c];
            double v2 = (double)x[2 * d + c], v3 = (double)x[3 * d + c];
            q0 += v0 * v0;
            q1 += v1 * v1;
            q2 += v2 * v2;
            q3 += v3 * v3;
            acc[c] = (((acc[c] + v0) + v1) + v2) + v3;
        }
        P->xn[i] = (KM_REAL)q0;
        P->xn[i + 1] = (KM_REAL)q1;
        P->xn[i + 2] = (KM_REAL)q2;
        P->xn[i + 3] = (KM_REAL)q3;
    }
    for (; i < end; i++) {
        double q = 0;
        for (size_t c = 0; c < d; c++) {
            double v = (double)X[i * d + c];
            q += v * v;
            acc[c] += v;
        }
        P->xn[i] = (KM_REAL)q;
    }
    for (i = begin; i < end && bad == SIZE_MAX; i++) {
        for (size_t c = 0; c < d && !isfinite((double)P->xn[i]) && bad == SIZE_MAX; c++) {
            bad = isfinite((double)X[i * d + c]) ? SIZE_MAX : i * d + c;
        }
    }
    P->bad[b] = bad;
    return CT_OK;
}

static ct_status KM_SUF(prepare)(const km_ctx *K, const KM_REAL *X, KM_REAL *xn, double *tol_abs,
                                 ct_error *err)
{
    size_t n = K->n, d = K->d, nb = ct_par_nblocks(n, K->rb);
    double *part = malloc(nb * d * sizeof *part), *mean = malloc(2 * d * sizeof *mean);
    double *var = mean + d;
    size_t *bad = malloc(nb * sizeof *bad);
    ct_status s = part && mean && bad ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    KM_SUF(prep) P = {X, d, xn, part, NULL, bad};
    if (s == CT_OK) {
        s = ct_par_for(n, K->rb, K->threads, KM_SUF(prep_block), &P, err);
    }
    for (size_t b = 0; b < nb && s == CT_OK; b++) {
        if (bad[b] != SIZE_MAX) {
            size_t i = bad[b] / d, c = bad[b] % d;
            s = ct_fail_at(err, CT_EDATA, "features", (uint64_t)i + 1, (unsigned)c + 1,
                           "row %zu, column %zu: %g is not a finite number", i + 1, c + 1,
                           (double)X[i * d + c]);
        }
    }
    *tol_abs = 0;
    if (s == CT_OK && K->tol != 0) {
        km_reduce(part, nb, d, d, mean);
        for (size_t c = 0; c < d; c++) {
            mean[c] /= (double)n;
        }
        P.mean = mean;
        s = ct_par_for(n, K->rb, K->threads, KM_SUF(prep_block), &P, err);
        km_reduce(part, nb, d, d, var);
        double tot = 0;
        for (size_t c = 0; c < d; c++) {
            tot += var[c] / (double)n;
        }
        *tol_abs = s == CT_OK ? K->tol * tot / (double)d : 0;
    }
    free(part);
    free(mean);
    free(bad);
    return s;
}

static ct_status KM_SUF(fit)(const KM_REAL *X, size_t n, size_t d, const double *w,
                             const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err)
{
    km_ctx K;
    ct_status s = km_setup(&K, n, d, w, o, err);
    if (s != CT_OK) {
        return s;
    }
    if (K.algo == CT_KM_ALGO_AUTO) {
        K.algo = km_auto_algo(K.k, d, sizeof(KM_REAL) == sizeof(float));
    }
    if (K.algo == CT_KM_ALGO_YINYANG && (km_dots_isa() == 0 || d > KM_DOTS_MAXD)) {
        K.algo = CT_KM_ALGO_HAMERLY; /* Yinyang measures its groups with the fused kernel */
    }
    KM_REAL *xn = ct_malloc_big(n, sizeof *xn);
    double *C = malloc(K.k * d * sizeof *C);
    int32_t *lab = ct_malloc_big(n, sizeof *lab);
    memset(r, 0, sizeof *r);
    r->centroids = malloc(K.k * d * sizeof *r->centroids);
    r->labels = ct_malloc_big(n, sizeof *r->labels);
    r->weight = calloc(K.k, sizeof *r->weight);
    if (!xn || !C || !lab || !r->centroids || !r->labels || !r->weight) {
        free(xn);
        free(C);
        free(lab);
        ct_kmeans_result_free(r);
        return ct_fail(err, CT_ENOMEM, "out of memory for k-means (n = %zu, d = %zu)", n, d);
    }
    double tol_abs = 0;
    s = KM_SUF(prepare)(&K, X, xn, &tol_abs, err);
    if (s != CT_OK) {
        free(xn);
        free(C);
        free(lab);
        ct_kmeans_result_free(r);
        return s;
    }
    km_ops ops = {X,
                  xn,
                  KM_SUF(candidates),
                  KM_SUF(row_copy),
                  KM_SUF(row_sqdist),
                  KM_SUF(pp_pruned),
                  KM_SUF(cand_min)};
    r->inertia = CT_INF;
    double *wrun = malloc(K.k * sizeof *wrun);
    if (wrun == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (unsigned run = 0; run < K.n_init && s == CT_OK; run++) {
        km_run res = {0, 0, 0, NULL, 0, wrun};
        s = km_init(&K, &ops, run, C, err);
        if (s == CT_OK) {
            s = K.algo != CT_KM_ALGO_LLOYD
                    ? KM_SUF(hamerly)(&K, X, xn, C, K.max_iter, tol_abs, lab,
                                      K.algo == CT_KM_ALGO_YINYANG, &res, err)
                    : KM_SUF(lloyd)(&K, X, xn, C, K.max_iter, tol_abs, lab, &res, err);
        }
        if (s == CT_OK && res.inertia < r->inertia) { /* ties: the earlier run */
            r->inertia = res.inertia;
            r->iterations = res.iterations;
            r->converged = res.converged;
            r->best_run = run;
            r->algorithm = (int)K.algo;
            free(r->skipped);
            r->skipped = res.skipped;
            r->npasses = res.npasses;
            res.skipped = NULL;
            memcpy(r->centroids, C, K.k * d * sizeof *C);
            memcpy(r->labels, lab, n * sizeof *lab);
            memcpy(r->weight, wrun, K.k * sizeof *wrun); /* blocks in order */
        }
        free(res.skipped);
    }
    free(wrun);
    free(xn);
    free(C);
    free(lab);
    if (s != CT_OK) {
        ct_kmeans_result_free(r);
        return s;
    }
    r->n = n;
    r->d = d;
    r->k = K.k;
    return CT_OK;
}
