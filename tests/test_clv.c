/* test_clv.c - CLV models against the literature, the lifetimes peer, an
 * independent closed form, finite differences, and parameter recovery.
 *
 * Reference values and where they come from:
 *  - published: Fader, Hardie & Lee (2005a) BG/NBD on CDNOW (r .243, alpha
 *    4.414, a .793, b 2.426, LL -9582.4) and Pareto/NBD (r .55, alpha 10.58,
 *    s .61, beta 11.67, LL -9595.0); Fader, Hardie & Shang (2010) BG/BB on the
 *    donations (alpha 1.204, beta .750, gamma .657, delta 2.783, LL -33225.6);
 *    Fader & Hardie note 025 Gamma-Gamma (p 6.25, q 3.74, gamma 15.44).
 *    Tolerance: half a unit of the last printed digit (+ 1e-9).
 *  - lifetimes 0.11.3 (../shared/peers), run once by hand; its fits stop at
 *    scipy's default gradient tolerance, so estimates agree to ~1e-5
 *    relative: we allow 1e-4.  Its predictions at fixed parameters are
 *    closed forms, copied with 8 significant digits (12 for Pareto/NBD):
 *    we allow 5e-7 (1e-9) relative.
 *  - the Pareto/NBD closed form with scipy.special.hyp2f1 (both branches) at
 *    fixed parameters: 1e-9 relative. */
#include <math.h>

#include "testutil.h"

#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>

static void load_summary(const char *name, ct_customers *c)
{
    char csv[512], h5[512];
    ct_error err;
    ct_ingest_opts o;
    ct_file *f;
    tu_data(csv, sizeof csv, name);
    tu_path(h5, sizeof h5, name);
    strcat(h5, ".h5");
    ct_ingest_opts_init(&o);
    assert_status(ct_ingest_summary(csv, h5, &o, NULL, &err), CT_OK);
    assert_status(ct_file_open(&f, h5, &err), CT_OK);
    assert_status(ct_customers_read(f, "/customers", c, &err), CT_OK);
    ct_file_close(f);
}

/* Customers that are the caller's columns (m may be NULL). */
static ct_customers columns(size_t n, double *x, double *tx, double *T, double *m)
{
    ct_customers c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.x = x;
    c.t_x = tx;
    c.T = T;
    c.m = m;
    return c;
}

static void fit_model(ct_clv_model m, const ct_customers *c, ct_fit *fit)
{
    ct_error err;
    ct_clv_data *d;
    assert_status(ct_clv_data_new(&d, m, c, "test", &err), CT_OK);
    assert_status(ct_clv_fit(d, NULL, fit, &err), CT_OK);
    assert_true(fit->converged);
    ct_clv_data_free(d);
}

static void assert_rel(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want))) {
        fail_msg("got %.12g, want %.12g (rel err %.3g > %.3g)", got, want,
                 fabs(got - want) / fabs(want), rel);
    }
}

static void test_bgnbd_cdnow(void **state)
{
    ct_customers c;
    ct_fit f;
    (void)state;
    load_summary("cdnow_customers_summary.csv", &c);
    fit_model(CT_BGNBD, &c, &f);
    const double pub[4] = {0.243, 4.414, 0.793, 2.426};
    const double lt[4] = {0.242593, 4.413532, 0.792886, 2.425752};
    const double lt_se[4] = {0.012557, 0.378221, 0.185719, 0.705345};
    for (int j = 0; j < 4; j++) {
        assert_close(f.par[j], pub[j], 0.0005 + 1e-9);
        assert_rel(f.par[j], lt[j], 1e-4);
        assert_rel(f.se[j], lt_se[j], 1e-3);
    }
    assert_close(f.ll, -9582.4, 0.05);
    assert_close(f.aic, 2 * 4 - 2 * f.ll, 1e-9);
    assert_close(f.bic, 4 * log(2357.0) - 2 * f.ll, 1e-9);
    assert_true(f.nobs == 2357);
    ct_customers_free(&c);
}

static void test_pareto_cdnow(void **state)
{
    ct_customers c;
    ct_fit f;
    ct_error err;
    ct_clv_data *d;
    (void)state;
    load_summary("cdnow_customers_summary.csv", &c);
    fit_model(CT_PARETO, &c, &f);
    const double pub[4] = {0.55, 10.58, 0.61, 11.67};
    for (int j = 0; j < 4; j++) {
        assert_close(f.par[j], pub[j], 0.005 + 1e-9);
    }
    assert_close(f.ll, -9595.0, 0.05);
    /* LL at fixed points vs the closed form (scipy hyp2f1): alpha < beta,
     * alpha > beta, and a far-apart alpha << beta */
    const double P[3][4] = {{0.55, 10.58, 0.61, 11.67}, {0.8, 5.0, 1.3, 4.0}, {0.3, 20.0, 0.4, 60.0}};
    const double ref[3] = {-9595.008530490335, -10243.1418434097, -9934.602781902116};
    assert_status(ct_clv_data_new(&d, CT_PARETO, &c, "cdnow", &err), CT_OK);
    for (int k = 0; k < 3; k++) {
        double ll;
        assert_status(ct_clv_loglik(d, P[k], &ll, NULL, 0, &err), CT_OK);
        assert_rel(ll, ref[k], 1e-9);
    }
    ct_clv_data_free(d);
    ct_customers_free(&c);
}

static void test_mbgnbd_cdnow(void **state)
{
    ct_customers c;
    ct_fit f;
    (void)state;
    load_summary("cdnow_customers_summary.csv", &c);
    fit_model(CT_MBGNBD, &c, &f);
    const double lt[4] = {0.52483773, 6.18298848, 0.89135628, 1.61400003};
    const double lt_se[4] = {0.083264, 0.695597, 0.154785, 0.537472};
    for (int j = 0; j < 4; j++) {
        assert_rel(f.par[j], lt[j], 1e-4);
        assert_rel(f.se[j], lt_se[j], 1e-3);
    }
    ct_customers_free(&c);
}

static void test_bgbb_donations(void **state)
{
    ct_customers c;
    ct_fit f;
    (void)state;
    load_summary("donations.csv", &c);
    fit_model(CT_BGBB, &c, &f);
    const double pub[4] = {1.204, 0.750, 0.657, 2.783};
    const double lt_se[4] = {0.069391, 0.029448, 0.051010, 0.320819};
    for (int j = 0; j < 4; j++) {
        assert_close(f.par[j], pub[j], 0.0005 + 1e-9);
        assert_rel(f.se[j], lt_se[j], 1e-3);
    }
    assert_close(f.ll, -33225.6, 0.05);
    assert_true(f.nobs == 11104);
    assert_int_equal(f.ndistinct, 22);
    ct_customers_free(&c);
}

static void test_gammagamma_cdnow(void **state)
{
    ct_customers c;
    ct_fit f;
    (void)state;
    load_summary("cdnow_customers_summary_with_transactions.csv", &c);
    assert_non_null(c.m); /* zbar */
    fit_model(CT_GAMMAGAMMA, &c, &f);
    const double lt[3] = {6.2488025, 3.74458846, 15.44774806};
    for (int j = 0; j < 3; j++) {
        assert_rel(f.par[j], lt[j], 1e-4);
    }
    /* note 025 prints 6.25, 3.74, 15.44; both fits give 15.448, so the note's
     * last digit is cut, not rounded: allow one unit of it */
    assert_close(f.par[0], 6.25, 0.01);
    assert_close(f.par[1], 3.74, 0.01);
    assert_close(f.par[2], 15.44, 0.01);
    assert_true(f.nobs == 946);
    assert_true(fabs(f.corr_xm) < 0.3); /* CDNOW: frequency and spend ~ independent */
    ct_customers_free(&c);
}

/* Analytic gradient vs central differences at random parameter points. */
static void check_gradient(ct_clv_model m, const ct_customers *c, const double *center)
{
    ct_error err;
    ct_clv_data *d;
    size_t k = ct_clv_nparams(m);
    ct_rng *g = ct_rng_new(11, (uint64_t)m);
    assert_status(ct_clv_data_new(&d, m, c, "test", &err), CT_OK);
    for (int trial = 0; trial < 6; trial++) {
        double p[4], grad[4], ll;
        for (size_t j = 0; j < k; j++) {
            p[j] = center[j] * exp(2 * ct_rng_uniform(g) - 1);
        }
        assert_status(ct_clv_loglik(d, p, &ll, grad, 0, &err), CT_OK);
        for (size_t j = 0; j < k; j++) {
            double pp[4], pm[4], lp, lm, h = 1e-5 * p[j];
            memcpy(pp, p, sizeof pp);
            memcpy(pm, p, sizeof pm);
            pp[j] += h;
            pm[j] -= h;
            assert_status(ct_clv_loglik(d, pp, &lp, NULL, 0, &err), CT_OK);
            assert_status(ct_clv_loglik(d, pm, &lm, NULL, 0, &err), CT_OK);
            double fd = (lp - lm) / (2 * h);
            /* truncation O(h^2) and rounding ~eps |LL| / h: 1e-6 relative + 1e-9 |LL| */
            double tol = 1e-6 * fabs(grad[j]) + 1e-9 * fabs(ll) / (1e-5 * p[j]) * 1e-3 + 1e-7;
            if (!(fabs(fd - grad[j]) <= tol + 1e-6 * fabs(fd))) {
                fail_msg("%s d/d%s at trial %d: analytic %.10g, numeric %.10g",
                         ct_clv_model_name(m), ct_clv_param_name(m, j), trial, grad[j], fd);
            }
        }
    }
    ct_clv_data_free(d);
    ct_rng_free(g);
}

static void test_gradients(void **state)
{
    ct_customers c;
    (void)state;
    load_summary("cdnow_customers_summary_with_transactions.csv", &c);
    const double bg[4] = {0.243, 4.414, 0.793, 2.426};
    const double pn[4] = {0.55, 10.58, 0.61, 11.67};
    const double gg[3] = {6.25, 3.74, 15.44};
    check_gradient(CT_BGNBD, &c, bg);
    check_gradient(CT_MBGNBD, &c, bg);
    check_gradient(CT_PARETO, &c, pn);
    check_gradient(CT_GAMMAGAMMA, &c, gg);
    ct_customers_free(&c);
    load_summary("donations.csv", &c);
    const double bb[4] = {1.204, 0.750, 0.657, 2.783};
    check_gradient(CT_BGBB, &c, bb);
    ct_customers_free(&c);
}

/* Rows where lifetimes' Pareto/NBD log-likelihood is -inf (large x, in both
 * the alpha > beta and the alpha < beta branch): ours is finite, its gradient
 * right, and P(alive) agrees with lifetimes' (different) formula. */
static void test_pareto_large_x(void **state)
{
    ct_error err;
    ct_customers c;
    ct_clv_data *d;
    (void)state;
    double x[3] = {150, 400, 5}, tx[3] = {50, 70, 40}, T[3] = {52, 78, 52};
    c = columns(3, x, tx, T, NULL);
    const double P[2][4] = {{2.0, 30.0, 0.5, 2.0}, {2.0, 0.5, 3.0, 80.0}};
    const double lt_pa[2][3] = {{8.242747772369e-01, 2.016168040787e-11, 8.000500203617e-01},
                                {2.549702301892e-01, 4.194544415194e-17, 5.115874333232e-01}};
    assert_status(ct_clv_data_new(&d, CT_PARETO, &c, "test", &err), CT_OK);
    for (int k = 0; k < 2; k++) {
        double ll, g[4];
        assert_status(ct_clv_loglik(d, P[k], &ll, g, 0, &err), CT_OK);
        assert_true(isfinite(ll)); /* a density in t_x: lnL may be positive */
        for (int j = 0; j < 4; j++) {
            assert_true(isfinite(g[j]));
        }
        ct_fit f;
        memset(&f, 0, sizeof f);
        f.model = CT_PARETO;
        f.k = 4;
        memcpy(f.par, P[k], sizeof P[k]);
        double pa[3];
        assert_status(ct_clv_p_alive(&f, x, tx, T, 3, pa, &err), CT_OK);
        for (int i = 0; i < 3; i++) {
            assert_rel(pa[i], lt_pa[k][i], lt_pa[k][i] < 1e-9 ? 1e-4 : 5e-7);
        }
    }
    ct_clv_data_free(d);
    check_gradient(CT_PARETO, &c, P[0]);
    check_gradient(CT_PARETO, &c, P[1]);
}

static ct_fit make_fit(ct_clv_model m, const double *p)
{
    ct_fit f;
    memset(&f, 0, sizeof f);
    f.model = m;
    f.k = ct_clv_nparams(m);
    memcpy(f.par, p, f.k * sizeof *p);
    return f;
}

