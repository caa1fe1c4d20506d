/* clv_dyn.c - Pareto/NBD with time-varying covariates (Bachmann, Meierer &
 * Naef 2021; clv.h has the likelihood): the data, the log-likelihood with
 * its analytic gradient, and the scores.
 *
 * Customer i's covariates are a path of segments, each with one value per
 * coefficient; on a segment the rates exp(gamma_trans' z) = c_t and
 * exp(gamma_life' z) = c_l are constant, so A(u) and B(u) are linear there
 * and the drop-out integral over [t_x, T] is a sum of integrals of
 *   c_l (a + c_t v)^-(r+x) (b + c_l v)^-(s+1)
 * over pieces of the segments.  Each piece gets 4-point Gauss-Legendre; a
 * piece is cut short so that a + c_t v and b + c_l v grow by at most 25 %
 * (the nearest singularity of the integrand is then at least 4 piece
 * lengths away: the rule's error is below ~1e-10 relative) and the
 * log-integrand changes by at most 1.  A test holds the result to the
 * closed form of plain Pareto/NBD at 1e-10 relative.
 *
 * The same walk gives P(alive at T) (the alive term's share of the
 * likelihood); expected purchases in (T, T + t] are
 *   P(alive) (r+x)/(alpha+A(T)) int_T^{T+t} c_t(u) ((beta+B(T))/(beta+B(u)))^s du,
 * each segment's integral in closed form.  The Hessian for Newton steps
 * and standard errors is differenced from the analytic gradient
 * (clv_fit.c). */
#include "numerics/clv/clv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/par.h"
#include "core/mem_internal.h"

static const double GLX[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                              0.8611363115940526};
static const double GLW[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                              0.3478548451374538};
#define DYN_GROWTH 0.125 /* a piece's relative growth of alpha + A and beta + B */
#define DYN_CHANGE 1.0  /* and the change of the log-integrand over it */
#define DYN_MAXPIECES 100000 /* per segment: beyond, the parameters are absurd */

/* Where customer ci's segment k ends. */
static double seg_end(const ct_clv_paths *P, size_t ci, size_t k)
{
    return k + 1 < P->off[ci + 1] ? P->t0[k + 1] : P->end[ci];
}

/* ---- one customer ------------------------------------------------------------ */

typedef struct dyn_ctx {
    const double *par; /* r, alpha, s, beta, then the coefficients */
    size_t K;
    double at[CT_CLV_MAXCOEF], al[CT_CLV_MAXCOEF]; /* 1 where coefficient j acts */
    const double *G; /* per distinct x: lnG(r+x) - lnG(r), psi(r+x) - psi(r) */
} dyn_ctx;

static void dyn_ctx_init(dyn_ctx *c, const double *par, size_t K, const unsigned *proc)
{
    memset(c, 0, sizeof *c);
    c->par = par;
    c->K = K;
    for (size_t j = 0; j < K; j++) {
        c->at[j] = (proc[j] & CT_COV_PURCHASE) ? 1.0 : 0.0;
        c->al[j] = (proc[j] & CT_COV_DROPOUT) ? 1.0 : 0.0;
    }
}

/* The rates of a segment with values z; *el = log c_l. */
static void seg_rates(const dyn_ctx *c, const double *z, double *ct, double *cl, double *el)
{
    double et = 0, e = 0;
    for (size_t j = 0; j < c->K; j++) {
        double v = c->par[4 + j] * z[j];
        et += c->at[j] * v;
        e += c->al[j] * v;
    }
    *ct = exp(et);
    *cl = exp(e);
    *el = e;
}

/* What the walk over [0, T] leaves besides lnL. */
typedef struct dyn_state {
    double aT, bT;  /* alpha + A(T), beta + B(T) */
    double p_alive; /* the alive term's share */
} dyn_state;

/* Customer ci's lnL (without the x terms of Gx: added by the caller) and,
 * g != NULL, its gradient (4 + K) less those terms; NaN when a rate
 * overflows. */
