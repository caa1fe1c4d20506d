/* clv_models.c - the table of model operations: for each CLV model its
 * likelihood (with gradient), default starting point, and one-customer
 * predictions (P(alive), expected purchases, a new customer's expected
 * purchases, the count pmf).  clv.c dispatches through it; a new model is
 * one file of formulas and one row here.  Parameter names: core/types.c. */
#include "numerics/clv/clv_internal.h"


/* ---- BG/NBD and MBG/NBD (Fader, Hardie & Lee 2005; Batislam et al. 2007) --- */

static void start_bg(const clv_moments *m, double *p)
{
    p[0] = 1;
    p[1] = m->rate_scale;
    p[2] = 1;
    p[3] = 2;
}

static double bgnbd_p_alive(const double *p, double x, double tx, double T)
{
    return clv_bg_p_alive(p, 0, x, tx, T);
}

static double bgnbd_expected(const double *p, double x, double tx, double T, double t)
{
    return clv_bg_expected(p, 0, x, tx, T, t);
}

static double bgnbd_expected_new(const double *p, double t)
{
    return t <= 0 ? 0.0 : clv_bg_expected(p, 0, 0, 0, 0, t); /* x = t_x = T = 0, alive */
}

static double bgnbd_pmf(const double *p, double t, double x)
{
    return clv_bg_pmf(p, 0, t, x);
}

static double mbgnbd_p_alive(const double *p, double x, double tx, double T)
{
    return clv_bg_p_alive(p, 1, x, tx, T);
}

static double mbgnbd_expected(const double *p, double x, double tx, double T, double t)
{
    return clv_bg_expected(p, 1, x, tx, T, t);
}

static double mbgnbd_expected_new(const double *p, double t)
{
    return clv_bg_expected(p, 1, 0, 0, 0, t);
}

static double mbgnbd_pmf(const double *p, double t, double x)
{
    return clv_bg_pmf(p, 1, t, x);
}

/* ---- Pareto/NBD (Schmittlein, Morrison & Colombo 1987) -------------------- */

static void start_pareto(const clv_moments *m, double *p)
{
    p[0] = 1;
    p[1] = m->rate_scale;
    p[2] = 1;
    p[3] = m->mean_T > 0 ? m->mean_T : 1;
}

static double pareto_expected_new(const double *p, double t)
{
    return t <= 0 ? 0.0 : clv_pareto_expected(p, 0, 0, 0, t);
}

/* ---- BG/BB (Fader, Hardie & Shang 2010): discrete periods, t floored ------- */

static void start_bgbb(const clv_moments *m, double *p)
{
    (void)m;
    p[0] = p[1] = p[2] = p[3] = 1;
}

static double bgbb_expected(const double *p, double x, double tx, double n, double t)
{
    return clv_bgbb_expected(p, x, tx, n, floor(t));
}

static double bgbb_expected_new(const double *p, double t)
{
    return clv_bgbb_expected_new(p, floor(t));
}

static double bgbb_pmf(const double *p, double t, double x)
{
    return clv_bgbb_pmf(p, floor(t), x);
}

/* ---- Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV") ----------- */

static void start_gg(const clv_moments *m, double *p)
{
    p[0] = 2;
    p[1] = 3;
    p[2] = m->mean_m > 0 ? m->mean_m : 1; /* mean spend = p v / (q - 1) */
}

static const clv_model_ops OPS[] = {
    [CT_BGNBD] = {clv_bgnbd_ll, 1, start_bg, bgnbd_p_alive, bgnbd_expected, bgnbd_expected_new,
                  bgnbd_pmf},
    [CT_PARETO] = {clv_pareto_ll, 1, start_pareto, clv_pareto_p_alive, clv_pareto_expected,
                   pareto_expected_new, clv_pareto_pmf},
    [CT_MBGNBD] = {clv_mbgnbd_ll, 1, start_bg, mbgnbd_p_alive, mbgnbd_expected, mbgnbd_expected_new,
                   mbgnbd_pmf},
    [CT_BGBB] = {clv_bgbb_ll, 0, start_bgbb, clv_bgbb_p_alive, bgbb_expected, bgbb_expected_new,
                 bgbb_pmf},
    [CT_GAMMAGAMMA] = {clv_gg_ll, 1, start_gg, NULL, NULL, NULL, NULL},
};

const clv_model_ops *clv_ops(ct_clv_model m)
{
    return (size_t)m < sizeof OPS / sizeof OPS[0] ? &OPS[m] : NULL;
}
