/* clv_choose.c - which purchase model fits this business: the candidates
 * worth fitting, their holdout errors, and the rule that picks one.
 *
 * The models predict the conditional mean E[Y_i(t*) | history]: squared error
 * is the loss it minimises, so the holdout's per-customer mean squared error
 * (x*_i - E[Y_i(t*)])^2 is the out-of-sample test.  Absolute error is not: it
 * is minimised by the median, and favours the model that predicts least
 * (measured: on 100k customers simulated from BG/NBD, the holdout MAE picks
 * Pareto/NBD, the MSE BG/NBD).  BG/NBD and MBG/NBD differ mostly in the
 * customers without a repeat purchase, so their holdout MSEs are often
 * within noise of each other; the likelihood on the calibration data tells
 * them apart better.  Hence the rule:
 *   with a calibration/holdout split: the candidates whose holdout MSE is
 *   not worse than the best by more than one standard error of the paired
 *   difference (over customers) qualify; among them the smallest BIC;
 *   without a split: the smallest BIC (Schwarz 1978).
 * BG/BB's likelihood is a probability of counts of opportunities, not a
 * density of purchase times, so its BIC is not comparable with the others':
 * it is chosen only when its holdout MSE is the best.  The mean absolute
 * error and the aggregate error (sum E[Y_i(t*)] - sum x*_i) / sum x*_i are
 * reported beside the MSE. */
#include "clv_internal.h"

#include <stdlib.h>

#include "clvtier/comm.h"

int ct_clv_discrete(const ct_customers *c)
{
    for (size_t i = 0; i < c->n; i++) {
        double x = c->x[i], tx = c->t_x[i], T = c->T[i];
        if (x != floor(x) || tx != floor(tx) || T != floor(T) || x > tx || tx > T ||
            (x > 0 && tx < 1) || T > CT_BGBB_MAX_OPPORTUNITIES) {
            return 0;
        }
    }
    return 1;
}

size_t ct_clv_candidates(int discrete, ct_clv_model *models)
{
    size_t n = 0;
    models[n++] = CT_BGNBD;
    models[n++] = CT_MBGNBD;
    models[n++] = CT_PARETO;
    if (discrete) {
        models[n++] = CT_BGBB;
    }
    return n;
}

/* Offsets into one block's sums (hs_len(nf) values). */
static size_t hs_len(size_t nf)
{
    return 3 * nf + 2 + nf * (nf - 1) / 2;
}

