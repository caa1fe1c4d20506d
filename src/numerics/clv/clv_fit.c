/* clv_fit.c - maximum likelihood for the CLV models: likelihood dispatch
 * (over MPI ranks), the optimiser on log-parameters and standard errors.
 *
 * The optimiser (theta = log of the parameters, objective f = -lnL/N +
 * penalty * sum p^2):
 *  - Newton steps with the analytic Hessian (BG/NBD, MBG/NBD, Gamma-Gamma;
 *    central differences of the analytic gradient for Pareto/NBD and BG/BB),
 *    Levenberg-Marquardt damping where the Hessian is not positive definite,
 *    and a backtracking (Armijo) line search.  One pass over the rows gives
 *    lnL, gradient and Hessian together, so an accepted trial point costs
 *    nothing more.
 *  - Start: on more than CLV_SUB_MIN distinct rows, the model is first
 *    fitted to a deterministic subsample (systematic sampling proportional
 *    to the weights, about 1 % of the rows, at least CLV_SUB_ROWS), whose
 *    optimum starts the Newton steps on all rows.  Only when those do not
 *    converge or end on a boundary does the full search below run on all
 *    rows.
 *  - The search (small data, the subsample, or the fallback): for each
 *    start, BFGS (GSL vector_bfgs2) to a loose gradient, then Newton to the
 *    tolerance (BFGS goes on when Newton cannot finish); starts after the
 *    first are the first scaled by exp(U(-1.5, 1.5)).  On small data every
 *    start runs (they are cheap); on the subsample the further starts run
 *    only when the first does not converge or ends on a boundary.
 *  - Standard errors: the inverse of minus the Hessian of lnL at the
 *    optimum (analytic where the model has it). */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multimin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/rng.h"

/* Data with more distinct rows than this start from a subsample fit. */
#define CLV_SUB_MIN ((size_t)50000)
/* Rows of that subsample: at least this many, else 1 % of the rows. */
#define CLV_SUB_ROWS ((size_t)10000)
/* A parameter outside [1e-6, 1e6] is on a boundary of the search (the
 * model degenerates there, e.g. BG/NBD's a, b -> infinity: no drop-out). */
#define CLV_BOUND_LO 1e-6
#define CLV_BOUND_HI 1e6

/* Parameters: the model's base ones (> 0), then covariate coefficients. */
static size_t nbase(const ct_clv_data *d)
{
    return ct_clv_nparams(d->model);
}

static size_t nparams(const ct_clv_data *d)
{
    return nbase(d) + d->ncoef;
}

static ct_status check_params(const ct_clv_data *d, const double *par, ct_error *err)
{
    size_t k = nparams(d), nb = nbase(d);
    for (size_t j = 0; j < k; j++) {
        if (j < nb ? !(par[j] > 0) || !isfinite(par[j]) : !isfinite(par[j])) {
            return ct_fail(err, CT_EINVAL, "parameter %zu = %g must be finite%s", j + 1, par[j],
                           j < nb ? " and > 0" : "");
        }
    }
    return clv_ops(d->model) != NULL ? CT_OK : ct_fail(err, CT_EINVAL, "unknown model");
}

/* This rank's lnL, gradient and (H != NULL) analytic Hessian. */
static ct_status loglik_local(const ct_clv_data *d, const double *par, double *ll, double *grad,
                              double *H, unsigned threads, ct_error *err)
{
    size_t k = nparams(d);
    CT_CHECK(check_params(d, par, err));
    if (d->n == 0) { /* a rank with no rows of this model */
        *ll = 0;
        if (grad != NULL) {
            memset(grad, 0, k * sizeof *grad);
        }
        if (H != NULL) {
            memset(H, 0, k * k * sizeof *H);
        }
        return CT_OK;
    }
    if (d->dyn != NULL) { /* no analytic Hessian: loglik_h differences gradients */
        return H == NULL ? clv_dyn_ll(d, par, ll, grad, threads, err)
                         : ct_fail(err, CT_EINVAL, "no analytic Hessian with time-varying covariates");
    }
    if (d->ncoef > 0) {
        return clv_cov_ll(d, par, ll, grad, H, threads, err);
    }
    return clv_ops(d->model)->loglik(d, par, ll, grad, H, threads, err);
}

