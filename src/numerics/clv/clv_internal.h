/* clv_internal.h - shared pieces of the CLV models (not installed). */
#ifndef CLVTIER_CLV_INTERNAL_H
#define CLVTIER_CLV_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "clvtier/clv.h"
#include "clvtier/rng.h"
#include <string.h>

#include <gsl/gsl_integration.h>

/* NAN and INFINITY are floats; these are doubles (-Wdouble-promotion). */
#define CT_NAN ((double)NAN)
#define CT_INF ((double)INFINITY)

/* Collapsed data: distinct rows in a canonical order (clv_data.c), with weights. */
struct ct_clv_data {
    ct_clv_model model;
    struct ct_comm *comm; /* NULL, or these rows are one rank's part of the data set */
    size_t n;
    double *x, *tx, *T, *w; /* Gamma-Gamma: tx holds m, T unused (0) */
    double *block;          /* when not NULL: x, tx, T, w lie in it (one allocation) */
    /* The distinct values of x, sorted: terms in x alone are tabulated once
     * per value, in tables whose size the rows bound whatever x's range. */
    size_t nxv;
    double *xv;
    uint32_t *xi; /* each row's index into xv */
    double nobs;
    /* Pareto/NBD: the rows are in (x, T) order; the distinct (x, t_x) pairs
     * with t_x < T, sorted; row i uses pair p1[i] (CLV_NO_PAIR: t_x = T). */
    size_t npairs;
    double *pt;
    uint32_t *px, *p1;
    double corr_xm;
    /* Distinct time values over t_x and T (sorted): rows index them, so
     * per-evaluation terms like log(alpha + t) are computed once per value. */
    size_t ntv;
    double *tv;
    uint32_t *itx, *iT;
    /* Gamma-Gamma: log m per row (no parameter in it: computed once) */
    double *lm;
    /* Pareto/NBD's per-pair work arrays (log F, its gradient and Hessian),
     * allocated at the first evaluation and kept for the next ones (page
     * faults on fresh arrays cost more than filling them).  So one data
     * set is evaluated by one caller at a time. */
    struct clv_work *work;
    /* Static covariates (clv_cov.c; rows not collapsed): z holds n x ncoef
     * values, row i's value of each coefficient's column; the parameters
     * are the model's nb base ones, then the ncoef coefficients. */
    size_t nb, ncoef;
    double *z;          /* owned, when some rows are left out (weight 0) */
    const double *zref; /* the values: z, or the caller's (ct_clv_covariates.z) */
    unsigned proc[CT_CLV_MAXCOEF];
    char coef_col[CT_CLV_MAXCOEF][64];
    /* Time-varying covariates (clv_dyn.c): the caller's paths, and row i's
     * customer in them (owned); zref is NULL then. */
    const ct_clv_paths *dyn;
    uint32_t *cust;
};

/* Log-likelihood of data with covariates: ll, gradient and (H != NULL)
 * Hessian in (base parameters, coefficients). */
ct_status clv_cov_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                     unsigned threads, ct_error *err);
/* The same with time-varying covariates (d->dyn): lnL and gradient. */
ct_status clv_dyn_ll(const ct_clv_data *d, const double *p, double *ll, double *g,
                     unsigned threads, ct_error *err);
/* The covariates' weighted sums S (1 + K + K^2: weight, sums, cross
 * products; over the ranks already) checked for constant and collinear
 * columns per process (clv_cov.c). */
ct_status clv_check_design_sums(const ct_clv_data *d, const double *S, const char *source,
                                ct_error *err);
/* Check row i of c as every model's data does (x, t_x, T, weight; BG/BB's
 * whole numbers); the message names the row, column and value. */
ct_status clv_check_row(const ct_customers *c, size_t i, ct_clv_model model, const char *source,
                        ct_error *err);
/* "customer row N (id 'X')" of customer i of c into buf (clv_data.c). */
const char *clv_who(const ct_customers *c, size_t i, char *buf, size_t cap);
/* d->xv, d->nxv, d->xi from d->x (clv_data.c). */
ct_status clv_x_index(ct_clv_data *d, ct_error *err);

typedef struct clv_work {
    double *lF, *dlF;
    float *hF; /* Hessians of log F: float halves the largest array */
} clv_work;

#define CLV_BLOCK ((size_t)8192)
#define CLV_NO_PAIR UINT32_MAX

/* Per block of rows [begin, end): add w * lnL into acc[0] and w * dlnL/dpar
 * into acc[1..k] (and, for the Hessian, the upper triangle of w * d2lnL, row
 * by row, into acc[1+k..]). */
typedef void (*clv_row_fn)(const void *ctx, const ct_clv_data *d, size_t begin, size_t end,
                           double *acc);

