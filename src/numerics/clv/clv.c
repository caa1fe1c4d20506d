/* clv.c - CLV predictions (P(alive), expected purchases, count pmf,
 * spend), scoring of every customer and the validation tables.
 * Refs: see include/clvtier/clv.h.  Fitting: clv_fit.c. */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_hyperg.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/par.h"
#include "clvtier/rng.h"
#include "core/mem_internal.h"
#include "core/sort_internal.h"

/* ---- predictions ---------------------------------------------------------- */

double clv_p_alive1(const ct_fit *f, double x, double tx, double T)
{
    const clv_model_ops *ops = clv_ops(f->model);
    return ops != NULL && ops->p_alive != NULL ? ops->p_alive(f->par, x, tx, T) : CT_NAN;
}

double clv_expected1(const ct_fit *f, double x, double tx, double T, double t)
{
    if (t <= 0) {
        return 0.0;
    }
    const clv_model_ops *ops = clv_ops(f->model);
    return ops != NULL && ops->expected != NULL ? ops->expected(f->par, x, tx, T, t) : CT_NAN;
}

/* P(no purchase in (T, T + t] | x, t_x, T).  Given alive at T, the purchase
 * rate's posterior is Gamma(r + x, alpha + T) in all three models (and, for
 * Pareto/NBD, the dropout rate's is Gamma(s, beta + T), independent):
 *   BG/NBD, MBG/NBD: dropout only follows a purchase, so an alive customer
 *     with no purchase stays alive:  P0 | alive = ((a1) / (a1 + t))^(r + x);
 *   Pareto/NBD: no purchase if dropout at u < t comes before the first
 *     purchase, or neither happens by t:
 *     P0 | alive = int_0^t s b2^s (b2 + u)^-(s+1) (b1 / (b1 + u))^(r+x) du
 *                  + (b1 / (b1 + t))^(r+x) (b2 / (b2 + t))^s,
 *     b1 = alpha + T, b2 = beta + T (32-point Gauss-Legendre: the integrand
 *     is smooth and monotone on [0, t]).
 * Then P0 = 1 - P(alive) + P(alive) * (P0 | alive). */
static double clv_p_none1(const ct_fit *f, const gsl_integration_glfixed_table *gl, double x,
                          double tx, double T, double t)
{
    double pa = clv_p_alive1(f, x, tx, T);
    const double *p = f->par;
    double a1 = p[0] + x, b1 = p[1] + T, none;
    if (t <= 0) {
        return 1.0;
    }
    if (f->model == CT_PARETO) {
        double s = p[2], b2 = p[3] + T, sum = 0;
        for (size_t i = 0; i < gl->n; i++) {
            double xi, wi;
            gsl_integration_glfixed_point(0, t, i, &xi, &wi, gl);
            sum += wi * s / b2 * exp(-(s + 1) * log1p(xi / b2) - a1 * log1p(xi / b1));
        }
        none = sum + exp(-a1 * log1p(t / b1) - s * log1p(t / b2));
    } else {
        none = exp(-a1 * log1p(t / b1));
    }
    return 1.0 - pa + pa * none;
}

/* P(alive at T + t | x, t_x, T).  Given alive at T (see clv_p_none1 for the
 * posteriors):
 *   Pareto/NBD: alive at T + t iff the drop-out comes after t:
 *     E[exp(-mu t)] = ((beta + T) / (beta + T + t))^s;
 *   BG/NBD, MBG/NBD: a drop-out follows a purchase with probability p, and
 *     purchases in t are Poisson(lambda t): E[(1-p)^N] = exp(-lambda p t);
 *     over lambda ~ Gamma(k = r + x, c = alpha + T): (1 + p t / c)^-k; over
 *     p ~ Beta(a, b') with b' = b + x (MBG/NBD: b + x + 1, the coin at the
 *     first purchase too): Euler's integral 2F1(k, a; a + b'; -t/c), taken
 *     by Pfaff's transformation (1 + z)^-a 2F1(a, a + b' - k; a + b'; z/(1+z)),
 *     z = t / c, inside the series' disc. */
static double clv_alive_at1(const ct_fit *f, double x, double tx, double T, double t)
{
    const double *p = f->par;
    double pa = clv_p_alive1(f, x, tx, T);
    if (t <= 0) {
        return pa;
    }
    if (f->model == CT_PARETO) {
        return pa * exp(-p[2] * log1p(t / (p[3] + T)));
    }
    double k = p[0] + x, z = t / (p[1] + T), a = p[2];
    double C = a + p[3] + x + (f->model == CT_MBGNBD ? 1.0 : 0.0);
    return pa * exp(-a * log1p(z)) * clv_hyp2f1(a, C - k, C, z / (1 + z));
}

/* DERT(delta | x, t_x, T): expected residual purchases discounted
 * continuously at rate delta per period, int_0^inf exp(-delta t) dE[Y(t)].
 *   Pareto/NBD (Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4), eq. 2,
 *     divided through by the likelihood): given alive, lambda has mean
 *     (r + x)/(alpha + T) and mu ~ Gamma(s, beta + T), and
 *     E[lambda / (delta + mu)] gives
 *     DERT = P(alive) (r + x)/(alpha + T) delta^(s-1) (beta + T)^s U(s, s; delta (beta + T))
 *     (U: Tricomi's confluent hypergeometric function, GSL);
 *   BG/NBD, MBG/NBD: by parts DERT = int_0^inf e^-u E[Y(u / delta)] du, and
 *     E[Y] = P(alive) H(x, T, t) with H a 2F1 (clv_bg_future): 64-point
 *     Gauss-Laguerre quadrature in u (H is analytic and grows at most like
 *     a power of t), nodes beyond u = 50 left out; checked against adaptive
 *     integration (QAGIU) to 1e-6. */
#define DERT_NODES 64
#define DERT_UMAX 50.0 /* nodes beyond: weight below 1e-21 (and 2F1's series slow) */
static double clv_dert1(const ct_fit *f, const gsl_integration_fixed_workspace *lag, double x,
                        double tx, double T, double delta)
{
    const double *p = f->par;
    double pa = clv_p_alive1(f, x, tx, T);
    if (f->model == CT_PARETO) {
        double s = p[2], u = p[3] + T;
        gsl_sf_result U;
        if (gsl_sf_hyperg_U_e(s, s, delta * u, &U) != GSL_SUCCESS) {
            return CT_NAN;
        }
        return pa * (p[0] + x) / (p[1] + T) * exp((s - 1) * log(delta) + s * log(u)) * U.val;
    }
    const double *nu = gsl_integration_fixed_nodes(lag), *wt = gsl_integration_fixed_weights(lag);
    double sum = 0;
    for (size_t i = 0; i < DERT_NODES && nu[i] <= DERT_UMAX; i++) {
        sum += wt[i] * clv_bg_future(p, f->model == CT_MBGNBD, x, T, nu[i] / delta);
    }
    return pa * sum;
}

/* The predictive distribution of the purchases K in (T, T + t] given the
 * history: P(K = k) = (1 - P(alive)) [k = 0] + P(alive) P(K = k | alive).
 * Given alive, lambda ~ Gamma(r + x, c = alpha + T) and the underlying
 * Poisson count N(u) of purchases in u periods is negative binomial,
 * NB(k; r + x, q = c / (c + u)).
 *   BG/NBD, MBG/NBD: after each purchase the customer drops out with
 *     probability p ~ Beta(a, b') (b' = b + x, MBG/NBD b + x + 1), so
 *     P(K = 0) = P(N = 0) and for k >= 1
 *     P(K = k) = E[(1-p)^(k-1) p] P(N >= k) + E[(1-p)^k] P(N = k),
 *     the Beta moments by recurrences in k.
 *   Pareto/NBD: the drop-out time tau ~ Exp(mu), mu ~ Gamma(s, beta + T):
 *     P(K = k) = ((beta+T)/(beta+T+t))^s NB(k; u = t)
 *                + int_0^t s (beta+T)^s (beta+T+u)^-(s+1) NB(k; u) du,
 *     the integral by 32-point Gauss-Legendre (as P(no purchase), which is
 *     its k = 0 term).
 * The pmf is summed until the cumulative probability passes the upper
 * quantile; lo/hi are the smallest k whose cumulative probability reaches
 * (1 - level)/2 and (1 + level)/2.  Checked in the tests: the pmf sums to 1
 * and its mean is E[Y(t)]. */
#define PMF_KMAX 100000

/* The nodes on [0, t] of an n-point Gauss-Legendre rule, and t. */
static ct_status pmf_nodes(size_t n, double t, clv_nodes *nd, ct_error *err)
{
    gsl_integration_glfixed_table *gl = gsl_integration_glfixed_table_alloc(n);
    if (gl == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    memset(nd, 0, sizeof *nd);
    nd->t = t;
    size_t m = 0;
    for (size_t i = 0; i < n; i++, m++) {
        gsl_integration_glfixed_point(0, t, i, &nd->u[m], &nd->w[m], gl);
        nd->inner[m] = 1;
    }
    gsl_integration_glfixed_table_free(gl);
    nd->u[m] = t; /* the end point: survival past t */
    nd->w[m++] = 1;
    nd->m = m;
    nd->np = (m + 7) / 8 * 8;
    return CT_OK;
}

ct_status clv_pmf_rule_make(double t, clv_pmf_rule *r, ct_error *err)
{
    static const size_t N[3] = {8, 16, 32};
    for (int q = 0; q < 3; q++) {
        CT_CHECK(pmf_nodes(N[q], t, &r->n[q], err));
    }
    return CT_OK;
}

/* How many nodes the Pareto/NBD pmf's drop-out integral needs for this
 * customer.  The integrand, s b2^s (b2 + u)^-(s+1) NB(k; u) on [0, t]
 * (b2 = beta + T; NB's scale c = alpha + T), is analytic but for branch
 * points at u = -b2 and u = -c, so an n-point Gauss-Legendre rule's error
 * falls as rho^-2n, rho the Bernstein ellipse through the nearer one:
 * rho = y + sqrt(y^2 - 1), y = 1 + 2 min(b2, c) / t (Trefethen, "Is Gauss
 * quadrature better than Clenshaw-Curtis?", SIAM Review 50(1), 2008); and
 * NB(k; u) is peaked, relative width about 1 / sqrt(k0 t / c) (k0 = r + x,
 * heavy buyers), which the nodes must resolve.  Needed:
 *   n >= 12 / log(rho) + 4 sqrt(k0 t / c),
 * then the smallest of 8, 16 and 32 that reaches it.  Constants chosen on
 * data and checked against the 32-node rule for every customer: the
 * cumulative pmf differs by at most 5.5e-14 (2M continuous synthetic
 * customers at t = 52; CDNOW master at t = 13, 39, 52, 104, 520 weeks;
 * 300k day-resolution customers at t = 30, 90, 365, 730 days; 300k weekly
 * at t = 13, 52, 104), where 16 nodes for everyone differ by up to 1.1e-5
 * (x = 149) and 8 by 1.7e-3; test_clv checks it.  About half the
 * customers of those data need 8 nodes, 2-16 % need 32. */
const clv_nodes *clv_pmf_pick(const clv_pmf_rule *r, const ct_fit *f, double x, double T)
{
    const double *p = f->par;
    double t = r->n[0].t, c = p[1] + T, b2 = p[3] + T, m = c < b2 ? c : b2;
    double y = 1 + 2 * m / t, rho = y + sqrt(y * y - 1);
    double need = 12 / log(rho) + 4 * sqrt((p[0] + x) * t / c);
    return need <= 8 ? &r->n[0] : need <= 16 ? &r->n[1] : &r->n[2];
}

void clv_pmf_init(clv_pmf *it, const ct_fit *f, const clv_nodes *nd, double x, double tx,
                  double T, double pa)
{
    const double *p = f->par;
    double k0 = p[0] + x, c = p[1] + T, t = nd->t;
    /* every field either model reads is set (not a memset of the node arrays) */
    it->pareto = f->model == CT_PARETO;
    it->k = 0;
    it->m = 0;
    it->pa = isnan(pa) ? clv_p_alive1(f, x, tx, T) : pa;
    it->k0 = k0;
    if (it->pareto) {
        /* node i: w_i exp(inner_i log(s / b2) - (s + inner_i) log1p(u_i / b2)
         *                 - k0 log1p(u_i / c)), the last (u = t, inner 0) the
         * survival past t times NB(0; t); whole vectors, the padding unused */
        clv_pareto_nodes(nd, p[2], p[3] + T, c, k0, it->nb, it->om);
        it->m = nd->np;
        return;
    }
    double a = p[2], bp = p[3] + x + (f->model == CT_MBGNBD ? 1.0 : 0.0);
    it->a = a;
    it->bp = bp;
    it->q = c / (c + t);
    it->nbk = exp(k0 * log(it->q)); /* P(N = 0) */
    it->ncdf = 0;
    it->A = a / (a + bp); /* E[p] */
    it->C = 1.0;          /* E[(1-p)^0] */
}

double clv_pmf_next(clv_pmf *it)
{
    double k = (double)it->k++, pk;
    if (it->pareto) {
        pk = clv_pareto_pmf_step(it->nb, it->om, it->m, (it->k0 + k) / (k + 1));
    } else if (k == 0) {
        pk = it->nbk;
        it->ncdf = it->nbk;
        it->C = it->bp / (it->a + it->bp); /* E[1-p], for k = 1 */
    } else {
        double tail = fmax(0.0, 1 - it->ncdf); /* P(N >= k) */
        it->nbk *= (it->k0 + k - 1) / k * (1 - it->q);
        it->ncdf += it->nbk;
        pk = it->A * tail + it->C * it->nbk;
        double id = 1 / (it->a + it->bp + k);
        it->A *= (it->bp + k - 1) * id;
        it->C *= (it->bp + k) * id;
    }
    return it->pa * pk + (k == 0 ? 1 - it->pa : 0.0);
}

static void purchases_quantiles(const ct_fit *f, const clv_pmf_rule *rule, double x, double tx,
                                double T, double pa, double level, double *lo, double *hi)
{
    const clv_nodes *nd = f->model == CT_PARETO ? clv_pmf_pick(rule, f, x, T) : &rule->n[0];
    double plo = 0.5 * (1 - level), phi = 0.5 * (1 + level), cdf = 0;
    *lo = *hi = CT_NAN;
    if (!(nd->t > 0)) {
        *lo = *hi = 0;
        return;
    }
    clv_pmf it;
    clv_pmf_init(&it, f, nd, x, tx, T, pa);
    for (long k = 0; k < PMF_KMAX; k++) {
        cdf += clv_pmf_next(&it);
        if (!(*lo >= 0) && cdf >= plo) {
            *lo = (double)k;
        }
        if (cdf >= phi) {
            *hi = (double)k;
            return;
        }
    }
}

/* One prediction per customer, over fixed blocks of rows (threads). */
enum { PRED_ALIVE, PRED_EXPECTED, PRED_NONE, PRED_ALIVE_AT, PRED_DERT, PRED_QUANTILES };
typedef struct pred_job {
    const ct_fit *f;
    const gsl_integration_glfixed_table *gl; /* PRED_NONE's quadrature */
    const gsl_integration_fixed_workspace *lag; /* PRED_DERT's */
    double level;                               /* PRED_QUANTILES */
    const double *x, *tx, *T;
    double t;
    double *out, *out2; /* out2: the upper quantiles (PRED_QUANTILES) */
    int what;
    const double *z; /* NULL, or row i's covariates (f->ncoef each): its own parameters */
    const double *pa; /* PRED_QUANTILES: NULL, or row i's P(alive) (not computed again) */
    const clv_pmf_rule *rule; /* PRED_QUANTILES */
} pred_job;

/* fi as a fit of model m whose parameters (fi->par, 4) the caller sets per
 * customer (covariates): all that the per-customer predictions read. */
static void own_fit(ct_fit *fi, ct_clv_model m)
{
    fi->model = m;
    fi->k = 4;
    fi->ncoef = 0;
}

static ct_status pred_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    pred_job *J = vctx;
    (void)b;
    (void)err;
    ct_fit fi; /* a customer's own parameters (covariates) */
    const ct_fit *f = J->f;
    if (J->z != NULL) {
        own_fit(&fi, J->f->model);
        f = &fi;
    }
    for (size_t i = begin; i < end; i++) {
        double x = J->x[i], tx = J->tx[i], T = J->T[i];
        if (J->z != NULL) {
            ct_clv_cov_params(J->f, J->z + i * J->f->ncoef, fi.par);
        }
        if (J->what == PRED_QUANTILES) { /* out: lo, out2: hi */
            purchases_quantiles(f, J->rule, x, tx, T, J->pa != NULL ? J->pa[i] : CT_NAN, J->level,
                                &J->out[i], &J->out2[i]);
            continue;
        }
        J->out[i] = J->what == PRED_ALIVE      ? clv_p_alive1(f, x, tx, T)
                    : J->what == PRED_EXPECTED ? clv_expected1(f, x, tx, T, J->t)
                    : J->what == PRED_ALIVE_AT ? clv_alive_at1(f, x, tx, T, J->t)
                    : J->what == PRED_DERT     ? clv_dert1(f, J->lag, x, tx, T, J->t)
                                               : clv_p_none1(f, J->gl, x, tx, T, J->t);
    }
    return CT_OK;
}

