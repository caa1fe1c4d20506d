/* summary.h - per-customer RFM summaries (x, t_x, T, m, holdout) from a
 * transaction log sorted by customer and day (numerics). */
#ifndef CLVTIER_SUMMARY_H
#define CLVTIER_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/customers.h"
#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif


/* Summarize customers whose transactions are day[off[i]..off[i+1]) and
 * amount[...] (NULL amounts: m = total = 0), sorted by day within each
 * customer, every day <= observation_end, and the first day <=
 * calibration_end.  Fills every summary column of out (allocated for n). */
ct_status ct_summarize(const int32_t *day, const double *amount, const size_t *off, size_t n,
                       const ct_summary_opts *o, ct_customers *out, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
