/* clv_cov.c - static covariates in the purchase and drop-out processes of
 * BG/NBD, MBG/NBD and Pareto/NBD, in CLVTools' parametrisation (Meierer,
 * Bachmann et al., CLVTools: bgnbd_staticcov_{alpha,a,b}_i and
 * pnbd_staticcov_{alpha,beta}_i):
 *   purchase:  alpha_i = alpha_0 exp(-gamma_trans' z_i)      (all three)
 *   drop-out:  a_i = a_0 exp(gamma_life' z_i),
 *              b_i = b_0 exp(gamma_life' z_i)                (BG/NBD, MBG/NBD)
 *              beta_i = beta_0 exp(-gamma_life' z_i)         (Pareto/NBD)
 * so a positive gamma_trans raises the purchase rate (E[lambda] = r /
 * alpha_i) and a positive gamma_life of Pareto/NBD shortens the lifetime
 * (E[mu] = s / beta_i).  A coefficient constrained to be the same in both
 * processes enters both.
 *
 * Each customer is its own row (no collapsing: the covariates make rows
 * distinct).  A row's lnL is the model's with the customer's parameters
 * (clv_bg_row, clv_pareto_row); with u = log of those parameters linear in
 * theta = (log base parameters, gamma), the gradient and Hessian in theta
 * are J' g_u and J' H_u J with J the constant 4 x K Jacobian, whose
 * coefficient columns are z_ij times one of two fixed vectors (purchase,
 * drop-out) or their sum - so a row costs O(K^2) multiply-adds beyond the
 * model's own terms. */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_cdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "core/mem_internal.h"

/* The direction of log(r, alpha, a|s, b|beta) per unit of a purchase or a
 * drop-out linear predictor. */
static void directions(ct_clv_model m, double vt[4], double vl[4])
{
    static const double T[4] = {0, -1, 0, 0}, LB[4] = {0, 0, 1, 1}, LP[4] = {0, 0, 0, -1};
    memcpy(vt, T, sizeof T);
    memcpy(vl, m == CT_PARETO ? LP : LB, sizeof LB);
}

/* Row i's natural parameters from the base ones and the coefficients. */
static void row_params(const double *par, size_t nb, size_t ncoef, const unsigned *proc,
                       const double *z, const double vt[4], const double vl[4], double *p)
{
    double et = 0, el = 0;
    for (size_t j = 0; j < ncoef; j++) {
        double v = par[nb + j] * z[j];
        et += (proc[j] & CT_COV_PURCHASE) ? v : 0.0;
        el += (proc[j] & CT_COV_DROPOUT) ? v : 0.0;
    }
    /* vt, vl are 0 or +-1 with one process per parameter: two exponentials */
    double ft = exp(-et), fl = exp(el), il = 1.0 / fl;
    for (int k = 0; k < 4; k++) {
        double m = vt[k] < 0 ? ft : vl[k] > 0 ? fl : vl[k] < 0 ? il : 1.0;
        p[k] = par[k] * m;
    }
}

void ct_clv_cov_params(const ct_fit *f, const double *z, double *p)
{
    double vt[4], vl[4];
    directions(f->model, vt, vl);
    row_params(f->par, ct_clv_nparams(f->model), f->ncoef, f->coef_proc, z, vt, vl, p);
}

/* ---- data ---------------------------------------------------------------- */

/* Constant and collinear covariates (per process, in the order given, with
 * the intercept): from the weighted covariance over all ranks. */
static ct_status check_design(const ct_clv_data *d, const char *source, ct_error *err)
{
    size_t K = d->ncoef, m = 1 + K + K * K;
    double *S = calloc(m, sizeof *S);
    ct_status s0 = S != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (ct_comm_agree(d->comm, s0, err) != CT_OK) { /* before the sum below */
        free(S);
        return err->status;
    }
    for (size_t i = 0; i < d->n; i++) {
        const double *z = d->zref + i * K;
        double w = d->w[i];
        S[0] += w;
        for (size_t j = 0; j < K; j++) {
            S[1 + j] += w * z[j];
            for (size_t k = 0; k < K; k++) {
                S[1 + K + j * K + k] += w * z[j] * z[k];
            }
        }
    }
    ct_status s = d->comm != NULL ? ct_comm_allreduce_sum(d->comm, S, m, err) : CT_OK;
    if (s == CT_OK) {
        s = clv_check_design_sums(d, S, source, err);
    }
    free(S);
    return s;
}

