/* clv_data.c - validation and collapsing of customer summaries for the CLV
 * models; the deterministic block reduction of likelihood terms. */
#include "numerics/clv/clv_internal.h"

#include <gsl/gsl_sf_psi.h>
#include <stdio.h>
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

double clv_trigamma(double x)
{
    return gsl_sf_psi_1(x);
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

void clv_hyp2f1_many(double a, double b, double c, const double *z, size_t m, double *out)
{
    for (size_t k0 = 0; k0 < m; k0 += CLV_HYP_LANES) {
        size_t w = m - k0 < CLV_HYP_LANES ? m - k0 : CLV_HYP_LANES;
        double zz[CLV_HYP_LANES], o[CLV_HYP_LANES];
        for (size_t k = 0; k < CLV_HYP_LANES; k++) {
            zz[k] = k < w ? z[k0 + k] : 0.0; /* z = 0: a lane done from the start */
        }
        clv_hyp2f1_lanes(a, b, c, zz, o);
        memcpy(out + k0, o, w * sizeof *o);
    }
}

const char *clv_who(const ct_customers *c, size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "customer row %zu (id '%.*s')", c->row0 + i + 1,
             (int)(c->ids != NULL ? c->id_width : 0), c->ids != NULL ? c->ids + i * c->id_width : "");
    return buf;
}

void ct_clv_data_free(ct_clv_data *d)
{
    if (d == NULL) {
        return;
    }
    if (d->block != NULL) {
        free(d->block);
    } else {
        free(d->x);
        free(d->tx);
        free(d->T);
        free(d->w);
    }
    free(d->xi);
    free(d->xv);
    free(d->pt);
    free(d->px);
    free(d->p1);
    free(d->tv);
    free(d->itx);
    free(d->iT);
    free(d->lm);
    free(d->z);
    free(d->cust);
    if (d->work != NULL) {
        free(d->work->lF);
        free(d->work->dlF);
        free(d->work->hF);
        free(d->work);
    }
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
/* collapse writes the columns x, t_x, T, w (4 doubles a row) into the
 * sort's spare buffer of triples */
_Static_assert(sizeof(triple) == 4 * sizeof(double), "a triple holds one row of four columns");

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

/* Double an open-addressing table of row numbers + 1 (0 empty) holding
 * rows 0..k-1, whose hashes hash(ctx, r) gives.  0; -1 (table freed) when
 * out of memory. */
static int grow_slots(uint32_t **slot, size_t *cap, size_t k,
                      uint64_t (*hash)(const void *ctx, size_t r), const void *ctx)
{
    size_t nc = *cap * 2;
    uint32_t *ns = ct_calloc_table(nc, sizeof *ns);
    if (ns == NULL) {
        free(*slot);
        *slot = NULL;
        return -1;
    }
    for (size_t r = 0; r < k; r++) {
        size_t q = hash(ctx, r) & (nc - 1);
        while (ns[q] != 0) {
            q = (q + 1) & (nc - 1);
        }
        ns[q] = (uint32_t)r + 1;
    }
    free(*slot);
    *slot = ns;
    *cap = nc;
    return 0;
}

static uint64_t hash_triple_row(const void *ctx, size_t r)
{
    return triple_hash((const triple *)ctx + r);
}

/* Merge equal (x, a, b) rows in place by hashing (O(n)); returns the number
 * of rows left, distinct ones in first-seen order, or 0 when out of memory.
 * Weights of equal rows are added in row order.  The table grows with the
 * distinct rows (so it stays cache-sized when customers share histories).
 * When the rows do not collapse (more than half of the first 2^16 or more
 * rows distinct), hashing stops (*rest = 1): the rows not yet merged follow
 * the merged ones, for sorting and merge_adjacent. */
static size_t merge_equal(triple *t, size_t n, int *rest)
{
    size_t cap = 1 << 16;
    uint32_t *slot = ct_calloc_table(cap, sizeof *slot); /* 0 empty, else distinct row + 1 */
    if (slot == NULL) {
        return 0;
    }
    size_t k = 0;
    *rest = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= ((size_t)1 << 16) && (i & 0xffff) == 0 && 2 * k > i) {
            memmove(t + k, t + i, (n - i) * sizeof *t);
            free(slot);
            *rest = 1;
            return k + (n - i);
        }
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
        if (2 * k > cap && grow_slots(&slot, &cap, k, hash_triple_row, t) != 0) {
            return 0;
        }
    }
    free(slot);
    return k;
}

