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
 * the first at t = 0. */
static int sim_one(const ct_synth_opts *o, ct_rng *g, double *birth, evbuf *ev, double *z)
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

static int id_digits(size_t n)
{
    int d = 1;
    for (size_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10) {
        d++;
    }
    return d < 6 ? 6 : d;
}

/* ---- summaries ------------------------------------------------------------ */

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
    ct_status s = CT_OK;

    if (g == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = begin; i < end; i++) {
        double birth;
        if (sim_one(o, g, &birth, &ev, J->cov != NULL ? J->cov + i * o->ncov : NULL) != 0) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        size_t x = ev.n - 1;
        double sum = 0, total = 0;
        for (size_t k = 0; k < ev.n; k++) {
            total += ev.e[k].z;
            sum += k > 0 ? ev.e[k].z : 0.0;
        }
        c->x[i] = (double)x;
        c->t_x[i] = ev.e[x].t;
        c->T[i] = o->T - birth;
        c->m[i] = x > 0 ? sum / (double)x : 0.0;
        c->total[i] = total;
        c->ntx[i] = (int64_t)ev.n;
        snprintf(c->ids + i * c->id_width, c->id_width, "C%0*zu", J->digits, i + 1);
    }
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
} csv_job;

static ct_status csv_block(void *ctx, size_t rel, size_t begin, size_t end, ct_error *err)
{
    csv_job *J = ctx;
    const ct_synth_opts *o = J->o;
    size_t blk = J->base + rel;
    text *t = &J->buf[rel];
    ct_rng *g = ct_rng_new(o->seed, blk);
    evbuf ev = {0};
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
        if (sim_one(o, g, &birth, &ev, NULL) != 0 || text_reserve(t, ev.n * 64 + 64) != 0) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        char id[40];
        int idn = snprintf(id, sizeof id, "C%0*zu", J->digits, i + 1);
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
    free(ev.e);
    ct_rng_free(g);
    return s;
}

ct_status ct_synth_log(const ct_synth_opts *o, ct_synth_sink sink, void *sink_ctx, uint64_t *ntx,
                       ct_error *err)
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
    s = sink(sink_ctx, "id,date,amount\n", 15, err);
    csv_job J = {o, buf, 0, id_digits(o->n)};
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