static void test_predictions_vs_lifetimes(void **state)
{
    ct_error err;
    double out[4];
    (void)state;
    double x[4] = {0, 2, 10, 1}, tx[4] = {0, 30.43, 20, 5}, T[4] = {38.86, 38.86, 38.86, 30};
    const double tt[3] = {10, 39, 78};
    const double bgp[4] = {0.242593, 4.413532, 0.792886, 2.425752};
    ct_fit f = make_fit(CT_BGNBD, bgp);
    const double pa[3] = {1.0, 0.72660914, 0.03935615}, ey[3] = {0.19478086, 1.22591042, 0.28641647},
                 ex[3] = {0.43176099, 1.19501623, 1.8579717};
    assert_status(ct_clv_p_alive(&f, x, tx, T, 3, out, &err), CT_OK);
    for (int i = 0; i < 3; i++) {
        assert_rel(out[i], pa[i], 5e-7);
    }
    assert_status(ct_clv_expected(&f, x, tx, T, 3, 39, out, &err), CT_OK);
    for (int i = 0; i < 3; i++) {
        assert_rel(out[i], ey[i], 5e-7);
    }
    for (int i = 0; i < 3; i++) {
        assert_status(ct_clv_expected_new(&f, tt[i], &out[0], &err), CT_OK);
        assert_rel(out[0], ex[i], 5e-7);
    }
    const double mbp[4] = {0.52483773, 6.18298848, 0.89135628, 1.61400003};
    f = make_fit(CT_MBGNBD, mbp);
    const double mpa[3] = {0.38971644, 0.70612626, 0.04138463},
                 mey[3] = {0.15395364, 1.26267078, 0.29124979},
                 mex[3] = {0.43325287, 1.1822838, 1.80363619};
    assert_status(ct_clv_p_alive(&f, x, tx, T, 3, out, &err), CT_OK);
    for (int i = 0; i < 3; i++) {
        assert_rel(out[i], mpa[i], 5e-7);
    }
    assert_status(ct_clv_expected(&f, x, tx, T, 3, 39, out, &err), CT_OK);
    for (int i = 0; i < 3; i++) {
        assert_rel(out[i], mey[i], 5e-7);
    }
    for (int i = 0; i < 3; i++) {
        assert_status(ct_clv_expected_new(&f, tt[i], &out[0], &err), CT_OK);
        assert_rel(out[0], mex[i], 5e-7);
    }
    const double pp[4] = {0.55, 10.58, 0.61, 11.67};
    f = make_fit(CT_PARETO, pp);
    const double ppa[4] = {0.293773950467, 0.868410917132, 0.082301666398, 0.353700593193};
    const double pey[4] = {0.10582535589, 1.450371374792, 0.568689032989, 0.424181291744};
    const double pex[3] = {0.424659618511, 1.202352362832, 1.889998370531};
    assert_status(ct_clv_p_alive(&f, x, tx, T, 4, out, &err), CT_OK);
    for (int i = 0; i < 4; i++) {
        assert_rel(out[i], ppa[i], 1e-9);
    }
    assert_status(ct_clv_expected(&f, x, tx, T, 4, 39, out, &err), CT_OK);
    for (int i = 0; i < 4; i++) {
        assert_rel(out[i], pey[i], 1e-9);
    }
    for (int i = 0; i < 3; i++) {
        assert_status(ct_clv_expected_new(&f, tt[i], &out[0], &err), CT_OK);
        assert_rel(out[0], pex[i], 1e-9);
    }
    const double ggp[3] = {6.2488025, 3.74458846, 15.44774806};
    f = make_fit(CT_GAMMAGAMMA, ggp);
    double gx[2] = {1, 5}, gm[2] = {20, 35};
    assert_status(ct_clv_spend(&f, gx, gm, 2, out, &err), CT_OK);
    assert_rel(out[0], 24.62986182, 5e-7);
    assert_rel(out[1], 35.01380847, 5e-7);
    /* a spend fit is not a purchase model and vice versa */
    assert_status(ct_clv_p_alive(&f, x, tx, T, 1, out, &err), CT_EINVAL);
    f = make_fit(CT_BGNBD, bgp);
    assert_status(ct_clv_spend(&f, gx, gm, 2, out, &err), CT_EINVAL);
}

/* The pmf and the expectation are independent formulas: E[X(t)] must equal
 * sum_j j P(X(t) = j) (truncated where the tail is < 1e-12). */
static void test_pmf_consistency(void **state)
{
    ct_error err;
    (void)state;
    const struct {
        ct_clv_model m;
        double p[4];
        double t;
    } cases[] = {{CT_BGNBD, {0.243, 4.414, 0.793, 2.426}, 39},
                 {CT_MBGNBD, {0.525, 6.183, 0.891, 1.614}, 39},
                 {CT_PARETO, {0.55, 10.58, 0.61, 11.67}, 39},
                 {CT_PARETO, {2.0, 30.0, 0.5, 2.0}, 20},
                 {CT_BGBB, {1.204, 0.750, 0.657, 2.783}, 6}};
    enum { J = 400 };
    static double pmf[J];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ct_fit f = make_fit(cases[k].m, cases[k].p);
        double ex, mean = 0, tot = 0;
        assert_status(ct_clv_count_pmf(&f, cases[k].t, J, pmf, &err), CT_OK);
        for (size_t j = 0; j + 1 < J; j++) {
            assert_true(pmf[j] >= 0);
            mean += (double)j * pmf[j];
            tot += pmf[j];
        }
        assert_true(pmf[J - 1] < 1e-10); /* the tail beyond J-2 */
        assert_close(tot, 1.0, 1e-9);
        assert_status(ct_clv_expected_new(&f, cases[k].t, &ex, &err), CT_OK);
        if (!(fabs(mean - ex) <= 1e-7 * ex)) {
            fail_msg("%s: sum j P(j) = %.12g, E[X(t)] = %.12g", ct_clv_model_name(cases[k].m),
                     mean, ex);
        }
    }
}

static void test_threads_bit_identical(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    (void)state;
    ct_synth_opts_init(&o);
    o.n = 60000;
    o.cohort = 20;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    const ct_clv_model models[3] = {CT_BGNBD, CT_PARETO, CT_GAMMAGAMMA};
    const double p[3][4] = {{0.3, 4, 0.8, 2.4}, {0.5, 9, 0.7, 10}, {6, 3.7, 15, 0}};
    for (int k = 0; k < 3; k++) {
        ct_clv_data *d;
        double l1, l3, g1[4], g3[4];
        assert_status(ct_clv_data_new(&d, models[k], &c, "synth", &err), CT_OK);
        assert_true(ct_clv_data_rows(d) > 8192); /* several blocks */
        assert_status(ct_clv_loglik(d, p[k], &l1, g1, 1, &err), CT_OK);
        assert_status(ct_clv_loglik(d, p[k], &l3, g3, 3, &err), CT_OK);
        assert_memory_equal(&l1, &l3, sizeof l1);
        assert_memory_equal(g1, g3, ct_clv_nparams(models[k]) * sizeof(double));
        ct_clv_data_free(d);
    }
    ct_customers_free(&c);
}

/* Simulated customers from known parameters: every estimate within 3
 * standard errors of the truth (a false alarm for one of 4 parameters about
 * 1% of the time; seeds are fixed, so the outcome is deterministic).
 * Calibration check behind this (30 seeds, Pareto/NBD r .55 alpha 10.58
 * s .61 beta 11.67, 100k customers, T 78, cohort 12): z = (est - truth)/SE
 * had mean -0.4..0.26 and sd 0.91..1.2 per parameter, so the estimator is
 * unbiased and the Hessian SEs are right; that study's seed 31 gave
 * z(s) = -3.3, a 1-in-1000 draw, so it is not used here. */
static void recover(ct_synth_model sm, ct_clv_model cm, const double *truth, double T,
                    double cohort, uint64_t seed)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    ct_clv_data *d;
    ct_fit f;
    ct_synth_opts_init(&o);
    o.model = sm;
    o.n = 100000;
    o.r = truth[0];
    o.alpha = truth[1];
    o.a = truth[2];
    o.b = truth[3];
    o.T = T;
    o.cohort = cohort;
    o.seed = seed;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    assert_status(ct_clv_data_new(&d, cm, &c, "synth", &err), CT_OK);
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    fo.starts = 1;
    assert_status(ct_clv_fit(d, &fo, &f, &err), CT_OK);
    for (size_t j = 0; j < 4; j++) {
        if (!(fabs(f.par[j] - truth[j]) <= 3 * f.se[j])) {
            fail_msg("%s seed %llu: %s = %.5g +- %.3g, truth %.5g", ct_clv_model_name(cm),
                     (unsigned long long)seed, ct_clv_param_name(cm, j), f.par[j], f.se[j],
                     truth[j]);
        }
    }
    ct_clv_data_free(d);
    ct_customers_free(&c);
}

static int skip_slow(void)
{
    const char *v = getenv("CT_SKIP_SLOW");
    if (v != NULL && v[0] == '1') {
        printf("SKIP: parameter recovery (CT_SKIP_SLOW=1, e.g. under valgrind)\n");
        return 1;
    }
    return 0;
}

static void test_recovery_bgnbd(void **state)
{
    (void)state;
    if (skip_slow()) {
        skip();
    }
    const double a[4] = {0.243, 4.414, 0.793, 2.426};
    const double b[4] = {1.5, 10.0, 2.5, 6.0};
    recover(CT_SYNTH_BGNBD, CT_BGNBD, a, 52, 0, 21);
    recover(CT_SYNTH_BGNBD, CT_BGNBD, b, 78, 26, 22);
}

static void test_recovery_pareto(void **state)
{
    (void)state;
    if (skip_slow()) {
        skip();
    }
    const double a[4] = {0.55, 10.58, 0.61, 11.67};
    /* far-apart alpha and beta: the 2F1 argument is near 1 at small t */
    const double b[4] = {2.0, 30.0, 0.5, 2.0};
    const double c[4] = {0.8, 1.0, 2.0, 60.0};
    recover(CT_SYNTH_PARETO, CT_PARETO, a, 78, 12, 34);
    recover(CT_SYNTH_PARETO, CT_PARETO, b, 52, 0, 32);
    recover(CT_SYNTH_PARETO, CT_PARETO, c, 52, 26, 33);
}

/* The analytic Hessian (BG/NBD, MBG/NBD, Gamma-Gamma; the others' central
 * differences) against central differences of the analytic gradient, at
 * points around p: 1e-5 of the entry's scale sqrt(|H_ii H_jj|) (the
 * differences' truncation error is ~1e-10 relative, their rounding
 * ~eps |gradient| / h ~1e-9). */
static void check_hessian(ct_clv_model m, const ct_customers *c, const double *center)
{
    ct_error err;
    ct_clv_data *d;
    size_t k = ct_clv_nparams(m);
    ct_rng *g = ct_rng_new(12, (uint64_t)m);
    assert_status(ct_clv_data_new(&d, m, c, "test", &err), CT_OK);
    for (int trial = 0; trial < 4; trial++) {
        double p[4], grad[4], H[16], ll, ll2;
        for (size_t j = 0; j < k; j++) {
            p[j] = center[j] * exp(ct_rng_uniform(g) - 0.5);
        }
        assert_status(clv_loglik_h(d, p, &ll, grad, H, 0, &err), CT_OK);
        assert_status(ct_clv_loglik(d, p, &ll2, NULL, 0, &err), CT_OK);
        assert_rel(ll, ll2, 1e-14);
        for (size_t j = 0; j < k; j++) {
            double pp[4], pm[4], gp[4], gm[4], h = 1e-5 * p[j];
            memcpy(pp, p, sizeof pp);
            memcpy(pm, p, sizeof pm);
            pp[j] += h;
            pm[j] -= h;
            assert_status(ct_clv_loglik(d, pp, &ll2, gp, 0, &err), CT_OK);
            assert_status(ct_clv_loglik(d, pm, &ll2, gm, 0, &err), CT_OK);
            for (size_t i = 0; i < k; i++) {
                double fd = (gp[i] - gm[i]) / (2 * h);
                double scale = sqrt(fabs(H[i * k + i] * H[j * k + j]));
                if (!(fabs(fd - H[i * k + j]) <= 1e-5 * scale)) {
                    fail_msg("%s d2/d%s d%s at trial %d: analytic %.10g, numeric %.10g",
                             ct_clv_model_name(m), ct_clv_param_name(m, i),
                             ct_clv_param_name(m, j), trial, H[i * k + j], fd);
                }
            }
        }
    }
    ct_clv_data_free(d);
    ct_rng_free(g);
}

static void test_hessians(void **state)
{
    ct_customers c;
    ct_error err;
    ct_synth_opts o;
    (void)state;
    const double bg[4] = {0.243, 4.414, 0.793, 2.426};
    const double pn[4] = {0.55, 10.58, 0.61, 11.67};
    const double gg[3] = {6.25, 3.74, 15.44};
    /* CDNOW: weekly times that collapse (the per-value tables) */
    load_summary("cdnow_customers_summary_with_transactions.csv", &c);
    check_hessian(CT_BGNBD, &c, bg);
    check_hessian(CT_MBGNBD, &c, bg);
    check_hessian(CT_PARETO, &c, pn);
    check_hessian(CT_GAMMAGAMMA, &c, gg);
    ct_customers_free(&c);
    /* continuous times (no tables: every row's own logarithms) */
    ct_synth_opts_init(&o);
    o.n = 20000;
    o.T = 78;
    o.cohort = 52;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    check_hessian(CT_BGNBD, &c, bg);
    check_hessian(CT_MBGNBD, &c, bg);
    check_hessian(CT_GAMMAGAMMA, &c, gg);
    /* Pareto/NBD: F(x, T) integrated down runs of neighbouring T (short
     * gaps: the 2-point rule), F(x, t_x) from the pairs' table */
    check_hessian(CT_PARETO, &c, pn);
    check_gradient(CT_PARETO, &c, pn);
    ct_customers_free(&c);
}

/* log F(x, t) = log int_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du by the
 * closed form's series (every term positive; z <= 0.5 here). */
static double ref_logF(const double *p, double x, double t)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double a = r + x, b = s + 1, c = a + b;
    const double W = fmax(al, be) + t, z = fabs(al - be) / W, B = al >= be ? b : a;
    double term = 1, sum = 1;
    for (int k = 0; k < 10000 && term > 1e-18 * sum; k++) {
        term *= (B + k) * (c - 1 + k) / ((c + k) * (k + 1)) * z;
        sum += term;
    }
    return -(c - 1) * log(W) - log(c - 1) + log(sum);
}

/* Pareto/NBD's lnL on dense continuous times (neighbouring T 1e-4 to 1e-2
 * apart: the 2-point Gauss-Legendre panels, runs over several row blocks)
 * against the closed form row by row, to 1e-12 relative; and the rows in
 * another order give the same bits. */
