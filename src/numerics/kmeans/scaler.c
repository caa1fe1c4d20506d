/* scaler.c - feature transforms and scaling for clustering (log1p, z-score,
 * robust median/IQR), stored so that new rows map onto old centroids. */
#include "clvtier/kmeans.h"

#include "clvtier/comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile (linear interpolation, as numpy's default) of sorted v[0..n). */
static double quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

static ct_status transform(const ct_scaler *s, double *X, size_t n, ct_error *err)
{
    if (s->transform != CT_TF_LOG1P) {
        return CT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s->d; j++) {
            double v = X[i * s->d + j];
            if (!(v > -1)) {
                return ct_fail_at(err, CT_EDATA, "features", (uint64_t)i + 1, (unsigned)j + 1,
                                  "row %zu, column %zu: log1p(%g) is undefined (value <= -1)",
                                  i + 1, j + 1, v);
            }
            X[i * s->d + j] = log1p(v);
        }
    }
    return CT_OK;
}

static ct_status scaler_alloc(ct_scaler *s, size_t d, ct_transform t, ct_scaling sc,
                              ct_error *err)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->transform = t;
    s->scaling = sc;
    s->center = calloc(d ? d : 1, sizeof *s->center);
    s->scale = malloc((d ? d : 1) * sizeof *s->scale);
    if (s->center == NULL || s->scale == NULL) {
        ct_scaler_free(s);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < d; j++) {
        s->scale[j] = 1;
    }
    return CT_OK;
}

/* z-score partial sums of the transformed rows X[0..n) per block of
 * CT_SUM_BLOCK rows: mean == NULL: d + 1 values a block (the weight, then
 * each column's weighted sum); else d (weighted squared deviations). */
static void zsums(const double *X, size_t n, size_t d, const double *w, const double *mean,
                  double *part)
{
    size_t m = mean == NULL ? d + 1 : d;
    for (size_t b = 0; b * CT_SUM_BLOCK < n; b++) {
        double *p = part + b * m;
        size_t i1 = (b + 1) * CT_SUM_BLOCK < n ? (b + 1) * CT_SUM_BLOCK : n;
        memset(p, 0, m * sizeof *p);
        for (size_t i = b * CT_SUM_BLOCK; i < i1; i++) {
            double wi = w != NULL ? w[i] : 1.0;
            if (mean == NULL) {
                p[0] += wi;
            }
            for (size_t j = 0; j < d; j++) {
                double u = X[i * d + j];
                if (mean == NULL) {
                    p[1 + j] += wi * u;
                } else {
                    p[j] += wi * (u - mean[j]) * (u - mean[j]);
                }
            }
        }
    }
}

/* Rows for the z-score: in memory, or read from a source. */
typedef struct zrows {
    const double *X, *w; /* in memory: n rows */
    size_t n;
    const ct_km_source *src; /* or rows [lo, hi) of src in blocks of B */
    size_t lo, hi, B;
    const ct_scaler *tf; /* the transform to apply to what src gives */
    double *buf, *wbuf;
} zrows;

/* One z-score pass (mean == NULL: weights and sums; else squared
 * deviations) over the rows, reduced over src->comm into out. */
static ct_status zpass(zrows *r, size_t d, const double *mean, double *out, ct_error *err)
{
    size_t m = mean == NULL ? d + 1 : d;
    size_t n = r->src != NULL ? r->hi - r->lo : r->n;
    size_t nb = (n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    double *part = malloc((nb ? nb : 1) * m * sizeof *part);
    ct_status s = part != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK && r->src == NULL) {
        zsums(r->X, n, d, r->w, mean, part);
    }
    for (size_t row0 = r->lo; r->src != NULL && row0 < r->hi && s == CT_OK; row0 += r->B) {
        size_t nr = r->hi - row0 < r->B ? r->hi - row0 : r->B;
        s = r->src->read(r->src->ctx, row0, nr, r->buf, r->wbuf, err);
        if (s == CT_OK) {
            s = ct_scaler_apply(r->tf, r->buf, nr, err);
        }
        if (s == CT_OK) {
            zsums(r->buf, nr, d, r->src->weighted ? r->wbuf : NULL, mean,
                  part + (row0 - r->lo) / CT_SUM_BLOCK * m);
        }
    }
    ct_comm *comm = r->src != NULL ? r->src->comm : NULL;
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_sum_blocks(comm, part, nb, m, out, err);
    }
    free(part);
    return s;
}

