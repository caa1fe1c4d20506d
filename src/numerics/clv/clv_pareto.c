/* clv_pareto.c - Pareto/NBD likelihood, gradient and predictions.
 *
 * Integrating the exponential drop-out time out of the individual-level
 * likelihood (Fader & Hardie 2005, "A note on deriving the Pareto/NBD model
 * and related expressions", eqs. 2-4) gives
 *   L = C [ (alpha+T)^-(r+x) (beta/(beta+T))^s + s beta^s (F(t_x) - F(T)) ],
 *   C = Gamma(r+x) alpha^r / Gamma(r),
 *   F(t) = int_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du,
 * which equals the note's closed form (eq. 5) with its 2F1 terms: F(t) is
 * (alpha+t)^-(r+s+x) 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) /
 * (r+s+x) for alpha >= beta and the mirror image otherwise.  We evaluate F
 * by quadrature instead, which is stable for every (x, t, alpha, beta): the
 * integrand is positive and log-convex, so composite 12-point Gauss-Legendre
 * panels whose log-integrand drops by at most 4 each reach ~1e-15 relative
 * accuracy, in log scale (no underflow for large x), and the derivatives of
 * log F come from the same nodes.  The rows are in (x, T) order: F(x, T)
 * comes down each run of one x within a row block (the tail integral at the
 * run's largest T, then the short gaps between neighbours, mostly 2-point
 * panels), in the row pass itself; F(x, t_x) once per distinct (x, t_x),
 * the same way over the sorted pairs, into a table.  F(t_x) - F(T) is
 * formed as F(t_x) (1 - exp(lnF(T) - lnF(t_x))) with expm1.
 *
 * Predictions (Fader & Hardie 2005 note, eqs. 10-11; SMC 1987):
 *   P(alive) = first term / bracket,
 *   E[Y(t)] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive),
 *   E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]. */
#include "numerics/clv/clv_internal.h"
#include "clvtier/par.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem_internal.h"

/* Gauss-Legendre rules of 2, 4, 6, 8 and 12 points on [0, 1].  For an
 * integrand whose log drops by c across the panel the n-point error is about
 * (c/2)^(2n) / (2n)!: below 1e-15 for (n, c) = (4, 0.1), (6, 0.5), (8, 1.5)
 * and (12, 4).  The 2-point rule serves the short gaps between neighbouring
 * times: its error on a panel of width h is h^4 f^(4) / 4320 (relative to
 * h f), and for (m+u)^-A the fourth derivative is A(A+1)(A+2)(A+3) / (m+u)^4
 * < ((A+3) / (m+u))^4 relative to the function, so with A = r+x+s+1 (both
 * factors together), m = min(alpha, beta) and (A+3) h / (m+u) <= GL2_REL the
 * error is below 1e-12 / 4320 = 2.3e-16 (test_pareto_dense_times checks
 * the likelihood against the closed form). */
#define GL_RULES 5
static const int GL_ORDER[GL_RULES] = {2, 4, 6, 8, 12};
static const double GL_DROP[GL_RULES] = {0.0 /* unused */, 0.1, 0.5, 1.5, 4.0};
#define GL2_REL 1e-3

typedef struct gl_rule {
    double u[GL_RULES][12], w[GL_RULES][12];
} gl_rule;

static int gl_init(gl_rule *g)
{
    for (int r = 0; r < GL_RULES; r++) {
        gsl_integration_glfixed_table *t =
            gsl_integration_glfixed_table_alloc((size_t)GL_ORDER[r]);
        if (t == NULL) {
            return -1;
        }
        for (size_t i = 0; i < (size_t)GL_ORDER[r]; i++) {
            double xi, wi;
            gsl_integration_glfixed_point(0.0, 1.0, i, &xi, &wi, t);
            g->u[r][i] = xi;
            g->w[r][i] = wi;
        }
        gsl_integration_glfixed_table_free(t);
    }
    return 0;
}

/* Index of (i, j), i <= j, in the upper triangle of a 4 x 4 matrix stored
 * row by row (00 01 02 03 11 12 13 22 23 33). */
#define UT4(i, j) ((size_t)((i) * 4 - (i) * ((i) - 1) / 2 + ((j) - (i))))

/* log of int_a^b (alpha+u)^-(r+x) (beta+u)^-(s+1) du (b may be +inf) and its
 * derivatives in (r, alpha, s, beta), relative to the integral; with h !=
 * NULL also the Hessian of the log (upper triangle): for I = int exp(phi),
 * d2 log I = E[phi_i phi_j + phi_ij] - E[phi_i] E[phi_j] under the weights
 * exp(phi) / I, from the same nodes. */