static void test_pareto_dense_times(void **state)
{
    enum { N = 30000 };
    ct_error err;
    ct_customers c;
    ct_clv_data *d;
    (void)state;
    double *x = malloc(N * sizeof *x), *tx = malloc(N * sizeof *tx), *T = malloc(N * sizeof *T);
    assert_non_null(x);
    assert_non_null(tx);
    assert_non_null(T);
    const double P[2][4] = {{0.55, 10.58, 0.61, 11.67}, {1.2, 20.0, 0.4, 8.0}};
    for (int q = 0; q < 2; q++) {
        const double *p = P[q];
        double ref = 0;
        for (size_t i = 0; i < N; i++) {
            size_t j = (i * 7919) % N; /* rows out of order */
            x[i] = (double)(j % 5 == 0 ? 0 : j % 7);
            T[i] = 40.0 + 1e-4 * (double)j * (1.0 + (double)(j % 3));
            tx[i] = x[i] == 0 ? 0 : T[i] * (0.1 + 0.8 * (double)(j % 11) / 10.0);
            double rx = p[0] + x[i], al = p[1], s = p[2], be = p[3];
            double lnC = lgamma(rx) - lgamma(p[0]) + p[0] * log(al);
            double a1 = -rx * log(al + T[i]) + s * log(be / (be + T[i]));
            double F1 = exp(ref_logF(p, x[i], tx[i]) - a1), F2 = exp(ref_logF(p, x[i], T[i]) - a1);
            ref += lnC + a1 + log1p(s * pow(be, s) * (F1 - F2));
        }
        c = columns(N, x, tx, T, NULL);
        double ll, ll2;
        assert_status(ct_clv_data_new(&d, CT_PARETO, &c, "dense", &err), CT_OK);
        assert_status(ct_clv_loglik(d, p, &ll, NULL, 1, &err), CT_OK);
        ct_clv_data_free(d);
        printf("  pareto dense times, params %d: lnL %.12f vs closed form %.12f (rel %.1e)\n", q,
               ll, ref, fabs(ll - ref) / fabs(ref));
        assert_rel(ll, ref, 1e-12);
        /* reversed customer order: the same bits, with 2 threads */
        for (size_t i = 0; i < N / 2; i++) {
            double t;
            t = x[i], x[i] = x[N - 1 - i], x[N - 1 - i] = t;
            t = tx[i], tx[i] = tx[N - 1 - i], tx[N - 1 - i] = t;
            t = T[i], T[i] = T[N - 1 - i], T[N - 1 - i] = t;
        }
        assert_status(ct_clv_data_new(&d, CT_PARETO, &c, "dense", &err), CT_OK);
        assert_status(ct_clv_loglik(d, p, &ll2, NULL, 2, &err), CT_OK);
        ct_clv_data_free(d);
        assert_true(memcmp(&ll, &ll2, sizeof ll) == 0);
    }
    free(x);
    free(tx);
    free(T);
}

/* Large data start from a subsample's optimum: the same optimum as the full
 * search (lnL within 1e-10 relative, estimates 1e-5, standard errors 1e-4:
 * both stop at |gradient| < 1e-7, which bounds the estimates' distance by
 * ~1e-7 / curvature), in a handful of passes over all rows. */
static void test_subsample_start(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    (void)state;
    if (skip_slow()) {
        skip();
    }
    ct_synth_opts_init(&o);
    o.n = 120000;
    o.T = 104;
    o.cohort = 78;
    o.seed = 5;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    const ct_clv_model models[3] = {CT_BGNBD, CT_MBGNBD, CT_GAMMAGAMMA};
    for (int k = 0; k < 3; k++) {
        ct_clv_data *d;
        ct_fit fast, full;
        ct_fit_opts fo;
        ct_fit_opts_init(&fo);
        assert_status(ct_clv_data_new(&d, models[k], &c, "synth", &err), CT_OK);
        assert_status(ct_clv_fit(d, &fo, &fast, &err), CT_OK);
        fo.full_search = 1;
        assert_status(ct_clv_fit(d, &fo, &full, &err), CT_OK);
        assert_true(fast.sub_rows >= 10000 && fast.sub_rows < 20000);
        assert_int_equal(full.sub_rows, 0);
        assert_false(fast.fallback);
        assert_true(fast.nevals <= 12);
        assert_true(full.nevals > 3 * fast.nevals);
        assert_rel(fast.ll, full.ll, 1e-10);
        for (size_t j = 0; j < fast.k; j++) {
            assert_rel(fast.par[j], full.par[j], 1e-5);
            assert_rel(fast.se[j], full.se[j], 1e-4);
        }
        ct_clv_data_free(d);
    }
    ct_customers_free(&c);
}

/* The rows are collapsed and sorted, so the order of the customers changes
 * no bit of the likelihood: rows that collapse (CDNOW, hashed) and rows that
 * do not (continuous times: hashing gives up, radix sort and merge). */
static void reverse_rows(ct_customers *c)
{
    double *cols[4] = {c->x, c->t_x, c->T, c->m};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; cols[k] != NULL && i < c->n / 2; i++) {
            double t = cols[k][i];
            cols[k][i] = cols[k][c->n - 1 - i];
            cols[k][c->n - 1 - i] = t;
        }
    }
}

static void check_order_free(const ct_customers *c, ct_clv_model m, const double *p)
{
    ct_error err;
    ct_clv_data *d1, *d2;
    ct_customers r = *c;
    double l1, l2, g1[4], g2[4];
    size_t n = c->n;
    r.x = malloc(n * sizeof(double));
    r.t_x = malloc(n * sizeof(double));
    r.T = malloc(n * sizeof(double));
    r.m = c->m != NULL ? malloc(n * sizeof(double)) : NULL;
    assert_non_null(r.x);
    memcpy(r.x, c->x, n * sizeof(double));
    memcpy(r.t_x, c->t_x, n * sizeof(double));
    memcpy(r.T, c->T, n * sizeof(double));
    if (r.m != NULL) {
        memcpy(r.m, c->m, n * sizeof(double));
    }
    reverse_rows(&r);
    assert_status(ct_clv_data_new(&d1, m, c, "a", &err), CT_OK);
    assert_status(ct_clv_data_new(&d2, m, &r, "b", &err), CT_OK);
    assert_int_equal(ct_clv_data_rows(d1), ct_clv_data_rows(d2));
    assert_status(ct_clv_loglik(d1, p, &l1, g1, 2, &err), CT_OK);
    assert_status(ct_clv_loglik(d2, p, &l2, g2, 2, &err), CT_OK);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(g1, g2, ct_clv_nparams(m) * sizeof(double));
    ct_clv_data_free(d1);
    ct_clv_data_free(d2);
    free(r.x);
    free(r.t_x);
    free(r.T);
    free(r.m);
}

static void test_row_order_free(void **state)
{
    ct_customers c;
    ct_error err;
    ct_synth_opts o;
    (void)state;
    const double bg[4] = {0.243, 4.414, 0.793, 2.426};
    const double pn[4] = {0.55, 10.58, 0.61, 11.67};
    load_summary("cdnow_customers_summary_with_transactions.csv", &c);
    check_order_free(&c, CT_BGNBD, bg);
    check_order_free(&c, CT_PARETO, pn);
    ct_customers_free(&c);
    ct_synth_opts_init(&o);
    o.n = 150000;
    o.T = 78;
    o.cohort = 52;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    /* a share of repeated rows, so the merge after the sort has work */
    for (size_t i = 0; i < c.n; i += 7) {
        c.x[i] = 0;
        c.t_x[i] = 0;
        c.T[i] = 78;
    }
    check_order_free(&c, CT_BGNBD, bg);
    check_order_free(&c, CT_MBGNBD, bg);
    ct_customers_free(&c);
}

/* Customers on a grid: each x of xs with T from 0.01 to 5000 (40 values,
 * geometric), t_x = share T (0 when x = 0), m = 1. */
static void grid_customers(ct_customers *g, const double *xs, size_t nx, double share)
{
    memset(g, 0, sizeof *g);
    g->n = nx * 40;
    g->x = malloc(g->n * sizeof(double));
    g->t_x = malloc(g->n * sizeof(double));
    g->T = malloc(g->n * sizeof(double));
    g->m = malloc(g->n * sizeof(double));
    assert_true(g->x != NULL && g->t_x != NULL && g->T != NULL && g->m != NULL);
    for (size_t i = 0; i < g->n; i++) {
        g->x[i] = xs[i / 40];
        g->T[i] = 0.01 * pow(5e5, (double)(i % 40) / 39.0);
        g->t_x[i] = g->x[i] > 0 ? share * g->T[i] : 0;
        g->m[i] = 1;
    }
}

/* E[Y(52)] of one customer (ct_clv_expected) and the discounted sum of its
 * 52 period increments at 1% a period, exactly (no interpolation). */
static void exact_horizon(const ct_fit *f, double x, double tx, double T, double *e, double *d)
{
    ct_error err;
    double prev = 0, acc = 0;
    assert_status(ct_clv_expected(f, &x, &tx, &T, 1, 52, e, &err), CT_OK);
    for (int k = 1; k <= 52; k++) {
        double ek = clv_expected1(f, x, tx, T, k);
        acc += (ek - prev) / pow(1.01, k);
        prev = ek;
    }
    *d = acc;
}

/* score's interpolation in T (BG/NBD family, x held by many rows) against
 * the exact per-customer values: E[Y(52)] from ct_clv_expected and the
 * discounted sum of its period increments, to 1e-11 relative (the
 * interpolant is checked to 1e-13 of its scale when built). */
static void test_score_interpolation(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    (void)state;
    ct_synth_opts_init(&o);
    o.n = 40000;
    o.T = 104;
    o.cohort = 78;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    for (int mbg = 0; mbg < 2; mbg++) {
        ct_fit f;
        ct_scores sc;
        memset(&f, 0, sizeof f);
        f.model = mbg ? CT_MBGNBD : CT_BGNBD;
        f.k = 4;
        f.par[0] = 0.243;
        f.par[1] = 4.414;
        f.par[2] = 0.793;
        f.par[3] = 2.426;
        assert_status(ct_clv_score(&f, NULL, &c, 52, 0.01, 2, &sc, &err), CT_OK);
        for (size_t i = 0; i < c.n; i += 97) {
            double e, acc;
            exact_horizon(&f, c.x[i], c.t_x[i], c.T[i], &e, &acc);
            assert_rel(sc.exp_purchases[i], e, 1e-11);
            assert_rel(sc.clv[i], c.m[i] * acc, 1e-11);
        }
        ct_scores_free(&sc);
        /* every piece of the interpolant: T from 0.01 to 5000 (y = alpha /
         * (alpha + T) from 1 down to 0.0009), x from 0 to 63 */
        ct_customers g;
        double xs[64];
        for (int j = 0; j < 64; j++) {
            xs[j] = j;
        }
        grid_customers(&g, xs, 64, 0.6);
        assert_status(ct_clv_score(&f, NULL, &g, 52, 0.01, 2, &sc, &err), CT_OK);
        for (size_t i = 0; i < g.n; i += 3) {
            double e, acc;
            exact_horizon(&f, g.x[i], g.t_x[i], g.T[i], &e, &acc);
            /* 1e-13 of the largest value (at T = 0), relative to small values */
            assert_true(fabs(sc.exp_purchases[i] - e) <= 1e-11 * fmax(e, 1e-2));
            assert_true(fabs(sc.clv[i] - acc) <= 1e-11 * fmax(acc, 1e-2));
        }
        ct_scores_free(&sc);
        ct_customers_free(&g);
    }
    /* Pareto/NBD: one interpolant (x = 0) scaled by (r + x) / r serves every
     * x, any t_x: against the exact sums, x up to 300, T from 0.01 to 5000 */
    ct_fit f;
    ct_scores sc;
    memset(&f, 0, sizeof f);
    f.model = CT_PARETO;
    f.k = 4;
    memcpy(f.par, (double[4]){0.51, 11.16, 0.71, 28.62}, 4 * sizeof(double));
    ct_customers g;
    double xs[30];
    for (int j = 0; j < 30; j++) {
        xs[j] = floor(pow(300.0, j / 29.0)) - 1;
    }
    grid_customers(&g, xs, 30, 0.3);
    assert_status(ct_clv_score(&f, NULL, &g, 52, 0.01, 2, &sc, &err), CT_OK);
    for (size_t i = 0; i < g.n; i++) {
        double e, acc;
        exact_horizon(&f, g.x[i], g.t_x[i], g.T[i], &e, &acc);
        assert_rel(sc.exp_purchases[i], e, 1e-11);
        assert_rel(sc.clv[i], acc, 1e-11);
    }
    ct_scores_free(&sc);
    ct_customers_free(&g);
    ct_customers_free(&c);
}

/* Pareto/NBD's P(alive) in closed form (the 2F1 series of each branch,
 * where it converges fast) against the quadrature it replaced, over
 * parameters with alpha < beta, alpha > beta and alpha = beta, x up to 400,
 * T from 0.05 to 1000 and t_x across [0, T]: 1e-10 relative (the issue's
 * bound; seen: below 1e-11).  Most rows take the closed form. */
/* Pareto/NBD parameter sets: CDNOW's, beta > alpha, alpha >> beta, alpha = beta. */
static const double PARETO_SETS[4][4] = {{0.55, 10.58, 0.61, 11.67},
                                         {0.51, 11.16, 0.71, 28.62},
                                         {2.5, 40.0, 0.3, 2.0},
                                         {0.9, 7.0, 1.4, 7.0}};