/* The weighted mean and standard deviation of every column. */
static ct_status zscore(ct_scaler *s, const double *X, size_t n, const double *w, zrows *src,
                        ct_error *err)
{
    size_t d = s->d;
    zrows mem = {X, w, n, NULL, 0, 0, 0, NULL, NULL, NULL};
    zrows *r = src != NULL ? src : &mem;
    double *tot = malloc((d + 1) * sizeof *tot), *mean = malloc((d ? d : 1) * sizeof *mean);
    ct_status st = tot && mean ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (st == CT_OK) {
        st = zpass(r, d, NULL, tot, err);
    }
    for (size_t j = 0; j < d && st == CT_OK; j++) {
        mean[j] = tot[1 + j] / tot[0];
    }
    if (st == CT_OK) {
        double W = tot[0];
        st = zpass(r, d, mean, tot, err);
        for (size_t j = 0; j < d && st == CT_OK; j++) {
            double sd = sqrt(tot[j] / W);
            s->center[j] = mean[j];
            s->scale[j] = sd > 0 && isfinite(sd) ? sd : 1.0;
        }
    }
    free(tot);
    free(mean);
    return st;
}

ct_status ct_scaler_fit_source(ct_scaler *s, const ct_km_source *src, size_t lo, size_t hi,
                               size_t block, ct_transform t, ct_scaling sc, ct_error *err)
{
    if (sc == CT_SC_ROBUST) {
        return ct_fail(err, CT_EINVAL, "robust scaling needs every value in memory");
    }
    if (block == 0 || block % CT_SUM_BLOCK != 0 || lo % CT_SUM_BLOCK != 0) {
        return ct_fail(err, CT_EINVAL, "ct_scaler_fit_source: rows not on CT_SUM_BLOCK boundaries");
    }
    ct_status st = scaler_alloc(s, src->d, t, sc, err);
    if (st != CT_OK || sc == CT_SC_NONE) {
        return st;
    }
    ct_scaler tf = {src->d, t, CT_SC_NONE, s->center, s->scale}; /* transform only */
    zrows r = {NULL, NULL, 0, src, lo, hi, block, &tf, NULL, NULL};
    r.buf = malloc(block * src->d * sizeof *r.buf);
    r.wbuf = malloc(block * sizeof *r.wbuf);
    st = r.buf && r.wbuf ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    st = ct_comm_agree(src->comm, st, err);
    if (st == CT_OK) {
        st = zscore(s, NULL, 0, NULL, &r, err);
    }
    free(r.buf);
    free(r.wbuf);
    if (st != CT_OK) {
        ct_scaler_free(s);
    }
    return st;
}

ct_status ct_scaler_fit_transform(ct_scaler *s, double *X, size_t n, size_t d, const double *w,
                                  ct_transform t, ct_scaling sc, ct_error *err)
{
    if (n == 0) {
        memset(s, 0, sizeof *s);
        return ct_fail(err, CT_EINVAL, "no rows to scale");
    }
    ct_status st = scaler_alloc(s, d, t, sc, err);
    if (st != CT_OK) {
        return st;
    }
    st = transform(s, X, n, err);
    if (st != CT_OK) {
        ct_scaler_free(s);
        return st;
    }
    if (sc == CT_SC_ZSCORE) {
        st = zscore(s, X, n, w, NULL, err);
        if (st != CT_OK) {
            ct_scaler_free(s);
            return st;
        }
    } else if (sc == CT_SC_ROBUST) {
        double *col = malloc(n * sizeof *col);
        if (col == NULL) {
            ct_scaler_free(s);
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < d; j++) {
            for (size_t i = 0; i < n; i++) {
                col[i] = X[i * d + j];
            }
            qsort(col, n, sizeof *col, cmp_d);
            double iqr = quantile(col, n, 0.75) - quantile(col, n, 0.25);
            s->center[j] = quantile(col, n, 0.5);
            s->scale[j] = iqr > 0 ? iqr : 1.0;
        }
        free(col);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = (X[i * d + j] - s->center[j]) / s->scale[j];
        }
    }
    return CT_OK;
}

ct_status ct_scaler_apply(const ct_scaler *s, double *X, size_t n, ct_error *err)
{
    ct_status st = transform(s, X, n, err);
    if (st != CT_OK) {
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s->d; j++) {
            X[i * s->d + j] = (X[i * s->d + j] - s->center[j]) / s->scale[j];
        }
    }
    return CT_OK;
}

void ct_scaler_invert(const ct_scaler *s, double *X, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s->d; j++) {
            double v = X[i * s->d + j] * s->scale[j] + s->center[j];
            X[i * s->d + j] = s->transform == CT_TF_LOG1P ? expm1(v) : v;
        }
    }
}