ct_status ct_clv_p_no_purchase(const ct_fit *f, const double *x, const double *tx,
                               const double *T, size_t n, double t, double *out, ct_error *err)
{
    ct_init();
    if (f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) {
        return ct_fail(err, CT_EINVAL, "P(no purchase) needs a bgnbd, mbgnbd or pareto fit, not %s",
                       ct_clv_model_name(f->model));
    }
    if (!(t >= 0) || !isfinite(t)) {
        return ct_fail(err, CT_EINVAL, "period count t = %g must be >= 0", t);
    }
    gsl_integration_glfixed_table *gl = gsl_integration_glfixed_table_alloc(32);
    if (gl == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    pred_job J = {f, gl, NULL, 0, x, tx, T, t, out, NULL, PRED_NONE, NULL, NULL, NULL};
    ct_status s = ct_par_for(n, 1024, 0, pred_block, &J, err);
    gsl_integration_glfixed_table_free(gl);
    return s;
}

static ct_status distinct_rows(const ct_customers *c, int copy, uint32_t **idx_out,
                               double **rows_out, size_t *nd_out, ct_error *err);

/* J's prediction (out, and out2 when set) for n customers, once per distinct
 * row: rows[3 r ..] and idx[i] (distinct_rows), or per customer when idx is
 * NULL. */
static ct_status pred_rows(const pred_job *J, size_t n, const uint32_t *idx, const double *rows,
                           size_t nd, unsigned threads, size_t grain, ct_error *err)
{
    if (idx == NULL) {
        return ct_par_for(n, grain, threads, pred_block, (void *)(uintptr_t)J, err);
    }
    double *col = malloc((nd ? 5 * nd : 1) * sizeof *col);
    ct_status s = col != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        for (size_t r = 0; r < nd; r++) {
            col[r] = rows[3 * r];
            col[nd + r] = rows[3 * r + 1];
            col[2 * nd + r] = rows[3 * r + 2];
        }
        pred_job R = *J;
        R.x = col;
        R.tx = col + nd;
        R.T = col + 2 * nd;
        R.out = col + 3 * nd;
        R.out2 = J->out2 != NULL ? col + 4 * nd : NULL;
        s = ct_par_for(nd, grain, threads, pred_block, &R, err);
        for (size_t i = 0; i < n && s == CT_OK; i++) {
            J->out[i] = col[3 * nd + idx[i]];
            if (J->out2 != NULL) {
                J->out2[i] = col[4 * nd + idx[i]];
            }
        }
    }
    free(col);
    return s;
}

/* J's prediction once per distinct (x, t_x, T) of J's columns (n customers). */
static ct_status pred_distinct(pred_job *J, size_t n, unsigned threads, size_t grain,
                               ct_error *err)
{
    ct_customers c;
    uint32_t *idx = NULL;
    double *rows = NULL;
    size_t nd = 0;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.x = (double *)(uintptr_t)J->x; /* read only */
    c.t_x = (double *)(uintptr_t)J->tx;
    c.T = (double *)(uintptr_t)J->T;
    ct_status s = distinct_rows(&c, 1, &idx, &rows, &nd, err);
    if (s == CT_OK) {
        s = pred_rows(J, n, idx, rows, nd, threads, grain, err);
    }
    free(idx);
    free(rows);
    return s;
}

static ct_status need_continuous(const ct_fit *f, const char *what, ct_error *err)
{
    if (f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) {
        return ct_fail(err, CT_EINVAL, "%s needs a bgnbd, mbgnbd or pareto fit, not %s", what,
                       ct_clv_model_name(f->model));
    }
    if (f->ncoef > 0) {
        return ct_fail(err, CT_EINVAL,
                       "%s of a fit with covariates needs each customer's covariates "
                       "(ct_clv_predict)",
                       what);
    }
    return CT_OK;
}

ct_status ct_clv_p_alive_at(const ct_fit *f, const double *x, const double *tx, const double *T,
                            size_t n, double t, unsigned threads, double *out, ct_error *err)
{
    ct_init();
    CT_CHECK(need_continuous(f, "P(alive at T + t)", err));
    if (!(t >= 0) || !isfinite(t)) {
        return ct_fail(err, CT_EINVAL, "period count t = %g must be >= 0", t);
    }
    pred_job J = {f, NULL, NULL, 0, x, tx, T, t, out, NULL, PRED_ALIVE_AT, NULL, NULL, NULL};
    return pred_distinct(&J, n, threads, 1024, err);
}

/* A fit with covariates needs each customer's (c->cov). */
static ct_status need_cov(const ct_fit *f, const ct_customers *c, ct_error *err)
{
    if (f->ncoef > 0 && c->cov == NULL) {
        return ct_fail(err, CT_EINVAL,
                       "this %s fit has covariates: its predictions need each customer's "
                       "covariates",
                       ct_clv_model_name(f->model));
    }
    return CT_OK;
}

ct_status ct_clv_predict(const ct_fit *f, ct_clv_pred what, const ct_customers *c, double t,
                         unsigned threads, double *out, ct_error *err)
{
    ct_init();
    if (f->ncoef == 0) {
        switch (what) {
        case CT_PRED_P_ALIVE:
            return ct_clv_p_alive(f, c->x, c->t_x, c->T, c->n, out, err);
        case CT_PRED_EXPECTED:
            return ct_clv_expected(f, c->x, c->t_x, c->T, c->n, t, out, err);
        case CT_PRED_P_NO_PURCHASE:
            return ct_clv_p_no_purchase(f, c->x, c->t_x, c->T, c->n, t, out, err);
        case CT_PRED_ALIVE_AT:
            return ct_clv_p_alive_at(f, c->x, c->t_x, c->T, c->n, t, threads, out, err);
        case CT_PRED_DERT:
            return ct_clv_dert(f, c->x, c->t_x, c->T, c->n, t, threads, out, err);
        }
        return ct_fail(err, CT_EINVAL, "unknown prediction");
    }
    CT_CHECK(need_cov(f, c, err));
    if (f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) {
        return ct_fail(err, CT_EINVAL, "covariates are for bgnbd, mbgnbd and pareto");
    }
    if (!(t >= 0) || !isfinite(t) || (what == CT_PRED_DERT && !(t > 0))) {
        return ct_fail(err, CT_EINVAL, "%s %g out of range",
                       what == CT_PRED_DERT ? "discount rate" : "period count t", t);
    }
    static const int KIND[] = {PRED_ALIVE, PRED_EXPECTED, PRED_NONE, PRED_ALIVE_AT, PRED_DERT};
    gsl_integration_glfixed_table *gl =
        what == CT_PRED_P_NO_PURCHASE ? gsl_integration_glfixed_table_alloc(32) : NULL;
    gsl_integration_fixed_workspace *lag =
        what == CT_PRED_DERT
            ? gsl_integration_fixed_alloc(gsl_integration_fixed_laguerre, DERT_NODES, 0, 1, 0, 0)
            : NULL;
    ct_status s = CT_OK;
    if ((what == CT_PRED_P_NO_PURCHASE && gl == NULL) || (what == CT_PRED_DERT && lag == NULL)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        pred_job J = {f, gl, lag, 0, c->x, c->t_x, c->T, t, out, NULL, KIND[what], c->cov, NULL,
                      NULL};
        s = ct_par_for(c->n, 256, threads, pred_block, &J, err);
    }
    if (gl != NULL) {
        gsl_integration_glfixed_table_free(gl);
    }
    if (lag != NULL) {
        gsl_integration_fixed_free(lag);
    }
    return s;
}

/* The predictive interval for n customers; with rows != NULL over their
 * distinct rows already found (idx, rows, nd: distinct_rows), else found
 * here. */
static ct_status purchases_interval(const ct_fit *f, const double *x, const double *tx,
                                    const double *T, size_t n, const uint32_t *idx,
                                    const double *rows, size_t nd, int per_customer,
                                    const double *pa, double t, double level, unsigned threads,
                                    double *lo, double *hi, ct_error *err)
{
    CT_CHECK(need_continuous(f, "the predictive interval of purchases", err));
    if (!(t >= 0) || !isfinite(t) || !(level > 0 && level < 1)) {
        return ct_fail(err, CT_EINVAL, "purchases interval: t = %g >= 0, level %g in (0, 1)", t,
                       level);
    }
    clv_pmf_rule rule;
    CT_CHECK(clv_pmf_rule_make(t, &rule, err));
    pred_job J = {f, NULL, NULL, level, x, tx, T, t, lo, hi, PRED_QUANTILES, NULL, pa, &rule};
    return rows != NULL || per_customer ? pred_rows(&J, n, idx, rows, nd, threads, 256, err)
                                        : pred_distinct(&J, n, threads, 256, err);
}

ct_status ct_clv_purchases_interval(const ct_fit *f, const double *x, const double *tx,
                                   const double *T, size_t n, double t, double level,
                                   unsigned threads, double *lo, double *hi, ct_error *err)
{
    ct_init();
    return purchases_interval(f, x, tx, T, n, NULL, NULL, 0, 0, NULL, t, level, threads, lo, hi,
                              err);
}

