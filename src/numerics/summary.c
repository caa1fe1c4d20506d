/* summary.c - per-customer RFM summaries from a sorted transaction log.
 * Conventions as lifetimes' summary_data_from_transaction_data and
 * calibration_and_holdout_data (transactions on one day are one purchase;
 * monetary value is the mean over repeat purchase days).
 * Ref: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
 * Marketing Science 24(2), sec. 2 (x, t_x, T). */
#include "clvtier/customers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ct_status ct_customers_alloc(ct_customers *c, size_t n, size_t id_width, int holdout, int dated,
                             int weighted, ct_error *err)
{
    size_t k = n > 0 ? n : 1;
    memset(c, 0, sizeof *c);
    c->n = n;
    c->id_width = id_width;
    c->ids = id_width > 0 ? calloc(k, id_width) : NULL;
    c->x = malloc(k * sizeof(double));
    c->t_x = malloc(k * sizeof(double));
    c->T = malloc(k * sizeof(double));
    c->m = malloc(k * sizeof(double));
    c->total = malloc(k * sizeof(double));
    c->ntx = malloc(k * sizeof(int64_t));
    int bad = (id_width > 0 && c->ids == NULL) || !c->x || !c->t_x || !c->T || !c->m ||
              !c->total || !c->ntx;
    if (dated) {
        c->first_day = malloc(k * sizeof(int32_t));
        c->last_day = malloc(k * sizeof(int32_t));
        c->r_score = malloc(k);
        c->f_score = malloc(k);
        c->m_score = malloc(k);
        c->rfm = malloc(k * sizeof(int32_t));
        bad = bad || !c->first_day || !c->last_day || !c->r_score || !c->f_score ||
              !c->m_score || !c->rfm;
    }
    if (holdout) {
        c->x_star = malloc(k * sizeof(double));
        c->m_star = malloc(k * sizeof(double));
        bad = bad || !c->x_star || !c->m_star;
    }
    if (weighted) {
        c->weight = malloc(k * sizeof(double));
        bad = bad || !c->weight;
    }
    if (bad) {
        ct_customers_free(c);
        return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    return CT_OK;
}

void ct_customers_free(ct_customers *c)
{
    if (c == NULL) {
        return;
    }
    free(c->ids);
    free(c->x);
    free(c->t_x);
    free(c->T);
    free(c->m);
    free(c->total);
    free(c->ntx);
    free(c->first_day);
    free(c->last_day);
    free(c->x_star);
    free(c->m_star);
    free(c->weight);
    free(c->r_score);
    free(c->f_score);
    free(c->m_score);
    free(c->rfm);
    memset(c, 0, sizeof *c);
}

/* Purchase days in [a, b): count of distinct days, the summed amount of
 * each day added up, and the first day's sum (so callers can leave it out). */
typedef struct day_runs {
    size_t days;
    double sum, first_sum;
    int32_t last;
} day_runs;

static day_runs runs(const int32_t *day, const double *amount, size_t a, size_t b)
{
    day_runs r = {0, 0.0, 0.0, 0};
    for (size_t k = a; k < b;) {
        size_t e = k;
        double s = 0;
        while (e < b && day[e] == day[k]) {
            s += amount != NULL ? amount[e] : 0.0;
            e++;
        }
        if (r.days == 0) {
            r.first_sum = s;
        }
        r.days++;
        r.sum += s;
        r.last = day[k];
        k = e;
    }
    return r;
}

ct_status ct_summarize(const int32_t *day, const double *amount, const size_t *off, size_t n,
                       const ct_summary_opts *o, ct_customers *out, ct_error *err)
{
    if (o->period_days <= 0 || !isfinite(o->period_days)) {
        return ct_fail(err, CT_EINVAL, "period length must be > 0 days");
    }
    if (o->observation_end < o->calibration_end) {
        return ct_fail(err, CT_EINVAL, "observation end is before calibration end");
    }
    const double pd = o->period_days;
    for (size_t i = 0; i < n; i++) {
        size_t a = off[i], b = off[i + 1], c = a;
        if (a >= b || day[a] > o->calibration_end) {
            return ct_fail(err, CT_EINTERNAL,
                           "customer %zu has no transaction in the calibration window", i);
        }
        while (c < b && day[c] <= o->calibration_end) {
            c++;
        }
        day_runs cal = runs(day, amount, a, c);
        size_t x = cal.days - 1;
        out->x[i] = (double)x;
        out->t_x[i] = (double)(cal.last - day[a]) / pd;
        out->T[i] = (double)(o->calibration_end - day[a]) / pd;
        out->m[i] = x > 0 ? (cal.sum - cal.first_sum) / (double)x : 0.0;
        out->total[i] = cal.sum;
        out->ntx[i] = (int64_t)(c - a);
        if (out->first_day != NULL) {
            out->first_day[i] = day[a];
            out->last_day[i] = cal.last;
        }
        if (o->holdout && out->x_star != NULL) {
            day_runs hold = runs(day, amount, c, b);
            out->x_star[i] = (double)hold.days;
            out->m_star[i] = hold.days > 0 ? hold.sum / (double)hold.days : 0.0;
        }
    }
    return CT_OK;
}