static void log_integral(const gl_rule *g, const double *p, double x, double a, double b,
                         double *lI, double dlI[4], double *h)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double ra = r + x, sb = s + 1;
    const double l0 = -ra * log(al + a) - sb * log(be + a);
    const double k0 = ra / (al + a) + sb / (be + a);
    double sum = 0, sd[4] = {0, 0, 0, 0}, sh[10] = {0};
    double u0 = a;
    for (int panel = 0; panel < 4000 && u0 < b; panel++) {
        double k = ra / (al + u0) + sb / (be + u0); /* decay rate: largest at the panel start */
        double hw = 4.0 / k;
        if (u0 + hw > b) {
            hw = b - u0;
        }
        int rule = (ra + sb + 3) * hw <= GL2_REL * (fmin(al, be) + u0) ? 0 : 1;
        while (rule > 0 && rule < GL_RULES - 1 && k * hw > GL_DROP[rule]) {
            rule++;
        }
        const double *gu = g->u[rule], *gw = g->w[rule];
        for (int i = 0; i < GL_ORDER[rule]; i++) {
            double u = u0 + hw * gu[i];
            double la = log(al + u), lb = log(be + u), ia = 1.0 / (al + u), ib = 1.0 / (be + u);
            double e = hw * gw[i] * exp(-ra * la - sb * lb - l0);
            double ph[4] = {-la, -ra * ia, -lb, -sb * ib};
            sum += e;
            for (int j = 0; j < 4; j++) {
                sd[j] += e * ph[j];
            }
            if (h != NULL) {
                for (int q = 0; q < 4; q++) {
                    for (int j = q; j < 4; j++) {
                        sh[UT4(q, j)] += e * ph[q] * ph[j];
                    }
                }
                sh[UT4(0, 1)] -= e * ia;
                sh[UT4(1, 1)] += e * ra * ia * ia;
                sh[UT4(2, 3)] -= e * ib;
                sh[UT4(3, 3)] += e * sb * ib * ib;
            }
        }
        u0 += hw;
        if (isinf(b)) {
            /* The tail beyond u0 is below exp(l(u0) - l0) (beta + u0) / s, relative
             * to a total of at least about 1 / k0: stop when that is negligible. */
            double lend = -ra * log(al + u0) - sb * log(be + u0) - l0;
            if (lend + log((be + u0) * k0 / s) < -40.0) {
                break;
            }
        }
    }
    *lI = l0 + log(sum);
    for (int j = 0; j < 4; j++) {
        dlI[j] = sum > 0 ? sd[j] / sum : 0.0;
    }
    for (int q = 0; h != NULL && q < 4; q++) {
        for (int j = q; j < 4; j++) {
            h[UT4(q, j)] = sum > 0 ? sh[UT4(q, j)] / sum - dlI[q] * dlI[j] : 0.0;
        }
    }
}

static void logF(const gl_rule *g, const double *p, double x, double t, double *lF, double dlF[4])
{
    log_integral(g, p, x, t, CT_INF, lF, dlF, NULL);
}

/* One step down a run of times: (lF, dlF, h) hold log F(x, t1), its
 * gradient and (h != NULL) Hessian (UT4); they become those at t < t1:
 * F(t) = F(t1) + int_t^t1 (only a short gap to integrate; positive terms,
 * so no cancellation). */
static inline void logF_down(const gl_rule *g, const double *p, double x, double t, double t1,
                             double *lF, double dlF[4], double *h)
{
    double lG, dG[4], hG[10];
    log_integral(g, p, x, t, t1, &lG, dG, h != NULL ? hG : NULL);
    double l = clv_logaddexp(*lF, lG);
    double w1 = exp(*lF - l), w2 = exp(lG - l);
    for (int q = 0; h != NULL && q < 4; q++) { /* Hessian of logaddexp */
        for (int j = q; j < 4; j++) {
            size_t u = UT4(q, j);
            h[u] = w1 * h[u] + w2 * hG[u] + w1 * w2 * (dlF[q] - dG[q]) * (dlF[j] - dG[j]);
        }
    }
    for (int j = 0; j < 4; j++) {
        dlF[j] = w1 * dlF[j] + w2 * dG[j];
    }
    *lF = l;
}

/* F(x, t) for the pairs [begin, end) of one x, sorted by t: the largest t's
 * tail, then down the run (logF_down).  hF (NULL: not wanted): the
 * Hessians of log F, 10 per pair. */
static void logF_run(const gl_rule *g, const double *p, double x, const double *t, size_t n,
                     double *lF, double *dlF, float *hF)
{
    size_t last = n - 1;
    double l, d[4], h[10]; /* the running Hessian stays double; stored as float */
    log_integral(g, p, x, t[last], CT_INF, &l, d, hF != NULL ? h : NULL);
    for (size_t i = n; i-- > 0;) {
        if (i < last) {
            logF_down(g, p, x, t[i], t[i + 1], &l, d, hF != NULL ? h : NULL);
        }
        lF[i] = l;
        memcpy(&dlF[4 * i], d, sizeof d);
        for (int u = 0; hF != NULL && u < 10; u++) {
            hF[10 * i + (size_t)u] = (float)h[u];
        }
    }
}

/* ---- likelihood ----------------------------------------------------------- */

/* Runs of pairs of one x are cut into pieces of at most PAIR_PIECE pairs
 * (each with its own tail integral) so threads share the long runs (x = 0
 * holds most customers); the pieces do not depend on the thread count. */
#define PAIR_PIECE ((size_t)4096)

typedef struct pair_job {
    const gl_rule *g;
    const double *p;
    const ct_clv_data *d;
    const size_t *run;      /* pairs of piece j: [run[j], run[j+1]) share one x */
    double *lF, *dlF;       /* npairs, npairs x 4 */
    float *hF;              /* npairs x 10 (or NULL) */
} pair_job;

static ct_status pair_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    pair_job *J = vctx;
    (void)b;
    (void)err;
    for (size_t j = begin; j < end; j++) {
        size_t a = J->run[j], n = J->run[j + 1] - a;
        logF_run(J->g, J->p, (double)J->d->px[a], J->d->pt + a, n, J->lF + a, J->dlF + 4 * a,
                 J->hF != NULL ? J->hF + 10 * a : NULL);
    }
    return CT_OK;
}

