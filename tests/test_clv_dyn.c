/* test_clv_dyn.c - Pareto/NBD with time-varying covariates: the likelihood
 * at zero coefficients against the closed form of plain Pareto/NBD, with
 * covariates constant in time against the static-covariate model (lnL,
 * gradient, fit and scores), the analytic gradient against finite
 * differences, parameter recovery from customers simulated with a weekly
 * covariate, and bad paths. */
#include <math.h>

#include "testutil.h"

#include "numerics/clv/clv_internal.h"

static int slow_skipped(void)
{
    const char *v = getenv("CT_SKIP_SLOW");
    return v != NULL && v[0] == '1';
}

static int skip_slow(void)
{
    if (slow_skipped()) {
        printf("SKIP: time-varying parameter recovery (CT_SKIP_SLOW=1, e.g. under valgrind)\n");
        return 1;
    }
    return 0;
}

/* Paths holding each customer's static values z (n x K) in weekly
 * segments from -0.3 to T + ahead (so the integrals run over many pieces),
 * zsum = x z. */
typedef struct paths {
    ct_clv_paths p;
    size_t *off;
    double *t0, *end, *z, *zsum;
} paths;

static void constant_paths(const ct_customers *c, const double *z, size_t K, double ahead,
                           paths *P)
{
    size_t n = c->n, tot = 0;
    for (size_t i = 0; i < n; i++) {
        tot += (size_t)ceil(c->T[i] + ahead + 0.3);
    }
    P->off = malloc((n + 1) * sizeof *P->off);
    P->t0 = malloc(tot * sizeof *P->t0);
    P->end = malloc(n * sizeof *P->end);
    P->z = malloc(tot * K * sizeof *P->z);
    P->zsum = malloc(n * K * sizeof *P->zsum);
    assert_true(P->off && P->t0 && P->end && P->z && P->zsum);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = (size_t)ceil(c->T[i] + ahead + 0.3);
        P->off[i] = at;
        for (size_t k = 0; k < m; k++, at++) {
            P->t0[at] = -0.3 + (double)k;
            memcpy(P->z + at * K, z + i * K, K * sizeof *z);
        }
        P->end[i] = -0.3 + (double)m;
        for (size_t j = 0; j < K; j++) {
            P->zsum[i * K + j] = c->x[i] * z[i * K + j];
        }
    }
    P->off[n] = at;
    P->p = (ct_clv_paths){n, K, P->off, P->t0, P->end, P->z, P->zsum};
}

static void paths_free(paths *P)
{
    free(P->off);
    free(P->t0);
    free(P->end);
    free(P->z);
    free(P->zsum);
}

static void pareto_opts(ct_synth_opts *o, size_t n, uint64_t seed)
{
    ct_synth_opts_init(o);
    o->model = CT_SYNTH_PARETO;
    o->n = n;
    o->T = 104;
    o->cohort = 52;
    o->seed = seed;
    o->r = 0.55;
    o->alpha = 10.58;
    o->a = 0.61;
    o->b = 11.67;
}

/* Two static columns (0/1 and normal), each in both processes. */
static void static_cov(ct_synth_opts *o)
{
    static const double GT[2] = {0.5, 0.3}, GL[2] = {-0.3, 0.2};
    o->ncov = 2;
    for (size_t j = 0; j < 2; j++) {
        snprintf(o->cov_name[j], sizeof o->cov_name[j], "z%zu", j + 1);
        o->cov_kind[j] = j == 0 ? 'b' : 'n';
        o->cov_trans[j] = GT[j];
        o->cov_life[j] = GL[j];
    }
}

/* Coefficients: column j in the purchase (j < K) then drop-out process. */
static void both(size_t K, const char *const *names, ct_clv_covariates *cv)
{
    memset(cv, 0, sizeof *cv);
    cv->ncoef = 2 * K;
    for (size_t j = 0; j < K; j++) {
        cv->proc[j] = CT_COV_PURCHASE;
        cv->proc[K + j] = CT_COV_DROPOUT;
        cv->col[j] = cv->col[K + j] = names[j];
    }
}

/* n x K values -> n x 2K (each column twice, as both() names them). */
static double *twice(const double *z, size_t n, size_t K)
{
    double *v = malloc(n * 2 * K * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < K; j++) {
            v[i * 2 * K + j] = v[i * 2 * K + K + j] = z[i * K + j];
        }
    }
    return v;
}