ct_status clv_check_design_sums(const ct_clv_data *d, const double *S, const char *source,
                                ct_error *err)
{
    size_t K = d->ncoef;
    ct_status s = CT_OK;
    double C[CT_CLV_MAXCOEF * CT_CLV_MAXCOEF], L[CT_CLV_MAXCOEF * CT_CLV_MAXCOEF];
    for (size_t j = 0; j < K && s == CT_OK; j++) {
        for (size_t k = 0; k < K; k++) {
            double mj = S[1 + j] / S[0], mk = S[1 + k] / S[0];
            C[j * K + k] = S[1 + K + j * K + k] / S[0] - mj * mk;
        }
    }
    static const char *const PROC[2] = {"purchase", "drop-out"};
    for (unsigned b = 0; b < 2 && s == CT_OK; b++) {
        size_t idx[CT_CLV_MAXCOEF], q = 0;
        for (size_t j = 0; j < K; j++) {
            if (d->proc[j] & (1u << b)) {
                idx[q++] = j;
            }
        }
        /* Cholesky of C over idx, column by column: a column whose variance
         * left after the earlier ones is ~0 is a combination of them */
        for (size_t a = 0; a < q && s == CT_OK; a++) {
            size_t j = idx[a];
            double mean = S[1 + j] / S[0], v = C[j * K + j];
            if (!(v > 1e-12 * (1 + mean * mean))) {
                s = ct_fail_at(err, CT_EDATA, source, 0, 0,
                               "covariate '%s' is constant (%g for every customer): it cannot be "
                               "told apart from the %s process's base rate; leave it out",
                               d->coef_col[j], mean, PROC[b]);
                break;
            }
            double res = v;
            for (size_t c = 0; c < a; c++) {
                double l = C[idx[c] * K + j];
                for (size_t e = 0; e < c; e++) {
                    l -= L[a * CT_CLV_MAXCOEF + e] * L[c * CT_CLV_MAXCOEF + e];
                }
                l /= L[c * CT_CLV_MAXCOEF + c];
                L[a * CT_CLV_MAXCOEF + c] = l;
                res -= l * l;
            }
            if (!(res > 1e-9 * v)) {
                char prev[512] = "";
                size_t off = 0;
                for (size_t c = 0; c < a; c++) {
                    int n = snprintf(prev + off, sizeof prev - off, "%s'%s'", c ? ", " : "",
                                     d->coef_col[idx[c]]);
                    off += n > 0 && (size_t)n < sizeof prev - off ? (size_t)n : 0;
                }
                s = ct_fail_at(err, CT_EDATA, source, 0, 0,
                               "covariates of the %s process are collinear: '%s' is a linear "
                               "combination of %s (and the intercept); leave one out",
                               PROC[b], d->coef_col[j], prev);
                break;
            }
            L[a * CT_CLV_MAXCOEF + a] = sqrt(res);
        }
    }
    return s;
}