typedef struct row_ctx {
    const gl_rule *g;
    const double *p;
    const double *lF, *dlF;
    const float *hF; /* the Hessians of log F, as float: they only steer Newton (to ~1e-7)
                      * and give standard errors (to ~1e-7, far inside 1e-4) */
    const double *G, *dGr, *hGr; /* per x: lnGamma(r+x) - lnGamma(r), d/dr, d2/dr2 */
    const double *la, *lb, *ia, *ib; /* per time value t: logs and inverses of alpha+t, beta+t */
} row_ctx;

/* One row: lnL = lnC + log S, S = exp(a1) + s beta^s (F1 - F2), gradient
 * and (hess) Hessian (upper triangle, UT4).  With w1 = exp(a1)/S and
 * f = s beta^s F1 / S, rho = F2/F1, d1, d2 the gradients of log F1, log F2,
 *   dS/S   = w1 da1 + w2 dk2 + f (d1 - rho d2),
 *   d2S/S  = w1 (Ha1 + da1 da1') + w2 (Hk2 + dk2 dk2')
 *          + f [(H1 + d1 d1') - rho (H2 + d2 d2') + dk2 (d1 - rho d2)' + (d1 - rho d2) dk2'],
 *   d2 log S = d2S/S - (dS/S)(dS/S)'
 * (k2 = log(s beta^s)), with no division by the drop-out term's weight.
 * F2 = F(x, T) comes down each run of one x in the block (the rows are in
 * (x, T) order): the tail integral at the run's largest T, then the gaps
 * (logF_down), so it costs a short integral per row and no memory; F1 =
 * F(x, t_x) comes from the pairs' table.  The block's rows are summed from
 * its end. */
/* Rows ahead whose pair at t_x is prefetched. */
#define PF_AHEAD 8

static inline void pareto_rows_any(const void *vctx, const ct_clv_data *d, size_t begin,
                                   size_t end, double *acc, int hess)
{
    const row_ctx *c = vctx;
    const double r = c->p[0], al = c->p[1], s = c->p[2], be = c->p[3];
    const double lal = log(al), lbe = log(be), ls = log(s);
    double lF2 = 0, d2[4] = {0, 0, 0, 0}, h2[10] = {0}; /* F(x, T) down the run */
    for (size_t i = end; i-- > begin;) {
        double x = d->x[i], w = d->w[i], rx = r + x, T = d->T[i];
        uint32_t xi = d->xi[i];
        double laT, lbT, iaT, ibT;
        if (i + 1 == end || d->x[i + 1] != x) {
            log_integral(c->g, c->p, x, T, CT_INF, &lF2, d2, hess ? h2 : NULL);
        } else if (T < d->T[i + 1]) {
            logF_down(c->g, c->p, x, T, d->T[i + 1], &lF2, d2, hess ? h2 : NULL);
        }
        uint32_t qa = i >= begin + PF_AHEAD ? d->p1[i - PF_AHEAD] : CLV_NO_PAIR;
        if (qa != CLV_NO_PAIR) { /* the pairs at t_x are read out of order */
            __builtin_prefetch(&c->lF[qa]);
            __builtin_prefetch(&c->dlF[4 * qa]);
            if (hess) {
                __builtin_prefetch(&c->hF[10 * qa]);
                __builtin_prefetch(&c->hF[10 * qa + 9]);
            }
        }
        if (d->ntv > 0) {
            uint32_t jT = d->iT[i];
            laT = c->la[jT], lbT = c->lb[jT], iaT = c->ia[jT], ibT = c->ib[jT];
        } else { /* times spread: no tables */
            laT = log(al + T), lbT = log(be + T), iaT = 1.0 / (al + T), ibT = 1.0 / (be + T);
        }
        double lnC = c->G[xi] + r * lal;
        double g[4] = {c->dGr[xi] + lal, r / al, 0, 0};
        double a1 = -rx * laT + s * (lbe - lbT);
        double da1[4] = {-laT, -rx * iaT, lbe - lbT, s / be - s * ibT};
        double ha1[10] = {0};
        double h[10] = {0};
        if (hess) {
            ha1[UT4(0, 1)] = -iaT;
            ha1[UT4(1, 1)] = rx * iaT * iaT;
            ha1[UT4(2, 3)] = 1.0 / be - ibT;
            ha1[UT4(3, 3)] = -s / (be * be) + s * ibT * ibT;
            h[UT4(0, 0)] = c->hGr[xi];
            h[UT4(0, 1)] = 1.0 / al;
            h[UT4(1, 1)] = -r / (al * al);
        }
        uint32_t q1 = d->p1[i];
        double ll;
        if (q1 == CLV_NO_PAIR) { /* t_x == T: the drop-out term is empty */
            ll = lnC + a1;
            for (int j = 0; j < 4; j++) {
                g[j] += da1[j];
            }
            for (int j = 0; hess && j < 10; j++) {
                h[j] += ha1[j];
            }
        } else {
            /* lnL = lnC + a1 + log1p(R), R = exp(a2 - a1) the drop-out term
             * relative to the alive term, a2 = k2 + log I, k2 = log(s beta^s),
             * I = F1 - F2 = F1 * -expm1(lnF2 - lnF1). */
            double lF1 = c->lF[q1], dd = lF2 - lF1;
            double k2 = ls + s * lbe;
            double em = expm1(dd); /* F2/F1 - 1, in (-1, 0] */
            double z = k2 + lF1 - a1;
            const double *d1 = &c->dlF[4 * q1];
            double dk2[4] = {0, 0, 1.0 / s + lbe, s / be};
            double w1, w2, f;
            if (z < 600) {
                double E1 = exp(z), R = -E1 * em;
                w1 = 1.0 / (1.0 + R);
                w2 = R * w1;
                f = E1 * w1; /* s beta^s F1 / S */
                ll = lnC + a1 + log1p(R);
            } else { /* the alive term is negligible: stay in logs */
                double a2 = k2 + lF1 + log(-em);
                double lnS = clv_logaddexp(a1, a2);
                w1 = exp(a1 - lnS);
                w2 = exp(a2 - lnS);
                f = exp(k2 + lF1 - lnS);
                ll = lnC + lnS;
            }
            double ed = 1.0 + em, gs[4], dI[4];
            for (int j = 0; j < 4; j++) {
                dI[j] = d1[j] - ed * d2[j];
                gs[j] = w1 * da1[j] + w2 * dk2[j] + f * dI[j];
                g[j] += gs[j];
            }
            if (hess) {
                const float *h1 = &c->hF[10 * q1];
                double hk2[10] = {0};
                hk2[UT4(2, 2)] = -1.0 / (s * s);
                hk2[UT4(2, 3)] = 1.0 / be;
                hk2[UT4(3, 3)] = -s / (be * be);
                for (int q = 0; q < 4; q++) {
                    for (int j = q; j < 4; j++) {
                        size_t u = UT4(q, j);
                        double S2 = w1 * (ha1[u] + da1[q] * da1[j]) +
                                    w2 * (hk2[u] + dk2[q] * dk2[j]) +
                                    f * ((double)h1[u] + d1[q] * d1[j] - ed * (h2[u] + d2[q] * d2[j]) +
                                         dk2[q] * dI[j] + dI[q] * dk2[j]);
                        h[u] += S2 - gs[q] * gs[j];
                    }
                }
            }
        }
        acc[0] += w * ll;
        for (int j = 0; j < 4; j++) {
            acc[1 + j] += w * g[j];
        }
        for (int j = 0; hess && j < 10; j++) {
            acc[5 + j] += w * h[j];
        }
    }
}

