/* clv_bgnbd.c - BG/NBD and MBG/NBD likelihoods, gradients and predictions.
 *
 * BG/NBD (Fader, Hardie & Lee 2005a, eq. 6):
 *   L = B(a, b+x)/B(a,b) G(alpha+T) + [x>0] B(a+1, b+x-1)/B(a,b) G(alpha+t_x),
 *   G(u) = Gamma(r+x) alpha^r / (Gamma(r) u^(r+x)).
 * MBG/NBD (Batislam, Denizel & Filiztekin 2007, eq. 5; as lifetimes'
 * ModifiedBetaGeoFitter): the same with B(a, b+x+1) and B(a+1, b+x), the
 * second term for every x (a customer may drop out right after the first
 * purchase).  Both are lnL = A1 + logaddexp(A2, A3), with
 *   A1 = lnGamma(r+x) - lnGamma(r) + r ln alpha,
 *   A2 = lnB(a, b+x+s2) - lnB(a,b) - (r+x) ln(alpha+T),
 *   A3 = lnB(a+1, b+x+s3) - lnB(a,b) - (r+x) ln(alpha+t_x),
 * (s2, s3) = (0, -1) for BG/NBD and (1, 0) for MBG/NBD.  The terms that
 * depend on x only are tabulated once per evaluation for each distinct x.
 *
 * Conditional expectation (FHL 2005a eq. 10; MBG analogue):
 *   E[Y(t)] = c/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+s2+1; c; z)] P(alive),
 *   c = a+b+x+s2, z = t/(alpha+T+t),
 * evaluated after Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B)
 * 2F1(C-A, C-B; C; z), which turns the bracket into 1 - (1-z)^(a-1)
 * 2F1(a+b+s2-r, a-1; c; z): no parameter grows with x, so large x neither
 * overflows nor cancels. */
#include "numerics/clv/clv_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct xtab {
    double G, dGr, hGr;               /* lnGamma(r+x) - lnGamma(r), d/dr, d2/dr2 */
    double B2, dB2a, dB2b;            /* lnB(a, b+x+s2) - lnB(a,b) and derivatives */
    double hB2aa, hB2ab, hB2bb;
    double B3, dB3a, dB3b;            /* lnB(a+1, b+x+s3) - lnB(a,b) */
    double hB3aa, hB3ab, hB3bb;
    int has3;
} xtab;

typedef struct bg_ctx {
    double r, alpha, a, b, lalpha;
    const xtab *tab;
    const double *la, *ia; /* per time value t (or NULL): log(alpha + t), 1 / (alpha + t) */
} bg_ctx;

/* lnB(a+ia, b+y) - lnB(a, b), its first derivatives and (h != NULL) its
 * second derivatives h = {aa, ab, bb}. */
static void lbeta_shift(double a, double b, double ia, double y, double *v, double *da,
                        double *db, double *h)
{
    double ab = a + b, psi_ab = clv_digamma(ab);
    *v = clv_lgamma(a + ia) + clv_lgamma(b + y) - clv_lgamma(ab + ia + y) - clv_lgamma(a) -
         clv_lgamma(b) + clv_lgamma(ab);
    double psi_all = clv_digamma(ab + ia + y);
    *da = clv_digamma(a + ia) - psi_all - clv_digamma(a) + psi_ab;
    *db = clv_digamma(b + y) - psi_all - clv_digamma(b) + psi_ab;
    if (h != NULL) {
        double t_all = clv_trigamma(ab + ia + y), t_ab = clv_trigamma(ab);
        h[0] = clv_trigamma(a + ia) - t_all - clv_trigamma(a) + t_ab;
        h[1] = -t_all + t_ab;
        h[2] = clv_trigamma(b + y) - t_all - clv_trigamma(b) + t_ab;
    }
}