static void test_pareto_p_alive_closed_form(void **state)
{
    (void)state;
    const double(*P)[4] = PARETO_SETS;
    double worst = 0;
    for (int q = 0; q < 4; q++) {
        for (int ix = 0; ix < 12; ix++) {
            double x = ix == 0 ? 0 : floor(pow(400.0, ix / 11.0));
            for (int iT = 0; iT < 15; iT++) {
                double T = 0.05 * pow(2e4, iT / 14.0);
                for (int it = 0; it <= 8; it++) {
                    double tx = x == 0 ? 0 : T * it / 8.0;
                    double a = clv_pareto_p_alive(P[q], x, tx, T);
                    double b = clv_pareto_p_alive_quad(P[q], x, tx, T);
                    double c = clv_pareto_p_alive_s00(P[q], clv_pareto_s00(P[q]), x, tx, T);
                    assert_true(isfinite(a) && a >= 0 && a <= 1);
                    /* score's shortcut for x = 0 (the series at t = 0 made
                     * once): the same up to rounding */
                    assert_true(fabs(c - a) <= 1e-14 * a);
                    double rel = fabs(a - b) / fmax(b, 1e-300);
                    worst = fmax(worst, rel);
                    if (rel > 1e-10) {
                        fail_msg("p %d x %g tx %g T %g: closed %.17g quadrature %.17g", q, x, tx,
                                 T, a, b);
                    }
                }
            }
        }
    }
    assert_true(worst < 1e-10);
}

/* BG/BB's intervals (forward differences through shifted scorers) on rows
 * that do not collapse: 70,000 distinct (x, t_x, n) are scored in place
 * (the first 2^16 show that they do not collapse), the first 1,000 alone
 * over their distinct rows: the same bits. */
static void test_bgbb_intervals_in_place(void **state)
{
    (void)state;
    enum { N = 70000, M = 1000 };
    ct_error err;
    ct_fit f = make_fit(CT_BGBB, (const double[4]){1.204, 0.750, 0.657, 2.783});
    for (size_t j = 0; j < 4; j++) {
        f.cov[j * 4 + j] = 0.0025 * f.par[j] * f.par[j];
    }
    double *x = malloc(3 * N * sizeof *x), *tx = x + N, *T = x + 2 * N;
    assert_non_null(x);
    /* distinct valid rows (x = t_x = 0, or 1 <= x <= t_x <= n), n ascending
     * from 1: 70,000 of them end near n = 75, so the likelihood's sums over
     * n - t_x stay short */
    size_t i = 0;
    for (double n = 1; i < N; n++) {
        for (double t = 0; t <= n && i < N; t++) {
            for (double k = t > 0; k <= t && i < N; k++, i++) {
                x[i] = k;
                tx[i] = t;
                T[i] = n;
            }
        }
    }
    ct_customers c;
    c = columns(N, x, tx, T, NULL);
    ct_scores all, part;
    assert_status(ct_clv_score_intervals(&f, NULL, &c, 5, 0.01, 0.9, 2, &all, &err), CT_OK);
    c.n = M;
    assert_status(ct_clv_score_intervals(&f, NULL, &c, 5, 0.01, 0.9, 2, &part, &err), CT_OK);
    const double *a[5] = {all.p_alive_lo, all.p_alive_hi, all.exp_purchases_lo,
                          all.exp_purchases_hi, all.clv};
    const double *b[5] = {part.p_alive_lo, part.p_alive_hi, part.exp_purchases_lo,
                          part.exp_purchases_hi, part.clv};
    for (int j = 0; j < 5; j++) {
        assert_memory_equal(a[j], b[j], M * sizeof(double));
    }
    assert_true(all.p_alive_lo[N - 1] < all.p_alive[N - 1] &&
                all.p_alive[N - 1] < all.p_alive_hi[N - 1]);
    ct_scores_free(&all);
    ct_scores_free(&part);
    free(x);
}

/* The delta method's gradient of logit P(alive) in the log-parameters, in
 * closed form (BG/NBD, MBG/NBD; Pareto/NBD through the series' derivative
 * sums), against central differences of the public P(alive) (h = 1e-5:
 * truncation ~1e-10, rounding ~1e-11), over the grid of
 * test_pareto_p_alive_closed_form; its P(alive) is the estimate's bits. */
static double logit(double p)
{
    return log(p / (1 - p));
}

static void test_p_alive_gradients(void **state)
{
    (void)state;
    const double(*P)[4] = PARETO_SETS;
    const double B[2][4] = {{0.243, 4.414, 0.793, 2.426}, {1.2, 30.0, 0.4, 5.0}};
    const double h = 1e-5;
    double worst = 0;
    int npareto = 0;
    for (int model = 0; model < 3; model++) {
        for (int q = 0; q < (model == 2 ? 4 : 2); q++) {
            const double *par = model == 2 ? P[q] : B[q];
            double s00d[4];
            clv_pareto_s00_d(par, s00d);
            clv_pareto_series *ps = malloc(sizeof *ps);
            assert_non_null(ps);
            clv_pareto_series_make(par, ps);
            for (int ix = 0; ix < 8; ix++) {
                double x = ix == 0 ? 0 : floor(pow(100.0, ix / 7.0));
                for (int iT = 0; iT < 9; iT++) {
                    double T = 0.5 * pow(1e3, iT / 8.0);
                    for (int it = 0; it < 4; it++) {
                        double tx = x == 0 ? 0 : T * it / 4.0, g[4], pa;
                        if (model == 2) {
                            if (clv_pareto_p_alive_grad(par, s00d, NULL, x, tx, T, &pa, g) != 0) {
                                continue; /* the quadrature's: differenced by the caller */
                            }
                            npareto++;
                            assert_true(pa == clv_pareto_p_alive_s00(par, s00d[0], x, tx, T));
                            /* the coefficient table: the same bits */
                            double pt, gt[4];
                            assert_int_equal(
                                clv_pareto_p_alive_grad(par, s00d, ps, x, tx, T, &pt, gt), 0);
                            assert_memory_equal(&pt, &pa, sizeof pa);
                            assert_memory_equal(gt, g, sizeof gt);
                            pt = clv_pareto_p_alive_tab(par, ps, x, tx, T);
                            assert_memory_equal(&pt, &pa, sizeof pa);
                        } else {
                            pa = clv_bg_p_alive_grad(par, model, x, tx, T, g);
                            assert_true(pa == clv_bg_p_alive(par, model, x, tx, T));
                        }
                        if (!(pa > 1e-12 && pa < 1 - 1e-9)) {
                            continue; /* logit not resolved by differences */
                        }
                        for (int j = 0; j < 4; j++) {
                            double pp[4], pm[4];
                            memcpy(pp, par, sizeof pp);
                            memcpy(pm, par, sizeof pm);
                            pp[j] *= exp(h);
                            pm[j] *= exp(-h);
                            double lp = model == 2 ? logit(clv_pareto_p_alive(pp, x, tx, T))
                                                   : logit(clv_bg_p_alive(pp, model, x, tx, T));
                            double lm = model == 2 ? logit(clv_pareto_p_alive(pm, x, tx, T))
                                                   : logit(clv_bg_p_alive(pm, model, x, tx, T));
                            double fd = (lp - lm) / (2 * h);
                            double err = fabs(g[j] - fd) / fmax(1, fabs(fd));
                            worst = fmax(worst, err);
                            if (err > 1e-6) {
                                fail_msg("model %d par %d x %g tx %g T %g j %d: %.12g, "
                                         "differences %.12g",
                                         model, q, x, tx, T, j, g[j], fd);
                            }
                        }
                    }
                }
            }
            free(ps);
        }
    }
    print_message("  worst gradient error %.2g (%d Pareto/NBD rows in closed form)\n", worst,
                  npareto);
    assert_true(npareto > 400);
}

/* score streams its input: a scorer (the interpolants made once) run over
 * blocks of the customers gives the bits of scoring them all at once, for
 * every purchase model, with and without the spend fit, with and without
 * delta-method intervals (the shifted fits' interpolants made once too). */
static void test_scorer_blocks(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    (void)state;
    ct_synth_opts_init(&o);
    /* continuous time: every customer its own row.  Blocks of 7 and 20,011
     * rows are scored over their distinct rows; all 150,000 at once and the
     * last block (130k) in place, in one pass with their intervals (the
     * first 2^16 rows show that they do not collapse): the same bits */
    o.n = 150000;
    o.T = 156;
    o.cohort = 104;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    ct_fit g;
    memset(&g, 0, sizeof g);
    g.model = CT_GAMMAGAMMA;
    g.k = 3;
    g.par[0] = 6.25;
    g.par[1] = 3.74;
    g.par[2] = 15.44;
    for (size_t j = 0; j < 3; j++) {
        g.cov[j * 3 + j] = 0.01 * g.par[j] * g.par[j];
    }
    const ct_clv_model M[3] = {CT_BGNBD, CT_MBGNBD, CT_PARETO};
    for (int mi = 0; mi < 3; mi++) {
        ct_fit f;
        memset(&f, 0, sizeof f);
        f.model = M[mi];
        f.k = 4;
        const double bg[4] = {0.243, 4.414, 0.793, 2.426}, pa[4] = {0.55, 10.58, 0.61, 11.67};
        memcpy(f.par, M[mi] == CT_PARETO ? pa : bg, sizeof bg);
        for (size_t j = 0; j < 4; j++) { /* 5 % standard errors, correlated */
            for (size_t q = 0; q < 4; q++) {
                f.cov[j * 4 + q] = (j == q ? 1.0 : 0.3) * 0.0025 * f.par[j] * f.par[q];
            }
        }
        for (int v = 0; v < 4; v++) {
            int withg = v & 1, iv = v >> 1;
            ct_scores all;
            const ct_fit *gg = withg ? &g : NULL;
            if (iv) {
                assert_status(ct_clv_score_intervals(&f, gg, &c, 39.5, 0.01, 0.9, 2, &all, &err),
                              CT_OK);
            } else {
                assert_status(ct_clv_score(&f, gg, &c, 39.5, 0.01, 2, &all, &err), CT_OK);
            }
            ct_clv_scorer *sc;
            assert_status(ct_clv_scorer_new(&f, gg, 39.5, 0.01, 2, &sc, &err), CT_OK);
            if (iv) {
                assert_status(ct_clv_scorer_intervals(sc, 0.9, &err), CT_OK);
            }
            const size_t cut[4] = {0, 7, 20011, c.n};
            for (int b = 0; b < 3; b++) {
                ct_customers part = c;
                part.n = cut[b + 1] - cut[b];
                part.x = c.x + cut[b];
                part.t_x = c.t_x + cut[b];
                part.T = c.T + cut[b];
                part.m = c.m + cut[b];
                ct_scores s;
                assert_status(ct_clv_scorer_run(sc, &part, &s, &err), CT_OK);
                assert_memory_equal(s.p_alive, all.p_alive + cut[b], part.n * sizeof(double));
                assert_memory_equal(s.exp_purchases, all.exp_purchases + cut[b],
                                    part.n * sizeof(double));
                assert_memory_equal(s.exp_spend, all.exp_spend + cut[b], part.n * sizeof(double));
                assert_memory_equal(s.clv, all.clv + cut[b], part.n * sizeof(double));
                const double *got[8] = {s.p_alive_lo,       s.p_alive_hi, s.exp_purchases_lo,
                                        s.exp_purchases_hi, s.clv_lo,     s.clv_hi,
                                        s.purchases_lo,     s.purchases_hi};
                const double *want[8] = {all.p_alive_lo,       all.p_alive_hi, all.exp_purchases_lo,
                                         all.exp_purchases_hi, all.clv_lo,     all.clv_hi,
                                         all.purchases_lo,     all.purchases_hi};
                for (int j = 0; j < 8; j++) {
                    assert_true((got[j] == NULL) == !iv && (want[j] == NULL) == !iv);
                    if (iv) {
                        assert_memory_equal(got[j], want[j] + cut[b], part.n * sizeof(double));
                    }
                }
                if (iv && b == 0) { /* the bounds are bounds, not copies of the estimate */
                    assert_true(s.clv_lo[0] < s.clv[0] && s.clv[0] < s.clv_hi[0]);
                }
                ct_scores_free(&s);
            }
            ct_clv_scorer_free(sc);
            ct_scores_free(&all);
        }
    }
    /* what ct_clv_score refuses, a scorer refuses when made */
    ct_clv_scorer *sc;
    assert_status(ct_clv_scorer_new(&g, NULL, 52, 0.01, 1, &sc, &err), CT_EINVAL);
    ct_fit f;
    memset(&f, 0, sizeof f);
    f.model = CT_BGNBD;
    f.k = 4;
    memcpy(f.par, (double[4]){0.243, 4.414, 0.793, 2.426}, 4 * sizeof(double));
    assert_status(ct_clv_scorer_new(&f, NULL, -1, 0.01, 1, &sc, &err), CT_EINVAL);
    ct_customers_free(&c);
}