/* Sum ll, the gradient and the Hessian over the ranks. */
static ct_status reduce_ranks(const ct_clv_data *d, double *ll, double *grad, double *H,
                              ct_status s, ct_error *err)
{
    if (d->comm == NULL) {
        return s;
    }
    size_t k = nparams(d), n = 1;
    double buf[1 + CT_CLV_MAXPAR + CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    s = ct_comm_agree(d->comm, s, err);
    if (s != CT_OK) {
        return s;
    }
    buf[0] = *ll;
    for (size_t j = 0; j < k && grad != NULL; j++) {
        buf[n++] = grad[j];
    }
    for (size_t j = 0; j < k * k && H != NULL; j++) {
        buf[n++] = H[j];
    }
    CT_CHECK(ct_comm_allreduce_sum(d->comm, buf, n, err));
    *ll = buf[0];
    n = 1;
    for (size_t j = 0; j < k && grad != NULL; j++) {
        grad[j] = buf[n++];
    }
    for (size_t j = 0; j < k * k && H != NULL; j++) {
        H[j] = buf[n++];
    }
    return CT_OK;
}

ct_status ct_clv_loglik(const ct_clv_data *d, const double *par, double *ll, double *grad,
                        unsigned threads, ct_error *err)
{
    ct_init();
    ct_status s = loglik_local(d, par, ll, grad, NULL, threads, err);
    return reduce_ranks(d, ll, grad, NULL, s, err);
}

/* Hessian by central differences of the analytic gradient (relative step
 * 1e-5: truncation error ~1e-10, rounding ~1e-11 relative). */
static ct_status fd_hessian(const ct_clv_data *d, const double *par, double *H, unsigned threads,
                            size_t *nevals, ct_error *err)
{
    size_t k = nparams(d);
    for (size_t j = 0; j < k; j++) {
        double pp[CT_CLV_MAXPAR], pm[CT_CLV_MAXPAR], gp[CT_CLV_MAXPAR], gm[CT_CLV_MAXPAR], ll;
        double h = 1e-5 * (j < nbase(d) ? par[j] : fmax(1.0, fabs(par[j])));
        memcpy(pp, par, k * sizeof *pp);
        memcpy(pm, par, k * sizeof *pm);
        pp[j] += h;
        pm[j] -= h;
        CT_CHECK(ct_clv_loglik(d, pp, &ll, gp, threads, err));
        CT_CHECK(ct_clv_loglik(d, pm, &ll, gm, threads, err));
        *nevals += 2;
        for (size_t i = 0; i < k; i++) {
            H[i * k + j] = (gp[i] - gm[i]) / (2 * h);
        }
    }
    for (size_t i = 0; i < k; i++) { /* symmetrise */
        for (size_t j = 0; j < i; j++) {
            double v = 0.5 * (H[i * k + j] + H[j * k + i]);
            H[i * k + j] = H[j * k + i] = v;
        }
    }
    return CT_OK;
}

/* lnL, gradient and Hessian over all ranks; *nevals counts passes. */
static ct_status loglik_h(const ct_clv_data *d, const double *par, double *ll, double *grad,
                          double *H, unsigned threads, size_t *nevals, ct_error *err)
{
    const clv_model_ops *ops = clv_ops(d->model);
    if (ops != NULL && d->dyn == NULL && (ops->hess || d->ncoef > 0)) {
        ct_status s = loglik_local(d, par, ll, grad, H, threads, err);
        ++*nevals;
        return reduce_ranks(d, ll, grad, H, s, err);
    }
    CT_CHECK(ct_clv_loglik(d, par, ll, grad, threads, err));
    ++*nevals;
    return fd_hessian(d, par, H, threads, nevals, err);
}

ct_status clv_loglik_h(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                       unsigned threads, ct_error *err)
{
    size_t n = 0;
    ct_init();
    return loglik_h(d, p, ll, g, H, threads, &n, err);
}

void ct_fit_opts_init(ct_fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->starts = 3;
    o->max_iter = 500;
    o->gtol = 1e-7;
    o->seed = 1;
}

/* ---- the objective on log-parameters -------------------------------------- */

typedef struct objective {
    const ct_clv_data *d;
    size_t k, nb; /* parameters; the first nb are > 0 (theta = log p), the rest free */
    double penalty, penalty_cov;
    unsigned threads;
    size_t nevals;
    ct_status status;
    ct_error *err;
    /* the last evaluation with a Hessian (natural parameters): the fit's
     * log-likelihood and standard errors come from it when it was made at
     * the estimate, saving two passes */
    int last_ok;
    double last_p[CT_CLV_MAXPAR], last_ll, last_H[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    /* 1: the Hessian is differenced (time-varying covariates: 2k gradient
     * passes), so Newton takes it once at its start and then updates it
     * from the gradients (BFGS); standard errors still get a fresh one */
    int quasi;
    /* with quasi: a Hessian (of f in theta) to start Newton from instead of
     * differencing one (the subsample's, at its optimum: f is per customer,
     * so it is the full data's to sampling error), or NULL */
    const double *h0;
} objective;

static void to_par(const objective *o, const double *th, double *p)
{
    for (size_t j = 0; j < o->k; j++) {
        p[j] = j < o->nb ? exp(th[j]) : th[j];
    }
}

static void to_theta(const objective *o, const double *p, double *th)
{
    for (size_t j = 0; j < o->k; j++) {
        th[j] = j < o->nb ? log(p[j]) : p[j];
    }
}

/* f(theta) = -LL(p)/N + penalty * sum p^2 (base) + penalty_cov * sum gamma^2,
 * p = exp theta and gamma = theta, its gradient g and (H != NULL) Hessian
 * in theta.  Returns 0, or -1 where f is not finite
 * (or the likelihood failed: o->status tells when that is fatal). */
static int obj_eval(objective *o, const double *th, double *f, double *g, double *H)
{
    size_t k = o->k;
    double p[CT_CLV_MAXPAR], gl[CT_CLV_MAXPAR], Hl[CT_CLV_MAXPAR * CT_CLV_MAXPAR], ll;
    to_par(o, th, p);
    ct_status s;
    if (H != NULL) {
        s = loglik_h(o->d, p, &ll, gl, Hl, o->threads, &o->nevals, o->err);
    } else {
        o->nevals++;
        s = ct_clv_loglik(o->d, p, &ll, gl, o->threads, o->err);
    }
    if (s != CT_OK && s != CT_EINVAL) {
        o->status = s; /* out of memory etc.: give up */
    }
    int bad = s != CT_OK || !isfinite(ll);
    for (size_t j = 0; j < k && !bad; j++) {
        bad = !isfinite(gl[j]);
    }
    for (size_t j = 0; H != NULL && j < k * k && !bad; j++) {
        bad = !isfinite(Hl[j]);
    }
    o->last_ok = !bad && H != NULL;
    if (bad) {
        *f = CT_INF;
        return -1;
    }
    if (H != NULL) {
        memcpy(o->last_p, p, k * sizeof *p);
        memcpy(o->last_H, Hl, k * k * sizeof *Hl);
        o->last_ll = ll;
    }
    double N = o->d->nobs, pen = 0;
    double dp[CT_CLV_MAXPAR]; /* dp / dtheta */
    for (size_t j = 0; j < k; j++) {
        int b = j < o->nb;
        double lam = b ? o->penalty : o->penalty_cov;
        dp[j] = b ? p[j] : 1.0;
        pen += lam * p[j] * p[j];
        g[j] = -dp[j] * gl[j] / N + 2 * lam * p[j] * dp[j];
    }
    *f = -ll / N + pen;
    for (size_t i = 0; H != NULL && i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            H[i * k + j] = -dp[i] * dp[j] * Hl[i * k + j] / N;
        }
        H[i * k + i] += i < o->nb ? -p[i] * gl[i] / N + 4 * o->penalty * p[i] * p[i]
                                  : 2 * o->penalty_cov;
    }
    return 0;
}

static double norm(const double *v, size_t k)
{
    double s = 0;
    for (size_t i = 0; i < k; i++) {
        s += v[i] * v[i];
    }
    return sqrt(s);
}

/* Solve (H + lambda I) step = -g with Cholesky, raising lambda from 0 until
 * the matrix is positive definite.  Returns -1 if it never is. */
static int damped_step(size_t k, const double *H, const double *g, double *step)
{
    double scale = 0;
    for (size_t i = 0; i < k; i++) {
        scale = fmax(scale, fabs(H[i * k + i]));
    }
    if (!(scale > 0)) {
        scale = 1;
    }
    double lambda = 0;
    for (int tries = 0; tries < 40; tries++) {
        double A[CT_CLV_MAXPAR * CT_CLV_MAXPAR], b[CT_CLV_MAXPAR];
        memcpy(A, H, k * k * sizeof *A);
        for (size_t i = 0; i < k; i++) {
            A[i * k + i] += lambda;
            b[i] = -g[i];
        }
        gsl_matrix_view Av = gsl_matrix_view_array(A, k, k);
        gsl_vector_view bv = gsl_vector_view_array(b, k);
        gsl_vector_view sv = gsl_vector_view_array(step, k);
        if (gsl_linalg_cholesky_decomp1(&Av.matrix) == GSL_SUCCESS &&
            gsl_linalg_cholesky_solve(&Av.matrix, &bv.vector, &sv.vector) == GSL_SUCCESS) {
            int ok = 1;
            for (size_t i = 0; i < k; i++) {
                ok = ok && isfinite(step[i]);
            }
            if (ok) {
                return 0;
            }
        }
        lambda = lambda == 0 ? 1e-8 * scale : lambda * 10;
    }
    return -1;
}

/* The BFGS update of H (k x k) for a step s with gradient change y; kept
 * as it is when y's is not positive (the update would lose definiteness). */
static void bfgs_update(size_t k, double *H, const double *s, const double *y)
{
    double Hs[CT_CLV_MAXPAR], ys = 0, sHs = 0;
    for (size_t i = 0; i < k; i++) {
        Hs[i] = 0;
        for (size_t j = 0; j < k; j++) {
            Hs[i] += H[i * k + j] * s[j];
        }
        ys += y[i] * s[i];
        sHs += s[i] * Hs[i];
    }
    if (!(ys > 1e-12 * norm(y, k) * norm(s, k)) || !(sHs > 0)) {
        return;
    }
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            H[i * k + j] += y[i] * y[j] / ys - Hs[i] * Hs[j] / sHs;
        }
    }
}