static void pareto_rows(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                        double *acc)
{
    pareto_rows_any(vctx, d, begin, end, acc, 0);
}

static void pareto_rows_h(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                          double *acc)
{
    pareto_rows_any(vctx, d, begin, end, acc, 1);
}

/* The pieces of runs of one x (PAIR_PIECE); *n of them. */
static size_t *pair_pieces(const ct_clv_data *d, size_t *n)
{
    size_t np = d->npairs, k = 0;
    size_t *run = malloc((np + 1) * sizeof *run);
    if (run == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < np; i++) {
        if (i == 0 || d->px[i] != d->px[i - 1] || i - run[k - 1] >= PAIR_PIECE) {
            run[k++] = i;
        }
    }
    run[k] = np;
    *n = k;
    return run;
}

ct_status clv_pareto_ll(const ct_clv_data *d, const double *p, double *ll, double *grad,
                        double *H, unsigned threads, ct_error *err)
{
    gl_rule g;
    size_t np = d->npairs, nx = d->nxv ? d->nxv : 1, nrun = 0, nt = d->ntv ? d->ntv : 1;
    clv_work *w = d->work;
    if (w != NULL && w->lF == NULL) {
        w->lF = ct_malloc_big(np, sizeof *w->lF);
        w->dlF = ct_malloc_big(np, 4 * sizeof *w->dlF);
    }
    if (w != NULL && H != NULL && w->hF == NULL) {
        w->hF = ct_malloc_big(np, 10 * sizeof *w->hF);
    }
    double *lF = w != NULL ? w->lF : NULL, *dlF = w != NULL ? w->dlF : NULL;
    float *hF = w != NULL && H != NULL ? w->hF : NULL;
    double *G = malloc(3 * nx * sizeof *G);
    double *tab = ct_malloc_big(nt, 4 * sizeof *tab);
    size_t *run = pair_pieces(d, &nrun);
    ct_status s = CT_OK;
    if (lF == NULL || dlF == NULL || (H != NULL && hF == NULL) || G == NULL || tab == NULL ||
        run == NULL || gl_init(&g) != 0) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        pair_job J = {&g, p, d, run, lF, dlF, hF};
        s = ct_par_for(nrun, 1, threads, pair_block, &J, err);
    }
    if (s == CT_OK) {
        double lgr = clv_lgamma(p[0]), psir = clv_digamma(p[0]), trir = clv_trigamma(p[0]);
        for (size_t x = 0; x < d->nxv; x++) {
            G[x] = clv_lgamma(p[0] + d->xv[x]) - lgr;
            G[nx + x] = clv_digamma(p[0] + d->xv[x]) - psir;
            G[2 * nx + x] = H != NULL ? clv_trigamma(p[0] + d->xv[x]) - trir : 0.0;
        }
        for (size_t v = 0; v < d->ntv; v++) {
            tab[v] = log(p[1] + d->tv[v]);
            tab[nt + v] = log(p[3] + d->tv[v]);
            tab[2 * nt + v] = 1.0 / (p[1] + d->tv[v]);
            tab[3 * nt + v] = 1.0 / (p[3] + d->tv[v]);
        }
        row_ctx c = {&g,         p,        lF,           dlF,         hF,          G, G + nx,
                     G + 2 * nx, tab,      tab + nt,     tab + 2 * nt, tab + 3 * nt};
        double acc[CLV_MAXACC];
        s = clv_reduce_acc(d, H != NULL ? 15 : 5, H != NULL ? pareto_rows_h : pareto_rows, &c,
                           threads, acc, err);
        if (s == CT_OK) {
            clv_unpack(acc, 4, ll, grad, H);
        }
    }
    free(run);
    free(tab);
    free(G);
    return s;
}

