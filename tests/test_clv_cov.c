/* test_clv_cov.c - static covariates in BG/NBD, MBG/NBD and Pareto/NBD:
 * the likelihood at zero coefficients against the model without them, the
 * analytic gradient and Hessian against finite differences, parameter
 * recovery from simulated customers, an equality constraint, the penalty,
 * bad designs, and scoring under each customer's own parameters. */
#include <math.h>

#include "testutil.h"

#include "numerics/clv/clv_internal.h"

#define N_COV 3

static int skip_slow(void)
{
    const char *v = getenv("CT_SKIP_SLOW");
    if (v != NULL && v[0] == '1') {
        printf("SKIP: covariate parameter recovery (CT_SKIP_SLOW=1, e.g. under valgrind)\n");
        return 1;
    }
    return 0;
}

/* Two 0/1 covariates and a standard normal one in both processes. */
static void synth_opts(ct_synth_opts *o, ct_synth_model m, size_t n, uint64_t seed)
{
    static const double GT[N_COV] = {0.5, -0.4, 0.3}, GL[N_COV] = {-0.3, 0.4, 0.2};
    ct_synth_opts_init(o);
    o->model = m;
    o->n = n;
    o->T = 104;
    o->cohort = 52;
    o->seed = seed;
    if (m == CT_SYNTH_PARETO) {
        o->r = 0.55;
        o->alpha = 10.58;
        o->a = 0.61;
        o->b = 11.67;
    }
    o->ncov = N_COV;
    for (size_t j = 0; j < N_COV; j++) {
        snprintf(o->cov_name[j], sizeof o->cov_name[j], "z%zu", j + 1);
        o->cov_kind[j] = j < 2 ? 'b' : 'n';
        o->cov_trans[j] = GT[j];
        o->cov_life[j] = GL[j];
    }
}

/* Coefficients: each column in the purchase, then in the drop-out process;
 * zc (n x 2 N_COV) the matching values. */
static void both_processes(const double *z, size_t n, ct_clv_covariates *cv, double **zc)
{
    static const char *const NAME[N_COV] = {"z1", "z2", "z3"};
    memset(cv, 0, sizeof *cv);
    cv->ncoef = 2 * N_COV;
    double *v = malloc(n * cv->ncoef * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < N_COV; j++) {
            v[i * cv->ncoef + j] = z[i * N_COV + j];
            v[i * cv->ncoef + N_COV + j] = z[i * N_COV + j];
        }
    }
    for (size_t j = 0; j < N_COV; j++) {
        cv->proc[j] = CT_COV_PURCHASE;
        cv->proc[N_COV + j] = CT_COV_DROPOUT;
        cv->col[j] = cv->col[N_COV + j] = NAME[j];
    }
    cv->z = v;
    *zc = v;
}

/* o's customers (*c), their covariates (*z) and the coefficients of
 * both_processes (cv, *zc). */
static void simulate(const ct_synth_opts *o, ct_customers *c, double **z, ct_clv_covariates *cv,
                     double **zc)
{
    ct_error err;
    assert_status(ct_synth_customers_cov(o, c, z, &err), CT_OK);
    both_processes(*z, c->n, cv, zc);
}

static void release(ct_customers *c, double *z, double *zc)
{
    free(zc);
    free(z);
    ct_customers_free(c);
}

static ct_clv_model fit_model_of(ct_synth_model m)
{
    return m == CT_SYNTH_PARETO ? CT_PARETO : m == CT_SYNTH_MBGNBD ? CT_MBGNBD : CT_BGNBD;
}

/* With every coefficient 0 the likelihood and the base gradient are the
 * model's without covariates (the same rows, collapsed there): 1e-12. */