static double dyn_walk(const dyn_ctx *c, const ct_clv_paths *P, size_t ci, double x, double tx,
                       double T, double *g, dyn_state *st)
{
    const size_t K = c->K;
    const double *par = c->par;
    const double r = par[0], al = par[1], s = par[2], be = par[3], p = r + x, q = s + 1;
    const double ga = fmin(DYN_GROWTH, expm1(DYN_CHANGE / p)),
                 gb = fmin(DYN_GROWTH, expm1(DYN_CHANGE / q));
    double A = 0, B = 0, dA[CT_CLV_MAXCOEF] = {0}, dB[CT_CLV_MAXCOEF] = {0};
    /* the integral times exp(-M) (M: the largest log-integrand so far) and
     * its derivatives in r, alpha, s, beta (with s + 1 as q), gamma */
    double M = -(double)INFINITY, I = 0, dI[4 + CT_CLV_MAXCOEF] = {0};
    for (size_t k = P->off[ci]; k < P->off[ci + 1]; k++) {
        double u0 = fmax(P->t0[k], 0.0), u1 = fmin(seg_end(P, ci, k), T);
        if (P->t0[k] >= T) {
            break;
        }
        if (!(u1 > u0)) {
            continue;
        }
        const double *z = P->z + k * K;
        double ct, cl, el;
        seg_rates(c, z, &ct, &cl, &el);
        if (!isfinite(ct) || !isfinite(cl) || !(ct > 0) || !(cl > 0)) {
            return CT_NAN;
        }
        double zt[CT_CLV_MAXCOEF], zl[CT_CLV_MAXCOEF]; /* dA/dgamma, dB/dgamma per unit time */
        for (size_t j = 0; j < K; j++) {
            zt[j] = c->at[j] * z[j] * ct;
            zl[j] = c->al[j] * z[j] * cl;
        }
        for (double v = fmax(u0, tx), pieces = 0; v < u1; pieces++) {
            double a = al + A + ct * (v - u0), b = be + B + cl * (v - u0);
            double h = fmin(a * ga / ct, b * gb / cl);
            if (!(h > 0) || pieces > DYN_MAXPIECES) {
                return CT_NAN;
            }
            h = v + 1.25 * h >= u1 ? u1 - v : h; /* no sliver at the end */
            for (int n = 0; n < 4; n++) {
                double du = v + 0.5 * h * (1 + GLX[n]) - u0, wn = 0.5 * h * GLW[n];
                double an = al + A + ct * du, bn = be + B + cl * du;
                double la = log(an), lb = log(bn), lf = el - p * la - q * lb;
                if (lf > M) {
                    double sc = exp(M - lf);
                    I *= sc;
                    for (size_t j = 0; g != NULL && j < 4 + K; j++) {
                        dI[j] *= sc;
                    }
                    M = lf;
                }
                double f = wn * exp(lf - M);
                I += f;
                if (g == NULL) {
                    continue;
                }
                dI[0] -= f * la;
                dI[1] -= f * p / an;
                dI[2] -= f * lb;
                dI[3] -= f * q / bn;
                for (size_t j = 0; j < K; j++) {
                    double dAj = dA[j] + zt[j] * du, dBj = dB[j] + zl[j] * du;
                    dI[4 + j] += f * (c->al[j] * z[j] - p * dAj / an - q * dBj / bn);
                }
            }
            v += h;
        }
        double len = u1 - u0;
        A += ct * len;
        B += cl * len;
        for (size_t j = 0; j < K; j++) {
            dA[j] += zt[j] * len;
            dB[j] += zl[j] * len;
        }
    }
    double aT = al + A, bT = be + B, laT = log(aT), lbT = log(bT);
    double l1 = -p * laT - s * lbT, Mx = fmax(M, l1);
    double e1 = exp(l1 - Mx), sc = isfinite(M) ? exp(M - Mx) : 0.0;
    double Ls = e1 + s * I * sc;
    if (st != NULL) {
        st->aT = aT;
        st->bT = bT;
        st->p_alive = e1 / Ls;
    }
    double ll = r * log(al) + s * log(be) + Mx + log(Ls);
    if (g != NULL) {
        double i1 = e1 / Ls, i2 = s * sc / Ls;
        g[0] = log(al) - i1 * laT + i2 * dI[0];
        g[1] = r / al - i1 * p / aT + i2 * dI[1];
        g[2] = log(be) - i1 * lbT + sc * I / Ls + i2 * dI[2];
        g[3] = s / be - i1 * s / bT + i2 * dI[3];
        for (size_t j = 0; j < K; j++) {
            g[4 + j] = -i1 * (p * dA[j] / aT + s * dB[j] / bT) + i2 * dI[4 + j];
        }
    }
    return ll;
}