/* Newton iterations from th (f, g, H evaluated there): stop at |g| <
 * gtol / 100 (at most two steps after |g| < gtol: quadratic convergence
 * makes the estimate ~1e-14 accurate, so it does not depend on the order of
 * the sums - threads, MPI ranks), after max_iter steps, or when no step
 * along the damped Newton direction lowers f.  th, f, g, H hold the last
 * accepted point. */
static unsigned newton(objective *o, double *th, double *f, double *g, double *H, double gtol,
                       unsigned max_iter)
{
    size_t k = o->k;
    unsigned it = 0, extra = 0;
    while (it < max_iter && norm(g, k) >= 0.01 * gtol && extra < 2 && o->status == CT_OK) {
        extra += norm(g, k) < gtol;
        double step[CT_CLV_MAXPAR], t2[CT_CLV_MAXPAR], g2[CT_CLV_MAXPAR];
        double H2[CT_CLV_MAXPAR * CT_CLV_MAXPAR], f2 = CT_INF;
        if (damped_step(k, H, g, step) != 0) {
            break;
        }
        double slope = 0; /* g' step < 0 */
        for (size_t i = 0; i < k; i++) {
            slope += g[i] * step[i];
        }
        int ok = 0;
        double lambda = 1;
        for (int half = 0; half < 30 && !ok && o->status == CT_OK; half++, lambda *= 0.5) {
            for (size_t i = 0; i < k; i++) {
                t2[i] = th[i] + lambda * step[i];
            }
            if (obj_eval(o, t2, &f2, g2, o->quasi ? NULL : H2) != 0) {
                continue;
            }
            /* Armijo; or, where f is flat to rounding, a smaller gradient */
            ok = f2 <= *f + 1e-4 * lambda * slope ||
                 (f2 <= *f + 1e-13 * fabs(*f) && norm(g2, k) < norm(g, k));
        }
        if (!ok) {
            break;
        }
        it++;
        if (o->quasi) {
            double sk[CT_CLV_MAXPAR], yk[CT_CLV_MAXPAR];
            for (size_t i = 0; i < k; i++) {
                sk[i] = t2[i] - th[i];
                yk[i] = g2[i] - g[i];
            }
            bfgs_update(k, H, sk, yk);
        } else {
            memcpy(H, H2, k * k * sizeof *H);
        }
        memcpy(th, t2, k * sizeof *th);
        memcpy(g, g2, k * sizeof *g);
        *f = f2;
    }
    return it;
}