static void zero_coefficients(ct_synth_model sm)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    ct_clv_data *d0, *d1;
    ct_clv_model m = fit_model_of(sm);
    synth_opts(&o, sm, 5000, 3);
    simulate(&o, &c, &z, &cv, &zc);
    assert_status(ct_clv_data_new(&d0, m, &c, "test", &err), CT_OK);
    assert_status(ct_clv_data_new_cov(&d1, m, &c, &cv, "test", NULL, &err), CT_OK);
    double p[CT_CLV_MAXPAR] = {o.r, o.alpha, o.a, o.b};
    double ll0, ll1, g0[4], g1[CT_CLV_MAXPAR];
    assert_status(ct_clv_loglik(d0, p, &ll0, g0, 1, &err), CT_OK);
    assert_status(ct_clv_loglik(d1, p, &ll1, g1, 1, &err), CT_OK);
    if (!(fabs(ll1 - ll0) <= 1e-12 * fabs(ll0))) {
        fail_msg("%s: lnL with zero coefficients %.17g, without covariates %.17g",
                 ct_clv_model_name(m), ll1, ll0);
    }
    for (int j = 0; j < 4; j++) {
        if (!(fabs(g1[j] - g0[j]) <= 1e-9 * (fabs(g0[j]) + fabs(ll0) / p[j] * 1e-3))) {
            fail_msg("%s: gradient %d %.12g vs %.12g", ct_clv_model_name(m), j, g1[j], g0[j]);
        }
    }
    ct_clv_data_free(d0);
    ct_clv_data_free(d1);
    release(&c, z, zc);
}

static void test_zero_coefficients(void **state)
{
    (void)state;
    zero_coefficients(CT_SYNTH_BGNBD);
    zero_coefficients(CT_SYNTH_MBGNBD);
    zero_coefficients(CT_SYNTH_PARETO);
}

/* Analytic gradient against central differences of lnL, and the analytic
 * Hessian against central differences of the analytic gradient, at points
 * with nonzero coefficients: 1e-6 of the scale. */
static void derivatives(ct_synth_model sm)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    ct_clv_data *d;
    ct_clv_model m = fit_model_of(sm);
    synth_opts(&o, sm, 3000, 4);
    simulate(&o, &c, &z, &cv, &zc);
    /* one constrained coefficient too (z3 in both processes), and the last
     * drop-out column an interaction so the design stays full rank */
    cv.proc[2] = CT_COV_PURCHASE | CT_COV_DROPOUT;
    cv.col[5] = "z1z3";
    for (size_t i = 0; i < c.n; i++) {
        zc[i * 6 + 5] = zc[i * 6] * zc[i * 6 + 2];
    }
    assert_status(ct_clv_data_new_cov(&d, m, &c, &cv, "test", NULL, &err), CT_OK);
    size_t k = 4 + cv.ncoef;
    double p[CT_CLV_MAXPAR] = {o.r * 1.2, o.alpha * 0.9, o.a * 1.1, o.b * 0.8,
                               0.3, -0.2, 0.1, -0.25, 0.35, 0.15};
    double ll, g[CT_CLV_MAXPAR], H[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    assert_status(clv_loglik_h(d, p, &ll, g, H, 2, &err), CT_OK);
    for (size_t j = 0; j < k; j++) {
        double h = 1e-5 * (j < 4 ? p[j] : 1.0), pp[CT_CLV_MAXPAR], pm[CT_CLV_MAXPAR];
        double lp, lm, gp[CT_CLV_MAXPAR], gm[CT_CLV_MAXPAR];
        memcpy(pp, p, sizeof pp);
        memcpy(pm, p, sizeof pm);
        pp[j] += h;
        pm[j] -= h;
        assert_status(ct_clv_loglik(d, pp, &lp, gp, 2, &err), CT_OK);
        assert_status(ct_clv_loglik(d, pm, &lm, gm, 2, &err), CT_OK);
        double fd = (lp - lm) / (2 * h);
        double gs = fabs(ll) / (j < 4 ? p[j] : 1.0);
        if (!(fabs(fd - g[j]) <= 1e-6 * gs)) {
            fail_msg("%s d lnL / d p%zu: analytic %.10g, numeric %.10g", ct_clv_model_name(m), j,
                     g[j], fd);
        }
        for (size_t i = 0; i < k; i++) {
            double hd = (gp[i] - gm[i]) / (2 * h);
            double scale = sqrt(fabs(H[i * k + i] * H[j * k + j]));
            if (!(fabs(hd - H[i * k + j]) <= 1e-5 * scale)) {
                fail_msg("%s d2 lnL / d p%zu d p%zu: analytic %.10g, numeric %.10g",
                         ct_clv_model_name(m), i, j, H[i * k + j], hd);
            }
        }
    }
    ct_clv_data_free(d);
    release(&c, z, zc);
}