/* ---- data --------------------------------------------------------------------- */

/* Customer i's path: present, starting at or before 0, increasing, to at
 * least T, with finite values on [0, T]. */
static ct_status check_path(const ct_customers *c, const ct_clv_paths *P, size_t i, double T,
                            const char *const *col, const char *source, ct_error *err)
{
    char w[1024];
    size_t a = P->off[i], b = P->off[i + 1];
    if (b <= a || P->t0[a] > 0 || !(P->end[i] >= T - 1e-9 * (1 + T))) {
        return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                          "%s: its time-varying covariates do not cover its calibration "
                          "period (0 to %g periods after its first purchase)",
                          clv_who(c, i, w, sizeof w), T);
    }
    for (size_t k = a; k < b; k++) {
        double e = seg_end(P, i, k);
        if (!(e > P->t0[k])) {
            return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                              "%s: covariate periods out of order", clv_who(c, i, w, sizeof w));
        }
        for (size_t j = 0; j < P->ncoef && P->t0[k] < T && e > 0; j++) {
            double v = P->z[k * P->ncoef + j];
            if (!isfinite(v)) {
                return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                                  "%s: covariate '%s' is %s in the period starting %g periods "
                                  "after its first purchase",
                                  clv_who(c, i, w, sizeof w), col[j], isnan(v) ? "missing" : "infinite",
                                  P->t0[k]);
            }
        }
    }
    for (size_t j = 0; j < P->ncoef; j++) {
        if (!isfinite(P->zsum[i * P->ncoef + j])) {
            return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                              "%s: covariate '%s' is missing at one of its purchases",
                              clv_who(c, i, w, sizeof w), col[j]);
        }
    }
    return CT_OK;
}

/* The design's sums over every fitted customer-period, weighted by w and
 * the period's length in [0, T]. */
static void design_sums(const ct_clv_data *d, double *S)
{
    const ct_clv_paths *P = d->dyn;
    size_t K = d->ncoef;
    for (size_t i = 0; i < d->n; i++) {
        size_t ci = d->cust[i];
        for (size_t k = P->off[ci]; k < P->off[ci + 1] && P->t0[k] < d->T[i]; k++) {
            double len = fmin(seg_end(P, ci, k), d->T[i]) - fmax(P->t0[k], 0.0);
            if (!(len > 0)) {
                continue;
            }
            const double *z = P->z + k * K;
            double w = d->w[i] * len;
            S[0] += w;
            for (size_t j = 0; j < K; j++) {
                S[1 + j] += w * z[j];
                for (size_t l = 0; l < K; l++) {
                    S[1 + K + j * K + l] += w * z[j] * z[l];
                }
            }
        }
    }
}

/* This rank's rows (checked) into d; *g the repeat buyers among them. */
static ct_status dyn_rows(ct_clv_data *d, const ct_customers *c, const ct_clv_covariates *cv,
                          const ct_clv_paths *P, const char *source, double *g, ct_error *err)
{
    size_t n = 0, N = c->n ? c->n : 1;
    d->x = ct_malloc_big(N, sizeof *d->x);
    d->tx = ct_malloc_big(N, sizeof *d->tx);
    d->T = ct_malloc_big(N, sizeof *d->T);
    d->w = ct_malloc_big(N, sizeof *d->w);
    d->xi = ct_malloc_big(N, sizeof *d->xi);
    d->cust = ct_malloc_big(N, sizeof *d->cust);
    if (!d->x || !d->tx || !d->T || !d->w || !d->xi || !d->cust) {
        return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", c->n);
    }
    if (c->n > UINT32_MAX) {
        return ct_fail(err, CT_EINVAL, "%zu customers: at most %u with time-varying covariates",
                       c->n, UINT32_MAX);
    }
    for (size_t i = 0; i < c->n; i++) {
        CT_CHECK(clv_check_row(c, i, CT_PARETO, source, err));
        double w = c->weight ? c->weight[i] : 1.0;
        if (!(w > 0)) {
            continue;
        }
        double T = c->T[i], tx = c->t_x[i] > T ? T : c->t_x[i];
        CT_CHECK(check_path(c, P, i, T, cv->col, source, err));
        d->x[n] = c->x[i];
        d->tx[n] = tx;
        d->T[n] = T;
        d->w[n] = w;
        d->cust[n] = (uint32_t)i;
        d->nobs += w;
        *g += c->x[i] > 0;
        n++;
    }
    d->n = n;
    return clv_x_index(d, err);
}

