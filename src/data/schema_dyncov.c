/* schema_dyncov.c - the reader of /dynamic_covariates and /dynamic_sums
 * (ingest --dynamic-covariates): each customer's covariate path, in
 * periods since its first purchase, for the time-varying fit and scores.
 * The table is streamed in blocks of rows; consecutive periods with the
 * same values of the columns asked for become one segment, and periods
 * wholly before the first purchase or past T + horizon are left out. */
#include "clvtier/schema.h"
#include "clvtier/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYN_READ_ROWS ((size_t)1 << 20)

/* Fail naming the data file (the caller's `path`). */
#define DYN_FAIL(code, ...)                                                                     \
    do {                                                                                       \
        s = ct_fail_at(err, code, path, 0, 0, __VA_ARGS__);                                    \
        goto done;                                                                             \
    } while (0)

void ct_dyncov_free(ct_dyncov *d)
{
    free(d->off);
    free(d->t0);
    free(d->end);
    free(d->z);
    free(d->zsum);
    memset(d, 0, sizeof *d);
}

unsigned ct_dyncov_mask(const char *path, const char *const *cols, size_t K)
{
    ct_file *f = NULL;
    ct_table *t = NULL;
    ct_error err;
    unsigned mask = 0;
    if (ct_file_open(&f, path, &err) == CT_OK && ct_file_has_group(f, "/dynamic_covariates") &&
        ct_table_open(&t, f, "/dynamic_covariates", &err) == CT_OK) {
        for (size_t j = 0; j < K && j < 32; j++) {
            int has = ct_table_find(t, cols[j]) >= 0 && strcmp(cols[j], "customer") != 0 &&
                      strcmp(cols[j], "day") != 0;
            mask |= has ? 1u << j : 0u;
        }
    }
    ct_table_close(t);
    ct_file_close(f);
    return mask;
}

/* "customer 'X'" of row i of c. */
static void who(const ct_customers *c, size_t i, char *buf, size_t cap)
{
    int len = c->ids != NULL ? (int)strnlen(c->ids + i * c->id_width, c->id_width) : 0;
    snprintf(buf, cap, "customer row %zu (id '%.*s')", c->row0 + i + 1, len > 200 ? 200 : len,
             c->ids != NULL ? c->ids + i * c->id_width : "");
}

typedef struct builder {
    ct_dyncov *d;
    size_t cap, nseg;
    long cur;     /* the customer being built, -1 before the first */
    int32_t last; /* its last period's first day */
} builder;

static ct_status push(builder *b, double t0, const double *z, ct_error *err)
{
    ct_dyncov *d = b->d;
    size_t K = d->ncoef;
    if (b->nseg == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 65536;
        double *a = realloc(d->t0, nc * sizeof *a);
        if (a == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory for covariate paths");
        }
        d->t0 = a;
        double *v = realloc(d->z, nc * K * sizeof *v);
        if (v == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory for covariate paths");
        }
        d->z = v;
        b->cap = nc;
    }
    d->t0[b->nseg] = t0;
    memcpy(d->z + b->nseg * K, z, K * sizeof *z);
    b->nseg++;
    return CT_OK;
}

/* Customers after the current one up to (not with) `upto` start here;
 * those without rows get end NaN. */
static void open_upto(builder *b, long upto)
{
    for (long q = b->cur + 1; q <= upto && q <= (long)b->d->n; q++) {
        b->d->off[q] = b->nseg;
        if (q < upto && q < (long)b->d->n) {
            b->d->end[q] = ((double)NAN);
        }
    }
}

/* One row: customer i (of c), its period's first day and the values of
 * the coefficients' columns (static ones filled in). */