/* Accumulators of lnL, the gradient and the Hessian's upper triangle. */
#define CLV_MAXACC (1 + CT_CLV_MAXPAR + CT_CLV_MAXPAR * (CT_CLV_MAXPAR + 1) / 2)

/* Run fn over fixed blocks of rows (threads), reduce nacc accumulators in
 * block order into out (thread-count independent). */
ct_status clv_reduce_acc(const ct_clv_data *d, size_t nacc, clv_row_fn fn, const void *ctx,
                         unsigned threads, double *out, ct_error *err);

/* The same for lnL and a k-gradient. */
ct_status clv_reduce(const ct_clv_data *d, size_t k, clv_row_fn fn, const void *ctx,
                     unsigned threads, double *ll, double *grad, ct_error *err);

/* acc = [lnL, gradient (k), upper triangle] into ll, g (may be NULL) and the
 * full symmetric k x k H (may be NULL). */
void clv_unpack(const double *acc, size_t k, double *ll, double *g, double *H);

/* Model likelihoods (natural parameters): lnL, its gradient g (may be NULL)
 * and, for the models whose ops have hess set, its Hessian H (k x k, row
 * major; NULL when not wanted; models without hess take H = NULL only). */
ct_status clv_bgnbd_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                       unsigned threads, ct_error *err);
ct_status clv_mbgnbd_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                        unsigned threads, ct_error *err);
ct_status clv_pareto_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                        unsigned threads, ct_error *err);
ct_status clv_bgbb_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                      unsigned threads, ct_error *err);
ct_status clv_gg_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                    unsigned threads, ct_error *err);

/* A deterministic subsample of about share * n rows: systematic sampling
 * proportional to the weights (a row of weight w is hit w / step times;
 * it keeps hits * step), on each rank its own rows. */
ct_status clv_data_subsample(const ct_clv_data *d, double share, ct_clv_data **out,
                             ct_error *err);

/* lnL, gradient and Hessian (analytic when the model has one, else central
 * differences of the analytic gradient), summed over MPI ranks. */
ct_status clv_loglik_h(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                       unsigned threads, ct_error *err);

/* What the default starting point is made of (means over customers). */
typedef struct clv_moments {
    double rate_scale; /* mean T / mean x: alpha with r = 1 */
    double mean_T, mean_m;
} clv_moments;

/* One table of model operations (clv_models.c).  The prediction entries are
 * NULL for the spend model (Gamma-Gamma). */
typedef struct clv_model_ops {
    ct_status (*loglik)(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                        unsigned threads, ct_error *err);
    int hess; /* loglik computes the Hessian */
    void (*start)(const clv_moments *m, double *p);
    double (*p_alive)(const double *p, double x, double tx, double T);
    double (*expected)(const double *p, double x, double tx, double T, double t);
    double (*expected_new)(const double *p, double t);
    double (*pmf)(const double *p, double t, double x);
} clv_model_ops;

/* The operations of model m; NULL for a value outside the enum. */
const clv_model_ops *clv_ops(ct_clv_model m);

/* Pareto/NBD: log of F(x, t) = int_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du
 * and d log F / d(r, alpha, s, beta). */
void clv_pareto_logF(const double *p, double x, double t, double *lF, double dlF[4]);

/* One-customer predictions of each model (its file). */
double clv_bg_p_alive(const double *p, int mbg, double x, double tx, double T);
double clv_bg_expected(const double *p, int mbg, double x, double tx, double T, double t);
/* E[Y(t)] / P(alive): depends on x and T only (not t_x). */
double clv_bg_future(const double *p, int mbg, double x, double T, double t);
/* out[k] = clv_bg_future(p, mbg, x, T, t[k]) for k < m, bit for bit (one
 * series pass for all t: clv_hyp2f1_many). */
void clv_bg_future_many(const double *p, int mbg, double x, double T, const double *t, size_t m,
                        double *out);
double clv_bg_pmf(const double *p, int mbg, double t, double x);
double clv_pareto_p_alive(const double *p, double x, double tx, double T);
/* The same with s00 = clv_pareto_s00(p), the closed form's series at x = 0,
 * t = 0, made once for many customers (NaN: none). */
double clv_pareto_s00(const double *p);
double clv_pareto_p_alive_s00(const double *p, double s00, double x, double tx, double T);
/* The same by quadrature alone (what the closed form is checked against). */
double clv_pareto_p_alive_quad(const double *p, double x, double tx, double T);
/* The closed form's series coefficients, made once per fit: for x <
 * PS_NX and the first PS_K terms, q_k (the term ratio) and the running sums
 * U_k, W_k of its derivative terms, computed by the loops' own expressions
 * in their order, so a table gives the same bits as the loops; two
 * divisions a term fewer (a third of Pareto/NBD's P(alive) and its
 * gradient).  About 0.8 MB; s00d: clv_pareto_s00_d's sums. */
