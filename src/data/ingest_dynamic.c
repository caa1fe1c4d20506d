/* ingest_dynamic.c - time-varying covariates (ingest --dynamic-covariates):
 * a CSV with a customer id, the first day of a period and numeric columns,
 * one row per customer and period, into
 *   /dynamic_covariates  customer (int64 row of /customers), day (int32, the
 *                        period's first day), the columns (f64); sorted by
 *                        customer and day; attribute period_days
 *   /dynamic_sums        per customer (rows of /customers), each column
 *                        summed over the customer's repeat purchase days in
 *                        the calibration window (the likelihood's purchase
 *                        term: clv.h's ct_clv_paths.zsum)
 * Each customer's periods must be contiguous, of the log's period length,
 * from the one holding its first purchase through the calibration end; a
 * gap, an overlap, a late start or an early end is an error naming the
 * customer, the date and the lines.  Rows of ids that are not customers are
 * counted and left out.  Memory: about 24 + 8 x columns bytes per row. */
#include "data/ingest_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct drow {
    uint32_t cust;
    int32_t day;
    uint64_t line;
    size_t at; /* its values: vals[at * nv ...] */
} drow;

static int drow_cmp(const void *a, const void *b)
{
    const drow *x = a, *y = b;
    if (x->cust != y->cust) {
        return x->cust < y->cust ? -1 : 1;
    }
    if (x->day != y->day) {
        return x->day < y->day ? -1 : 1;
    }
    return x->line < y->line ? -1 : x->line > y->line;
}

static const char *const DYN_DATE_NAMES[] = {"date", "period", "period_start", "week", "start",
                                             "day", NULL};

typedef struct dyn {
    const ct_ingest_opts *o;
    const char *path;
    drow *rows;
    double *vals;
    size_t n, cap, nv;
    char (*names)[64];
} dyn;

static ct_status grow(dyn *d, ct_error *err)
{
    if (d->n < d->cap) {
        return CT_OK;
    }
    size_t nc = d->cap ? 2 * d->cap : 65536;
    drow *r = realloc(d->rows, nc * sizeof *r);
    if (r == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory for time-varying covariates");
    }
    d->rows = r;
    double *v = realloc(d->vals, nc * (d->nv ? d->nv : 1) * sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory for time-varying covariates");
    }
    d->vals = v;
    d->cap = nc;
    return CT_OK;
}

/* The header: the id and date columns, the value columns' names. */
static ct_status header(dyn *d, ct_csv *c, long *jid, long *jdate, ct_error *err)
{
    CT_CHECK(ct_ingest_check_duplicates(c, err));
    *jid = ct_ingest_resolve_col(c, 1, d->o->dynamic_id, ct_ingest_id_names, 1, "customer id",
                                 "--dynamic-id", err);
    if (*jid < 0) {
        return err->status;
    }
    *jdate = ct_ingest_resolve_col(c, 1, d->o->dynamic_date, DYN_DATE_NAMES, 2, "period date",
                                   "--dynamic-date", err);
    if (*jdate < 0) {
        return err->status;
    }
    if (*jdate == *jid || c->nf < 3) {
        return ct_fail_at(err, CT_EDATA, d->path, 1, 0,
                          "a customer id, a period date and at least one covariate column are "
                          "needed");
    }
    d->nv = c->nf - 2;
    if (d->nv > 256) {
        return ct_fail_at(err, CT_EDATA, d->path, 1, 0, "%zu covariate columns (at most 256)",
                          d->nv);
    }
    d->names = calloc(d->nv, sizeof *d->names);
    if (d->names == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t k = 0, q = 0; k < c->nf; k++) {
        if ((long)k == *jid || (long)k == *jdate) {
            continue;
        }
        const char *p = c->f[k].p;
        size_t n = c->f[k].n;
        ct_ingest_trim(&p, &n);
        if (n == 0 || n >= 64) {
            return ct_fail_at(err, CT_EDATA, d->path, 1, (unsigned)k + 1,
                              "covariate column %zu: empty or longer than 63 bytes", k + 1);
        }
        ct_field f = {p, n, 0};
        ct_field_str(&f, d->names[q], sizeof d->names[q]);
        if (strcmp(d->names[q], "customer") == 0 || strcmp(d->names[q], "day") == 0) {
            return ct_fail_at(err, CT_EDATA, d->path, 1, (unsigned)k + 1,
                              "covariate column may not be named '%s'", d->names[q]);
        }
        q++;
    }
    return CT_OK;
}