ct_status ct_clv_holdout_parts(const ct_fit *const *fits, size_t nf, const ct_customers *c,
                               double t_star, double **part, size_t *nb, size_t *m,
                               ct_error *err)
{
    *part = NULL;
    *nb = 0;
    *m = hs_len(nf);
    if (c->x_star == NULL) {
        return ct_fail(err, CT_EFORMAT,
                       "no holdout column x_star: ingest with --calibration-end to split the "
                       "data");
    }
    size_t blocks = (c->n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK, len = *m;
    size_t rows = c->n < CT_SUM_BLOCK ? (c->n ? c->n : 1) : CT_SUM_BLOCK;
    double *p = calloc((blocks ? blocks : 1) * len, sizeof *p);
    double *e = malloc(nf * rows * sizeof *e);
    if (p == NULL || e == NULL) {
        free(p);
        free(e);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = CT_OK;
    for (size_t b = 0; b < blocks && s == CT_OK; b++) {
        size_t i0 = b * CT_SUM_BLOCK, n = c->n - i0 < CT_SUM_BLOCK ? c->n - i0 : CT_SUM_BLOCK;
        for (size_t j = 0; j < nf && s == CT_OK; j++) {
            s = ct_clv_expected(fits[j], c->x + i0, c->t_x + i0, c->T + i0, n, t_star,
                                e + j * rows, err);
        }
        double *q = p + b * len;
        for (size_t i = 0; i < n && s == CT_OK; i++) {
            double w = c->weight != NULL ? c->weight[i0 + i] : 1.0, a = c->x_star[i0 + i];
            for (size_t j = 0, k = 3 * nf + 2; j < nf; j++) {
                double dj = a - e[j * rows + i];
                q[3 * j] += w * fabs(dj);
                q[3 * j + 1] += w * dj * dj;
                q[3 * j + 2] += w * e[j * rows + i];
                for (size_t l = j + 1; l < nf; l++, k++) {
                    double dl = a - e[l * rows + i], d = dj * dj - dl * dl;
                    q[k] += w * d * d;
                }
            }
            q[3 * nf] += w * a;
            q[3 * nf + 1] += w;
        }
    }
    free(e);
    if (s != CT_OK) {
        free(p);
        return s;
    }
    *part = p;
    *nb = blocks;
    return CT_OK;
}

void ct_clv_holdout_errors(const double *sums, size_t nf, ct_clv_candidate *const *cand)
{
    double act = sums[3 * nf], W = sums[3 * nf + 1];
    size_t best = 0;
    for (size_t j = 0; j < nf; j++) {
        cand[j]->mae = W > 0 ? sums[3 * j] / W : CT_NAN;
        cand[j]->mse = W > 0 ? sums[3 * j + 1] / W : CT_NAN;
        cand[j]->agg = act > 0 ? (sums[3 * j + 2] - act) / act : CT_NAN;
        best = cand[j]->mse < cand[best]->mse ? j : best;
    }
    /* the standard error of MSE_j - MSE_best: the weighted variance of the
     * per-customer differences of squared errors over the customers */
    for (size_t j = 0; j < nf; j++) {
        if (j == best || !(W > 0)) {
            cand[j]->mse_se = 0;
            continue;
        }
        size_t lo = j < best ? j : best, hi = j < best ? best : j, k = 3 * nf + 2;
        for (size_t a = 0; a < lo; a++) {
            k += nf - 1 - a;
        }
        k += hi - lo - 1;
        double mean = cand[j]->mse - cand[best]->mse, var = sums[k] / W - mean * mean;
        cand[j]->mse_se = sqrt(fmax(var, 0) / W);
    }
}

ct_status ct_clv_choose(const ct_clv_candidate *cand, size_t n, int holdout, size_t *best,
                        ct_error *err)
{
    size_t b = n, m = n;
    if (holdout) { /* the smallest holdout MSE ... */
        for (size_t j = 0; j < n; j++) {
            if (cand[j].status == CT_OK && isfinite(cand[j].mse) &&
                (m == n || cand[j].mse < cand[m].mse)) {
                m = j;
            }
        }
    }
    if (m < n && cand[m].model == CT_BGBB) {
        b = m; /* nothing to break a tie with: BIC does not compare with BG/BB's */
    } else {
        /* ... and among the models not worse than it by more than one standard
         * error of the difference (all, without a holdout), the smallest BIC */
        for (size_t j = 0; j < n; j++) {
            const ct_clv_candidate *c = &cand[j];
            if (c->status != CT_OK || c->model == CT_BGBB || !isfinite(c->fit.bic) ||
                (m < n && !(c->mse - cand[m].mse <= c->mse_se))) {
                continue;
            }
            if (b == n || c->fit.bic < cand[b].fit.bic) {
                b = j; /* ties keep the earlier, simpler candidate */
            }
        }
    }
    if (b == n) {
        for (size_t j = 0; j < n; j++) {
            if (cand[j].status != CT_OK) {
                return ct_fail(err, cand[j].status, "no candidate model could be fitted; %s: %s",
                               ct_clv_model_name(cand[j].model), cand[j].message);
            }
        }
        return ct_fail(err, CT_ENOCONV, "no candidate model has a finite %s",
                       holdout ? "holdout error" : "BIC");
    }
    *best = b;
    return CT_OK;
}

const char *ct_clv_choice_rule(int holdout)
{
    return holdout ? "smallest BIC among the models whose holdout mean squared error is within "
                     "one standard error of the best"
                   : "smallest BIC (no holdout split; BG/BB not comparable by BIC)";
}
