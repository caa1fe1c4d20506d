/* clv.h - probabilistic CLV models: BG/NBD, Pareto/NBD, MBG/NBD, BG/BB and
 * Gamma-Gamma.  Maximum likelihood with analytic gradients and Hessians
 * (Newton on log-parameters, clv_fit.c), standard errors from the Hessian, AIC/BIC; then P(alive),
 * expected purchases, expected spend and discounted CLV per customer.
 *
 * Data come from a ct_customers summary (x, t_x, T [, m] [, weight]); for
 * BG/BB, T is the number of transaction opportunities n and x, t_x are counts.
 * Customers with equal (x, t_x, T) (Gamma-Gamma: equal (x, m)) are collapsed
 * into one weighted row before fitting.  Parameters are in the summary's
 * period unit.
 *
 * Refs: Fader, Hardie & Lee (2005a) "Counting your customers the easy way",
 * Marketing Science 24(2) (BG/NBD); Schmittlein, Morrison & Colombo (1987),
 * Management Science 33(1), and Fader & Hardie (2005) "A note on deriving the
 * Pareto/NBD model and related expressions" (Pareto/NBD); Batislam, Denizel &
 * Filiztekin (2007), IJRM 24(3) (MBG/NBD); Fader, Hardie & Shang (2010),
 * Marketing Science 29(6) (BG/BB); Fader, Hardie & Lee (2005b) "RFM and CLV",
 * JMR 42(4), and Fader & Hardie (2013) note 025 (Gamma-Gamma). */
#ifndef CLVTIER_CLV_H
#define CLVTIER_CLV_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/customers.h"
#include "clvtier/status.h"
#include "clvtier/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ct_comm;
struct ct_rng;



/* ---- data ------------------------------------------------------------ */
typedef struct ct_clv_data ct_clv_data;

/* Validate the columns the model needs and collapse equal rows.  Errors:
 * CT_EDATA (NaN, negative, non-integer x, t_x > T, no usable rows - e.g.
 * Gamma-Gamma with no repeat buyers), CT_EFORMAT (a needed column missing). */
ct_status ct_clv_data_new(ct_clv_data **out, ct_clv_model m, const ct_customers *c,
                          const char *source, ct_error *err);
void ct_clv_data_free(ct_clv_data *d);
/* These rows are this rank's part of a data set split over comm's ranks
 * (collective): the log-likelihood, its gradient and every sum the fit
 * takes are added over the ranks (in rank order: the same bits on every
 * rank, so all ranks take the same minimiser steps). */
ct_status ct_clv_data_distribute(ct_clv_data *d, struct ct_comm *comm, ct_error *err);
/* ct_clv_data_new on this rank's part of the rows (c->row0 numbers the
 * rows in messages), then ct_clv_data_distribute; collective.  The checks
 * on the whole data (some usable row, some repeat buyer) go over the ranks,
 * so a rank may hold no rows at all.  comm NULL or one rank: ct_clv_data_new. */
ct_status ct_clv_data_new_part(ct_clv_data **out, ct_clv_model m, const ct_customers *c,
                               const char *source, struct ct_comm *comm, ct_error *err);
size_t ct_clv_data_rows(const ct_clv_data *d);     /* distinct rows */
double ct_clv_data_customers(const ct_clv_data *d); /* sum of weights */

/* Log-likelihood (summed over customers) and, if grad != NULL, its gradient
 * with respect to the natural parameters.  threads 0 = default; the result
 * does not depend on the thread count. */
ct_status ct_clv_loglik(const ct_clv_data *d, const double *par, double *ll, double *grad,
                        unsigned threads, ct_error *err);

