/* clv_data.c - validation and collapsing of customer summaries for the CLV
 * models; the deterministic block reduction of likelihood terms. */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_sf_psi.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/comm.h"
#include "clvtier/par.h"
#include "clvtier/rng.h"
#include "core/mem_internal.h"

double clv_digamma(double x)
{
    return gsl_sf_psi(x);
}

double clv_hyp2f1(double a, double b, double c, double z)
{
    double term = 1, sum = 1;
    if (z == 0) {
        return 1;
    }
    for (int n = 0; n < 100000; n++) {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
        sum += term;
        if (fabs(term) <= 1e-16 * fabs(sum) && n > 2) {
            return sum;
        }
        if (!isfinite(sum)) {
            break;
        }
    }
    return CT_NAN;
}

void ct_clv_data_free(ct_clv_data *d)
{
    if (d == NULL) {
        return;
    }
    free(d->x);
    free(d->tx);
    free(d->T);
    free(d->w);
    free(d->xi);
    free(d->pt);
    free(d->px);
    free(d->p1);
    free(d->p2);
    free(d->tv);
    free(d->itx);
    free(d->iT);
    free(d->lm);
    free(d);
}

size_t ct_clv_data_rows(const ct_clv_data *d)
{
    return d->n;
}

double ct_clv_data_customers(const ct_clv_data *d)
{
    return d->nobs;
}

typedef struct triple {
    double x, a, b, w;
} triple;

static int cmp_triple(const void *pa, const void *pb)
{
    const triple *p = pa, *q = pb;
    if (p->x != q->x) {
        return p->x < q->x ? -1 : 1;
    }
    if (p->a != q->a) {
        return p->a < q->a ? -1 : 1;
    }
    if (p->b != q->b) {
        return p->b < q->b ? -1 : 1;
    }
    return 0;
}

static ct_status bad_row(ct_error *err, const char *src, size_t i, const char *col, double v,
                         const char *why)
{
    return ct_fail_at(err, CT_EDATA, src, (uint64_t)i + 1, 0, "customer row %zu: %s = %g %s", i + 1,
                      col, v, why);
}

static uint64_t triple_hash(const triple *t)
{
    return clv_hash3(t->x, t->a, t->b);
}

/* Merge equal (x, a, b) rows in place by hashing (O(n)); returns the number
 * of distinct rows, in first-seen order, or 0 when out of memory.  Weights of
 * equal rows are added in row order.  The table grows with the distinct rows
 * (so it stays cache-sized when customers share histories). */
static size_t merge_equal(triple *t, size_t n)
{
    size_t cap = 1 << 16;
    uint32_t *slot = ct_calloc_table(cap, sizeof *slot); /* 0 empty, else distinct row + 1 */
    if (slot == NULL) {
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = triple_hash(&t[i]) & (cap - 1);
        for (;;) {
            if (slot[j] == 0) {
                t[k] = t[i];
                slot[j] = (uint32_t)++k;
                break;
            }
            triple *u = &t[slot[j] - 1];
            if (u->x == t[i].x && u->a == t[i].a && u->b == t[i].b) {
                u->w += t[i].w;
                break;
            }
            j = (j + 1) & (cap - 1);
        }
        if (2 * k > cap) {
            size_t nc = cap * 2;
            uint32_t *ns = ct_calloc_table(nc, sizeof *ns);
            if (ns == NULL) {
                free(slot);
                return 0;
            }
            for (size_t r = 0; r < k; r++) {
                size_t q = triple_hash(&t[r]) & (nc - 1);
                while (ns[q] != 0) {
                    q = (q + 1) & (nc - 1);
                }
                ns[q] = (uint32_t)r + 1;
            }
            free(slot);
            slot = ns;
            cap = nc;
        }
    }
    free(slot);
    return k;
}

/* Collapse equal (x, a, b) rows, then sort the distinct rows so the order
 * (and so every sum) does not depend on the order of the customers.  (The
 * merged weights are sums in customer order; with integer weights - the
 * usual case - that order does not matter either.) */