#define PS_NX 64
#define PS_K 512
typedef struct clv_pareto_series {
    double s00d[4];
    double c[PS_NX][PS_K][3];
} clv_pareto_series;
void clv_pareto_series_make(const double *p, clv_pareto_series *ps);
/* clv_pareto_p_alive_s00 with s00 = ps->s00d[0] and ps's coefficients (the
 * same bits). */
double clv_pareto_p_alive_tab(const double *p, const clv_pareto_series *ps, double x, double tx,
                              double T);
/* P(alive) (*P: clv_pareto_p_alive_s00's bits, with s00d[0] as its s00) and
 * the gradient of logit P(alive) in the log-parameters; -1 where the closed
 * form does not hold (the caller differentiates the quadrature).  s00d: NULL,
 * or clv_pareto_s00_d's sums at x = 0, t = 0; ps: NULL, or the fit's
 * coefficient table (the same bits). */
int clv_pareto_p_alive_grad(const double *p, const double *s00d, const clv_pareto_series *ps,
                            double x, double tx, double T, double *P, double g[4]);
void clv_pareto_s00_d(const double *p, double out[4]);
/* The same for the BG family: P(alive) (clv_bg_p_alive's bits) and the
 * gradient of its logit (0 where P(alive) = 1 by construction). */
double clv_bg_p_alive_grad(const double *p, int mbg, double x, double tx, double T, double g[4]);
double clv_pareto_expected(const double *p, double x, double tx, double T, double t);
/* E[Y(t)] / P(alive) = (r+x)(beta+T)/(alpha+T) [1 - ((beta+T)/(beta+T+t))^(s-1)]/(s-1). */
double clv_pareto_future(const double *p, double x, double T, double t);
double clv_pareto_pmf(const double *p, double t, double x);
double clv_bgbb_p_alive(const double *p, double x, double tx, double n);
double clv_bgbb_expected(const double *p, double x, double tx, double n, double m);
double clv_bgbb_expected_new(const double *p, double n);
double clv_bgbb_pmf(const double *p, double n, double x);

/* One customer's lnL under its own natural parameters p (static
 * covariates), gradient g (4) and, h != NULL, the Hessian's upper triangle
 * (10, row by row) in p; G = lnGamma(r+x) - lnGamma(r) and its first and
 * second derivatives in r. */
double clv_bg_row(const double *p, int mbg, double x, double tx, double T, const double G[3],
                  double *g, double *h);
typedef struct clv_gl clv_gl; /* Gauss-Legendre rules (clv_pareto.c) */
clv_gl *clv_gl_new(void);
double clv_pareto_row(const clv_gl *gl, const double *p, double x, double tx, double T,
                      const double G[3], double *g, double *h);

/* The delta method's pieces (clv.c): f with parameter j moved by h on its
 * theta scale (log for base parameters); f's covariance in theta (0 when
 * not finite); g' C g; out's bounds from the variances var (3 nd: logit
 * P(alive), log E[Y], log D per row; customer i's row idx[i] or i) at
 * level, CLV adding the spend fit's.  DELTA_FWD: the forward step. */
#define CLV_DELTA_FWD 1e-6
void clv_theta_shift(const ct_fit *f, size_t j, double h, ct_fit *out);
int clv_log_cov(const ct_fit *f, double *lc);
double clv_quad(const double *g, const double *C, size_t k);
ct_status clv_delta_bounds(ct_scores *out, const ct_fit *gg, const ct_customers *c,
                           const uint32_t *idx, size_t nd, const double *var, double level,
                           ct_error *err);

/* out's expected spend (the spend fit's, or each customer's own m without
 * one) and CLV = spend x disc[i], for c's customers. */
ct_status clv_spend_clv(const ct_fit *gg, const ct_customers *c, const double *disc,
                        ct_scores *out, ct_error *err);

/* Per-customer predictions (one row). */
double clv_p_alive1(const ct_fit *f, double x, double tx, double T);
double clv_expected1(const ct_fit *f, double x, double tx, double T, double t);

/* ---- special functions ---------------------------------------------------- */