/* ---- fitting ----------------------------------------------------------- */
typedef struct ct_fit_opts {
    double penalty;     /* L2 penalty on the parameters (lifetimes' penalizer_coef) */
    unsigned starts;    /* starting points (>= 1); the best optimum is kept */
    unsigned max_iter;  /* per start */
    double gtol;        /* stop when |gradient of -LL/N w.r.t. log-params| < gtol */
    unsigned threads;   /* 0 = default */
    uint64_t seed;      /* for the extra starting points */
    const double *init; /* NULL, or natural parameters of the first start */
    int full_search;    /* 1: no subsample start; every start searched on all rows */
    double penalty_cov; /* L2 penalty on covariate coefficients (ct_clv_fit_cov) */
} ct_fit_opts;

void ct_fit_opts_init(ct_fit_opts *o);


/* Fit by maximum likelihood: Newton steps on log-parameters with the
 * analytic Hessian, from the optimum of a deterministic subsample when the
 * data have more than 50,000 distinct rows (see clv_fit.c).  CT_ENOCONV
 * (with the reason) when no start converges to finite parameters. */
ct_status ct_clv_fit(ct_clv_data *d, const ct_fit_opts *o, ct_fit *fit, ct_error *err);


/* ---- predictions --------------------------------------------------------- */

/* Per customer i of (x, t_x, T)[0..n): P(alive at T). */
ct_status ct_clv_p_alive(const ct_fit *f, const double *x, const double *tx, const double *T,
                         size_t n, double *out, ct_error *err);
/* Expected purchases in (T, T + t] given the history (BG/BB: in the next t
 * opportunities, t whole). */
ct_status ct_clv_expected(const ct_fit *f, const double *x, const double *tx, const double *T,
                          size_t n, double t, double *out, ct_error *err);
/* P(no purchase in (T, T + t] | x, t_x, T): BG/NBD, MBG/NBD, Pareto/NBD.
 * A loyalty metric that, unlike P(alive), also counts a slow buyer who is
 * alive but unlikely to buy soon. */
ct_status ct_clv_p_no_purchase(const ct_fit *f, const double *x, const double *tx,
                               const double *T, size_t n, double t, double *out, ct_error *err);
/* P(alive at T + t | x, t_x, T): BG/NBD, MBG/NBD, Pareto/NBD (clv.c). */
ct_status ct_clv_p_alive_at(const ct_fit *f, const double *x, const double *tx, const double *T,
                            size_t n, double t, unsigned threads, double *out, ct_error *err);
/* The total CLV of each group g (customers with group[i] = g < ngroups;
 * others left out) and its delta-method interval: the customers share the
 * parameters, so the gradient of the total is the sum of theirs (clv.c). */
ct_status ct_clv_group_clv(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           double horizon, double discount, const int8_t *group, size_t ngroups,
                           double level, unsigned threads, double *total, double *lo,
                           double *hi, ct_error *err);
/* The predictive interval of the purchases in (T, T + t] given the history
 * (the customer's randomness and the model's, at the fitted parameters):
 * lo/hi the (1 -/+ level)/2 quantiles of its distribution (clv.c). */
ct_status ct_clv_purchases_interval(const ct_fit *f, const double *x, const double *tx,
                                   const double *T, size_t n, double t, double level,
                                   unsigned threads, double *lo, double *hi, ct_error *err);
/* Discounted expected residual transactions with continuous discounting at
 * rate delta per period (Fader, Hardie & Lee 2005, "RFM and CLV"): closed
 * form for Pareto/NBD, Gauss-Laguerre quadrature for BG/NBD and MBG/NBD. */
ct_status ct_clv_dert(const ct_fit *f, const double *x, const double *tx, const double *T,
                      size_t n, double delta, unsigned threads, double *out, ct_error *err);
/* Unconditional expected repeat purchases E[X(t)] of a new customer in (0, t]. */
ct_status ct_clv_expected_new(const ct_fit *f, double t, double *out, ct_error *err);
/* Probability of exactly j repeat purchases in (0, t] for a new customer
 * (j = 0..jmax-1; out[jmax-1] holds P(X >= jmax-1)). */
ct_status ct_clv_count_pmf(const ct_fit *f, double t, size_t jmax, double *out, ct_error *err);