ct_status ct_clv_dert(const ct_fit *f, const double *x, const double *tx, const double *T,
                      size_t n, double delta, unsigned threads, double *out, ct_error *err)
{
    ct_init();
    CT_CHECK(need_continuous(f, "DERT", err));
    if (!(delta > 0) || !isfinite(delta)) {
        return ct_fail(err, CT_EINVAL, "continuous discount rate %g must be > 0", delta);
    }
    gsl_integration_fixed_workspace *lag =
        gsl_integration_fixed_alloc(gsl_integration_fixed_laguerre, DERT_NODES, 0, 1, 0, 0);
    if (lag == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    pred_job J = {f, NULL, lag, 0, x, tx, T, delta, out, NULL, PRED_DERT, NULL, NULL, NULL};
    ct_status s = pred_distinct(&J, n, threads, 64, err);
    gsl_integration_fixed_free(lag);
    return s;
}

static ct_status need_purchase_model(const ct_fit *f, ct_error *err)
{
    if (f->model == CT_GAMMAGAMMA) {
        return ct_fail(err, CT_EINVAL,
                       "gammagamma is a spend model: give a purchase model fit "
                       "(bgnbd, pareto, mbgnbd or bgbb)");
    }
    if (f->ncoef > 0) {
        return ct_fail(err, CT_EINVAL,
                       "this %s fit has covariates: its predictions need each customer's "
                       "covariates (ct_clv_score_cov)",
                       ct_clv_model_name(f->model));
    }
    return CT_OK;
}


ct_status ct_clv_p_alive(const ct_fit *f, const double *x, const double *tx, const double *T,
                         size_t n, double *out, ct_error *err)
{
    ct_init();
    ct_status s = need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    pred_job J = {f, NULL, NULL, 0, x, tx, T, 0, out, NULL, PRED_ALIVE, NULL, NULL, NULL};
    return ct_par_for(n, 1024, 0, pred_block, &J, err);
}

ct_status ct_clv_expected(const ct_fit *f, const double *x, const double *tx, const double *T,
                          size_t n, double t, double *out, ct_error *err)
{
    ct_init();
    ct_status s = need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    if (!(t >= 0) || !isfinite(t)) {
        return ct_fail(err, CT_EINVAL, "horizon t = %g must be >= 0", t);
    }
    pred_job J = {f, NULL, NULL, 0, x, tx, T, t, out, NULL, PRED_EXPECTED, NULL, NULL, NULL};
    return ct_par_for(n, 1024, 0, pred_block, &J, err);
}

ct_status ct_clv_expected_new(const ct_fit *f, double t, double *out, ct_error *err)
{
    ct_init();
    ct_status s = need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    *out = clv_ops(f->model)->expected_new(f->par, t); /* a purchase model: not NULL */
    return CT_OK;
}

static double pmf1(const ct_fit *f, double t, double x)
{
    const clv_model_ops *ops = clv_ops(f->model);
    return ops != NULL && ops->pmf != NULL ? ops->pmf(f->par, t, x) : CT_NAN;
}

ct_status ct_clv_count_pmf(const ct_fit *f, double t, size_t jmax, double *out, ct_error *err)
{
    ct_init();
    ct_status s = need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    if (jmax < 2) {
        return ct_fail(err, CT_EINVAL, "jmax must be >= 2");
    }
    double sum = 0;
    for (size_t j = 0; j + 1 < jmax; j++) {
        out[j] = pmf1(f, t, (double)j);
        sum += out[j];
    }
    out[jmax - 1] = sum < 1 ? 1 - sum : 0.0;
    return CT_OK;
}

ct_status ct_clv_spend(const ct_fit *gg, const double *x, const double *m, size_t n, double *out,
                       ct_error *err)
{
    ct_init();
    if (gg->model != CT_GAMMAGAMMA) {
        return ct_fail(err, CT_EINVAL, "spend predictions need a gammagamma fit, not %s",
                       ct_clv_model_name(gg->model));
    }
    const double p = gg->par[0], q = gg->par[1], v = gg->par[2];
    for (size_t i = 0; i < n; i++) {
        if (x[i] > 0) {
            out[i] = p * (v + x[i] * m[i]) / (p * x[i] + q - 1);
        } else {
            out[i] = q > 1 ? p * v / (q - 1) : CT_NAN;
        }
    }
    return CT_OK;
}

/* ---- scoring --------------------------------------------------------------- */

/* Distinct (x, t_x, T) rows by hashing their bits: idx[i] = row of customer i. */
typedef struct uslot {
    uint32_t row; /* 0 empty, else distinct row + 1 */
    uint32_t hash;
} uslot;

static uint64_t row_hash(const ct_customers *c, size_t i)
{
    return clv_hash3(c->x[i], c->t_x[i], c->T[i]);
}

/* The table grows with the number of distinct rows (not customers), so it
 * stays small enough for the caches when customers share their histories. */
static int rehash(uslot **tab, size_t *cap)
{
    size_t nc = *cap * 2;
    uslot *t = ct_calloc_table(nc, sizeof *t);
    if (t == NULL) {
        return -1;
    }
    for (size_t k = 0; k < *cap; k++) {
        if ((*tab)[k].row != 0) {
            size_t j = (*tab)[k].hash & (nc - 1);
            while (t[j].row != 0) {
                j = (j + 1) & (nc - 1);
            }
            t[j] = (*tab)[k];
        }
    }
    free(*tab);
    *tab = t;
    *cap = nc;
    return 0;
}

/* Distinct (x, t_x, T) rows: idx[i] = row of customer i; the rows' values
 * go to rows[3 r .. 3 r + 2] (a compact copy, so checking a probe touches a
 * small array instead of the customers' columns).  When the rows do not
 * collapse (more than half of the first 2^16 or more distinct), every
 * customer is its own row: idx NULL, rows a copy of the columns (copy), or
 * NULL (!copy: the caller reads the columns themselves). */
static ct_status distinct_rows(const ct_customers *c, int copy, uint32_t **idx_out,
                               double **rows_out, size_t *nd_out, ct_error *err)
{
    size_t n = c->n, cap = 1 << 16, rcap = 1 << 15;
    uslot *tab = ct_calloc_table(cap, sizeof *tab);
    uint32_t *idx = ct_malloc_big(n, sizeof *idx);
    double *rows = malloc(rcap * 3 * sizeof *rows);
    ct_status s = CT_OK;
    if (tab == NULL || idx == NULL || rows == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    size_t nd = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        if (i >= ((size_t)1 << 16) && (i & 0xffff) == 0 && 2 * nd > i) {
            free(tab);
            free(idx);
            free(rows);
            *idx_out = NULL;
            *rows_out = NULL;
            *nd_out = n;
            if (!copy) {
                return CT_OK;
            }
            rows = ct_malloc_big(n, 3 * sizeof *rows);
            if (rows == NULL) {
                return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
            }
            for (size_t j = 0; j < n; j++) {
                rows[3 * j] = c->x[j];
                rows[3 * j + 1] = c->t_x[j];
                rows[3 * j + 2] = c->T[j];
            }
            *idx_out = NULL;
            *rows_out = rows;
            *nd_out = n;
            return CT_OK;
        }
        const double x = c->x[i], tx = c->t_x[i], T = c->T[i];
        uint32_t h = (uint32_t)row_hash(c, i);
        size_t k = h & (cap - 1);
        for (;;) {
            if (tab[k].row == 0) {
                if (nd == rcap) {
                    double *nr = realloc(rows, 2 * rcap * 3 * sizeof *nr);
                    if (nr == NULL) {
                        s = ct_fail(err, CT_ENOMEM, "out of memory");
                        break;
                    }
                    rows = nr;
                    rcap *= 2;
                }
                tab[k].row = (uint32_t)nd + 1;
                tab[k].hash = h;
                rows[3 * nd] = x;
                rows[3 * nd + 1] = tx;
                rows[3 * nd + 2] = T;
                idx[i] = (uint32_t)nd++;
                if (2 * nd > cap && rehash(&tab, &cap) != 0) {
                    s = ct_fail(err, CT_ENOMEM, "out of memory");
                }
                break;
            }
            const double *v = &rows[3 * (tab[k].row - 1)];
            if (tab[k].hash == h && v[0] == x && v[1] == tx && v[2] == T) {
                idx[i] = tab[k].row - 1;
                break;
            }
            k = (k + 1) & (cap - 1);
        }
    }
    free(tab);
    if (s != CT_OK) {
        free(idx);
        free(rows);
        return s;
    }
    *idx_out = idx;
    *rows_out = rows;
    *nd_out = nd;
    return CT_OK;
}

/* ---- scoring: interpolation in T (BG/NBD and MBG/NBD per x; Pareto/NBD) ---
 * E[Y(t)] = P(alive | x, t_x, T) * H(x, T, t) for the BG/NBD family, and the
 * discounted sum over the horizon's periods, sum_k v_k (H(t_k) - H(t_k-1)),
 * needs H at every period: one 2F1 series per period per customer.  Both
 * H(x, T, horizon) and that sum are smooth functions of T for each x:
 * analytic in y = alpha / (alpha + T) on [0, 1] (T from infinity to 0),
 * with their nearest singularity at y = -alpha / t_k, just left of 0 when
 * the horizon is long.  So for x < CHEB_XMAX they are interpolated by
 * Chebyshev polynomials in y, piecewise on pieces that halve towards y = 0
 * ([0, 1/128], [1/128, 1/64], ..., [1/2, 1]: each piece's width is about
 * its distance from the singularity, so a low degree suffices), the degree
 * of each piece doubled from 8 until it agrees with the exact values at the
 * midpoints between its nodes to 1e-13 of the function's largest value (at
 * T = 0; else: exact values for that x).  Which x are interpolated, and
 * how, depends on the parameters and the horizon only, never on the rows:
 * the same bits on any split of the customers (MPI).  P(alive) is computed
 * exactly for every row.
 *
 * Pareto/NBD: H(x, T, t) = (r + x) (beta + T) / (alpha + T) g(beta + T, t)
 * is (r + x) / r times H(0, T, t), and so is the discounted sum: one
 * interpolant (x = 0), in y = beta / (beta + T) (the singularity is at
 * y = -beta / t), serves every x. */

#define CHEB_XMAX 64
#define CHEB_MAX 64 /* degree of a piece at most */
#define CHEB_PIECES 8

static const double CHEB_EDGE[CHEB_PIECES + 1] = {0,         1.0 / 128, 1.0 / 64, 1.0 / 32, 1.0 / 16,
                                                  1.0 / 8,   1.0 / 4,   1.0 / 2,  1};

typedef struct cheb_piece {
    double lo, hi; /* y range */
    int n;
    double c[2][CHEB_MAX];
} cheb_piece;

typedef struct cheb2 {
    int ok; /* 0: not interpolated */
    cheb_piece p[CHEB_PIECES];
    /* Pareto/NBD: the closed form's coefficients (made with the interpolant,
     * in the same allocation) */
    const clv_pareto_series *ps;
} cheb2;

typedef struct future_ctx {
    const ct_fit *f;
    int steps;
    const double *t, *v; /* steps: the period ends and their discount factors */
} future_ctx;

/* E[Y(horizon)] and the discounted sum of its period increments, exactly;
 * per_alive (BG/NBD family and Pareto/NBD): H = E[Y] / P(alive) instead,
 * which does not depend on t_x (so P(alive), the costly part of Pareto/NBD,
 * is computed once per row, not once per period). */
static void horizon_sums(const future_ctx *c, double x, double tx, double T, int per_alive,
                         double out[2])
{
    double prev = 0, acc = 0;
    int mbg = c->f->model == CT_MBGNBD, pareto = c->f->model == CT_PARETO;
    if (per_alive && !pareto) { /* the BG family: every period's series in one pass */
        double e[64];
        for (int k0 = 0; k0 < c->steps; k0 += 64) {
            int w = c->steps - k0 < 64 ? c->steps - k0 : 64;
            clv_bg_future_many(c->f->par, mbg, x, T, c->t + k0, (size_t)w, e);
            for (int k = 0; k < w; k++) {
                acc += (e[k] - prev) * c->v[k0 + k];
                prev = e[k];
            }
        }
        out[0] = prev;
        out[1] = acc;
        return;
    }
    for (int k = 0; k < c->steps; k++) {
        double e = !per_alive ? clv_expected1(c->f, x, tx, T, c->t[k])
                   : pareto   ? clv_pareto_future(c->f->par, x, T, c->t[k])
                              : clv_bg_future(c->f->par, mbg, x, T, c->t[k]);
        acc += (e - prev) * c->v[k];
        prev = e;
    }
    out[0] = prev;
    out[1] = acc;
}

/* Node i of n on [lo, hi] (mid 0), or the midpoint between nodes i and
 * i + 1 (mid 1), where the interpolants are checked. */
static double cheb_node(double lo, double hi, int i, int n, int mid)
{
    return lo + (hi - lo) * (0.5 + 0.5 * cos(M_PI * (i + (mid ? 1.0 : 0.5)) / n));
}

#define CHEB_MAXSER 8 /* series interpolated together at most */

/* The coefficients of ns series from their values at the n nodes
 * (fv[i * ns + q]): coefficient j of series q into c[j * sj + q * sq]. */
static void cheb_coeffs_n(int n, int ns, const double *fv, double *c, size_t sj, size_t sq)
{
    for (int j = 0; j < n; j++) {
        double acc[CHEB_MAXSER] = {0};
        for (int i = 0; i < n; i++) {
            double w = cos(M_PI * j * (i + 0.5) / n);
            for (int q = 0; q < ns; q++) {
                acc[q] += fv[i * ns + q] * w;
            }
        }
        for (int q = 0; q < ns; q++) {
            c[(size_t)j * sj + (size_t)q * sq] = (j == 0 ? 1.0 : 2.0) * acc[q] / n;
        }
    }
}

static void cheb_coeffs(cheb_piece *ch, int n, const double (*fv)[2])
{
    cheb_coeffs_n(n, 2, &fv[0][0], &ch->c[0][0], 1, CHEB_MAX);
    ch->n = n;
}

static void piece_eval(const cheb_piece *ch, double u, double out[2])
{
    /* Clenshaw for both series in one loop: two independent recurrences
     * overlap (each the same operations, in the same order, as alone) */
    double y = (2 * u - ch->lo - ch->hi) / (ch->hi - ch->lo), y2 = 2 * y;
    double b1 = 0, b2 = 0, c1 = 0, c2 = 0;
    for (int j = ch->n - 1; j >= 1; j--) {
        double b0 = ch->c[0][j] + y2 * b1 - b2, c0 = ch->c[1][j] + y2 * c1 - c2;
        b2 = b1;
        b1 = b0;
        c2 = c1;
        c1 = c0;
    }
    out[0] = ch->c[0][0] + y * b1 - b2;
    out[1] = ch->c[1][0] + y * c1 - c2;
}

static int cheb_piece_of(double u)
{
    return u < CHEB_EDGE[4] ? (u < CHEB_EDGE[2] ? (u < CHEB_EDGE[1] ? 0 : 1)
                                                : (u < CHEB_EDGE[3] ? 2 : 3))
                            : (u < CHEB_EDGE[6] ? (u < CHEB_EDGE[5] ? 4 : 5)
                                                : (u < CHEB_EDGE[7] ? 6 : 7));
}

static void cheb_eval(const cheb2 *ch, double u, double out[2])
{
    piece_eval(&ch->p[cheb_piece_of(u)], u, out);
}

/* One piece of x's interpolant, [lo, hi] in y, to tol of scale[]; 0, or -1
 * when no degree up to CHEB_MAX is accurate enough. */
/* The scale of y = k / (k + T): alpha for the BG family, beta for
 * Pareto/NBD (where the horizon sums' singularities sit). */
static double cheb_k(const ct_fit *f)
{
    return f->model == CT_PARETO ? f->par[3] : f->par[1];
}

static int piece_fit(const future_ctx *c, double x, double lo, double hi, double tol,
                     const double scale[2], cheb_piece *ch)
{
    double al = cheb_k(c->f);
    double fv[CHEB_MAX][2];
    ch->lo = lo;
    ch->hi = hi;
    for (int n = 8; n <= CHEB_MAX; n *= 2) {
        for (int i = 0; i < n; i++) {
            double y = cheb_node(lo, hi, i, n, 0);
            horizon_sums(c, x, 0, al / y - al, 1, fv[i]);
        }
        cheb_coeffs(ch, n, (const double(*)[2])fv);
        double worst[2] = {0, 0};
        for (int i = 0; i + 1 < n; i++) { /* midpoints between neighbouring nodes */
            double y = cheb_node(lo, hi, i, n, 1);
            double ex[2], ip[2];
            horizon_sums(c, x, 0, al / y - al, 1, ex);
            piece_eval(ch, y, ip);
            worst[0] = fmax(worst[0], fabs(ex[0] - ip[0]));
            worst[1] = fmax(worst[1], fabs(ex[1] - ip[1]));
        }
        if (worst[0] <= tol * scale[0] && worst[1] <= tol * scale[1]) {
            return 0;
        }
    }
    return -1;
}

/* The interpolant of x over y = alpha / (alpha + T) in [0, 1]; ch->ok = 0
 * when none is accurate enough.  The scale is the largest value, at T = 0
 * (H and the discounted sum fall as T grows). */
static void cheb_fit(const future_ctx *c, double x, double tol, cheb2 *ch)
{
    double top[2];
    horizon_sums(c, x, 0, 0, 1, top);
    double scale[2] = {fabs(top[0]), fabs(top[1])};
    ch->ok = 0;
    for (int k = 0; k < CHEB_PIECES; k++) {
        if (piece_fit(c, x, CHEB_EDGE[k], CHEB_EDGE[k + 1], tol, scale, &ch->p[k]) != 0) {
            return;
        }
    }
    ch->ok = 1;
}

typedef struct score_job {
    const ct_fit *f;
    const double *rows; /* distinct (x, t_x, T) */
    double *pa, *ey, *disc; /* per distinct row */
    future_ctx fc;
    const cheb2 *cheb;      /* CHEB_XMAX, one per x (BG/NBD family); one (Pareto/NBD); or NULL */
    const ct_customers *c;  /* rows NULL: its columns x, t_x, T instead */
} score_job;

/* P(alive) of one row (x, t_x, T) under J's fit. */
static double row_p_alive(const score_job *J, double x, double tx, double T)
{
    return J->cheb != NULL && J->f->model == CT_PARETO
               ? clv_pareto_p_alive_tab(J->f->par, J->cheb[0].ps, x, tx, T)
               : clv_p_alive1(J->f, x, tx, T);
}

/* P(alive), E[Y(H)] and D of one row under J's fit, its P(alive) pa given. */
static void score_row_pa(const score_job *J, double x, double tx, double T, double pa,
                         double out[3])
{
    double h[2];
    out[0] = pa;
    if (J->cheb == NULL) {
        int pareto = J->f->model == CT_PARETO;
        horizon_sums(&J->fc, x, tx, T, pareto, h);
        out[1] = pareto ? pa * h[0] : h[0];
        out[2] = pareto ? pa * h[1] : h[1];
        return;
    }
    if (J->f->model == CT_PARETO) { /* (r + x) / r times x = 0's */
        double k = J->f->par[3], r = J->f->par[0];
        if (J->cheb[0].ok) {
            cheb_eval(&J->cheb[0], k / (k + T), h);
            h[0] *= (r + x) / r;
            h[1] *= (r + x) / r;
        } else {
            horizon_sums(&J->fc, x, tx, T, 1, h);
        }
        out[1] = pa * h[0];
        out[2] = pa * h[1];
        return;
    }
    const cheb2 *ch = x < (double)CHEB_XMAX ? &J->cheb[(size_t)x] : NULL;
    if (ch != NULL && ch->ok) {
        cheb_eval(ch, cheb_k(J->f) / (cheb_k(J->f) + T), h);
    } else {
        horizon_sums(&J->fc, x, tx, T, 1, h);
    }
    out[1] = pa * h[0];
    out[2] = pa * h[1];
}

static void score_row(const score_job *J, double x, double tx, double T, double out[3])
{
    score_row_pa(J, x, tx, T, row_p_alive(J, x, tx, T), out);
}

static ct_status score_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    score_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t r = begin; r < end; r++) {
        double v[3];
        if (J->rows != NULL) {
            score_row(J, J->rows[3 * r], J->rows[3 * r + 1], J->rows[3 * r + 2], v);
        } else {
            score_row(J, J->c->x[r], J->c->t_x[r], J->c->T[r], v);
        }
        J->pa[r] = v[0];
        J->ey[r] = v[1];
        J->disc[r] = v[2];
    }
    return CT_OK;
}

typedef struct cheb_job {
    const future_ctx *fc;
    cheb2 *cheb;
    double tol;
} cheb_job;

static ct_status cheb_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    cheb_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t x = begin; x < end; x++) {
        cheb_fit(J->fc, (double)x, J->tol, &J->cheb[x]);
    }
    return CT_OK;
}

/* Interpolants to 1e-13 of the function's largest value (the estimates and
 * the delta method); the bootstrap's and stability's draws need far less. */