/* ---- one start: BFGS, then Newton ----------------------------------------- */

static void gsl_fdf(const gsl_vector *th, void *vp, double *f, gsl_vector *g)
{
    objective *o = vp;
    double gg[CT_CLV_MAXPAR];
    if (obj_eval(o, th->data, f, gg, NULL) != 0) {
        gsl_vector_set_all(g, CT_NAN);
        return;
    }
    for (size_t j = 0; j < o->k; j++) {
        gsl_vector_set(g, j, gg[j]);
    }
}

static double gsl_f(const gsl_vector *th, void *vp)
{
    objective *o = vp;
    double f, gg[CT_CLV_MAXPAR];
    obj_eval(o, th->data, &f, gg, NULL);
    return f;
}

static void gsl_df(const gsl_vector *th, void *vp, gsl_vector *g)
{
    double f;
    gsl_fdf(th, vp, &f, g);
}

typedef struct run {
    double p[CT_CLV_MAXPAR];
    double f, gnorm;
    unsigned iter;
    int converged;
    double H[CT_CLV_MAXPAR * CT_CLV_MAXPAR]; /* Newton's last Hessian (quasi: updated) */
} run;

static int on_boundary(const run *r, size_t k)
{
    for (size_t j = 0; j < k; j++) { /* k: the base parameters */
        if (r->p[j] < CLV_BOUND_LO || r->p[j] > CLV_BOUND_HI) {
            return 1;
        }
    }
    return 0;
}