static void test_derivatives(void **state)
{
    (void)state;
    derivatives(CT_SYNTH_BGNBD);
    derivatives(CT_SYNTH_MBGNBD);
    derivatives(CT_SYNTH_PARETO);
}

/* 200,000 simulated customers (continuous T over two years, a cohort over
 * the first): every coefficient and base parameter within 3 standard
 * errors of the truth, and the likelihood-ratio test rejects "no
 * covariates" (p < 1e-6). */
static void recover(ct_synth_model sm, uint64_t seed)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    ct_clv_data *d0, *d1;
    ct_fit base, fit;
    ct_clv_model m = fit_model_of(sm);
    synth_opts(&o, sm, 200000, seed);
    simulate(&o, &c, &z, &cv, &zc);
    assert_status(ct_clv_data_new(&d0, m, &c, "test", &err), CT_OK);
    assert_status(ct_clv_fit(d0, NULL, &base, &err), CT_OK);
    assert_status(ct_clv_data_new_cov(&d1, m, &c, &cv, "test", NULL, &err), CT_OK);
    ct_status s = ct_clv_fit_cov(d1, &base, NULL, &fit, &err);
    if (s != CT_OK) {
        fail_msg("%s: %s", ct_clv_model_name(m), err.msg);
    }
    const double truth[4 + 2 * N_COV] = {o.r,            o.alpha,        o.a,
                                         o.b,            o.cov_trans[0], o.cov_trans[1],
                                         o.cov_trans[2], o.cov_life[0],  o.cov_life[1],
                                         o.cov_life[2]};
    assert_int_equal(fit.k, 4 + 2 * N_COV);
    for (size_t j = 0; j < fit.k; j++) {
        double dev = (fit.par[j] - truth[j]) / fit.se[j];
        printf("  %s %-10s %10.5f (truth %8.4f, se %.4f, %+.2f se)\n", ct_clv_model_name(m),
               ct_fit_param_name(&fit, j), fit.par[j], truth[j], fit.se[j], dev);
        if (!(fabs(dev) <= 3.0)) {
            fail_msg("%s %s = %g, truth %g: %.2f standard errors off", ct_clv_model_name(m),
                     ct_fit_param_name(&fit, j), fit.par[j], truth[j], dev);
        }
    }
    assert_true(fit.lr > 0 && fit.lr_p < 1e-6);
    assert_true(fit.ll > base.ll);
    assert_string_equal(fit.coef_name[0], "trans.z1");
    assert_string_equal(fit.coef_name[N_COV], "life.z1");
    ct_clv_data_free(d0);
    ct_clv_data_free(d1);
    release(&c, z, zc);
}

static void test_recovery(void **state)
{
    (void)state;
    if (skip_slow()) {
        skip();
    }
    recover(CT_SYNTH_BGNBD, 31);
    recover(CT_SYNTH_MBGNBD, 32);
    recover(CT_SYNTH_PARETO, 33);
}

/* An equality constraint is one coefficient in both processes; the penalty
 * shrinks the coefficients (and only them) toward 0; the fit does not
 * depend on the thread count. */