static ct_status add_row(builder *b, const ct_customers *c, const int32_t *first, size_t i,
                         int32_t day, const double *z, double pd, double L, double horizon,
                         ct_error *err)
{
    ct_dyncov *d = b->d;
    size_t K = d->ncoef;
    if ((long)i < b->cur) {
        return ct_fail(err, CT_EFORMAT, "/dynamic_covariates is not sorted by customer");
    }
    if ((long)i != b->cur) {
        open_upto(b, (long)i);
        b->cur = (long)i;
    } else if (day != b->last + (int32_t)L) {
        return ct_fail(err, CT_EFORMAT,
                       "/dynamic_covariates: periods of customer row %zu are not contiguous",
                       c->row0 + i + 1);
    }
    b->last = day;
    d->end[i] = (double)(day - first[i] + L) / pd;
    double t0 = (double)(day - first[i]) / pd;
    if (t0 >= c->T[i] + horizon) {
        return CT_OK; /* past what is fitted and scored */
    }
    size_t have = b->nseg - d->off[i];
    if (have > 0 && memcmp(d->z + (b->nseg - 1) * K, z, K * sizeof *z) == 0) {
        return CT_OK; /* the same values: the segment goes on */
    }
    if (have > 0 && t0 <= 0) { /* the previous period ends at or before the first purchase */
        d->t0[b->nseg - 1] = t0;
        memcpy(d->z + (b->nseg - 1) * K, z, K * sizeof *z);
        return CT_OK;
    }
    return push(b, t0, z, err);
}