/* Newton from theta (BFGS's point, or a start), into out. */
static void finish_newton(objective *o, const double *th0, unsigned max_iter, double gtol,
                          unsigned iter0, run *out)
{
    size_t k = o->k;
    double th[CT_CLV_MAXPAR], g[CT_CLV_MAXPAR], H[CT_CLV_MAXPAR * CT_CLV_MAXPAR], f;
    memcpy(th, th0, k * sizeof *th);
    memset(out, 0, sizeof *out);
    out->f = CT_INF;
    int given = o->quasi && o->h0 != NULL;
    if (obj_eval(o, th, &f, g, given ? NULL : H) != 0) {
        return;
    }
    if (given) {
        memcpy(H, o->h0, k * k * sizeof *H);
    }
    out->iter = iter0 + newton(o, th, &f, g, H, gtol, max_iter);
    memcpy(out->H, H, k * k * sizeof *H);
    out->f = f;
    out->gnorm = norm(g, k);
    int finite = isfinite(f) && isfinite(out->gnorm);
    to_par(o, th, out->p);
    for (size_t j = 0; j < k; j++) {
        finite = finite && isfinite(out->p[j]) && (j >= o->nb || out->p[j] > 0);
    }
    out->converged = finite && out->gnorm < gtol;
    if (!finite) {
        out->f = CT_INF;
    }
}

/* BFGS to a loose gradient (1e-4), then Newton; when Newton cannot reach
 * gtol, BFGS goes on to it (with restarts when its line search stalls) and
 * Newton finishes from there. */
static ct_status run_start(objective *o, const double *p0, unsigned max_iter, double gtol, run *out)
{
    size_t k = o->k;
    gsl_multimin_function_fdf fdf = {gsl_f, gsl_df, gsl_fdf, k, o};
    gsl_vector *th = gsl_vector_alloc(k);
    gsl_multimin_fdfminimizer *m =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, k);
    if (th == NULL || m == NULL) {
        gsl_vector_free(th);
        gsl_multimin_fdfminimizer_free(m);
        return ct_fail(o->err, CT_ENOMEM, "out of memory");
    }
    to_theta(o, p0, th->data);
    memset(out, 0, sizeof *out);
    out->f = CT_INF;
    if (gsl_multimin_fdfminimizer_set(m, &fdf, th, 0.1, 0.1) == GSL_SUCCESS &&
        isfinite(gsl_multimin_fdfminimizer_minimum(m))) {
        unsigned it = 0, restarts = 0;
        double f_restart = gsl_multimin_fdfminimizer_minimum(m);
        double loose = gtol > 1e-4 ? gtol : 1e-4;
        for (int phase = 0; phase < 2 && o->status == CT_OK; phase++) {
            double target = phase == 0 ? loose : gtol;
            while (it < max_iter && o->status == CT_OK) {
                if (gsl_multimin_test_gradient(gsl_multimin_fdfminimizer_gradient(m), target) ==
                    GSL_SUCCESS) {
                    break;
                }
                it++;
                if (gsl_multimin_fdfminimizer_iterate(m) != GSL_SUCCESS) {
                    double fnow = gsl_multimin_fdfminimizer_minimum(m);
                    if (restarts >= 10 || !(fnow < f_restart)) {
                        break;
                    }
                    restarts++;
                    f_restart = fnow;
                    gsl_multimin_fdfminimizer_restart(m);
                }
            }
            run nr;
            finish_newton(o, gsl_multimin_fdfminimizer_x(m)->data, 50, gtol, it, &nr);
            if (nr.f <= out->f) {
                *out = nr;
            }
            if (nr.converged || o->status != CT_OK) {
                break;
            }
            if (isfinite(nr.f) && nr.f <= gsl_multimin_fdfminimizer_minimum(m)) {
                /* BFGS goes on from Newton's point */
                double t0[CT_CLV_MAXPAR];
                to_theta(o, nr.p, t0);
                gsl_vector_view tv = gsl_vector_view_array(t0, k);
                gsl_multimin_fdfminimizer_set(m, &fdf, &tv.vector, 0.01, 0.1);
            }
        }
        if (!isfinite(out->f)) { /* Newton failed: keep BFGS's point */
            out->f = gsl_multimin_fdfminimizer_minimum(m);
            out->gnorm = norm(gsl_multimin_fdfminimizer_gradient(m)->data, k);
            out->iter = it;
            int finite = isfinite(out->f) && isfinite(out->gnorm);
            to_par(o, gsl_multimin_fdfminimizer_x(m)->data, out->p);
            for (size_t j = 0; j < k; j++) {
                finite = finite && isfinite(out->p[j]) && (j >= o->nb || out->p[j] > 0);
            }
            out->converged = finite && out->gnorm < gtol;
            if (!finite) {
                out->f = CT_INF;
            }
        }
    }
    gsl_multimin_fdfminimizer_free(m);
    gsl_vector_free(th);
    return o->status;
}

