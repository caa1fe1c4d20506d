/* clv.c - CLV models: likelihood dispatch, maximum likelihood (GSL BFGS on
 * log-parameters), standard errors, fit storage, predictions, scoring and
 * validation tables.
 * Refs: see include/clvtier/clv.h.  Standard errors: the inverse of the
 * observed information (minus the Hessian of the log-likelihood at the
 * estimate, by central differences of the analytic gradient). */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multimin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/par.h"
#include "clvtier/rng.h"
#include "core/mem_internal.h"


static ct_status loglik_local(const ct_clv_data *d, const double *par, double *ll, double *grad,
                              unsigned threads, ct_error *err)
{
    size_t k = ct_clv_nparams(d->model);
    for (size_t j = 0; j < k; j++) {
        if (!(par[j] > 0) || !isfinite(par[j])) {
            return ct_fail(err, CT_EINVAL, "parameter %s = %g must be finite and > 0",
                           ct_clv_param_name(d->model, j), par[j]);
        }
    }
    if (d->n == 0) { /* a rank with no rows of this model */
        *ll = 0;
        if (grad != NULL) {
            memset(grad, 0, k * sizeof *grad);
        }
        return CT_OK;
    }
    const clv_model_ops *ops = clv_ops(d->model);
    if (ops == NULL) {
        return ct_fail(err, CT_EINVAL, "unknown model");
    }
    return ops->loglik(d, par, ll, grad, threads, err);
}

ct_status ct_clv_loglik(const ct_clv_data *d, const double *par, double *ll, double *grad,
                        unsigned threads, ct_error *err)
{
    ct_init();
    ct_status s = loglik_local(d, par, ll, grad, threads, err);
    if (d->comm == NULL) {
        return s;
    }
    size_t k = ct_clv_nparams(d->model);
    double buf[1 + CT_CLV_MAXPAR];
    s = ct_comm_agree(d->comm, s, err);
    if (s == CT_OK) {
        buf[0] = *ll;
        for (size_t j = 0; j < k && grad != NULL; j++) {
            buf[1 + j] = grad[j];
        }
        s = ct_comm_allreduce_sum(d->comm, buf, grad != NULL ? 1 + k : 1, err);
    }
    if (s == CT_OK) {
        *ll = buf[0];
        for (size_t j = 0; j < k && grad != NULL; j++) {
            grad[j] = buf[1 + j];
        }
    }
    return s;
}

void ct_fit_opts_init(ct_fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->starts = 3;
    o->max_iter = 500;
    o->gtol = 1e-7;
    o->seed = 1;
}

/* ---- the minimiser -------------------------------------------------------- */

typedef struct objective {
    const ct_clv_data *d;
    size_t k;
    double penalty;
    unsigned threads;
    size_t nevals;
    ct_status status;
    ct_error *err;
} objective;

/* f(theta) = -LL(exp theta)/N + penalty * sum exp(2 theta) and its gradient. */
static void obj_fdf(const gsl_vector *th, void *vp, double *f, gsl_vector *g)
{
    objective *o = vp;
    double p[CT_CLV_MAXPAR], grad[CT_CLV_MAXPAR], ll;
    for (size_t j = 0; j < o->k; j++) {
        p[j] = exp(gsl_vector_get(th, j));
    }
    o->nevals++;
    ct_status s = ct_clv_loglik(o->d, p, &ll, grad, o->threads, o->err);
    int bad = s != CT_OK || !isfinite(ll);
    for (size_t j = 0; j < o->k && !bad; j++) {
        bad = !isfinite(grad[j]);
    }
    if (s != CT_OK && s != CT_EINVAL) {
        o->status = s; /* out of memory etc.: give up */
    }
    if (bad) {
        if (f != NULL) {
            *f = CT_INF;
        }
        if (g != NULL) {
            gsl_vector_set_all(g, CT_NAN);
        }
        return;
    }
    double pen = 0;
    for (size_t j = 0; j < o->k; j++) {
        pen += p[j] * p[j];
        if (g != NULL) {
            gsl_vector_set(g, j, -p[j] * grad[j] / o->d->nobs + 2 * o->penalty * p[j] * p[j]);
        }
    }
    if (f != NULL) {
        *f = -ll / o->d->nobs + o->penalty * pen;
    }
}

static double obj_f(const gsl_vector *th, void *vp)
{
    double f;
    obj_fdf(th, vp, &f, NULL);
    return f;
}