/* Gamma-Gamma: E[M | x, m] = p (v + x m) / (p x + q - 1); customers with
 * x = 0 get the population mean p v / (q - 1). */
ct_status ct_clv_spend(const ct_fit *gg, const double *x, const double *m, size_t n, double *out,
                       ct_error *err);


/* CLV_i = E[M_i] * sum_{k=1..H} (E[Y_i(k)] - E[Y_i(k-1)]) / (1 + d)^k:
 * expected purchases in each of the next H periods, valued at the expected
 * spend, discounted to now at rate d per period (end-of-period convention).
 * exp_purchases = E[Y_i(H)].  Without a spend fit (gg NULL), E[M_i] is the
 * customer's own m (0 when absent).  Computed once per distinct (x, t_x, T). */
ct_status ct_clv_score(const ct_fit *f, const ct_fit *gg, const ct_customers *c, double horizon,
                       double discount, unsigned threads, ct_scores *out, ct_error *err);
/* ct_clv_score under a drawn parameter set (tier stability): the BG
 * family's horizon interpolated to 1e-9 of its size instead of 1e-13. */
ct_status ct_clv_score_draw(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                            double horizon, double discount, unsigned threads, ct_scores *out,
                            ct_error *err);
/* The same, and with 0 < level < 1 the delta-method intervals of P(alive)
 * (logit scale), expected purchases and CLV (log scale) from the fits'
 * covariances (out->*_lo, *_hi; NaN where a fit has no finite covariance),
 * and (not BG/BB) the predictive interval of the purchases in the horizon
 * (out->purchases_lo, _hi: ct_clv_purchases_interval).  level = 0:
 * ct_clv_score. */
ct_status ct_clv_score_intervals(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                 double horizon, double discount, double level,
                                 unsigned threads, ct_scores *out, ct_error *err);

/* ct_clv_score of many blocks of customers under one fit, spend fit and
 * horizon (score streaming its input): what depends on those alone (the
 * horizon's periods, the BG family's interpolants) is made once by
 * ct_clv_scorer_new; each ct_clv_scorer_run gives the bits ct_clv_score
 * gives for the same rows.  Fits without covariates. */
typedef struct ct_clv_scorer ct_clv_scorer;
ct_status ct_clv_scorer_new(const ct_fit *f, const ct_fit *gg, double horizon, double discount,
                            unsigned threads, ct_clv_scorer **out, ct_error *err);
ct_status ct_clv_scorer_run(const ct_clv_scorer *s, const ct_customers *c, ct_scores *out,
                            ct_error *err);
/* From now on s's runs give delta-method intervals at level (0 < level < 1)
 * too: the bits of ct_clv_score_intervals (the shifted fits' interpolants
 * are made here, once). */
ct_status ct_clv_scorer_intervals(ct_clv_scorer *s, double level, ct_error *err);
void ct_clv_scorer_free(ct_clv_scorer *s);

/* ---- static covariates (clv_cov.c) --------------------------------------------
 * CLVTools' parametrisation: alpha_i = alpha_0 exp(-gamma_trans' z_i) in
 * all three models; a_i = a_0 exp(gamma_life' z_i), b_i = b_0
 * exp(gamma_life' z_i) (BG/NBD, MBG/NBD); beta_i = beta_0
 * exp(-gamma_life' z_i) (Pareto/NBD). */

typedef struct ct_clv_covariates {
    size_t ncoef;
    const double *z;                  /* customers x ncoef, row-major: customer i's value of
                                       * coefficient j's column */
    unsigned proc[CT_CLV_MAXCOEF];    /* CT_COV_PURCHASE | CT_COV_DROPOUT (both: constrained) */
    const char *col[CT_CLV_MAXCOEF];  /* the column names */
} ct_clv_covariates;

/* Data with covariates for bgnbd, mbgnbd or pareto (rows not collapsed;
 * comm: this rank's part of the customers, collective).  cv->z must stay
 * valid while the data are used (it is not copied when every customer has
 * a positive weight).  CT_EDATA names the
 * customer for a missing covariate, and the columns for a constant one or
 * collinear ones (per process, with the intercept). */
