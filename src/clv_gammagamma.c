/* clv_gammagamma.c - Gamma-Gamma model of spend per transaction.
 * Ref: Fader, Hardie & Lee (2005b), "RFM and CLV: using iso-value curves for
 * customer base analysis", JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma
 * model of monetary value" (note 025), eq. 4 for the likelihood of a repeat
 * buyer's mean spend m over x transactions, and eq. 5:
 *   ln L = lnGamma(px+q) - lnGamma(px) - lnGamma(q) + q ln v + (px-1) ln m
 *          + px ln x - (px+q) ln(v + m x)
 *   E[M | x, m] = (q-1)/(px+q-1) * p v/(q-1) + px/(px+q-1) * m = p (v + x m)/(px+q-1).
 * The model assumes spend is independent of purchase frequency; the
 * correlation of x and m among repeat buyers is reported with every fit. */
#include "clv_internal.h"

static void gg_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                    double *acc)
{
    const double *p = vctx;
    const double pp = p[0], q = p[1], v = p[2];
    const double lgq = clv_lgamma(q), psiq = clv_digamma(q), lv = log(v);
    for (size_t i = begin; i < end; i++) {
        double x = d->x[i], m = d->tx[i], w = d->w[i];
        double px = pp * x, lm = log(m), lx = log(x), lvmx = log(v + m * x);
        double psi_all = clv_digamma(px + q), psi_px = clv_digamma(px);
        double ll = clv_lgamma(px + q) - clv_lgamma(px) - lgq + q * lv + (px - 1) * lm + px * lx -
                    (px + q) * lvmx;
        acc[0] += w * ll;
        acc[1] += w * x * (psi_all - psi_px + lm + lx - lvmx);
        acc[2] += w * (psi_all - psiq + lv - lvmx);
        acc[3] += w * (q / v - (px + q) / (v + m * x));
    }
}

ct_status clv_gg_ll(const ct_clv_data *d, const double *p, double *ll, double *grad,
                    unsigned threads, ct_error *err)
{
    return clv_reduce(d, 3, gg_rows, p, threads, ll, grad, err);
}