static ct_status collapse(triple *t, size_t n, ct_clv_data *d, ct_error *err)
{
    size_t k = merge_equal(t, n);
    if (k == 0 && n > 0) {
        return ct_fail(err, CT_ENOMEM, "out of memory collapsing %zu rows", n);
    }
    qsort(t, k, sizeof *t, cmp_triple);
    d->n = k;
    d->x = malloc((k ? k : 1) * sizeof(double));
    d->tx = malloc((k ? k : 1) * sizeof(double));
    d->T = malloc((k ? k : 1) * sizeof(double));
    d->w = malloc((k ? k : 1) * sizeof(double));
    d->xi = malloc((k ? k : 1) * sizeof(uint32_t));
    if (!d->x || !d->tx || !d->T || !d->w || !d->xi) {
        return ct_fail(err, CT_ENOMEM, "out of memory collapsing %zu rows", k);
    }
    d->nobs = 0;
    d->xmax = 0;
    for (size_t i = 0; i < k; i++) {
        d->x[i] = t[i].x;
        d->tx[i] = t[i].a;
        d->T[i] = t[i].b;
        d->w[i] = t[i].w;
        d->xi[i] = (uint32_t)t[i].x;
        d->xmax = d->xi[i] > d->xmax ? d->xi[i] : d->xmax;
        d->nobs += t[i].w;
    }
    return CT_OK;
}

typedef struct pairkey {
    double x, t;
    uint32_t row, which;
} pairkey;

static int cmp_pair(const void *pa, const void *pb)
{
    const pairkey *p = pa, *q = pb;
    if (p->x != q->x) {
        return p->x < q->x ? -1 : 1;
    }
    if (p->t != q->t) {
        return p->t < q->t ? -1 : 1;
    }
    return 0;
}

/* Pareto/NBD: index the distinct (x, t) pairs over t in {t_x, T}. */
static ct_status pareto_pairs(ct_clv_data *d, ct_error *err)
{
    size_t n = d->n, m = 2 * n;
    pairkey *k = malloc((m ? m : 1) * sizeof *k);
    d->p1 = malloc((n ? n : 1) * sizeof *d->p1);
    d->p2 = malloc((n ? n : 1) * sizeof *d->p2);
    d->pt = malloc((m ? m : 1) * sizeof *d->pt);
    d->px = malloc((m ? m : 1) * sizeof *d->px);
    if (!k || !d->p1 || !d->p2 || !d->pt || !d->px) {
        free(k);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        k[2 * i] = (pairkey){d->x[i], d->tx[i], (uint32_t)i, 0};
        k[2 * i + 1] = (pairkey){d->x[i], d->T[i], (uint32_t)i, 1};
    }
    qsort(k, m, sizeof *k, cmp_pair);
    size_t np = 0;
    for (size_t j = 0; j < m; j++) {
        if (j == 0 || cmp_pair(&k[j - 1], &k[j]) != 0) {
            d->px[np] = (uint32_t)k[j].x;
            d->pt[np] = k[j].t;
            np++;
        }
        if (k[j].which == 0) {
            d->p1[k[j].row] = (uint32_t)(np - 1);
        } else {
            d->p2[k[j].row] = (uint32_t)(np - 1);
        }
    }
    d->npairs = np;
    free(k);
    return CT_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t find_value(const double *v, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] <= x) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The distinct values of t_x and T, and each row's index into them. */
static ct_status time_values(ct_clv_data *d, ct_error *err)
{
    size_t n = d->n, m = 2 * n;
    d->tv = malloc((m ? m : 1) * sizeof *d->tv);
    d->itx = malloc((n ? n : 1) * sizeof *d->itx);
    d->iT = malloc((n ? n : 1) * sizeof *d->iT);
    if (d->tv == NULL || d->itx == NULL || d->iT == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        d->tv[2 * i] = d->tx[i];
        d->tv[2 * i + 1] = d->T[i];
    }
    qsort(d->tv, m, sizeof *d->tv, cmp_double);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k == 0 || d->tv[i] != d->tv[k - 1]) {
            d->tv[k++] = d->tv[i];
        }
    }
    d->ntv = k;
    for (size_t i = 0; i < n; i++) {
        d->itx[i] = (uint32_t)find_value(d->tv, k, d->tx[i]);
        d->iT[i] = (uint32_t)find_value(d->tv, k, d->T[i]);
    }
    return CT_OK;
}

/* c's rows, this rank's part of the data when comm != NULL (the checks on
 * the whole data - any usable row, any repeat purchase - then go over the
 * ranks, and a rank may have no rows). */
