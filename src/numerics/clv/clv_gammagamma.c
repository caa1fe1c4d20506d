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
#include "numerics/clv/clv_internal.h"

#include <stdlib.h>

typedef struct gg_ctx {
    const double *p;
    /* per x: lnGamma(px+q) - lnGamma(px), psi(px+q), psi(px), log x,
     * psi'(px+q), psi'(px) */
    const double *lg, *psa, *psx, *lx, *tra, *trx;
} gg_ctx;

/* acc: lnL, gradient (p, q, v) and (hess) the Hessian's upper triangle
 * pp, pq, pv, qq, qv, vv. */
static inline void gg_rows_any(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                               double *acc, int hess)
{
    const gg_ctx *c = vctx;
    const double pp = c->p[0], q = c->p[1], v = c->p[2];
    const double lgq = clv_lgamma(q), psiq = clv_digamma(q), triq = clv_trigamma(q), lv = log(v);
    double a[10] = {0};
    for (size_t i = begin; i < end; i++) {
        uint32_t xi = d->xi[i];
        double x = d->x[i], m = d->tx[i], w = d->w[i];
        double px = pp * x, lm = d->lm[i], lx = c->lx[xi], lvmx = log(v + m * x);
        double psi_all = c->psa[xi], psi_px = c->psx[xi], ivm = 1.0 / (v + m * x);
        double ll = c->lg[xi] - lgq + q * lv + (px - 1) * lm + px * lx - (px + q) * lvmx;
        a[0] += w * ll;
        a[1] += w * x * (psi_all - psi_px + lm + lx - lvmx);
        a[2] += w * (psi_all - psiq + lv - lvmx);
        a[3] += w * (q / v - (px + q) * ivm);
        if (hess) {
            double ta = c->tra[xi];
            a[4] += w * x * x * (ta - c->trx[xi]);
            a[5] += w * x * ta;
            a[6] += w * -x * ivm;
            a[7] += w * (ta - triq);
            a[8] += w * (1.0 / v - ivm);
            a[9] += w * (-q / (v * v) + (px + q) * ivm * ivm);
        }
    }
    for (int j = 0; j < (hess ? 10 : 4); j++) {
        acc[j] += a[j];
    }
}

static void gg_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                    double *acc)
{
    gg_rows_any(vctx, d, begin, end, acc, 0);
}

static void gg_rows_h(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                      double *acc)
{
    gg_rows_any(vctx, d, begin, end, acc, 1);
}

ct_status clv_gg_ll(const ct_clv_data *d, const double *p, double *ll, double *grad, double *H,
                    unsigned threads, ct_error *err)
{
    size_t nx = d->nxv ? d->nxv : 1;
    double *tab = calloc(6 * nx, sizeof *tab);
    if (tab == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t x = 0; x < d->nxv; x++) { /* repeat buyers only: x >= 1 */
        double px = p[0] * d->xv[x];
        tab[x] = clv_lgamma(px + p[1]) - clv_lgamma(px);
        tab[nx + x] = clv_digamma(px + p[1]);
        tab[2 * nx + x] = clv_digamma(px);
        tab[3 * nx + x] = log(d->xv[x]);
        if (H != NULL) {
            tab[4 * nx + x] = clv_trigamma(px + p[1]);
            tab[5 * nx + x] = clv_trigamma(px);
        }
    }
    gg_ctx c = {p, tab, tab + nx, tab + 2 * nx, tab + 3 * nx, tab + 4 * nx, tab + 5 * nx};
    double acc[CLV_MAXACC];
    ct_status s = clv_reduce_acc(d, H != NULL ? 10 : 4, H != NULL ? gg_rows_h : gg_rows, &c,
                                 threads, acc, err);
    if (s == CT_OK) {
        clv_unpack(acc, 3, ll, grad, H);
    }
    free(tab);
    return s;
}
