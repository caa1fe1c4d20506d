/* customers.h - the per-customer summary table (/customers).
 *
 * Columns follow ../shared/DESIGN.md and lifetimes' conventions:
 *   x    repeat purchases: distinct purchase days after the first, in the
 *        calibration window (several transactions on one day count once)
 *   t_x  recency: (last purchase day - first purchase day) / period length
 *   T    age: (calibration end - first purchase day) / period length
 *   m    mean spend of the repeat purchase days (each day's amounts summed;
 *        0 when x = 0), the Gamma-Gamma input
 *   n    transaction rows in the calibration window
 *   total  total spend in the calibration window
 *   first_day, last_day  days since 1970-01-01 of the first/last purchase
 *   x_star, m_star  holdout repeat purchase days and their mean spend
 *        (present only with a calibration/holdout split)
 *   weight  customers this row stands for (summaries given as patterns)
 *   r_score, f_score, m_score, rfm  RFM quintile scores (see rfm.h). */
#ifndef CLVTIER_CUSTOMERS_H
#define CLVTIER_CUSTOMERS_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct ct_customers {
    size_t n;
    char *ids;       /* n x id_width bytes, NUL-padded UTF-8 */
    size_t id_width; /* bytes per id (ct_str_width of the longest) */
    double *x, *t_x, *T, *m, *total;
    int64_t *ntx;
    int32_t *first_day, *last_day;
    double *x_star, *m_star; /* NULL without a holdout */
    double *weight;          /* NULL: every row is one customer */
    int8_t *r_score, *f_score, *m_score;
    int32_t *rfm;
    size_t row0; /* read by part: the table row of row 0 here (else 0) */
    /* NULL, or the covariate values of these customers for a fit with
     * covariates (clv.h): n x that fit's ncoef, row-major.  Set by the
     * caller, who owns it (never read from or written to a file here). */
    const double *cov;
} ct_customers;

/* Allocate every column for n rows (holdout columns when holdout != 0,
 * dates/RFM when dated != 0, weights when weighted != 0).  Returns
 * CT_ENOMEM on failure (nothing left allocated). */
ct_status ct_customers_alloc(ct_customers *c, size_t n, size_t id_width, int holdout, int dated,
                             int weighted, ct_error *err);
void ct_customers_free(ct_customers *c);


/* Width used to store strings of at most maxlen bytes: 8, 16, 32, then
 * multiples of 32.  Always >= 1. */
size_t ct_str_width(size_t maxlen);

/* The window a summary is computed over (summary.h's ct_summarize). */
typedef struct ct_summary_opts {
    double period_days;     /* length of one period in days (ct_period_days) */
    int32_t calibration_end; /* last day of the calibration window */
    int32_t observation_end; /* last day observed (>= calibration_end) */
    int holdout;            /* compute x_star/m_star over (calibration_end, observation_end] */
} ct_summary_opts;

/* Check the summary for values no model accepts: NaN/Inf, negative x, t_x,
 * T, m, weight, non-integer x, t_x > T.  The message names the row (1-based),
 * the column and the value; `source` names the file. */
ct_status ct_customers_validate(const ct_customers *c, const char *source, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
