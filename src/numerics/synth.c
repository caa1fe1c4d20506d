/* synth.c - simulate BG/NBD or Pareto/NBD customers with Gamma-Gamma spend.
 * Ref: Fader, Hardie & Lee (2005), "Counting your customers the easy way:
 * an alternative to the Pareto/NBD model", Marketing Science 24(2), sec. 3
 * (assumptions i-v); Schmittlein, Morrison & Colombo (1987), Management
 * Science 33(1); Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value
 * curves for customer base analysis", JMR 42(4) (Gamma-Gamma spend). */
#include "clvtier/synth.h"
#include "clvtier/dates.h"
#include "clvtier/par.h"
#include "clvtier/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNTH_BLOCK ((size_t)4096)

void ct_synth_opts_init(ct_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->model = CT_SYNTH_BGNBD;
    o->r = 0.243;
    o->alpha = 4.414;
    o->a = 0.793;
    o->b = 2.426;
    o->p = 6.25;
    o->q = 3.74;
    o->gamma = 15.44;
    o->n = 1000;
    o->T = 52;
    o->cohort = 0;
    o->period_days = 7;
    o->start_day = ct_days_from_civil(2020, 1, 1);
    o->seed = 1;
    o->ahead = 52;
}

ct_status ct_synth_check(const ct_synth_opts *o, ct_error *err)
{
    const double v[7] = {o->r, o->alpha, o->a, o->b, o->p, o->q, o->gamma};
    const char *nm[7] = {"r", "alpha", o->model == CT_SYNTH_PARETO ? "s" : "a",
                         o->model == CT_SYNTH_PARETO ? "beta" : "b", "p", "q", "gamma"};
    for (int i = 0; i < 7; i++) {
        if (!(v[i] > 0) || !isfinite(v[i])) {
            return ct_fail(err, CT_EINVAL, "parameter %s = %g must be a finite number > 0", nm[i],
                           v[i]);
        }
    }
    if (o->n == 0) {
        return ct_fail(err, CT_EINVAL, "number of customers must be >= 1");
    }
    if (!(o->T > 0) || !isfinite(o->T)) {
        return ct_fail(err, CT_EINVAL, "observation length T = %g must be > 0", o->T);
    }
    if (!(o->cohort >= 0) || !(o->cohort < o->T)) {
        return ct_fail(err, CT_EINVAL, "cohort = %g must be in [0, T = %g)", o->cohort, o->T);
    }
    if (!(o->period_days > 0)) {
        return ct_fail(err, CT_EINVAL, "period length must be > 0 days");
    }
    if (o->ncov > CT_SYNTH_MAXCOV) {
        return ct_fail(err, CT_EINVAL, "at most %d covariates", CT_SYNTH_MAXCOV);
    }
    if (ct_synth_dynamic(o) && o->model != CT_SYNTH_PARETO) {
        return ct_fail(err, CT_EINVAL, "time-varying covariates are simulated for pareto only");
    }
    if (!(o->ahead >= 0) || !(o->T + o->ahead <= 1e5)) {
        return ct_fail(err, CT_EINVAL, "covariate periods ahead = %g must be in [0, 1e5 - T]",
                       o->ahead);
    }
    for (size_t j = 0; j < o->ncov; j++) {
        if ((o->cov_kind[j] != 'b' && o->cov_kind[j] != 'n') || !isfinite(o->cov_trans[j]) ||
            !isfinite(o->cov_life[j]) || fabs(o->cov_trans[j]) > 5 || fabs(o->cov_life[j]) > 5) {
            return ct_fail(err, CT_EINVAL,
                           "covariate %zu: kind must be b or n and coefficients in [-5, 5]",
                           j + 1);
        }
    }
    return CT_OK;
}

typedef struct event {
    double t, z;
} event;

typedef struct evbuf {
    event *e;
    size_t n, cap;
} evbuf;

static int ev_push(evbuf *b, double t, double z)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        event *p = realloc(b->e, nc * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        b->e = p;
        b->cap = nc;
    }
    b->e[b->n].t = t;
    b->e[b->n].z = z;
    b->n++;
    return 0;
}