/* This rank's rows (checked) into d; *g the repeat buyers among them. */
static ct_status rows_cov(ct_clv_data *d, ct_clv_model model, const ct_customers *c,
                          const ct_clv_covariates *cv, const char *source, double *g,
                          ct_error *err)
{
    size_t K = cv->ncoef, n = 0;
    d->x = ct_malloc_big(c->n ? c->n : 1, sizeof *d->x);
    d->tx = ct_malloc_big(c->n ? c->n : 1, sizeof *d->tx);
    d->T = ct_malloc_big(c->n ? c->n : 1, sizeof *d->T);
    d->w = ct_malloc_big(c->n ? c->n : 1, sizeof *d->w);
    d->xi = ct_malloc_big(c->n ? c->n : 1, sizeof *d->xi);
    int all = 1; /* every row fitted: the rows' covariates are cv->z as it is */
    for (size_t i = 0; i < c->n && all && c->weight != NULL; i++) {
        all = c->weight[i] > 0;
    }
    d->z = all ? NULL : ct_malloc_big(c->n ? c->n : 1, (K ? K : 1) * sizeof *d->z);
    d->zref = all ? cv->z : d->z;
    if (!d->x || !d->tx || !d->T || !d->w || !d->xi || (!all && !d->z)) {
        return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", c->n);
    }
    for (size_t i = 0; i < c->n; i++) {
        CT_CHECK(clv_check_row(c, i, model, source, err));
        double w = c->weight ? c->weight[i] : 1.0;
        if (!(w > 0)) {
            continue; /* not fitted: its covariates do not matter */
        }
        const double *z = cv->z + i * K;
        for (size_t j = 0; j < K; j++) {
            if (!isfinite(z[j])) {
                char name[1024];
                return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                                  "%s: covariate '%s' is %s", clv_who(c, i, name, sizeof name),
                                  cv->col[j], isnan(z[j]) ? "missing" : "infinite");
            }
        }
        d->x[n] = c->x[i];
        d->T[n] = c->T[i];
        d->tx[n] = c->t_x[i] > c->T[i] ? c->T[i] : c->t_x[i];
        d->w[n] = w;
        if (!all) {
            memcpy(d->z + n * K, z, K * sizeof *z);
        }
        d->nobs += w;
        *g += c->x[i] > 0;
        n++;
    }
    d->n = n;
    return CT_OK;
}

static ct_status data_cov(ct_clv_data *d, ct_clv_model model, const ct_customers *c,
                          const ct_clv_covariates *cv, const char *source, ct_error *err)
{
    double g = 0; /* repeat buyers */
    /* every step that can fail on one rank is agreed on before the next
     * collective one, so the ranks never wait on each other in different calls */
    CT_CHECK(ct_comm_agree(d->comm, rows_cov(d, model, c, cv, source, &g, err), err));
    double tot[2] = {(double)d->n, g};
    if (d->comm != NULL) {
        CT_CHECK(ct_comm_allreduce_sum(d->comm, tot, 2, err));
        CT_CHECK(ct_comm_allreduce_sum(d->comm, &d->nobs, 1, err));
    }
    if (tot[0] == 0) {
        return ct_fail_at(err, CT_EDATA, source, 0, 0, "no customers with positive weight");
    }
    if (tot[1] == 0) {
        return ct_fail_at(err, CT_EDATA, source, 0, 0,
                          "every customer has x = 0 (no repeat purchases): the purchase rate "
                          "cannot be estimated");
    }
    CT_CHECK(ct_comm_agree(d->comm, clv_x_index(d, err), err));
    return check_design(d, source, err);
}

ct_status ct_clv_data_new_cov(ct_clv_data **out, ct_clv_model model, const ct_customers *c,
                              const ct_clv_covariates *cv, const char *source, ct_comm *comm,
                              ct_error *err)
{
    ct_init();
    *out = NULL;
    if (source == NULL) {
        source = "customers";
    }
    if (model != CT_BGNBD && model != CT_MBGNBD && model != CT_PARETO) {
        return ct_fail(err, CT_EINVAL,
                       "covariates are for bgnbd, mbgnbd and pareto, not %s",
                       ct_clv_model_name(model));
    }
    if (cv->ncoef == 0 || cv->ncoef > CT_CLV_MAXCOEF) {
        return ct_fail(err, CT_EINVAL, "%zu covariate coefficients: 1 to %d allowed", cv->ncoef,
                       CT_CLV_MAXCOEF);
    }
    if (c->x == NULL || c->t_x == NULL || c->T == NULL) {
        return ct_fail_at(err, CT_EFORMAT, source, 0, 0, "columns x, t_x and T are required");
    }
    for (size_t j = 0; j < cv->ncoef; j++) {
        if (cv->proc[j] == 0 || cv->proc[j] > (CT_COV_PURCHASE | CT_COV_DROPOUT) ||
            cv->col[j] == NULL || strlen(cv->col[j]) >= sizeof((ct_clv_data *)0)->coef_col[0]) {
            return ct_fail(err, CT_EINVAL, "covariate coefficient %zu: bad process or name", j);
        }
    }
    ct_clv_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    d->model = model;
    d->comm = ct_comm_size(comm) > 1 ? comm : NULL;
    d->nb = ct_clv_nparams(model);
    d->ncoef = cv->ncoef;
    for (size_t j = 0; j < cv->ncoef; j++) {
        d->proc[j] = cv->proc[j];
        snprintf(d->coef_col[j], sizeof d->coef_col[j], "%s", cv->col[j]);
    }
    d->corr_xm = CT_NAN;
    ct_status s = ct_comm_agree(d->comm, data_cov(d, model, c, cv, source, err), err);
    if (s != CT_OK) {
        ct_clv_data_free(d);
        return s;
    }
    *out = d;
    return CT_OK;
}