static const char *const NAMES[2] = {"z1", "z2"};

/* Zero coefficients: lnL and the base gradient are plain Pareto/NBD's
 * (closed form with the hypergeometric function) to 1e-10 relative: the
 * piecewise 4-point rule's stated accuracy. */
static void test_zero_coefficients(void **state)
{
    (void)state;
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z;
    pareto_opts(&o, 4000, 5);
    static_cov(&o);
    assert_status(ct_synth_customers_cov(&o, &c, &z, &err), CT_OK);
    double *zz = twice(z, c.n, 2);
    paths P;
    constant_paths(&c, zz, 4, 0, &P);
    ct_clv_covariates cv;
    both(2, NAMES, &cv);
    ct_clv_data *d0, *d1;
    assert_status(ct_clv_data_new(&d0, CT_PARETO, &c, "test", &err), CT_OK);
    assert_status(ct_clv_data_new_dyn(&d1, &c, &cv, &P.p, "test", NULL, &err), CT_OK);
    const double pts[3][4] = {{0.55, 10.58, 0.61, 11.67}, {2.0, 3.0, 0.2, 40.0}, {0.1, 30, 3, 2}};
    for (int q = 0; q < 3; q++) {
        double p[CT_CLV_MAXPAR] = {0};
        memcpy(p, pts[q], sizeof pts[q]);
        double ll0, ll1, g0[4], g1[CT_CLV_MAXPAR];
        assert_status(ct_clv_loglik(d0, p, &ll0, g0, 1, &err), CT_OK);
        assert_status(ct_clv_loglik(d1, p, &ll1, g1, 1, &err), CT_OK);
        printf("  point %d: lnL relative difference %.2g\n", q, fabs(ll1 - ll0) / fabs(ll0));
        if (!(fabs(ll1 - ll0) <= 1e-10 * fabs(ll0))) {
            fail_msg("point %d: lnL %.17g, plain Pareto/NBD %.17g (rel %.2g)", q, ll1, ll0,
                     fabs(ll1 - ll0) / fabs(ll0));
        }
        for (int j = 0; j < 4; j++) {
            if (!(fabs(g1[j] - g0[j]) <= 1e-8 * (fabs(g0[j]) + fabs(ll0) / p[j] * 1e-3))) {
                fail_msg("point %d: gradient %d %.12g vs %.12g", q, j, g1[j], g0[j]);
            }
        }
    }
    ct_clv_data_free(d0);
    ct_clv_data_free(d1);
    paths_free(&P);
    free(zz);
    free(z);
    ct_customers_free(&c);
}

/* Covariates constant in time: lnL and gradient equal the static model's
 * (clv_cov.c, one integral per customer) to 1e-10; the fits from the same
 * plain fit agree to the optimiser's tolerance, and so do the scores. */