/* The bits of a double >= 0 (-0 as +0): ordered as the values are. */
static inline uint64_t key_bits(double v)
{
    uint64_t u;
    v += 0.0;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* static int NAME(TYPE *t, size_t n): sort by keys 0..NKEYS-1 (key 0 the
 * most significant; KEY(const TYPE *, int) gives a key's bits, e.g.
 * key_bits of a double >= 0) with an LSD radix sort, 11 bits a pass, stable;
 * passes whose digit is the same in every row (the high bits of small whole
 * numbers, the low bits of day-resolution times) are skipped.  Below 64 rows
 * qsort with CMP.  0, or -1 when out of memory. */
#define CLV_RADIX_SORT(NAME, TYPE, NKEYS, KEY, CMP)                                            \
    static int NAME##_keep(TYPE *t, size_t n, TYPE **sorted, TYPE **spare)                     \
    {                                                                                          \
        enum { BITS = 11, NB = 1 << BITS, PASSES = 6 };                                        \
        *sorted = t;                                                                           \
        *spare = NULL;                                                                         \
        if (n < 64) {                                                                          \
            qsort(t, n, sizeof *t, CMP);                                                       \
            return 0;                                                                          \
        }                                                                                      \
        TYPE *tmp = ct_malloc_big(n, sizeof *tmp);                                             \
        uint32_t(*hist)[NB] = calloc((NKEYS) * PASSES, sizeof *hist);                          \
        if (tmp == NULL || hist == NULL || n > UINT32_MAX) {                                   \
            free(tmp);                                                                         \
            free(hist);                                                                        \
            return -1;                                                                         \
        }                                                                                      \
        for (size_t i = 0; i < n; i++) {                                                       \
            for (int k = 0; k < (NKEYS); k++) {                                                \
                uint64_t u = KEY(&t[i], k);                                                    \
                for (int p = 0; p < PASSES; p++) {                                             \
                    hist[k * PASSES + p][(u >> (p * BITS)) & (NB - 1)]++;                      \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        TYPE *src = t, *dst = tmp;                                                             \
        for (int k = (NKEYS) - 1; k >= 0; k--) {                                               \
            for (int p = 0; p < PASSES; p++) {                                                 \
                uint32_t *h = hist[k * PASSES + p];                                            \
                uint32_t off = 0;                                                              \
                int trivial = 0;                                                               \
                for (int b = 0; b < NB && !trivial; b++) {                                     \
                    trivial = h[b] == n;                                                       \
                }                                                                              \
                if (trivial) {                                                                 \
                    continue;                                                                  \
                }                                                                              \
                for (int b = 0; b < NB; b++) {                                                 \
                    uint32_t c = h[b];                                                         \
                    h[b] = off;                                                                \
                    off += c;                                                                  \
                }                                                                              \
                for (size_t i = 0; i < n; i++) {                                               \
                    dst[h[(KEY(&src[i], k) >> (p * BITS)) & (NB - 1)]++] = src[i];             \
                }                                                                              \
                TYPE *sw = src;                                                                \
                src = dst;                                                                     \
                dst = sw;                                                                      \
            }                                                                                  \
        }                                                                                      \
        free(hist);                                                                            \
        *sorted = src;                                                                         \
        *spare = dst;                                                                          \
        return 0;                                                                              \
    }                                                                                          \
    __attribute__((unused)) static int NAME(TYPE *t, size_t n)                                 \
    {                                                                                          \
        TYPE *sorted, *spare;                                                                  \
        if (NAME##_keep(t, n, &sorted, &spare) != 0) {                                         \
            return -1;                                                                         \
        }                                                                                      \
        if (sorted != t) {                                                                     \
            memcpy(t, sorted, n * sizeof *t);                                                  \
        }                                                                                      \
        free(sorted == t ? spare : sorted);                                                    \
        return 0;                                                                              \
    }

/* The canonical order of rows: by the top 44 bits of their hash, ties by
 * (x, a, b).  Any order that does not depend on the customers' order would
 * do; this one sorts in 4 radix passes where (x, a, b) with continuous
 * times take 14. */
static inline uint64_t triple_order_key(const triple *t, int which)
{
    (void)which;
    return triple_hash(t) >> 20;
}

static int cmp_triple_order(const void *pa, const void *pb)
{
    uint64_t a = triple_order_key(pa, 0), b = triple_order_key(pb, 0);
    return a != b ? (a < b ? -1 : 1) : cmp_triple(pa, pb);
}

CLV_RADIX_SORT(sort_by_hash, triple, 1, triple_order_key, cmp_triple_order)

/* Sort t[0..n) into the canonical order; *sorted is t or a new buffer of
 * n rows (then *spare is t, else the sort's other buffer or NULL): the
 * caller owns both. */
static int sort_triples(triple *t, size_t n, triple **sorted, triple **spare)
{
    if (sort_by_hash_keep(t, n, sorted, spare) != 0) {
        return -1;
    }
    triple *u = *sorted;
    for (size_t i = 0; i < n;) { /* ties of the key (rare): by (x, a, b) */
        size_t j = i + 1;
        uint64_t k = triple_order_key(&u[i], 0);
        while (j < n && triple_order_key(&u[j], 0) == k) {
            j++;
        }
        if (j - i > 1) {
            qsort(u + i, j - i, sizeof *u, cmp_triple);
        }
        i = j;
    }
    return 0;
}

/* Collapse equal (x, a, b) rows, then sort the distinct rows (canonical
 * order: sort_triples) so the order (and so every sum) does not depend on
 * the order of the customers.  (The
 * merged weights are sums in customer order, or sorted order when the rows
 * do not collapse; with integer weights - the usual case - that order does
 * not matter either.)  *tp (the caller's to free) may be replaced: the
 * columns x, tx, T, w go into the sort's spare buffer when there is one
 * (its pages are touched already: fresh pages cost more than the copy). */
static ct_status collapse(triple **tp, size_t n, ct_clv_data *d, ct_error *err)
{
    int rest;
    triple *t = *tp, *sorted, *spare;
    size_t k = merge_equal(t, n, &rest);
    if (k == 0 && n > 0) {
        return ct_fail(err, CT_ENOMEM, "out of memory collapsing %zu rows", n);
    }
    if (sort_triples(t, k, &sorted, &spare) != 0) {
        return ct_fail(err, CT_ENOMEM, "out of memory sorting %zu rows", k);
    }
    t = sorted;
    if (rest) { /* equal rows are neighbours now */
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
            if (m > 0 && t[m - 1].x == t[i].x && t[m - 1].a == t[i].a && t[m - 1].b == t[i].b) {
                t[m - 1].w += t[i].w;
            } else {
                t[m++] = t[i];
            }
        }
        k = m;
    }
    /* the columns go into the spare buffer (d's now); the sorted one is the
     * caller's to free */
    double *block = spare != NULL ? (double *)(void *)spare : ct_malloc_big(k, 4 * sizeof(double));
    *tp = sorted;
    d->n = k;
    d->block = block;
    d->xi = ct_malloc_big(k, sizeof(uint32_t));
    if (block == NULL || d->xi == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory collapsing %zu rows", k);
    }
    d->x = block;
    d->tx = block + k;
    d->T = block + 2 * k;
    d->w = block + 3 * k;
    d->nobs = 0;
    for (size_t i = 0; i < k; i++) {
        d->x[i] = t[i].x;
        d->tx[i] = t[i].a;
        d->T[i] = t[i].b;
        d->w[i] = t[i].w;
        d->nobs += t[i].w;
    }
    return CT_OK;
}

/* A row's key for Pareto/NBD's orders: (x, t) with t one of its times. */
typedef struct tkey {
    double t;
    uint32_t x, row;
} tkey;

static int cmp_tkey(const void *pa, const void *pb)
{
    const tkey *p = pa, *q = pb;
    if (p->x != q->x) {
        return p->x < q->x ? -1 : 1;
    }
    if (p->t != q->t) {
        return p->t < q->t ? -1 : 1;
    }
    return (p->row > q->row) - (p->row < q->row); /* as the stable radix sort */
}

static inline uint64_t tkey_key(const tkey *p, int which)
{
    return which == 0 ? (uint64_t)p->x : key_bits(p->t);
}

/* (x, t) ascending, ties in row order: cmp_tkey's order. */
CLV_RADIX_SORT(sort_tkeys, tkey, 2, tkey_key, cmp_tkey)

/* Permute the n elements of size sz at a by ord (a[i] = old a[ord[i]])
 * through tmp (n * sz bytes). */
static void permute(void *a, size_t sz, const tkey *ord, size_t n, void *tmp)
{
    char *src = a, *dst = tmp;
    for (size_t i = 0; i < n; i++) {
        memcpy(dst + i * sz, src + (size_t)ord[i].row * sz, sz);
    }
    memcpy(a, tmp, n * sz);
}

/* Pareto/NBD: put the rows in (x, T) order (ties in their canonical order,
 * so the new order does not depend on the customers' order either): the
 * likelihood integrates F(x, T) along each run of one x from the largest T
 * down, between neighbours (clv_pareto.c).  Then index the distinct
 * (x, t_x) pairs of the rows with t_x < T (p1; the others have no drop-out
 * term: CLV_NO_PAIR), sorted, for F(x, t_x). */
static ct_status pareto_pairs(ct_clv_data *d, ct_error *err)
{
    size_t n = d->n, m = 0;
    tkey *k = ct_malloc_big(n, sizeof *k);
    double *tmp = ct_malloc_big(n, sizeof *tmp);
    d->p1 = ct_malloc_big(n, sizeof *d->p1);
    if (!k || !tmp || !d->p1) {
        free(k);
        free(tmp);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        k[i] = (tkey){d->T[i], (uint32_t)d->x[i], (uint32_t)i};
    }
    int bad = sort_tkeys(k, n);
    if (!bad) {
        permute(d->x, sizeof *d->x, k, n, tmp);
        permute(d->tx, sizeof *d->tx, k, n, tmp);
        permute(d->T, sizeof *d->T, k, n, tmp);
        permute(d->w, sizeof *d->w, k, n, tmp);
        permute(d->xi, sizeof *d->xi, k, n, tmp);
        for (size_t i = 0; i < n; i++) {
            d->p1[i] = CLV_NO_PAIR;
            if (d->tx[i] < d->T[i]) {
                k[m++] = (tkey){d->tx[i], (uint32_t)d->x[i], (uint32_t)i};
            }
        }
        bad = sort_tkeys(k, m);
    }
    free(tmp);
    d->pt = ct_malloc_big(m, sizeof *d->pt);
    d->px = ct_malloc_big(m, sizeof *d->px);
    if (bad || !d->pt || !d->px) {
        free(k);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t np = 0;
    for (size_t j = 0; j < m; j++) {
        if (j == 0 || k[j - 1].x != k[j].x || k[j - 1].t != k[j].t) {
            d->px[np] = k[j].x;
            d->pt[np] = k[j].t;
            np++;
        }
        d->p1[k[j].row] = (uint32_t)(np - 1);
    }
    d->npairs = np;
    free(k);
    return CT_OK;
}

static uint64_t hash_value_row(const void *ctx, size_t r)
{
    return ct_mix64(key_bits(((const double *)ctx)[r]));
}

/* The distinct values of t_x and T (first-seen order) and each row's index
 * into them, by hashing.  More than limit values: none kept (ntv = 0). */
/* Whether the first 32768 rows (in hash order: a random sample) hold more
 * distinct time values than half their number, so the tables would not pay;
 * their arrays are then never allocated (on a virtual machine, clearing
 * fresh pages took half of a 10M-row fit).  Decided on the sample: values
 * from a pool somewhat larger than the sample but far smaller than the data
 * go without tables, which only costs some speed. */
static int times_spread(const ct_clv_data *d)
{
    size_t m = d->n < 32768 ? d->n : 32768, cap = 1 << 17, k = 0;
    if (m < 32768) {
        return 0; /* small data: build the tables */
    }
    uint64_t *slot = calloc(cap, sizeof *slot); /* value bits + 1, 0 empty */
    if (slot == NULL) {
        return 0;
    }
    for (size_t i = 0; i < 2 * m; i++) {
        uint64_t u = key_bits((i & 1) ? d->T[i / 2] : d->tx[i / 2]) + 1;
        size_t j = ct_mix64(u) & (cap - 1);
        while (slot[j] != 0 && slot[j] != u) {
            j = (j + 1) & (cap - 1);
        }
        k += slot[j] == 0;
        slot[j] = u;
    }
    free(slot);
    return k > m / 2; /* as the limit: more distinct values than half the rows */
}

static ct_status time_values(ct_clv_data *d, size_t limit, ct_error *err)
{
    size_t n = d->n, cap = 1 << 12, k = 0;
    if (limit < n && times_spread(d)) {
        d->ntv = 0;
        return CT_OK;
    }
    d->tv = ct_malloc_big(2 * n, sizeof *d->tv);
    d->itx = ct_malloc_big(n, sizeof *d->itx);
    d->iT = ct_malloc_big(n, sizeof *d->iT);
    uint32_t *slot = ct_calloc_table(cap, sizeof *slot); /* 0 empty, else value + 1 */
    if (d->tv == NULL || d->itx == NULL || d->iT == NULL || slot == NULL) {
        free(slot);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < 2 * n && k <= limit; i++) {
        double v = (i & 1) ? d->T[i / 2] : d->tx[i / 2];
        uint64_t u = key_bits(v);
        size_t j = ct_mix64(u) & (cap - 1);
        while (slot[j] != 0 && key_bits(d->tv[slot[j] - 1]) != u) {
            j = (j + 1) & (cap - 1);
        }
        if (slot[j] == 0) {
            d->tv[k] = v + 0.0;
            slot[j] = (uint32_t)++k;
        }
        *((i & 1) ? &d->iT[i / 2] : &d->itx[i / 2]) = slot[j] - 1;
        if (2 * k > cap && grow_slots(&slot, &cap, k, hash_value_row, d->tv) != 0) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    free(slot);
    d->ntv = k;
    if (k > limit) {
        free(d->tv);
        free(d->itx);
        free(d->iT);
        d->tv = NULL;
        d->itx = d->iT = NULL;
        d->ntv = 0;
    }
    return CT_OK;
}

/* The model's indexes of the distinct rows: Pareto/NBD's (x, T) order and
 * (x, t_x) pairs, the distinct time values (only where they collapse: with
 * nearly as many values as rows, looking them up costs more than the
 * logarithms they save), Gamma-Gamma's log m. */
static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* d->xv, d->nxv: the distinct values of x (whole numbers below 2^32, sorted)
 * and d->xi, each row's index into them.  Dense x (the usual case: 0..max
 * with max below a few times the rows) is ranked through a table over
 * 0..max; sparse x (a few huge counts) through a sorted copy, so memory
 * stays O(rows) whatever the largest x is. */
ct_status clv_x_index(ct_clv_data *d, ct_error *err)
{
    size_t n = d->n, nd = 1;
    for (size_t i = 0; i < n; i++) {
        nd = (size_t)d->x[i] + 1 > nd ? (size_t)d->x[i] + 1 : nd;
    }
    d->xv = malloc((n ? n : 1) * sizeof *d->xv);
    if (d->xv == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory indexing %zu rows", n);
    }
    if (nd <= 4 * n + 65536) {
        uint32_t *rank = calloc(nd, sizeof *rank);
        if (rank == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory indexing %zu rows", n);
        }
        for (size_t i = 0; i < n; i++) {
            rank[(size_t)d->x[i]] = 1;
        }
        size_t k = 0;
        for (size_t v = 0; v < nd; v++) {
            if (rank[v]) {
                d->xv[k] = (double)v;
                rank[v] = (uint32_t)k++;
            }
        }
        d->nxv = k;
        for (size_t i = 0; i < n; i++) {
            d->xi[i] = rank[(size_t)d->x[i]];
        }
        free(rank);
        return CT_OK;
    }
    memcpy(d->xv, d->x, n * sizeof *d->xv);
    qsort(d->xv, n, sizeof *d->xv, cmp_double);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || d->xv[k - 1] != d->xv[i]) {
            d->xv[k++] = d->xv[i];
        }
    }
    d->nxv = k;
    for (size_t i = 0; i < n; i++) {
        const double *e = bsearch(&d->x[i], d->xv, k, sizeof *d->xv, cmp_double);
        d->xi[i] = (uint32_t)(e - d->xv);
    }
    return CT_OK;
}

static ct_status index_rows(ct_clv_data *d, ct_error *err)
{
    ct_clv_model model = d->model;
    CT_CHECK(clv_x_index(d, err));
    if (model == CT_PARETO) {
        d->work = calloc(1, sizeof *d->work);
        if (d->work == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        CT_CHECK(pareto_pairs(d, err));
    }
    if (model != CT_GAMMAGAMMA && model != CT_BGBB) {
        CT_CHECK(time_values(d, d->n / 2, err));
    }
    if (model == CT_GAMMAGAMMA) {
        d->lm = malloc((d->n ? d->n : 1) * sizeof *d->lm);
        if (d->lm == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < d->n; i++) {
            d->lm[i] = log(d->tx[i]);
        }
    }
    return CT_OK;
}

ct_status clv_data_subsample(const ct_clv_data *d, double share, ct_clv_data **out,
                             ct_error *err)
{
    double W = 0;
    for (size_t i = 0; i < d->n; i++) {
        W += d->w[i];
    }
    double step = W / (share * (double)d->n);
    size_t m = 0;
    ct_clv_data *s = calloc(1, sizeof *s);
    size_t cap = (size_t)(share * (double)d->n * 1.1) + 16;
    *out = NULL;
    if (s == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    s->model = d->model;
    s->comm = d->comm;
    s->corr_xm = d->corr_xm;
    s->x = malloc(cap * sizeof *s->x);
    s->tx = malloc(cap * sizeof *s->tx);
    s->T = malloc(cap * sizeof *s->T);
    s->w = malloc(cap * sizeof *s->w);
    s->xi = malloc(cap * sizeof *s->xi);
    size_t K = d->ncoef; /* covariates: the sampled rows' values too */
    if (K > 0) {
        s->nb = d->nb;
        s->ncoef = K;
        memcpy(s->proc, d->proc, sizeof s->proc);
        memcpy(s->coef_col, d->coef_col, sizeof s->coef_col);
        s->dyn = d->dyn;
        if (d->dyn != NULL) { /* the rows' customers in the same paths */
            s->cust = malloc(cap * sizeof *s->cust);
        } else {
            s->z = malloc(cap * K * sizeof *s->z);
            s->zref = s->z;
        }
    }
    if (!s->x || !s->tx || !s->T || !s->w || !s->xi ||
        (K > 0 && s->z == NULL && s->cust == NULL)) {
        ct_clv_data_free(s);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    /* points step/2 + j step on the cumulative weight; a row holding h of
     * them is kept with weight h * step */
    double cum = 0, prev = 0;
    for (size_t i = 0; i < d->n; i++) {
        cum += d->w[i];
        double h = floor((cum - 0.5 * step) / step) - floor((prev - 0.5 * step) / step);
        prev = cum;
        if (!(h > 0)) {
            continue;
        }
        if (m == cap) {
            break; /* rounding beyond the 10 % margin: the sample is full */
        }
        s->x[m] = d->x[i];
        s->tx[m] = d->tx[i];
        s->T[m] = d->T[i];
        s->w[m] = h * step;
        if (K > 0 && d->dyn != NULL) {
            s->cust[m] = d->cust[i];
        } else if (K > 0) {
            memcpy(s->z + m * K, d->zref + i * K, K * sizeof *s->z);
        }
        s->nobs += s->w[m];
        m++;
    }
    s->n = m;
    ct_status st = K > 0 ? clv_x_index(s, err) : index_rows(s, err);
    if (st == CT_OK && s->comm != NULL) {
        st = ct_comm_allreduce_sum(s->comm, &s->nobs, 1, err);
    }
    if (st != CT_OK) {
        ct_clv_data_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

ct_status clv_check_row(const ct_customers *c, size_t i, ct_clv_model model, const char *source,
                        ct_error *err)
{
    double x = c->x[i], tx = c->t_x[i], T = c->T[i], w = c->weight ? c->weight[i] : 1.0;
    if (!isfinite(x) || x < 0 || x != floor(x) || x > 4e9) {
        return bad_row(err, source, c->row0 + i, "x", x,
                       "(repeat purchases must be a whole number >= 0)");
    }
    if (!isfinite(tx) || tx < 0) {
        return bad_row(err, source, c->row0 + i, "t_x", tx, "(must be finite and >= 0)");
    }
    if (!isfinite(T) || T < 0) {
        return bad_row(err, source, c->row0 + i, "T", T, "(must be finite and >= 0)");
    }
    if (tx > T * (1 + 1e-12) + 1e-12) {
        return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                          "customer row %zu: t_x = %g > T = %g (last purchase after the end)",
                          c->row0 + i + 1, tx, T);
    }
    if (x == 0 && tx != 0) {
        return bad_row(err, source, c->row0 + i, "t_x", tx, "with x = 0 (must be 0)");
    }
    if (!isfinite(w) || w < 0) {
        return bad_row(err, source, c->row0 + i, "weight", w, "(must be finite and >= 0)");
    }
    if (model == CT_BGBB && (T != floor(T) || tx != floor(tx) || x > tx || (x > 0 && tx < 1))) {
        return ct_fail_at(err, CT_EDATA, source, (uint64_t)(c->row0 + i) + 1, 0,
                          "customer row %zu: BG/BB needs whole numbers with x <= t_x <= n "
                          "(got x = %g, t_x = %g, n = %g)",
                          c->row0 + i + 1, x, tx, T);
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
    t = ct_malloc_big(c->n, sizeof *t);
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
        if ((s = clv_check_row(c, i, model, source, err)) != CT_OK) {
            break;
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
        s = collapse(&t, n, d, err);
    }
    if (s == CT_OK) {
        s = index_rows(d, err);
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
    size_t nacc;
    clv_row_fn fn;
    const void *ctx;
    double *part; /* nblocks x nacc */
} reduce_job;

static ct_status reduce_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    reduce_job *J = vctx;
    /* Accumulate on this thread's stack: neighbouring blocks' slots share
     * cache lines, and updating them in the row loop would ping-pong those
     * lines between cores (false sharing). */
    double acc[CLV_MAXACC] = {0};
    (void)err;
    J->fn(J->ctx, J->d, begin, end, acc);
    memcpy(J->part + b * J->nacc, acc, J->nacc * sizeof *acc);
    return CT_OK;
}

ct_status clv_reduce_acc(const ct_clv_data *d, size_t nacc, clv_row_fn fn, const void *ctx,
                         unsigned threads, double *out, ct_error *err)
{
    size_t nb = ct_par_nblocks(d->n, CLV_BLOCK);
    reduce_job J = {d, nacc, fn, ctx, malloc((nb ? nb : 1) * nacc * sizeof(double))};
    if (J.part == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = ct_par_for(d->n, CLV_BLOCK, threads, reduce_block, &J, err);
    if (s == CT_OK) {
        memset(out, 0, nacc * sizeof *out);
        for (size_t b = 0; b < nb; b++) { /* fixed order: thread-count independent */
            for (size_t j = 0; j < nacc; j++) {
                out[j] += J.part[b * nacc + j];
            }
        }
    }
    free(J.part);
    return s;
}

ct_status clv_reduce(const ct_clv_data *d, size_t k, clv_row_fn fn, const void *ctx,
                     unsigned threads, double *ll, double *grad, ct_error *err)
{
    double acc[CLV_MAXACC];
    CT_CHECK(clv_reduce_acc(d, 1 + k, fn, ctx, threads, acc, err));
    clv_unpack(acc, k, ll, grad, NULL);
    return CT_OK;
}

void clv_unpack(const double *acc, size_t k, double *ll, double *g, double *H)
{
    *ll = acc[0];
    for (size_t j = 0; j < k && g != NULL; j++) {
        g[j] = acc[1 + j];
    }
    size_t o = 1 + k;
    for (size_t i = 0; i < k && H != NULL; i++) {
        for (size_t j = i; j < k; j++, o++) {
            H[i * k + j] = H[j * k + i] = acc[o];
        }
    }
}