/* Every row of a customer of S into d (others counted in rep). */
static ct_status read_rows(dyn *d, const idtab *ids, const sorted *S, ct_ingest_report *rep,
                           ct_error *err)
{
    ct_csv c;
    CT_CHECK(ct_csv_open(&c, d->path, 0, err));
    ct_csv_sniff(&c);
    int r = ct_csv_next(&c, err);
    long jid = 0, jdate = 0;
    ct_status s = r < 0   ? err->status
                  : r == 0 ? ct_fail_at(err, CT_EDATA, d->path, 0, 0, "no header row")
                           : header(d, &c, &jid, &jdate, err);
    while (s == CT_OK && (r = ct_csv_next(&c, err)) == 1) {
        rep->dynamic_rows++;
        if (c.nf != d->nv + 2) {
            s = ct_fail_at(err, CT_EPARSE, d->path, c.line, (unsigned)c.nf,
                           "row has %zu column(s), the header has %zu", c.nf, d->nv + 2);
            break;
        }
        const char *p;
        size_t n;
        uint32_t row = ct_ingest_customer_row(ids, S, &c.f[jid], &p, &n);
        if (row == NO_CUST) {
            rep->dynamic_unmatched++;
            continue;
        }
        const char *dp = c.f[jdate].p;
        size_t dn = c.f[jdate].n;
        ct_ingest_trim(&dp, &dn);
        int32_t day;
        if (ct_date_parse(dp, dn, NULL, &day) != 0) {
            char t[80];
            ct_field f = {dp, dn, 0};
            ct_field_str(&f, t, sizeof t);
            s = ct_fail_at(err, CT_EPARSE, d->path, c.line, (unsigned)jdate + 1,
                           "period date '%s' is not a date (YYYY-MM-DD)", t);
            break;
        }
        if ((s = grow(d, err)) != CT_OK) {
            break;
        }
        double *v = d->vals + d->n * d->nv;
        for (size_t k = 0, q = 0; k < c.nf && s == CT_OK; k++) {
            if ((long)k == jid || (long)k == jdate) {
                continue;
            }
            const char *fp = c.f[k].p;
            size_t fn = c.f[k].n;
            ct_ingest_trim(&fp, &fn);
            v[q] = (double)NAN;
            if (ct_ingest_has_value(fp, fn) && ct_parse_double(fp, fn, &v[q]) != 0) {
                char t[80];
                ct_field f = {fp, fn, 0};
                ct_field_str(&f, t, sizeof t);
                s = ct_fail_at(err, CT_EPARSE, d->path, c.line, (unsigned)k + 1,
                               "time-varying covariate '%s': '%s' is not a number (code a "
                               "category as 0/1 columns)",
                               d->names[q], t);
            }
            q++;
        }
        d->rows[d->n] = (drow){row, day, c.line, d->n};
        d->n++;
    }
    if (s == CT_OK && r < 0) {
        s = err->status;
    }
    ct_csv_close(&c);
    return s;
}

/* "customer 'X'" of row i. */
static void cust_name(const ct_customers *cust, size_t i, char *buf, size_t cap)
{
    int len = (int)strnlen(cust->ids + i * cust->id_width, cust->id_width);
    snprintf(buf, cap, "customer '%.*s'", len > 200 ? 200 : len, cust->ids + i * cust->id_width);
}

/* Each customer's rows: contiguous periods of L days covering its first
 * purchase day through cal_end. */