static void test_constant_is_static(void **state)
{
    (void)state;
    ct_synth_opts o;
    ct_customers c;
    ct_error err;
    double *z;
    /* 20,000 customers; 2,000 under CT_SKIP_SLOW (valgrind): the same checks */
    pareto_opts(&o, slow_skipped() ? 2000 : 20000, 7);
    static_cov(&o);
    assert_status(ct_synth_customers_cov(&o, &c, &z, &err), CT_OK);
    double *zz = twice(z, c.n, 2);
    paths P;
    constant_paths(&c, zz, 4, 30, &P);
    ct_clv_covariates cv;
    both(2, NAMES, &cv);
    cv.z = zz;
    ct_clv_data *d0, *ds, *dd;
    assert_status(ct_clv_data_new(&d0, CT_PARETO, &c, "test", &err), CT_OK);
    assert_status(ct_clv_data_new_cov(&ds, CT_PARETO, &c, &cv, "test", NULL, &err), CT_OK);
    assert_status(ct_clv_data_new_dyn(&dd, &c, &cv, &P.p, "test", NULL, &err), CT_OK);
    double p[CT_CLV_MAXPAR] = {0.55, 10.58, 0.61, 11.67, 0.5, 0.3, -0.3, 0.2};
    double lls, lld, gs[CT_CLV_MAXPAR], gd[CT_CLV_MAXPAR];
    assert_status(ct_clv_loglik(ds, p, &lls, gs, 1, &err), CT_OK);
    assert_status(ct_clv_loglik(dd, p, &lld, gd, 2, &err), CT_OK);
    if (!(fabs(lld - lls) <= 1e-10 * fabs(lls))) {
        fail_msg("lnL %.17g, static %.17g", lld, lls);
    }
    for (int j = 0; j < 8; j++) {
        if (!(fabs(gd[j] - gs[j]) <= 1e-7 * (fabs(gs[j]) + 1))) {
            fail_msg("gradient %d %.12g vs static %.12g", j, gd[j], gs[j]);
        }
    }
    ct_fit base, fs, fd;
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    assert_status(ct_clv_fit(d0, &fo, &base, &err), CT_OK);
    assert_status(ct_clv_fit_cov(ds, &base, &fo, &fs, &err), CT_OK);
    assert_status(ct_clv_fit_cov(dd, &base, &fo, &fd, &err), CT_OK);
    assert_int_equal(fd.dynamic, 1);
    assert_int_equal(fs.dynamic, 0);
    for (size_t j = 0; j < fs.k; j++) {
        double tol = 1e-4 * fs.se[j];
        if (!(fabs(fd.par[j] - fs.par[j]) <= tol) ||
            !(fabs(fd.se[j] - fs.se[j]) <= 1e-3 * fs.se[j])) {
            fail_msg("%s: %.9g (se %.6g), static %.9g (se %.6g)", ct_fit_param_name(&fs, j),
                     fd.par[j], fd.se[j], fs.par[j], fs.se[j]);
        }
    }
    assert_true(fabs(fd.lr - fs.lr) <= 1e-6 * fs.lr);
    /* scores 30 periods ahead, discounted, each customer under its own values */
    ct_scores ss, sd;
    ct_customers cc = c;
    cc.cov = zz;
    ct_fit f2 = fd;
    memcpy(f2.par, fs.par, sizeof fs.par); /* the same parameters and covariance for both */
    memcpy(f2.cov, fs.cov, sizeof fs.cov);
    assert_status(ct_clv_score_intervals(&fs, NULL, &cc, 30, 0.01, 0.9, 2, &ss, &err), CT_OK);
    const double at[2] = {4, 26.5};
    assert_status(ct_clv_score_dyn(&f2, NULL, &c, &P.p, 30, 0.01, 0.9, at, 2, 2, &sd, &err),
                  CT_OK);
    double *al = malloc(c.n * sizeof *al);
    assert_non_null(al);
    for (int q = 0; q < 2; q++) {
        assert_status(ct_clv_predict(&fs, CT_PRED_ALIVE_AT, &cc, at[q], 1, al, &err), CT_OK);
        for (size_t i = 0; i < c.n; i++) {
            if (!(fabs(sd.alive_at[q][i] - al[i]) <= 1e-9)) {
                fail_msg("customer %zu: P(alive at T + %g) %.12g, static %.12g", i, at[q],
                         sd.alive_at[q][i], al[i]);
            }
        }
    }
    free(al);
    /* the delta-method bounds: both difference the scores (1e-6 steps), of
     * differently computed but equal (1e-10) functions: 1e-3 relative */
    const double *lo[6] = {sd.p_alive_lo, sd.p_alive_hi, sd.exp_purchases_lo, sd.exp_purchases_hi,
                           sd.clv_lo, sd.clv_hi};
    const double *ls[6] = {ss.p_alive_lo, ss.p_alive_hi, ss.exp_purchases_lo, ss.exp_purchases_hi,
                           ss.clv_lo, ss.clv_hi};
    for (size_t i = 0; i < c.n; i++) {
        for (int q = 0; q < 6; q++) {
            if (!(fabs(lo[q][i] - ls[q][i]) <= 1e-3 * fabs(ls[q][i]) + 1e-9)) {
                fail_msg("customer %zu: bound %d %.9g, static %.9g", i, q, lo[q][i], ls[q][i]);
            }
        }
    }
    for (size_t i = 0; i < c.n; i++) {
        if (!(fabs(sd.p_alive[i] - ss.p_alive[i]) <= 1e-9) ||
            !(fabs(sd.exp_purchases[i] - ss.exp_purchases[i]) <=
              1e-8 * (ss.exp_purchases[i] + 1e-12)) ||
            !(fabs(sd.clv[i] - ss.clv[i]) <= 1e-8 * (fabs(ss.clv[i]) + 1e-12))) {
            fail_msg("customer %zu: P(alive) %.12g / %.12g, E[Y] %.12g / %.12g, CLV %.12g / "
                     "%.12g (time-varying / static)",
                     i, sd.p_alive[i], ss.p_alive[i], sd.exp_purchases[i], ss.exp_purchases[i],
                     sd.clv[i], ss.clv[i]);
        }
    }
    ct_scores_free(&ss);
    ct_scores_free(&sd);
    ct_clv_data_free(d0);
    ct_clv_data_free(ds);
    ct_clv_data_free(dd);
    paths_free(&P);
    free(zz);
    free(z);
    ct_customers_free(&c);
}

