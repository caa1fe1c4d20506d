/* audit.c - tier shares per protected group and proxy screening (audit.h). */
#include "clvtier/audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Group index of a value: distinct values (sorted) or quartile cuts. */
typedef struct grouping {
    int distinct;
    size_t nv;
    double v[CT_AUDIT_MAX_DISTINCT]; /* distinct values, or the 3 inner quartile cuts */
} grouping;

static size_t group_of(const grouping *g, double x, size_t missing)
{
    if (isnan(x)) {
        return missing;
    }
    if (g->distinct) {
        for (size_t i = 0; i < g->nv; i++) {
            if (x == g->v[i]) {
                return i;
            }
        }
        return missing; /* not reached */
    }
    size_t i = 0;
    while (i < g->nv && x >= g->v[i]) {
        i++;
    }
    return i;
}

static ct_status make_grouping(const double *col, size_t n, grouping *g, size_t *nonnan,
                               ct_error *err)
{
    memset(g, 0, sizeof *g);
    g->distinct = 1;
    *nonnan = 0;
    for (size_t i = 0; i < n && g->distinct; i++) {
        double x = col[i];
        if (isnan(x)) {
            continue;
        }
        size_t q = 0;
        while (q < g->nv && g->v[q] != x) {
            q++;
        }
        if (q == g->nv) {
            if (g->nv == CT_AUDIT_MAX_DISTINCT) {
                g->distinct = 0;
                break;
            }
            g->v[g->nv++] = x;
        }
    }
    if (g->distinct) {
        qsort(g->v, g->nv, sizeof g->v[0], cmp_double);
        for (size_t i = 0; i < n; i++) {
            *nonnan += isnan(col[i]) ? 0u : 1u;
        }
        return CT_OK;
    }
    double *s = malloc((n ? n : 1) * sizeof *s);
    if (s == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(col[i])) {
            s[m++] = col[i];
        }
    }
    qsort(s, m, sizeof *s, cmp_double);
    *nonnan = m;
    g->nv = 0;
    for (size_t q = 1; q <= 3; q++) {
        double c = s[(q * m) / 4];
        if (g->nv == 0 || c > g->v[g->nv - 1]) {
            g->v[g->nv++] = c;
        }
    }
    free(s);
    return CT_OK;
}

ct_status ct_audit_compute(const char *name, const double *col, const int8_t *tier, size_t ntiers,
                           const double *const *feat, size_t nfeat, const double *w, size_t n,
                           ct_audit *out, ct_error *err)
{
    grouping g;
    size_t nonnan;
    memset(out, 0, sizeof *out);
    if (ntiers > CT_MAX_TIERS + 1 || nfeat > CT_MAX_FEATURES) {
        return ct_fail(err, CT_EINVAL, "audit: %zu tiers, %zu features", ntiers, nfeat);
    }
    snprintf(out->column, sizeof out->column, "%s", name);
    ct_status s = make_grouping(col, n, &g, &nonnan, err);
    if (s != CT_OK) {
        return s;
    }
    size_t ng = g.distinct ? g.nv : g.nv + 1, missing = ng;
    int has_missing = nonnan < n;
    for (size_t q = 0; q < ng; q++) {
        if (g.distinct) {
            snprintf(out->group[q], sizeof out->group[q], "%.6g", g.v[q]);
        } else if (q == 0) {
            snprintf(out->group[q], sizeof out->group[q], "< %.6g", g.v[0]);
        } else if (q == ng - 1) {
            snprintf(out->group[q], sizeof out->group[q], ">= %.6g", g.v[q - 1]);
        } else {
            snprintf(out->group[q], sizeof out->group[q], "[%.6g, %.6g)", g.v[q - 1], g.v[q]);
        }
    }
    if (has_missing) {
        snprintf(out->group[ng], sizeof out->group[ng], "missing");
    }
    out->ngroups = ng + (size_t)has_missing;
    out->ntiers = ntiers;
    out->nfeat = nfeat;
    /* per group: weight, and per feature the weighted sum and sum of squares
     * (about a shift, the feature's first value, for accuracy) */
    double gw[CT_AUDIT_MAX_GROUPS] = {0};
    double fs[CT_AUDIT_MAX_GROUPS][CT_MAX_FEATURES], fw[CT_AUDIT_MAX_GROUPS][CT_MAX_FEATURES];
    double tot_s[CT_MAX_FEATURES] = {0}, tot_q[CT_MAX_FEATURES] = {0}, tot_w[CT_MAX_FEATURES] = {0};
    double shift[CT_MAX_FEATURES] = {0};
    memset(fs, 0, sizeof fs);
    memset(fw, 0, sizeof fw);
    for (size_t j = 0; j < nfeat; j++) {
        for (size_t i = 0; i < n; i++) {
            if (isfinite(feat[j][i])) {
                shift[j] = feat[j][i];
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        double wi = w != NULL ? w[i] : 1.0;
        size_t q = group_of(&g, col[i], missing);
        if (tier[i] < 0 || (size_t)tier[i] >= ntiers) {
            return ct_fail(err, CT_EINTERNAL, "audit: tier %d of customer row %zu", tier[i], i + 1);
        }
        out->count[q][tier[i]] += wi;
        gw[q] += wi;
        if (q == missing) {
            continue; /* eta^2 over customers whose group is known */
        }
        for (size_t j = 0; j < nfeat; j++) {
            double v = feat[j][i] - shift[j];
            if (!isfinite(v)) {
                continue;
            }
            fs[q][j] += wi * v;
            fw[q][j] += wi;
            tot_s[j] += wi * v;
            tot_q[j] += wi * v * v;
            tot_w[j] += wi;
        }
    }
    for (size_t j = 0; j < nfeat; j++) {
        double mean = tot_w[j] > 0 ? tot_s[j] / tot_w[j] : 0;
        double sst = tot_q[j] - tot_w[j] * mean * mean, ssb = 0;
        for (size_t q = 0; q < ng; q++) {
            if (fw[q][j] > 0) {
                double d = fs[q][j] / fw[q][j] - mean;
                ssb += fw[q][j] * d * d;
            }
        }
        out->eta2[j] = sst > 0 ? fmin(1.0, ssb / sst) : 0.0;
    }
    /* Cramer's V = sqrt(chi^2 / (N (min(r, c) - 1))) over non-empty rows/columns */
    double N = 0, tw[CT_MAX_TIERS + 1] = {0};
    size_t rows = 0, cols = 0;
    for (size_t q = 0; q < out->ngroups; q++) {
        N += gw[q];
        rows += gw[q] > 0;
        for (size_t t = 0; t < ntiers; t++) {
            tw[t] += out->count[q][t];
        }
    }
    for (size_t t = 0; t < ntiers; t++) {
        cols += tw[t] > 0;
    }
    double chi2 = 0;
    for (size_t q = 0; q < out->ngroups; q++) {
        for (size_t t = 0; t < ntiers; t++) {
            double e = gw[q] * tw[t] / N;
            if (e > 0) {
                double d = out->count[q][t] - e;
                chi2 += d * d / e;
            }
        }
    }
    size_t mn = rows < cols ? rows : cols;
    out->cramers_v = N > 0 && mn > 1 ? sqrt(chi2 / (N * (double)(mn - 1))) : 0.0;
    return CT_OK;
}
