/* clv_bgbb.c - BG/BB for discrete transaction opportunities.
 * Ref: Fader, Hardie & Shang (2010), "Customer-base analysis in a
 * discrete-time noncontractual setting", Marketing Science 29(6):
 *   L = B(al+x, be+n-x)/B(al,be) B(ga, de+n)/B(ga,de)
 *     + sum_{i=0}^{n-t_x-1} B(al+x, be+t_x-x+i)/B(al,be) B(ga+1, de+t_x+i)/B(ga,de)   (eq. 5)
 *   P(alive in n+1) = B(al+x, be+n-x)/B(al,be) B(ga, de+n+1)/B(ga,de) / L        (eq. 11)
 *   E[X(n, n+m)] = B(al+x+1, be+n-x)/B(al,be) de/(ga-1) Gamma(ga+de)/Gamma(1+de)
 *                  [Gamma(1+de+n)/Gamma(ga+de+n) - Gamma(1+de+n+m)/Gamma(ga+de+n+m)] / L  (eq. 13)
 *   E[X(n)] = al/(al+be) de/(ga-1) [1 - Gamma(ga+de) Gamma(1+de+n) / (Gamma(ga+de+n) Gamma(1+de))]  (eq. 7)
 *   P(X(n) = x) = C(n,x) B(al+x, be+n-x)/B(al,be) B(ga, de+n)/B(ga,de)
 *     + sum_{i=x}^{n-1} C(i,x) B(al+x, be+i-x)/B(al,be) B(ga+1, de+i)/B(ga,de)   (eq. 8)
 * Here x = repeat transactions, t_x = recency (opportunity of the last), n = T. */
#include "numerics/clv/clv_internal.h"

#include <stdlib.h>

/* lnB(a+p, b+q) - lnB(a, b); with d != NULL also d/da, d/db in d[0], d[1]
 * (four digammas: only when a gradient is wanted). */
static double lb(double a, double b, double p, double q, double *d)
{
    double ab = a + b;
    if (d != NULL) {
        double psi_all = clv_digamma(ab + p + q), psi_ab = clv_digamma(ab);
        d[0] = clv_digamma(a + p) - psi_all - clv_digamma(a) + psi_ab;
        d[1] = clv_digamma(b + q) - psi_all - clv_digamma(b) + psi_ab;
    }
    return clv_lgamma(a + p) + clv_lgamma(b + q) - clv_lgamma(ab + p + q) - clv_lgamma(a) -
           clv_lgamma(b) + clv_lgamma(ab);
}

/* ln L of one pattern and its gradient. */
static double bgbb_row(const double *p, double x, double tx, double n, double *g)
{
    const double al = p[0], be = p[1], ga = p[2], de = p[3];
    double gs[4] = {0, 0, 0, 0}, gi[4] = {0, 0, 0, 0};
    double *g1 = g != NULL ? gs : NULL, *g2 = g != NULL ? gi : NULL;
    double t0 = lb(al, be, x, n - x, g1) + lb(ga, de, 0, n, g1 != NULL ? g1 + 2 : NULL);
    double m = t0, S = 1.0;
    /* log-sum-exp over the terms with running rescaling */
    for (double i = 0; i <= n - tx - 1; i++) {
        double ti = lb(al, be, x, tx - x + i, g2) + lb(ga, de, 1, tx + i, g2 != NULL ? g2 + 2 : NULL);
        if (ti > m) {
            double sc = exp(m - ti);
            S *= sc;
            for (int j = 0; j < 4; j++) {
                gs[j] *= sc;
            }
            m = ti;
        }
        double e = exp(ti - m);
        S += e;
        for (int j = 0; j < 4; j++) {
            gs[j] += e * gi[j];
        }
    }
    if (g != NULL) {
        for (int j = 0; j < 4; j++) {
            g[j] = gs[j] / S;
        }
    }
    return m + log(S);
}

static void bgbb_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                      double *acc)
{
    const double *p = vctx;
    for (size_t i = begin; i < end; i++) {
        double g[4];
        double ll = bgbb_row(p, d->x[i], d->tx[i], d->T[i], g);
        acc[0] += d->w[i] * ll;
        for (int j = 0; j < 4; j++) {
            acc[1 + j] += d->w[i] * g[j];
        }
    }
}

ct_status clv_bgbb_ll(const ct_clv_data *d, const double *p, double *ll, double *grad,
                      double *H, unsigned threads, ct_error *err)
{
    (void)H;
    return clv_reduce(d, 4, bgbb_rows, p, threads, ll, grad, err);
}


double clv_bgbb_p_alive(const double *p, double x, double tx, double n)
{
    double lL = bgbb_row(p, x, tx, n, NULL);
    return exp(lb(p[0], p[1], x, n - x, NULL) + lb(p[2], p[3], 0, n + 1, NULL) - lL);
}

double clv_bgbb_expected(const double *p, double x, double tx, double n, double m)
{
    const double al = p[0], be = p[1], ga = p[2], de = p[3];
    double lL = bgbb_row(p, x, tx, n, NULL);
    double k = lb(al, be, x + 1, n - x, NULL) + log(de / (ga - 1)) + clv_lgamma(ga + de) -
               clv_lgamma(1 + de) - lL;
    double u1 = clv_lgamma(1 + de + n) - clv_lgamma(ga + de + n);
    double u2 = clv_lgamma(1 + de + n + m) - clv_lgamma(ga + de + n + m);
    /* exp(u1) - exp(u2) = exp(u1) (1 - exp(u2 - u1)) */
    return exp(k + u1) * -expm1(u2 - u1);
}

double clv_bgbb_expected_new(const double *p, double n)
{
    const double al = p[0], be = p[1], ga = p[2], de = p[3];
    double u = clv_lgamma(ga + de) + clv_lgamma(1 + de + n) - clv_lgamma(ga + de + n) -
               clv_lgamma(1 + de);
    return al / (al + be) * de / (ga - 1) * -expm1(u);
}

static double lchoose(double n, double k)
{
    return clv_lgamma(n + 1) - clv_lgamma(k + 1) - clv_lgamma(n - k + 1);
}

double clv_bgbb_pmf(const double *p, double n, double x)
{
    const double al = p[0], be = p[1], ga = p[2], de = p[3];
    if (x > n) {
        return 0.0;
    }
    double v = exp(lchoose(n, x) + lb(al, be, x, n - x, NULL) + lb(ga, de, 0, n, NULL));
    for (double i = x; i <= n - 1; i++) {
        v += exp(lchoose(i, x) + lb(al, be, x, i - x, NULL) + lb(ga, de, 1, i, NULL));
    }
    return v;
}
