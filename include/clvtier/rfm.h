/* rfm.h - RFM quintile scores.
 *
 * R: days from the last purchase to the reference day (fewer is better),
 * F: purchase days (x + 1), M: mean spend per purchase day (total / (x + 1)).
 * Each is scored 1..5 by quintile: score = 1 + floor(5 * r / n) where r is
 * the 0-based rank of the first row with an equal value in ascending order
 * of goodness, so ties share a score and the result does not depend on row
 * order.  rfm = 100 R + 10 F + M (e.g. 555 = best).
 * Ref: A. M. Hughes, "Strategic Database Marketing" (1994), ch. on RFM. */
#ifndef CLVTIER_RFM_H
#define CLVTIER_RFM_H

#include <stdint.h>

#include "clvtier/customers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill c->r_score, f_score, m_score and rfm (which must be allocated) using
 * c->last_day, c->x and c->total, relative to ref_day. */
ct_status ct_rfm_score(ct_customers *c, int32_t ref_day, ct_error *err);

/* Quintile scores (1..5) of v[0..n) into score (ties share the lowest). */
ct_status ct_quintiles(const double *v, size_t n, int8_t *score, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