static xtab *make_tab(const double *p, const double *xv, size_t nxv, int mbg)
{
    double r = p[0], a = p[2], b = p[3];
    xtab *t = calloc(nxv ? nxv : 1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    double lgr = clv_lgamma(r), psir = clv_digamma(r), trir = clv_trigamma(r);
    for (size_t k = 0; k < nxv; k++) {
        xtab *e = &t[k];
        double xd = xv[k], h[3];
        e->G = clv_lgamma(r + xd) - lgr;
        e->dGr = clv_digamma(r + xd) - psir;
        e->hGr = clv_trigamma(r + xd) - trir;
        lbeta_shift(a, b, 0.0, xd + (mbg ? 1.0 : 0.0), &e->B2, &e->dB2a, &e->dB2b, h);
        e->hB2aa = h[0];
        e->hB2ab = h[1];
        e->hB2bb = h[2];
        e->has3 = mbg || xd > 0;
        if (e->has3) {
            lbeta_shift(a, b, 1.0, xd + (mbg ? 0.0 : -1.0), &e->B3, &e->dB3a, &e->dB3b, h);
            e->hB3aa = h[0];
            e->hB3ab = h[1];
            e->hB3bb = h[2];
        }
    }
    return t;
}

/* One row: lnL = A1 + logaddexp(A2, A3) (A1 + A2 when there is no A3),
 * gradient g and (hess) the upper triangle of the Hessian in h (order
 * rr, ra, ru, rb, aa, au, ab, uu, ub, bb with u for the beta's a).  The
 * Hessian of logaddexp is w2 H2 + w3 H3 + w2 w3 (g2 - g3)(g2 - g3)'. */
static inline double bg_row(const bg_ctx *c, const xtab *e, double x, double lT, double iT,
                            double lt, double it, double *g, double *h, int hess)
{
    const double r = c->r, al = c->alpha, rx = r + x;
    double A1 = e->G + r * c->lalpha;
    double A2 = e->B2 - rx * lT;
    double ll, w2 = 1, w3 = 0;
    g[0] = e->dGr + c->lalpha;
    g[1] = r / al;
    if (e->has3) {
        double A3 = e->B3 - rx * lt;
        /* logaddexp(A2, A3) = max + log1p(exp(-|A2 - A3|)) */
        double dlt = A2 - A3, q = exp(-fabs(dlt));
        double w_small = q / (1 + q), w_big = 1 / (1 + q);
        w2 = dlt >= 0 ? w_big : w_small;
        w3 = 1 - w2;
        ll = A1 + (dlt >= 0 ? A2 : A3) + log1p(q);
    } else {
        ll = A1 + A2;
        lt = it = 0;
    }
    g[0] += -w2 * lT - w3 * lt;
    g[1] += -rx * (w2 * iT + w3 * it);
    g[2] = w2 * e->dB2a + w3 * e->dB3a;
    g[3] = w2 * e->dB2b + w3 * e->dB3b;
    if (hess) {
        double w23 = w2 * w3;
        double d0 = lt - lT, d1 = rx * (it - iT), d2 = e->dB2a - e->dB3a, d3 = e->dB2b - e->dB3b;
        h[0] = e->hGr + w23 * d0 * d0;
        h[1] = 1.0 / al - (w2 * iT + w3 * it) + w23 * d0 * d1;
        h[2] = w23 * d0 * d2;
        h[3] = w23 * d0 * d3;
        h[4] = -r / (al * al) + rx * (w2 * iT * iT + w3 * it * it) + w23 * d1 * d1;
        h[5] = w23 * d1 * d2;
        h[6] = w23 * d1 * d3;
        h[7] = w2 * e->hB2aa + w3 * e->hB3aa + w23 * d2 * d2;
        h[8] = w2 * e->hB2ab + w3 * e->hB3ab + w23 * d2 * d3;
        h[9] = w2 * e->hB2bb + w3 * e->hB3bb + w23 * d3 * d3;
    }
    return ll;
}

static inline void bg_rows_any(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                               double *acc, int hess)
{
    const bg_ctx *c = vctx;
    const double al = c->alpha;
    for (size_t i = begin; i < end; i++) {
        const xtab *e = &c->tab[d->xi[i]];
        double lT, iT, lt, it;
        if (c->la != NULL) {
            uint32_t jT = d->iT[i], jt = d->itx[i];
            lT = c->la[jT];
            iT = c->ia[jT];
            lt = c->la[jt];
            it = c->ia[jt];
        } else {
            lT = log(al + d->T[i]);
            iT = 1.0 / (al + d->T[i]);
            lt = log(al + d->tx[i]);
            it = 1.0 / (al + d->tx[i]);
        }
        double g[4], h[10], w = d->w[i];
        double ll = bg_row(c, e, d->x[i], lT, iT, lt, it, g, h, hess);
        acc[0] += w * ll;
        for (int j = 0; j < 4; j++) {
            acc[1 + j] += w * g[j];
        }
        for (int j = 0; hess && j < 10; j++) {
            acc[5 + j] += w * h[j];
        }
    }
}

static void bg_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                    double *acc)
{
    bg_rows_any(vctx, d, begin, end, acc, 0);
}