static void default_start(const ct_clv_data *d, double *p)
{
    double mx = 0, mT = 0, mm = 0;
    for (size_t i = 0; i < d->n; i++) {
        mx += d->w[i] * d->x[i];
        mT += d->w[i] * d->T[i];
        mm += d->w[i] * d->tx[i];
    }
    if (d->comm != NULL) {
        double b[3] = {mx, mT, mm};
        if (ct_comm_allreduce_sum(d->comm, b, 3, NULL) == CT_OK) {
            mx = b[0];
            mT = b[1];
            mm = b[2];
        }
    }
    mx /= d->nobs;
    mT /= d->nobs;
    mm /= d->nobs;
    double rate_scale = mT / (mx > 0.01 ? mx : 0.01); /* alpha with r = 1 */
    if (!(rate_scale > 1e-6)) {
        rate_scale = 1.0;
    }
    clv_moments mo = {rate_scale, mT, mm};
    clv_ops(d->model)->start(&mo, p);
}

/* prefer converged runs, then the lower objective */
static int better(const run *r, const run *best)
{
    return (r->converged && !best->converged) ||
           (r->converged == best->converged && r->f < best->f);
}

/* The search: start p0, then (all = 1: always; else only while no converged
 * interior optimum is found) starts - 1 random ones around it. */
static ct_status search(objective *o, const double *p0, const ct_fit_opts *opt, int all, run *best)
{
    ct_rng *g = ct_rng_new(opt->seed, 0);
    if (g == NULL) {
        return ct_fail(o->err, CT_ENOMEM, "out of memory");
    }
    memset(best, 0, sizeof *best);
    best->f = CT_INF;
    for (unsigned st = 0; st < opt->starts; st++) {
        double ps[CT_CLV_MAXPAR];
        for (size_t j = 0; j < o->k; j++) {
            /* later starts: the first one scaled by exp(U(-1.5, 1.5)) */
            ps[j] = st == 0 || j >= o->nb ? p0[j]
                                          : p0[j] * exp(3.0 * (ct_rng_uniform(g) - 0.5));
        }
        if (!all && st > 0 && best->converged && !on_boundary(best, o->nb)) {
            break;
        }
        run r;
        ct_status s = run_start(o, ps, opt->max_iter, opt->gtol, &r);
        if (s != CT_OK) {
            ct_rng_free(g);
            return s;
        }
        if (better(&r, best)) {
            *best = r;
        }
    }
    ct_rng_free(g);
    return CT_OK;
}

/* The deterministic subsample the start is fitted to (about 1 % of the
 * rows, at least CLV_SUB_ROWS), or NULL when the data are small enough to
 * search directly (or the options ask for a full search). */
static ct_status start_sample(const ct_clv_data *d, const ct_fit_opts *opt, ct_clv_data **sub,
                              ct_error *err)
{
    double nd = (double)d->n;
    *sub = NULL;
    if (d->comm != NULL) {
        CT_CHECK(ct_comm_allreduce_sum(d->comm, &nd, 1, err));
    }
    size_t m = (size_t)(nd / 100);
    m = m > CLV_SUB_ROWS ? m : CLV_SUB_ROWS;
    if (opt->full_search || nd <= (double)CLV_SUB_MIN || nd <= 4.0 * (double)m) {
        return CT_OK;
    }
    return clv_data_subsample(d, (double)m / nd, sub, err);
}

/* The start for all rows from a subsample fit: *used = 1 with p filled (and
 * the subsample's rows and evaluations in fit), 0 when the data are small
 * enough to search directly. */
static ct_status subsample_start(const ct_clv_data *d, objective *o, const double *p0,
                                 const ct_fit_opts *opt, double *p, int *used, ct_fit *fit)
{
    ct_clv_data *sub = NULL;
    *used = 0;
    if (d->ncoef > 0) {
        return CT_OK; /* covariates start from the plain fit (cov_subsample_start) */
    }
    CT_CHECK(start_sample(d, opt, &sub, o->err));
    if (sub == NULL) {
        return CT_OK;
    }
    objective so = *o;
    so.d = sub;
    so.nevals = 0;
    run r;
    ct_status s = search(&so, p0, opt, 0, &r);
    fit->sub_evals = so.nevals;
    fit->sub_rows = sub->n;
    if (s == CT_OK && d->comm != NULL) {
        double sr = (double)sub->n;
        s = ct_comm_allreduce_sum(d->comm, &sr, 1, o->err);
        fit->sub_rows = (size_t)sr;
    }
    ct_clv_data_free(sub);
    if (s == CT_OK && isfinite(r.f)) {
        memcpy(p, r.p, o->k * sizeof *p);
        *used = 1;
    }
    return s;
}