/* A weekly 0/1 covariate in both processes and a static normal one in
 * the purchase process (three coefficients). */
static void dyn_opts(ct_synth_opts *o, size_t n, uint64_t seed)
{
    pareto_opts(o, n, seed);
    o->ncov = 2;
    snprintf(o->cov_name[0], sizeof o->cov_name[0], "contact");
    o->cov_kind[0] = 'b';
    o->cov_dynamic[0] = 1;
    o->cov_trans[0] = 0.7;
    o->cov_life[0] = 0.5;
    snprintf(o->cov_name[1], sizeof o->cov_name[1], "income");
    o->cov_kind[1] = 'n';
    o->cov_trans[1] = -0.3;
    o->cov_life[1] = 0;
    o->ahead = 10;
}

/* The three coefficients over the simulated paths' two columns. */
static void dyn_coefs(ct_clv_covariates *cv, const ct_synth_paths *sp, double **zc, size_t **idx,
                      ct_clv_paths *P)
{
    static const char *const NM[2] = {"contact", "income"};
    static const size_t COL[3] = {0, 1, 0};
    memset(cv, 0, sizeof *cv);
    cv->ncoef = 3;
    cv->proc[0] = CT_COV_PURCHASE;
    cv->proc[1] = CT_COV_PURCHASE;
    cv->proc[2] = CT_COV_DROPOUT;
    size_t nseg = sp->off[sp->n];
    double *z = malloc((nseg * 3 + sp->n * 3) * sizeof *z);
    assert_non_null(z);
    for (size_t k = 0; k < nseg; k++) {
        for (size_t j = 0; j < 3; j++) {
            z[k * 3 + j] = sp->z[k * 2 + COL[j]];
        }
    }
    double *zs = z + nseg * 3;
    for (size_t i = 0; i < sp->n; i++) {
        for (size_t j = 0; j < 3; j++) {
            zs[i * 3 + j] = sp->zsum[i * 2 + COL[j]];
        }
    }
    for (size_t j = 0; j < 3; j++) {
        cv->col[j] = NM[COL[j]];
    }
    *P = (ct_clv_paths){sp->n, 3, sp->off, sp->t0, sp->end, z, zs};
    *zc = z;
    *idx = NULL;
}

/* n customers of dyn_opts (seed) with their paths, and the coefficients
 * of dyn_coefs over them. */
typedef struct dyn_case {
    ct_synth_opts o;
    ct_customers c;
    ct_synth_paths sp;
    ct_clv_covariates cv;
    ct_clv_paths P;
    double *zc;
} dyn_case;

static void dyn_setup(dyn_case *k, size_t n, uint64_t seed)
{
    ct_error err;
    size_t *idx;
    dyn_opts(&k->o, n, seed);
    assert_status(ct_synth_customers_dyn(&k->o, &k->c, &k->sp, &err), CT_OK);
    dyn_coefs(&k->cv, &k->sp, &k->zc, &idx, &k->P);
}

static void dyn_release(dyn_case *k)
{
    free(k->zc);
    ct_synth_paths_free(&k->sp);
    ct_customers_free(&k->c);
}

/* The analytic gradient against central differences of lnL (relative
 * step 1e-5) at a point with nonzero coefficients: 1e-6 of the scale. */