/* One customer: birth time and its purchases (t relative to birth, amount),
 * the first at t = 0 (static covariates only). */
static int sim_one_static(const ct_synth_opts *o, ct_rng *g, double *birth, evbuf *ev, double *z)
{
    double et = 0, el = 0, zz[CT_SYNTH_MAXCOV];
    for (size_t j = 0; j < o->ncov; j++) {
        zz[j] = o->cov_kind[j] == 'b' ? (ct_rng_uniform(g) < 0.5 ? 1.0 : 0.0)
                                      : ct_rng_normal(g);
        et += o->cov_trans[j] * zz[j];
        el += o->cov_life[j] * zz[j];
        if (z != NULL) {
            z[j] = zz[j];
        }
    }
    double b = o->cohort > 0 ? o->cohort * ct_rng_uniform(g) : 0.0;
    double Ti = o->T - b;
    double alpha = o->alpha * exp(-et), a = o->a, bb = o->b;
    if (o->model == CT_SYNTH_PARETO) {
        bb *= exp(-el);
    } else {
        a *= exp(el);
        bb *= exp(el);
    }
    double lambda = ct_rng_gamma(g, o->r, 1.0 / alpha);
    double second = o->model == CT_SYNTH_PARETO ? ct_rng_gamma(g, a, 1.0 / bb)
                                                : ct_rng_beta(g, a, bb);
    double nu = ct_rng_gamma(g, o->q, 1.0 / o->gamma);
    double end = Ti;

    *birth = b;
    ev->n = 0;
    if (ev_push(ev, 0.0, ct_rng_gamma(g, o->p, 1.0 / nu)) != 0) {
        return -1;
    }
    if (o->model == CT_SYNTH_PARETO) {
        double tau = ct_rng_exponential(g, 1.0 / second);
        end = tau < Ti ? tau : Ti;
    }
    if (!(lambda > 0)) {
        return 0; /* underflow of a tiny Gamma draw: never buys again */
    }
    if (o->model == CT_SYNTH_MBGNBD && ct_rng_uniform(g) < second) {
        return 0; /* MBG/NBD: drops out right after the first purchase */
    }
    double t = 0;
    for (;;) {
        t += ct_rng_exponential(g, 1.0 / lambda);
        if (t > end) {
            break;
        }
        if (ev_push(ev, t, ct_rng_gamma(g, o->p, 1.0 / nu)) != 0) {
            return -1;
        }
        if (o->model != CT_SYNTH_PARETO && ct_rng_uniform(g) < second) {
            break; /* drops out after this purchase */
        }
    }
    return 0;
}

int ct_synth_dynamic(const ct_synth_opts *o)
{
    for (size_t j = 0; j < o->ncov && j < CT_SYNTH_MAXCOV; j++) {
        if (o->cov_dynamic[j]) {
            return 1;
        }
    }
    return 0;
}

static double draw_cov(ct_rng *g, char kind)
{
    return kind == 'b' ? (ct_rng_uniform(g) < 0.5 ? 1.0 : 0.0) : ct_rng_normal(g);
}

/* One customer's covariate path: every column per calendar period k0,
 * k0 + 1, ..., k0 + np - 1 (np x ncov values). */
typedef struct pathbuf {
    double *z;
    size_t cap, k0, np;
} pathbuf;

/* A customer under time-varying covariates (Pareto/NBD): as sim_one, and
 * its path into pb.  Draws: the static columns, birth, lambda, mu, nu, the
 * path period by period, then the lifetime's unit exponential and the
 * purchases segment by segment. */