static void obj_df(const gsl_vector *th, void *vp, gsl_vector *g)
{
    double f;
    obj_fdf(th, vp, &f, g);
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

typedef struct run {
    double p[CT_CLV_MAXPAR];
    double f, gnorm;
    unsigned iter;
    int converged;
} run;

static double vnorm(const gsl_vector *v)
{
    double s = 0;
    for (size_t i = 0; i < v->size; i++) {
        s += gsl_vector_get(v, i) * gsl_vector_get(v, i);
    }
    return sqrt(s);
}

/* Safeguarded Newton steps on theta = log(params), Hessian by central
 * differences of the analytic gradient.  BFGS's line search can stall on
 * long ridges (Gamma-Gamma's p-v ridge) short of a tight gradient
 * tolerance; near the optimum Newton converges quadratically. */
static void polish(objective *o, gsl_vector *th, double *f, gsl_vector *g, double gtol)
{
    size_t k = o->k;
    gsl_matrix *H = gsl_matrix_alloc(k, k);
    gsl_vector *gp = gsl_vector_alloc(k), *gm = gsl_vector_alloc(k), *step = gsl_vector_alloc(k),
               *t2 = gsl_vector_alloc(k), *g2 = gsl_vector_alloc(k);
    if (!H || !gp || !gm || !step || !t2 || !g2) {
        goto out;
    }
    for (int it = 0; it < 8 && vnorm(g) > 0.01 * gtol; it++) {
        for (size_t j = 0; j < k; j++) {
            double h = 1e-5, t0 = gsl_vector_get(th, j), fd;
            gsl_vector_set(th, j, t0 + h);
            obj_fdf(th, o, &fd, gp);
            gsl_vector_set(th, j, t0 - h);
            obj_fdf(th, o, &fd, gm);
            gsl_vector_set(th, j, t0);
            for (size_t i = 0; i < k; i++) {
                gsl_matrix_set(H, i, j, (gsl_vector_get(gp, i) - gsl_vector_get(gm, i)) / (2 * h));
            }
        }
        for (size_t i = 0; i < k; i++) { /* symmetrise */
            for (size_t j = 0; j < i; j++) {
                double v = 0.5 * (gsl_matrix_get(H, i, j) + gsl_matrix_get(H, j, i));
                gsl_matrix_set(H, i, j, v);
                gsl_matrix_set(H, j, i, v);
            }
        }
        if (gsl_linalg_cholesky_decomp1(H) != GSL_SUCCESS ||
            gsl_linalg_cholesky_solve(H, g, step) != GSL_SUCCESS) {
            break; /* not positive definite: not near a minimum */
        }
        double lambda = 1.0, f2 = CT_INF;
        for (int half = 0; half < 30; half++, lambda *= 0.5) {
            for (size_t i = 0; i < k; i++) {
                gsl_vector_set(t2, i, gsl_vector_get(th, i) - lambda * gsl_vector_get(step, i));
            }
            obj_fdf(t2, o, &f2, g2);
            if (isfinite(f2) && f2 <= *f + 1e-14 * fabs(*f) && vnorm(g2) < vnorm(g)) {
                break;
            }
        }
        if (!(isfinite(f2) && f2 <= *f + 1e-14 * fabs(*f) && vnorm(g2) < vnorm(g))) {
            break;
        }
        gsl_vector_memcpy(th, t2);
        gsl_vector_memcpy(g, g2);
        *f = f2;
    }
out:
    gsl_matrix_free(H);
    gsl_vector_free(gp);
    gsl_vector_free(gm);
    gsl_vector_free(step);
    gsl_vector_free(t2);
    gsl_vector_free(g2);
}

static ct_status run_start(objective *o, const double *p0, unsigned max_iter, double gtol, run *out)
{
    size_t k = o->k;
    gsl_multimin_function_fdf fdf = {obj_f, obj_df, obj_fdf, k, o};
    gsl_vector *th = gsl_vector_alloc(k);
    gsl_multimin_fdfminimizer *m =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, k);
    if (th == NULL || m == NULL) {
        gsl_vector_free(th);
        gsl_multimin_fdfminimizer_free(m);
        return ct_fail(o->err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < k; j++) {
        gsl_vector_set(th, j, log(p0[j]));
    }
    memset(out, 0, sizeof *out);
    out->f = CT_INF;
    if (gsl_multimin_fdfminimizer_set(m, &fdf, th, 0.1, 0.1) == GSL_SUCCESS &&
        isfinite(gsl_multimin_fdfminimizer_minimum(m))) {
        /* BFGS to a loose gradient, then Newton steps (quadratic near the
         * optimum, where BFGS crawls along ridges such as Gamma-Gamma's p-v
         * ridge); when Newton cannot finish, BFGS goes on to the tight
         * tolerance (with restarts when its line search stalls). */
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
            if (phase == 0) {
                /* Newton from the loose point; if it reaches gtol we are done */
                gsl_vector *x0 = gsl_vector_alloc(k), *g0 = gsl_vector_alloc(k);
                if (x0 == NULL || g0 == NULL) {
                    gsl_vector_free(x0);
                    gsl_vector_free(g0);
                    break;
                }
                gsl_vector_memcpy(x0, gsl_multimin_fdfminimizer_x(m));
                gsl_vector_memcpy(g0, gsl_multimin_fdfminimizer_gradient(m));
                double f0 = gsl_multimin_fdfminimizer_minimum(m);
                if (isfinite(f0)) {
                    polish(o, x0, &f0, g0, gtol);
                }
                int done = isfinite(f0) && vnorm(g0) < gtol;
                if (isfinite(f0) && f0 <= gsl_multimin_fdfminimizer_minimum(m)) {
                    /* go on (or finish) from Newton's point */
                    gsl_multimin_fdfminimizer_set(m, &fdf, x0, 0.01, 0.1);
                }
                gsl_vector_free(x0);
                gsl_vector_free(g0);
                if (done) {
                    break;
                }
            }
        }
        gsl_vector *best = gsl_vector_alloc(k), *g = gsl_vector_alloc(k);
        if (best == NULL || g == NULL) {
            gsl_vector_free(best);
            gsl_vector_free(g);
            gsl_multimin_fdfminimizer_free(m);
            gsl_vector_free(th);
            return ct_fail(o->err, CT_ENOMEM, "out of memory");
        }
        gsl_vector_memcpy(best, gsl_multimin_fdfminimizer_x(m));
        gsl_vector_memcpy(g, gsl_multimin_fdfminimizer_gradient(m));
        out->f = gsl_multimin_fdfminimizer_minimum(m);
        if (isfinite(out->f)) {
            polish(o, best, &out->f, g, gtol);
        }
        out->gnorm = vnorm(g);
        out->iter = it;
        for (size_t j = 0; j < k; j++) {
            out->p[j] = exp(gsl_vector_get(best, j));
        }
        gsl_vector_free(best);
        gsl_vector_free(g);
        int finite = isfinite(out->f) && isfinite(out->gnorm);
        for (size_t j = 0; j < k; j++) {
            finite = finite && isfinite(out->p[j]) && out->p[j] > 0;
        }
        out->converged = finite && out->gnorm < gtol;
        if (!finite) {
            out->f = CT_INF;
        }
    }
    gsl_multimin_fdfminimizer_free(m);
    gsl_vector_free(th);
    return o->status;
}