static void test_gradient(void **state)
{
    (void)state;
    dyn_case k;
    ct_error err;
    dyn_setup(&k, 3000, 11);
    ct_customers c = k.c;
    ct_synth_paths sp = k.sp;
    ct_clv_data *d;
    assert_status(ct_clv_data_new_dyn(&d, &c, &k.cv, &k.P, "test", NULL, &err), CT_OK);
    double p[CT_CLV_MAXPAR] = {0.7, 8.0, 0.9, 15.0, 0.4, -0.2, 0.6}, ll, g[CT_CLV_MAXPAR];
    assert_status(ct_clv_loglik(d, p, &ll, g, 1, &err), CT_OK);
    for (size_t j = 0; j < 7; j++) {
        double h = 1e-5 * (j < 4 ? p[j] : 1.0), pp[CT_CLV_MAXPAR], pm[CT_CLV_MAXPAR], lp, lm;
        memcpy(pp, p, sizeof pp);
        memcpy(pm, p, sizeof pm);
        pp[j] += h;
        pm[j] -= h;
        assert_status(ct_clv_loglik(d, pp, &lp, NULL, 1, &err), CT_OK);
        assert_status(ct_clv_loglik(d, pm, &lm, NULL, 1, &err), CT_OK);
        double fd = (lp - lm) / (2 * h), scale = fabs(ll) / (j < 4 ? p[j] : 1.0);
        if (!(fabs(fd - g[j]) <= 1e-6 * scale)) {
            fail_msg("parameter %zu: analytic %.12g, differences %.12g", j, g[j], fd);
        }
    }
    /* the same with 1 and 2 threads, bit for bit */
    double ll2, g2[CT_CLV_MAXPAR];
    assert_status(ct_clv_loglik(d, p, &ll2, g2, 2, &err), CT_OK);
    assert_memory_equal(&ll, &ll2, sizeof ll);
    assert_memory_equal(g, g2, 7 * sizeof *g);
    ct_clv_data_free(d);
    /* a coefficient constrained equal in both processes (--same-cov) */
    ct_clv_covariates c2;
    memset(&c2, 0, sizeof c2);
    c2.ncoef = 2;
    c2.proc[0] = CT_COV_PURCHASE | CT_COV_DROPOUT;
    c2.proc[1] = CT_COV_PURCHASE;
    c2.col[0] = "contact";
    c2.col[1] = "income";
    ct_clv_paths P2 = {sp.n, 2, sp.off, sp.t0, sp.end, sp.z, sp.zsum};
    assert_status(ct_clv_data_new_dyn(&d, &c, &c2, &P2, "test", NULL, &err), CT_OK);
    double q[CT_CLV_MAXPAR] = {0.7, 8.0, 0.9, 15.0, 0.5, -0.2};
    assert_status(ct_clv_loglik(d, q, &ll, g, 1, &err), CT_OK);
    for (size_t j = 4; j < 6; j++) {
        double h = 1e-5, pp[CT_CLV_MAXPAR], pm[CT_CLV_MAXPAR], lp, lm;
        memcpy(pp, q, sizeof pp);
        memcpy(pm, q, sizeof pm);
        pp[j] += h;
        pm[j] -= h;
        assert_status(ct_clv_loglik(d, pp, &lp, NULL, 1, &err), CT_OK);
        assert_status(ct_clv_loglik(d, pm, &lm, NULL, 1, &err), CT_OK);
        double fd = (lp - lm) / (2 * h);
        if (!(fabs(fd - g[j]) <= 1e-6 * fabs(ll))) {
            fail_msg("constrained: parameter %zu: analytic %.12g, differences %.12g", j, g[j], fd);
        }
    }
    ct_clv_data_free(d);
    dyn_release(&k);
}

/* Recovery: 100,000 customers over two years of weeks (first purchases
 * spread over the first year) with a weekly 0/1 covariate in both
 * processes and a static one in the purchase process: every parameter
 * within 3 standard errors of the truth. */