/* ---- likelihood -------------------------------------------------------------- */

typedef struct cov_ctx {
    const double *par;
    size_t K;             /* 4 + ncoef */
    int hess;
    const double *G;      /* per distinct x: 3 values */
    const clv_gl *gl;     /* Pareto/NBD */
    double vt[4], vl[4];
    double at[CT_CLV_MAXCOEF], al[CT_CLV_MAXCOEF]; /* 1 when coefficient j acts there */
} cov_ctx;

static void cov_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                     double *acc)
{
    const cov_ctx *c = vctx;
    const size_t K = c->K, nc = d->ncoef;
    const double *vt = c->vt, *vl = c->vl, *at = c->at, *al = c->al;
    double *G = acc + 1, *H = acc + 1 + K;
    for (size_t i = begin; i < end; i++) {
        const double *z = d->zref + i * nc;
        double p[4], g[4], h[10], w = d->w[i];
        row_params(c->par, 4, nc, d->proc, z, vt, vl, p);
        const double *Gx = c->G + 3 * d->xi[i];
        double ll = d->model == CT_PARETO
                        ? clv_pareto_row(c->gl, p, d->x[i], d->tx[i], d->T[i], Gx, g,
                                         c->hess ? h : NULL)
                        : clv_bg_row(p, d->model == CT_MBGNBD, d->x[i], d->tx[i], d->T[i], Gx,
                                     g, c->hess ? h : NULL);
        /* in u = log p: g_u = p g, H_u = p p' H + diag(g_u) */
        double gu[4];
        for (int k = 0; k < 4; k++) {
            gu[k] = p[k] * g[k];
        }
        double gt = 0, gl = 0;
        for (int k = 0; k < 4; k++) {
            gt += vt[k] * gu[k];
            gl += vl[k] * gu[k];
        }
        acc[0] += w * ll;
        for (int k = 0; k < 4; k++) {
            G[k] += w * gu[k];
        }
        double wz[CT_CLV_MAXCOEF];
        for (size_t j = 0; j < nc; j++) {
            wz[j] = w * z[j];
            G[4 + j] += wz[j] * (at[j] * gt + al[j] * gl);
        }
        if (!c->hess) {
            continue;
        }
        double Hu[4][4];
        for (int k = 0, u = 0; k < 4; k++) {
            for (int l = k; l < 4; l++, u++) {
                Hu[k][l] = Hu[l][k] = p[k] * p[l] * h[u] + (k == l ? gu[k] : 0.0);
            }
        }
        double Ht[4], Hl[4], tt = 0, tl = 0, lll = 0;
        for (int k = 0; k < 4; k++) {
            Ht[k] = Hu[k][0] * vt[0] + Hu[k][1] * vt[1] + Hu[k][2] * vt[2] + Hu[k][3] * vt[3];
            Hl[k] = Hu[k][0] * vl[0] + Hu[k][1] * vl[1] + Hu[k][2] * vl[2] + Hu[k][3] * vl[3];
        }
        for (int k = 0; k < 4; k++) {
            tt += vt[k] * Ht[k];
            tl += vt[k] * Hl[k];
            lll += vl[k] * Hl[k];
        }
        /* the upper triangle row by row: base rows (base, then coefficient
         * columns), then coefficient rows */
        double *o = H;
        for (size_t k = 0; k < 4; k++) {
            for (size_t l = k; l < 4; l++) {
                *o++ += w * Hu[k][l];
            }
            for (size_t j = 0; j < nc; j++) {
                *o++ += wz[j] * (at[j] * Ht[k] + al[j] * Hl[k]);
            }
        }
        for (size_t j = 0; j < nc; j++) {
            double zt = at[j] * tt + al[j] * tl, zl = at[j] * tl + al[j] * lll; /* v_j' H_u (vt, vl) */
            for (size_t q = j; q < nc; q++) {
                *o++ += wz[j] * z[q] * (at[q] * zt + al[q] * zl);
            }
        }
    }
}