#define CHEB_TOL 1e-13
#define CHEB_TOL_BOOT 1e-9

/* Interpolants to tol: for x < CHEB_XMAX (BG/NBD family), for x = 0
 * (Pareto/NBD); *out NULL for BG/BB, and when the horizon has no period. */
static ct_status make_cheb_tol(const score_job *J, unsigned threads, double tol, cheb2 **out,
                               ct_error *err)
{
    *out = NULL;
    ct_clv_model m = J->f->model;
    if ((m != CT_BGNBD && m != CT_MBGNBD && m != CT_PARETO) || J->fc.steps == 0) {
        return CT_OK;
    }
    size_t nx = m == CT_PARETO ? 1 : CHEB_XMAX;
    cheb2 *ch = malloc(nx * sizeof *ch + (m == CT_PARETO ? sizeof(clv_pareto_series) : 0));
    if (ch == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    cheb_job cj = {&J->fc, ch, tol};
    ct_status s = ct_par_for(nx, 1, threads, cheb_block, &cj, err);
    ch[0].ps = NULL;
    if (m == CT_PARETO) {
        clv_pareto_series *ps = (clv_pareto_series *)(void *)(ch + 1);
        clv_pareto_series_make(J->f->par, ps);
        ch[0].ps = ps;
    }
    if (s != CT_OK) {
        free(ch);
        return s;
    }
    *out = ch;
    return CT_OK;
}

static ct_status make_cheb(const score_job *J, unsigned threads, cheb2 **out, ct_error *err)
{
    return make_cheb_tol(J, threads, CHEB_TOL, out, err);
}

/* ---- intervals: the delta method ------------------------------------------
 * For a prediction g(theta) of the log-parameters theta = log(par), the
 * asymptotic variance is g'(theta)' Cov(theta) g'(theta) with Cov(theta)_ij
 * = Cov(par)_ij / (par_i par_j), the fit's inverse Hessian.  It is taken on a
 * scale that keeps the bounds in range: logit for P(alive), log for
 * expected purchases and CLV; bounds = the inverse transform of the
 * transformed estimate -/+ z_{(1+level)/2} standard errors.  The gradients
 * for the BG family and Pareto/NBD: below (delta_rows).  BG/BB: the gradient
 * of P(alive), E[Y(H)] and the discounted sum D with respect to theta by
 * forward differences in each log-parameter, h = DELTA_FWD, from whole
 * shifted scorers (delta_rows_fwd).  CLV = E[M] D with E[M] from the
 * separate Gamma-Gamma fit: var(log CLV) = var(log D) + var(log E[M]),
 * E[M]'s gradient analytic. */
/* h = 1e-6: truncation ~1e-6 relative; half the work of central differences */
#define DELTA_FWD CLV_DELTA_FWD
#define DELTA_CHUNK ((size_t)65536)

/* d par_j / d theta_j: theta is log par for the base parameters, the
 * covariate coefficients themselves after them. */
static double theta_scale(const ct_fit *f, size_t j)
{
    return j < ct_clv_nparams(f->model) ? f->par[j] : 1.0;
}

/* f's parameters moved by h in theta_j (base: times e^h; coefficient: + h). */
void clv_theta_shift(const ct_fit *f, size_t j, double h, ct_fit *out)
{
    *out = *f;
    out->par[j] = j < ct_clv_nparams(f->model) ? f->par[j] * exp(h) : f->par[j] + h;
}

/* The scorer of f moved by DELTA_FWD in theta_j (the delta method's
 * forward difference; sh holds the moved fit), with no outputs and no
 * interpolants yet: what delta_rows and a scorer's intervals both start
 * from, so their bits agree. */
static score_job shifted_job(const ct_fit *f, size_t j, int steps, const double *tv, ct_fit *sh)
{
    clv_theta_shift(f, j, DELTA_FWD, sh);
    return (score_job){sh, NULL, NULL, NULL, NULL, {sh, steps, tv, tv + steps}, NULL, NULL};
}

/* The covariance of f in theta (log base parameters, coefficients); 0 when
 * the fit has no finite one. */
int clv_log_cov(const ct_fit *f, double *lc)
{
    for (size_t i = 0; i < f->k; i++) {
        for (size_t j = 0; j < f->k; j++) {
            lc[i * f->k + j] = f->cov[i * f->k + j] / (theta_scale(f, i) * theta_scale(f, j));
            if (!isfinite(lc[i * f->k + j])) {
                return 0;
            }
        }
    }
    return 1;
}

/* g . (C g) over the first n entries, C's rows ld apart: the n row
 * products are independent chains (one chain of n^2 terms was
 * latency-bound: a third of the delta method's time). */
static inline double quad_ld(const double *g, const double *C, size_t n, size_t ld)
{
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        double w = 0;
        for (size_t j = 0; j < n; j++) {
            w += C[i * ld + j] * g[j];
        }
        v += g[i] * w;
    }
    return v;
}

double clv_quad(const double *g, const double *C, size_t k)
{
    return quad_ld(g, C, k, k);
}

/* ---- the delta method's gradients for BG/NBD, MBG/NBD and Pareto/NBD -------
 * E[Y(H)] = P(alive) H(x, T) and D = P(alive) H_D(x, T) (H_D the discounted
 * sum per alive customer), so
 *   grad log E[Y] = (1 - P) grad logit P + grad log H,   likewise D,
 * with grad logit P in closed form (clv_bg_p_alive_grad,
 * clv_pareto_p_alive_grad) and the gradients of H and H_D by central
 * differences in each log-parameter, h = DQ_H: truncation ~h^2 = 1e-8
 * relative, rounding ~1e-16 / h.  Those quotients are smooth in T like H
 * itself, so they are interpolated the same way (per x < CHEB_XMAX for the
 * BG family, x = 0 for Pareto/NBD, in the base fit's y) to DQ_TOL of H's
 * largest value: one Clenshaw loop over the 2 k series per customer instead
 * of k shifted scorers.  Rows without an interpolant (x >= CHEB_XMAX, or
 * none accurate enough) take the same central differences exactly, and
 * where Pareto/NBD's P(alive) has no closed form its logit is differenced
 * (the quadrature) too. */
#define DQ_H 1e-4
#define DQ_TOL 1e-8
#define DQ_K 4          /* the base parameters (no covariates on this path) */
#define DQ_S (2 * DQ_K) /* series 2j: dH/dtheta_j, 2j+1: dH_D/dtheta_j */
_Static_assert(DQ_S <= CHEB_MAXSER, "cheb_coeffs_n interpolates DQ_S series at once");

typedef struct dq_piece {
    double lo, hi;
    int n;
    double c[CHEB_MAX][DQ_S];
} dq_piece;

/* One x's pieces, each made when a row first needs it (dq_piece_ready):
 * scores over continuous T use only the pieces their range of T covers
 * (3 of 8 for 3 years of weekly data: T from 52 to 156, alpha 4.4), and
 * the work runs in the scoring threads instead of before them. */
enum { DQ_NONE, DQ_MAKING, DQ_MADE, DQ_FAILED };
typedef struct dq2 {
    _Atomic int state[CHEB_PIECES];
    double scale[2]; /* |H| and |H_D| at T = 0: the pieces' tolerance */
    dq_piece p[CHEB_PIECES];
} dq2;

/* The fits moved by +-DQ_H in each base log-parameter, as horizon sums. */
typedef struct dq_fits {
    ct_fit sp[DQ_K], sm[DQ_K];
    future_ctx fp[DQ_K], fm[DQ_K];
} dq_fits;

static void dq_fits_init(dq_fits *q, const ct_fit *f, int steps, const double *tv)
{
    for (size_t j = 0; j < DQ_K; j++) {
        clv_theta_shift(f, j, DQ_H, &q->sp[j]);
        clv_theta_shift(f, j, -DQ_H, &q->sm[j]);
        q->fp[j] = (future_ctx){&q->sp[j], steps, tv, tv + steps};
        q->fm[j] = (future_ctx){&q->sm[j], steps, tv, tv + steps};
    }
}

/* The central differences of (H, H_D) at (x, T), exactly. */
static void dq_exact(const dq_fits *q, double x, double T, double out[DQ_S])
{
    for (size_t j = 0; j < DQ_K; j++) {
        double hp[2], hm[2];
        horizon_sums(&q->fp[j], x, 0, T, 1, hp);
        horizon_sums(&q->fm[j], x, 0, T, 1, hm);
        out[2 * j] = (hp[0] - hm[0]) / (2 * DQ_H);
        out[2 * j + 1] = (hp[1] - hm[1]) / (2 * DQ_H);
    }
}

static void dq_piece_eval(const dq_piece *ch, double u, double out[DQ_S])
{
    double y = (2 * u - ch->lo - ch->hi) / (ch->hi - ch->lo);
    clv_clenshaw8(&ch->c[0][0], ch->n, y, out); /* DQ_S = 8 recurrences, a vector */
}

static int dq_piece_fit(const dq_fits *q, double x, double k, double lo, double hi,
                        const double scale[2], dq_piece *ch)
{
    double fv[CHEB_MAX][DQ_S];
    ch->lo = lo;
    ch->hi = hi;
    for (int n = 8; n <= CHEB_MAX; n *= 2) {
        for (int i = 0; i < n; i++) {
            dq_exact(q, x, k / cheb_node(lo, hi, i, n, 0) - k, fv[i]);
        }
        cheb_coeffs_n(n, DQ_S, &fv[0][0], &ch->c[0][0], DQ_S, 1);
        ch->n = n;
        int good = 1;
        for (int i = 0; i + 1 < n && good; i++) {
            double y = cheb_node(lo, hi, i, n, 1);
            double ex[DQ_S], ip[DQ_S];
            dq_exact(q, x, k / y - k, ex);
            dq_piece_eval(ch, y, ip);
            for (int qq = 0; qq < DQ_S; qq++) {
                good &= fabs(ex[qq] - ip[qq]) <= DQ_TOL * scale[qq & 1];
            }
        }
        if (good) {
            return 0;
        }
    }
    return -1;
}

typedef struct dq_job {
    const ct_fit *f;
    future_ctx base; /* f's own horizon sums (the scale) */
    dq2 *dq;
} dq_job;

static ct_status dq_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const dq_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t x = begin; x < end; x++) {
        double top[2];
        horizon_sums(&J->base, (double)x, 0, 0, 1, top);
        dq2 *d = &J->dq[x];
        d->scale[0] = fabs(top[0]);
        d->scale[1] = fabs(top[1]);
        for (int k = 0; k < CHEB_PIECES; k++) {
            atomic_init(&d->state[k], DQ_NONE);
        }
    }
    return CT_OK;
}

/* The quotients' interpolants of f (BG family: x < CHEB_XMAX; Pareto/NBD:
 * x = 0), their pieces still to make (dq_piece_ready); *out NULL for other
 * models and an empty horizon. */