static void test_bad_input(void **state)
{
    ct_error err;
    ct_customers c;
    ct_clv_data *d;
    (void)state;
    double x[3] = {1, 0, 2}, tx[3] = {5, 0, 7}, T[3] = {10, 10, 10}, m[3] = {5, 0, 3};
    memset(&c, 0, sizeof c);
    c.x = x;
    c.t_x = tx;
    c.T = T;
    c.n = 0;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "empty.h5", &err), CT_EDATA);
    c.n = 3;
    assert_status(ct_clv_data_new(&d, CT_GAMMAGAMMA, &c, "s.h5", &err), CT_EFORMAT);
    x[0] = 0;
    x[2] = 0;
    tx[0] = tx[2] = 0;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "every customer has x = 0"));
    c.m = m;
    assert_status(ct_clv_data_new(&d, CT_GAMMAGAMMA, &c, "s.h5", &err), CT_EDATA);
    x[0] = 1;
    tx[0] = 5;
    x[2] = -1;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "s.h5:3: customer row 3: x = -1"));
    x[2] = 1.5;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_EDATA);
    x[2] = 2;
    tx[2] = (double)NAN;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_EDATA);
    tx[2] = 11;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "t_x = 11 > T = 10"));
    tx[2] = 7;
    m[2] = -3;
    assert_status(ct_clv_data_new(&d, CT_GAMMAGAMMA, &c, "s.h5", &err), CT_EDATA);
    m[2] = 3;
    assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "s.h5", &err), CT_OK);
    double p[4] = {0.2, -1, 0.8, 2.4}, ll;
    assert_status(ct_clv_loglik(d, p, &ll, NULL, 0, &err), CT_EINVAL);
    ct_clv_data_free(d);
    /* BG/BB needs whole numbers */
    T[0] = 10.5;
    assert_status(ct_clv_data_new(&d, CT_BGBB, &c, "s.h5", &err), CT_EDATA);
}

static void says(const ct_error *err, const char *what)
{
    if (strstr(err->msg, what) == NULL) {
        fail_msg("error '%s' lacks '%s'", err->msg, what);
    }
}

/* What the prediction API refuses, and the message: negative or infinite
 * horizons, a DERT rate of 0, a BG/BB or Gamma-Gamma fit where a
 * continuous-time purchase fit is needed, covariates without each
 * customer's values, bad interval levels, jmax < 2, a spend fit that is
 * not Gamma-Gamma, spend without column m, a holdout without x_star. */
static void test_api_refusals(void **state)
{
    ct_error err;
    (void)state;
    const double pb[4] = {0.243, 4.414, 0.793, 2.426}, pg[3] = {6.25, 3.74, 15.44};
    const double pbb[4] = {1.2, 0.75, 0.66, 2.78};
    ct_fit f = make_fit(CT_BGNBD, pb), gg = make_fit(CT_GAMMAGAMMA, pg);
    ct_fit bb = make_fit(CT_BGBB, pbb);
    double x[2] = {2, 0}, tx[2] = {20, 0}, T[2] = {30, 30}, m[2] = {12, 0}, out[8];
    ct_customers c;
    c = columns(2, x, tx, T, NULL);
    assert_status(ct_clv_p_no_purchase(&f, x, tx, T, 2, -1, out, &err), CT_EINVAL);
    says(&err, "t = -1 must be >= 0");
    assert_status(ct_clv_p_alive_at(&f, x, tx, T, 2, (double)INFINITY, 1, out, &err), CT_EINVAL);
    assert_status(ct_clv_p_alive_at(&bb, x, tx, T, 2, 1, 1, out, &err), CT_EINVAL);
    says(&err, "needs a bgnbd, mbgnbd or pareto fit, not bgbb");
    assert_status(ct_clv_dert(&f, x, tx, T, 2, 0, 1, out, &err), CT_EINVAL);
    says(&err, "discount rate 0 must be > 0");
    assert_status(ct_clv_expected(&f, x, tx, T, 2, -2, out, &err), CT_EINVAL);
    assert_status(ct_clv_count_pmf(&f, 10, 1, out, &err), CT_EINVAL);
    says(&err, "jmax must be >= 2");
    assert_status(ct_clv_predict(&f, (ct_clv_pred)99, &c, 1, 1, out, &err), CT_EINVAL);
    assert_status(ct_clv_predict(&f, CT_PRED_P_ALIVE, &c, 0, 1, out, &err), CT_OK);
    /* a fit with covariates: each customer's covariates, in range */
    ct_fit fc = f;
    fc.ncoef = 1;
    assert_status(ct_clv_predict(&fc, CT_PRED_P_ALIVE, &c, 0, 1, out, &err), CT_EINVAL);
    says(&err, "its predictions need each customer's covariates");
    assert_status(ct_clv_p_alive_at(&fc, x, tx, T, 2, 1, 1, out, &err), CT_EINVAL);
    double z[2] = {0, 1};
    c.cov = z;
    assert_status(ct_clv_predict(&fc, CT_PRED_DERT, &c, 0, 1, out, &err), CT_EINVAL);
    says(&err, "discount rate 0 out of range");
    ct_fit bbc = bb;
    bbc.ncoef = 1;
    assert_status(ct_clv_predict(&bbc, CT_PRED_EXPECTED, &c, 1, 1, out, &err), CT_EINVAL);
    c.cov = NULL;
    /* scores: the spend fit, column m, the level, the discount rate */
    ct_scores sc;
    assert_status(ct_clv_score(&f, &gg, &c, 52, 0.1, 1, &sc, &err), CT_EFORMAT);
    says(&err, "spend predictions need column m");
    c.m = m;
    assert_status(ct_clv_score(&f, &bb, &c, 52, 0.1, 1, &sc, &err), CT_EINVAL);
    says(&err, "must be gammagamma, not bgbb");
    assert_status(ct_clv_score(&f, &gg, &c, 52, -0.1, 1, &sc, &err), CT_EINVAL);
    assert_status(ct_clv_score_intervals(&f, &gg, &c, 52, 0.1, 1.5, 1, &sc, &err), CT_EINVAL);
    says(&err, "interval level 1.5 must be in (0, 1)");
    assert_status(ct_clv_score_bootstrap(&f, &gg, &c, 52, 0.1, 0.9, 1, 1, 0, 1, &sc, &err),
                  CT_EINVAL);
    ct_clv_scorer *scr = NULL;
    assert_status(ct_clv_scorer_new(&fc, &gg, 52, 0.1, 1, &scr, &err), CT_EINVAL);
    assert_null(scr);
    /* validation tables */
    double e[4], o[4], a[4], b[4];
    assert_status(ct_clv_repeat_table(&f, &c, 1, e, o, &err), CT_EINVAL);
    assert_status(ct_clv_holdout_table(&f, &c, 10, 4, e, o, a, &err), CT_EFORMAT);
    double xs[2] = {1, 0};
    c.x_star = xs;
    assert_status(ct_clv_holdout_table(&f, &c, 10, 1, e, o, a, &err), CT_EINVAL);
    assert_status(ct_clv_calibration(&f, &c, 0, 4, e, o, a, b, &err), CT_EINVAL);
    says(&err, "calibration needs bins >= 1 and a holdout > 0 periods");
    c.x_star = NULL;
    assert_status(ct_clv_calibration(&f, &c, 10, 4, e, o, a, b, &err), CT_EFORMAT);
    int8_t grp[2] = {0, 1};
    double tot[2], lo[2], hi[2];
    assert_status(ct_clv_group_clv(&f, &gg, &c, 52, 0.1, grp, 2, 0, 1, tot, lo, hi, &err),
                  CT_EINVAL);
    c.m = NULL;
    assert_status(ct_clv_group_clv(&f, &gg, &c, 52, 0.1, grp, 2, 0.9, 1, tot, lo, hi, &err),
                  CT_EFORMAT);
}

static void test_fit_storage_and_scores(void **state)
{
    char path[512];
    ct_error err;
    ct_customers c;
    ct_fit f, g, f2, g2;
    ct_file *fh;
    (void)state;
    load_summary("cdnow_customers_summary_with_transactions.csv", &c);
    fit_model(CT_BGNBD, &c, &f);
    fit_model(CT_GAMMAGAMMA, &c, &g);
    tu_path(path, sizeof path, "fit.h5");
    assert_status(ct_file_create(&fh, path, NULL, &err), CT_OK);
    assert_status(ct_fit_write(fh, &f, &err), CT_OK);
    assert_status(ct_fit_write(fh, &g, &err), CT_OK);
    assert_status(ct_file_commit(fh, &err), CT_OK);
    assert_status(ct_file_open(&fh, path, &err), CT_OK);
    assert_status(ct_fit_read(fh, "bgnbd", &f2, &err), CT_OK);
    assert_status(ct_fit_read(fh, "gammagamma", &g2, &err), CT_OK);
    assert_status(ct_fit_read(fh, "pareto", &g2, &err), CT_EFORMAT);
    ct_file_close(fh);
    assert_memory_equal(f.par, f2.par, f.k * sizeof f.par[0]);
    assert_true(f2.ll == f.ll && f2.converged == 1 && f2.nobs == 2357);

    /* undiscounted CLV telescopes to E[M] * E[Y(H)] */
    ct_scores s, s2;
    assert_status(ct_clv_score(&f, &g, &c, 52, 0.0, 1, &s, &err), CT_OK);
    for (size_t i = 0; i < c.n; i++) {
        assert_close(s.clv[i], s.exp_spend[i] * s.exp_purchases[i], 1e-9 * (1 + s.clv[i]));
        assert_true(s.p_alive[i] > 0 && s.p_alive[i] <= 1);
    }
    assert_status(ct_clv_score(&f, &g, &c, 52, 0.01, 3, &s2, &err), CT_OK);
    double tot = 0, tot2 = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_true(s2.clv[i] <= s.clv[i]);
        assert_true(s2.p_alive[i] == s.p_alive[i]);
        tot += s.clv[i];
        tot2 += s2.clv[i];
    }
    assert_true(tot2 < tot && tot2 > 0.7 * tot);
    ct_scores_free(&s);
    ct_scores_free(&s2);
    /* without a spend fit, E[M] is the customer's own m */
    assert_status(ct_clv_score(&f, NULL, &c, 10, 0.0, 0, &s, &err), CT_OK);
    for (size_t i = 0; i < c.n; i++) {
        assert_true(s.exp_spend[i] == c.m[i]);
    }
    ct_scores_free(&s);
    assert_status(ct_clv_score(&g, NULL, &c, 10, 0.0, 0, &s, &err), CT_EINVAL);
    assert_status(ct_clv_score(&f, &g, &c, -1, 0.0, 0, &s, &err), CT_EINVAL);
    ct_customers_free(&c);
}

/* CDNOW's 1/10th sample, weeks, calibrated to 1997-09-30 (the 39-week split
 * of Fader, Hardie & Lee 2005), ingested into `name`. */
static void load_cdnow_split(const char *name, ct_customers *c)
{
    char csv[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    ct_file *fh;
    tu_data(csv, sizeof csv, "CDNOW_sample.txt");
    tu_path(out, sizeof out, name);
    ct_ingest_opts_init(&o);
    o.header = 0;
    o.id_col = "2";
    o.date_col = "3";
    o.amount_col = "5";
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(1997, 9, 30);
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_OK);
    assert_status(ct_file_open(&fh, out, &err), CT_OK);
    assert_status(ct_customers_read(fh, "/customers", c, &err), CT_OK);
    ct_file_close(fh);
}

static void test_validation_tables(void **state)
{
    ct_error err;
    ct_customers c;
    ct_fit f;
    (void)state;
    load_cdnow_split("cdnow_val.h5", &c);
    fit_model(CT_BGNBD, &c, &f);
    double e[8], ob[8], cnt[8], act[8], pred[8];
    assert_status(ct_clv_repeat_table(&f, &c, 8, e, ob, &err), CT_OK);
    double se = 0, so = 0;
    for (int j = 0; j < 8; j++) {
        se += e[j];
        so += ob[j];
    }
    assert_close(se, 2357, 1e-6);
    assert_true(so == 2357 && ob[0] == 1411);
    /* FHL (2005a, fig. 2): the fit tracks the histogram; zero buyers within 2% */
    assert_true(fabs(e[0] - ob[0]) < 0.02 * ob[0]);
    assert_status(ct_clv_holdout_table(&f, &c, 39, 8, cnt, act, pred, &err), CT_OK);
    double tot_a = 0, tot_p = 0;
    for (int j = 0; j < 8; j++) {
        tot_a += cnt[j] * act[j];
        tot_p += cnt[j] * pred[j];
    }
    double xs = 0;
    for (size_t i = 0; i < c.n; i++) {
        xs += c.x_star[i];
    }
    assert_close(tot_a, xs, 1e-6);
    /* 1,882 holdout purchase days (recounted with pandas); lifetimes' BG/NBD
     * fitted to the same summary forecasts 1653.4087 of them (its estimates
     * differ from ours in the 5th digit, so allow 0.05%). */
    assert_close(tot_a, 1882, 1e-9);
    assert_close(tot_p, 1653.4087, 1653.4087 * 5e-4);
    ct_customers_free(&c);
}

/* P(no purchase in the next t periods): for a brand-new customer it is the
 * model's own P(X(t) = 0) (ct_clv_count_pmf, a separate closed form; for
 * Pareto/NBD an independent check of the quadrature); it is 1 at t = 0 and
 * falls with t; and over CDNOW's 39-week holdout, summed over customers, it
 * forecasts the number with no holdout purchase. */
