/* kmeans_impl.h - the type-dependent half of kmeans.c, included once for
 * double (KM_SUF(x) = x##_f64, KM_GEMM = cblas_dgemm) and once for float.
 * Distances use the expansion |x|^2 - 2 x.c + |c|^2 with GEMM on row tiles
 * of TR rows; sums are accumulated in double. */

/* Rows [r0, r0 + nr) against centres C (k x d): label and squared distance. */
static void KM_SUF(assign_tile)(const KM_REAL *X, size_t d, size_t r0, size_t nr,
                                const KM_REAL *C, const KM_REAL *cn, size_t k, const KM_REAL *xn,
                                KM_REAL *G, int32_t *lab, double *dist)
{
    KM_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nr, (blasint)k, (blasint)d, 1,
            X + r0 * d, (blasint)d, C, (blasint)d, 0, G, (blasint)k);
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
    int32_t *labels;
    double *dist;   /* may be NULL */
    double *part;   /* per block: sums (k x d), weights (k), inertia; NULL: labels only */
    size_t stride;
} KM_SUF(pass);

static ct_status KM_SUF(pass_block)(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    KM_SUF(pass) *P = vctx;
    size_t k = P->k, d = P->d;
    KM_REAL *G = malloc(P->tr * k * sizeof *G);
    double *dist = malloc(P->tr * sizeof *dist);
    if (G == NULL || dist == NULL) {
        free(G);
        free(dist);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    double *acc = P->part != NULL ? P->part + b * P->stride : NULL;
    if (acc != NULL) {
        memset(acc, 0, P->stride * sizeof *acc);
    }
    for (size_t r0 = begin; r0 < end; r0 += P->tr) {
        size_t nr = end - r0 < P->tr ? end - r0 : P->tr;
        KM_SUF(assign_tile)(P->X, d, r0, nr, P->C, P->cn, k, P->xn, G, P->labels + r0, dist);
        if (P->dist != NULL) {
            memcpy(P->dist + r0, dist, nr * sizeof *dist);
        }
        if (acc != NULL) {
            double *sums = acc, *wk = acc + k * d;
            for (size_t r = 0; r < nr; r++) {
                size_t i = r0 + r, j = (size_t)P->labels[i];
                double wi = P->w != NULL ? P->w[i] : 1.0;
                const KM_REAL *x = P->X + i * d;
                double *s = sums + j * d;
                for (size_t c = 0; c < d; c++) {
                    s[c] += wi * (double)x[c];
                }
                wk[j] += wi;
                acc[k * d + k] += wi * dist[r];
            }
        }
    }
    free(G);
    free(dist);
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

static void KM_SUF(row_norms)(const KM_REAL *X, size_t n, size_t d, KM_REAL *xn)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t c = 0; c < d; c++) {
            s += (double)X[i * d + c] * (double)X[i * d + c];
        }
        xn[i] = (KM_REAL)s;
    }
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