static void test_constraint_penalty_threads(void **state)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    ct_clv_data *d0, *d1;
    ct_fit base, f1, f2, fpen;
    (void)state;
    synth_opts(&o, CT_SYNTH_BGNBD, 20000, 5);
    o.cov_life[0] = o.cov_trans[0];
    simulate(&o, &c, &z, &cv, &zc);
    /* z1 constrained: drop its drop-out column, mark the purchase one both */
    cv.proc[0] = CT_COV_PURCHASE | CT_COV_DROPOUT;
    for (size_t i = 0; i < c.n; i++) {
        memmove(zc + i * 5, zc + i * 6, 3 * sizeof *zc);
        memmove(zc + i * 5 + 3, zc + i * 6 + 4, 2 * sizeof *zc);
    }
    cv.ncoef = 5;
    cv.proc[3] = CT_COV_DROPOUT;
    cv.proc[4] = CT_COV_DROPOUT;
    cv.col[3] = "z2";
    cv.col[4] = "z3";
    assert_status(ct_clv_data_new(&d0, CT_BGNBD, &c, "test", &err), CT_OK);
    assert_status(ct_clv_fit(d0, NULL, &base, &err), CT_OK);
    assert_status(ct_clv_data_new_cov(&d1, CT_BGNBD, &c, &cv, "test", NULL, &err), CT_OK);
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    fo.threads = 1;
    assert_status(ct_clv_fit_cov(d1, &base, &fo, &f1, &err), CT_OK);
    fo.threads = 2;
    assert_status(ct_clv_fit_cov(d1, &base, &fo, &f2, &err), CT_OK);
    assert_memory_equal(f1.par, f2.par, f1.k * sizeof f1.par[0]);
    assert_string_equal(f1.coef_name[0], "constr.z1");
    assert_true(fabs(f1.par[4] - o.cov_trans[0]) <= 3 * f1.se[4]);
    fo.penalty_cov = 0.05;
    assert_status(ct_clv_fit_cov(d1, &base, &fo, &fpen, &err), CT_OK);
    double n1 = 0, n2 = 0;
    for (size_t j = 4; j < f1.k; j++) {
        n1 += f1.par[j] * f1.par[j];
        n2 += fpen.par[j] * fpen.par[j];
    }
    assert_true(n2 < 0.8 * n1);
    assert_true(fpen.ll < f1.ll);
    ct_clv_data_free(d0);
    ct_clv_data_free(d1);
    release(&c, z, zc);
}

/* Missing, constant and collinear covariates: clear errors naming them. */
static void test_bad_design(void **state)
{
    ct_customers c;
    ct_error err;
    ct_clv_data *d;
    ct_synth_opts o;
    (void)state;
    ct_synth_opts_init(&o);
    o.n = 200;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    double *z = malloc(c.n * 3 * sizeof *z);
    assert_non_null(z);
    for (size_t i = 0; i < c.n; i++) {
        z[3 * i] = (double)(i % 2);
        z[3 * i + 1] = 1.0;                 /* constant */
        z[3 * i + 2] = 2.0 * (double)(i % 2) + 1; /* collinear with the first */
    }
    ct_clv_covariates cv = {2, z, {CT_COV_PURCHASE, CT_COV_PURCHASE}, {"web", "one"}};
    double *z2 = malloc(c.n * 2 * sizeof *z2);
    assert_non_null(z2);
    for (size_t i = 0; i < c.n; i++) {
        z2[2 * i] = z[3 * i];
        z2[2 * i + 1] = z[3 * i + 1];
    }
    cv.z = z2;
    assert_status(ct_clv_data_new_cov(&d, CT_BGNBD, &c, &cv, "t.h5", NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "'one' is constant"));
    for (size_t i = 0; i < c.n; i++) {
        z2[2 * i + 1] = z[3 * i + 2];
    }
    cv.col[1] = "web2";
    assert_status(ct_clv_data_new_cov(&d, CT_PARETO, &c, &cv, "t.h5", NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "'web2' is a linear combination of 'web'"));
    /* the same column in the two processes is fine */
    cv.proc[1] = CT_COV_DROPOUT;
    cv.z = z2;
    for (size_t i = 0; i < c.n; i++) {
        z2[2 * i + 1] = z[3 * i];
    }
    assert_status(ct_clv_data_new_cov(&d, CT_BGNBD, &c, &cv, "t.h5", NULL, &err), CT_OK);
    ct_clv_data_free(d);
    z2[2 * 7 + 1] = (double)NAN;
    assert_status(ct_clv_data_new_cov(&d, CT_BGNBD, &c, &cv, "t.h5", NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "customer row 8 (id 'C000008'): covariate 'web2' is missing"));
    assert_status(ct_clv_data_new_cov(&d, CT_GAMMAGAMMA, &c, &cv, "t.h5", NULL, &err),
                  CT_EINVAL);
    free(z);
    free(z2);
    ct_customers_free(&c);
}