/* ---- one row with the customer's own parameters (static covariates) ------- */

struct clv_gl {
    gl_rule g;
};

clv_gl *clv_gl_new(void)
{
    clv_gl *g = malloc(sizeof *g);
    if (g != NULL && gl_init(&g->g) != 0) {
        free(g);
        g = NULL;
    }
    return g;
}

/* lnL = lnC + logaddexp(a1, a2): a1 the alive term, a2 = log(s beta^s) +
 * log I, I = int_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du the drop-out
 * term over a finite range (few panels: no tail integral per customer).
 * The Hessian of logaddexp: w1 H1 + w2 H2 + w1 w2 (d1 - d2)(d1 - d2)'. */
double clv_pareto_row(const clv_gl *gl, const double *p, double x, double tx, double T,
                      const double G[3], double *g, double *h)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3], rx = r + x;
    const double lal = log(al), lbe = log(be), laT = log(al + T), lbT = log(be + T);
    const double iaT = 1.0 / (al + T), ibT = 1.0 / (be + T);
    double a1 = -rx * laT + s * (lbe - lbT);
    double da1[4] = {-laT, -rx * iaT, lbe - lbT, s / be - s * ibT};
    double ha1[10] = {0};
    ha1[UT4(0, 1)] = -iaT;
    ha1[UT4(1, 1)] = rx * iaT * iaT;
    ha1[UT4(2, 3)] = 1.0 / be - ibT;
    ha1[UT4(3, 3)] = -s / (be * be) + s * ibT * ibT;
    double ll = G[0] + r * lal;
    double gc[4] = {G[1] + lal, r / al, 0, 0};
    double hc[10] = {0};
    hc[UT4(0, 0)] = G[2];
    hc[UT4(0, 1)] = 1.0 / al;
    hc[UT4(1, 1)] = -r / (al * al);
    if (!(tx < T)) { /* no time to drop out in */
        for (int j = 0; j < 4; j++) {
            g[j] = gc[j] + da1[j];
        }
        for (int j = 0; h != NULL && j < 10; j++) {
            h[j] = hc[j] + ha1[j];
        }
        return ll + a1;
    }
    double lI, dI[4], hI[10];
    log_integral(&gl->g, p, x, tx, T, &lI, dI, h != NULL ? hI : NULL);
    double a2 = log(s) + s * lbe + lI;
    double da2[4] = {dI[0], dI[1], dI[2] + 1.0 / s + lbe, dI[3] + s / be};
    double lnS = clv_logaddexp(a1, a2), w1 = exp(a1 - lnS), w2 = exp(a2 - lnS);
    for (int j = 0; j < 4; j++) {
        g[j] = gc[j] + w1 * da1[j] + w2 * da2[j];
    }
    if (h != NULL) {
        hI[UT4(2, 2)] += -1.0 / (s * s);
        hI[UT4(2, 3)] += 1.0 / be;
        hI[UT4(3, 3)] += -s / (be * be);
        for (int q = 0; q < 4; q++) {
            for (int j = q; j < 4; j++) {
                size_t u = UT4(q, j);
                h[u] = hc[u] + w1 * ha1[u] + w2 * hI[u] +
                       w1 * w2 * (da1[q] - da2[q]) * (da1[j] - da2[j]);
            }
        }
    }
    return ll + lnS;
}

/* ---- predictions ----------------------------------------------------------- */


/* log F(x, t) = log int_t^inf (alpha+u)^-a (beta+u)^-b du, a = r + x,
 * b = s + 1, in closed form (Fader & Hardie's two 2F1 branches): with
 * m = max(alpha, beta) and W = m + t, writing the other factor as
 * (m + u)(1 - d / (m + u)), d = |alpha - beta|, and integrating the binomial
 * series term by term,
 *   F = W^-(a+b-1) / (a+b-1) * 2F1(B, a+b-1; a+b; z),  z = d / W,
 * B = b when alpha >= beta, else a.  Every term of the series is positive
 * (no cancellation); it is summed when it converges fast, z <= PARETO_Z_MAX
 * (at most ~150 terms to 1e-17), else the caller integrates. */
#define PARETO_Z_MAX 0.75

/* The series' k-th term over the (k-1)-th, without z (c = a + b, cm1 = c - 1). */
static inline double series_q(double B, double cm1, double c, int k)
{
    return (B + k) * (cm1 + k) / ((c + k) * (k + 1));
}

/* The series' sum at z (terms to 1e-17 of the sum). */
static double series_sum(double B, double cm1, double c, double z)
{
    double t = 1, sum = 1;
    for (int k = 0; k < 4000 && t > 1e-17 * sum; k++) {
        t *= series_q(B, cm1, c, k) * z;
        sum += t;
    }
    return sum;
}