static inline double clv_lgamma(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

static inline double clv_lbeta(double a, double b)
{
    return clv_lgamma(a) + clv_lgamma(b) - clv_lgamma(a + b);
}

/* log(exp(a) + exp(b)) without overflow; -inf handled. */
static inline double clv_logaddexp(double a, double b)
{
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (a == -CT_INF) {
        return a;
    }
    return a + log1p(exp(b - a));
}

double clv_digamma(double x);
double clv_trigamma(double x);

/* Hash of a row of three doubles (their bits; -0 counts as +0), for
 * collapsing equal rows and the rows' canonical order: the three words
 * multiplied by distinct odd constants (independent products, so they
 * overlap in the pipeline) and summed, then splitmix64's finaliser, inline
 * (the collapse hashes every row several times). */
static inline uint64_t clv_hash3(double a, double b, double c)
{
    double v[3] = {a == 0 ? 0.0 : a, b == 0 ? 0.0 : b, c == 0 ? 0.0 : c};
    uint64_t u[3];
    memcpy(u, v, sizeof u);
    uint64_t x = u[0] * 0x9e3779b97f4a7c15ULL + u[1] * 0xc2b2ae3d27d4eb4fULL +
                 u[2] * 0x165667b19e3779f9ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The predictive pmf of the purchases K in (T, T + t] given the history, one
 * k at a time (clv.c, BG/NBD, MBG/NBD, Pareto/NBD): clv_pmf_next gives
 * P(K = 0), P(K = 1), ... */
#define CLV_PMF_PAD 40 /* Pareto/NBD: up to 32 Gauss-Legendre nodes on [0, t], t, padded to 8s */
typedef struct clv_nodes {
    double t;
    size_t m;                  /* nodes used, the last one t */
    size_t np;                 /* m rounded up to a multiple of 8: the entries computed */
    double u[CLV_PMF_PAD];     /* the nodes (0 past m) */
    double w[CLV_PMF_PAD];     /* their weights (t: 1; 0 past m) */
    double inner[CLV_PMF_PAD]; /* 1 for the quadrature nodes, 0 for t and past m */
} clv_nodes;
/* The Pareto/NBD pmf's rules on [0, t]: 8, 16 and 32 Gauss-Legendre nodes
 * (clv_pmf_pick chooses per customer). */
typedef struct clv_pmf_rule {
    clv_nodes n[3];
} clv_pmf_rule;
ct_status clv_pmf_rule_make(double t, clv_pmf_rule *r, ct_error *err);
const clv_nodes *clv_pmf_pick(const clv_pmf_rule *r, const ct_fit *f, double x, double T);
typedef struct clv_pmf {
    int pareto;
    double pa, k0;
    size_t m, k;
    double nb[CLV_PMF_PAD], om[CLV_PMF_PAD]; /* Pareto/NBD: weight x NB(k; u) per node */
    double a, bp, q, nbk, ncdf, A, C;        /* BG family */
} clv_pmf;
void clv_pmf_init(clv_pmf *it, const ct_fit *f, const clv_nodes *nd, double x, double tx,
                  double T, double pa); /* the horizon nd->t; pa NaN: computed */
double clv_pmf_next(clv_pmf *it);

/* Clenshaw's recurrence for 8 Chebyshev series at y in [-1, 1] at once:
 * c[j * 8 + q] is series q's coefficient j (n of them); out[q] its value.
 * Each lane does the scalar recurrence's operations in order (clv_vmath.c;
 * AVX-512 or AVX2 where there, the same bits). */
void clv_clenshaw8(const double *c, int n, double y, double out[8]);
/* Two of them (its own n and y each), interleaved: the bits of two calls. */
void clv_clenshaw8x2(const double *ca, int na, double ya, const double *cb, int nb, double yb,
                     double outa[8], double outb[8]);

/* The Pareto/NBD pmf's nodes for one customer (clv_pmf_init; clv_vmath.c:
 * glibc's vector exp and log1p where the CPU and glibc have them): om[i] =
 * u_i / (c + u_i) and nb[i] = w_i exp(inner_i log(s / b2) - (s + inner_i)
 * log1p(u_i / b2) - k0 log1p(u_i / c)), all CLV_PMF_PAD entries. */
void clv_pareto_nodes(const clv_nodes *nd, double s, double b2, double c, double k0, double *nb,
                      double *om);
/* sum of nb[0..np) (8 partial sums in a fixed order), then nb[i] *= f om[i];
 * np a multiple of 8. */
double clv_pareto_pmf_step(double *nb, const double *om, size_t np, double f);

/* Gauss hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 and c > 0 by its power
 * series, summed in log-free form with a relative stopping rule (1e-16);
 * returns NaN if it does not converge in 100000 terms. */
double clv_hyp2f1(double a, double b, double c, double z);
/* out[k] = clv_hyp2f1(a, b, c, z[k]) for k < m, bit for bit: the series'
 * ratio (a + n)(b + n) / ((c + n)(n + 1)), with its division, is made once
 * per term for all the z (the horizon's 52 or 365 points share a, b, c). */
void clv_hyp2f1_many(double a, double b, double c, const double *z, size_t m, double *out);
/* Its kernel (clv_vmath.c): CLV_HYP_LANES series at once, each lane the
 * scalar loop's operations (vectors of 8 or 4 where the CPU has them). */
#define CLV_HYP_LANES 16
void clv_hyp2f1_lanes(double a, double b, double c, const double z[CLV_HYP_LANES],
                      double out[CLV_HYP_LANES]);

#endif