/* Scores under covariates: each customer's equal a no-covariate fit's at
 * that customer's own parameters (to 1e-12), and the plain predictions
 * refuse a fit with covariates. */
static void test_scores(void **state)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    (void)state;
    for (int mi = 0; mi < 3; mi++) {
        ct_synth_model sm = mi == 0 ? CT_SYNTH_BGNBD : mi == 1 ? CT_SYNTH_MBGNBD : CT_SYNTH_PARETO;
        synth_opts(&o, sm, 300, 6);
        simulate(&o, &c, &z, &cv, &zc);
        ct_fit f;
        memset(&f, 0, sizeof f);
        f.model = fit_model_of(sm);
        f.k = 10;
        f.ncoef = 6;
        double par[10] = {o.r, o.alpha, o.a, o.b, 0.5, -0.4, 0.3, -0.3, 0.4, 0.2};
        memcpy(f.par, par, sizeof par);
        for (size_t j = 0; j < 6; j++) {
            f.coef_proc[j] = cv.proc[j];
            snprintf(f.coef_col[j], sizeof f.coef_col[j], "%s", cv.col[j]);
        }
        ct_scores sc;
        assert_status(ct_clv_score(&f, NULL, &c, 26, 0.01, 2, &sc, &err), CT_EINVAL);
        assert_status(ct_clv_score_cov(&f, NULL, &c, zc, 26, 0.01, 2, &sc, &err), CT_OK);
        for (size_t i = 0; i < c.n; i += 37) {
            ct_fit fi;
            memset(&fi, 0, sizeof fi);
            fi.model = f.model;
            fi.k = 4;
            ct_clv_cov_params(&f, zc + i * 6, fi.par);
            ct_customers one = c;
            one.n = 1;
            one.x += i;
            one.t_x += i;
            one.T += i;
            one.m += i;
            one.ids += i * c.id_width;
            ct_scores s1;
            assert_status(ct_clv_score(&fi, NULL, &one, 26, 0.01, 1, &s1, &err), CT_OK);
            if (!(fabs(s1.p_alive[0] - sc.p_alive[i]) <= 1e-12 &&
                  fabs(s1.clv[0] - sc.clv[i]) <= 1e-10 * (1 + fabs(s1.clv[0])) &&
                  fabs(s1.exp_purchases[0] - sc.exp_purchases[i]) <=
                      1e-10 * (1 + s1.exp_purchases[0]))) {
                fail_msg("%s row %zu: %.15g %.15g vs %.15g %.15g", ct_clv_model_name(f.model), i,
                         sc.p_alive[i], sc.exp_purchases[i], s1.p_alive[0], s1.exp_purchases[0]);
            }
            ct_scores_free(&s1);
        }
        ct_scores_free(&sc);
        release(&c, z, zc);
    }
}

/* Intervals under covariates: a customer whose covariates are all 0 has
 * the base parameters, and the coefficients' directions do not move its
 * predictions, so its delta-method bounds are the plain fit's at those
 * parameters and their covariance block (to 1e-5 relative: forward against
 * central differences); a tier total of one customer is that customer's
 * CLV interval (1e-9). */