/* P(alive) from log F at t_x and T (a1 the alive term). */
static double p_alive_from(const double *p, double x, double T, double lF1, double lF2)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    double a1 = -(r + x) * log(al + T) + s * (log(be) - log(be + T));
    double a2 = log(s) + s * log(be) + lF1 + log(-expm1(lF2 - lF1));
    return 1.0 / (1.0 + exp(a2 - a1));
}

double clv_pareto_p_alive_quad(const double *p, double x, double tx, double T)
{
    if (tx >= T) {
        return 1.0;
    }
    double lF1, lF2, dl[4];
    gl_rule g;
    if (gl_init(&g) != 0) {
        return CT_NAN;
    }
    logF(&g, p, x, tx, &lF1, dl);
    logF(&g, p, x, T, &lF2, dl);
    return p_alive_from(p, x, T, lF1, lF2);
}

/* P(alive) in closed form: F(x, t_x) and F(x, T) summed in one loop (the
 * series share their coefficients; the two products are independent chains,
 * so they cost about one), and
 *   1/P - 1 = s beta^s (F(t_x) - F(T)) / ((alpha+T)^-(r+x) (beta/(beta+T))^s)
 * taken in logs with the common factors cancelled (no log(c - 1), no
 * log beta).  s00, when not NaN, is the series' sum at x = 0, t = 0 (the
 * same for every customer without a repeat purchase, and the longest: z is
 * largest at t = 0), so those rows sum only the series at T.  -1 when
 * z(t_x) > PARETO_Z_MAX (z falls as t grows, so z(T) is smaller). */
static int p_alive_closed(const double *p, double s00, const double *row, double x, double tx,
                          double T, double *P)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double a = r + x, b = s + 1, c = a + b, cm1 = c - 1;
    const double m = al >= be ? al : be, d = fabs(al - be), B = al >= be ? b : a;
    const double W1 = m + tx, z1 = d / W1, z2 = d / (m + T);
    if (!(z1 <= PARETO_Z_MAX)) {
        return -1;
    }
    double t1 = 1, s1 = 1, t2 = 1, s2 = 1;
    if (x == 0 && tx == 0 && !isnan(s00)) {
        s1 = s00;
        s2 = series_sum(B, cm1, c, z2);
    } else {
        for (int k = 0; k < 4000 && (t1 > 1e-17 * s1 || t2 > 1e-17 * s2); k++) {
            double q = row != NULL && k < PS_K ? row[3 * k] : series_q(B, cm1, c, k);
            t1 *= q * z1;
            t2 *= q * z2;
            s1 += t1;
            s2 += t2;
        }
    }
    const double lW1 = log(W1), laT = log(al + T), lbT = log(be + T);
    const double lW2 = al >= be ? laT : lbT;
    const double dl = -cm1 * (lW2 - lW1) + log(s2 / s1); /* log F(T) - log F(t_x) < 0 */
    const double e = log(s / cm1) - cm1 * lW1 + log(s1) + log(-expm1(dl)) + a * laT + s * lbT;
    *P = 1.0 / (1.0 + exp(e));
    return isfinite(*P) && dl < 0 ? 0 : -1;
}

double clv_pareto_s00(const double *p)
{
    double d[4];
    clv_pareto_s00_d(p, d); /* its S: series_sum's bits */
    return d[0];
}

/* The closed form where its series converges fast (z <= PARETO_Z_MAX at
 * t = t_x, so at T too), else the quadrature; the two agree to 1e-10
 * relative (test_pareto_p_alive_closed_form). */
double clv_pareto_p_alive_s00(const double *p, double s00, double x, double tx, double T)
{
    if (tx >= T) {
        return 1.0;
    }
    double P;
    if (p_alive_closed(p, s00, NULL, x, tx, T, &P) == 0) {
        return P;
    }
    return clv_pareto_p_alive_quad(p, x, tx, T);
}

/* The series' coefficients of x's row (NULL: none in the table). */
static const double *series_row(const clv_pareto_series *ps, double x)
{
    return ps != NULL && x >= 0 && x < PS_NX && x == (double)(size_t)x ? ps->c[(size_t)x][0]
                                                                       : NULL;
}

double clv_pareto_p_alive_tab(const double *p, const clv_pareto_series *ps, double x, double tx,
                              double T)
{
    if (tx >= T) {
        return 1.0;
    }
    double P;
    if (p_alive_closed(p, ps->s00d[0], series_row(ps, x), x, tx, T, &P) == 0) {
        return P;
    }
    return clv_pareto_p_alive_quad(p, x, tx, T);
}

double clv_pareto_p_alive(const double *p, double x, double tx, double T)
{
    return clv_pareto_p_alive_s00(p, CT_NAN, x, tx, T);
}

/* ---- the gradient of logit P(alive) (the delta method) ---------------------
 * With the series' terms t_k = z^k prod_{i<k} q_i, q_i = (B+i)(c-1+i) /
 * ((c+i)(i+1)), the derivatives of S = sum_k t_k follow term by term:
 *   d log q_i / da = [B = a] / (B+i) + 1 / ((c-1+i)(c+i))   (a = r + x)
 *   d log q_i / db = [B = b] / (B+i) + 1 / ((c-1+i)(c+i))   (b = s + 1)
 * so with U_k = sum_{i<k} 1/((c-1+i)(c+i)) and W_k = sum_{i<k} 1/(B+i),
 * dS/da = sum t_k (U_k + [B = a] W_k), likewise b, and dS/dz = sum k t_k / z.
 * The sums are kept beside S in the same loop, which stops where S's does
 * (their terms carry at most a factor k more, so they meet 1e-17 k there).
 * logit P = -e with e as p_alive_closed takes it, differentiated through
 * S(t_x), S(T), W = m + t and z = |alpha - beta| / W (m = max(alpha, beta)). */