/* The rows of every rank, their totals and the design checked over all of
 * them; each step that can fail on one rank agreed before the next
 * collective one. */
static ct_status dyn_data(ct_clv_data *d, const ct_customers *c, const ct_clv_covariates *cv,
                          const ct_clv_paths *P, const char *source, ct_error *err)
{
    double g = 0;
    CT_CHECK(ct_comm_agree(d->comm, dyn_rows(d, c, cv, P, source, &g, err), err));
    size_t K = d->ncoef, m = 3 + 1 + K + K * K;
    double *S = calloc(m, sizeof *S); /* rows, repeat buyers, customers, then the design */
    CT_CHECK(ct_comm_agree(d->comm, S != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"),
                           err));
    S[0] = (double)d->n;
    S[1] = g;
    S[2] = d->nobs;
    design_sums(d, S + 3);
    ct_status s = d->comm != NULL ? ct_comm_allreduce_sum(d->comm, S, m, err) : CT_OK;
    if (s == CT_OK && S[0] == 0) {
        s = ct_fail_at(err, CT_EDATA, source, 0, 0, "no customers with positive weight");
    } else if (s == CT_OK && S[1] == 0) {
        s = ct_fail_at(err, CT_EDATA, source, 0, 0,
                       "every customer has x = 0 (no repeat purchases): the purchase rate "
                       "cannot be estimated");
    }
    if (s == CT_OK) {
        d->nobs = S[2];
        s = clv_check_design_sums(d, S + 3, source, err);
    }
    free(S);
    return s;
}

ct_status ct_clv_data_new_dyn(ct_clv_data **out, const ct_customers *c,
                              const ct_clv_covariates *cv, const ct_clv_paths *P,
                              const char *source, ct_comm *comm, ct_error *err)
{
    ct_init();
    *out = NULL;
    source = source != NULL ? source : "customers";
    if (cv->ncoef == 0 || cv->ncoef > CT_CLV_MAXCOEF || P->ncoef != cv->ncoef || P->n != c->n) {
        return ct_fail(err, CT_EINVAL,
                       "time-varying covariates: %zu coefficients (1 to %d) and paths of %zu "
                       "values for %zu customers (the summary has %zu)",
                       cv->ncoef, CT_CLV_MAXCOEF, P->ncoef, P->n, c->n);
    }
    if (c->x == NULL || c->t_x == NULL || c->T == NULL) {
        return ct_fail_at(err, CT_EFORMAT, source, 0, 0, "columns x, t_x and T are required");
    }
    ct_clv_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    d->model = CT_PARETO;
    d->nb = ct_clv_nparams(CT_PARETO);
    d->ncoef = cv->ncoef;
    d->dyn = P;
    d->comm = ct_comm_size(comm) > 1 ? comm : NULL;
    d->corr_xm = CT_NAN;
    ct_status s = CT_OK;
    for (size_t j = 0; j < cv->ncoef && s == CT_OK; j++) {
        if (cv->proc[j] == 0 || cv->proc[j] > (CT_COV_PURCHASE | CT_COV_DROPOUT) ||
            cv->col[j] == NULL || strlen(cv->col[j]) >= sizeof d->coef_col[0]) {
            s = ct_fail(err, CT_EINVAL, "covariate coefficient %zu: bad process or name", j);
            break;
        }
        d->proc[j] = cv->proc[j];
        snprintf(d->coef_col[j], sizeof d->coef_col[j], "%s", cv->col[j]);
    }
    s = ct_comm_agree(d->comm, s, err);
    if (s == CT_OK) {
        s = dyn_data(d, c, cv, P, source, err);
    }
    if (s != CT_OK) {
        ct_clv_data_free(d);
        return s;
    }
    *out = d;
    return CT_OK;
}

/* ---- likelihood ----------------------------------------------------------------- */