static int sim_one_dyn(const ct_synth_opts *o, ct_rng *g, double *birth, evbuf *ev, pathbuf *pb)
{
    size_t K = o->ncov;
    double zs[CT_SYNTH_MAXCOV] = {0};
    for (size_t j = 0; j < K; j++) {
        zs[j] = o->cov_dynamic[j] ? 0.0 : draw_cov(g, o->cov_kind[j]);
    }
    double b = o->cohort > 0 ? o->cohort * ct_rng_uniform(g) : 0.0;
    double Ti = o->T - b;
    double lambda = ct_rng_gamma(g, o->r, 1.0 / o->alpha);
    double mu = ct_rng_gamma(g, o->a, 1.0 / o->b);
    double nu = ct_rng_gamma(g, o->q, 1.0 / o->gamma);
    size_t k0 = (size_t)floor(b), P = (size_t)ceil(o->T + o->ahead);
    size_t np = P > k0 ? P - k0 : 1;
    if (np * K > pb->cap) {
        double *nz = realloc(pb->z, np * K * sizeof *nz);
        if (nz == NULL) {
            return -1;
        }
        pb->z = nz;
        pb->cap = np * K;
    }
    pb->k0 = k0;
    pb->np = np;
    for (size_t k = 0; k < np; k++) {
        for (size_t j = 0; j < K; j++) {
            pb->z[k * K + j] = o->cov_dynamic[j] ? draw_cov(g, o->cov_kind[j]) : zs[j];
        }
    }
    *birth = b;
    ev->n = 0;
    if (ev_push(ev, 0.0, ct_rng_gamma(g, o->p, 1.0 / nu)) != 0) {
        return -1;
    }
    double E = ct_rng_exponential(g, 1.0), cum = 0;
    for (size_t k = 0; k < np; k++) {
        double u0 = fmax(0.0, (double)(k0 + k) - b), u1 = fmin((double)(k0 + k + 1) - b, Ti);
        if (!(u1 > u0)) {
            if ((double)(k0 + k) - b >= Ti) {
                break;
            }
            continue;
        }
        double et = 0, el = 0;
        for (size_t j = 0; j < K; j++) {
            et += o->cov_trans[j] * pb->z[k * K + j];
            el += o->cov_life[j] * pb->z[k * K + j];
        }
        double hz = mu * exp(el), end = u1;
        int dies = 0;
        if (cum + hz * (u1 - u0) >= E) {
            end = u0 + (E - cum) / hz;
            dies = 1;
        } else {
            cum += hz * (u1 - u0);
        }
        double rate = lambda * exp(et);
        for (double t = u0; rate > 0;) {
            t += ct_rng_exponential(g, 1.0 / rate);
            if (t > end) {
                break;
            }
            if (ev_push(ev, t, ct_rng_gamma(g, o->p, 1.0 / nu)) != 0) {
                return -1;
            }
        }
        if (dies) {
            break;
        }
    }
    return 0;
}

/* One customer, under time-varying covariates when o has any (its path
 * into pb, the caller's buffer, reused from customer to customer). */
static int sim_one(const ct_synth_opts *o, ct_rng *g, double *birth, evbuf *ev, double *z,
                   pathbuf *pb)
{
    if (!ct_synth_dynamic(o)) {
        return sim_one_static(o, g, birth, ev, z);
    }
    int rc = sim_one_dyn(o, g, birth, ev, pb);
    for (size_t j = 0; rc == 0 && z != NULL && j < o->ncov; j++) {
        /* a static column's value (constant along the path); NaN for a time-varying one */
        z[j] = o->cov_dynamic[j] ? (double)NAN : pb->z[j];
    }
    return rc;
}

static int id_digits(size_t n)
{
    int d = 1;
    for (size_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10) {
        d++;
    }
    return d < 6 ? 6 : d;
}

/* ---- summaries ------------------------------------------------------------ */

/* Customer i's row of c from its purchases ev (born at birth; sum: the
 * repeat purchases' amounts, total: all of them). */
static void summary_row(const ct_synth_opts *o, ct_customers *c, size_t i, const evbuf *ev,
                        double birth, double sum, double total, int digits)
{
    size_t x = ev->n - 1;
    c->x[i] = (double)x;
    c->t_x[i] = ev->e[x].t;
    c->T[i] = o->T - birth;
    c->m[i] = x > 0 ? sum / (double)x : 0.0;
    c->total[i] = total;
    c->ntx[i] = (int64_t)ev->n;
    snprintf(c->ids + i * c->id_width, c->id_width, "C%0*zu", digits, i + 1);
}