static void test_recovery(void **state)
{
    (void)state;
    if (skip_slow()) {
        return;
    }
    dyn_case k;
    ct_error err;
    dyn_setup(&k, 100000, 2021);
    const ct_synth_opts o = k.o;
    ct_clv_data *d0, *d;
    assert_status(ct_clv_data_new(&d0, CT_PARETO, &k.c, "test", &err), CT_OK);
    assert_status(ct_clv_data_new_dyn(&d, &k.c, &k.cv, &k.P, "test", NULL, &err), CT_OK);
    ct_fit base, f;
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    double t0 = ct_seconds();
    assert_status(ct_clv_fit(d0, &fo, &base, &err), CT_OK);
    double t1 = ct_seconds();
    assert_status(ct_clv_fit_cov(d, &base, &fo, &f, &err), CT_OK);
    printf("  fits: plain %.2f s, time-varying %.2f s (%zu segments)\n", t1 - t0,
           ct_seconds() - t1, k.sp.off[k.sp.n]);
    const double truth[7] = {o.r, o.alpha, o.a, o.b, 0.7, -0.3, 0.5};
    for (size_t j = 0; j < 7; j++) {
        double e = fabs(f.par[j] - truth[j]) / f.se[j];
        printf("  %-16s %9.4f (se %.4f) truth %7.3f  %.2f se\n", ct_fit_param_name(&f, j),
               f.par[j], f.se[j], truth[j], e);
        if (!(e <= 3)) {
            fail_msg("%s: %.5g is %.2f standard errors from %.5g", ct_fit_param_name(&f, j),
                     f.par[j], e, truth[j]);
        }
    }
    printf("  %zu evaluations, LR %.1f against the plain fit\n", f.nevals, f.lr);
    assert_true(f.lr_p < 1e-10);
    ct_clv_data_free(d0);
    ct_clv_data_free(d);
    dyn_release(&k);
}

/* Bad paths: not covering T, a missing value, a constant column, a
 * horizon past the paths. */
static void test_bad_paths(void **state)
{
    (void)state;
    dyn_case k;
    ct_error err;
    dyn_setup(&k, 500, 3);
    ct_customers c = k.c;
    ct_synth_paths sp = k.sp;
    ct_clv_covariates cv = k.cv;
    ct_clv_paths P = k.P;
    double *zc = k.zc;
    ct_clv_data *d;
    double e5 = sp.end[5];
    sp.end[5] = c.T[5] - 1;
    if (sp.off[6] - sp.off[5] > 1) {
        sp.end[5] = sp.t0[sp.off[6] - 1] + 0.5;
    }
    if (sp.end[5] < c.T[5]) {
        assert_status(ct_clv_data_new_dyn(&d, &c, &cv, &P, "test", NULL, &err), CT_EDATA);
        assert_non_null(strstr(err.msg, "do not cover"));
        assert_non_null(strstr(err.msg, "C000006"));
    }
    sp.end[5] = e5;
    double z0 = zc[sp.off[7] * 3 + 2];
    zc[sp.off[7] * 3 + 2] = (double)NAN;
    assert_status(ct_clv_data_new_dyn(&d, &c, &cv, &P, "test", NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "'contact' is missing"));
    zc[sp.off[7] * 3 + 2] = z0;
    /* a constant column */
    size_t nseg = sp.off[sp.n];
    double *save = malloc(nseg * sizeof *save);
    assert_non_null(save);
    for (size_t q = 0; q < nseg; q++) {
        save[q] = zc[q * 3];
        zc[q * 3] = 1.0;
    }
    assert_status(ct_clv_data_new_dyn(&d, &c, &cv, &P, "test", NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "constant"));
    for (size_t q = 0; q < nseg; q++) {
        zc[q * 3] = save[q];
    }
    free(save);
    /* scoring past the paths' end */
    assert_status(ct_clv_data_new_dyn(&d, &c, &cv, &P, "test", NULL, &err), CT_OK);
    ct_fit f;
    memset(&f, 0, sizeof f);
    f.model = CT_PARETO;
    f.k = 7;
    f.ncoef = 3;
    f.dynamic = 1;
    double p[7] = {0.55, 10.58, 0.61, 11.67, 0.7, -0.3, 0.5};
    memcpy(f.par, p, sizeof p);
    memcpy(f.coef_proc, cv.proc, sizeof cv.proc);
    ct_scores sc;
    assert_status(ct_clv_score_dyn(&f, NULL, &c, &P, 5, 0, 0, NULL, 0, 1, &sc, &err), CT_OK);
    for (size_t i = 0; i < c.n; i++) {
        assert_true(sc.p_alive[i] > 0 && sc.p_alive[i] <= 1 && sc.exp_purchases[i] >= 0);
    }
    ct_scores_free(&sc);
    assert_status(ct_clv_score_dyn(&f, NULL, &c, &P, 20, 0, 0, NULL, 0, 1, &sc, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "scoring 20 periods ahead"));
    ct_clv_data_free(d);
    dyn_release(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_coefficients),
        cmocka_unit_test(test_constant_is_static),
        cmocka_unit_test(test_gradient),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_bad_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