ct_status ct_dyncov_read(const char *path, const ct_customers *c, double period_days,
                         const char *const *cols, const double *zstatic, size_t ncoef,
                         double horizon, ct_dyncov *out, ct_error *err)
{
    ct_file *f = NULL;
    ct_table *t = NULL, *ts = NULL;
    size_t n = c->n, K = ncoef;
    long jc[64], js[64];
    int64_t *cu = NULL;
    int32_t *dy = NULL;
    double *val = NULL, *zrow = NULL, *col = NULL;
    ct_status s;
    memset(out, 0, sizeof *out);
    int32_t *first = NULL;
    if (K == 0 || K > 64 || !(period_days > 0)) {
        return ct_fail(err, CT_EINVAL, "covariate paths: 1 to 64 columns");
    }
    out->n = n;
    out->ncoef = K;
    out->off = calloc(n + 1, sizeof *out->off);
    out->end = malloc((n ? n : 1) * sizeof *out->end);
    out->zsum = malloc((n ? n : 1) * K * sizeof *out->zsum);
    cu = malloc(DYN_READ_ROWS * sizeof *cu);
    dy = malloc(DYN_READ_ROWS * sizeof *dy);
    val = malloc(DYN_READ_ROWS * K * sizeof *val);
    zrow = malloc(K * sizeof *zrow);
    col = malloc((n ? n : 1) * sizeof *col);
    if (!out->off || !out->end || !out->zsum || !cu || !dy || !val || !zrow || !col) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for covariate paths");
        goto done;
    }
    CT_TRY(ct_file_open(&f, path, err));
    if (!ct_file_has_group(f, "/dynamic_covariates") || !ct_file_has_group(f, "/dynamic_sums")) {
        DYN_FAIL(CT_EFORMAT, "no /dynamic_covariates (ingest --dynamic-covariates)");
    }
    if (c->first_day == NULL) { /* the first purchase days of these customers */
        ct_table *tc = NULL;
        first = malloc((n ? n : 1) * sizeof *first);
        s = first != NULL ? ct_table_open(&tc, f, "/customers", err)
                          : ct_fail(err, CT_ENOMEM, "out of memory");
        long jf = s == CT_OK ? ct_table_find(tc, "first_day") : -1;
        if (s == CT_OK && jf < 0) {
            s = ct_fail(err, CT_EFORMAT, "%s: /customers has no first_day", path);
        }
        if (s == CT_OK) {
            s = ct_table_read(tc, (size_t)jf, c->row0, n, CT_INT32, first, err);
        }
        ct_table_close(tc);
        CT_TRY(s);
    }
    const int32_t *fd = c->first_day != NULL ? c->first_day : first;
    CT_TRY(ct_table_open(&t, f, "/dynamic_covariates", err));
    CT_TRY(ct_table_open(&ts, f, "/dynamic_sums", err));
    int64_t L = 0;
    CT_TRY(ct_attr_get_i64(f, "/dynamic_covariates", "period_days", &L, err));
    if (fabs((double)L - period_days) > 1e-9) {
        DYN_FAIL(CT_EFORMAT, "covariate periods of %lld days, customers' of %g",
                (long long)L, period_days);
    }
    long jcu = ct_table_find(t, "customer"), jdy = ct_table_find(t, "day");
    if (jcu < 0 || jdy < 0) {
        DYN_FAIL(CT_EFORMAT, "/dynamic_covariates lacks customer or day");
    }
    for (size_t j = 0; j < K; j++) {
        jc[j] = ct_table_find(t, cols[j]);
        js[j] = jc[j] >= 0 ? ct_table_find(ts, cols[j]) : -1;
        if (jc[j] >= 0 && js[j] < 0) {
            DYN_FAIL(CT_EFORMAT, "/dynamic_sums lacks column '%s'", cols[j]);
        }
        if (jc[j] < 0 && zstatic == NULL) {
            DYN_FAIL(CT_EINVAL, "covariate '%s' is not in /dynamic_covariates", cols[j]);
        }
    }
    builder b = {out, 0, 0, -1, 0};
    size_t R = ct_table_nrows(t);
    for (size_t r0 = 0; r0 < R; r0 += DYN_READ_ROWS) {
        size_t m = R - r0 < DYN_READ_ROWS ? R - r0 : DYN_READ_ROWS;
        CT_TRY(ct_table_read(t, (size_t)jcu, r0, m, CT_INT64, cu, err));
        CT_TRY(ct_table_read(t, (size_t)jdy, r0, m, CT_INT32, dy, err));
        for (size_t j = 0; j < K; j++) {
            if (jc[j] >= 0) {
                CT_TRY(ct_table_read(t, (size_t)jc[j], r0, m, CT_FLOAT64, val + j * m, err));
            }
        }
        for (size_t q = 0; q < m; q++) {
            int64_t g = cu[q] - (int64_t)c->row0;
            if (g < 0 || g >= (int64_t)n) {
                continue; /* another rank's customer */
            }
            size_t i = (size_t)g;
            for (size_t j = 0; j < K; j++) {
                zrow[j] = jc[j] >= 0 ? val[j * m + q] : zstatic[i * K + j];
            }
            CT_TRY(add_row(&b, c, fd, i, dy[q], zrow, period_days, (double)L, horizon, err));
        }
    }
    open_upto(&b, (long)n);
    for (size_t i = 0; i < n; i++) {
        char w[260], d1[11], d2[11];
        if (!(out->end[i] >= c->T[i] + horizon - 1e-9 * (1 + c->T[i] + horizon))) {
            who(c, i, w, sizeof w);
            double last = isnan(out->end[i]) ? 0 : out->end[i] * period_days;
            ct_date_format(fd[i] + (int32_t)llround(last) - 1, d1);
            ct_date_format(fd[i] + (int32_t)ceil((c->T[i] + horizon) * period_days), d2);
            if (isnan(out->end[i])) {
                DYN_FAIL(CT_EDATA, "%s has no time-varying covariates", w);
            }
            char need[64] = "the fit needs";
            if (horizon > 0) {
                snprintf(need, sizeof need, "scoring %g periods ahead needs", horizon);
            }
            DYN_FAIL(CT_EDATA, "%s: its time-varying covariates end on %s; %s them through %s",
                     w, d1, need, d2);
        }
    }
    /* the purchase sums: a dynamic column's from /dynamic_sums, x z for a static one */
    for (size_t j = 0; j < K; j++) {
        if (jc[j] >= 0) {
            CT_TRY(ct_table_read(ts, (size_t)js[j], c->row0, n, CT_FLOAT64, col, err));
        }
        for (size_t i = 0; i < n; i++) {
            out->zsum[i * K + j] = jc[j] >= 0 ? col[i] : c->x[i] * zstatic[i * K + j];
        }
    }
    s = CT_OK;
done:
    ct_table_close(t);
    ct_table_close(ts);
    ct_file_close(f);
    free(cu);
    free(dy);
    free(val);
    free(zrow);
    free(col);
    free(first);
    if (s != CT_OK) {
        ct_dyncov_free(out);
    }
    return s;
}