ct_status ct_clv_data_new_cov(ct_clv_data **out, ct_clv_model m, const ct_customers *c,
                              const ct_clv_covariates *cv, const char *source,
                              struct ct_comm *comm, ct_error *err);
/* Fit with covariates from base, the same model's fit without them (the
 * start: its parameters, coefficients 0); fills fit's likelihood-ratio test
 * against base (ll0, lr, lr_p).  opts->penalty_cov: L2 penalty on the
 * coefficients, as CLVTools' reg.lambdas (added to -lnL/N). */
ct_status ct_clv_fit_cov(ct_clv_data *d, const ct_fit *base, const ct_fit_opts *opts,
                         ct_fit *fit, ct_error *err);
/* One customer's natural parameters (r, alpha_i, a_i, b_i) or (r, alpha_i,
 * s, beta_i) under a fit with covariates; z: its ncoef values. */
void ct_clv_cov_params(const ct_fit *f, const double *z, double *p);
/* ct_clv_score for a fit with covariates: z as in ct_clv_covariates (c->n x
 * f->ncoef); z NULL or f without covariates: ct_clv_score.  (ct_clv_score
 * and ct_clv_score_intervals with level 0 come here when c->cov is set.) */
ct_status ct_clv_score_cov(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           const double *z, double horizon, double discount, unsigned threads,
                           ct_scores *out, ct_error *err);

/* ---- time-varying covariates (clv_dyn.c): Pareto/NBD -------------------------
 * Bachmann, Meierer & Naef (2021), Marketing Science 40(4), "The Role of
 * Time-Varying Contextual Factors in Latent Attrition Models for Customer
 * Base Analysis": customer i's purchase rate lambda_i exp(gamma_trans'
 * z_i(t)) and drop-out rate mu_i exp(gamma_life' z_i(t)), lambda ~
 * Gamma(r, alpha), mu ~ Gamma(s, beta), z_i piecewise constant in time.
 * With A_i(t), B_i(t) the integrals over [0, t] of exp(gamma_trans' z_i)
 * and exp(gamma_life' z_i), customer i's likelihood is
 *   G(r+x)/G(r) alpha^r beta^s exp(gamma_trans' sum_j z_i(t_j)) [
 *     (alpha+A(T))^-(r+x) (beta+B(T))^-s
 *     + s int_tx^T exp(gamma_life' z(u)) (alpha+A(u))^-(r+x) (beta+B(u))^-(s+1) du ]
 * over its repeat purchases t_1..t_x; constant z gives clv_cov.c's static
 * model.  The integral is taken piece by piece (see clv_dyn.c). */
typedef struct ct_clv_paths {
    size_t n;           /* customers: the rows of the ct_customers they go with */
    size_t ncoef;       /* values per segment: one per coefficient, in the fit's order */
    const size_t *off;  /* n + 1: customer i's segments are [off[i], off[i + 1]) */
    const double *t0;   /* each segment's start, in periods since the customer's first
                         * purchase; a segment runs to the next one's start; the first
                         * starts at or before 0 */
    const double *end;  /* n: where customer i's last segment ends (periods) */
    const double *z;    /* segments x ncoef */
    const double *zsum; /* n x ncoef: each column summed over the customer's repeat
                         * purchases (z at their times) */
} ct_clv_paths;

/* Pareto/NBD data with time-varying covariates (cv: the coefficients'
 * processes and names; cv->z unused).  Every fitted customer's path must
 * cover [0, T]; CT_EDATA names the customer otherwise, and for a missing
 * value, and the columns for a constant or collinear one (over all
 * customer-periods of all ranks, weighted by length).  comm: c is this
 * rank's part (collective; the likelihood sums over the ranks).  paths
 * must stay valid while the data are used.  Fit with ct_clv_fit_cov. */