static ct_status check_cover(const dyn *d, const ct_customers *cust, int32_t L, int32_t cal_end,
                             ct_error *err)
{
    size_t a = 0;
    char who[240], d1[11], d2[11];
    for (size_t i = 0; i < cust->n; i++) {
        size_t b = a;
        while (b < d->n && d->rows[b].cust == i) {
            b++;
        }
        cust_name(cust, i, who, sizeof who);
        ct_date_format(cust->first_day[i], d1);
        ct_date_format(cal_end, d2);
        if (b == a) {
            return ct_fail_at(err, CT_EDATA, d->path, 0, 0,
                              "%s has no time-varying covariates: every customer needs them for "
                              "each period from its first purchase (%s) to the calibration end "
                              "(%s)",
                              who, d1, d2);
        }
        for (size_t k = a; k + 1 < b; k++) {
            const drow *x = &d->rows[k], *y = &d->rows[k + 1];
            if (y->day == x->day + L) {
                continue;
            }
            char dx[11], dy[11], dg[11];
            ct_date_format(x->day, dx);
            ct_date_format(y->day, dy);
            ct_date_format(x->day + L, dg);
            if (y->day > x->day + L && (y->day - x->day) % L == 0) {
                return ct_fail_at(err, CT_EDATA, d->path, y->line, 0,
                                  "%s: no covariates for the period starting %s (a gap between "
                                  "lines %llu, %s, and %llu, %s)",
                                  who, dg, (unsigned long long)x->line, dx,
                                  (unsigned long long)y->line, dy);
            }
            return ct_fail_at(err, CT_EDATA, d->path, y->line, 0,
                              "%s: periods starting %s (line %llu) and %s (line %llu) are %d "
                              "day(s) apart; periods are %d day(s) long, one row each",
                              who, dx, (unsigned long long)x->line, dy,
                              (unsigned long long)y->line, (int)(y->day - x->day), (int)L);
        }
        const drow *f = &d->rows[a], *l = &d->rows[b - 1];
        if (f->day > cust->first_day[i]) {
            char df[11];
            ct_date_format(f->day, df);
            return ct_fail_at(err, CT_EDATA, d->path, f->line, 0,
                              "%s: time-varying covariates start on %s, after its first "
                              "purchase on %s; they must cover it",
                              who, df, d1);
        }
        if (l->day + L <= cal_end) {
            char de[11];
            ct_date_format(l->day + L, de);
            return ct_fail_at(err, CT_EDATA, d->path, l->line, 0,
                              "%s: no covariates for the period starting %s: they must run "
                              "through the calibration end (%s)",
                              who, de, d2);
        }
        a = b;
    }
    return CT_OK;
}

/* Per customer, each column summed over its repeat purchase days up to
 * cal_end (distinct days after the first, as x counts them): sums (n x nv). */
static void purchase_sums(const dyn *d, const sorted *S, const ct_customers *cust, int32_t L,
                          int32_t cal_end, double *sums)
{
    size_t a = 0, nv = d->nv;
    memset(sums, 0, cust->n * nv * sizeof *sums);
    for (size_t i = 0; i < cust->n; i++) {
        size_t b = a;
        while (b < d->n && d->rows[b].cust == i) {
            b++;
        }
        size_t k = a;
        int32_t prev = cust->first_day[i];
        for (size_t t = S->off[i]; t < S->off[i + 1]; t++) {
            int32_t day = S->day[t];
            if (day <= prev || day > cal_end) {
                continue; /* the first day, a day counted already, or the holdout */
            }
            prev = day;
            while (k + 1 < b && d->rows[k + 1].day <= day) {
                k++;
            }
            const double *v = d->vals + d->rows[k].at * nv;
            for (size_t j = 0; j < nv; j++) {
                sums[i * nv + j] += day < d->rows[k].day + L ? v[j] : (double)NAN;
            }
        }
        a = b;
    }
}