/* Covariance = inverse of minus the Hessian of the log-likelihood. */
static ct_status std_errors(const ct_clv_data *d, ct_fit *fit, unsigned threads, ct_error *err)
{
    size_t k = fit->k;
    double H[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    for (size_t j = 0; j < k; j++) {
        double pp[CT_CLV_MAXPAR], pm[CT_CLV_MAXPAR], gp[CT_CLV_MAXPAR], gm[CT_CLV_MAXPAR], ll;
        double h = 1e-5 * fit->par[j];
        memcpy(pp, fit->par, sizeof pp);
        memcpy(pm, fit->par, sizeof pm);
        pp[j] += h;
        pm[j] -= h;
        ct_status s = ct_clv_loglik(d, pp, &ll, gp, threads, err);
        if (s == CT_OK) {
            s = ct_clv_loglik(d, pm, &ll, gm, threads, err);
        }
        if (s != CT_OK) {
            return s;
        }
        for (size_t i = 0; i < k; i++) {
            H[i * k + j] = -(gp[i] - gm[i]) / (2 * h); /* information: -d2 LL */
        }
    }
    gsl_matrix *A = gsl_matrix_alloc(k, k);
    if (A == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            gsl_matrix_set(A, i, j, 0.5 * (H[i * k + j] + H[j * k + i]));
        }
    }
    int rc = gsl_linalg_cholesky_decomp1(A);
    if (rc == GSL_SUCCESS) {
        rc = gsl_linalg_cholesky_invert(A);
    }
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            fit->cov[i * k + j] = rc == GSL_SUCCESS ? gsl_matrix_get(A, i, j) : CT_NAN;
        }
        fit->se[i] = rc == GSL_SUCCESS ? sqrt(gsl_matrix_get(A, i, i)) : CT_NAN;
    }
    gsl_matrix_free(A);
    return CT_OK;
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
    if (o.starts == 0) {
        o.starts = 1;
    }
    if (!(o.penalty >= 0) || !(o.gtol > 0)) {
        return ct_fail(err, CT_EINVAL, "penalty must be >= 0 and gtol > 0");
    }
    memset(fit, 0, sizeof *fit);
    fit->model = d->model;
    fit->k = ct_clv_nparams(d->model);
    fit->penalty = o.penalty;
    objective ob = {d, fit->k, o.penalty, o.threads, 0, CT_OK, err};
    run best;
    memset(&best, 0, sizeof best);
    best.f = CT_INF;
    double p0[CT_CLV_MAXPAR];
    default_start(d, p0);
    if (o.init != NULL) {
        for (size_t j = 0; j < fit->k; j++) {
            if (!(o.init[j] > 0) || !isfinite(o.init[j])) {
                return ct_fail(err, CT_EINVAL, "initial %s = %g must be finite and > 0",
                               ct_clv_param_name(d->model, j), o.init[j]);
            }
            p0[j] = o.init[j];
        }
    }
    ct_rng *g = ct_rng_new(o.seed, 0);
    if (g == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (unsigned st = 0; st < o.starts; st++) {
        double ps[CT_CLV_MAXPAR];
        for (size_t j = 0; j < fit->k; j++) {
            /* later starts: the first one scaled by exp(U(-1.5, 1.5)) */
            ps[j] = st == 0 ? p0[j] : p0[j] * exp(3.0 * (ct_rng_uniform(g) - 0.5));
        }
        run r;
        ct_status s = run_start(&ob, ps, o.max_iter, o.gtol, &r);
        if (s != CT_OK) {
            ct_rng_free(g);
            return s;
        }
        /* prefer converged runs, then the lower objective */
        if ((r.converged && !best.converged) ||
            (r.converged == best.converged && r.f < best.f)) {
            best = r;
        }
    }
    ct_rng_free(g);
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
        if (ct_comm_allreduce_sum(d->comm, &nd, 1, err) != CT_OK) {
            return err->status;
        }
        fit->ndistinct = (size_t)nd;
    }
    fit->corr_xm = d->model == CT_GAMMAGAMMA ? d->corr_xm : CT_NAN;
    ct_status s = ct_clv_loglik(d, fit->par, &fit->ll, NULL, o.threads, err);
    if (s != CT_OK) {
        return s;
    }
    fit->aic = 2.0 * (double)fit->k - 2.0 * fit->ll;
    fit->bic = (double)fit->k * log(fit->nobs) - 2.0 * fit->ll;
    s = std_errors(d, fit, o.threads, err);
    if (s != CT_OK) {
        return s;
    }
    if (!fit->converged) {
        char buf[256];
        size_t off = 0;
        for (size_t j = 0; j < fit->k; j++) {
            int n = snprintf(buf + off, sizeof buf - off, "%s%s=%.6g", j ? ", " : "",
                             ct_clv_param_name(d->model, j), fit->par[j]);
            off += n > 0 ? (size_t)n : 0;
        }
        return ct_fail(err, CT_ENOCONV,
                       "%s: no convergence after %u iterations (|gradient| %.3g > %.3g at %s)",
                       ct_clv_model_name(d->model), best.iter, best.gnorm, o.gtol, buf);
    }
    return CT_OK;
}