ct_status ct_clv_data_new_dyn(ct_clv_data **out, const ct_customers *c,
                              const ct_clv_covariates *cv, const ct_clv_paths *paths,
                              const char *source, struct ct_comm *comm, ct_error *err);
/* P(alive), E[Y(horizon)] and the discounted CLV of every customer of c
 * under a fit with time-varying covariates; with level > 0 their
 * delta-method bounds (forward differences in the log-parameters and
 * coefficients, the fit's covariance; logit and log scales as
 * ct_clv_score_intervals'; no predictive interval of the purchases);
 * P(alive at T + at[j]) = P(alive) ((beta+B(T))/(beta+B(T+at[j])))^s for
 * nat points.  The paths must cover [0, T + max(horizon, at)] for each
 * customer (CT_EDATA names it otherwise). */
ct_status ct_clv_score_dyn(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           const ct_clv_paths *paths, double horizon, double discount,
                           double level, const double *at, size_t nat, unsigned threads,
                           ct_scores *out, ct_error *err);

/* One prediction per customer of c under f; with covariates (f->ncoef > 0)
 * each customer's own parameters from c->cov.  t: the periods ahead
 * (CT_PRED_EXPECTED, _P_NO_PURCHASE, _ALIVE_AT) or the continuous discount
 * rate (CT_PRED_DERT). */
typedef enum ct_clv_pred {
    CT_PRED_P_ALIVE,
    CT_PRED_EXPECTED,
    CT_PRED_P_NO_PURCHASE,
    CT_PRED_ALIVE_AT,
    CT_PRED_DERT
} ct_clv_pred;
ct_status ct_clv_predict(const ct_fit *f, ct_clv_pred what, const ct_customers *c, double t,
                         unsigned threads, double *out, ct_error *err);

/* E[X(t)] of a new customer averaged over the customers of c (weights):
 * with covariates each customer's own, else ct_clv_expected_new. */
ct_status ct_clv_expected_new_pop(const ct_fit *f, const ct_customers *c, double t, double *out,
                                  ct_error *err);

/* f with its parameters drawn from their asymptotic normal: the base
 * parameters on the log scale, N(log par, Cov(log par)), the coefficients
 * as they are (a covariance that is not positive definite is factored as far
 * as it goes).  Two uniforms of g per parameter (Box-Muller). */
void ct_clv_draw(const ct_fit *f, struct ct_rng *g, ct_fit *out);

/* score --intervals bootstrap:N: the estimates of ct_clv_score_intervals,
 * and per customer the (1 -/+ level)/2 quantiles (linear between order
 * statistics) of P(alive), E[Y(H)] and CLV over ndraws parameter sets drawn
 * with ct_clv_draw from the purchase fit and, with gg, the spend fit (in
 * that order per draw, from (seed, stream 0xB0075)); every customer's
 * values for all draws, then the next customer: no draws x customers
 * matrix.  NaN bounds when a fit has no finite covariance.  purchases_lo /
 * _hi: the predictive interval at the estimate (as delta's). */
ct_status ct_clv_score_bootstrap(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                 double horizon, double discount, double level, size_t ndraws,
                                 uint64_t seed, int interp, unsigned threads, ct_scores *out,
                                 ct_error *err);
/* interp (BG/NBD, MBG/NBD): 1 interpolates each draw's horizon sums in T
 * (to 1e-9; it pays beyond CT_BOOT_INTERP_MIN customers), 0 evaluates them
 * per customer.  The bits depend on it: decide from the whole data, not
 * from one rank's part. */
#define CT_BOOT_INTERP_MIN ((size_t)4096)

/* ---- validation tables (with covariates: each customer's own parameters,
 * from c->cov) -------------------------------------------------------------- */

/* Expected vs observed number of customers with x = 0, 1, ..., jmax-2 and
 * >= jmax-1 repeat purchases in the calibration period (each customer's own
 * T).  expected/observed have jmax entries. */