/* ---- standard errors and the fit ------------------------------------------ */

/* Covariance = inverse of minus the Hessian of the log-likelihood (Hin,
 * or evaluated here when NULL). */
static ct_status std_errors(const ct_clv_data *d, ct_fit *fit, const double *Hin,
                            unsigned threads, ct_error *err)
{
    size_t k = fit->k, n = 0;
    double H[CT_CLV_MAXPAR * CT_CLV_MAXPAR], g[CT_CLV_MAXPAR], ll;
    if (Hin != NULL) {
        memcpy(H, Hin, k * k * sizeof *H);
    } else {
        CT_CHECK(loglik_h(d, fit->par, &ll, g, H, threads, &n, err));
        fit->nevals += n;
    }
    double A[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    for (size_t i = 0; i < k * k; i++) {
        A[i] = -H[i]; /* information */
    }
    gsl_matrix_view Av = gsl_matrix_view_array(A, k, k);
    int rc = gsl_linalg_cholesky_decomp1(&Av.matrix);
    if (rc == GSL_SUCCESS) {
        rc = gsl_linalg_cholesky_invert(&Av.matrix);
    }
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            fit->cov[i * k + j] = rc == GSL_SUCCESS ? A[i * k + j] : CT_NAN;
        }
        fit->se[i] = rc == GSL_SUCCESS ? sqrt(A[i * k + i]) : CT_NAN;
    }
    return CT_OK;
}

static ct_status check_fit_opts(const ct_clv_data *d, ct_fit_opts *o, double *p0, ct_error *err)
{
    if (o->starts == 0) {
        o->starts = 1;
    }
    if (!(o->penalty >= 0) || !(o->gtol > 0) || !(o->penalty_cov >= 0)) {
        return ct_fail(err, CT_EINVAL, "penalties must be >= 0 and gtol > 0");
    }
    default_start(d, p0);
    for (size_t j = nbase(d); j < nparams(d); j++) {
        p0[j] = 0; /* coefficients: no effect */
    }
    for (size_t j = 0; o->init != NULL && j < nparams(d); j++) {
        if (j < nbase(d) ? !(o->init[j] > 0) || !isfinite(o->init[j]) : !isfinite(o->init[j])) {
            return ct_fail(err, CT_EINVAL, "initial parameter %zu = %g must be finite%s", j + 1,
                           o->init[j], j < nbase(d) ? " and > 0" : "");
        }
        p0[j] = o->init[j];
    }
    return CT_OK;
}

/* Covariates on more than CLV_SUB_MIN rows: Newton on a subsample of 1 %
 * (at least CLV_SUB_ROWS) from ps, whose optimum replaces ps when it
 * converges (else ps stays: the plain fit's optimum, coefficients 0). */
static ct_status cov_subsample_start(const ct_clv_data *d, objective *ob, const ct_fit_opts *o,
                                     double *ps, double *h0, ct_fit *fit)
{
    ct_clv_data *sub = NULL;
    CT_CHECK(start_sample(d, o, &sub, ob->err));
    if (sub == NULL) {
        return CT_OK;
    }
    objective so = *ob;
    so.d = sub;
    so.nevals = 0;
    so.last_ok = 0;
    double th[CT_CLV_MAXPAR];
    run r;
    to_theta(&so, ps, th);
    finish_newton(&so, th, o->max_iter, o->gtol, 0, &r);
    fit->sub_evals = so.nevals;
    fit->sub_rows = sub->n;
    ct_clv_data_free(sub);
    if (so.status != CT_OK) {
        return so.status;
    }
    if (r.converged) {
        memcpy(ps, r.p, fit->k * sizeof *ps);
        if (ob->quasi) { /* its Hessian starts the full data's Newton steps */
            memcpy(h0, r.H, fit->k * fit->k * sizeof *h0);
            ob->h0 = h0;
        }
    }
    return CT_OK;
}

/* The optimum: from a subsample's when the data are large (and that
 * converges on all rows, inside the bounds), else by the full search. */