typedef struct series_d {
    double S, TU, TW, TK; /* S, sum t_k U_k, sum t_k W_k, sum k t_k */
} series_d;

/* U_k's and W_k's k-th increments (one division for both). */
static inline void series_uw(double B, double cm1, double c, int k, double *u, double *w)
{
    double e = (cm1 + k) * (c + k), inv = 1.0 / (e * (B + k));
    *u = (B + k) * inv;
    *w = e * inv;
}

/* series_sum's S (the same bits) and its derivative sums; row: NULL, or
 * the coefficients' table row (the same bits). */
static void series_sum_d(double B, double cm1, double c, double z, const double *row,
                         series_d *o)
{
    double t = 1, sum = 1, U = 0, W = 0, TU = 0, TW = 0, TK = 0;
    for (int k = 0; k < 4000 && t > 1e-17 * sum; k++) {
        double q;
        if (row != NULL && k < PS_K) {
            q = row[3 * k];
            U = row[3 * k + 1];
            W = row[3 * k + 2];
        } else {
            double u, w;
            series_uw(B, cm1, c, k, &u, &w);
            U += u;
            W += w;
            q = series_q(B, cm1, c, k);
        }
        t *= q * z;
        sum += t;
        TU += t * U;
        TW += t * W;
        TK += (k + 1) * t;
    }
    *o = (series_d){sum, TU, TW, TK};
}

void clv_pareto_series_make(const double *p, clv_pareto_series *ps)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3], b = s + 1;
    clv_pareto_s00_d(p, ps->s00d);
    for (size_t x = 0; x < PS_NX; x++) {
        const double a = r + (double)x, c = a + b, cm1 = c - 1, B = al >= be ? b : a;
        double U = 0, W = 0;
        for (int k = 0; k < PS_K; k++) { /* the loops' own expressions and order */
            double u, w;
            series_uw(B, cm1, c, k, &u, &w);
            U += u;
            W += w;
            ps->c[x][k][0] = series_q(B, cm1, c, k);
            ps->c[x][k][1] = U;
            ps->c[x][k][2] = W;
        }
    }
}

void clv_pareto_s00_d(const double *p, double out[4])
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double a = r + 0.0, b = s + 1, c = a + b, m = al >= be ? al : be, B = al >= be ? b : a;
    const double z = fabs(al - be) / m;
    series_d o = {CT_NAN, CT_NAN, CT_NAN, CT_NAN};
    if (z <= PARETO_Z_MAX) {
        series_sum_d(B, c - 1, c, z, NULL, &o);
    }
    out[0] = o.S;
    out[1] = o.TU;
    out[2] = o.TW;
    out[3] = o.TK;
}

/* d log S / d(r, s, z) of one series (Ba: B is a). */
static void series_dlog(const series_d *o, double z, int Ba, double B, double cm1, double c,
                        double d[3])
{
    d[0] = (o->TU + (Ba ? o->TW : 0.0)) / o->S;
    d[1] = (o->TU + (Ba ? 0.0 : o->TW)) / o->S;
    d[2] = z > 0 ? o->TK / (z * o->S) : B * cm1 / c; /* at z = 0: q_0 */
}