static void test_p_no_purchase(void **state)
{
    ct_error err;
    ct_customers c;
    (void)state;
    load_cdnow_split("cdnow_p0.h5", &c);
    const ct_clv_model M[3] = {CT_BGNBD, CT_MBGNBD, CT_PARETO};
    double zero = 0;
    for (size_t i = 0; i < c.n; i++) {
        zero += c.x_star[i] == 0;
    }
    for (int k = 0; k < 3; k++) {
        ct_fit f;
        fit_model(M[k], &c, &f);
        const double z = 0;
        for (double t = 1; t <= 80; t *= 3) {
            double p0, pmf[4];
            assert_status(ct_clv_p_no_purchase(&f, &z, &z, &z, 1, t, &p0, &err), CT_OK);
            assert_status(ct_clv_count_pmf(&f, t, 4, pmf, &err), CT_OK);
            assert_rel(p0, pmf[0], 1e-9);
        }
        double *p0 = malloc(c.n * sizeof *p0), *p1 = malloc(c.n * sizeof *p1), sum = 0;
        assert_status(ct_clv_p_no_purchase(&f, c.x, c.t_x, c.T, c.n, 0, p0, &err), CT_OK);
        for (size_t i = 0; i < c.n; i++) {
            assert_true(p0[i] == 1.0);
        }
        assert_status(ct_clv_p_no_purchase(&f, c.x, c.t_x, c.T, c.n, 20, p1, &err), CT_OK);
        assert_status(ct_clv_p_no_purchase(&f, c.x, c.t_x, c.T, c.n, 39, p0, &err), CT_OK);
        for (size_t i = 0; i < c.n; i++) {
            assert_true(p0[i] > 0 && p0[i] <= p1[i] && p1[i] < 1);
            sum += p0[i];
        }
        double fc = 0;
        assert_status(ct_clv_expected(&f, c.x, c.t_x, c.T, c.n, 39, p1, &err), CT_OK);
        for (size_t i = 0; i < c.n; i++) {
            fc += p1[i];
        }
        printf("  %s: sum P0(39) = %.1f, customers without a holdout purchase %.0f; "
               "forecast purchases %.1f, actual 1882\n",
               ct_clv_model_name(M[k]), sum, zero, fc);
        /* A direction, not a known answer (the exact checks are above): the
         * models forecast the holdout's 1,882 purchases 11-16% low, so they
         * see more customers without a purchase than the 1,673 observed
         * (BG/NBD 1,740, MBG/NBD 1,791, Pareto/NBD 1,834). */
        assert_true(fc < 1882 && sum > zero && sum < 1.15 * zero);
        free(p0);
        free(p1);
    }
    /* Pareto/NBD against lifetimes 0.11.3's conditional_probability_of_n_
     * purchases_up_to_time(0, ...) (Fader & Hardie note 028, eq. 16: a
     * closed form with 2F1 terms), CDNOW's published parameters. */
    static const double REF[5][5] = {{0, 0.00, 38.86, 39, 0.930754280216534},
                                     {2, 30.43, 38.86, 39, 0.408095282359161},
                                     {7, 35.00, 38.86, 10, 0.325660533410251},
                                     {1, 5.00, 20.00, 52, 0.657852423160731},
                                     {15, 37.00, 38.00, 4, 0.315246139145493}};
    ct_fit g;
    memset(&g, 0, sizeof g);
    g.model = CT_PARETO;
    g.k = 4;
    g.par[0] = 0.5534;
    g.par[1] = 10.5802;
    g.par[2] = 0.6061;
    g.par[3] = 11.6562;
    for (int i = 0; i < 5; i++) {
        double p0;
        assert_status(
            ct_clv_p_no_purchase(&g, &REF[i][0], &REF[i][1], &REF[i][2], 1, REF[i][3], &p0, &err),
            CT_OK);
        assert_rel(p0, REF[i][4], 1e-9);
    }
    ct_customers_free(&c);
    memset(&g, 0, sizeof g);
    g.model = CT_GAMMAGAMMA;
    double one = 1, p0;
    assert_status(ct_clv_p_no_purchase(&g, &one, &one, &one, 1, 1, &p0, &err), CT_EINVAL);
}

/* Issue 11: an entry point that reaches GSL without a fit first (the report
 * path: a stored fit, then predictions) must switch GSL's aborting handler
 * off itself.  Runs first, in a process where nothing else has run yet. */
static void test_gsl_handler_off_without_fit(void **state)
{
    (void)state;
    ct_fit f;
    memset(&f, 0, sizeof f);
    f.model = CT_PARETO;
    f.k = 4;
    f.par[0] = 0.55;
    f.par[1] = 10.58;
    f.par[2] = 0.61;
    f.par[3] = 11.67;
    double pmf[4];
    ct_error err;
    assert_int_equal(ct_clv_count_pmf(&f, 39.0, 4, pmf, &err), CT_OK);
    /* the handler in force is GSL's "off" one, not the default (NULL), which aborts */
    gsl_error_handler_t *prev = gsl_set_error_handler_off();
    assert_non_null(prev);
}

/* ct_clv_choose's rule on hand-made candidates: the smallest BIC among the
 * models within one standard error of the best holdout MSE; BG/BB only on
 * holdout MSE; failures skipped; none left -> the first failure. */
static ct_clv_candidate cand(ct_clv_model m, double bic, double mse, double se)
{
    ct_clv_candidate c;
    memset(&c, 0, sizeof c);
    c.model = m;
    c.status = CT_OK;
    c.fit.bic = bic;
    c.mse = mse;
    c.mse_se = se;
    return c;
}

static void test_model_choice_rule(void **state)
{
    (void)state;
    ct_error err;
    size_t b = 99;
    ct_clv_candidate c[4] = {cand(CT_BGNBD, 100, 2.00, 0.05), cand(CT_MBGNBD, 90, 2.10, 0.05),
                             cand(CT_PARETO, 95, 1.98, 0), cand(CT_BGBB, 10, 3.0, 0.5)};
    /* no holdout: the smallest BIC, BG/BB not compared */
    assert_int_equal(ct_clv_choose(c, 4, 0, &b, &err), CT_OK);
    assert_int_equal(b, 1);
    /* holdout: MBG/NBD is 0.12 worse than the best with s.e. 0.05: out;
     * BG/NBD 0.02 worse (s.e. 0.05): in; Pareto/NBD has the smaller BIC */
    assert_int_equal(ct_clv_choose(c, 4, 1, &b, &err), CT_OK);
    assert_int_equal(b, 2);
    c[1].mse_se = 0.2; /* now within one s.e.: its BIC wins */
    assert_int_equal(ct_clv_choose(c, 4, 1, &b, &err), CT_OK);
    assert_int_equal(b, 1);
    c[3].mse = 1.0; /* BG/BB best on the holdout: chosen */
    assert_int_equal(ct_clv_choose(c, 4, 1, &b, &err), CT_OK);
    assert_int_equal(b, 3);
    /* failures are not chosen; all failed: the first failure's status */
    c[3].mse = 3.0;
    c[1].status = CT_ENOCONV;
    assert_int_equal(ct_clv_choose(c, 4, 0, &b, &err), CT_OK);
    assert_int_equal(b, 2);
    for (int j = 0; j < 4; j++) {
        c[j].status = CT_ENOCONV;
        snprintf(c[j].message, sizeof c[j].message, "no convergence %d", j);
    }
    assert_int_equal(ct_clv_choose(c, 4, 0, &b, &err), CT_ENOCONV);
    assert_non_null(strstr(err.msg, "bgnbd: no convergence 0"));
    /* BG/BB is a candidate for few discrete opportunities only: whole x <=
     * t_x <= T <= 100, not a day-resolution log over a year */
    ct_customers d;
    ct_clv_model models[CT_CLV_CANDIDATES];
    double x[2] = {2, 0}, tx[2] = {5, 0}, T[2] = {6, 100}, tl[2] = {6, 365};
    d = columns(2, x, tx, T, NULL);
    assert_int_equal(ct_clv_discrete(&d), 1);
    assert_int_equal(ct_clv_candidates(ct_clv_discrete(&d), models), 4);
    assert_int_equal(models[3], CT_BGBB);
    d.T = tl;
    assert_int_equal(ct_clv_discrete(&d), 0);
    assert_int_equal(ct_clv_candidates(ct_clv_discrete(&d), models), 3);
    tx[0] = 5.5;
    d.T = T;
    assert_int_equal(ct_clv_discrete(&d), 0);
}

/* The holdout sums against a direct computation: per-customer errors of two
 * fits on CDNOW's sample, and the paired standard error. */
static void test_holdout_errors(void **state)
{
    (void)state;
    ct_customers c;
    ct_error err;
    memset(&c, 0, sizeof c);
    c.n = 5;
    double x[5] = {0, 1, 2, 0, 5}, tx[5] = {0, 3, 10, 0, 20}, T[5] = {30, 30, 30, 12, 25};
    double xs[5] = {0, 2, 1, 1, 4};
    c.x = x;
    c.t_x = tx;
    c.T = T;
    c.x_star = xs;
    ct_fit f[2];
    memset(f, 0, sizeof f);
    f[0].model = CT_BGNBD;
    f[0].k = 4;
    memcpy(f[0].par, (double[]){0.243, 4.414, 0.793, 2.426}, 4 * sizeof(double));
    f[1].model = CT_PARETO;
    f[1].k = 4;
    memcpy(f[1].par, (double[]){0.553, 10.578, 0.606, 11.669}, 4 * sizeof(double));
    const ct_fit *fp[2] = {&f[0], &f[1]};
    double *part, e[2][5];
    size_t nb, m;
    assert_int_equal(ct_clv_holdout_parts(fp, 2, &c, 39, &part, &nb, &m, &err), CT_OK);
    assert_int_equal(nb, 1);
    assert_int_equal(m, 3 * 2 + 2 + 1);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(ct_clv_expected(&f[j], x, tx, T, 5, 39, e[j], &err), CT_OK);
    }
    ct_clv_candidate cd[2], *cp[2] = {&cd[0], &cd[1]};
    ct_clv_holdout_errors(part, 2, cp);
    double mse[2] = {0, 0}, mae[2] = {0, 0}, pred[2] = {0, 0}, dd[5], md = 0, vd = 0;
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 2; j++) {
            mse[j] += (xs[i] - e[j][i]) * (xs[i] - e[j][i]) / 5;
            mae[j] += fabs(xs[i] - e[j][i]) / 5;
            pred[j] += e[j][i];
        }
        dd[i] = (xs[i] - e[0][i]) * (xs[i] - e[0][i]) - (xs[i] - e[1][i]) * (xs[i] - e[1][i]);
        md += dd[i] / 5;
    }
    for (int i = 0; i < 5; i++) {
        vd += (dd[i] - md) * (dd[i] - md) / 5;
    }
    int best = mse[0] < mse[1] ? 0 : 1;
    for (int j = 0; j < 2; j++) {
        assert_true(fabs(cd[j].mse - mse[j]) < 1e-12 * mse[j]);
        assert_true(fabs(cd[j].mae - mae[j]) < 1e-12 * mae[j]);
        assert_true(fabs(cd[j].agg - (pred[j] - 8) / 8) < 1e-12);
    }
    assert_true(cd[best].mse_se == 0);
    assert_true(fabs(cd[1 - best].mse_se - sqrt(vd / 5)) < 1e-9 * sqrt(vd / 5));
    free(part);
}

/* Delta-method intervals (ct_clv_score_intervals): against an independent
 * delta method (central differences with h = 1e-3 through the public
 * predictions, 1e-5 relative: the gradients differ by O(h^2)); against a
 * parametric bootstrap of 20,000 draws of the log-parameters from the fit's
 * asymptotic normal (the check: bounds within 2 % for the median
 * customer; Monte Carlo error of a 5 % quantile of 20,000 draws is ~0.5 %);
 * and the width falling about as 1/sqrt(n) from CDNOW's 1/10th sample
 * (2,357) to the master (23,570): ratio in [2.2, 4.5] (sqrt(10) = 3.16). */
