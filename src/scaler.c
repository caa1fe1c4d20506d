/* scaler.c - feature transforms and scaling for clustering (log1p, z-score,
 * robust median/IQR), stored so that new rows map onto old centroids. */
#include "clvtier/kmeans.h"

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

void ct_scaler_free(ct_scaler *s)
{
    if (s == NULL) {
        return;
    }
    free(s->center);
    free(s->scale);
    memset(s, 0, sizeof *s);
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

ct_status ct_scaler_fit_transform(ct_scaler *s, double *X, size_t n, size_t d, const double *w,
                                  ct_transform t, ct_scaling sc, ct_error *err)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->transform = t;
    s->scaling = sc;
    s->center = calloc(d ? d : 1, sizeof *s->center);
    s->scale = malloc((d ? d : 1) * sizeof *s->scale);
    if (s->center == NULL || s->scale == NULL || n == 0) {
        ct_scaler_free(s);
        return n == 0 ? ct_fail(err, CT_EINVAL, "no rows to scale")
                      : ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < d; j++) {
        s->scale[j] = 1;
    }
    ct_status st = transform(s, X, n, err);
    if (st != CT_OK) {
        ct_scaler_free(s);
        return st;
    }
    if (sc == CT_SC_ZSCORE) {
        double W = 0;
        for (size_t i = 0; i < n; i++) {
            W += w != NULL ? w[i] : 1.0;
        }
        for (size_t j = 0; j < d; j++) {
            double m = 0, v = 0;
            for (size_t i = 0; i < n; i++) {
                m += (w != NULL ? w[i] : 1.0) * X[i * d + j];
            }
            m /= W;
            for (size_t i = 0; i < n; i++) {
                double u = X[i * d + j] - m;
                v += (w != NULL ? w[i] : 1.0) * u * u;
            }
            double sd = sqrt(v / W);
            s->center[j] = m;
            s->scale[j] = sd > 0 && isfinite(sd) ? sd : 1.0;
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