/* ---- storage ---------------------------------------------------------------- */

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

/* One prediction per customer, over fixed blocks of rows (threads). */
enum { PRED_ALIVE, PRED_EXPECTED, PRED_NONE };
typedef struct pred_job {
    const ct_fit *f;
    const gsl_integration_glfixed_table *gl; /* PRED_NONE's quadrature */
    const double *x, *tx, *T;
    double t;
    double *out;
    int what;
} pred_job;

static ct_status pred_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    pred_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t i = begin; i < end; i++) {
        double x = J->x[i], tx = J->tx[i], T = J->T[i];
        J->out[i] = J->what == PRED_ALIVE      ? clv_p_alive1(J->f, x, tx, T)
                    : J->what == PRED_EXPECTED ? clv_expected1(J->f, x, tx, T, J->t)
                                               : clv_p_none1(J->f, J->gl, x, tx, T, J->t);
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
    pred_job J = {f, gl, x, tx, T, t, out, PRED_NONE};
    ct_status s = ct_par_for(n, 1024, 0, pred_block, &J, err);
    gsl_integration_glfixed_table_free(gl);
    return s;
}

static ct_status need_purchase_model(const ct_fit *f, ct_error *err)
{
    if (f->model == CT_GAMMAGAMMA) {
        return ct_fail(err, CT_EINVAL,
                       "gammagamma is a spend model: give a purchase model fit "
                       "(bgnbd, pareto, mbgnbd or bgbb)");
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
    pred_job J = {f, NULL, x, tx, T, 0, out, PRED_ALIVE};
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
    pred_job J = {f, NULL, x, tx, T, t, out, PRED_EXPECTED};
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
 * small array instead of the customers' columns). */
static ct_status distinct_rows(const ct_customers *c, uint32_t **idx_out, double **rows_out,
                               size_t *nd_out, ct_error *err)
{
    size_t n = c->n, cap = 1 << 16, rcap = 1 << 15;
    uslot *tab = ct_calloc_table(cap, sizeof *tab);
    uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
    double *rows = malloc(rcap * 3 * sizeof *rows);
    ct_status s = CT_OK;
    if (tab == NULL || idx == NULL || rows == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    size_t nd = 0;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
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

typedef struct score_job {
    const ct_fit *f;
    const double *rows; /* distinct (x, t_x, T) */
    double horizon, discount;
    double *pa, *ey, *disc; /* per distinct row */
} score_job;

static ct_status score_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    score_job *J = vctx;
    (void)b;
    (void)err;
    int steps = (int)ceil(J->horizon);
    for (size_t r = begin; r < end; r++) {
        double x = J->rows[3 * r], tx = J->rows[3 * r + 1], T = J->rows[3 * r + 2];
        J->pa[r] = clv_p_alive1(J->f, x, tx, T);
        double prev = 0, acc = 0;
        for (int k = 1; k <= steps; k++) {
            double t = k < steps ? (double)k : J->horizon;
            double e = clv_expected1(J->f, x, tx, T, t);
            acc += (e - prev) / pow(1 + J->discount, t);
            prev = e;
        }
        J->ey[r] = prev;
        J->disc[r] = acc;
    }
    return CT_OK;
}

ct_status ct_clv_score(const ct_fit *f, const ct_fit *gg, const ct_customers *c, double horizon,
                       double discount, unsigned threads, ct_scores *out, ct_error *err)
{
    ct_init();
    uint32_t *idx = NULL;
    double *rows = NULL;
    size_t nd = 0, n = c->n;
    ct_status s = need_purchase_model(f, err);
    memset(out, 0, sizeof *out);
    if (s != CT_OK) {
        return s;
    }
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
    if (gg != NULL && c->m == NULL) {
        return ct_fail(err, CT_EFORMAT, "spend predictions need column m");
    }
    s = distinct_rows(c, &idx, &rows, &nd, err);
    if (s != CT_OK) {
        return s;
    }
    double *pa = malloc((nd ? nd : 1) * sizeof *pa), *ey = malloc((nd ? nd : 1) * sizeof *ey),
           *disc = malloc((nd ? nd : 1) * sizeof *disc);
    out->n = n;
    out->p_alive = malloc((n ? n : 1) * sizeof(double));
    out->exp_purchases = malloc((n ? n : 1) * sizeof(double));
    out->exp_spend = malloc((n ? n : 1) * sizeof(double));
    out->clv = malloc((n ? n : 1) * sizeof(double));
    if (!pa || !ey || !disc || !out->p_alive || !out->exp_purchases || !out->exp_spend ||
        !out->clv) {
        s = ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    if (s == CT_OK) {
        score_job J = {f, rows, horizon, discount, pa, ey, disc};
        s = ct_par_for(nd, 64, threads, score_block, &J, err);
    }
    if (s == CT_OK && gg != NULL) {
        s = ct_clv_spend(gg, c->x, c->m, n, out->exp_spend, err);
    }
    if (s == CT_OK) {
        for (size_t i = 0; i < n; i++) {
            uint32_t r = idx[i];
            out->p_alive[i] = pa[r];
            out->exp_purchases[i] = ey[r];
            if (gg == NULL) {
                out->exp_spend[i] = c->m != NULL ? c->m[i] : 0.0;
            }
            out->clv[i] = out->exp_spend[i] * disc[r];
        }
    }
    free(pa);
    free(ey);
    free(disc);
    free(idx);
    free(rows);
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

ct_status ct_clv_repeat_table(const ct_fit *f, const ct_customers *c, size_t jmax,
                              double *expected, double *observed, ct_error *err)
{
    ct_init();
    ct_status s = need_purchase_model(f, err);
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
    ct_status s = need_purchase_model(f, err);
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
    s = ct_clv_expected(f, c->x, c->t_x, c->T, c->n, t_star, e, err);
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