int clv_pareto_p_alive_grad(const double *p, const double *s00d, const clv_pareto_series *ps,
                            double x, double tx, double T, double *P, double g[4])
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    g[0] = g[1] = g[2] = g[3] = 0;
    if (tx >= T) {
        *P = 1.0;
        return 0;
    }
    const double a = r + x, b = s + 1, c = a + b, cm1 = c - 1;
    const int ab = al >= be; /* m = alpha, B = b */
    const double m = ab ? al : be, d = fabs(al - be), B = ab ? b : a;
    const double W1 = m + tx, W2 = m + T, z1 = d / W1, z2 = d / W2;
    if (!(z1 <= PARETO_Z_MAX)) {
        return -1;
    }
    series_d o1, o2;
    if (x == 0 && tx == 0 && s00d != NULL && !isnan(s00d[0])) {
        o1 = (series_d){s00d[0], s00d[1], s00d[2], s00d[3]};
        series_sum_d(B, cm1, c, z2, series_row(ps, x), &o2);
    } else { /* the two chains of p_alive_closed's loop, with their sums */
        double t1 = 1, s1 = 1, t2 = 1, s2 = 1, U = 0, W = 0;
        double tu1 = 0, tw1 = 0, tk1 = 0, tu2 = 0, tw2 = 0, tk2 = 0;
        const double *row = series_row(ps, x);
        for (int k = 0; k < 4000 && (t1 > 1e-17 * s1 || t2 > 1e-17 * s2); k++) {
            double q;
            if (row != NULL && k < PS_K) { /* the same values, made once per fit */
                q = row[3 * k];
                U = row[3 * k + 1];
                W = row[3 * k + 2];
            } else {
                double u, w;
                q = series_q(B, cm1, c, k);
                series_uw(B, cm1, c, k, &u, &w);
                U += u;
                W += w;
            }
            t1 *= q * z1;
            t2 *= q * z2;
            s1 += t1;
            s2 += t2;
            tu1 += t1 * U;
            tw1 += t1 * W;
            tk1 += (k + 1) * t1;
            tu2 += t2 * U;
            tw2 += t2 * W;
            tk2 += (k + 1) * t2;
        }
        o1 = (series_d){s1, tu1, tw1, tk1};
        o2 = (series_d){s2, tu2, tw2, tk2};
    }
    const double s1 = o1.S, s2 = o2.S;
    const double lW1 = log(W1), laT = log(al + T), lbT = log(be + T);
    const double lW2 = ab ? laT : lbT;
    const double dl = -cm1 * (lW2 - lW1) + log(s2 / s1);
    const double e = log(s / cm1) - cm1 * lW1 + log(s1) + log(-expm1(dl)) + a * laT + s * lbT;
    *P = 1.0 / (1.0 + exp(e));
    if (!(isfinite(*P) && dl < 0)) {
        return -1;
    }
    double d1[3], d2[3];
    series_dlog(&o1, z1, !ab, B, cm1, c, d1);
    series_dlog(&o2, z2, !ab, B, cm1, c, d2);
    /* z and log W in alpha and beta, at t_x (1) and T (2) */
    const double z1a = ab ? (be + tx) / (W1 * W1) : -1.0 / W1;
    const double z1b = ab ? -1.0 / W1 : (al + tx) / (W1 * W1);
    const double z2a = ab ? (be + T) / (W2 * W2) : -1.0 / W2;
    const double z2b = ab ? -1.0 / W2 : (al + T) / (W2 * W2);
    const double w1a = ab ? 1.0 / W1 : 0.0, w1b = ab ? 0.0 : 1.0 / W1;
    const double w2a = ab ? 1.0 / W2 : 0.0, w2b = ab ? 0.0 : 1.0 / W2;
    const double rho = exp(dl) / -expm1(dl); /* -d log(-expm1(dl)) / d dl */
    const double dl_r = -(lW2 - lW1) + d2[0] - d1[0];
    const double dl_s = -(lW2 - lW1) + d2[1] - d1[1];
    const double dl_a = -cm1 * (w2a - w1a) + d2[2] * z2a - d1[2] * z1a;
    const double dl_b = -cm1 * (w2b - w1b) + d2[2] * z2b - d1[2] * z1b;
    const double e_r = -1.0 / cm1 - lW1 + d1[0] - rho * dl_r + laT;
    const double e_s = 1.0 / s - 1.0 / cm1 - lW1 + d1[1] - rho * dl_s + lbT;
    const double e_a = -cm1 * w1a + d1[2] * z1a - rho * dl_a + a / (al + T);
    const double e_b = -cm1 * w1b + d1[2] * z1b - rho * dl_b + s / (be + T);
    g[0] = -r * e_r; /* logit P = -e, in log r, log alpha, log s, log beta */
    g[1] = -al * e_a;
    g[2] = -s * e_s;
    g[3] = -be * e_b;
    return 0;
}

/* [1 - (u / (u + t))^(s-1)] / (s - 1), continuous at s = 1. */
static double growth(double s, double u, double t)
{
    double l = log1p(t / u);
    if (fabs(s - 1) < 1e-10) {
        return l;
    }
    return -expm1(-(s - 1) * l) / (s - 1);
}

double clv_pareto_future(const double *p, double x, double T, double t)
{
    const double r = p[0], al = p[1], be = p[3];
    return (r + x) * (be + T) / (al + T) * growth(p[2], be + T, t);
}

double clv_pareto_expected(const double *p, double x, double tx, double T, double t)
{
    return clv_pareto_future(p, x, T, t) * clv_pareto_p_alive(p, x, tx, T);
}

typedef struct pmf_ctx {
    const double *p;
    double x;
} pmf_ctx;

static double pmf_integrand(double u, void *vctx)
{
    const pmf_ctx *c = vctx;
    const double r = c->p[0], al = c->p[1], s = c->p[2], be = c->p[3], x = c->x;
    double lnb = clv_lgamma(r + x) - clv_lgamma(r) - clv_lgamma(x + 1) + r * log(al / (al + u)) +
                 (u > 0 ? x * log(u / (al + u)) : (x == 0 ? 0 : -CT_INF));
    return exp(log(s) + s * log(be) - (s + 1) * log(be + u) + lnb);
}

/* P(X(t) = x): alive all of (0, t], or dropped out at u in (0, t]. */
double clv_pareto_pmf(const double *p, double t, double x)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    double alive = exp(s * log(be / (be + t)) + clv_lgamma(r + x) - clv_lgamma(r) -
                       clv_lgamma(x + 1) + r * log(al / (al + t)) +
                       (t > 0 ? x * log(t / (al + t)) : (x == 0 ? 0 : -CT_INF)));
    gsl_integration_workspace *ws = gsl_integration_workspace_alloc(200);
    if (ws == NULL) {
        return CT_NAN;
    }
    pmf_ctx c = {p, x};
    gsl_function fn = {pmf_integrand, &c};
    double v = 0, e = 0;
    int rc = gsl_integration_qag(&fn, 0.0, t, 1e-13, 1e-10, 200, GSL_INTEG_GAUSS41, ws, &v, &e);
    gsl_integration_workspace_free(ws);
    return rc == 0 || rc == GSL_EROUND ? alive + v : CT_NAN;
}