static void bg_rows_h(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                      double *acc)
{
    bg_rows_any(vctx, d, begin, end, acc, 1);
}

static ct_status family_ll(const ct_clv_data *d, const double *p, double *ll, double *g,
                           double *H, unsigned threads, int mbg, ct_error *err)
{
    xtab *tab = make_tab(p, d->xv, d->nxv, mbg);
    size_t nt = d->ntv;
    double *la = nt ? malloc(nt * sizeof *la) : NULL;
    double *ia = nt ? malloc(nt * sizeof *ia) : NULL;
    if (tab == NULL || (nt && (la == NULL || ia == NULL))) {
        free(tab);
        free(la);
        free(ia);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t v = 0; v < nt; v++) {
        la[v] = log(p[1] + d->tv[v]);
        ia[v] = 1.0 / (p[1] + d->tv[v]);
    }
    bg_ctx c = {p[0], p[1], p[2], p[3], log(p[1]), tab, la, ia};
    double acc[CLV_MAXACC];
    size_t nacc = H != NULL ? 15 : 5;
    ct_status s = clv_reduce_acc(d, nacc, H != NULL ? bg_rows_h : bg_rows, &c, threads, acc, err);
    if (s == CT_OK) {
        clv_unpack(acc, 4, ll, g, H);
    }
    free(tab);
    free(la);
    free(ia);
    return s;
}

ct_status clv_bgnbd_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                       unsigned threads, ct_error *err)
{
    return family_ll(d, p, ll, g, H, threads, 0, err);
}

ct_status clv_mbgnbd_ll(const ct_clv_data *d, const double *p, double *ll, double *g, double *H,
                        unsigned threads, ct_error *err)
{
    return family_ll(d, p, ll, g, H, threads, 1, err);
}

/* ---- one row with the customer's own parameters (static covariates) ------- */

/* Sums over j < y of log((b+j)/(a+b+j)) and of its derivatives in a and b
 * (first; second: aa = ab, bb): lnB(a, b+y) - lnB(a, b) for whole y. */
typedef struct bsum {
    double v, da, db, haa, hbb;
} bsum;

/* s over j < y (y whole, small), then s2 = s plus the term j = y: the two
 * Beta ratios of a row in one pass and one logarithm each. */
static void bsum_run(double a, double b, double y, int hess, bsum *s, bsum *s2)
{
    double prod = 1, lacc = 0, da = 0, db = 0, haa = 0, hbb = 0;
    for (double j = 0; j <= y; j++) {
        if (prod < 1e-200) { /* far from underflow: fold into the log */
            lacc += log(prod);
            prod = 1;
        }
        if (j == y) {
            s->v = lacc + log(prod);
            s->da = da;
            s->db = db;
            s->haa = haa;
            s->hbb = hbb;
        }
        double ib = 1.0 / (b + j), iab = 1.0 / (a + b + j);
        prod *= (b + j) * iab;
        da -= iab;
        db += ib - iab;
        if (hess) {
            haa += iab * iab;
            hbb -= ib * ib - iab * iab;
        }
    }
    s2->v = lacc + log(prod);
    s2->da = da;
    s2->db = db;
    s2->haa = haa;
    s2->hbb = hbb;
}