static int cmp_dbl(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

static void delta_by_hand(const ct_fit *f, double x, double tx, double T, double t, double z,
                          double lo[2], double hi[2])
{
    ct_error err;
    double v[2] = {0, 0}, e[2], g[2][4], lc[16];
    assert_status(ct_clv_p_alive(f, &x, &tx, &T, 1, &e[0], &err), CT_OK);
    assert_status(ct_clv_expected(f, &x, &tx, &T, 1, t, &e[1], &err), CT_OK);
    for (size_t j = 0; j < f->k; j++) {
        ct_fit a = *f, b = *f;
        double pa[2], pb[2], h = 1e-3;
        a.par[j] *= exp(h);
        b.par[j] *= exp(-h);
        assert_status(ct_clv_p_alive(&a, &x, &tx, &T, 1, &pa[0], &err), CT_OK);
        assert_status(ct_clv_p_alive(&b, &x, &tx, &T, 1, &pb[0], &err), CT_OK);
        assert_status(ct_clv_expected(&a, &x, &tx, &T, 1, t, &pa[1], &err), CT_OK);
        assert_status(ct_clv_expected(&b, &x, &tx, &T, 1, t, &pb[1], &err), CT_OK);
        for (int o = 0; o < 2; o++) {
            g[o][j] = (pa[o] - pb[o]) / (2 * h);
        }
        for (size_t i = 0; i < f->k; i++) {
            lc[i * 4 + j] = f->cov[i * f->k + j] / (f->par[i] * f->par[j]);
        }
    }
    for (int o = 0; o < 2; o++) {
        for (size_t i = 0; i < f->k; i++) {
            for (size_t j = 0; j < f->k; j++) {
                v[o] += g[o][i] * lc[i * 4 + j] * g[o][j];
            }
        }
    }
    double l = log(e[0] / (1 - e[0])), d = z * sqrt(v[0]) / (e[0] * (1 - e[0]));
    lo[0] = 1 / (1 + exp(-(l - d)));
    hi[0] = 1 / (1 + exp(-(l + d)));
    d = z * sqrt(v[1]) / e[1];
    lo[1] = e[1] * exp(-d);
    hi[1] = e[1] * exp(d);
}

static void score3(const ct_fit *f, double *x, double *tx, double *T, double *m, ct_scores *sc)
{
    ct_customers c;
    ct_error err;
    c = columns(3, x, tx, T, m);
    assert_status(ct_clv_score_intervals(f, NULL, &c, 39, 0, 0.9, 1, sc, &err), CT_OK);
}

static void test_delta_intervals(void **state)
{
    (void)state;
    ct_customers c, cm;
    ct_fit f, fm;
    ct_error err;
    load_cdnow_split("cdnow_int.h5", &c);
    fit_model(CT_BGNBD, &c, &f);
    /* a one-time buyer, the median repeat buyer's pattern, a frequent buyer */
    double x[3] = {0, 2, 7}, tx[3] = {0, 20, 35}, T[3] = {35, 35, 38}, m[3] = {0, 30, 40};
    double z = 1.6448536269514722;
    ct_scores sc;
    score3(&f, x, tx, T, m, &sc);
    for (int i = 0; i < 3; i++) {
        double lo[2], hi[2];
        assert_true(sc.p_alive_lo[i] <= sc.p_alive[i] && sc.p_alive[i] <= sc.p_alive_hi[i]);
        assert_true(sc.clv_lo[i] <= sc.clv[i] && sc.clv[i] <= sc.clv_hi[i]);
        delta_by_hand(&f, x[i], tx[i], T[i], 39, z, lo, hi);
        assert_rel(sc.exp_purchases_lo[i], lo[1], 1e-5);
        assert_rel(sc.exp_purchases_hi[i], hi[1], 1e-5);
        if (x[i] > 0) { /* BG/NBD: P(alive) = 1 at x = 0, no interval */
            assert_rel(sc.p_alive_lo[i], lo[0], 1e-5);
            assert_rel(sc.p_alive_hi[i], hi[0], 1e-5);
        } else {
            assert_true(sc.p_alive_lo[i] == 1 && sc.p_alive_hi[i] == 1);
        }
    }
    /* Pareto/NBD: the analytic gradient of P(alive) (from the quadratures)
     * against central differences of the public P(alive) */
    ct_fit fp;
    ct_scores sp;
    fit_model(CT_PARETO, &c, &fp);
    score3(&fp, x, tx, T, m, &sp);
    for (int i = 0; i < 3; i++) {
        double lo[2], hi[2];
        delta_by_hand(&fp, x[i], tx[i], T[i], 39, z, lo, hi);
        assert_rel(sp.p_alive_lo[i], lo[0], 1e-5);
        assert_rel(sp.p_alive_hi[i], hi[0], 1e-5);
        assert_rel(sp.exp_purchases_lo[i], lo[1], 1e-5);
        assert_rel(sp.exp_purchases_hi[i], hi[1], 1e-5);
    }
    ct_scores_free(&sp);
    /* parametric bootstrap for the median customer (x = 2) */
    double L[16] = {0}, lc[16];
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            lc[i * 4 + j] = f.cov[i * 4 + j] / (f.par[i] * f.par[j]);
        }
    }
    for (int i = 0; i < 4; i++) { /* Cholesky */
        for (int j = 0; j <= i; j++) {
            double s = lc[i * 4 + j];
            for (int k = 0; k < j; k++) {
                s -= L[i * 4 + k] * L[j * 4 + k];
            }
            L[i * 4 + j] = i == j ? sqrt(s) : s / L[j * 4 + j];
        }
    }
    enum { NB = 20000 };
    double *dy = malloc(NB * sizeof *dy), *dp = malloc(NB * sizeof *dp);
    ct_rng *g = ct_rng_new(15, 0);
    assert_non_null(dy);
    assert_non_null(dp);
    for (int b = 0; b < NB; b++) {
        double u[4], fb_par[4];
        for (int j = 0; j < 4; j += 2) { /* Box-Muller */
            double r = sqrt(-2 * log(ct_rng_uniform_pos(g))), a = 2 * M_PI * ct_rng_uniform(g);
            u[j] = r * cos(a);
            u[j + 1] = r * sin(a);
        }
        ct_fit fb = f;
        for (int i = 0; i < 4; i++) {
            double s = 0;
            for (int k = 0; k <= i; k++) {
                s += L[i * 4 + k] * u[k];
            }
            fb_par[i] = f.par[i] * exp(s);
            fb.par[i] = fb_par[i];
        }
        assert_status(ct_clv_expected(&fb, &x[1], &tx[1], &T[1], 1, 39, &dy[b], &err), CT_OK);
        assert_status(ct_clv_p_alive(&fb, &x[1], &tx[1], &T[1], 1, &dp[b], &err), CT_OK);
    }
    ct_rng_free(g);
    qsort(dy, NB, sizeof *dy, cmp_dbl);
    qsort(dp, NB, sizeof *dp, cmp_dbl);
    print_message("  delta  E[Y(39)] [%.5f, %.5f]  P(alive) [%.5f, %.5f]\n",
                  sc.exp_purchases_lo[1], sc.exp_purchases_hi[1], sc.p_alive_lo[1],
                  sc.p_alive_hi[1]);
    print_message("  bootstrap 20000: [%.5f, %.5f]  [%.5f, %.5f]\n", dy[NB / 20],
                  dy[NB - NB / 20 - 1], dp[NB / 20], dp[NB - NB / 20 - 1]);
    assert_rel(sc.exp_purchases_lo[1], dy[NB / 20], 0.02);
    assert_rel(sc.exp_purchases_hi[1], dy[NB - NB / 20 - 1], 0.02);
    assert_rel(sc.p_alive_lo[1], dp[NB / 20], 0.02);
    assert_rel(sc.p_alive_hi[1], dp[NB - NB / 20 - 1], 0.02);
    free(dy);
    free(dp);
    /* score --intervals bootstrap:20000 (the library's, all three
     * customers): the median customer's bounds within 2 % of the delta
     * method's; the same bits on 1 and 2 threads; no covariance: no width */
    {
        ct_customers c3;
        ct_scores b1, b2;
        c3 = columns(3, x, tx, T, m);
        assert_status(ct_clv_score_bootstrap(&f, NULL, &c3, 39, 0, 0.9, 20000, 7, 0, 1, &b1, &err),
                      CT_OK);
        print_message("  bootstrap:20000 (library): E[Y(39)] [%.5f, %.5f]  P(alive) [%.5f, %.5f]\n",
                      b1.exp_purchases_lo[1], b1.exp_purchases_hi[1], b1.p_alive_lo[1],
                      b1.p_alive_hi[1]);
        assert_rel(b1.exp_purchases_lo[1], sc.exp_purchases_lo[1], 0.02);
        assert_rel(b1.exp_purchases_hi[1], sc.exp_purchases_hi[1], 0.02);
        assert_rel(b1.p_alive_lo[1], sc.p_alive_lo[1], 0.02);
        assert_rel(b1.p_alive_hi[1], sc.p_alive_hi[1], 0.02);
        assert_rel(b1.clv_lo[1], sc.clv_lo[1], 0.02);
        assert_rel(b1.clv_hi[1], sc.clv_hi[1], 0.02);
        assert_true(b1.draws == 20000 && b1.purchases_hi != NULL);
        assert_status(ct_clv_score_bootstrap(&f, NULL, &c3, 39, 0, 0.9, 40, 7, 1, 2, &b2, &err),
                      CT_OK);
        ct_scores_free(&b1);
        assert_status(ct_clv_score_bootstrap(&f, NULL, &c3, 39, 0, 0.9, 40, 7, 1, 1, &b1, &err),
                      CT_OK);
        assert_memory_equal(b1.clv_lo, b2.clv_lo, 3 * sizeof(double));
        assert_memory_equal(b1.p_alive_hi, b2.p_alive_hi, 3 * sizeof(double));
        ct_scores_free(&b1);
        ct_scores_free(&b2);
        ct_fit f0 = f;
        memset(f0.cov, 0, sizeof f0.cov);
        assert_status(ct_clv_score_bootstrap(&f0, NULL, &c3, 39, 0, 0.9, 5, 7, 0, 1, &b1, &err),
                      CT_OK);
        for (int i = 0; i < 3; i++) { /* the estimate interpolates in T: 1e-12 */
            assert_true(fabs(b1.clv_lo[i] - b1.clv[i]) <= 1e-12 * b1.clv[i] + 1e-300);
            assert_true(fabs(b1.clv_hi[i] - b1.clv[i]) <= 1e-12 * b1.clv[i] + 1e-300);
            assert_true(fabs(b1.exp_purchases_lo[i] - b1.exp_purchases[i]) <=
                        1e-12 * b1.exp_purchases[i]);
        }
        ct_scores_free(&b1);
    }
    /* ten times the customers: intervals about sqrt(10) narrower */
    char csv[512], out[512];
    ct_ingest_opts o;
    ct_file *fh;
    tu_data(csv, sizeof csv, "CDNOW_master.txt");
    tu_path(out, sizeof out, "cdnow_int_master.h5");
    ct_ingest_opts_init(&o);
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(1997, 9, 30);
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_OK);
    assert_status(ct_file_open(&fh, out, &err), CT_OK);
    assert_status(ct_customers_read(fh, "/customers", &cm, &err), CT_OK);
    ct_file_close(fh);
    fit_model(CT_BGNBD, &cm, &fm);
    ct_scores sm;
    score3(&fm, x, tx, T, m, &sm);
    for (int i = 0; i < 3; i++) {
        double ws = log(sc.exp_purchases_hi[i] / sc.exp_purchases_lo[i]);
        double wm = log(sm.exp_purchases_hi[i] / sm.exp_purchases_lo[i]);
        print_message("  customer %d: width ratio sample/master %.3f\n", i, ws / wm);
        assert_true(ws / wm >= 2.2 && ws / wm <= 4.5);
    }
    ct_scores_free(&sc);
    ct_scores_free(&sm);
    ct_customers_free(&c);
    ct_customers_free(&cm);
}

/* DERT against its definition, delta int_0^inf exp(-delta t) E[Y(t)] dt
 * by GSL's adaptive QAGIU on the public E[Y(t)] (1e-6 relative, the
 * issue's tolerance); P(alive at T + t) at t = 0 equals P(alive), falls
 * with t, and for BG/NBD matches the integral over p ~ Beta(a, b + x) of
 * (1 + p t/(alpha + T))^-(r + x) by QAGS. */
static double lbeta_(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}

typedef struct dert_ctx {
    const ct_fit *f;
    double x, tx, T, delta;
} dert_ctx;

static double dert_integrand(double t, void *v)
{
    const dert_ctx *c = v;
    double e;
    ct_error err;
    if (c->delta * t > 50) {
        return 0.0; /* exp(-50) E[Y(t)]: below 1e-20 of the integral */
    }
    if (ct_clv_expected(c->f, &c->x, &c->tx, &c->T, 1, t, &e, &err) != CT_OK) {
        return (double)NAN;
    }
    return c->delta * exp(-c->delta * t) * e;
}

static double beta_integrand(double p, void *v)
{
    const double *q = v; /* a, b', k, z */
    return exp((q[0] - 1) * log(p) + (q[1] - 1) * log1p(-p) - lbeta_(q[0], q[1]) -
               q[2] * log1p(p * q[3]));
}

static void test_dert_alive_at(void **state)
{
    (void)state;
    ct_customers c;
    ct_error err;
    load_cdnow_split("cdnow_dert.h5", &c);
    ct_clv_model models[3] = {CT_BGNBD, CT_MBGNBD, CT_PARETO};
    double x[3] = {0, 2, 7}, tx[3] = {0, 20, 35}, T[3] = {35, 35, 38};
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(1000);
    gsl_set_error_handler_off();
    for (int mi = 0; mi < 3; mi++) {
        ct_fit f;
        fit_model(models[mi], &c, &f);
        for (int di = 0; di < 2; di++) {
            double delta = di ? 0.05 : 0.0027, d[3];
            assert_status(ct_clv_dert(&f, x, tx, T, 3, delta, 1, d, &err), CT_OK);
            for (int i = 0; i < 3; i++) {
                dert_ctx dc = {&f, x[i], tx[i], T[i], delta};
                gsl_function F = {dert_integrand, &dc};
                double v, e;
                assert_int_equal(gsl_integration_qagiu(&F, 0, 0, 1e-8, 1000, w, &v, &e), 0);
                print_message("  %s delta %g x %g: DERT %.10g, integral %.10g\n",
                              ct_clv_model_name(f.model), delta, x[i], d[i], v);
                assert_rel(d[i], v, 1e-6);
            }
        }
        double a0[3], a1[3], a2[3];
        assert_status(ct_clv_p_alive(&f, x, tx, T, 3, a0, &err), CT_OK);
        assert_status(ct_clv_p_alive_at(&f, x, tx, T, 3, 0, 1, a1, &err), CT_OK);
        assert_status(ct_clv_p_alive_at(&f, x, tx, T, 3, 26, 1, a2, &err), CT_OK);
        for (int i = 0; i < 3; i++) {
            assert_true(a1[i] == a0[i]);
            assert_true(a2[i] < a0[i] && a2[i] > 0);
            if (f.model == CT_BGNBD) {
                double q[4] = {f.par[2], f.par[3] + x[i], f.par[0] + x[i], 26 / (f.par[1] + T[i])};
                gsl_function B = {beta_integrand, q};
                double v, e;
                assert_int_equal(gsl_integration_qags(&B, 0, 1, 0, 1e-11, 1000, w, &v, &e), 0);
                assert_rel(a2[i], a0[i] * v, 1e-8);
            }
        }
    }
    gsl_integration_workspace_free(w);
    ct_fit bb = {0};
    bb.model = CT_BGBB;
    double o;
    assert_status(ct_clv_dert(&bb, x, tx, T, 1, 0.01, 1, &o, &err), CT_EINVAL);
    ct_customers_free(&c);
}

/* Calibration deciles against a direct computation: equal groups, rising
 * predictions, the group means adding up to the overall means, the Brier
 * score recomputed. */
