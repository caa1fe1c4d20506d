/* audit.h - fairness audit of a tiering against a protected column (domain
 * layer).  The column (declared `audit` in the model's [protected] section)
 * never enters clustering or tiering; it is only compared with the result.
 *
 * Groups: the column's distinct values when there are at most
 * CT_AUDIT_MAX_DISTINCT of them (codes such as 0/1/2), else its quartiles;
 * missing values (NaN) form the group "missing".
 *
 * Reported per column:
 *   counts    customers per group x tier (new-customer tier last);
 *   cramers_v association of tier and group (0 none .. 1 tier fixed by group);
 *   eta2      per clustering feature, the correlation ratio eta^2: the share
 *             of the feature's variance explained by the group means
 *             (Fisher; Cohen 1988: 0.01 small, 0.06 medium, 0.14 large).
 *   proxy     eta2 >= CT_AUDIT_PROXY_ETA2 (0.10, between Cohen's medium and
 *             large): the feature carries enough of the protected attribute
 *             that tiers built on it can sort customers by group even though
 *             the attribute itself is never used.  The threshold is a screen
 *             for a human to look, not a legal test. */
#ifndef CLVTIER_AUDIT_H
#define CLVTIER_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/modelfile.h"
#include "clvtier/schema.h"
#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ct_audit (the record of /audit/<column>) is in schema.h. */

/* col: the protected column per customer; tier: codes 0..ntiers-1;
 * feat[j]: the clustering features (original units) per customer; w: weights
 * or NULL. */
ct_status ct_audit_compute(const char *name, const double *col, const int8_t *tier, size_t ntiers,
                           const double *const *feat, size_t nfeat, const double *w, size_t n,
                           ct_audit *out, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