static ct_status write_tables(ct_file *out, const dyn *d, const ct_customers *cust,
                              const double *sums, int32_t L, ct_error *err)
{
    size_t nv = d->nv, N = d->n ? d->n : 1;
    ct_colspec *spec = calloc(nv + 2, sizeof *spec);
    void *buf = malloc(N * sizeof(double));
    ct_tw *w = NULL;
    ct_status s = spec && buf ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        spec[0] = (ct_colspec){"customer", CT_INT64, 0};
        spec[1] = (ct_colspec){"day", CT_INT32, 0};
        for (size_t j = 0; j < nv; j++) {
            spec[j + 2] = (ct_colspec){d->names[j], CT_FLOAT64, 0};
        }
        s = ct_tw_create(&w, out, "/dynamic_covariates", spec, nv + 2, d->n, NULL, err);
    }
    for (size_t j = 0; j < nv + 2 && s == CT_OK; j++) {
        for (size_t r = 0; r < d->n; r++) {
            const drow *x = &d->rows[r];
            if (j == 0) {
                ((int64_t *)buf)[r] = (int64_t)x->cust;
            } else if (j == 1) {
                ((int32_t *)buf)[r] = x->day;
            } else {
                ((double *)buf)[r] = d->vals[x->at * nv + j - 2];
            }
        }
        s = ct_tw_append(w, j, buf, d->n, err);
    }
    if (s == CT_OK) {
        s = ct_tw_close(w, err);
        w = NULL;
    }
    ct_tw_abort(w);
    w = NULL;
    if (s == CT_OK) {
        s = ct_attr_set_i64(out, "/dynamic_covariates", "period_days", L, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(out, "/dynamic_covariates", "source", d->path, err);
    }
    if (s == CT_OK) {
        s = ct_tw_create(&w, out, "/dynamic_sums", spec + 2, nv, cust->n, NULL, err);
    }
    double *col = s == CT_OK ? malloc((cust->n ? cust->n : 1) * sizeof *col) : NULL;
    if (s == CT_OK && col == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < nv && s == CT_OK; j++) {
        for (size_t i = 0; i < cust->n; i++) {
            col[i] = sums[i * nv + j];
        }
        s = ct_tw_append(w, j, col, cust->n, err);
    }
    if (s == CT_OK) {
        s = ct_tw_close(w, err);
        w = NULL;
    }
    ct_tw_abort(w);
    free(col);
    free(buf);
    free(spec);
    return s;
}

ct_status ct_ingest_dynamic(ct_file *out, const ct_ingest_opts *o, const idtab *ids,
                            const sorted *S, const ct_customers *cust, int32_t cal_end,
                            ct_ingest_report *rep, ct_error *err)
{
    if (o->period != CT_PERIOD_DAY && o->period != CT_PERIOD_WEEK) {
        return ct_fail(err, CT_EINVAL,
                       "time-varying covariates need --period day or week (periods of a fixed "
                       "number of days)");
    }
    int32_t L = o->period == CT_PERIOD_DAY ? 1 : 7;
    dyn d = {o, o->dynamic_path, NULL, NULL, 0, 0, 0, NULL};
    double *sums = NULL;
    ct_status s = read_rows(&d, ids, S, rep, err);
    for (size_t j = 0; j < d.nv && s == CT_OK; j++) {
        char ds[96];
        snprintf(ds, sizeof ds, "/features/%s", d.names[j]);
        if (ct_file_has_dataset(out, ds)) {
            s = ct_fail_at(err, CT_EDATA, d.path, 1, 0,
                           "column '%s' is also a column of --features: one name, one meaning "
                           "(rename one of them)",
                           d.names[j]);
        }
    }
    if (s == CT_OK) {
        qsort(d.rows, d.n, sizeof *d.rows, drow_cmp);
        for (size_t k = 0; k + 1 < d.n && s == CT_OK; k++) {
            if (d.rows[k].cust == d.rows[k + 1].cust && d.rows[k].day == d.rows[k + 1].day) {
                char who[240], dd[11];
                cust_name(cust, d.rows[k].cust, who, sizeof who);
                ct_date_format(d.rows[k].day, dd);
                s = ct_fail_at(err, CT_EDATA, d.path, d.rows[k + 1].line, 0,
                               "%s: two rows for the period starting %s (lines %llu and %llu)",
                               who, dd, (unsigned long long)d.rows[k].line,
                               (unsigned long long)d.rows[k + 1].line);
            }
        }
    }
    if (s == CT_OK) {
        s = check_cover(&d, cust, L, cal_end, err);
    }
    if (s == CT_OK) {
        sums = malloc((cust->n ? cust->n : 1) * d.nv * sizeof *sums);
        s = sums != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        purchase_sums(&d, S, cust, L, cal_end, sums);
        s = write_tables(out, &d, cust, sums, L, err);
    }
    rep->dynamic_columns = d.nv;
    free(sums);
    free(d.rows);
    free(d.vals);
    free(d.names);
    return s;
}