/* Lloyd from C (k x d, updated).  Follows scikit-learn's _kmeans_single_lloyd. */
static ct_status KM_SUF(lloyd)(const km_ctx *K, const KM_REAL *X, const KM_REAL *xn, double *C,
                               unsigned max_iter, double tol_abs, int32_t *labels,
                               km_run *out, ct_error *err)
{
    size_t n = K->n, d = K->d, k = K->k;
    size_t nb = ct_par_nblocks(n, K->rb), stride = K->stride;
    KM_REAL *CR = malloc(k * d * sizeof *CR), *cn = malloc(k * sizeof *cn);
    double *part = malloc(nb * stride * sizeof *part);
    double *Cn = malloc((k * d + k) * sizeof *Cn);
    int32_t *old = malloc(n * sizeof *old);
    ct_status s = CT_OK;
    if (!CR || !cn || !part || !Cn || !old) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for k-means (n = %zu, k = %zu)", n, k);
    }
    int strict = 0, stop = 0;
    unsigned it = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        old[i] = -1;
    }
    for (it = 0; it < max_iter && s == CT_OK; it++) {
        KM_SUF(to_real)(C, k, d, CR, cn);
        KM_SUF(pass) P = {X, CR, cn, xn, K->w, n, d, k, K->tr, labels, NULL, part, stride};
        s = KM_SUF(run_pass)(&P, K->rb, K->threads, err);
        if (s != CT_OK) {
            break;
        }
        /* reduce the blocks in order */
        double *sums = Cn, *wk = Cn + k * d;
        memset(Cn, 0, (k * d + k) * sizeof *Cn);
        for (size_t b = 0; b < nb; b++) {
            const double *a = part + b * stride;
            for (size_t q = 0; q < k * d + k; q++) {
                Cn[q] += a[q];
            }
        }
        /* empty clusters take the points farthest from their centres */
        size_t nempty = 0;
        for (size_t j = 0; j < k; j++) {
            nempty += wk[j] == 0;
        }
        if (nempty > 0) {
            s = km_relocate(K, sums, wk, nempty, labels, C, KM_SUF(row_sqdist),
                            KM_SUF(row_copy), X, err);
            if (s != CT_OK) {
                break;
            }
        }
        double shift = 0;
        for (size_t j = 0; j < k; j++) {
            for (size_t c = 0; c < d; c++) {
                double v = wk[j] > 0 ? sums[j * d + c] / wk[j] : C[j * d + c];
                double t = v - C[j * d + c];
                shift += t * t;
                C[j * d + c] = v;
            }
        }
        if (memcmp(labels, old, n * sizeof *labels) == 0) {
            strict = 1;
            stop = 1;
            break;
        }
        if (shift <= tol_abs) {
            stop = 1;
            break;
        }
        memcpy(old, labels, n * sizeof *old);
    }
    if (s == CT_OK && !strict) {
        /* a last assignment so that the labels match the final centres */
        KM_SUF(to_real)(C, k, d, CR, cn);
        KM_SUF(pass) P = {X, CR, cn, xn, K->w, n, d, k, K->tr, labels, NULL, NULL, 0};
        s = KM_SUF(run_pass)(&P, K->rb, K->threads, err);
    }
    if (s == CT_OK) {
        /* inertia from exact distances, summed in row order */
        double in = 0;
        for (size_t i = 0; i < n; i++) {
            double wi = K->w != NULL ? K->w[i] : 1.0;
            in += wi * KM_SUF(sqdist)(X + i * d, C + (size_t)labels[i] * d, d);
        }
        out->inertia = in;
        out->iterations = it < max_iter ? it + 1 : max_iter;
        out->converged = stop;
    }
    free(CR);
    free(cn);
    free(part);
    free(Cn);
    free(old);
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
        KM_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nr, (blasint)P->m,
                (blasint)P->d, 1, P->X + r0 * P->d, (blasint)P->d, P->CR, (blasint)P->d, 0, G,
                (blasint)P->m);
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

static ct_status KM_SUF(fit)(const KM_REAL *X, size_t n, size_t d, const double *w,
                             const ct_kmeans_opts *o, ct_kmeans_result *r, ct_error *err)
{
    km_ctx K;
    ct_status s = km_setup(&K, n, d, w, o, err);
    if (s != CT_OK) {
        return s;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < d; c++) {
            if (!isfinite((double)X[i * d + c])) {
                return ct_fail_at(err, CT_EDATA, "features", (uint64_t)i + 1, (unsigned)c + 1,
                                  "row %zu, column %zu: %g is not a finite number", i + 1, c + 1,
                                  (double)X[i * d + c]);
            }
        }
    }
    KM_REAL *xn = malloc(n * sizeof *xn);
    double *C = malloc(K.k * d * sizeof *C);
    int32_t *lab = malloc(n * sizeof *lab);
    memset(r, 0, sizeof *r);
    r->centroids = malloc(K.k * d * sizeof *r->centroids);
    r->labels = malloc(n * sizeof *r->labels);
    r->weight = calloc(K.k, sizeof *r->weight);
    if (!xn || !C || !lab || !r->centroids || !r->labels || !r->weight) {
        free(xn);
        free(C);
        free(lab);
        ct_kmeans_result_free(r);
        return ct_fail(err, CT_ENOMEM, "out of memory for k-means (n = %zu, d = %zu)", n, d);
    }
    KM_SUF(row_norms)(X, n, d, xn);
    double tol_abs = km_tolerance(&K, X, KM_SUF(row_copy));
    km_ops ops = {X, xn, KM_SUF(candidates), KM_SUF(row_copy), KM_SUF(row_sqdist)};
    r->inertia = CT_INF;
    for (unsigned run = 0; run < K.n_init && s == CT_OK; run++) {
        km_run res;
        s = km_init(&K, &ops, run, C, err);
        if (s == CT_OK) {
            s = KM_SUF(lloyd)(&K, X, xn, C, K.max_iter, tol_abs, lab, &res, err);
        }
        if (s == CT_OK && res.inertia < r->inertia) { /* ties: the earlier run */
            r->inertia = res.inertia;
            r->iterations = res.iterations;
            r->converged = res.converged;
            r->best_run = run;
            memcpy(r->centroids, C, K.k * d * sizeof *C);
            memcpy(r->labels, lab, n * sizeof *lab);
        }
    }
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
    for (size_t i = 0; i < n; i++) {
        r->weight[r->labels[i]] += w != NULL ? w[i] : 1.0;
    }
    return CT_OK;
}