typedef struct cust_job {
    const ct_synth_opts *o;
    ct_customers *out;
    int digits;
    double *cov; /* n x ncov, or NULL */
} cust_job;

static ct_status cust_block(void *ctx, size_t blk, size_t begin, size_t end, ct_error *err)
{
    cust_job *J = ctx;
    const ct_synth_opts *o = J->o;
    ct_customers *c = J->out;
    ct_rng *g = ct_rng_new(o->seed, blk);
    evbuf ev = {0};
    pathbuf pb = {0};
    ct_status s = CT_OK;

    if (g == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = begin; i < end; i++) {
        double birth;
        if (sim_one(o, g, &birth, &ev, J->cov != NULL ? J->cov + i * o->ncov : NULL,
                    &pb) != 0) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        double sum = 0, total = 0;
        for (size_t k = 0; k < ev.n; k++) {
            total += ev.e[k].z;
            sum += k > 0 ? ev.e[k].z : 0.0;
        }
        summary_row(o, c, i, &ev, birth, sum, total, J->digits);
    }
    free(pb.z);
    free(ev.e);
    ct_rng_free(g);
    return s;
}

ct_status ct_synth_customers_cov(const ct_synth_opts *o, ct_customers *out, double **cov,
                                 ct_error *err)
{
    ct_status s = ct_synth_check(o, err);
    if (s != CT_OK) {
        return s;
    }
    int digits = id_digits(o->n);
    s = ct_customers_alloc(out, o->n, ct_str_width((size_t)digits + 2), 0, 0, 0, err);
    if (s != CT_OK) {
        return s;
    }
    cust_job J = {o, out, digits, NULL};
    if (cov != NULL) {
        *cov = J.cov = malloc(o->n * (o->ncov ? o->ncov : 1) * sizeof **cov);
        if (J.cov == NULL) {
            ct_customers_free(out);
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    s = ct_par_for(o->n, SYNTH_BLOCK, o->threads, cust_block, &J, err);
    if (s != CT_OK) {
        ct_customers_free(out);
        if (cov != NULL) {
            free(*cov);
            *cov = NULL;
        }
    }
    return s;
}

ct_status ct_synth_customers(const ct_synth_opts *o, ct_customers *out, ct_error *err)
{
    return ct_synth_customers_cov(o, out, NULL, err);
}

/* ---- customers with covariate paths ------------------------------------------ */

void ct_synth_paths_free(ct_synth_paths *p)
{
    free(p->off);
    free(p->t0);
    free(p->end);
    free(p->z);
    free(p->zsum);
    memset(p, 0, sizeof *p);
}

/* One block's segments (equal neighbours merged), before they are joined. */
typedef struct seg_block {
    size_t nseg, cap;
    size_t *count; /* per customer of the block */
    double *t0, *z;
} seg_block;

typedef struct dyn_job {
    const ct_synth_opts *o;
    ct_customers *out;
    ct_synth_paths *paths;
    seg_block *blk;
    int digits;
} dyn_job;

static int seg_push(seg_block *sb, double t0, const double *z, size_t K)
{
    if (sb->nseg == sb->cap) {
        size_t nc = sb->cap ? 2 * sb->cap : 4096;
        double *a = realloc(sb->t0, nc * sizeof *a);
        if (a == NULL) {
            return -1;
        }
        sb->t0 = a;
        double *b = realloc(sb->z, nc * K * sizeof *b);
        if (b == NULL) {
            return -1;
        }
        sb->z = b;
        sb->cap = nc;
    }
    sb->t0[sb->nseg] = t0;
    memcpy(sb->z + sb->nseg * K, z, K * sizeof *z);
    sb->nseg++;
    return 0;
}

static ct_status dyn_block(void *ctx, size_t blk, size_t begin, size_t end, ct_error *err)
{
    dyn_job *J = ctx;
    const ct_synth_opts *o = J->o;
    ct_customers *c = J->out;
    size_t K = o->ncov;
    seg_block *sb = &J->blk[blk];
    ct_rng *g = ct_rng_new(o->seed, blk);
    evbuf ev = {0};
    pathbuf pb = {0};
    ct_status s = CT_OK;
    sb->count = calloc(end - begin, sizeof *sb->count);
    if (g == NULL || sb->count == NULL) {
        ct_rng_free(g);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = begin; i < end && s == CT_OK; i++) {
        double birth;
        if (sim_one_dyn(o, g, &birth, &ev, &pb) != 0) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        double sum = 0, total = 0, *zs = J->paths->zsum + i * K;
        memset(zs, 0, K * sizeof *zs);
        for (size_t k = 0; k < ev.n; k++) {
            total += ev.e[k].z;
            if (k == 0) {
                continue;
            }
            sum += ev.e[k].z;
            double per = floor(birth + ev.e[k].t) - (double)pb.k0;
            size_t q = per < 0 ? 0 : per >= (double)pb.np ? pb.np - 1 : (size_t)per;
            for (size_t j = 0; j < K; j++) {
                zs[j] += pb.z[q * K + j];
            }
        }
        summary_row(o, c, i, &ev, birth, sum, total, J->digits);
        J->paths->end[i] = (double)(pb.k0 + pb.np) - birth;
        for (size_t k = 0; k < pb.np; k++) {
            const double *z = pb.z + k * K;
            if (k > 0 && memcmp(z, z - K, K * sizeof *z) == 0) {
                continue; /* the same values: one segment */
            }
            if (seg_push(sb, (double)(pb.k0 + k) - birth, z, K) != 0) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
                break;
            }
            sb->count[i - begin]++;
        }
    }
    free(pb.z);
    free(ev.e);
    ct_rng_free(g);
    return s;
}

ct_status ct_synth_customers_dyn(const ct_synth_opts *o, ct_customers *out, ct_synth_paths *paths,
                                 ct_error *err)
{
    memset(paths, 0, sizeof *paths);
    CT_CHECK(ct_synth_check(o, err));
    if (!ct_synth_dynamic(o)) {
        return ct_fail(err, CT_EINVAL, "no time-varying covariates to simulate");
    }
    int digits = id_digits(o->n);
    CT_CHECK(ct_customers_alloc(out, o->n, ct_str_width((size_t)digits + 2), 0, 0, 0, err));
    size_t n = o->n, K = o->ncov, nblk = ct_par_nblocks(n, SYNTH_BLOCK);
    paths->n = n;
    paths->ncov = K;
    paths->off = malloc((n + 1) * sizeof *paths->off);
    paths->end = malloc(n * sizeof *paths->end);
    paths->zsum = malloc(n * K * sizeof *paths->zsum);
    seg_block *blk = calloc(nblk, sizeof *blk);
    ct_status s = CT_OK;
    if (!paths->off || !paths->end || !paths->zsum || !blk) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (s == CT_OK) {
        dyn_job J = {o, out, paths, blk, digits};
        s = ct_par_for(n, SYNTH_BLOCK, o->threads, dyn_block, &J, err);
    }
    size_t nseg = 0;
    for (size_t b = 0; b < nblk && s == CT_OK; b++) {
        nseg += blk[b].nseg;
    }
    if (s == CT_OK) {
        paths->t0 = malloc((nseg ? nseg : 1) * sizeof *paths->t0);
        paths->z = malloc((nseg ? nseg : 1) * K * sizeof *paths->z);
        s = paths->t0 && paths->z ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t at = 0, i = 0;
    for (size_t b = 0; b < nblk && s == CT_OK; b++) { /* joined in block order */
        if (blk[b].nseg > 0) {
            memcpy(paths->t0 + at, blk[b].t0, blk[b].nseg * sizeof *paths->t0);
            memcpy(paths->z + at * K, blk[b].z, blk[b].nseg * K * sizeof *paths->z);
        }
        size_t nb = n - b * SYNTH_BLOCK < SYNTH_BLOCK ? n - b * SYNTH_BLOCK : SYNTH_BLOCK;
        for (size_t q = 0; q < nb; q++, i++) {
            paths->off[i] = at;
            at += blk[b].count[q];
        }
    }
    if (s == CT_OK) {
        paths->off[n] = at;
    }
    for (size_t b = 0; blk != NULL && b < nblk; b++) {
        free(blk[b].count);
        free(blk[b].t0);
        free(blk[b].z);
    }
    free(blk);
    if (s != CT_OK) {
        ct_customers_free(out);
        ct_synth_paths_free(paths);
    }
    return s;
}

/* ---- transaction CSV --------------------------------------------------------- */

typedef struct text {
    char *p;
    size_t n, cap;
    uint64_t rows;
} text;

static int text_reserve(text *t, size_t more)
{
    if (t->n + more <= t->cap) {
        return 0;
    }
    size_t nc = (t->n + more) * 2;
    char *p = realloc(t->p, nc);
    if (p == NULL) {
        return -1;
    }
    t->p = p;
    t->cap = nc;
    return 0;
}

/* Append a non-negative amount with 2 decimals (rounded half away from zero). */
static size_t put_cents(char *dst, double z)
{
    char tmp[32];
    size_t k = 0, n = 0;
    if (!(z < 9e15)) {
        return (size_t)snprintf(dst, 32, "%.2f", z);
    }
    uint64_t c = (uint64_t)llround(z * 100.0);
    tmp[k++] = (char)('0' + c % 10);
    c /= 10;
    tmp[k++] = (char)('0' + c % 10);
    c /= 10;
    tmp[k++] = '.';
    do {
        tmp[k++] = (char)('0' + c % 10);
        c /= 10;
    } while (c > 0);
    while (k > 0) {
        dst[n++] = tmp[--k];
    }
    return n;
}

typedef struct csv_job {
    const ct_synth_opts *o;
    text *buf;   /* one per block of the current batch */
    size_t base; /* first block of the batch */
    int digits;
    int paths;   /* 1: the covariate paths (ct_synth_dyn_log), not the log */
} csv_job;

/* Customer id's rows of its time-varying covariates into t. */
static int path_rows(const ct_synth_opts *o, const pathbuf *pb, const char *id, int idn, text *t)
{
    size_t K = o->ncov;
    for (size_t k = 0; k < pb->np; k++) {
        if (text_reserve(t, (size_t)idn + 16 + K * 28) != 0) {
            return -1;
        }
        char d[11];
        ct_date_format(o->start_day + (int32_t)floor((double)(pb->k0 + k) * o->period_days), d);
        t->n += (size_t)snprintf(t->p + t->n, t->cap - t->n, "%s,%s", id, d);
        for (size_t j = 0; j < K; j++) {
            if (o->cov_dynamic[j]) {
                t->n += (size_t)snprintf(t->p + t->n, t->cap - t->n, ",%.17g", pb->z[k * K + j]);
            }
        }
        t->p[t->n++] = '\n';
    }
    t->rows += pb->np;
    return 0;
}

static ct_status csv_block(void *ctx, size_t rel, size_t begin, size_t end, ct_error *err)
{
    csv_job *J = ctx;
    const ct_synth_opts *o = J->o;
    size_t blk = J->base + rel;
    text *t = &J->buf[rel];
    ct_rng *g = ct_rng_new(o->seed, blk);
    evbuf ev = {0};
    pathbuf pb = {0};
    ct_status s = CT_OK;

    t->n = 0;
    t->rows = 0;
    if (g == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    /* begin/end are relative to the batch: customers are blk * SYNTH_BLOCK + ... */
    size_t c0 = blk * SYNTH_BLOCK, c1 = c0 + (end - begin);
    for (size_t i = c0; i < c1; i++) {
        double birth;
        if (sim_one(o, g, &birth, &ev, NULL, &pb) != 0 ||
            text_reserve(t, ev.n * 64 + 64) != 0) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        char id[40];
        int idn = snprintf(id, sizeof id, "C%0*zu", J->digits, i + 1);
        if (J->paths) {
            if (path_rows(o, &pb, id, idn, t) != 0) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
                break;
            }
            continue;
        }
        for (size_t k = 0; k < ev.n; k++) {
            double days = floor((birth + ev.e[k].t) * o->period_days);
            char d[11];
            ct_date_format(o->start_day + (int32_t)days, d);
            memcpy(t->p + t->n, id, (size_t)idn);
            t->n += (size_t)idn;
            t->p[t->n++] = ',';
            memcpy(t->p + t->n, d, 10);
            t->n += 10;
            t->p[t->n++] = ',';
            t->n += put_cents(t->p + t->n, ev.e[k].z);
            t->p[t->n++] = '\n';
        }
        t->rows += ev.n;
    }
    free(pb.z);
    free(ev.e);
    ct_rng_free(g);
    return s;
}

static ct_status write_csv(const ct_synth_opts *o, int paths, ct_synth_sink sink, void *sink_ctx,
                           uint64_t *ntx, ct_error *err);

ct_status ct_synth_log(const ct_synth_opts *o, ct_synth_sink sink, void *sink_ctx, uint64_t *ntx,
                       ct_error *err)
{
    return write_csv(o, 0, sink, sink_ctx, ntx, err);
}

ct_status ct_synth_dyn_log(const ct_synth_opts *o, ct_synth_sink sink, void *sink_ctx,
                           ct_error *err)
{
    if (!ct_synth_dynamic(o)) {
        return ct_fail(err, CT_EINVAL, "no time-varying covariates to write");
    }
    return write_csv(o, 1, sink, sink_ctx, NULL, err);
}

static ct_status write_csv(const ct_synth_opts *o, int paths, ct_synth_sink sink, void *sink_ctx,
                           uint64_t *ntx, ct_error *err)
{
    ct_status s = ct_synth_check(o, err);
    unsigned th = o->threads ? o->threads : ct_par_default_threads();
    size_t batch = (size_t)th * 4;
    size_t nblk = ct_par_nblocks(o->n, SYNTH_BLOCK);
    uint64_t rows = 0;

    if (s != CT_OK) {
        return s;
    }
    if (o->T * o->period_days > 1e6) {
        return ct_fail(err, CT_EINVAL, "T = %g periods of %g days is past the calendar", o->T,
                       o->period_days);
    }
    text *buf = calloc(batch, sizeof *buf);
    if (buf == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (!paths) {
        s = sink(sink_ctx, "id,date,amount\n", 15, err);
    } else {
        char head[CT_SYNTH_MAXCOV * 34 + 16] = "id,date";
        size_t hn = strlen(head);
        for (size_t j = 0; j < o->ncov; j++) {
            if (o->cov_dynamic[j]) {
                hn += (size_t)snprintf(head + hn, sizeof head - hn, ",%s", o->cov_name[j]);
            }
        }
        head[hn++] = '\n';
        s = sink(sink_ctx, head, hn, err);
    }
    csv_job J = {o, buf, 0, id_digits(o->n), paths};
    for (size_t b0 = 0; b0 < nblk && s == CT_OK; b0 += batch) {
        size_t nb = nblk - b0 < batch ? nblk - b0 : batch;
        size_t first = b0 * SYNTH_BLOCK;
        size_t items = o->n - first < nb * SYNTH_BLOCK ? o->n - first : nb * SYNTH_BLOCK;
        J.base = b0;
        s = ct_par_for(items, SYNTH_BLOCK, th, csv_block, &J, err);
        for (size_t k = 0; k < nb && s == CT_OK; k++) {
            s = sink(sink_ctx, buf[k].p, buf[k].n, err);
            rows += buf[k].rows;
        }
    }
    for (size_t k = 0; k < batch; k++) {
        free(buf[k].p);
    }
    free(buf);
    if (s == CT_OK && ntx != NULL) {
        *ntx = rows;
    }
    return s;
}