/* The same by special functions (large y). */
static void bsum_special(double a, double b, double y, int hess, bsum *s)
{
    double h[3];
    lbeta_shift(a, b, 0.0, y, &s->v, &s->da, &s->db, hess ? h : NULL);
    s->haa = hess ? h[0] : 0.0;
    s->hbb = hess ? h[2] : 0.0;
}

#define BG_SUM_MAX 32.0

double clv_bg_row(const double *p, int mbg, double x, double tx, double T, const double G[3],
                  double *g, double *h)
{
    const double a = p[2], b = p[3];
    const int hess = h != NULL;
    xtab e = {0}; /* B3 terms stay 0 where there is no B3 (their weight is 0) */
    e.G = G[0];
    e.dGr = G[1];
    e.hGr = G[2];
    e.has3 = mbg || x > 0;
    /* B2 = lnB(a, b+y2) - lnB(a,b), y2 = x (+1 MBG); B3 = lnB(a+1, b+y3) -
     * lnB(a,b) = log(a / (a+b+y3)) + [lnB(a, b+y3) - lnB(a,b)], y3 = y2 - 1 */
    double y2 = x + (mbg ? 1.0 : 0.0), y3 = y2 - 1;
    bsum s3, s2;
    if (y2 <= BG_SUM_MAX) {
        bsum_run(a, b, y3 >= 0 ? y3 : 0, hess, &s3, &s2);
        if (y3 < 0) { /* BG/NBD at x = 0: B2 is lnB(a, b) - lnB(a, b) = 0, no B3 */
            s2 = s3;
        }
    } else {
        bsum_special(a, b, y3, hess, &s3);
        bsum_special(a, b, y2, hess, &s2);
    }
    e.B2 = s2.v;
    e.dB2a = s2.da;
    e.dB2b = s2.db;
    e.hB2aa = e.hB2ab = s2.haa;
    e.hB2bb = s2.hbb;
    if (e.has3) {
        double c = a + b + y3, ic = 1.0 / c;
        e.B3 = s3.v + log(a * ic);
        e.dB3a = s3.da + 1.0 / a - ic;
        e.dB3b = s3.db - ic;
        e.hB3aa = s3.haa - 1.0 / (a * a) + ic * ic;
        e.hB3ab = s3.haa + ic * ic;
        e.hB3bb = s3.hbb + ic * ic;
    }
    bg_ctx c = {p[0], p[1], a, b, log(p[1]), NULL, NULL, NULL};
    double hl[10];
    return bg_row(&c, &e, x, log(p[1] + T), 1.0 / (p[1] + T), log(p[1] + tx), 1.0 / (p[1] + tx),
                  g, hess ? h : hl, hess);
}

/* ---- predictions ---------------------------------------------------------- */


double clv_bg_p_alive(const double *p, int mbg, double x, double tx, double T)
{
    double r = p[0], al = p[1], a = p[2], b = p[3];
    if (!mbg && x == 0) {
        return 1.0;
    }
    double lratio = log(a) - log(b + x - (mbg ? 0.0 : 1.0)) +
                    (r + x) * (log(al + T) - log(al + tx));
    return 1.0 / (1.0 + exp(lratio));
}

/* logit P(alive) = -(log a - log(b + x [- 1]) + (r + x) log((alpha+T)/(alpha+t_x))):
 * its gradient in log r, log alpha, log a, log b in closed form. */
double clv_bg_p_alive_grad(const double *p, int mbg, double x, double tx, double T, double g[4])
{
    double r = p[0], al = p[1], a = p[2], b = p[3];
    if (!mbg && x == 0) {
        g[0] = g[1] = g[2] = g[3] = 0;
        return 1.0;
    }
    double bx = b + x - (mbg ? 0.0 : 1.0), dlt = log(al + T) - log(al + tx);
    double lratio = log(a) - log(bx) + (r + x) * dlt;
    g[0] = -r * dlt;
    g[1] = (r + x) * al * (T - tx) / ((al + T) * (al + tx));
    g[2] = -1.0;
    g[3] = b / bx;
    return 1.0 / (1.0 + exp(lratio));
}