ct_status clv_cov_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                     unsigned threads, ct_error *err)
{
    size_t K = d->nb + d->ncoef, nx = d->nxv ? d->nxv : 1;
    double *G = malloc(3 * nx * sizeof *G);
    clv_gl *gl = d->model == CT_PARETO ? clv_gl_new() : NULL;
    if (G == NULL || (d->model == CT_PARETO && gl == NULL)) {
        free(G);
        free(gl);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    double lgr = clv_lgamma(p[0]), psir = clv_digamma(p[0]), trir = clv_trigamma(p[0]);
    for (size_t x = 0; x < d->nxv; x++) {
        G[3 * x] = clv_lgamma(p[0] + d->xv[x]) - lgr;
        G[3 * x + 1] = clv_digamma(p[0] + d->xv[x]) - psir;
        G[3 * x + 2] = H != NULL ? clv_trigamma(p[0] + d->xv[x]) - trir : 0.0;
    }
    cov_ctx c = {p, K, H != NULL, G, gl, {0}, {0}, {0}, {0}};
    directions(d->model, c.vt, c.vl);
    for (size_t j = 0; j < d->ncoef; j++) {
        c.at[j] = (d->proc[j] & CT_COV_PURCHASE) ? 1.0 : 0.0;
        c.al[j] = (d->proc[j] & CT_COV_DROPOUT) ? 1.0 : 0.0;
    }
    size_t nacc = 1 + K + (H != NULL ? K * (K + 1) / 2 : 0);
    double acc[CLV_MAXACC];
    ct_status s = clv_reduce_acc(d, nacc, cov_rows, &c, threads, acc, err);
    free(G);
    free(gl);
    if (s != CT_OK) {
        return s;
    }
    double gth[CT_CLV_MAXPAR], Hth[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    clv_unpack(acc, K, ll, gth, H != NULL ? Hth : NULL);
    /* from theta = (log base, gamma) to (base, gamma) */
    size_t nb = d->nb;
    for (size_t j = 0; j < K && g != NULL; j++) {
        g[j] = j < nb ? gth[j] / p[j] : gth[j];
    }
    for (size_t i = 0; i < K && H != NULL; i++) {
        for (size_t j = 0; j < K; j++) {
            double v = Hth[i * K + j];
            if (i < nb && j < nb) {
                v = (v - (i == j ? gth[i] : 0.0)) / (p[i] * p[j]);
            } else if (i < nb) {
                v /= p[i];
            } else if (j < nb) {
                v /= p[j];
            }
            H[i * K + j] = v;
        }
    }
    return CT_OK;
}

/* ---- fit ----------------------------------------------------------------------- */

ct_status ct_clv_fit_cov(ct_clv_data *d, const ct_fit *base, const ct_fit_opts *opts,
                         ct_fit *fit, ct_error *err)
{
    if (d->ncoef == 0 || base->model != d->model || base->ncoef != 0) {
        return ct_fail(err, CT_EINVAL,
                       "a covariate fit starts from the same model's fit without covariates");
    }
    ct_fit_opts o;
    if (opts == NULL) {
        ct_fit_opts_init(&o);
    } else {
        o = *opts;
    }
    double init[CT_CLV_MAXPAR] = {0};
    memcpy(init, base->par, d->nb * sizeof *init);
    o.init = init;
    CT_CHECK(ct_clv_fit(d, &o, fit, err));
    fit->ll0 = base->ll;
    double lr = 2.0 * (fit->ll - base->ll);
    fit->lr = lr > 0 ? lr : 0.0;
    fit->lr_p = gsl_cdf_chisq_Q(fit->lr, (double)d->ncoef);
    return CT_OK;
}