static ct_status data_new(ct_clv_data **out, ct_clv_model model, const ct_customers *c,
                          const char *source, ct_comm *comm, ct_error *err)
{
    ct_clv_data *d;
    triple *t;
    size_t n = 0;
    ct_status s = CT_OK;

    *out = NULL;
    if (source == NULL) {
        source = "customers";
    }
    if (c->n == 0 && comm == NULL) {
        return ct_fail_at(err, CT_EDATA, source, 0, 0, "no customers");
    }
    if (c->x == NULL || c->t_x == NULL || c->T == NULL) {
        return ct_fail_at(err, CT_EFORMAT, source, 0, 0, "columns x, t_x and T are required");
    }
    if (model == CT_GAMMAGAMMA && c->m == NULL) {
        return ct_fail_at(err, CT_EFORMAT, source, 0, 0,
                          "the Gamma-Gamma spend model needs column m (mean repeat spend)");
    }
    t = malloc((c->n ? c->n : 1) * sizeof *t);
    d = calloc(1, sizeof *d);
    s = t != NULL && d != NULL ? CT_OK
                               : ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", c->n);
    if (comm != NULL) {
        s = ct_comm_agree(comm, s, err);
    }
    if (s != CT_OK) {
        free(t);
        free(d);
        return s;
    }
    d->model = model;
    double sx = 0, sm = 0, sxx = 0, smm = 0, sxm = 0, sw = 0;
    for (size_t i = 0; i < c->n && s == CT_OK; i++) {
        double x = c->x[i], tx = c->t_x[i], T = c->T[i], w = c->weight ? c->weight[i] : 1.0;
        if (!isfinite(x) || x < 0 || x != floor(x) || x > 4e9) {
            s = bad_row(err, source, c->row0 + i, "x", x, "(repeat purchases must be a whole number >= 0)");
        } else if (!isfinite(tx) || tx < 0) {
            s = bad_row(err, source, c->row0 + i, "t_x", tx, "(must be finite and >= 0)");
        } else if (!isfinite(T) || T < 0) {
            s = bad_row(err, source, c->row0 + i, "T", T, "(must be finite and >= 0)");
        } else if (tx > T * (1 + 1e-12) + 1e-12) {
            s = ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                           "customer row %zu: t_x = %g > T = %g (last purchase after the end)",
                           c->row0 + i + 1, tx, T);
        } else if (x == 0 && tx != 0) {
            s = bad_row(err, source, c->row0 + i, "t_x", tx, "with x = 0 (must be 0)");
        } else if (!isfinite(w) || w < 0) {
            s = bad_row(err, source, c->row0 + i, "weight", w, "(must be finite and >= 0)");
        } else if (model == CT_BGBB &&
                   (T != floor(T) || tx != floor(tx) || x > tx || (x > 0 && tx < 1))) {
            s = ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                           "customer row %zu: BG/BB needs whole numbers with x <= t_x <= n "
                           "(got x = %g, t_x = %g, n = %g)",
                           c->row0 + i + 1, x, tx, T);
        } else if (model == CT_GAMMAGAMMA) {
            double m = c->m[i];
            if (!isfinite(m) || m < 0) {
                s = bad_row(err, source, c->row0 + i, "m", m, "(mean spend must be finite and >= 0)");
            } else if (x > 0 && m > 0 && w > 0) {
                t[n++] = (triple){x, m, 0, w};
                sx += w * x;
                sm += w * m;
                sxx += w * x * x;
                smm += w * m * m;
                sxm += w * x * m;
                sw += w;
            }
        } else if (w > 0) {
            t[n++] = (triple){x, tx > T ? T : tx, T, w};
        }
    }
    /* usable rows and repeat buyers, over all ranks */
    double g[2] = {(double)n, 0};
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        g[1] += t[i].x > 0;
    }
    if (comm != NULL) {
        s = ct_comm_agree(comm, s, err);
        if (s == CT_OK) {
            s = ct_comm_allreduce_sum(comm, g, 2, err);
        }
    }
    if (s == CT_OK && g[0] == 0) {
        s = ct_fail_at(err, CT_EDATA, source, 0, 0,
                       model == CT_GAMMAGAMMA
                           ? "no customer with repeat purchases (x > 0) and spend m > 0: the "
                             "Gamma-Gamma model has nothing to fit"
                           : "no customers with positive weight");
    }
    if (s == CT_OK && model != CT_GAMMAGAMMA && model != CT_BGBB) {
        if (g[1] == 0) {
            s = ct_fail_at(err, CT_EDATA, source, 0, 0,
                           "every customer has x = 0 (no repeat purchases): the purchase rate "
                           "cannot be estimated");
        }
    }
    if (s == CT_OK) {
        s = collapse(t, n, d, err);
    }
    if (s == CT_OK && model == CT_PARETO) {
        s = pareto_pairs(d, err);
    }
    if (s == CT_OK && model != CT_GAMMAGAMMA && model != CT_BGBB) {
        s = time_values(d, err);
    }
    if (s == CT_OK && model == CT_GAMMAGAMMA) {
        d->lm = malloc((d->n ? d->n : 1) * sizeof *d->lm);
        if (d->lm == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; s == CT_OK && i < d->n; i++) {
            d->lm[i] = log(d->tx[i]);
        }
    }
    if (s == CT_OK && model == CT_GAMMAGAMMA) {
        double vx = sxx / sw - (sx / sw) * (sx / sw), vm = smm / sw - (sm / sw) * (sm / sw);
        d->corr_xm = vx > 0 && vm > 0 ? (sxm / sw - sx / sw * sm / sw) / sqrt(vx * vm) : 0.0;
    }
    free(t);
    if (s != CT_OK) {
        ct_clv_data_free(d);
        return s;
    }
    *out = d;
    return CT_OK;
}