static ct_status make_dq(const ct_fit *f, int steps, const double *tv, unsigned threads,
                         dq2 **out, ct_error *err)
{
    *out = NULL;
    if ((f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) || steps == 0) {
        return CT_OK;
    }
    size_t nx = f->model == CT_PARETO ? 1 : CHEB_XMAX;
    dq2 *dq = malloc(nx * sizeof *dq);
    if (dq == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    dq_job J = {f, {f, steps, tv, tv + steps}, dq};
    ct_status s = ct_par_for(nx, 1, threads, dq_block, &J, err);
    if (s != CT_OK) {
        free(dq);
        return s;
    }
    *out = dq;
    return CT_OK;
}

typedef struct delta_job {
    const ct_fit *f;
    const double *rows;    /* distinct (x, t_x, T), or NULL: */
    const ct_customers *c; /* the customers' own columns */
    const double *pa, *ey, *disc;
    double *vpa, *vey, *vd, *gd;
    const double *lc; /* the covariance in theta, k x k */
    dq2 *dq;          /* or NULL (its pieces made as rows need them) */
    dq_fits q;
    double s00d[4]; /* Pareto/NBD: the series at x = 0, t = 0 and its sums */
    const clv_pareto_series *ps; /* Pareto/NBD: NULL, or the interpolant's table */
} delta_job;

/* Pareto/NBD where its P(alive) has no closed form: the central
 * differences of the quadrature's logit. */
static void logit_grad_quad(const dq_fits *q, double x, double tx, double T, double g[DQ_K])
{
    for (size_t j = 0; j < DQ_K; j++) {
        double pp = clv_pareto_p_alive_quad(q->sp[j].par, x, tx, T);
        double pm = clv_pareto_p_alive_quad(q->sm[j].par, x, tx, T);
        g[j] = (log(pp / (1 - pp)) - log(pm / (1 - pm))) / (2 * DQ_H);
    }
}

/* What every row of J reads beside its own: the shifted fits and, for
 * Pareto/NBD, the series' sums at x = 0, t = 0. */
static void delta_job_fits(delta_job *J, int steps, const double *tv)
{
    dq_fits_init(&J->q, J->f, steps, tv);
    if (J->f->model == CT_PARETO) {
        clv_pareto_s00_d(J->f->par, J->s00d);
    }
}

/* The gradient of logit P(alive) in the base log-parameters, and *P the
 * closed form's P(alive) (clv_p_alive1's bits); 1 where there is no closed
 * form (Pareto/NBD's series too slow) and the quadrature's logit was
 * differenced instead (*P then not set). */
static int delta_logit_grad(const delta_job *J, double x, double tx, double T, double g[DQ_K],
                            double *P)
{
    const ct_fit *f = J->f;
    if (f->model != CT_PARETO) {
        *P = clv_bg_p_alive_grad(f->par, f->model == CT_MBGNBD, x, tx, T, g);
    } else if (clv_pareto_p_alive_grad(f->par, J->s00d, J->ps, x, tx, T, P, g) != 0) {
        logit_grad_quad(&J->q, x, tx, T, g);
        return 1;
    }
    return 0;
}

/* Whether piece k of q (x's, or x = 0's for Pareto/NBD) is made, making it
 * first if no thread has: one thread makes it while any other that needs it
 * waits; the piece is the same whichever thread makes it, so the scores do
 * not depend on the threads or the rows' order. */
static int dq_piece_ready(const delta_job *J, dq2 *q, double x, int k)
{
    int st = atomic_load_explicit(&q->state[k], memory_order_acquire);
    if (st == DQ_NONE) {
        int expect = DQ_NONE;
        if (atomic_compare_exchange_strong_explicit(&q->state[k], &expect, DQ_MAKING,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            int ok = dq_piece_fit(&J->q, J->f->model == CT_PARETO ? 0.0 : x, cheb_k(J->f),
                                  CHEB_EDGE[k], CHEB_EDGE[k + 1], q->scale, &q->p[k]) == 0;
            atomic_store_explicit(&q->state[k], ok ? DQ_MADE : DQ_FAILED, memory_order_release);
            return ok;
        }
        st = expect;
    }
    while (st == DQ_MAKING) {
        sched_yield();
        st = atomic_load_explicit(&q->state[k], memory_order_acquire);
    }
    return st == DQ_MADE;
}

/* The derivatives d of (H, H_D) in the base log-parameters at a row come
 * from its x's interpolant piece (delta_piece: the piece and its argument
 * y, or NULL where the row has none), evaluated (clv_clenshaw8, or two rows
 * at once: clv_clenshaw8x2), then delta_shift; else exactly (dq_exact). */
static const dq_piece *delta_piece(const delta_job *J, double x, double T, double *y)
{
    const ct_fit *f = J->f;
    int pareto = f->model == CT_PARETO;
    dq2 *q = J->dq == NULL           ? NULL
             : pareto                ? &J->dq[0]
             : x < (double)CHEB_XMAX ? &J->dq[(size_t)x]
                                     : NULL;
    double k = cheb_k(f), u = k / (k + T);
    int piece = cheb_piece_of(u);
    if (q == NULL || !dq_piece_ready(J, q, x, piece)) {
        return NULL;
    }
    const dq_piece *ch = &q->p[piece];
    *y = (2 * u - ch->lo - ch->hi) / (ch->hi - ch->lo);
    return ch;
}

/* Pareto/NBD's interpolant is of x = 0: H = (r + x) / r H(x = 0). */
static void delta_shift(const delta_job *J, double x, double pa, double ey, double disc,
                        double d[DQ_S])
{
    if (J->f->model != CT_PARETO) {
        return;
    }
    double r = J->f->par[0], sc = (r + x) / r;
    for (size_t j = 0; j < DQ_K; j++) {
        d[2 * j] *= sc;
        d[2 * j + 1] *= sc;
    }
    d[0] += (pa > 0 ? ey / pa : 0.0) * (r / (r + x) - 1);
    d[1] += (pa > 0 ? disc / pa : 0.0) * (r / (r + x) - 1);
}

/* A row's d (delta_piece's ch and y, or exactly). */
static void delta_d(const delta_job *J, double x, double T, const double est[3],
                    const dq_piece *ch, double y, double d[DQ_S])
{
    if (ch != NULL) {
        clv_clenshaw8(&ch->c[0][0], ch->n, y, d); /* DQ_S = 8 recurrences, a vector */
        delta_shift(J, x, est[0], est[1], est[2], d);
    } else {
        dq_exact(&J->q, x, T, d);
    }
}

/* g . (C g) for a gradient whose entries past the base parameters are 0
 * (C k x k, row stride ld): the leading 4 x 4 block, inlined (the three
 * per row were a call and a loop each). */
static inline double quad_base(const double *g, const double *C, size_t ld)
{
    return quad_ld(g, C, DQ_K, ld);
}

/* One row's variances of logit P(alive), log E[Y] and log D (v) from its
 * estimates (est), the gradient of logit P(alive) (g0) and d (delta_d);
 * gd: NULL, or D's gradient (k).  grad log H = d_H / H with 1 / H =
 * P(alive) / E[Y] (one division), likewise H_D. */
static void delta_var_d(const delta_job *J, const double est[3], const double g0[DQ_K],
                        const double d[DQ_S], double v[3], double *gd)
{
    size_t k = J->f->k;
    double pa = est[0], ey = est[1], disc = est[2];
    double g[3][CT_CLV_MAXPAR];
    double ih0 = pa > 0 && ey > 0 ? pa / ey : 0.0, ih1 = pa > 0 && disc > 0 ? pa / disc : 0.0;
    for (size_t j = 0; j < DQ_K; j++) {
        g[0][j] = g0[j];
        g[1][j] = (1 - pa) * g0[j] + d[2 * j] * ih0;
        g[2][j] = (1 - pa) * g0[j] + d[2 * j + 1] * ih1;
    }
    /* the coefficients of a covariate fit scored without covariates (z = 0)
     * move nothing: their entries are 0 (and quad_base reads the base's) */
    v[0] = pa > 0 && pa < 1 ? quad_base(g[0], J->lc, k) : 0.0;
    v[1] = ey > 0 ? quad_base(g[1], J->lc, k) : 0.0;
    v[2] = disc > 0 ? quad_base(g[2], J->lc, k) : 0.0;
    for (size_t j = 0; gd != NULL && j < k; j++) {
        gd[j] = j < DQ_K ? disc * g[2][j] : 0.0;
    }
}

/* delta_d, then delta_var_d. */
static void delta_var(const delta_job *J, double x, double T, const double est[3],
                      const double g0[DQ_K], double v[3], double *gd)
{
    double y = 0, d[DQ_S];
    const dq_piece *ch = delta_piece(J, x, T, &y);
    delta_d(J, x, T, est, ch, y, d);
    delta_var_d(J, est, g0, d, v, gd);
}

static ct_status delta_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const delta_job *J = vctx;
    size_t k = J->f->k;
    (void)b;
    (void)err;
    for (size_t r = begin; r < end; r++) {
        double x, tx, T;
        if (J->rows != NULL) {
            x = J->rows[3 * r];
            tx = J->rows[3 * r + 1];
            T = J->rows[3 * r + 2];
        } else {
            x = J->c->x[r];
            tx = J->c->t_x[r];
            T = J->c->T[r];
        }
        const double est[3] = {J->pa[r], J->ey[r], J->disc[r]};
        double g0[DQ_K], v[3], P;
        (void)delta_logit_grad(J, x, tx, T, g0, &P);
        delta_var(J, x, T, est, g0, v, J->gd != NULL ? J->gd + k * r : NULL);
        J->vpa[r] = v[0];
        J->vey[r] = v[1];
        J->vd[r] = v[2];
    }
    return CT_OK;
}

static ct_status delta_rows_fwd(const ct_fit *f, const double *rows, const ct_customers *c,
                                size_t nd, int steps, const double *tv, unsigned threads,
                                const double *pa, const double *ey, const double *disc,
                                double *vpa, double *vey, double *vd, double *gd, ct_error *err);

/* Variances per row of logit P(alive), log E[Y(H)] and log D (vpa, vey,
 * vd) from the estimates pa, ey, disc; with gd != NULL also D's gradient in
 * the log-parameters (k per row).  The rows: rows[3 r ..] (distinct rows),
 * or the customers' columns c (rows NULL); made: the quotients'
 * interpolants (a scorer's), or NULL: made here. */
static ct_status delta_rows(const ct_fit *f, const double *rows, const ct_customers *c,
                            size_t nd, int steps, const double *tv, unsigned threads,
                            dq2 *made, const double *pa, const double *ey,
                            const double *disc, double *vpa, double *vey, double *vd, double *gd,
                            ct_error *err)
{
    double lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    if (!clv_log_cov(f, lc)) {
        for (size_t r = 0; r < nd; r++) {
            vpa[r] = vey[r] = vd[r] = CT_NAN;
            for (size_t j = 0; gd != NULL && j < f->k; j++) {
                gd[f->k * r + j] = CT_NAN;
            }
        }
        return CT_OK;
    }
    if (f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) {
        return delta_rows_fwd(f, rows, c, nd, steps, tv, threads, pa, ey, disc, vpa, vey, vd, gd,
                              err);
    }
    delta_job J = {.f = f, .rows = rows, .c = c, .pa = pa, .ey = ey, .disc = disc, .vpa = vpa,
                   .vey = vey, .vd = vd, .gd = gd, .lc = lc, .dq = made};
    dq2 *own = NULL;
    if (made == NULL) {
        CT_CHECK(make_dq(f, steps, tv, threads, &own, err));
        J.dq = own;
    }
    delta_job_fits(&J, steps, tv);
    ct_status s = ct_par_for(nd, 64, threads, delta_block, &J, err);
    free(own);
    return s;
}

/* The forward differences of whole shifted scorers (BG/BB); the rows as
 * delta_rows takes them. */
static ct_status delta_rows_fwd(const ct_fit *f, const double *rows, const ct_customers *c,
                                size_t nd, int steps, const double *tv, unsigned threads,
                                const double *pa, const double *ey, const double *disc,
                                double *vpa, double *vey, double *vd, double *gd, ct_error *err)
{
    size_t k = f->k, ch = nd < DELTA_CHUNK ? (nd ? nd : 1) : DELTA_CHUNK;
    double lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    (void)clv_log_cov(f, lc); /* finite: delta_rows checked */
    ct_fit *sh = malloc(k * sizeof *sh); /* the shifted fits (no covariates here) */
    if (sh == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    /* forward differences from the estimate's own values, h = DELTA_FWD:
     * one shifted scorer per parameter */
    score_job J[CT_CLV_MAXPAR];
    cheb2 *chs[CT_CLV_MAXPAR] = {NULL};
    double *buf = malloc(k * 3 * ch * sizeof *buf);
    ct_status s = buf != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    size_t nj = 0;
    for (size_t j = 0; j < k && s == CT_OK; j++, nj++) {
        double *b = buf + nj * 3 * ch;
        J[nj] = shifted_job(f, j, steps, tv, &sh[nj]);
        J[nj].pa = b;
        J[nj].ey = b + ch;
        J[nj].disc = b + 2 * ch;
        s = make_cheb(&J[nj], threads, &chs[nj], err);
        J[nj].cheb = chs[nj];
    }
    for (size_t r0 = 0; r0 < nd && s == CT_OK; r0 += ch) {
        size_t m = nd - r0 < ch ? nd - r0 : ch;
        ct_customers view; /* rows NULL: this chunk of the customers' columns */
        if (rows == NULL) {
            view = *c;
            view.x += r0;
            view.t_x += r0;
            view.T += r0;
        }
        for (size_t q = 0; q < nj && s == CT_OK; q++) {
            J[q].rows = rows != NULL ? rows + 3 * r0 : NULL;
            J[q].c = rows != NULL ? NULL : &view;
            s = ct_par_for(m, 64, threads, score_block, &J[q], err);
        }
        for (size_t i = 0; i < m && s == CT_OK; i++) {
            double g[3][CT_CLV_MAXPAR];
            size_t r = r0 + i;
            const double base[3] = {pa[r], ey[r], disc[r]};
            for (size_t j = 0; j < k; j++) {
                const double *p = buf + j * 3 * ch;
                for (size_t o = 0; o < 3; o++) {
                    g[o][j] = (p[o * ch + i] - base[o]) / DELTA_FWD;
                }
            }
            double a = pa[r] * (1 - pa[r]);
            vpa[r] = a > 0 ? clv_quad(g[0], lc, k) / (a * a) : 0.0;
            vey[r] = ey[r] > 0 ? clv_quad(g[1], lc, k) / (ey[r] * ey[r]) : 0.0;
            vd[r] = disc[r] > 0 ? clv_quad(g[2], lc, k) / (disc[r] * disc[r]) : 0.0;
            if (gd != NULL) {
                memcpy(gd + k * r, g[2], k * sizeof(double));
            }
        }
    }
    for (size_t q = 0; q < nj; q++) {
        free(chs[q]);
    }
    free(buf);
    free(sh);
    return s;
}

/* Whether every entry of f's covariance is finite. */
static int cov_finite(const ct_fit *f)
{
    for (size_t i = 0; i < f->k * f->k; i++) {
        if (!isfinite(f->cov[i])) {
            return 0;
        }
    }
    return 1;
}

/* E[M] = p (v + x m) / (p x + q - 1) of a customer (x, m) under the
 * Gamma-Gamma fit gg, and its gradient g in the natural (p, q, v). */
static double spend_grad(const ct_fit *gg, double x, double m, double *g)
{
    double p = gg->par[0], q = gg->par[1], v = gg->par[2], u = v + x * m, den = p * x + q - 1;
    double id = 1 / den, id2 = id * id; /* one division, not four */
    g[0] = u * (q - 1) * id2;
    g[1] = -p * u * id2;
    g[2] = p * id;
    return p * u * id;
}

/* var(log E[M]) of a customer (x, m) under gg (the delta method). */
static double spend_log_var(const ct_fit *gg, double x, double m)
{
    double g[3], e = spend_grad(gg, x, m, g);
    return e > 0 ? clv_quad(g, gg->cov, 3) / (e * e) : 0.0;
}

/* logit^-1(logit p -/+ d) = p / (p + (1 - p) e^+-d): one exp, two
 * divisions. */
static void bounds_logit(double p, double v, double z, double *lo, double *hi)
{
    if (!(p > 0 && p < 1) || !(v > 0)) {
        *lo = *hi = isfinite(v) ? p : CT_NAN;
        return;
    }
    double q = 1 - p, ed = exp(z * sqrt(v)), ped = p * ed;
    *lo = p / (p + q * ed);
    *hi = ped / (ped + q);
}

static void bounds_log(double e, double v, double z, double *lo, double *hi)
{
    if (!(e > 0) || !(v > 0)) {
        *lo = *hi = isfinite(v) ? e : CT_NAN;
        return;
    }
    double ed = exp(z * sqrt(v));
    *lo = e / ed;
    *hi = e * ed;
}

/* The period ends of the horizon (tv[0..steps)) and their discount factors
 * (tv[steps..2 steps)); *tv is the caller's to free. */
static ct_status horizon_grid(double horizon, double discount, int *steps, double **tv,
                              ct_error *err)
{
    int n = (int)ceil(horizon);
    double *v = malloc((size_t)(n > 0 ? 2 * n : 1) * sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (int k = 1; k <= n; k++) {
        v[k - 1] = k < n ? (double)k : horizon;
        v[n + k - 1] = 1.0 / pow(1 + discount, v[k - 1]);
    }
    *steps = n;
    *tv = v;
    return CT_OK;
}

/* P(alive), E[Y(H)] and D per distinct row under f: rows, or (rows NULL)
 * the customers' own columns in c; with the interpolants `made` when not
 * NULL (a scorer's), else made here to tol. */
static ct_status score_distinct_tol(const ct_fit *f, const double *rows, const ct_customers *c,
                                    size_t nd, int steps, const double *tv, unsigned threads,
                                    double tol, const cheb2 *made, double *pa, double *ey,
                                    double *disc, ct_error *err)
{
    cheb2 *cheb = NULL;
    score_job J = {f, rows, pa, ey, disc, {f, steps, tv, tv + steps}, made, c};
    ct_status s = made != NULL ? CT_OK : make_cheb_tol(&J, threads, tol, &cheb, err);
    if (made == NULL) {
        J.cheb = cheb;
    }
    if (s == CT_OK) {
        s = ct_par_for(nd, 64, threads, score_block, &J, err);
    }
    free(cheb);
    return s;
}

static ct_status score_distinct(const ct_fit *f, const double *rows, size_t nd, int steps,
                                const double *tv, unsigned threads, double *pa, double *ey,
                                double *disc, ct_error *err)
{
    return score_distinct_tol(f, rows, NULL, nd, steps, tv, threads, CHEB_TOL, NULL, pa, ey, disc,
                              err);
}

static ct_status clv_score_cov_level(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                     const double *z, double horizon, double discount,
                                     double level, unsigned threads, ct_scores *out,
                                     ct_error *err);

/* The delta-method bounds of out (its estimates filled) at level: var holds
 * the variances of logit P(alive), log E[Y] and log D per row (nd each;
 * customer i's row idx[i], or i when idx is NULL); CLV adds the spend
 * fit's variance of log E[M]. */
/* k columns of n doubles (freed with out by ct_scores_free). */
static ct_status alloc_columns(double **const *col, int k, size_t n, ct_error *err)
{
    for (int q = 0; q < k; q++) {
        *col[q] = ct_malloc_big(n ? n : 1, sizeof(double));
        if (*col[q] == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
        }
    }
    return CT_OK;
}

/* out's six bound columns (P(alive), purchases, CLV; lo and hi), n each. */
static ct_status alloc_bounds(ct_scores *out, size_t n, ct_error *err)
{
    double **const col[6] = {&out->p_alive_lo,       &out->p_alive_hi, &out->exp_purchases_lo,
                             &out->exp_purchases_hi, &out->clv_lo,     &out->clv_hi};
    return alloc_columns(col, 6, n, err);
}

/* out's estimates: P(alive), expected purchases, expected spend, CLV. */
static ct_status alloc_estimates(ct_scores *out, size_t n, ct_error *err)
{
    double **const col[4] = {&out->p_alive, &out->exp_purchases, &out->exp_spend, &out->clv};
    out->n = n;
    return alloc_columns(col, 4, n, err);
}

/* The predictive interval's columns. */
static ct_status alloc_purchases(ct_scores *out, size_t n, ct_error *err)
{
    double **const col[2] = {&out->purchases_lo, &out->purchases_hi};
    return alloc_columns(col, 2, n, err);
}

/* Each customer's expected spend: the spend fit's, else the customer's
 * own mean m (0 without one). */
static ct_status fill_spend(const ct_fit *gg, const ct_customers *c, double *spend,
                            ct_error *err)
{
    if (gg != NULL) {
        return ct_clv_spend(gg, c->x, c->m, c->n, spend, err);
    }
    for (size_t i = 0; i < c->n; i++) {
        spend[i] = c->m != NULL ? c->m[i] : 0.0;
    }
    return CT_OK;
}

/* Customer i's bounds from its estimates in out and the variances v of
 * logit P(alive), log E[Y] and log D; CLV adds the spend fit's variance of
 * log E[M] (NaN when gg has no finite covariance). */
static void bounds_one(ct_scores *out, const ct_fit *gg, int gg_cov, const ct_customers *c,
                       size_t i, const double v[3], double z)
{
    bounds_logit(out->p_alive[i], v[0], z, &out->p_alive_lo[i], &out->p_alive_hi[i]);
    bounds_log(out->exp_purchases[i], v[1], z, &out->exp_purchases_lo[i],
               &out->exp_purchases_hi[i]);
    double vm = gg == NULL ? 0.0 : gg_cov ? spend_log_var(gg, c->x[i], c->m[i]) : CT_NAN;
    bounds_log(out->clv[i], v[2] + vm, z, &out->clv_lo[i], &out->clv_hi[i]);
}

ct_status clv_delta_bounds(ct_scores *out, const ct_fit *gg, const ct_customers *c,
                              const uint32_t *idx, size_t nd, const double *var, double level,
                              ct_error *err)
{
    size_t n = c->n;
    CT_CHECK(alloc_bounds(out, n, err));
    double z = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level);
    int gg_cov = gg != NULL && cov_finite(gg);
    out->level = level;
    for (size_t i = 0; i < n; i++) {
        size_t r = idx != NULL ? idx[i] : i;
        const double v[3] = {var[r], var[nd + r], var[2 * nd + r]};
        bounds_one(out, gg, gg_cov, c, i, v, z);
    }
    return CT_OK;
}

ct_status clv_spend_clv(const ct_fit *gg, const ct_customers *c, const double *disc,
                        ct_scores *out, ct_error *err)
{
    CT_CHECK(fill_spend(gg, c, out->exp_spend, err));
    for (size_t i = 0; i < c->n; i++) {
        out->clv[i] = out->exp_spend[i] * disc[i];
    }
    return CT_OK;
}

static ct_status score_all(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           double horizon, double discount, double level, unsigned threads,
                           double tol, ct_scores *out, ct_error *err);

/* What scoring under one fit and horizon needs beside the rows. */
struct ct_clv_scorer {
    ct_fit f, gg;
    int has_gg;
    double horizon, discount;
    unsigned threads;
    int steps;
    double *tv;  /* the periods' ends, then their discount factors */
    cheb2 *cheb; /* the BG family's interpolants, or NULL */
    double level; /* delta-method intervals at this level (0: none) */
    dq2 *dq;      /* the delta method's quotient interpolants (or NULL) */
    int has_dq;
};

static ct_status score_rows(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                            double level, unsigned threads, double tol, int steps,
                            const double *tv, const cheb2 *cheb, dq2 *made_dq,
                            ct_scores *out, ct_error *err);

/* The arguments every scorer checks: horizon, discount, the spend fit (and,
 * c not NULL, column m for it), the interval level (0: none). */
static ct_status score_args(const ct_fit *gg, const ct_customers *c, double horizon,
                            double discount, double level, ct_error *err)
{
    if (!(horizon >= 0) || !isfinite(horizon) || horizon > 1e5) {
        return ct_fail(err, CT_EINVAL, "horizon %g must be in [0, 1e5] periods", horizon);
    }
    if (!(discount >= 0) || !isfinite(discount)) {
        return ct_fail(err, CT_EINVAL, "discount rate %g must be >= 0", discount);
    }
    if (gg != NULL && gg->model != CT_GAMMAGAMMA) {
        return ct_fail(err, CT_EINVAL, "the spend fit must be gammagamma, not %s",
                       ct_clv_model_name(gg->model));
    }
    if (gg != NULL && c != NULL && c->m == NULL) {
        return ct_fail(err, CT_EFORMAT, "spend predictions need column m");
    }
    if (level != 0 && !(level > 0 && level < 1)) {
        return ct_fail(err, CT_EINVAL, "interval level %g must be in (0, 1)", level);
    }
    return CT_OK;
}

ct_status ct_clv_score(const ct_fit *f, const ct_fit *gg, const ct_customers *c, double horizon,
                       double discount, unsigned threads, ct_scores *out, ct_error *err)
{
    return score_all(f, gg, c, horizon, discount, 0.0, threads, CHEB_TOL, out, err);
}

ct_status ct_clv_score_draw(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                            double horizon, double discount, unsigned threads, ct_scores *out,
                            ct_error *err)
{
    return score_all(f, gg, c, horizon, discount, 0.0, threads, CHEB_TOL_BOOT, out, err);
}

ct_status ct_clv_score_intervals(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                 double horizon, double discount, double level,
                                 unsigned threads, ct_scores *out, ct_error *err)
{
    return score_all(f, gg, c, horizon, discount, level, threads, CHEB_TOL, out, err);
}

static ct_status score_all(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           double horizon, double discount, double level, unsigned threads,
                           double tol, ct_scores *out, ct_error *err)
{
    ct_init();
    if (f->ncoef > 0 && c->cov != NULL) {
        return clv_score_cov_level(f, gg, c, c->cov, horizon, discount, level, threads, out, err);
    }
    memset(out, 0, sizeof *out);
    CT_CHECK(need_purchase_model(f, err));
    CT_CHECK(score_args(gg, c, horizon, discount, level, err));
    int steps = 0;
    double *tv = NULL;
    CT_CHECK(horizon_grid(horizon, discount, &steps, &tv, err));
    ct_status s = score_rows(f, gg, c, level, threads, tol, steps, tv, NULL, NULL, out, err);
    free(tv);
    return s;
}

ct_status ct_clv_scorer_new(const ct_fit *f, const ct_fit *gg, double horizon, double discount,
                            unsigned threads, ct_clv_scorer **out, ct_error *err)
{
    ct_init();
    *out = NULL;
    CT_CHECK(need_purchase_model(f, err));
    if (f->ncoef > 0) {
        return ct_fail(err, CT_EINVAL, "a scorer is for fits without covariates");
    }
    CT_CHECK(score_args(gg, NULL, horizon, discount, 0, err));
    ct_clv_scorer *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    s->f = *f;
    s->has_gg = gg != NULL;
    if (gg != NULL) {
        s->gg = *gg;
    }
    s->horizon = horizon;
    s->discount = discount;
    s->threads = threads;
    ct_status st = horizon_grid(horizon, discount, &s->steps, &s->tv, err);
    if (st == CT_OK) {
        score_job J = {&s->f, NULL, NULL, NULL, NULL, {&s->f, s->steps, s->tv, s->tv + s->steps},
                       NULL, NULL};
        st = make_cheb_tol(&J, threads, CHEB_TOL, &s->cheb, err);
    }
    if (st != CT_OK) {
        ct_clv_scorer_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

ct_status ct_clv_scorer_run(const ct_clv_scorer *s, const ct_customers *c, ct_scores *out,
                            ct_error *err)
{
    memset(out, 0, sizeof *out);
    const ct_fit *gg = s->has_gg ? &s->gg : NULL;
    CT_CHECK(score_args(gg, c, s->horizon, s->discount, s->level, err));
    return score_rows(&s->f, gg, c, s->level, s->threads, CHEB_TOL, s->steps, s->tv, s->cheb,
                      s->dq, out, err);
}

/* The quotients' interpolants are delta_rows' (make_dq), so a scorer's
 * intervals are the bits of ct_clv_score_intervals. */
ct_status ct_clv_scorer_intervals(ct_clv_scorer *s, double level, ct_error *err)
{
    const ct_fit *gg = s->has_gg ? &s->gg : NULL;
    CT_CHECK(score_args(gg, NULL, s->horizon, s->discount, level, err));
    double lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    s->level = level;
    if (s->has_dq || level <= 0 || !clv_log_cov(&s->f, lc)) {
        return CT_OK; /* no finite covariance: the bounds are NaN */
    }
    CT_CHECK(make_dq(&s->f, s->steps, s->tv, s->threads, &s->dq, err));
    s->has_dq = 1;
    return CT_OK;
}

void ct_clv_scorer_free(ct_clv_scorer *s)
{
    if (s != NULL) {
        free(s->tv);
        free(s->cheb);
        free(s->dq);
        free(s);
    }
}

/* ---- intervals in one pass ---------------------------------------------------
 * Rows that do not collapse (continuous time) with delta-method intervals,
 * BG family and Pareto/NBD: each customer's estimates, gradients, bounds and
 * predictive interval in one pass over its row, P(alive) computed once for
 * all of them (its closed-form gradient shares its logs and series).  The
 * arithmetic is that of the passes over distinct rows (score_row_pa,
 * delta_var, bounds_one, purchases_quantiles), so the bits are too. */
typedef struct fused_job {
    score_job S;
    const delta_job *D;
    const ct_customers *c;
    ct_scores *out;
    const ct_fit *gg;
    int gg_cov;
    double z, t, level;
    const clv_pmf_rule *rule;
} fused_job;

/* One row's estimates and P(alive)'s gradient (g0) into out and est. */
static void fused_est(const fused_job *J, size_t i, double est[3], double g0[DQ_K])
{
    double x = J->c->x[i], tx = J->c->t_x[i], T = J->c->T[i], pa;
    if (delta_logit_grad(J->D, x, tx, T, g0, &pa) != 0) { /* no closed form: the quadrature's */
        pa = row_p_alive(&J->S, x, tx, T);
    }
    score_row_pa(&J->S, x, tx, T, pa, est);
    J->out->p_alive[i] = est[0];
    J->out->exp_purchases[i] = est[1];
    J->out->clv[i] = J->out->exp_spend[i] * est[2];
}

/* One row's bounds and predictive interval from its estimates and d. */
static void fused_bounds(const fused_job *J, size_t i, const double est[3], const double g0[DQ_K],
                         const double d[DQ_S])
{
    double v[3];
    delta_var_d(J->D, est, g0, d, v, NULL);
    bounds_one(J->out, J->gg, J->gg_cov, J->c, i, v, J->z);
    purchases_quantiles(J->S.f, J->rule, J->c->x[i], J->c->t_x[i], J->c->T[i], est[0], J->level,
                        &J->out->purchases_lo[i], &J->out->purchases_hi[i]);
}

/* Rows two at a time: their interpolant sums (a recurrence of 8 to 64
 * dependent steps each) run interleaved, one row's latency hidden behind
 * the other's; each row's operations are those of delta_var alone. */
static ct_status fused_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const fused_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t i = begin; i < end; i += 2) {
        size_t m = end - i < 2 ? end - i : 2;
        double est[2][3], g0[2][DQ_K], d[2][DQ_S], y[2] = {0, 0};
        const dq_piece *ch[2] = {NULL, NULL};
        for (size_t q = 0; q < m; q++) {
            fused_est(J, i + q, est[q], g0[q]);
            ch[q] = delta_piece(J->D, J->c->x[i + q], J->c->T[i + q], &y[q]);
        }
        if (m == 2 && ch[0] != NULL && ch[1] != NULL) {
            clv_clenshaw8x2(&ch[0]->c[0][0], ch[0]->n, y[0], &ch[1]->c[0][0], ch[1]->n, y[1],
                            d[0], d[1]);
            for (size_t q = 0; q < 2; q++) {
                delta_shift(J->D, J->c->x[i + q], est[q][0], est[q][1], est[q][2], d[q]);
            }
        } else {
            for (size_t q = 0; q < m; q++) {
                delta_d(J->D, J->c->x[i + q], J->c->T[i + q], est[q], ch[q], y[q], d[q]);
            }
        }
        for (size_t q = 0; q < m; q++) {
            fused_bounds(J, i + q, est[q], g0[q], d[q]);
        }
    }
    return CT_OK;
}

/* score_rows for rows that do not collapse, with intervals, in one pass;
 * *done = 0 (nothing done) where it does not apply: other models, no
 * horizon (Pareto/NBD's x = 0 shortcut needs the interpolant), no finite
 * covariance. */
static ct_status score_fused(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                             double level, unsigned threads, double tol, int steps,
                             const double *tv, const cheb2 *made, dq2 *made_dq,
                             ct_scores *out, int *done, ct_error *err)
{
    double lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    *done = 0;
    if ((f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) || steps == 0 ||
        !clv_log_cov(f, lc)) {
        return CT_OK;
    }
    size_t n = c->n;
    cheb2 *cheb = NULL;
    dq2 *dq = NULL;
    clv_pmf_rule rule;
    fused_job J = {.S = {f, NULL, NULL, NULL, NULL, {f, steps, tv, tv + steps}, made, c},
                   .c = c, .out = out, .gg = gg, .gg_cov = gg != NULL && cov_finite(gg),
                   .z = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level), .t = tv[steps - 1],
                   .level = level, .rule = &rule};
    delta_job D = {.f = f, .lc = lc, .dq = made_dq};
    ct_status s = clv_pmf_rule_make(J.t, &rule, err);
    if (s == CT_OK && made == NULL) {
        s = make_cheb_tol(&J.S, threads, tol, &cheb, err);
        J.S.cheb = cheb;
    }
    if (s == CT_OK && made_dq == NULL) {
        s = make_dq(f, steps, tv, threads, &dq, err);
        D.dq = dq;
    }
    delta_job_fits(&D, steps, tv);
    D.ps = J.S.cheb != NULL ? J.S.cheb[0].ps : NULL;
    J.D = &D;
    s = s == CT_OK ? alloc_estimates(out, n, err) : s;
    s = s == CT_OK ? alloc_bounds(out, n, err) : s;
    s = s == CT_OK ? alloc_purchases(out, n, err) : s;
    s = s == CT_OK ? fill_spend(gg, c, out->exp_spend, err) : s;
    if (s == CT_OK) {
        out->level = level;
        s = ct_par_for(n, 64, threads, fused_block, &J, err);
    }
    free(cheb);
    free(dq);
    *done = 1;
    return s;
}

/* The scores of c's rows (score_all's checks done) on the horizon grid
 * (steps, tv), with the interpolants `made` (NULL: made here) and, for the
 * delta method, the quotients' interpolants made_dq (NULL: made here). */
static ct_status score_rows(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                            double level, unsigned threads, double tol, int steps,
                            const double *tv, const cheb2 *made, dq2 *made_dq,
                            ct_scores *out, ct_error *err)
{
    uint32_t *idx = NULL;
    double *rows = NULL;
    size_t nd = 0, n = c->n;
    /* without intervals, rows that do not collapse are scored in place:
     * from the customers' columns straight into the outputs (D into clv,
     * then times the spend), no copies (at 10M customers the copies and
     * their first touch cost more than the scoring) */
    ct_status s = distinct_rows(c, 0, &idx, &rows, &nd, err);
    if (s != CT_OK) {
        return s;
    }
    int direct = rows == NULL;
    if (direct && level > 0) {
        int done = 0;
        s = score_fused(f, gg, c, level, threads, tol, steps, tv, made, made_dq, out, &done, err);
        if (s != CT_OK || done) {
            if (s != CT_OK) {
                ct_scores_free(out);
            }
            return s;
        }
    }
    s = alloc_estimates(out, n, err);
    double *pa = direct ? out->p_alive : ct_malloc_big(nd, sizeof *pa);
    double *ey = direct ? out->exp_purchases : ct_malloc_big(nd, sizeof *ey);
    double *disc = direct ? out->clv : ct_malloc_big(nd, sizeof *disc);
    if (s == CT_OK && (!pa || !ey || !disc)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    if (s == CT_OK) {
        s = score_distinct_tol(f, rows, direct ? c : NULL, nd, steps, tv, threads, tol, made, pa,
                               ey, disc, err);
    }
    double *var = NULL; /* per distinct row: logit P(alive), log E[Y], log D */
    if (s == CT_OK && level > 0) {
        var = ct_malloc_big(nd ? 3 * nd : 1, sizeof *var);
        s = var != NULL ? delta_rows(f, rows, direct ? c : NULL, nd, steps, tv, threads, made_dq,
                                     pa, ey, disc, var, var + nd, var + 2 * nd, NULL, err)
                        : ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    if (s == CT_OK) {
        s = fill_spend(gg, c, out->exp_spend, err);
    }
    if (s == CT_OK) {
        for (size_t i = 0; i < n; i++) {
            size_t r = idx != NULL ? idx[i] : i;
            if (!direct) {
                out->p_alive[i] = pa[r];
                out->exp_purchases[i] = ey[r];
            }
            out->clv[i] = out->exp_spend[i] * disc[r];
        }
    }
    if (s == CT_OK && var != NULL) {
        s = clv_delta_bounds(out, gg, c, idx, nd, var, level, err);
        if (s == CT_OK && f->model != CT_BGBB) {
            s = alloc_purchases(out, n, err);
            s = s == CT_OK ? purchases_interval(f, c->x, c->t_x, c->T, n, idx, rows, nd, direct, pa,
                                                steps > 0 ? tv[steps - 1] : 0.0, level, threads,
                                                out->purchases_lo, out->purchases_hi, err)
                           : s;
        }
    }
    free(var);
    if (!direct) {
        free(pa);
        free(ey);
        free(disc);
    }
    free(idx);
    free(rows);
    if (s != CT_OK) {
        ct_scores_free(out);
    }
    return s;
}

/* ---- scoring with covariates: every customer under its own parameters ------ */

typedef struct cov_score_job {
    const ct_fit *f;
    const ct_customers *c;
    const double *z;
    int steps;
    const double *t, *v;
    double *pa, *ey, *disc;
    /* the delta method (lc != NULL): lc the covariance in theta (log base
     * parameters, coefficients), sh[j] the fit shifted by DELTA_FWD in
     * theta_j; out: the variances of logit P(alive), log E[Y], log D and
     * (gd != NULL) D's gradient in theta, k per customer */
    const double *lc;
    const ct_fit *sh;
    double *vpa, *vey, *vd, *gd;
} cov_score_job;

/* P(alive), E[Y(H)] and D of customer i under fit f (its own parameters). */
static void cov_one(const cov_score_job *J, const ct_fit *f, size_t i, ct_fit *fi, double out[3])
{
    double x = J->c->x[i], tx = J->c->t_x[i], T = J->c->T[i], h[2];
    future_ctx fc = {fi, J->steps, J->t, J->v};
    ct_clv_cov_params(f, J->z + i * J->f->ncoef, fi->par);
    double pa = clv_p_alive1(fi, x, tx, T);
    horizon_sums(&fc, x, tx, T, 1, h);
    out[0] = pa;
    out[1] = pa * h[0];
    out[2] = pa * h[1];
}

static ct_status cov_score_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const cov_score_job *J = vctx;
    size_t k = J->f->k;
    (void)b;
    (void)err;
    ct_fit fi; /* the customer's parameters: what horizon_sums and the ops read */
    own_fit(&fi, J->f->model);
    for (size_t i = begin; i < end; i++) {
        double base[3];
        cov_one(J, J->f, i, &fi, base);
        J->pa[i] = base[0];
        J->ey[i] = base[1];
        J->disc[i] = base[2];
        if (J->lc == NULL) {
            continue;
        }
        double g[3][CT_CLV_MAXPAR];
        for (size_t j = 0; j < k; j++) { /* forward differences in theta_j */
            double v[3];
            cov_one(J, &J->sh[j], i, &fi, v);
            for (size_t o = 0; o < 3; o++) {
                g[o][j] = (v[o] - base[o]) / DELTA_FWD;
            }
        }
        double a = base[0] * (1 - base[0]);
        J->vpa[i] = a > 0 ? clv_quad(g[0], J->lc, k) / (a * a) : 0.0;
        J->vey[i] = base[1] > 0 ? clv_quad(g[1], J->lc, k) / (base[1] * base[1]) : 0.0;
        J->vd[i] = base[2] > 0 ? clv_quad(g[2], J->lc, k) / (base[2] * base[2]) : 0.0;
        if (J->gd != NULL) {
            memcpy(J->gd + k * i, g[2], k * sizeof(double));
        }
    }
    return CT_OK;
}

static ct_status cov_check(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           const double *z, double horizon, double discount, double level,
                           ct_error *err)
{
    if (f->model != CT_BGNBD && f->model != CT_MBGNBD && f->model != CT_PARETO) {
        return ct_fail(err, CT_EINVAL, "covariates are for bgnbd, mbgnbd and pareto");
    }
    CT_CHECK(score_args(gg, c, horizon, discount, level, err));
    for (size_t i = 0; i < c->n * f->ncoef; i++) {
        if (!isfinite(z[i])) {
            char name[1024];
            return ct_fail(err, CT_EDATA, "%s: covariate '%s' is missing",
                           clv_who(c, i / f->ncoef, name, sizeof name), f->coef_col[i % f->ncoef]);
        }
    }
    return CT_OK;
}

/* out's predictive interval of the purchases in (T, T + t] (purchases_lo,
 * _hi, allocated here), every customer under its own parameters from z. */
static ct_status cov_purchases(const ct_fit *f, const ct_customers *c, const double *z, double t,
                               double level, unsigned threads, ct_scores *out, ct_error *err)
{
    size_t n = c->n;
    CT_CHECK(alloc_purchases(out, n, err));
    clv_pmf_rule rule;
    CT_CHECK(clv_pmf_rule_make(t, &rule, err));
    pred_job P = {f, NULL, NULL, level, c->x, c->t_x, c->T, t,
                  out->purchases_lo, out->purchases_hi, PRED_QUANTILES, z, NULL, &rule};
    return ct_par_for(n, 256, threads, pred_block, &P, err);
}

/* Every customer of c under its own parameters: pa, ey, disc (n each); with
 * var != NULL also the delta-method variances (var: 3 n; NaN when the fit
 * has no finite covariance) and, gd != NULL, D's gradients (k n). */
static ct_status cov_scores(const ct_fit *f, const ct_customers *c, const double *z,
                            double horizon, double discount, unsigned threads, double *pa,
                            double *ey, double *disc, double *var, double *gd, ct_error *err)
{
    size_t n = c->n, k = f->k;
    int steps = 0;
    double *tv = NULL, lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    ct_fit *sh = NULL;
    CT_CHECK(horizon_grid(horizon, discount, &steps, &tv, err));
    cov_score_job J = {f,    c,    z,    steps, tv,   tv + steps, pa, ey, disc,
                       NULL, NULL, NULL, NULL,  NULL, NULL};
    ct_status s = CT_OK;
    if (var != NULL && clv_log_cov(f, lc)) {
        sh = malloc(k * sizeof *sh);
        s = sh != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
        for (size_t j = 0; j < k && s == CT_OK; j++) {
            clv_theta_shift(f, j, DELTA_FWD, &sh[j]);
        }
        J.lc = lc;
        J.sh = sh;
        J.vpa = var;
        J.vey = var + n;
        J.vd = var + 2 * n;
        J.gd = gd;
    } else if (var != NULL) {
        for (size_t i = 0; i < 3 * n; i++) {
            var[i] = CT_NAN;
        }
        for (size_t i = 0; gd != NULL && i < k * n; i++) {
            gd[i] = CT_NAN;
        }
    }
    if (s == CT_OK) {
        s = ct_par_for(n, var != NULL ? 16 : 256, threads, cov_score_block, &J, err);
    }
    free(sh);
    free(tv);
    return s;
}

ct_status ct_clv_score_cov(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           const double *z, double horizon, double discount, unsigned threads,
                           ct_scores *out, ct_error *err)
{
    return clv_score_cov_level(f, gg, c, z, horizon, discount, 0.0, threads, out, err);
}

static ct_status clv_score_cov_level(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                     const double *z, double horizon, double discount,
                                     double level, unsigned threads, ct_scores *out,
                                     ct_error *err)
{
    if (z == NULL || f->ncoef == 0) {
        return ct_clv_score_intervals(f, gg, c, horizon, discount, level, threads, out, err);
    }
    ct_init();
    memset(out, 0, sizeof *out);
    CT_CHECK(cov_check(f, gg, c, z, horizon, discount, level, err));
    size_t n = c->n;
    double *disc = ct_malloc_big(n ? n : 1, sizeof *disc);
    double *var = level > 0 ? ct_malloc_big(n ? 3 * n : 1, sizeof *var) : NULL;
    ct_status s = alloc_estimates(out, n, err);
    if (s == CT_OK && (!disc || (level > 0 && var == NULL))) {
        s = ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    if (s == CT_OK) {
        s = cov_scores(f, c, z, horizon, discount, threads, out->p_alive, out->exp_purchases,
                       disc, var, NULL, err);
    }
    if (s == CT_OK) {
        s = clv_spend_clv(gg, c, disc, out, err);
    }
    if (s == CT_OK && var != NULL) { /* the intervals, as ct_clv_score_intervals' */
        s = clv_delta_bounds(out, gg, c, NULL, n, var, level, err);
        if (s == CT_OK) {
            s = cov_purchases(f, c, z, horizon, level, threads, out, err);
        }
    }
    free(var);
    free(disc);
    if (s != CT_OK) {
        ct_scores_free(out);
    }
    return s;
}

/* ---- intervals: the parametric bootstrap ------------------------------------- */

static double std_normal(ct_rng *g)
{
    return sqrt(-2 * log(ct_rng_uniform_pos(g))) * cos(2 * M_PI * ct_rng_uniform(g));
}

void ct_clv_draw(const ct_fit *f, ct_rng *g, ct_fit *out)
{
    size_t k = f->k, nb = ct_clv_nparams(f->model);
    double L[CT_CLV_MAXPAR * CT_CLV_MAXPAR] = {0}, z[CT_CLV_MAXPAR];
    for (size_t i = 0; i < k; i++) { /* the Cholesky factor of the covariance in theta */
        for (size_t j = 0; j <= i; j++) {
            double s = f->cov[i * k + j] / (theta_scale(f, i) * theta_scale(f, j));
            for (size_t q = 0; q < j; q++) {
                s -= L[i * k + q] * L[j * k + q];
            }
            L[i * k + j] = i == j ? (s > 0 ? sqrt(s) : 0.0)
                                  : (L[j * k + j] > 0 ? s / L[j * k + j] : 0.0);
        }
        z[i] = std_normal(g);
    }
    *out = *f;
    for (size_t i = 0; i < k; i++) {
        double e = 0;
        for (size_t j = 0; j <= i; j++) {
            e += L[i * k + j] * z[j];
        }
        e = isfinite(e) ? e : 0.0;
        out->par[i] = i < nb ? f->par[i] * exp(e) : f->par[i] + e;
    }
}

/* The q-quantile of v[0..n) (numpy's default, linear between order
 * statistics), reordering v: a selection and a minimum, no sort. */
static double quantile(double *v, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t a = (size_t)floor(h);
    double va = ct_select_kth(v, n, a);
    if (a + 1 >= n || h == (double)a) {
        return va;
    }
    double vb = v[a + 1]; /* the smallest of the values above the a-th */
    for (size_t i = a + 2; i < n; i++) {
        vb = v[i] < vb ? v[i] : vb;
    }
    return va + (h - (double)a) * (vb - va);
}

typedef struct boot_job {
    const ct_customers *c;
    size_t N;
    const score_job *sj; /* N: each draw's scorer (fit, horizon, interpolants) */
    const ct_fit *gd;    /* N spend draws, or NULL (then the customer's m, fixed) */
    const ct_fit *gg;    /* the spend fit (its estimate) or NULL */
    double qlo, qhi;
    ct_scores *out;
} boot_job;

/* Customers in groups of BOOT_GROUP, draws outer: a draw's interpolants
 * stay in cache over the group. */
#define BOOT_GROUP 64

static ct_status boot_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const boot_job *J = vctx;
    const ct_customers *c = J->c;
    size_t N = J->N;
    (void)b;
    double *buf = malloc((3 * BOOT_GROUP + 1) * N * sizeof *buf), *v = buf + 3 * BOOT_GROUP * N;
    if (buf == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_fit fi; /* covariates: the customer's own parameters under a draw */
    own_fit(&fi, J->sj[0].f->model);
    double *lo[3] = {J->out->p_alive_lo, J->out->exp_purchases_lo, J->out->clv_lo};
    double *hi[3] = {J->out->p_alive_hi, J->out->exp_purchases_hi, J->out->clv_hi};
    for (size_t g0 = begin; g0 < end; g0 += BOOT_GROUP) {
        size_t gn = end - g0 < BOOT_GROUP ? end - g0 : BOOT_GROUP;
        for (size_t d = 0; d < N; d++) {
            const score_job *sj = &J->sj[d];
            for (size_t u = 0; u < gn; u++) {
                size_t i = g0 + u;
                double x = c->x[i], tx = c->t_x[i], T = c->T[i], gm[3], r[3];
                if (c->cov != NULL && sj->f->ncoef > 0) {
                    score_job one = *sj;
                    ct_clv_cov_params(sj->f, c->cov + i * sj->f->ncoef, fi.par);
                    one.f = &fi;
                    one.fc.f = &fi;
                    one.cheb = NULL;
                    score_row(&one, x, tx, T, r);
                } else {
                    score_row(sj, x, tx, T, r);
                }
                double m = J->gd != NULL   ? spend_grad(&J->gd[d], x, c->m[i], gm)
                           : J->gg != NULL ? spend_grad(J->gg, x, c->m[i], gm)
                           : c->m != NULL  ? c->m[i]
                                           : 0.0;
                double *o = buf + (u * 3) * N + d;
                o[0] = r[0];
                o[N] = r[1];
                o[2 * N] = m * r[2];
            }
        }
        for (size_t u = 0; u < gn; u++) {
            for (size_t q = 0; q < 3; q++) {
                memcpy(v, buf + (u * 3 + q) * N, N * sizeof *v);
                lo[q][g0 + u] = quantile(v, N, J->qlo);
                memcpy(v, buf + (u * 3 + q) * N, N * sizeof *v);
                hi[q][g0 + u] = quantile(v, N, J->qhi);
            }
        }
    }
    free(buf);
    return CT_OK;
}

ct_status ct_clv_score_bootstrap(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                                 double horizon, double discount, double level, size_t ndraws,
                                 uint64_t seed, int interp, unsigned threads, ct_scores *out,
                                 ct_error *err)
{
    ct_init();
    if (!(level > 0 && level < 1) || ndraws < 2 || ndraws > 100000) {
        return ct_fail(err, CT_EINVAL, "bootstrap: level %g in (0, 1), 2..100000 draws (got %zu)",
                       level, ndraws);
    }
    CT_CHECK(ct_clv_score_intervals(f, gg, c, horizon, discount, 0.0, threads, out, err));
    size_t n = c->n, N = ndraws;
    int steps = 0, okp = cov_finite(f), okg = gg == NULL || cov_finite(gg);
    double *tv = NULL;
    ct_fit *fd = malloc(N * sizeof *fd), *gd = gg != NULL ? malloc(N * sizeof *gd) : NULL;
    score_job *sj = calloc(N, sizeof *sj);
    cheb2 **ch = calloc(N, sizeof *ch);
    ct_rng *g = ct_rng_new(seed, 0xB0075);
    ct_status s = fd && sj && ch && g && (gg == NULL || gd) ? CT_OK
                                                          : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        s = alloc_bounds(out, n, err);
    }
    if (s == CT_OK) {
        s = horizon_grid(horizon, discount, &steps, &tv, err);
    }
    out->level = level;
    out->draws = N;
    if (s == CT_OK && !(okp && okg)) { /* no covariance to draw from */
        double *col[6] = {out->p_alive_lo,       out->p_alive_hi, out->exp_purchases_lo,
                          out->exp_purchases_hi, out->clv_lo,     out->clv_hi};
        for (int q = 0; q < 6; q++) {
            for (size_t i = 0; i < n; i++) {
                col[q][i] = CT_NAN;
            }
        }
    } else if (s == CT_OK) {
        /* the draws, in order from the seed: purchase fit, then spend fit */
        for (size_t d = 0; d < N; d++) {
            ct_clv_draw(f, g, &fd[d]);
            if (gd != NULL) {
                ct_clv_draw(gg, g, &gd[d]);
            }
        }
        for (size_t d = 0; d < N && s == CT_OK; d++) {
            sj[d] = (score_job){&fd[d], NULL, NULL, NULL, NULL,
                                {&fd[d], steps, tv, tv + steps}, NULL, NULL};
            if (f->ncoef == 0 && interp) {
                s = make_cheb_tol(&sj[d], threads, CHEB_TOL_BOOT, &ch[d], err);
                sj[d].cheb = ch[d];
            }
        }
        if (s == CT_OK) {
            boot_job J = {c, N, sj, gd, gg, 0.5 - 0.5 * level, 0.5 + 0.5 * level, out};
            s = ct_par_for(n, 64, threads, boot_block, &J, err);
        }
    }
    if (s == CT_OK && f->ncoef > 0) { /* the predictive interval, at the estimate */
        s = cov_purchases(f, c, c->cov, horizon, level, threads, out, err);
    } else if (s == CT_OK && f->model != CT_BGBB) {
        s = alloc_purchases(out, n, err);
        s = s == CT_OK ? ct_clv_purchases_interval(f, c->x, c->t_x, c->T, n, horizon, level,
                                                   threads, out->purchases_lo, out->purchases_hi,
                                                   err)
                       : s;
    }
    for (size_t d = 0; ch != NULL && d < N; d++) {
        free(ch[d]);
    }
    free(ch);
    free(sj);
    free(fd);
    free(gd);
    free(tv);
    ct_rng_free(g);
    if (s != CT_OK) {
        ct_scores_free(out);
    }
    return s;
}

/* ---- validation tables ------------------------------------------------------ */

typedef struct tval {
    double T, w;
} tval;

static int cmp_tval(const void *a, const void *b)
{
    double x = ((const tval *)a)->T, y = ((const tval *)b)->T;
    return (x > y) - (x < y);
}

/* Covariates: each customer's own count pmf at its T (or, jmax = 0, its
 * own E[X(t)]), weighted, summed per block of rows and over the blocks in
 * order. */
typedef struct cov_pop_job {
    const ct_fit *f;
    const ct_customers *c;
    size_t jmax; /* pmf entries; 0: E[X(t)] */
    double t;
    double *part; /* nblocks x (jmax or 1) */
} cov_pop_job;

#define COV_POP_BLOCK ((size_t)1024)

static ct_status cov_pop_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const cov_pop_job *J = vctx;
    const clv_model_ops *ops = clv_ops(J->f->model);
    size_t m = J->jmax ? J->jmax : 1;
    double *acc = J->part + b * m, p[4];
    (void)err;
    memset(acc, 0, m * sizeof *acc);
    for (size_t i = begin; i < end; i++) {
        double w = J->c->weight != NULL ? J->c->weight[i] : 1.0, sum = 0;
        ct_clv_cov_params(J->f, J->c->cov + i * J->f->ncoef, p);
        if (J->jmax == 0) {
            acc[0] += w * ops->expected_new(p, J->t);
            continue;
        }
        for (size_t j = 0; j + 1 < J->jmax; j++) {
            double v = ops->pmf(p, J->c->T[i], (double)j);
            acc[j] += w * v;
            sum += v;
        }
        acc[J->jmax - 1] += w * (sum < 1 ? 1 - sum : 0.0);
    }
    return CT_OK;
}

static ct_status cov_population(const ct_fit *f, const ct_customers *c, size_t jmax, double t,
                                double *out, ct_error *err)
{
    size_t nb = ct_par_nblocks(c->n, COV_POP_BLOCK), m = jmax ? jmax : 1;
    cov_pop_job J = {f, c, jmax, t, calloc((nb ? nb : 1) * m, sizeof(double))};
    if (J.part == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = ct_par_for(c->n, COV_POP_BLOCK, 0, cov_pop_block, &J, err);
    memset(out, 0, m * sizeof *out);
    for (size_t b = 0; b < nb && s == CT_OK; b++) {
        for (size_t j = 0; j < m; j++) {
            out[j] += J.part[b * m + j];
        }
    }
    free(J.part);
    return s;
}

ct_status ct_clv_expected_new_pop(const ct_fit *f, const ct_customers *c, double t, double *out,
                                  ct_error *err)
{
    ct_init();
    if (f->ncoef == 0) {
        return ct_clv_expected_new(f, t, out, err);
    }
    CT_CHECK(need_cov(f, c, err));
    double W = 0;
    for (size_t i = 0; i < c->n; i++) {
        W += c->weight != NULL ? c->weight[i] : 1.0;
    }
    CT_CHECK(cov_population(f, c, 0, t, out, err));
    *out = W > 0 ? *out / W : CT_NAN;
    return CT_OK;
}

ct_status ct_clv_repeat_table(const ct_fit *f, const ct_customers *c, size_t jmax,
                              double *expected, double *observed, ct_error *err)
{
    ct_init();
    ct_status s = f->ncoef > 0 ? need_cov(f, c, err) : need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    if (jmax < 2) {
        return ct_fail(err, CT_EINVAL, "jmax must be >= 2");
    }
    memset(expected, 0, jmax * sizeof *expected);
    memset(observed, 0, jmax * sizeof *observed);
    tval *tv = malloc((c->n ? c->n : 1) * sizeof *tv);
    double *pmf = malloc(jmax * sizeof *pmf);
    if (tv == NULL || pmf == NULL) {
        free(tv);
        free(pmf);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n; i++) {
        double w = c->weight != NULL ? c->weight[i] : 1.0;
        size_t j = c->x[i] < (double)(jmax - 1) ? (size_t)c->x[i] : jmax - 1;
        observed[j] += w;
        tv[i].T = c->T[i];
        tv[i].w = w;
    }
    if (f->ncoef > 0) { /* each customer's own pmf */
        s = cov_population(f, c, jmax, 0, expected, err);
        free(tv);
        free(pmf);
        return s;
    }
    /* one pmf per distinct T, weighted by its customers */
    qsort(tv, c->n, sizeof *tv, cmp_tval);
    for (size_t a = 0; a < c->n && s == CT_OK;) {
        size_t b = a;
        double w = 0;
        while (b < c->n && tv[b].T == tv[a].T) {
            w += tv[b].w;
            b++;
        }
        s = ct_clv_count_pmf(f, tv[a].T, jmax, pmf, err);
        for (size_t j = 0; j < jmax && s == CT_OK; j++) {
            expected[j] += w * pmf[j];
        }
        a = b;
    }
    free(tv);
    free(pmf);
    return s;
}

ct_status ct_clv_holdout_table(const ct_fit *f, const ct_customers *c, double t_star, size_t jmax,
                               double *count, double *actual, double *predicted, ct_error *err)
{
    ct_init();
    ct_status s = f->ncoef > 0 ? need_cov(f, c, err) : need_purchase_model(f, err);
    if (s != CT_OK) {
        return s;
    }
    if (c->x_star == NULL) {
        return ct_fail(err, CT_EFORMAT,
                       "no holdout column x_star: ingest with --calibration-end to split the "
                       "data");
    }
    if (jmax < 2) {
        return ct_fail(err, CT_EINVAL, "jmax must be >= 2");
    }
    double *e = malloc((c->n ? c->n : 1) * sizeof *e);
    if (e == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    s = ct_clv_predict(f, CT_PRED_EXPECTED, c, t_star, 0, e, err);
    memset(count, 0, jmax * sizeof *count);
    memset(actual, 0, jmax * sizeof *actual);
    memset(predicted, 0, jmax * sizeof *predicted);
    for (size_t i = 0; i < c->n && s == CT_OK; i++) {
        double w = c->weight != NULL ? c->weight[i] : 1.0;
        size_t j = c->x[i] < (double)(jmax - 1) ? (size_t)c->x[i] : jmax - 1;
        count[j] += w;
        actual[j] += w * c->x_star[i];
        predicted[j] += w * e[i];
    }
    for (size_t j = 0; j < jmax; j++) {
        if (count[j] > 0) {
            actual[j] /= count[j];
            predicted[j] /= count[j];
        }
    }
    free(e);
    return s;
}

/* ---- calibration of P(purchase in the holdout) ------------------------------ */

typedef struct calrow {
    double q, w, y;
} calrow;

static int cmp_calrow(const void *a, const void *b)
{
    double x = ((const calrow *)a)->q, y = ((const calrow *)b)->q;
    return (x > y) - (x < y);
}

ct_status ct_clv_calibration(const ct_fit *f, const ct_customers *c, double t_star, size_t nbins,
                             double *count, double *predicted, double *observed, double *brier,
                             ct_error *err)
{
    ct_init();
    if (c->x_star == NULL) {
        return ct_fail(err, CT_EFORMAT,
                       "no holdout column x_star: ingest with --calibration-end to split the "
                       "data");
    }
    if (nbins < 1 || !(t_star > 0)) {
        return ct_fail(err, CT_EINVAL, "calibration needs bins >= 1 and a holdout > 0 periods");
    }
    size_t n = c->n;
    double *p0 = malloc((n ? n : 1) * sizeof *p0);
    calrow *r = malloc((n ? n : 1) * sizeof *r);
    ct_status s = p0 != NULL && r != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        s = ct_clv_predict(f, CT_PRED_P_NO_PURCHASE, c, t_star, 0, p0, err);
    }
    double W = 0, b = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        double w = c->weight != NULL ? c->weight[i] : 1.0, y = c->x_star[i] > 0 ? 1.0 : 0.0;
        r[i] = (calrow){1.0 - p0[i], w, y};
        W += w;
        b += w * (r[i].q - y) * (r[i].q - y);
    }
    memset(count, 0, nbins * sizeof *count);
    memset(predicted, 0, nbins * sizeof *predicted);
    memset(observed, 0, nbins * sizeof *observed);
    if (s == CT_OK) {
        /* groups of equal weight by the predicted probability: a row goes to
         * the group holding the midpoint of its weight */
        qsort(r, n, sizeof *r, cmp_calrow);
        double cum = 0;
        for (size_t i = 0; i < n; i++) {
            double mid = (cum + 0.5 * r[i].w) / W;
            size_t j = mid * (double)nbins < (double)nbins ? (size_t)(mid * (double)nbins) : nbins - 1;
            count[j] += r[i].w;
            predicted[j] += r[i].w * r[i].q;
            observed[j] += r[i].w * r[i].y;
            cum += r[i].w;
        }
        for (size_t j = 0; j < nbins; j++) {
            if (count[j] > 0) {
                predicted[j] /= count[j];
                observed[j] /= count[j];
            }
        }
        *brier = W > 0 ? b / W : CT_NAN;
    }
    free(p0);
    free(r);
    return s;
}

/* ---- intervals of group totals of CLV ---------------------------------------
 * The total CLV of a group (a tier) is sum_i E[M_i] D_i; its delta-method
 * variance is G' Cov(theta) G + H' Cov(phi) H with G = sum_i E[M_i] grad D_i
 * (purchase model, log-parameters theta) and H = sum_i D_i grad E[M_i]
 * (Gamma-Gamma, natural parameters phi): the customers share the parameters,
 * so their errors add up, not in quadrature.  Bounds on the log scale. */
ct_status ct_clv_group_clv(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           double horizon, double discount, const int8_t *group, size_t ngroups,
                           double level, unsigned threads, double *total, double *lo,
                           double *hi, ct_error *err)
{
    ct_init();
    uint32_t *idx = NULL;
    double *rows = NULL, *tv = NULL;
    size_t nd = 0, k = f->k;
    int steps = 0, cov = f->ncoef > 0;
    ct_status s = cov ? need_cov(f, c, err) : need_purchase_model(f, err);
    if (s == CT_OK && cov) {
        s = cov_check(f, gg, c, c->cov, horizon, discount, 0.0, err);
    }
    if (s == CT_OK && (!(level > 0 && level < 1) || ngroups == 0 || ngroups > 127)) {
        s = ct_fail(err, CT_EINVAL, "group CLV intervals: level %g in (0, 1), 1..127 groups",
                    level);
    }
    if (s == CT_OK && gg != NULL && c->m == NULL) {
        s = ct_fail(err, CT_EFORMAT, "spend predictions need column m");
    }
    if (s == CT_OK && !cov) {
        s = distinct_rows(c, 1, &idx, &rows, &nd, err);
    }
    if (cov) { /* each customer under its own parameters: no collapsing */
        nd = c->n;
    }
    size_t n = c->n;
    double *buf = s == CT_OK ? ct_malloc_big(nd ? (6 + k) * nd : 1, sizeof *buf) : NULL;
    double *acc = calloc(ngroups * (1 + CT_CLV_MAXPAR + 3), sizeof *acc);
    if (s == CT_OK && (buf == NULL || acc == NULL)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    if (s == CT_OK) {
        s = horizon_grid(horizon, discount, &steps, &tv, err);
    }
    double *pa = buf, *ey = buf + nd, *disc = buf + 2 * nd, *gd = buf + 6 * nd;
    if (s == CT_OK && cov) {
        s = cov_scores(f, c, c->cov, horizon, discount, threads, pa, ey, disc, buf + 3 * nd, gd,
                       err);
    } else if (s == CT_OK) {
        s = score_distinct(f, rows, nd, steps, tv, threads, pa, ey, disc, err);
    }
    if (s == CT_OK && !cov) {
        s = delta_rows(f, rows, NULL, nd, steps, tv, threads, NULL, pa, ey, disc, buf + 3 * nd,
                       buf + 4 * nd, buf + 5 * nd, gd, err);
    }
    size_t stride = 1 + CT_CLV_MAXPAR + 3;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        if (group[i] < 0 || (size_t)group[i] >= ngroups) {
            continue;
        }
        size_t r = idx != NULL ? idx[i] : i;
        double w = c->weight != NULL ? c->weight[i] : 1.0, gm[3] = {0, 0, 0};
        double m = gg != NULL ? spend_grad(gg, c->x[i], c->m[i], gm) : c->m != NULL ? c->m[i] : 0.0;
        double *a = acc + (size_t)group[i] * stride;
        a[0] += w * m * disc[r];
        for (size_t j = 0; j < k; j++) {
            a[1 + j] += w * m * gd[k * r + j];
        }
        for (size_t j = 0; j < 3; j++) {
            a[1 + CT_CLV_MAXPAR + j] += w * disc[r] * gm[j];
        }
    }
    if (s == CT_OK) {
        double lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
        int okp = clv_log_cov(f, lc), okg = gg == NULL || cov_finite(gg);
        double z = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level);
        for (size_t t = 0; t < ngroups; t++) {
            const double *a = acc + t * stride;
            double v = !(okp && okg) ? CT_NAN
                       : gg != NULL  ? clv_quad(a + 1, lc, k) + clv_quad(a + 1 + CT_CLV_MAXPAR, gg->cov, 3)
                                     : clv_quad(a + 1, lc, k);
            total[t] = a[0];
            bounds_log(a[0], a[0] > 0 ? v / (a[0] * a[0]) : 0.0, z, &lo[t], &hi[t]);
        }
    }
    free(acc);
    free(buf);
    free(tv);
    free(idx);
    free(rows);
    return s;
}
