/* summary.c - per-customer RFM summaries from a sorted transaction log.
 * Conventions as lifetimes' summary_data_from_transaction_data and
 * calibration_and_holdout_data (transactions on one day are one purchase;
 * monetary value is the mean over repeat purchase days).
 * Ref: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
 * Marketing Science 24(2), sec. 2 (x, t_x, T). */
#include "clvtier/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        if (!isfinite(cal.sum) || !isfinite(cal.sum - cal.first_sum)) {
            /* row: the customer (1-based), for the caller to name */
            return ct_fail_at(err, CT_EDATA, "", (uint64_t)i + 1, 0,
                              "customer %zu: the amounts add up to %g (beyond the largest "
                              "number, 1.8e308)",
                              i + 1, cal.sum);
        }
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
            if (!isfinite(hold.sum)) {
                return ct_fail_at(err, CT_EDATA, "", (uint64_t)i + 1, 0,
                                  "customer %zu: the holdout amounts add up to %g (beyond the "
                                  "largest number, 1.8e308)",
                                  i + 1, hold.sum);
            }
            out->x_star[i] = (double)hold.days;
            out->m_star[i] = hold.days > 0 ? hold.sum / (double)hold.days : 0.0;
        }
    }
    return CT_OK;
}