ct_status ct_clv_data_distribute(ct_clv_data *d, ct_comm *comm, ct_error *err)
{
    d->comm = comm;
    d->corr_xm = CT_NAN; /* a diagnostic of this rank's rows only: not reported */
    return ct_comm_allreduce_sum(comm, &d->nobs, 1, err);
}

ct_status ct_clv_data_new(ct_clv_data **out, ct_clv_model model, const ct_customers *c,
                          const char *source, ct_error *err)
{
    ct_init();
    return data_new(out, model, c, source, NULL, err);
}

ct_status ct_clv_data_new_part(ct_clv_data **out, ct_clv_model model, const ct_customers *c,
                               const char *source, ct_comm *comm, ct_error *err)
{
    ct_init();
    if (ct_comm_size(comm) <= 1) {
        return data_new(out, model, c, source, NULL, err);
    }
    ct_status s = ct_comm_agree(comm, data_new(out, model, c, source, comm, err), err);
    if (s == CT_OK) {
        s = ct_clv_data_distribute(*out, comm, err);
    }
    if (s != CT_OK) {
        ct_clv_data_free(*out);
        *out = NULL;
    }
    return s;
}

typedef struct reduce_job {
    const ct_clv_data *d;
    size_t k;
    clv_row_fn fn;
    const void *ctx;
    double *part; /* nblocks x (1 + k) */
} reduce_job;

static ct_status reduce_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    reduce_job *J = vctx;
    /* Accumulate on this thread's stack: neighbouring blocks' slots share
     * cache lines, and updating them in the row loop would ping-pong those
     * lines between cores (false sharing). */
    double acc[1 + CT_CLV_MAXPAR] = {0};
    (void)err;
    J->fn(J->ctx, J->d, begin, end, acc);
    memcpy(J->part + b * (1 + J->k), acc, (1 + J->k) * sizeof *acc);
    return CT_OK;
}

ct_status clv_reduce(const ct_clv_data *d, size_t k, clv_row_fn fn, const void *ctx,
                     unsigned threads, double *ll, double *grad, ct_error *err)
{
    size_t nb = ct_par_nblocks(d->n, CLV_BLOCK);
    reduce_job J = {d, k, fn, ctx, malloc((nb ? nb : 1) * (1 + k) * sizeof(double))};
    if (J.part == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = ct_par_for(d->n, CLV_BLOCK, threads, reduce_block, &J, err);
    if (s == CT_OK) {
        double acc[1 + CT_CLV_MAXPAR] = {0};
        for (size_t b = 0; b < nb; b++) { /* fixed order: thread-count independent */
            for (size_t j = 0; j <= k; j++) {
                acc[j] += J.part[b * (1 + k) + j];
            }
        }
        *ll = acc[0];
        if (grad != NULL) {
            memcpy(grad, acc + 1, k * sizeof *grad);
        }
    }
    free(J.part);
    return s;
}