static void test_calibration(void **state)
{
    (void)state;
    ct_customers c;
    ct_fit f;
    ct_error err;
    load_cdnow_split("cdnow_cal.h5", &c);
    fit_model(CT_PARETO, &c, &f);
    double n[10], pr[10], ob[10], brier;
    assert_status(ct_clv_calibration(&f, &c, 39, 10, n, pr, ob, &brier, &err), CT_OK);
    double *p0 = malloc(c.n * sizeof *p0), mp = 0, my = 0, b = 0, sn = 0, sp = 0, so = 0;
    assert_status(ct_clv_p_no_purchase(&f, c.x, c.t_x, c.T, c.n, 39, p0, &err), CT_OK);
    for (size_t i = 0; i < c.n; i++) {
        double y = c.x_star[i] > 0;
        mp += (1 - p0[i]) / (double)c.n;
        my += y / (double)c.n;
        b += (1 - p0[i] - y) * (1 - p0[i] - y) / (double)c.n;
    }
    for (int j = 0; j < 10; j++) {
        assert_true(fabs(n[j] - (double)c.n / 10) <= 1);
        assert_true(j == 0 || pr[j] >= pr[j - 1]);
        sn += n[j];
        sp += n[j] * pr[j];
        so += n[j] * ob[j];
    }
    assert_true(sn == (double)c.n);
    assert_rel(sp / sn, mp, 1e-12);
    assert_rel(so / sn, my, 1e-12);
    assert_rel(brier, b, 1e-12);
    print_message("  Pareto/NBD on CDNOW's sample: Brier %.4f, top decile %.3f vs %.3f\n", brier,
                  pr[9], ob[9]);
    free(p0);
    ct_customers_free(&c);
}

/* The predictive pmf of future purchases: sums to 1, its mean is E[Y(t)]
 * (the closed forms, an independent route), and the interval brackets it. */
static void test_purchases_pmf(void **state)
{
    (void)state;
    ct_customers c;
    ct_error err;
    load_cdnow_split("cdnow_pmf.h5", &c);
    ct_clv_model models[3] = {CT_BGNBD, CT_MBGNBD, CT_PARETO};
    double x[3] = {0, 2, 7}, tx[3] = {0, 20, 35}, T[3] = {35, 35, 38}, t = 52;
    clv_pmf_rule rule;
    assert_status(clv_pmf_rule_make(t, &rule, &err), CT_OK);
    for (int mi = 0; mi < 3; mi++) {
        ct_fit f;
        fit_model(models[mi], &c, &f);
        double ey[3], lo[3], hi[3];
        assert_status(ct_clv_expected(&f, x, tx, T, 3, t, ey, &err), CT_OK);
        assert_status(ct_clv_purchases_interval(&f, x, tx, T, 3, t, 0.9, 1, lo, hi, &err), CT_OK);
        for (int i = 0; i < 3; i++) {
            clv_pmf it;
            clv_pmf_init(&it, &f, clv_pmf_pick(&rule, &f, x[i], T[i]), x[i], tx[i], T[i], (double)NAN);
            double sum = 0, mean = 0, cdf_lo = 0, cdf_hi = 0;
            for (int k = 0; k < 20000; k++) {
                double pk = clv_pmf_next(&it);
                assert_true(pk >= 0);
                sum += pk;
                mean += k * pk;
                cdf_lo += k < lo[i] ? pk : 0;
                cdf_hi += k <= hi[i] ? pk : 0;
            }
            /* Pareto/NBD's drop-out integral is a Gauss-Legendre rule: 1e-9 */
            double tol = f.model == CT_PARETO ? 1e-9 : 1e-12;
            print_message("  %s x %g: sum %.15f, mean %.10g vs E[Y] %.10g, 90%% [%g, %g]\n",
                          ct_clv_model_name(f.model), x[i], sum, mean, ey[i], lo[i], hi[i]);
            assert_true(fabs(sum - 1) < tol);
            assert_rel(mean, ey[i], 100 * tol);
            assert_true(lo[i] <= hi[i] && cdf_lo < 0.05 && cdf_hi >= 0.95);
        }
    }
    ct_customers_free(&c);
}

/* Pareto/NBD's pmf takes 8, 16 or 32 nodes by clv_pmf_pick's rule: its
 * cumulative pmf within 1e-12 of the 32-node rule's, over light and heavy
 * buyers, young and old, short and long horizons (CDNOW's fit); the rule
 * picks each size somewhere.  Loosening the rule (4 -> 2 in the heavy
 * buyers' term, or 12 -> 6 in the analyticity term) fails this. */
static void test_pmf_node_rule(void **state)
{
    (void)state;
    ct_customers c;
    ct_error err;
    ct_fit f;
    load_cdnow_split("cdnow_rule.h5", &c);
    fit_model(CT_PARETO, &c, &f);
    const double X[] = {0, 1, 2, 3, 5, 8, 12, 20, 35, 50, 100, 200};
    const double TT[] = {0.5, 2, 5, 10, 20, 40, 78, 150};
    const double H[] = {4, 13, 26, 52, 104, 520};
    size_t used[3] = {0, 0, 0};
    double worst = 0;
    for (size_t h = 0; h < sizeof H / sizeof *H; h++) {
        clv_pmf_rule rule;
        assert_status(clv_pmf_rule_make(H[h], &rule, &err), CT_OK);
        for (size_t a = 0; a < sizeof X / sizeof *X; a++) {
            for (size_t b = 0; b < sizeof TT / sizeof *TT; b++) {
                double x = X[a], T = TT[b], tx = x > 0 ? 0.6 * T : 0;
                const clv_nodes *nd = clv_pmf_pick(&rule, &f, x, T);
                used[nd == &rule.n[0] ? 0 : nd == &rule.n[1] ? 1 : 2]++;
                clv_pmf p, q;
                clv_pmf_init(&p, &f, nd, x, tx, T, (double)NAN);
                clv_pmf_init(&q, &f, &rule.n[2], x, tx, T, p.pa);
                double cp = 0, cq = 0;
                for (int k = 0; k < 100000 && cq < 1 - 1e-13; k++) {
                    cp += clv_pmf_next(&p);
                    cq += clv_pmf_next(&q);
                    worst = fmax(worst, fabs(cp - cq));
                }
            }
        }
    }
    print_message("  nodes 8 / 16 / 32: %zu / %zu / %zu cases; largest difference of the "
                  "cumulative pmf from 32 nodes %.3g\n",
                  used[0], used[1], used[2], worst);
    assert_true(used[0] > 0 && used[1] > 0 && used[2] > 0);
    assert_true(worst <= 1e-12);
    ct_customers_free(&c);
}

/* Group totals of CLV (tiers): one customer alone gets the per-customer
 * interval of ct_clv_score_intervals (the same gradients, 1e-9), and the
 * totals add up to the scores' CLV. */
static void test_group_clv(void **state)
{
    (void)state;
    ct_customers c;
    ct_fit f, gg;
    ct_error err;
    load_cdnow_split("cdnow_grp.h5", &c);
    fit_model(CT_BGNBD, &c, &f);
    fit_model(CT_GAMMAGAMMA, &c, &gg);
    ct_scores sc;
    assert_status(ct_clv_score_intervals(&f, &gg, &c, 52, 0.01, 0.9, 1, &sc, &err), CT_OK);
    int8_t *g = malloc(c.n);
    size_t one = 0;
    for (size_t i = 0; i < c.n; i++) {
        g[i] = (int8_t)(c.x[i] > 3 ? 0 : 1);
        one = c.x[i] == 5 ? i : one;
    }
    g[one] = 2; /* a repeat buyer alone in group 2 */
    double tot[3], lo[3], hi[3], want[3] = {0, 0, 0};
    assert_status(ct_clv_group_clv(&f, &gg, &c, 52, 0.01, g, 3, 0.9, 1, tot, lo, hi, &err), CT_OK);
    for (size_t i = 0; i < c.n; i++) {
        want[g[i]] += sc.clv[i];
    }
    for (int t = 0; t < 3; t++) {
        assert_rel(tot[t], want[t], 1e-12);
        assert_true(lo[t] < tot[t] && tot[t] < hi[t]);
    }
    assert_rel(lo[2], sc.clv_lo[one], 1e-9);
    assert_rel(hi[2], sc.clv_hi[one], 1e-9);
    print_message("  groups: %.1f [%.1f, %.1f], %.1f [%.1f, %.1f]\n", tot[0], lo[0], hi[0], tot[1],
                  lo[1], hi[1]);
    free(g);
    ct_scores_free(&sc);
    ct_customers_free(&c);
}

/* The mean over c's customers of P(alive) (t = 0) or E[Y(t)] under f, and
 * its gradient in the log-parameters (central differences, h = 1e-5). */
static double mean_pred(const ct_fit *f, const ct_customers *c, double t, double *grad,
                        double *buf)
{
    ct_error err;
    double m[9];
    for (int q = 0; q < 9; q++) {
        ct_fit g = *f;
        if (q > 0) {
            g.par[(q - 1) / 2] *= exp((q % 2 ? 1 : -1) * 1e-5);
        }
        assert_status(t > 0 ? ct_clv_expected(&g, c->x, c->t_x, c->T, c->n, t, buf, &err)
                            : ct_clv_p_alive(&g, c->x, c->t_x, c->T, c->n, buf, &err),
                      CT_OK);
        m[q] = 0;
        for (size_t i = 0; i < c->n; i++) {
            m[q] += buf[i] / (double)c->n;
        }
    }
    for (int j = 0; j < 4 && grad != NULL; j++) {
        grad[j] = (m[1 + 2 * j] - m[2 + 2 * j]) / 2e-5;
    }
    return m[0];
}

/* Coverage by simulation: 200 data sets of 1,000 BG/NBD customers (known
 * parameters, births over the first half of 78 weeks); on each, the 90 %
 * delta-method intervals of the mean P(alive) and the mean expected
 * purchases in the next 13 weeks (the fit's covariance of the
 * log-parameters, the means' gradients) against the same means at the true
 * parameters.  They should cover 90 % of the time; with 200 sets the
 * binomial standard deviation is 2.1 points, so 85-95 % (the band)
 * fails a correct method about 2 % of the time - for these fixed seeds,
 * never. */
static void test_interval_coverage(void **state)
{
    (void)state;
    if (skip_slow()) {
        skip();
    }
    enum { SETS = 200, N = 1000 };
    const double truth[4] = {0.5, 6.0, 0.8, 2.5};
    int cover[2] = {0, 0};
    ct_error err;
    double *buf = malloc(N * sizeof *buf);
    assert_non_null(buf);
    for (int set = 0; set < SETS; set++) {
        ct_synth_opts o;
        ct_customers c;
        ct_fit f, t;
        ct_synth_opts_init(&o);
        o.r = truth[0];
        o.alpha = truth[1];
        o.a = truth[2];
        o.b = truth[3];
        o.n = N;
        o.T = 78;
        o.cohort = 39;
        o.seed = 1000 + (uint64_t)set;
        o.threads = 1;
        assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
        ct_clv_data *d;
        ct_fit_opts fo;
        ct_fit_opts_init(&fo);
        fo.threads = 1;
        assert_status(ct_clv_data_new(&d, CT_BGNBD, &c, "sim", &err), CT_OK);
        assert_status(ct_clv_fit(d, &fo, &f, &err), CT_OK);
        ct_clv_data_free(d);
        t = f;
        memcpy(t.par, truth, sizeof truth);
        for (int q = 0; q < 2; q++) {
            double grad[4], v = 0, tt = q == 0 ? 0.0 : 13.0;
            double est = mean_pred(&f, &c, tt, grad, buf), want = mean_pred(&t, &c, tt, NULL, buf);
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    v += grad[i] * grad[j] * f.cov[i * 4 + j] / (f.par[i] * f.par[j]);
                }
            }
            cover[q] += fabs(est - want) <= 1.6448536269514722 * sqrt(v);
        }
        ct_customers_free(&c);
    }
    print_message("  coverage of 90 %% intervals over %d sets: mean P(alive) %.1f %%, mean "
                  "E[Y(13)] %.1f %%\n",
                  SETS, 100.0 * cover[0] / SETS, 100.0 * cover[1] / SETS);
    assert_true(cover[0] >= 170 && cover[0] <= 190);
    assert_true(cover[1] >= 170 && cover[1] <= 190);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsl_handler_off_without_fit),
        cmocka_unit_test(test_bgnbd_cdnow),
        cmocka_unit_test(test_pareto_cdnow),
        cmocka_unit_test(test_mbgnbd_cdnow),
        cmocka_unit_test(test_bgbb_donations),
        cmocka_unit_test(test_gammagamma_cdnow),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_pareto_large_x),
        cmocka_unit_test(test_pareto_dense_times),
        cmocka_unit_test(test_predictions_vs_lifetimes),
        cmocka_unit_test(test_pmf_consistency),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_recovery_bgnbd),
        cmocka_unit_test(test_recovery_pareto),
        cmocka_unit_test(test_hessians),
        cmocka_unit_test(test_subsample_start),
        cmocka_unit_test(test_row_order_free),
        cmocka_unit_test(test_score_interpolation),
        cmocka_unit_test(test_scorer_blocks),
        cmocka_unit_test(test_pareto_p_alive_closed_form),
        cmocka_unit_test(test_p_alive_gradients),
        cmocka_unit_test(test_bgbb_intervals_in_place),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_api_refusals),
        cmocka_unit_test(test_fit_storage_and_scores),
        cmocka_unit_test(test_validation_tables),
        cmocka_unit_test(test_p_no_purchase),
        cmocka_unit_test(test_model_choice_rule),
        cmocka_unit_test(test_holdout_errors),
        cmocka_unit_test(test_delta_intervals),
        cmocka_unit_test(test_dert_alive_at),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_purchases_pmf),
        cmocka_unit_test(test_pmf_node_rule),
        cmocka_unit_test(test_group_clv),
        cmocka_unit_test(test_interval_coverage),
    };
    return cmocka_run_group_tests_name("clv", tests, NULL, NULL);
}