ct_status ct_clv_repeat_table(const ct_fit *f, const ct_customers *c, size_t jmax,
                              double *expected, double *observed, ct_error *err);

/* Calibration/holdout: customers grouped by calibration x (0..jmax-2, >= jmax-1);
 * per group the count, mean actual holdout purchases x_star and mean predicted
 * E[Y(t_star)]. */
ct_status ct_clv_holdout_table(const ct_fit *f, const ct_customers *c, double t_star, size_t jmax,
                               double *count, double *actual, double *predicted, ct_error *err);

/* Calibration of P(at least one purchase in the holdout's t_star periods)
 * = 1 - P(no purchase) (BG/NBD, MBG/NBD, Pareto/NBD): the customers in nbins
 * groups of equal weight by that probability, per group the customers, the
 * mean predicted probability and the observed share with x_star > 0; and
 * the Brier score, the mean of (predicted - observed)^2 per customer. */
ct_status ct_clv_calibration(const ct_fit *f, const ct_customers *c, double t_star, size_t nbins,
                             double *count, double *predicted, double *observed, double *brier,
                             ct_error *err);

/* ---- model choice (clv_choose.c) ---------------------------------------- */

/* One purchase model tried by `fit --model auto`: its fit, or why it failed
 * (status != CT_OK, message), and its holdout errors (NaN without one). */
typedef struct ct_clv_candidate {
    ct_clv_model model;
    ct_status status;
    char message[256];
    ct_fit fit;
    double mse;    /* mean (x*_i - E[Y_i(t*)])^2 per customer */
    double mse_se; /* standard error of mse - the best candidate's mse */
    double mae;    /* mean |x*_i - E[Y_i(t*)]| */
    double agg;    /* (sum E[Y_i(t*)] - sum x*_i) / sum x*_i */
} ct_clv_candidate;

#define CT_CLV_CANDIDATES 4

/* 1 when every row is a count of few discrete opportunities, the data BG/BB
 * models: whole x <= t_x <= T (and t_x >= 1 with a purchase) and T at most
 * CT_BGBB_MAX_OPPORTUNITIES.  Longer runs of whole periods (a day-resolution
 * log over months) are a fine time grid, where the continuous-time models
 * are the family, and BG/BB's likelihood, a sum over the opportunities per
 * pattern, would cost O(T) per customer. */
#define CT_BGBB_MAX_OPPORTUNITIES 100
int ct_clv_discrete(const ct_customers *c);

/* The purchase models worth trying (at most CT_CLV_CANDIDATES): BG/NBD,
 * MBG/NBD, Pareto/NBD, and BG/BB for discrete data. */
size_t ct_clv_candidates(int discrete, ct_clv_model *models);

/* The holdout sums of nf fits over c, per CT_SUM_BLOCK rows (blocks in row
 * order, *m values each, for ct_comm_sum_blocks): per fit the absolute and
 * squared errors and the predictions, then the actual purchases and the
 * weight, then for each pair of fits the squared differences of their
 * squared errors.  *part (nb x m) is the caller's to free. */
ct_status ct_clv_holdout_parts(const ct_fit *const *fits, size_t nf, const ct_customers *c,
                               double t_star, double **part, size_t *nb, size_t *m,
                               ct_error *err);
/* The candidates' mse, mse_se, mae and agg from those sums (added over all
 * blocks). */
void ct_clv_holdout_errors(const double *sums, size_t nf, ct_clv_candidate *const *cand);

/* The index of the chosen candidate (see clv_choose.c for the rule):
 * holdout != 0: the smallest BIC among the candidates within one standard
 * error of the smallest holdout MSE; else the smallest BIC over the
 * continuous-time models.  CT_ENOCONV (or the first failure) when none
 * qualifies. */
ct_status ct_clv_choose(const ct_clv_candidate *cand, size_t n, int holdout, size_t *best,
                        ct_error *err);
/* The rule, in words, for reports. */
const char *ct_clv_choice_rule(int holdout);

#ifdef __cplusplus
}
#endif

#endif