static void test_intervals(void **state)
{
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z, *zc;
    ct_clv_covariates cv;
    ct_clv_data *d0, *d1;
    (void)state;
    for (int mi = 0; mi < 2; mi++) {
        ct_synth_model sm = mi == 0 ? CT_SYNTH_BGNBD : CT_SYNTH_PARETO;
        ct_clv_model m = fit_model_of(sm);
        ct_fit base, f, f0;
        synth_opts(&o, sm, 4000, 8);
        simulate(&o, &c, &z, &cv, &zc);
        assert_status(ct_clv_data_new(&d0, m, &c, "test", &err), CT_OK);
        assert_status(ct_clv_fit(d0, NULL, &base, &err), CT_OK);
        assert_status(ct_clv_data_new_cov(&d1, m, &c, &cv, "test", NULL, &err), CT_OK);
        assert_status(ct_clv_fit_cov(d1, &base, NULL, &f, &err), CT_OK);
        for (size_t i = 0; i < 20; i++) { /* these customers: z = 0 */
            memset(zc + i * cv.ncoef, 0, cv.ncoef * sizeof *zc);
        }
        memset(&f0, 0, sizeof f0);
        f0.model = m;
        f0.k = 4;
        memcpy(f0.par, f.par, 4 * sizeof *f.par);
        for (size_t i = 0; i < 4; i++) {
            for (size_t j = 0; j < 4; j++) {
                f0.cov[i * 4 + j] = f.cov[i * f.k + j];
            }
        }
        ct_customers cz = c;
        cz.cov = zc;
        ct_scores sc, s0;
        assert_status(ct_clv_score_intervals(&f, NULL, &cz, 26, 0.01, 0.9, 2, &sc, &err), CT_OK);
        ct_customers c20 = c;
        c20.n = 20;
        assert_status(ct_clv_score_intervals(&f0, NULL, &c20, 26, 0.01, 0.9, 2, &s0, &err), CT_OK);
        for (size_t i = 0; i < 20; i++) {
            const double a[6] = {sc.p_alive_lo[i], sc.p_alive_hi[i], sc.exp_purchases_lo[i],
                                 sc.exp_purchases_hi[i], sc.clv_lo[i], sc.clv_hi[i]};
            const double b[6] = {s0.p_alive_lo[i], s0.p_alive_hi[i], s0.exp_purchases_lo[i],
                                 s0.exp_purchases_hi[i], s0.clv_lo[i], s0.clv_hi[i]};
            for (int q = 0; q < 6; q++) {
                if (!(fabs(a[q] - b[q]) <= 1e-5 * fabs(b[q]) + 1e-12)) {
                    fail_msg("%s customer %zu bound %d: %.10g with covariates, %.10g without",
                             ct_clv_model_name(m), i, q, a[q], b[q]);
                }
            }
            assert_true(sc.purchases_lo[i] == s0.purchases_lo[i] &&
                        sc.purchases_hi[i] == s0.purchases_hi[i]);
        }
        /* a customer with covariates: wider than without the coefficients'
         * uncertainty, and a one-customer tier total is its interval */
        int8_t *grp = malloc(c.n);
        assert_non_null(grp);
        memset(grp, -1, c.n);
        size_t who = 100;
        grp[who] = 0;
        double tot, lo, hi;
        assert_status(ct_clv_group_clv(&f, NULL, &cz, 26, 0.01, grp, 1, 0.9, 2, &tot, &lo, &hi,
                                       &err),
                      CT_OK);
        if (!(fabs(tot - sc.clv[who]) <= 1e-9 * tot && fabs(lo - sc.clv_lo[who]) <= 1e-9 * lo &&
              fabs(hi - sc.clv_hi[who]) <= 1e-9 * hi)) {
            fail_msg("%s group of one: %.12g [%.12g, %.12g] vs %.12g [%.12g, %.12g]",
                     ct_clv_model_name(m), tot, lo, hi, sc.clv[who], sc.clv_lo[who],
                     sc.clv_hi[who]);
        }
        free(grp);
        ct_scores_free(&sc);
        ct_scores_free(&s0);
        ct_clv_data_free(d0);
        ct_clv_data_free(d1);
        release(&c, z, zc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_coefficients),
        cmocka_unit_test(test_derivatives),
        cmocka_unit_test(test_bad_design),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_constraint_penalty_threads),
        cmocka_unit_test(test_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