static void dyn_rows_ll(const void *vctx, const ct_clv_data *d, size_t begin, size_t end,
                        double *acc)
{
    const dyn_ctx *c = vctx;
    const size_t K = c->K;
    for (size_t i = begin; i < end; i++) {
        size_t ci = d->cust[i];
        double g[4 + CT_CLV_MAXCOEF], w = d->w[i];
        const double *Gx = c->G + 2 * d->xi[i];
        const double *zs = d->dyn->zsum + ci * K;
        double ll = dyn_walk(c, d->dyn, ci, d->x[i], d->tx[i], d->T[i], g, NULL);
        ll += Gx[0];
        g[0] += Gx[1];
        for (size_t j = 0; j < K; j++) {
            ll += c->at[j] * c->par[4 + j] * zs[j];
            g[4 + j] += c->at[j] * zs[j];
        }
        acc[0] += w * ll;
        for (size_t j = 0; j < 4 + K; j++) {
            acc[1 + j] += w * g[j];
        }
    }
}

ct_status clv_dyn_ll(const ct_clv_data *d, const double *p, double *ll, double *g,
                     unsigned threads, ct_error *err)
{
    size_t K = d->ncoef, nx = d->nxv ? d->nxv : 1;
    double *G = malloc(2 * nx * sizeof *G);
    if (G == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    double lgr = clv_lgamma(p[0]), psir = clv_digamma(p[0]);
    for (size_t x = 0; x < d->nxv; x++) {
        G[2 * x] = clv_lgamma(p[0] + d->xv[x]) - lgr;
        G[2 * x + 1] = clv_digamma(p[0] + d->xv[x]) - psir;
    }
    dyn_ctx c;
    dyn_ctx_init(&c, p, K, d->proc);
    c.G = G;
    double acc[1 + CT_CLV_MAXPAR];
    ct_status s = clv_reduce_acc(d, 1 + 4 + K, dyn_rows_ll, &c, threads, acc, err);
    free(G);
    if (s != CT_OK) {
        return s;
    }
    *ll = isfinite(acc[0]) ? acc[0] : -(double)INFINITY;
    for (size_t j = 0; g != NULL && j < 4 + K; j++) {
        g[j] = acc[1 + j];
    }
    return CT_OK;
}

/* ---- scores ----------------------------------------------------------------------- */

typedef struct dyn_score_job {
    const ct_fit *f;
    const ct_customers *c;
    const ct_clv_paths *P;
    double horizon, discount;
    const double *at; /* P(alive) at T + at[j] (nat of them) */
    size_t nat;
    double *pa, *ey, *disc, **alive;
    /* the delta method: f with each parameter moved (k), the covariance in
     * theta, the variances out (3 n: logit P(alive), log E[Y], log D) */
    const ct_fit *sh;
    const double *lc;
    double *var;
} dyn_score_job;

/* int_0^h c_t ((bT)/(b0 + c_l u))^s du. */
static double future_piece(double ct, double cl, double s, double bT, double b0, double h)
{
    double L = log1p(cl * h / b0), e = (s - 1) * L;
    double core = fabs(e) < 1e-8 ? b0 * L / cl * (1 - 0.5 * e)
                                 : b0 * (-expm1(-e)) / (cl * (s - 1));
    return ct * exp(s * log(bT / b0)) * core;
}

/* Customer i under f: P(alive), E[Y(H)] and the discounted sum D into
 * v[0..3), and P(alive at T + at[j]) into alive[j] (may be NULL when nat is
 * 0); -1 when a rate overflows. */
static int dyn_one(const ct_fit *f, const ct_clv_paths *P, const ct_customers *c, size_t i,
                   double H, double discount, const double *at, size_t nat, double v[3],
                   double *alive)
{
    dyn_ctx ctx;
    dyn_ctx_init(&ctx, f->par, f->ncoef, f->coef_proc);
    const double s = f->par[2], be = f->par[3];
    double x = c->x[i], T = c->T[i], tx = c->t_x[i] > T ? T : c->t_x[i];
    dyn_state st;
    double ll = dyn_walk(&ctx, P, i, x, tx, T, NULL, &st);
    if (!isfinite(ll)) {
        return -1;
    }
    /* the future: segment by segment, cut at the period ends T + k */
    double B = st.bT, ey = 0, disc = 0;
    for (size_t k = P->off[i]; k < P->off[i + 1]; k++) {
        double u0 = fmax(P->t0[k], T), u1 = fmin(seg_end(P, i, k), T + H);
        if (P->t0[k] >= T + H) {
            break;
        }
        if (!(u1 > u0)) {
            continue;
        }
        double ct, cl, el;
        seg_rates(&ctx, P->z + k * f->ncoef, &ct, &cl, &el);
        for (double u = u0; u < u1;) {
            double period = floor(u - T) + 1; /* (T + period - 1, T + period] */
            double u2 = fmin(u1, T + period);
            if (!(u2 > u)) { /* u on a period end, rounded */
                u2 = fmin(u1, T + period + 1);
                period += 1;
            }
            double e = future_piece(ct, cl, s, st.bT, B, u2 - u);
            double tk = period < ceil(H) ? period : H;
            ey += e;
            disc += e / pow(1 + discount, tk);
            B += cl * (u2 - u);
            u = u2;
        }
    }
    double m = st.p_alive * (f->par[0] + x) / st.aT;
    v[0] = st.p_alive;
    v[1] = m * ey;
    v[2] = m * disc;
    for (size_t j = 0; j < nat; j++) { /* P(alive) (bT / (beta + B(T + t)))^s */
        double Bt = st.bT - be;
        for (size_t k = P->off[i]; k < P->off[i + 1] && P->t0[k] < T + at[j]; k++) {
            double u0 = fmax(P->t0[k], T), u1 = fmin(seg_end(P, i, k), T + at[j]);
            if (u1 > u0) {
                double ct, cl, el;
                seg_rates(&ctx, P->z + k * f->ncoef, &ct, &cl, &el);
                Bt += cl * (u1 - u0);
            }
        }
        alive[j] = st.p_alive * exp(s * log(st.bT / (be + Bt)));
    }
    return isfinite(v[0] + v[1] + v[2]) ? 0 : -1;
}

static ct_status dyn_score_block(void *vj, size_t b, size_t begin, size_t end, ct_error *err)
{
    const dyn_score_job *J = vj;
    const ct_fit *f = J->f;
    const ct_clv_paths *P = J->P;
    const ct_customers *c = J->c;
    double reach = J->horizon;
    (void)b;
    for (size_t j = 0; j < J->nat; j++) {
        reach = fmax(reach, J->at[j]);
    }
    for (size_t i = begin; i < end; i++) {
        double T = c->T[i], v[3], al[CT_MAX_ALIVE_AT];
        char w[1024];
        if (P->off[i + 1] <= P->off[i] || P->t0[P->off[i]] > 0 ||
            !(P->end[i] >= T + reach - 1e-9 * (1 + T + reach))) {
            return ct_fail(err, CT_EDATA,
                           "%s: its time-varying covariates end %g periods after its first "
                           "purchase; scoring %g periods ahead needs them to %g",
                           clv_who(c, i, w, sizeof w), P->end[i], reach, T + reach);
        }
        if (dyn_one(f, P, c, i, J->horizon, J->discount, J->at, J->nat, v, al) != 0) {
            return ct_fail(err, CT_EDATA, "%s: its covariates make a rate overflow",
                           clv_who(c, i, w, sizeof w));
        }
        J->pa[i] = v[0];
        J->ey[i] = v[1];
        J->disc[i] = v[2];
        for (size_t j = 0; j < J->nat; j++) {
            J->alive[j][i] = al[j];
        }
        if (J->var == NULL) {
            continue;
        }
        /* the delta method: forward differences in theta, one per parameter */
        double g[3][CT_CLV_MAXPAR];
        size_t k = f->k, n = c->n;
        for (size_t j = 0; j < k; j++) {
            double vs[3] = {v[0], v[1], v[2]};
            if (dyn_one(&J->sh[j], P, c, i, J->horizon, J->discount, NULL, 0, vs, NULL) != 0) {
                vs[0] = vs[1] = vs[2] = CT_NAN;
            }
            for (int o = 0; o < 3; o++) {
                g[o][j] = (vs[o] - v[o]) / CLV_DELTA_FWD;
            }
        }
        double a = v[0] * (1 - v[0]);
        J->var[i] = a > 0 ? clv_quad(g[0], J->lc, k) / (a * a) : 0.0;
        J->var[n + i] = v[1] > 0 ? clv_quad(g[1], J->lc, k) / (v[1] * v[1]) : 0.0;
        J->var[2 * n + i] = v[2] > 0 ? clv_quad(g[2], J->lc, k) / (v[2] * v[2]) : 0.0;
    }
    return CT_OK;
}

ct_status ct_clv_score_dyn(const ct_fit *f, const ct_fit *gg, const ct_customers *c,
                           const ct_clv_paths *P, double horizon, double discount, double level,
                           const double *at, size_t nat, unsigned threads, ct_scores *out,
                           ct_error *err)
{
    ct_init();
    memset(out, 0, sizeof *out);
    if (f->model != CT_PARETO || !f->dynamic || f->ncoef == 0 || P->ncoef != f->ncoef ||
        P->n != c->n) {
        return ct_fail(err, CT_EINVAL,
                       "time-varying scores need a Pareto/NBD fit with time-varying covariates "
                       "and their paths for every customer");
    }
    if (!(horizon > 0) || !isfinite(horizon)) {
        return ct_fail(err, CT_EINVAL, "horizon %g must be > 0", horizon);
    }
    if (!(discount >= 0) || !isfinite(discount)) {
        return ct_fail(err, CT_EINVAL, "discount rate %g must be >= 0", discount);
    }
    if (!(level >= 0 && level < 1) || nat > CT_MAX_ALIVE_AT) {
        return ct_fail(err, CT_EINVAL, "level %g must be in [0, 1), at most %d alive-at points",
                       level, CT_MAX_ALIVE_AT);
    }
    for (size_t j = 0; j < nat; j++) {
        if (!(at[j] > 0) || !isfinite(at[j])) {
            return ct_fail(err, CT_EINVAL, "alive-at %g must be > 0", at[j]);
        }
    }
    if (gg != NULL && (gg->model != CT_GAMMAGAMMA || c->m == NULL)) {
        return ct_fail(err, CT_EINVAL, "the spend fit must be gammagamma, with column m");
    }
    size_t n = c->n, N = n ? n : 1;
    double *disc = ct_malloc_big(N, sizeof *disc), lc[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    double *var = level > 0 ? ct_malloc_big(3 * N, sizeof *var) : NULL;
    ct_fit *sh = level > 0 ? malloc(f->k * sizeof *sh) : NULL;
    out->n = n;
    out->p_alive = ct_malloc_big(N, sizeof(double));
    out->exp_purchases = ct_malloc_big(N, sizeof(double));
    out->exp_spend = ct_malloc_big(N, sizeof(double));
    out->clv = ct_malloc_big(N, sizeof(double));
    ct_status s = CT_OK;
    if (!disc || !out->p_alive || !out->exp_purchases || !out->exp_spend || !out->clv ||
        (level > 0 && (!var || !sh))) {
        s = ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    for (size_t j = 0; j < nat && s == CT_OK; j++) {
        out->at[j] = at[j];
        out->alive_at[j] = ct_malloc_big(N, sizeof(double));
        out->nat = j + 1;
        s = out->alive_at[j] != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        s = clv_check_row(c, i, CT_PARETO, "customers", err);
    }
    int has_cov = level > 0 && clv_log_cov(f, lc);
    for (size_t j = 0; has_cov && j < f->k; j++) {
        clv_theta_shift(f, j, CLV_DELTA_FWD, &sh[j]);
    }
    if (s == CT_OK) {
        dyn_score_job J = {f,           c,    P,    horizon,  discount, at, nat, out->p_alive,
                           out->exp_purchases, disc, out->alive_at, has_cov ? sh : NULL, lc,
                           has_cov ? var : NULL};
        s = ct_par_for(n, has_cov ? 16 : 64, threads, dyn_score_block, &J, err);
    }
    if (s == CT_OK) {
        s = clv_spend_clv(gg, c, disc, out, err);
    }
    if (s == CT_OK && level > 0) { /* NaN bounds when the fit has no finite covariance */
        for (size_t i = 0; !has_cov && i < 3 * n; i++) {
            var[i] = CT_NAN;
        }
        s = clv_delta_bounds(out, gg, c, NULL, n, var, level, err);
    }
    free(sh);
    free(var);
    free(disc);
    if (s != CT_OK) {
        ct_scores_free(out);
    }
    return s;
}