/* 1 - (1-z)^(a-1) 2F1(A, a-1; C; z), computed without cancellation, from
 * the series' value h = 2F1(A, a-1; C; z). */
static double bracket(double a, double z, double h)
{
    if (z <= 0) {
        return 0.0;
    }
    double S1 = h - 1.0, l = log1p(-z); /* the series minus its leading 1 */
    return -expm1((a - 1) * l) - exp((a - 1) * l) * S1;
}

/* BG/NBD: c = a+b+x-1, 2F1(a+b-1-r, a-1; c; z); MBG: c = a+b+x, 2F1(a+b-r, a-1; c; z) */
#define BG_FUTURE_AC(p, mbg, x, A, C)                                                              \
    double C = (mbg) ? (p)[2] + (p)[3] + (x) : (p)[2] + (p)[3] + (x) - 1.0;                      \
    double A = (mbg) ? (p)[2] + (p)[3] - (p)[0] : (p)[2] + (p)[3] - 1.0 - (p)[0]

double clv_bg_future(const double *p, int mbg, double x, double T, double t)
{
    double al = p[1], a = p[2];
    BG_FUTURE_AC(p, mbg, x, A, C);
    double z = t / (al + T + t);
    return C / (a - 1.0) * bracket(a, z, z <= 0 ? 1.0 : clv_hyp2f1(A, a - 1, C, z));
}

void clv_bg_future_many(const double *p, int mbg, double x, double T, const double *t, size_t m,
                        double *out)
{
    double al = p[1], a = p[2], z[64], h[64];
    BG_FUTURE_AC(p, mbg, x, A, C);
    for (size_t k0 = 0; k0 < m; k0 += 64) {
        size_t w = m - k0 < 64 ? m - k0 : 64;
        for (size_t k = 0; k < w; k++) {
            z[k] = t[k0 + k] / (al + T + t[k0 + k]);
        }
        clv_hyp2f1_many(A, a - 1, C, z, w, h);
        for (size_t k = 0; k < w; k++) {
            out[k0 + k] = C / (a - 1.0) * bracket(a, z[k], h[k]);
        }
    }
}

double clv_bg_expected(const double *p, int mbg, double x, double tx, double T, double t)
{
    return clv_bg_future(p, mbg, x, T, t) * clv_bg_p_alive(p, mbg, x, tx, T);
}

/* P(X(t) = x) for a new customer (FHL 2005a eq. 8; MBG: Batislam et al. eq. 8
 * as the same mixture with the modified beta terms). */
double clv_bg_pmf(const double *p, int mbg, double t, double x)
{
    double r = p[0], al = p[1], a = p[2], b = p[3];
    double lq = log(al / (al + t)), lz = log(t / (al + t));
    double lnb = clv_lgamma(r + x) - clv_lgamma(r) - clv_lgamma(x + 1) + r * lq +
                 (t > 0 ? x * lz : (x == 0 ? 0 : -CT_INF));
    double v2, da, db;
    lbeta_shift(a, b, 0.0, x + (mbg ? 1.0 : 0.0), &v2, &da, &db, NULL);
    double pr = exp(v2 + lnb);
    if (mbg || x > 0) {
        double v3;
        lbeta_shift(a, b, 1.0, x + (mbg ? 0.0 : -1.0), &v3, &da, &db, NULL);
        /* P(N(t) >= x) = 1 - sum_{j<x} NB(j): the x-th purchase happened, then
         * the drop-out (BG/NBD: after x-1 survived chances; MBG: after x). */
        double cdf = 0;
        for (double j = 0; j < x; j++) {
            cdf += exp(clv_lgamma(r + j) - clv_lgamma(r) - clv_lgamma(j + 1) + r * lq +
                       (t > 0 ? j * lz : (j == 0 ? 0 : -CT_INF)));
        }
        double tail = 1.0 - cdf;
        pr += exp(v3) * (tail > 0 ? tail : 0.0);
    }
    return pr;
}