static ct_status optimum(ct_clv_data *d, objective *ob, const double *p0, const ct_fit_opts *o,
                         ct_fit *fit, run *best)
{
    double ps[CT_CLV_MAXPAR], h0[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    int used;
    CT_CHECK(subsample_start(d, ob, p0, o, ps, &used, fit));
    if (!used && d->ncoef > 0 && o->init != NULL) {
        /* covariates, from the fit without them: Newton straight away -
         * on a deterministic subsample first when the data are large (the
         * steps there cost 1 % of a pass), then on all rows */
        memcpy(ps, p0, fit->k * sizeof *ps);
        used = 1;
        CT_CHECK(cov_subsample_start(d, ob, o, ps, h0, fit));
    }
    if (used) {
        double th[CT_CLV_MAXPAR];
        to_theta(ob, ps, th);
        finish_newton(ob, th, o->max_iter, o->gtol, 0, best);
        ob->h0 = NULL; /* (h0 lives in this frame) */
        if (ob->status != CT_OK) {
            return ob->status;
        }
        if (best->converged && !on_boundary(best, ob->nb)) {
            return CT_OK;
        }
        fit->fallback = 1;
        run r;
        CT_CHECK(search(ob, ps, o, 0, &r));
        if (better(&r, best)) {
            *best = r;
        }
        return CT_OK;
    }
    return search(ob, p0, o, 1, best);
}

ct_status ct_clv_fit(ct_clv_data *d, const ct_fit_opts *opts, ct_fit *fit, ct_error *err)
{
    ct_init();
    ct_fit_opts o;
    ct_error local;
    if (err == NULL) {
        err = &local;
    }
    if (opts == NULL) {
        ct_fit_opts_init(&o);
    } else {
        o = *opts;
    }
    memset(fit, 0, sizeof *fit);
    fit->model = d->model;
    fit->k = nparams(d);
    fit->penalty = o.penalty;
    fit->penalty_cov = o.penalty_cov;
    fit->ll0 = fit->lr = fit->lr_p = CT_NAN;
    fit->ncoef = d->ncoef;
    fit->dynamic = d->dyn != NULL;
    for (size_t j = 0; j < d->ncoef; j++) {
        fit->coef_proc[j] = d->proc[j];
        snprintf(fit->coef_col[j], sizeof fit->coef_col[j], "%s", d->coef_col[j]);
    }
    ct_fit_name_coefs(fit);
    double p0[CT_CLV_MAXPAR];
    CT_CHECK(check_fit_opts(d, &o, p0, err));
    objective ob = {d, fit->k, nbase(d), o.penalty, o.penalty_cov, o.threads, 0, CT_OK, err,
                    0, {0}, 0, {0}, d->dyn != NULL, NULL};
    run best;
    CT_CHECK(optimum(d, &ob, p0, &o, fit, &best));
    fit->nevals = ob.nevals;
    if (!isfinite(best.f)) {
        return ct_fail(err, CT_ENOCONV,
                       "%s: no start reached finite parameters (the data may not identify the "
                       "model)",
                       ct_clv_model_name(d->model));
    }
    memcpy(fit->par, best.p, sizeof best.p);
    fit->iterations = best.iter;
    fit->converged = best.converged;
    fit->grad_norm = best.gnorm;
    fit->nobs = d->nobs;
    fit->ndistinct = d->n;
    if (d->comm != NULL) {
        double nd = (double)d->n;
        CT_CHECK(ct_comm_allreduce_sum(d->comm, &nd, 1, err));
        fit->ndistinct = (size_t)nd;
    }
    fit->corr_xm = d->model == CT_GAMMAGAMMA ? d->corr_xm : CT_NAN;
    int cached = ob.last_ok && memcmp(ob.last_p, fit->par, fit->k * sizeof *fit->par) == 0;
    if (cached) {
        fit->ll = ob.last_ll;
    } else {
        CT_CHECK(ct_clv_loglik(d, fit->par, &fit->ll, NULL, o.threads, err));
        fit->nevals++;
    }
    fit->aic = 2.0 * (double)fit->k - 2.0 * fit->ll;
    fit->bic = (double)fit->k * log(fit->nobs) - 2.0 * fit->ll;
    CT_CHECK(std_errors(d, fit, cached ? ob.last_H : NULL, o.threads, err));
    if (!fit->converged) {
        char buf[256];
        size_t off = 0;
        for (size_t j = 0; j < fit->k; j++) {
            int n = snprintf(buf + off, sizeof buf - off, "%s%s=%.6g", j ? ", " : "",
                             ct_fit_param_name(fit, j), fit->par[j]);
            off += n > 0 && (size_t)n < sizeof buf - off ? (size_t)n : 0;
        }
        return ct_fail(err, CT_ENOCONV,
                       "%s: no convergence after %u iterations (|gradient| %.3g > %.3g at %s)",
                       ct_clv_model_name(d->model), best.iter, best.gnorm, o.gtol, buf);
    }
    return CT_OK;
}
